# Sourced by bench/train.sh and bench/mlp.sh (not run by make bench):
# the paper's configurations, and PyTorch beside mmib.
#   configs   name  channels  pair_dim  image encoder  factor encoder
#   torch     1 when /usr/bin/python3 has torch, else 0
#   torch_step T ARGS..  bench/torch_step.py on T threads, with jemalloc
#             preloaded (purging off) when it is installed: see the anchors
PY=/usr/bin/python3
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
configs=(
	"dsprites-mlpflatten 1 81 mlp-flatten:2048,2048,1024,1024,512,512/256 mlp:16,16,8,8,16,16"
	"dsprites-resnet20 1 81 resnet20 mlp:16,16,8,8,16,16"
	"shapes3d-resnet20 3 42 resnet20 mlp:64,64,32,32,64,64"
	"shapes3d-mlpflatten 3 42 mlp-flatten:4096,2048,2048,1024,1024/512 mlp:64,64,32,32,64,64"
	"dsprites-vit 1 81 vit:patch=8,dim=192,depth=4,heads=3,mlp=384/64 mlp:16,16,8,8,16,16"
)
torch=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then torch=1; fi
pre=()
if [ -e "$JE" ]; then
	pre=(env LD_PRELOAD="$JE" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1)
fi

# PyTorch's products run on the same OpenBLAS as mmib's: give it the
# kernels mmib runs on, those OPENBLAS_CORETYPE names when torch_step runs
# (bench/avx2.sh names Haswell's), else those mmib picks.  When OpenBLAS
# falls back to Prescott's on a CPU it does not know, mmib names the CPU's
# own (lib/cli.c); PyTorch would stay on the fallback.
blas_core=$("$MMIB_BUILD/bench/b-train" -B | cut -f1)

# torch.set_num_threads does not reach the OpenBLAS behind Debian's torch
# (BLAS_INFO=generic): limit it as well, or a "1 thread" figure runs its
# matrix products on every core.
torch_step() {
	local t=$1
	shift
	OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$blas_core} OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "${pre[@]}" \
	    "$PY" "$MMIB_TOP/bench/torch_step.py" -t "$t" "$@"
}

# pipelines/experiments.mk - the paper's experiments as make pipelines.
# Included by the top Makefile; see pipelines/README.md and mmib(7).
#
#   make demo              deps, build, a small temperature sweep, its report
#   make remove-msi        missing-factor information vs temperature and depth
#   make alignment         nuisance information vs alignment over random splits
#   make regularization    the IB regulariser: beta sweep, fixed and learned T
#   make figures           copy the plots and reports to pipelines/figures/
#   make <exp>-curves      a training-curve plot beside every run of <exp>
#                          (with EVAL_EVERY=K, probes and alignment too)
#   make <exp>-report      merge the evidence files of <exp> (every run of it
#                          ever made here or elsewhere) into one report
#   make check-slurm       the pipelines under a real single-node Slurm
#
# Everything is chosen by variables on the command line, e.g.
#   make -j2 remove-msi TEMPS='0.01 0.1 1' SEEDS='1 2 3'
#   make -j2 alignment DATASETS='dsprites shapes3d' SEEDS="$(seq 1 100)"
#   make -j2 regularization PROFILE=paper
#   make -j64 RUN='srun -n1 -c1 --quiet' regularization
#
# Every intermediate is a file named by its parameters:
#   runs/data/<dataset>-n<N>-s<seed>-<pairing>-<part>.mts    mmib-gen
#   runs/train/<data>/<image enc>+<factor enc>/<T, beta, schedule>/
#       model.mts log.tsv emb-train.mts emb-test.mts probe.tsv align.tsv
#       row.tsv (one summary row)                            per run
#   results/<experiment>/summary.tsv report.txt *.png
#   $(EVIDENCE)/<experiment>/<run>.tsv   one evidence row per run (evidence.sh)
#   results/<experiment>/merged/         <exp>-report: all evidence merged
# A run is shared by every experiment that asks for the same settings, so
# changing one setting redoes only what depends on it.  An experiment is a
# run list and one $(eval $(call mm_experiment,...)) (see "an experiment"
# below), plus its sections in report.sh and plot.sh.  The runs do not
# depend on the tools' timestamps (rebuilding a tool does not redo hours of
# training): after changing a tool, remove runs/ or the affected part.

.DELETE_ON_ERROR:
# ... except the pipelines' files (.PRECIOUS below): they are written
# through temporaries and renamed, so a failed recipe leaves none half
# written, and a make that fails or is interrupted while it waits for a lock
# must not delete the file another make has just finished.
# Pipelines fail on the first failing command of a pipe (the system /bin/sh
# lacks pipefail, hence bash, set by the top Makefile).
.SHELLFLAGS := -eo pipefail -c

# Prefix of every tool invocation: empty, or e.g. 'srun -n1 -c1 --quiet'.
RUN ?=
# Where the pipelines' scripts are, and the dependency check (the checkout's;
# an installed copy, share/mmib/experiments.mk, sets its own).
MM_PIPE ?= pipelines
MM_DEPS ?= tools/deps.sh
# quick (default): small image encoder, 10 epochs; paper: the published setup.
PROFILE ?= quick
RUNS ?= runs
RESULTS ?= results
DATASETS ?= dsprites
# Samples drawn from the grid per run (75 % train, 25 % test).
N ?= 10000
# Seeds: one variable for all experiments, or one per experiment.
SEEDS ?=
# Evidence rows of every finished run, per experiment (evidence.sh): a
# directory meant to be committed, so that runs of several machines and
# sittings merge (make <exp>-report).
EVIDENCE ?= pipelines/evidence
# Splits of alignment and regularization: distinct (mmib-gen --split: seed
# k is the k-th distinct essence/nuisance split, never a repeat) or random
# (mmib-gen --random-split: the protocol's draw, which repeats essences).
SPLITS ?= distinct
# 1: remove-msi adds, per dataset, missing factor and seed, the untrained
# baseline of C1: the default image encoder at --epochs 0.
BASELINE ?= 1
# Extra mmib-train options (they become part of the run's directory name).
TRAIN_OPTS ?=
# Evaluate during training every EVAL_EVERY epochs (and after the last):
# mmib-train --test <the run's test part> --eval-every K adds the image
# probes' nMI per factor and group, CKA and mutual kNN@1 to the run's
# log.tsv, and its curve.png draws them.  Empty (default): off.  Not part
# of a run's name (the model is the same bytes with or without): it applies
# to the runs trained while it is set (remove a run's model.mts to redo it).
EVAL_EVERY ?=
# The training objective, infonce or siglip (part of the run's name, except
# the default infonce, whose runs keep their names).
OBJECTIVE ?= infonce
# Threads of each train, encode and probe (-t).  Not part of a run's name:
# a run made with another thread count is reused.
THREADS ?= 1
# Options given to every tool: -q silences the per-epoch lines of mmib-train
# (empty: every line a tool prints, prefixed by its run).
QUIET ?= -q
# 1: echo every tool command (quiet by default: one progress line per run).
V ?=
# 1: make sure the dependencies (gnuplot) are there first (tools/deps.sh run).
PIPE_DEPS ?= 1

# The demo's settings: defaults that a setting on the command line replaces
# (make gives command-line variables precedence over these assignments).
ifneq ($(filter demo,$(MAKECMDGOALS))$(MM_DEMO),)
MSI_OUT := $(RESULTS)/demo
EVIDENCE := $(RESULTS)/evidence
DATASETS := dsprites
MISSING := posX
SEEDS := 1
TEMPS := 0.01 0.03 0.1 0.3 1
DEPTHS :=
endif

mm_comma := ,
mm_empty :=
mm_space := $(mm_empty) $(mm_empty)

# ---- profiles --------------------------------------------------------------
# Image encoders are named; IMG_<name> is the spec, IMG_<name>_<dataset>
# overrides it for one dataset.  Depth sweeps list names (DEPTHS).
IMG_m1 ?= mlp-flatten:512/64
IMG_m2 ?= mlp-flatten:512,256/64
IMG_m4 ?= mlp-flatten:512,256,256,256/64
IMG_m6 ?= mlp-flatten:512,256,256,256,256,256/64
IMG_mlpf ?= mlp-flatten:4096,2048,2048,1024,1024/512
IMG_mlpf_dsprites ?= mlp-flatten:2048,2048,1024,1024,512,512/256
IMG_r20 ?= resnet20
IMG_r32 ?= resnet32
IMG_r44 ?= resnet44
IMG_r56 ?= resnet56
IMG_r110 ?= resnet110
# A small Vision Transformer (a quick profile for it: IMG=vit or DEPTHS='m2 vit').
IMG_vit ?= vit:patch=8,dim=64,depth=2,heads=2,mlp=128
# Factor encoders, per dataset (the protocol's).
FAC_dsprites ?= mlp:16,16,8,8,16,16
FAC_shapes3d ?= mlp:64,64,32,32,64,64
FAC_mpi3d ?= mlp:128,128,64,64,128,128
# Missing factors of remove-msi, per dataset (MISSING sets all datasets).
MISSING ?=
MISSING_dsprites ?= posX scale
MISSING_shapes3d ?= floor_hue scale
MISSING_mpi3d ?= horizontal_axis object_size
# Factors a cheap image encoder never learns: a random split whose essence
# lies within them is degenerate and reported apart (quick-profile caveat).
UNLEARNABLE_dsprites ?= shape,orientation
UNLEARNABLE_shapes3d ?=
UNLEARNABLE_mpi3d ?=
# Distinct essence/nuisance splits of each dataset, 2^F - 2 (mmib-gen
# --splits lists them; the runs list checks it): a default seed list of
# alignment is cut to this many with SPLITS=distinct.
NSPLITS_dsprites ?= 30
NSPLITS_shapes3d ?= 62
NSPLITS_mpi3d ?= 126

ifeq ($(PROFILE),paper)
EPOCHS ?= 50
STEP ?= 20
GAMMA ?= 0.3
LR ?= 0.001
BATCH ?= 128
# Weight decay only for the mlp-flatten configurations, as published.
WD ?= 0
WD_mlpf ?= 0.0001
IMG ?= r20
DEPTHS ?= r20 r32 r44 r56 r110
TEMPS ?= 0.01 0.03 0.1 0.3 1
DEPTH_TEMP ?= 0.1
MSI_SEEDS ?= $(or $(SEEDS),1 2 3)
ALIGN_TEMP ?= learn
ALIGN_SEEDS ?= $(SEEDS)
ALIGN_MAX ?= 100
BETAS ?= 0 0.01 0.03 0.1 0.3 1 3
# The published fixed-temperature configurations use T = 0.01.
REG_TEMPS ?= 0.01 learn
REG_SEEDS ?= $(or $(SEEDS),1 2 3 4 5)
else ifeq ($(PROFILE),quick)
EPOCHS ?= 10
STEP ?= 4
GAMMA ?= 0.3
LR ?= 0.001
BATCH ?= 128
WD ?= 0.0001
IMG ?= m2
DEPTHS ?= m1 m2 m4 m6
TEMPS ?= 0.01 0.03 0.1 0.3 1
DEPTH_TEMP ?= 0.1
MSI_SEEDS ?= $(or $(SEEDS),1 2 3)
ALIGN_TEMP ?= 0.1
ALIGN_SEEDS ?= $(SEEDS)
ALIGN_MAX ?= 60
BETAS ?= 0 0.01 0.03 0.1 0.3 1 3
REG_TEMPS ?= 0.1 learn
REG_SEEDS ?= $(or $(SEEDS),1 2 3 4 5)
else
$(error PROFILE must be quick or paper, not '$(PROFILE)')
endif
MM_GEN := $(BIN)/mmib-gen
MM_TRAIN := $(BIN)/mmib-train
MM_ENCODE := $(BIN)/mmib-encode
MM_PROBE := $(BIN)/mmib-probe
MM_ALIGN := $(BIN)/mmib-align
MM_INFO := $(BIN)/mmib-info

# ---- your own datasets -------------------------------------------------
# A DATASETS word that names a file (.npz, .h5 or .hdf5 holding images and
# integer labels: mmib-gen(1), "A dataset of your own") is the dataset of
# its base name (path/to/my.npz is my), read with mmib-gen --from.  Its
# factors are read from the file (mmib-gen --list --from) when a pipeline
# asks for them: remove-msi leaves out each factor in turn unless MISSING or
# MISSING_<name> says otherwise; its factor encoder is FAC_<name>, else
# FAC_DEFAULT; its sample is N_<name>, else N capped at the file's rows.
FAC_DEFAULT ?= mlp:16,16,8,8,16,16
mm_isfile = $(filter %.npz %.h5 %.hdf5,$1)
mm_ownname = $(basename $(notdir $1))
MM_DATASETS = $(foreach d,$(DATASETS),$(if $(call mm_isfile,$d),$(call mm_ownname,$d),$d))
MM_OWN := $(foreach d,$(DATASETS),$(if $(call mm_isfile,$d),$(call mm_ownname,$d)))
mm_n = $(or $(N_$1),$(N))
# mmib-gen --list --from's row of dataset $1 (file $2), read once: name,
# channels, rows, factor:K list, file
mm_ownlist = $(shell test -x $(MM_GEN) || $(MAKE) --no-print-directory -s $(MM_GEN) >&2; \
	$(MM_GEN) --list --from '$2' --name $1 | tail -n 1)
define mm_own_rules
FROM_$2 := $1
MM_LIST_$2 = $$(eval MM_LIST_$2 := $$(call mm_ownlist,$2,$1))$$(if $$(word 4,$$(MM_LIST_$2)),,$$(error \
	$1: mmib-gen cannot read it as a dataset (see its message above)))$$(MM_LIST_$2)
FAC_$2 ?= $$(FAC_DEFAULT)
MISSING_$2 ?= $$(foreach f,$$(subst $$(mm_comma), ,$$(word 4,$$(MM_LIST_$2))),$$(firstword $$(subst :, ,$$f)))
N_$2 ?= $$(shell r=$$(word 3,$$(MM_LIST_$2)); echo $$$$(( $$(N) < r ? $$(N) : r )))
NSPLITS_$2 ?= $$(shell echo $$$$(( (1 << $$(words $$(subst $$(mm_comma), ,$$(word 4,$$(MM_LIST_$2))))) - 2 )))
endef
$(foreach d,$(DATASETS),$(if $(call mm_isfile,$d),$(eval $(call mm_own_rules,$d,$(call mm_ownname,$d)))))

# ---- helpers -----------------------------------------------------------
# A spec as a path component: mlp-flatten:512,256/64 -> mlp-flatten-512.256-o64,
# vit:patch=8,dim=64 -> vit-patch8.dim64 (make reads '=' in a target as an assignment)
mm_tag = $(subst =,,$(subst /,-o,$(subst $(mm_comma),.,$(subst :,-,$1))))
mm_imgspec = $(or $(IMG_$1_$2),$(IMG_$1),$(error no image encoder IMG_$1))
mm_facspec = $(or $(FAC_$1),$(error no factor encoder FAC_$1))
mm_wd = $(or $(WD_$1),$(WD))
mm_missing = $(or $(MISSING),$(MISSING_$1))
# Pairing as mmib-gen options ($2 the seed): missing-F, random, split (the
# seed-th distinct split), essence-a.b
mm_pairopt = $(if $(filter missing-%,$1),--missing $(patsubst missing-%,%,$1),$(if \
	$(filter random,$1),--random-split,$(if $(filter split,$1),--split $2,--essence $(subst \
	.,$(mm_comma),$(patsubst essence-%,%,$1)))))
# The pairing of alignment and regularization (SPLITS)
mm_splitpair = $(if $(filter distinct,$(SPLITS)),split,$(if $(filter random,$(SPLITS)),random,$(error \
	SPLITS must be distinct or random, not '$(SPLITS)')))
# The seeds (splits) of alignment on dataset $1: ALIGN_SEEDS as given, else
# 1 .. ALIGN_MAX, cut to the dataset's distinct splits (NSPLITS_<dataset>)
mm_align_seeds = $(or $(ALIGN_SEEDS),$(wordlist 1,$(ALIGN_MAX),$(shell seq 1 $(if $(filter \
	split,$(mm_splitpair)),$(or $(NSPLITS_$1),$(ALIGN_MAX)),$(ALIGN_MAX)))))
mm_datatag = $1-n$(call mm_n,$1)-s$2-$3
mm_tempopt = $(if $(filter learn,$1),--learn-temperature,--temperature $1)
# $1 temperature, $2 beta, $3 image-encoder name, $4 epochs
mm_hyptag = T$1-b$2-e$4-st$(STEP)-g$(GAMMA)-wd$(call mm_wd,$3)-lr$(LR)-bs$(BATCH)$(if \
	$(filter-out infonce,$(OBJECTIVE)),-$(OBJECTIVE))$(if $(strip $(TRAIN_OPTS)),-x$(subst =,-,$(call mm_tag,$(subst $(mm_space),_,$(strip $(TRAIN_OPTS))))))
# Directory of a run: dataset seed pairing image-name temperature beta epochs
mm_rundir = $(RUNS)/train/$(call mm_datatag,$1,$2,$3)/$(call mm_tag,$(call \
	mm_imgspec,$4,$1))+$(call mm_tag,$(call mm_facspec,$1))/$(call mm_hyptag,$5,$6,$4,$7)
# A run's name on its progress and tool lines: dataset seed pairing image T
# beta (epochs: "untrained" for 0)
mm_runname = $1 s$2 $3 $4 T=$5 b=$6$(if $(filter-out infonce,$(OBJECTIVE)), $(OBJECTIVE))$(if \
	$(filter 0,$7), untrained)
# Every recipe that makes a file runs through step.sh: under the lock of its
# directory (flock: a second make in the same tree waits, then finds the file
# made), its output through a unique temporary (-s, @TMP@), its tool's lines
# tagged (-t), the command echoed with V=1.
mm_step = V='$(V)' bash $(MM_PIPE)/step.sh
# make's -j, for the estimate of the time left
mm_jobs = $(or $(patsubst -j%,%,$(filter -j%,$(MAKEFLAGS))),1)
mm_threads = -t $(THREADS)

# The data of $1 dataset, $2 seed, $3 pairing, both parts (FROM_<dataset>
# names a real file for mmib-gen --from; a file of your own is also a
# prerequisite, so that changing it redoes the runs).
define mm_data_rules
.PRECIOUS: $(addprefix $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-,train.mts test.mts)
$(addprefix $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-,train.mts test.mts): \
		$(RUNS)/data/$(call mm_datatag,$1,$2,$3)-%.mts: $(if $(filter $1,$(MM_OWN)),$(FROM_$1)) | $(MM_GEN) mm-deps
	@mkdir -p $$(@D)
	@$$(mm_step) -l $$(@D)/.$(call mm_datatag,$1,$2,$3).lock -t '$1 s$2 $3 $$*' $$@ -- \
		$$(RUN) $(MM_GEN) $$(QUIET) $(if $(filter $1,$(MM_OWN)),--name $1,-d $1) \
		-n $(call mm_n,$1) -s $2 $(call mm_pairopt,$3,$2) $(if \
		$(FROM_$1),--from $(FROM_$1)) --part $$* -o $$@
endef

# The rules of one run: $1 dataset, $2 seed, $3 pairing, $4 image encoder
# name, $5 temperature (a number or learn), $6 beta; $7 its directory, $8
# its epochs.
# Training is checkpointed every epoch and an interrupted one resumed
# (train.sh); the last recipe prints the run's progress line when an
# experiment asked for it (MM_LIST_FILE, its runs.list).
define mm_run_rules
$7/model.mts: $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-train.mts $(if \
		$(EVAL_EVERY),$(RUNS)/data/$(call mm_datatag,$1,$2,$3)-test.mts) | $(MM_TRAIN) $(MM_INFO)
	@$$(mm_step) -q -t '$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$@ $$^ -- \
		env MMIB_INFO=$(MM_INFO) bash $(MM_PIPE)/train.sh $$(@D) $$< -- \
		$$(RUN) $(MM_TRAIN) $$(QUIET) $$(mm_threads) --image-encoder $(call mm_imgspec,$4,$1) \
		--factor-encoder $(call mm_facspec,$1) --objective $(OBJECTIVE) $(call mm_tempopt,$5) \
		--beta $6 --epochs $8 --step-size $(STEP) --gamma $(GAMMA) \
		--weight-decay $(call mm_wd,$4) --lr $(LR) --batch-size $(BATCH) \
		$(TRAIN_OPTS) -s $2 $(if $(EVAL_EVERY),--test \
		$(RUNS)/data/$(call mm_datatag,$1,$2,$3)-test.mts --eval-every $(EVAL_EVERY))
.PRECIOUS: $(addprefix $7/,model.mts emb-train.mts emb-test.mts probe.tsv align.tsv row.tsv curve.png)
$7/emb-%.mts: $7/model.mts $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-%.mts | $(MM_ENCODE)
	@$$(mm_step) -t '$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$@ $$^ -- \
		$$(RUN) $(MM_ENCODE) $$(QUIET) $$(mm_threads) -m $$< -o $$@ $$(word 2,$$^)
$7/probe.tsv: $7/emb-train.mts $7/emb-test.mts | $(MM_PROBE)
	@$$(mm_step) -t '$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$@ $$^ -- \
		$$(RUN) $(MM_PROBE) $$(QUIET) $$(mm_threads) --train $$< -o $$@ $$(word 2,$$^)
$7/align.tsv: $7/emb-test.mts | $(MM_ALIGN)
	@$$(mm_step) -t '$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$@ $$^ -- \
		$$(RUN) $(MM_ALIGN) $$(QUIET) -o $$@ $$<
$7/row.tsv: $7/probe.tsv $7/align.tsv $7/model.mts $(MM_PIPE)/row.sh | $(MM_INFO)
	@$$(mm_step) -s -t '$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$@ $$^ -- \
		env MMIB_INFO=$(MM_INFO) sh $(MM_PIPE)/row.sh dataset=$1 n=$(call mm_n,$1) seed=$2 \
		pairing=$3 missing=$(if $(filter missing-%,$3),$(patsubst missing-%,%,$3),NA) \
		image_encoder=$4 image_spec=$(call mm_imgspec,$4,$1) depth=model \
		factor_spec=$(call mm_facspec,$1) objective=$(OBJECTIVE) temperature=$5 \
		learn_temperature=$(if $(filter learn,$5),1,0) beta=$6 \
		epochs=$8 step=$(STEP) gamma=$(GAMMA) weight_decay=$(call mm_wd,$4) \
		lr=$(LR) batch=$(BATCH) train_opts='$(strip $(TRAIN_OPTS))' \
		unlearnable=$(UNLEARNABLE_$1) model=$$(@D)/model.mts \
		$$(@D)/probe.tsv $$(@D)/align.tsv $$(@D)/log.tsv
	@$$(if $$(MM_LIST_FILE),sh $(MM_PIPE)/progress.sh $$(MM_LIST_FILE) $$@ \
		'$(call mm_runname,$1,$2,$3,$4,$5,$6,$8)' $$(mm_jobs))
endef

# A training curve on request: make runs/train/.../curve.png
$(RUNS)/train/%/curve.png: $(RUNS)/train/%/model.mts $(MM_PIPE)/curve.gp
	@$(mm_step) $@ $^ -- gnuplot -e "logfile='$(@D)/log.tsv'; outfile='@TMP@'; title='$*'" \
		$(MM_PIPE)/curve.gp

# mm_run: define a run's rules (and its data's) once; expands to its row.tsv.
# An optional $7 gives its epochs (default EPOCHS; 0: the untrained encoder).
# mm_run_once has the run's directory as $7 and its epochs as $8; mm_data
# likewise for the data.
MM_DEFINED :=
MM_DATA :=
mm_run = $(strip $(call mm_run_once,$1,$2,$3,$4,$5,$6,$(call mm_rundir,$1,$2,$3,$4,$5,$6,$(or \
	$7,$(EPOCHS))),$(or $7,$(EPOCHS))))
mm_run_once = $(if $(filter $7,$(MM_DEFINED)),,$(call mm_data,$1,$2,$3)$(eval \
	$(call mm_run_rules,$1,$2,$3,$4,$5,$6,$7,$8))$(eval MM_DEFINED += $7))$7/row.tsv
mm_data = $(if $(filter $(call mm_datatag,$1,$2,$3),$(MM_DATA)),,$(eval \
	$(call mm_data_rules,$1,$2,$3))$(eval MM_DATA += $(call mm_datatag,$1,$2,$3)))

# ---- an experiment ---------------------------------------------------------
# $(eval $(call mm_experiment,NAME,PREFIX,RUNS)) makes experiment NAME from
# RUNS, a function whose value lists the row.tsv of its runs, each from
# $(call mm_run,dataset,seed,pairing,image-name,temperature,beta):
#   PREFIX_OUT     its directory, $(RESULTS)/NAME unless given (NAME-paper
#                  for PROFILE=paper: the profiles' reports stay apart)
#   PREFIX_EV      its evidence directory, $(EVIDENCE)/ and PREFIX_OUT's name
#   PREFIX_ROWS    its rows (defined, and the runs' rules made, only when a
#                  pipeline target is asked for, so that `make`, `make check`
#                  and the rest neither pay for nor depend on them)
#   PREFIX_OUT/runs.list summary.tsv report.txt *.png data/
#   PREFIX_EV/<run key>.tsv, one per run (the key: the run's directory
#                  under $(RUNS)/train, '/' spelled '__')
#   make NAME      the report (printed), make NAME-curves
#   make NAME-report   every evidence row under PREFIX_EV merged, with its
#                  report and plots, in PREFIX_OUT/merged/ (trains nothing)
# report.sh and plot.sh have its section (case NAME).
MM_OUT_VARS :=
MM_RESULT_DEPS := $(MM_PIPE)/report.sh $(MM_PIPE)/plot.sh $(MM_PIPE)/agg.awk \
	$(MM_PIPE)/corr.awk $(MM_PIPE)/where.awk $(MM_PIPE)/stats.awk \
	$(MM_PIPE)/collapse.awk $(wildcard $(MM_PIPE)/*.gp)
define mm_experiment
MM_OUT_VARS += $2_OUT
$2_OUT ?= $$(RESULTS)/$1$$(if $$(filter-out quick,$$(PROFILE)),-$$(PROFILE))
$2_EV ?= $$(EVIDENCE)/$$(notdir $$($2_OUT))
ifneq ($$(filter $1% demo figures $$(RESULTS)/% $$(RUNS)/%,$$(MAKECMDGOALS)),)
$2_ROWS := $$(call $3)
$2_EVID := $$(foreach r,$$($2_ROWS),$$(call mm_evid_file,$$($2_EV),$$r))
$$(foreach r,$$($2_ROWS),$$(eval $$(call mm_evid_rule,$$($2_EV),$$r)))
endif
.PRECIOUS: $$(addprefix $$($2_OUT)/,runs.list summary.tsv report.txt)
$$($2_OUT)/runs.list: MM_LIST = $$($2_ROWS)
$$($2_OUT)/runs.list: MM_EXP = $1
$$($2_OUT)/runs.list: mm-force | $$(MM_GEN)
	$$(mm_runs_list)
# every run after its list (progress lines count from it), which it knows
$$($2_ROWS): | $$($2_OUT)/runs.list
$$($2_OUT)/summary.tsv: MM_LIST_FILE = $$($2_OUT)/runs.list
$$($2_OUT)/summary.tsv: $$($2_OUT)/runs.list $$($2_ROWS) $$($2_EVID) $(MM_PIPE)/tsvcat.awk \
		$(MM_PIPE)/collapse.awk
	$$(mm_summary)
$$($2_OUT)/report.txt: MM_EXP = $1
$$($2_OUT)/report.txt: $$($2_OUT)/summary.tsv $$(MM_RESULT_DEPS) | mm-deps
	$$(mm_report)
$1: $$($2_OUT)/report.txt
	@cat $$<
$1-curves: $$($2_ROWS:row.tsv=curve.png)
$1-report: | mm-deps
	@mkdir -p $$($2_OUT)
	@flock $$($2_OUT)/.lock env IMG=$$(IMG) DEPTH_TEMP=$$(DEPTH_TEMP) ALIGN_TEMP=$$(ALIGN_TEMP) \
		PROFILE=$$(PROFILE) sh $(MM_PIPE)/evidence.sh report $1 $$($2_OUT)/merged $$($2_EV)
	@cat $$($2_OUT)/merged/report.txt
.PHONY: $1 $1-curves $1-report
endef

# Evidence: the file of run $2 (its row.tsv) in evidence directory $1, and
# its rule (evidence.sh row: the row, the experiment, profile, run key,
# mmib version and provenance fingerprint).
mm_runkey = $(patsubst $(RUNS)/train/%/row.tsv,%,$1)
mm_evid_file = $1/$(subst /,__,$(call mm_runkey,$2)).tsv
define mm_evid_rule
.PRECIOUS: $(call mm_evid_file,$1,$2)
$(call mm_evid_file,$1,$2): $2 | $(MM_INFO)
	@$$(mm_step) -s -l $(dir $2).lock $$@ $$< -- env MMIB_INFO=$(MM_INFO) sh $(MM_PIPE)/evidence.sh \
		row $(notdir $1) $(PROFILE) $(call mm_runkey,$2) $2 $(dir $2)model.mts
endef

# The list of rows of an experiment, rewritten only when it changes, so a
# summary is rebuilt when runs are added or dropped.  The top Makefile's
# .SECONDARY: makes every target secondary, and make does not remake a
# missing secondary file for its own sake: so the list is also touched when
# a row is missing (runs/ removed, say), which rebuilds the summary and,
# with it, every missing row and whatever that row needs.  An empty list (a
# setting that selects no run) is an error.  The line printed says how many
# runs are still to be made.
define mm_runs_list
$(if $(strip $(MM_LIST)),,@echo "$(MM_EXP): no runs: DATASETS, SEEDS and the swept lists select none" >&2; exit 1)
@mkdir -p $(@D)
@t=$$(mktemp $@.tmp.XXXXXX); trap 'rm -f "$$t"' EXIT; printf '%s\n' $(MM_LIST) > "$$t"; \
	if cmp -s "$$t" $@; then rm -f "$$t"; else mv "$$t" $@; fi
@while read -r f; do [ -e "$$f" ] || { touch $@; break; }; done < $@
@MMIB_GEN=$(MM_GEN) OWN_DATASETS='$(foreach d,$(MM_OWN),$d:$(FROM_$d))' sh $(MM_PIPE)/splits.sh $(MM_EXP) $@
@n=$(words $(filter-out $(wildcard $(MM_LIST)),$(MM_LIST))); [ "$$n" -eq 0 ] || \
	echo "$(MM_EXP): $(words $(MM_LIST)) runs, $$n to make (results in $(@D)/)" >&2
endef
# The summary reads the list itself (summary.sh: tsvcat.awk -v list=): a
# missing or empty list, or a listed row that is missing or empty, is an
# error; runs that collapsed are marked (collapse.awk).
define mm_summary
@$(mm_step) -s $@ $^ -- sh $(MM_PIPE)/summary.sh $(@D)/runs.list
endef
# Report and plots (report.sh and plot.sh; gnuplot scripts pipelines/*.gp),
# under the lock of the results directory.
define mm_report
@$(mm_step) -s $@ $^ -- env IMG=$(IMG) DEPTH_TEMP=$(DEPTH_TEMP) ALIGN_TEMP=$(ALIGN_TEMP) \
	PROFILE=$(PROFILE) MMIB_GEN=$(MM_GEN) OWN_DATASETS='$(foreach d,$(MM_OWN),$d:$(FROM_$d))' \
	sh $(MM_PIPE)/report.sh $(MM_EXP) $<
@flock $(@D)/.lock env IMG=$(IMG) DEPTH_TEMP=$(DEPTH_TEMP) sh $(MM_PIPE)/plot.sh $(MM_EXP) $< $(@D)
endef

# ---- the experiments -------------------------------------------------------
# remove-msi: per dataset, missing factor and seed, a temperature sweep with
# the default image encoder and a depth sweep at DEPTH_TEMP.
# With BASELINE=1 (and a temperature sweep), C1's untrained baseline: the
# default image encoder at --epochs 0 for each seed.
mm_msi_runs = $(sort $(foreach d,$(MM_DATASETS),$(foreach m,$(call mm_missing,$d),$(foreach \
	s,$(MSI_SEEDS),$(foreach t,$(TEMPS),$(call mm_run,$d,$s,missing-$m,$(IMG),$t,0)) \
	$(if $(filter 1,$(BASELINE)),$(if $(TEMPS),$(call mm_run,$d,$s,missing-$m,$(IMG),$(firstword \
	$(TEMPS)),0,0))) \
	$(foreach e,$(DEPTHS),$(call mm_run,$d,$s,missing-$m,$e,$(DEPTH_TEMP),0))))))
$(eval $(call mm_experiment,remove-msi,MSI,mm_msi_runs))

# alignment: essence/nuisance splits at ALIGN_TEMP, distinct ones by
# default (SPLITS), seed k the k-th (mm_align_seeds).
mm_align_runs = $(foreach d,$(MM_DATASETS),$(foreach s,$(call mm_align_seeds,$d),\
	$(call mm_run,$d,$s,$(mm_splitpair),$(IMG),$(ALIGN_TEMP),0)))
$(eval $(call mm_experiment,alignment,ALIGN,mm_align_runs))

# regularization: splits (as alignment's) x BETAS x temperature modes
# (fixed, learn).
mm_reg_runs = $(foreach d,$(MM_DATASETS),$(foreach s,$(REG_SEEDS),$(foreach t,$(REG_TEMPS),\
	$(foreach b,$(BETAS),$(call mm_run,$d,$s,$(mm_splitpair),$(IMG),$t,$b)))))
$(eval $(call mm_experiment,regularization,REG,mm_reg_runs))

# Copy the plots and reports of the experiments that were run next to the
# pipelines.
figures:
	@mkdir -p pipelines/figures
	@for f in $(foreach v,$(MM_OUT_VARS),$($v)/*.png) \
		$(foreach v,$(MM_OUT_VARS),$($v)/report.txt); do \
		[ -e "$$f" ] || continue; \
		d=$$(basename $$(dirname $$f)); cp "$$f" pipelines/figures/$$d-$$(basename $$f); \
		echo "pipelines/figures/$$d-$$(basename $$f)"; done

# The main job for a new user: dependencies, the tools, then a small
# remove-msi temperature sweep on dsprites (one seed, missing posX, five
# temperatures: about a minute on 2 cores) and its report.  These are
# defaults: a setting on the command line (TEMPS=, SEEDS=, DEPTHS=, ...)
# replaces the demo's, and the message says what will run.
DEMO_JOBS ?= 2
demo: mm-deps
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory all
	@echo "demo: remove-msi on $(DATASETS), missing $(or $(MISSING),$(foreach \
		d,$(DATASETS),$(MISSING_$d))), seed(s) $(MSI_SEEDS), T = $(TEMPS)$(if \
		$(strip $(DEPTHS)), and depths $(DEPTHS) at T = $(DEPTH_TEMP)): $(words \
		$(MSI_ROWS)) runs, $(words $(filter-out $(wildcard $(MSI_ROWS)),$(MSI_ROWS))) to train$(if \
		$(filter quick,$(PROFILE)), (some 10-20 s each on a laptop core))"
	@$(MAKE) -f $(firstword $(MAKEFILE_LIST)) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(DEMO_JOBS)) \
		$(RESULTS)/demo/report.txt MM_DEMO=1
	@cat $(RESULTS)/demo/report.txt
	@echo "demo: summary, report and plots in $(RESULTS)/demo/"

# The pipelines under a real Slurm (tests/slurm.sh): as root, installs
# slurm-wlm and munge if missing, starts a private single-node cluster,
# runs a tiny sweep with RUN='srun -n1 -c1 --quiet' and locally, compares;
# skips with the reason elsewhere.  Not part of `make check` (it installs
# packages and starts daemons); .ci/run runs it.
check-slurm: all
	MMIB_TOP=$(CURDIR) MMIB_BIN=$(CURDIR)/$(BIN) OPENBLAS_NUM_THREADS=1 bash tests/slurm.sh

# Dependencies of the pipelines (gnuplot for the plots), installed as root.
mm-deps:
	@$(if $(filter 1,$(PIPE_DEPS)),sh $(MM_DEPS) run,:)

mm-force:

.PHONY: demo figures mm-deps mm-force check-slurm

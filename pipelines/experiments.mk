# pipelines/experiments.mk - the paper's experiments as make pipelines.
# Included by the top Makefile; see pipelines/README.md and mmib(7).
#
#   make demo              deps, build, a small temperature sweep, its report
#   make remove-msi        missing-factor information vs temperature and depth
#   make alignment         nuisance information vs alignment over random splits
#   make regularization    the IB regulariser: beta sweep, fixed and learned T
#   make figures           copy the plots and reports to pipelines/figures/
#   make <exp>-curves      a training-curve plot beside every run of <exp>
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
# A run is shared by every experiment that asks for the same settings, so
# changing one setting redoes only what depends on it.  An experiment is a
# run list and one $(eval $(call mm_experiment,...)) (see "an experiment"
# below), plus its sections in report.sh and plot.sh.  The runs do not
# depend on the tools' timestamps (rebuilding a tool does not redo hours of
# training): after changing a tool, remove runs/ or the affected part.

.DELETE_ON_ERROR:
# Pipelines fail on the first failing command of a pipe (the system /bin/sh
# lacks pipefail, hence bash, set by the top Makefile).
.SHELLFLAGS := -eo pipefail -c

# Prefix of every tool invocation: empty, or e.g. 'srun -n1 -c1 --quiet'.
RUN ?=
# quick (default): small image encoder, 10 epochs; paper: the published setup.
PROFILE ?= quick
RUNS ?= runs
RESULTS ?= results
DATASETS ?= dsprites
# Samples drawn from the grid per run (75 % train, 25 % test).
N ?= 10000
# Seeds: one variable for all experiments, or one per experiment.
SEEDS ?=
# Extra mmib-train options (they become part of the run's directory name).
TRAIN_OPTS ?=
# Options given to every tool: -q silences the per-epoch lines of mmib-train.
QUIET ?= -q
# 1: make sure the dependencies (gnuplot) are there first (tools/deps.sh run).
PIPE_DEPS ?= 1

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
ALIGN_SEEDS ?= $(or $(SEEDS),$(shell seq 1 100))
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
ALIGN_SEEDS ?= $(or $(SEEDS),$(shell seq 1 60))
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

# ---- helpers -----------------------------------------------------------
# A spec as a path component: mlp-flatten:512,256/64 -> mlp-flatten-512.256-o64
mm_tag = $(subst /,-o,$(subst $(mm_comma),.,$(subst :,-,$1)))
mm_imgspec = $(or $(IMG_$1_$2),$(IMG_$1),$(error no image encoder IMG_$1))
mm_facspec = $(or $(FAC_$1),$(error no factor encoder FAC_$1))
mm_wd = $(or $(WD_$1),$(WD))
mm_missing = $(or $(MISSING),$(MISSING_$1))
# Pairing as mmib-gen options: missing-F, random, essence-a.b
mm_pairopt = $(if $(filter missing-%,$1),--missing $(patsubst missing-%,%,$1),$(if \
	$(filter random,$1),--random-split,--essence $(subst .,$(mm_comma),$(patsubst essence-%,%,$1))))
mm_datatag = $1-n$(N)-s$2-$3
mm_tempopt = $(if $(filter learn,$1),--learn-temperature,--temperature $1)
mm_hyptag = T$1-b$2-e$(EPOCHS)-st$(STEP)-g$(GAMMA)-wd$(call mm_wd,$3)-lr$(LR)-bs$(BATCH)$(if \
	$(strip $(TRAIN_OPTS)),-x$(subst =,-,$(call mm_tag,$(subst $(mm_space),_,$(strip $(TRAIN_OPTS))))))
# Directory of a run: dataset seed pairing image-name temperature beta
mm_rundir = $(RUNS)/train/$(call mm_datatag,$1,$2,$3)/$(call mm_tag,$(call \
	mm_imgspec,$4,$1))+$(call mm_tag,$(call mm_facspec,$1))/$(call mm_hyptag,$5,$6,$4)
# A recipe line that writes its target writes $(mm_tmp) and renames it: the
# name holds the line's shell PID, so two makes in one tree never share it,
# and $(mm_trap) removes it if the line fails.
mm_tmp = $@.$$$$
mm_trap = trap 'rm -f $(mm_tmp)' EXIT;

# The data of $1 dataset, $2 seed, $3 pairing, both parts (FROM_<dataset>
# names a real file for mmib-gen --from).
define mm_data_rules
$(addprefix $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-,train.mts test.mts): \
		$(RUNS)/data/$(call mm_datatag,$1,$2,$3)-%.mts: | $(MM_GEN) mm-deps
	@mkdir -p $$(@D)
	$$(RUN) $(MM_GEN) $$(QUIET) -d $1 -n $(N) -s $2 $(call mm_pairopt,$3) $(if \
		$(FROM_$1),--from $(FROM_$1)) --part $$* -o $$@
endef

# The rules of one run: $1 dataset, $2 seed, $3 pairing, $4 image encoder
# name, $5 temperature (a number or learn), $6 beta; $7 its directory.
define mm_run_rules
$7/model.mts: $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-train.mts | $(MM_TRAIN)
	@mkdir -p $$(@D)
	$$(RUN) $(MM_TRAIN) $$(QUIET) --image-encoder $(call mm_imgspec,$4,$1) \
		--factor-encoder $(call mm_facspec,$1) $(call mm_tempopt,$5) \
		--beta $6 --epochs $(EPOCHS) --step-size $(STEP) --gamma $(GAMMA) \
		--weight-decay $(call mm_wd,$4) --lr $(LR) --batch-size $(BATCH) \
		$(TRAIN_OPTS) -s $2 --log $$(@D)/log.tsv -o $$@ $$<
$7/emb-%.mts: $7/model.mts $(RUNS)/data/$(call mm_datatag,$1,$2,$3)-%.mts | $(MM_ENCODE)
	$$(RUN) $(MM_ENCODE) $$(QUIET) -m $$< -o $$@ $$(word 2,$$^)
$7/row.tsv: $7/probe.tsv $7/align.tsv $7/model.mts pipelines/row.sh | $(MM_INFO)
	$$(mm_trap) MMIB_INFO=$(MM_INFO) sh pipelines/row.sh dataset=$1 n=$(N) seed=$2 \
		pairing=$3 missing=$(if $(filter missing-%,$3),$(patsubst missing-%,%,$3),NA) \
		image_encoder=$4 image_spec=$(call mm_imgspec,$4,$1) depth=model \
		factor_spec=$(call mm_facspec,$1) temperature=$5 \
		learn_temperature=$(if $(filter learn,$5),1,0) beta=$6 \
		epochs=$(EPOCHS) step=$(STEP) gamma=$(GAMMA) weight_decay=$(call mm_wd,$4) \
		lr=$(LR) batch=$(BATCH) train_opts='$(strip $(TRAIN_OPTS))' \
		unlearnable=$(UNLEARNABLE_$1) model=$$(@D)/model.mts \
		$$(@D)/probe.tsv $$(@D)/align.tsv $$(@D)/log.tsv > $$(mm_tmp); mv $$(mm_tmp) $$@
endef

# Analysis of a run directory (the same for every run).
$(RUNS)/train/%/probe.tsv: $(RUNS)/train/%/emb-train.mts $(RUNS)/train/%/emb-test.mts | $(MM_PROBE)
	$(RUN) $(MM_PROBE) $(QUIET) --train $< -o $@ $(word 2,$^)
$(RUNS)/train/%/align.tsv: $(RUNS)/train/%/emb-test.mts | $(MM_ALIGN)
	$(RUN) $(MM_ALIGN) $(QUIET) -o $@ $<
# A training curve on request: make runs/train/.../curve.png
$(RUNS)/train/%/curve.png: $(RUNS)/train/%/model.mts pipelines/curve.gp
	$(mm_trap) gnuplot -e "logfile='$(@D)/log.tsv'; outfile='$(mm_tmp)'; title='$*'" \
		pipelines/curve.gp; mv $(mm_tmp) $@

# mm_run: define a run's rules (and its data's) once; expands to its row.tsv.
# mm_run_once has the run's directory as $7; mm_data likewise for the data.
MM_DEFINED :=
MM_DATA :=
mm_run = $(strip $(call mm_run_once,$1,$2,$3,$4,$5,$6,$(call mm_rundir,$1,$2,$3,$4,$5,$6)))
mm_run_once = $(if $(filter $7,$(MM_DEFINED)),,$(call mm_data,$1,$2,$3)$(eval \
	$(call mm_run_rules,$1,$2,$3,$4,$5,$6,$7))$(eval MM_DEFINED += $7))$7/row.tsv
mm_data = $(if $(filter $(call mm_datatag,$1,$2,$3),$(MM_DATA)),,$(eval \
	$(call mm_data_rules,$1,$2,$3))$(eval MM_DATA += $(call mm_datatag,$1,$2,$3)))

# ---- an experiment ---------------------------------------------------------
# $(eval $(call mm_experiment,NAME,PREFIX,RUNS)) makes experiment NAME from
# RUNS, a function whose value lists the row.tsv of its runs, each from
# $(call mm_run,dataset,seed,pairing,image-name,temperature,beta):
#   PREFIX_OUT     its directory, $(RESULTS)/NAME unless given
#   PREFIX_ROWS    its rows (defined, and the runs' rules made, only when a
#                  pipeline target is asked for, so that `make`, `make check`
#                  and the rest neither pay for nor depend on them)
#   PREFIX_OUT/runs.list summary.tsv report.txt *.png data/
#   make NAME      the report (printed), make NAME-curves
# report.sh and plot.sh have its section (case NAME).
MM_OUT_VARS :=
MM_RESULT_DEPS := pipelines/report.sh pipelines/plot.sh pipelines/agg.awk \
	pipelines/corr.awk pipelines/where.awk $(wildcard pipelines/*.gp)
define mm_experiment
MM_OUT_VARS += $2_OUT
$2_OUT ?= $$(RESULTS)/$1
ifneq ($$(filter $1% demo figures $$(RESULTS)/% $$(RUNS)/%,$$(MAKECMDGOALS)),)
$2_ROWS := $$(call $3)
endif
$$($2_OUT)/runs.list: MM_LIST = $$($2_ROWS)
$$($2_OUT)/runs.list: mm-force
	$$(mm_runs_list)
$$($2_OUT)/summary.tsv: $$($2_OUT)/runs.list $$($2_ROWS) pipelines/tsvcat.awk
	$$(mm_summary)
$$($2_OUT)/report.txt: MM_EXP = $1
$$($2_OUT)/report.txt: $$($2_OUT)/summary.tsv $$(MM_RESULT_DEPS) | mm-deps
	$$(mm_report)
$1: $$($2_OUT)/report.txt
	@cat $$<
$1-curves: $$($2_ROWS:row.tsv=curve.png)
.PHONY: $1 $1-curves
endef

# The list of rows of an experiment, rewritten only when it changes, so a
# summary is rebuilt when runs are added or dropped.  The top Makefile's
# .SECONDARY: makes every target secondary, and make does not remake a
# missing secondary file for its own sake: so the list is also touched when
# a row is missing (runs/ removed, say), which rebuilds the summary and,
# with it, every missing row and whatever that row needs.
define mm_runs_list
@mkdir -p $(@D)
@$(mm_trap) printf '%s\n' $(MM_LIST) > $(mm_tmp); \
	if cmp -s $(mm_tmp) $@; then rm -f $(mm_tmp); else mv $(mm_tmp) $@; fi
@while read -r f; do [ -e "$$f" ] || { touch $@; break; }; done < $@
endef
define mm_summary
$(mm_trap) awk -f pipelines/tsvcat.awk $$(cat $(@D)/runs.list) > $(mm_tmp); mv $(mm_tmp) $@
endef
# Report and plots (report.sh and plot.sh; gnuplot scripts pipelines/*.gp).
define mm_report
$(mm_trap) IMG=$(IMG) DEPTH_TEMP=$(DEPTH_TEMP) ALIGN_TEMP=$(ALIGN_TEMP) PROFILE=$(PROFILE) \
	sh pipelines/report.sh $(MM_EXP) $< > $(mm_tmp); mv $(mm_tmp) $@
IMG=$(IMG) DEPTH_TEMP=$(DEPTH_TEMP) sh pipelines/plot.sh $(MM_EXP) $< $(@D)
endef

# ---- the experiments -------------------------------------------------------
# remove-msi: per dataset, missing factor and seed, a temperature sweep with
# the default image encoder and a depth sweep at DEPTH_TEMP.
mm_msi_runs = $(sort $(foreach d,$(DATASETS),$(foreach m,$(call mm_missing,$d),$(foreach \
	s,$(MSI_SEEDS),$(foreach t,$(TEMPS),$(call mm_run,$d,$s,missing-$m,$(IMG),$t,0)) \
	$(foreach e,$(DEPTHS),$(call mm_run,$d,$s,missing-$m,$e,$(DEPTH_TEMP),0))))))
$(eval $(call mm_experiment,remove-msi,MSI,mm_msi_runs))

# alignment: SEEDS random essence/nuisance splits at ALIGN_TEMP.
mm_align_runs = $(foreach d,$(DATASETS),$(foreach s,$(ALIGN_SEEDS),\
	$(call mm_run,$d,$s,random,$(IMG),$(ALIGN_TEMP),0)))
$(eval $(call mm_experiment,alignment,ALIGN,mm_align_runs))

# regularization: random splits x BETAS x temperature modes (fixed, learn).
mm_reg_runs = $(foreach d,$(DATASETS),$(foreach s,$(REG_SEEDS),$(foreach t,$(REG_TEMPS),\
	$(foreach b,$(BETAS),$(call mm_run,$d,$s,random,$(IMG),$t,$b)))))
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
# temperatures: about a minute on 2 cores) and its report.
DEMO_JOBS ?= 2
demo: mm-deps
	@$(MAKE) --no-print-directory all
	@echo "demo: training 5 small models (dsprites, missing posX, T = 0.01 .. 1): about a minute on 2 cores"
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(DEMO_JOBS)) $(RESULTS)/demo/report.txt \
		MSI_OUT=$(RESULTS)/demo DATASETS=dsprites MISSING=posX SEEDS=1 \
		TEMPS='0.01 0.03 0.1 0.3 1' DEPTHS=
	@cat $(RESULTS)/demo/report.txt
	@echo "demo: summary, report and plots in $(RESULTS)/demo/"

# Dependencies of the pipelines (gnuplot for the plots), installed as root.
mm-deps:
	@$(if $(filter 1,$(PIPE_DEPS)),sh tools/deps.sh run,:)

mm-force:

.PHONY: demo figures mm-deps mm-force

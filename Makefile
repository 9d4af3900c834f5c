# mmib - one flat Makefile: libmmib.a, one program per tools/mmib-*.c,
# the tests, the benchmarks and the experiment pipelines (pipelines/*.mk).
#
#   make              build the library and the tools into bin/
#   make check        install missing dependencies, build, run every test
#   make check SANITIZE=1   the same under AddressSanitizer + UBSan
#   make bench        speed measurements (see bench/)
#   make demo         a quick experiment end to end (see README.md)
#
# Override CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR as usual.

SHELL := /bin/bash
CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
DESTDIR ?=
PKG_CONFIG ?= pkg-config
PROVE ?= prove
# Set SANITIZE=1 for an ASan+UBSan build in a separate tree.
SANITIZE ?=

PKGS := openblas libpng libzstd zlib
# HDF5 is optional: it only serves the Shapes3D importer.
HDF5_PKG := $(shell $(PKG_CONFIG) --exists hdf5 2>/dev/null && echo hdf5)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(HDF5_PKG) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) $(HDF5_PKG) 2>/dev/null)

ifeq ($(SANITIZE),)
BUILD := build
BIN := bin
else
BUILD := build-san
BIN := build-san/bin
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

MM_CFLAGS := -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Ilib \
	$(if $(HDF5_PKG),-DMM_HAVE_HDF5) $(PKG_CFLAGS)
MM_LIBS := $(PKG_LIBS) -lm

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o)
LIB := $(BUILD)/libmmib.a
TOOL_SRC := $(sort $(wildcard tools/mmib-*.c))
TOOLS := $(TOOL_SRC:tools/%.c=$(BIN)/%)
TEST_SRC := $(sort $(wildcard tests/t-*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%.t)
TEST_HELP := $(BUILD)/tests/tap.o $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/util-*.c))
TEST_SH := $(sort $(wildcard tests/*.t))
# the fuzz targets as plain programs (see fuzz: below)
FUZZ_RUN := $(patsubst %,$(BUILD)/tests/fuzz-%.run,stream npz h5)
BENCH_SRC := $(sort $(wildcard bench/b-*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
MANS := $(sort $(wildcard man/*.[1-8]))

# Build the library and every tool (default).
all: $(TOOLS)

# Check for (and, as root, install) the build and test dependencies.
deps:
	@sh tools/deps.sh check

# The static library every tool links.
$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The configuration that built the objects (compiler, flags, optional
# libraries), rewritten only when it changes, so that installing HDF5 or
# changing CFLAGS rebuilds everything.  It also stops a build whose libraries
# are missing with one line that names `make deps`.
CONFIG := $(BUILD)/config
MM_CONFIG := $(CC) | $(MM_CFLAGS) $(CFLAGS) | $(LDFLAGS) $(MM_LIBS)
MM_DEPS_MISSING := $(shell $(PKG_CONFIG) --exists $(PKGS) 2>/dev/null || echo missing)
$(CONFIG): FORCE | $(BUILD)/lib
	@if [ -n "$(MM_DEPS_MISSING)" ]; then \
		echo "mmib: build dependencies missing ($(PKGS) via $(PKG_CONFIG)):" \
		    "run 'make deps' (as root it installs them)" >&2; exit 1; fi
	@printf '%s\n' '$(subst ','\'',$(MM_CONFIG))' > $@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(BUILD)/lib/%.o: lib/%.c $(wildcard lib/*.h) $(CONFIG) | $(BUILD)/lib
	$(CC) $(MM_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BIN)/%: tools/%.c $(LIB) $(wildcard lib/*.h) $(CONFIG) | $(BIN)
	$(CC) $(MM_CFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(MM_LIBS)

$(BUILD)/tests/%.o: tests/%.c tests/tap.h $(wildcard tests/*.h) $(wildcard lib/*.h) $(CONFIG) | $(BUILD)/tests
	$(CC) $(MM_CFLAGS) -Itests $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.t: $(BUILD)/tests/%.o $(TEST_HELP) $(LIB)
	$(CC) $(CFLAGS) -o $@ $< $(TEST_HELP) $(LIB) $(LDFLAGS) $(MM_LIBS)

$(BUILD)/bench/%: bench/%.c $(LIB) $(wildcard lib/*.h) $(CONFIG) | $(BUILD)/bench
	$(CC) $(MM_CFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(MM_LIBS)

$(BUILD)/lib $(BUILD)/tests $(BUILD)/bench $(BIN):
	mkdir -p $@

# Build the test programs without running them.
tests: $(TOOLS) $(TEST_BIN) $(FUZZ_RUN)

# Lint the man pages, then run every test through prove (C tests and shell
# tests).  Installs missing dependencies first.
check: deps
	@$(MAKE) --no-print-directory tests
	mandoc -Tlint -Wwarning $(MANS)
	MMIB_TOP=$(CURDIR) MMIB_BIN=$(CURDIR)/$(BIN) MMIB_BUILD=$(BUILD) OPENBLAS_NUM_THREADS=1 \
		$(PROVE) -j2 -e '' $(TEST_BIN) $(TEST_SH)

# Speed measurements: every bench/*.sh, in order, against the anchors.
bench: $(TOOLS) $(BENCH_BIN)
	@sh tools/deps.sh bench
	@awk -f bench/cpu.awk /proc/cpuinfo
	@b=$(BUILD)/bench/b-train; cur=$$($$b -B); core=$${cur%%	*}; \
	own=$$(env -u OPENBLAS_CORETYPE $$b -B | cut -f1); \
	printf 'blas: OpenBLAS core %s (%s)\n' "$$core" "$$(echo "$$cur" | cut -f2)"; \
	case $$cur in *"mmib named"*) echo "blas: $$(echo "$$cur" | cut -f3):" \
	    "every row below, mmib's, PyTorch's and numpy's, runs on those kernels";; esac; \
	if [ -n "$${OPENBLAS_CORETYPE:-}" ] && [ "$$core" != "$$own" ]; then \
		echo "blas: OPENBLAS_CORETYPE=$$OPENBLAS_CORETYPE in the environment forces these kernels;" \
		    "this CPU's own would be $$own: every sgemm figure below is that core's, not the CPU's"; fi
	@core=$$($(BUILD)/bench/b-train -B | cut -f1); \
	export OPENBLAS_CORETYPE="$${OPENBLAS_CORETYPE-$$core}"; \
	for b in bench/*.sh; do \
		[ -e "$$b" ] || continue; \
		echo "== $$b"; \
		MMIB_TOP=$(CURDIR) MMIB_BIN=$(CURDIR)/$(BIN) MMIB_BUILD=$(CURDIR)/$(BUILD) bash $$b || exit 1; \
	done

# Fuzz the importers with libFuzzer: the stream reader, the npz (zip)
# reader and the HDF5 reader (when built with HDF5), FUZZ_SECONDS each
# (600; `make fuzz FUZZ_SECONDS=60` for a short run).  Seeds come from
# tests/fuzz/corpus/<target>/; new inputs go to build-fuzz/corpus-<target>;
# a crash stops make with the input saved as build-fuzz/crash-*.  Inputs
# that once crashed belong in tests/fuzz/regress/<target>/, where make
# check runs them (tests/fuzz.t) through the same target without libFuzzer.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := stream npz $(if $(HDF5_PKG),h5)
FUZZ_CFLAGS := -g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L -DMM_FUZZING -Ilib \
	$(if $(HDF5_PKG),-DMM_HAVE_HDF5) $(PKG_CFLAGS) \
	-fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB := build-fuzz/libmmib.a
FUZZ_MAXLEN_stream := 4096
FUZZ_MAXLEN_npz := 16384
FUZZ_MAXLEN_h5 := 32768
# libhdf5 itself leaks a few hundred bytes on some corrupt files, and
# asks malloc for the sizes a corrupt header claims (terabytes; a NULL it
# handles), both inside H5Fopen: for h5, leaks are not counted and a
# failed allocation returns NULL as it does outside ASan.
FUZZ_OPTS_h5 := -detect_leaks=0
FUZZ_ENV_h5 := ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0
build-fuzz/lib/%.o: lib/%.c $(wildcard lib/*.h) | build-fuzz/lib
	clang $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_LIB): $(LIB_SRC:lib/%.c=build-fuzz/lib/%.o)
	@rm -f $@
	$(AR) rcs $@ $^
build-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LIB)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(PKG_LIBS) -lm
build-fuzz/lib:
	mkdir -p $@
fuzz: $(FUZZ_TARGETS:%=build-fuzz/fuzz-%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus-$$t || exit 1; \
		echo "== fuzz-$$t for $(FUZZ_SECONDS) s"; \
		$$([ $$t = h5 ] && echo env $(FUZZ_ENV_h5)) \
		build-fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
		    -max_len=$$(case $$t in stream) echo $(FUZZ_MAXLEN_stream);; \
		    npz) echo $(FUZZ_MAXLEN_npz);; *) echo $(FUZZ_MAXLEN_h5);; esac) \
		    $$([ $$t = h5 ] && echo $(FUZZ_OPTS_h5)) \
		    -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ \
		    build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# The fuzz targets as plain programs (tests/fuzz/driver.c gives each
# file operand to the target once), for make check.
$(BUILD)/tests/fuzz-%.run: tests/fuzz/fuzz-%.c tests/fuzz/driver.c $(wildcard tests/fuzz/*.h) $(LIB) $(wildcard lib/*.h) $(CONFIG) | $(BUILD)/tests
	$(CC) $(MM_CFLAGS) $(CFLAGS) -o $@ $< tests/fuzz/driver.c $(LIB) $(LDFLAGS) $(MM_LIBS)

# Install the tools and man pages under $(DESTDIR)$(PREFIX).
# The Python reader goes to share/mmib/python (add it to PYTHONPATH:
# `import mts`), the stream spec beside it; the experiments to
# share/mmib/experiments.mk (make -f it in any directory) with their
# scripts in share/mmib/pipelines.
PIPE_FILES := pipelines/experiments.mk $(wildcard pipelines/*.sh pipelines/*.awk pipelines/*.gp)
install: $(TOOLS)
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mmib/python \
		$(DESTDIR)$(PREFIX)/share/mmib/pipelines
	cp $(PIPE_FILES) $(DESTDIR)$(PREFIX)/share/mmib/pipelines/
	cp pipelines/installed.make $(DESTDIR)$(PREFIX)/share/mmib/experiments.mk
	cp tools/deps.sh $(DESTDIR)$(PREFIX)/share/mmib/deps.sh
	cp $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	for m in $(MANS); do s=$${m##*.}; \
		mkdir -p $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		cp $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	cp formats/mts.py $(DESTDIR)$(PREFIX)/share/mmib/python/
	cp formats/stream.md $(DESTDIR)$(PREFIX)/share/mmib/

# Remove what install put in place.
uninstall:
	rm -f $(TOOLS:$(BIN)/%=$(DESTDIR)$(PREFIX)/bin/%)
	for m in $(MANS); do s=$${m##*.}; \
		rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m#man/}; done
	rm -rf $(DESTDIR)$(PREFIX)/share/mmib

# Remove build products (not runs/ or results/ of the pipelines).
clean:
	rm -rf build build-san build-fuzz bin

# Remove the temporaries (<file>.tmp.XXXXXX) that a tool killed by SIGKILL
# left beside its output, here and under the pipelines' directories.  Run it
# when no tool is writing: a live run's temporary looks the same.
clean-tmp:
	find . $(wildcard $(RUNS) $(RESULTS)) -type f -name '*.tmp.??????' -print -delete

.PHONY: all deps tests check bench fuzz install uninstall clean clean-tmp FORCE
FORCE:
.SECONDARY:

# The experiment pipelines (remove-msi, alignment, regularization, demo).
-include $(sort $(wildcard pipelines/*.mk))

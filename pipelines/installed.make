# share/mmib/experiments.mk - the experiments of an installed mmib, run in
# any directory (runs/ and results/ are made there):
#
#   make -f $PREFIX/share/mmib/experiments.mk demo
#   make -f $PREFIX/share/mmib/experiments.mk -j2 remove-msi SEEDS='1 2'
#
# `make install` puts this file there, pipelines/experiments.mk and its
# scripts under share/mmib/pipelines/ and tools/deps.sh as
# share/mmib/deps.sh.  The tools are taken from the bin/ beside share/
# (found from this file's own path, so DESTDIR copies work too), or BIN=.
MM_SHARE := $(patsubst %/,%,$(dir $(realpath $(lastword $(MAKEFILE_LIST)))))
BIN ?= $(patsubst %/,%,$(dir $(patsubst %/,%,$(dir $(MM_SHARE)))))/bin
MM_PIPE := $(MM_SHARE)/pipelines
MM_DEPS := $(MM_SHARE)/deps.sh
SHELL := /bin/bash
# What the checkout's Makefile says of every target: kept, not removed as
# intermediate.
.SECONDARY:

# The tools are installed: nothing to build (the demo asks for `all`).
all:
	@for t in gen train encode probe align info; do \
		[ -x "$(BIN)/mmib-$$t" ] || { echo "$(BIN)/mmib-$$t: not installed (BIN=DIR names the tools' directory)" >&2; exit 1; }; done
.PHONY: all

include $(MM_PIPE)/experiments.mk

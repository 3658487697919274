# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of the Rust handshake module and its test bed.
#
#   make               build handshake.ko against the cached test kernel
#                      (or KDIR=<kernel build dir>)
#   make check         set up what is missing and run every test tier
#   make check-mutants re-introduce each known bug of the C service, one at a
#                      time, and show which test catches it (not in check)
#   make demo          the main job: boot the test kernel and show it work
#   make demo-reference  the same story on the reference kernel (C service)
#   make reference     build the reference kernel (in-tree C service)
#   make bench         the module against the C service on production-like
#                      kernels (scripts/bench.sh; not in check)
#   make clippy        build with CLIPPY=1;  make rustfmt  format the Rust code
#   make clean

SCRIPTS := $(CURDIR)/scripts

ifeq ($(KDIR),)
KDIR = $(shell $(SCRIPTS)/kernel.sh test)
endif

# The toolchain the kernels were built with (scripts/lib.sh says which).
KMAKE_FLAGS := $(shell bash -c '. $(SCRIPTS)/lib.sh && echo "$${KMAKE_FLAGS[*]}"')

.PHONY: all modules prereqs check check-mutants demo demo-reference reference check-reference bench clean rustfmt clippy

all: modules

prereqs:
	@$(SCRIPTS)/prereqs.sh

modules: prereqs
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_FLAGS) modules

clippy: prereqs
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_FLAGS) CLIPPY=1 modules

rustfmt:
	@$(SCRIPTS)/rustfmt.sh

check:
	@$(SCRIPTS)/check.sh

check-mutants:
	@$(SCRIPTS)/mutants.sh

demo:
	@$(SCRIPTS)/demo.sh

demo-reference:
	@$(SCRIPTS)/demo.sh --reference

reference: prereqs
	@$(SCRIPTS)/kernel.sh reference >/dev/null

check-reference:
	@$(SCRIPTS)/check.sh --reference

bench:
	@$(SCRIPTS)/bench.sh $(BENCH_FLAGS)

clean:
	@kdir=$${KDIR:-$$($(SCRIPTS)/kernel.sh --dir test)}; \
	if [ -f "$$kdir/.done" ]; then \
		$(MAKE) -C $$kdir M=$(CURDIR) $(KMAKE_FLAGS) clean; fi
	rm -rf build

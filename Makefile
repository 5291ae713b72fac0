# LWKT SMP kernel for i386.  `make` builds build/kernel.elf and build/lwkt.iso;
# `make run` boots it once; `make test` runs the boot matrix.  See README.md.
#
# `make help` prints the lines starting with "## " below: each documents the
# target or variable defined right after it (one source of truth; keep each
# to one line, "## NAME: text", lower-case NAME for targets).

## CROSS: tool prefix of the cross compiler (default i686-linux-gnu-)
CROSS	?= i686-linux-gnu-
CC	:= $(CROSS)gcc
NM	:= $(CROSS)nm
OBJCOPY	:= $(CROSS)objcopy
## NASM: the assembler (default nasm)
NASM	?= nasm
## PYTHON: the Python 3 that runs scripts/ (default python3)
PYTHON	?= python3
## CLANG_FORMAT: the clang-format of format-check (default clang-format-14)
CLANG_FORMAT ?= clang-format-14
## FUZZ_CC: the clang with libFuzzer and the sanitizers (default clang-14)
FUZZ_CC	?= clang-14

## SMP: QEMU -smp spec (default 4), e.g. 8, 2,maxcpus=4, 6,sockets=2,cores=3
SMP		?= 4
## CMDLINE: kernel command line, e.g. 'test=token.* seed=3' (default empty)
CMDLINE		?=
## QEMU_ARGS: extra QEMU arguments, e.g. '-icount shift=0,sleep=off'
QEMU_ARGS	?=
## TIMEOUT: seconds before a boot is declared hung (default 120)
TIMEOUT		?= 120
## THREAD: TCG mode, multi (one host thread per vCPU, default) or single
THREAD		?= multi
## ONLY: make test boots only the matrix rows whose name matches this regex
ONLY		?=

# Build variants, each in its own directory so all can coexist: build/ for
# the default kernel, otherwise build/<tags> with the tags of the options
# given joined by '-' in this order: critdebug (CRIT_DEBUG=1: the
# crit-section mismatch checker, DEBUG_CRIT_SECTIONS), chaos (CHAOS=1:
# seeded chaos, sys/chaos.h), fifo<N> (MAXCPUFIFO=N: the IPIQ FIFO depth,
# a power of two, default 32).  E.g. `make CHAOS=1 MAXCPUFIFO=8` builds
# build/chaos-fifo8/kernel.elf.
## CRIT_DEBUG: 1 builds build/critdebug/ with the crit-section checker
CRIT_DEBUG	?= 0
## CHAOS: 1 builds build/chaos/ with seeded chaos (boot with chaos=SEED)
CHAOS		?= 0
## MAXCPUFIFO: IPIQ FIFO depth per CPU pair (power of two >= 8, default 32)
MAXCPUFIFO	?=

empty	:=
space	:= $(empty) $(empty)
B_TAGS	:= $(strip $(if $(filter 1,$(CRIT_DEBUG)),critdebug) \
	   $(if $(filter 1,$(CHAOS)),chaos) \
	   $(if $(MAXCPUFIFO),fifo$(MAXCPUFIFO)))
B	:= build$(if $(B_TAGS),/$(subst $(space),-,$(B_TAGS)))

CFLAGS	:= -std=gnu11 -m32 -march=i486 -mtune=generic -O2 -g \
	   -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	   -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	   -fno-strict-aliasing -mgeneral-regs-only \
	   -Wall -Wextra -Werror -Wno-unused-parameter \
	   -Iinclude -Iarch/i386 \
	   $(if $(filter 1,$(CRIT_DEBUG)),-DDEBUG_CRIT_SECTIONS) \
	   $(if $(filter 1,$(CHAOS)),-DCHAOS) \
	   $(if $(MAXCPUFIFO),-DMAXCPUFIFO=$(MAXCPUFIFO))
LDFLAGS	:= -m32 -nostdlib -static -no-pie -Wl,--build-id=none \
	   -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -T linker.ld
LIBGCC	 = $(shell $(CC) -m32 -print-libgcc-file-name)
NFLAGS	:= -f elf32 -g -F dwarf

C_SRCS	:= $(wildcard arch/i386/*.c kern/*.c tests/*.c)
ASM_SRCS := $(wildcard boot/*.asm arch/i386/*.asm)
OBJS	:= $(patsubst %.c,$(B)/%.o,$(C_SRCS)) $(patsubst %.asm,$(B)/%.o,$(ASM_SRCS))

# Everything scripts/install-deps provides; if any is missing, `deps` runs it.
TOOLS_OK := $(shell command -v $(CC) >/dev/null && command -v $(NASM) >/dev/null \
	      && command -v grub-mkrescue >/dev/null && test -d /usr/lib/grub/i386-pc \
	      && command -v xorriso >/dev/null && command -v mformat >/dev/null \
	      && command -v qemu-system-i386 >/dev/null && command -v gdb >/dev/null \
	      && command -v $(CLANG_FORMAT) >/dev/null && command -v prove >/dev/null \
	      && command -v $(FUZZ_CC) >/dev/null \
	      && test -f "$$($(FUZZ_CC) -print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" \
	      && echo yes)

.PHONY: FORCE all deps run bench test soak scale test-large clean gdb debug gdb-test help format-check \
	fuzz fuzz-build fuzz-short
## all: build the kernel, the ISO and compile_commands.json (the default)
all: $(B)/kernel.elf $(B)/lwkt.iso compile_commands.json

## help: list the targets and variables
help:
	@echo 'targets (make TARGET):'
	@sed -n 's/^## \([a-z][^:]*\): */  \1\t/p' $(firstword $(MAKEFILE_LIST)) | expand -t 26
	@echo 'variables (make TARGET VAR=value):'
	@sed -n 's/^## \([A-Z][^:]*\): */  \1\t/p' $(firstword $(MAKEFILE_LIST)) | expand -t 26

# compile_commands.json (top of the tree, git-ignored) tells clangd and other
# editors how each C file is compiled: the exact $(CC) and CFLAGS of this
# build.  Its text is computed at every `make` and the file is rewritten
# only when that text changes (new or removed sources, other flags,
# CRIT_DEBUG=1), so it always describes the last build configuration.
comma	:= ,
CDB_ENTRY = {"directory": "$(CURDIR)", "file": "$(CURDIR)/$(1)", "output": "$(CURDIR)/$(B)/$(1:.c=.o)", "arguments": [$(patsubst %,"%"$(comma),$(CC) $(CFLAGS) -c $(1) -o $(B)/$(1:.c=.o))]}
CDB_TEXT := [$(subst ]} {,]}$(comma) {,$(foreach f,$(C_SRCS),$(call CDB_ENTRY,$(f))))]
CDB_TEXT := $(subst $(comma)],],$(CDB_TEXT))
CDB_FILE := compile_commands.json
ifneq ($(file <$(CDB_FILE)),$(CDB_TEXT))
.PHONY: $(CDB_FILE)
endif

## compile_commands.json: the compilation database for clangd and editors
$(CDB_FILE):
	$(file >$@,$(CDB_TEXT))
	@echo 'wrote $@ ($(words $(C_SRCS)) C files)'

# The C sources .clang-format describes, checked by scripts/format_check.py
# (its top comment says what it does not compare).  Not checked:
#   include/machine/atomic.h, include/machine/cpufunc.h: one-line wrappers
#   of single instructions, kept one per line so they read as a table;
#   .clang-format puts every function's return type and braces on lines of
#   their own, as KNF does everywhere else.
FORMAT_EXCLUDE := include/machine/atomic.h include/machine/cpufunc.h
FORMAT_SRCS := $(filter-out $(FORMAT_EXCLUDE),$(sort $(C_SRCS) \
	$(wildcard arch/i386/*.h include/*/*.h kern/*.h tests/*.h) \
	$(wildcard tests/fuzz/*.[ch] tests/fuzz/host/*/*.h)))

## format-check: fail, naming them, if C files differ from .clang-format
format-check: | deps
	@$(PYTHON) scripts/format_check.py --clang-format $(CLANG_FORMAT) \
	    $(FORMAT_SRCS)

## deps: install the missing host tools (scripts/install-deps; make does it)
deps:
ifneq ($(TOOLS_OK),yes)
	scripts/install-deps
endif

# Objects depend on the flags they were built with: a change of CFLAGS or
# NFLAGS (a new -march, -D option or warning) rebuilds every object instead
# of linking objects of two configurations into one kernel.
FLAGS_NOW := $(CC) $(CFLAGS) | $(NASM) $(NFLAGS)
$(B)/flags: FORCE
	@mkdir -p $(B)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@

$(B)/%.o: %.c $(B)/flags | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.asm $(B)/flags | deps
	@mkdir -p $(dir $@)
	$(NASM) $(NFLAGS) -Iboot/ -MD $(B)/$*.d -o $@ $<

# Two-pass link: the second pass embeds the symbol table of the first so
# panics print function names.  ksyms sit after everything else, so no
# other symbol moves between the passes (checked by scripts/ksyms.py).
$(B)/kernel.elf: $(OBJS) linker.ld scripts/ksyms.py
	$(CC) $(LDFLAGS) -o $(B)/kernel.pass1.elf $(OBJS) $(LIBGCC)
	$(NM) -n $(B)/kernel.pass1.elf | $(PYTHON) scripts/ksyms.py > $(B)/ksyms.S
	$(CC) -m32 -c $(B)/ksyms.S -o $(B)/ksyms.o
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(B)/ksyms.o $(LIBGCC)
	$(NM) -n $@ | $(PYTHON) scripts/ksyms.py --check $(B)/kernel.pass1.elf
	grub-file --is-x86-multiboot2 $@

$(B)/lwkt.iso: $(B)/kernel.elf scripts/mkiso
	scripts/mkiso $(B)/kernel.elf "" $@

# `make run` adds expect.ncpus=N (N: the CPUs QEMU starts with, from SMP=)
# unless CMDLINE sets it, so a CPU that does not come up fails the run.
# N is the leading number or cpus= of the -smp spec; without either, QEMU
# starts maxcpus= CPUs, or sockets x dies x clusters x cores x threads.
# A spec this cannot read prints one line and passes no expect.ncpus.
SMP_NCPUS = $(shell echo '$(SMP)' | awk -F, '{ \
	for (i = 1; i <= NF; i++) { \
		if (i == 1 && $$i ~ /^[0-9]+$$/) n = $$i; \
		else if ($$i ~ /^cpus=[0-9]+$$/) n = substr($$i, 6); \
		else if ($$i ~ /^maxcpus=[0-9]+$$/) m = substr($$i, 9); \
		else if ($$i ~ /^(sockets|dies|clusters|cores|threads)=[0-9]+$$/) { \
			split($$i, kv, "="); p = (p == "" ? 1 : p) * kv[2]; } \
		else { exit } } \
	print (n != "" ? n : m != "" ? m : p) + 0 }')
RUN_CMDLINE = $(strip $(CMDLINE) $(if $(findstring expect.ncpus=,$(CMDLINE)),,$(if \
	$(filter-out 0,$(SMP_NCPUS)),expect.ncpus=$(SMP_NCPUS),$(info make run: \
	cannot tell the CPU count from SMP=$(SMP); not passing expect.ncpus))))

## GDB: 1 makes `make run` a `make debug`
ifeq ($(GDB),1)
run: debug
else
## run: build and boot QEMU once, running the selected self-tests over serial
run: $(B)/kernel.elf
	$(PYTHON) scripts/runner.py run --smp $(SMP) --cmdline "$(RUN_CMDLINE)" \
	    --thread $(THREAD) --timeout $(TIMEOUT) --qemu-args "$(QEMU_ARGS)" \
	    --kernel $(B)/kernel.elf
endif

# Debugging (README: "Debugging with gdb").  `make gdb`: QEMU paused under
# its gdb stub and gdb attached here; `make debug`: QEMU only, printing
# the gdb command to attach.  GDBPORT=N: the stub on TCP port N (0: any
# free one) instead of a unix socket under build/gdb/.
## GDBPORT: gdb stub on this TCP port (0: any free one), not a unix socket
GDBPORT	?=
GDB_RUN_ARGS = --smp $(SMP) --cmdline "$(CMDLINE)" --thread $(THREAD) \
	    --qemu-args "$(QEMU_ARGS)" --kernel $(B)/kernel.elf \
	    $(if $(GDBPORT),--port $(GDBPORT))

## gdb: boot QEMU paused under its gdb stub and attach gdb here
gdb: $(B)/kernel.elf
	@$(PYTHON) scripts/runner.py gdb $(GDB_RUN_ARGS)

## debug: boot QEMU paused under its gdb stub; print how to attach gdb
debug: $(B)/kernel.elf
	@$(PYTHON) scripts/runner.py debug $(GDB_RUN_ARGS)

# The gdb helpers (scripts/gdb/lwkt.py) checked against QEMU -smp 4.
## gdb-test: check the gdb helpers (scripts/gdb/lwkt.py) against -smp 4
gdb-test: $(B)/kernel.elf
	$(PYTHON) scripts/gdb_test.py --kernel $(B)/kernel.elf

# Benchmarks boot 8 CPUs so cpusync can be measured over 2, 4 and 8.
## BENCH_SMP: CPUs booted by make bench (default 8)
BENCH_SMP ?= 8

## bench: exact -icount benchmarks, written to build/bench.json
bench: $(B)/kernel.elf
	$(PYTHON) scripts/runner.py bench --smp $(BENCH_SMP) \
	    $(if $(CMDLINE),--cmdline "$(CMDLINE)")

# `make scale` (docs/scaling.md): one deterministic boot of the scale.*
# benchmarks per CPU count; SCALE_NS= picks the counts.
## SCALE_NS: CPU counts make scale boots (default 1,2,4,8,16,32,64,128,255)
SCALE_NS ?= 1,2,4,8,16,32,64,128,255

## scale: figures per CPU count: build/scale.json, build/scale.png, docs/scaling.md
scale: $(B)/kernel.elf
	PYTHONPATH=scripts $(PYTHON) -m lwkt.scale --ns $(SCALE_NS) \
	    --kernel $(B)/kernel.elf

# `make test-large` (docs/testing.md "Scale rows"): the whole suite at
# -smp 128 and -smp 255, deterministic; not part of make test.
## test-large: the whole suite at -smp 128 and 255 (deterministic, slow)
test-large: $(B)/kernel.elf
	ok=0; for b in det-smp128 det-smp255; do \
	    $(PYTHON) scripts/runner.py run --boot $$b || ok=1; done; exit $$ok

# `make soak` (docs/testing.md "Soak"): the variant kernels it needs are
# built by scripts/lwkt/soak.py, one `make` each.  SMP= given on the
# command line fixes every boot's CPU count (its default of 4 does not).
## N: boots make soak runs (default 500)
## SEED: make soak draws its configurations from it (default: random)
## soak: N boots of configurations drawn from SEED; build/soak.json
SOAK_ARGS = --n $(or $(N),500) --jobs $(or $(JOBS),2) $(if $(SEED),--seed \
	$(SEED)) $(if $(filter command line,$(origin SMP)),--smp $(SMP))
soak:
	$(PYTHON) scripts/runner.py soak $(strip $(SOAK_ARGS))

## JOBS: boots run at once (make test: the host's cores; make soak: 2)
## FAILED: 1 makes make test re-run only the boots that failed last time
## test: format-check, short fuzz runs, runner unit tests, gdb check and the boot matrix
test: format-check fuzz-short $(B)/kernel.elf
	$(MAKE) --no-print-directory CRIT_DEBUG=1 build/critdebug/kernel.elf
	$(MAKE) --no-print-directory CHAOS=1 build/chaos/kernel.elf
	$(PYTHON) -m unittest -q scripts/test_runner.py scripts/test_soak.py \
	    scripts/test_scale.py
	$(PYTHON) scripts/gdb_test.py --summary --kernel $(B)/kernel.elf
	$(PYTHON) scripts/runner.py test $(if $(ONLY),--only '$(ONLY)') \
	    $(if $(JOBS),--jobs $(JOBS)) $(if $(filter 1,$(FAILED)),--failed)

# Fuzzing (docs/testing.md, "Fuzzing").  Each parser of untrusted input is
# compiled for the host, from the same source file, against the kernel's
# headers (tests/fuzz/host/ first: host stand-ins for hardware headers),
# with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer; the
# kernel functions the parsers call come from tests/fuzz/shim.c, which is
# compiled against the host's C library.  FUZZ_SRCS_<target>: the kernel
# sources of each target besides kern/subr_prf.c (kprintf).
FUZZ_TARGETS	:= acpi kopts mptable multiboot2 prf
FUZZ_SRCS_acpi	:= arch/i386/madt.c
FUZZ_SRCS_kopts	:= kern/kern_kopts.c
FUZZ_SRCS_mptable := arch/i386/mptable.c
FUZZ_SRCS_multiboot2 := arch/i386/multiboot2.c
FUZZ_SRCS_prf	:=
FUZZ_DIR	:= build/fuzz
FUZZ_SAN	:= -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS	:= -std=gnu11 -g -O1 -fno-strict-aliasing -Wall -Wextra -Werror \
		   -Wno-unused-parameter $(FUZZ_SAN)
FUZZ_KCFLAGS	:= $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		   -Itests/fuzz/host -Iinclude -Iarch/i386 -Itests/fuzz
FUZZ_BINS	:= $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))
## SECS: seconds make fuzz runs each target (default 60)
SECS		?= 60
## FUZZ_TEST_SECS: seconds make test fuzzes each target (default 4)
FUZZ_TEST_SECS	?= 4

$(FUZZ_DIR)/k/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_KCFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/shim.o: tests/fuzz/shim.c tests/fuzz/shim.h | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

.PRECIOUS: $(FUZZ_DIR)/k/%.o
.SECONDEXPANSION:
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/k/tests/fuzz/fuzz_%.o \
	    $$(addprefix $(FUZZ_DIR)/k/,$$(subst .c,.o,$$(FUZZ_SRCS_$$*)) kern/subr_prf.o) \
	    $(FUZZ_DIR)/shim.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^

## fuzz-build: build the fuzz targets (build/fuzz/fuzz_*)
fuzz-build: $(FUZZ_BINS)

## RUNS: make fuzz stops each target after RUNS executions instead (SECS bounds it)
RUNS		?=
## fuzz: run every fuzz target for SECS seconds; executions and crashes each
fuzz: $(FUZZ_BINS)
	$(PYTHON) scripts/fuzz_run.py --secs $(SECS) $(if $(RUNS),--runs $(RUNS)) \
	    $(FUZZ_TARGETS)

## fuzz-short: make test's fuzz step: the regression corpus, FUZZ_TEST_SECS each
fuzz-short: $(FUZZ_BINS)
	$(PYTHON) scripts/fuzz_run.py --secs $(FUZZ_TEST_SECS) $(FUZZ_TARGETS)

# Every CPU model QEMU lists (scripts/test_cpus.py; docs/boot.md "CPU
# models and memory"): -smp 2 with a local APIC, else -smp 1, single TCG
# unless THREAD= is given; CMDLINE= narrows the suite, ONLY= the models,
# JOBS= boots at once (default 1).  Results in build/test-cpus.json.
# First scripts/check_isa.py: no i586+ instruction outside its guards.
.PHONY: test-cpus
## test-cpus: boot every CPU model of qemu-system-i386 -cpu help, pass/fail each
test-cpus: $(B)/kernel.elf
	$(PYTHON) scripts/check_isa.py $(CROSS)objdump $(B)/kernel.elf
	$(PYTHON) scripts/test_cpus.py --kernel $(B)/kernel.elf \
	    --thread $(if $(filter command line,$(origin THREAD)),$(THREAD),single) \
	    $(if $(CMDLINE),--cmdline '$(CMDLINE)') $(if $(ONLY),--only '$(ONLY)') \
	    $(if $(JOBS),--jobs $(JOBS)) --timeout $(TIMEOUT)

## clean: remove build/ (only build/<tags>/ with CRIT_DEBUG, CHAOS, MAXCPUFIFO)
clean:
	rm -rf $(B)

-include $(OBJS:.o=.d) $(wildcard $(FUZZ_DIR)/k/*/*.d $(FUZZ_DIR)/k/*/*/*.d)

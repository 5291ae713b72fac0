# LWKT SMP kernel for i386.  `make` builds build/kernel.elf and build/lwkt.iso;
# `make run` boots it once; `make test` runs the boot matrix.  See README.md.

CROSS	?= i686-linux-gnu-
CC	:= $(CROSS)gcc
NM	:= $(CROSS)nm
OBJCOPY	:= $(CROSS)objcopy
NASM	?= nasm
PYTHON	?= python3

SMP		?= 4
CMDLINE		?=
QEMU_ARGS	?=
TIMEOUT		?= 120
THREAD		?= multi
ONLY		?=

# CRIT_DEBUG=1: the crit-section mismatch checker (DEBUG_CRIT_SECTIONS),
# built into build/critdebug/ so both kernels can coexist.  MAXCPUFIFO=N
# changes the IPIQ FIFO depth (a power of two, default 32).
CRIT_DEBUG	?= 0
MAXCPUFIFO	?=

ifeq ($(CRIT_DEBUG),1)
B	:= build/critdebug
else
B	:= build
endif

CFLAGS	:= -std=gnu11 -m32 -march=i586 -mtune=generic -O2 -g \
	   -ffreestanding -fno-pic -fno-pie -fno-stack-protector \
	   -fno-omit-frame-pointer -fno-asynchronous-unwind-tables \
	   -fno-strict-aliasing -mgeneral-regs-only \
	   -Wall -Wextra -Werror -Wno-unused-parameter \
	   -Iinclude -Iarch/i386 \
	   $(if $(filter 1,$(CRIT_DEBUG)),-DDEBUG_CRIT_SECTIONS) \
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
	      && echo yes)

.PHONY: all deps run bench test clean gdb debug gdb-test
all: $(B)/kernel.elf $(B)/lwkt.iso

deps:
ifneq ($(TOOLS_OK),yes)
	scripts/install-deps
endif

$(B)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.asm | deps
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

# GDB=1: `make run` becomes `make debug`.
ifeq ($(GDB),1)
run: debug
else
run: $(B)/kernel.elf
	$(PYTHON) scripts/runner.py run --smp $(SMP) --cmdline "$(CMDLINE)" \
	    --thread $(THREAD) --timeout $(TIMEOUT) --qemu-args "$(QEMU_ARGS)"
endif

# Debugging (README: "Debugging with gdb").  `make gdb`: QEMU paused under
# its gdb stub and gdb attached here; `make debug`: QEMU only, printing
# the gdb command to attach.  GDBPORT=N: the stub on TCP port N (0: any
# free one) instead of a unix socket under build/gdb/.
GDBPORT	?=
GDB_RUN_ARGS = --smp $(SMP) --cmdline "$(CMDLINE)" --thread $(THREAD) \
	    --qemu-args "$(QEMU_ARGS)" --kernel $(B)/kernel.elf \
	    $(if $(GDBPORT),--port $(GDBPORT))

gdb: $(B)/kernel.elf
	@$(PYTHON) scripts/runner.py gdb $(GDB_RUN_ARGS)

debug: $(B)/kernel.elf
	@$(PYTHON) scripts/runner.py debug $(GDB_RUN_ARGS)

# The gdb helpers (scripts/gdb/lwkt.py) checked against QEMU -smp 4.
gdb-test: $(B)/kernel.elf
	$(PYTHON) scripts/gdb_test.py --kernel $(B)/kernel.elf

# Benchmarks boot 8 CPUs so cpusync can be measured over 2, 4 and 8.
BENCH_SMP ?= 8

bench: $(B)/kernel.elf
	$(PYTHON) scripts/runner.py bench --smp $(BENCH_SMP) \
	    $(if $(CMDLINE),--cmdline "$(CMDLINE)")

test: $(B)/kernel.elf
	$(MAKE) --no-print-directory CRIT_DEBUG=1 build/critdebug/kernel.elf
	$(PYTHON) -m unittest -q scripts/test_runner.py
	$(PYTHON) scripts/gdb_test.py --summary --kernel $(B)/kernel.elf
	$(PYTHON) scripts/runner.py test $(if $(ONLY),--only '$(ONLY)') \
	    $(if $(JOBS),--jobs $(JOBS)) $(if $(filter 1,$(FAILED)),--failed)

clean:
	rm -rf $(B)

-include $(OBJS:.o=.d)

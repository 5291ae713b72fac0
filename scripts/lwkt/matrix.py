"""The boot matrix's row format (Boot, the kernels, the defaults) and the
row of a single `run`/`gdb`/`debug` boot built from command-line options;
the rows themselves are in rows.py.  The row format and its defaults
belong to the host-runner engineer.
"""

import os
import shlex
import sys


# ---------------------------------------------------------------------------
# The boot matrix.  One row per boot:
#   name     boot name (logs, JUnit suite, --only)
#   smp      QEMU -smp spec
#   thread   TCG thread mode: "single" or "multi"
#   cmdline  kernel command line (scripts/mkiso quotes each word for GRUB)
#   expect   PASS: guest exits pass with a complete KTAP run
#            LIST: guest exits pass; KTAP not required (test.list)
#            TIMEOUT: a test must hit the kernel's per-test timeout: the
#                   guest exits with the failure status (one testcase
#                   <boot>.timeout_report passes when all checks hold)
#            PANIC: guest exits with the panic status (one testcase
#                   <boot>.panic_report passes when all checks hold)
# keywords:
#   args     extra QEMU arguments (shell words)
#   machine  -machine value (default "pc")
#   timeout  host timeout in seconds (default 120)
#   require  regexes (re.MULTILINE) the serial log must match
#   forbid   regexes it must not match (default: any "cmdline:" complaint)
#   solo     run with no other boot alongside (heavy multi-thread TCG)
#   twin     name of an earlier row this one repeats exactly (same
#            kernel, command line and QEMU arguments): the two serial
#            logs must be identical line by line, except what DET_VARIES
#            masks (deterministic -icount rows; docs/testing.md)
# ---------------------------------------------------------------------------
PASS, LIST, PANIC, TIMEOUT = "pass", "list", "panic", "timeout"


def kernel_path(critdebug=False, chaos=False, fifo=None):
    """The kernel a build variant makes (Makefile: build/<tags>/, the tags
    critdebug, chaos, fifo<N> joined by '-' in that order)."""
    tags = (["critdebug"] if critdebug else []) + \
        (["chaos"] if chaos else []) + (["fifo%d" % fifo] if fifo else [])
    return os.path.join("build", *(["-".join(tags)] if tags else []),
                        "kernel.elf")


def build_flags(kernel):
    """The make variables that build `kernel` (the inverse of
    kernel_path): e.g. ["CHAOS=1", "MAXCPUFIFO=8"]; [] for build/ or a
    kernel outside the variant scheme."""
    parts = os.path.normpath(kernel or "").split(os.sep)
    if len(parts) != 3 or parts[0] != "build" or parts[2] != "kernel.elf":
        return []
    flags = []
    for tag in parts[1].split("-"):
        if tag == "critdebug":
            flags.append("CRIT_DEBUG=1")
        elif tag == "chaos":
            flags.append("CHAOS=1")
        elif tag.startswith("fifo") and tag[4:].isdigit():
            flags.append("MAXCPUFIFO=%s" % tag[4:])
        else:
            return []
    return flags


CRITDEBUG_KERNEL = kernel_path(critdebug=True)
CHAOS_KERNEL = kernel_path(chaos=True)
DEFAULT_TIMEOUT = 120
DEFAULT_FORBID = (
    r"^cmdline:",
    # tests/test_cons.c: every CPU prints these at once; a line mixed with
    # another CPU's output breaks the pattern.
    r"^# cons-check (?!cpu=\d+ seq=\d+ ([a-z])\1{39} end$)",
    r"^.+# cons-check",
)


def Boot(name, smp, thread, cmdline, expect, args="", machine="pc",
         timeout=DEFAULT_TIMEOUT, require=(), forbid=DEFAULT_FORBID,
         solo=False, kernel=None, twin=None):
    return dict(name=name, smp=smp, thread=thread, cmdline=cmdline,
                expect=expect, args=shlex.split(args), machine=machine,
                timeout=timeout, require=list(require), forbid=list(forbid),
                solo=solo, kernel=kernel, twin=twin)


# Deterministic rows: guest time is the instruction count (-icount
# shift=0: 1 ns per instruction, sleep=off: an idle guest skips to its next
# timer at once), the RTC runs on that clock, and one host thread runs
# every vCPU in turn, so host load cannot stretch any window.  test.noretry
# makes any discarded attempt a failure.
DET_ARGS = "-icount shift=0,sleep=off -rtc clock=vm"


GLOBAL_BUDGET = 720        # seconds for the whole matrix (`test --budget`)
JOBS = os.cpu_count() or 1  # boots at once (`test --jobs`, make JOBS=);
                             # solo rows run alone


def find_boot(name):
    from .rows import MATRIX, LARGE
    for b in MATRIX + LARGE:
        if b["name"] == name:
            return dict(b)
    return None


def boot_from_args(a, name="run"):
    """The boot row of `run`, `gdb` and `debug`: --boot NAME's row or a
    plain -smp 4 boot, overridden by the options given; None (after
    saying why) if --boot names no row."""
    if getattr(a, "boot", None):
        boot = find_boot(a.boot)
        if boot is None:
            print("runner: no boot named %r (see `runner.py test --list`)"
                  % a.boot, file=sys.stderr)
            return None
    else:
        boot = Boot(name, "4", "multi", "", PASS, forbid=())
    if a.smp is not None:
        boot["smp"] = a.smp
    if a.thread is not None:
        boot["thread"] = a.thread
    if a.cmdline is not None:
        boot["cmdline"] = a.cmdline
    if a.qemu_args:
        boot["args"] = boot["args"] + shlex.split(a.qemu_args)
    if a.timeout is not None:
        boot["timeout"] = a.timeout
    return boot

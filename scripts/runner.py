#!/usr/bin/env python3
"""Host test runner: boots the kernel under QEMU and judges its KTAP output.

Usage (from the top of the tree; `make run` / `make test` call these):

  runner.py run [--smp SPEC] [--cmdline "..."] [--timeout S]
                [--qemu-args "..."] [--thread single|multi] [--boot NAME]
      One boot, guest serial streamed live.  Exit status:
        0 all selected tests passed      1 some test failed
        2 kernel panic / CPU reset       3 hang (host timeout)
        4 harness error (QEMU did not start, or no KTAP plan)
      --boot NAME takes smp, thread, args, cmdline and the expected outcome
      from the boot matrix below (other options then override it).

  runner.py bench [--smp SPEC] [--cmdline "..."] [--timeout S]
                  [--qemu-args "..."] [--out build/bench.json]
      One boot under -icount shift=0 (single-threaded TCG; rdtsc counts
      guest instructions) with kernel command line "test=bench.* ...",
      default -smp 4.  Lines "# bench: name=ID value=N unit=U [k=v ...]"
      become build/bench.json and a table.  Exit status as for run, and 1
      if the boot passed but printed no bench line.

  runner.py test [--only REGEX] [--list] [--jobs N] [--budget S]
      The boot matrix (MATRIX below).  Prints one line per test, writes
      build/test-results.xml (JUnit), build/test-results.json and
      build/logs/<boot>.log; the last line is "N passed, N failed".
      Exit 0 only if every boot met its expectation.  Besides KTAP, a
      PASS boot must: have no '# FAIL' under an 'ok', discard at most
      RETRY_BOOT_MAX attempts ('# retry:'), plan what its command line
      selects from a (cached) test.list boot of its kernel, and deliver
      every console line the kernel counted; a `twin` row must repeat its
      first boot's log (docs/testing.md).  `run` applies the same checks.

  runner.py gdb [--smp SPEC] [--cmdline "..."] [--thread ...]
                [--qemu-args "..."] [--port N]
      QEMU paused at its first instruction (-S) with its gdb stub on a
      unix socket of its own under build/gdb/ (--port N: TCP port N on
      127.0.0.1, 0 = a free one), then gdb in this terminal, connected,
      with scripts/gdb/lwkt.py loaded (`lwkt ...` commands).  The guest's
      serial output goes to a file in that directory.  QEMU is killed
      when gdb exits.

  runner.py debug [same options as gdb] [--timeout S]
      Only QEMU, paused and waiting for a debugger; prints the gdb command
      to attach from another terminal, then streams the serial output and
      judges the run like `run` (no host timeout unless --timeout).

  All take --kernel ELF (default build/kernel.elf).  ISOs are built by
  scripts/mkiso into build/iso/<hash>.iso and reused while the kernel and
  command line are unchanged.  $QEMU overrides the emulator binary.

Guest contract: QEMU's isa-debug-exit status is (value << 1) | 1; the kernel
writes 0x10 pass (33), 0x11 some test failed (35), 0x12 panic (37).  With
-no-reboot a triple fault makes QEMU exit 0: treated as a crash.
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

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
CRITDEBUG_KERNEL = os.path.join("build", "critdebug", "kernel.elf")
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


MATRIX = [
    #    name             smp  thread    cmdline             expect
    Boot("smp1-single",   "1", "single", "expect.ncpus=1",   PASS),
    Boot("smp1-multi",    "1", "multi",  "expect.ncpus=1",   PASS),
    Boot("smp2-single",   "2", "single", "expect.ncpus=2",   PASS),
    Boot("smp2-multi",    "2", "multi",  "expect.ncpus=2",   PASS),
    Boot("smp4-single",   "4", "single", "expect.ncpus=4",   PASS),
    Boot("smp4-multi",    "4", "multi",  "expect.ncpus=4",   PASS),
    Boot("smp8-single",   "8", "single", "expect.ncpus=8",   PASS,
         timeout=240),
    Boot("smp8-multi",    "8", "multi",  "expect.ncpus=8",   PASS,
         timeout=180, solo=True),
    # MADT with APIC ids 0,1,2,4,5,6 (3 cores per socket, ids per socket
    # rounded up to 4).
    Boot("apic-holes",    "6,sockets=2,cores=3,threads=1", "multi",
         "expect.ncpus=6", PASS,
         require=[r"^smp: cpuid:apic id 0:0 1:1 2:2 3:4 4:5 5:6$"]),
    # Hot-pluggable slots appear in the MADT as disabled entries.
    Boot("hotplug-slots", "2,maxcpus=4", "multi", "expect.ncpus=2", PASS,
         require=[r"apic id 2 is disabled.*not started",
                  r"apic id 3 is disabled.*not started"]),
    # No ACPI: CPUs found through the Intel MP table.  SeaBIOS lists one
    # CPU per socket there, so give every CPU its own socket.
    Boot("mptable",       "4,sockets=4,cores=1,threads=1", "multi",
         "expect.ncpus=4", PASS,
         machine="pc,acpi=off", require=[r"MP table lists 4"]),
    # No local APIC at all (CPUID.1:EDX.APIC clear).
    Boot("no-apic",       "1", "single", "expect.ncpus=1",   PASS,
         args="-cpu pentium,-apic",
         require=[r"no local APIC.*running uniprocessor"]),
    Boot("maxcpus",       "4", "multi",  "expect.ncpus=2 smp.maxcpus=2", PASS),
    # Debug option: the outermost crit_exit() yields, switching at odd places.
    Boot("smp1-untimely", "1", "single", "expect.ncpus=1 untimely_switch=1",
         PASS),
    Boot("smp4-untimely", "4", "multi",  "expect.ncpus=4 untimely_switch=1",
         PASS),
    # The kernel built with the crit-section mismatch checker (make
    # CRIT_DEBUG=1): the whole suite must run clean, and a mismatch panics.
    Boot("critdebug",     "2", "multi",  "expect.ncpus=2 untimely_switch=1",
         PASS, kernel=CRITDEBUG_KERNEL),
    Boot("crit-mismatch", "2", "multi",  "test=selftest.crit_mismatch", PANIC,
         kernel=CRITDEBUG_KERNEL,
         require=[r"^panic: crit_exit\(\) in ktest_fn_selftest_crit_mismatch "
                  r"does not match crit_enter\(\) in enter_elsewhere"]),
    # Fault injection: cpu 2 never gets its STARTUP IPI; the bounded wait
    # reports it and the system runs on the other three.
    Boot("ap-nostart",    "4", "multi",  "expect.ncpus=3 smp.nostart=2", PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) did not come up within \d+ ms",
                  r"^smp: 3 of 4 CPUs online"]),
    Boot("bad-cmdline",   "2", "multi",
         "expect.ncpus=2 bogus=1 seed=12abc repeat=", PASS,
         forbid=DEFAULT_FORBID[1:],
         require=[r"cmdline: unknown key 'bogus'",
                  r"cmdline: bad value '12abc' for seed",
                  r"cmdline: .*repeat"]),
    # Boot-path fault injection (docs/boot.md §8): an AP that reaches its
    # start-up slot only after the BSP gave up parks and is never counted;
    # one that took its slot in time is waited for; a LAPIC timer that does
    # not count falls back to the PIT (uniprocessor); a PIT that does not
    # count is reported and the TSC rate comes from elsewhere.
    Boot("ap-slowstart",  "4", "multi",  "expect.ncpus=3 smp.slowstart=2", PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) did not come up within \d+ ms",
                  r"^smp: 3 of 4 CPUs online",
                  r"^# boot\.ap_online_iff_active: cpu 2: state 0, slot 3$"]),
    Boot("ap-slowonline", "4", "multi",  "expect.ncpus=4 smp.slowonline=2",
         PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) took its start-up slot but is "
                  r"not online yet",
                  r"^smp: 4 of 4 CPUs online"]),
    Boot("lapic-timer-dead", "2", "single",
         "expect.ncpus=1 fault.lapic_timer_dead", PASS,
         require=[r"^lapic: timer counted 0 in 10 ms \(fault\.lapic_timer_dead"
                  r"\): it does not count; falling back to the PIT",
                  r"^smp: the local APIC timer does not count.*running "
                  r"uniprocessor",
                  r"^clock: no usable local APIC timer; PIT channel 0 ticks "
                  r"at \d+ Hz"]),
    Boot("pit-stuck",     "2", "single", "expect.ncpus=2 fault.pit_stuck", PASS,
         require=[r"^clock: PIT channel 2 does not count \(its count does not "
                  r"change, fault\.pit_stuck\); TSC \d+\.\d{3} MHz "
                  r"(from |assumed)"]),
    # No passive pickup on the tick: a lost IPI or a broken ip_npoll
    # interlock hangs and fails by name instead of being rescued.
    Boot("det-smp2-nopassive", "2", "single",
         "test=ipiq.*,cpusync.*,token.*,tsleep.*,msgport.* ipiq.passive=0 "
         "expect.ncpus=2 test.noretry", PASS, args=DET_ARGS),
    Boot("smp4-nopassive", "4", "multi",
         "test=ipiq.*,cpusync.*,token.*,tsleep.*,msgport.* ipiq.passive=0 "
         "expect.ncpus=4", PASS),
    # Deterministic rows (DET_ARGS); det-smp4-again boots det-smp4 again
    # and must print the same log.
    Boot("det-smp2",      "2", "single", "expect.ncpus=2 test.noretry", PASS,
         args=DET_ARGS),
    Boot("det-smp4",      "4", "single", "expect.ncpus=4 test.noretry", PASS,
         args=DET_ARGS),
    Boot("det-smp4-again", "4", "single", "expect.ncpus=4 test.noretry", PASS,
         args=DET_ARGS, twin="det-smp4"),
    Boot("det-smp8",      "8", "single", "expect.ncpus=8 test.noretry", PASS,
         args=DET_ARGS, timeout=240),
    # The tick rate at both ends of what hz= accepts in practice.
    Boot("hz1000-smp4",   "4", "multi",  "expect.ncpus=4 hz=1000", PASS),
    Boot("hz25-smp2",     "2", "single", "expect.ncpus=2 hz=25",   PASS),
    Boot("test-list",     "1", "single", "test.list",        LIST,
         require=[r"^test\.list: "]),
    Boot("panic-ap",      "4", "multi",
         "test=selftest.panic_ap_fault expect.ncpus=4", PANIC,
         require=[r"^Fatal trap 14 \(Page fault\) on cpu 1\b",
                  r"^panic: fatal trap 14 \(Page fault\) on cpu 1",
                  r"<fault_here\+0x[0-9a-f]+>", r"^panic: backtrace:",
                  r"^  cpu [023]: .*(stopped by NMI|held, serving IPIQ)"]),
    # Stop the world while others are busy: a spinning CPU is held by the
    # panic's cpusync (serving IPIQ); one spinning in a critical section
    # cannot take the message and is stopped by NMI.
    Boot("panic-busy",    "4", "multi",
         "test=selftest.panic_busy expect.ncpus=4", PANIC,
         require=[r"^panic: fatal trap 14 \(Page fault\) on cpu 1",
                  r"^  cpu 0: .*held, serving IPIQ",
                  r"^  cpu 2: .*held, serving IPIQ, curthread \"busy_2\"",
                  r"^  cpu 3: .*stopped by NMI, curthread \"busy_3\" \(crit 1\)",
                  r"^panic: halting with the panic status"]),
    # Scheduler fault demos: a critical section count going negative, and a
    # thread overrunning its stack into the guard page (double-fault task).
    Boot("crit-negative", "2", "multi", "test=selftest.crit_negative", PANIC,
         require=[r"^panic: crit_exit: critical section count of thread "
                  r"\"kt_cpu0\" went negative"]),
    Boot("stack-overflow", "4", "multi", "test=selftest.stack_overflow", PANIC,
         require=[r"^Fatal double fault on cpu 1: stack overflow in thread "
                  r"\"stack_hog\"",
                  r"^panic: double fault on cpu 1 in thread \"stack_hog\": "
                  r"kernel stack overflow"]),
    # A test that never finishes fails by name at test.timeout, with a dump
    # of every CPU's threads, and the run ends (no host timeout needed).
    Boot("test-timeout",  "2", "multi",
         "test=selftest.hang_forever test.timeout=2", TIMEOUT,
         require=[r"^# FAIL selftest\.hang_forever: the test did not finish "
                  r"within 2 s \(test\.timeout\)",
                  r"^  cpu 0 threads",
                  r"kt_cpu0 .* blocked",
                  r"^not ok 1 selftest\.hang_forever",
                  r"^# aborted: selftest\.hang_forever timed out"]),
    # A panic while a target has interrupts off and our FIFO to it is over
    # half full: no waiting for room, the target is stopped by NMI.
    Boot("panic-fifo-full", "4", "multi",
         "test=selftest.panic_fifo_full expect.ncpus=4", PANIC,
         require=[r"^panic: selftest: cpu 0 panics with its FIFO to cpu 1 "
                  r"\d+/\d+ full",
                  r"^panic: IPIQ full toward cpus 0x2: NMI",
                  r"^  cpu 1: .*stopped by NMI, curthread \"cli_1\"",
                  r"^  cpu 2: .*held, serving IPIQ",
                  r"^  cpu 3: .*held, serving IPIQ",
                  r"^panic: halting with the panic status"]),
    # The panicking CPU never switches, even under untimely_switch.
    Boot("panic-untimely", "2", "multi",
         "test=selftest.panic_untimely untimely_switch=1 expect.ncpus=2",
         PANIC,
         require=[r"^panic: selftest: cpu 0 panics with thread \"sibling\" "
                  r"runnable",
                  r"^  cpu 1: .*held, serving IPIQ",
                  r"^panic: halting with the panic status"],
         forbid=DEFAULT_FORBID + (r"BUG: thread \"sibling\" ran on the "
                                  r"panicking cpu",)),
    # Messages that each send two more: the drain nesting bound panics by
    # name instead of overflowing the stack.
    Boot("ipiq-reply-storm", "2", "multi",
         "test=selftest.ipiq_reply_storm expect.ncpus=2", PANIC,
         require=[r"^panic: ipiq: drain nesting 17 exceeds 16 on cpu [01]",
                  r"^panic: halting with the panic status"],
         forbid=DEFAULT_FORBID + (r"double fault",)),
    Boot("panic-recursive", "2", "multi",
         "test=selftest.panic_recursive expect.ncpus=2", PANIC,
         require=[r"^Fatal trap 14 \(Page fault\) on cpu 0",
                  r"^panic: recursive panic on cpu 0: fatal trap 14"],
         forbid=DEFAULT_FORBID + (r"(?s)recursive panic.*recursive panic",)),
]

GLOBAL_BUDGET = 720        # seconds for the whole matrix (`test --budget`)
JOBS = 2                   # boots at once (`test --jobs`); solo rows run alone

# Guest exit statuses (QEMU's exit status = (value << 1) | 1).
QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET = 33, 35, 37, 0

# Runner verdicts and exit codes.
ST_PASS, ST_FAIL, ST_PANIC, ST_HANG, ST_ERROR = \
    "pass", "fail", "panic", "hang", "error"
EXIT_CODE = {ST_PASS: 0, ST_FAIL: 1, ST_PANIC: 2, ST_HANG: 3, ST_ERROR: 4}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
MKISO = os.path.join(ROOT, "scripts", "mkiso")


# ---------------------------------------------------------------------------
# KTAP parsing
# ---------------------------------------------------------------------------
ANSI_RE = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")
CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
HEADER_RE = re.compile(r"^K?TAP version \d+")
PLAN_RE = re.compile(r"^1\.\.(\d+)\b")
RESULT_RE = re.compile(
    r"^(not ok|ok)\s+(\d+)(?:\s+(?:-\s+)?([^#]*?))?\s*(?:#\s*(.*))?$")
DIAG_RE = re.compile(r"^\s*#\s?(.*)$")
START_RE = re.compile(r"^start\s+(\d+)\s+(\S+)")
TOTALS_RE = re.compile(r"^totals:\s*pass:(\d+)\s+fail:(\d+)\s+skip:(\d+)")
RETRY_RE = re.compile(r"^retry:\s*(.*)$")
CONSOLE_RE = re.compile(r"^console: lines((?: cpu\d+:\d+)+) total:(\d+)$")
FAIL_DIAG_RE = re.compile(r"^FAIL\b")
# The kernel's first console output is "\nLWKT i386 SMP kernel\n"
# (arch/i386/machdep.c): its console line count starts with the line
# that "\n" ends, the one before the banner.
BANNER_RE = re.compile(r"LWKT i386 SMP kernel$")
TESTLIST_RE = re.compile(r"^test\.list: (\S+)(.*)$")
FIRST_TEST_RE = re.compile(r"^boot: first test at (\d+(?:\.\d+)?) ms")
SKIP_RE = re.compile(r"^SKIP\b\s*(.*)$", re.I)
PANIC_RE = re.compile(r"^panic:")
CMDLINE_RE = re.compile(r"^cmdline:")
BENCH_RE = re.compile(r"^\s*#\s?bench:(.*)$")
NUMBER_RE = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
INT_RE = re.compile(r"^[-+]?\d+$")


def to_number(text):
    """int or float if `text` is a plain decimal number, else None."""
    if INT_RE.match(text):
        return int(text)
    if NUMBER_RE.match(text):
        return float(text)
    return None


class BenchResult(object):
    """One "# bench: name=ID value=N unit=U [key=value ...]" line."""

    def __init__(self, name, value, unit, fields, raw_value, test=None,
                 raw_fields=None):
        self.name = name
        self.value = value            # int or float
        self.unit = unit
        self.fields = fields          # {key: int, float or str}, in order
        self.raw_value = raw_value    # the value as printed
        self.raw_fields = raw_fields if raw_fields is not None else \
            dict((k, str(v)) for k, v in fields.items())   # as printed
        self.test = test              # KTAP test running when printed

    def to_json(self):
        return dict(name=self.name, value=self.value, unit=self.unit,
                    fields=dict(self.fields), test=self.test)


def parse_bench(text):
    """Parse what follows "# bench:".  Returns a BenchResult (test unset);
    raises ValueError naming what is wrong."""
    words = text.split()
    pairs = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise ValueError("%r is not key=value" % w)
        pairs.append((k, v))
    if [k for k, _ in pairs[:3]] != ["name", "value", "unit"]:
        raise ValueError("must start name=... value=... unit=...")
    name, raw, unit = (v for _, v in pairs[:3])
    if not name:
        raise ValueError("empty name")
    if not unit:
        raise ValueError("empty unit")
    value = to_number(raw)
    if value is None:
        raise ValueError("value %r is not a number" % raw)
    fields, raw_fields = {}, {}
    for k, v in pairs[3:]:
        if k in fields or k in ("name", "value", "unit"):
            raise ValueError("key %r given twice" % k)
        n = to_number(v)
        fields[k] = v if n is None else n
        raw_fields[k] = v
    return BenchResult(name, value, unit, fields, raw, None, raw_fields)


def clean_line(raw):
    """A serial line without escape sequences, CR or other control bytes."""
    return CTRL_RE.sub("", ANSI_RE.sub("", raw)).rstrip()


class TestResult(object):
    def __init__(self, n, name, result, diag, reason="", time=None):
        self.n = n
        self.name = name
        self.result = result          # "pass", "fail" or "skip"
        self.diag = diag              # the test's "# " lines
        self.reason = reason          # skip reason / directive text
        self.time = time              # host seconds start->result, if known

    def to_json(self):
        d = dict(n=self.n, name=self.name, result=self.result, diag=self.diag)
        if self.reason:
            d["reason"] = self.reason
        if self.time is not None:
            d["time"] = round(self.time, 3)
        return d


class KtapParser(object):
    """Incremental parser of the guest's serial output.

    feed(raw_line, t) takes one line (t = host seconds since QEMU started).
    Lines before "KTAP version" are boot log; only panic and cmdline
    complaints are noted there.  Diagnostics belong to the test named by the
    latest "# start" whose result has not arrived; without "# start" lines,
    diagnostics gathered since the previous result go to the next result.
    """

    def __init__(self):
        self.lines = []               # cleaned lines, all of them
        self.in_ktap = False
        self.plan = None
        self.results = []             # TestResult, in arrival order
        self.started = {}             # n -> (name, t)
        self.current = None           # (n, name) started, no result yet
        self.uses_start = False       # the kernel prints "# start" lines
        self.last_result = None       # name of the latest result
        self.pending = []             # diags not yet attributed
        self.general = []             # diags attributed to no test
        self.totals = None            # (pass, fail, skip)
        self.first_test_ms = None     # kernel-reported
        self.first_test_time = None   # host seconds to first test line
        self.panic_lines = []
        self.cmdline_lines = []
        self.bench = []               # BenchResult, in arrival order
        self.bench_errors = []        # (line, why) for malformed bench lines
        self.bench_unnamed = []       # bench lines waiting for a result
        self.retries = []             # "# retry:" texts (discarded attempts)
        self.console = None           # ({cpu: lines}, total, line index)

    def feed(self, raw, t=None):
        line = clean_line(raw)
        self.lines.append(line)
        if PANIC_RE.match(line):
            self.panic_lines.append(line)
        if CMDLINE_RE.match(line):
            self.cmdline_lines.append(line)
        m = BENCH_RE.match(line)
        if m:
            self._bench(line, m.group(1))
        if HEADER_RE.match(line):
            self.in_ktap = True
            return
        if not self.in_ktap:
            return
        m = PLAN_RE.match(line)
        if m and self.plan is None:
            self.plan = int(m.group(1))
            return
        m = RESULT_RE.match(line)
        if m:
            self._result(m, t)
            return
        m = DIAG_RE.match(line)
        if m:
            self._diag(m.group(1), t)

    def _mark_first(self, t):
        if self.first_test_time is None and t is not None:
            self.first_test_time = t

    def _diag(self, text, t):
        m = START_RE.match(text)
        if m:
            n, name = int(m.group(1)), m.group(2)
            self.started[n] = (name, t)
            # "# " lines before a start belong to no test
            self.general += self.pending
            self.pending = []
            self.bench_unnamed = []
            self.current = (n, name)
            self.uses_start = True
            self._mark_first(t)
            return
        m = TOTALS_RE.match(text)
        if m:
            self.totals = tuple(int(x) for x in m.groups())
            return
        m = CONSOLE_RE.match(text)
        if m and self.console is None:
            per_cpu = dict((int(c), int(n)) for c, n in
                           re.findall(r"cpu(\d+):(\d+)", m.group(1)))
            self.console = (per_cpu, int(m.group(2)), len(self.lines) - 1)
            return
        m = RETRY_RE.match(text)
        if m:
            self.retries.append(m.group(1))
        m = FIRST_TEST_RE.match(text)
        if m:
            self.first_test_ms = float(m.group(1))
            return
        if self.current is not None:
            self.pending.append(text)
        elif self.uses_start or (self.plan is not None
                                 and len(self.results) >= self.plan):
            self.general.append(text)
        else:
            self.pending.append(text)

    def _bench(self, line, text):
        try:
            b = parse_bench(text)
        except ValueError as e:
            self.bench_errors.append((line, str(e)))
            return
        if self.current is not None:
            b.test = self.current[1]
        elif self.in_ktap and not self.uses_start:
            self.bench_unnamed.append(b)  # named by the next result, like
                                          # the diagnostics around it
        self.bench.append(b)

    def _result(self, m, t):
        ok = m.group(1) == "ok"
        n = int(m.group(2))
        name = (m.group(3) or "").strip()
        directive = (m.group(4) or "").strip()
        if not name:
            name = self.started.get(n, ("test#%d" % n,))[0]
        result, reason = ("pass" if ok else "fail"), ""
        sm = SKIP_RE.match(directive)
        if sm:
            result, reason = "skip", sm.group(1).strip()
        elif directive:
            reason = directive
        dur = None
        if n in self.started and t is not None and self.started[n][1] is not None:
            dur = t - self.started[n][1]
        self.results.append(TestResult(n, name, result, self.pending,
                                       reason, dur))
        self.pending = []
        self.current = None
        self.last_result = name
        for b in self.bench_unnamed:
            b.test = name
        self.bench_unnamed = []
        self._mark_first(t)

    # -- queries ---------------------------------------------------------
    def last_started(self):
        """Name of the test started but not finished, else None."""
        return self.current[1] if self.current else None

    def missing(self):
        """[(n, name or None)] planned tests with no result line."""
        if self.plan is None:
            return []
        seen = {r.n for r in self.results}
        return [(n, self.started.get(n, (None,))[0])
                for n in range(1, self.plan + 1) if n not in seen]

    def text(self):
        return "\n".join(self.lines)

    def kernel_start(self):
        """Index of the kernel's first console line, or None."""
        for i, line in enumerate(self.lines):
            if BANNER_RE.search(line):
                return max(0, i - 1)
        return None


def parse_log(text):
    """Parse a whole serial log (for tests and re-judging saved logs)."""
    p = KtapParser()
    for line in text.split("\n"):
        p.feed(line)
    return p


# ---------------------------------------------------------------------------
# The registered tests (a test.list boot) and the selection a command line
# makes of them: the host's own reading of the kernel's rules
# (kern/kern_ktest.c ktest_selected, kern_kopts.c), so a plan that agrees
# with the results but not with what was asked for is caught.
# ---------------------------------------------------------------------------
RETRY_BOOT_MAX = 5         # discarded attempts ("# retry:") a boot may print
REPEAT_MAX = 1000          # kern_kopts.c: repeat accepts 1..1000


def parse_test_list(lines):
    """[(name, special)] from "test.list: NAME[  (manual|benchmark ...)]"
    lines, in the kernel's run order; special: manual or bench tests, run
    only when a pattern names their suite literally."""
    out = []
    for line in lines:
        m = TESTLIST_RE.match(line)
        if m:
            out.append((m.group(1), bool(m.group(2).strip())))
    return out


def glob_re(pattern):
    """The kernel's glob_match: '*' any run, '?' any one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else
                              re.escape(c) for c in pattern) + r"\Z", re.S)


def cmdline_selection(cmdline):
    """(test patterns, repeat) as the kernel reads `cmdline`: the last
    test= wins; a repeat= that is not an integer in 1..1000 is ignored."""
    patterns, repeat = "", 1
    for w in shlex.split(cmdline):
        k, eq, v = w.partition("=")
        if not eq:
            continue
        if k == "test":
            patterns = v
        elif k == "repeat" and re.match(r"^\d+$", v) and \
                1 <= int(v) <= REPEAT_MAX:
            repeat = int(v)
    return patterns, repeat


def expected_tests(registry, cmdline):
    """The test names, in KTAP order, that `cmdline` selects from
    `registry` (parse_test_list)."""
    patterns, repeat = cmdline_selection(cmdline)
    pats = [p for p in patterns.split(",")] if patterns else []
    names = []
    for name, special in registry:
        if not pats:
            ok = not special
        else:
            ok = any(glob_re(p).match(name) and
                     (not special or ("." in p and not
                                      re.search(r"[*?]", p.split(".")[0])))
                     for p in pats)
        if ok:
            names.append(name)
    return names * repeat


# ---------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------
class Case(object):
    """One JUnit testcase / one printed line."""

    def __init__(self, name, result, message="", diag=(), time=None):
        self.name = name
        self.result = result          # "pass", "fail" or "skip"
        self.message = message
        self.diag = list(diag)
        self.time = time


class Outcome(object):
    def __init__(self, status, reasons, cases, guest):
        self.status = status
        self.code = EXIT_CODE[status]
        self.reasons = reasons        # human-readable, why not pass
        self.cases = cases
        self.guest = guest            # "pass", "fail", "panic", "reset",
                                      # "timeout", "exit N", "not started"


def guest_status(qemu_status, timed_out, start_error=None):
    if timed_out:
        return "timeout"
    if start_error is not None and qemu_status is None:
        return "not started"
    if start_error is not None:
        return "exit %s" % qemu_status
    if timed_out:
        return "timeout"
    return {QEMU_PASS: "pass", QEMU_FAIL: "fail", QEMU_PANIC: "panic",
            QEMU_RESET: "reset"}.get(qemu_status, "exit %s" % qemu_status)


def regex_problems(boot, text):
    out = []
    for rx in boot.get("require", ()):
        if not re.search(rx, text, re.M):
            out.append("required output /%s/ not found" % rx)
    for rx in boot.get("forbid", ()):
        m = re.search(rx, text, re.M)
        if m:
            line = text[text.rfind("\n", 0, m.start()) + 1:]
            line = line.split("\n", 1)[0]
            out.append("forbidden output /%s/ found: %s" % (rx, line))
    return out


def judge(boot, p, qemu_status, timed_out=False, timeout=None,
          start_error=None, registry=None):
    """Turn a parsed boot into an Outcome.

    boot: a matrix row (name, expect, require, forbid).  p: KtapParser.
    qemu_status: QEMU's exit status (None if it did not exit).  timed_out:
    the host killed it after `timeout` seconds.  start_error: QEMU (or the
    ISO build) failed; a string.  registry: the kernel's registered tests
    (parse_test_list), or a string saying why they are unknown; given, a
    run must also print its console line counts, its plan must be what
    the command line selects from the registry, and the counts must
    match the lines received.  None (unit tests of other rules): neither
    is checked.
    """
    name, expect = boot["name"], boot.get("expect", PASS)
    guest = guest_status(qemu_status, timed_out, start_error)
    text = p.text()
    cases, reasons = [], []
    status = ST_PASS

    def fail(st, why):
        nonlocal status
        reasons.append(why)
        order = [ST_PASS, ST_FAIL, ST_PANIC, ST_HANG, ST_ERROR]
        if order.index(st) > order.index(status):
            status = st

    if expect == TIMEOUT and start_error is None:
        checks = []
        if guest != "fail":
            checks.append("expected the failure exit status (%d) of a test "
                          "timeout, got %s" % (QEMU_FAIL, guest))
        checks += regex_problems(boot, text)
        if checks:
            cases.append(Case("%s.timeout_report" % name, "fail", checks[0],
                              checks[1:] + p.panic_lines[:3]))
            fail(ST_HANG if timed_out else ST_FAIL, "; ".join(checks))
        else:
            cases.append(Case("%s.timeout_report" % name, "pass"))
        return Outcome(status, reasons, cases, guest)

    # The tests that reported.  An "ok" with a "# FAIL" diagnostic under
    # it is a failure of that test.
    nfail = 0
    for r in p.results:
        msg = r.reason if r.result == "skip" else \
            ("not ok" if r.result == "fail" else "")
        result = r.result
        if result != "fail" and any(FAIL_DIAG_RE.match(d) for d in r.diag):
            result, msg = "fail", "'ok' with a '# FAIL' diagnostic under it"
        if result == "fail":
            nfail += 1
        cases.append(Case(r.name, result, msg, r.diag, r.time))
    if nfail:
        fail(ST_FAIL, "%d test(s) not ok" % nfail)
    stray = [d for d in p.general + p.pending if FAIL_DIAG_RE.match(d)]
    if stray:
        why = "%d '# FAIL' line(s) outside any test" % len(stray)
        cases.append(Case("%s.stray_fail" % name, "fail", why, stray))
        fail(ST_FAIL, why)
    if len(p.retries) > RETRY_BOOT_MAX:
        why = "%d attempts discarded ('# retry:'), at most %d may be" % (
            len(p.retries), RETRY_BOOT_MAX)
        cases.append(Case("%s.retries" % name, "fail", why, p.retries))
        fail(ST_FAIL, why)

    if start_error is not None:
        fail(ST_ERROR, start_error)
        cases.append(Case("%s.harness" % name, "fail", start_error))
        return Outcome(status, reasons, cases, guest)

    last = p.last_started()
    where = ("in %s" % last) if last else \
        ("after %s" % p.last_result if p.last_result else "before first test")
    crash = None                      # (kind, message) ending the boot early
    if timed_out:
        if p.panic_lines and expect != PANIC:
            crash = ("panic", "%s (and QEMU did not exit within %s s)"
                     % (p.panic_lines[0], timeout))
        elif not p.panic_lines:
            crash = ("hang", "HANG: no result after %s s; last test started: %s"
                     % (timeout, last or "(none)"))
        else:
            crash = ("hang", "panic report printed but QEMU did not exit "
                     "within %s s" % timeout)
    elif guest == "panic" and expect != PANIC:
        crash = ("panic", p.panic_lines[0] if p.panic_lines
                 else "guest exited with the panic status, no panic: line")
    elif guest == "reset":
        crash = ("reset", "CPU reset (triple fault?): QEMU exited 0 %s" % where)

    if expect == PANIC:
        checks = []
        if guest != "panic":
            checks.append("expected the panic exit status (%d), got %s"
                          % (QEMU_PANIC, guest if guest != "timeout"
                             else "timeout after %s s" % timeout))
        checks += regex_problems(boot, text)
        if checks:
            cases.append(Case("%s.panic_report" % name, "fail",
                              checks[0], checks[1:] + p.panic_lines[:3]))
            if timed_out:
                fail(ST_HANG, crash[1] if crash else checks[0])
            else:
                fail(ST_FAIL, "; ".join(checks))
        else:
            cases.append(Case("%s.panic_report" % name, "pass"))
        return Outcome(status, reasons, cases, guest)

    if crash is not None:
        kind, msg = crash
        nrun = len(p.missing()) - (1 if last else 0)
        diag = [msg]
        if p.panic_lines[1:]:
            diag += p.panic_lines[1:4]
        if nrun > 0:
            diag.append("%d planned test(s) never reported" % nrun)
        cases.append(Case("%s.%s:%s" % (name, kind, last or where.replace(" ", "-")),
                          "fail", msg, diag[1:]))
        fail({"hang": ST_HANG}.get(kind, ST_PANIC), msg)
        return Outcome(status, reasons, cases, guest)

    # QEMU exited by itself, not by a crash.
    if guest not in ("pass", "fail"):
        why = "QEMU exited with unexpected status %s" % qemu_status
        cases.append(Case("%s.harness" % name, "fail", why))
        fail(ST_ERROR, why)
        return Outcome(status, reasons, cases, guest)

    if guest == "fail" and not any(r.result == "fail" for r in p.results):
        why = "guest exited 'some tests failed' but no result was not ok"
        cases.append(Case("%s.guest_status" % name, "fail", why))
        fail(ST_FAIL, why)

    if p.plan is None:
        if expect == PASS:
            why = "no KTAP plan in the output"
            cases.append(Case("%s.ktap_plan" % name, "fail", why))
            fail(ST_ERROR if guest == "pass" else ST_FAIL, why)
    else:
        for n, tname in p.missing():
            why = "no result line for test %d (plan 1..%d)" % (n, p.plan)
            cases.append(Case(tname or "%s.test#%d" % (name, n), "fail", why))
            fail(ST_FAIL, "%s: %s" % (tname or "test %d" % n, why))
        if len(p.results) > p.plan:
            why = "%d result lines for plan 1..%d" % (len(p.results), p.plan)
            cases.append(Case("%s.ktap_plan" % name, "fail", why))
            fail(ST_FAIL, why)
        if p.totals is not None:
            got = tuple(sum(1 for r in p.results if r.result == k)
                        for k in ("pass", "fail", "skip"))
            if got != p.totals:
                why = ("kernel totals pass:%d fail:%d skip:%d disagree with "
                       "the result lines (pass:%d fail:%d skip:%d)"
                       % (p.totals + got))
                cases.append(Case("%s.ktap_totals" % name, "fail", why))
                fail(ST_FAIL, why)

    if registry is not None and expect == PASS:
        for why in selection_problems(boot, p, registry) + \
                console_problems(p):
            cases.append(Case("%s.%s" % (name, why[0]), "fail", why[1],
                              why[2:]))
            fail(ST_FAIL, why[1])

    if p.panic_lines:
        why = "panic line in a run that exited normally: %s" % p.panic_lines[0]
        cases.append(Case("%s.no_panic" % name, "fail", why))
        fail(ST_FAIL, why)

    checks = regex_problems(boot, text)
    if expect == LIST or boot.get("require") or \
            (boot.get("forbid") and checks):
        cname = "%s.%s" % (name, "list_output" if expect == LIST
                           else "output_checks")
        if checks:
            cases.append(Case(cname, "fail", checks[0], checks[1:]))
            fail(ST_FAIL, "; ".join(checks))
        else:
            cases.append(Case(cname, "pass"))

    return Outcome(status, reasons, cases, guest)


def selection_problems(boot, p, registry):
    """[(case suffix, message, detail...)]: the plan and the result names
    against what the command line selects from the registered tests."""
    if isinstance(registry, str):
        return [("plan_vs_list", "cannot cross-check the plan: %s"
                 % registry)]
    if p.plan is None:
        return []
    want = expected_tests(registry, boot.get("cmdline", ""))
    out = []
    if p.plan != len(want):
        out.append(("plan_vs_list", "plan 1..%d, but the command line "
                    "selects %d test run(s) of those test.list registers"
                    % (p.plan, len(want))))
    wrong = ["result %d is %s, test.list order says %s"
             % (r.n, r.name, want[r.n - 1]) for r in p.results
             if 1 <= r.n <= len(want) and r.name != want[r.n - 1]]
    if wrong:
        out.append(("selection", "%d result(s) name another test than the "
                    "selection" % len(wrong)) + tuple(wrong[:10]))
    return out


def console_problems(p):
    """The kernel's own count of the console lines it wrote against the
    lines received (a lost or merged line is a failure)."""
    if p.console is None:
        return [("console_lines", "the kernel printed no '# console: lines' "
                 "count")]
    per_cpu, total, at = p.console
    start = p.kernel_start()
    if start is None:
        return [("console_lines", "kernel banner not found; cannot count "
                 "its console lines")]
    seen = at - start
    if sum(per_cpu.values()) != total:
        return [("console_lines", "console line counts do not add up: %s "
                 "total:%d" % (per_cpu, total))]
    if seen != total:
        return [("console_lines", "the kernel wrote %d console lines before "
                 "its count (%s), the host received %d" % (
                     total, " ".join("cpu%d:%d" % kv for kv in
                                     sorted(per_cpu.items())), seen))]
    return []


# Lines of a deterministic row whose numbers may differ between two boots
# of the same kernel, command line and seed, because QEMU itself lets host
# timing in (docs/testing.md has the evidence): how long an AP takes to run
# after its STARTUP IPI, and how the single TCG thread interleaves the vCPUs
# (so the figures a test measures and the per-CPU counters).  Only their
# numbers are masked; every other line, and every word of these, must be
# identical: results, test order, '# start', '# retry:', '# FAIL', plan,
# totals and the boot log.  The boot time is fixed while every AP comes up
# within AP_SETTLE_MS (arch/i386/mp_boot.c), which a loaded host can defeat.
DET_VARIES = [
    r"^smp: \d+ of \d+ CPUs online; first INIT to last AP online \d+ us$",
    r"^# boot: first test at \d+\.\d+ ms after kernel entry$",
    r"^# [a-z0-9_]+\.[a-z0-9_]+: ",
    r"^# counters cpu \d+: ",
]


def det_normal(lines):
    """A log's kernel lines with the numbers of DET_VARIES lines masked."""
    start = 0
    for i, line in enumerate(lines):
        if BANNER_RE.search(line):
            start = i
            break
    out = []
    for line in lines[start:]:
        if any(re.match(rx, line) for rx in DET_VARIES):
            line = re.sub(r"\d+", "N", line)
        out.append(line)
    return out


def det_diff(lines_a, lines_b):
    """[(line number, a, b)] where two boots' logs differ (det_normal)."""
    a, b = det_normal(lines_a), det_normal(lines_b)
    out = [(i + 1, x, y) for i, (x, y) in enumerate(zip(a, b)) if x != y]
    for i in range(min(len(a), len(b)), max(len(a), len(b))):
        out.append((i + 1, a[i] if i < len(a) else "<end of log>",
                    b[i] if i < len(b) else "<end of log>"))
    return out


def twin_case(boot, p, p_first):
    """The determinism check of a `twin` row against its first boot."""
    name = "%s.same_as_%s" % (boot["name"], boot["twin"])
    if p_first is None:
        return Case(name, "fail", "%s did not run" % boot["twin"])
    diffs = det_diff(p_first.lines, p.lines)
    if not diffs:
        return Case(name, "pass")
    return Case(name, "fail", "%d line(s) differ from %s" % (
        len(diffs), boot["twin"]),
        ["line %d: %r != %r" % d for d in diffs[:10]])


def verdict_line(out, p, wall):
    """The one-line verdict `run` prints last."""
    npass = sum(1 for c in out.cases if c.result == "pass")
    nfail = sum(1 for c in out.cases if c.result == "fail")
    nskip = sum(1 for c in out.cases if c.result == "skip")
    counts = "%d passed, %d failed, %d skipped" % (npass, nfail, nskip)
    code = "runner: exit status %d" % EXIT_CODE[out.status]
    if out.status == ST_HANG:
        return "runner: " + (out.reasons[-1] if out.reasons[-1].startswith(
            "HANG") else "HANG: " + out.reasons[-1]) + "\n" + code
    label = {ST_PASS: "PASS", ST_FAIL: "FAIL", ST_PANIC: "PANIC",
             ST_ERROR: "ERROR"}[out.status]
    why = ""
    if out.status != ST_PASS:
        why = ": " + "; ".join(out.reasons[:3])
    return "runner: %s%s (%s; %.1f s)\n%s" % (label, why, counts, wall, code)


# ---------------------------------------------------------------------------
# ISO and QEMU
# ---------------------------------------------------------------------------
def iso_path(kernel, cmdline):
    h = hashlib.sha256()
    with open(kernel, "rb") as f:
        h.update(f.read())
    h.update(b"\0" + cmdline.encode() + b"\0")
    try:
        with open(MKISO, "rb") as f:
            h.update(f.read())
    except OSError:
        pass
    return os.path.join(BUILD, "iso", h.hexdigest()[:16] + ".iso")


def build_iso(kernel, cmdline):
    """Returns (iso path, None) or (None, error text)."""
    iso = iso_path(kernel, cmdline)
    if os.path.exists(iso):
        os.utime(iso)
        return iso, None
    os.makedirs(os.path.dirname(iso), exist_ok=True)
    r = subprocess.run([MKISO, kernel, cmdline, iso], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if r.returncode != 0:
        return None, "mkiso failed (exit %d): %s" % (r.returncode,
                                                     r.stdout.strip())
    return iso, None


def prune_isos(keep, max_age=3600):
    """Remove cached ISOs unused for an hour (not those in `keep`)."""
    d = os.path.join(BUILD, "iso")
    now = time.time()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        path = os.path.join(d, n)
        if n.endswith(".iso") and path not in keep:
            try:
                if now - os.path.getmtime(path) > max_age:
                    os.unlink(path)
            except OSError:
                pass


def qemu_command(boot, iso):
    extra = list(boot.get("args", ()))
    cmd = [os.environ.get("QEMU", "qemu-system-i386")]
    if not any(a in ("-machine", "-M") for a in extra):
        cmd += ["-machine", boot.get("machine", "pc")]
    if "-m" not in extra:
        cmd += ["-m", "128M"]
    if "-smp" not in extra:
        cmd += ["-smp", str(boot.get("smp", "1"))]
    if "-accel" not in extra:
        cmd += ["-accel", "tcg,thread=%s" % boot.get("thread", "single")]
    cmd += ["-cdrom", iso, "-boot", "d", "-display", "none",
            "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    return cmd + extra


class AnsiFilter(object):
    """Drops terminal escape sequences from a byte stream (for live echo:
    GRUB clears the screen through the serial terminal)."""

    def __init__(self):
        self.state = 0                # 0 text, 1 after ESC, 2 in CSI

    def __call__(self, data):
        out = bytearray()
        for b in data:
            if self.state == 0:
                if b == 0x1b:
                    self.state = 1
                else:
                    out.append(b)
            elif self.state == 1:
                self.state = 2 if b == 0x5b else 0
            else:
                if 0x40 <= b <= 0x7e:
                    self.state = 0
        return bytes(out)


class BootRun(object):
    """Result of one QEMU run."""

    def __init__(self):
        self.parser = KtapParser()
        self.qemu_status = None
        self.timed_out = False
        self.start_error = None
        self.stderr = ""
        self.wall = 0.0
        self.timeout = None
        self.cmd = []


RUNNING = set()                       # live Popen objects (for ^C)
RUNNING_LOCK = threading.Lock()


def kill_group(proc):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def run_qemu(cmd, timeout, log_path=None, echo=None, deadline=None,
             started=None):
    """Run QEMU; feed its serial output to a KtapParser line by line.

    echo(bytes) gets the raw output as it arrives.  The run is killed after
    `timeout` seconds (or at `deadline`, a time.monotonic() value, if that
    is sooner).  started(Popen) is called once QEMU is running.  Returns a
    BootRun.
    """
    br = BootRun()
    br.cmd = cmd
    br.timeout = timeout
    t0 = time.monotonic()
    limit = t0 + timeout
    if deadline is not None and deadline < limit:
        limit = deadline
        br.timeout = max(0, int(deadline - t0))
    log = open(log_path, "wb") if log_path else None
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except OSError as e:
        br.start_error = "cannot start QEMU (%s): %s" % (cmd[0], e)
        if log:
            log.write(("runner: %s\n" % br.start_error).encode())
            log.close()
        return br
    with RUNNING_LOCK:
        RUNNING.add(proc)
    if started is not None:
        started(proc)
    err_chunks = []

    def read_err():
        err_chunks.append(proc.stderr.read())

    def read_out():
        buf = b""
        fd = proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            if log:
                log.write(data)
                log.flush()
            if echo:
                echo(data)
            buf += data
            t = time.monotonic() - t0
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                br.parser.feed(line.decode("utf-8", "replace"), t)
        if buf:
            br.parser.feed(buf.decode("utf-8", "replace"),
                           time.monotonic() - t0)

    tout = threading.Thread(target=read_out, daemon=True)
    terr = threading.Thread(target=read_err, daemon=True)
    tout.start()
    terr.start()
    try:
        proc.wait(timeout=max(0.0, limit - time.monotonic()))
    except subprocess.TimeoutExpired:
        br.timed_out = True
        kill_group(proc)
    finally:
        if proc.returncode is None:   # ^C or another exception
            kill_group(proc)
        with RUNNING_LOCK:
            RUNNING.discard(proc)
    tout.join(5)
    terr.join(5)
    for th, f in ((tout, proc.stdout), (terr, proc.stderr)):
        if not th.is_alive():         # else a child still holds the pipe
            try:
                f.close()
            except OSError:
                pass
    br.wall = time.monotonic() - t0
    br.qemu_status = None if br.timed_out else proc.returncode
    br.stderr = b"".join(c for c in err_chunks if c).decode("utf-8", "replace")
    if log:
        if br.stderr.strip():
            log.write(b"\n--- qemu stderr ---\n" + br.stderr.encode())
        log.write(("\n--- runner: qemu %s after %.1f s ---\n" % (
            "killed (timeout)" if br.timed_out else
            "exit status %s" % proc.returncode, br.wall)).encode())
        log.close()
    if (not br.timed_out and proc.returncode not in
            (QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET)):
        msg = br.stderr.strip().splitlines()
        br.start_error = "QEMU exited with status %s%s" % (
            proc.returncode, (": " + msg[-1]) if msg else "")
    return br


def judge_run(boot, br, registry=None):
    return judge(boot, br.parser, br.qemu_status, br.timed_out, br.timeout,
                 br.start_error, registry)


LIST_TIMEOUT = 60


def test_registry(kernel):
    """The tests `kernel` registers: a -smp 1 test.list boot, cached in
    build/testlist/ by the kernel's hash.  Returns parse_test_list's list,
    or a string saying why it is unknown."""
    d = os.path.join(BUILD, "testlist")
    sha = kernel_sha256(kernel)
    if sha is None:
        return "cannot read %s" % kernel
    cache = os.path.join(d, sha[:16] + ".json")
    try:
        with open(cache) as f:
            return [tuple(x) for x in json.load(f)]
    except (OSError, ValueError):
        pass
    boot = Boot("testlist", "1", "single", "test.list", LIST,
                timeout=LIST_TIMEOUT)
    iso, err = build_iso(kernel, boot["cmdline"])
    if err:
        return "test.list boot: %s" % err
    br = run_qemu(qemu_command(boot, iso), LIST_TIMEOUT)
    reg = parse_test_list(br.parser.lines)
    if br.qemu_status != QEMU_PASS or not reg:
        return "test.list boot of %s failed (%s, %d tests listed)" % (
            kernel, guest_status(br.qemu_status, br.timed_out,
                                 br.start_error), len(reg))
    os.makedirs(d, exist_ok=True)
    tmp = cache + ".%d.tmp" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(reg, f)
    os.replace(tmp, cache)
    return reg


# ---------------------------------------------------------------------------
# `run`
# ---------------------------------------------------------------------------
def find_boot(name):
    for b in MATRIX:
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


def cmd_run(a):
    boot = boot_from_args(a)
    if boot is None:
        return EXIT_CODE[ST_ERROR]
    kernel = boot["kernel"] or a.kernel
    registry = test_registry(kernel) if boot["expect"] == PASS and \
        os.path.exists(kernel) else None
    br, log_path = boot_live(kernel, boot)
    if br is None:
        return EXIT_CODE[ST_ERROR]
    res = judge_run(boot, br, registry)
    print_failures(res, br, log_path)
    print(verdict_line(res, br.parser, br.wall))
    return res.code


def boot_live(kernel, boot):
    """Build the ISO and boot it once, the guest's serial output echoed to
    stdout as it arrives; the log goes to build/logs/<boot name>.log.
    Returns (BootRun, log path), or (None, None) after printing why the
    boot could not be tried."""
    if not os.path.exists(kernel):
        print("runner: ERROR: kernel %s not found (run make)" % kernel)
        return None, None
    iso, err = build_iso(kernel, boot["cmdline"])
    if err:
        print("runner: ERROR: %s" % err)
        return None, None
    os.makedirs(os.path.join(BUILD, "logs"), exist_ok=True)
    log_path = os.path.join(BUILD, "logs", "%s.log" % boot["name"])
    cmd = qemu_command(boot, iso)
    out = getattr(sys.stdout, "buffer", sys.stdout)
    filt = AnsiFilter()

    def echo(data):
        out.write(filt(data))
        out.flush()

    sys.stdout.flush()
    br = run_qemu(cmd, boot["timeout"], log_path, echo)
    out.write(b"\n")
    out.flush()
    return br, log_path


def print_failures(res, br, log_path):
    """After a live boot: the failed cases, QEMU's complaints, the log."""
    for c in res.cases:
        if c.result == "fail":
            print("runner: FAIL %s%s" % (c.name,
                                         (": " + c.message) if c.message else ""))
    err = [l for l in br.stderr.splitlines()
           if l.strip() and "terminating on signal" not in l]
    if err:
        print("runner: qemu stderr:\n" + "\n".join(err))
    print("runner: log in %s" % os.path.relpath(log_path))


# ---------------------------------------------------------------------------
# `gdb` and `debug`: QEMU paused under its gdb stub (also scripts/gdb_test.py)
# ---------------------------------------------------------------------------
GDB_DIR = os.path.join(BUILD, "gdb")
LWKT_GDB = os.path.join(ROOT, "scripts", "gdb", "lwkt.py")
SUN_PATH_MAX = 107                    # sockaddr_un.sun_path less its NUL
GDB_DIR_MAX_AGE = 86400               # session directories kept a day


def free_tcp_port():
    """A TCP port nobody listens on now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_listening(port):
    """True if something listens on TCP `port` (Linux: /proc/net/tcp*);
    None if that cannot be told."""
    seen = False
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                lines = fh.readlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            w = line.split()
            if len(w) > 3 and w[3] == "0A" and \
                    int(w[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False if seen else None


def prune_gdb_dirs(max_age=GDB_DIR_MAX_AGE):
    """Remove session directories older than a day."""
    try:
        names = os.listdir(GDB_DIR)
    except OSError:
        return
    now = time.time()
    for n in names:
        d = os.path.join(GDB_DIR, n)
        try:
            if now - os.path.getmtime(d) > max_age:
                for f in os.listdir(d):
                    os.unlink(os.path.join(d, f))
                os.rmdir(d)
        except OSError:
            pass


class GdbStub(object):
    """Where one session's QEMU gdb stub listens, and its files.

    Each session gets a directory of its own, build/gdb/<kind>-XXXXXXXX/
    (mkdtemp: concurrent sessions never collide), holding the stub's unix
    socket `qemu.sock`, the `gdbinit` that connects to it and the guest's
    `serial.log`.  port=N: a TCP port on 127.0.0.1 instead of the socket
    (0: a free one, picked by binding port 0 - a small race, which the
    socket does not have).
    """

    def __init__(self, kind, port=None):
        os.makedirs(GDB_DIR, exist_ok=True)
        prune_gdb_dirs()
        self.dir = tempfile.mkdtemp(prefix=kind + "-", dir=GDB_DIR)
        self.sock = self.port = None
        if port is None:
            self.sock = os.path.join(self.dir, "qemu.sock")
            if len(self.sock.encode()) > SUN_PATH_MAX:   # a deep checkout
                os.rmdir(self.dir)
                self.dir = tempfile.mkdtemp(prefix="lwkt-%s-" % kind)
                self.sock = os.path.join(self.dir, "qemu.sock")
        else:
            self.port = port or free_tcp_port()
        self.gdbinit = os.path.join(self.dir, "gdbinit")
        self.serial_log = os.path.join(self.dir, "serial.log")
        self.qemu_err = os.path.join(self.dir, "qemu.stderr")

    def qemu_args(self):
        """-S: wait at the first instruction; the stub on our socket."""
        if self.sock:
            return ["-S", "-chardev", "socket,id=gdb0,server=on,wait=off,"
                    "path=" + self.sock.replace(",", ",,"),
                    "-gdb", "chardev:gdb0"]
        return ["-S", "-gdb", "tcp:127.0.0.1:%d" % self.port]

    def address(self):
        """What `target remote` takes (gdb connects to a socket file)."""
        return self.sock if self.sock else "127.0.0.1:%d" % self.port

    def wait_ready(self, proc, timeout=15.0):
        """True once QEMU listens; False if it exited or took too long."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if proc.poll() is not None:
                return False
            if self.sock:
                try:
                    if stat.S_ISSOCK(os.stat(self.sock).st_mode):
                        return True
                except OSError:
                    pass
            else:
                ok = tcp_listening(self.port)
                if ok:
                    return True
                if ok is None:            # cannot tell: give it a moment
                    time.sleep(0.5)
                    return proc.poll() is None
            time.sleep(0.02)
        return False

    def cleanup(self):
        """The socket goes; gdbinit and serial.log stay for a day."""
        if self.sock:
            try:
                os.unlink(self.sock)
            except OSError:
                pass


def gdb_banner(stub):
    return "\n".join([
        "lwkt: QEMU waits at its first instruction (BIOS reset vector); "
        "every vCPU is stopped.",
        "  continue (c)        boot; ^C stops every vCPU again",
        "  break FUNC          also before `continue`: QEMU's stub keeps "
        "breakpoints in its",
        "                      translator, so they work before GRUB loads "
        "the kernel",
        "  lwkt cpus | vcpus | threads [cpu] | runq [cpu] | ipiq | tokens "
        "| bt THREAD",
        "                      (help lwkt); info threads: one gdb thread "
        "per vCPU",
        "  guest serial output: %s" % stub.serial_log,
    ])


def write_gdbinit(stub, kernel, banner=True):
    """The commands that load the kernel's symbols and our helpers and
    connect to the stub (gdb -x FILE)."""
    lines = [
        "# One QEMU debug session; written by scripts/runner.py.",
        "set confirm off",
        "set pagination off",
        "set architecture i386",
        "file %s" % os.path.abspath(kernel),
        "source %s" % LWKT_GDB,
        "target remote %s" % stub.address(),
    ]
    if banner:
        lines += ["python", "print(%r)" % gdb_banner(stub), "end"]
    with open(stub.gdbinit, "w") as f:
        f.write("\n".join(lines) + "\n")
    return stub.gdbinit


def start_gdb_qemu(boot, iso, stub, stdout=None):
    """QEMU for `boot`, paused, with its stub at `stub`; serial output to
    `stdout` (a file object), else stub.serial_log.  Returns the Popen
    (in a session of its own: ^C at gdb does not reach it)."""
    cmd = qemu_command(boot, iso) + stub.qemu_args()
    out = stdout if stdout is not None else open(stub.serial_log, "wb")
    with open(stub.qemu_err, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
    if stdout is None:
        out.close()
    with RUNNING_LOCK:
        RUNNING.add(proc)
    return proc


def stop_qemu(proc):
    if proc.poll() is None:
        kill_group(proc)
    with RUNNING_LOCK:
        RUNNING.discard(proc)


def qemu_stderr(stub):
    try:
        with open(stub.qemu_err, errors="replace") as f:
            return [l for l in f.read().splitlines() if l.strip() and
                    "terminating on signal" not in l]
    except OSError:
        return []


def short_path(p):
    """p relative to the current directory if it is below it."""
    r = os.path.relpath(p)
    return os.path.abspath(p) if r.startswith("..") else r


def run_in_foreground(cmd):
    """Run an interactive program (gdb) as the terminal's foreground
    process group, so ^C reaches only it (it stops the vCPUs) and not
    make or this script; without a terminal, just ignore ^C meanwhile.
    Returns its exit status."""
    # a handler, not SIG_IGN: the child must not inherit an ignored SIGINT
    old_int = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        try:
            tty = os.open("/dev/tty", os.O_RDWR)
            fg = os.tcgetpgrp(tty)
        except OSError:
            return subprocess.call(cmd)
        old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            proc = subprocess.Popen(cmd, preexec_fn=os.setpgrp)
            try:
                os.tcsetpgrp(tty, proc.pid)
            except OSError:
                pass
            return proc.wait()
        finally:
            try:
                os.tcsetpgrp(tty, fg)
            except OSError:
                pass
            signal.signal(signal.SIGTTOU, old_ttou)
            os.close(tty)
    finally:
        signal.signal(signal.SIGINT, old_int)


def cmd_gdb(a):
    boot = boot_from_args(a, "gdb")
    if boot is None:
        return EXIT_CODE[ST_ERROR]
    if not os.path.exists(a.kernel):
        print("runner: ERROR: kernel %s not found (run make)" % a.kernel)
        return EXIT_CODE[ST_ERROR]
    iso, err = build_iso(a.kernel, boot["cmdline"])
    if err:
        print("runner: ERROR: %s" % err)
        return EXIT_CODE[ST_ERROR]
    stub = GdbStub("gdb", a.port)
    proc = start_gdb_qemu(boot, iso, stub)
    try:
        if not stub.wait_ready(proc):
            print("runner: ERROR: QEMU's gdb stub did not come up%s" % (
                "".join("\n  " + l for l in qemu_stderr(stub)[-5:])))
            return EXIT_CODE[ST_ERROR]
        write_gdbinit(stub, a.kernel)
        print("runner: QEMU pid %d, -smp %s, paused; gdb stub on %s"
              % (proc.pid, boot["smp"], stub.address()))
        sys.stdout.flush()
        gdb = [os.environ.get("GDB", "gdb"), "-q", "-x", stub.gdbinit]
        try:
            run_in_foreground(gdb)
        except OSError as e:
            print("runner: ERROR: cannot start %s: %s" % (gdb[0], e))
            return EXIT_CODE[ST_ERROR]
    finally:
        stop_qemu(proc)
        stub.cleanup()
    print("runner: gdb exited, QEMU stopped; guest serial output in %s"
          % short_path(stub.serial_log))
    return 0


def cmd_debug(a):
    boot = boot_from_args(a, "debug")
    if boot is None:
        return EXIT_CODE[ST_ERROR]
    if a.timeout is None:
        boot["timeout"] = 10 ** 8            # as long as the user likes
    if not os.path.exists(a.kernel):
        print("runner: ERROR: kernel %s not found (run make)" % a.kernel)
        return EXIT_CODE[ST_ERROR]
    iso, err = build_iso(a.kernel, boot["cmdline"])
    if err:
        print("runner: ERROR: %s" % err)
        return EXIT_CODE[ST_ERROR]
    stub = GdbStub("debug", a.port)
    write_gdbinit(stub, a.kernel)
    out = getattr(sys.stdout, "buffer", sys.stdout)
    filt = AnsiFilter()
    lock = threading.Lock()

    def echo(data):
        with lock:
            out.write(filt(data))
            out.flush()

    def announce(proc):
        if not stub.wait_ready(proc):
            return
        gdb = os.environ.get("GDB", "gdb")
        text = ("runner: QEMU pid %d, -smp %s, paused: waiting for a debugger"
                " on %s\nrunner: attach from another terminal with:\n\n"
                "    %s -x %s\n\n"
                "runner: (it loads %s, sources %s and connects);\n"
                "runner: `continue` in gdb boots; ^C here stops QEMU.\n"
                % (proc.pid, boot["smp"], stub.address(), gdb, stub.gdbinit,
                   short_path(a.kernel), short_path(LWKT_GDB)))
        with lock:
            out.write(text.encode())
            out.flush()

    def started(proc):
        threading.Thread(target=announce, args=(proc,), daemon=True).start()

    sys.stdout.flush()
    cmd = qemu_command(boot, iso) + stub.qemu_args()
    try:
        br = run_qemu(cmd, boot["timeout"], stub.serial_log, echo,
                      started=started)
    finally:
        stub.cleanup()
    out.write(b"\n")
    out.flush()
    if "Terminated via GDBstub" in br.stderr:     # gdb's `kill`
        print("runner: QEMU terminated from gdb after %.1f s; serial output "
              "in %s" % (br.wall, short_path(stub.serial_log)))
        return 0
    res = judge_run(boot, br)
    print_failures(res, br, short_path(stub.serial_log))
    print(verdict_line(res, br.parser, br.wall))
    return res.code


# ---------------------------------------------------------------------------
# `bench`
# ---------------------------------------------------------------------------
# -icount shift=0: rdtsc counts guest instructions (LWKT-SPEC section 13);
#   icount needs single-threaded TCG, so bench boots always use it.
# sleep=off: when every CPU is halted the virtual clock jumps straight to the
#   next timer deadline instead of following host time, so idle periods
#   cost no host time and add a deterministic amount to the TSC.
# -rtc clock=vm: the CMOS clock follows virtual time, not the host's.
BENCH_QEMU_ARGS = "-icount shift=0,sleep=off -rtc clock=vm"
BENCH_TESTS = "test=bench.*"
BENCH_TIMEOUT = 300
BENCH_SMP = "4"


def bench_boot(smp=None, cmdline=None, timeout=None, qemu_args=""):
    """The boot row of a `bench` run."""
    cl = BENCH_TESTS + ((" " + cmdline.strip()) if cmdline and
                        cmdline.strip() else "")
    return Boot("bench", smp or BENCH_SMP, "single", cl, PASS,
                args=BENCH_QEMU_ARGS + " " + (qemu_args or ""),
                timeout=timeout or BENCH_TIMEOUT)


def judge_bench(boot, p, qemu_status, timed_out=False, timeout=None,
                start_error=None):
    """judge(), and a boot that printed no (or a malformed) bench line
    fails: a benchmark that measured nothing must not look green."""
    out = judge(boot, p, qemu_status, timed_out, timeout, start_error)
    problems = ["malformed bench line (%s): %s" % (why, line)
                for line, why in p.bench_errors]
    if not p.bench:
        problems.insert(0, "no '# bench:' line in the output: nothing was "
                        "measured")
    if problems:
        out.cases.append(Case("%s.bench_lines" % boot["name"], "fail",
                              problems[0], problems[1:]))
        # a command-line complaint ("test=bench.* selects no test") is
        # the likeliest cause: name it first
        cl = [r for r in out.reasons if r.startswith(
            "forbidden output /^cmdline:/")]
        out.reasons = cl + problems + [r for r in out.reasons
                                       if r not in cl]
        if out.status == ST_PASS:
            out.status, out.code = ST_FAIL, EXIT_CODE[ST_FAIL]
    return out


def kernel_sha256(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            h.update(f.read())
    except OSError:
        return None
    return h.hexdigest()


def bench_json(boot, br, out, sha, log=None):
    p = br.parser
    return dict(qemu=br.cmd, cmdline=boot["cmdline"], kernel_sha256=sha,
                smp=boot["smp"], results=[b.to_json() for b in p.bench],
                status=out.status, reasons=out.reasons,
                guest=out.guest, wall_time=round(br.wall, 3), log=log,
                bench_errors=[dict(line=l, error=e)
                              for l, e in p.bench_errors],
                tests=[dict(name=t.name, result=t.result)
                       for t in p.results])


def bench_table(results):
    """The human table: name, value, unit, other fields."""
    if not results:
        return "runner: no bench results"
    rows = [(b.name, b.raw_value, b.unit,
             " ".join("%s=%s" % kv for kv in b.raw_fields.items()))
            for b in results]
    head = ("name", "value", "unit", "fields")
    w = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    fmt = "%-*s  %*s  %-*s  %s"
    lines = [(fmt % (w[0], head[0], w[1], head[1], w[2], head[2],
                     head[3])).rstrip()]
    for r in rows:
        lines.append((fmt % (w[0], r[0], w[1], r[1], w[2], r[2], r[3]))
                     .rstrip())
    return "\n".join(lines)


def cmd_bench(a):
    boot = bench_boot(a.smp, a.cmdline, a.timeout, a.qemu_args)
    br, log_path = boot_live(a.kernel, boot)
    if br is None:
        return EXIT_CODE[ST_ERROR]
    res = judge_bench(boot, br.parser, br.qemu_status, br.timed_out,
                      br.timeout, br.start_error)
    print_failures(res, br, log_path)
    j = bench_json(boot, br, res, kernel_sha256(a.kernel),
                   os.path.relpath(log_path))
    out = a.out or os.path.join(BUILD, "bench.json")
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    with open(out, "w") as f:
        json.dump(j, f, indent=1)
        f.write("\n")
    print(bench_table(br.parser.bench))
    rel = os.path.relpath(out)
    print("runner: bench results in %s" % (out if rel.startswith("..")
                                           else rel))
    print(verdict_line(res, br.parser, br.wall))
    return res.code


# ---------------------------------------------------------------------------
# `test`
# ---------------------------------------------------------------------------
def junit_xml(results):
    root = ET.Element("testsuites")
    tot = dict(tests=0, failures=0, skipped=0, time=0.0)
    for r in results:
        cases = r["outcome"].cases
        nf = sum(1 for c in cases if c.result == "fail")
        ns = sum(1 for c in cases if c.result == "skip")
        s = ET.SubElement(root, "testsuite", name=r["boot"]["name"],
                          tests=str(len(cases)), failures=str(nf),
                          errors="0", skipped=str(ns),
                          time="%.3f" % r["wall"])
        props = ET.SubElement(s, "properties")
        for k, v in (("qemu", " ".join(shlex.quote(x) for x in r["cmd"])),
                     ("cmdline", r["boot"]["cmdline"]),
                     ("expect", r["boot"]["expect"]),
                     ("status", r["outcome"].status),
                     ("log", r["log"])):
            ET.SubElement(props, "property", name=k, value=v)
        for c in cases:
            tc = ET.SubElement(s, "testcase", classname=r["boot"]["name"],
                               name=c.name)
            if c.time is not None:
                tc.set("time", "%.3f" % c.time)
            if c.result == "fail":
                f = ET.SubElement(tc, "failure",
                                  message=c.message or "not ok")
                f.text = "\n".join(c.diag)
            elif c.result == "skip":
                ET.SubElement(tc, "skipped", message=c.message or "")
        tot["tests"] += len(cases)
        tot["failures"] += nf
        tot["skipped"] += ns
        tot["time"] += r["wall"]
    root.set("name", "lwkt")
    for k in ("tests", "failures", "skipped"):
        root.set(k, str(tot[k]))
    root.set("time", "%.3f" % tot["time"])
    if hasattr(ET, "indent"):
        ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def result_json(r):
    p, o = r["parser"], r["outcome"]
    return dict(
        name=r["boot"]["name"], qemu_args=r["cmd"],
        cmdline=r["boot"]["cmdline"], expect=r["boot"]["expect"],
        status=o.status, guest=o.guest, reasons=o.reasons,
        qemu_status=r["qemu_status"],
        wall_time=round(r["wall"], 3),
        time_to_first_test=(None if p.first_test_time is None
                            else round(p.first_test_time, 3)),
        kernel_first_test_ms=p.first_test_ms,
        last_test_started=p.last_started(),
        plan=p.plan, totals=p.totals, log=r["log"],
        retries=p.retries,
        console_lines=(None if p.console is None else
                       dict(per_cpu=p.console[0], total=p.console[1])),
        timeout=r["boot"]["timeout"],
        tests=[t.to_json() for t in p.results],
        cases=[dict(name=c.name, result=c.result, message=c.message,
                    diag=c.diag) for c in o.cases])


def print_boot(r, width, show_tail=30):
    """Print one boot's block (called under the print lock)."""
    o, p, name = r["outcome"], r["parser"], r["boot"]["name"]
    first = ""
    if p.first_test_time is not None:
        first = ", first test at %.1f s" % p.first_test_time
        if p.first_test_ms is not None:
            first += " (kernel: %g ms)" % p.first_test_ms
    print("== %s: %s in %.1f s%s" % (name, o.status.upper(), r["wall"], first))
    if p.retries:
        print("   %d attempt(s) discarded (at most %d):" % (
            len(p.retries), RETRY_BOOT_MAX))
        for t in p.retries:
            print("   # retry: " + t)
    for c in o.cases:
        label = {"pass": "ok", "fail": "FAIL", "skip": "skip"}[c.result]
        extra = ""
        if c.result == "skip" and c.message:
            extra = "  # SKIP " + c.message
        elif c.result == "fail" and c.message and c.message != "not ok":
            extra = "  # " + c.message
        print("%-6s %-*s  %s%s" % (label, width, name, c.name, extra))
        if c.result == "fail":
            for d in c.diag:
                print("         # " + d)
    if o.status != ST_PASS:
        print("   %s: %s" % (name, "; ".join(o.reasons[:5])))
        print("   log: %s" % r["log"])
        tail = p.lines[-show_tail:] if p.lines else []
        for line in tail:
            print("   | " + line)
    sys.stdout.flush()


def cmd_test(a):
    boots = MATRIX
    if a.only:
        rx = re.compile(a.only)
        boots = [b for b in MATRIX if rx.search(b["name"])]
    if a.list:
        for b in boots:
            extra = b["args"] + (["-machine", b["machine"]]
                                 if b["machine"] != "pc" else [])
            print("%-14s -smp %-32s thread=%-6s %-6s %4ss  %s%s" % (
                b["name"], b["smp"], b["thread"], b["expect"], b["timeout"],
                b["cmdline"], ("  [" + " ".join(extra) + "]") if extra else ""))
        return 0
    if not boots:
        print("runner: no boot matches --only %r" % a.only)
        return EXIT_CODE[ST_ERROR]
    for k in {b["kernel"] or a.kernel for b in boots}:
        if not os.path.exists(k):
            print("runner: ERROR: kernel %s not found (run make)" % k)
            return EXIT_CODE[ST_ERROR]

    t_start = time.monotonic()
    deadline = t_start + a.budget
    logdir = os.path.join(BUILD, "logs")
    os.makedirs(logdir, exist_ok=True)

    # 1. ISOs, in parallel (one per distinct kernel and command line).
    def iso_key(b):
        return (b["kernel"] or a.kernel, b["cmdline"])
    keys = sorted({iso_key(b) for b in boots})
    isos = {}
    lock = threading.Lock()

    def mk(key):
        r = build_iso(key[0], key[1])
        with lock:
            isos[key] = r
    ths = [threading.Thread(target=mk, args=(k,)) for k in keys]
    for i in range(0, len(ths), os.cpu_count() or 2):
        batch = ths[i:i + (os.cpu_count() or 2)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
    prune_isos({v[0] for v in isos.values() if v[0]})

    # The tests each kernel registers (one cached test.list boot each),
    # to cross-check every PASS row's plan.
    registries = {}
    kernels = sorted({b["kernel"] or a.kernel for b in boots
                      if b["expect"] == PASS})

    def reg(k):
        registries[k] = test_registry(k)
    ths = [threading.Thread(target=reg, args=(k,)) for k in kernels]
    for i in range(0, len(ths), a.jobs):
        for t in ths[i:i + a.jobs]:
            t.start()
        for t in ths[i:i + a.jobs]:
            t.join()

    # 2. Boots: up to `jobs` at once; solo rows take every slot.
    width = max(len(b["name"]) for b in boots)
    results = {}
    cond = threading.Condition()
    state = dict(free=a.jobs)
    print_lock = threading.Lock()
    # A twin row waits for its first boot (which the matrix lists before
    # it) to be judged, then compares the two logs.
    twin_done = dict((b["twin"], threading.Event()) for b in boots
                     if b.get("twin"))
    names = [b["name"] for b in boots]
    for t in list(twin_done):
        if t not in names:
            twin_done[t].set()

    def one(boot, iso, err, slots):
        log_path = os.path.join(logdir, "%s.log" % boot["name"])
        rel = os.path.relpath(log_path)
        try:
            if err:
                br = BootRun()
                br.start_error = err
                br.cmd = qemu_command(boot, "<no iso>")
                with open(log_path, "w") as f:
                    f.write("runner: %s\n" % err)
            elif time.monotonic() >= deadline:
                br = BootRun()
                br.start_error = ("not run: global budget of %d s exhausted"
                                  % a.budget)
                br.cmd = qemu_command(boot, iso)
                with open(log_path, "w") as f:
                    f.write("runner: %s\n" % br.start_error)
            else:
                br = run_qemu(qemu_command(boot, iso), boot["timeout"],
                              log_path, None, deadline)
            registry = registries.get(boot["kernel"] or a.kernel) \
                if boot["expect"] == PASS else None
            outcome = judge_run(boot, br, registry)
            if boot.get("twin"):
                twin_done[boot["twin"]].wait()
                first = results.get(boot["twin"])
                c = twin_case(boot, br.parser,
                              first["parser"] if first else None)
                outcome.cases.append(c)
                if c.result == "fail" and outcome.status == ST_PASS:
                    outcome.status, outcome.code = ST_FAIL, EXIT_CODE[ST_FAIL]
                if c.result == "fail":
                    outcome.reasons.append(c.message)
        except Exception as e:        # a runner bug must not lose the boot
            br = BootRun()
            br.cmd = qemu_command(boot, iso or "<no iso>")
            br.start_error = "runner error: %r" % (e,)
            outcome = judge_run(boot, br)
        try:
            r = dict(boot=boot, parser=br.parser, outcome=outcome,
                     wall=br.wall, cmd=br.cmd, log=rel,
                     qemu_status=br.qemu_status)
            results[boot["name"]] = r
            with print_lock:
                print_boot(r, width)
        finally:
            if boot["name"] in twin_done:
                twin_done[boot["name"]].set()
            with cond:
                state["free"] += slots
                cond.notify_all()

    workers = []
    try:
        for boot in boots:
            iso, err = isos[iso_key(boot)]
            slots = a.jobs if boot.get("solo") else 1
            with cond:
                while state["free"] < slots:
                    cond.wait()
                state["free"] -= slots
            t = threading.Thread(target=one, args=(boot, iso, err, slots),
                                 daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        with RUNNING_LOCK:
            procs = list(RUNNING)
        for proc in procs:
            kill_group(proc)
        print("\nrunner: interrupted")
        return 130

    ordered = [results[b["name"]] for b in boots if b["name"] in results]
    with open(os.path.join(BUILD, "test-results.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write(junit_xml(ordered) + "\n")
    npass = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "pass")
    nfail = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "fail")
    nskip = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "skip")
    wall = time.monotonic() - t_start
    with open(os.path.join(BUILD, "test-results.json"), "w") as f:
        json.dump(dict(kernel=os.path.relpath(a.kernel), wall_time=round(wall, 3),
                       passed=npass, failed=nfail, skipped=nskip,
                       boots=[result_json(r) for r in ordered]), f, indent=1)
        f.write("\n")
    bad = [r for r in ordered if r["outcome"].status != ST_PASS]
    print("== %d boot(s) in %.0f s; %d skipped; results in build/"
          "test-results.{xml,json}" % (len(ordered), wall, nskip))
    for r in bad:
        print("   %-*s %s (%s)" % (width, r["boot"]["name"],
                                   r["outcome"].status.upper(), r["log"]))
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if (bad or nfail) else 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Boot the kernel under QEMU and judge its KTAP output.")
    ap.add_argument("--kernel", default=os.path.join(BUILD, "kernel.elf"))
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="one boot, output streamed live")
    r.add_argument("--smp", help="QEMU -smp spec (default 4)")
    r.add_argument("--thread", choices=("single", "multi"),
                   help="TCG thread mode (default multi)")
    r.add_argument("--cmdline", help="kernel command line")
    r.add_argument("--timeout", type=int, help="seconds (default %d)"
                   % DEFAULT_TIMEOUT)
    r.add_argument("--qemu-args", default="", help="extra QEMU arguments")
    r.add_argument("--boot", help="take settings from this matrix row")
    r.add_argument("--kernel", dest="kernel_sub", default=None)
    b = sub.add_parser("bench", help="one -icount boot of the bench.* "
                       "tests; results to build/bench.json")
    b.add_argument("--smp", help="QEMU -smp spec (default %s)" % BENCH_SMP)
    b.add_argument("--cmdline", help="kernel command line after %s"
                   % BENCH_TESTS)
    b.add_argument("--timeout", type=int, help="seconds (default %d)"
                   % BENCH_TIMEOUT)
    b.add_argument("--qemu-args", default="", help="extra QEMU arguments")
    b.add_argument("--out", help="JSON results (default build/bench.json)")
    b.add_argument("--kernel", dest="kernel_sub", default=None)
    for kind, hlp in (("gdb", "QEMU paused under its gdb stub, and gdb "
                       "attached in this terminal"),
                      ("debug", "QEMU paused under its gdb stub; prints "
                       "the gdb command to attach")):
        g = sub.add_parser(kind, help=hlp)
        g.add_argument("--smp", help="QEMU -smp spec (default 4)")
        g.add_argument("--thread", choices=("single", "multi"),
                       help="TCG thread mode (default multi)")
        g.add_argument("--cmdline", help="kernel command line")
        g.add_argument("--qemu-args", default="", help="extra QEMU arguments")
        g.add_argument("--boot", help="take settings from this matrix row")
        g.add_argument("--port", type=int, default=None,
                       help="gdb stub on TCP port N of 127.0.0.1 (0: a free "
                       "one) instead of a unix socket under build/gdb/")
        g.add_argument("--timeout", type=int, default=None,
                       help="seconds (debug only; default: none)" if
                       kind == "debug" else argparse.SUPPRESS)
        g.add_argument("--kernel", dest="kernel_sub", default=None)
    t = sub.add_parser("test", help="the boot matrix")
    t.add_argument("--only", help="run boots whose name matches REGEX")
    t.add_argument("--list", action="store_true", help="list boots and exit")
    t.add_argument("--jobs", type=int, default=JOBS,
                   help="boots at once (default %d)" % JOBS)
    t.add_argument("--budget", type=int, default=GLOBAL_BUDGET,
                   help="seconds for the whole matrix (default %d)"
                   % GLOBAL_BUDGET)
    t.add_argument("--kernel", dest="kernel_sub", default=None)
    a = ap.parse_args(argv)
    if getattr(a, "kernel_sub", None):
        a.kernel = a.kernel_sub
    if a.cmd == "run":
        if a.smp is not None and a.smp.strip() == "":
            a.smp = None
        return cmd_run(a)
    if a.cmd == "bench":
        if a.smp is not None and a.smp.strip() == "":
            a.smp = None
        return cmd_bench(a)
    if a.cmd in ("gdb", "debug"):
        if a.smp is not None and a.smp.strip() == "":
            a.smp = None
        if a.cmd == "gdb":
            a.timeout = None
        return cmd_gdb(a) if a.cmd == "gdb" else cmd_debug(a)
    if a.cmd == "test":
        a.jobs = max(1, a.jobs)
        return cmd_test(a)
    ap.print_help()
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        with RUNNING_LOCK:
            for proc in list(RUNNING):
                kill_group(proc)
        sys.exit(130)

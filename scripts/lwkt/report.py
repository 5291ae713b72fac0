"""What the runner prints and writes about judged boots: the verdict line,
per-boot blocks, JUnit XML and JSON.
"""

import datetime
import os
import shlex
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from .consts import (ROOT, EXIT_CODE, ST_PASS, ST_FAIL, ST_PANIC, ST_HANG,
                     ST_ERROR)
from .checks import RETRY_BOOT_MAX
from .matrix import DEFAULT_TIMEOUT, build_flags


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


def junit_xml(results, wall=None):
    """JUnit XML of judged boots: a test failure is <failure>; a hang, a
    panic or a harness error is <error>.  Each boot is a <testsuite> with
    its start `timestamp` (r["started"], epoch seconds) and `hostname`;
    the root's time is `wall`, the whole run's wall time (default: the
    sum of the boots')."""
    root = ET.Element("testsuites")
    host = socket.gethostname()
    tot = dict(tests=0, failures=0, errors=0, skipped=0)
    for r in results:
        cases = r["outcome"].cases
        ne = sum(1 for c in cases if c.result == "fail" and c.error)
        nf = sum(1 for c in cases if c.result == "fail") - ne
        ns = sum(1 for c in cases if c.result == "skip")
        when = datetime.datetime.fromtimestamp(r.get("started", time.time()))
        s = ET.SubElement(root, "testsuite", name=r["boot"]["name"],
                          tests=str(len(cases)), failures=str(nf),
                          errors=str(ne), skipped=str(ns),
                          time="%.3f" % r["wall"],
                          timestamp=when.isoformat(timespec="seconds"),
                          hostname=host)
        props = ET.SubElement(s, "properties")
        for k, v in (("qemu", " ".join(shlex.quote(x) for x in r["cmd"])),
                     ("cmdline", r["boot"]["cmdline"]),
                     ("expect", r["boot"]["expect"]),
                     ("status", r["outcome"].status),
                     ("log", r["log"])) + tuple(
                         (k, r[k]) for k in ("ktap", "reproduce") if r.get(k)):
            ET.SubElement(props, "property", name=k, value=v)
        for c in cases:
            tc = ET.SubElement(s, "testcase", classname=r["boot"]["name"],
                               name=c.name)
            if c.time is not None:
                tc.set("time", "%.3f" % c.time)
            if c.result == "fail":
                f = ET.SubElement(tc, "error" if c.error else "failure",
                                  message=c.message or "not ok")
                f.text = "\n".join(c.diag)
            elif c.result == "skip":
                ET.SubElement(tc, "skipped", message=c.message or "")
        tot["tests"] += len(cases)
        tot["failures"] += nf
        tot["errors"] += ne
        tot["skipped"] += ns
    root.set("name", "lwkt")
    for k in ("tests", "failures", "errors", "skipped"):
        root.set(k, str(tot[k]))
    root.set("time", "%.3f" % (wall if wall is not None else
                               sum(r["wall"] for r in results)))
    if hasattr(ET, "indent"):
        ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def commit_id():
    """The checked-out commit (short), "-dirty" with local changes; None
    outside a git tree."""
    try:
        sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short",
                              "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL,
                             universal_newlines=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL).returncode
    except OSError:
        return None
    return (sha + ("-dirty" if dirty == 1 else "")) if sha else None


def make_var(name, value):
    """NAME=value for a make command line, quoted for the shell."""
    return "%s=%s" % (name, shlex.quote(value))


def reproducer(boot, seed=None, commit=None):
    """The one command that boots `boot` alone again, as `make run` takes
    it: SMP, THREAD, the kernel command line (with the seed the kernel
    reported, if the row gave none), QEMU arguments (with -machine),
    TIMEOUT, the build flags of the row's kernel variant (CRIT_DEBUG=1,
    CHAOS=1, MAXCPUFIFO=N, matrix.build_flags); then the commit."""
    cmdline = boot.get("cmdline", "")
    if seed is not None and not any(w.startswith("seed=") for w in
                                    cmdline.split()):
        cmdline = (cmdline + " seed=%d" % seed).strip()
    args = list(boot.get("args", ()))
    if boot.get("machine", "pc") != "pc":
        args = ["-machine", boot["machine"]] + args
    words = ["make", "run", make_var("SMP", str(boot.get("smp", "4"))),
             make_var("THREAD", boot.get("thread", "multi")),
             make_var("CMDLINE", cmdline)]
    if args:
        words.append(make_var("QEMU_ARGS", " ".join(args)))
    if boot.get("timeout", DEFAULT_TIMEOUT) != DEFAULT_TIMEOUT:
        words.append(make_var("TIMEOUT", str(boot["timeout"])))
    words += build_flags(boot.get("kernel"))
    line = " ".join(words)
    return line + ("  # commit %s" % commit if commit else "")


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
        ktap=r.get("ktap"), reproduce=r.get("reproduce"),
        suites=[su.to_json() for su in p.suites],
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
        if r.get("reproduce"):
            print("   reproduce: %s" % r["reproduce"])
    sys.stdout.flush()

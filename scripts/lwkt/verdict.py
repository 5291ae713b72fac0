"""A boot's verdict: the parsed output, QEMU's exit and the row's
expectation turned into an Outcome (status, reasons, JUnit cases).
"""

import re

from .consts import (QEMU_PASS, QEMU_FAIL, QEMU_PANIC, QEMU_RESET, ST_PASS,
                     ST_FAIL, ST_PANIC, ST_HANG, ST_ERROR, EXIT_CODE)
from .matrix import PASS, LIST, PANIC, TIMEOUT
from .checks import (Case, RETRY_BOOT_MAX, selection_problems,
                     console_problems, plan_problems)
from .ktap import FAIL_DIAG_RE


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
        if not any(r.timeout for r in p.results):
            checks.append("no result line 'not ok N NAME # TIMEOUT'")
        checks += regex_problems(boot, text)
        if checks:
            cases.append(Case("%s.timeout_report" % name, "fail", checks[0],
                              checks[1:] + p.panic_lines[:3],
                              error=timed_out))
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
        if r.timeout:
            msg = "TIMEOUT: the test did not finish within test.timeout"
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
        cases.append(Case("%s.harness" % name, "fail", start_error,
                          error=True))
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
                              checks[0], checks[1:] + p.panic_lines[:3],
                              error=timed_out))
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
                          "fail", msg, diag[1:], error=True))
        fail({"hang": ST_HANG}.get(kind, ST_PANIC), msg)
        return Outcome(status, reasons, cases, guest)

    # QEMU exited by itself, not by a crash.
    if guest not in ("pass", "fail"):
        why = "QEMU exited with unexpected status %s" % qemu_status
        cases.append(Case("%s.harness" % name, "fail", why, error=True))
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
        for c in plan_problems(name, p):
            cases.append(c)
            fail(ST_FAIL, "%s: %s" % (c.name, c.message))
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


def judge_run(boot, br, registry=None):
    return judge(boot, br.parser, br.qemu_status, br.timed_out, br.timeout,
                 br.start_error, registry)

"""The honesty checks a boot must pass besides its KTAP results: the plan
against the kernel's test.list, the console line counts, retries, and the
determinism diff of twin rows.  judge() (verdict.py) calls them.
"""

import re
import shlex

from .ktap import BANNER_RE, TESTLIST_RE


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


class Case(object):
    """One JUnit testcase / one printed line."""

    def __init__(self, name, result, message="", diag=(), time=None):
        self.name = name
        self.result = result          # "pass", "fail" or "skip"
        self.message = message
        self.diag = list(diag)
        self.time = time


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

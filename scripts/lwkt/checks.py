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

    def __init__(self, name, result, message="", diag=(), time=None,
                 error=False):
        self.name = name
        self.result = result          # "pass", "fail" or "skip"
        self.error = error            # a failure that is a hang, panic or
                                      # harness error (JUnit <error>)
        self.message = message
        self.diag = list(diag)
        self.time = time


def suite_plans(names):
    """[(suite, number of tests)] of a run of test names in KTAP order:
    the suites the kernel nests, one per run of the same suite."""
    out = []
    for n in names:
        suite = n.split(".", 1)[0]
        if out and out[-1][0] == suite:
            out[-1] = (suite, out[-1][1] + 1)
        else:
            out.append((suite, 1))
    return out


def plan_problems(name, p):
    """Cases for what the plans announce and the result lines do not
    deliver: a planned test or suite without its result line, more
    results than planned, a suite without a plan, and a suite result
    (or its "# SUITE: pass:.." line) that disagrees with its tests."""
    out = []
    if not p.nested():
        for n, tname in p.missing():
            out.append(Case(tname or "%s.test#%d" % (name, n), "fail",
                            "no result line for test %d (plan 1..%d)"
                            % (n, p.plan)))
        if len(p.results) > p.plan:
            out.append(Case("%s.ktap_plan" % name, "fail",
                            "%d result lines for plan 1..%d"
                            % (len(p.results), p.plan)))
        return out
    for su in p.suites:
        if su.plan is None:
            out.append(Case("%s.ktap_plan" % name, "fail", "suite %d (%s) "
                            "printed no plan" % (su.n, su.name)))
            continue
        for k in range(1, su.plan + 1):
            if k not in {r.k for r in su.tests}:
                tname = p.started.get(su.base + k, (None,))[0]
                out.append(Case(tname or "%s.%s.test#%d" % (
                    name, su.name, k), "fail", "no result line for test %d "
                    "of suite %s (plan 1..%d)" % (k, su.name, su.plan)))
        if len(su.tests) > su.plan:
            out.append(Case("%s.ktap_plan" % name, "fail", "%d result lines"
                            " in suite %s for plan 1..%d"
                            % (len(su.tests), su.name, su.plan)))
        got = tuple(sum(1 for r in su.tests if r.result == k)
                    for k in ("pass", "fail", "skip"))
        if su.result is not None and len(su.tests) == su.plan:
            want = "fail" if got[1] else ("skip" if got[2] == len(su.tests)
                                          else "pass")
            if su.result != want:
                out.append(Case("%s.suite_result:%s" % (name, su.name),
                                "fail", "suite %d (%s) reports %s, its tests"
                                " say %s" % (su.n, su.name, su.result, want)))
        if su.totals is not None and su.totals != got:
            out.append(Case("%s.suite_totals:%s" % (name, su.name), "fail",
                            "suite %s totals pass:%d fail:%d skip:%d disagree"
                            " with its results (pass:%d fail:%d skip:%d)"
                            % ((su.name,) + su.totals + got)))
    for n in range(len(p.top) + 1, p.plan + 1):
        opened = n <= len(p.suites)
        out.append(Case("%s.suite#%d" % (name, n), "fail", "no result line "
                        "for suite %d%s (plan 1..%d)" % (
                            n, (" (%s)" % p.suites[n - 1].name) if opened
                            else ", never started", p.plan)))
    if len(p.top) > p.plan:
        out.append(Case("%s.ktap_plan" % name, "fail", "%d suite result "
                        "lines for plan 1..%d" % (len(p.top), p.plan)))
    return out


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
    if not p.nested() and p.plan != len(want):
        out.append(("plan_vs_list", "plan 1..%d, but the command line "
                    "selects %d test run(s) of those test.list registers"
                    % (p.plan, len(want))))
    if p.nested():
        # The kernel nests each repetition's suites anew: a suite whose
        # tests all ran in one repetition is still one subtest per run.
        repeat = cmdline_selection(boot.get("cmdline", ""))[1]
        plans = suite_plans(want[:len(want) // repeat]) * repeat
        if p.plan != len(plans):
            out.append(("plan_vs_list", "plan 1..%d, but the command line "
                        "selects %d suite run(s) (suites with a selected "
                        "test, times repeat) of those test.list registers"
                        % (p.plan, len(plans))))
        bad = ["suite %d is %s 1..%s, the selection says %s 1..%d"
               % (su.n, su.name, su.plan, plans[su.n - 1][0],
                  plans[su.n - 1][1]) for su in p.suites
               if su.n <= len(plans) and (su.name, su.plan) !=
               plans[su.n - 1]]
        if bad:
            out.append(("plan_vs_list", "%d suite plan(s) differ from the "
                        "selection" % len(bad)) + tuple(bad[:10]))
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


def det_normal(lines):
    """A log's kernel lines: from the kernel banner on (GRUB's screen
    before it is not the kernel's).  Two boots of a deterministic row (same
    kernel, command line and seed, -icount) must agree on every one of
    them, numbers included (docs/testing.md, "Determinism")."""
    for i, line in enumerate(lines):
        if BANNER_RE.search(line):
            return list(lines[i:])
    return list(lines)


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

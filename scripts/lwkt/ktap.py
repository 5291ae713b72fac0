"""KTAP parsing of the guest's serial output (KTAP version 1, KUnit style).

The kernel nests each suite as a subtest: an indented "KTAP version 1",
"# Subtest: SUITE", the suite's plan and its tests' results (numbered from
1 in each suite), then the suite's own result line at the top level.  A
result line that closes a subtest is a suite's; any other is a test's,
named "SUITE.name" after the subtest it is in (a document without
subtests is flat: its results are tests).  Only this module reads KTAP
lines; checks and reports work on what the parser recorded.
"""

import re

from .benchline import parse_bench


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
CONSOLE_RE = re.compile(
    r"^console: lines((?: cpu\d+:\d+)+(?: more:\d+)?) total:(\d+)$")
FAIL_DIAG_RE = re.compile(r"^FAIL\b")
# The kernel's first console output is "\nLWKT i386 SMP kernel\n"
# (arch/i386/machdep.c): its console line count starts with the line
# that "\n" ends, the one before the banner.
BANNER_RE = re.compile(r"LWKT i386 SMP kernel$")
TESTLIST_RE = re.compile(r"^test\.list: (\S+)(.*)$")
FIRST_TEST_RE = re.compile(r"^boot: first test at (\d+(?:\.\d+)?) ms")
SKIP_RE = re.compile(r"^SKIP\b\s*(.*)$", re.I)
TIMEOUT_RE = re.compile(r"^TIMEOUT\b")
SUBTEST_RE = re.compile(r"^Subtest:\s*(\S+)")
SUITE_TOTALS_RE = re.compile(
    r"^(\S+): pass:(\d+) fail:(\d+) skip:(\d+) total:(\d+)$")
INDENT = 4                    # spaces per subtest level
SEED_RE = re.compile(r"^seed (\d+), repeat (\d+)")
PANIC_RE = re.compile(r"^panic:")
CMDLINE_RE = re.compile(r"^cmdline:")
BENCH_RE = re.compile(r"^\s*#\s?bench:(.*)$")


def clean_line(raw):
    """A serial line without escape sequences, CR or other control bytes."""
    return CTRL_RE.sub("", ANSI_RE.sub("", raw)).rstrip()


def indent_of(line):
    """(subtest depth, the line without its indentation): depth 1 for a
    line indented by INDENT or more spaces (suites nest one level)."""
    body = line.lstrip(" ")
    return (1 if len(line) - len(body) >= INDENT else 0), body


class Suite(object):
    """One nested subtest (a suite run): header to its result line."""

    def __init__(self, n, base):
        self.n = n                    # its place among the top-level results
        self.name = None              # from "# Subtest:"
        self.plan = None              # its "1..M"
        self.base = base              # test results before it in the boot
        self.tests = []               # TestResult, in arrival order
        self.result = None            # "pass", "fail", "skip" once closed
        self.reason = ""
        self.printed_n = None         # the number on its result line
        self.totals = None            # "# SUITE: pass:.." (pass, fail, skip)

    def to_json(self):
        return dict(n=self.n, name=self.name, plan=self.plan,
                    result=self.result, tests=len(self.tests))


class TestResult(object):
    def __init__(self, n, name, result, diag, reason="", time=None, k=None,
                 timeout=False):
        self.n = n                    # running number in the boot
        self.k = n if k is None else k    # the number printed (in a suite)
        self.timeout = timeout        # "not ok ... # TIMEOUT"
        self.name = name
        self.result = result          # "pass", "fail" or "skip"
        self.diag = diag              # the test's "# " lines
        self.reason = reason          # skip reason / directive text
        self.time = time              # host seconds start->result, if known

    def to_json(self):
        d = dict(n=self.n, name=self.name, result=self.result, diag=self.diag)
        if self.reason:
            d["reason"] = self.reason
        if self.timeout:
            d["timeout"] = True
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
        self.plan = None              # the top-level plan
        self.results = []             # TestResult, in arrival order
        self.suites = []              # Suite, in arrival order (nested)
        self.suite = None             # the Suite open now
        self.top = []                 # top-level results: Suite or
                                      # TestResult (flat), in order
        self.started = {}             # n -> (name, t)
        self.current = None           # (n, name) started, no result yet
        self.uses_start = False       # the kernel prints "# start" lines
        self.last_result = None       # name of the latest result
        self.pending = []             # diags not yet attributed
        self.general = []             # diags attributed to no test
        self.totals = None            # (pass, fail, skip)
        self.seed = None              # "# seed N, repeat R, ..."
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
        if m and not SUITE_TOTALS_RE.match(line.lstrip(" #")):
            self._bench(line, m.group(1))   # not the bench suite's totals
        depth, body = indent_of(line)
        if HEADER_RE.match(body):
            if depth == 0:
                self.in_ktap = True
            elif self.in_ktap:
                self.suite = Suite(len(self.top) + 1, len(self.results))
                self.suites.append(self.suite)
            return
        if not self.in_ktap:
            return
        m = PLAN_RE.match(body)
        if m:
            if depth and self.suite is not None and self.suite.plan is None:
                self.suite.plan = int(m.group(1))
            elif not depth and self.plan is None:
                self.plan = int(m.group(1))
            return
        m = RESULT_RE.match(body)
        if m:
            if depth == 0 and self.suite is not None:
                self._close_suite(m)
            else:
                self._result(m, t)
            return
        m = DIAG_RE.match(body)
        if m:
            sm = SUBTEST_RE.match(m.group(1))
            if depth and sm and self.suite is not None and \
                    self.suite.name is None:
                self.suite.name = sm.group(1)
                return
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
        m = SEED_RE.match(text)
        if m and self.seed is None:
            self.seed = int(m.group(1))
        m = TOTALS_RE.match(text)
        if m:
            self.totals = tuple(int(x) for x in m.groups())
            return
        m = CONSOLE_RE.match(text)
        if m and self.console is None:
            # CPUs that wrote no line are left out; "more:M" sums the
            # CPUs that did not fit the line (kept under cpu -1).
            per_cpu = dict((int(c), int(n)) for c, n in
                           re.findall(r"cpu(\d+):(\d+)", m.group(1)))
            more = re.search(r"more:(\d+)", m.group(1))
            if more:
                per_cpu[-1] = int(more.group(1))
            self.console = (per_cpu, int(m.group(2)), len(self.lines) - 1)
            return
        m = SUITE_TOTALS_RE.match(text)
        if m:
            for su in reversed(self.suites):
                if su.name == m.group(1):
                    su.totals = tuple(int(x) for x in m.groups()[1:4])
                    break
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

    @staticmethod
    def _verdict(m):
        """(result, reason, timed out) of a result line's match."""
        directive = (m.group(4) or "").strip()
        sm = SKIP_RE.match(directive)
        if sm:
            return "skip", sm.group(1).strip(), False
        result = "pass" if m.group(1) == "ok" else "fail"
        return result, directive, bool(TIMEOUT_RE.match(directive)) and \
            result == "fail"

    def _result(self, m, t):
        k = int(m.group(2))
        name = (m.group(3) or "").strip()
        su = self.suite
        if su is None:                # flat KTAP: the printed number
            n = k
        elif self.current is not None and (
                self.current[1] == name or
                self.current[1] == "%s.%s" % (su.name, name)):
            n = self.current[0]       # "# start N" numbers the whole boot
        else:
            n = len(self.results) + 1
        if name and su is not None and su.name and \
                not name.startswith(su.name + "."):
            name = "%s.%s" % (su.name, name)
        if not name:
            name = self.started.get(n, ("test#%d" % n,))[0]
        result, reason, timeout = self._verdict(m)
        dur = None
        if n in self.started and t is not None and self.started[n][1] is not None:
            dur = t - self.started[n][1]
        r = TestResult(n, name, result, self.pending, reason, dur, k, timeout)
        self.results.append(r)
        if su is not None:
            su.tests.append(r)
        else:
            self.top.append(r)
        self.pending = []
        self.current = None
        self.last_result = name
        for b in self.bench_unnamed:
            b.test = name
        self.bench_unnamed = []
        self._mark_first(t)

    def _close_suite(self, m):
        su = self.suite
        su.result, su.reason, _ = self._verdict(m)
        su.printed_n = int(m.group(2))
        if su.name is None:
            su.name = (m.group(3) or "").strip() or "suite#%d" % su.n
        self.top.append(su)
        self.suite = None

    # -- queries ---------------------------------------------------------
    def last_started(self):
        """Name of the test started but not finished, else None."""
        return self.current[1] if self.current else None

    def missing(self):
        """[(n, name or None)] tests a plan announced with no result line:
        the top-level plan's in a flat document, each suite plan's in a
        nested one (n numbers the whole boot)."""
        if not self.suites:
            if self.plan is None:
                return []
            seen = {r.n for r in self.results}
            return [(n, self.started.get(n, (None,))[0])
                    for n in range(1, self.plan + 1) if n not in seen]
        out = []
        for su in self.suites:
            seen = {r.k for r in su.tests}
            for k in range(1, (su.plan or 0) + 1):
                if k not in seen:
                    n = su.base + k
                    out.append((n, self.started.get(n, (None,))[0]))
        return out

    def nested(self):
        """True if the document nests suites as subtests."""
        return bool(self.suites)

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

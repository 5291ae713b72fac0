"""KTAP parsing of the guest's serial output (KTAP version 1, KUnit style:
each suite a nested subtest).  Only this module reads KTAP lines; checks
and reports work on what the parser recorded.
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

"""A boot's KTAP document alone (build/logs/<boot>.ktap) and the check that
a TAP consumer from Debian's archive (Perl's TAP::Parser, as `prove` uses)
reads the counts the runner read.

A plain TAP consumer does not know KTAP's nesting: the indented subtests
are unknown lines to it, so it sees the top-level results only - the
suites (or, in a flat document, the tests).  The comparison is made at
that level: plan, results, failures and skips.
"""

import os
import subprocess

from .checks import Case
from .ktap import DIAG_RE, HEADER_RE, INDENT, PLAN_RE, RESULT_RE, indent_of

# Reads a TAP document on stdin; prints what TAP::Parser counted.
PERL_TAP = r"""
use strict; use TAP::Parser;
my $tap = do { local $/; <STDIN> };
my $p = TAP::Parser->new({ tap => $tap });
while (defined $p->next) {}
printf "planned=%s run=%d failed=%d skipped=%d parse_errors=%d\n",
    $p->tests_planned // -1, $p->tests_run, scalar($p->failed),
    scalar($p->skipped), scalar($p->parse_errors);
"""


def ktap_document(lines):
    """The KTAP document in a boot's cleaned serial lines: from the first
    top-level "KTAP version" line to the end.  A line that is not KTAP
    where it stands (another CPU's kprintf, a panic report, a line at an
    odd indentation) becomes a diagnostic at the current subtest's
    indentation, so the document stays valid KTAP (and TAP).  Returns []
    if the boot printed no KTAP."""
    out, depth, started = [], 0, False
    for line in lines:
        d, body = indent_of(line)
        if not started:
            if d == 0 and line == body and HEADER_RE.match(body):
                out.append(body)
                started = True
            continue
        if not body:
            continue
        exact = len(line) - len(body) == d * INDENT
        if exact and d == 1 and HEADER_RE.match(body):
            depth = 1
        elif exact and d == 0 and RESULT_RE.match(body):
            depth = 0
        elif not (exact and (DIAG_RE.match(body) or (d == depth and (
                PLAN_RE.match(body) or RESULT_RE.match(body))))):
            line = " " * (depth * INDENT) + "# " + body
        out.append(line)
    return out


def write_ktap(name, lines, logdir):
    """build/logs/<name>.ktap: the boot's KTAP document alone (tap.py).
    Returns (path, text), or None (and no file) without KTAP."""
    path = os.path.join(logdir, "%s.ktap" % name)
    doc = ktap_document(lines)
    if not doc:
        try:
            os.unlink(path)
        except OSError:
            pass
        return None
    text = "\n".join(doc) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return path, text


def runner_counts(p):
    """(plan, run, failed, skipped) at the level a plain TAP consumer sees:
    the top-level result lines as the runner parsed them."""
    top = [(t.result) for t in p.top]
    return (p.plan if p.plan is not None else -1, len(top),
            top.count("fail"), top.count("skip"))


def consumer_counts(text, perl="perl"):
    """(plan, run, failed, skipped) as TAP::Parser reads `text`, or a
    string saying why it could not be read."""
    try:
        r = subprocess.run([perl, "-e", PERL_TAP], input=text,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s's TAP::Parser: %s" % (perl, e)
    got = dict(w.split("=", 1) for w in r.stdout.split() if "=" in w)
    try:
        return tuple(int(got[k]) for k in
                     ("planned", "run", "failed", "skipped"))
    except (KeyError, ValueError):
        return "TAP::Parser gave no counts (exit %d): %s" % (
            r.returncode, (r.stderr.strip().splitlines() or [""])[-1])


def tap_consumer_case(name, p, text, perl="perl"):
    """The <boot>.tap_consumer case: TAP::Parser's counts of the .ktap
    document against the runner's."""
    cname = "%s.tap_consumer" % name
    want = runner_counts(p)
    got = consumer_counts(text, perl)
    if isinstance(got, str):
        return Case(cname, "fail", got, error=True)
    if got != want:
        return Case(cname, "fail", "TAP::Parser read plan %d, %d result(s), "
                    "%d failed, %d skipped; the runner read plan %d, %d, %d, "
                    "%d" % (got + want))
    return Case(cname, "pass")

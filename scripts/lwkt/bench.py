"""`bench`: one -icount boot of the bench.* tests, its "# bench:" lines
judged and written to build/bench.json and a table.
"""

import json
import os

from .consts import BUILD, EXIT_CODE, ST_PASS, ST_FAIL, ST_ERROR
from .matrix import Boot, PASS
from .checks import Case
from .verdict import judge
from .qemu import kernel_sha256
from .live import boot_live
from .report import print_failures, verdict_line


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

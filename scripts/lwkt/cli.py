"""The command line: argparse and the subcommands run, bench, test, soak,
gdb and debug (scripts/runner.py calls main()).
"""

import argparse
import os

from .consts import BUILD
from .matrix import DEFAULT_TIMEOUT, JOBS, GLOBAL_BUDGET
from .bench import BENCH_SMP, BENCH_TESTS, BENCH_TIMEOUT, cmd_bench
from .gdbstub import cmd_gdb, cmd_debug
from .live import cmd_run
from .qemu import RUNNING, RUNNING_LOCK, kill_group
from .testrun import cmd_test
from .soak import cmd_soak


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
                   help="boots at once (default %d: the host's cores)" % JOBS)
    t.add_argument("--failed", action="store_true",
                   help="only the boots that failed last time "
                   "(build/last-failed.json)")
    t.add_argument("--budget", type=int, default=GLOBAL_BUDGET,
                   help="seconds for the whole matrix (default %d)"
                   % GLOBAL_BUDGET)
    t.add_argument("--kernel", dest="kernel_sub", default=None)
    s = sub.add_parser("soak", help="N boots of configurations drawn from "
                       "a seed (make soak); results to build/soak.json")
    s.add_argument("--n", type=int, default=500, help="boots (default 500)")
    s.add_argument("--jobs", type=int, default=2,
                   help="boots at once (default 2)")
    s.add_argument("--seed", type=int, help="seed of the configurations "
                   "(default: a random one, printed)")
    s.add_argument("--smp", type=int, help="every boot with this many CPUs "
                   "(default: drawn, 1-16)")
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
    if a.cmd == "soak":
        a.jobs, a.n = max(1, a.jobs), max(1, a.n)
        return cmd_soak(a)
    ap.print_help()
    return 2


def entry():
    """main() with ^C: every QEMU still running is killed."""
    try:
        return main()
    except KeyboardInterrupt:
        with RUNNING_LOCK:
            for proc in list(RUNNING):
                kill_group(proc)
        return 130

"""`run`: one boot, the guest's serial output echoed as it arrives, then
judged like a matrix row.
"""

import os
import sys

from .consts import BUILD, EXIT_CODE, ST_ERROR
from .matrix import PASS, boot_from_args
from .qemu import AnsiFilter, build_iso, qemu_command, run_qemu, test_registry
from .verdict import judge_run
from .tap import write_ktap
from .report import print_failures, verdict_line


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
    write_ktap(boot["name"], br.parser.lines, os.path.dirname(log_path))
    out.write(b"\n")
    out.flush()
    return br, log_path

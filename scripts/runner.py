#!/usr/bin/env python3
"""Host test runner: boots the kernel under QEMU and judges its KTAP output.

The entry point only: the code is the package scripts/lwkt/ (one job per
module, docs/testing.md).  Its public names are re-exported here for
scripts/gdb_test.py and scripts/test_runner.py.

Usage (from the top of the tree; `make run` / `make test` call these):

  runner.py run [--smp SPEC] [--cmdline "..."] [--timeout S]
                [--qemu-args "..."] [--thread single|multi] [--boot NAME]
      One boot, guest serial streamed live.  Exit status:
        0 all selected tests passed      1 some test failed
        2 kernel panic / CPU reset       3 hang (host timeout)
        4 harness error (QEMU did not start, or no KTAP plan)
      --boot NAME takes smp, thread, args, cmdline and the expected outcome
      from the boot matrix below (other options then override it).

  runner.py bench [--smp SPEC] [--cmdline "..."] [--timeout S]
                  [--qemu-args "..."] [--out build/bench.json]
      One boot under -icount shift=0 (single-threaded TCG; rdtsc counts
      guest instructions) with kernel command line "test=bench.* ...",
      default -smp 4.  Lines "# bench: name=ID value=N unit=U [k=v ...]"
      become build/bench.json and a table.  Exit status as for run, and 1
      if the boot passed but printed no bench line.

  runner.py test [--only REGEX] [--failed] [--list] [--jobs N] [--budget S]
      The boot matrix (scripts/lwkt/rows.py), up to N boots at once
      (default: the host's cores; solo rows alone).  Prints each boot's
      block as it finishes and a progress line; a failed boot ends with
      the `make run ...` line that reproduces it alone.  Writes
      build/test-results.xml (JUnit), build/test-results.json,
      build/logs/<boot>.log (serial) and <boot>.ktap (its KTAP alone);
      the last line is "N passed, N failed".  --failed: only the boots
      build/last-failed.json lists (make test FAILED=1).
      Exit 0 only if every boot met its expectation.  Besides KTAP, a
      PASS boot must: have no '# FAIL' under an 'ok', discard at most
      RETRY_BOOT_MAX attempts ('# retry:'), plan what its command line
      selects from a (cached) test.list boot of its kernel, and deliver
      every console line the kernel counted; a `twin` row must repeat its
      first boot's log; Perl's TAP::Parser must read its .ktap's counts
      (docs/testing.md).  `run` applies the same checks but the last.

  runner.py soak [--n N] [--jobs J] [--seed S] [--smp CPUS]
      N boots (default 500, J at once, default 2) whose configurations are
      drawn from seed S (default: a random one, printed): scripts/lwkt/
      soak.py and docs/testing.md "Soak".  Writes build/soak.json and
      build/soak/logs/; exit 0 only if every boot passed.

  runner.py gdb [--smp SPEC] [--cmdline "..."] [--thread ...]
                [--qemu-args "..."] [--port N]
      QEMU paused at its first instruction (-S) with its gdb stub on a
      unix socket of its own under build/gdb/ (--port N: TCP port N on
      127.0.0.1, 0 = a free one), then gdb in this terminal, connected,
      with scripts/gdb/lwkt.py loaded (`lwkt ...` commands).  The guest's
      serial output goes to a file in that directory.  QEMU is killed
      when gdb exits.

  runner.py debug [same options as gdb] [--timeout S]
      Only QEMU, paused and waiting for a debugger; prints the gdb command
      to attach from another terminal, then streams the serial output and
      judges the run like `run` (no host timeout unless --timeout).

  All take --kernel ELF (default build/kernel.elf).  ISOs are built by
  scripts/mkiso into build/iso/<hash>.iso and reused while the kernel and
  command line are unchanged.  $QEMU overrides the emulator binary.

Guest contract: QEMU's isa-debug-exit status is (value << 1) | 1; the kernel
writes 0x10 pass (33), 0x11 some test failed (35), 0x12 panic (37).  With
-no-reboot a triple fault makes QEMU exit 0: treated as a crash.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lwkt.consts import *      # noqa: E402,F401,F403
from lwkt.matrix import *      # noqa: E402,F401,F403
from lwkt.rows import *        # noqa: E402,F401,F403
from lwkt.benchline import *   # noqa: E402,F401,F403
from lwkt.ktap import *        # noqa: E402,F401,F403
from lwkt.checks import *      # noqa: E402,F401,F403
from lwkt.verdict import *     # noqa: E402,F401,F403
from lwkt.qemu import *        # noqa: E402,F401,F403
from lwkt.report import *      # noqa: E402,F401,F403
from lwkt.tap import *         # noqa: E402,F401,F403
from lwkt.live import *        # noqa: E402,F401,F403
from lwkt.bench import *       # noqa: E402,F401,F403
from lwkt.gdbstub import *     # noqa: E402,F401,F403
from lwkt.testrun import *     # noqa: E402,F401,F403
from lwkt.soak import *        # noqa: E402,F401,F403
from lwkt.cli import main, entry   # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(entry())

"""Unit tests for `make soak` (scripts/lwkt/soak.py): the configurations a
seed draws, the boots and kernels they map to, the fallback when a kernel
variant cannot be built, the summary, build/soak.json and ^C.

Run from the top of the tree:  python3 -m unittest scripts/test_soak.py
Nothing here starts QEMU or make: those calls are replaced.
"""

import _thread
import collections
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest
from contextlib import redirect_stdout
from types import SimpleNamespace
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lwkt import soak  # noqa: E402
from lwkt.consts import ST_PASS, ST_FAIL  # noqa: E402
from lwkt.matrix import DET_ARGS  # noqa: E402
from lwkt.qemu import BootRun  # noqa: E402
from lwkt.report import reproducer  # noqa: E402
from lwkt.verdict import Outcome  # noqa: E402
from lwkt.checks import Case  # noqa: E402

SUITES = ["boot", "ipiq", "token", "sched"]
REGISTRY = [("boot.a", False), ("ipiq.b", False), ("bench.c", True),
            ("token.d", False), ("selftest.e", True), ("sched.f", False)]


def cfg(**kw):
    c = dict(cpus=4, tcg="single", chaos=None, untimely=0, hz=100,
             fifo=32, tests="all", repeat=1, seed=7)
    c["chaos.rate"] = None
    c.update(kw)
    return c


class TestDraw(unittest.TestCase):
    def test_same_seed_same_list(self):
        a = soak.draw_configs(42, 50, SUITES)
        self.assertEqual(a, soak.draw_configs(42, 50, SUITES))
        self.assertNotEqual(a, soak.draw_configs(43, 50, SUITES))
        # a longer run starts with the shorter run's configurations
        self.assertEqual(a[:20], soak.draw_configs(42, 20, SUITES))

    def test_smp_fixes_cpus_only(self):
        a = soak.draw_configs(5, 40, SUITES)
        b = soak.draw_configs(5, 40, SUITES, smp=3)
        self.assertTrue(all(c["cpus"] == 3 for c in b))
        for x, y in zip(a, b):
            x = dict(x, cpus=3)
            self.assertEqual(x, y)

    def test_every_dimension_varies(self):
        cs = soak.draw_configs(1, 2000, SUITES)
        self.assertEqual({c["cpus"] for c in cs}, set(range(1, 17)))
        self.assertEqual({c["tcg"] for c in cs}, {"single", "multi", "det"})
        self.assertEqual({c["hz"] for c in cs}, {25, 100, 250, 1000})
        self.assertEqual({c["fifo"] for c in cs}, {8, 16, 32, 64})
        self.assertEqual({c["untimely"] for c in cs}, {0, 1})
        self.assertEqual({c["repeat"] for c in cs}, {1, 2, 3})
        self.assertEqual({c["chaos.rate"] for c in cs}, {None, 16, 64, 256})
        chaos = [c for c in cs if c["chaos"] is not None]
        self.assertTrue(0.2 < len(chaos) / len(cs) < 0.4)
        self.assertTrue(all(c["chaos.rate"] is None for c in cs
                            if c["chaos"] is None))
        # weighted toward small machines: most boots have at most 4 CPUs
        small = sum(c["cpus"] <= 4 for c in cs)
        self.assertTrue(small / len(cs) > 0.55)
        self.assertTrue(sum(c["cpus"] > 8 for c in cs) / len(cs) < 0.2)
        subsets = [c for c in cs if c["tests"] != "all"]
        self.assertTrue(subsets and len(subsets) < len(cs))
        for c in subsets:
            names = [p[:-2] for p in c["tests"].split(",")]
            self.assertTrue(1 <= len(names) <= soak.SUBSET_MAX)
            self.assertEqual(names, [s for s in SUITES if s in names])
        self.assertTrue(all(c["repeat"] == 1 for c in cs
                            if c["tests"] == "all"))

    def test_weights_cover_1_to_16(self):
        self.assertEqual([v for v, _ in soak.CPU_WEIGHTS], list(range(1, 17)))

    def test_soak_suites_skip_manual_and_bench(self):
        self.assertEqual(soak.soak_suites(REGISTRY),
                         ["boot", "ipiq", "token", "sched"])


class TestBoot(unittest.TestCase):
    def test_variant_paths(self):
        self.assertEqual(soak.variant(cfg()), ((), "build/kernel.elf"))
        self.assertEqual(soak.variant(cfg(fifo=8)), (
            ("MAXCPUFIFO=8",), "build/fifo8/kernel.elf"))
        self.assertEqual(soak.variant(cfg(chaos=5, fifo=64)), (
            ("CHAOS=1", "MAXCPUFIFO=64"), "build/chaos-fifo64/kernel.elf"))
        self.assertEqual(soak.variant(cfg(chaos=5))[1],
                         "build/chaos/kernel.elf")

    def test_reproducer_names_the_build(self):
        b = soak.soak_boot(3, cfg(chaos=9, fifo=8, tcg="det",
                                  **{"chaos.rate": 64}),
                           soak.variant(cfg(chaos=9, fifo=8))[1])
        line = reproducer(b, None, "abc1234")
        self.assertRegex(line, r"^make run SMP=4 THREAD=single CMDLINE='"
                         r"expect\.ncpus=4 seed=7 chaos=9 chaos\.rate=64 "
                         r"test\.noretry' QEMU_ARGS='-icount shift=0,"
                         r"sleep=off -rtc clock=vm' TIMEOUT=\d+ CHAOS=1 "
                         r"MAXCPUFIFO=8  # commit abc1234$")

    def test_cmdline(self):
        self.assertEqual(soak.cmdline(cfg()), "expect.ncpus=4 seed=7")
        self.assertEqual(
            soak.cmdline(cfg(cpus=2, tcg="det", tests="ipiq.*,token.*",
                             repeat=2, hz=25, untimely=1, chaos=99,
                             **{"chaos.rate": 64})),
            "expect.ncpus=2 seed=7 test=ipiq.*,token.* repeat=2 hz=25 "
            "untimely_switch=1 chaos=99 chaos.rate=64 test.noretry")

    def test_boot_rows(self):
        b = soak.soak_boot(12, cfg(tcg="det", cpus=3), "k.elf")
        self.assertEqual((b["name"], b["smp"], b["thread"], b["kernel"],
                          b["expect"]), ("soak-0012", "3", "single",
                                         "k.elf", "pass"))
        self.assertEqual(b["args"], DET_ARGS.split())
        self.assertFalse(b["solo"])
        self.assertIn(r"^cmdline:", b["forbid"])
        self.assertTrue(soak.soak_boot(1, cfg(tcg="multi", cpus=8),
                                       "k")["solo"])
        self.assertFalse(soak.soak_boot(1, cfg(tcg="single", cpus=16),
                                        "k")["solo"])

    def test_timeouts_scale(self):
        t = soak.boot_timeout
        self.assertGreater(t(cfg(tcg="multi", cpus=16)),
                           t(cfg(tcg="single", cpus=16)))
        self.assertGreaterEqual(t(cfg(tcg="multi", cpus=16)), 400)
        self.assertGreater(t(cfg(cpus=8)), t(cfg(cpus=2)))
        self.assertGreater(t(cfg(chaos=1, **{"chaos.rate": 256})),
                           t(cfg(chaos=1, **{"chaos.rate": 16})))
        self.assertGreater(t(cfg(untimely=1)), t(cfg()))
        self.assertEqual(t(cfg(repeat=3, tests="a.*")), 3 * t(cfg()))
        self.assertGreaterEqual(t(cfg(cpus=1)), 60)


class TestBuild(unittest.TestCase):
    def run_make(self, rules):
        """build_variants with a fake make that has a rule only for the
        kernel paths in `rules`."""
        calls = []

        def fake(cmd, **kw):
            calls.append(cmd)
            ok = cmd[-1] in rules
            return SimpleNamespace(returncode=0 if ok else 2,
                                   stdout="" if ok else "make: *** No rule")
        cs = [cfg(chaos=3, fifo=8, **{"chaos.rate": 64}), cfg(fifo=16), cfg()]
        out = io.StringIO()
        with mock.patch.object(soak.subprocess, "run", fake), \
                redirect_stdout(out):
            got = soak.build_variants(cs)
        return got, calls, out.getvalue()

    def test_all_buildable(self):
        rules = {"build/kernel.elf", "build/fifo16/kernel.elf",
                 "build/chaos-fifo8/kernel.elf"}
        got, calls, out = self.run_make(rules)
        self.assertEqual([c["fifo"] for c in got], [8, 16, 32])
        built = [c[-1] for c in calls if "-n" not in c]
        self.assertEqual(sorted(built), sorted(rules))
        self.assertTrue(all("CHAOS=1" in c for c in calls
                            if c[-1].startswith("build/chaos")))

    def test_built_kernels_not_made_again(self):
        calls = []

        def fake(cmd, **kw):
            calls.append(cmd)
            return SimpleNamespace(returncode=0, stdout="")
        with mock.patch.object(soak.subprocess, "run", fake), \
                redirect_stdout(io.StringIO()):
            soak.build_variants([cfg(), cfg(fifo=16)],
                                [((), "build/kernel.elf")])
        self.assertEqual([c[-1] for c in calls if "-n" not in c],
                         ["build/fifo16/kernel.elf"])

    def test_no_variant_rules_fall_back(self):
        got, calls, out = self.run_make({"build/kernel.elf"})
        self.assertEqual([(c["chaos"], c["chaos.rate"], c["fifo"])
                          for c in got], [(None, None, 32)] * 3)
        self.assertIn("make -n CHAOS=1 build/chaos-fifo8/kernel.elf fails "
                      "(make: *** No rule): its boots run with chaos off",
                      out)
        self.assertIn("make -n MAXCPUFIFO=16 build/fifo16/kernel.elf fails",
                      out)
        built = {c[-1] for c in calls if "-n" not in c}
        self.assertEqual(built, {"build/kernel.elf"})

    def test_failed_build(self):
        def fake(cmd, **kw):
            return SimpleNamespace(returncode=0 if "-n" in cmd else 2,
                                   stdout="kern/x.c:1: error: oops")
        out = io.StringIO()
        with mock.patch.object(soak.subprocess, "run", fake), \
                redirect_stdout(out):
            self.assertIsNone(soak.build_variants([cfg()]))
        self.assertIn("error: oops", out.getvalue())

    def test_make_env_drops_the_callers_make(self):
        with mock.patch.dict(os.environ, {"MAKEFLAGS": "CRIT_DEBUG=1",
                                          "MAKELEVEL": "1", "CROSS": "x-"}):
            env = soak.make_env()
        self.assertNotIn("MAKEFLAGS", env)
        self.assertNotIn("MAKELEVEL", env)
        self.assertEqual(env["CROSS"], "x-")


class TestSummary(unittest.TestCase):
    def test_table(self):
        recs = [dict(config=cfg(cpus=1), status=ST_PASS),
                dict(config=cfg(cpus=1, chaos=5, **{"chaos.rate": 16}),
                     status=ST_FAIL),
                dict(config=cfg(cpus=12, tcg="det"), status="hang")]
        rows = collections.defaultdict(dict)
        for line in soak.summary_lines(recs)[1:]:
            dim, val, n, f = line.split()
            rows[dim][val] = (int(n), int(f))
        self.assertEqual(rows["cpus"], {"1": (2, 1), "12": (1, 1)})
        self.assertEqual(rows["chaos"], {"off": (2, 1), "on": (1, 1)})
        self.assertEqual(rows["chaos.rate"], {"16": (1, 1)})
        self.assertEqual(rows["tcg"], {"single": (2, 1), "det": (1, 1)})
        self.assertEqual(set(rows), set(soak.DIMENSIONS))

    def test_fmt_secs(self):
        self.assertEqual(soak.fmt_secs(75), "1m15s")
        self.assertEqual(soak.fmt_secs(3 * 3600 + 125), "3h02m")


class TestCmdSoak(unittest.TestCase):
    """cmd_soak end to end, with the builds and boots replaced."""

    def run_soak(self, n, fails=(), interrupt_at=None, **kw):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        seen = []

        def fake_boot(boot, iso, err, log_path, registry=None, **k):
            seen.append(boot)
            with open(log_path, "w") as f:
                f.write("log\n")
            if boot["name"] == interrupt_at:
                _thread.interrupt_main()      # ^C, then finish late:
                time.sleep(1.5)               # the main thread stops first
            br = BootRun()
            br.wall = 1.0
            st = ST_FAIL if boot["name"] in fails else ST_PASS
            cases = [Case("token.x", "fail" if st == ST_FAIL else "pass",
                          "not ok")]
            return br, Outcome(st, ["1 test(s) not ok"] if fails else [],
                               cases, "pass")
        a = SimpleNamespace(n=n, jobs=kw.get("jobs", 1), seed=11, smp=None)
        out = io.StringIO()
        with mock.patch.multiple(
                soak, build_variants=lambda cs, built=(): cs,
                run_boot=fake_boot,
                test_registry=lambda k: REGISTRY,
                build_iso=lambda k, c: (None, "no iso"),
                LOG_DIR=os.path.join(d, "logs"),
                SOAK_JSON=os.path.join(d, "soak.json")), \
                redirect_stdout(out):
            rc = soak.cmd_soak(a)
        with open(os.path.join(d, "soak.json")) as f:
            js = json.load(f)
        return rc, out.getvalue(), js, seen

    def test_pass(self):
        rc, out, js, seen = self.run_soak(4, jobs=2)
        self.assertEqual(rc, 0)
        self.assertIn("SEED=11", out.splitlines()[0])
        self.assertEqual(len(js["boots"]), 4)
        self.assertEqual(js["seed"], 11)
        self.assertRegex(out, r"\[4/4\] soak-000\d PASS .*\| 0 failed, ETA")
        b = js["boots"][0]
        for k in ("config", "status", "duration", "log", "reproduce",
                  "cmdline", "kernel"):
            self.assertIn(k, b)
        self.assertTrue(b["reproduce"].startswith("make run SMP="))
        self.assertEqual([x["name"] for x in js["boots"]],
                         ["soak-%04d" % i for i in range(1, 5)])
        self.assertEqual([x["config"] for x in js["boots"]],
            soak.draw_configs(11, 4, soak.soak_suites(REGISTRY)))

    def test_failure_reported(self):
        rc, out, js, seen = self.run_soak(3, fails={"soak-0002"})
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"soak-0002 FAIL: 1 test\(s\) not ok; "
                         r"token\.x \(not ok\)\n"
                         r"\s+log: .*soak-0002\.log\n\s+make run SMP=")
        self.assertEqual([b["status"] for b in js["boots"]],
                         ["pass", "fail", "pass"])

    def test_interrupt_prints_summary_so_far(self):
        # interrupt_main() does nothing where SIGINT is ignored, as in a
        # job started in the background by a shell: Python's own handler.
        old = signal.signal(signal.SIGINT, signal.default_int_handler)
        self.addCleanup(signal.signal, signal.SIGINT, old)
        rc, out, js, seen = self.run_soak(5, interrupt_at="soak-0003")
        self.assertEqual(rc, 130)
        self.assertTrue(js["interrupted"])
        self.assertEqual([b["name"] for b in js["boots"]],
                         ["soak-0001", "soak-0002"])
        self.assertIn("interrupted after 2 of 5 boots", out)
        self.assertIn("== soak SEED=11: 2 boot(s), 0 failed", out)

    def test_bad_smp(self):
        a = SimpleNamespace(n=1, jobs=1, seed=1, smp=soak.MAX_SMP + 1)
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(soak.cmd_soak(a), 4)
        self.assertIn("SMP=%d" % (soak.MAX_SMP + 1), out.getvalue())

    def test_big_smp_gets_memory(self):
        cfg = soak.draw_configs(5, 1, SUITES, smp=soak.MAX_SMP)[0]
        b = soak.soak_boot(1, cfg, "build/kernel.elf")
        self.assertEqual(b["smp"], str(soak.MAX_SMP))
        self.assertEqual(b["args"][-2:], soak.BIG_MEM.split())


if __name__ == "__main__":
    unittest.main()

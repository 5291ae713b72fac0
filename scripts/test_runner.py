"""Unit tests for scripts/runner.py (the package scripts/lwkt/): KTAP
parsing, verdicts, QEMU handling.

Run from the top of the tree:  python3 -m unittest scripts/test_runner.py
Nothing here starts QEMU; "QEMU" is a small Python child process.
"""

import json
import os
import re
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402

GRUB = "\x1b[H\x1b[J\x1b[1;1H  Booting `lwkt'\n\r\n\r"

PASS_LOG = GRUB + """lwkt: booting
smp: 4 cpus online\r
KTAP version 1\r
1..3\r
# boot: first test at 850 ms after kernel entry\r
# start 1 boot.cpus_online\r
ok 1 boot.cpus_online\r
# start 2 sched.yield\r
# yielded 100 times\r
ok 2 sched.yield\r
# start 3 ipiq.flood\r
ok 3 ipiq.flood # SKIP needs 2 cpus\r
# totals: pass:2 fail:0 skip:1\r
"""

FAIL_LOG = """KTAP version 1
1..3
# start 1 boot.cpus_online
ok 1 boot.cpus_online
# start 2 token.contention
# kern/lwkt_token.c:88: EXPECT_EQ(count, 4): count == 3 (0x3), 4 == 4 (0x4)
# cpu 2 never ran
not ok 2 token.contention
# start 3 sched.yield
ok 3 sched.yield
# totals: pass:2 fail:1 skip:0
"""

PANIC_LOG = """KTAP version 1
1..3
# start 1 boot.cpus_online
ok 1 boot.cpus_online
# start 2 ipiq.flood
panic: assertion "ip->ip_windex - ip->ip_rindex <= MAXCPUFIFO" failed
cpu 2 thread idle2
backtrace:
  0x00101234 lwkt_send_ipiq+0x34
"""

MISSING_LOG = """KTAP version 1
1..4
# start 1 a.one
ok 1 a.one
# start 2 a.two
ok 2 a.two
# start 3 a.three
# totals: pass:2 fail:0 skip:0
"""

HANG_LOG = """KTAP version 1
1..5
# start 1 boot.cpus_online
ok 1 boot.cpus_online
# start 2 cpusync.all
# waiting for cpu 3
"""

BOOT = dict(name="smp4-multi", expect=runner.PASS, require=[],
            forbid=list(runner.DEFAULT_FORBID))


def judge_log(text, qemu_status, boot=BOOT, **kw):
    p = runner.parse_log(text)
    return p, runner.judge(boot, p, qemu_status, **kw)


def case(out, name):
    for c in out.cases:
        if c.name == name:
            return c
    raise AssertionError("no case %r in %r" % (name, [c.name for c in out.cases]))


class TestParser(unittest.TestCase):
    def test_clean_line(self):
        self.assertEqual(runner.clean_line("\x1b[1;1H  Booting\r"), "  Booting")
        self.assertEqual(runner.clean_line("\rok 1 x\r"), "ok 1 x")

    def test_pass(self):
        p = runner.parse_log(PASS_LOG)
        self.assertEqual(p.plan, 3)
        self.assertEqual([(r.n, r.name, r.result) for r in p.results],
                         [(1, "boot.cpus_online", "pass"),
                          (2, "sched.yield", "pass"),
                          (3, "ipiq.flood", "skip")])
        self.assertEqual(p.results[1].diag, ["yielded 100 times"])
        self.assertEqual(p.results[2].reason, "needs 2 cpus")
        self.assertEqual(p.totals, (2, 0, 1))
        self.assertEqual(p.first_test_ms, 850.0)
        self.assertIsNone(p.last_started())
        self.assertEqual(p.missing(), [])

    def test_lines_before_header_ignored(self):
        p = runner.parse_log("ok 1 bogus\n1..7\n" + PASS_LOG)
        self.assertEqual(p.plan, 3)
        self.assertEqual(len(p.results), 3)

    def test_diagnostics_belong_to_started_test(self):
        p = runner.parse_log(FAIL_LOG)
        r = p.results[1]
        self.assertEqual((r.name, r.result), ("token.contention", "fail"))
        self.assertEqual(r.diag, [
            "kern/lwkt_token.c:88: EXPECT_EQ(count, 4): count == 3 (0x3), "
            "4 == 4 (0x4)", "cpu 2 never ran"])
        self.assertEqual(p.results[2].diag, [])

    def test_diagnostics_without_start_lines(self):
        p = runner.parse_log("KTAP version 1\n1..2\n# d1\nnot ok 1 a.b\n"
                             "# d2\nok 2 a.c\n")
        self.assertEqual(p.results[0].diag, ["d1"])
        self.assertEqual(p.results[1].diag, ["d2"])

    def test_general_diag_between_tests(self):
        p = runner.parse_log("KTAP version 1\n1..2\n# start 1 a.b\nok 1 a.b\n"
                             "# between\n# start 2 a.c\nok 2 a.c\n")
        self.assertEqual(p.results[1].diag, [])
        self.assertEqual(p.general, ["between"])

    def test_result_name_from_start_line(self):
        p = runner.parse_log("KTAP version 1\n1..1\n# start 1 x.y\nok 1\n")
        self.assertEqual(p.results[0].name, "x.y")

    def test_not_ok_skip(self):
        p = runner.parse_log("KTAP version 1\n1..1\nnot ok 1 x.y # SKIP no apic\n")
        self.assertEqual((p.results[0].result, p.results[0].reason),
                         ("skip", "no apic"))

    def test_panic_and_cmdline_lines(self):
        p = runner.parse_log("cmdline: unknown key 'x'\n" + PANIC_LOG)
        self.assertEqual(p.cmdline_lines, ["cmdline: unknown key 'x'"])
        self.assertTrue(p.panic_lines[0].startswith("panic: assertion"))
        self.assertEqual(p.last_started(), "ipiq.flood")

    def test_first_test_time(self):
        p = runner.KtapParser()
        p.feed("boot", 0.1)
        p.feed("KTAP version 1", 0.2)
        p.feed("1..1", 0.3)
        p.feed("# start 1 a.b", 1.5)
        p.feed("ok 1 a.b", 2.0)
        self.assertEqual(p.first_test_time, 1.5)
        self.assertAlmostEqual(p.results[0].time, 0.5)


class TestVerdict(unittest.TestCase):
    def test_pass(self):
        p, out = judge_log(PASS_LOG, 33)
        self.assertEqual((out.status, out.code), ("pass", 0))
        self.assertEqual([c.result for c in out.cases], ["pass", "pass", "skip"])

    def test_fail(self):
        p, out = judge_log(FAIL_LOG, 35)
        self.assertEqual((out.status, out.code), ("fail", 1))
        c = case(out, "token.contention")
        self.assertEqual(c.result, "fail")
        self.assertEqual(len(c.diag), 2)

    def test_not_ok_but_guest_says_pass(self):
        p, out = judge_log(FAIL_LOG, 33)
        self.assertEqual(out.code, 1)

    def test_guest_fail_without_not_ok(self):
        p, out = judge_log(PASS_LOG, 35)
        self.assertEqual(out.code, 1)
        self.assertEqual(case(out, "smp4-multi.guest_status").result, "fail")

    def test_panic_mid_test(self):
        p, out = judge_log(PANIC_LOG, 37)
        self.assertEqual((out.status, out.code), ("panic", 2))
        c = case(out, "smp4-multi.panic:ipiq.flood")
        self.assertEqual(c.result, "fail")
        self.assertIn("panic: assertion", c.message)
        self.assertIn("1 planned test(s) never reported", c.diag)
        self.assertEqual(case(out, "boot.cpus_online").result, "pass")

    def test_reset_is_crash(self):
        p, out = judge_log(HANG_LOG, 0)
        self.assertEqual(out.code, 2)
        self.assertEqual(out.guest, "reset")
        case(out, "smp4-multi.reset:cpusync.all")

    def test_reset_before_any_test(self):
        p, out = judge_log("lwkt: booting\n", 0)
        self.assertEqual(out.code, 2)
        case(out, "smp4-multi.reset:before-first-test")

    def test_missing_results(self):
        p, out = judge_log(MISSING_LOG, 33)
        self.assertEqual((out.status, out.code), ("fail", 1))
        self.assertEqual(case(out, "a.three").result, "fail")
        self.assertEqual(case(out, "smp4-multi.test#4").result, "fail")

    def test_extra_results(self):
        p, out = judge_log("KTAP version 1\n1..1\nok 1 a\nok 2 b\n", 33)
        self.assertEqual(out.code, 1)
        self.assertEqual(case(out, "smp4-multi.ktap_plan").result, "fail")

    def test_totals_mismatch(self):
        p, out = judge_log("KTAP version 1\n1..1\nok 1 a\n"
                           "# totals: pass:0 fail:1 skip:0\n", 33)
        self.assertEqual(out.code, 1)
        case(out, "smp4-multi.ktap_totals")

    def test_hang(self):
        p, out = judge_log(HANG_LOG, None, timed_out=True, timeout=120)
        self.assertEqual((out.status, out.code), ("hang", 3))
        c = case(out, "smp4-multi.hang:cpusync.all")
        self.assertEqual(c.message, "HANG: no result after 120 s; "
                         "last test started: cpusync.all")
        self.assertEqual(runner.verdict_line(out, p, 120.0),
                         "runner: HANG: no result after 120 s; "
                         "last test started: cpusync.all\n"
                         "runner: exit status 3")

    def test_hang_before_tests(self):
        p, out = judge_log("lwkt: booting\n", None, timed_out=True, timeout=5)
        self.assertEqual(out.code, 3)
        self.assertIn("last test started: (none)", out.reasons[-1])

    def test_hang_after_panic_is_panic(self):
        p, out = judge_log(PANIC_LOG, None, timed_out=True, timeout=5)
        self.assertEqual(out.code, 2)

    def test_pass_without_plan_is_harness_error(self):
        p, out = judge_log("lwkt: booting\nall done\n", 33)
        self.assertEqual((out.status, out.code), ("error", 4))
        case(out, "smp4-multi.ktap_plan")

    def test_unexpected_qemu_status(self):
        p, out = judge_log("", 1, start_error="QEMU exited with status 1")
        self.assertEqual(out.code, 4)
        self.assertEqual(out.guest, "exit 1")

    def test_start_failure(self):
        p, out = judge_log("", None, start_error="cannot start QEMU")
        self.assertEqual(out.code, 4)
        self.assertEqual(out.guest, "not started")

    def test_panic_line_with_pass_exit(self):
        p, out = judge_log(PASS_LOG + "panic: late\n", 33)
        self.assertEqual(out.code, 1)

    def test_required_and_forbidden(self):
        boot = dict(BOOT, require=[r"MP table"])
        p, out = judge_log(PASS_LOG, 33, boot=boot)
        self.assertEqual(out.code, 1)
        self.assertEqual(case(out, "smp4-multi.output_checks").result, "fail")
        p, out = judge_log("smp: MP table at 0xf5a0\n" + PASS_LOG, 33, boot=boot)
        self.assertEqual(out.code, 0)
        self.assertEqual(case(out, "smp4-multi.output_checks").result, "pass")
        # default forbid: the kernel complained about our command line
        p, out = judge_log("cmdline: unknown key 'x'\n" + PASS_LOG, 33)
        self.assertEqual(out.code, 1)
        self.assertIn("cmdline: unknown key", case(
            out, "smp4-multi.output_checks").message)

    def test_list(self):
        boot = dict(name="test-list", expect=runner.LIST,
                    require=[r"^test\.list: "], forbid=[])
        p, out = judge_log("test.list: boot.cpus_online\n"
                           "test.list: sched.yield\n", 33, boot=boot)
        self.assertEqual(out.code, 0)
        self.assertEqual([c.name for c in out.cases], ["test-list.list_output"])
        p, out = judge_log("no tests\n", 33, boot=boot)
        self.assertEqual(out.code, 1)

    def test_expected_panic(self):
        boot = dict(runner.find_boot("panic-ap"))
        log = ("KTAP version 1\n1..1\n# start 1 selftest.panic_ap_fault\n"
               "Fatal trap 14 (Page fault) on cpu 1 (apic id 1)\n"
               "  eip 0x00108e21 <fault_here+0x21>\n"
               "panic: fatal trap 14 (Page fault) on cpu 1\n"
               "panic: backtrace:\n  #0  0x00104198 <panic+0xd8>\n"
               "panic: per-CPU state:\n"
               "  cpu 0: apic id 0, held, serving IPIQ, curthread \"idle_0\"\n")
        p, out = judge_log(log, 37, boot=boot)
        self.assertEqual(out.code, 0)
        self.assertEqual([(c.name, c.result) for c in out.cases],
                         [("panic-ap.panic_report", "pass")])
        p, out = judge_log(log.replace("cpu 1", "cpu 2"), 37, boot=boot)
        self.assertEqual(out.code, 1)
        p, out = judge_log(log, 33, boot=boot)
        self.assertEqual(out.code, 1)
        p, out = judge_log(log, 0, boot=boot)
        self.assertEqual(out.code, 1)
        p, out = judge_log(log, None, boot=boot, timed_out=True, timeout=9)
        self.assertEqual(out.code, 3)


# A boot the way the kernel prints it: banner (after the kernel's leading
# "\n"), KTAP, the per-CPU console line counts.
STRICT_LOG = GRUB + """
LWKT i386 SMP kernel
kernel: 2 CPU(s) online
KTAP version 1
1..3
# start 1 a.one
ok 1 a.one
# start 2 a.two
ok 2 a.two
# start 3 b.three
ok 3 b.three
# totals: pass:3 fail:0 skip:0
# console: lines cpu0:11 cpu1:1 total:12
"""

REGISTRY = [("a.one", False), ("a.two", False), ("b.three", False),
            ("b.crash", True), ("bench.fast", True)]


class TestHonesty(unittest.TestCase):
    """The rules that keep a green run honest (issue 9)."""

    def strict(self, text, registry=REGISTRY, boot=BOOT, status=33):
        return judge_log(text, status, boot=boot, registry=registry)

    def test_strict_pass(self):
        p, out = self.strict(STRICT_LOG)
        self.assertEqual(out.status, "pass", out.reasons)
        self.assertEqual(p.console, ({0: 11, 1: 1}, 12, p.lines.index(
            "# console: lines cpu0:11 cpu1:1 total:12")))

    def test_fail_diag_under_ok_is_failure(self):
        log = STRICT_LOG.replace("ok 2 a.two", "# FAIL t.c:3: late\nok 2 a.two")
        log = log.replace("cpu0:11 cpu1:1 total:12", "cpu0:12 cpu1:1 total:13")
        p, out = self.strict(log)
        self.assertEqual(out.status, "fail")
        c = case(out, "a.two")
        self.assertEqual(c.result, "fail")
        self.assertIn("# FAIL", c.message)
        self.assertEqual(case(out, "a.one").result, "pass")

    def test_fail_diag_outside_tests_is_failure(self):
        p, out = judge_log(PASS_LOG.replace(
            "# totals", "# FAIL t.c:9: a late thread\n# totals"), 33)
        self.assertEqual(out.status, "fail")
        self.assertEqual(case(out, "smp4-multi.stray_fail").result, "fail")

    def test_retries_counted(self):
        five = "".join("# retry: a.two: busy host %d\n" % i for i in range(5))
        log = STRICT_LOG.replace("ok 2 a.two", five + "ok 2 a.two")
        log = log.replace("cpu0:11 cpu1:1 total:12", "cpu0:16 cpu1:1 total:17")
        p, out = self.strict(log)
        self.assertEqual(len(p.retries), 5)
        self.assertEqual(p.retries[0], "a.two: busy host 0")
        self.assertEqual(out.status, "pass", out.reasons)
        log = log.replace("ok 2 a.two", "# retry: a.two: once more\nok 2 a.two")
        log = log.replace("cpu0:16 cpu1:1 total:17", "cpu0:17 cpu1:1 total:18")
        p, out = self.strict(log)
        self.assertEqual(out.status, "fail")
        c = case(out, "smp4-multi.retries")
        self.assertIn("6 attempts discarded", c.message)
        self.assertEqual(len(c.diag), 6)

    def test_plan_must_match_test_list(self):
        # The kernel runs and plans two tests, test.list says a.* is three.
        reg = [("a.one", False), ("a.two", False), ("a.three", False),
               ("b.three", False)]
        boot = dict(BOOT, cmdline="test=a.*")
        log = STRICT_LOG.replace("1..3", "1..2").replace(
            "# start 3 b.three\nok 3 b.three\n", "").replace(
            "pass:3", "pass:2").replace("cpu0:11 cpu1:1 total:12",
                                        "cpu0:9 cpu1:1 total:10")
        p, out = self.strict(log, reg, boot)
        self.assertEqual(out.status, "fail")
        self.assertIn("selects 3", case(out, "smp4-multi.plan_vs_list").message)

    def test_result_names_must_match_selection(self):
        boot = dict(BOOT, cmdline="test=a.*,b.thr?e")
        p, out = self.strict(STRICT_LOG, boot=boot)
        self.assertEqual(out.status, "pass", out.reasons)
        boot = dict(BOOT, cmdline="test=a.one,b.t*,a.two")
        p, out = self.strict(STRICT_LOG, boot=boot)
        self.assertEqual(out.status, "pass", out.reasons)
        reg = [("a.one", False), ("b.three", False), ("a.two", False)]
        p, out = self.strict(STRICT_LOG, reg)
        c = case(out, "smp4-multi.selection")
        self.assertEqual(c.result, "fail")
        self.assertIn("result 2 is a.two, test.list order says b.three",
                      c.diag[0])

    def test_unknown_registry_is_failure(self):
        p, out = self.strict(STRICT_LOG, "test.list boot failed")
        self.assertEqual(out.status, "fail")
        self.assertIn("test.list boot failed",
                      case(out, "smp4-multi.plan_vs_list").message)

    def test_expected_tests(self):
        self.assertEqual(runner.expected_tests(REGISTRY, ""),
                         ["a.one", "a.two", "b.three"])
        # Manual and bench tests only for a literal suite part.
        self.assertEqual(runner.expected_tests(REGISTRY, "test=*"),
                         ["a.one", "a.two", "b.three"])
        self.assertEqual(runner.expected_tests(REGISTRY, "test=b.*"),
                         ["b.three", "b.crash"])
        self.assertEqual(runner.expected_tests(REGISTRY, "test=?.*"),
                         ["a.one", "a.two", "b.three"])
        self.assertEqual(runner.expected_tests(REGISTRY, "test=a.one repeat=2"),
                         ["a.one", "a.one"])
        # Bad repeat values are ignored like the kernel does.
        self.assertEqual(runner.expected_tests(
            REGISTRY, "test=a.one repeat=2 repeat=0 repeat=x"), ["a.one"] * 2)
        self.assertEqual(runner.expected_tests(REGISTRY, "test=a.on"), [])
        self.assertTrue(runner.glob_re("a.(x)+").match("a.(x)+"))
        self.assertFalse(runner.glob_re("a.x").match("aXx"))

    def test_parse_test_list(self):
        reg = runner.parse_test_list([
            "test.list: a.one", "test.list: s.panic  (manual: fault demo, "
            "ends the run)", "noise", "test.list: bench.x  (benchmark: make "
            "bench)"])
        self.assertEqual(reg, [("a.one", False), ("s.panic", True),
                               ("bench.x", True)])

    def test_console_lines_lost(self):
        # One line the kernel wrote never arrived (or two were merged).
        log = STRICT_LOG.replace("# start 2 a.two\n", "")
        p, out = self.strict(log)
        self.assertEqual(out.status, "fail")
        c = case(out, "smp4-multi.console_lines")
        self.assertIn("wrote 12 console lines", c.message)
        self.assertIn("received 11", c.message)

    def test_console_lines_missing_or_inconsistent(self):
        p, out = self.strict(STRICT_LOG.replace(
            "# console: lines cpu0:11 cpu1:1 total:12\n", ""))
        self.assertIn("no '# console: lines' count",
                      case(out, "smp4-multi.console_lines").message)
        p, out = self.strict(STRICT_LOG.replace("total:12", "total:13"))
        self.assertIn("do not add up",
                      case(out, "smp4-multi.console_lines").message)
        p, out = self.strict(STRICT_LOG.replace("LWKT i386", "Other"))
        self.assertIn("banner", case(out, "smp4-multi.console_lines").message)

    def test_unit_logs_without_registry_unchanged(self):
        p, out = judge_log(PASS_LOG, 33)
        self.assertEqual(out.status, "pass")


class TestDeterminism(unittest.TestCase):
    A = ["grub noise", "LWKT i386 SMP kernel",
         "smp: 4 of 4 CPUs online; first INIT to last AP online 10426 us",
         "# boot: first test at 52.736 ms after kernel entry",
         "# counters cpu 1: switch 12", "ok 1 a.one"]

    def test_masked_lines_equal(self):
        b = list(self.A)
        b[0] = "other grub noise"
        b[2] = b[2].replace("10426", "10341")
        b[3] = b[3].replace("52.736", "52.652")
        b[4] = "# counters cpu 1: switch 13"
        b[5] = "# ipiq.pingpong: 6 pairs, 119988 to a blocked thread"
        a = self.A[:5] + ["# ipiq.pingpong: 6 pairs, 119985 to a blocked thread"]
        self.assertEqual(runner.det_diff(a + ["ok 1 a.one"],
                                         b + ["ok 1 a.one"]), [])

    def test_addresses_are_numbers(self):
        x = "    # lifecycle.stale: A 0x0024e908, B 0x0024e808: B got another"
        y = "    # lifecycle.stale: A 0x0029f108, B 0x0024e808: B got another"
        self.assertEqual(runner.det_diff(self.A + [x], self.A + [y]), [])
        self.assertEqual(len(runner.det_diff(
            self.A + [x], self.A + [y.replace("got another", "got the same")])),
            1)

    def test_other_lines_must_match(self):
        b = list(self.A)
        b[5] = "ok 1 a.two"
        self.assertEqual(runner.det_diff(self.A, b),
                         [(5, self.A[5], b[5])])
        for x, y in (("ok 1 a.one", "not ok 1 a.one"),
                     ("# ipiq.x: up to 2 readers", "# ipiq.x: at most 2 readers"),
                     ("# retry: a.one: late 1", "# retry: a.one: late 2"),
                     ("# FAIL t.c:1: n == 1", "# FAIL t.c:1: n == 2")):
            self.assertEqual(len(runner.det_diff(self.A + [x], self.A + [y])),
                             1, (x, y))
        self.assertEqual(runner.det_diff(self.A, self.A[:-1]),
                         [(5, "ok 1 a.one", "<end of log>")])

    def test_twin_case(self):
        boot = dict(name="det-smp4-again", twin="det-smp4")
        pa, pb = runner.parse_log("\n".join(self.A)), runner.parse_log(
            "\n".join(self.A[:-1] + ["not ok 1 a.one"]))
        self.assertEqual(runner.twin_case(boot, pa, pa).result, "pass")
        c = runner.twin_case(boot, pb, pa)
        self.assertEqual((c.name, c.result),
                         ("det-smp4-again.same_as_det-smp4", "fail"))
        self.assertEqual(runner.twin_case(boot, pb, None).result, "fail")

    def test_det_rows(self):
        rows = [b for b in runner.MATRIX if b["name"].startswith("det-")]
        self.assertEqual({b["smp"] for b in rows}, {"2", "4", "8", "64"})
        names = [b["name"] for b in runner.MATRIX]
        for b in rows:
            self.assertIn("test.noretry", b["cmdline"].split())
            self.assertEqual(b["thread"], "single")
            self.assertIn("-icount", b["args"])
            if b["twin"]:
                first = runner.find_boot(b["twin"])
                self.assertLess(names.index(first["name"]),
                                names.index(b["name"]))
                for k in ("smp", "cmdline", "args", "thread", "kernel"):
                    self.assertEqual(first[k], b[k])
        self.assertTrue(any(b["twin"] for b in rows))
        hz = [b["cmdline"] for b in runner.MATRIX]
        self.assertTrue(any("hz=1000" in c for c in hz))
        self.assertTrue(any("hz=25" in c for c in hz))


class TestTimeoutBoot(unittest.TestCase):
    def test_expected_timeout(self):
        boot = dict(runner.find_boot("test-timeout"))
        log = ("KTAP version 1\n1..1\n    KTAP version 1\n"
               "    # Subtest: selftest\n    1..1\n"
               "    # start 1 selftest.hang_forever\n"
               "    # FAIL selftest.hang_forever: the test did not finish "
               "within 2 s (test.timeout)\n# threads at the timeout:\n"
               "  cpu 0 threads (runqmask 0x00000000):\n"
               "    0x00168d08 kt_cpu0          pri 12 crit 2 blocked   x\n"
               "    not ok 1 hang_forever # TIMEOUT\n"
               "not ok 1 selftest\n"
               "# totals: pass:0 fail:1 skip:0\n"
               "# aborted: selftest.hang_forever timed out; the remaining "
               "tests did not run\n")
        p, out = judge_log(log, 35, boot=boot)
        self.assertEqual(out.code, 0)
        self.assertEqual([(c.name, c.result) for c in out.cases],
                         [("test-timeout.timeout_report", "pass")])
        p, out = judge_log(log, 33, boot=boot)      # wrong exit status
        self.assertEqual(out.code, 1)
        p, out = judge_log(log.replace("# aborted", "# nothing"), 35, boot=boot)
        self.assertEqual(out.code, 1)
        # a plain failure is not a timeout
        p, out = judge_log(log.replace(" # TIMEOUT", ""), 35, boot=boot)
        self.assertEqual(out.code, 1)
        self.assertIn("# TIMEOUT", out.cases[0].message)


class TestMatrix(unittest.TestCase):
    def test_rows(self):
        names = [b["name"] for b in runner.MATRIX]
        self.assertEqual(len(names), len(set(names)))
        for b in runner.MATRIX:
            self.assertIn(b["thread"], ("single", "multi"))
            self.assertIn(b["expect"], (runner.PASS, runner.LIST, runner.PANIC,
                                        runner.TIMEOUT))
            self.assertNotIn("'", b["cmdline"])
            for rx in b["require"] + b["forbid"]:
                re.compile(rx)
        self.assertTrue(runner.find_boot("smp8-multi")["solo"])
        self.assertNotIn(r"^cmdline:", runner.find_boot("bad-cmdline")["forbid"])

    def test_cons_check_lines(self):
        good = "# cons-check cpu=1 seq=3 " + "b" * 40 + " end\n"
        p, out = judge_log(good + PASS_LOG, 33)
        self.assertEqual(out.code, 0)
        for bad in ("# cons-check cpu=1 seq=3 " + "b" * 20 + "c" * 20 + " end\n",
                    "# cons-check cpu=1 seq=3 " + "b" * 39 + " end\n",
                    "# cons-check cpu=1 seq=3 bbbb# cons-check cpu=2 seq=0\n"):
            p, out = judge_log(bad + PASS_LOG, 33)
            self.assertEqual(out.code, 1, bad)

    def test_qemu_command(self):
        cmd = runner.qemu_command(runner.find_boot("mptable"), "x.iso")
        self.assertEqual(cmd[cmd.index("-machine") + 1], "pc,acpi=off")
        self.assertEqual(cmd.count("-machine"), 1)
        self.assertIn("tcg,thread=multi", cmd)
        cmd = runner.qemu_command(runner.find_boot("no-apic"), "x.iso")
        self.assertEqual(cmd[-2:], ["-cpu", "pentium,-apic"])
        cmd = runner.qemu_command(runner.find_boot("apic-holes"), "x.iso")
        self.assertEqual(cmd[cmd.index("-smp") + 1],
                         "6,sockets=2,cores=3,threads=1")
        for a in ("-no-reboot", "isa-debug-exit,iobase=0xf4,iosize=0x04"):
            self.assertIn(a, cmd)

    def test_reports(self):
        results = []
        for name, log, st in (("smp1-single", PASS_LOG, 33),
                              ("smp4-multi", FAIL_LOG, 35),
                              ("smp2-multi", HANG_LOG, None)):
            boot = runner.find_boot(name)
            p = runner.parse_log(log)
            out = runner.judge(boot, p, st, timed_out=st is None, timeout=7)
            results.append(dict(boot=boot, parser=p, outcome=out, wall=1.0,
                                cmd=["qemu"], log="build/logs/x.log",
                                qemu_status=st))
        root = ET.fromstring(runner.junit_xml(results))
        self.assertEqual(len(root.findall("testsuite")), 3)
        self.assertEqual(root.get("failures"), "1")
        self.assertEqual(root.get("errors"), "1")    # the hang
        self.assertEqual(root.get("skipped"), "1")
        f = root.find(".//testcase[@name='token.contention']/failure")
        self.assertIn("EXPECT_EQ", f.text)
        self.assertIsNotNone(root.find(
            ".//testcase[@name='smp2-multi.hang:cpusync.all']/error"))
        j = json.loads(json.dumps([runner.result_json(r) for r in results]))
        self.assertEqual(j[0]["kernel_first_test_ms"], 850.0)
        self.assertEqual(j[2]["status"], "hang")
        self.assertEqual(j[2]["last_test_started"], "cpusync.all")


BENCH_LOG = GRUB + """LWKT i386 SMP kernel\r
KTAP version 1\r
1..3\r
# start 1 bench.crit\r
# bench: name=crit_pair value=5.00 unit=instructions/op ops=100000\r
ok 1 bench.crit\r
# start 2 bench.ipiq\r
# bench: name=ipiq_stream_ipis_per_msg value=0.0625 unit=IPIs/message msgs=10000 ipiq_optimized=1\r
# bench: name=ipiq_rtt value=1200 unit=instructions/msg mode=fast scale=1e3 x=-2\r
ok 2 bench.ipiq\r
# start 3 bench.skipped\r
ok 3 bench.skipped # SKIP needs 2 cpus\r
# totals: pass:2 fail:0 skip:1\r
"""

NO_BENCH_LOG = BENCH_LOG.replace("# bench:", "# measured:")

BENCH_BOOT = runner.bench_boot()


def judge_bench_log(text, qemu_status, **kw):
    p = runner.parse_log(text)
    return p, runner.judge_bench(BENCH_BOOT, p, qemu_status, **kw)


class TestBench(unittest.TestCase):
    def test_parse_bench(self):
        b = runner.parse_bench(" name=crit_pair value=5.00 "
                               "unit=instructions/op ops=100000")
        self.assertEqual((b.name, b.value, b.unit, b.raw_value),
                         ("crit_pair", 5.0, "instructions/op", "5.00"))
        self.assertIsInstance(b.value, float)
        self.assertEqual(b.fields, {"ops": 100000})
        b = runner.parse_bench("name=n value=42 unit=IPIs k=abc f=0.5 "
                               "e=1e-3 h=0x10 empty=")
        self.assertEqual(b.value, 42)
        self.assertIsInstance(b.value, int)
        self.assertEqual(b.fields, {"k": "abc", "f": 0.5, "e": 0.001,
                                    "h": "0x10", "empty": ""})
        for bad in ("", "value=1 name=x unit=u", "name=x value=fast unit=u",
                    "name=x value=1", "name=x value=1 unit=u junk",
                    "name=x value=1 unit=u k=1 k=2", "name= value=1 unit=u",
                    "name=x value=1 unit=", "name=x value=nan unit=u",
                    "name=x value=1 unit=u value=2"):
            with self.assertRaises(ValueError, msg=bad):
                runner.parse_bench(bad)

    def test_parser_collects_bench_lines(self):
        p = runner.parse_log(BENCH_LOG)
        self.assertEqual([(b.name, b.value, b.test) for b in p.bench],
                         [("crit_pair", 5.0, "bench.crit"),
                          ("ipiq_stream_ipis_per_msg", 0.0625, "bench.ipiq"),
                          ("ipiq_rtt", 1200, "bench.ipiq")])
        self.assertEqual(p.bench[1].fields,
                         {"msgs": 10000, "ipiq_optimized": 1})
        self.assertEqual(p.bench[2].fields,
                         {"mode": "fast", "scale": 1000.0, "x": -2})
        # still ordinary diagnostics of their test
        self.assertEqual(len(p.results[1].diag), 2)
        self.assertEqual(p.bench_errors, [])

    def test_bench_test_name_without_start_lines(self):
        p = runner.parse_log("KTAP version 1\n1..2\n"
                             "# bench: name=a value=1 unit=u\nok 1 s.one\n"
                             "# bench: name=b value=2 unit=u\nok 2 s.two\n")
        self.assertEqual([(b.name, b.test) for b in p.bench],
                         [("a", "s.one"), ("b", "s.two")])
        p = runner.parse_log("KTAP version 1\n1..1\n# start 1 s.one\n"
                             "ok 1 s.one\n# bench: name=a value=1 unit=u\n")
        self.assertIsNone(p.bench[0].test)

    def test_pass(self):
        p, out = judge_bench_log(BENCH_LOG, 33)
        self.assertEqual((out.status, out.code), ("pass", 0))
        self.assertEqual(out.reasons, [])

    def test_no_bench_lines_is_failure(self):
        p, out = judge_bench_log(NO_BENCH_LOG, 33)
        self.assertEqual((out.status, out.code), ("fail", 1))
        c = case(out, "bench.bench_lines")
        self.assertEqual(c.result, "fail")
        self.assertIn("nothing was measured", out.reasons[0])
        self.assertIn("no '# bench:' line",
                      runner.verdict_line(out, p, 1.0))

    def test_no_test_selected(self):
        # the kernel has no bench.* test: cmdline complaint, fail status
        p, out = judge_bench_log(
            GRUB + "LWKT i386 SMP kernel\ncmdline: test=bench.* selects no "
            "test (test.list shows them all)\n", 35)
        self.assertEqual((out.status, out.code), ("fail", 1))
        self.assertIn("selects no test", out.reasons[0])
        self.assertIn("nothing was measured", out.reasons[1])

    def test_malformed_bench_line_is_failure(self):
        p, out = judge_bench_log(BENCH_LOG.replace(
            "value=5.00", "value=fast"), 33)
        self.assertEqual(out.code, 1)
        self.assertEqual(len(p.bench), 2)
        self.assertIn("malformed bench line", case(
            out, "bench.bench_lines").message)

    def test_worse_status_kept(self):
        p, out = judge_bench_log(PANIC_LOG, 37)
        self.assertEqual(out.code, 2)
        p, out = judge_bench_log(HANG_LOG, None, timed_out=True, timeout=9)
        self.assertEqual(out.code, 3)
        p, out = judge_bench_log(FAIL_LOG, 35)
        self.assertEqual(out.code, 1)

    def test_bench_boot(self):
        b = runner.bench_boot()
        self.assertEqual((b["smp"], b["thread"], b["cmdline"]),
                         ("4", "single", "test=bench.*"))
        cmd = runner.qemu_command(b, "x.iso")
        self.assertIn("tcg,thread=single", cmd)
        self.assertEqual(cmd.count("-accel"), 1)
        i = cmd.index("-icount")
        self.assertTrue(cmd[i + 1].startswith("shift=0"))
        self.assertEqual(cmd[cmd.index("-rtc") + 1], "clock=vm")
        b = runner.bench_boot("6,sockets=2,cores=3", " repeat=3 ", 50, "-cpu max")
        self.assertEqual((b["smp"], b["cmdline"], b["timeout"]),
                         ("6,sockets=2,cores=3", "test=bench.* repeat=3", 50))
        self.assertEqual(runner.qemu_command(b, "x.iso")[-2:],
                         ["-cpu", "max"])

    def test_json_shape(self):
        br = runner.BootRun()
        br.parser = runner.parse_log(BENCH_LOG)
        br.cmd = runner.qemu_command(BENCH_BOOT, "x.iso")
        br.qemu_status, br.wall = 33, 2.5
        out = runner.judge_bench(BENCH_BOOT, br.parser, 33)
        j = json.loads(json.dumps(runner.bench_json(
            BENCH_BOOT, br, out, "ab" * 32, "build/logs/bench.log")))
        self.assertEqual(j["qemu"], br.cmd)
        self.assertEqual(j["cmdline"], "test=bench.*")
        self.assertEqual(j["kernel_sha256"], "ab" * 32)
        self.assertEqual(j["smp"], "4")
        self.assertEqual(j["status"], "pass")
        self.assertEqual(j["results"][0], dict(
            name="crit_pair", value=5.0, unit="instructions/op",
            fields=dict(ops=100000), test="bench.crit"))
        self.assertEqual([r["name"] for r in j["results"]],
                         ["crit_pair", "ipiq_stream_ipis_per_msg",
                          "ipiq_rtt"])
        self.assertEqual(j["results"][1]["fields"],
                         {"msgs": 10000, "ipiq_optimized": 1})
        # nothing measured
        br.parser = runner.parse_log(NO_BENCH_LOG)
        out = runner.judge_bench(BENCH_BOOT, br.parser, 33)
        j = runner.bench_json(BENCH_BOOT, br, out, None)
        self.assertEqual((j["status"], j["results"]), ("fail", []))

    def test_table(self):
        p = runner.parse_log(BENCH_LOG)
        t = runner.bench_table(p.bench).split("\n")
        self.assertEqual(t[0].split(), ["name", "value", "unit", "fields"])
        self.assertEqual(t[1].split(), ["crit_pair", "5.00",
                                        "instructions/op", "ops=100000"])
        self.assertIn("msgs=10000 ipiq_optimized=1", t[2])
        self.assertIn("scale=1e3 x=-2", t[3])      # fields as printed
        end = t[0].index("value") + len("value")    # values right-aligned
        self.assertEqual(t[1][end - 4:end], "5.00")
        self.assertEqual(t[2][end - 6:end], "0.0625")
        self.assertIn("no bench results", runner.bench_table([]))

    def test_cmd_bench_end_to_end(self):
        """cmd_bench with a stand-in QEMU: exit codes and build/bench.json."""
        with tempfile.TemporaryDirectory() as d:
            kernel = os.path.join(d, "kernel.elf")
            with open(kernel, "wb") as f:
                f.write(b"\x7fELF fake")
            fake = os.path.join(d, "qemu")
            live = sys.modules["lwkt.live"]     # where cmd_bench's boot runs
            saved = (live.build_iso, live.BUILD, os.environ.get("QEMU"))
            live.build_iso = lambda k, cl: (os.path.join(d, "x.iso"), None)
            live.BUILD = d
            os.environ["QEMU"] = fake
            try:
                for log, st, code in ((BENCH_LOG, 33, 0),
                                      (NO_BENCH_LOG, 33, 1)):
                    with open(fake, "w") as f:
                        f.write("#!%s\nimport sys\nsys.stdout.write(%r)\n"
                                "sys.exit(%d)\n" % (sys.executable, log, st))
                    os.chmod(fake, 0o755)
                    out = os.path.join(d, "b.json")
                    with open(os.devnull, "w") as null:
                        so = sys.stdout
                        sys.stdout = null
                        try:
                            rc = runner.main(["bench", "--kernel", kernel,
                                              "--out", out, "--timeout", "20"])
                        finally:
                            sys.stdout = so
                    self.assertEqual(rc, code)
                    with open(out) as f:
                        j = json.load(f)
                    self.assertEqual(len(j["results"]), 3 if code == 0 else 0)
                    self.assertEqual(j["kernel_sha256"],
                                     runner.kernel_sha256(kernel))
                    self.assertIn("-icount", j["qemu"])
                    self.assertEqual(j["qemu"][0], fake)
            finally:
                live.build_iso, live.BUILD = saved[:2]
                if saved[2] is None:
                    del os.environ["QEMU"]
                else:
                    os.environ["QEMU"] = saved[2]


class TestQemuProcess(unittest.TestCase):
    """run_qemu() against a stand-in child process."""

    def fake(self, body):
        return [sys.executable, "-c", "import sys, time\n" + body]

    def test_exit_status_and_stream(self):
        chunks = []
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "x.log")
            body = ("sys.stdout.write(%r); sys.stdout.flush(); sys.exit(33)"
                    % PASS_LOG)
            br = runner.run_qemu(self.fake(body), 10, log, chunks.append)
            with open(log, "rb") as f:
                self.assertIn(b"ok 3 ipiq.flood", f.read())
        self.assertEqual((br.qemu_status, br.timed_out, br.start_error),
                         (33, False, None))
        self.assertIn(b"KTAP version 1", b"".join(chunks))
        self.assertEqual(runner.judge_run(BOOT, br).code, 0)
        self.assertIsNotNone(br.parser.first_test_time)

    def test_grub_failure_is_a_harness_error_at_once(self):
        # GRUB with too little RAM: its reason, at once, not a 60 s hang.
        grub = ("  Booting `lwkt'\n\nerror: out of memory.\n"
                "error: you need to load the kernel first.\n\n"
                "  Failed to boot both default and fallback entries.\n")
        body = "print(%r, flush=True)\ntime.sleep(60)" % grub
        br = runner.run_qemu(self.fake(body), 60)
        self.assertFalse(br.timed_out)
        self.assertLess(br.wall, 10)
        self.assertEqual(br.start_error,
                         "GRUB could not start the kernel: out of memory.")
        self.assertEqual(runner.judge_run(BOOT, br).code, 4)

    def test_hang_is_killed(self):
        body = ("print('KTAP version 1\\n1..2\\n# start 1 x.hang', flush=True)\n"
                "time.sleep(60)")
        br = runner.run_qemu(self.fake(body), 1)
        self.assertTrue(br.timed_out)
        self.assertLess(br.wall, 10)
        out = runner.judge_run(BOOT, br)
        self.assertEqual(out.code, 3)
        self.assertIn("last test started: x.hang", out.reasons[-1])

    def test_qemu_error_status(self):
        body = "sys.stderr.write('qemu: bad option\\n'); sys.exit(1)"
        br = runner.run_qemu(self.fake(body), 10)
        self.assertIn("bad option", br.start_error)
        self.assertEqual(runner.judge_run(BOOT, br).code, 4)

    def test_qemu_missing(self):
        br = runner.run_qemu(["/nonexistent/qemu-system-i386"], 10)
        self.assertIsNotNone(br.start_error)
        self.assertEqual(runner.judge_run(BOOT, br).code, 4)

    def test_ansi_filter_across_chunks(self):
        f = runner.AnsiFilter()
        self.assertEqual(f(b"a\x1b[1;") + f(b"1Hb\x1b") + f(b"[Jc"), b"abc")


if __name__ == "__main__":
    unittest.main()


# The nested format (KUnit style) the kernel prints since issue 10: the
# same three tests as STRICT_LOG, one suite subtest per suite, a stray
# line from another CPU in the middle.
NESTED_LOG = GRUB + """
LWKT i386 SMP kernel\r
kernel: 2 CPU(s) online
KTAP version 1
# seed 7, repeat 1, 2 CPU(s)
1..2
    KTAP version 1
    # Subtest: a
    1..2
    # start 1 a.one
    # a.one: measured 3
    ok 1 one
    # start 2 a.two
stray line from cpu1
    ok 2 two
# a: pass:2 fail:0 skip:0 total:2
ok 1 a
    KTAP version 1
    # Subtest: b
    1..1
    # start 3 b.three
    ok 1 three
# b: pass:1 fail:0 skip:0 total:1
ok 2 b
# totals: pass:3 fail:0 skip:0
# console: lines cpu0:24 cpu1:1 total:25
"""


class TestNestedKtap(unittest.TestCase):
    """Issue 10: suites as KTAP subtests, # TIMEOUT, .ktap files, the TAP
    consumer, JUnit <error>, reproducer lines, FAILED=1."""

    def test_parse(self):
        p = runner.parse_log(NESTED_LOG)
        self.assertTrue(p.nested())
        self.assertEqual(p.plan, 2)
        self.assertEqual([(r.n, r.k, r.name, r.result) for r in p.results],
                         [(1, 1, "a.one", "pass"), (2, 2, "a.two", "pass"),
                          (3, 1, "b.three", "pass")])
        self.assertEqual([(s.name, s.plan, s.result, s.totals)
                          for s in p.suites],
                         [("a", 2, "pass", (2, 0, 0)),
                          ("b", 1, "pass", (1, 0, 0))])
        self.assertEqual(p.results[0].diag, ["a.one: measured 3"])
        self.assertEqual(p.seed, 7)
        self.assertEqual(p.missing(), [])

    def test_strict_pass_and_plan_vs_list(self):
        p, out = judge_log(NESTED_LOG, 33, registry=REGISTRY)
        self.assertEqual(out.status, "pass", out.reasons)
        boot = dict(BOOT, cmdline="test=a.* repeat=2")
        p, out = judge_log(NESTED_LOG, 33, boot=boot, registry=REGISTRY)
        self.assertIn("plan_vs_list", [c.name.split(".")[-1]
                                       for c in out.cases
                                       if c.result == "fail"])
        # a suite plan that disagrees with the selection
        log = NESTED_LOG.replace("    1..1\n", "    1..2\n")
        p, out = judge_log(log, 33, registry=REGISTRY)
        self.assertEqual(out.status, "fail")
        self.assertTrue(any("suite plan" in r for r in out.reasons))

    def test_repeat_nests_each_run(self):
        # repeat=2 of one test: two subtests of suite a, one test each
        run = ("    KTAP version 1\n    # Subtest: a\n    1..1\n"
               "    # start %d a.one\n    ok 1 one\n"
               "# a: pass:1 fail:0 skip:0 total:1\nok %d a\n")
        log = ("KTAP version 1\n1..2\n# seed 7, repeat 2, 2 CPU(s)\n" +
               run % (1, 1) + run % (2, 2) +
               "# totals: pass:2 fail:0 skip:0\n"
               "# console: lines cpu0:14 total:14\n")
        boot = dict(BOOT, cmdline="test=a.one repeat=2")
        p, out = judge_log(log, 33, boot=boot, registry=REGISTRY)
        self.assertNotIn("plan_vs_list", [c.name.split(".")[-1]
                                          for c in out.cases
                                          if c.result == "fail"])

    def test_missing_and_inconsistent(self):
        # the run stops inside suite b: b.three never reports
        cut = NESTED_LOG[:NESTED_LOG.index("    ok 1 three")]
        p, out = judge_log(cut, 33)
        self.assertEqual(out.status, "fail")
        self.assertEqual(case(out, "b.three").result, "fail")
        self.assertEqual(case(out, "smp4-multi.suite#2").result, "fail")
        # a hang there names the test started last
        p, out = judge_log(cut, None, timed_out=True, timeout=5)
        self.assertEqual(out.status, "hang")
        self.assertEqual(case(out, "smp4-multi.hang:b.three").result, "fail")
        # a suite line that hides a failed test
        log = NESTED_LOG.replace("    ok 2 two", "    not ok 2 two")
        p, out = judge_log(log, 35)
        self.assertEqual(case(out, "smp4-multi.suite_result:a").result,
                         "fail")
        self.assertEqual(case(out, "smp4-multi.suite_totals:a").result,
                         "fail")

    def test_timeout_directive(self):
        log = NESTED_LOG.replace("    ok 1 three",
                                 "    not ok 1 three # TIMEOUT")
        log = log.replace("ok 2 b", "not ok 2 b").replace(
            "b: pass:1 fail:0", "b: pass:0 fail:1").replace(
            "totals: pass:3 fail:0", "totals: pass:2 fail:1")
        p, out = judge_log(log, 35)
        self.assertTrue(p.results[2].timeout)
        c = case(out, "b.three")
        self.assertEqual(c.result, "fail")
        self.assertIn("TIMEOUT", c.message)
        self.assertFalse(c.error)                 # a test failure
        self.assertEqual(out.status, "fail", out.reasons)

    def test_ktap_document(self):
        p = runner.parse_log(NESTED_LOG)
        doc = runner.ktap_document(p.lines)
        self.assertEqual(doc[0], "KTAP version 1")
        self.assertNotIn("Booting", "\n".join(doc))
        self.assertFalse(any("\x1b" in l or "\r" in l for l in doc))
        self.assertIn("    # stray line from cpu1", doc)
        self.assertNotIn("stray line from cpu1", doc)
        # a line at an odd indentation, and a panic after the last suite
        lines = p.lines + ["  ok 9 half-indented", "panic: boom"]
        doc = runner.ktap_document(lines)
        self.assertEqual(doc[-2:], ["# ok 9 half-indented", "# panic: boom"])
        # the document parses to the same results
        q = runner.parse_log("\n".join(doc))
        self.assertEqual([(r.name, r.result) for r in q.results],
                         [(r.name, r.result) for r in p.results])
        self.assertEqual(runner.ktap_document(["no ktap here"]), [])

    def test_tap_consumer(self):
        """Perl's TAP::Parser (Debian: perl) reads the suite lines."""
        log = NESTED_LOG.replace("ok 2 b", "not ok 2 b")
        p = runner.parse_log(log)
        text = "\n".join(runner.ktap_document(p.lines)) + "\n"
        self.assertEqual(runner.runner_counts(p), (2, 2, 1, 0))
        self.assertEqual(runner.consumer_counts(text), (2, 2, 1, 0))
        self.assertEqual(runner.tap_consumer_case("x", p, text).result,
                         "pass")
        # the runner and the consumer disagree: the case fails
        bad = text.replace("not ok 2 b", "ok 2 b")
        c = runner.tap_consumer_case("x", p, bad)
        self.assertEqual((c.name, c.result), ("x.tap_consumer", "fail"))
        # no consumer at all: a harness error, not a silent pass
        c = runner.tap_consumer_case("x", p, text, perl="/nonexistent/perl")
        self.assertEqual((c.result, c.error), ("fail", True))

    def test_junit_errors(self):
        results = []
        for name, log, st in (("smp1-single", NESTED_LOG, 33),
                              ("smp2-multi", HANG_LOG, None)):
            boot = runner.find_boot(name)
            p = runner.parse_log(log)
            out = runner.judge(boot, p, st, timed_out=st is None, timeout=7)
            results.append(dict(boot=boot, parser=p, outcome=out, wall=1.5,
                                cmd=["qemu"], log="x.log", qemu_status=st,
                                started=0))
        root = ET.fromstring(runner.junit_xml(results, wall=2.25))
        self.assertEqual(root.get("time"), "2.250")
        self.assertEqual(root.get("errors"), "1")
        for s in root.findall("testsuite"):
            self.assertTrue(s.get("timestamp"))
            self.assertTrue(s.get("hostname"))
        self.assertEqual(len(root.findall(".//testcase/error")), 1)
        self.assertEqual(len(root.findall(".//testcase/failure")), 0)

    def test_reproducer(self):
        b = runner.find_boot("mptable")
        line = runner.reproducer(b, seed=7, commit="abc1234")
        self.assertEqual(line, "make run SMP=4,sockets=4,cores=1,threads=1 "
                         "THREAD=multi CMDLINE='expect.ncpus=4 seed=7' "
                         "QEMU_ARGS='-machine pc,acpi=off'  # commit abc1234")
        line = runner.reproducer(runner.find_boot("critdebug"), seed=1)
        self.assertTrue(line.endswith(" CRIT_DEBUG=1"), line)
        line = runner.reproducer(runner.find_boot("det-smp8"), seed=1)
        self.assertIn("QEMU_ARGS='-icount shift=0,sleep=off -rtc clock=vm'",
                      line)
        self.assertIn("TIMEOUT=240", line)
        b = dict(runner.find_boot("smp2-single"), cmdline="seed=3 x=1")
        self.assertIn("CMDLINE='seed=3 x=1'", runner.reproducer(b, seed=3))

    def test_reproducer_chaos(self):
        """A chaos row's line names CHAOS=1, the chaos seed and the seed."""
        line = runner.reproducer(runner.find_boot("chaos-det"), seed=5,
                                 commit="abc1234")
        self.assertEqual(
            line, "make run SMP=4 THREAD=single CMDLINE='expect.ncpus=4 "
            "test.noretry chaos=20261203 seed=5' QEMU_ARGS='-icount "
            "shift=0,sleep=off -rtc clock=vm' TIMEOUT=300 CHAOS=1"
            "  # commit abc1234")
        b = dict(runner.find_boot("chaos-smp4-multi"),
                 kernel=runner.kernel_path(chaos=True, fifo=8),
                 cmdline="test=token.* chaos=9")
        line = runner.reproducer(b, seed=2)
        self.assertIn("THREAD=multi CMDLINE='test=token.* chaos=9 seed=2'",
                      line)
        self.assertTrue(line.endswith(" CHAOS=1 MAXCPUFIFO=8"), line)

    def test_kernel_variants(self):
        """build/<tags>/kernel.elf, tags in the Makefile's order, and back."""
        kp = runner.kernel_path
        self.assertEqual(kp(), "build/kernel.elf")
        self.assertEqual(kp(critdebug=True), "build/critdebug/kernel.elf")
        self.assertEqual(kp(chaos=True), "build/chaos/kernel.elf")
        self.assertEqual(kp(fifo=8), "build/fifo8/kernel.elf")
        self.assertEqual(kp(critdebug=True, chaos=True, fifo=16),
                         "build/critdebug-chaos-fifo16/kernel.elf")
        self.assertEqual(runner.build_flags(kp(critdebug=True, chaos=True,
                                                  fifo=16)),
                         ["CRIT_DEBUG=1", "CHAOS=1", "MAXCPUFIFO=16"])
        self.assertEqual(runner.build_flags(kp()), [])
        self.assertEqual(runner.build_flags(None), [])
        self.assertEqual(runner.build_flags("elsewhere/kernel.elf"), [])
        self.assertEqual(runner.build_flags("build/weird/kernel.elf"), [])
        self.assertEqual(runner.CHAOS_KERNEL, "build/chaos/kernel.elf")
        self.assertEqual(runner.CRITDEBUG_KERNEL,
                         "build/critdebug/kernel.elf")

    def test_chaos_rows(self):
        """chaos-det-again replays chaos-det exactly (same kernel, command
        line and QEMU arguments; a twin); chaos rows boot the chaos
        kernel with a chaos seed."""
        det, again = (runner.find_boot("chaos-det"),
                      runner.find_boot("chaos-det-again"))
        self.assertEqual(again["twin"], "chaos-det")
        for k in ("smp", "thread", "cmdline", "args", "kernel", "machine"):
            self.assertEqual(det[k], again[k], k)
        self.assertIn("test.noretry", det["cmdline"].split())
        self.assertIn("-icount", det["args"])
        for b in runner.MATRIX:
            if b["name"].startswith("chaos-"):
                self.assertEqual(b["kernel"], runner.CHAOS_KERNEL)
                self.assertTrue(any(w.startswith("chaos=")
                                    for w in b["cmdline"].split()), b)

    def test_failed_selection(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "last-failed.json")
            runner.save_last_failed(["smp1-single", "det-smp4-again"],
                                    ["det-smp4-again"], path)
            self.assertEqual(runner.load_last_failed(path),
                             ["det-smp4-again"])
            # a later partial run keeps what it did not re-run
            runner.save_last_failed(["smp1-single"], ["smp1-single"], path)
            failed = runner.load_last_failed(path)
            self.assertEqual(failed, ["det-smp4-again", "smp1-single"])
            names = [b["name"] for b in runner.select_boots(
                runner.MATRIX, None, failed)]
            # the twin's first boot comes along, in matrix order
            self.assertEqual(names, ["smp1-single", "det-smp4",
                                     "det-smp4-again"])
            with open(path, "w") as f:
                f.write("{garbage")
            with open(os.devnull, "w") as null:
                so, sys.stdout = sys.stdout, null
                try:
                    self.assertIsNone(runner.load_last_failed(path))
                finally:
                    sys.stdout = so

    def test_bench_suite_totals_not_a_bench_line(self):
        """The bench suite's "# bench: pass:.." totals line (found on a
        real boot: it failed `bench` as a malformed bench line)."""
        log = ("KTAP version 1\n1..1\n    KTAP version 1\n"
               "    # Subtest: bench\n    1..1\n"
               "    # start 1 bench.crit_pair\n"
               "    # bench: name=crit value=6 unit=insn/op ops=10\n"
               "    ok 1 crit_pair\n"
               "# bench: pass:1 fail:0 skip:0 total:1\nok 1 bench\n")
        p = runner.parse_log(log)
        self.assertEqual(p.bench_errors, [])
        self.assertEqual([(b.name, b.test) for b in p.bench],
                         [("crit", "bench.crit_pair")])
        self.assertEqual(p.suites[0].totals, (1, 0, 0))

    def test_progress_line(self):
        self.assertEqual(runner.progress_line(3, 40, 1, 61.4),
                         "-- 3/40 boots done, 1 failed, 61 s elapsed")


class TestRunOrder(unittest.TestCase):
    def test_order(self):
        boots = [runner.find_boot(n) for n in (
            "smp1-single", "smp8-multi", "det-smp4", "det-smp4-again",
            "hz25-smp2")]
        walls = {"smp1-single": 5, "smp8-multi": 60, "det-smp4": 30,
                 "det-smp4-again": 90}
        names = [b["name"] for b in runner.run_order(boots, walls)]
        # solo first, unknown next, then longest first; the twin after
        # its first boot although it is the longest
        self.assertEqual(names, ["smp8-multi", "hz25-smp2", "det-smp4",
                                 "det-smp4-again", "smp1-single"])
        names = [b["name"] for b in runner.run_order(boots[2:4], {})]
        self.assertEqual(names, ["det-smp4", "det-smp4-again"])
        # the twin alone (its first boot not selected) still runs
        self.assertEqual(len(runner.run_order(boots[3:4], walls)), 1)

"""Unit tests of scripts/lwkt/scale.py (make scale): parsing a boot's
figures, the growth names and the targets.  Owned by the scale engineer."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lwkt import scale                         # noqa: E402
from lwkt.benchline import parse_bench         # noqa: E402


class TestScale(unittest.TestCase):
    LINES = ["smp: 4 of 4 CPUs online; first INIT to last AP online 1234 us"]
    BENCH = [
        "name=scale_free_kib value=1000.00 unit=KiB ops=1 "
        "ipiq_kib_per_cpu=16 ram_top_kib=5000 ncpus=4",
        "name=scale_cpusync_all value=500.50 unit=instructions/call ops=50 "
        "ipis_per_call=3.00 sender_ipis_per_call=1.00",
        "name=scale_ipiq_drain_idle value=40.00 unit=instructions/drain "
        "ops=1 cpu=3"]

    def test_parse_run(self):
        r = scale.parse_run(self.LINES, [parse_bench(b) for b in self.BENCH])
        self.assertEqual(r["ap_online_us"], 1234)
        self.assertEqual(r["online"], 4)
        self.assertEqual(r["kernel_kib"], 4000)
        self.assertEqual(r["ipiq_kib_per_cpu"], 16)
        self.assertEqual(r["cpusync_sender_ipis"], 1)
        self.assertEqual(r["cpusync_ipis"], 3)
        self.assertEqual(r["drain_instr"], 40)
        self.assertNotIn("wakeup_instr", r)

    def test_growth(self):
        ns = (1, 2, 4, 8, 16, 32, 64, 128, 255)
        self.assertEqual(scale.growth([(n, 7) for n in ns])[1], "constant")
        self.assertEqual(scale.growth([(n, 5 * n) for n in ns])[1], "linear")
        self.assertEqual(scale.growth([(n, n - 1) for n in ns])[1], "linear")
        self.assertEqual(scale.growth([(n, n * n) for n in ns])[1],
                         "quadratic")
        self.assertEqual(scale.growth([(1, 3)])[0], None)

    def test_derive_per_cpu(self):
        runs = [dict(n=1, kernel_kib=100), dict(n=5, kernel_kib=500)]
        scale.derive(runs)
        self.assertEqual(runs[1]["kib_per_cpu"], 100)
        self.assertNotIn("kib_per_cpu", runs[0])

    def test_targets(self):
        runs = [dict(n=2, cpusync_sender_ipis=1.0),
                dict(n=255, online=255, ap_online_us=15000,
                     cpusync_sender_ipis=1.0, ipiq_kib_per_cpu=80)]
        met = [m for _, m in scale.targets(runs)]
        self.assertEqual(met, [True, True, False])
        self.assertEqual([m for _, m in scale.targets([dict(n=1)])],
                         [None, None, None])

    def test_write_doc_replaces_block(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                            "scale-doc-%d.md" % os.getpid())
        with open(path, "w") as f:
            f.write("# head\n\n%s\nold\n%s\n\ntail\n" % (scale.BEGIN,
                                                        scale.END))
        data = dict(commit="abc", kernel_sha256="0" * 64,
                    runs=[dict(n=1, status="pass", kernel_kib=10)],
                    targets=scale.targets([dict(n=1)]))
        try:
            scale.write_doc(path, data)
            with open(path) as f:
                doc = f.read()
        finally:
            os.remove(path)
        self.assertNotIn("old", doc)
        self.assertTrue(doc.startswith("# head\n"))
        self.assertTrue(doc.endswith("\ntail\n"))
        self.assertIn("| kernel memory in use | KiB | 10 |", doc)


if __name__ == "__main__":
    unittest.main()

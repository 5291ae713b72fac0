"""`make scale`: one deterministic boot per CPU count N of the scale.*
benchmarks (tests/bench_scale.c), their figures and the boot's AP start-up
time collected into build/scale.json, drawn into build/scale.png (one
log-log panel per metric) and tabulated into docs/scaling.md between the
markers SCALE_BEGIN/SCALE_END.  Owned by the scale engineer.

Usage (from the top of the tree):
  PYTHONPATH=scripts python3 -m lwkt.scale [--ns 1,2,4] [--kernel K]
      [--out build/scale.json] [--png build/scale.png]
      [--doc docs/scaling.md] [--no-boot]
--no-boot redraws the picture and the table from an existing JSON.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

from .consts import BUILD, ROOT, ST_PASS
from .matrix import Boot, DET_ARGS, PASS
from .qemu import build_iso, kernel_sha256, qemu_command, run_qemu
from .bench import judge_bench


NS = (1, 2, 4, 8, 16, 32, 64, 128, 255)
# 1 GiB: the kernel manages and maps RAM below 1 GiB only (sys/vm_page.h),
# and 255 CPUs with their stacks and FIFOs need a few hundred MiB.
SCALE_MEM = "-m 1024"
# Host seconds per boot: start-up of N single-threaded vCPUs plus the
# benchmarks, generous for a loaded 2-core host.
TIMEOUT_BASE, TIMEOUT_PER_CPU = 120, 12

AP_RE = re.compile(r"^smp: (\d+) of (\d+) CPUs online; first INIT to last "
                   r"AP online (\d+) us")

TARGET_AP_US = 20000          # 254 APs online within 20 ms of guest time
TARGET_IPIQ_KIB = 64          # IPIQ memory per CPU at 255 CPUs

# Metrics whose growth is judged beyond their N=1 value (a fixed part,
# such as the kernel image, would hide how the rest grows).
BEYOND_ONE = ("kernel_kib",)

# metric key, panel title, unit
METRICS = (
    ("ap_online_us", "AP start-up (first INIT to last AP online)", "us"),
    ("kernel_kib", "kernel memory in use", "KiB"),
    ("kib_per_cpu", "kernel memory per CPU (beyond N=1)", "KiB"),
    ("ipiq_kib_per_cpu", "IPIQ FIFOs per CPU", "KiB"),
    ("cpusync_instr", "cpusync on all CPUs", "instructions/call"),
    ("cpusync_sender_ipis", "cpusync: IPIs the sender sends", "IPIs/call"),
    ("cpusync_ipis", "cpusync: IPIs of all CPUs", "IPIs/call"),
    ("wakeup_instr", "wakeup reaching every CPU", "instructions/wakeup"),
    ("wakeup_ipis", "wakeup: IPIs of all CPUs", "IPIs/wakeup"),
    ("sched_instr", "remote lwkt_schedule", "instructions/schedule"),
    ("sched_ipis", "remote lwkt_schedule: IPIs", "IPIs/schedule"),
    ("drain_instr", "IPIQ drain on an idle CPU (nothing queued)",
     "instructions/drain"),
)


def scale_boot(n, timeout=None):
    return Boot("scale-smp%d" % n, str(n), "single",
                "test=scale.* expect.ncpus=%d test.noretry" % n, PASS,
                args=DET_ARGS + " " + SCALE_MEM,
                timeout=timeout or TIMEOUT_BASE + TIMEOUT_PER_CPU * n)


def parse_run(lines, bench):
    """The figures of one boot: its serial lines and bench results."""
    out = {}
    for line in lines:
        m = AP_RE.match(line.strip())
        if m:
            out["online"] = int(m.group(1))
            out["ap_online_us"] = int(m.group(3))
    by = dict((b.name, b) for b in bench)
    b = by.get("scale_free_kib")
    if b:
        out["free_kib"] = b.value
        out["ram_top_kib"] = b.fields.get("ram_top_kib")
        out["ipiq_kib_per_cpu"] = b.fields.get("ipiq_kib_per_cpu")
        if out["ram_top_kib"] is not None:
            out["kernel_kib"] = out["ram_top_kib"] - b.value
    for name, instr, fields in (
            ("scale_cpusync_all", "cpusync_instr",
             (("ipis_per_call", "cpusync_ipis"),
              ("sender_ipis_per_call", "cpusync_sender_ipis"))),
            ("scale_wakeup_all", "wakeup_instr",
             (("ipis_per_wakeup", "wakeup_ipis"),
              ("sender_ipis_per_wakeup", "wakeup_sender_ipis"))),
            ("scale_remote_schedule", "sched_instr",
             (("sender_ipis_per_call", "sched_ipis"),)),
            ("scale_ipiq_drain_idle", "drain_instr", ())):
        b = by.get(name)
        if b is None:
            continue
        out[instr] = b.value
        for f, key in fields:
            if f in b.fields:
                out[key] = b.fields[f]
    return out


def derive(runs):
    """kib_per_cpu: kernel memory beyond the 1-CPU boot's, per added CPU
    (the same -m for every boot, so the RAM below the kernel and the image
    cancel out)."""
    one = [r for r in runs if r["n"] == 1 and "kernel_kib" in r]
    for r in runs:
        if one and r["n"] > 1 and "kernel_kib" in r:
            r["kib_per_cpu"] = round((r["kernel_kib"] - one[0]["kernel_kib"])
                                     / (r["n"] - 1), 1)


def growth(points):
    """Growth of a metric from its (N, value) points: the log-log slope
    between the smallest and the largest N measured, from N=4 on where
    two such points exist (N-1 other CPUs is far from N below that), else
    from N=2; named constant / sub-linear / linear / super-linear /
    quadratic."""
    pts = sorted((n, v) for n, v in points if n >= 2 and v is not None
                 and v > 0)
    if len([p for p in pts if p[0] >= 4]) >= 2:
        pts = [p for p in pts if p[0] >= 4]
    if len(pts) < 2:
        return None, "not enough points"
    (n0, v0), (n1, v1) = pts[0], pts[-1]
    slope = math.log(v1 / v0) / math.log(n1 / n0)
    if slope < 0.25:
        name = "constant"
    elif slope < 0.75:
        name = "sub-linear"
    elif slope < 1.3:
        name = "linear"
    elif slope < 1.7:
        name = "super-linear"
    else:
        name = "quadratic"
    return round(slope, 2), name


def targets(runs):
    """The issue's three targets: (text, met or None if not measured)."""
    by = dict((r["n"], r) for r in runs)
    out = []
    big = by.get(255, {})
    ap = big.get("ap_online_us")
    out.append(("254 APs online <= %d us of guest time from the first INIT "
                "(measured: %s)" % (TARGET_AP_US,
                                   "%s us" % ap if ap is not None else
                                   "no -smp 255 run"),
                None if ap is None or big.get("online") != 255
                else ap <= TARGET_AP_US))
    s = [(r["n"], r["cpusync_sender_ipis"]) for r in runs
         if r.get("cpusync_sender_ipis") is not None and r["n"] >= 2]
    out.append(("cpusync sender-side cost independent of N (the sender's "
                "IPIs per call: %s)" % (", ".join("N=%d: %s" % p for p in s)
                                        or "not measured"),
                None if len(s) < 2 else
                max(v for _, v in s) == min(v for _, v in s)))
    ip = big.get("ipiq_kib_per_cpu")
    out.append(("IPIQ memory <= %d KiB per CPU at 255 CPUs (measured: %s)"
                % (TARGET_IPIQ_KIB, "%s KiB" % ip if ip is not None else
                   "no -smp 255 run"),
                None if ip is None else ip <= TARGET_IPIQ_KIB))
    return out


def git_commit():
    try:
        c = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "-uno"],
                               cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def run_all(kernel, ns, log):
    runs = []
    for n in ns:
        boot = scale_boot(n)
        iso, err = build_iso(kernel, boot["cmdline"])
        if err:
            log("scale: N=%d: %s" % (n, err))
            runs.append(dict(n=n, status="error", reasons=[err]))
            continue
        os.makedirs(os.path.join(BUILD, "logs"), exist_ok=True)
        log_path = os.path.join(BUILD, "logs", "%s.log" % boot["name"])
        br = run_qemu(qemu_command(boot, iso), boot["timeout"], log_path)
        res = judge_bench(boot, br.parser, br.qemu_status, br.timed_out,
                          br.timeout, br.start_error)
        r = dict(n=n, status=res.status, reasons=res.reasons[:5],
                 wall_s=round(br.wall, 1), log=os.path.relpath(log_path,
                                                               ROOT))
        r.update(parse_run(br.parser.lines, br.parser.bench))
        runs.append(r)
        log("scale: N=%-3d %-5s %6.1f s host  %s" % (
            n, res.status, br.wall, " ".join(
                "%s=%s" % (k, r[k]) for k, _, _ in METRICS if k in r)))
    derive(runs)
    return runs


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float) and v != int(v):
        return "%.2f" % v
    return "%d" % v


def table(runs):
    ns = [r["n"] for r in runs]
    head = "| metric | unit | " + " | ".join("N=%d" % n for n in ns) + \
        " | growth (log-log slope) |"
    lines = [head, "|" + " --- |" * (len(ns) + 3)]
    for key, title, unit in METRICS:
        vals = [r.get(key) for r in runs]
        if all(v is None for v in vals):
            continue
        pts = [(r["n"], r.get(key)) for r in runs]
        base = dict(pts).get(1)
        note = ""
        if key in BEYOND_ONE and base is not None:
            pts = [(n, None if v is None else v - base) for n, v in pts]
            note = ", beyond N=1"
        slope, name = growth(pts)
        lines.append("| %s | %s | %s | %s |" % (
            title, unit, " | ".join(fmt(v) for v in vals),
            name if slope is None else "%s (%s%s)" % (name, slope, note)))
    return "\n".join(lines)


def render_png(runs, path):
    """One log-log panel per metric; returns None or why it was skipped."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return render_png_system(path)
    shown = [(k, t, u) for k, t, u in METRICS
             if any(r.get(k) for r in runs)]
    cols = 3
    rows = max(1, (len(shown) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows),
                             squeeze=False)
    for ax, (key, title, unit) in zip(axes.flat, shown):
        pts = [(r["n"], r[key]) for r in runs
               if r.get(key) is not None and r[key] > 0]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("CPUs (N)")
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return None


SYSTEM_PYTHON = "/usr/bin/python3"


def render_png_system(path):
    """The Python running us has no matplotlib (e.g. a pyenv one): draw
    with the system's, which scripts/install-deps gives python3-matplotlib,
    from the JSON already written (--png-only)."""
    why = "matplotlib not installed (scripts/install-deps)"
    if os.path.realpath(sys.executable) == os.path.realpath(SYSTEM_PYTHON) \
            or not os.path.exists(SYSTEM_PYTHON) or RENDER_JSON[0] is None:
        return why
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "scripts"))
    r = subprocess.run([SYSTEM_PYTHON, "-m", "lwkt.scale", "--png-only",
                        "--out", RENDER_JSON[0], "--png", path], env=env,
                       capture_output=True, text=True)
    if r.returncode == 0:
        return None
    said = (r.stdout + r.stderr).strip().splitlines()
    return why + (": " + said[-1] if said else "")


RENDER_JSON = [None]          # the JSON render_png_system hands over


BEGIN, END = "<!-- SCALE_BEGIN -->", "<!-- SCALE_END -->"


def write_doc(path, data):
    runs = data["runs"]
    body = ["Generated by `make scale` from commit %s (kernel sha256 %s); "
            "every boot deterministic (%s, %s)." % (
                data["commit"], data["kernel_sha256"][:12],
                "-icount shift=0,sleep=off -rtc clock=vm", SCALE_MEM), ""]
    bad = [r for r in runs if r.get("status") != ST_PASS]
    for r in bad:
        body.append("- N=%d: boot %s: %s" % (r["n"], r.get("status"),
                                             "; ".join(r.get("reasons", []))))
    if bad:
        body.append("")
    body += [table(runs), "", "Targets:", ""]
    for text, met in data["targets"]:
        body.append("- %s: **%s**" % (text, "not measured" if met is None
                                      else "met" if met else "not met"))
    block = "\n".join([BEGIN] + body + [END])
    doc = ""
    if os.path.exists(path):
        with open(path) as f:
            doc = f.read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) +
                                                   len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(doc)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scale", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("--ns", default=",".join(str(n) for n in NS),
                    help="CPU counts to boot (default %(default)s)")
    ap.add_argument("--kernel", default=os.path.join("build", "kernel.elf"))
    ap.add_argument("--out", default=os.path.join("build", "scale.json"))
    ap.add_argument("--png", default=os.path.join("build", "scale.png"))
    ap.add_argument("--doc", default=os.path.join("docs", "scaling.md"))
    ap.add_argument("--no-boot", action="store_true",
                    help="redraw the picture and the table from --out")
    ap.add_argument("--png-only", action="store_true",
                    help="only draw the picture from --out")
    a = ap.parse_args(argv)
    RENDER_JSON[0] = a.out
    if a.png_only:
        with open(a.out) as f:
            why = render_png(json.load(f)["runs"], a.png)
        if why:
            print("scale: %s" % why)
        return 1 if why else 0
    try:
        ns = [int(x) for x in a.ns.split(",") if x.strip()]
    except ValueError:
        print("scale: --ns %r is not a list of CPU counts" % a.ns)
        return 4
    if not ns or any(n < 1 or n > 255 for n in ns):
        print("scale: --ns %r: each N must be 1..255" % a.ns)
        return 4
    if a.no_boot:
        with open(a.out) as f:
            data = json.load(f)
    else:
        if not os.path.exists(a.kernel):
            print("scale: kernel %s not found (run make)" % a.kernel)
            return 4
        commit = git_commit()         # the tree the kernel was built from
        runs = run_all(a.kernel, ns, lambda s: print(s, flush=True))
        data = dict(commit=commit, kernel=a.kernel,
                    kernel_sha256=kernel_sha256(a.kernel),
                    qemu_args=DET_ARGS + " " + SCALE_MEM, runs=runs)
        data["targets"] = targets(runs)
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    why = render_png(data["runs"], a.png)
    print("scale: %s" % ("picture not drawn: " + why if why else
                         "picture in " + a.png))
    write_doc(a.doc, data)
    print(table(data["runs"]))
    for text, met in data["targets"]:
        print("scale: target %s: %s" % (text, "not measured" if met is None
                                        else "met" if met else "NOT MET"))
    print("scale: results in %s, table in %s" % (a.out, a.doc))
    return 0 if all(r.get("status") == ST_PASS for r in data["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())

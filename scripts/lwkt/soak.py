"""`soak` (make soak): N boots whose configurations are drawn from one seed
(CPU count, TCG mode, chaos, untimely_switch, hz, IPIQ FIFO depth, test
selection, kernel seed), JOBS at once, each judged exactly like a matrix
boot (testrun.run_boot), with a progress line per boot, a table by
configuration at the end, build/soak.json and a reproducer per failure.
Owned by the soak engineer; the weights are documented in docs/testing.md
("Soak") and change together with it.
"""

import datetime
import json
import os
import random
import subprocess
import threading
import time

from .consts import BUILD, ROOT, EXIT_CODE, ST_PASS, ST_ERROR
from .matrix import Boot, PASS, DET_ARGS, build_flags, kernel_path
from .qemu import RUNNING, RUNNING_LOCK, build_iso, kill_group, test_registry
from .report import commit_id, reproducer
from .testrun import run_boot, run_parallel

# Weights of each dimension's values (relative; docs/testing.md "Soak").
CPU_WEIGHTS = ((1, 15), (2, 20), (3, 10), (4, 20), (5, 5), (6, 6), (7, 3),
               (8, 10), (9, 1), (10, 1), (11, 1), (12, 2), (13, 1), (14, 1),
               (15, 1), (16, 3))
MODE_WEIGHTS = (("single", 45), ("multi", 35), ("det", 20))
CHAOS_PCT = 30                 # boots on the chaos kernel with chaos on
RATE_WEIGHTS = ((16, 1), (64, 2), (256, 1))
UNTIMELY_PCT = 20
HZ_WEIGHTS = ((100, 55), (25, 10), (250, 20), (1000, 15))
FIFO_DEFAULT = 32              # the default kernel's MAXCPUFIFO
FIFO_WEIGHTS = ((32, 55), (8, 15), (16, 15), (64, 15))
SUBSET_PCT = 50                # a random 1..SUBSET_MAX suites, not all
SUBSET_MAX = 4
REPEAT_PCT = 30                # of the subsets: repeat=2 or 3
SOLO_CPUS = 8                  # multi-TCG boots this big run alone
MAX_SMP = 64                   # SMP= at most: what a soak boot affords
BIG_SMP = 32                   # above this, boots get BIG_MEM of RAM
BIG_MEM = "-m 512"

SOAK_DIR = os.path.join(BUILD, "soak")
LOG_DIR = os.path.join(SOAK_DIR, "logs")
SOAK_JSON = os.path.join(BUILD, "soak.json")
DIMENSIONS = ("cpus", "tcg", "chaos", "chaos.rate", "untimely", "hz",
              "fifo", "tests", "repeat")


def pick(rng, weighted):
    return rng.choices([v for v, _ in weighted],
                       [w for _, w in weighted])[0]


def soak_suites(registry):
    """The suites a subset is drawn from, in run order: those whose tests
    all run by default (not the manual selftest or bench suites)."""
    special, order = set(), []
    for name, is_special in registry:
        suite = name.split(".", 1)[0]
        if suite not in order:
            order.append(suite)
        if is_special:
            special.add(suite)
    return [s for s in order if s not in special]


def draw(rng, suites, smp=None):
    """One configuration.  Every dimension is drawn, in a fixed order,
    whatever SMP= says, so fixing the CPU count changes nothing else."""
    cpus = pick(rng, CPU_WEIGHTS)
    cfg = dict(cpus=smp or cpus, tcg=pick(rng, MODE_WEIGHTS))
    chaos = rng.randrange(100) < CHAOS_PCT
    chaos_seed = rng.randrange(1, 1 << 32)
    rate = pick(rng, RATE_WEIGHTS)
    cfg["chaos"] = chaos_seed if chaos else None
    cfg["chaos.rate"] = rate if chaos else None
    cfg["untimely"] = int(rng.randrange(100) < UNTIMELY_PCT)
    cfg["hz"] = pick(rng, HZ_WEIGHTS)
    cfg["fifo"] = pick(rng, FIFO_WEIGHTS)
    subset = rng.randrange(100) < SUBSET_PCT
    k = rng.randint(1, min(SUBSET_MAX, len(suites) or 1))
    chosen = rng.sample(suites, k) if subset and suites else []
    repeat = rng.choice((2, 3)) if rng.randrange(100) < REPEAT_PCT else 1
    cfg["tests"] = ",".join("%s.*" % s for s in suites if s in chosen) \
        or "all"
    cfg["repeat"] = repeat if chosen else 1
    cfg["seed"] = rng.randrange(1, 1 << 32)
    return cfg


def draw_configs(seed, n, suites, smp=None):
    rng = random.Random(seed)
    return [draw(rng, suites, smp) for _ in range(n)]


def variant(cfg):
    """(make flags, kernel path) of the build a configuration boots:
    matrix.kernel_path's build/<tags>/kernel.elf and its build_flags."""
    kernel = kernel_path(chaos=cfg["chaos"] is not None,
                         fifo=None if cfg["fifo"] == FIFO_DEFAULT
                         else cfg["fifo"])
    return tuple(build_flags(kernel)), kernel


def cmdline(cfg):
    words = ["expect.ncpus=%d" % cfg["cpus"], "seed=%d" % cfg["seed"]]
    if cfg["tests"] != "all":
        words.append("test=" + cfg["tests"])
    if cfg["repeat"] != 1:
        words.append("repeat=%d" % cfg["repeat"])
    if cfg["hz"] != 100:
        words.append("hz=%d" % cfg["hz"])
    if cfg["untimely"]:
        words.append("untimely_switch=1")
    if cfg["chaos"] is not None:
        words += ["chaos=%d" % cfg["chaos"],
                  "chaos.rate=%d" % cfg["chaos.rate"]]
    if cfg["tcg"] == "det":
        words.append("test.noretry")
    return " ".join(words)


def boot_timeout(cfg):
    """Host seconds before the boot is called hung: a base and a cost per
    CPU by TCG mode, times the slowdowns of chaos, untimely_switch,
    hz=1000 and repeat=; about 2.5 times what healthy boots took on the
    loaded 2-core host (docs/testing.md "Soak").  A hang inside a test
    still fails first, by name, at the kernel's test.timeout."""
    base, per_cpu = {"single": (60, 10), "multi": (90, 20),
                     "det": (60, 25)}[cfg["tcg"]]
    t = base + per_cpu * cfg["cpus"]
    if cfg["chaos"] is not None:
        t *= 1 + cfg["chaos.rate"] / 256.0
    if cfg["untimely"]:
        t *= 2
    if cfg["hz"] >= 1000:
        t *= 1.25
    return int(t * cfg["repeat"])


def soak_boot(i, cfg, kernel):
    """The matrix row of configuration number i (1-based)."""
    det = cfg["tcg"] == "det"
    args = [DET_ARGS] if det else []
    if cfg["cpus"] > BIG_SMP:
        args.append(BIG_MEM)
    return Boot("soak-%04d" % i, str(cfg["cpus"]),
                "single" if det else cfg["tcg"], cmdline(cfg), PASS,
                args=" ".join(args), timeout=boot_timeout(cfg),
                kernel=kernel, solo=(cfg["tcg"] == "multi" and
                                     cfg["cpus"] >= SOLO_CPUS))


def make_env():
    """The environment of a variant's `make`: without the calling make's
    variables and jobserver (`make soak CRIT_DEBUG=1` must not leak)."""
    return dict((k, v) for k, v in os.environ.items()
                if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES"))


def build_variants(configs, built=()):
    """Build every kernel the configurations need, one `make` each.  A
    variant this Makefile has no rule for (`make -n` fails) is said in one
    line and its boots fall back: chaos off, the default FIFO depth.
    Kernels in `built` are not made again.  Returns the configurations,
    or None after printing the output of a build that failed."""
    env = make_env()

    def make(flags, kernel, *opts):
        return subprocess.run(
            ["make", "--no-print-directory", "-C", ROOT] + list(opts) +
            list(flags) + [kernel], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            universal_newlines=True)
    cant = {}
    for flags, kernel in sorted({variant(c) for c in configs}):
        r = make(flags, kernel, "-n")
        if r.returncode != 0:
            why = (r.stdout.strip().splitlines() or ["exit %d" %
                                                     r.returncode])[-1]
            cant.update((f, (kernel, why)) for f in flags)
    for flag in sorted(cant):
        print("soak: make -n %s %s fails (%s): its boots run with %s" % (
            flag, cant[flag][0], cant[flag][1], "chaos off" if
            flag == "CHAOS=1" else "the default FIFO depth (%d)"
            % FIFO_DEFAULT))
    for c in configs:
        if "CHAOS=1" in cant:
            c["chaos"] = c["chaos.rate"] = None
        if "MAXCPUFIFO=%d" % c["fifo"] in cant:
            c["fifo"] = FIFO_DEFAULT
    for flags, kernel in sorted({variant(c) for c in configs} - set(built)):
        print("soak: make %s" % " ".join(flags + (kernel,)), flush=True)
        r = make(flags, kernel, "-j%d" % (os.cpu_count() or 2))
        if r.returncode != 0:
            print("soak: ERROR: the build failed:\n" +
                  "\n".join(r.stdout.splitlines()[-20:]))
            return None
    return configs


def dim_value(cfg, dim):
    v = cfg[dim]
    if dim == "chaos":
        return "off" if v is None else "on"
    if dim == "tests":
        return "all" if v == "all" else "subset"
    return v


def summary_lines(records):
    """The table by configuration dimension: boots and failures per value."""
    out = ["%-11s %-8s %6s %7s" % ("dimension", "value", "boots", "failed")]
    for dim in DIMENSIONS:
        rows = {}
        for r in records:
            v = dim_value(r["config"], dim)
            if v is None:
                continue
            n = rows.setdefault(v, [0, 0])
            n[0] += 1
            n[1] += r["status"] != ST_PASS
        for v in sorted(rows, key=lambda x: (isinstance(x, str), x)):
            out.append("%-11s %-8s %6d %7d" % (dim, v, rows[v][0], rows[v][1]))
    return out


def fmt_secs(s):
    s = int(s)
    return "%dh%02dm" % (s // 3600, s % 3600 // 60) if s >= 3600 else \
        "%dm%02ds" % (s // 60, s % 60)


def describe(cfg):
    return "cpus=%-2d %-6s hz=%-4d fifo=%-2d untimely=%d chaos=%s tests=%s%s" % (
        cfg["cpus"], cfg["tcg"], cfg["hz"], cfg["fifo"], cfg["untimely"],
        "off" if cfg["chaos"] is None else "%d/%d" % (cfg["chaos"],
                                                      cfg["chaos.rate"]),
        cfg["tests"], " x%d" % cfg["repeat"] if cfg["repeat"] > 1 else "")


def why(rec):
    """A failed boot in one line: its verdict's reasons, then the first
    failed tests or checks by name."""
    return "; ".join(rec["reasons"][:2] + rec["failed"][:3])


def write_json(path, head, records):
    tmp = path + ".%d.tmp" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(dict(head, boots=sorted(records, key=lambda r: r["name"])),
                  f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def cmd_soak(a):
    if a.smp is not None and not 1 <= a.smp <= MAX_SMP:
        print("soak: SMP=%d: give a CPU count from 1 to %d" % (a.smp, MAX_SMP))
        return EXIT_CODE[ST_ERROR]
    seed = a.seed if a.seed is not None else \
        random.SystemRandom().randrange(1, 1 << 32)
    same = "SEED=%d N=%d%s" % (seed, a.n, " SMP=%d" % a.smp if a.smp else "")
    print("soak: %s JOBS=%d (make soak %s replays this list of "
          "configurations)" % (same, a.jobs, same), flush=True)
    default = dict(chaos=None, fifo=FIFO_DEFAULT)
    if build_variants([default]) is None:
        return EXIT_CODE[ST_ERROR]
    reg = test_registry(variant(default)[1])
    if isinstance(reg, str):
        print("soak: ERROR: %s" % reg)
        return EXIT_CODE[ST_ERROR]
    configs = build_variants(draw_configs(seed, a.n, soak_suites(reg), a.smp),
                             [variant(default)])
    if configs is None:
        return EXIT_CODE[ST_ERROR]
    boots = [soak_boot(i + 1, c, variant(c)[1]) for i, c in enumerate(configs)]
    registries = {}
    for k in sorted({b["kernel"] for b in boots}):
        registries[k] = test_registry(k)
    os.makedirs(LOG_DIR, exist_ok=True)
    for f in os.listdir(LOG_DIR):
        if f.startswith("soak-"):
            os.unlink(os.path.join(LOG_DIR, f))
    commit = commit_id()
    head = dict(seed=seed, n=a.n, jobs=a.jobs, smp=a.smp, commit=commit,
                started=datetime.datetime.now().isoformat(timespec="seconds"),
                interrupted=False)
    records, stop = [], threading.Event()
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(i):
        boot = boots[i]
        log = os.path.join(LOG_DIR, "%s.log" % boot["name"])
        iso, err = build_iso(boot["kernel"], boot["cmdline"])
        br, out = run_boot(boot, iso, err, log, registries[boot["kernel"]])
        try:
            os.unlink(iso or "")
        except OSError:
            pass
        if stop.is_set():
            return
        rec = dict(name=boot["name"], config=configs[i],
                   kernel=boot["kernel"],
                   smp=boot["smp"], thread=boot["thread"],
                   qemu_args=" ".join(boot["args"]),
                   cmdline=boot["cmdline"], timeout=boot["timeout"],
                   status=out.status, guest=out.guest,
                   reasons=out.reasons, failed=[
                       "%s (%s)" % (c.name, c.message) for c in out.cases
                       if c.result == "fail"],
                   duration=round(br.wall, 1),
                   log=os.path.relpath(log, ROOT),
                   reproduce=reproducer(boot, br.parser.seed, commit))
        with lock:
            records.append(rec)
            head["wall"] = round(time.monotonic() - t0, 1)
            write_json(SOAK_JSON, head, records)
            nfail = sum(r["status"] != ST_PASS for r in records)
            el = time.monotonic() - t0
            eta = el / len(records) * (len(boots) - len(records))
            print("[%*d/%d] %s %-5s %6.1f s  %s | %d failed, ETA %s" % (
                len(str(len(boots))), len(records), len(boots),
                boot["name"], out.status.upper(), br.wall,
                describe(configs[i]), nfail, fmt_secs(eta)), flush=True)
            if out.status != ST_PASS:
                print("    %s\n    log: %s\n    reproduce: %s" % (
                    why(rec), rec["log"], rec["reproduce"]), flush=True)
    try:
        run_parallel(a.jobs, range(len(boots)),
                     lambda i: boots[i]["solo"], one)
    except KeyboardInterrupt:
        stop.set()
        with RUNNING_LOCK:
            procs = list(RUNNING)
        for proc in procs:
            kill_group(proc)
        head["interrupted"] = True
        print("\nsoak: interrupted after %d of %d boots" % (len(records),
                                                            len(boots)))
    with lock:
        done = sorted(records, key=lambda r: r["name"])
        head["wall"] = round(time.monotonic() - t0, 1)
        write_json(SOAK_JSON, head, done)
    bad = [r for r in done if r["status"] != ST_PASS]
    print("== soak SEED=%d: %d boot(s), %d failed, %s" % (
        seed, len(done), len(bad), fmt_secs(head["wall"])))
    for line in summary_lines(done):
        print("   " + line)
    for r in bad:
        print("   %s %s: %s\n     log: %s\n     %s" % (
            r["name"], r["status"].upper(), why(r), r["log"],
            r["reproduce"]))
    print("soak: every boot in %s" % os.path.relpath(SOAK_JSON, ROOT))
    if head["interrupted"]:
        return 130
    return 1 if bad else 0

"""`test`: the boot matrix, boots run in parallel (solo rows alone), each
judged, logged and reported as it finishes.
"""

import json
import os
import re
import threading
import time

from .consts import BUILD, EXIT_CODE, ST_PASS, ST_FAIL, ST_ERROR
from .matrix import PASS, LIST
from .rows import MATRIX
from .qemu import (BootRun, RUNNING, RUNNING_LOCK, build_iso, kill_group,
                   prune_isos, qemu_command, run_qemu, test_registry)
from .verdict import judge_run
from .checks import twin_case
from .report import (commit_id, junit_xml, print_boot, reproducer,
                     result_json)
from .tap import tap_consumer_case, write_ktap


LAST_FAILED = os.path.join(BUILD, "last-failed.json")


def load_last_failed(path=None):
    """The boot names the last `test` run(s) left failed, or None (after
    saying why) if that record cannot be read."""
    path = path or LAST_FAILED
    try:
        with open(path) as f:
            names = json.load(f)["failed"]
        if not all(isinstance(n, str) for n in names):
            raise ValueError("not a list of boot names")
        return names
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("runner: cannot read %s (%s): run `make test` first"
              % (os.path.relpath(path), e))
        return None


def save_last_failed(ran, failed, path=None):
    """Remember the failed boots: those that failed now, and those that
    failed before and did not run now."""
    path = path or LAST_FAILED
    try:
        with open(path) as f:
            before = json.load(f)["failed"]
    except (OSError, ValueError, KeyError, TypeError):
        before = []
    keep = [n for n in before if n not in ran] + list(failed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".%d.tmp" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(dict(failed=keep), f)
        f.write("\n")
    os.replace(tmp, path)


def select_boots(matrix, only=None, failed=None):
    """The rows to run: matching --only, and with --failed (a list of
    names) only those, plus the first boot of any twin row among them (a
    twin is judged against it)."""
    boots = matrix
    if only:
        rx = re.compile(only)
        boots = [b for b in boots if rx.search(b["name"])]
    if failed is not None:
        want = set(failed)
        want |= {b["twin"] for b in boots if b["name"] in want and
                 b.get("twin")}
        boots = [b for b in boots if b["name"] in want]
    return boots


BOOT_TIMES = os.path.join(BUILD, "boot-times.json")


def load_json(path, default):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_boot_times(walls, path=None):
    """Merge {boot: wall seconds} into the record run_order() reads."""
    path = path or BOOT_TIMES
    times = load_json(path, {})
    if not isinstance(times, dict):
        times = {}
    times.update(walls)
    tmp = path + ".%d.tmp" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(times, f, indent=0, sort_keys=True)
    os.replace(tmp, path)


def run_order(boots, walls):
    """The order boots start in: solo rows first (they need every slot, so
    nothing has to drain for them), then the longest first by the last
    recorded wall times (unknown ones first: they may be long), so no long
    boot runs alone at the end; a twin row never before its first boot
    (it waits for it holding a slot).  Verdicts do not depend on it."""
    def key(b):
        w = walls.get(b["name"])
        return (not b.get("solo"),
                -w if isinstance(w, (int, float)) else -float("inf"))
    names = {b["name"] for b in boots}
    out, placed, waiting = [], set(), []
    for b in sorted(boots, key=key):
        if b.get("twin") in names and b["twin"] not in placed:
            waiting.append(b)
            continue
        out.append(b)
        placed.add(b["name"])
        for w in [w for w in waiting if w["twin"] in placed]:
            waiting.remove(w)
            out.append(w)
            placed.add(w["name"])
    return out + waiting


def run_parallel(jobs, items, solo, work):
    """Call work(item) in a thread per item, in the order given, with at
    most `jobs` running at once; an item for which solo(item) is true runs
    alone (it takes every slot).  Returns when all are done.  ^C
    (KeyboardInterrupt) reaches the caller at once; the threads are daemons
    and the caller kills the QEMUs still RUNNING."""
    cond = threading.Condition()
    state = dict(free=jobs)

    def run(item, slots):
        try:
            work(item)
        finally:
            with cond:
                state["free"] += slots
                cond.notify_all()

    threads = []
    for item in items:
        slots = jobs if solo(item) else 1
        with cond:
            while state["free"] < slots:
                cond.wait(0.5)
            state["free"] -= slots
        t = threading.Thread(target=run, args=(item, slots), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        while t.is_alive():
            t.join(0.5)


def add_case(outcome, c):
    """Add a boot-level case to a judged boot; a failing one fails it."""
    outcome.cases.append(c)
    if c.result == "fail":
        outcome.reasons.append(c.message)
        if outcome.status == ST_PASS:
            outcome.status = ST_ERROR if c.error else ST_FAIL
            outcome.code = EXIT_CODE[outcome.status]


def run_boot(boot, iso, err, log_path, registry=None, deadline=None,
             budget=None):
    """Boot one row and judge it as every matrix boot is judged: the
    verdict (judge_run, with the kernel's `registry` for a PASS row, or
    a function returning it, called once QEMU has exited), then
    its .ktap beside the log read by a TAP consumer.  err: why its ISO
    could not be built; deadline (time.monotonic()): the run's global
    budget of `budget` s, after which the boot is not started.  A runner
    bug becomes a harness error of this boot.  Returns (BootRun, Outcome);
    `test` adds the twin comparison, `soak` nothing."""
    logdir = os.path.dirname(log_path)
    try:
        if err:
            br = BootRun()
            br.start_error = err
            br.cmd = qemu_command(boot, "<no iso>")
            with open(log_path, "w") as f:
                f.write("runner: %s\n" % err)
        elif deadline is not None and time.monotonic() >= deadline:
            br = BootRun()
            br.start_error = ("not run: global budget of %d s exhausted"
                              % budget)
            br.cmd = qemu_command(boot, iso)
            with open(log_path, "w") as f:
                f.write("runner: %s\n" % br.start_error)
        else:
            br = run_qemu(qemu_command(boot, iso), boot["timeout"],
                          log_path, None, deadline)
        if callable(registry):
            registry = registry()
        outcome = judge_run(boot, br,
                            registry if boot["expect"] == PASS else None)
        ktap = write_ktap(boot["name"], br.parser.lines, logdir)
        if ktap and boot["expect"] != LIST:
            add_case(outcome, tap_consumer_case(boot["name"], br.parser,
                                                ktap[1]))
    except Exception as e:        # a runner bug must not lose the boot
        br = BootRun()
        br.cmd = qemu_command(boot, iso or "<no iso>")
        br.start_error = "runner error: %r" % (e,)
        outcome = judge_run(boot, br)
    return br, outcome


def boot_json(r):
    """A boot's record in test-results.json: result_json's, plus the host
    CPU seconds QEMU used (host_cpu_s; null if unknown), which unlike the
    wall time does not grow with the host's load."""
    return dict(result_json(r), host_cpu_s=(
        None if r["host_cpu"] is None else round(r["host_cpu"], 2)))


def progress_line(done, total, failed, elapsed):
    return "-- %d/%d boots done, %d failed, %.0f s elapsed" % (
        done, total, failed, elapsed)


def cmd_test(a):
    failed = None
    if getattr(a, "failed", False):
        failed = load_last_failed()
        if failed is None:
            return EXIT_CODE[ST_ERROR]
        if not failed:
            print("runner: no boot failed last time; nothing to re-run")
            return 0
    boots = select_boots(MATRIX, a.only, failed)
    if a.list:
        for b in boots:
            extra = b["args"] + (["-machine", b["machine"]]
                                 if b["machine"] != "pc" else [])
            print("%-14s -smp %-32s thread=%-6s %-6s %4ss  %s%s" % (
                b["name"], b["smp"], b["thread"], b["expect"], b["timeout"],
                b["cmdline"], ("  [" + " ".join(extra) + "]") if extra else ""))
        return 0
    if not boots:
        print("runner: no boot matches --only %r" % a.only)
        return EXIT_CODE[ST_ERROR]
    for k in {b["kernel"] or a.kernel for b in boots}:
        if not os.path.exists(k):
            print("runner: ERROR: kernel %s not found (run make)" % k)
            return EXIT_CODE[ST_ERROR]

    t_start = time.monotonic()
    deadline = t_start + a.budget
    logdir = os.path.join(BUILD, "logs")
    os.makedirs(logdir, exist_ok=True)

    # 1. Each boot builds its ISO (one per distinct kernel and command
    # line, built once) as it starts, and a PASS row's verdict waits for
    # the tests its kernel registers (one cached test.list boot each, run
    # beside the first boots), to cross-check its plan: no boot waits for
    # host work another boot does not need.
    def iso_key(b):
        return (b["kernel"] or a.kernel, b["cmdline"])
    isos = {}
    iso_locks = dict((iso_key(b), threading.Lock()) for b in boots)

    def iso_of(boot):
        key = iso_key(boot)
        with iso_locks[key]:
            if key not in isos:
                isos[key] = build_iso(key[0], key[1])
            return isos[key]

    registries = {}
    kernels = sorted({b["kernel"] or a.kernel for b in boots
                      if b["expect"] == PASS})

    def reg(k):
        registries[k] = test_registry(k)
    reg_threads = dict((k, threading.Thread(target=reg, args=(k,),
                                            daemon=True)) for k in kernels)
    for t in reg_threads.values():
        t.start()

    def registry_of(k):
        def get():
            t = reg_threads.get(k)
            if t is None:
                return None
            while t.is_alive():
                t.join(0.5)
            return registries.get(k)
        return get

    # 2. Boots: up to `jobs` at once; solo rows take every slot.
    width = max(len(b["name"]) for b in boots)
    results = {}
    print_lock = threading.Lock()
    # A twin row waits for its first boot (which the matrix lists before
    # it) to be judged, then compares the two logs.
    twin_done = dict((b["twin"], threading.Event()) for b in boots
                     if b.get("twin"))
    names = [b["name"] for b in boots]
    for t in list(twin_done):
        if t not in names:
            twin_done[t].set()

    commit = commit_id()
    done = dict(n=0, failed=0)

    def one(boot):
        iso, err = iso_of(boot)
        log_path = os.path.join(logdir, "%s.log" % boot["name"])
        rel = os.path.relpath(log_path)
        started = time.time()
        try:
            br, outcome = run_boot(boot, iso, err, log_path,
                                   registry_of(boot["kernel"] or a.kernel),
                                   deadline, a.budget)
            if boot.get("twin"):
                twin_done[boot["twin"]].wait()
                first = results.get(boot["twin"])
                add_case(outcome, twin_case(
                    boot, br.parser, first["parser"] if first else None))
            r = dict(boot=boot, parser=br.parser, outcome=outcome,
                     wall=br.wall, host_cpu=br.host_cpu, cmd=br.cmd,
                     log=rel,
                     qemu_status=br.qemu_status, started=started,
                     ktap=os.path.relpath(os.path.join(
                         logdir, "%s.ktap" % boot["name"])),
                     reproduce=reproducer(boot, br.parser.seed, commit))
            results[boot["name"]] = r
            with print_lock:
                print_boot(r, width)
                done["n"] += 1
                done["failed"] += outcome.status != ST_PASS
                print(progress_line(done["n"], len(boots), done["failed"],
                                    time.monotonic() - t_start), flush=True)
        finally:
            if boot["name"] in twin_done:
                twin_done[boot["name"]].set()

    try:
        run_parallel(a.jobs, run_order(boots, load_json(BOOT_TIMES, {})),
                     lambda b: b.get("solo"), one)
    except KeyboardInterrupt:
        with RUNNING_LOCK:
            procs = list(RUNNING)
        for proc in procs:
            kill_group(proc)
        print("\nrunner: interrupted")
        return 130

    prune_isos({v[0] for v in isos.values() if v[0]})
    ordered = [results[b["name"]] for b in boots if b["name"] in results]
    with open(os.path.join(BUILD, "test-results.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write(junit_xml(ordered, time.monotonic() - t_start) + "\n")
    npass = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "pass")
    nfail = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "fail")
    nskip = sum(1 for r in ordered for c in r["outcome"].cases
                if c.result == "skip")
    wall = time.monotonic() - t_start
    with open(os.path.join(BUILD, "test-results.json"), "w") as f:
        json.dump(dict(kernel=os.path.relpath(a.kernel), wall_time=round(wall, 3),
                       passed=npass, failed=nfail, skipped=nskip,
                       host_cpu_s=round(sum(r["host_cpu"] or 0
                                            for r in ordered), 2),
                       boots=[boot_json(r) for r in ordered]), f, indent=1)
        f.write("\n")
    bad = [r for r in ordered if r["outcome"].status != ST_PASS]
    print("== %d boot(s) in %.0f s; %d skipped; results in build/"
          "test-results.{xml,json}" % (len(ordered), wall, nskip))
    for r in bad:
        print("   %-*s %s (%s)" % (width, r["boot"]["name"],
                                   r["outcome"].status.upper(), r["log"]))
        print("   %-*s %s" % (width, "", r["reproduce"]))
    save_boot_times(dict((r["boot"]["name"], round(r["wall"], 1))
                         for r in ordered if r["outcome"].status != ST_ERROR))
    save_last_failed([r["boot"]["name"] for r in ordered],
                     [r["boot"]["name"] for r in bad])
    if bad:
        print("   re-run only these: make test FAILED=1")
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if (bad or nfail) else 0

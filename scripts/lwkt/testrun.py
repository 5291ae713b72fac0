"""`test`: the boot matrix, boots run in parallel (solo rows alone), each
judged, logged and reported as it finishes.
"""

import json
import os
import re
import threading
import time

from .consts import BUILD, EXIT_CODE, ST_PASS, ST_FAIL, ST_ERROR
from .matrix import MATRIX, PASS
from .qemu import (BootRun, RUNNING, RUNNING_LOCK, build_iso, kill_group,
                   prune_isos, qemu_command, run_qemu, test_registry)
from .verdict import judge_run
from .checks import twin_case
from .report import junit_xml, print_boot, result_json


def cmd_test(a):
    boots = MATRIX
    if a.only:
        rx = re.compile(a.only)
        boots = [b for b in MATRIX if rx.search(b["name"])]
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

    # 1. ISOs, in parallel (one per distinct kernel and command line).
    def iso_key(b):
        return (b["kernel"] or a.kernel, b["cmdline"])
    keys = sorted({iso_key(b) for b in boots})
    isos = {}
    lock = threading.Lock()

    def mk(key):
        r = build_iso(key[0], key[1])
        with lock:
            isos[key] = r
    ths = [threading.Thread(target=mk, args=(k,)) for k in keys]
    for i in range(0, len(ths), os.cpu_count() or 2):
        batch = ths[i:i + (os.cpu_count() or 2)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
    prune_isos({v[0] for v in isos.values() if v[0]})

    # The tests each kernel registers (one cached test.list boot each),
    # to cross-check every PASS row's plan.
    registries = {}
    kernels = sorted({b["kernel"] or a.kernel for b in boots
                      if b["expect"] == PASS})

    def reg(k):
        registries[k] = test_registry(k)
    ths = [threading.Thread(target=reg, args=(k,)) for k in kernels]
    for i in range(0, len(ths), a.jobs):
        for t in ths[i:i + a.jobs]:
            t.start()
        for t in ths[i:i + a.jobs]:
            t.join()

    # 2. Boots: up to `jobs` at once; solo rows take every slot.
    width = max(len(b["name"]) for b in boots)
    results = {}
    cond = threading.Condition()
    state = dict(free=a.jobs)
    print_lock = threading.Lock()
    # A twin row waits for its first boot (which the matrix lists before
    # it) to be judged, then compares the two logs.
    twin_done = dict((b["twin"], threading.Event()) for b in boots
                     if b.get("twin"))
    names = [b["name"] for b in boots]
    for t in list(twin_done):
        if t not in names:
            twin_done[t].set()

    def one(boot, iso, err, slots):
        log_path = os.path.join(logdir, "%s.log" % boot["name"])
        rel = os.path.relpath(log_path)
        try:
            if err:
                br = BootRun()
                br.start_error = err
                br.cmd = qemu_command(boot, "<no iso>")
                with open(log_path, "w") as f:
                    f.write("runner: %s\n" % err)
            elif time.monotonic() >= deadline:
                br = BootRun()
                br.start_error = ("not run: global budget of %d s exhausted"
                                  % a.budget)
                br.cmd = qemu_command(boot, iso)
                with open(log_path, "w") as f:
                    f.write("runner: %s\n" % br.start_error)
            else:
                br = run_qemu(qemu_command(boot, iso), boot["timeout"],
                              log_path, None, deadline)
            registry = registries.get(boot["kernel"] or a.kernel) \
                if boot["expect"] == PASS else None
            outcome = judge_run(boot, br, registry)
            if boot.get("twin"):
                twin_done[boot["twin"]].wait()
                first = results.get(boot["twin"])
                c = twin_case(boot, br.parser,
                              first["parser"] if first else None)
                outcome.cases.append(c)
                if c.result == "fail" and outcome.status == ST_PASS:
                    outcome.status, outcome.code = ST_FAIL, EXIT_CODE[ST_FAIL]
                if c.result == "fail":
                    outcome.reasons.append(c.message)
        except Exception as e:        # a runner bug must not lose the boot
            br = BootRun()
            br.cmd = qemu_command(boot, iso or "<no iso>")
            br.start_error = "runner error: %r" % (e,)
            outcome = judge_run(boot, br)
        try:
            r = dict(boot=boot, parser=br.parser, outcome=outcome,
                     wall=br.wall, cmd=br.cmd, log=rel,
                     qemu_status=br.qemu_status)
            results[boot["name"]] = r
            with print_lock:
                print_boot(r, width)
        finally:
            if boot["name"] in twin_done:
                twin_done[boot["name"]].set()
            with cond:
                state["free"] += slots
                cond.notify_all()

    workers = []
    try:
        for boot in boots:
            iso, err = isos[iso_key(boot)]
            slots = a.jobs if boot.get("solo") else 1
            with cond:
                while state["free"] < slots:
                    cond.wait()
                state["free"] -= slots
            t = threading.Thread(target=one, args=(boot, iso, err, slots),
                                 daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        with RUNNING_LOCK:
            procs = list(RUNNING)
        for proc in procs:
            kill_group(proc)
        print("\nrunner: interrupted")
        return 130

    ordered = [results[b["name"]] for b in boots if b["name"] in results]
    with open(os.path.join(BUILD, "test-results.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write(junit_xml(ordered) + "\n")
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
                       boots=[result_json(r) for r in ordered]), f, indent=1)
        f.write("\n")
    bad = [r for r in ordered if r["outcome"].status != ST_PASS]
    print("== %d boot(s) in %.0f s; %d skipped; results in build/"
          "test-results.{xml,json}" % (len(ordered), wall, nskip))
    for r in bad:
        print("   %-*s %s (%s)" % (width, r["boot"]["name"],
                                   r["outcome"].status.upper(), r["log"]))
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if (bad or nfail) else 0

#!/usr/bin/env python3
"""`make test-cpus`: boot the kernel on every CPU model that
`qemu-system-i386 -cpu help` lists (read at run time) and report pass/fail
per model (docs/boot.md "CPU models and memory").

Each model's features come from QEMU itself (QMP
query-cpu-model-expansion, one QEMU for all models): a model with a local
APIC boots -smp 2, one without boots -smp 1; the kernel must bring up 2
CPUs exactly when the model has both a local APIC and a TSC (expect.ncpus).
Names QEMU lists as "(alias of X)" are X, which is booted itself; a model
QEMU cannot start under TCG (host: it needs KVM; QEMU exits 1 before the
kernel prints anything) is reported as "not run", not as a failure.  Owned by the CPU-models engineer; boots go through the runner
package (scripts/lwkt) like every matrix row.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lwkt.consts import BUILD, ST_PASS                           # noqa: E402
from lwkt.matrix import Boot, PASS                               # noqa: E402
from lwkt.qemu import build_iso, qemu_command, run_qemu          # noqa: E402
from lwkt.verdict import judge_run                               # noqa: E402

QEMU = os.environ.get("QEMU", "qemu-system-i386")
MODEL_RE = re.compile(r"^x86 (\S+)\s*(.*)$")
ALIAS_RE = re.compile(r"^\(alias of (\S+)\)$")


def list_models():
    """[(name, description)] from `-cpu help`, in its order."""
    out = subprocess.run([QEMU, "-cpu", "help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True,
                         check=False).stdout
    models = []
    for line in out.splitlines():
        if not line.strip():
            break                     # "Recognized CPUID flags" follow
        m = MODEL_RE.match(line)
        if m:
            models.append((m.group(1), m.group(2).strip()))
    return models


def model_features(names, timeout=60):
    """{name: {"apic": bool, "tsc": bool} or {"error": text}} from one QEMU
    answering query-cpu-model-expansion for each model."""
    cmds = [{"execute": "qmp_capabilities"}]
    cmds += [{"execute": "query-cpu-model-expansion", "id": n,
              "arguments": {"type": "full", "model": {"name": n}}}
             for n in names]
    cmds.append({"execute": "quit"})
    text = "".join(json.dumps(c) + "\n" for c in cmds)
    try:
        out = subprocess.run([QEMU, "-machine", "none", "-accel", "tcg",
                              "-display", "none", "-nodefaults",
                              "-qmp", "stdio"], input=text,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=timeout,
                             check=False).stdout
    except subprocess.TimeoutExpired:
        out = ""
    feats = {}
    for line in out.splitlines():
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        name = reply.get("id")
        if name is None:
            continue
        if "error" in reply:
            feats[name] = {"error": reply["error"].get("desc", "error")}
        else:
            props = reply["return"]["model"]["props"]
            feats[name] = {"apic": bool(props.get("apic")),
                           "tsc": bool(props.get("tsc"))}
    for n in names:
        feats.setdefault(n, {"error": "QEMU gave no answer for this model"})
    return feats


def boot_row(name, feat, thread, cmdline, timeout):
    smp = 2 if feat["apic"] else 1
    ncpus = 2 if feat["apic"] and feat["tsc"] else 1
    require = [r"^cpu: "]
    if not feat["tsc"]:
        require.append(r"^clock: no TSC ")
    if not feat["apic"]:
        require.append(r"^smp: no local APIC ")
    return Boot("cpu-" + name, str(smp), thread,
                ("expect.ncpus=%d %s" % (ncpus, cmdline)).strip(), PASS,
                args="-cpu " + name, timeout=timeout, require=require)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel", default=os.path.join(BUILD, "kernel.elf"))
    ap.add_argument("--cmdline", default="",
                    help="more kernel command line, e.g. 'test=boot.*'")
    ap.add_argument("--thread", choices=("single", "multi"),
                    default="single")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--only", help="boot the models matching this regex")
    ap.add_argument("--json", default=os.path.join(BUILD, "test-cpus.json"))
    a = ap.parse_args(argv)

    models = list_models()
    if not models:
        print("test-cpus: `%s -cpu help` listed no x86 model" % QEMU)
        return 1
    listed = {n for n, _ in models}
    aliases = {}
    boots = []
    for name, desc in models:
        m = ALIAS_RE.match(desc)
        if m and m.group(1) in listed:
            aliases[name] = m.group(1)
        elif a.only is None or re.search(a.only, name):
            boots.append(name)
    feats = model_features(boots)
    os.makedirs(os.path.join(BUILD, "logs", "cpus"), exist_ok=True)
    results = {}
    lock = threading.Lock()
    todo = list(boots)
    t_start = time.monotonic()

    def work():
        while True:
            with lock:
                if not todo:
                    return
                name = todo.pop(0)
            feat = feats[name]
            if "error" in feat:
                res = {"model": name, "result": "not run",
                       "why": "QEMU cannot start it under TCG: "
                       + feat["error"]}
            else:
                res = run_model(a, name, feat)
            with lock:
                results[name] = res
                print("test-cpus: %-30s %-7s %s" % (name, res["result"],
                                                    res.get("why", "")),
                      flush=True)

    ths = [threading.Thread(target=work) for _ in range(max(1, a.jobs))]
    for t in ths:
        t.start()
    for t in ths:
        t.join()

    rows = [results[n] for n in boots]
    failed = [r for r in rows if r["result"] == "FAIL"]
    print("\n| model | CPUs | local APIC | TSC | result |")
    print("|---|---|---|---|---|")
    for r in rows:
        f = feats[r["model"]]
        if "error" in f:
            print("| %s | - | - | - | not run (%s) |" % (r["model"],
                                                         f["error"]))
            continue
        if r["result"] == "not run":
            print("| %s | - | | | not run (%s) |" % (r["model"], r["why"]))
            continue
        print("| %s | %s | %s | %s | %s |" % (
            r["model"], r["smp"], "yes" if f["apic"] else "no",
            "yes" if f["tsc"] else "no", r["result"]
            + ("" if r["result"] == "PASS" else ": " + r["why"])))
    for name, target in aliases.items():
        if target in results:
            print("| %s | alias of %s | | | %s |" % (name, target,
                                                    results[target]["result"]))
    npass = sum(1 for r in rows if r["result"] == "PASS")
    print("\ntest-cpus: %d model(s) booted, %d passed, %d failed, %d not run "
          "under TCG, %d alias(es); %.0f s%s" % (
              len(rows), npass, len(failed),
              sum(1 for r in rows if r["result"] == "not run"), len(aliases),
              time.monotonic() - t_start,
              (", command line '%s'" % a.cmdline) if a.cmdline else ""))
    with open(a.json, "w") as f:
        json.dump({"cmdline": a.cmdline, "thread": a.thread, "results": rows,
                   "aliases": aliases}, f, indent=1)
    return 1 if failed else 0


def run_model(a, name, feat):
    boot = boot_row(name, feat, a.thread, a.cmdline, a.timeout)
    iso, err = build_iso(a.kernel, boot["cmdline"])
    if err:
        return {"model": name, "smp": boot["smp"], "result": "FAIL",
                "why": err}
    log = os.path.join(BUILD, "logs", "cpus", name + ".log")
    br = run_qemu(qemu_command(boot, iso), boot["timeout"], log_path=log)
    if br.parser.kernel_start() is None and br.qemu_status == 1:
        err = [l for l in br.stderr.splitlines() if l.strip()]
        return {"model": name, "smp": boot["smp"], "result": "not run",
                "why": "QEMU cannot start it under TCG: "
                + (err[-1] if err else "exit status 1")}
    out = judge_run(boot, br)
    npass = sum(1 for c in out.cases if c.result == "pass")
    nskip = sum(1 for c in out.cases if c.result == "skip")
    res = {"model": name, "smp": boot["smp"], "passed": npass,
           "skipped": nskip, "wall": round(br.wall, 1), "log": log}
    if out.status == ST_PASS:
        res["result"] = "PASS"
        res["why"] = "%d passed, %d skipped, %.0f s" % (npass, nskip,
                                                        br.wall)
    else:
        res["result"] = "FAIL"
        res["why"] = "; ".join(out.reasons[:2]) + " (log %s)" % (
            os.path.relpath(log))
    return res


if __name__ == "__main__":
    sys.exit(main())

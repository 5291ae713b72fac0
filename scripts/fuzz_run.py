#!/usr/bin/env python3
"""Run the libFuzzer targets of tests/fuzz/ one at a time (make fuzz, make test).

For each target NAME: build/fuzz/fuzz_NAME runs for --secs seconds at nice
10 on a working corpus build/fuzz/corpus/NAME (new inputs go there) and the
checked-in seed and regression corpus tests/fuzz/corpus/NAME, which
libFuzzer replays first, so every input that once crashed a parser is
tried again on every run.  A crash, leak, timeout or sanitizer report
stops that target; its input is saved as build/fuzz/artifacts/NAME-*
(copy it into tests/fuzz/corpus/NAME/ with the fix).

With --runs N each target stops after N executions (--secs still bounds
it).  Prints one line per target (executions, executions per second, corpus
size, crashes) and a total, writes build/fuzz/fuzz.json, and exits 1 if
any target crashed or could not run.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

FUZZ_DIR = "build/fuzz"
SEED_DIR = "tests/fuzz/corpus"
# Longest input per target: the format is at most 97 bytes (fuzz_prf.c).
MAX_LEN = {"prf": 97}
DEFAULT_MAX_LEN = 8192
STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
FAILURE = re.compile(r"^(==\d+==\s*ERROR|SUMMARY: |fuzz: property failed"
                     r"|.*runtime error:|==\d+== ?ERROR: libFuzzer)", re.M)


def run_target(name, secs, runs):
    binary = os.path.join(FUZZ_DIR, "fuzz_" + name)
    work = os.path.join(FUZZ_DIR, "corpus", name)
    seeds = os.path.join(SEED_DIR, name)
    arts = os.path.join(FUZZ_DIR, "artifacts")
    os.makedirs(work, exist_ok=True)
    os.makedirs(arts, exist_ok=True)
    cmd = ["nice", "-n", "10", binary, work]
    if os.path.isdir(seeds):
        cmd.append(seeds)
    if runs:
        cmd.append("-runs=%d" % runs)
    cmd += ["-max_total_time=%d" % secs, "-print_final_stats=1",
            "-max_len=%d" % MAX_LEN.get(name, DEFAULT_MAX_LEN),
            "-timeout=10", "-rss_limit_mb=2048",
            "-artifact_prefix=%s/%s-" % (arts, name)]
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", check=False)
    wall = time.monotonic() - start
    out = proc.stdout
    with open(os.path.join(FUZZ_DIR, name + ".log"), "w") as f:
        f.write(out)
    stats = {k: int(v) for k, v in STAT.findall(out)}
    failure = FAILURE.search(out)
    crashed = proc.returncode != 0 or failure is not None
    artifact = re.findall(r"Test unit written to (\S+)", out)
    return {
        "target": name,
        "executions": stats.get("number_of_executed_units", 0),
        "exec_per_sec": stats.get("average_exec_per_sec", 0),
        "corpus": len(os.listdir(work)),
        "crashes": 1 if crashed else 0,
        "why": failure.group(0).strip() if failure else
               ("exit status %d" % proc.returncode if crashed else ""),
        "artifact": artifact[-1] if artifact else "",
        "seconds": round(wall, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secs", type=int, default=60,
                    help="seconds per target (with --runs: the limit)")
    ap.add_argument("--runs", type=int, default=0,
                    help="stop each target after this many executions")
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    results = []
    for name in args.targets:
        r = run_target(name, args.secs, args.runs)
        results.append(r)
        line = ("fuzz: %-11s %10d executions %7d/s  corpus %5d  crashes %d"
                % (name, r["executions"], r["exec_per_sec"], r["corpus"],
                   r["crashes"]))
        if r["crashes"]:
            line += "  (%s; input %s; log %s/%s.log)" % (
                r["why"], r["artifact"] or "none", FUZZ_DIR, name)
        print(line, flush=True)
    with open(os.path.join(FUZZ_DIR, "fuzz.json"), "w") as f:
        json.dump(results, f, indent=1)
    total = sum(r["executions"] for r in results)
    bad = [r["target"] for r in results if r["crashes"]]
    print("fuzz: %d targets, %d executions, %s: %s"
          % (len(results), total,
             "%d executions or %d s each" % (args.runs, args.secs)
             if args.runs else "%d seconds each" % args.secs,
             "FAILED (%s)" % ", ".join(bad) if bad else "no crashes"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

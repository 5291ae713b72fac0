#!/usr/bin/env python3
"""The kernel is compiled for the i486 (-march=i486); an instruction a
486 lacks may appear only in the functions listed here, each of which
executes it only where arch/i386/identcpu.c says the CPU has it.  Reads
`objdump -d` of the kernel and fails, naming function and instruction,
for any other use.  Run by `make test-cpus` (docs/boot.md "CPU models
and memory").  Owned by the CPU-models engineer.
"""

import re
import subprocess
import sys

# Instructions newer than the i486 a compiler or inline asm could emit.
# Not tzcnt: objdump's name for gcc's "rep bsf" (__builtin_ctz with
# -mtune=generic), which a CPU without BMI1 runs as BSF, with the same
# result for the non-zero operands __builtin_ctz allows.
NEWER = re.compile(r"\t(rdtsc|rdtscp|cpuid|rdmsr|wrmsr|cmpxchg8b|cmov\w+|"
                   r"fcomi\w*|fcmov\w+|sysenter|sysexit|rdpmc|ud2|"
                   r"movnti|[a-z]*mm\d*|\w+ps|\w+pd|lfence|sfence|mfence|"
                   r"popcnt|lzcnt|movbe|xgetbv)\b")
# function -> the guard that makes each use safe
ALLOWED = {
    "identcpu_probe": "CPUID after EFLAGS.ID toggled",
    "cpuid_leaf": "CPUID after EFLAGS.ID toggled, leaf <= max",
    "cpuid_hypervisor_leaf": "CPUID with the hypervisor bit set",
    "i386_init": "RDTSC if cpu_has(CPUID_TSC)",
    "cpu_ticks": "RDTSC unless the PIT is the clock",
    "cpu_delay_us": "cpu_ticks() inlined",
    "clock_calibrate": "RDTSC in pit_measure() after cpu_has(CPUID_TSC)",
    "lapic_pa_check": "RDMSR if cpu_has(CPUID_MSR)",
    "lapic_init_cpu": "RDMSR/WRMSR if cpu_has(CPUID_MSR)",
    "ktest_fn_boot_lapic_address_from_msr": "after have_msr()",
    "ktest_fn_boot_cpu_features_consistent":
        "CPUID if ci_cpuid, RDTSC if the TSC is the clock",
}


def main(argv):
    objdump, kernel = argv[1], argv[2]
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", kernel],
                         stdout=subprocess.PIPE, universal_newlines=True,
                         check=True).stdout
    func, bad, seen = None, [], set()
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            func = m.group(1)
            continue
        m = NEWER.search(line)
        if m is None:
            continue
        if func in ALLOWED:
            seen.add(func)
        else:
            bad.append("%s: %s" % (func, line.strip()))
    for b in bad:
        print("check_isa: newer than i486, unguarded: %s" % b)
    print("check_isa: %s: %d guarded function(s) use i586+ instructions, "
          "%d unguarded use(s)" % (kernel, len(seen), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

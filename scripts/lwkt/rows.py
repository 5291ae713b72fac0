"""The boot matrix: one row per boot `make test` runs (MATRIX), and the
rows of `make test-large` (LARGE).  The row format is described in
matrix.py.  Rows are added by whoever adds the kernel feature they
exercise.
"""

from .matrix import (Boot, CHAOS_KERNEL, CRITDEBUG_KERNEL, DEFAULT_FORBID,
                     DET_ARGS, LIST, PANIC, PASS, TIMEOUT)


MATRIX = [
    #    name             smp  thread    cmdline             expect
    Boot("smp1-single",   "1", "single", "expect.ncpus=1",   PASS),
    Boot("smp1-multi",    "1", "multi",  "expect.ncpus=1",   PASS),
    Boot("smp2-single",   "2", "single", "expect.ncpus=2",   PASS),
    Boot("smp2-multi",    "2", "multi",  "expect.ncpus=2",   PASS),
    Boot("smp4-single",   "4", "single", "expect.ncpus=4",   PASS),
    Boot("smp4-multi",    "4", "multi",  "expect.ncpus=4",   PASS),
    Boot("smp8-single",   "8", "single", "expect.ncpus=8",   PASS,
         timeout=240),
    Boot("smp8-multi",    "8", "multi",  "expect.ncpus=8",   PASS,
         timeout=180, solo=True),
    # MADT with APIC ids 0,1,2,4,5,6 (3 cores per socket, ids per socket
    # rounded up to 4).
    Boot("apic-holes",    "6,sockets=2,cores=3,threads=1", "multi",
         "expect.ncpus=6", PASS,
         require=[r"^smp: cpuid:apic id 0:0 1:1 2:2 3:4 4:5 5:6$"]),
    # Hot-pluggable slots appear in the MADT as disabled entries.
    Boot("hotplug-slots", "2,maxcpus=4", "multi", "expect.ncpus=2", PASS,
         require=[r"^smp: 2 CPU\(s\) the ACPI MADT lists not started: 2 "
                  r"disabled \(hot-plug slots\): ids 2-3$"]),
    # No ACPI: CPUs found through the Intel MP table.  SeaBIOS lists one
    # CPU per socket there, so give every CPU its own socket.
    Boot("mptable",       "4,sockets=4,cores=1,threads=1", "multi",
         "expect.ncpus=4", PASS,
         machine="pc,acpi=off", require=[r"MP table lists 4"]),
    # Malformed firmware tables (docs/boot.md, "Malformed firmware
    # tables"): fault.acpi= breaks QEMU's own tables in memory, -acpitable
    # appends a broken one (tests/firmware/mktables.py).  Each must end in
    # one line naming the problem and the fallback, then pass the suite.
    # One CPU per socket so that SeaBIOS's MP table lists all four.
    *[Boot("fw-" + fault.replace(".", "-"), "4,sockets=4,cores=1,threads=1",
           "single", "expect.ncpus=4 fault.acpi=" + fault, PASS,
           require=[r"^acpi: " + line for line in before] +
                   [r"^acpi: " + last + r"; trying the MP table$",
                    r"^smp: MP table lists 4 enabled CPU"])
      for fault, before, last in (
          ("madt.checksum", (), r"MADT at 0x[0-9a-f]{8} unusable \(bad "
                                r"checksum\)"),
          ("madt.short", (), r"MADT at 0x[0-9a-f]{8} unusable \(length "
                             r"shorter than its fixed fields\)"),
          ("madt.long", (), r"MADT at 0x[0-9a-f]{8} unusable \(length "
                            r"above 1 MiB\)"),
          ("madt.nocpu", (), r"MADT lists no enabled processor"),
          ("root.nowhere", (r"RSDT entry \d+ \(0xc0000000\) points at no "
                            r"table; ignored$",),
           r"no MADT among the \d+ RSDT entries"))],
    # ... and where the MP table lists only the BSP (one socket), that is
    # what runs.
    Boot("fw-madt-nocpu-up", "4", "single",
         "expect.ncpus=1 fault.acpi=madt.nocpu", PASS,
         require=[r"^acpi: MADT lists no enabled processor; trying the MP "
                  r"table$", r"^smp: MP table lists 1 enabled CPU"]),
    Boot("fw-madt-apic255", "4", "single",
         "expect.ncpus=3 fault.acpi=madt.apic255", PASS,
         require=[r"^smp: 1 CPU\(s\) the ACPI MADT lists not started: 1 "
                  r"with the broadcast id 255$",
                  r"^smp: ACPI MADT lists 3 enabled"]),
    # An enabled x2APIC entry (id 300) replaces CPUs 2 and 3: reported and
    # skipped in the one summary line; CPUs 2 and 3 exist but are not in
    # the table, so the IPIs must be unicast (a shorthand would reset them).
    Boot("fw-madt-x2apic", "4", "single",
         "expect.ncpus=2 fault.acpi=madt.x2apic", PASS,
         require=[r"^smp: 1 CPU\(s\) the ACPI MADT lists not started: 1 "
                  r"x2APIC id above 254 \(xAPIC mode cannot address it\): "
                  r"id 300$",
                  r"^smp: 2 of 2 CPUs online; first INIT to last AP online "
                  r"\d+ us \(unicast INIT/STARTUP, INIT wait 0 us\)$"]),
    # Every reason a listed CPU is not started, in one line with the ids
    # as ranges: hot-plug slots (disabled) and the smp.maxcpus cap.
    Boot("fw-not-started", "6,maxcpus=8", "single",
         "expect.ncpus=3 smp.maxcpus=3 test=boot.*", PASS,
         require=[r"^smp: 5 CPU\(s\) the ACPI MADT lists not started: 2 "
                  r"disabled \(hot-plug slots\): ids 6-7; 3 beyond "
                  r"smp\.maxcpus=3: ids 3-5$",
                  r"\(unicast INIT/STARTUP, INIT wait 0 us\)$"],
         forbid=[r"apic id \d+ is disabled", r"^cmdline:"]),
    Boot("fw-madt-extra-short", "4", "single", "expect.ncpus=4", PASS,
         args="-acpitable file=tests/firmware/madt-short.dat",
         require=[r"^acpi: 1 MADT\(s\) in the RSDT unusable, the first at "
                  r"0x[0-9a-f]{8} \(length shorter than its fixed "
                  r"fields\); using the MADT at 0x[0-9a-f]{8}$"]),
    # No local APIC at all (CPUID.1:EDX.APIC clear).
    Boot("no-apic",       "1", "single", "expect.ncpus=1",   PASS,
         args="-cpu pentium,-apic",
         require=[r"no local APIC.*running uniprocessor"]),
    Boot("maxcpus",       "4", "multi",  "expect.ncpus=2 smp.maxcpus=2", PASS),
    # CPU models and memory (docs/boot.md "CPU models and memory"; `make
    # test-cpus` boots every model QEMU lists).  An i486 has no TSC, no
    # local APIC, no MSRs: one CPU, PIT channel 2 counts time, channel 0
    # ticks, and the whole suite runs.
    Boot("cpu-486",       "1", "single", "expect.ncpus=1",   PASS,
         args="-cpu 486",
         require=[r"^cpu: GenuineIntel family 4 model 8 ",
                  r"^clock: no TSC \(CPUID\.1:EDX bit 4 clear\); time comes "
                  r"from PIT channel 2 at 1\.193182 MHz, and only CPU 0 runs$",
                  r"^smp: no local APIC .*running uniprocessor$",
                  r"^clock: no usable local APIC timer; PIT channel 0 ticks "
                  r"at 100 Hz$"]),
    # No CPUID instruction at all (fault.no_cpuid: QEMU always has one).
    Boot("cpu-no-cpuid",  "2", "single", "expect.ncpus=1 fault.no_cpuid",
         PASS, args="-cpu pentium",
         require=[r"^cpu: no CPUID instruction \(EFLAGS\.ID does not toggle, "
                  r"fault\.no_cpuid\)",
                  r"^clock: no TSC \(no CPUID\)",
                  r"^smp: no local APIC .*running uniprocessor$"]),
    # A tick rate too low to see every wrap of the PIT clock is raised;
    # boot.pit_clock_keeps_time checks the clock against the ticks.
    Boot("cpu-486-hz10",  "1", "single",
         "test=boot.*,clock.* expect.ncpus=1 hz=10", PASS, args="-cpu 486",
         require=[r"^clock: hz=10 would let PIT channel 2 wrap unseen between "
                  r"ticks; using hz=20$",
                  r"^\s*# boot\.pit_clock_keeps_time: \d+ timer interrupts "
                  r"while the clock advanced 200 ms \(bound 6\), PIT channel 2$"]),
    # A local APIC but no TSC: the LAPIC timer runs on the PIT clock, and
    # the second CPU is not started.
    Boot("cpu-pentium-notsc", "2", "single", "expect.ncpus=1", PASS,
         args="-cpu pentium,-tsc",
         require=[r"^smp: no TSC: the clock is PIT channel 2, which only one "
                  r"CPU can extend; running uniprocessor \(1 CPU\(s\) not "
                  r"started\)$",
                  r"^lapic: timer \d+\.\d{3} MHz"]),
    Boot("cpu-pentium3",  "2", "single", "expect.ncpus=2",   PASS,
         args="-cpu pentium3",
         require=[r"^cpu: GenuineIntel family 6 model 7 .* tsc msr cx8 apic"]),
    Boot("cpu-core2duo",  "2", "single", "expect.ncpus=2",   PASS,
         args="-cpu core2duo", require=[r"^cpu: GenuineIntel family 6 "]),
    Boot("cpu-skylake",   "2", "single", "expect.ncpus=2",   PASS,
         args="-cpu Skylake-Client", require=[r"^cpu: GenuineIntel family 6 "
                                              r"model 94 "]),
    Boot("cpu-epyc",      "2", "single", "expect.ncpus=2",   PASS,
         args="-cpu EPYC", require=[r"^cpu: AuthenticAMD family 23 "]),
    # 16 MiB is enough for 8 CPUs (about 1.5 MiB each with the suite).
    Boot("mem16-smp8",    "8", "single", "expect.ncpus=8",   PASS,
         args="-m 16", timeout=240, require=[r"^smp: 8 of 8 CPUs online"]),
    # Less: one line says how many CPUs the RAM affords, and the suite runs
    # on those.  -m 8 leaves GRUB room to load the kernel (at -m 6 it may
    # not: "error: out of memory."); mem.limit= caps the RAM the kernel
    # uses; below one CPU's worth, one panic line.
    Boot("mem8-smp8",     "8", "single", "", PASS, args="-m 8",
         require=[r"(?s)^smp: \d+ KiB of RAM free: memory for (\d) of 8 CPUs "
                  r"\(\d+ KiB each, \d+ KiB besides\); the other \d are not "
                  r"started$.*^kernel: \1 CPU\(s\) online"]),
    Boot("mem-limit-smp8", "8", "single", "mem.limit=8", PASS,
         require=[r"^vm: mem\.limit: no RAM at or above 8 MiB is used",
                  r"(?s)^smp: \d+ KiB of RAM free: memory for ([2-7]) of 8 "
                  r"CPUs .*^kernel: \1 CPU\(s\) online"]),
    Boot("mem-too-small", "2", "single", "mem.limit=4", PANIC,
         require=[r"^panic: vm: \d+ KiB of RAM free after the kernel image; "
                  r"it needs at least \d+ KiB \(\d+ KiB for one CPU, \d+ KiB "
                  r"besides\)$"]),
    # Debug option: the outermost crit_exit() yields, switching at odd places.
    Boot("smp1-untimely", "1", "single", "expect.ncpus=1 untimely_switch=1",
         PASS),
    Boot("smp4-untimely", "4", "multi",  "expect.ncpus=4 untimely_switch=1",
         PASS),
    # The kernel built with the crit-section mismatch checker (make
    # CRIT_DEBUG=1): the whole suite must run clean, and a mismatch panics.
    Boot("critdebug",     "2", "multi",  "expect.ncpus=2 untimely_switch=1",
         PASS, kernel=CRITDEBUG_KERNEL),
    Boot("crit-mismatch", "2", "multi",  "test=selftest.crit_mismatch", PANIC,
         kernel=CRITDEBUG_KERNEL,
         require=[r"^panic: crit_exit\(\) in ktest_fn_selftest_crit_mismatch "
                  r"does not match crit_enter\(\) in enter_elsewhere"]),
    # Fault injection: cpu 2 never gets its STARTUP IPI; the bounded wait
    # reports it and the system runs on the other three.
    Boot("ap-nostart",    "4", "multi",  "expect.ncpus=3 smp.nostart=2", PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) did not come up within \d+ ms",
                  r"^smp: 3 of 4 CPUs online"]),
    Boot("bad-cmdline",   "2", "multi",
         "expect.ncpus=2 bogus=1 seed=12abc repeat=", PASS,
         forbid=DEFAULT_FORBID[1:],
         require=[r"cmdline: unknown key 'bogus'",
                  r"cmdline: bad value '12abc' for seed",
                  r"cmdline: .*repeat"]),
    # Boot-path fault injection (docs/boot.md §8): an AP that reaches its
    # start-up slot only after the BSP gave up parks and is never counted;
    # one that took its slot in time is waited for; a LAPIC timer that does
    # not count falls back to the PIT (uniprocessor); a PIT that does not
    # count is reported and the TSC rate comes from elsewhere.
    Boot("ap-slowstart",  "4", "multi",  "expect.ncpus=3 smp.slowstart=2", PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) did not come up within \d+ ms",
                  r"^smp: 3 of 4 CPUs online",
                  r"^\s*# boot\.ap_online_iff_active: cpu 2: state 0, slot 3$"]),
    Boot("ap-slowonline", "4", "multi",  "expect.ncpus=4 smp.slowonline=2",
         PASS,
         require=[r"^smp: cpu 2 \(apic id 2\) took its start-up slot but is "
                  r"not online yet",
                  r"^smp: 4 of 4 CPUs online"]),
    Boot("lapic-timer-dead", "2", "single",
         "expect.ncpus=1 fault.lapic_timer_dead", PASS,
         require=[r"^lapic: timer counted 0 in 10 ms \(fault\.lapic_timer_dead"
                  r"\): it does not count; falling back to the PIT",
                  r"^smp: the local APIC timer does not count.*running "
                  r"uniprocessor",
                  r"^clock: no usable local APIC timer; PIT channel 0 ticks "
                  r"at \d+ Hz"]),
    Boot("pit-stuck",     "2", "single", "expect.ncpus=2 fault.pit_stuck", PASS,
         require=[r"^clock: PIT channel 2 does not count \(its count does not "
                  r"change, fault\.pit_stuck\); TSC \d+\.\d{3} MHz "
                  r"(from |assumed)"]),
    # No passive pickup on the tick: a lost IPI or a broken ip_npoll
    # interlock hangs and fails by name instead of being rescued.
    Boot("det-smp2-nopassive", "2", "single",
         "test=ipiq.*,cpusync.*,token.*,tsleep.*,msgport.* ipiq.passive=0 "
         "expect.ncpus=2 test.noretry", PASS, args=DET_ARGS),
    Boot("smp4-nopassive", "4", "multi",
         "test=ipiq.*,cpusync.*,token.*,tsleep.*,msgport.* ipiq.passive=0 "
         "expect.ncpus=4", PASS),
    # Deterministic rows (DET_ARGS); det-smp4-again boots det-smp4 again
    # and must print the same log.
    Boot("det-smp2",      "2", "single", "expect.ncpus=2 test.noretry", PASS,
         args=DET_ARGS),
    Boot("det-smp4",      "4", "single", "expect.ncpus=4 test.noretry", PASS,
         args=DET_ARGS),
    Boot("det-smp4-again", "4", "single", "expect.ncpus=4 test.noretry", PASS,
         args=DET_ARGS, twin="det-smp4"),
    Boot("det-smp8",      "8", "single", "expect.ncpus=8 test.noretry", PASS,
         args=DET_ARGS, timeout=240),
    # Scale (issue 12, docs/scaling.md): more vCPUs than host cores under
    # multi-threaded TCG, where waits that spin flat out starve the CPUs
    # they wait for; and 64 CPUs deterministically (the FIFO matrix, the
    # pending masks and two mask words in use).
    Boot("smp16-multi",   "16", "multi", "expect.ncpus=16",  PASS,
         timeout=420, solo=True),
    Boot("smp32-multi",   "32", "multi", "expect.ncpus=32",  PASS,
         timeout=600, solo=True),
    Boot("det-smp64",     "64", "single", "expect.ncpus=64 test.noretry",
         PASS, args=DET_ARGS + " -m 512", timeout=600),
    # Seeded chaos (make CHAOS=1, docs/testing.md "Chaos"): the whole
    # suite under perturbation.  chaos-det-again boots chaos-det again and
    # must print the same log: a chaos seed replays exactly.
    Boot("chaos-det",     "4", "single",
         "expect.ncpus=4 test.noretry chaos=20261203", PASS, args=DET_ARGS,
         kernel=CHAOS_KERNEL, timeout=300,
         require=[r"^chaos: seed 20261203, rate 64/1024"]),
    Boot("chaos-det-again", "4", "single",
         "expect.ncpus=4 test.noretry chaos=20261203", PASS, args=DET_ARGS,
         kernel=CHAOS_KERNEL, timeout=300, twin="chaos-det"),
    Boot("chaos-smp4-multi", "4", "multi",
         "expect.ncpus=4 chaos=4242 chaos.rate=256", PASS,
         kernel=CHAOS_KERNEL, timeout=240,
         require=[r"^chaos: seed 4242, rate 256/1024"]),
    # The tick rate at both ends of what hz= accepts in practice.
    Boot("hz1000-smp4",   "4", "multi",  "expect.ncpus=4 hz=1000", PASS),
    Boot("hz25-smp2",     "2", "single", "expect.ncpus=2 hz=25",   PASS),
    # Every test runs twice in one boot: a test that leaves state behind
    # for its next run fails here (soak-0035: lifecycle.stale_remote_after_exit).
    Boot("repeat2-smp4",  "4", "single", "expect.ncpus=4 repeat=2", PASS),
    Boot("test-list",     "1", "single", "test.list",        LIST,
         require=[r"^test\.list: "]),
    Boot("panic-ap",      "4", "multi",
         "test=selftest.panic_ap_fault expect.ncpus=4", PANIC,
         require=[r"^Fatal trap 14 \(Page fault\) on cpu 1\b",
                  r"^panic: fatal trap 14 \(Page fault\) on cpu 1",
                  r"<fault_here\+0x[0-9a-f]+>", r"^panic: backtrace:",
                  r"^  cpu [023]: .*(stopped by NMI|held, serving IPIQ)"]),
    # Stop the world while others are busy: a spinning CPU is held by the
    # panic's cpusync (serving IPIQ); one spinning in a critical section
    # cannot take the message and is stopped by NMI.
    Boot("panic-busy",    "4", "multi",
         "test=selftest.panic_busy expect.ncpus=4", PANIC,
         require=[r"^panic: fatal trap 14 \(Page fault\) on cpu 1",
                  r"^  cpu 0: .*held, serving IPIQ",
                  # busy_2 runs outside a critical section, so its
                  # CPU's softclock thread may have preempted it for a
                  # tick when the rendezvous arrived.
                  r"^  cpu 2: .*held, serving IPIQ, curthread "
                  r"\"(busy_2|softclock_2)\"",
                  r"^    0x[0-9a-f]+ busy_2 +pri 12 crit [0-9]+ "
                  r"(running|preempted) ",
                  r"^  cpu 3: .*stopped by NMI, curthread \"busy_3\" \(crit 1\)",
                  r"^panic: halting with the panic status"]),
    # Scheduler fault demos: a critical section count going negative, and a
    # thread overrunning its stack into the guard page (double-fault task).
    Boot("crit-negative", "2", "multi", "test=selftest.crit_negative", PANIC,
         require=[r"^panic: crit_exit: critical section count of thread "
                  r"\"kt_cpu0\" went negative"]),
    Boot("stack-overflow", "4", "multi", "test=selftest.stack_overflow", PANIC,
         require=[r"^Fatal double fault on cpu 1: stack overflow in thread "
                  r"\"stack_hog\"",
                  r"^panic: double fault on cpu 1 in thread \"stack_hog\": "
                  r"kernel stack overflow"]),
    # A test that never finishes fails by name at test.timeout, with a dump
    # of every CPU's threads, and the run ends (no host timeout needed).
    Boot("test-timeout",  "2", "multi",
         "test=selftest.hang_forever test.timeout=2", TIMEOUT,
         require=[r"^\s*# FAIL selftest\.hang_forever: the test did not "
                  r"finish within 2 s \(test\.timeout\)",
                  r"^  cpu 0 threads",
                  r"kt_cpu0 .* blocked",
                  r"^    not ok 1 hang_forever # TIMEOUT$",
                  r"^# aborted: selftest\.hang_forever timed out"]),
    # A panic while a target has interrupts off and our FIFO to it is over
    # half full: no waiting for room, the target is stopped by NMI.
    Boot("panic-fifo-full", "4", "multi",
         "test=selftest.panic_fifo_full expect.ncpus=4", PANIC,
         require=[r"^panic: selftest: cpu 0 panics with its FIFO to cpu 1 "
                  r"\d+/\d+ full",
                  r"^panic: IPIQ full toward cpus 1: NMI",
                  r"^  cpu 1: .*stopped by NMI, curthread \"cli_1\"",
                  r"^  cpu 2: .*held, serving IPIQ",
                  r"^  cpu 3: .*held, serving IPIQ",
                  r"^panic: halting with the panic status"]),
    # The panicking CPU never switches, even under untimely_switch.
    Boot("panic-untimely", "2", "multi",
         "test=selftest.panic_untimely untimely_switch=1 expect.ncpus=2",
         PANIC,
         require=[r"^panic: selftest: cpu 0 panics with thread \"sibling\" "
                  r"runnable",
                  r"^  cpu 1: .*held, serving IPIQ",
                  r"^panic: halting with the panic status"],
         forbid=DEFAULT_FORBID + (r"BUG: thread \"sibling\" ran on the "
                                  r"panicking cpu",)),
    # Messages that each send two more: the drain nesting bound panics by
    # name instead of overflowing the stack.
    Boot("ipiq-reply-storm", "2", "multi",
         "test=selftest.ipiq_reply_storm expect.ncpus=2", PANIC,
         require=[r"^panic: ipiq: drain nesting 17 exceeds 16 on cpu [01]",
                  r"^panic: halting with the panic status"],
         forbid=DEFAULT_FORBID + (r"double fault",)),
    Boot("panic-recursive", "2", "multi",
         "test=selftest.panic_recursive expect.ncpus=2", PANIC,
         require=[r"^Fatal trap 14 \(Page fault\) on cpu 0",
                  r"^panic: recursive panic on cpu 0: fatal trap 14"],
         forbid=DEFAULT_FORBID + (r"(?s)recursive panic.*recursive panic",)),
]

# `make test-large` (not part of make test): the whole suite at the
# largest CPU counts, deterministic.  `runner.py run --boot NAME` boots one.
LARGE = [
    Boot("det-smp128",    "128", "single", "expect.ncpus=128 test.noretry",
         PASS, args=DET_ARGS + " -m 1024", timeout=1800),
    Boot("det-smp255",    "255", "single", "expect.ncpus=255 test.noretry",
         PASS, args=DET_ARGS + " -m 1024", timeout=2400),
]

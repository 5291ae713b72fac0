/*
 * Time: cpu_ticks() counts the TSC, calibrated once on the BSP against PIT
 * channel 2 (8254 data sheet: mode 0 "interrupt on terminal count", OUT2
 * readable at port 0x61 bit 5), before any AP starts.  A PIT that does not
 * count is detected; the rate then comes from CPUID (or is assumed), in one
 * line.  Afterwards any CPU may read cpu_ticks() and busy-wait with
 * cpu_delay_us().
 *
 * A CPU without a TSC (the i486 class, or CPUID.1:EDX bit 4 clear) counts
 * time with PIT channel 2 instead: free-running in mode 2 at 1.193182 MHz,
 * its 16-bit count extended to 64 bits at every cpu_ticks() (interrupts
 * off; the kernel then runs uniprocessor, machdep.c, so no other CPU reads
 * it).  The count wraps every 55 ms, so something must read it more often:
 * the clock interrupt does (hz is raised to PIT_CLOCK_MIN_HZ if lower, the
 * LAPIC one-shot is armed at most PIT_CLOCK_MAX_ARM ahead), and every wait
 * loop does.  A stretch with interrupts off that reads no time for longer
 * than 55 ms loses whole wraps: time then runs slow, never backwards.
 *
 * The interrupt that drives systimers is each CPU's local APIC timer in
 * one-shot mode.  Without a local APIC, or when its timer does not count
 * (lapic_timer_usable() false; the kernel then runs uniprocessor), PIT
 * channel 0 ticks at hz through the 8259 instead, and systimers are checked
 * on every tick.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kopts.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>
#include <sys/globaldata.h>
#include <sys/systimer.h>
#include <sys/thread.h>
#include <machine/atomic.h>
#include "i386_var.h"

#define PIT_HZ		1193182u
#define PIT_CH2		0x42
#define PIT_MODE	0x43
#define PIT_GATE	0x61		/* bit 0 gate, bit 1 speaker, bit 5 OUT2 */
#define CAL_MS		10
#define CAL_ROUNDS	3
#define PIT_MAX_SPINS	50000000	/* port reads; far beyond a 10 ms window */
#define CAL_MIN_TICKS	100000		/* 10 ms at 10 MHz: slower is no i586 */
#define TSC_HZ_ASSUMED	1000000000ull
#define PIT_CH0		0x40
#define PIC1_CMD	0x20
#define PIC1_DATA	0x21
#define PIC_EOI		0x20
#define PIT_CLOCK_WRAP	65536u		/* channel 2 count period, 55 ms */
#define PIT_CLOCK_MAX_ARM (PIT_CLOCK_WRAP / 2)
#define PIT_CLOCK_MIN_HZ 20		/* ticks at most 50 ms apart */
#define PIT_CLOCK_SPINS	1000		/* reads before a stuck count is told */

uint64_t cpu_tsc_hz;
uint64_t cpu_boot_tsc;
static bool clock_uses_tsc;		/* else PIT channel 2 is the clock; set
					   by clock_calibrate(), so nothing runs
					   RDTSC before the TSC is known */
static uint64_t pit_clock_total;	/* ticks counted up to pit_clock_last */
static uint16_t pit_clock_last;

static uint16_t pit_ch2_read(void);

/* The PIT clock: ticks since pit_clock_start(); interrupts off inside. */
static uint64_t
pit_clock_read(void)
{
	uint32_t ef = intr_disable();
	uint16_t now = pit_ch2_read();
	uint64_t total;

	/* Mode 2 counts down; a wrap in between is the 16-bit difference. */
	pit_clock_total += (uint16_t)(pit_clock_last - now);
	pit_clock_last = now;
	total = pit_clock_total;
	intr_restore(ef);
	return total;
}

uint64_t
cpu_ticks(void)
{
	return clock_uses_tsc ? rdtsc() : pit_clock_read();
}

bool
cpu_ticks_are_tsc(void)
{
	return clock_uses_tsc;
}

uint64_t
cpu_ticks_to_us(uint64_t ticks)
{
	return cpu_tsc_hz ? ticks * 1000000 / cpu_tsc_hz : 0;
}

/*
 * Port 0x61; under fault.pit_stuck a constant with OUT2 high, as a PIT
 * whose readback is stuck shows it.
 */
static uint8_t
pit_gate_read(void)
{
	return kopts.ko_fault_pit_stuck ? 0x21 : inb(PIT_GATE);
}

/* Channel 2's current count (latch command); constant under fault.pit_stuck. */
static uint16_t
pit_ch2_read(void)
{
	uint8_t lo, hi;

	if (kopts.ko_fault_pit_stuck)
		return 0x2E9B;
	outb(PIT_MODE, 0x80);		/* counter latch, channel 2 */
	lo = inb(PIT_CH2);
	hi = inb(PIT_CH2);
	return (uint16_t)(lo | hi << 8);
}

/*
 * TSC ticks during one CAL_MS countdown of PIT channel 2, or 0 with *why
 * saying how the PIT failed: its count must change, OUT2 must be low while
 * it runs and rise at terminal count, all within bounded loops, and the
 * window must take at least CAL_MIN_TICKS.
 */
static uint64_t
pit_measure(const char **why)
{
	uint32_t count = PIT_HZ * CAL_MS / 1000;
	uint64_t t0, t1;
	uint32_t spins;
	uint16_t first;

	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01);
	outb(PIT_MODE, 0xB0);		/* channel 2, lo/hi byte, mode 0 */
	outb(PIT_CH2, count & 0xFF);
	outb(PIT_CH2, count >> 8);
	t0 = rdtsc();
	first = pit_ch2_read();
	for (spins = 0; pit_ch2_read() == first; spins++) {
		if (spins > PIT_MAX_SPINS) {
			*why = "its count does not change";
			return 0;
		}
	}
	if (pit_gate_read() & 0x20) {
		*why = "OUT2 is high while it counts";
		return 0;
	}
	for (spins = 0; (pit_gate_read() & 0x20) == 0; spins++) {
		if (spins > PIT_MAX_SPINS) {
			*why = "OUT2 never rises";
			return 0;
		}
	}
	t1 = rdtsc();
	if (t1 - t0 < CAL_MIN_TICKS) {
		*why = "its countdown ends at once";
		return 0;
	}
	return t1 - t0;
}

/*
 * The TSC rate from CPUID when the PIT cannot measure it: leaf 0x15 (TSC
 * to crystal ratio and crystal rate), leaf 0x16 (base frequency), or the
 * hypervisor leaf 0x40000010 (TSC kHz).  0, with *src unset, if none.
 */
static uint64_t
tsc_hz_from_cpuid(const char **src)
{
	uint32_t r[4];

	if (cpuid_leaf(0x15, r) && r[0] != 0 && r[1] != 0 && r[2] != 0) {
		*src = "from CPUID leaf 0x15";
		return (uint64_t)r[2] * r[1] / r[0];
	}
	if (cpuid_leaf(0x16, r) && (r[0] & 0xFFFF) != 0) {
		*src = "from CPUID leaf 0x16 (base frequency)";
		return (uint64_t)(r[0] & 0xFFFF) * 1000000;
	}
	if (cpuid_hypervisor_leaf(CPUID_HV_BASE + 0x10, r) && r[0] != 0) {
		*src = "from hypervisor CPUID leaf 0x40000010";
		return (uint64_t)r[0] * 1000;
	}
	return 0;
}

/*
 * No TSC: start PIT channel 2 free-running (mode 2, count 65536, gate on,
 * speaker off) as the clock.  A count that does not move leaves the kernel
 * nothing to measure time with: one line and stop.
 */
static void
pit_clock_start(void)
{
	uint16_t first;
	int spins;

	outb(PIT_GATE, (inb(PIT_GATE) & ~0x02) | 0x01);
	outb(PIT_MODE, 0xB4);		/* channel 2, lo/hi byte, mode 2 */
	outb(PIT_CH2, 0);
	outb(PIT_CH2, 0);
	first = pit_ch2_read();
	for (spins = 0; pit_ch2_read() == first; spins++) {
		if (spins > PIT_CLOCK_SPINS) {
			kprintf("clock: no TSC and PIT channel 2 does not count "
			    "(%d reads%s): no clock to run on\n", spins,
			    kopts.ko_fault_pit_stuck ? ", fault.pit_stuck" : "");
			cpu_shutdown(KEXIT_PANIC);
		}
	}
	pit_clock_last = pit_ch2_read();
	pit_clock_total = 0;
	cpu_boot_tsc = 0;
	cpu_tsc_hz = PIT_HZ;
	if (hz < PIT_CLOCK_MIN_HZ) {
		kprintf("clock: hz=%u would let PIT channel 2 wrap unseen between "
		    "ticks; using hz=%u\n", hz, PIT_CLOCK_MIN_HZ);
		hz = PIT_CLOCK_MIN_HZ;
	}
	kprintf("clock: no TSC (%s); time comes from PIT channel 2 at "
	    "%u.%06u MHz, and only CPU 0 runs\n", cpu_ident.ci_cpuid ?
	    "CPUID.1:EDX bit 4 clear" : "no CPUID", PIT_HZ / 1000000,
	    PIT_HZ % 1000000);
}

void
clock_calibrate(void)
{
	uint64_t m[CAL_ROUNDS], tmp;
	const char *why = NULL, *src = NULL;
	int i, j;

	if (!cpu_has(CPUID_TSC, 0)) {
		pit_clock_start();
		return;
	}
	clock_uses_tsc = true;
	for (i = 0; i < CAL_ROUNDS && why == NULL; i++)
		m[i] = pit_measure(&why);
	if (why != NULL) {
		cpu_tsc_hz = tsc_hz_from_cpuid(&src);
		if (cpu_tsc_hz == 0) {
			cpu_tsc_hz = TSC_HZ_ASSUMED;
			src = "assumed (no CPUID leaf 0x15, 0x16 or 0x40000010 "
			    "gives it)";
		}
		kprintf("clock: PIT channel 2 does not count (%s%s); TSC "
		    "%llu.%03llu MHz %s\n", why,
		    kopts.ko_fault_pit_stuck ? ", fault.pit_stuck" : "",
		    cpu_tsc_hz / 1000000, (cpu_tsc_hz / 1000) % 1000, src);
		return;
	}
	for (i = 0; i < CAL_ROUNDS; i++)
		for (j = i + 1; j < CAL_ROUNDS; j++)
			if (m[j] < m[i]) {
				tmp = m[i];
				m[i] = m[j];
				m[j] = tmp;
			}
	cpu_tsc_hz = m[CAL_ROUNDS / 2] * 1000 / CAL_MS;
	kprintf("clock: TSC %llu.%03llu MHz (median of %d PIT windows of %d ms)\n",
	    cpu_tsc_hz / 1000000, (cpu_tsc_hz / 1000) % 1000, CAL_ROUNDS, CAL_MS);
}

static bool timer_uses_pit;

/*
 * AP start-up window (mp_boot.c): with `on`, PIT channel 0 counts in mode
 * 2 at PIT_PACE_COUNT (about 10 us), its interrupt masked at the 8259, so
 * nothing is delivered; off, it goes back to the firmware's 18.2 Hz.  A
 * round-robin TCG QEMU under -icount runs a vCPU that received a STARTUP
 * IPI only at its next virtual timer event; these events make that at most
 * 10 us.  Used only while no CPU takes its clock from channel 0.
 */
#define PIT_PACE_COUNT	12
void
clock_pace_startup(bool on)
{
	uint32_t count = on ? PIT_PACE_COUNT : 0;	/* 0: 65536 */

	KKASSERT(!timer_uses_pit);
	outb(PIT_MODE, 0x34);		/* channel 0, lo/hi, mode 2 */
	outb(PIT_CH0, count & 0xFF);
	outb(PIT_CH0, count >> 8);
}

void
cpu_delay_us(uint32_t us)
{
	uint64_t end = cpu_ticks() + cpu_tsc_hz * us / 1000000;

	while (cpu_ticks() < end)
		cpu_pause();
}

static volatile bool timer_ready[MAXCPU];

/* Each CPU, interrupts off, after its LAPIC is set up. */
void
clock_init_cpu(void)
{
	KKASSERT(clock_uses_tsc || (mycpuid == 0 && ncpus == 1));
	if (lapic_timer_usable()) {
		lapic_timer_init_cpu();
	} else {
		uint32_t count = PIT_HZ / hz;

		KKASSERT(mycpuid == 0 && ncpus == 1);
		timer_uses_pit = true;
		if (lapic_base != NULL)
			lapic_route_pic();
		outb(PIT_MODE, 0x34);		/* channel 0, lo/hi, mode 2 */
		outb(PIT_CH0, count & 0xFF);
		outb(PIT_CH0, count >> 8);
		outb(PIC1_DATA, 0xFE);		/* unmask IRQ 0 only */
		kprintf("clock: no usable local APIC timer; PIT channel 0 ticks at "
		    "%u Hz\n", hz);
	}
	timer_ready[mycpuid] = true;
}

bool
cpu_timer_ready(void)
{
	return timer_ready[mycpuid];
}

uint32_t
cpu_timer_resolution_us(void)
{
	return timer_uses_pit ? 1000000 / hz : 0;
}

void
cpu_timer_reload(uint64_t tsc_delta)
{
	if (timer_uses_pit)
		return;
	if (!clock_uses_tsc && tsc_delta > PIT_CLOCK_MAX_ARM)
		tsc_delta = PIT_CLOCK_MAX_ARM;	/* read the clock before it wraps */
	lapic_timer_reload(tsc_delta);
}

/*
 * The timer interrupt, from trap() with interrupts disabled and the nesting
 * level raised.  Inside a critical section the work is only recorded
 * (RQF_TIMER) and lwkt_splz() runs it when the section ends.
 */
void
timer_intr(struct intrframe *frame __unused)
{
	struct globaldata *gd = mycpu;

	if (timer_uses_pit)
		outb(PIC1_CMD, PIC_EOI);
	else
		lapic_eoi();
	gd->gd_cnt_timer_intr++;
	if (curthread->td_critcount > 0) {
		gd->gd_cnt_timer_deferred++;
		atomic_set_int(&gd->gd_reqflags, RQF_TIMER);
		return;
	}
	systimer_intr();
}

/*
 * cpusync rendezvous (sys/cpusync.h, LWKT-SPEC §8).
 *
 * A target's part starts in cpusync_remote_start(), an IPIQ message: put
 * the rendezvous on this CPU's gd_cpusyncq, run cs_run_func and count in
 * (so when start returns, cs_run_func has finished on every target).
 * lwkt_process_ipiq_frame() then polls that queue after every pass over the
 * FIFOs (lwkt_cpusync_poll) and keeps looping while anything is queued, so
 * the CPU stays held inside IPIQ processing yet serves other messages.
 * When the master sets cs_count negative the target runs cs_fin1_func,
 * counts out and runs cs_fin2_func (from copies: once counted out, the
 * master may already have returned and reused cs).  A CPU whose current
 * thread masters a cpusync (td_cscount > 0) does not loop on its queue:
 * it must get back to its own rendezvous, or two masters holding each
 * other would deadlock.  Its queue then stays pending work: the poll sets
 * RQF_IPIQ, so the crit_exit() ending its own cpusync runs lwkt_splz(),
 * which polls again and holds the CPU (no IPI need arrive for that).
 * gd_cpusyncq is touched only by its CPU, inside a critical section.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/backoff.h>
#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ipiq.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define CPUSYNC_WARN_US		2000000
#define CPUSYNC_PANIC_US	60000000

volatile cpumask_t lwkt_cpusync_halted;

static void
cpusync_remote_start(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	struct lwkt_cpusync *cs = arg;
	struct globaldata *gd = mycpu;

	gd->gd_cnt_ipiq_cscount++;
	KASSERT(gd->gd_cpusyncq_n < MAXCPU, ("cpusync: queue of cpu %d full",
	    gd->gd_cpuid));
	gd->gd_cpusyncq[gd->gd_cpusyncq_n++] = cs;
	if (cs->cs_run_func != NULL)
		cs->cs_run_func(cs);
	CHAOS_DELAY(CHAOS_CPUSYNC);
	atomic_add_int(&cs->cs_count, 1);	/* counted in once run_func is done */
}

bool
lwkt_cpusync_poll(void)
{
	struct globaldata *gd = mycpu;
	struct lwkt_cpusync *cs;
	cpusync_func2_t *fin2;
	void *data;
	int i = 0;

	while (i < gd->gd_cpusyncq_n) {
		cs = gd->gd_cpusyncq[i];
		if ((int32_t)cs->cs_count >= 0) {
			i++;
			continue;
		}
		gd->gd_cpusyncq[i] = gd->gd_cpusyncq[--gd->gd_cpusyncq_n];
		fin2 = cs->cs_fin2_func;
		data = cs->cs_data;
		if (cs->cs_fin1_func != NULL)
			cs->cs_fin1_func(cs);
		CHAOS_DELAY(CHAOS_CPUSYNC);
		atomic_subtract_int(&cs->cs_count, 1);
		if (fin2 != NULL)
			fin2(data);
	}
	if (gd->gd_cpusyncq_n == 0)
		return false;
	if (curthread->td_cscount > 0) {
		atomic_set_int(&gd->gd_reqflags, RQF_IPIQ);
		return false;
	}
	return true;
}

/*
 * A held CPU that found nothing to do for a while halts (sti; hlt) instead
 * of polling: while held it is inside a critical section, so its timer
 * interrupt is only recorded and not re-armed, and every wake-up must be
 * an IPI.  They are: a source that turns ip_npoll from 0 to 1 sends one
 * (as always); a passive send toward a CPU in lwkt_cpusync_halted sends
 * one (it would otherwise wait for a tick that does not come); the
 * master's lwkt_cpusync_finish() sends one to the halted CPUs of its
 * rendezvous (one all-but-self IPI when that is everyone).  No wake-up is
 * missed: this CPU sets its bit in lwkt_cpusync_halted (locked) before it
 * checks for work with interrupts off, and each waker makes its work
 * visible (a locked operation) before it reads the halted bit, so either
 * the check sees the work or the waker sees the bit; an IPI that arrives
 * between the check and the hlt is taken after it (sti's one-instruction
 * shadow), ending the halt.  Not when nested in a drain (work pending: a
 * FIFO being drained sets no bit).  Returns with interrupts enabled.
 */
void
lwkt_cpusync_held_idle(void)
{
	struct globaldata *gd = mycpu;
	int i;

	cpu_disable_intr();
	atomic_cpumask_setbit(&lwkt_cpusync_halted, gd->gd_cpuid);
	for (i = 0; i < gd->gd_cpusyncq_n; i++)
		if ((int32_t)gd->gd_cpusyncq[i]->cs_count < 0)
			break;
	if (i == gd->gd_cpusyncq_n && !lwkt_ipiq_work_pending(gd))
		cpu_idle_halt();
	atomic_cpumask_clrbit(&lwkt_cpusync_halted, gd->gd_cpuid);
	cpu_enable_intr();
}

/* Master side: serve our own IPIQ until cs_count reaches `want`. */
static void
cpusync_wait(struct lwkt_cpusync *cs, uint32_t want, const char *phase)
{
	uint64_t t0 = cpu_ticks(), us;
	uint32_t ef = read_eflags(), spins = 0;
	bool warned = false;
	char cpus[CPUMASK_FMTLEN];

	cpu_enable_intr();
	while (cs->cs_count != want) {
		lwkt_process_ipiq();
		backoff_pass(&spins, BACKOFF_IPIQ);
		us = cpu_ticks_to_us(cpu_ticks() - t0);
		if (us > CPUSYNC_WARN_US && !warned) {
			warned = true;
			kprintf("cpusync: cpu %d still waits in %s (count %d, "
			    "want %d, cpus %s)\n", mycpuid, phase,
			    (int)cs->cs_count, (int)want,
			    cpumask_format(cpus, sizeof(cpus), cs->cs_mask));
		}
		if (us > CPUSYNC_PANIC_US)
			panic("cpusync: cpu %d stuck in %s for %u s (count %d, "
			    "want %d, cpus %s)", mycpuid, phase,
			    CPUSYNC_PANIC_US / 1000000, (int)cs->cs_count,
			    (int)want,
			    cpumask_format(cpus, sizeof(cpus), cs->cs_mask));
	}
	if ((ef & PSL_I) == 0)
		cpu_disable_intr();
}

/* Send the start message to the CPUs of `mask` not in the rendezvous yet. */
static void
cpusync_send(cpumask_t mask, struct lwkt_cpusync *cs)
{
	struct globaldata *gd = mycpu;

	mask = cpumask_andnot(cpumask_and(mask, smp_active_mask), cs->cs_mask);
	CPUMASK_ORMASK(cs->cs_mask, mask);
	cs->cs_maxcount += lwkt_send_ipiq_mask(cpumask_andnot(mask,
	    gd->gd_cpumask), cpusync_remote_start, cs);
	if (CPUMASK_TESTBIT(mask, gd->gd_cpuid) && cs->cs_run_func != NULL)
		cs->cs_run_func(cs);
}

static void
cpusync_enlist(cpumask_t mask, struct lwkt_cpusync *cs)
{
	cpusync_send(mask, cs);
	cpusync_wait(cs, cs->cs_maxcount, "start");
}

/*
 * Panic path: send a rendezvous that is never waited for nor finished,
 * with lwkt_send_ipiq3_mask_nowait() (a CPU whose FIFO from us is too full
 * is left out: it may never drain it; toward every other CPU one
 * all-but-self IPI); returns the CPUs reached.  The caller watches the
 * CPUs' state itself.  Any context.
 */
cpumask_t
lwkt_cpusync_launch(cpumask_t mask, struct lwkt_cpusync *cs)
{
	cpumask_t reached;

	mask = cpumask_andnot(cpumask_and(mask, smp_active_mask),
	    mycpu->gd_cpumask);
	CPUMASK_ASSZERO(cs->cs_mask);
	cs->cs_count = 0;
	cs->cs_maxcount = 0;
	reached = lwkt_send_ipiq3_mask_nowait(mask, cpusync_remote_start, cs, 0);
	cs->cs_maxcount = cpumask_count(reached);
	cs->cs_mask = reached;
	return reached;
}

/*
 * Thread context.  Returns with every target held and the caller in a
 * critical section that lwkt_cpusync_finish() ends (the _quick forms: the
 * section spans two functions by design, which DEBUG_CRIT_SECTIONS would
 * otherwise report).
 */
void
lwkt_cpusync_start(cpumask_t mask, struct lwkt_cpusync *cs)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	td->td_cscount++;
	CPUMASK_ASSZERO(cs->cs_mask);
	cs->cs_count = 0;
	cs->cs_maxcount = 0;
	cpusync_enlist(mask, cs);
}

void
lwkt_cpusync_add(cpumask_t mask, struct lwkt_cpusync *cs)
{
	KKASSERT(curthread->td_cscount > 0);
	cpusync_enlist(mask, cs);
}

/*
 * Finish: wake the targets halted in lwkt_cpusync_held_idle() (cs_count is
 * negative, stored by a locked swap before this reads the halted mask).
 */
static void
cpusync_wake_halted(struct lwkt_cpusync *cs)
{
	struct globaldata *gd = mycpu;
	cpumask_t targets, halted;
	int cpu;

	targets = cpumask_andnot(cs->cs_mask, gd->gd_cpumask);
	halted = cpumask_and(targets, lwkt_cpusync_halted);
	if (cpumask_empty(halted))
		return;
	if (cpumask_equal(targets, gd->gd_other_cpus) &&
	    lwkt_ipiq_allbutself_ok()) {
		cpu_send_ipiq_allbutself();
		return;
	}
	CPUMASK_FOREACH(cpu, halted)
		cpu_send_ipiq(globaldata_find(cpu));
}

void
lwkt_cpusync_finish(struct lwkt_cpusync *cs)
{
	struct globaldata *gd = mycpu;
	uint32_t done = (uint32_t)-(cs->cs_maxcount + 1);

	KKASSERT(curthread->td_cscount > 0);
	CHAOS_DELAY(CHAOS_CPUSYNC);
	atomic_swap_int(&cs->cs_count, (uint32_t)-1);	/* before the reads */
	cpusync_wake_halted(cs);
	if (CPUMASK_TESTBIT(cs->cs_mask, gd->gd_cpuid)) {
		if (cs->cs_fin1_func != NULL)
			cs->cs_fin1_func(cs);
		if (cs->cs_fin2_func != NULL)
			cs->cs_fin2_func(cs->cs_data);
	}
	cpusync_wait(cs, done, "finish");
	curthread->td_cscount--;
	crit_exit_quick(curthread);
}

void
lwkt_cpusync_simple(cpumask_t mask, cpusync_func_t *func, void *data)
{
	struct lwkt_cpusync cs = CPUSYNC_INITIALIZER(func, NULL, NULL, data);

	lwkt_cpusync_start(mask, &cs);
	lwkt_cpusync_finish(&cs);
}

void
lwkt_cpusync_fastdata(cpumask_t mask, cpusync_func2_t *func, void *data)
{
	struct lwkt_cpusync cs = CPUSYNC_INITIALIZER(NULL, NULL, func, data);

	lwkt_cpusync_start(mask, &cs);
	lwkt_cpusync_finish(&cs);
}

/*
 * The IPIQ (LWKT-SPEC §7, sys/ipiq.h): a matrix of single-writer FIFOs,
 * gd_ipiq[target] of each source CPU, signalled by a LAPIC IPI only when
 * the target is not already known to be signalled.
 *
 * Ordering (x86 keeps stores in order and loads in order, so compiler
 * barriers are enough between plain accesses; the locked ip_npoll swaps
 * are full fences, and all locked operations are totally ordered):
 *   source: fill the slot; barrier; ip_windex++; swap ip_npoll to 1 and
 *           send the IPI only if it was 0.
 *   target: run entries while ip_rindex != ip_windex (read the slot,
 *           ip_rindex++, call, publish ip_xindex); then swap ip_npoll to
 *           0; then look at ip_windex once more and, if it moved, drain
 *           and clear again.
 * While the target drains, ip_npoll stays 1, so a source that queues
 * during the drain sends no IPI: the drain will see its entry.  No entry
 * is stranded: take a source's windex store W and swap S, and the
 * target's clearing swap C followed by its re-read R of ip_windex.  If S
 * comes before C in the order of locked operations, W (an earlier store
 * of the source, which a locked operation makes visible first) is visible
 * before C, so R sees it and the target drains again.  If S comes after
 * C, S reads the 0 that C wrote and the source sends an IPI, so the target
 * will run another pass.  Either way the entry runs.
 *
 * Messages run on the target inside a critical section; processing is
 * reentrant (a message may send and so wait for room and drain), but the
 * nesting is bounded per CPU (IPIQ_DRAIN_NEST_MAX, a named panic above
 * it, long before the thread's stack would run into its guard page);
 * ip_xindex is published only by the outermost level, so it never claims
 * an entry that is still running.  Every wait loop here serves this CPU's
 * own FIFOs, warns after 1 s and panics by name after 10 s.
 *
 * The panicking CPU (panic_cpu) never drains: lwkt_process_ipiq_frame()
 * returns at once there, and panic() sends only with
 * lwkt_send_ipiq3_nowait(), which never waits for room.
 *
 * Option ipiq.passive (kopts, default 1): hardclock() drains every tick,
 * which picks up passive messages (lwkt_send_ipiq3_passive, no IPI).  With
 * ipiq.passive=0 no tick drains, so a lost IPI or a broken ip_npoll
 * interlock leaves a message unrun and the waiter fails by name; passive
 * sends then signal like lwkt_send_ipiq3() (they still count as passive).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/cpusync.h>
#include <sys/ipiq2.h>
#include <sys/kopts.h>
#include <sys/thread2.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define IPIQ_WARN_US	1000000		/* wait loops: warn after 1 s */
#define IPIQ_PANIC_US	10000000	/* and panic after 10 s */
#define IPIQ_DRAIN_NEST_MAX 16		/* nested drains per CPU */

bool ipiq_optimized = true;

_Static_assert(sizeof(struct lwkt_ipiq) % 64 == 0, "one cache line multiple");

/*
 * At boot, by the BSP for every CPU that starts, once ncpus is final: the
 * CPU's outgoing FIFOs, one per CPU that exists (targets are dense cpuids
 * below ncpus; mp_cpu_pages() counts the same).
 */
void
lwkt_ipiq_init_cpu(struct globaldata *gd)
{
	uint32_t bytes = (uint32_t)ncpus * sizeof(struct lwkt_ipiq);

	gd->gd_ipiq = vm_page_alloc(howmany(bytes, PAGE_SIZE));
	if (gd->gd_ipiq == NULL)
		panic("ipiq: no memory for the FIFOs of cpu %d", gd->gd_cpuid);
	memset(gd->gd_ipiq, 0, bytes);
}

/*
 * The FIFO is more than half full: make sure the target has been signalled
 * (a FIFO can fill with passive messages while no IPI is pending,
 * LWKT-SPEC §10b), then serve our own incoming messages with interrupts
 * enabled until it is a quarter full.  Warns after 1 s, panics after 10 s.
 * Sender, in its critical section.
 */
void
lwkt_ipiq_wait_room(struct globaldata *gd, struct globaldata *target,
    struct lwkt_ipiq *ip)
{
	uint32_t ef = read_eflags();
	uint64_t t0, us;
	bool warned = false;

	gd->gd_cnt_ipiq_fifofull++;
	if (atomic_swap_int(&ip->ip_npoll, 1) == 0)
		cpu_send_ipiq(target);
	cpu_enable_intr();
	t0 = cpu_ticks();
	while (lwkt_ipiq_fill(ip) > MAXCPUFIFO / 4) {
		lwkt_process_ipiq();
		cpu_pause();
		us = cpu_ticks_to_us(cpu_ticks() - t0);
		if (us > IPIQ_WARN_US && !warned) {
			warned = true;
			kprintf("ipiq: cpu %d still waits for room in its FIFO "
			    "to cpu %d (windex %u rindex %u xindex %u)\n",
			    gd->gd_cpuid, target->gd_cpuid, ip->ip_windex,
			    ip->ip_rindex, ip->ip_xindex);
		}
		if (us > IPIQ_PANIC_US)
			panic("ipiq: cpu %d waited %u s for room in its FIFO to "
			    "cpu %d (windex %u rindex %u xindex %u npoll %u)",
			    gd->gd_cpuid, IPIQ_PANIC_US / 1000000,
			    target->gd_cpuid, ip->ip_windex, ip->ip_rindex,
			    ip->ip_xindex, ip->ip_npoll);
	}
	if ((ef & PSL_I) == 0)
		cpu_disable_intr();
}

/*
 * Queue without an IPI: the target picks it up on its next tick or pass.
 * Under ipiq.passive=0 no tick drains, so the message is signalled like
 * lwkt_send_ipiq3() (interlock included).
 */
int
lwkt_send_ipiq3_passive(struct globaldata *target, ipifunc3_t *func,
    void *arg, int arg2)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;
	struct lwkt_ipiq *ip;
	uint32_t seq;

	KASSERT(target != gd, ("passive IPIQ message to self"));
	crit_enter_quick(td);
	++gd->gd_intr_nesting_level;
	ip = &gd->gd_ipiq[target->gd_cpuid];
	if (lwkt_ipiq_fill(ip) > MAXCPUFIFO / 2)
		lwkt_ipiq_wait_room(gd, target, ip);
	seq = lwkt_ipiq_put(ip, func, arg, arg2);
	gd->gd_cnt_ipiq_passive++;
	if (!kopts.ko_ipiq_passive &&
	    (atomic_swap_int(&ip->ip_npoll, 1) == 0 || !ipiq_optimized))
		cpu_send_ipiq(target);
	--gd->gd_intr_nesting_level;
	crit_exit_quick(td);
	return (int)seq;
}

/*
 * 0 when queued (or run inline), ENOENT when the FIFO is at least 2/3
 * full; never waits for room.
 */
int
lwkt_send_ipiq3_nowait(struct globaldata *target, ipifunc3_t *func,
    void *arg, int arg2)
{
	struct globaldata *gd = mycpu;
	thread_t td;
	struct lwkt_ipiq *ip;

	if (target == gd) {
		func(arg, arg2, NULL);
		return 0;
	}
	td = gd->gd_curthread;
	crit_enter_quick(td);
	ip = &gd->gd_ipiq[target->gd_cpuid];
	if (lwkt_ipiq_fill(ip) >= MAXCPUFIFO * 2 / 3) {
		crit_exit_quick(td);
		return ENOENT;
	}
	++gd->gd_intr_nesting_level;
	lwkt_ipiq_put(ip, func, arg, arg2);
	if (atomic_swap_int(&ip->ip_npoll, 1) == 0 || !ipiq_optimized)
		cpu_send_ipiq(target);
	else
		gd->gd_cnt_ipiq_avoided++;
	--gd->gd_intr_nesting_level;
	crit_exit_quick(td);
	return 0;
}

/* Send to every online, not stopped CPU in `mask`; returns how many. */
int
lwkt_send_ipiq3_mask(cpumask_t mask, ipifunc3_t *func, void *arg, int arg2)
{
	int cpu, n = 0;

	CPUMASK_ANDMASK(mask, smp_active_mask);
	CPUMASK_FOREACH(cpu, mask) {
		if (globaldata_find(cpu)->gd_state != GDS_ONLINE)
			continue;
		lwkt_send_ipiq3(globaldata_find(cpu), func, arg, arg2);
		n++;
	}
	return n;
}

uint32_t
lwkt_seq_ipiq(struct globaldata *target)
{
	return mycpu->gd_ipiq[target->gd_cpuid].ip_windex;
}

/*
 * Spin until `target` has finished running our message number `seq`,
 * serving our own incoming messages meanwhile with interrupts enabled (so
 * two CPUs waiting on each other make progress).  Warns after 1 s, panics
 * after 10 s.
 */
void
lwkt_wait_ipiq(struct globaldata *target, uint32_t seq)
{
	struct globaldata *gd = mycpu;
	struct lwkt_ipiq *ip;
	uint64_t t0, us;
	uint32_t ef;
	bool warned = false;

	if (target == gd)
		return;
	ip = &gd->gd_ipiq[target->gd_cpuid];
	if ((int32_t)(ip->ip_xindex - seq) >= 0)
		return;
	crit_enter();
	ef = read_eflags();
	cpu_enable_intr();
	t0 = cpu_ticks();
	while ((int32_t)(ip->ip_xindex - seq) < 0) {
		lwkt_process_ipiq();
		cpu_pause();
		us = cpu_ticks_to_us(cpu_ticks() - t0);
		if (us > IPIQ_WARN_US && !warned) {
			warned = true;
			kprintf("ipiq: cpu %d still waits for cpu %d to run "
			    "message %u (windex %u rindex %u xindex %u)\n",
			    gd->gd_cpuid, target->gd_cpuid, seq, ip->ip_windex,
			    ip->ip_rindex, ip->ip_xindex);
		}
		if (us > IPIQ_PANIC_US)
			panic("ipiq: cpu %d waited %u s for cpu %d to run message "
			    "%u (windex %u rindex %u xindex %u npoll %u)",
			    gd->gd_cpuid, IPIQ_PANIC_US / 1000000,
			    target->gd_cpuid, seq, ip->ip_windex, ip->ip_rindex,
			    ip->ip_xindex, ip->ip_npoll);
	}
	if ((ef & PSL_I) == 0)
		cpu_disable_intr();
	crit_exit();
}

/*
 * Run everything in one FIFO aimed at this CPU: drain, clear ip_npoll,
 * drain again if ip_windex moved meanwhile (ordering at the top).
 *
 * Chaos (sys/chaos.h) may stop a drain that the IPI itself started
 * (frame != NULL) after any entry while others are queued
 * (CHAOS_IPIQ_DEFER): the rest is left for a later drain.  An explicit
 * lwkt_process_ipiq() (splz, the tick, wait loops, callers that rely on
 * it) keeps its contract and runs everything queued before it.  The rest
 * is never stranded: before stopping, the drain sets RQF_IPIQ, the flag an
 * IPI that arrives inside a critical section sets.  The IPI handler
 * drains only when the interrupted thread holds no critical section, so
 * on the way back to thread level trap() finds the nesting level 0, the
 * count 0 and RQF_IPIQ set, and calls lwkt_splz(), whose loop runs
 * lwkt_process_ipiq() (a full drain) while RQF_IPIQ is set.  (On the
 * panicking CPU nothing drains anyway.)  Neither another IPI nor a tick
 * is needed, ipiq.passive=0 included.  ip_xindex covers exactly the
 * entries run (the outermost level publishes ip_rindex).
 */
static void
ipiq_process_one(struct globaldata *gd, struct lwkt_ipiq *ip,
    struct intrframe *frame)
{
	struct lwkt_ipiq_entry *e;
	ipifunc3_t *func;
	void *arg;
	uint32_t ri;
	int arg2;

	if (ip->ip_rindex == ip->ip_windex && ip->ip_npoll == 0)
		return;
	++ip->ip_nest;
	do {
		CHAOS_DELAY(CHAOS_IPIQ_DRAIN);
		while ((ri = ip->ip_rindex) != ip->ip_windex) {
			cpu_ccfence();
			e = &ip->ip_info[ri & MAXCPUFIFO_MASK];
			func = e->ie_func;
			arg = e->ie_arg;
			arg2 = e->ie_arg2;
			cpu_ccfence();
			ip->ip_rindex = ri + 1;
			gd->gd_cnt_ipiq_count++;
			func(arg, arg2, frame);
			if (ip->ip_nest == 1)
				ip->ip_xindex = ri + 1;
			if (CHAOS_ROLL(CHAOS_RESCHED))
				need_lwkt_resched();
			if (CHAOS_ROLL_IF(frame != NULL &&
			    ip->ip_rindex != ip->ip_windex, CHAOS_IPIQ_DEFER)) {
				atomic_set_int(&gd->gd_reqflags, RQF_IPIQ);
				goto out;	/* the rest: see above */
			}
		}
		CHAOS_DELAY(CHAOS_IPIQ_CLEAR);
		atomic_swap_int(&ip->ip_npoll, 0);
	} while (ip->ip_rindex != ip->ip_windex);
out:
	if (--ip->ip_nest == 0)
		ip->ip_xindex = ip->ip_rindex;
}

/*
 * Run every message aimed at this CPU, then poll the cpusyncs this CPU is
 * held in; while one still holds it, keep serving the FIFOs (that is what
 * holding means).  Caller is in a critical section.  Refused on the
 * panicking CPU; nesting above IPIQ_DRAIN_NEST_MAX panics by name.
 */
void
lwkt_process_ipiq_frame(struct intrframe *frame)
{
	struct globaldata *gd = mycpu;
	cpumask_t mask;
	int cpu;

	KKASSERT(curthread->td_critcount > 0);
	if (panic_cpu == gd->gd_cpuid)
		return;
	KASSERT(!gd->gd_inswitch, ("ipiq: cpu %d would run IPIQ messages inside "
	    "lwkt_switch (thread \"%s\" switching out)", gd->gd_cpuid,
	    gd->gd_curthread->td_comm));
	if (__predict_false(++gd->gd_ipiq_nest > gd->gd_ipiq_nest_max)) {
		gd->gd_ipiq_nest_max = gd->gd_ipiq_nest;
		if (gd->gd_ipiq_nest > IPIQ_DRAIN_NEST_MAX)
			panic("ipiq: drain nesting %u exceeds %u on cpu %d (a "
			    "message sends, waits for room and drains again: "
			    "a reply storm?)", gd->gd_ipiq_nest,
			    IPIQ_DRAIN_NEST_MAX, gd->gd_cpuid);
	}
	for (;;) {
		mask = cpumask_andnot(smp_active_mask, gd->gd_cpumask);
		CPUMASK_FOREACH(cpu, mask)
			ipiq_process_one(gd,
			    &globaldata_find(cpu)->gd_ipiq[gd->gd_cpuid], frame);
		if (gd->gd_cpusyncq_n == 0 || !lwkt_cpusync_poll())
			break;
		cpu_pause();
	}
	--gd->gd_ipiq_nest;
}

void
lwkt_process_ipiq(void)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	lwkt_process_ipiq_frame(NULL);
	crit_exit_noyield(td);
}

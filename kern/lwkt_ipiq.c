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
 * Pending mask (gd_ipiq_pending of the target): a pass visits only the
 * FIFOs whose bit is set (and those an outer drain level is in).  The
 * source whose S turns ip_npoll from 0 to 1 then sets its bit B (locked)
 * and only then signals; a passive send (no ip_npoll) sets B after W.
 * The target takes a whole word of bits with one locked swap T before it
 * drains any FIFO of that word, so B after T leaves the bit set for the
 * next pass.  Invariant: while ip_npoll is 1, the bit is set, or B is
 * about to be (the source is between S and B: the IPI or tick that
 * follows B finds it), or the target is in a drain of that FIFO after T
 * and before its final C (which then sees W by the argument above).  It
 * holds because ip_npoll becomes 1 only at an S that read 0, followed by
 * B; the bit is cleared only at T, which a drain (ending with C and R)
 * follows; and a drain that stops early (chaos, below) sets the bit again
 * itself.  So a source that finds ip_npoll 1 may add nothing.
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
#include <sys/backoff.h>
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
#define IPIQ_HELD_SPINS	64		/* held: idle passes before halting */

bool ipiq_optimized = true;
uint32_t ipiq_fifo_depth = MAXCPUFIFO;
uint32_t ipiq_fifo_mask = MAXCPUFIFO - 1;
uint32_t ipiq_fifo_half = MAXCPUFIFO / 2;

_Static_assert(sizeof(struct lwkt_ipiq) == 128, "two cache lines");
_Static_assert(offsetof(struct lwkt_ipiq, ip_rindex) == 64,
    "the target's indices start the second cache line");
_Static_assert((sizeof(struct lwkt_ipiq) +
    IPIQ_FIFO_MIN * sizeof(struct lwkt_ipiq_entry)) * MAXCPU <=
    IPIQ_CPU_BYTES_MAX, "MAXCPU CPUs fit at the smallest depth");

uint32_t
lwkt_ipiq_cpu_bytes(int n, uint32_t depth)
{
	return (uint32_t)n * (sizeof(struct lwkt_ipiq) +
	    depth * sizeof(struct lwkt_ipiq_entry));
}

uint32_t
lwkt_ipiq_depth_for(int n)
{
	uint32_t depth = MAXCPUFIFO;

	while (depth > IPIQ_FIFO_MIN &&
	    lwkt_ipiq_cpu_bytes(n, depth) > IPIQ_CPU_BYTES_MAX)
		depth /= 2;
	return depth;
}

/*
 * At boot, by the BSP for every CPU that starts, once ncpus is final: the
 * CPU's outgoing FIFOs, one per CPU that exists (targets are dense cpuids
 * below ncpus; mp_cpu_pages() counts the same), rows and rings in one
 * allocation.  The first call chooses the depth and prints the memory line
 * `make scale` reads.
 */
void
lwkt_ipiq_init_cpu(struct globaldata *gd)
{
	static bool chosen;
	struct lwkt_ipiq_entry *ring;
	uint32_t bytes;
	int t;

	if (!chosen) {
		chosen = true;
		ipiq_fifo_depth = lwkt_ipiq_depth_for(ncpus);
		ipiq_fifo_mask = ipiq_fifo_depth - 1;
		ipiq_fifo_half = ipiq_fifo_depth / 2;
		kprintf("ipiq: %d CPUs, FIFO depth %u (MAXCPUFIFO %d), %u bytes "
		    "of FIFOs per CPU\n", ncpus, ipiq_fifo_depth, MAXCPUFIFO,
		    lwkt_ipiq_cpu_bytes(ncpus, ipiq_fifo_depth));
	}
	bytes = lwkt_ipiq_cpu_bytes(ncpus, ipiq_fifo_depth);
	gd->gd_ipiq = vm_page_alloc(howmany(bytes, PAGE_SIZE));
	if (gd->gd_ipiq == NULL)
		panic("ipiq: no memory for %u bytes of FIFOs", bytes);
	memset(gd->gd_ipiq, 0, bytes);
	ring = (struct lwkt_ipiq_entry *)&gd->gd_ipiq[ncpus];
	for (t = 0; t < ncpus; t++)
		gd->gd_ipiq[t].ip_info = &ring[t * ipiq_fifo_depth];
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
	uint32_t ef = read_eflags(), spins = 0;
	uint64_t t0, us;
	bool warned = false;

	gd->gd_cnt_ipiq_fifofull++;
	if (lwkt_ipiq_signal(gd, target, ip))
		cpu_send_ipiq(target);
	cpu_enable_intr();
	t0 = cpu_ticks();
	while (lwkt_ipiq_fill(ip) > ipiq_fifo_depth / 4) {
		lwkt_process_ipiq();
		backoff_pass(&spins, BACKOFF_IPIQ);
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
	if (lwkt_ipiq_fill(ip) > ipiq_fifo_half)
		lwkt_ipiq_wait_room(gd, target, ip);
	seq = lwkt_ipiq_put(ip, func, arg, arg2);
	gd->gd_cnt_ipiq_passive++;
	if (kopts.ko_ipiq_passive) {
		atomic_cpumask_setbit(&target->gd_ipiq_pending, gd->gd_cpuid);
		if (CPUMASK_TESTBIT(lwkt_cpusync_halted, target->gd_cpuid))
			cpu_send_ipiq(target);	/* held and halted: no tick */
	} else if (lwkt_ipiq_signal(gd, target, ip) || !ipiq_optimized)
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
	if (lwkt_ipiq_fill(ip) >= ipiq_fifo_depth * 2 / 3) {
		crit_exit_quick(td);
		return ENOENT;
	}
	++gd->gd_intr_nesting_level;
	lwkt_ipiq_put(ip, func, arg, arg2);
	if (lwkt_ipiq_signal(gd, target, ip) || !ipiq_optimized)
		cpu_send_ipiq(target);
	else
		gd->gd_cnt_ipiq_avoided++;
	--gd->gd_intr_nesting_level;
	crit_exit_quick(td);
	return 0;
}

/*
 * The all-excluding-self IPI reaches every APIC on the bus, not only the
 * CPUs in smp_active_mask.  It is used only when every CPU the kernel
 * started is online (so none is offline-but-alive: parked after a late
 * start, or failed) and the sender has just found every other CPU
 * GDS_ONLINE (none stopped or held by a panic).  The APICs it reaches
 * besides are CPUs the kernel never started (disabled, beyond MAXCPU or
 * smp.maxcpus): they sit in the firmware's park loop with interrupts off
 * or wait for a STARTUP IPI, and a fixed IPI leaves them as they are (it
 * stays pending in their APIC, never delivered while interrupts are off).
 */
bool
lwkt_ipiq_allbutself_ok(void)
{
	return smp_active && cpumask_count(smp_active_mask) == ncpus;
}

/*
 * Send to every online, not stopped CPU in `mask` (this CPU: called
 * inline); returns how many, and the CPUs reached in *reached.  When the
 * targets are every other CPU, every FIFO is published first and then one
 * all-but-self IPI signals them all (if any needed a signal), so the
 * sender sends one IPI whatever N; else each target is signalled as it is
 * published.  `nowait`: a target whose FIFO is 2/3 full is skipped (not
 * reached) instead of waited for (the panic path).
 */
static int
ipiq_send_mask(cpumask_t mask, ipifunc3_t *func, void *arg, int arg2,
    bool nowait, cpumask_t *reached)
{
	struct globaldata *gd = mycpu, *target;
	thread_t td = gd->gd_curthread;
	struct lwkt_ipiq *ip;
	cpumask_t need;
	bool all;
	int cpu, n = 0;

	CPUMASK_ANDMASK(mask, smp_active_mask);
	CPUMASK_ASSZERO(*reached);
	if (CPUMASK_TESTBIT(mask, gd->gd_cpuid)) {
		CPUMASK_CLRBIT(mask, gd->gd_cpuid);
		func(arg, arg2, NULL);
		CPUMASK_SETBIT(*reached, gd->gd_cpuid);
		n++;
	}
	crit_enter_quick(td);
	++gd->gd_intr_nesting_level;
	all = !cpumask_empty(mask) && cpumask_equal(mask, gd->gd_other_cpus) &&
	    lwkt_ipiq_allbutself_ok();
	CPUMASK_ASSZERO(need);
	CPUMASK_FOREACH(cpu, mask) {
		target = globaldata_find(cpu);
		if (target->gd_state != GDS_ONLINE) {
			all = false;
			continue;
		}
		ip = &gd->gd_ipiq[cpu];
		if (nowait) {
			if (lwkt_ipiq_fill(ip) >= ipiq_fifo_depth * 2 / 3)
				continue;	/* as _nowait: never wait */
		} else if (lwkt_ipiq_fill(ip) > ipiq_fifo_half) {
			lwkt_ipiq_wait_room(gd, target, ip);
		}
		lwkt_ipiq_put(ip, func, arg, arg2);
		CPUMASK_SETBIT(*reached, cpu);
		n++;
		if (!lwkt_ipiq_signal(gd, target, ip) && ipiq_optimized)
			gd->gd_cnt_ipiq_avoided++;
		else if (all)
			CPUMASK_SETBIT(need, cpu);
		else
			cpu_send_ipiq(target);
	}
	if (all && !cpumask_empty(need))
		cpu_send_ipiq_allbutself();
	else
		CPUMASK_FOREACH(cpu, need)
			cpu_send_ipiq(globaldata_find(cpu));
	--gd->gd_intr_nesting_level;
	crit_exit_quick(td);
	return n;
}

int
lwkt_send_ipiq3_mask(cpumask_t mask, ipifunc3_t *func, void *arg, int arg2)
{
	cpumask_t reached;

	return ipiq_send_mask(mask, func, arg, arg2, false, &reached);
}

cpumask_t
lwkt_send_ipiq3_mask_nowait(cpumask_t mask, ipifunc3_t *func, void *arg,
    int arg2)
{
	cpumask_t reached;

	ipiq_send_mask(mask, func, arg, arg2, true, &reached);
	return reached;
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
	uint32_t ef, spins = 0;
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
		backoff_pass(&spins, BACKOFF_IPIQ);
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
ipiq_process_one(struct globaldata *gd, int src, struct lwkt_ipiq *ip,
    struct intrframe *frame)
{
	struct lwkt_ipiq_entry *e;
	ipifunc3_t *func;
	void *arg;
	uint32_t ri;
	int arg2;

	if (ip->ip_rindex == ip->ip_windex && ip->ip_npoll == 0)
		return;
	if (ip->ip_nest++ == 0)
		CPUMASK_SETBIT(gd->gd_ipiq_draining, src);
	do {
		CHAOS_DELAY(CHAOS_IPIQ_DRAIN);
		while ((ri = ip->ip_rindex) != ip->ip_windex) {
			cpu_ccfence();
			e = &ip->ip_info[ri & ipiq_fifo_mask];
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
				atomic_cpumask_setbit(&gd->gd_ipiq_pending, src);
				atomic_set_int(&gd->gd_reqflags, RQF_IPIQ);
				goto out;	/* the rest: see above */
			}
		}
		CHAOS_DELAY(CHAOS_IPIQ_CLEAR);
		atomic_swap_int(&ip->ip_npoll, 0);
	} while (ip->ip_rindex != ip->ip_windex);
out:
	if (--ip->ip_nest == 0) {
		ip->ip_xindex = ip->ip_rindex;
		CPUMASK_CLRBIT(gd->gd_ipiq_draining, src);
	}
}

/*
 * One pass: take each word of the pending mask with one locked swap (T in
 * the ordering above) and drain the FIFOs of its bits, plus those an
 * outer level is draining (a nested pass keeps serving them, as before the
 * mask existed).  Words above ncpus are never set.
 */
static void
ipiq_process_pending(struct globaldata *gd, struct intrframe *frame)
{
	uint32_t bits;
	int w, b, src, nw = howmany(ncpus, 32);

	for (w = 0; w < nw; w++) {
		bits = gd->gd_ipiq_draining.ary[w];
		if (gd->gd_ipiq_pending.ary[w] != 0)
			bits |= atomic_swap_int(&gd->gd_ipiq_pending.ary[w], 0);
		while (bits != 0) {
			b = __builtin_ctz(bits);
			bits &= bits - 1;
			src = w * 32 + b;
			ipiq_process_one(gd, src,
			    &globaldata_find(src)->gd_ipiq[gd->gd_cpuid], frame);
		}
	}
}

/*
 * Whether a pass would find work: a pending bit, or (nested in a drain)
 * any FIFO an outer level is draining, whose new entries set no bit.
 */
bool
lwkt_ipiq_work_pending(struct globaldata *gd)
{
	return !cpumask_empty(gd->gd_ipiq_pending) ||
	    !cpumask_empty(gd->gd_ipiq_draining);
}

/*
 * Run every message aimed at this CPU, then poll the cpusyncs this CPU is
 * held in; while one still holds it, keep serving the FIFOs (that is what
 * holding means), after IPIQ_HELD_SPINS idle passes halting in
 * lwkt_cpusync_held_idle() until an interrupt (the wake-ups are listed
 * there) instead of polling.  The interrupt flag is restored on the way
 * out.  Caller is in a critical section.  Refused on the panicking CPU;
 * nesting above IPIQ_DRAIN_NEST_MAX panics by name.
 */
void
lwkt_process_ipiq_frame(struct intrframe *frame)
{
	struct globaldata *gd = mycpu;
	uint32_t ef, spins = 0;

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
	ef = read_eflags();
	for (;;) {
		ipiq_process_pending(gd, frame);
		if (gd->gd_cpusyncq_n == 0 || !lwkt_cpusync_poll())
			break;
		if (++spins < IPIQ_HELD_SPINS) {
			cpu_pause();
			continue;
		}
		spins = 0;
		lwkt_cpusync_held_idle();
	}
	if ((ef & PSL_I) == 0)
		cpu_disable_intr();
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

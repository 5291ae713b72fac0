/*
 * Thread lifecycle (LWKT-SPEC §3.3): allocation from the per-CPU cache or
 * the heap, initialisation on the target CPU, creation, exit, deferred
 * reaping and freeing, holds, and the console dump of every CPU's threads.
 *
 * A thread's lists (gd_tdallq, gd_tdreapq, gd_tdfreeq) belong to its CPU
 * and are touched only there, inside a critical section: a thread created
 * for another CPU is linked there by an IPIQ message.  A thread never frees
 * its own stack: lwkt_exit() parks it on the reap list and the CPU's idle
 * thread (or the next allocation) frees it once it is fully switched out
 * (TDF_RUNNING and TDF_PREEMPT_LOCK clear) and nobody holds it.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/malloc.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <sys/tsleep.h>
#include <sys/vm_page.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define TDF_KEEP	(TDF_ALLOCATED_THREAD | TDF_ALLOCATED_STACK)

void	lwkt_thread_start(void) __noreturn;

/* Each CPU for itself, before its first critical section: lists and idle thread. */
void
lwkt_init_cpu_threads(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = &gd->gd_idlethread;
	int i;

	for (i = 0; i < NQS; i++)
		TAILQ_INIT(&gd->gd_tdrunq[i]);
	TAILQ_INIT(&gd->gd_tdallq);
	TAILQ_INIT(&gd->gd_tdfreeq);
	TAILQ_INIT(&gd->gd_tdreapq);
	memset(td, 0, sizeof(*td));
	td->td_gd = gd;
	td->td_pri = TDPRI_IDLE_THREAD;
	td->td_flags = TDF_RUNNING;
	td->td_kstack = (char *)gd->gd_stack_base;
	td->td_kstack_size = gd->gd_stack_size;
	ksnprintf(td->td_comm, sizeof(td->td_comm), "idle_%d", gd->gd_cpuid);
	lwkt_initport(&td->td_msgport, td);
	TAILQ_INSERT_TAIL(&gd->gd_tdallq, td, td_allq);
	gd->gd_curthread = td;
}

static void
lwkt_link_remote(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	thread_t td = arg;

	TAILQ_INSERT_TAIL(&td->td_gd->gd_tdallq, td, td_allq);
}

/*
 * Reset td for `cpu`: priority TDPRI_KERN_DAEMON, inside one critical
 * section (left by lwkt_thread_start), a fresh switch frame, linked on the
 * CPU's gd_tdallq (by message if the CPU is another one).
 */
void
lwkt_init_thread(thread_t td, int cpu, int flags)
{
	struct globaldata *gd = globaldata_find(cpu);
	uint32_t keep = td->td_flags & TDF_KEEP;
	char *kstack = td->td_kstack;
	uint32_t ksize = td->td_kstack_size;

	memset(td, 0, sizeof(*td));
	td->td_kstack = kstack;
	td->td_kstack_size = ksize;
	td->td_flags = keep | (flags & (TDF_VERBOSE | TDF_MPSAFE));
	td->td_gd = gd;
	td->td_pri = TDPRI_KERN_DAEMON;
	td->td_critcount = 1;
	lwkt_initport(&td->td_msgport, td);
	cpu_thread_init(td);
	if (gd == mycpu) {
		crit_enter();
		TAILQ_INSERT_TAIL(&gd->gd_tdallq, td, td_allq);
		crit_exit();
	} else {
		lwkt_send_ipiq(gd, lwkt_link_remote, td);
	}
}

/* A thread from this CPU's cache, else fresh memory; NULL if out of memory. */
thread_t
lwkt_alloc_thread(thread_t td, int cpu, int flags)
{
	struct globaldata *gd = mycpu;

	lwkt_reap();
	if (td == NULL) {
		crit_enter();
		if ((td = TAILQ_FIRST(&gd->gd_tdfreeq)) != NULL) {
			TAILQ_REMOVE(&gd->gd_tdfreeq, td, td_threadq);
			gd->gd_tdfreecount--;
		}
		crit_exit();
	}
	if (td == NULL) {
		if ((td = kzalloc(sizeof(*td))) == NULL)
			return NULL;
		td->td_flags = TDF_ALLOCATED_THREAD;
	}
	if (td->td_kstack == NULL) {
		td->td_kstack = vm_page_alloc(KSTACK_PAGES + 1);
		if (td->td_kstack == NULL) {
			if (td->td_flags & TDF_ALLOCATED_THREAD)
				kfree(td);
			return NULL;
		}
		td->td_kstack_size = (KSTACK_PAGES + 1) * PAGE_SIZE;
		td->td_flags |= TDF_ALLOCATED_STACK;
		cpu_kstack_guard(td, true);
	}
	lwkt_init_thread(td, cpu, flags);
	return td;
}

/*
 * Create a thread on `cpu` (any CPU, from any CPU) that runs func(arg) and
 * exits when it returns; schedule it unless TDF_STOPREQ.  Returns 0 or
 * ENOMEM.
 */
int
lwkt_create(void (*func)(void *), void *arg, thread_t *tdp, thread_t template,
    int tdflags, int cpu, const char *fmt, ...)
{
	thread_t td;
	va_list ap;

	if (cpu < 0)
		cpu = mycpuid;
	td = lwkt_alloc_thread(template, cpu, tdflags);
	if (td == NULL)
		return ENOMEM;
	td->td_func = func;
	td->td_arg = arg;
	va_start(ap, fmt);
	kvsnprintf(td->td_comm, sizeof(td->td_comm), fmt, ap);
	va_end(ap);
	if (tdp != NULL)
		*tdp = td;
	if ((tdflags & TDF_STOPREQ) == 0)
		lwkt_schedule(td);	/* behind the link message, if remote */
	return 0;
}

/* First C code of every new thread (from cpu_thread_trampoline). */
void
lwkt_thread_start(void)
{
	thread_t td = curthread;

	lwkt_switch_return();
	if (td->td_flags & TDF_ALLOCATED_STACK)
		cpu_kstack_guard(td, true);	/* this CPU's TLB, see pmap.c */
	cpu_enable_intr();
	crit_exit();
	td->td_func(td->td_arg);
	lwkt_exit();
}

void
lwkt_exit(void)
{
	struct globaldata *gd = mycpu;
	thread_t td = gd->gd_curthread;

	if (td->td_flags & TDF_VERBOSE)
		kprintf("thread \"%s\" exits on cpu %d\n", td->td_comm,
		    gd->gd_cpuid);
	KASSERT(td != &gd->gd_idlethread, ("the idle thread cannot exit"));
	KASSERT(td->td_toks == NULL, ("thread \"%s\" exits holding token \"%s\"",
	    td->td_comm, td->td_toks->tr_tok->t_name));
	lwkt_port_wait_replies(&td->td_msgport); /* no late reply to it */
	tsleep_remove(td);		/* an interlock it never slept on */
	crit_enter_quick(td);
	td->td_flags |= TDF_EXITING;
	lwkt_deschedule_self();
	TAILQ_REMOVE(&gd->gd_tdallq, td, td_allq);
	TAILQ_INSERT_TAIL(&gd->gd_tdreapq, td, td_threadq);
	lwkt_switch();
	panic("lwkt_exit: dead thread \"%s\" was resumed", td->td_comm);
}

/* Into this CPU's cache if there is room, else back to the allocators. */
void
lwkt_free_thread(thread_t td)
{
	struct globaldata *gd = mycpu;

	KASSERT((td->td_flags & (TDF_RUNNING | TDF_PREEMPT_LOCK | TDF_RUNQ)) == 0
	    && td->td_refs == 0, ("lwkt_free_thread: \"%s\" still in use "
	    "(flags 0x%x, refs %u)", td->td_comm, td->td_flags, td->td_refs));
	crit_enter();
	if ((td->td_flags & TDF_KEEP) == TDF_KEEP &&
	    gd->gd_tdfreecount < CACHE_NTHREADS) {
		TAILQ_INSERT_HEAD(&gd->gd_tdfreeq, td, td_threadq);
		gd->gd_tdfreecount++;
		crit_exit();
		return;
	}
	crit_exit();
	if (td->td_flags & TDF_ALLOCATED_STACK) {
		cpu_kstack_guard(td, false);
		vm_page_free(td->td_kstack, td->td_kstack_size / PAGE_SIZE);
	}
	if (td->td_flags & TDF_ALLOCATED_THREAD)
		kfree(td);
}

/* Free this CPU's exited threads that nobody uses any more; returns how many. */
int
lwkt_reap(void)
{
	struct globaldata *gd = mycpu;
	thread_t td, tmp;
	int n = 0;

	crit_enter();
	TAILQ_FOREACH_SAFE(td, &gd->gd_tdreapq, td_threadq, tmp) {
		if ((td->td_flags & (TDF_RUNNING | TDF_PREEMPT_LOCK)) ||
		    td->td_refs != 0)
			continue;
		TAILQ_REMOVE(&gd->gd_tdreapq, td, td_threadq);
		lwkt_free_thread(td);
		n++;
	}
	crit_exit();
	return n;
}

void
lwkt_hold(thread_t td)
{
	atomic_add_int(&td->td_refs, 1);
}

void
lwkt_rele(thread_t td)
{
	KKASSERT(td->td_refs > 0);
	atomic_subtract_int(&td->td_refs, 1);
}

/* Wait (thread context) until nobody holds td. */
void
lwkt_wait_free(thread_t td)
{
	while (td->td_refs != 0)
		lwkt_sleep_us(100);
}

static const char *const td_flag_names[] = {
	"RUNNING", "RUNQ", "PREEMPT_LOCK", "PREEMPT_DONE", "IDLE_NOHLT",
	"ALLOC_THREAD", "ALLOC_STACK", "VERBOSE", "STOPREQ", "EXITING",
	"MPSAFE", "TSLEEPQ", "MIGRATING",
};

/* "RUNNING|RUNQ" for a td_flags value; any CPU. */
void
lwkt_flags_str(uint32_t flags, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < nitems(td_flag_names) && off < len; i++) {
		if (flags & (1u << i))
			off += ksnprintf(buf + off, len - off, "%s%s",
			    off ? "|" : "", td_flag_names[i]);
	}
	if (off == 0)
		strlcpy(buf, "-", len);
}

static const char *
td_state(thread_t td)
{
	if (td->td_gd->gd_curthread == td)
		return "running";
	if (td->td_flags & TDF_PREEMPT_LOCK)
		return "preempted";
	if (td->td_flags & TDF_EXITING)
		return "exiting";
	if (td->td_flags & TDF_RUNQ)
		return "runnable";
	return "blocked";
}

/*
 * Console dump of every CPU's threads.  It reads other CPUs' lists without
 * their cooperation: exact when they are stopped (panic), a best-effort
 * snapshot otherwise (test timeouts).
 */
void
lwkt_dump_threads(void)
{
	thread_t td;
	char fl[96];
	int cpu, n;

	for (cpu = 0; cpu < ncpus; cpu++) {
		struct globaldata *gd = globaldata_find(cpu);

		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		kprintf("  cpu %d threads (runqmask 0x%08x):\n", cpu,
		    gd->gd_runqmask);
		n = 0;
		TAILQ_FOREACH(td, &gd->gd_tdallq, td_allq) {
			lwkt_flags_str(td->td_flags, fl, sizeof(fl));
			kprintf("    %p %-16s pri %2d crit %d %-9s %s%s%s", td,
			    td->td_comm, td->td_pri, td->td_critcount,
			    td_state(td), fl, td->td_wmesg ? " wmesg " : "",
			    td->td_wmesg ? td->td_wmesg : "");
			lwkt_token_print(td);
			kprintf("\n");
			if (++n >= 64) {
				kprintf("    ...\n");
				break;
			}
		}
	}
}

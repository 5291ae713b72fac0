/*
 * Tokens (sys/token.h, LWKT-SPEC §9.1; the rules are explained in
 * docs/sync.md).
 *
 * Ownership: t_cpu (and t_uses_arrived) are written only by the owning
 * CPU, inside a critical section, when it hands the token to a CPU that
 * asked.  Asking: a CPU sets its bit in t_reqmask and sends the owner it
 * believes in a request message (once: a set bit is not asked again,
 * except once per clock tick as a safety net, or when the message could
 * not be queued); a CPU that no longer owns the token forwards the
 * request to the current owner, so requests chase a moving token.
 *
 * Granting (tok_try_grant), at a release, when a holder switches out, when
 * a request arrives: refused while a thread running or preempted here
 * holds the token (counted as contention); deferred while a runnable
 * thread of this CPU holds it and the token has served fewer than
 * TOKEN_GRANT_BATCH entries here since it arrived (so a token that
 * arrives serves its asker before it can be taken away, and no CPU keeps
 * it from the others for longer than a batch); otherwise given at once to
 * the next asking CPU above this one.  The new owner is woken by a
 * message; a grant made inside lwkt_switch sets t_cpu at once but queues
 * the wake-up in gd_tokwake, sent by lwkt_switch_return once the switch
 * has completed: nothing here drains the IPIQ inside a switch.
 *
 * Holding: lwkt_gettoken (inline, sys/token2.h) links the caller's tokref
 * on curthread->td_toks and returns once this CPU owns the token and no
 * thread this one preempted holds it; until then (lwkt_gettoken_slow) the
 * thread stays runnable but lwkt_switch() skips it (lwkt_token_chk asks
 * for what is missing), so the CPU runs other threads or halts.  The same
 * check stands before every resumption of a thread, which is how a thread
 * that blocked gets back tokens another CPU took meanwhile.  A preemption
 * needs every token of the preempting thread here and held by no thread
 * it would preempt (lwkt_token_preempt_ok).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/spinlock2.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <machine/atomic.h>
#include <machine/cpufunc.h>

struct lwkt_token_list lwkt_tokens = TAILQ_HEAD_INITIALIZER(lwkt_tokens);
static struct spinlock lwkt_tokens_lock = SPINLOCK_INITIALIZER("token registry");

void
lwkt_token_init(struct lwkt_token *tok, const char *name)
{
	memset(tok, 0, sizeof(*tok));
	tok->t_cpu = mycpu;
	tok->t_name = name;
	spin_lock(&lwkt_tokens_lock);
	TAILQ_INSERT_TAIL(&lwkt_tokens, tok, t_link);
	spin_unlock(&lwkt_tokens_lock);
}

void
lwkt_token_uninit(struct lwkt_token *tok)
{
	spin_lock(&lwkt_tokens_lock);
	TAILQ_REMOVE(&lwkt_tokens, tok, t_link);
	spin_unlock(&lwkt_tokens_lock);
}

/* Does td hold tok? */
static bool
tok_held_by(struct lwkt_token *tok, thread_t td)
{
	struct lwkt_tokref *ref;

	for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
		if (ref->tr_tok == tok)
			return true;
	return false;
}

/* Does `run` (the thread running here) or a thread it preempted hold tok? */
static bool
tok_held_running(struct lwkt_token *tok, thread_t run)
{
	thread_t td;

	for (td = run; td != NULL; td = td->td_preempted)
		if (tok_held_by(tok, td))
			return true;
	return false;
}

/* Does a runnable thread of this CPU other than `run` hold tok? */
static bool
tok_wanted_here(struct globaldata *gd, struct lwkt_token *tok, thread_t run)
{
	uint32_t mask = gd->gd_runqmask;
	thread_t td;
	int pri;

	while (mask != 0) {
		pri = 31 - __builtin_clz(mask);
		mask &= ~(1u << pri);
		TAILQ_FOREACH(td, &gd->gd_tdrunq[pri], td_threadq)
			if (td != run && td->td_toks != NULL &&
			    tok_held_by(tok, td))
				return true;
	}
	return false;
}

/* On a CPU that was granted a token: let its waiting thread run. */
static void
tok_wake(void *arg __unused, int arg2 __unused, struct intrframe *f __unused)
{
	mycpu->gd_tokwait = false;
	need_lwkt_resched();
}

/*
 * Owner CPU, critical section: hand tok to one of the CPUs asking for it
 * (the next one above this CPU, round-robin) unless `run` or a thread it
 * preempted holds it, or a runnable thread here holds it and the token
 * has not yet served a batch here.
 */
static void
tok_try_grant(struct lwkt_token *tok, thread_t run)
{
	struct globaldata *gd = mycpu, *rgd;
	cpumask_t req;
	int cpu;

	if (tok->t_cpu != gd)
		return;
	if (CPUMASK_TESTBIT(tok->t_reqmask, gd->gd_cpuid))
		atomic_cpumask_clrbit(&tok->t_reqmask, gd->gd_cpuid);
	req = cpumask_and(tok->t_reqmask, smp_active_mask);
	if (cpumask_empty(req))
		return;
	if (tok_held_running(tok, run)) {
		tok->t_contention++;
		gd->gd_cnt_tok_contention++;
		return;
	}
	if (tok->t_uses - tok->t_uses_arrived < TOKEN_GRANT_BATCH &&
	    tok_wanted_here(gd, tok, run))
		return;		/* granted when that thread releases or leaves */
	cpu = cpumask_next(req, gd->gd_cpuid);
	if (cpu < 0)
		cpu = cpumask_first(req);
	rgd = globaldata_find(cpu);
	atomic_cpumask_clrbit(&tok->t_reqmask, cpu);
	tok->t_migrations++;
	gd->gd_cnt_tok_migrate++;
	CHAOS_DELAY(CHAOS_TOK_GRANT);
	tok->t_uses_arrived = tok->t_uses;
	cpu_ccfence();
	tok->t_cpu = rgd;
	if (gd->gd_inswitch)
		CPUMASK_SETBIT(gd->gd_tokwake, cpu);
	else
		lwkt_send_ipiq(rgd, tok_wake, NULL);
}

/*
 * A request reaching a CPU: grant if it owns the token, else pass it on.
 * The forward never waits for room: waiting drains this CPU's FIFOs, where
 * the next forwarded request would wait again one drain level deeper
 * (token.forward_full_fifo).  A forward that finds the FIFO too full is
 * dropped; the asker's bit stays in t_reqmask, so the owner still grants
 * to it at its next release, and the asker asks again at its next clock
 * tick (lwkt_token_chk).
 */
static void
tok_request_remote(void *arg, int cpu, struct intrframe *f __unused)
{
	struct lwkt_token *tok = arg;
	struct globaldata *gd = mycpu, *owner = tok->t_cpu;

	if (owner == gd)
		tok_try_grant(tok, gd->gd_curthread);
	else if (owner != globaldata_find(cpu) &&
	    lwkt_send_ipiq3_nowait(owner, tok_request_remote, tok, cpu) != 0)
		gd->gd_cnt_tok_fwd_dropped++;
}

/*
 * Ask for tok (owner CPU, critical section).  A CPU whose bit is already
 * set has asked: it sends again only if `again`.  Inside a switch the
 * message is queued without waiting for room (never draining); if the
 * FIFO is too full, gd_tokresend has the next scheduling pass try again.
 */
static void
tok_request(struct globaldata *gd, struct lwkt_token *tok, bool again)
{
	struct globaldata *owner = tok->t_cpu;

	if (owner == gd)
		return;
	if (CPUMASK_TESTBIT(tok->t_reqmask, gd->gd_cpuid) && !again)
		return;
	atomic_cpumask_setbit(&tok->t_reqmask, gd->gd_cpuid);
	if (!gd->gd_inswitch)
		lwkt_send_ipiq2(owner, tok_request_remote, tok, gd->gd_cpuid);
	else if (lwkt_send_ipiq3_nowait(owner, tok_request_remote, tok,
	    gd->gd_cpuid) != 0)
		gd->gd_tokresend = true;
}

/*
 * Scheduler check before td (re)runs on this CPU: true if this CPU owns
 * every token td holds (each then counts a use); otherwise ask for the
 * missing ones.  *again is the pass's decision whether to re-send requests
 * already made (-1: not taken yet; taken, and the state behind it reset,
 * only when a pass finds a token missing, so a pass that needs none pays
 * nothing): yes at the first such pass after each clock tick or after a
 * request found no room.  Owner CPU, critical section.
 */
bool
lwkt_token_chk(thread_t td, int *again)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref *ref;
	bool ok = true;

	for (ref = td->td_toks; ref != NULL; ref = ref->tr_next) {
		if (ref->tr_tok->t_cpu != gd) {
			if (*again < 0) {
				*again = gd->gd_tokresend ||
				    gd->gd_tokreq_ticks != gd->gd_ticks;
				gd->gd_tokresend = false;
				gd->gd_tokreq_ticks = gd->gd_ticks;
			}
			tok_request(gd, ref->tr_tok, *again != 0);
			ok = false;
		}
	}
	if (ok)
		for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
			ref->tr_tok->t_uses++;
	return ok;
}

/*
 * May ntd preempt `td` (the running thread)?  Only if this CPU owns every
 * token ntd holds and neither td nor a thread td preempted holds one: a
 * token serializes running and preempted threads.  Asks for nothing (the
 * missed preemption becomes a reschedule, whose pick asks).
 */
bool
lwkt_token_preempt_ok(thread_t ntd, thread_t td)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref *ref;

	for (ref = ntd->td_toks; ref != NULL; ref = ref->tr_next)
		if (ref->tr_tok->t_cpu != gd ||
		    tok_held_running(ref->tr_tok, td))
			return false;
	return true;
}

/*
 * td switches out in favour of ntd (inside lwkt_switch): it no longer
 * keeps its tokens here.  Grants made here are woken by
 * lwkt_token_switch_return.
 */
void
lwkt_token_switchout(thread_t td, thread_t ntd)
{
	struct lwkt_tokref *ref;

	KKASSERT(mycpu->gd_inswitch);
	for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
		if (!cpumask_empty(ref->tr_tok->t_reqmask))
			tok_try_grant(ref->tr_tok, ntd);
}

/* After a switch completed: wake the CPUs granted tokens inside it. */
void
lwkt_token_switch_return(struct globaldata *gd)
{
	cpumask_t mask = gd->gd_tokwake;
	int cpu;

	KKASSERT(!gd->gd_inswitch);
	CPUMASK_ASSZERO(gd->gd_tokwake);
	CPUMASK_FOREACH(cpu, mask)
		lwkt_send_ipiq(globaldata_find(cpu), tok_wake, NULL);
}

/*
 * Slow path of lwkt_gettoken (the tokref is already linked): switch until
 * this CPU owns the token and no thread we preempted holds it.
 */
void
lwkt_gettoken_slow(struct lwkt_tokref *ref)
{
	struct lwkt_token *tok = ref->tr_tok;
	thread_t td = curthread;
	struct globaldata *gd;

	crit_enter_quick(td);
	for (;;) {
		gd = mycpu;
		if (tok->t_cpu == gd && (td->td_preempted == NULL ||
		    !tok_held_running(tok, td->td_preempted)))
			break;
		tok_request(gd, tok, false);
		lwkt_switch();
	}
	crit_exit_quick(td);
}

/* Someone asked for a token we just released: hand it over if we can. */
void
lwkt_reltoken_slow(struct lwkt_token *tok)
{
	thread_t td = curthread;

	crit_enter_quick(td);
	tok_try_grant(tok, td);
	crit_exit_quick(td);
}

/* Succeed (1) only if the token can be had without waiting; else 0. */
int
lwkt_trytoken(struct lwkt_tokref *ref, struct lwkt_token *tok)
{
	thread_t td = curthread;
	struct globaldata *gd = mycpu;

	crit_enter_quick(td);
	if (tok->t_cpu != gd || (td->td_preempted != NULL &&
	    tok_held_running(tok, td->td_preempted))) {
		crit_exit_quick(td);
		return 0;
	}
	ref->tr_tok = tok;
	ref->tr_next = td->td_toks;
	ref->tr_reqgd = gd;
	td->td_toks = ref;
	gd->gd_cnt_tok_req++;
	tok->t_requests++;
	tok->t_uses++;
	ref->tr_gen = ++tok->t_gen;
	crit_exit_quick(td);
	return 1;
}

/* True if anyone else acquired the token since this holder last got it. */
bool
lwkt_token_is_stale(struct lwkt_tokref *ref)
{
	return ref->tr_tok->t_gen != ref->tr_gen;
}

/* " tokens a,b" for the thread dump (any CPU, best effort). */
void
lwkt_token_print(thread_t td)
{
	struct lwkt_tokref *ref;
	int n = 0;

	for (ref = td->td_toks; ref != NULL && n < 8; ref = ref->tr_next, n++)
		kprintf("%s%s", n == 0 ? " tokens " : ",", ref->tr_tok->t_name);
}

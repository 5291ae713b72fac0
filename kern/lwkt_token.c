/*
 * Tokens (sys/token.h, LWKT-SPEC §9.1).
 *
 * Ownership: t_cpu is written only by the owning CPU, inside a critical
 * section, when it hands the token to a CPU that asked.  Asking: a CPU
 * sets its bit in t_reqmask and sends the owner it believes in a request
 * message; a CPU that no longer owns the token forwards the request to the
 * current owner, so requests chase a moving token.  The owner grants it
 * unless a thread that is running or preempted on the owner holds it
 * (counted as contention); refused requests stay in t_reqmask and are
 * granted when such a holder switches out (lwkt_token_switchout), when the
 * requester asks again (at its next scheduling pass), or at a release once
 * the token has served a batch of acquisitions here (TOKEN_GRANT_BATCH).  The new owner is sent a message that makes it
 * reschedule, so the thread waiting there gets to run.
 *
 * Holding: lwkt_gettoken (inline, sys/token2.h) links the caller's tokref
 * on curthread->td_toks and returns once this CPU owns the token and no
 * thread this one preempted holds it; until then (lwkt_gettoken_slow) the
 * thread stays runnable but
 * lwkt_switch() skips it (lwkt_token_chk asks for what is missing), so the
 * CPU runs other threads or halts.  The same check stands before every
 * resumption of a thread, which is how a thread that blocked gets back
 * tokens another CPU took meanwhile.  A request that is ignored because
 * nobody needs the token any more is repeated at the requester's next
 * scheduling pass (at least every hardclock tick).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ipiq.h>
#include <sys/spinlock2.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <machine/atomic.h>

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

/* Does `run` (the thread running here) or a thread it preempted hold tok? */
static bool
tok_held_running(struct lwkt_token *tok, thread_t run)
{
	struct lwkt_tokref *ref;
	thread_t td;

	for (td = run; td != NULL; td = td->td_preempted)
		for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
			if (ref->tr_tok == tok)
				return true;
	return false;
}

static void
tok_arrived(void *arg, int arg2 __unused, struct intrframe *f __unused)
{
	struct lwkt_token *tok = arg;

	if (tok->t_cpu == mycpu) {
		tok->t_gen_arrived = tok->t_gen;
		tok->t_ticks_arrived = mycpu->gd_ticks;
	}
	mycpu->gd_tokwait = false;
	need_lwkt_resched();
}

/*
 * Owner CPU, critical section: hand tok to one of the CPUs asking for it
 * (the next one above this CPU, round-robin) unless `run` or a thread it
 * preempted holds it.
 */
static void
tok_try_grant(struct lwkt_token *tok, thread_t run)
{
	struct globaldata *gd = mycpu, *rgd;
	cpumask_t req, above;
	int cpu;

	if (tok->t_cpu != gd)
		return;
	if (tok->t_reqmask & gd->gd_cpumask)
		atomic_clear_int(&tok->t_reqmask, gd->gd_cpumask);
	req = tok->t_reqmask & smp_active_mask;
	if (req == 0)
		return;
	if (tok_held_running(tok, run)) {
		tok->t_contention++;
		gd->gd_cnt_tok_contention++;
		return;
	}
	if (tok->t_gen == tok->t_gen_arrived &&
	    gd->gd_ticks - tok->t_ticks_arrived < TOKEN_ARRIVAL_GRACE)
		return;		/* not used here yet: the asker asks again */
	above = req & ~((gd->gd_cpumask << 1) - 1);
	cpu = cpumask_first(above != 0 ? above : req);
	rgd = globaldata_find(cpu);
	atomic_clear_int(&tok->t_reqmask, CPUMASK(cpu));
	tok->t_migrations++;
	gd->gd_cnt_tok_migrate++;
	cpu_ccfence();
	tok->t_cpu = rgd;
	lwkt_send_ipiq(rgd, tok_arrived, tok);
}

/* A request reaching a CPU: grant if it owns the token, else pass it on. */
static void
tok_request_remote(void *arg, int cpu, struct intrframe *f __unused)
{
	struct lwkt_token *tok = arg;
	struct globaldata *gd = mycpu, *owner = tok->t_cpu;

	if (owner == gd)
		tok_try_grant(tok, gd->gd_curthread);
	else if (owner != globaldata_find(cpu))
		lwkt_send_ipiq2(owner, tok_request_remote, tok, cpu);
}

static void
tok_request(struct globaldata *gd, struct lwkt_token *tok)
{
	struct globaldata *owner = tok->t_cpu;

	atomic_set_int(&tok->t_reqmask, gd->gd_cpumask);
	if (owner != gd)
		lwkt_send_ipiq2(owner, tok_request_remote, tok, gd->gd_cpuid);
}

/*
 * Scheduler check before td (re)runs on this CPU: true if this CPU owns
 * every token td holds; otherwise ask for the missing ones.  Owner CPU,
 * critical section.
 */
bool
lwkt_token_chk(thread_t td)
{
	struct globaldata *gd = mycpu;
	struct lwkt_tokref *ref;
	bool ok = true;

	for (ref = td->td_toks; ref != NULL; ref = ref->tr_next) {
		if (ref->tr_tok->t_cpu != gd) {
			tok_request(gd, ref->tr_tok);
			ok = false;
		}
	}
	return ok;
}

/* td switches out in favour of ntd: it no longer keeps its tokens here. */
void
lwkt_token_switchout(thread_t td, thread_t ntd)
{
	struct lwkt_tokref *ref;

	for (ref = td->td_toks; ref != NULL; ref = ref->tr_next)
		if (ref->tr_tok->t_reqmask != 0)
			tok_try_grant(ref->tr_tok, ntd);
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
		if (tok->t_cpu != gd)
			tok_request(gd, tok);
		lwkt_switch();
	}
	crit_exit_quick(td);
}

/*
 * Someone asked for a token we just released: hand it over if we can and
 * this CPU has had it for a batch of acquisitions (TOKEN_GRANT_BATCH).
 */
void
lwkt_reltoken_slow(struct lwkt_token *tok)
{
	thread_t td = curthread;

	if (tok->t_gen - tok->t_gen_arrived < TOKEN_GRANT_BATCH)
		return;
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

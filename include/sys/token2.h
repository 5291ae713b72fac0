/*
 * Token fast paths (sys/token.h, kern/lwkt_token.c).  Current thread only,
 * thread context; neither leaves the caller in a critical section.
 *
 * lwkt_gettoken() links the tokref first and only then looks at the owner:
 * from the moment it is linked, this CPU refuses to give the token away
 * (it is held by the running thread), so finding t_cpu == this CPU means
 * the token is ours until we release it or block.  A thread that preempted
 * someone takes the slow path, which keeps it out while the preempted
 * thread holds the token.  t_gen and t_requests are written only by the
 * owning CPU's holder, so plain increments do (likewise t_uses).
 */
#ifndef _SYS_TOKEN2_H_
#define _SYS_TOKEN2_H_

#include <sys/chaos.h>
#include <sys/globaldata.h>
#include <sys/thread.h>
#include <sys/token.h>

void	lwkt_gettoken_slow(struct lwkt_tokref *ref);
void	lwkt_reltoken_slow(struct lwkt_token *tok);

static __always_inline void
lwkt_gettoken(struct lwkt_tokref *ref, struct lwkt_token *tok)
{
	struct thread *td = curthread;

	ref->tr_tok = tok;
	ref->tr_next = td->td_toks;
	cpu_ccfence();
	td->td_toks = ref;
	cpu_ccfence();
	CHAOS_DELAY(CHAOS_TOK_GET);
	if (__predict_false(tok->t_cpu != mycpu || td->td_preempted != NULL))
		lwkt_gettoken_slow(ref);
	ref->tr_reqgd = tok->t_cpu;
	ref->tr_gen = ++tok->t_gen;
	tok->t_requests++;
	tok->t_uses++;
	cpu_gd_count(gd_cnt_tok_req);
}

/* Releases nest: ref must be the newest token the caller holds. */
static __always_inline void
lwkt_reltoken(struct lwkt_tokref *ref)
{
	struct thread *td = curthread;

	KASSERT(td->td_toks == ref, ("lwkt_reltoken: \"%s\" releases token "
	    "\"%s\" out of order", td->td_comm, ref->tr_tok->t_name));
	td->td_toks = ref->tr_next;
	cpu_ccfence();
	CHAOS_DELAY(CHAOS_TOK_REL);
	if (__predict_false(!cpumask_empty(ref->tr_tok->t_reqmask)))
		lwkt_reltoken_slow(ref->tr_tok);
}

#endif

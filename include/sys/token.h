/*
 * LWKT tokens (LWKT-SPEC §9.1, DragonFly's 2004 design).  A token is owned
 * by a CPU (t_cpu); ownership moves by IPIQ request.  Threads hold tokens
 * through lwkt_tokref records in their own frames, linked on the thread's
 * td_toks list; a thread keeps its tokens across blocking, but they only
 * serialize threads while they run: a blocked holder's tokens may be given
 * to another CPU, and the scheduler gets them back before it resumes the
 * thread.  Preemption keeps the preempted thread's tokens.
 */
#ifndef _SYS_TOKEN_H_
#define _SYS_TOKEN_H_

#include <sys/cpumask.h>
#include <sys/queue.h>

struct globaldata;
struct thread;

struct lwkt_token {
	struct globaldata *volatile t_cpu; /* owner; written by the owner only */
	volatile cpumask_t t_reqmask;	/* CPUs asking for it (atomic) */
	uint32_t	t_gen;		/* bumped by every acquisition (owner) */
	uint32_t	t_uses;		/* entries and resumptions of holders (owner) */
	uint32_t	t_uses_arrived;	/* t_uses when it came to this CPU (owner) */
	const char	*t_name;
	uint32_t	t_requests;	/* acquisitions (by the owner's holder) */
	uint32_t	t_migrations;	/* ownership moved to another CPU (owner) */
	uint32_t	t_contention;	/* requests refused: held by a running thread */
	TAILQ_ENTRY(lwkt_token) t_link;	/* registry (lwkt tokens in gdb) */
};

struct lwkt_tokref {
	struct lwkt_token *tr_tok;
	struct lwkt_tokref *tr_next;	/* the thread's td_toks, newest first */
	struct globaldata *tr_reqgd;	/* CPU of the thread that holds it */
	uint32_t	tr_gen;		/* t_gen when this holder last got it */
};

void	lwkt_token_init(struct lwkt_token *tok, const char *name);
void	lwkt_token_uninit(struct lwkt_token *tok);
int	lwkt_trytoken(struct lwkt_tokref *ref, struct lwkt_token *tok);
bool	lwkt_token_is_stale(struct lwkt_tokref *ref);
/* lwkt_gettoken() and lwkt_reltoken() are inline: sys/token2.h. */

/* Scheduler hooks (kern/lwkt_switch.c), owner CPU in a critical section. */
bool	lwkt_token_chk(struct thread *td, int *again);
bool	lwkt_token_preempt_ok(struct thread *ntd, struct thread *td);
void	lwkt_token_switchout(struct thread *td, struct thread *ntd);
void	lwkt_token_switch_return(struct globaldata *gd);
void	lwkt_token_print(struct thread *td);

/*
 * While a runnable thread of the owner CPU holds the token, the owner
 * keeps it from other CPUs for at most this many uses (entries and
 * resumptions of holders) since it arrived; with no such thread it grants
 * at once.  So a token that arrives serves its asker first (no ping-pong
 * that serves nobody) and no CPU starves the others.
 */
#define TOKEN_GRANT_BATCH	16

extern TAILQ_HEAD(lwkt_token_list, lwkt_token) lwkt_tokens;

#include <sys/token2.h>

#endif

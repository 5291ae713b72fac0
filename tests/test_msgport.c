/*
 * Suite "msgport": LWKT message ports (LWKT-SPEC §10, sys/msgport.h).
 *   - domsg_remote: a server thread on another CPU (this one when alone)
 *     owns a port and answers each message with twice its argument;
 *     lwkt_domsg() returns that, the message comes back marked done on the
 *     caller's own reply port, and was handled on the server's CPU.  The
 *     same with the server on the caller's CPU, and lwkt_sendmsg() followed
 *     by lwkt_waitmsg().
 *   - async_10000: threads on every CPU send 10,000 asynchronous messages
 *     in all to one server port, keeping a window in flight; every message
 *     reaches the server exactly once and every reply comes back, once, to
 *     its sender's td_msgport.
 *   - noresched: a message sent with MSGF_NORESCHED to a higher-priority
 *     receiver blocked in lwkt_waitport() on the sender's CPU queues it
 *     without a reschedule: the receiver runs at the sender's next switch
 *     point, not at once; without the flag it runs at once.
 *   - reply_after_exit: a thread that sent a message and returned before
 *     its reply came back does not finish exiting until the reply is in:
 *     the reply never lands in the reply port of a thread that reuses its
 *     struct thread (issue 9 defect 8).
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/chaos.h>
#include <sys/ktest.h>
#include <sys/msgport.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <machine/atomic.h>
#include <machine/cpu.h>
#include <machine/cpufunc.h>

#define MS		1000u		/* microseconds */

#define CMD_ECHO	1		/* reply with 2 * ms_arg */
#define CMD_ASYNC	2		/* reply with id ^ AS_MAGIC */
#define CMD_QUIT	3		/* reply 0, then exit */
#define CMD_WATCHDOG	4		/* from our own timer: too slow */

/* ---------------------------------------------------------------------
 * Helpers
 */

struct tmsg {
	struct lwkt_msg	m;		/* first: cast from it */
	uint32_t	id;
	int		sender;		/* the sender's CPU */
	volatile int	server_cpu;	/* where the server handled it */
};

/* ---------------------------------------------------------------------
 * The server: one thread owning sv.port.
 */

#define AS_N		10000
#define AS_MAGIC	0x5a5a

static struct {
	struct lwkt_port port;
	thread_t	td;
	volatile uint32_t handled;	/* CMD_ASYNC messages */
	volatile uint32_t bad;		/* unknown command or id */
	volatile uint32_t exited;
	uint8_t		seen[AS_N];	/* arrivals of each id */
} sv;

static void
server_main(void *arg __unused)
{
	struct lwkt_msg *msg;
	struct tmsg *tm;

	for (;;) {
		msg = lwkt_waitport(&sv.port);
		tm = (struct tmsg *)msg;
		tm->server_cpu = mycpuid;
		switch (msg->ms_cmd) {
		case CMD_ECHO:
			lwkt_replymsg(msg, (int)msg->ms_arg * 2);
			break;
		case CMD_ASYNC:
			if (tm->id < AS_N)
				sv.seen[tm->id]++;
			else
				sv.bad++;
			sv.handled++;
			lwkt_replymsg(msg, (int)(tm->id ^ AS_MAGIC));
			break;
		case CMD_QUIT:
			lwkt_replymsg(msg, 0);
			sv.exited = 1;
			return;
		default:
			sv.bad++;
			lwkt_replymsg(msg, -1);
			break;
		}
	}
}

/* Start a server on `cpu`; its port exists before anyone can send. */
static bool
server_start(int cpu)
{
	memset((void *)&sv, 0, sizeof(sv));
	if (lwkt_create(server_main, NULL, &sv.td, NULL, TDF_STOPREQ, cpu,
	    "msg_server") != 0)
		return false;
	lwkt_initport(&sv.port, sv.td);
	lwkt_schedule(sv.td);
	return true;
}

static void
server_stop(struct ktest_ctx *kt)
{
	struct tmsg q;

	memset(&q, 0, sizeof(q));
	lwkt_initmsg(&q.m, NULL, CMD_QUIT);
	EXPECT_EQ(lwkt_domsg(&sv.port, &q.m), 0);
	EXPECT_TRUE(ktest_poll(&sv.exited, 1, 100, 2000 * MS));
}

/* ---------------------------------------------------------------------
 * domsg_remote
 */

#define DM_N		200

static void
dm_run(struct ktest_ctx *kt, int cpu)
{
	thread_t td = curthread;
	struct tmsg tm;
	uint32_t i, bad_err = 0, bad_cpu = 0, bad_flags = 0, bad_port = 0;
	uint64_t t0;
	int err;

	ASSERT_TRUE(server_start(cpu));
	t0 = cpu_ticks();
	for (i = 0; i < DM_N; i++) {
		memset(&tm, 0, sizeof(tm));
		tm.server_cpu = -1;
		lwkt_initmsg(&tm.m, NULL, CMD_ECHO);
		tm.m.ms_arg = i;
		err = lwkt_domsg(&sv.port, &tm.m);
		if (err != (int)(2 * i))
			bad_err++;
		if (tm.server_cpu != cpu)
			bad_cpu++;
		if ((tm.m.ms_flags & (MSGF_DONE | MSGF_REPLY | MSGF_QUEUED)) !=
		    (MSGF_DONE | MSGF_REPLY))
			bad_flags++;
		if (tm.m.ms_reply_port != &td->td_msgport)
			bad_port++;
	}
	ktest_log(kt, "cpu %d -> server on cpu %d: %u lwkt_domsg() in %llu us",
	    mycpuid, cpu, DM_N, ktest_us_since(t0));
	EXPECT_EQ(bad_err, 0);
	EXPECT_EQ(bad_cpu, 0);
	EXPECT_EQ(bad_flags, 0);
	EXPECT_EQ(bad_port, 0);
	EXPECT_TRUE(TAILQ_EMPTY(&td->td_msgport.mp_msgq));

	/* Asynchronous send, then wait for that message's reply. */
	memset(&tm, 0, sizeof(tm));
	lwkt_initmsg(&tm.m, NULL, CMD_ECHO);
	tm.m.ms_arg = 21;
	lwkt_sendmsg(&sv.port, &tm.m);
	EXPECT_EQ(lwkt_waitmsg(&tm.m), 42);
	EXPECT_EQ(tm.m.ms_error, 42);
	EXPECT_EQ(tm.server_cpu, cpu);
	EXPECT_TRUE(TAILQ_EMPTY(&td->td_msgport.mp_msgq));

	server_stop(kt);
	EXPECT_EQ(sv.bad, 0);
}

KTEST(msgport, domsg_remote)
{
	int cpu = ktest_other_cpu();

	if (cpu == mycpuid)
		ktest_log(kt, "one CPU: the server runs on this CPU");
	dm_run(kt, cpu);
	if (cpu != mycpuid)
		dm_run(kt, mycpuid);
}

/* ---------------------------------------------------------------------
 * async_10000
 */

#define AS_WINDOW	16
#define AS_BUDGET_US	(20000 * MS)	/* a sender's watchdog */

static struct {
	struct tmsg	msgs[AS_N];
	uint8_t		replied[AS_N];
	uint32_t	first[MAXCPU];	/* each sender's slice */
	uint32_t	count[MAXCPU];
	volatile uint32_t sent;
	volatile uint32_t replies;
	volatile uint32_t foreign;	/* replies not the sender's */
	volatile uint32_t bad_reply;	/* wrong error or flags */
	volatile uint32_t twice;	/* a reply that came back again */
	volatile uint32_t watchdogs;	/* a sender gave up */
	struct lwkt_msg	watchdog[MAXCPU];
} as;

/* Timer on the sender's CPU: unblock it with a message to its own port. */
static void
as_watchdog(struct systimer *st __unused, void *arg)
{
	struct lwkt_msg *msg = arg;

	lwkt_sendmsg(msg->ms_reply_port, msg);
}

static void
as_sender(struct ktest_ctx *kt __unused, void *arg __unused)
{
	thread_t td = curthread;
	int me = mycpuid;
	uint32_t next = as.first[me], end = next + as.count[me];
	uint32_t outstanding = 0, done = 0, id;
	struct systimer st = { .st_queued = false };
	struct lwkt_msg *msg, *wd = &as.watchdog[me];
	struct tmsg *tm;

	lwkt_initmsg(wd, &td->td_msgport, CMD_WATCHDOG);
	/* The timer runs in an interrupt on this CPU: send to our own port. */
	systimer_init_oneshot(&st, as_watchdog, wd, AS_BUDGET_US);
	while (done < as.count[me]) {
		while (outstanding < AS_WINDOW && next < end) {
			tm = &as.msgs[next];
			lwkt_initmsg(&tm->m, NULL, CMD_ASYNC);
			tm->id = next;
			tm->sender = me;
			tm->server_cpu = -1;
			lwkt_sendmsg(&sv.port, &tm->m);
			atomic_add_int(&as.sent, 1);
			next++;
			outstanding++;
		}
		msg = lwkt_waitport(&td->td_msgport);
		if (msg == wd) {
			atomic_add_int(&as.watchdogs, 1);
			break;
		}
		tm = (struct tmsg *)msg;
		if (tm < &as.msgs[as.first[me]] || tm >= &as.msgs[end] ||
		    tm->sender != me) {
			atomic_add_int(&as.foreign, 1);
			continue;
		}
		id = tm->id;
		if ((msg->ms_flags & (MSGF_DONE | MSGF_REPLY)) !=
		    (MSGF_DONE | MSGF_REPLY) ||
		    msg->ms_error != (int)(id ^ AS_MAGIC) ||
		    tm->server_cpu != sv.td->td_gd->gd_cpuid)
			atomic_add_int(&as.bad_reply, 1);
		if (as.replied[id]++ != 0)
			atomic_add_int(&as.twice, 1);
		atomic_add_int(&as.replies, 1);
		outstanding--;
		done++;
	}
	systimer_del(&st);
	/* A watchdog message that fired at the last moment: take it back. */
	while ((msg = lwkt_getport(&td->td_msgport)) != NULL)
		if (msg != wd)
			atomic_add_int(&as.foreign, 1);
}

KTEST(msgport, async_10000)
{
	int n = cpumask_count(smp_active_mask), cpu, srv = ktest_other_cpu();
	uint32_t per = AS_N / n, first = 0, i, missing = 0, dup = 0;
	uint32_t unreplied = 0;
	uint64_t t0;

	memset((void *)&as, 0, sizeof(as));
	for (cpu = 0; cpu < ncpus; cpu++) {
		if (!CPUMASK_TESTBIT(smp_active_mask, cpu))
			continue;
		as.first[cpu] = first;
		as.count[cpu] = per;
		if (cpu == cpumask_first(smp_active_mask))
			as.count[cpu] += AS_N - per * n;
		first += as.count[cpu];
	}
	ASSERT_EQ(first, AS_N);
	ASSERT_TRUE(server_start(srv));
	t0 = cpu_ticks();
	EXPECT_EQ(ktest_on_each_cpu(kt, as_sender, NULL), n);
	ktest_log(kt, "%d sender CPU(s) -> server on cpu %d: %u messages and "
	    "%u replies in %llu ms", n, srv, as.sent, as.replies,
	    ktest_us_since(t0) / 1000);
	server_stop(kt);
	for (i = 0; i < AS_N; i++) {
		if (sv.seen[i] == 0)
			missing++;
		else if (sv.seen[i] > 1)
			dup++;
		if (as.replied[i] != 1)
			unreplied++;
	}
	EXPECT_EQ(as.watchdogs, 0);
	EXPECT_EQ(as.sent, AS_N);
	EXPECT_EQ(sv.handled, AS_N);
	EXPECT_EQ(missing, 0);
	EXPECT_EQ(dup, 0);
	EXPECT_EQ(sv.bad, 0);
	EXPECT_EQ(as.replies, AS_N);
	EXPECT_EQ(unreplied, 0);
	EXPECT_EQ(as.twice, 0);
	EXPECT_EQ(as.foreign, 0);
	EXPECT_EQ(as.bad_reply, 0);
}

/* ---------------------------------------------------------------------
 * noresched
 */

static struct {
	struct lwkt_port port;
	thread_t	td;
	volatile uint32_t ran;		/* messages it has taken */
	volatile uint32_t exited;
} nr;

/* Above the sender, on its CPU: take a message, count it, reply. */
static void
nr_receiver(void *arg __unused)
{
	struct lwkt_msg *msg;

	for (;;) {
		msg = lwkt_waitport(&nr.port);
		nr.ran++;
		lwkt_replymsg(msg, 0);
		if (msg->ms_cmd == CMD_QUIT)
			break;
	}
	nr.exited = 1;
}

/*
 * Wait (sleeping) for the next hard-clock tick, so that the short run that
 * follows has a whole tick period to itself.  Bounded: 4 periods.
 */
static void
nr_tick_align(void)
{
	uint64_t t0 = mycpu->gd_ticks;
	int i;

	for (i = 0; i < 400 && mycpu->gd_ticks == t0; i++)
		lwkt_sleep_us(1000000 / hz / 100 + 1);
}

/* Wait until the receiver is blocked in lwkt_waitport(). */
static bool
nr_blocked(void)
{
	uint64_t t0 = cpu_ticks();

	while ((nr.port.mp_flags & MSGPORTF_WAITING) == 0 ||
	    (nr.td->td_flags & TDF_RUNQ) != 0) {
		if (ktest_us_since(t0) > 1000 * MS)
			return false;
		lwkt_sleep_us(100);
	}
	return true;
}

/*
 * Switches chaos made on this CPU so far (0 without CHAOS=1): a random
 * switch at an outermost crit_exit, or a spurious reschedule request,
 * runs the receiver early like untimely_switch does.
 */
static uint32_t
nr_chaos_switches(void)
{
	return CHAOS_FIRED_CPU(CHAOS_SWITCH, mycpuid) +
	    CHAOS_FIRED_CPU(CHAOS_RESCHED, mycpuid);
}

/*
 * Send inside a critical section: the receiver cannot run there either
 * way, but without MSGF_NORESCHED a reschedule is requested and it runs
 * when the section ends; with the flag it is only queued and runs at our
 * next switch point.  Returns false if the run was inconclusive: with the
 * flag it ran at crit_exit, and a clock tick (or untimely_switch, which
 * yields in every outermost crit_exit) explains it.  A chaos switch
 * counted in the window explains it too, as untimely_switch does: the
 * queuing and "no reschedule asked for" are checked, the attempt stands.
 */
static bool
nr_send_crit(struct ktest_ctx *kt, bool noresched)
{
	struct globaldata *gd = mycpu;
	struct lwkt_msg msg;
	uint32_t ran0, in_crit, after_exit, after_switch, req0, req1;
	uint32_t onq, flags_after, chaos0;
	uint64_t ticks0;

	if (!nr_blocked()) {
		EXPECT_TRUE(false);
		return true;
	}
	lwkt_initmsg(&msg, NULL, 0);
	if (noresched)
		msg.ms_flags |= MSGF_NORESCHED;
	ticks0 = gd->gd_ticks;
	chaos0 = nr_chaos_switches();
	crit_enter();
	ran0 = nr.ran;
	req0 = gd->gd_reqflags & RQF_AST_LWKT_RESCHED;
	lwkt_sendmsg(&nr.port, &msg);
	flags_after = msg.ms_flags;
	in_crit = nr.ran - ran0;
	req1 = gd->gd_reqflags & RQF_AST_LWKT_RESCHED;
	onq = nr.td->td_flags & TDF_RUNQ;
	crit_exit();
	after_exit = nr.ran - ran0;	/* nothing in between: same CPU */
	lwkt_yield();			/* our next switch point */
	after_switch = nr.ran - ran0;
	EXPECT_EQ(lwkt_waitmsg(&msg), 0);

	EXPECT_EQ(in_crit, 0);
	EXPECT_NE(onq, 0);
	EXPECT_EQ(after_switch, 1);
	if (!noresched) {
		EXPECT_NE(req1, 0);
		EXPECT_EQ(after_exit, 1);
		return true;
	}
	EXPECT_NE(flags_after & MSGF_NORESCHED, 0); /* it survives */
	if (req0 == 0)
		EXPECT_EQ(req1, 0);		/* no reschedule asked for */
	if (after_exit != 0 && nr_chaos_switches() != chaos0) {
		ktest_log(kt, "a chaos switch at crit_exit ran it early");
		return true;
	}
	if (after_exit != 0 && (gd->gd_ticks != ticks0 ||
	    lwkt_untimely_switch || req1 != 0))
		return false;		/* someone else asked for a switch */
	EXPECT_EQ(after_exit, 0);
	return true;
}

/*
 * The same outside a critical section: right after lwkt_sendmsg()
 * returns, with the flag the receiver has not run yet; without it, it
 * already has.  Returns false if a tick made the run inconclusive (a
 * counted chaos switch explains it as in nr_send_crit).
 */
static bool
nr_send_plain(struct ktest_ctx *kt, bool noresched)
{
	struct globaldata *gd = mycpu;
	struct lwkt_msg msg;
	uint32_t ran0, after_send, after_switch, chaos0;
	uint64_t ticks0;

	if (!nr_blocked()) {
		EXPECT_TRUE(false);
		return true;
	}
	lwkt_initmsg(&msg, NULL, 0);
	if (noresched)
		msg.ms_flags |= MSGF_NORESCHED;
	ticks0 = gd->gd_ticks;
	chaos0 = nr_chaos_switches();
	ran0 = nr.ran;
	lwkt_sendmsg(&nr.port, &msg);
	after_send = nr.ran - ran0;
	lwkt_yield();
	after_switch = nr.ran - ran0;
	EXPECT_EQ(lwkt_waitmsg(&msg), 0);
	EXPECT_EQ(after_switch, 1);
	if (!noresched) {
		EXPECT_EQ(after_send, 1);
		return true;
	}
	if (after_send != 0 && nr_chaos_switches() != chaos0) {
		ktest_log(kt, "a chaos switch in the send ran it early");
		return true;
	}
	if (after_send != 0 && gd->gd_ticks != ticks0)
		return false;
	EXPECT_EQ(after_send, 0);
	return true;
}

KTEST(msgport, noresched)
{
	thread_t td = curthread;
	struct lwkt_msg q;

	memset((void *)&nr, 0, sizeof(nr));
	ASSERT_EQ(lwkt_create(nr_receiver, NULL, &nr.td, NULL, TDF_STOPREQ,
	    mycpuid, "msg_receiver"), 0);
	lwkt_setpri(nr.td, td->td_pri + 2);
	lwkt_initport(&nr.port, nr.td);
	lwkt_schedule(nr.td);

	if (lwkt_untimely_switch) {
		/* crit_exit always switches: only the queuing is checked. */
		nr_send_crit(kt, true);
	} else {
		for (;;) {
			nr_tick_align();
			if (nr_send_crit(kt, true))
				break;
			if (!ktest_retry(kt, "a tick or another reschedule "
			    "request at crit_exit ran it early"))
				break;
		}
	}
	nr_send_crit(kt, false);

	if (lwkt_untimely_switch) {
		ktest_log(kt, "untimely_switch: the send's own crit_exit "
		    "yields; plain-send half skipped");
	} else {
		for (;;) {
			nr_tick_align();
			if (nr_send_plain(kt, true))
				break;
			if (!ktest_retry(kt, "a tick during the send ran it "
			    "early"))
				break;
		}
		nr_send_plain(kt, false);
	}

	/* Stop it. */
	EXPECT_TRUE(nr_blocked());
	lwkt_initmsg(&q, NULL, CMD_QUIT);
	EXPECT_EQ(lwkt_domsg(&nr.port, &q), 0);
	EXPECT_TRUE(ktest_poll(&nr.exited, 1, 100, 2000 * MS));
}

/* ---------------------------------------------------------------------
 * reply_after_exit: sender S (this CPU) sends one message to our port and
 * returns at once.  We take the message, create thread B on this CPU (the
 * allocation reaps S if S has gone, and B may reuse its struct), and only
 * then reply.  The reply must reach S's own port, not B's.
 */

static struct {
	struct lwkt_port port;		/* ours */
	struct lwkt_msg	msg;		/* outlives S */
	volatile uint32_t sent;
	volatile uint32_t b_ran;
} ra;

static void
ra_sender(void *arg __unused)
{
	lwkt_initmsg(&ra.msg, NULL, CMD_ECHO);
	lwkt_sendmsg(&ra.port, &ra.msg);
	ra.sent = 1;
}

static void
ra_b(void *arg __unused)
{
	ra.b_ran = 1;
}

KTEST(msgport, reply_after_exit)
{
	struct lwkt_msg *m = NULL;
	thread_t s, b;
	uint32_t b_queued;
	int i;

	memset((void *)&ra, 0, sizeof(ra));
	lwkt_initport(&ra.port, curthread);
	ASSERT_EQ(lwkt_create(ra_sender, NULL, &s, NULL, 0, mycpuid,
	    "ra_sender"), 0);
	for (i = 0; i < 1000 && (m = lwkt_getport(&ra.port)) == NULL; i++)
		lwkt_sleep_us(1000);
	ASSERT_PTR_EQ(m, &ra.msg);
	/* S may be switched out between its send and its next line. */
	EXPECT_TRUE(ktest_poll(&ra.sent, 1, 100, 1000 * MS));
	lwkt_sleep_us(1000);		/* S returns from its function */
	ASSERT_EQ(lwkt_create(ra_b, NULL, &b, NULL, TDF_STOPREQ, mycpuid,
	    "ra_b"), 0);
	ktest_log(kt, "S %p, B %p: %s", s, b, s == b ? "B reuses S's struct" :
	    "B got another struct");
	lwkt_replymsg(m, 7);
	crit_enter();
	b_queued = !TAILQ_EMPTY(&b->td_msgport.mp_msgq);
	crit_exit();
	EXPECT_EQ(b_queued, 0);
	EXPECT_NE(ra.msg.ms_flags & MSGF_DONE, 0);
	EXPECT_EQ(ra.msg.ms_error, 7);
	lwkt_schedule(b);
	EXPECT_TRUE(ktest_poll(&ra.b_ran, 1, 100, 1000 * MS));
}

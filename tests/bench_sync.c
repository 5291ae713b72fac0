/*
 * Suite "bench": costs of the ways to wait and to serialize (make bench):
 * token get+release when the token is already here, a token moving to
 * another CPU, an uncontended spinlock pair, a cross-CPU wakeup, and a
 * local and a cross-CPU lwkt_domsg round trip.  Figures involving one CPU
 * are exact under -icount; the others count every CPU's instructions.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/ktest.h>
#include <sys/msgport.h>
#include <sys/spinlock2.h>
#include <sys/systimer.h>
#include <sys/thread2.h>
#include <sys/token.h>
#include <sys/tsleep.h>
#include <machine/atomic.h>
#include <machine/cpu.h>

#define RUNS		5
#define LOCAL_OPS	20000
#define REMOTE_OPS	200

static __noinline uint64_t
empty_loop(int n)
{
	uint64_t t0 = cpu_ticks();
	int i;

	for (i = 0; i < n; i++)
		cpu_ccfence();
	return cpu_ticks() - t0;
}

static struct lwkt_token bench_tok;
static bool bench_tok_ready;

static void
bench_tok_init(void)
{
	if (!bench_tok_ready) {
		lwkt_token_init(&bench_tok, "bench");
		bench_tok_ready = true;
	}
}

KTEST_FLAGS(bench, token_local, KT_BENCH)
{
	struct lwkt_tokref ref;
	uint64_t t0, best = UINT64_MAX, empty = UINT64_MAX, t;
	int r, i;

	bench_tok_init();
	lwkt_gettoken(&ref, &bench_tok);	/* bring it here */
	lwkt_reltoken(&ref);
	for (r = 0; r < RUNS; r++) {
		t = empty_loop(LOCAL_OPS);
		if (t < empty)
			empty = t;
		t0 = cpu_ticks();
		for (i = 0; i < LOCAL_OPS; i++) {
			lwkt_gettoken(&ref, &bench_tok);
			lwkt_reltoken(&ref);
		}
		t = cpu_ticks() - t0;
		if (t < best)
			best = t;
	}
	EXPECT_PTR_EQ(bench_tok.t_cpu, mycpu);
	ktest_bench_report(kt, "token_get_release_local", best - empty, LOCAL_OPS,
	    "instructions/pair", "note=token_already_owned_by_this_cpu");
}

/* A helper thread on CPU 1 that runs `op` each time the test says go. */
struct remote_loop {
	void		(*op)(struct remote_loop *rl);
	volatile uint32_t go, done;
	uint64_t	total;
	bool		quit;
};

static void
remote_loop_thread(void *arg)
{
	struct remote_loop *rl = arg;
	uint32_t seen = 0;

	for (;;) {
		tsleep_interlock(&rl->go);
		if (rl->go == seen) {
			tsleep(&rl->go, PINTERLOCKED, "benchgo", 0);
			continue;
		}
		seen = rl->go;
		if (rl->quit)
			break;
		rl->op(rl);
		rl->done = seen;
		wakeup(&rl->done);
	}
	rl->done = seen;
	wakeup(&rl->done);
}

/* Run rl->op `n` times on CPU 1, this thread asleep meanwhile. */
static bool
remote_loop_run(struct ktest_ctx *kt, struct remote_loop *rl, int n,
    void (*between)(void))
{
	int i;

	rl->go = rl->done = 0;
	rl->total = 0;
	rl->quit = false;
	if (lwkt_create(remote_loop_thread, rl, NULL, NULL, 0, 1,
	    "bench_remote") != 0)
		return false;
	for (i = 1; i <= n + 1; i++) {
		if (between != NULL)
			between();
		lwkt_sleep_us(300);		/* everything settles, CPUs halt */
		if (i == n + 1)
			rl->quit = true;
		rl->go = i;
		wakeup(&rl->go);
		tsleep_interlock(&rl->done);
		while (rl->done != (uint32_t)i) {
			if (tsleep(&rl->done, PINTERLOCKED, "benchdone",
			    hz) != 0) {
				ktest_fail(kt, __FILE__, __LINE__,
				    "round %d on cpu 1 did not finish", i);
				return false;
			}
			tsleep_interlock(&rl->done);
		}
	}
	return true;
}

static void
token_take_op(struct remote_loop *rl)
{
	struct lwkt_tokref ref;
	uint64_t t0 = cpu_ticks();

	lwkt_gettoken(&ref, &bench_tok);
	rl->total += cpu_ticks() - t0;
	lwkt_reltoken(&ref);
}

static void
token_home(void)
{
	struct lwkt_tokref ref;

	lwkt_gettoken(&ref, &bench_tok);
	lwkt_reltoken(&ref);
}

/* lwkt_gettoken on CPU 1 of a token CPU 0 owns, CPU 0 idle: request to ownership. */
KTEST_FLAGS(bench, token_migrate, KT_BENCH)
{
	static struct remote_loop rl = { .op = token_take_op };
	uint32_t mig0;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	bench_tok_init();
	mig0 = bench_tok.t_migrations;
	ASSERT_TRUE(remote_loop_run(kt, &rl, REMOTE_OPS, token_home));
	EXPECT_GE(bench_tok.t_migrations - mig0, REMOTE_OPS);
	ktest_bench_report(kt, "token_migrate", rl.total, REMOTE_OPS,
	    "instructions/migration", "note=gettoken_on_cpu1_owner_cpu0_idle");
}

static struct spinlock bench_spin = SPINLOCK_INITIALIZER("bench");

KTEST_FLAGS(bench, spinlock_pair, KT_BENCH)
{
	uint64_t t0, t, best = UINT64_MAX, empty = UINT64_MAX;
	int r, i;

	for (r = 0; r < RUNS; r++) {
		t = empty_loop(LOCAL_OPS);
		if (t < empty)
			empty = t;
		t0 = cpu_ticks();
		for (i = 0; i < LOCAL_OPS; i++) {
			spin_lock(&bench_spin);
			spin_unlock(&bench_spin);
		}
		t = cpu_ticks() - t0;
		if (t < best)
			best = t;
	}
	EXPECT_EQ(bench_spin.lock, 0);
	EXPECT_EQ(mycpu->gd_spinlocks, 0);
	ktest_bench_report(kt, "spinlock_lock_unlock", best - empty, LOCAL_OPS,
	    "instructions/pair", "note=uncontended");
}

static volatile uint32_t wk_gen;
static volatile uint64_t wk_t1;

static void
wakee(void *arg __unused)
{
	uint32_t seen = 0;

	for (;;) {
		tsleep_interlock(&wk_gen);
		if (wk_gen == seen)
			tsleep(&wk_gen, PINTERLOCKED, "wakee", 0);
		if (wk_gen == seen)
			continue;
		wk_t1 = cpu_ticks();
		seen = wk_gen;
		if (seen == (uint32_t)-1)
			return;
	}
}

/* wakeup() on CPU 0 until the sleeper on idle CPU 1 runs. */
KTEST_FLAGS(bench, wakeup_remote, KT_BENCH)
{
	uint64_t t0, total = 0;
	int i, j;

	if (cpumask_count(smp_active_mask) < 2) {
		ktest_skip(kt, "needs 2 CPUs");
		return;
	}
	wk_gen = 0;
	ASSERT_EQ(lwkt_create(wakee, NULL, NULL, NULL, 0, 1, "bench_wakee"), 0);
	for (i = 1; i <= REMOTE_OPS; i++) {
		lwkt_sleep_us(300);
		wk_t1 = 0;
		t0 = cpu_ticks();
		wk_gen = i;
		wakeup(&wk_gen);
		for (j = 0; j < 1000 && wk_t1 == 0; j++)
			lwkt_sleep_us(100);
		ASSERT_NE(wk_t1, 0);
		total += wk_t1 - t0;
	}
	lwkt_sleep_us(300);
	wk_gen = (uint32_t)-1;
	wakeup(&wk_gen);
	ktest_bench_report(kt, "wakeup_remote", total, REMOTE_OPS,
	    "instructions/wakeup", "note=wakeup_on_cpu0_to_sleeper_running_on_idle_cpu1");
}

static struct lwkt_port echo_port;
static volatile bool echo_ready;

static void
echo_server(void *arg __unused)
{
	struct lwkt_msg *msg;

	lwkt_initport(&echo_port, curthread);
	echo_ready = true;
	for (;;) {
		msg = lwkt_waitport(&echo_port);
		if (msg->ms_cmd < 0) {
			lwkt_replymsg(msg, 0);
			return;
		}
		lwkt_replymsg(msg, (int)msg->ms_arg + 1);
	}
}

static bool
echo_bench(struct ktest_ctx *kt, int cpu, const char *name)
{
	struct lwkt_msg msg;
	uint64_t t0, total;
	int i, j;

	echo_ready = false;
	if (lwkt_create(echo_server, NULL, NULL, NULL, 0, cpu, "echo") != 0)
		return false;
	for (j = 0; j < 1000 && !echo_ready; j++)
		lwkt_sleep_us(100);
	if (!echo_ready)
		return false;
	lwkt_sleep_us(300);
	t0 = cpu_ticks();
	for (i = 0; i < REMOTE_OPS; i++) {
		lwkt_initmsg(&msg, NULL, 1);
		msg.ms_arg = i;
		if (lwkt_domsg(&echo_port, &msg) != i + 1) {
			ktest_fail(kt, __FILE__, __LINE__, "bad reply");
			return false;
		}
	}
	total = cpu_ticks() - t0;
	lwkt_initmsg(&msg, NULL, -1);
	lwkt_domsg(&echo_port, &msg);
	ktest_bench_report(kt, name, total, REMOTE_OPS, "instructions/round_trip",
	    cpu == mycpuid ? "note=server_thread_on_the_same_cpu" :
	    "note=server_thread_on_idle_cpu1");
	return true;
}

KTEST_FLAGS(bench, domsg_round_trip, KT_BENCH)
{
	EXPECT_TRUE(echo_bench(kt, mycpuid, "domsg_local"));
	if (cpumask_count(smp_active_mask) >= 2)
		EXPECT_TRUE(echo_bench(kt, 1, "domsg_remote"));
}

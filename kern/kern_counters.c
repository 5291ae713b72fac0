/*
 * Consistent snapshots of per-CPU state (sys/counters.h): the caller
 * masters a cpusync over the CPUs, so every other CPU is held inside its
 * IPIQ processing, then reads their globaldata, then releases them.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/globaldata.h>
#include <sys/counters.h>
#include <sys/cpusync.h>

void
lwkt_snapshot(cpumask_t mask, void (*read)(struct globaldata *gd, void *arg),
    void *arg)
{
	struct lwkt_cpusync cs = CPUSYNC_INITIALIZER(NULL, NULL, NULL, NULL);
	int cpu;

	CPUMASK_ANDMASK(mask, smp_active_mask);
	lwkt_cpusync_start(mask, &cs);
	CPUMASK_FOREACH(cpu, mask)
		read(globaldata_find(cpu), arg);
	lwkt_cpusync_finish(&cs);
}

static void
counters_read(struct globaldata *gd, void *arg)
{
	struct lwkt_counters *c = (struct lwkt_counters *)arg + gd->gd_cpuid;

	c->switch_count = gd->gd_cnt_switch;
	c->preempt_hit = gd->gd_cnt_preempt_hit;
	c->preempt_miss = gd->gd_cnt_preempt_miss;
	c->preempt_weird = gd->gd_cnt_preempt_weird;
	c->idle_halt = gd->gd_cnt_idle_halt;
	c->ipiq_count = gd->gd_cnt_ipiq_count;
	c->ipiq_fifofull = gd->gd_cnt_ipiq_fifofull;
	c->ipiq_avoided = gd->gd_cnt_ipiq_avoided;
	c->ipiq_passive = gd->gd_cnt_ipiq_passive;
	c->ipiq_cscount = gd->gd_cnt_ipiq_cscount;
	c->ipi_sent = gd->gd_cnt_ipi_sent;
	c->ipi_recv = gd->gd_cnt_ipi_recv;
	c->timer_intr = gd->gd_cnt_timer_intr;
	c->timer_deferred = gd->gd_cnt_timer_deferred;
	c->tok_req = gd->gd_cnt_tok_req;
	c->tok_migrate = gd->gd_cnt_tok_migrate;
	c->tok_contention = gd->gd_cnt_tok_contention;
	c->tok_fwd_dropped = gd->gd_cnt_tok_fwd_dropped;
}

void
lwkt_counters_snapshot(struct lwkt_counters *percpu, struct lwkt_counters *sum)
{
	static struct lwkt_counters tmp[MAXCPU];
	struct lwkt_counters *c = percpu != NULL ? percpu : tmp;
	uint64_t *s, *v;
	size_t i, n = sizeof(*sum) / sizeof(uint64_t);
	int cpu;

	memset(c, 0, sizeof(*c) * MAXCPU);
	lwkt_snapshot(smp_active_mask, counters_read, c);
	if (sum == NULL)
		return;
	memset(sum, 0, sizeof(*sum));
	s = (uint64_t *)sum;
	for (cpu = 0; cpu < ncpus; cpu++) {
		v = (uint64_t *)&c[cpu];
		for (i = 0; i < n; i++)
			s[i] += v[i];
	}
}

void
lwkt_counters_print(void)
{
	static struct lwkt_counters c[MAXCPU];
	int cpu;

	lwkt_counters_snapshot(c, NULL);
	CPUMASK_FOREACH(cpu, smp_active_mask) {
		kprintf("# counters cpu %d: switch %llu preempt %llu/%llu/%llu halt %llu "
		    "ipiq run %llu full %llu avoided %llu passive %llu cs %llu "
		    "ipi %llu/%llu tok %llu/%llu/%llu/%llu\n", cpu,
		    c[cpu].switch_count,
		    c[cpu].preempt_hit, c[cpu].preempt_miss, c[cpu].preempt_weird,
		    c[cpu].idle_halt, c[cpu].ipiq_count, c[cpu].ipiq_fifofull,
		    c[cpu].ipiq_avoided, c[cpu].ipiq_passive, c[cpu].ipiq_cscount,
		    c[cpu].ipi_sent, c[cpu].ipi_recv, c[cpu].tok_req,
		    c[cpu].tok_migrate, c[cpu].tok_contention,
		    c[cpu].tok_fwd_dropped);
	}
}

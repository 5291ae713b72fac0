/*
 * Kernel command-line options ("key=value" words from GRUB's multiboot2
 * command-line tag).  kopts_parse() is a pure function: it fills a struct
 * kopts that the caller owns, so tests can parse into a scratch copy.  The
 * boot path parses once on the BSP into the global `kopts` before any AP
 * starts; afterwards the global is read-only.
 */
#ifndef _SYS_KOPTS_H_
#define _SYS_KOPTS_H_

#include <sys/types.h>

#define KOPTS_TEST_MAX	256		/* room for test=GLOB[,GLOB...] */

struct kopts {
	char		ko_test[KOPTS_TEST_MAX]; /* "" = default test set */
	bool		ko_test_list;	/* test.list: print tests and exit */
	bool		ko_test_noretry; /* test.noretry: no attempt may be
					   discarded (deterministic rows) */
	uint32_t	ko_seed;	/* seed=N (default 1) */
	uint32_t	ko_repeat;	/* repeat=N, 1..1000 (default 1) */
	uint32_t	ko_maxcpus;	/* smp.maxcpus=N, 1..MAXCPU (default MAXCPU) */
	uint32_t	ko_expect_ncpus; /* expect.ncpus=N, 0 = not checked */
	uint32_t	ko_smp_nostart;	/* smp.nostart=N: fault injection, cpu N
					   gets no STARTUP IPI; 0 = none */
	uint32_t	ko_smp_slowstart; /* smp.slowstart=N: fault injection, cpu N
					   waits past the BSP's start-up deadline
					   before its hand-shake; 0 = none */
	uint32_t	ko_smp_slowonline; /* smp.slowonline=N: fault injection,
					   cpu N waits past the BSP's deadline
					   after winning its hand-shake */
	bool		ko_fault_lapic_timer_dead; /* fault.lapic_timer_dead:
					   calibration sees a LAPIC timer
					   that does not count */
	bool		ko_fault_pit_stuck; /* fault.pit_stuck: PIT channel 2
					   reads back a constant */
	char		ko_fault_acpi[16]; /* fault.acpi=WHAT: corrupt the ACPI
					   tables in memory (docs/boot.md) */
	bool		ko_fault_no_cpuid; /* fault.no_cpuid: the CPU is
					   taken to have no CPUID */
	uint32_t	ko_mem_limit;	/* mem.limit=N: use RAM below N MiB
					   only (default 0: all) */
	uint32_t	ko_hz;		/* hz=N: hard clock rate (default 100) */
	uint32_t	ko_untimely_switch; /* untimely_switch=0|1 */
	uint32_t	ko_ipiq_optimized; /* ipiq_optimized=0|1 (default 1) */
	uint32_t	ko_ipiq_passive; /* ipiq.passive=0|1: tick drains IPIQ */
	uint32_t	ko_test_timeout; /* test.timeout=S: per-test limit (60) */
	uint32_t	ko_chaos;	/* chaos=SEED (1..): seeded chaos, 0 = off
					   (sys/chaos.h; CHAOS=1 kernels) */
	uint32_t	ko_chaos_rate;	/* chaos.rate=N: N/1024 per hook (64) */
};

/*
 * Called once per complaint with one complete line of text (no newline),
 * e.g. "cmdline: unknown key 'foo' ignored (known keys: ...)".
 */
typedef void kopts_complain_t(void *cookie, const char *line);

/* Reset *ko to defaults. */
void	kopts_defaults(struct kopts *ko);

/*
 * Parse `line` (NUL-terminated, any length) into *ko, which the caller has
 * set to defaults.  Each bad word is reported once through `complain` and
 * leaves that option at its previous value.  Returns the number of
 * complaints.
 */
int	kopts_parse(const char *line, struct kopts *ko,
	    kopts_complain_t *complain, void *cookie);

/* The key of option number i in table order, NULL past the last. */
const char *kopts_key(unsigned i);

/* The boot options; written only by the BSP before SMP start. */
extern struct kopts kopts;

#endif

/*
 * Systimers: per-CPU one-shot and periodic callbacks driven by the local
 * APIC timer in one-shot mode (kern/kern_systimer.c).  A systimer belongs to
 * the CPU that armed it; arm and disarm it on that CPU.  Callbacks run on
 * that CPU from the timer interrupt (interrupts disabled, no critical
 * section) or, if the interrupt arrived inside a critical section, from the
 * deferred-work path when the section ends (inside a critical section).
 */
#ifndef _SYS_SYSTIMER_H_
#define _SYS_SYSTIMER_H_

#include <sys/types.h>
#include <sys/queue.h>

struct systimer;
typedef void systimer_func_t(struct systimer *st, void *data);

struct systimer {
	TAILQ_ENTRY(systimer) st_link;
	uint64_t	st_time;	/* TSC deadline */
	uint64_t	st_period;	/* TSC ticks; 0 = one-shot */
	systimer_func_t	*st_func;
	void		*st_data;
	struct globaldata *st_gd;	/* owning CPU */
	bool		st_queued;
	uint64_t	st_fired;	/* callbacks run so far */
};
TAILQ_HEAD(systimer_list, systimer);

/* Arm on the current CPU: first call after `us` microseconds, then every `us` (periodic). */
void	systimer_init_periodic(struct systimer *st, systimer_func_t *func,
	    void *data, uint32_t us);
void	systimer_init_oneshot(struct systimer *st, systimer_func_t *func,
	    void *data, uint32_t us);
/* Disarm (current CPU, which must own it); harmless if not armed. */
void	systimer_del(struct systimer *st);
/* Timer interrupt / deferred path: run what is due and re-arm the hardware. */
void	systimer_intr(void);
void	systimer_init_cpu(void);
/* Block the current thread for at least `us` microseconds. */
void	lwkt_sleep_us(uint32_t us);

extern uint32_t hz;

#endif

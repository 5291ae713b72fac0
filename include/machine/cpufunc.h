/*
 * Single x86 instructions wrapped for C (Intel SDM Vol. 2).  Any CPU,
 * any context.
 */
#ifndef _MACHINE_CPUFUNC_H_
#define _MACHINE_CPUFUNC_H_

#include <sys/types.h>

#define PSL_I		0x00000200	/* EFLAGS.IF */

static inline void outb(uint16_t port, uint8_t v) { __asm__ __volatile__("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ __volatile__("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ __volatile__("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint32_t
read_eflags(void)
{
	uint32_t ef;
	__asm__ __volatile__("pushfl; popl %0" : "=r"(ef));
	return ef;
}

static inline void write_eflags(uint32_t ef) { __asm__ __volatile__("pushl %0; popfl" :: "r"(ef) : "memory", "cc"); }

static inline void cpu_disable_intr(void) { __asm__ __volatile__("cli" ::: "memory"); }
static inline void cpu_enable_intr(void) { __asm__ __volatile__("sti" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ __volatile__("pause" ::: "memory"); }

/* Disable interrupts, returning the previous EFLAGS for intr_restore(). */
static inline uint32_t
intr_disable(void)
{
	uint32_t ef = read_eflags();
	cpu_disable_intr();
	return ef;
}

static inline void
intr_restore(uint32_t ef)
{
	if (ef & PSL_I)
		cpu_enable_intr();
}

/*
 * Enable interrupts and halt in one go: "sti" delays interrupt recognition
 * by one instruction, so a wakeup cannot slip in between (SDM Vol. 2, STI).
 */
static inline void cpu_sti_hlt(void) { __asm__ __volatile__("sti; hlt" ::: "memory"); }
static inline void cpu_hlt(void) { __asm__ __volatile__("hlt" ::: "memory"); }

/* i586+: only where cpu_has(CPUID_TSC, 0) (arch/i386/identcpu.c). */
static inline uint64_t
rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* Only where EFLAGS.ID toggles: use cpuid_leaf() (arch/i386/identcpu.c). */
static inline void
cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	    : "a"(leaf), "c"(0));
}

/* i586+: RDMSR/WRMSR only where cpu_has(CPUID_MSR, 0). */
static inline uint64_t
rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void
wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ __volatile__("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static inline uint32_t rcr0(void) { uint32_t v; __asm__ __volatile__("movl %%cr0, %0" : "=r"(v)); return v; }
static inline uint32_t rcr2(void) { uint32_t v; __asm__ __volatile__("movl %%cr2, %0" : "=r"(v)); return v; }
static inline uint32_t rcr3(void) { uint32_t v; __asm__ __volatile__("movl %%cr3, %0" : "=r"(v)); return v; }
static inline uint32_t rcr4(void) { uint32_t v; __asm__ __volatile__("movl %%cr4, %0" : "=r"(v)); return v; }
static inline void load_cr0(uint32_t v) { __asm__ __volatile__("movl %0, %%cr0" :: "r"(v) : "memory"); }
static inline void load_cr3(uint32_t v) { __asm__ __volatile__("movl %0, %%cr3" :: "r"(v) : "memory"); }
static inline void invlpg(vm_offset_t va) { __asm__ __volatile__("invlpg (%0)" :: "r"(va) : "memory"); }

static inline uint32_t
read_ebp(void)
{
	uint32_t v;
	__asm__ __volatile__("movl %%ebp, %0" : "=r"(v));
	return v;
}

/* GDTR base (SDM Vol. 2, SGDT). */
static inline uint32_t
sgdt_base(void)
{
	struct { uint16_t limit; uint32_t base; } __packed d;

	__asm__ __volatile__("sgdt %0" : "=m"(d));
	return d.base;
}

static inline uint16_t
str_sel(void)
{
	uint16_t sel;

	__asm__ __volatile__("str %0" : "=r"(sel));
	return sel;
}

static inline uint32_t
read_esp(void)
{
	uint32_t v;
	__asm__ __volatile__("movl %%esp, %0" : "=r"(v));
	return v;
}

/* Full fence; every x86 CPU we run on (i486+) orders stores, so a locked op is enough. */
static inline void cpu_mfence(void) { __asm__ __volatile__("lock; addl $0,(%%esp)" ::: "memory"); }

#endif

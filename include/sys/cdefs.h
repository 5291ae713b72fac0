/*
 * Compiler helpers shared by every file.  Nothing here touches hardware.
 */
#ifndef _SYS_CDEFS_H_
#define _SYS_CDEFS_H_

#define __packed		__attribute__((packed))
#define __aligned(n)		__attribute__((aligned(n)))
#define __noreturn		__attribute__((noreturn))
#define __unused		__attribute__((unused))
#define __used			__attribute__((used))
#define __section(s)		__attribute__((section(s)))
#define __printflike(f, a)	__attribute__((format(printf, f, a)))
#define __noinline		__attribute__((noinline))
#define __always_inline		inline __attribute__((always_inline))
#define __predict_true(x)	__builtin_expect(!!(x), 1)
#define __predict_false(x)	__builtin_expect(!!(x), 0)

#define __STRING(x)		#x
#define __XSTRING(x)		__STRING(x)
#define __CONCAT1(a, b)		a##b
#define __CONCAT(a, b)		__CONCAT1(a, b)

/* Compiler barrier: no memory access is moved across it. */
#define cpu_ccfence()		__asm__ __volatile__("" ::: "memory")

#endif

/*
 * Kernel-wide services every file may call: console output, panics and
 * assertions, and the small string library.  Callable from any CPU, in or
 * out of interrupt context, unless a function says otherwise.
 */
#ifndef _SYS_SYSTM_H_
#define _SYS_SYSTM_H_

#include <sys/types.h>

/* kern/subr_prf.c: console formatting.  Lines never interleave between CPUs. */
int	kprintf(const char *fmt, ...) __printflike(1, 2);
int	kvprintf(const char *fmt, va_list ap);
int	ksnprintf(char *buf, size_t size, const char *fmt, ...) __printflike(3, 4);
int	kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* kern/kern_panic.c */
void	panic(const char *fmt, ...) __printflike(1, 2) __noreturn;
extern volatile int panic_cpu;	/* the CPU that owns the panic, or -1 */

#define KKASSERT(exp) do {						\
	if (__predict_false(!(exp)))					\
		panic("assertion \"%s\" failed in %s at %s:%u",		\
		    #exp, __func__, __FILE__, __LINE__);			\
} while (0)

#define KASSERT(exp, msg) do {						\
	if (__predict_false(!(exp))) {					\
		kprintf("assertion \"%s\" failed in %s at %s:%u: ",	\
		    #exp, __func__, __FILE__, __LINE__);		\
		panic msg;						\
	}								\
} while (0)

/* kern/subr_string.c (gcc may also emit calls to the mem* functions) */
void	*memcpy(void *dst, const void *src, size_t n);
void	*memmove(void *dst, const void *src, size_t n);
void	*memset(void *dst, int c, size_t n);
int	memcmp(const void *a, const void *b, size_t n);
size_t	strlen(const char *s);
size_t	strnlen(const char *s, size_t max);
int	strcmp(const char *a, const char *b);
int	strncmp(const char *a, const char *b, size_t n);
char	*strchr(const char *s, int c);
size_t	strlcpy(char *dst, const char *src, size_t size);

/* kern/subr_string.c: shell-style glob with '*' and '?' only. */
bool	glob_match(const char *pattern, const char *s);

#endif

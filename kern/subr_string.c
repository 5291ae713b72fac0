/*
 * The kernel's small string library (the mem* and str* functions declared
 * in <sys/systm.h>) and glob_match() for test selection.
 *
 * Any CPU, any context; nothing here takes a lock or touches shared state.
 * gcc may emit calls to memcpy, memmove, memset and memcmp on its own, so
 * those four are written so that gcc cannot turn them back into calls to
 * themselves: the copies and fills are x86 string instructions.  memmove's
 * backward copy runs with EFLAGS.DF set for a moment; trap and interrupt
 * entry must clear DF (cld) before calling C, as the i386 ABI requires.
 */

#include <sys/types.h>
#include <sys/systm.h>

void *
memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t words = n >> 2, bytes = n & 3;

	__asm__ __volatile__("rep movsl; movl %3, %%ecx; rep movsb"
	    : "+D"(d), "+S"(src), "+c"(words)
	    : "a"(bytes)
	    : "memory");
	return dst;
}

/* Overlap-safe copy: forward unless dst lies inside [src, src + n). */
void *
memmove(void *dst, const void *src, size_t n)
{
	const char *s;
	char *d;
	size_t tail;

	if ((uintptr_t)dst - (uintptr_t)src >= n)
		return memcpy(dst, src, n);

	/*
	 * Backward: the odd tail bytes one at a time from the last byte down,
	 * then whole words, each string op walking down with DF set.
	 */
	s = (const char *)src + n - 1;
	d = (char *)dst + n - 1;
	tail = n & 3;
	__asm__ __volatile__(
	    "std\n\t"
	    "rep movsb\n\t"
	    "subl $3, %%esi\n\t"
	    "subl $3, %%edi\n\t"
	    "movl %3, %%ecx\n\t"
	    "rep movsl\n\t"
	    "cld"
	    : "+S"(s), "+D"(d), "+c"(tail)
	    : "a"(n >> 2)
	    : "memory");
	return dst;
}

void *
memset(void *dst, int c, size_t n)
{
	void *d = dst;
	uint32_t fill = (uint8_t)c * 0x01010101u;
	size_t words = n >> 2, bytes = n & 3;

	__asm__ __volatile__("rep stosl; movl %3, %%ecx; rep stosb"
	    : "+D"(d), "+c"(words)
	    : "a"(fill), "d"(bytes)
	    : "memory");
	return dst;
}

int
memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	for (; n > 0; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t
strlen(const char *s)
{
	const char *e = s;

	while (*e != '\0')
		e++;
	return (size_t)(e - s);
}

size_t
strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

int
strcmp(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

int
strncmp(const char *a, const char *b, size_t n)
{
	for (; n > 0; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (*a == '\0')
			break;
	}
	return 0;
}

char *
strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (*s == '\0')
			return NULL;
	}
}

/* Copy at most size-1 bytes, NUL-terminate if size > 0; returns strlen(src). */
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		if (len < size) {
			memcpy(dst, src, len + 1);
		} else {
			memcpy(dst, src, size - 1);
			dst[size - 1] = '\0';
		}
	}
	return len;
}

/*
 * '*' matches any run (also empty), '?' any one character, anything else
 * itself.  Iterative: on a mismatch, retry from the most recent '*' with it
 * swallowing one more character.  Only the latest '*' needs remembering,
 * because whatever an earlier '*' matched can be absorbed by the later one.
 */
bool
glob_match(const char *pattern, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*pattern == '*') {
			star = pattern++;
			resume = s;
		} else if (*pattern != '\0' && (*pattern == '?' || *pattern == *s)) {
			pattern++;
			s++;
		} else if (star != NULL) {
			pattern = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

/*
 * Printing a cpumask_t as a CPU list (sys/cpumask.h owns the type and its
 * operations; this file only formats).  Any context: no allocation.
 */
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/cpumask.h>

char *
cpumask_format(char *buf, size_t size, cpumask_t m)
{
	size_t len = 0;
	int cpu, end, n;

	KKASSERT(size >= 8);
	buf[0] = '\0';
	if (cpumask_empty(m)) {
		ksnprintf(buf, size, "none");
		return buf;
	}
	for (cpu = cpumask_first(m); cpu >= 0; cpu = cpumask_next(m, end)) {
		for (end = cpu; end + 1 < CPUMASK_BITS &&
		    CPUMASK_TESTBIT(m, end + 1); end++)
			;
		n = end == cpu ?
		    ksnprintf(buf + len, size - len, "%s%d", len ? "," : "", cpu) :
		    ksnprintf(buf + len, size - len, "%s%d-%d", len ? "," : "",
		    cpu, end);
		if (n < 0 || len + n >= size - 4) {
			ksnprintf(buf + MIN(len, size - 4), 4, "...");
			return buf;
		}
		len += n;
	}
	return buf;
}

/*
 * Symbol lookup for backtraces: maps a code address to "function+offset"
 * using the table that the second link pass embeds (include/sys/ksyms.h,
 * scripts/ksyms.py).  Owns nothing but read-only data; takes no locks and
 * touches no per-CPU state, so it is callable from any CPU in any context,
 * including interrupt handlers, exception handlers and panic.
 */
#include <sys/types.h>
#include <sys/ksyms.h>

const char *
ksym_lookup(uint32_t addr, uint32_t *offset)
{
	const struct ksym *tab = ksyms_table;
	uint32_t count, lo, hi, mid;

	/* First link pass: weak symbols absent, addresses are 0. */
	if (tab == NULL || &ksyms_count == NULL || ksyms_names == NULL)
		return NULL;
	count = ksyms_count;
	if (count == 0 || addr < tab[0].addr || addr >= tab[count].addr)
		return NULL;

	/* Find the last entry with tab[i].addr <= addr: invariant
	 * tab[lo].addr <= addr < tab[hi].addr (tab[count] is the sentinel). */
	lo = 0;
	hi = count;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (tab[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (offset != NULL)
		*offset = addr - tab[lo].addr;
	return &ksyms_names[tab[lo].name_off];
}

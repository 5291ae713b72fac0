/*
 * CPU enumeration from firmware tables (arch-internal).  Filled once by the
 * BSP before paging is on and before any AP starts.  The parsers read
 * firmware memory only through cpu_enum_map(): in the kernel that is the
 * identity view (cpu_enum_map.c); the host fuzz targets (tests/fuzz/)
 * compile madt.c and mptable.c unchanged and supply their own map over the
 * fuzzer's input, so every read a table can cause is bounds-checked there.
 *
 *   acpi.c / madt.c  ACPI 6.x §5.2.5 (RSDP), §5.2.7/§5.2.8 (RSDT/XSDT),
 *                    §5.2.12 (MADT, Processor Local APIC structure)
 *   mptable.c        Intel MP Specification 1.4 §4 (floating pointer,
 *                    configuration table, processor entries)
 */
#ifndef _ARCH_I386_CPU_ENUM_H_
#define _ARCH_I386_CPU_ENUM_H_

#include <sys/param.h>
#include <sys/systm.h>

#define CPU_ENUM_MAX	256		/* xAPIC ids are 8 bits */
#define CPU_ENUM_BROADCAST 0xFF		/* xAPIC broadcast id: never a CPU */

struct cpu_enum {
	const char	*ce_source;	/* "ACPI MADT" or "MP table" */
	vm_paddr_t	ce_lapic_pa;	/* local APIC base from the table */
	int		ce_ncpu;	/* usable (enabled) processors */
	uint8_t		ce_apicid[CPU_ENUM_MAX];	/* in table order */
	int		ce_ndisabled;	/* entries not enabled (hot-plug slots) */
	uint32_t	ce_disabled_apicid[CPU_ENUM_MAX];
	int		ce_bsp_apicid;	/* MP table BSP flag, -1 if unknown */
	int		ce_nbroadcast;	/* entries with APIC id 0xFF, rejected */
	/*
	 * Enabled x2APIC entries (MADT type 9) with an id above 254: only
	 * x2APIC mode could address them, and the kernel uses xAPIC mode.
	 * All are counted; the first CPU_ENUM_MAX ids are kept for the
	 * report.  (Disabled ones go to the disabled list like any slot.)
	 */
	int		ce_nx2apic;
	uint32_t	ce_x2apicid[CPU_ENUM_MAX];
};

/*
 * Find the RSDP (the multiboot2 copy of `rsdp_len` bytes if `rsdp` is
 * non-NULL, else scan the EBDA and 0xE0000-0xFFFFF), walk XSDT (preferred
 * when revision >= 2) or RSDT with checksums verified, and fill *ce from
 * the MADT.  Returns 0 on success, -1 when there is no usable MADT, after
 * one console line saying why and that the MP table is tried next (the
 * caller's fallback, mp_discover()).  `fault`, if not NULL or "", is the
 * fault.acpi= injection (docs/boot.md): the tables are corrupted in
 * memory as it says before they are read.
 */
int	acpi_madt_enum(const void *rsdp, size_t rsdp_len, const char *fault,
	    struct cpu_enum *ce);

/*
 * Check and read one MADT that is already in memory at `table`, of which
 * `avail` bytes are readable: signature, Length, checksum, then the
 * processor entries into *ce.  Returns 0, or -1 after one console line.
 * Used by acpi_madt_enum() and by the boot tests on synthetic tables.
 */
int	acpi_madt_parse(const void *table, size_t avail, struct cpu_enum *ce);

/*
 * Find the "_MP_" floating pointer (EBDA first KiB, last KiB of base
 * memory, 0xF0000-0xFFFFF), verify checksums and fill *ce from processor
 * entries.  Returns 0 on success, -1 (after one console line; the caller
 * then runs uniprocessor) otherwise.
 */
int	mptable_enum(struct cpu_enum *ce);

/*
 * Check and read one MP configuration table already in memory (`avail`
 * readable bytes), as acpi_madt_parse() does for a MADT.
 */
int	mptable_parse(const void *table, size_t avail, struct cpu_enum *ce);

/*
 * Helpers shared by madt.c and mptable.c (BSP, boot time, paging off).
 */

/*
 * Pointer to the `len` bytes of firmware memory at physical `pa`, or NULL
 * if they are not all readable (the range passes 4 GiB, or, on the host,
 * lies outside the fuzzer's input).  Every read of firmware memory goes
 * through this, with the length about to be read.
 */
const void *cpu_enum_map(vm_paddr_t pa, size_t len);

/* Byte sum of a firmware table; a valid table sums to 0 (mod 256). */
static inline uint8_t
cpu_enum_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len-- > 0)
		sum += *b++;
	return sum;
}

/*
 * The 16-bit word of the BIOS data area at physical `pa` (0x40E, 0x413:
 * not aligned), or 0 if it is not readable.
 */
static inline uint16_t
cpu_enum_bda_word(vm_paddr_t pa)
{
	const struct {
		uint16_t	v;
	} __packed *w = cpu_enum_map(pa, sizeof(*w));

	return w != NULL ? w->v : 0;
}

/* Physical base of the EBDA from the BIOS data area (0x40E), 0 if none. */
static inline vm_paddr_t
cpu_enum_ebda(void)
{
	vm_paddr_t pa = (vm_paddr_t)cpu_enum_bda_word(0x40E) << 4;

	return (pa >= 0x500 && pa < 0xA0000) ? pa : 0;
}

/* Empty *ce for a parse from `source`. */
static inline void
cpu_enum_init(struct cpu_enum *ce, const char *source)
{
	memset(ce, 0, sizeof(*ce));
	ce->ce_source = source;
	ce->ce_bsp_apicid = -1;
}

/*
 * Count an enabled x2APIC entry whose id (255 or above) xAPIC mode cannot
 * name.  Nothing is printed here either.
 */
static inline void
cpu_enum_add_x2apic(struct cpu_enum *ce, uint32_t x2apicid)
{
	if (ce->ce_nx2apic < CPU_ENUM_MAX)
		ce->ce_x2apicid[ce->ce_nx2apic] = x2apicid;
	ce->ce_nx2apic++;
}

/*
 * Record one processor entry in the enabled or disabled list.  Returns
 * false, recording nothing, if the APIC id is already listed.  An enabled
 * entry with the broadcast id 0xFF is only counted in ce_nbroadcast (an
 * INIT IPI to it would reset every started AP); it returns true.  Nothing
 * is printed here: mp_discover() reports every CPU it does not start in
 * one summary line.  An enabled id above 0xFF (an x2APIC entry) is counted
 * as cpu_enum_add_x2apic() does.  The lists are bounded by CPU_ENUM_MAX and
 * further entries only counted.
 */
static inline bool
cpu_enum_add(struct cpu_enum *ce, uint32_t apicid, bool enabled)
{
	int i;

	if (enabled && apicid == CPU_ENUM_BROADCAST) {
		ce->ce_nbroadcast++;
		return true;
	}
	if (enabled && apicid > CPU_ENUM_BROADCAST) {
		cpu_enum_add_x2apic(ce, apicid);
		return true;
	}
	for (i = 0; i < ce->ce_ncpu; i++)
		if (ce->ce_apicid[i] == apicid)
			return false;
	for (i = 0; i < MIN(ce->ce_ndisabled, CPU_ENUM_MAX); i++)
		if (ce->ce_disabled_apicid[i] == apicid)
			return false;
	if (enabled) {
		ce->ce_apicid[ce->ce_ncpu++] = (uint8_t)apicid;
	} else {
		if (ce->ce_ndisabled < CPU_ENUM_MAX)
			ce->ce_disabled_apicid[ce->ce_ndisabled] = apicid;
		ce->ce_ndisabled++;
	}
	return true;
}

#endif

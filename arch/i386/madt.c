/*
 * CPU enumeration from ACPI: RSDP -> XSDT or RSDT -> MADT ("APIC").
 *
 * Called once by the BSP at boot, paging off, before any AP starts; the
 * firmware tables are read through cpu_enum_map() (cpu_enum.h).
 *
 * References (ACPI 6.x):
 *   §5.2.5   Root System Description Pointer: "RSD PTR " on a 16-byte
 *            boundary in the first KiB of the EBDA or 0xE0000-0xFFFFF;
 *            checksum over the first 20 bytes, extended checksum over
 *            Length for revision >= 2.
 *   §5.2.6   System Description Table header (36 bytes, checksum over
 *            Length).
 *   §5.2.7   RSDT (32-bit entries), §5.2.8 XSDT (64-bit entries).
 *   §5.2.12  MADT: local APIC address at offset 36, flags at 40, entries
 *            from 44; type 0 Processor Local APIC, type 5 Local APIC
 *            Address Override, type 9 Processor Local x2APIC.
 */

#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <cpu_enum.h>

struct acpi_rsdp {
	char		rsdp_signature[8];	/* "RSD PTR " */
	uint8_t		rsdp_checksum;		/* over the first 20 bytes */
	char		rsdp_oem_id[6];
	uint8_t		rsdp_revision;
	uint32_t	rsdp_rsdt_pa;
	uint32_t	rsdp_length;		/* revision >= 2 from here on */
	uint64_t	rsdp_xsdt_pa;
	uint8_t		rsdp_ext_checksum;	/* over rsdp_length bytes */
	uint8_t		rsdp_reserved[3];
} __packed;

#define ACPI_RSDP_V1_LEN	20
_Static_assert(sizeof(struct acpi_rsdp) == 36, "ACPI RSDP layout");

struct acpi_sdt {
	char		sdt_signature[4];
	uint32_t	sdt_length;		/* whole table, header included */
	uint8_t		sdt_revision;
	uint8_t		sdt_checksum;
	char		sdt_oem_id[6];
	char		sdt_oem_table_id[8];
	uint32_t	sdt_oem_revision;
	uint32_t	sdt_creator_id;
	uint32_t	sdt_creator_revision;
} __packed;

_Static_assert(sizeof(struct acpi_sdt) == 36, "ACPI SDT header layout");

struct acpi_madt {
	struct acpi_sdt	madt_hdr;
	uint32_t	madt_lapic_pa;
	uint32_t	madt_flags;
} __packed;

_Static_assert(sizeof(struct acpi_madt) == 44, "ACPI MADT layout");

/* Root table entries (4 bytes RSDT, 8 bytes XSDT) need not be aligned. */
struct acpi_u32 {
	uint32_t	v;
} __packed;

struct acpi_u64 {
	uint64_t	v;
} __packed;

/* MADT entries: type, length, then per-type fields; any alignment. */
#define MADT_LAPIC		0	/* Processor Local APIC */
#define MADT_LAPIC_OVERRIDE	5	/* Local APIC Address Override */
#define MADT_X2APIC		9	/* Processor Local x2APIC */

#define MADT_LAPIC_ENABLED	0x1	/* flags bit 0 (types 0 and 9) */

struct madt_lapic {
	uint8_t		ml_type;
	uint8_t		ml_length;	/* 8 */
	uint8_t		ml_acpi_uid;
	uint8_t		ml_apicid;
	uint32_t	ml_flags;	/* bit 0 enabled, bit 1 online-capable */
} __packed;

struct madt_lapic_override {
	uint8_t		mo_type;
	uint8_t		mo_length;	/* 12 */
	uint16_t	mo_reserved;
	uint64_t	mo_lapic_pa;
} __packed;

struct madt_x2apic {
	uint8_t		mx_type;
	uint8_t		mx_length;	/* 16 */
	uint16_t	mx_reserved;
	uint32_t	mx_x2apicid;
	uint32_t	mx_flags;
	uint32_t	mx_acpi_uid;
} __packed;

/* Sanity bound on a table's Length; a real MADT/RSDT is a few KiB at most. */
#define ACPI_SDT_MAXLEN		(1u << 20)

/* Every failure line of acpi_madt_enum() ends with the fallback taken. */
#define ACPI_FALLBACK	"; trying the MP table"

/* Why an RSDP of which `avail` bytes are readable is unusable, or NULL. */
static const char *
acpi_rsdp_check(const struct acpi_rsdp *r, size_t avail)
{
	if (avail < ACPI_RSDP_V1_LEN)
		return "truncated";
	if (memcmp(r->rsdp_signature, "RSD PTR ", 8) != 0)
		return "bad signature";
	if (cpu_enum_checksum(r, ACPI_RSDP_V1_LEN) != 0)
		return "bad checksum";
	if (r->rsdp_revision >= 2) {
		if (avail < sizeof(*r))
			return "truncated";
		if (r->rsdp_length < sizeof(*r) || r->rsdp_length > 4096)
			return "bad length";
		if (r->rsdp_length > avail)
			return "truncated";
		if (cpu_enum_checksum(r, r->rsdp_length) != 0)
			return "bad extended checksum";
	}
	return NULL;
}

/*
 * The RSDP candidate at `pa` if it is valid, else NULL: 20 bytes, and for
 * revision 2 or later the 36-byte structure and its Length.
 */
static const struct acpi_rsdp *
acpi_rsdp_at(vm_paddr_t pa)
{
	const struct acpi_rsdp *r = cpu_enum_map(pa, ACPI_RSDP_V1_LEN);
	size_t avail = ACPI_RSDP_V1_LEN;

	if (r == NULL)
		return NULL;
	if (r->rsdp_revision >= 2 && cpu_enum_map(pa, sizeof(*r)) != NULL) {
		avail = sizeof(*r);
		if (r->rsdp_length > avail && r->rsdp_length <= 4096 &&
		    cpu_enum_map(pa, r->rsdp_length) != NULL)
			avail = r->rsdp_length;
	}
	return acpi_rsdp_check(r, avail) == NULL ? r : NULL;
}

/* First valid RSDP on a 16-byte boundary in [pa, pa + len), or NULL. */
static const struct acpi_rsdp *
acpi_rsdp_scan(vm_paddr_t pa, size_t len)
{
	const struct acpi_rsdp *r;
	size_t off;

	for (off = 0; off + ACPI_RSDP_V1_LEN <= len; off += 16) {
		r = acpi_rsdp_at(pa + (vm_paddr_t)off);
		if (r != NULL)
			return r;
	}
	return NULL;
}

/*
 * Check a table already in memory: signature, Length (at least `minlen`,
 * at most `avail` bytes are readable there) and checksum.  Returns why it
 * is unusable, or NULL.
 */
static const char *
acpi_sdt_check(const struct acpi_sdt *t, const char *sig, uint32_t minlen,
    size_t avail)
{
	if (avail < sizeof(*t))
		return "truncated header";
	if (memcmp(t->sdt_signature, sig, 4) != 0)
		return "bad signature";
	if (t->sdt_length < minlen)
		return "length shorter than its fixed fields";
	if (t->sdt_length > ACPI_SDT_MAXLEN)
		return "length above 1 MiB";
	if (t->sdt_length > avail)
		return "truncated";
	if (cpu_enum_checksum(t, t->sdt_length) != 0)
		return "bad checksum";
	return NULL;
}

/*
 * Map the table at physical `pa` and check it (acpi_sdt_check).  Returns
 * why it is unusable (and leaves *out alone), or NULL.
 */
static const char *
acpi_sdt_get(uint64_t pa, const char *sig, uint32_t minlen,
    const struct acpi_sdt **out)
{
	const struct acpi_sdt *t;
	size_t avail;
	const char *why;

	if (pa == 0)
		return "null address";
	if (pa > UINT32_MAX)
		return "above 4 GiB";
	t = cpu_enum_map((vm_paddr_t)pa, sizeof(*t));
	if (t == NULL)
		return "not in memory";
	avail = sizeof(*t);
	if (t->sdt_length > avail && t->sdt_length <= ACPI_SDT_MAXLEN &&
	    cpu_enum_map((vm_paddr_t)pa, t->sdt_length) != NULL)
		avail = t->sdt_length;
	why = acpi_sdt_check(t, sig, minlen, avail);
	if (why == NULL)
		*out = t;
	return why;
}

/*
 * A table signature is four printable ASCII characters (ACPI §5.2.6);
 * memory with nothing behind it reads as 0xFF, cleared memory as 0, so
 * anything else means the entry points at no table.
 */
static bool
acpi_sig_plausible(const char *sig)
{
	int i;

	for (i = 0; i < 4; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7E)
			return false;
	return true;
}

/* Physical address of root table entry i. */
static uint64_t
acpi_root_entry(const struct acpi_sdt *root, bool xsdt, size_t i)
{
	const uint8_t *ent = (const uint8_t *)(root + 1);

	if (xsdt)
		return ((const struct acpi_u64 *)(ent + 8 * i))->v;
	return ((const struct acpi_u32 *)(ent + 4 * i))->v;
}

static size_t
acpi_root_count(const struct acpi_sdt *root, bool xsdt)
{
	return (root->sdt_length - sizeof(*root)) / (xsdt ? 8 : 4);
}

/*
 * The header of the table root entry i points at, or NULL (after one line)
 * if it points at no table.
 */
static const struct acpi_sdt *
acpi_root_table(const struct acpi_sdt *root, bool xsdt, size_t i)
{
	uint64_t pa = acpi_root_entry(root, xsdt, i);
	const struct acpi_sdt *hdr;

	hdr = pa != 0 && pa <= UINT32_MAX ?
	    cpu_enum_map((vm_paddr_t)pa, sizeof(*hdr)) : NULL;
	if (hdr == NULL || !acpi_sig_plausible(hdr->sdt_signature)) {
		kprintf("acpi: %s entry %u (0x%llx) points at no table; "
		    "ignored\n", xsdt ? "XSDT" : "RSDT", (unsigned)i,
		    (unsigned long long)pa);
		return NULL;
	}
	return hdr;
}

/*
 * Find the MADT among the root table's entries: the first usable one.
 * Every entry is looked at; an entry that points at no table, an unusable
 * MADT and a second usable MADT each get one line naming the one used or,
 * if there is none, the fallback, and NULL is returned.
 */
static const struct acpi_madt *
acpi_find_madt(const struct acpi_sdt *root, bool xsdt)
{
	const char *rname = xsdt ? "XSDT" : "RSDT";
	size_t i, n = acpi_root_count(root, xsdt);
	const struct acpi_sdt *t = NULL, *madt = NULL;
	const char *why = NULL, *w;
	uint64_t pa, madtpa = 0, badpa = 0;
	unsigned nbad = 0, nextra = 0;

	for (i = 0; i < n; i++) {
		t = acpi_root_table(root, xsdt, i);
		if (t == NULL || memcmp(t->sdt_signature, "APIC", 4) != 0)
			continue;
		pa = acpi_root_entry(root, xsdt, i);
		w = acpi_sdt_get(pa, "APIC", sizeof(struct acpi_madt), &t);
		if (w != NULL) {
			if (nbad++ == 0) {
				why = w;
				badpa = pa;
			}
		} else if (madt == NULL) {
			madt = t;
			madtpa = pa;
		} else {
			nextra++;
		}
	}
	if (madt == NULL) {
		if (why != NULL)
			kprintf("acpi: MADT at 0x%08x unusable (%s)"
			    ACPI_FALLBACK "\n", (uint32_t)badpa, why);
		else
			kprintf("acpi: no MADT among the %u %s entries"
			    ACPI_FALLBACK "\n", (unsigned)n, rname);
		return NULL;
	}
	if (nbad > 0)
		kprintf("acpi: %u MADT(s) in the %s unusable, the first at "
		    "0x%08x (%s); using the MADT at 0x%08x\n", nbad, rname,
		    (uint32_t)badpa, why, (uint32_t)madtpa);
	if (nextra > 0)
		kprintf("acpi: %u more MADT(s) in the %s ignored; using the "
		    "first, at 0x%08x\n", nextra, rname, (uint32_t)madtpa);
	return (const struct acpi_madt *)madt;
}

/*
 * fault.acpi=WHAT (docs/boot.md): corrupt the firmware's tables in memory,
 * once, before they are read, so that a boot exercises what the parser does
 * with a broken MADT or root table.  Fields whose damage is not the point
 * keep a valid checksum.  An unknown WHAT gets one line and injects
 * nothing.
 */
#define ACPI_FAULT_NOWHERE	0xC0000000u	/* PCI hole: no RAM, no table */
#define ACPI_FAULT_X2APICID	300		/* madt.x2apic: above 254 */

static void
acpi_fix_checksum(struct acpi_sdt *t)
{
	t->sdt_checksum = 0;
	t->sdt_checksum = (uint8_t)-cpu_enum_checksum(t, t->sdt_length);
}

static void
acpi_fault_inject(const struct acpi_sdt *root, bool xsdt, const char *fault)
{
	size_t i, n = acpi_root_count(root, xsdt);
	const struct acpi_sdt *hdr = NULL;
	struct acpi_sdt *madt;
	struct madt_lapic *ml, *last = NULL, *pair = NULL;
	struct madt_x2apic *mx;
	uint8_t *ent;
	uint32_t off;
	bool nocpu, x2apic;

	for (i = 0; i < n; i++) {
		hdr = acpi_root_table(root, xsdt, i);
		if (hdr != NULL && memcmp(hdr->sdt_signature, "APIC", 4) == 0)
			break;
	}
	if (i == n) {
		kprintf("acpi: fault.acpi=%s: no MADT to corrupt\n", fault);
		return;
	}
	kprintf("acpi: fault.acpi=%s: corrupting the firmware's tables\n",
	    fault);
	madt = (struct acpi_sdt *)(uintptr_t)hdr;
	if (strcmp(fault, "root.nowhere") == 0) {
		ent = (uint8_t *)(uintptr_t)(root + 1) + (xsdt ? 8 : 4) * i;
		if (xsdt)
			((struct acpi_u64 *)ent)->v = ACPI_FAULT_NOWHERE;
		else
			((struct acpi_u32 *)ent)->v = ACPI_FAULT_NOWHERE;
		acpi_fix_checksum((struct acpi_sdt *)(uintptr_t)root);
		return;
	}
	if (strcmp(fault, "madt.short") == 0) {
		madt->sdt_length = sizeof(struct acpi_madt) - 4;
		return;
	}
	if (strcmp(fault, "madt.long") == 0) {
		madt->sdt_length = 2 * ACPI_SDT_MAXLEN;
		return;
	}
	if (strcmp(fault, "madt.checksum") == 0) {
		madt->sdt_checksum++;
		return;
	}
	nocpu = strcmp(fault, "madt.nocpu") == 0;
	x2apic = strcmp(fault, "madt.x2apic") == 0;
	if (!nocpu && !x2apic && strcmp(fault, "madt.apic255") != 0) {
		kprintf("acpi: fault.acpi=%s unknown (accepted: madt.checksum, "
		    "madt.short, madt.long, madt.nocpu, madt.apic255, "
		    "madt.x2apic, root.nowhere); nothing injected\n", fault);
		return;
	}
	/* The MADT is whole here only if its Length is readable and sane. */
	if (acpi_sdt_get(acpi_root_entry(root, xsdt, i), "APIC",
	    sizeof(struct acpi_madt), &hdr) != NULL) {
		kprintf("acpi: fault.acpi=%s: the MADT is already unusable\n",
		    fault);
		return;
	}
	for (off = sizeof(struct acpi_madt); off + sizeof(*ml) <=
	    madt->sdt_length; off += ml->ml_length) {
		ml = (struct madt_lapic *)((uint8_t *)madt + off);
		if (ml->ml_length < 2)
			break;
		if (ml->ml_type != MADT_LAPIC || ml->ml_length < sizeof(*ml))
			continue;
		if (nocpu)
			ml->ml_flags &= ~MADT_LAPIC_ENABLED;
		pair = last != NULL && (uint8_t *)last + sizeof(*ml) ==
		    (uint8_t *)ml ? last : NULL;
		last = ml;
	}
	if (x2apic) {
		/* The last two adjacent processor entries (16 bytes) become
		 * one enabled x2APIC entry that xAPIC cannot address. */
		if (pair == NULL) {
			kprintf("acpi: fault.acpi=%s: no two adjacent processor "
			    "entries; nothing injected\n", fault);
			return;
		}
		mx = (struct madt_x2apic *)pair;
		_Static_assert(sizeof(*mx) == 2 * sizeof(*ml), "two entries");
		mx->mx_type = MADT_X2APIC;
		mx->mx_length = sizeof(*mx);
		mx->mx_reserved = 0;
		mx->mx_x2apicid = ACPI_FAULT_X2APICID;
		mx->mx_flags = MADT_LAPIC_ENABLED;
		mx->mx_acpi_uid = ACPI_FAULT_X2APICID;
	} else if (!nocpu && last != NULL) {
		last->ml_apicid = CPU_ENUM_BROADCAST;
	}
	acpi_fix_checksum(madt);
}

/*
 * Walk the MADT entries into *ce.  A malformed entry ends the walk with one
 * line; what was found before it is kept.
 */
static void
acpi_madt_walk(const struct acpi_madt *madt, struct cpu_enum *ce)
{
	const uint8_t *base = (const uint8_t *)madt;
	uint32_t off = sizeof(*madt), end = madt->madt_hdr.sdt_length;
	uint32_t len, need;
	bool enabled;
	const struct madt_lapic *ml;
	const struct madt_lapic_override *mo;
	const struct madt_x2apic *mx;
	uint8_t type;

	while (off < end) {
		type = base[off];
		len = end - off >= 2 ? base[off + 1] : 0;
		if (type == MADT_LAPIC)
			need = sizeof(*ml);
		else if (type == MADT_LAPIC_OVERRIDE)
			need = sizeof(*mo);
		else if (type == MADT_X2APIC)
			need = sizeof(*mx);
		else
			need = 2;
		if (len < need || len > end - off) {
			kprintf("acpi: MADT entry at offset %u (type %u, length "
			    "%u) is malformed; ignoring it and the rest\n",
			    off, type, len);
			break;
		}
		switch (type) {
		case MADT_LAPIC:
			ml = (const void *)(base + off);
			if (!cpu_enum_add(ce, ml->ml_apicid,
			    (ml->ml_flags & MADT_LAPIC_ENABLED) != 0))
				kprintf("acpi: duplicate APIC id %u in MADT "
				    "ignored\n", ml->ml_apicid);
			break;
		case MADT_LAPIC_OVERRIDE:
			mo = (const void *)(base + off);
			if (mo->mo_lapic_pa <= UINT32_MAX)
				ce->ce_lapic_pa = (vm_paddr_t)mo->mo_lapic_pa;
			break;
		case MADT_X2APIC:
			mx = (const void *)(base + off);
			enabled = (mx->mx_flags & MADT_LAPIC_ENABLED) != 0;
			if (enabled && mx->mx_x2apicid >= CPU_ENUM_BROADCAST)
				cpu_enum_add_x2apic(ce, mx->mx_x2apicid);
			else if (!cpu_enum_add(ce, mx->mx_x2apicid, enabled))
				kprintf("acpi: duplicate APIC id %u in MADT "
				    "ignored\n", mx->mx_x2apicid);
			break;
		}
		off += len;
	}
}

int
acpi_madt_enum(const void *rsdp_copy, size_t rsdp_len, const char *fault,
    struct cpu_enum *ce)
{
	const struct acpi_rsdp *rsdp;
	const struct acpi_sdt *root = NULL;
	const struct acpi_madt *madt;
	const char *why, *xwhy = NULL;
	vm_paddr_t ebda;
	bool xsdt = false;

	cpu_enum_init(ce, "ACPI MADT");
	if (rsdp_copy != NULL) {
		rsdp = rsdp_copy;
		why = acpi_rsdp_check(rsdp, rsdp_len);
		if (why != NULL) {
			kprintf("acpi: RSDP from the boot loader unusable "
			    "(%s)" ACPI_FALLBACK "\n", why);
			return -1;
		}
	} else {
		rsdp = NULL;
		ebda = cpu_enum_ebda();
		if (ebda != 0)
			rsdp = acpi_rsdp_scan(ebda, 1024);
		if (rsdp == NULL)
			rsdp = acpi_rsdp_scan(0xE0000, 0x20000);
		if (rsdp == NULL) {
			kprintf("acpi: no RSDP in the EBDA or "
			    "0xE0000-0xFFFFF" ACPI_FALLBACK "\n");
			return -1;
		}
	}

	if (rsdp->rsdp_revision >= 2 && rsdp->rsdp_xsdt_pa != 0) {
		xwhy = acpi_sdt_get(rsdp->rsdp_xsdt_pa, "XSDT",
		    sizeof(struct acpi_sdt), &root);
		xsdt = xwhy == NULL;
	}
	if (root == NULL) {
		why = acpi_sdt_get(rsdp->rsdp_rsdt_pa, "RSDT",
		    sizeof(struct acpi_sdt), &root);
		if (why != NULL) {
			if (xwhy != NULL)
				kprintf("acpi: XSDT at 0x%llx unusable (%s), "
				    "RSDT at 0x%08x unusable (%s)"
				    ACPI_FALLBACK "\n",
				    (unsigned long long)rsdp->rsdp_xsdt_pa,
				    xwhy, rsdp->rsdp_rsdt_pa, why);
			else
				kprintf("acpi: RSDT at 0x%08x unusable (%s)"
				    ACPI_FALLBACK "\n", rsdp->rsdp_rsdt_pa,
				    why);
			return -1;
		}
		if (xwhy != NULL)
			kprintf("acpi: XSDT at 0x%llx unusable (%s); using "
			    "the RSDT\n", (unsigned long long)rsdp->rsdp_xsdt_pa,
			    xwhy);
	}

	if (fault != NULL && fault[0] != '\0')
		acpi_fault_inject(root, xsdt, fault);
	madt = acpi_find_madt(root, xsdt);
	if (madt == NULL)
		return -1;
	return acpi_madt_parse(madt, madt->madt_hdr.sdt_length, ce);
}

int
acpi_madt_parse(const void *table, size_t avail, struct cpu_enum *ce)
{
	const struct acpi_madt *madt = table;
	const char *why;

	cpu_enum_init(ce, "ACPI MADT");
	why = acpi_sdt_check(&madt->madt_hdr, "APIC", sizeof(*madt), avail);
	if (why != NULL) {
		kprintf("acpi: MADT unusable (%s)" ACPI_FALLBACK "\n", why);
		return -1;
	}
	ce->ce_lapic_pa = madt->madt_lapic_pa;
	acpi_madt_walk(madt, ce);
	if (ce->ce_ncpu == 0) {
		kprintf("acpi: MADT lists no enabled processor" ACPI_FALLBACK
		    "\n");
		return -1;
	}
	return 0;
}

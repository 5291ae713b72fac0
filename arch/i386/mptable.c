/*
 * CPU enumeration from the Intel MultiProcessor table, the fallback when
 * there is no usable ACPI MADT.
 *
 * Called once by the BSP at boot, paging off, before any AP starts; the
 * firmware tables are read through cpu_enum_map() (cpu_enum.h).
 *
 * References (Intel MultiProcessor Specification 1.4, §4):
 *   §4.1  MP Floating Pointer Structure: "_MP_" on a 16-byte boundary in
 *         the first KiB of the EBDA, the last KiB of base memory, or
 *         0xF0000-0xFFFFF; 16-byte units in Length; checksum over them.
 *         A zero configuration-table pointer means a default configuration
 *         (feature byte 1 names it; all have two CPUs, APIC ids 0 and 1).
 *   §4.2  MP Configuration Table header: "PCMP", checksum over the base
 *         table length, local APIC address at offset 0x24, entries from
 *         offset 0x2C.
 *   §4.3  Base table entries: type 0 processor (20 bytes: APIC id at +1,
 *         flags at +3 with bit 0 enabled and bit 1 bootstrap processor);
 *         types 1-4 bus, I/O APIC, I/O and local interrupt (8 bytes each).
 */

#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <cpu_enum.h>

struct mp_fps {
	char		fps_signature[4];	/* "_MP_" */
	uint32_t	fps_config_pa;		/* 0: default configuration */
	uint8_t		fps_length;		/* in 16-byte units */
	uint8_t		fps_spec_rev;
	uint8_t		fps_checksum;
	uint8_t		fps_feature[5];		/* [0]: default config type */
} __packed;

_Static_assert(sizeof(struct mp_fps) == 16, "MP floating pointer layout");

struct mp_config {
	char		mpc_signature[4];	/* "PCMP" */
	uint16_t	mpc_base_length;	/* header and base entries */
	uint8_t		mpc_spec_rev;
	uint8_t		mpc_checksum;
	char		mpc_oem_id[8];
	char		mpc_product_id[12];
	uint32_t	mpc_oem_table_pa;
	uint16_t	mpc_oem_table_size;
	uint16_t	mpc_entry_count;
	uint32_t	mpc_lapic_pa;		/* offset 0x24 */
	uint16_t	mpc_ext_length;
	uint8_t		mpc_ext_checksum;
	uint8_t		mpc_reserved;
} __packed;

_Static_assert(sizeof(struct mp_config) == 0x2C, "MP config header layout");

struct mp_processor {
	uint8_t		mpp_type;		/* 0 */
	uint8_t		mpp_apicid;
	uint8_t		mpp_apic_version;
	uint8_t		mpp_flags;
	uint32_t	mpp_signature;
	uint32_t	mpp_features;
	uint32_t	mpp_reserved[2];
} __packed;

_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry layout");

#define MP_ENT_PROCESSOR	0
#define MP_ENT_SMALL_FIRST	1	/* bus */
#define MP_ENT_SMALL_LAST	4	/* local interrupt assignment */
#define MP_ENT_SMALL_LEN	8

#define MPP_ENABLED		0x01
#define MPP_BSP			0x02

#define MP_DEFAULT_LAPIC_PA	0xFEE00000u

/* First valid floating pointer on a 16-byte boundary in [pa, pa + len). */
static const struct mp_fps *
mp_scan(vm_paddr_t pa, size_t len)
{
	const struct mp_fps *f;
	size_t off;

	for (off = 0; off + sizeof(*f) <= len; off += 16) {
		f = cpu_enum_map(pa + (vm_paddr_t)off, sizeof(*f));
		if (f != NULL && memcmp(f->fps_signature, "_MP_", 4) == 0 &&
		    f->fps_length >= 1 &&
		    cpu_enum_map(pa + (vm_paddr_t)off, f->fps_length * 16u) !=
		    NULL && cpu_enum_checksum(f, f->fps_length * 16u) == 0)
			return f;
	}
	return NULL;
}

/* Search the three places §4 names, in its order. */
static const struct mp_fps *
mp_find(void)
{
	const struct mp_fps *f = NULL;
	uint16_t basekb = cpu_enum_bda_word(0x413);
	vm_paddr_t ebda = cpu_enum_ebda(), top;

	if (ebda != 0)
		f = mp_scan(ebda, 1024);
	if (f == NULL) {
		top = basekb >= 1 && basekb <= 640 ? basekb * 1024u :
		    640 * 1024u;
		f = mp_scan(top - 1024, 1024);
	}
	if (f == NULL)
		f = mp_scan(0xF0000, 0x10000);
	return f;
}

int
mptable_enum(struct cpu_enum *ce)
{
	const struct mp_fps *fps;
	const struct mp_config *cfg;
	size_t avail;

	cpu_enum_init(ce, "MP table");
	fps = mp_find();
	if (fps == NULL) {
		kprintf("mptable: no MP floating pointer found\n");
		return -1;
	}

	if (fps->fps_config_pa == 0) {
		ce->ce_lapic_pa = MP_DEFAULT_LAPIC_PA;
		cpu_enum_add(ce, 0, true);
		cpu_enum_add(ce, 1, true);
		ce->ce_bsp_apicid = 0;
		kprintf("mptable: default configuration %u: assuming 2 CPUs, "
		    "APIC ids 0 and 1\n", fps->fps_feature[0]);
		return 0;
	}
	cfg = cpu_enum_map(fps->fps_config_pa, sizeof(*cfg));
	if (cfg == NULL) {
		kprintf("mptable: configuration table at 0x%08x is not in "
		    "memory\n", fps->fps_config_pa);
		return -1;
	}
	avail = sizeof(*cfg);
	if (cfg->mpc_base_length > avail &&
	    cpu_enum_map(fps->fps_config_pa, cfg->mpc_base_length) != NULL)
		avail = cfg->mpc_base_length;
	return mptable_parse(cfg, avail, ce);
}

int
mptable_parse(const void *table, size_t avail, struct cpu_enum *ce)
{
	const struct mp_config *cfg = table;
	const struct mp_processor *mpp;
	const uint8_t *base;
	uint32_t off, end, size, i;
	uint8_t type;

	cpu_enum_init(ce, "MP table");
	if (avail < sizeof(*cfg) ||
	    memcmp(cfg->mpc_signature, "PCMP", 4) != 0 ||
	    cfg->mpc_base_length < sizeof(*cfg) ||
	    cfg->mpc_base_length > avail ||
	    cpu_enum_checksum(cfg, cfg->mpc_base_length) != 0) {
		kprintf("mptable: configuration table at %p has a bad "
		    "signature, length or checksum\n", table);
		return -1;
	}
	ce->ce_lapic_pa = cfg->mpc_lapic_pa;
	base = (const uint8_t *)cfg;
	end = cfg->mpc_base_length;
	off = sizeof(*cfg);
	for (i = 0; i < cfg->mpc_entry_count && off < end; i++, off += size) {
		type = base[off];
		if (type == MP_ENT_PROCESSOR) {
			size = sizeof(*mpp);
		} else if (type >= MP_ENT_SMALL_FIRST &&
		    type <= MP_ENT_SMALL_LAST) {
			size = MP_ENT_SMALL_LEN;
		} else {
			kprintf("mptable: unknown entry type %u at offset %u; "
			    "ignoring it and the rest\n", type, off);
			break;
		}
		if (size > end - off) {
			kprintf("mptable: entry at offset %u runs past the "
			    "table; ignoring it\n", off);
			break;
		}
		if (type != MP_ENT_PROCESSOR)
			continue;
		mpp = (const void *)(base + off);
		if (!cpu_enum_add(ce, mpp->mpp_apicid,
		    (mpp->mpp_flags & MPP_ENABLED) != 0)) {
			kprintf("mptable: duplicate APIC id %u ignored\n",
			    mpp->mpp_apicid);
			continue;
		}
		if (mpp->mpp_flags & MPP_BSP)
			ce->ce_bsp_apicid = mpp->mpp_apicid;
	}
	if (i < cfg->mpc_entry_count && off >= end)
		kprintf("mptable: %u entries announced, %u fit in the table; "
		    "using those\n", cfg->mpc_entry_count, i);

	if (ce->ce_ncpu == 0) {
		kprintf("mptable: no enabled processor entry\n");
		return -1;
	}
	return 0;
}

/*
 * Kernel command-line options (include/sys/kopts.h): the option table, the
 * parser and the global `kopts`.
 *
 * kopts_parse() and kopts_defaults() are pure functions of their arguments
 * and may be called from any CPU in thread context (the tests parse into
 * scratch copies).  The global `kopts` is written only by the BSP during
 * boot, before any AP starts, and is read-only afterwards.
 *
 * Adding an option is one row in kopt_table (plus its field in struct
 * kopts); the accepted-values text in complaints comes from the row.
 */

#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/chaos.h>
#include <sys/kopts.h>

struct kopts kopts;

enum kopt_kind {
	KO_STRING,		/* char array; value must be non-empty and fit */
	KO_FLAG,		/* bool; bare key or key=0 / key=1 */
	KO_UINT,		/* uint32_t in [ko_min, ko_max], decimal or 0x-hex */
};

struct kopt {
	const char	*ko_key;
	enum kopt_kind	ko_kind;
	size_t		ko_off;		/* offset of the field in struct kopts */
	size_t		ko_size;	/* KO_STRING: size of the char array */
	uint32_t	ko_min;
	uint32_t	ko_max;
	uint32_t	ko_def;
	const char	*ko_help;	/* accepted values (KO_UINT: from min/max) */
};

/* offsetof(struct kopts, field); does not compile unless field has `type`. */
#define KOPT_FIELD(field, type)						\
	_Generic(((struct kopts *)0)->field,				\
	    type: offsetof(struct kopts, field))

#define KOPT_STRING(key, field, help)					\
	{ key, KO_STRING, KOPT_FIELD(field, char *),			\
	  sizeof(((struct kopts *)0)->field), 0, 0, 0, help }
#define KOPT_FLAG(key, field)						\
	{ key, KO_FLAG, KOPT_FIELD(field, bool), 0, 0, 1, 0,		\
	  key ", " key "=0 or " key "=1" }
#define KOPT_UINT(key, field, min, max, def)				\
	{ key, KO_UINT, KOPT_FIELD(field, uint32_t), 0, min, max, def, NULL }

static const struct kopt kopt_table[] = {
	KOPT_STRING("test", ko_test, "GLOB[,GLOB...]"),
	KOPT_FLAG("test.list", ko_test_list),
	KOPT_FLAG("test.noretry", ko_test_noretry),
	KOPT_UINT("seed", ko_seed, 0, UINT32_MAX, 1),
	KOPT_UINT("repeat", ko_repeat, 1, 1000, 1),
	KOPT_UINT("smp.maxcpus", ko_maxcpus, 1, MAXCPU, MAXCPU),
	KOPT_UINT("expect.ncpus", ko_expect_ncpus, 1, MAXCPU, 0),
	KOPT_UINT("smp.nostart", ko_smp_nostart, 1, MAXCPU - 1, 0),
	KOPT_UINT("smp.slowstart", ko_smp_slowstart, 1, MAXCPU - 1, 0),
	KOPT_UINT("smp.slowonline", ko_smp_slowonline, 1, MAXCPU - 1, 0),
	KOPT_FLAG("fault.lapic_timer_dead", ko_fault_lapic_timer_dead),
	KOPT_FLAG("fault.pit_stuck", ko_fault_pit_stuck),
	KOPT_STRING("fault.acpi", ko_fault_acpi, "madt.checksum, madt.short, "
	    "madt.long, madt.nocpu, madt.apic255 or root.nowhere"),
	KOPT_FLAG("fault.no_cpuid", ko_fault_no_cpuid),
	KOPT_UINT("mem.limit", ko_mem_limit, 2, 1024, 0),
	KOPT_UINT("hz", ko_hz, 10, 5000, 100),
	KOPT_UINT("untimely_switch", ko_untimely_switch, 0, 1, 0),
	KOPT_UINT("ipiq_optimized", ko_ipiq_optimized, 0, 1, 1),
	KOPT_UINT("ipiq.passive", ko_ipiq_passive, 0, 1, 1),
	KOPT_UINT("test.timeout", ko_test_timeout, 1, 3600, 60),
	KOPT_UINT("chaos", ko_chaos, 1, UINT32_MAX, 0),
	KOPT_UINT("chaos.rate", ko_chaos_rate, 0, 1024, CHAOS_RATE_DEFAULT),
};

/* Longest piece of an offending word quoted in a complaint. */
#define KOPT_QUOTE_MAX	40
/* Longest complaint line; longer ones are cut by ksnprintf. */
#define KOPT_LINE_MAX	640

struct kopt_parse {
	struct kopts	*kp_ko;
	kopts_complain_t *kp_complain;
	void		*kp_cookie;
	int		kp_nbad;
};

enum kopt_num {
	KN_OK,
	KN_BAD,			/* not a number */
	KN_RANGE,		/* a number, but too large or outside min..max */
};

static void *
kopt_field(struct kopts *ko, const struct kopt *k)
{
	return (char *)ko + k->ko_off;
}

void
kopts_defaults(struct kopts *ko)
{
	const struct kopt *k;

	memset(ko, 0, sizeof(*ko));
	for (k = kopt_table; k < kopt_table + nitems(kopt_table); k++) {
		if (k->ko_kind == KO_UINT)
			*(uint32_t *)kopt_field(ko, k) = k->ko_def;
		else if (k->ko_kind == KO_FLAG)
			*(bool *)kopt_field(ko, k) = k->ko_def != 0;
	}
}

static bool
kopt_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Pass one finished line to the caller's callback and count it. */
static void
kopt_emit(struct kopt_parse *kp, const char *line)
{
	kp->kp_nbad++;
	if (kp->kp_complain != NULL)
		kp->kp_complain(kp->kp_cookie, line);
}

/* Describe what option k accepts, e.g. "integer 1..1000". */
static void
kopt_accepted(const struct kopt *k, char *buf, size_t size)
{
	switch (k->ko_kind) {
	case KO_STRING:
		ksnprintf(buf, size, "%s, 1..%zu chars", k->ko_help,
		    k->ko_size - 1);
		break;
	case KO_FLAG:
		ksnprintf(buf, size, "%s", k->ko_help);
		break;
	case KO_UINT:
		ksnprintf(buf, size, "integer %u..%u", k->ko_min, k->ko_max);
		break;
	}
}

/* Describe the value option k keeps in *ko, for "...; using X". */
static void
kopt_current(const struct kopt *k, struct kopts *ko, char *buf, size_t size)
{
	const char *s;
	size_t len;

	switch (k->ko_kind) {
	case KO_STRING:
		s = kopt_field(ko, k);
		len = strlen(s);
		if (len == 0)
			ksnprintf(buf, size, "the default");
		else
			ksnprintf(buf, size, "'%.*s%s'",
			    (int)MIN(len, (size_t)KOPT_QUOTE_MAX), s,
			    len > KOPT_QUOTE_MAX ? "..." : "");
		break;
	case KO_FLAG:
		ksnprintf(buf, size, "%d", *(bool *)kopt_field(ko, k) ? 1 : 0);
		break;
	case KO_UINT:
		ksnprintf(buf, size, "%u", *(uint32_t *)kopt_field(ko, k));
		break;
	}
}

/*
 * Complain about a word for option k: "cmdline: <problem> ['<value>'] for
 * <key> (accepted: ...); using <current>".  `val` may be NULL (no value to
 * quote); at most KOPT_QUOTE_MAX characters of it are shown.
 */
static void
kopt_reject(struct kopt_parse *kp, const struct kopt *k, const char *problem,
    const char *val, size_t vlen)
{
	char line[KOPT_LINE_MAX], accepted[96], current[64];

	kopt_accepted(k, accepted, sizeof(accepted));
	kopt_current(k, kp->kp_ko, current, sizeof(current));
	if (val != NULL)
		ksnprintf(line, sizeof(line),
		    "cmdline: %s '%.*s%s' for %s (accepted: %s); using %s",
		    problem, (int)MIN(vlen, (size_t)KOPT_QUOTE_MAX), val,
		    vlen > KOPT_QUOTE_MAX ? "..." : "", k->ko_key, accepted,
		    current);
	else
		ksnprintf(line, sizeof(line),
		    "cmdline: %s for %s (accepted: %s); using %s",
		    problem, k->ko_key, accepted, current);
	kopt_emit(kp, line);
}

static void
kopt_unknown(struct kopt_parse *kp, const char *key, size_t keylen)
{
	char line[KOPT_LINE_MAX];
	const struct kopt *k;
	size_t n;

	n = (size_t)ksnprintf(line, sizeof(line),
	    "cmdline: unknown key '%.*s%s' ignored (known: ",
	    (int)MIN(keylen, (size_t)KOPT_QUOTE_MAX), key,
	    keylen > KOPT_QUOTE_MAX ? "..." : "");
	for (k = kopt_table; k < kopt_table + nitems(kopt_table); k++) {
		if (n >= sizeof(line))
			break;
		n += (size_t)ksnprintf(line + n, sizeof(line) - n, "%s%s",
		    k->ko_key, k + 1 < kopt_table + nitems(kopt_table) ?
		    ", " : ")");
	}
	kopt_emit(kp, line);
}

const char *
kopts_key(unsigned i)
{
	return i < nitems(kopt_table) ? kopt_table[i].ko_key : NULL;
}

/* Parse a decimal or 0x-hex number of exactly `len` characters. */
static enum kopt_num
kopt_number(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0, base = 10, digit;
	bool overflow = false;
	char c;

	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		len -= 2;
	}
	for (; len > 0; len--) {
		c = *s++;
		if (c >= '0' && c <= '9')
			digit = (uint32_t)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			digit = (uint32_t)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			digit = (uint32_t)(c - 'A' + 10);
		else
			return KN_BAD;
		if (v > (UINT32_MAX - digit) / base)
			overflow = true;
		else
			v = v * base + digit;
	}
	if (overflow)
		return KN_RANGE;
	*out = v;
	return KN_OK;
}

/* Apply one value to option k, or complain and leave it as it was. */
static void
kopt_set(struct kopt_parse *kp, const struct kopt *k, const char *val,
    size_t vlen)
{
	char *str;
	uint32_t v;

	if (vlen == 0) {
		kopt_reject(kp, k, "empty value", NULL, 0);
		return;
	}
	switch (k->ko_kind) {
	case KO_STRING:
		if (vlen > k->ko_size - 1) {
			kopt_reject(kp, k, "overlong value", val, vlen);
			return;
		}
		str = kopt_field(kp->kp_ko, k);
		memcpy(str, val, vlen);
		str[vlen] = '\0';
		break;
	case KO_FLAG:
		if (vlen != 1 || (val[0] != '0' && val[0] != '1')) {
			kopt_reject(kp, k, "bad value", val, vlen);
			return;
		}
		*(bool *)kopt_field(kp->kp_ko, k) = val[0] == '1';
		break;
	case KO_UINT:
		switch (kopt_number(val, vlen, &v)) {
		case KN_BAD:
			kopt_reject(kp, k, "bad value", val, vlen);
			return;
		case KN_RANGE:
			kopt_reject(kp, k, "out-of-range value", val, vlen);
			return;
		case KN_OK:
			break;
		}
		if (v < k->ko_min || v > k->ko_max) {
			kopt_reject(kp, k, "out-of-range value", val, vlen);
			return;
		}
		*(uint32_t *)kopt_field(kp->kp_ko, k) = v;
		break;
	}
}

/* Handle one whitespace-delimited word of `len` characters. */
static void
kopt_word(struct kopt_parse *kp, const char *w, size_t len)
{
	const struct kopt *k;
	size_t keylen;

	for (keylen = 0; keylen < len && w[keylen] != '='; keylen++)
		continue;
	for (k = kopt_table; k < kopt_table + nitems(kopt_table); k++)
		if (strlen(k->ko_key) == keylen &&
		    memcmp(k->ko_key, w, keylen) == 0)
			break;
	if (k == kopt_table + nitems(kopt_table)) {
		kopt_unknown(kp, w, keylen);
		return;
	}

	if (keylen == len) {
		if (k->ko_kind == KO_FLAG)
			*(bool *)kopt_field(kp->kp_ko, k) = true;
		else
			kopt_reject(kp, k, "missing '=' and value", NULL, 0);
		return;
	}
	kopt_set(kp, k, w + keylen + 1, len - keylen - 1);
}

int
kopts_parse(const char *line, struct kopts *ko, kopts_complain_t *complain,
    void *cookie)
{
	struct kopt_parse kp = { ko, complain, cookie, 0 };
	const char *w;

	for (;;) {
		while (kopt_space(*line))
			line++;
		if (*line == '\0')
			break;
		w = line;
		while (*line != '\0' && !kopt_space(*line))
			line++;
		kopt_word(&kp, w, (size_t)(line - w));
	}
	return kp.kp_nbad;
}

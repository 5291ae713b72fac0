/*
 * Self-tests for kern/kern_kopts.c (suite "kopts"): parse good and bad
 * command lines into scratch struct kopts copies and check the fields, the
 * number of complaints and the shape of each complaint line.  Never
 * touches the global `kopts`.  Runs on whichever CPU the test runner uses;
 * the long-line tests use static buffers, so they must not run on two CPUs
 * at once (the runner runs one test at a time).
 */

#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/kopts.h>
#include <sys/ktest.h>

/* Complaints longer than this would not be "one short line". */
#define KC_LINE_SHORT	640

struct kc_collect {
	struct ktest_ctx *cc_kt;
	const char	*cc_key;	/* every complaint must name it; NULL: skip */
	int		cc_n;
	char		cc_last[KC_LINE_SHORT];
};

static bool
kc_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

/* kopts_complain_t: check one complaint line and keep the last one. */
static void
kc_complain(void *cookie, const char *line)
{
	struct kc_collect *cc = cookie;
	struct ktest_ctx *kt = cc->cc_kt;
	int before = ktest_failures(kt);

	cc->cc_n++;
	strlcpy(cc->cc_last, line, sizeof(cc->cc_last));
	EXPECT_EQ(strncmp(line, "cmdline: ", 9), 0);
	EXPECT_LT(strlen(line), KC_LINE_SHORT);
	if (cc->cc_key != NULL)
		EXPECT_TRUE(kc_contains(line, cc->cc_key));
	if (ktest_failures(kt) != before)
		ktest_log(kt, "complaint: %s", line);
}

/* Parse `line` from defaults; returns the number of complaints seen. */
static int
kc_parse(struct ktest_ctx *kt, const char *line, const char *key,
    struct kopts *ko, struct kc_collect *cc)
{
	int n;

	*cc = (struct kc_collect){ .cc_kt = kt, .cc_key = key };
	kopts_defaults(ko);
	n = kopts_parse(line, ko, kc_complain, cc);
	EXPECT_EQ(n, cc->cc_n);
	return n;
}

struct kc_case {
	const char	*kc_line;
	const char	*kc_test;
	bool		kc_list;
	uint32_t	kc_seed;
	uint32_t	kc_repeat;
	uint32_t	kc_maxcpus;
	uint32_t	kc_expect;
	int		kc_nbad;
	const char	*kc_key;	/* named by every complaint */
};

/* Expected fields when nothing was changed. */
#define KC_DEFAULTS	"", false, 1, 1, MAXCPU, 0

static const struct kc_case kc_cases[] = {
	/* Good input. */
	{ "", KC_DEFAULTS, 0, NULL },
	{ "   \t  ", KC_DEFAULTS, 0, NULL },
	{ "test=sched.*,ipiq.fifo test.list seed=42 repeat=3 smp.maxcpus=2 "
	  "expect.ncpus=2", "sched.*,ipiq.fifo", true, 42, 3, 2, 2, 0, NULL },
	{ "test.list=1", "", true, 1, 1, MAXCPU, 0, 0, NULL },
	{ "test.list test.list=0", KC_DEFAULTS, 0, NULL },
	{ "seed=0x10", "", false, 16, 1, MAXCPU, 0, 0, NULL },
	{ "seed=0XfF", "", false, 255, 1, MAXCPU, 0, 0, NULL },
	{ "seed=0", "", false, 0, 1, MAXCPU, 0, 0, NULL },
	{ "seed=007", "", false, 7, 1, MAXCPU, 0, 0, NULL },
	{ "seed=4294967295", "", false, UINT32_MAX, 1, MAXCPU, 0, 0, NULL },
	{ "seed=0xffffffff", "", false, UINT32_MAX, 1, MAXCPU, 0, 0, NULL },
	{ "repeat=1000 smp.maxcpus=1 expect.ncpus=32", "", false, 1, 1000, 1,
	  32, 0, NULL },
	{ "smp.maxcpus=0x20", "", false, 1, 1, 32, 0, 0, NULL },
	{ "smp.maxcpus=255 expect.ncpus=255", "", false, 1, 1, 255, 255, 0,
	  NULL },
	/* Repeated keys: the last one wins. */
	{ "seed=5 seed=6", "", false, 6, 1, MAXCPU, 0, 0, NULL },
	{ "test=a test=b", "b", false, 1, 1, MAXCPU, 0, 0, NULL },
	/* Leading, trailing and repeated blanks. */
	{ "  seed=3\t\trepeat=4   ", "", false, 3, 4, MAXCPU, 0, 0, NULL },
	{ "\tseed=3 \t test=x ", "x", false, 3, 1, MAXCPU, 0, 0, NULL },
	/* Bad numbers: each leaves the option as it was. */
	{ "seed=12abc", KC_DEFAULTS, 1, "seed" },
	{ "seed=99999999999999999999", KC_DEFAULTS, 1, "seed" },
	{ "seed=4294967296", KC_DEFAULTS, 1, "seed" },
	{ "seed=0x100000000", KC_DEFAULTS, 1, "seed" },
	{ "seed=", KC_DEFAULTS, 1, "seed" },
	{ "seed", KC_DEFAULTS, 1, "seed" },
	{ "seed=-1", KC_DEFAULTS, 1, "seed" },
	{ "seed=+1", KC_DEFAULTS, 1, "seed" },
	{ "seed=0x", KC_DEFAULTS, 1, "seed" },
	{ "seed=0x1g", KC_DEFAULTS, 1, "seed" },
	{ "seed=1=2", KC_DEFAULTS, 1, "seed" },
	{ "seed=5 seed=bad", "", false, 5, 1, MAXCPU, 0, 1, "seed" },
	{ "repeat=0", KC_DEFAULTS, 1, "repeat" },
	{ "repeat=1001", KC_DEFAULTS, 1, "repeat" },
	{ "repeat=", KC_DEFAULTS, 1, "repeat" },
	{ "smp.maxcpus=0", KC_DEFAULTS, 1, "smp.maxcpus" },
	{ "smp.maxcpus=256", KC_DEFAULTS, 1, "smp.maxcpus" },
	{ "smp.maxcpus", KC_DEFAULTS, 1, "smp.maxcpus" },
	{ "expect.ncpus=0", KC_DEFAULTS, 1, "expect.ncpus" },
	{ "expect.ncpus=256", KC_DEFAULTS, 1, "expect.ncpus" },
	{ "expect.ncpus=two", KC_DEFAULTS, 1, "expect.ncpus" },
	/* Bad flag and string values. */
	{ "test.list=2", KC_DEFAULTS, 1, "test.list" },
	{ "test.list=yes", KC_DEFAULTS, 1, "test.list" },
	{ "test.list=", KC_DEFAULTS, 1, "test.list" },
	{ "test=", KC_DEFAULTS, 1, "test" },
	{ "test", KC_DEFAULTS, 1, "test" },
	{ "test=keep test=", "keep", false, 1, 1, MAXCPU, 0, 1, "test" },
	/* Unknown keys, including near misses of known ones. */
	{ "foo=1", KC_DEFAULTS, 1, "foo" },
	{ "foo", KC_DEFAULTS, 1, "foo" },
	{ "Seed=3", KC_DEFAULTS, 1, "Seed" },
	{ "test.lis", KC_DEFAULTS, 1, "test.lis" },
	{ "seed.x=3", KC_DEFAULTS, 1, "seed.x" },
	{ "seed=3 bogus repeat=2", "", false, 3, 2, MAXCPU, 0, 1, "bogus" },
	/* "seed = 3" is three words: a bare seed, a bare '=', a bare 3. */
	{ "seed = 3", KC_DEFAULTS, 3, NULL },
};

KTEST(kopts, table)
{
	const struct kc_case *c;
	struct kc_collect cc;
	struct kopts ko;
	int before;

	for (c = kc_cases; c < kc_cases + nitems(kc_cases); c++) {
		before = ktest_failures(kt);
		EXPECT_EQ(kc_parse(kt, c->kc_line, c->kc_key, &ko, &cc),
		    c->kc_nbad);
		EXPECT_STREQ(ko.ko_test, c->kc_test);
		EXPECT_EQ(ko.ko_test_list, c->kc_list);
		EXPECT_EQ(ko.ko_seed, c->kc_seed);
		EXPECT_EQ(ko.ko_repeat, c->kc_repeat);
		EXPECT_EQ(ko.ko_maxcpus, c->kc_maxcpus);
		EXPECT_EQ(ko.ko_expect_ncpus, c->kc_expect);
		if (ktest_failures(kt) != before)
			ktest_log(kt, "case \"%s\" (last complaint: %s)",
			    c->kc_line, cc.cc_last);
	}
}

KTEST(kopts, defaults)
{
	struct kopts ko;

	memset(&ko, 0xA5, sizeof(ko));
	kopts_defaults(&ko);
	EXPECT_STREQ(ko.ko_test, "");
	EXPECT_FALSE(ko.ko_test_list);
	EXPECT_EQ(ko.ko_seed, 1);
	EXPECT_EQ(ko.ko_repeat, 1);
	EXPECT_EQ(ko.ko_maxcpus, MAXCPU);
	EXPECT_EQ(ko.ko_expect_ncpus, 0);
}

static bool kc_append(char *dst, size_t cap, size_t *pos, const char *s);

KTEST(kopts, complaint_text)
{
	struct kc_collect cc;
	struct kopts ko;
	char want[sizeof(cc.cc_last)];
	const char *key;
	size_t n;
	unsigned i;

	kc_parse(kt, "seed=12abc", "seed", &ko, &cc);
	EXPECT_STREQ(cc.cc_last, "cmdline: bad value '12abc' for seed "
	    "(accepted: integer 0..4294967295); using 1");
	kc_parse(kt, "repeat=5 repeat=0", "repeat", &ko, &cc);
	EXPECT_STREQ(cc.cc_last, "cmdline: out-of-range value '0' for repeat "
	    "(accepted: integer 1..1000); using 5");
	kc_parse(kt, "foo=1", "foo", &ko, &cc);
	n = strlcpy(want, "cmdline: unknown key 'foo' ignored (known: ",
	    sizeof(want));
	for (i = 0; (key = kopts_key(i)) != NULL; i++) {
		if (i > 0)
			ASSERT_TRUE(kc_append(want, sizeof(want), &n, ", "));
		ASSERT_TRUE(kc_append(want, sizeof(want), &n, key));
	}
	ASSERT_TRUE(kc_append(want, sizeof(want), &n, ")"));
	EXPECT_GT(i, 10);
	EXPECT_STREQ(cc.cc_last, want);
}

/* Append `s` at *pos in dst (capacity cap, NUL included); false if full. */
static bool
kc_append(char *dst, size_t cap, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos + n + 1 > cap)
		return false;
	memcpy(dst + *pos, s, n + 1);
	*pos += n;
	return true;
}

/* Append `n` copies of character `ch`; false if they do not fit. */
static bool
kc_append_run(char *dst, size_t cap, size_t *pos, char ch, size_t n)
{
	if (*pos + n + 1 > cap)
		return false;
	memset(dst + *pos, ch, n);
	*pos += n;
	dst[*pos] = '\0';
	return true;
}

#define KC_BIG		4096

static char kc_big[KC_BIG + 1];

/* A 4096-character line of valid words with one unknown key in the middle. */
KTEST(kopts, long_line)
{
	struct kc_collect cc;
	struct kopts ko;
	size_t pos = 0;
	int i;

	for (i = 0; i < 100; i++)
		ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos,
		    "seed=7 repeat=2 "));
	ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos, "nosuchkey=1 "));
	while (kc_append(kc_big, sizeof(kc_big), &pos, "smp.maxcpus=3 "))
		continue;
	ASSERT_TRUE(kc_append_run(kc_big, sizeof(kc_big), &pos, ' ',
	    KC_BIG - pos));
	ASSERT_EQ(strlen(kc_big), KC_BIG);

	EXPECT_EQ(kc_parse(kt, kc_big, "nosuchkey", &ko, &cc), 1);
	EXPECT_EQ(ko.ko_seed, 7);
	EXPECT_EQ(ko.ko_repeat, 2);
	EXPECT_EQ(ko.ko_maxcpus, 3);
	EXPECT_STREQ(ko.ko_test, "");
}

/* One 4 KiB test= value: rejected in one short line, old value kept. */
KTEST(kopts, long_value)
{
	struct kc_collect cc;
	struct kopts ko;
	size_t pos = 0;

	ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos, "test=keep test="));
	ASSERT_TRUE(kc_append_run(kc_big, sizeof(kc_big), &pos, 'a',
	    KC_BIG - pos));

	EXPECT_EQ(kc_parse(kt, kc_big, "test", &ko, &cc), 1);
	EXPECT_STREQ(ko.ko_test, "keep");
	EXPECT_TRUE(kc_contains(cc.cc_last, "..."));
}

/* A 4 KiB unknown key is quoted shortly too. */
KTEST(kopts, long_key)
{
	struct kc_collect cc;
	struct kopts ko;
	size_t pos = 0;

	ASSERT_TRUE(kc_append_run(kc_big, sizeof(kc_big), &pos, 'k',
	    KC_BIG - 2));
	ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos, "=1"));

	EXPECT_EQ(kc_parse(kt, kc_big, "kkkkkkkkkk", &ko, &cc), 1);
	EXPECT_TRUE(kc_contains(cc.cc_last, "..."));
}

/* test= takes exactly KOPTS_TEST_MAX - 1 characters, not one more. */
KTEST(kopts, test_value_limit)
{
	struct kc_collect cc;
	struct kopts ko;
	size_t pos = 0;

	ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos, "test="));
	ASSERT_TRUE(kc_append_run(kc_big, sizeof(kc_big), &pos, 'g',
	    KOPTS_TEST_MAX - 1));
	EXPECT_EQ(kc_parse(kt, kc_big, NULL, &ko, &cc), 0);
	EXPECT_EQ(strlen(ko.ko_test), KOPTS_TEST_MAX - 1);
	EXPECT_EQ(memcmp(ko.ko_test, kc_big + 5, KOPTS_TEST_MAX - 1), 0);

	ASSERT_TRUE(kc_append(kc_big, sizeof(kc_big), &pos, "g"));
	EXPECT_EQ(kc_parse(kt, kc_big, "test", &ko, &cc), 1);
	EXPECT_STREQ(ko.ko_test, "");
}

/* glob_match() (kern/subr_string.c), as test= uses it: '?' is one character. */
KTEST(kopts, glob_question)
{
	EXPECT_TRUE(glob_match("a?c", "abc"));
	EXPECT_FALSE(glob_match("a?c", "ac"));
	EXPECT_FALSE(glob_match("a?c", "abbc"));
	EXPECT_FALSE(glob_match("?", ""));
	EXPECT_TRUE(glob_match("?", "x"));
	EXPECT_FALSE(glob_match("??", "x"));
	EXPECT_TRUE(glob_match("*?", "x"));
	EXPECT_FALSE(glob_match("*?", ""));
	EXPECT_TRUE(glob_match("a*?d", "abcd"));
	EXPECT_FALSE(glob_match("a*?d", "ad"));
	EXPECT_TRUE(glob_match("sched.?ield_*", "sched.yield_round_robin"));
	EXPECT_FALSE(glob_match("sched.?ield_*", "sched.field"));
	EXPECT_TRUE(glob_match("kopts.glob_?uestion", "kopts.glob_question"));
}

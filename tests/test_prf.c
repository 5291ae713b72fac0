/*
 * Self-tests for kern/subr_prf.c (suite "prf"): ksnprintf against expected
 * strings and return values.  Pure computation on local buffers; runs on
 * whichever CPU the test runner uses.
 *
 * Each row formats into a guarded buffer and checks the text, the return
 * value (the full length, C99) and that nothing past the buffer was
 * written.
 */

#include <sys/types.h>
#include <sys/systm.h>
#include <sys/ktest.h>

#define PRF_BUFSZ	96
#define PRF_GUARD	8
#define PRF_GUARD_BYTE	'#'

/* True if the PRF_GUARD bytes after out[size] are untouched. */
static bool
prf_guard_ok(const char *out, size_t size)
{
	size_t i;

	for (i = size; i < size + PRF_GUARD; i++)
		if (out[i] != PRF_GUARD_BYTE)
			return false;
	return true;
}

/*
 * One table row: ksnprintf into a `size`-byte buffer must give the text
 * `want` and return `wantret`, writing nothing past the buffer.  A macro,
 * so that a failure reports the row's own line.
 */
#define PRF_SIZED(size, want, wantret, ...) do {			\
	char b_[(size) + PRF_GUARD];					\
	int r_;								\
	memset(b_, PRF_GUARD_BYTE, sizeof(b_));				\
	r_ = ksnprintf(b_, (size), __VA_ARGS__);			\
	EXPECT_STREQ(b_, want);						\
	EXPECT_EQ(r_, wantret);						\
	EXPECT_TRUE(prf_guard_ok(b_, (size)));				\
} while (0)

/* Untruncated row: the return value is the length of `want`. */
#define PRF(want, ...)							\
	PRF_SIZED(PRF_BUFSZ, want, (int)strlen(want), __VA_ARGS__)

/* Truncated row: `want` is what fits, `wantret` the full length. */
#define PRF_TRUNC(size, want, wantret, ...)				\
	PRF_SIZED(size, want, wantret, __VA_ARGS__)

KTEST(prf, plain)
{
	PRF("", "%s", "");
	PRF("hello", "hello");
	PRF("100%", "100%%");
	PRF("%", "%%");
	PRF("a%b", "a%%%c", 'b');
}

KTEST(prf, decimal)
{
	PRF("0", "%d", 0);
	PRF("42", "%d", 42);
	PRF("-42", "%i", -42);
	PRF("2147483647", "%d", INT32_MAX);
	PRF("-2147483648", "%d", INT32_MIN);
	PRF("4294967295", "%u", UINT32_MAX);
	PRF("3000000000", "%u", 3000000000u);
	PRF("+7", "%+d", 7);
	PRF(" 7", "% d", 7);
	PRF("-7", "%+d", -7);
}

KTEST(prf, hex)
{
	PRF("0", "%x", 0);
	PRF("deadbeef", "%x", 0xdeadbeefu);
	PRF("DEADBEEF", "%X", 0xdeadbeefu);
	PRF("ffffffff", "%x", UINT32_MAX);
	PRF("0x1f", "%#x", 0x1f);
	PRF("0X1F", "%#X", 0x1f);
	PRF("0", "%#x", 0);
	PRF("0x0000001f", "%#010x", 0x1f);
}

KTEST(prf, width_and_padding)
{
	PRF("   42", "%5d", 42);
	PRF("42   |", "%-5d|", 42);
	PRF("00042", "%05d", 42);
	PRF("-0042", "%05d", -42);
	PRF("  -42", "%5d", -42);
	PRF("000000ff", "%08x", 0xff);
	PRF("      ff", "%8x", 0xff);
	PRF("   42", "%*d", 5, 42);
	PRF("42   |", "%*d|", -5, 42);
	PRF("12345", "%3d", 12345);
	PRF("  007", "%5.3d", 7);
	PRF("", "%.0d", 0);
	PRF("    x", "%5c", 'x');
	PRF("x    |", "%-5c|", 'x');
	PRF("   ab", "%5s", "ab");
	PRF("ab   |", "%-5s|", "ab");
}

KTEST(prf, long_and_longlong)
{
	PRF("-1", "%ld", -1L);
	PRF("4294967295", "%lu", 4294967295UL);
	PRF("abcdef01", "%lx", 0xabcdef01UL);
	PRF("0", "%lld", 0LL);
	PRF("-9223372036854775808", "%lld", (long long)INT64_MIN);
	PRF("9223372036854775807", "%lld", (long long)INT64_MAX);
	PRF("18446744073709551615", "%llu", (unsigned long long)UINT64_MAX);
	PRF("ffffffffffffffff", "%llx", (unsigned long long)UINT64_MAX);
	PRF("123456789ABCDEF0", "%llX", 0x123456789abcdef0ULL);
	PRF("4294967296", "%llu", 4294967296ULL);
	PRF("-4294967296", "%lld", -4294967296LL);
	PRF("100000000", "%llx", 0x100000000ULL);
	PRF("00000000000000000001", "%020llu", 1ULL);
	PRF("  -1", "%4lld", -1LL);
	PRF("10000000000000000000", "%llu", 10000000000000000000ULL);
	PRF("42", "%zu", (size_t)42);
}

KTEST(prf, pointer)
{
	PRF("0x00000000", "%p", (void *)0);
	PRF("0x00001234", "%p", (void *)0x1234);
	PRF("0xdeadbeef", "%p", (void *)0xdeadbeef);
	PRF("  0x0000abcd", "%12p", (void *)0xabcd);
}

KTEST(prf, strings_and_chars)
{
	/* volatile: gcc would reject a NULL it can see as a %s argument */
	const char *volatile null = NULL;

	PRF("abc", "%s", "abc");
	PRF("(null)", "%s", null);
	PRF("[a]", "[%c]", 'a');
	PRF("hel", "%.3s", "hello");
	PRF("hello", "%.10s", "hello");
	PRF("he", "%.*s", 2, "hello");
	PRF("  hel", "%5.3s", "hello");
	PRF("x=1 y=two z=c", "x=%d y=%s z=%c", 1, "two", 'c');
}

KTEST(prf, truncation)
{
	PRF_TRUNC(5, "1234", 6, "%d", 123456);
	PRF_TRUNC(1, "", 5, "%s", "hello");
	PRF_TRUNC(6, "hello", 5, "%s", "hello");
	PRF_TRUNC(5, "hell", 5, "%s", "hello");
	PRF_TRUNC(4, "0xd", 10, "%p", (void *)0xdeadbeef);
	PRF_TRUNC(8, "-922337", 20, "%lld", (long long)INT64_MIN);
	PRF_TRUNC(3, "  ", 10, "%10d", 1);
}

KTEST(prf, size_zero)
{
	char b[4] = { 'x', 'y', 'z', '\0' };

	EXPECT_EQ(ksnprintf(b, 0, "%s", "hello"), 5);
	EXPECT_STREQ(b, "xyz");
	EXPECT_EQ(ksnprintf(NULL, 0, "%d-%d", 10, 20), 5);
}

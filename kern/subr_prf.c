/*
 * Formatted output: kprintf/kvprintf to the console and ksnprintf/
 * kvsnprintf into a caller's buffer, all driven by one formatter that
 * hands each character to an output callback.
 *
 * Any CPU, any context (thread, interrupt, panic).  kprintf disables
 * interrupts on the calling CPU for the whole message and emits it through
 * cons_putc(), which keeps lines from different CPUs apart.  The buffer
 * variants touch nothing but the buffer.
 *
 * Conversions: %d %i %u %x %X %p %s %c %%, flags '-' '0' '+' ' ' '#',
 * field width and precision (digits or '*'), length modifiers l, ll and z.
 * %p prints "0x" and the pointer's full width of hex digits.  An unknown
 * conversion is copied through verbatim.
 */

#include <sys/types.h>
#include <sys/param.h>
#include <sys/systm.h>
#include <sys/cons.h>
#include <machine/cpufunc.h>

typedef void prf_emit_t(int c, void *arg);

struct prf_out {
	prf_emit_t	*po_emit;
	void		*po_arg;
	int		po_count;	/* characters emitted so far */
};

struct prf_spec {
	int		ps_width;
	int		ps_prec;	/* -1: none given */
	bool		ps_left;	/* '-' */
	bool		ps_zero;	/* '0' */
	bool		ps_plus;	/* '+' */
	bool		ps_space;	/* ' ' */
	bool		ps_alt;		/* '#' */
};

/* Caps width, precision and one %s argument so that counts fit in an int. */
#define PRF_FIELD_MAX	100000

static void
prf_putc(struct prf_out *o, int c)
{
	o->po_emit(c, o->po_arg);
	o->po_count++;
}

static void
prf_repeat(struct prf_out *o, int c, int n)
{
	while (n-- > 0)
		prf_putc(o, c);
}

static void
prf_string(struct prf_out *o, const struct prf_spec *sp, const char *s)
{
	size_t max = sp->ps_prec >= 0 ? (size_t)sp->ps_prec : SIZE_MAX;
	int len = (int)strnlen(s, MIN(max, (size_t)PRF_FIELD_MAX));
	int pad = sp->ps_width - len;

	if (!sp->ps_left)
		prf_repeat(o, ' ', pad);
	while (len-- > 0)
		prf_putc(o, *s++);
	if (sp->ps_left)
		prf_repeat(o, ' ', pad);
}

/*
 * Print the magnitude `v` in `base` after `prefix` (sign or "0x"), honouring
 * precision (minimum digits), width and the '0' and '-' flags.
 */
static void
prf_number(struct prf_out *o, const struct prf_spec *sp, uint64_t v,
    unsigned base, bool upper, const char *prefix)
{
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char digits[24];
	int ndig = 0, zeros, pad, plen;
	uint32_t v32;

	if (v <= UINT32_MAX) {
		for (v32 = (uint32_t)v; v32 != 0; v32 /= base)
			digits[ndig++] = set[v32 % base];
	} else {
		for (; v != 0; v /= base)
			digits[ndig++] = set[v % base];
	}
	/* C rule: zero printed with precision 0 has no digits at all. */
	if (ndig == 0 && sp->ps_prec != 0)
		digits[ndig++] = '0';

	plen = (int)strlen(prefix);
	zeros = sp->ps_prec > ndig ? sp->ps_prec - ndig : 0;
	pad = sp->ps_width - (plen + zeros + ndig);
	if (pad > 0 && sp->ps_zero && !sp->ps_left && sp->ps_prec < 0) {
		zeros += pad;
		pad = 0;
	}

	if (!sp->ps_left)
		prf_repeat(o, ' ', pad);
	while (*prefix != '\0')
		prf_putc(o, *prefix++);
	prf_repeat(o, '0', zeros);
	while (ndig > 0)
		prf_putc(o, digits[--ndig]);
	if (sp->ps_left)
		prf_repeat(o, ' ', pad);
}

/* Parse a decimal width or precision at *fmtp, capped at PRF_FIELD_MAX. */
static int
prf_field(const char **fmtp)
{
	const char *f = *fmtp;
	int n = 0;

	while (*f >= '0' && *f <= '9') {
		n = n * 10 + (*f++ - '0');
		if (n > PRF_FIELD_MAX)
			n = PRF_FIELD_MAX;
	}
	*fmtp = f;
	return n;
}

static int
prf_format(prf_emit_t *emit, void *arg, const char *fmt, va_list ap)
{
	struct prf_out o = { emit, arg, 0 };
	struct prf_spec sp;
	const char *start, *prefix, *s;
	int lmod, w;
	uint64_t u;
	int64_t d;
	uintptr_t ptr;
	char c;

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			prf_putc(&o, *fmt);
			continue;
		}
		start = fmt++;
		sp = (struct prf_spec){ .ps_prec = -1 };

		for (;; fmt++) {
			if (*fmt == '-')
				sp.ps_left = true;
			else if (*fmt == '0')
				sp.ps_zero = true;
			else if (*fmt == '+')
				sp.ps_plus = true;
			else if (*fmt == ' ')
				sp.ps_space = true;
			else if (*fmt == '#')
				sp.ps_alt = true;
			else
				break;
		}

		if (*fmt == '*') {
			fmt++;
			w = va_arg(ap, int);
			if (w < 0) {
				sp.ps_left = true;
				w = w < -PRF_FIELD_MAX ? PRF_FIELD_MAX : -w;
			}
			sp.ps_width = MIN(w, PRF_FIELD_MAX);
		} else {
			sp.ps_width = prf_field(&fmt);
		}

		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				fmt++;
				w = va_arg(ap, int);
				sp.ps_prec = w < 0 ? -1 : MIN(w, PRF_FIELD_MAX);
			} else {
				sp.ps_prec = prf_field(&fmt);
			}
		}

		/* lmod: 0 = int, 1 = long, 2 = long long, 3 = size_t */
		lmod = 0;
		if (*fmt == 'l') {
			fmt++;
			lmod = 1;
			if (*fmt == 'l') {
				fmt++;
				lmod = 2;
			}
		} else if (*fmt == 'z') {
			fmt++;
			lmod = 3;
		}

		switch (c = *fmt) {
		case 'd':
		case 'i':
			if (lmod == 2)
				d = va_arg(ap, long long);
			else if (lmod == 1)
				d = va_arg(ap, long);
			else if (lmod == 3)
				d = va_arg(ap, ssize_t);
			else
				d = va_arg(ap, int);
			u = d < 0 ? -(uint64_t)d : (uint64_t)d;
			prefix = d < 0 ? "-" : sp.ps_plus ? "+" :
			    sp.ps_space ? " " : "";
			prf_number(&o, &sp, u, 10, false, prefix);
			break;
		case 'u':
		case 'x':
		case 'X':
			if (lmod == 2)
				u = va_arg(ap, unsigned long long);
			else if (lmod == 1)
				u = va_arg(ap, unsigned long);
			else if (lmod == 3)
				u = va_arg(ap, size_t);
			else
				u = va_arg(ap, unsigned int);
			if (c != 'u' && sp.ps_alt && u != 0)
				prefix = c == 'x' ? "0x" : "0X";
			else
				prefix = "";
			prf_number(&o, &sp, u, c == 'u' ? 10 : 16, c == 'X',
			    prefix);
			break;
		case 'p':
			ptr = (uintptr_t)va_arg(ap, void *);
			sp.ps_prec = 2 * (int)sizeof(void *);
			prf_number(&o, &sp, ptr, 16, false, "0x");
			break;
		case 's':
			s = va_arg(ap, const char *);
			prf_string(&o, &sp, s != NULL ? s : "(null)");
			break;
		case 'c':
			if (!sp.ps_left)
				prf_repeat(&o, ' ', sp.ps_width - 1);
			prf_putc(&o, (char)va_arg(ap, int));
			if (sp.ps_left)
				prf_repeat(&o, ' ', sp.ps_width - 1);
			break;
		case '%':
			prf_putc(&o, '%');
			break;
		default:
			/* Unknown or truncated: copy the specification as written. */
			while (start < fmt)
				prf_putc(&o, *start++);
			if (c == '\0')
				return o.po_count;
			prf_putc(&o, c);
			break;
		}
	}
	return o.po_count;
}

static void
prf_cons_emit(int c, void *arg __unused)
{
	cons_putc(c);
}

int
kvprintf(const char *fmt, va_list ap)
{
	uint32_t ef;
	int n;

	ef = intr_disable();
	n = prf_format(prf_cons_emit, NULL, fmt, ap);
	intr_restore(ef);
	return n;
}

int
kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

struct prf_buf {
	char		*pb_buf;
	size_t		pb_size;
	size_t		pb_len;		/* characters produced, stored or not */
};

static void
prf_buf_emit(int c, void *arg)
{
	struct prf_buf *b = arg;

	if (b->pb_len + 1 < b->pb_size)
		b->pb_buf[b->pb_len] = (char)c;
	b->pb_len++;
}

int
kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct prf_buf b = { buf, size, 0 };
	int n;

	n = prf_format(prf_buf_emit, &b, fmt, ap);
	if (size > 0)
		buf[MIN(b.pb_len, size - 1)] = '\0';
	return n;
}

int
ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* jsoncheck.c — see jsoncheck.h.
 *
 * One pass over the bytes with an explicit stack of open containers (no
 * recursion). The keys of the open objects sit on a stack of their own with
 * an open-addressing index over them; an object's keys leave both when it
 * closes (last in, first out, which linear probing allows without
 * tombstones), so a duplicate costs one probe whatever the object's size. */
#include "jsoncheck.h"
#include "util.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STACK_KEYS = 128 };

struct frame {
    unsigned char object;  /* 1 object, 0 array */
    unsigned char current; /* a member or element is being read: it is in the path */
    size_t key_off;        /* object: the current member's key, raw, between its quotes */
    size_t key_len;
    size_t index;     /* array: the current element */
    size_t keys_base; /* object: its first key on the key stack */
};

struct key {
    uint64_t hash;   /* of the decoded code points */
    size_t off, len; /* raw text between the quotes */
    size_t slot;     /* its place in the index */
};

struct checker {
    const unsigned char *s;
    size_t len, i;
    sl_jsoncheck_error *e;
    int depth;
    struct frame frames[SL_JSONCHECK_MAX_DEPTH];
    struct key *keys; /* stack_keys, or heap once more are open at once */
    size_t nkeys, capkeys;
    size_t *index; /* 1 + position in keys, 0 = empty; nindex a power of two */
    size_t nindex;
    struct key stack_keys[STACK_KEYS];
    size_t stack_index[2 * STACK_KEYS];
};

/* ---- errors ---------------------------------------------------------- */

static size_t utf8_seq(const unsigned char *s, size_t n, const char **why);

/* A key as the path shows it: printable ASCII and valid UTF-8 as they are,
 * other bytes as \xNN (the key may be what is wrong). */
static void add_key_text(sl_fixbuf *o, const unsigned char *s, size_t len)
{
    for (size_t j = 0; j < len && o->len + 8 < o->size;) {
        const char *why;
        size_t k = s[j] >= 0x80 ? utf8_seq(s + j, len - j, &why) : 0;
        if (s[j] >= 0x20 && s[j] < 0x7f) {
            sl_fixbuf_printf(o, "%c", s[j]);
            j++;
        } else if (k) {
            sl_fixbuf_printf(o, "%.*s", (int)k, (const char *)s + j);
            j += k;
        } else {
            sl_fixbuf_printf(o, "\\x%02x", s[j]);
            j++;
        }
    }
}

__attribute__((format(printf, 3, 4))) static int fail(struct checker *c, size_t at, const char *fmt,
                                                      ...)
{
    sl_jsoncheck_error *e = c->e;
    if (!e)
        return SL_EINVAL;
    e->offset = at;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reason, sizeof e->reason, fmt, ap);
    va_end(ap);
    sl_fixbuf o = {e->path, sizeof e->path, 0};
    e->path[0] = '\0';
    for (int d = 0; d < c->depth && c->frames[d].current; d++) {
        const struct frame *f = &c->frames[d];
        if (!f->object) {
            sl_fixbuf_printf(&o, "[%zu]", f->index);
            continue;
        }
        if (o.len)
            sl_fixbuf_printf(&o, ".");
        add_key_text(&o, c->s + f->key_off, f->key_len);
    }
    if (o.len + 8 >= o.size)
        memcpy(e->path + o.size - 4, "...", 4);
    return SL_EINVAL;
}

/* "'x'" for a printable byte, else "byte 0xNN", for messages. */
static const char *show(unsigned char b, char buf[16])
{
    if (b >= 0x20 && b < 0x7f)
        snprintf(buf, 16, "'%c'", b);
    else
        snprintf(buf, 16, "byte 0x%02x", b);
    return buf;
}

/* ---- UTF-8 and strings ----------------------------------------------- */

/* The length of the well-formed UTF-8 sequence at S (N bytes left), or 0
 * with *WHY saying what is wrong (Unicode's table 3-7). */
static size_t utf8_seq(const unsigned char *s, size_t n, const char **why)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (b < 0x80)
        return 1;
    if (b < 0xc0) {
        *why = "a continuation byte where a character should start";
        return 0;
    }
    if (b < 0xc2) {
        *why = "overlong encoding";
        return 0;
    }
    if (b < 0xe0) {
        len = 2;
    } else if (b < 0xf0) {
        len = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80;
        hi = b == 0xed ? 0x9f : 0xbf;
    } else if (b < 0xf5) {
        len = 4;
        lo = b == 0xf0 ? 0x90 : 0x80;
        hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
        *why = "not a UTF-8 byte (beyond U+10FFFF)";
        return 0;
    }
    for (size_t k = 1; k < len; k++) {
        if (k >= n || s[k] < 0x80 || s[k] > 0xbf) {
            *why = "truncated sequence";
            return 0;
        }
        if (k == 1 && s[k] < lo) {
            *why = "overlong encoding";
            return 0;
        }
        if (k == 1 && s[k] > hi) {
            *why = b == 0xed ? "encodes a surrogate (U+D800..U+DFFF)" : "beyond U+10FFFF";
            return 0;
        }
    }
    return len;
}

static long hex4(const struct checker *c, size_t at)
{
    if (at + 4 > c->len)
        return -1;
    long v = 0;
    for (size_t k = at; k < at + 4; k++) {
        unsigned char h = c->s[k];
        int d = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Four hex digits already checked. */
static uint32_t hex_value(const unsigned char *h)
{
    uint32_t u = 0;
    for (int k = 0; k < 4; k++)
        u = u * 16 + (uint32_t)(h[k] <= '9' ? h[k] - '0' : (h[k] | 0x20) - 'a' + 10);
    return u;
}

/* The code point at *I of a string already checked, moving *I past it. */
static uint32_t next_cp(const unsigned char *s, size_t *i)
{
    unsigned char b = s[*i];
    if (b == '\\') {
        unsigned char x = s[*i + 1];
        *i += 2;
        switch (x) {
        case 'b':
            return 8;
        case 'f':
            return 12;
        case 'n':
            return 10;
        case 'r':
            return 13;
        case 't':
            return 9;
        case 'u': {
            uint32_t u = hex_value(s + *i);
            *i += 4;
            if (u >= 0xd800 && u <= 0xdbff) { /* checked: a low surrogate follows */
                uint32_t lo = hex_value(s + *i + 2);
                *i += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
            return u;
        }
        default:
            return x; /* " \ / */
        }
    }
    if (b < 0x80) {
        (*i)++;
        return b;
    }
    size_t len = b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
    uint32_t cp = b & (0x7f >> len);
    for (size_t k = 1; k < len; k++)
        cp = (cp << 6) | (s[*i + k] & 0x3f);
    *i += len;
    return cp;
}

/* Checks the string whose opening quote is at c->i and moves past its
 * closing quote. */
static int scan_string(struct checker *c)
{
    size_t start = c->i++;
    char buf[16];
    for (;;) {
        if (c->i >= c->len)
            return fail(c, start, "unterminated string");
        unsigned char b = c->s[c->i];
        if (b == '"') {
            c->i++;
            return 0;
        }
        if (b == '\\') {
            if (c->i + 1 >= c->len)
                return fail(c, start, "unterminated string");
            unsigned char x = c->s[c->i + 1];
            if (x == 'u') {
                long u = hex4(c, c->i + 2);
                if (u < 0)
                    return fail(c, c->i, "\\u must be followed by four hex digits");
                if (u == 0)
                    return fail(c, c->i,
                                "\\u0000 (NUL) in a string: refused, it would cut the string");
                if (u >= 0xdc00 && u <= 0xdfff)
                    return fail(c, c->i, "lone low surrogate \\u%04lx", u);
                if (u >= 0xd800 && u <= 0xdbff) {
                    size_t j = c->i + 6;
                    long lo = j + 1 < c->len && c->s[j] == '\\' && c->s[j + 1] == 'u'
                                  ? hex4(c, j + 2)
                                  : -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(c, c->i,
                                    "lone high surrogate \\u%04lx (a low surrogate "
                                    "\\udc00..\\udfff must follow)",
                                    u);
                    c->i += 12;
                } else {
                    c->i += 6;
                }
                continue;
            }
            if (x && strchr("\"\\/bfnrt", x)) {
                c->i += 2;
                continue;
            }
            return fail(c, c->i, "invalid escape: \\ followed by %s", show(x, buf));
        }
        if (b == 0)
            return fail(c, c->i, "NUL byte in a string");
        if (b < 0x20)
            return fail(c, c->i,
                        "unescaped control character 0x%02x in a string (write it as \\u%04x)", b,
                        b);
        if (b < 0x80) {
            c->i++;
            continue;
        }
        const char *why;
        size_t n = utf8_seq(c->s + c->i, c->len - c->i, &why);
        if (!n)
            return fail(c, c->i, "invalid UTF-8: %s (byte 0x%02x)", why, b);
        c->i += n;
    }
}

/* ---- numbers --------------------------------------------------------- */

/* A decimal value: 0.DIGITS x 10^EXP, DIGITS without leading or trailing
 * zeros (none: the value is zero, whatever its sign). */
struct decimal {
    int neg;
    char digits[72];
    int ndigits;
    long exp;
};

/* Reads a number as JSON or printf writes it (no "null"). */
static void decimal_of(const char *t, struct decimal *d)
{
    memset(d, 0, sizeof *d);
    if (*t == '-' || *t == '+')
        d->neg = *t++ == '-';
    long point = 0;
    int seen_point = 0;
    for (; (*t >= '0' && *t <= '9') || *t == '.'; t++) {
        if (*t == '.') {
            seen_point = 1;
            continue;
        }
        if (!seen_point)
            point++;
        if (d->ndigits == 0 && *t == '0') {
            point--; /* a leading zero */
            continue;
        }
        if (d->ndigits < (int)sizeof d->digits - 1)
            d->digits[d->ndigits++] = *t;
    }
    long x = 0;
    if (*t == 'e' || *t == 'E') {
        int xneg = *++t == '-';
        if (*t == '-' || *t == '+')
            t++;
        for (; *t >= '0' && *t <= '9'; t++)
            x = x < 100000 ? x * 10 + (*t - '0') : x;
        x = xneg ? -x : x;
    }
    while (d->ndigits && d->digits[d->ndigits - 1] == '0')
        d->ndigits--;
    d->digits[d->ndigits] = '\0';
    d->exp = d->ndigits ? point + x : 0;
    if (!d->ndigits)
        d->neg = 0;
}

static int same_value(const char *a, const char *b)
{
    struct decimal x, y;
    decimal_of(a, &x);
    decimal_of(b, &y);
    return x.neg == y.neg && x.exp == y.exp && !strcmp(x.digits, y.digits);
}

/* What cJSON 1.7.15's print_number writes for the number TEXT as its
 * parse_number reads it (strtod). */
static void print_like_cjson(const char *text, char *out, size_t outlen)
{
    double d = strtod(text, NULL);
    if (isnan(d) || isinf(d)) {
        snprintf(out, outlen, "null");
        return;
    }
    snprintf(out, outlen, "%1.15g", d);
    double test;
    /* cJSON's compare_double: equal within a relative DBL_EPSILON */
    if (sscanf(out, "%lg", &test) != 1 || fabs(test - d) > fmax(fabs(test), fabs(d)) * DBL_EPSILON)
        snprintf(out, outlen, "%1.17g", d);
}

/* Checks the number at c->i and moves past it. */
static int scan_number(struct checker *c)
{
    const unsigned char *s = c->s;
    size_t start = c->i, i = c->i, n = c->len;
    int plain = 1; /* no fraction, no exponent */
    if (s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return fail(c, start, "'-' must be followed by a digit");
    if (s[i] == '0') {
        if (++i < n && s[i] >= '0' && s[i] <= '9')
            return fail(c, start, "a number must not start with 0 followed by digits");
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    size_t int_digits = i - start - (s[start] == '-');
    if (i < n && s[i] == '.') {
        plain = 0;
        if (++i >= n || s[i] < '0' || s[i] > '9')
            return fail(c, i, "expected a digit after the decimal point");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        plain = 0;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return fail(c, i, "expected a digit in the exponent");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    c->i = i;
    size_t len = i - start;
    if (len > SL_JSONCHECK_MAX_NUMBER)
        return fail(c, start, "a number of %zu characters (at most %d)", len,
                    SL_JSONCHECK_MAX_NUMBER);
    if (plain && int_digits <= 9)
        return 0; /* fits an int: cJSON keeps it exactly */
    char text[SL_JSONCHECK_MAX_NUMBER + 1], printed[40];
    memcpy(text, s + start, len);
    text[len] = '\0';
    print_like_cjson(text, printed, sizeof printed);
    if (!strcmp(printed, "null"))
        return fail(c, start, "number %s is out of range (it would be stored as null)", text);
    if (!same_value(text, printed))
        return fail(c, start,
                    "number %s would be stored as %s (beyond a double's precision: send big "
                    "ids as strings)",
                    text, printed);
    return 0;
}

/* ---- keys ------------------------------------------------------------ */

static uint64_t key_hash(const unsigned char *s, size_t off, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = off; i < off + len;)
        h = (h ^ next_cp(s, &i)) * 1099511628211ull;
    return h;
}

static int key_equal(const unsigned char *s, const struct key *a, const struct key *b)
{
    if (a->hash != b->hash)
        return 0;
    size_t i = a->off, j = b->off;
    while (i < a->off + a->len && j < b->off + b->len)
        if (next_cp(s, &i) != next_cp(s, &j))
            return 0;
    return i == a->off + a->len && j == b->off + b->len;
}

static void index_put(struct checker *c, size_t pos)
{
    size_t mask = c->nindex - 1, at = c->keys[pos].hash & mask;
    while (c->index[at])
        at = (at + 1) & mask;
    c->index[at] = pos + 1;
    c->keys[pos].slot = at;
}

/* Room for one more key (memory only past STACK_KEYS open keys). */
static void grow(struct checker *c)
{
    if (c->nkeys < c->capkeys)
        return;
    c->capkeys *= 2;
    if (c->keys == c->stack_keys) {
        c->keys = sl_malloc(c->capkeys * sizeof *c->keys);
        memcpy(c->keys, c->stack_keys, sizeof c->stack_keys);
    } else {
        c->keys = sl_realloc(c->keys, c->capkeys * sizeof *c->keys);
    }
    if (c->index != c->stack_index)
        free(c->index);
    c->nindex = 2 * c->capkeys;
    c->index = sl_calloc(c->nindex, sizeof *c->index);
    for (size_t k = 0; k < c->nkeys; k++)
        index_put(c, k); /* in stack order, so later removals stay last in, first out */
}

/* Reads the member key at c->i of the object F, refuses one it has
 * already, and moves past the ':' and the white space after it. */
static int skip_ws(struct checker *c);

static int member_key(struct checker *c, struct frame *f)
{
    char buf[16];
    if (c->i >= c->len)
        return fail(c, c->i, "unexpected end: expected a member name in quotes");
    if (c->s[c->i] != '"')
        return fail(c, c->i, "expected a member name in quotes, got %s", show(c->s[c->i], buf));
    size_t start = c->i;
    if (scan_string(c))
        return SL_EINVAL;
    f->current = 1;
    f->key_off = start + 1;
    f->key_len = c->i - start - 2;
    grow(c);
    struct key k = {key_hash(c->s, f->key_off, f->key_len), f->key_off, f->key_len, 0};
    size_t mask = c->nindex - 1;
    for (size_t at = k.hash & mask; c->index[at]; at = (at + 1) & mask) {
        const struct key *o = &c->keys[c->index[at] - 1];
        if (c->index[at] - 1 >= f->keys_base && key_equal(c->s, o, &k))
            return fail(c, start, "duplicate member name (first at byte %zu)", o->off - 1);
    }
    c->keys[c->nkeys] = k;
    index_put(c, c->nkeys++);
    if (skip_ws(c))
        return SL_EINVAL;
    if (c->i >= c->len || c->s[c->i] != ':')
        return fail(c, c->i, "expected ':' after the member name");
    c->i++;
    return skip_ws(c);
}

/* ---- structure ------------------------------------------------------- */

/* Skips JSON white space; any other control byte is refused (cJSON would
 * skip it silently). */
static int skip_ws(struct checker *c)
{
    while (c->i < c->len) {
        unsigned char b = c->s[c->i];
        if (b == ' ' || b == '\t' || b == '\n' || b == '\r')
            c->i++;
        else if (b == 0)
            return fail(c, c->i, "NUL byte outside a string");
        else if (b < 0x20 || b == 0x7f)
            return fail(c, c->i, "control character 0x%02x outside a string", b);
        else
            break;
    }
    return 0;
}

static void pop(struct checker *c)
{
    struct frame *f = &c->frames[--c->depth];
    if (!f->object)
        return;
    while (c->nkeys > f->keys_base)
        c->index[c->keys[--c->nkeys].slot] = 0;
}

/* Reads the start of a value at c->i. Returns 1 when a container opened and
 * its first value comes next, 0 when a whole value was read, or SL_EINVAL. */
static int open_value(struct checker *c)
{
    char buf[16];
    if (c->i >= c->len)
        return fail(c, c->i, "unexpected end: a value is missing");
    unsigned char b = c->s[c->i];
    if (b == '{' || b == '[') {
        if (c->depth == SL_JSONCHECK_MAX_DEPTH)
            return fail(c, c->i, "nested deeper than %d levels", SL_JSONCHECK_MAX_DEPTH);
        struct frame *f = &c->frames[c->depth++];
        *f = (struct frame){.object = b == '{', .keys_base = c->nkeys};
        c->i++;
        if (skip_ws(c))
            return SL_EINVAL;
        if (c->i < c->len && c->s[c->i] == (b == '{' ? '}' : ']')) {
            c->i++;
            pop(c);
            return 0;
        }
        if (!f->object) {
            f->current = 1;
            return 1;
        }
        return member_key(c, f) ? SL_EINVAL : 1;
    }
    if (b == '"')
        return scan_string(c);
    if (b == '-' || (b >= '0' && b <= '9'))
        return scan_number(c);
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(words[k]);
        if (b != words[k][0])
            continue;
        if (c->len - c->i < n || memcmp(c->s + c->i, words[k], n))
            return fail(c, c->i, "expected %s", words[k]);
        c->i += n;
        return 0;
    }
    return fail(c, c->i, "expected a value, got %s", show(b, buf));
}

/* After a value: closes the containers that end here. Returns 1 when
 * another value comes next, 0 at the end of the document, or SL_EINVAL. */
static int after_value(struct checker *c)
{
    char buf[16];
    for (;;) {
        if (c->depth)
            c->frames[c->depth - 1].current = 0;
        if (skip_ws(c))
            return SL_EINVAL;
        if (c->depth == 0) {
            if (c->i == c->len)
                return 0;
            if (c->s[c->i] == '{' || c->s[c->i] == '[')
                return fail(c, c->i, "a second JSON value after the first (one value only)");
            return fail(c, c->i, "data after the JSON value: %s", show(c->s[c->i], buf));
        }
        struct frame *f = &c->frames[c->depth - 1];
        char close = f->object ? '}' : ']';
        if (c->i >= c->len)
            return fail(c, c->i, "unexpected end: '%c' missing", close);
        unsigned char b = c->s[c->i];
        if (b == close) {
            c->i++;
            pop(c);
            continue;
        }
        if (b != ',')
            return fail(c, c->i, "expected ',' or '%c', got %s", close, show(b, buf));
        c->i++;
        if (skip_ws(c))
            return SL_EINVAL;
        if (f->object)
            return member_key(c, f) ? SL_EINVAL : 1;
        f->index++;
        f->current = 1;
        return 1;
    }
}

int sl_jsoncheck(const char *text, size_t len, sl_jsoncheck_error *e)
{
    struct checker c;
    c.s = (const unsigned char *)text;
    c.len = len;
    c.i = 0;
    c.e = e;
    c.depth = 0;
    c.keys = c.stack_keys;
    c.nkeys = 0;
    c.capkeys = STACK_KEYS;
    c.index = c.stack_index;
    c.nindex = 2 * STACK_KEYS;
    memset(c.stack_index, 0, sizeof c.stack_index);
    int rc = skip_ws(&c);
    if (!rc && c.i == len)
        rc = fail(&c, c.i, "no JSON value (empty)");
    while (!rc) {
        int r = open_value(&c);
        if (r == 1)
            continue;
        if (r == 0 && (r = after_value(&c)) == 1)
            continue;
        rc = r;
        break;
    }
    if (c.keys != c.stack_keys)
        free(c.keys);
    if (c.index != c.stack_index)
        free(c.index);
    return rc < 0 ? SL_EINVAL : 0;
}

void sl_jsoncheck_format(const sl_jsoncheck_error *e, const char *prefix, char *out, size_t outlen)
{
    const char *p = e->path;
    int pre = prefix && prefix[0];
    snprintf(out, outlen, "%s%s%s: %s (at byte %zu)", pre ? prefix : "",
             pre && p[0] && p[0] != '[' ? "." : "", pre || p[0] ? p : "(document)", e->reason,
             e->offset);
}

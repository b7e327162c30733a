/* util.c — see util.h. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

const char *sl_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case SL_EINVAL:
        return "invalid input";
    case SL_EREDIS:
        return "redis error";
    case SL_ENOENT:
        return "not found";
    case SL_ESTATE:
        return "wrong state";
    case SL_EIO:
        return "i/o error";
    case SL_ETOOBIG:
        return "too big";
    default:
        return "unknown error";
    }
}

static void oom(size_t n)
{
    fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sl_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *sl_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *sl_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *sl_strdup(const char *s)
{
    return sl_strndup(s, strlen(s));
}

char *sl_strndup(const char *s, size_t n)
{
    char *p = sl_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t sl_strlcpy(char *dst, const char *src, size_t dst_size)
{
    size_t n = strlen(src);
    if (dst_size) {
        size_t m = n < dst_size - 1 ? n : dst_size - 1;
        memcpy(dst, src, m);
        dst[m] = '\0';
    }
    return n;
}

void sl_buf_reserve(sl_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = sl_realloc(b->data, cap);
    b->cap = cap;
}

void sl_buf_append(sl_buf *b, const void *p, size_t n)
{
    sl_buf_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sl_buf_puts(sl_buf *b, const char *s)
{
    sl_buf_append(b, s, strlen(s));
}

void sl_buf_printf(sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_buf_reserve(b, 64);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        sl_buf_reserve(b, n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += n;
}

void sl_fixbuf_printf(sl_fixbuf *b, const char *fmt, ...)
{
    if (b->size == 0 || b->len + 1 >= b->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len = b->len + (size_t)n < b->size ? b->len + (size_t)n : b->size - 1;
}

void sl_buf_json_str(sl_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sl_buf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            if (b->len + 2 >= b->cap)
                sl_buf_reserve(b, n - i + 8);
            b->data[b->len++] = (char)c;
            continue;
        }
        char esc[7];
        size_t k = 2;
        esc[0] = '\\';
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            k = 6;
        }
        sl_buf_reserve(b, k + (n - i) + 2);
        memcpy(b->data + b->len, esc, k);
        b->len += k;
    }
    sl_buf_reserve(b, 1);
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

void sl_buf_reset(sl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sl_buf_deinit(sl_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int64_t sl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sl_realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sl_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Ids: 48-bit ms time in 10 base32 digits, then 80 bits in 16 digits. Within
 * one process the random part is incremented when the clock has not moved,
 * so ids stay strictly increasing (and unique) at any rate. */
void sl_id_new(char *out)
{
    static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    static int64_t last_ms;
    static uint8_t rnd[10];
    int64_t ms = sl_now_ms();
    if (ms <= last_ms) {
        ms = last_ms;
        for (int i = 9; i >= 0 && ++rnd[i] == 0; i--)
            ;
    } else {
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            for (size_t i = 0; i < sizeof rnd; i++)
                rnd[i] = (uint8_t)(rand() ^ (ms >> (i % 6)));
        }
        rnd[0] &= 0x7f; /* leave room so increments within a ms never wrap */
        last_ms = ms;
    }
    for (int i = 9; i >= 0; i--) {
        out[i] = digits[ms & 31];
        ms >>= 5;
    }
    /* 80 bits = 16 groups of 5 */
    for (int i = 0; i < 16; i++) {
        int bit = i * 5, byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)rnd[byte] << 8 | (byte + 1 < 10 ? rnd[byte + 1] : 0);
        out[10 + i] = digits[(v >> (11 - off)) & 31];
    }
    out[SL_ID_LEN] = '\0';
}

char *sl_read_file(const char *path, size_t *len_out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    sl_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sl_buf_append(&b, chunk, n);
    int err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (err) {
        sl_buf_deinit(&b);
        errno = EIO;
        return NULL;
    }
    if (!b.data)
        b.data = sl_strdup("");
    if (len_out)
        *len_out = b.len;
    return b.data;
}

void sl_process_id(char *out, size_t outlen, const char *given)
{
    if (given) {
        sl_strlcpy(out, given, outlen);
        return;
    }
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(out, outlen, "%s-%d-%04x", host, (int)getpid(), rand() & 0xffff);
}

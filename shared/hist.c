/* hist.c — see hist.h. */
#include "hist.h"

#include <string.h>

int sl_hist_bucket(int64_t ms)
{
    if (ms < 32)
        return ms < 0 ? 0 : (int)ms;
    int e = 63 - __builtin_clzll((unsigned long long)ms); /* 2^e <= ms, e >= 5 */
    int b = 32 + (e - 5) * 16 + (int)((ms >> (e - 4)) & 15);
    return b < SL_HIST_BUCKETS ? b : SL_HIST_BUCKETS - 1;
}

double sl_hist_value(int bucket)
{
    if (bucket < 32)
        return bucket;
    int e = (bucket - 32) / 16 + 5, sub = (bucket - 32) % 16;
    double width = (double)(1LL << (e - 4));
    return (double)(1LL << e) + sub * width + width / 2;
}

void sl_hist_add(sl_hist *h, int64_t ms)
{
    h->n[sl_hist_bucket(ms)]++;
    h->total++;
}

void sl_hist_merge(sl_hist *into, const sl_hist *from)
{
    for (int i = 0; i < SL_HIST_BUCKETS; i++)
        into->n[i] += from->n[i];
    into->total += from->total;
}

double sl_hist_quantile(const sl_hist *h, double p)
{
    if (!h->total)
        return -1;
    /* the smallest value with at least P of the counts at or below it */
    uint64_t rank = (uint64_t)(p * (double)h->total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < SL_HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank)
            return sl_hist_value(i);
    }
    return sl_hist_value(SL_HIST_BUCKETS - 1);
}

size_t sl_hist_encoded_size(const sl_hist *h)
{
    size_t n = 0;
    for (int i = 0; i < SL_HIST_BUCKETS; i++)
        n += h->n[i] != 0;
    return n * 6;
}

size_t sl_hist_encode(const sl_hist *h, unsigned char *out)
{
    size_t k = 0;
    for (int i = 0; i < SL_HIST_BUCKETS; i++) {
        uint32_t c = h->n[i];
        if (!c)
            continue;
        out[k++] = (unsigned char)(i & 0xff);
        out[k++] = (unsigned char)(i >> 8);
        for (int s = 0; s < 32; s += 8)
            out[k++] = (unsigned char)(c >> s);
    }
    return k;
}

int sl_hist_decode_add(sl_hist *h, const void *blob, size_t len)
{
    const unsigned char *p = blob;
    if (len % 6)
        return -1;
    for (size_t k = 0; k < len; k += 6) {
        int i = p[k] | p[k + 1] << 8;
        uint32_t c = (uint32_t)p[k + 2] | (uint32_t)p[k + 3] << 8 | (uint32_t)p[k + 4] << 16 |
                     (uint32_t)p[k + 5] << 24;
        if (i >= SL_HIST_BUCKETS)
            return -1;
        h->n[i] += c;
        h->total += c;
    }
    return 0;
}

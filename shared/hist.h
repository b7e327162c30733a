/* hist.h — a log-bucket histogram of milliseconds, for the archive's
 * per-minute percentiles (run and wait time). Values below 32 ms have a
 * bucket each; above, every power of two is cut into 16 buckets, so a
 * percentile read back is within 1/32 (3%) of the true value. Histograms
 * add: the percentiles of one minute stay right however many batches (or
 * schedulers, across a failover) its ends arrive in, because each batch
 * merges its counts into the minute's stored histogram and the
 * percentiles are computed again from the sum. Stored sparse, as
 * (uint16 bucket, uint32 count) pairs, little-endian. */
#ifndef SL_HIST_H
#define SL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define SL_HIST_BUCKETS 608 /* up to 2^41 ms */

typedef struct sl_hist {
    uint32_t n[SL_HIST_BUCKETS];
    uint64_t total;
} sl_hist;

/* The bucket of MS (negative counts as 0). */
int sl_hist_bucket(int64_t ms);
/* The value a bucket stands for: its middle. */
double sl_hist_value(int bucket);

void sl_hist_add(sl_hist *h, int64_t ms);
void sl_hist_merge(sl_hist *into, const sl_hist *from);
/* The P quantile (0 < P <= 1) in ms; -1 when H is empty. */
double sl_hist_quantile(const sl_hist *h, double p);

/* Bytes sl_hist_encode writes for H. */
size_t sl_hist_encoded_size(const sl_hist *h);
/* Writes H sparse into OUT (sl_hist_encoded_size bytes); returns the size. */
size_t sl_hist_encode(const sl_hist *h, unsigned char *out);
/* Adds the histogram encoded in BLOB (LEN bytes) to H. Returns 0, or -1 when
 * BLOB is malformed (H is left with what was read before the fault). */
int sl_hist_decode_add(sl_hist *h, const void *blob, size_t len);

#endif

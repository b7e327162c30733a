/* limits.h — the rate-limit arithmetic, with no locking and no I/O.
 *
 * Every limit here is a fixed window that opens at the first request after
 * the previous window ended (Discord's buckets behave so; the global limit
 * and Telegram's limits are modelled the same way). Only requests that pass
 * are counted: a refused request does not push the window further out, so a
 * client that waits exactly as long as it was told never sees a second 429.
 * Windows are tracked even when a limit is off, for the "max" statistics. */
#ifndef FAKE_LIMITS_H
#define FAKE_LIMITS_H

#include <stdint.h>

typedef struct fake_window {
    int64_t start_ms; /* wall-clock ms of the window's first request; 0 = none */
    int count;        /* requests passed in the current window */
    int max;          /* the most passed in any one window so far */
} fake_window;

/* Milliseconds until W lets one more request through at NOW, under LIMIT
 * requests per SPAN_MS; 0 when it may pass now, always 0 when LIMIT is 0. */
int64_t fake_window_wait(const fake_window *w, int64_t now, int limit, int64_t span_ms);

/* Counts one passed request at NOW, opening a new window when the current
 * one has ended. */
void fake_window_take(fake_window *w, int64_t now, int64_t span_ms);

/* Requests left in the window at NOW (LIMIT when it has ended). */
int fake_window_remaining(const fake_window *w, int64_t now, int limit, int64_t span_ms);

/* Wall-clock ms at which the current window ends (NOW + SPAN_MS when none
 * is open, as the next request would open one). */
int64_t fake_window_reset_ms(const fake_window *w, int64_t now, int64_t span_ms);

/* Discord's invalid-request limit: 401, 403 and 429 answers per token over
 * the last ten minutes, kept as 60 slots of 10 s (a sliding sum that is
 * never more than 10 s out). */
#define FAKE_INVALID_SLOTS 60
#define FAKE_INVALID_SLOT_MS 10000
typedef struct fake_invalid {
    int64_t slot[FAKE_INVALID_SLOTS]; /* which 10-s slot each counter is for */
    uint32_t count[FAKE_INVALID_SLOTS];
    uint64_t total;
} fake_invalid;

void fake_invalid_add(fake_invalid *iv, int64_t now);
/* Invalid requests in the last ten minutes (to slot precision). */
uint64_t fake_invalid_recent(const fake_invalid *iv, int64_t now);

/* A stable opaque bucket hash for a route name: 32 hex digits into OUT. */
void fake_bucket_hash(const char *route, char out[33]);

#endif

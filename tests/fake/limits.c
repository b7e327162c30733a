/* limits.c — see limits.h. */
#include "limits.h"

#include <stdio.h>
#include <string.h>

static int window_open(const fake_window *w, int64_t now, int64_t span_ms)
{
    return w->start_ms != 0 && now < w->start_ms + span_ms;
}

int64_t fake_window_wait(const fake_window *w, int64_t now, int limit, int64_t span_ms)
{
    if (limit <= 0 || !window_open(w, now, span_ms) || w->count < limit)
        return 0;
    return w->start_ms + span_ms - now;
}

void fake_window_take(fake_window *w, int64_t now, int64_t span_ms)
{
    if (!window_open(w, now, span_ms)) {
        /* a clock that stepped back could make now < start; any value > 0
         * works as a start, so take now as it is */
        w->start_ms = now > 0 ? now : 1;
        w->count = 0;
    }
    w->count++;
    if (w->count > w->max)
        w->max = w->count;
}

int fake_window_remaining(const fake_window *w, int64_t now, int limit, int64_t span_ms)
{
    if (!window_open(w, now, span_ms))
        return limit;
    return w->count >= limit ? 0 : limit - w->count;
}

int64_t fake_window_reset_ms(const fake_window *w, int64_t now, int64_t span_ms)
{
    return window_open(w, now, span_ms) ? w->start_ms + span_ms : now + span_ms;
}

void fake_invalid_add(fake_invalid *iv, int64_t now)
{
    int64_t slot = now / FAKE_INVALID_SLOT_MS;
    int i = (int)(slot % FAKE_INVALID_SLOTS);
    if (iv->slot[i] != slot) {
        iv->slot[i] = slot;
        iv->count[i] = 0;
    }
    iv->count[i]++;
    iv->total++;
}

uint64_t fake_invalid_recent(const fake_invalid *iv, int64_t now)
{
    int64_t slot = now / FAKE_INVALID_SLOT_MS;
    uint64_t n = 0;
    for (int i = 0; i < FAKE_INVALID_SLOTS; i++)
        if (iv->count[i] && iv->slot[i] > slot - FAKE_INVALID_SLOTS)
            n += iv->count[i];
    return n;
}

void fake_bucket_hash(const char *route, char out[33])
{
    /* two FNV-1a passes with different offsets: 128 bits look like
     * Discord's bucket ids and never collide for our dozen routes */
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x84222325cbf29ce4ULL;
    for (const char *s = route; *s; s++) {
        h1 = (h1 ^ (unsigned char)*s) * 1099511628211ULL;
        h2 = (h2 ^ (unsigned char)*s) * 1099511628211ULL;
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

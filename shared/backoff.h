/* backoff.h — retry delays: exponential with full jitter (AWS architecture
 * blog's "full jitter": sleep = random(0, min(cap, base * 2^attempt))). */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdint.h>

typedef struct sl_backoff {
    int64_t base_ms; /* ceiling of the first retry's delay */
    int64_t max_ms;  /* no delay is ever longer */
} sl_backoff;

/* The ceiling for the retry after failed attempt ATTEMPT (1 = first failure):
 * min(max_ms, base_ms * 2^(attempt-1)), without overflow. */
int64_t sl_backoff_ceiling(const sl_backoff *b, int attempt);

/* A delay in [0, ceiling] drawn with RAND01 (a uniform value in [0, 1)). A
 * delay below 1/10 of the ceiling is raised to it, so a retry storm after an
 * outage is still spread out rather than landing at once. */
int64_t sl_backoff_delay(const sl_backoff *b, int attempt, double rand01);

#endif

/* backoff.h — how long to wait before trying again, for the two things in
 * Sluice that do:
 *
 *   sl_backoff_retry_*      a job after a failed attempt (worker/run.c):
 *                           exponential with full jitter, bounds from the
 *                           worker's --backoff-base-ms and --backoff-max-ms
 *   sl_backoff_reconnect_*  a Redis connection after a failed connect or a
 *                           lost connection (rconn.c): exponential from 0.1 s
 *                           to 5 s, half of it jittered
 *
 * Jitter spreads a crowd out: jobs that failed together, or the workers of
 * a fleet that all lost Redis when it restarted, do not all come back in
 * the same instant. Pure arithmetic: the caller draws the random number. */
#ifndef SL_BACKOFF_H
#define SL_BACKOFF_H

#include <stdint.h>

/* --- a job's retries --------------------------------------------------- */

/* AWS architecture blog's "full jitter":
 * sleep = random(0, min(cap, base * 2^attempt)). */
typedef struct sl_backoff_retry {
    int64_t base_ms; /* ceiling of the first retry's delay */
    int64_t max_ms;  /* no delay is ever longer */
} sl_backoff_retry;

/* The ceiling for the retry after failed attempt ATTEMPT (1 = first failure):
 * min(max_ms, base_ms * 2^(attempt-1)), without overflow. */
int64_t sl_backoff_retry_ceiling(const sl_backoff_retry *b, int attempt);

/* A delay in [0, ceiling] drawn with RAND01 (a uniform value in [0, 1)). A
 * delay below 1/10 of the ceiling is raised to it, so a retry storm after an
 * outage is still spread out rather than landing at once. */
int64_t sl_backoff_retry_delay(const sl_backoff_retry *b, int attempt, double rand01);

/* --- reconnecting to Redis --------------------------------------------- */

#define SL_BACKOFF_RECONNECT_BASE_S 0.1 /* ceiling of the first wait */
#define SL_BACKOFF_RECONNECT_MAX_S 5.0  /* no wait is ever longer */

/* The ceiling of the wait after FAILURES failures in a row (1 = the
 * connection just went down, or the first connect failed):
 * min(MAX_S, BASE_S * 2^(failures-1)); below 1 counts as 1. */
double sl_backoff_reconnect_ceiling(int failures);

/* A wait in [ceiling / 2, ceiling] drawn with RAND01 (a uniform value in
 * [0, 1); others are clamped): never shorter than half the ceiling, so a
 * Redis that refuses connections is not asked in a tight loop. */
double sl_backoff_reconnect_delay(int failures, double rand01);

#endif

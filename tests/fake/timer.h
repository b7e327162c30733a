/* timer.h — a min-heap of callbacks by due time: how the fake adds latency
 * without sleeping. A handler suspends its connection and hands "resume it"
 * to the timer; the server thread, which owns both MHD and the timer, runs
 * what is due between its polls. Not thread-safe: one thread uses it. */
#ifndef FAKE_TIMER_H
#define FAKE_TIMER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fake_timer fake_timer;
typedef void (*fake_timer_fn)(void *arg);

fake_timer *fake_timer_new(void);

/* FN(ARG) is to run once the monotonic clock (sl_monotonic_us) reaches
 * DUE_US; entries with the same due time run in the order added. */
void fake_timer_add(fake_timer *t, int64_t due_us, fake_timer_fn fn, void *arg);

/* The earliest due time, or -1 when nothing is waiting. */
int64_t fake_timer_next(const fake_timer *t);

/* Runs every entry due at NOW_US (every entry at all when NOW_US is
 * INT64_MAX), in due order; entries added by a callback wait for the next
 * call. Returns how many ran. */
size_t fake_timer_run(fake_timer *t, int64_t now_us);

/* Frees; entries still waiting are dropped without being run. */
void fake_timer_free(fake_timer *t);

#endif

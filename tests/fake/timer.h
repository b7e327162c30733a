/* timer.h — one thread that runs callbacks at their due time: how the fake
 * adds latency without sleeping in a handler thread. A handler suspends its
 * connection and hands "resume it" to the timer; the timer thread calls that
 * back from a min-heap ordered by due time. */
#ifndef FAKE_TIMER_H
#define FAKE_TIMER_H

#include <stdint.h>

typedef struct fake_timer fake_timer;
typedef void (*fake_timer_fn)(void *arg);

/* Starts the thread. Returns NULL (with errno set) when it cannot start. */
fake_timer *fake_timer_new(void);

/* Runs FN(ARG) on the timer thread once the monotonic clock (sl_monotonic_us)
 * reaches DUE_US; entries with the same due time run in the order added.
 * Returns 0, or -1 once fake_timer_stop has begun: then FN is never called
 * and the caller must do the work itself. */
int fake_timer_add(fake_timer *t, int64_t due_us, fake_timer_fn fn, void *arg);

/* Runs every pending callback now, whatever its due time, refuses new ones,
 * and joins the thread. Safe to call more than once. */
void fake_timer_stop(fake_timer *t);

/* Stops (if needed) and frees. NULL does nothing. */
void fake_timer_free(fake_timer *t);

#endif

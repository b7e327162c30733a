/* pool.h — a small fixed pool of threads for CPU-heavy work (rendering a
 * PDF), so that nothing heavy runs on the event loop. Work goes to the
 * threads through a FIFO under a mutex; each finished item comes back to the
 * loop through one ev_async, and its done callback runs there.
 *
 *   sl_pool_work w = {0};                  embedded in the caller's state
 *   w.data = state;
 *   sl_pool_submit(pool, &w, run, done);   never blocks the loop
 *   run(&w)          on a pool thread: touch only what W reaches, no loop
 *   done(&w, 0)      later, on the loop, exactly once
 *
 * The loop side (submit, cancel, free, done callbacks) is single-threaded:
 * all on the loop's thread. */
#ifndef SL_POOL_H
#define SL_POOL_H

#include <ev.h>

typedef struct sl_pool sl_pool;
typedef struct sl_pool_work sl_pool_work;

typedef void sl_pool_run_fn(sl_pool_work *w);
/* STATUS 0: run() ran. SL_ESTATE: the pool was freed before it could run. */
typedef void sl_pool_done_fn(sl_pool_work *w, int status);

struct sl_pool_work {
    void *data; /* the caller's */
    /* the pool's */
    sl_pool_run_fn *run;
    sl_pool_done_fn *done;
    sl_pool_work *next;
    int state;
};

/* A pool of THREADS threads (1..64) reporting to LOOP, which must outlive
 * it. The threads block every signal (the loop handles them). Returns NULL
 * when a thread cannot be started (nothing is left running). An idle pool
 * does not keep ev_run going; one with work in it does. */
sl_pool *sl_pool_new(struct ev_loop *loop, int threads);

/* Waits for the items running now to end, then calls done for every item
 * not yet reported: 0 for those that ran, SL_ESTATE for those that never
 * started; joins the threads and frees P. Not from inside a done callback.
 * NULL does nothing. */
void sl_pool_free(sl_pool *p);

/* Queues W to run RUN on a pool thread, then DONE on the loop. Returns 0 and
 * calls DONE exactly once later (never inside this call); W must stay valid
 * until then. Never blocks beyond a short mutex hold. */
int sl_pool_submit(sl_pool *p, sl_pool_work *w, sl_pool_run_fn *run, sl_pool_done_fn *done);

/* Takes W out of the queue if no thread has started it: returns 0 and DONE
 * will not be called. Returns SL_ESTATE when it is running or has run (DONE
 * is still to come). */
int sl_pool_cancel(sl_pool *p, sl_pool_work *w);

/* Items submitted whose done callback has not run yet. */
int sl_pool_pending(const sl_pool *p);

/* Pool threads. */
int sl_pool_threads(const sl_pool *p);

#endif

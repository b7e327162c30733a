/* Unit tests: the thread pool (shared/pool.c): work runs off the loop's
 * thread, every done callback runs once on the loop, an idle pool does not
 * keep the loop running, queued work can be cancelled, and freeing the pool
 * reports what never ran. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

#include "pool.h"
#include "util.h"

struct item {
    sl_pool_work w;
    pthread_t ran_on;
    int runs, dones, status;
    sem_t *gate; /* when set, run() waits on it */
};

static pthread_t loop_thread;
static int done_total;

static void run_cb(sl_pool_work *w)
{
    struct item *it = w->data;
    if (it->gate)
        sem_wait(it->gate);
    it->ran_on = pthread_self();
    __atomic_add_fetch(&it->runs, 1, __ATOMIC_RELEASE);
}

static void done_cb(sl_pool_work *w, int status)
{
    struct item *it = w->data;
    assert_true(pthread_equal(pthread_self(), loop_thread));
    it->dones++;
    it->status = status;
    done_total++;
}

static void runs_everything_once(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    loop_thread = pthread_self();
    done_total = 0;
    sl_pool *p = sl_pool_new(loop, 3);
    assert_non_null(p);
    assert_int_equal(sl_pool_threads(p), 3);
    ev_run(loop, 0); /* idle: returns at once */
    enum { N = 500 };
    struct item *items = calloc(N, sizeof *items);
    for (int i = 0; i < N; i++) {
        items[i].w.data = &items[i];
        assert_int_equal(sl_pool_submit(p, &items[i].w, run_cb, done_cb), 0);
    }
    assert_int_equal(sl_pool_pending(p), N);
    ev_run(loop, 0); /* returns once every item is done */
    assert_int_equal(done_total, N);
    assert_int_equal(sl_pool_pending(p), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(items[i].runs, 1);
        assert_int_equal(items[i].dones, 1);
        assert_int_equal(items[i].status, 0);
        assert_false(pthread_equal(items[i].ran_on, loop_thread));
    }
    sl_pool_free(p);
    free(items);
    ev_loop_destroy(loop);
}

static void cancel_and_free(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    loop_thread = pthread_self();
    done_total = 0;
    sem_t gate;
    sem_init(&gate, 0, 0);
    sl_pool *p = sl_pool_new(loop, 1);
    struct item busy = {.gate = &gate}, queued = {0}, never = {0};
    busy.w.data = &busy;
    queued.w.data = &queued;
    never.w.data = &never;
    sl_pool_submit(p, &busy.w, run_cb, done_cb);
    sl_pool_submit(p, &queued.w, run_cb, done_cb);
    sl_pool_submit(p, &never.w, run_cb, done_cb);
    /* the one thread holds BUSY (or is about to): QUEUED can be taken back */
    assert_int_equal(sl_pool_cancel(p, &queued.w), 0);
    assert_int_equal(sl_pool_pending(p), 2);
    sem_post(&gate);
    /* BUSY runs; wait for it without the loop's help */
    while (!__atomic_load_n(&busy.runs, __ATOMIC_ACQUIRE))
        ;
    assert_int_equal(sl_pool_cancel(p, &busy.w), SL_ESTATE);
    /* NEVER is queued or running: free reports each item exactly once */
    sl_pool_free(p);
    assert_int_equal(busy.dones, 1);
    assert_int_equal(busy.status, 0);
    assert_int_equal(queued.dones, 0);
    assert_int_equal(queued.runs, 0);
    assert_int_equal(never.dones, 1);
    assert_true(never.status == 0 || never.status == SL_ESTATE);
    assert_int_equal(never.runs, never.status == 0);
    sem_destroy(&gate);
    ev_loop_destroy(loop);
}

/* A done callback may submit more work (a delivery after a render). */
static struct item chain[2];
static sl_pool *chain_pool;

static void chain_done_cb(sl_pool_work *w, int status)
{
    done_cb(w, status);
    if (w == &chain[0].w)
        assert_int_equal(sl_pool_submit(chain_pool, &chain[1].w, run_cb, done_cb), 0);
}

static void done_may_submit(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    loop_thread = pthread_self();
    done_total = 0;
    chain_pool = sl_pool_new(loop, 2);
    chain[0].w.data = &chain[0];
    chain[1].w.data = &chain[1];
    sl_pool_submit(chain_pool, &chain[0].w, run_cb, chain_done_cb);
    ev_run(loop, 0);
    assert_int_equal(chain[0].dones, 1);
    assert_int_equal(chain[1].dones, 1);
    sl_pool_free(chain_pool);
    ev_loop_destroy(loop);
}

static void bad_sizes(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    assert_null(sl_pool_new(loop, 0));
    assert_null(sl_pool_new(loop, 65));
    sl_pool_free(NULL);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(runs_everything_once),
        cmocka_unit_test(cancel_and_free),
        cmocka_unit_test(done_may_submit),
        cmocka_unit_test(bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

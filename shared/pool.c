/* pool.c — see pool.h.
 *
 * Two lists under one mutex: the queue (submitted, not started) and the
 * finished list (ran, done not yet called). A thread that finishes an item
 * moves it to the finished list and sends the ev_async; libev coalesces the
 * sends, and the loop drains the whole list in one callback. The mutex is
 * held only to link and unlink, never while work runs. */
#include "pool.h"
#include "util.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

enum { QUEUED = 1, RUNNING, RAN };

struct list {
    sl_pool_work *head, *tail;
};

struct sl_pool {
    struct ev_loop *loop;
    ev_async async;      /* "the finished list is not empty" */
    pthread_mutex_t mu;  /* guards queue, finished, stop and each item's state */
    pthread_cond_t cond; /* the queue grew, or stop */
    struct list queue;
    struct list finished;
    int stop;
    int pending;  /* loop side: submitted, done not yet called */
    int in_done;  /* a done callback is running (sl_pool_free must not be) */
    int nthreads; /* started */
    pthread_t *threads;
};

static void push(struct list *l, sl_pool_work *w)
{
    w->next = NULL;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

static sl_pool_work *pop(struct list *l)
{
    sl_pool_work *w = l->head;
    if (w) {
        l->head = w->next;
        if (!l->head)
            l->tail = NULL;
        w->next = NULL;
    }
    return w;
}

/* Unlinks W from L; returns 0, or -1 when W is not in L. */
static int unlink_item(struct list *l, sl_pool_work *w)
{
    sl_pool_work *prev = NULL;
    for (sl_pool_work *x = l->head; x; prev = x, x = x->next) {
        if (x != w)
            continue;
        if (prev)
            prev->next = x->next;
        else
            l->head = x->next;
        if (l->tail == x)
            l->tail = prev;
        x->next = NULL;
        return 0;
    }
    return -1;
}

static void *thread_main(void *arg)
{
    sl_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->queue.head)
            pthread_cond_wait(&p->cond, &p->mu);
        if (p->stop)
            break;
        sl_pool_work *w = pop(&p->queue);
        w->state = RUNNING;
        pthread_mutex_unlock(&p->mu);
        w->run(w);
        pthread_mutex_lock(&p->mu);
        w->state = RAN;
        push(&p->finished, w);
        /* the async watcher is stopped only after every thread is joined */
        ev_async_send(p->loop, &p->async);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* One item fewer in flight: an idle pool stops holding the loop. */
static void settle(sl_pool *p)
{
    if (--p->pending == 0)
        ev_unref(p->loop);
}

static void call_done(sl_pool *p, sl_pool_work *w, int status)
{
    settle(p);
    p->in_done++;
    w->done(w, status); /* may free W */
    p->in_done--;
}

static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)loop, (void)revents;
    sl_pool *p = a->data;
    pthread_mutex_lock(&p->mu);
    struct list done = p->finished;
    p->finished.head = p->finished.tail = NULL;
    pthread_mutex_unlock(&p->mu);
    sl_pool_work *w;
    while ((w = pop(&done)))
        call_done(p, w, 0);
}

sl_pool *sl_pool_new(struct ev_loop *loop, int threads)
{
    if (threads < 1 || threads > 64)
        return NULL;
    sl_pool *p = sl_calloc(1, sizeof *p);
    p->loop = loop;
    p->threads = sl_calloc((size_t)threads, sizeof *p->threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    ev_async_init(&p->async, async_cb);
    p->async.data = p;
    ev_async_start(loop, &p->async);
    ev_unref(loop); /* idle: does not keep ev_run going */
    /* threads inherit the creator's signal mask: block everything in them */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, thread_main, p))
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthreads < threads) {
        sl_pool_free(p);
        return NULL;
    }
    return p;
}

void sl_pool_free(sl_pool *p)
{
    if (!p)
        return;
    assert(!p->in_done);
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    /* no thread left: the lists are the loop's alone */
    sl_pool_work *w;
    while ((w = pop(&p->finished)))
        call_done(p, w, 0);
    while ((w = pop(&p->queue)))
        call_done(p, w, SL_ESTATE);
    assert(p->pending == 0);
    ev_ref(p->loop); /* balance the unref before stopping */
    ev_async_stop(p->loop, &p->async);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int sl_pool_submit(sl_pool *p, sl_pool_work *w, sl_pool_run_fn *run, sl_pool_done_fn *done)
{
    assert(run && done);
    if (p->stop)
        return SL_ESTATE;
    w->run = run;
    w->done = done;
    w->state = QUEUED;
    if (p->pending++ == 0)
        ev_ref(p->loop);
    pthread_mutex_lock(&p->mu);
    push(&p->queue, w);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int sl_pool_cancel(sl_pool *p, sl_pool_work *w)
{
    pthread_mutex_lock(&p->mu);
    int rc = w->state == QUEUED ? unlink_item(&p->queue, w) : -1;
    pthread_mutex_unlock(&p->mu);
    if (rc)
        return SL_ESTATE;
    w->state = 0;
    settle(p);
    return 0;
}

int sl_pool_pending(const sl_pool *p)
{
    return p->pending;
}

int sl_pool_threads(const sl_pool *p)
{
    return p->nthreads;
}

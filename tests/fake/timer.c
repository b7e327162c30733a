/* timer.c — see timer.h. A binary min-heap under one mutex; the thread waits
 * on a condition variable (on CLOCK_MONOTONIC, so wall-clock jumps do not
 * stretch the latency) until the earliest entry is due or a new entry goes
 * to the top. Callbacks run outside the lock: MHD_resume_connection takes
 * MHD's own locks, and a handler thread may be waiting for ours. */
#include "timer.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

typedef struct entry {
    int64_t due_us;
    uint64_t seq; /* ties broken by insertion order */
    fake_timer_fn fn;
    void *arg;
} entry;

struct fake_timer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    entry *heap;
    size_t len, cap;
    uint64_t seq;
    int stopping; /* no more adds; drain everything now */
    int joined;
};

static int before(const entry *a, const entry *b)
{
    return a->due_us < b->due_us || (a->due_us == b->due_us && a->seq < b->seq);
}

static void sift_up(entry *h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&h[i], &h[parent]))
            break;
        entry tmp = h[i];
        h[i] = h[parent];
        h[parent] = tmp;
        i = parent;
    }
}

static void sift_down(entry *h, size_t len, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        if (l < len && before(&h[l], &h[min]))
            min = l;
        if (r < len && before(&h[r], &h[min]))
            min = r;
        if (min == i)
            return;
        entry tmp = h[i];
        h[i] = h[min];
        h[min] = tmp;
        i = min;
    }
}

static entry pop(fake_timer *t)
{
    entry top = t->heap[0];
    t->heap[0] = t->heap[--t->len];
    sift_down(t->heap, t->len, 0);
    return top;
}

static struct timespec abs_monotonic(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    return ts;
}

static void *run(void *arg)
{
    fake_timer *t = arg;
    entry batch[256];
    pthread_mutex_lock(&t->lock);
    for (;;) {
        if (t->len == 0) {
            if (t->stopping)
                break;
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        int64_t now = sl_monotonic_us();
        if (!t->stopping && t->heap[0].due_us > now) {
            struct timespec ts = abs_monotonic(t->heap[0].due_us);
            pthread_cond_timedwait(&t->wake, &t->lock, &ts);
            continue;
        }
        /* take everything due in one go, then call back without the lock */
        size_t n = 0;
        while (n < sizeof batch / sizeof batch[0] && t->len > 0 &&
               (t->stopping || t->heap[0].due_us <= now))
            batch[n++] = pop(t);
        pthread_mutex_unlock(&t->lock);
        for (size_t i = 0; i < n; i++)
            batch[i].fn(batch[i].arg);
        pthread_mutex_lock(&t->lock);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

fake_timer *fake_timer_new(void)
{
    fake_timer *t = sl_calloc(1, sizeof *t);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    int rc = pthread_create(&t->thread, NULL, run, t);
    if (rc != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        errno = rc;
        return NULL;
    }
    return t;
}

int fake_timer_add(fake_timer *t, int64_t due_us, fake_timer_fn fn, void *arg)
{
    pthread_mutex_lock(&t->lock);
    if (t->stopping) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->heap = sl_realloc(t->heap, t->cap * sizeof *t->heap);
    }
    t->heap[t->len] = (entry){.due_us = due_us, .seq = t->seq++, .fn = fn, .arg = arg};
    sift_up(t->heap, t->len++);
    /* only a new earliest entry shortens the thread's wait */
    if (t->heap[0].seq == t->seq - 1)
        pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

void fake_timer_stop(fake_timer *t)
{
    if (!t || t->joined)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->thread, NULL);
    t->joined = 1;
}

void fake_timer_free(fake_timer *t)
{
    if (!t)
        return;
    fake_timer_stop(t);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t->heap);
    free(t);
}

/* timer.c — see timer.h. A binary min-heap ordered by (due, insertion). */
#include "timer.h"
#include "util.h"

#include <stdlib.h>

typedef struct entry {
    int64_t due_us;
    uint64_t seq; /* ties broken by insertion order */
    fake_timer_fn fn;
    void *arg;
} entry;

struct fake_timer {
    entry *heap;
    size_t len, cap;
    uint64_t seq;
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

fake_timer *fake_timer_new(void)
{
    return sl_calloc(1, sizeof(fake_timer));
}

void fake_timer_add(fake_timer *t, int64_t due_us, fake_timer_fn fn, void *arg)
{
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->heap = sl_realloc(t->heap, t->cap * sizeof *t->heap);
    }
    t->heap[t->len] = (entry){.due_us = due_us, .seq = t->seq++, .fn = fn, .arg = arg};
    sift_up(t->heap, t->len++);
}

int64_t fake_timer_next(const fake_timer *t)
{
    return t->len ? t->heap[0].due_us : -1;
}

size_t fake_timer_run(fake_timer *t, int64_t now_us)
{
    /* a callback may add: only what was here when we started runs now */
    uint64_t before_seq = t->seq;
    size_t n = 0;
    while (t->len > 0 && t->heap[0].due_us <= now_us && t->heap[0].seq < before_seq) {
        entry e = pop(t);
        e.fn(e.arg);
        n++;
    }
    return n;
}

void fake_timer_free(fake_timer *t)
{
    if (!t)
        return;
    free(t->heap);
    free(t);
}

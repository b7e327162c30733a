/* enqueue.c — see enqueue.h. Arguments are kept as offsets into one arena
 * so a batch of thousands of jobs costs a few allocations, not one each. */
#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(sl_enqueue_batch *b, const char *p, size_t n)
{
    if (b->argc == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->offsets = sl_realloc(b->offsets, b->cap * sizeof *b->offsets);
        b->lens = sl_realloc(b->lens, b->cap * sizeof *b->lens);
        b->argv = sl_realloc(b->argv, b->cap * sizeof *b->argv);
    }
    b->offsets[b->argc] = b->arena.len;
    b->lens[b->argc] = n;
    sl_buf_append(&b->arena, p, n);
    b->argc++;
}

static void push_str(sl_enqueue_batch *b, const char *s)
{
    push(b, s, strlen(s));
}

void sl_enqueue_batch_init(sl_enqueue_batch *b, const char *prefix, const char *queue,
                           long long idem_ttl_ms)
{
    memset(b, 0, sizeof *b);
    sl_keys_init(&b->keys, prefix, queue);
    snprintf(b->idem_ttl, sizeof b->idem_ttl, "%lld", idem_ttl_ms);
    sl_keys_sched_notify(b->sched_channel, prefix);
    sl_enqueue_batch_reset(b);
}

void sl_enqueue_batch_reset(sl_enqueue_batch *b)
{
    b->argc = 0;
    b->jobs = 0;
    sl_buf_reset(&b->arena);
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        push_str(b, b->keys.ready[p]);
    push_str(b, b->keys.delayed);
    push_str(b, b->keys.stats);
    push_str(b, b->keys.base);
    push_str(b, b->idem_ttl);
    push_str(b, b->sched_channel);
}

void sl_enqueue_batch_deinit(sl_enqueue_batch *b)
{
    sl_buf_deinit(&b->arena);
    free(b->offsets);
    free(b->lens);
    free(b->argv);
    memset(b, 0, sizeof *b);
}

void sl_enqueue_batch_add(sl_enqueue_batch *b, const sl_job *job, const char *body, size_t len)
{
    char num[24], prio[80];
    push_str(b, job->id);
    /* priority digit, "!" for a chosen id, "@" and the batch: see enqueue.lua */
    size_t n = 0;
    prio[n++] = (char)('0' + job->priority);
    if (job->id_chosen)
        prio[n++] = '!';
    if (job->batch)
        n += (size_t)snprintf(prio + n, sizeof prio - n, "@%s", job->batch);
    push(b, prio, n < sizeof prio ? n : sizeof prio - 1);
    push(b, body, len);
    push(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)job->delay_ms));
    push(b, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)job->run_at_ms));
    push_str(b, job->idempotency_key ? job->idempotency_key : "");
    b->jobs++;
}

int sl_enqueue_batch_args(sl_enqueue_batch *b, const char ***argv, const size_t **lens)
{
    for (int i = 0; i < b->argc; i++)
        b->argv[i] = b->arena.data + b->offsets[i];
    *argv = b->argv;
    *lens = b->lens;
    return b->argc;
}

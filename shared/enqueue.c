/* enqueue.c — see enqueue.h. Arguments are kept in one sl_args (args.h)
 * so a batch of thousands of jobs costs a few allocations, not one each. */
#include "enqueue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void push(sl_enqueue_batch *b, const char *p, size_t n)
{
    sl_args_add(&b->args, p, n);
}

static void push_str(sl_enqueue_batch *b, const char *s)
{
    sl_args_add_str(&b->args, s);
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
    b->jobs = 0;
    sl_args_reset(&b->args);
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
    sl_args_deinit(&b->args);
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
    *argv = sl_args_argv(&b->args);
    *lens = b->args.lens;
    return b->args.argc;
}

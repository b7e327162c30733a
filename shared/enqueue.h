/* enqueue.h — builds the arguments of one batched enqueue script call for
 * one queue: many jobs per round trip (producer bulk mode, bench). */
#ifndef SL_ENQUEUE_H
#define SL_ENQUEUE_H

#include "args.h"
#include "job.h"
#include "keys.h"
#include "util.h"

#define SL_ENQUEUE_KEYS 6

typedef struct sl_enqueue_batch {
    sl_keys keys;
    char idem_ttl[24];
    char sched_channel[SL_KEY_MAX];
    sl_args args; /* the script's arguments, keys first */
    int jobs;
} sl_enqueue_batch;

/* Sets up an empty batch for QUEUE; idempotency keys live IDEM_TTL_MS. */
void sl_enqueue_batch_init(sl_enqueue_batch *b, const char *prefix, const char *queue,
                           long long idem_ttl_ms);
void sl_enqueue_batch_deinit(sl_enqueue_batch *b);

/* Adds JOB (completed: id and queue set), encoded as BODY. A job with a
 * batch is refused by the script unless its batch is open (batch.lua). */
void sl_enqueue_batch_add(sl_enqueue_batch *b, const sl_job *job, const char *body, size_t len);

/* The script's arguments (keys first, SL_ENQUEUE_KEYS of them), valid until
 * the next add or reset. */
int sl_enqueue_batch_args(sl_enqueue_batch *b, const char ***argv, const size_t **lens);

void sl_enqueue_batch_reset(sl_enqueue_batch *b);

#endif

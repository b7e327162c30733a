/* keys.h — Redis key names (DESIGN.md, "Redis key layout"). Every key of a
 * queue carries {QUEUE} as a hash tag so each script touches one slot. */
#ifndef SL_KEYS_H
#define SL_KEYS_H

#include "job.h"

#define SL_KEY_MAX 200

typedef struct sl_keys {
    char queue[65];
    char base[150];                        /* "sluice:{Q}:" (prefix and queue <= 64) */
    char ready[SL_PRIO_COUNT][SL_KEY_MAX]; /* ...ready:critical .. :low (LIST) */
    char delayed[SL_KEY_MAX];              /* ZSET run-at ms */
    char active[SL_KEY_MAX];               /* ZSET lease deadline ms */
    char lease[SL_KEY_MAX];                /* HASH id -> lease token "WORKER/SEQ" */
    char done[SL_KEY_MAX];                 /* ZSET finish ms */
    char dead[SL_KEY_MAX];                 /* ZSET death ms */
    char stats[SL_KEY_MAX];                /* HASH counters */
    char paused[SL_KEY_MAX];               /* STRING present while paused */
    char job_prefix[SL_KEY_MAX];           /* "sluice:{Q}:job:" + id */
    char idem_prefix[SL_KEY_MAX];          /* "sluice:{Q}:idem:" + key */
    char notify[SL_KEY_MAX];               /* pub/sub channel: ready went non-empty */
    char events[SL_KEY_MAX];               /* "PREFIX:events", every queue's (events.h) */
} sl_keys;

/* Fills K for queue QUEUE under PREFIX. Both are checked names (short). */
void sl_keys_init(sl_keys *k, const char *prefix, const char *queue);

/* Global keys, not tied to one queue. OUT holds SL_KEY_MAX bytes. */
void sl_keys_queues(char *out, const char *prefix);  /* SET of queue names */
void sl_keys_workers(char *out, const char *prefix); /* ZSET worker id -> heartbeat ms */
void sl_keys_worker(char *out, const char *prefix, const char *worker_id); /* HASH */
void sl_keys_leader(char *out, const char *prefix);                        /* scheduler lock */
void sl_keys_sched_notify(char *out, const char *prefix); /* channel: earlier delayed job */
/* HASH of batch BATCH (a checked batch id): PREFIX:batch:{BATCH} */
void sl_keys_batch(char *out, const char *prefix, const char *batch);

#endif

/* producer.h — sluice-producer's parts: main.c (options, one job from
 * flags, the seal command), bulk.c (NDJSON, pipelined), batch_open_seal.c
 * (the batches a run submits to: open, seal, callback), flush.c (the spool's
 * jobs sent to Redis). The HTTP intake (`serve`, `token new`) is serve*.c,
 * with its own header serve.h. */
#ifndef SL_PRODUCER_H
#define SL_PRODUCER_H

#include <hiredis/hiredis.h>
#include <stdio.h>

#include "spool.h"

typedef struct producer_callback producer_callback;

typedef struct producer_opts {
    const char *redis_url;
    const char *prefix;
    const char *type, *queue, *priority, *payload, *idempotency_key, *batch;
    long long delay_ms, max_attempts, timeout_ms, run_at_ms;
    const char *ndjson;
    long long max_payload;
    long long idem_ttl_ms;
    long long batch_size;
    long long redis_timeout_ms;
    const char *batch_callback; /* --batch-callback: JSON or @file */
    int batch_open;             /* --batch-open: leave the batches unsealed */
    long long batch_ttl_ms, batch_keep_ms;
    int single; /* one job from flags: errors say "sluice-producer:", not "line 1:" */
    const producer_callback *callback; /* --batch-callback checked, or NULL */
    const char *spool_path;            /* --spool, or NULL */
    long long spool_max_mb;
    sl_spool *spool;        /* open when --spool is given */
    const char *spool_only; /* jobs still wait in the spool (this says why): */
                            /* every job of this run goes behind them */
} producer_opts;

/* Enqueues jobs read as NDJSON from FD, one envelope a line, each checked
 * strictly (jsoncheck.h) and against the schemas; prints the id of each
 * stored job on OUT (flushed) as soon as it and every line before it are
 * settled, in input order; reports each rejected line on stderr with its
 * number. Jobs read are sent whenever no more input is waiting. Opens each
 * batch before its first job (O->batch first, with O->callback) and, when
 * every line was accepted and O->batch_open is not set, seals them at the
 * end. Returns the number of rejected lines, or -1 when Redis failed (then
 * stderr says which lines were stored, sent without an answer, or not
 * stored) or OUT could not be written (reading stops). */
long producer_bulk(redisContext *rc, const producer_opts *o, int fd, FILE *out);

/* With O->spool, a Redis out of reach (no answer, or LOADING, READONLY,
 * OOM, MASTERDOWN) sends every job not confirmed yet, and every later
 * line, to the spool in input order; their ids are printed as if stored,
 * and stderr says "spooled: N jobs to PATH". With O->spool_only every job
 * goes there at once (RC may then be NULL). A full spool stops the run like
 * a Redis failure, the summary saying what was stored, spooled or not. */

/* The same for TEXT (LEN bytes) in memory: one job from flags. */
long producer_bulk_text(redisContext *rc, const producer_opts *o, const char *text, size_t len,
                        FILE *out);

/* --- batch_open_seal.c ------------------------------------------------ */

/* Checks --batch-callback (JSON, or @file) as a callback job; NULL after
 * printing what is wrong. Free with producer_callback_free. */
producer_callback *producer_callback_new(const producer_opts *o);
void producer_callback_free(producer_callback *cb);

/* The batches of one run, each once, in order of first use. */
typedef struct producer_batches {
    char **ids;
    char *sealed; /* per id: 1 when its open found it sealed already */
    int n, cap;
    int *index; /* open addressing: 1 + position in ids, 0 = empty */
    int nindex; /* a power of two, at least twice n */
} producer_batches;

/* Adds ID when it is new and returns its position (*ADDED set), or returns
 * the position it has. */
int producer_batches_add(producer_batches *s, const char *id, int *added);
void producer_batches_deinit(producer_batches *s);

/* Appends a batch.lua call to RC's pipeline: "open" or "seal" of batch ID,
 * with CB (may be NULL) as its callback. */
void producer_batch_append(redisContext *rc, const producer_opts *o, const char *op, const char *id,
                           const producer_callback *cb);

/* Reads the reply of an "open" appended for batch ID and prints what the
 * user should know (the batch is sealed or complete, the callback given was
 * not stored). Returns 1 when the batch is sealed already, 0 when open, or
 * -1 after printing a Redis error. */
int producer_batch_opened(const redisReply *r, const char *id, const producer_callback *cb);

/* Seals the batches of S not known to be sealed, in one round trip (RC has
 * no reply pending). Returns 0, or -1 after printing the problem. */
int producer_batches_seal(redisContext *rc, const producer_opts *o, const producer_batches *s);

/* `sluice-producer seal ID`: seals batch ID (with O->callback if given) and
 * prints its counts. Returns the exit status (0, 1 no such batch, 2). */
int producer_seal(redisContext *rc, const producer_opts *o, const char *id);

/* --- flush.c ---------------------------------------------------------- */

typedef struct producer_flushed {
    long long sent;    /* stored by this flush */
    long long already; /* stored before (a reply lost): refused as a copy */
    long long refused; /* refused for another reason (printed), removed */
    long long left;    /* still waiting in the spool */
    int busy;          /* another process was flushing: nothing done */
    char why[300];     /* when jobs are left: what stopped the flush */
} producer_flushed;

/* Sends the jobs waiting in O->spool to Redis (RC, no reply pending), in
 * order, many per call, each with its id chosen (enqueue.lua's "!") so a job
 * stored already refuses a second copy; deletes rows only after Redis
 * confirmed them. Registers each queue. Returns 0 when the spool is empty
 * (or another process is flushing it: OUT->busy), 1 when Redis went out of
 * reach (OUT->why; the rows not confirmed stay), -1 on any other error
 * (printed). */
int producer_flush(redisContext *rc, const producer_opts *o, producer_flushed *out);

#endif

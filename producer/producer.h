/* producer.h — sluice-producer's parts: main.c (options, one job from
 * flags, the seal command), bulk.c (NDJSON, pipelined), batch.c (the
 * batches a run submits to: open, seal, callback). The HTTP intake
 * (`serve`, `token new`) is serve*.c, with its own header serve.h. */
#ifndef SL_PRODUCER_H
#define SL_PRODUCER_H

#include <hiredis/hiredis.h>
#include <stdio.h>

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

/* The same for TEXT (LEN bytes) in memory: one job from flags. */
long producer_bulk_text(redisContext *rc, const producer_opts *o, const char *text, size_t len,
                        FILE *out);

/* --- batch.c ---------------------------------------------------------- */

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

#endif

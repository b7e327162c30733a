/* producer.h — sluice-producer's parts. */
#ifndef SL_PRODUCER_H
#define SL_PRODUCER_H

#include <hiredis/hiredis.h>
#include <stdio.h>

typedef struct producer_opts {
    const char *redis_url;
    const char *prefix;
    const char *type, *queue, *priority, *payload, *idempotency_key, *batch;
    long long delay_ms, max_attempts, timeout_ms, run_at_ms;
    const char *ndjson;
    long long max_payload;
    long long idem_ttl_ms;
    long long batch_size;
    int single; /* one job from flags: errors say "sluice-producer:", not "line 1:" */
} producer_opts;

/* Enqueues jobs read as NDJSON from O->ndjson ("-" = stdin), one envelope a
 * line; prints one id per accepted line, in input order, on OUT; reports each
 * rejected line on stderr with its number. Returns the number of rejected
 * lines, or -1 when Redis failed (the message is printed). */
long producer_bulk(redisContext *rc, const producer_opts *o, FILE *in, FILE *out);

#endif

/* jobmaker.c — jobs go in through the library's own path, as a producer's
 * do: an sl_job completed and encoded by job.c, batched by shared/enqueue.c,
 * sent as enqueue.lua with EVALSHA. One sl_job and one buffer are reused for
 * every job, and the payload text is written in place, so the client's share
 * per job stays small next to Redis's. */
#include "bench.h"
#include "rblock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PAYLOAD_MAX = 128, CHANNEL_BASE = 1000 };

/* Message I's payload in OUT (PAYLOAD_MAX bytes); returns its length. */
static size_t message_payload(char *out, long long channels, long long i)
{
    return (size_t)snprintf(out, PAYLOAD_MAX,
                            "{\"platform\":\"discord\",\"channel_id\":\"%lld\","
                            "\"content\":\"bench %lld\"}",
                            CHANNEL_BASE + i % channels, i);
}

int jobmaker_init(jobmaker *m, bench *b, const char *type, const char *fixed, char *err,
                  size_t errlen)
{
    memset(m, 0, sizeof *m);
    sl_job_init(&m->job);
    sl_strlcpy(m->job.type, type, sizeof m->job.type);
    sl_strlcpy(m->job.queue, b->queue, sizeof m->job.queue);
    m->counter = fixed == NULL;
    size_t cap = fixed && strlen(fixed) >= PAYLOAD_MAX ? strlen(fixed) + 1 : PAYLOAD_MAX;
    m->job.payload_json = sl_malloc(cap);
    m->job.payload_len =
        (size_t)snprintf(m->job.payload_json, cap, "%s", fixed ? fixed : "{\"n\":0}");
    /* The payload is checked against the type's schema once, as a producer
     * would check each job; every later one has the same shape. */
    m->job.doc = cJSON_Parse(m->job.payload_json);
    m->job.payload = m->job.doc;
    sl_enqueue_batch_init(&m->batch, b->prefix, b->queue, 86400000);
    int rc = m->job.doc ? sl_job_check_payload(&m->job, SL_JOB_DEFAULT_MAX_PAYLOAD, err, errlen)
                        : SL_EINVAL;
    if (!m->job.doc)
        snprintf(err, errlen, "payload %s is not JSON", m->job.payload_json);
    if (rc)
        jobmaker_deinit(m);
    return rc;
}

int jobmaker_init_message(jobmaker *m, bench *b, long long channels, char *err, size_t errlen)
{
    char first[PAYLOAD_MAX];
    message_payload(first, channels, 0);
    int rc = jobmaker_init(m, b, "message", first, err, errlen);
    if (!rc)
        m->channels = channels;
    return rc;
}

void jobmaker_deinit(jobmaker *m)
{
    sl_job_deinit(&m->job);
    sl_buf_deinit(&m->body);
    sl_enqueue_batch_deinit(&m->batch);
}

/* The next job: a fresh id and creation time, its payload, its envelope in
 * m->body, added to the batch. */
static void next_job(jobmaker *m)
{
    sl_job *job = &m->job;
    job->id[0] = '\0';
    job->created_ms = 0;
    sl_job_complete(job);
    if (m->counter)
        job->payload_len = (size_t)snprintf(job->payload_json, PAYLOAD_MAX, "{\"n\":%lld}", m->n);
    else if (m->channels)
        job->payload_len = message_payload(job->payload_json, m->channels, m->n);
    m->n++;
    sl_buf_reset(&m->body);
    sl_job_encode(job, &m->body);
    sl_enqueue_batch_add(&m->batch, job, m->body.data, m->body.len);
}

static void send_batch(bench *b, jobmaker *m)
{
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&m->batch, &argv, &lens);
    sl_rblock_append_script(b->rc, SL_SCRIPT_ENQUEUE, SL_ENQUEUE_KEYS, argc, argv, lens);
    sl_enqueue_batch_reset(&m->batch);
}

/* Counts the ids in one enqueue reply; a refused job ("!reason") or a
 * refused call is reported. Frees R. */
static long long count_taken(bench *b, redisReply *r, long long *refused)
{
    long long ok = 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        bench_error(b, "enqueue refused: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
        freeReplyObject(r);
        return 0;
    }
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING && e->str[0] != '!') {
            ok++;
        } else if (!(*refused)++) {
            bench_error(b, "enqueue: a job was refused: %s",
                        e->type == REDIS_REPLY_STRING ? e->str + 1 : "bad reply");
        }
    }
    freeReplyObject(r);
    return ok;
}

long long enqueue_bulk(bench *b, jobmaker *m, long long n)
{
    long long taken = 0, refused = 0;
    int inflight = 0;
    for (long long i = 0; i < n; i++) {
        next_job(m);
        if (m->batch.jobs < b->batch && i + 1 < n)
            continue;
        send_batch(b, m);
        /* Out at once, so Redis works while the next batch is made. */
        int done = 0;
        while (!done)
            if (redisBufferWrite(b->rc, &done) != REDIS_OK)
                goto failed;
        if (++inflight < b->pipeline)
            continue;
        redisReply *r;
        if (redisGetReply(b->rc, (void **)&r) != REDIS_OK)
            goto failed;
        taken += count_taken(b, r, &refused);
        inflight--;
    }
    while (inflight--) {
        redisReply *r;
        if (redisGetReply(b->rc, (void **)&r) != REDIS_OK)
            goto failed;
        taken += count_taken(b, r, &refused);
    }
    if (refused > 1)
        bench_error(b, "enqueue: %lld jobs refused in all", refused);
    return taken;
failed:
    bench_error(b, "enqueue: redis: %s", b->rc->errstr);
    return -1;
}

int enqueue_one(bench *b, jobmaker *m, char *id_out, int64_t *sent_us)
{
    long long refused = 0;
    next_job(m);
    memcpy(id_out, m->job.id, SL_ID_LEN + 1);
    send_batch(b, m);
    *sent_us = sl_realtime_us(); /* redisGetReply writes the call out */
    redisReply *r;
    if (redisGetReply(b->rc, (void **)&r) != REDIS_OK) {
        bench_error(b, "enqueue: redis: %s", b->rc->errstr);
        return -1;
    }
    return count_taken(b, r, &refused) == 1 ? 0 : -1;
}

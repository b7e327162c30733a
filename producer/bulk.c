/* bulk.c — NDJSON bulk enqueue: parse and validate each line, group jobs by
 * queue into batches of many jobs per script call, keep several calls in
 * flight (pipelining), and print ids in input order. A job batch (--batch,
 * or a line's "batch") is opened in the pipeline before its first job and
 * sealed at the end (batch.c). */
#include "producer.h"
#include "enqueue.h"
#include "job.h"
#include "keys.h"
#include "rsync.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_QUEUES = 64, PIPELINE = 16 };

struct slot {
    char id[65]; /* "" until the reply comes; "-" for a rejected line */
    long lineno; /* 1-based line of the input */
};

struct queue_batch {
    char name[65];
    sl_enqueue_batch batch;
    long *lines; /* slot index of each job in the batch */
    int nlines, caplines;
};

struct inflight {
    long *lines;
    int n;             /* jobs; -1: the SADD registering a queue; -2: a batch opened */
    const char *batch; /* n == -2: its id (owned by the bulk's batches) */
};

struct bulk {
    redisContext *rc;
    const producer_opts *o;
    FILE *out;
    struct queue_batch q[MAX_QUEUES];
    int nq;
    struct slot *slots;
    long nslots, capslots, printed;
    struct inflight flight[PIPELINE];
    int head, count;
    long rejected;
    int failed;
    producer_batches batches; /* every batch this run submits to */
};

static void print_ready(struct bulk *b)
{
    while (b->printed < b->nslots && b->slots[b->printed].id[0]) {
        if (b->slots[b->printed].id[0] != '-')
            fprintf(b->out, "%s\n", b->slots[b->printed].id);
        b->printed++;
    }
    /* all printed slots can be forgotten: slide the window */
    if (b->printed > 4096 && b->printed == b->nslots) {
        b->nslots = b->printed = 0;
    }
}

static long slot_new(struct bulk *b, long lineno)
{
    if (b->nslots == b->capslots) {
        b->capslots = b->capslots ? b->capslots * 2 : 4096;
        b->slots = sl_realloc(b->slots, b->capslots * sizeof *b->slots);
    }
    b->slots[b->nslots].id[0] = '\0';
    b->slots[b->nslots].lineno = lineno;
    return b->nslots++;
}

/* Reads the oldest in-flight reply and files its ids. */
static int read_one(struct bulk *b)
{
    struct inflight *f = &b->flight[b->head];
    redisReply *r = NULL;
    if (redisGetReply(b->rc, (void **)&r) != REDIS_OK) {
        fprintf(stderr,
                "sluice-producer: redis: %s; jobs not yet confirmed may or may not be "
                "enqueued\n",
                b->rc->errstr);
        b->failed = 1;
        return -1;
    }
    if (f->n == -1) { /* the SADD registering a queue */
        if (r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "sluice-producer: registering the queue failed: %s\n", r->str);
    } else if (f->n == -2) {
        /* a failed open is reported; its jobs are refused one by one */
        const producer_callback *cb =
            b->o->batch && !strcmp(f->batch, b->o->batch) ? b->o->callback : NULL;
        if (producer_batch_opened(r, f->batch, cb) == 1) {
            int added;
            b->batches.sealed[producer_batches_add(&b->batches, f->batch, &added)] = 1;
        }
    } else if (r->type != REDIS_REPLY_ARRAY || (int)r->elements != f->n) {
        fprintf(stderr, "sluice-producer: redis refused the batch: %s\n",
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        for (int i = 0; i < f->n; i++)
            strcpy(b->slots[f->lines[i]].id, "-");
        b->rejected += f->n;
    } else {
        for (int i = 0; i < f->n; i++) {
            redisReply *e = r->element[i];
            struct slot *s = &b->slots[f->lines[i]];
            if (e->type == REDIS_REPLY_STRING && e->str[0] != '!') {
                sl_strlcpy(s->id, e->str, sizeof s->id);
            } else {
                fprintf(stderr, "%s%ld: %s\n", b->o->single ? "sluice-producer: job " : "line ",
                        s->lineno, e->type == REDIS_REPLY_STRING ? e->str + 1 : "refused by redis");
                strcpy(s->id, "-");
                b->rejected++;
            }
        }
    }
    freeReplyObject(r);
    free(f->lines);
    f->lines = NULL;
    b->head = (b->head + 1) % PIPELINE;
    b->count--;
    print_ready(b);
    return 0;
}

static int flush_queue(struct bulk *b, struct queue_batch *q)
{
    if (!q->batch.jobs)
        return 0;
    if (b->count == PIPELINE && read_one(b))
        return -1;
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&q->batch, &argv, &lens);
    sl_rsync_append_script(b->rc, SL_SCRIPT_ENQUEUE, SL_ENQUEUE_KEYS, argc, argv, lens);
    struct inflight *f = &b->flight[(b->head + b->count) % PIPELINE];
    f->lines = q->lines;
    f->n = q->nlines;
    b->count++;
    q->lines = NULL;
    q->nlines = q->caplines = 0;
    sl_enqueue_batch_reset(&q->batch);
    return 0;
}

static struct queue_batch *queue_for(struct bulk *b, const char *name)
{
    for (int i = 0; i < b->nq; i++)
        if (!strcmp(b->q[i].name, name))
            return &b->q[i];
    if (b->nq == MAX_QUEUES) {
        /* rare: many queues in one file; flush and reuse the oldest */
        if (flush_queue(b, &b->q[0]))
            return NULL;
        sl_enqueue_batch_deinit(&b->q[0].batch);
        memmove(&b->q[0], &b->q[1], (MAX_QUEUES - 1) * sizeof b->q[0]);
        b->nq--;
    }
    struct queue_batch *q = &b->q[b->nq++];
    memset(q, 0, sizeof *q);
    sl_strlcpy(q->name, name, sizeof q->name);
    sl_enqueue_batch_init(&q->batch, b->o->prefix, name, b->o->idem_ttl_ms);
    /* Registered in the pipeline, in order with the batches in flight. */
    if (b->count == PIPELINE && read_one(b))
        return NULL;
    char key[SL_KEY_MAX];
    sl_keys_queues(key, b->o->prefix);
    redisAppendCommand(b->rc, "SADD %s %s", key, name);
    struct inflight *f = &b->flight[(b->head + b->count) % PIPELINE];
    f->lines = NULL;
    f->n = -1;
    b->count++;
    return q;
}

/* Opens batch ID (a string kept by b->batches) in the pipeline, with CB. */
static int open_batch(struct bulk *b, const char *id, const producer_callback *cb)
{
    if (b->count == PIPELINE && read_one(b))
        return -1;
    producer_batch_append(b->rc, b->o, "open", id, cb);
    struct inflight *f = &b->flight[(b->head + b->count) % PIPELINE];
    f->lines = NULL;
    f->n = -2;
    f->batch = id;
    b->count++;
    return 0;
}

static void reject(struct bulk *b, long slot, long lineno, const char *err)
{
    if (b->o->single)
        fprintf(stderr, "sluice-producer: %s\n", err);
    else
        fprintf(stderr, "line %ld: %s\n", lineno, err);
    strcpy(b->slots[slot].id, "-");
    b->rejected++;
    print_ready(b);
}

/* Puts JOB in --batch when given, and opens its batch the first time it is
 * seen. Returns 0; 1 after rejecting the line; -1 on a Redis failure. */
static int job_batch(struct bulk *b, sl_job *job, long slot, long lineno)
{
    const char *want = b->o->batch;
    if (want && job->batch && strcmp(job->batch, want)) {
        char err[200];
        snprintf(err, sizeof err, "batch: \"%s\" differs from --batch %s", job->batch, want);
        reject(b, slot, lineno, err);
        return 1;
    }
    if (want && !job->batch)
        job->batch = sl_strdup(want);
    if (!job->batch)
        return 0;
    int added;
    int at = producer_batches_add(&b->batches, job->batch, &added);
    return added ? open_batch(b, b->batches.ids[at], NULL) : 0;
}

/* The end of a run: seals its batches when every line was accepted (and
 * --batch-open was not given), or says why they were left open. */
static void finish_batches(struct bulk *b)
{
    if (!b->batches.n || b->failed || b->o->batch_open)
        return;
    int open = 0, first = -1;
    for (int i = 0; i < b->batches.n; i++)
        if (!b->batches.sealed[i] && open++ == 0)
            first = i;
    if (!open)
        return;
    if (b->rejected) {
        char what[64];
        if (b->o->single)
            snprintf(what, sizeof what, "the job was rejected");
        else
            snprintf(what, sizeof what, "%ld line%s rejected", b->rejected,
                     b->rejected == 1 ? " was" : "s were");
        fprintf(stderr,
                "sluice-producer: note: %s, so this run sealed no batch (%s%s); submit again, "
                "or seal with: sluice-producer seal ID\n",
                what, b->batches.ids[first], open > 1 ? ", ..." : "");
        return;
    }
    if (producer_batches_seal(b->rc, b->o, &b->batches))
        b->failed = 1;
}

long producer_bulk(redisContext *rc, const producer_opts *o, FILE *in, FILE *out)
{
    struct bulk b = {.rc = rc, .o = o, .out = out};
    if (o->batch) {
        int added;
        producer_batches_add(&b.batches, o->batch, &added);
        open_batch(&b, b.batches.ids[0], o->callback);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    sl_buf body = {0};
    char err[512];
    while (!b.failed && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n == 0)
            continue;
        long slot = slot_new(&b, lineno);
        sl_job job;
        if (sl_job_parse(&job, line, (size_t)n, (size_t)o->max_payload, err, sizeof err)) {
            reject(&b, slot, lineno, err);
            continue;
        }
        int st = job_batch(&b, &job, slot, lineno);
        if (st) {
            sl_job_deinit(&job);
            if (st < 0)
                break;
            continue;
        }
        sl_job_complete(&job);
        sl_buf_reset(&body);
        sl_job_encode(&job, &body);
        struct queue_batch *q = queue_for(&b, job.queue);
        if (!q) {
            sl_job_deinit(&job);
            break;
        }
        sl_enqueue_batch_add(&q->batch, &job, body.data, body.len);
        if (q->nlines == q->caplines) {
            q->caplines = q->caplines ? q->caplines * 2 : 512;
            q->lines = sl_realloc(q->lines, q->caplines * sizeof *q->lines);
        }
        q->lines[q->nlines++] = slot;
        sl_job_deinit(&job);
        if (q->batch.jobs >= o->batch_size || q->batch.arena.len > (1u << 20))
            flush_queue(&b, q);
    }
    for (int i = 0; i < b.nq && !b.failed; i++)
        flush_queue(&b, &b.q[i]);
    while (b.count && !b.failed)
        read_one(&b);
    finish_batches(&b);
    producer_batches_deinit(&b.batches);
    for (int i = 0; i < b.nq; i++) {
        free(b.q[i].lines);
        sl_enqueue_batch_deinit(&b.q[i].batch);
    }
    for (int i = 0; i < PIPELINE; i++)
        free(b.flight[i].lines);
    free(b.slots);
    free(line);
    sl_buf_deinit(&body);
    fflush(out);
    return b.failed ? -1 : b.rejected;
}

/* bulk.c — NDJSON bulk enqueue: parse and validate each line, group jobs by
 * queue into batches of many jobs per script call, keep several calls in
 * flight (pipelining), and print ids in input order. */
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
    int n;
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
    if (f->n < 0) { /* the SADD registering a queue */
        if (r->type == REDIS_REPLY_ERROR)
            fprintf(stderr, "sluice-producer: registering the queue failed: %s\n", r->str);
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

long producer_bulk(redisContext *rc, const producer_opts *o, FILE *in, FILE *out)
{
    struct bulk b = {.rc = rc, .o = o, .out = out};
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
            if (o->single)
                fprintf(stderr, "sluice-producer: %s\n", err);
            else
                fprintf(stderr, "line %ld: %s\n", lineno, err);
            strcpy(b.slots[slot].id, "-");
            b.rejected++;
            print_ready(&b);
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

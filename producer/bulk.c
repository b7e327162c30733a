/* bulk.c — NDJSON bulk enqueue: check and validate each line, group jobs by
 * queue into batches of many jobs per script call, keep several calls in
 * flight (pipelining), and print ids in input order as soon as they are
 * stored. A job batch (--batch, or a line's "batch") is opened in the
 * pipeline before its first job and sealed at the end (batch_open_seal.c).
 *
 * Nobody is left guessing: a line is sent as soon as no more input is
 * waiting (a frontend piping one job at a time sees it enqueued at once,
 * a fast pipe still fills batches), replies are read as they come, and
 * when Redis fails the summary says which lines were stored, which were
 * sent without an answer and which were not stored.
 *
 * With --spool, a Redis that is out of reach (gone, timing out, or
 * answering LOADING/READONLY/OOM/MASTERDOWN) does not end the run: every
 * job not confirmed yet, and every later line, goes to the spool in input
 * order, its id fixed already, and its id is printed as if stored. */
#include "producer.h"
#include "noperm.h"
#include "enqueue.h"
#include "job.h"
#include "jsoncheck.h"
#include "keys.h"
#include "rblock.h"
#include "spool.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SPOOL_BATCH: jobs per spool transaction, each an fsync; fewer when the
 * input pauses (their ids are owed to the frontend at once) */
enum { MAX_QUEUES = 64, PIPELINE = 4, READ_CHUNK = 65536, SPOOL_BATCH = 5000 };

enum slot_state {
    QUEUED, /* in a queue's batch, not sent yet */
    SENT,   /* sent to Redis, no answer yet */
    DONE,   /* stored (id) or refused ("-") */
};

/* --spool: a line's job as it would go to the spool, kept until it is
 * settled (one allocation: the strings follow the struct). */
struct spool_rec {
    sl_spool_job job;
    char data[];
};

struct slot {
    char id[65];           /* the stored job's id; "-" for a refused line */
    unsigned char state;   /* enum slot_state */
    long lineno;           /* 1-based line of the input */
    struct spool_rec *rec; /* --spool, and not in a batch; else NULL */
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

/* The input: a file descriptor read in chunks, or one text in memory. */
struct reader {
    int fd; /* -1: text only */
    char *buf;
    size_t start, len, cap; /* unread bytes: buf[start, len) */
    int eof;
};

struct bulk {
    redisContext *rc;
    const producer_opts *o;
    FILE *out;
    struct queue_batch q[MAX_QUEUES];
    int nq;
    struct slot *slots; /* the lines not all settled yet, in input order */
    long nslots, capslots, printed;
    long ids_printed;
    struct inflight flight[PIPELINE];
    int head, count;
    long rejected;
    int failed;
    char why[600];            /* failed: what Redis (or the spool) did */
    int out_errno;            /* writing ids failed with this */
    long out_lost_from;       /* out_errno: the first line whose id may be lost */
    producer_batches batches; /* every batch this run submits to */
    int outage;               /* failed: Redis is out of reach (the spool may take over) */
    int spooling;             /* every job goes to the spool now */
    int spool_failed;         /* failed: the spool could not take them (why says) */
    long *pending;            /* spooling: slots waiting for the next put */
    long npending, cappending;
    long spooled;        /* jobs put in the spool by this run */
    char spool_why[600]; /* what Redis did that sent them there */
};

/* ---- ids out --------------------------------------------------------- */

/* Prints the ids of the settled lines at the front, in input order, and
 * flushes them: a frontend reading our output sees each id once its job
 * is stored. */
static void print_ready(struct bulk *b)
{
    long before = b->printed;
    while (b->printed < b->nslots && b->slots[b->printed].state == DONE) {
        if (b->slots[b->printed].id[0] != '-') {
            fprintf(b->out, "%s\n", b->slots[b->printed].id);
            b->ids_printed++;
        }
        b->printed++;
    }
    if (b->printed != before && (fflush(b->out) || ferror(b->out)) && !b->out_errno) {
        /* the frontend stopped reading: stop reading its input too */
        b->out_errno = errno ? errno : EIO;
        b->out_lost_from = b->slots[before].lineno;
    }
    /* all printed slots can be forgotten: slide the window */
    if (b->printed > 4096 && b->printed == b->nslots)
        b->nslots = b->printed = 0;
}

static long slot_new(struct bulk *b, long lineno)
{
    if (b->nslots == b->capslots) {
        b->capslots = b->capslots ? b->capslots * 2 : 4096;
        b->slots = sl_realloc(b->slots, b->capslots * sizeof *b->slots);
    }
    b->slots[b->nslots].id[0] = '\0';
    b->slots[b->nslots].state = QUEUED;
    b->slots[b->nslots].lineno = lineno;
    b->slots[b->nslots].rec = NULL;
    return b->nslots++;
}

static void settle(struct bulk *b, long slot, const char *id)
{
    sl_strlcpy(b->slots[slot].id, id, sizeof b->slots[slot].id);
    b->slots[slot].state = DONE;
    free(b->slots[slot].rec);
    b->slots[slot].rec = NULL;
}

static void reject(struct bulk *b, long slot, long lineno, const char *err)
{
    /* "FIELD: reason" always: the schema names no field for the document
     * itself ("unknown field \"x\"") */
    const char *colon = strstr(err, ": ");
    const char *doc = !colon || memchr(err, ' ', (size_t)(colon - err)) ? "(document): " : "";
    if (b->o->single)
        fprintf(stderr, "sluice-producer: %s%s\n", doc, err);
    else
        fprintf(stderr, "line %ld: %s%s\n", lineno, doc, err);
    settle(b, slot, "-");
    b->rejected++;
    print_ready(b);
}

/* ---- replies --------------------------------------------------------- */

static int redis_failed(struct bulk *b)
{
    if (!b->failed) {
        b->failed = 1;
        b->outage = 1; /* no answer at all */
        sl_rblock_error(b->rc, b->why, sizeof b->why);
    }
    return -1;
}

/* Files the reply R of the oldest call in flight (R is freed). */
static void handle_reply(struct bulk *b, redisReply *r)
{
    struct inflight *f = &b->flight[b->head];
    int passing = b->o->spool && r->type == REDIS_REPLY_ERROR && sl_rblock_outage(r->str);
    if (f->n == -1) {                                 /* the SADD registering a queue */
        if (r->type == REDIS_REPLY_ERROR && !passing) /* else the flush registers it */
            fprintf(stderr, "sluice-producer: registering the queue (SADD) failed: %s%s\n", r->str,
                    sl_noperm_note(r->str));
    } else if (f->n == -2) {
        /* a failed open is reported; its jobs are refused one by one */
        const producer_callback *cb =
            b->o->batch && !strcmp(f->batch, b->o->batch) ? b->o->callback : NULL;
        if (producer_batch_opened(r, f->batch, cb) == 1) {
            int added;
            b->batches.sealed[producer_batches_add(&b->batches, f->batch, &added)] = 1;
        }
    } else if (passing && f->n > 0) {
        /* nothing of the call was stored (a script's first write fails
         * whole): its lines stay SENT and go to the spool */
        if (!b->failed) {
            b->failed = b->outage = 1;
            snprintf(b->why, sizeof b->why, "%s", r->str);
        }
    } else if (r->type != REDIS_REPLY_ARRAY || (int)r->elements != f->n) {
        fprintf(stderr, "sluice-producer: redis refused the batch (EVALSHA enqueue): %s%s\n",
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                r->type == REDIS_REPLY_ERROR ? sl_noperm_note(r->str) : "");
        for (int i = 0; i < f->n; i++)
            settle(b, f->lines[i], "-");
        b->rejected += f->n;
    } else {
        for (int i = 0; i < f->n; i++) {
            redisReply *e = r->element[i];
            long slot = f->lines[i];
            if (e->type == REDIS_REPLY_STRING && e->str[0] != '!') {
                settle(b, slot, e->str);
            } else {
                fprintf(stderr, "%s%ld: %s\n", b->o->single ? "sluice-producer: job " : "line ",
                        b->slots[slot].lineno,
                        e->type == REDIS_REPLY_STRING ? e->str + 1 : "refused by redis");
                settle(b, slot, "-");
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
}

/* Waits for the oldest reply in flight and files it. */
static int read_one(struct bulk *b)
{
    redisReply *r = NULL;
    if (redisGetReply(b->rc, (void **)&r) != REDIS_OK || !r)
        return redis_failed(b);
    handle_reply(b, r);
    return 0;
}

/* Writes what is appended and files the replies that have come, without
 * waiting for more. */
static int send_and_read_ready(struct bulk *b)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(b->rc, &done) != REDIS_OK)
            return redis_failed(b);
    while (b->count) {
        void *r = NULL;
        if (redisGetReplyFromReader(b->rc, &r) != REDIS_OK)
            return redis_failed(b);
        if (r) {
            handle_reply(b, r);
            continue;
        }
        struct pollfd p = {.fd = b->rc->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return 0;
        if (redisBufferRead(b->rc) != REDIS_OK)
            return redis_failed(b);
    }
    return 0;
}

/* Room in the pipeline for one more call. */
static int make_room(struct bulk *b)
{
    return b->count == PIPELINE ? read_one(b) : 0;
}

static struct inflight *push_flight(struct bulk *b, int n, long *lines, const char *batch)
{
    struct inflight *f = &b->flight[(b->head + b->count) % PIPELINE];
    f->lines = lines;
    f->n = n;
    f->batch = batch;
    b->count++;
    return f;
}

/* ---- calls ----------------------------------------------------------- */

static int flush_queue(struct bulk *b, struct queue_batch *q)
{
    if (!q->batch.jobs)
        return 0;
    if (make_room(b))
        return -1;
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&q->batch, &argv, &lens);
    sl_rblock_append_script(b->rc, SL_SCRIPT_ENQUEUE, SL_ENQUEUE_KEYS, argc, argv, lens);
    for (int i = 0; i < q->nlines; i++)
        b->slots[q->lines[i]].state = SENT;
    push_flight(b, q->nlines, q->lines, NULL);
    q->lines = NULL;
    q->nlines = q->caplines = 0;
    sl_enqueue_batch_reset(&q->batch);
    return send_and_read_ready(b);
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
        free(b->q[0].lines);
        sl_enqueue_batch_deinit(&b->q[0].batch);
        memmove(&b->q[0], &b->q[1], (MAX_QUEUES - 1) * sizeof b->q[0]);
        b->nq--;
    }
    /* Registered in the pipeline, in order with the batches in flight. */
    if (make_room(b))
        return NULL;
    struct queue_batch *q = &b->q[b->nq++];
    memset(q, 0, sizeof *q);
    sl_strlcpy(q->name, name, sizeof q->name);
    sl_enqueue_batch_init(&q->batch, b->o->prefix, name, b->o->idem_ttl_ms);
    char key[SL_KEY_MAX];
    sl_keys_queues(key, b->o->prefix);
    redisAppendCommand(b->rc, "SADD %s %s", key, name);
    push_flight(b, -1, NULL, NULL);
    return q;
}

/* Opens batch ID (a string kept by b->batches) in the pipeline, with CB. */
static int open_batch(struct bulk *b, const char *id, const producer_callback *cb)
{
    if (make_room(b))
        return -1;
    producer_batch_append(b->rc, b->o, "open", id, cb);
    push_flight(b, -2, NULL, id);
    return 0;
}

/* Sends every queue's waiting jobs, the batch holding the oldest line first:
 * called whenever one batch is full, so a line of a queue seldom used does
 * not hold back the ids of the lines after it until the end, and calls go
 * out nearly in input order. */
static int send_pending(struct bulk *b)
{
    for (;;) {
        struct queue_batch *oldest = NULL;
        for (int i = 0; i < b->nq; i++)
            if (b->q[i].nlines && (!oldest || b->q[i].lines[0] < oldest->lines[0]))
                oldest = &b->q[i];
        if (!oldest || b->failed)
            return b->failed ? -1 : 0;
        if (flush_queue(b, oldest))
            return -1;
    }
}

/* Sends every job waiting in a queue's batch and waits for every answer:
 * called when no more input is waiting, and at the end. */
static int spool_pending(struct bulk *b);

static int flush_all(struct bulk *b)
{
    if (b->spooling)
        return spool_pending(b);
    send_pending(b);
    while (b->count && !b->failed)
        read_one(b);
    return b->failed ? -1 : 0;
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

/* ---- the spool ------------------------------------------------------- */

/* The record that spools JOB (completed) encoded as BODY. */
static struct spool_rec *rec_new(const sl_job *job, const char *body, size_t len)
{
    size_t q = strlen(job->queue) + 1, i = strlen(job->id) + 1;
    size_t k = job->idempotency_key ? strlen(job->idempotency_key) + 1 : 0;
    struct spool_rec *r = sl_malloc(sizeof *r + q + i + k + len + 1);
    char *p = r->data;
    r->job = (sl_spool_job){.priority = job->priority,
                            .delay_ms = job->delay_ms,
                            .run_at_ms = job->run_at_ms,
                            .len = len};
    r->job.queue = memcpy(p, job->queue, q), p += q;
    r->job.id = memcpy(p, job->id, i), p += i;
    if (k)
        r->job.idempotency_key = memcpy(p, job->idempotency_key, k), p += k;
    memcpy(p, body, len);
    p[len] = '\0';
    r->job.body = p;
    return r;
}

static void pending_add(struct bulk *b, long slot)
{
    if (b->npending == b->cappending) {
        b->cappending = b->cappending ? b->cappending * 2 : 512;
        b->pending = sl_realloc(b->pending, b->cappending * sizeof *b->pending);
    }
    b->pending[b->npending++] = slot;
}

/* Puts the pending jobs in the spool in one transaction and prints their
 * ids. When they do not all fit, as many as fit go in, one by one in
 * order, and the run stops: 0, or -1 with b->why naming the limit. */
static int spool_pending(struct bulk *b)
{
    long n = b->npending;
    if (!n)
        return 0;
    sl_spool_job *jobs = sl_malloc((size_t)n * sizeof *jobs);
    for (long i = 0; i < n; i++)
        jobs[i] = b->slots[b->pending[i]].rec->job;
    char err[400];
    int rc = sl_spool_put(b->o->spool, jobs, (int)n, err, sizeof err);
    long stored = rc ? 0 : n;
    if (rc == SL_ETOOBIG)
        while (stored < n &&
               (rc = sl_spool_put(b->o->spool, &jobs[stored], 1, err, sizeof err)) == 0)
            stored++;
    free(jobs);
    for (long i = 0; i < stored; i++)
        settle(b, b->pending[i], b->slots[b->pending[i]].rec->job.id);
    b->spooled += stored;
    memmove(b->pending, b->pending + stored, (size_t)(n - stored) * sizeof *b->pending);
    b->npending -= stored;
    print_ready(b);
    if (!rc)
        return 0;
    b->failed = b->spool_failed = 1;
    b->outage = 0;
    if (rc == SL_ETOOBIG)
        snprintf(b->why, sizeof b->why, "%s (--spool-max-mb %lld sets the limit)", err,
                 b->o->spool_max_mb);
    else
        snprintf(b->why, sizeof b->why, "%s", err);
    return -1;
}

/* Redis is out of reach (b->why): with --spool the run goes on into the
 * spool. Every line not settled yet goes there in input order (those sent
 * without an answer too: sent again with their id chosen, a copy that was
 * stored refuses the second), and so does every later line. A job of a
 * batch cannot wait (its batch lives in Redis): it is reported. Returns 1
 * when the run goes on, 0 when it stops. */
static int start_spooling(struct bulk *b)
{
    if (!b->o->spool || b->spooling || !b->outage)
        return 0;
    b->spooling = 1;
    b->failed = b->outage = 0;
    snprintf(b->spool_why, sizeof b->spool_why, "%s", b->why);
    b->why[0] = '\0';
    for (long i = b->printed; i < b->nslots; i++) {
        struct slot *s = &b->slots[i];
        if (s->state == DONE)
            continue;
        if (s->rec) {
            pending_add(b, i);
            continue;
        }
        fprintf(stderr, "%sline %ld: %s: its batch needs redis, so it is not spooled\n",
                b->o->single ? "sluice-producer: " : "", s->lineno,
                s->state == SENT ? "sent without an answer (may or may not be stored)"
                                 : "not stored");
        settle(b, i, "-");
        b->rejected++;
    }
    for (int i = 0; i < b->nq; i++) {
        free(b->q[i].lines);
        b->q[i].lines = NULL;
        b->q[i].nlines = b->q[i].caplines = 0;
        sl_enqueue_batch_reset(&b->q[i].batch);
    }
    for (int i = 0; i < PIPELINE; i++) {
        free(b->flight[i].lines);
        b->flight[i].lines = NULL;
    }
    b->head = b->count = 0;
    print_ready(b);
    return 1;
}

/* ---- input ----------------------------------------------------------- */

/* The next line (its '\n' replaced by a NUL) in *LINE, *LEN bytes; 0 at the
 * end of the input, -1 after a read error (printed). Before a read that
 * could block, every job read so far is sent (and its id printed). */
static int next_line(struct bulk *b, struct reader *r, char **line, size_t *len)
{
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->len - r->start);
        if (nl || (r->eof && r->start < r->len)) {
            *line = r->buf + r->start;
            *len = nl ? (size_t)(nl - *line) : r->len - r->start;
            (*line)[*len] = '\0'; /* the '\n', or the spare byte kept at the end */
            r->start += *len + (nl != NULL);
            return 1;
        }
        if (r->eof)
            return 0;
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
        if (r->cap - r->len < READ_CHUNK + 1) {
            r->cap = r->cap * 2 > r->len + READ_CHUNK + 1 ? r->cap * 2 : r->len + READ_CHUNK + 1;
            r->buf = sl_realloc(r->buf, r->cap);
        }
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 0 && flush_all(b))
            return 0;
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "sluice-producer: --ndjson: cannot read: %m\n");
            r->eof = 1;
            return -1;
        }
        if (n == 0)
            r->eof = 1;
        r->len += (size_t)n;
    }
}

/* ---- failure --------------------------------------------------------- */

static void add_range(sl_buf *s, long from, long to, int *n)
{
    if ((*n)++ == 12) {
        sl_buf_puts(s, ", ...");
        return;
    }
    if (*n > 12)
        return;
    if (to > from)
        sl_buf_printf(s, "%slines %ld-%ld", s->len ? ", " : "", from, to);
    else
        sl_buf_printf(s, "%sline %ld", s->len ? ", " : "", from);
}

/* Redis failed: says which lines were stored, which were sent without an
 * answer (they may or may not be stored) and which were not stored, so a
 * frontend resubmits only what it must. LASTLINE is the last line read;
 * MORE: the input had more lines after it. */
static void report_failure(struct bulk *b, long lastline, int more)
{
    char hint[80] = "";
    if (strstr(b->why, SL_RBLOCK_TIMED_OUT))
        snprintf(hint, sizeof hint, " (--redis-timeout-ms sets the limit)");
    fprintf(stderr, "sluice-producer: %s%s%s\n", b->spool_failed ? "" : "redis: ", b->why, hint);
    long first_open = b->printed < b->nslots ? b->slots[b->printed].lineno : lastline + 1;
    sl_buf unknown = {0}, unsent = {0};
    int nunknown = 0, nunsent = 0, queued_job = 0, sent_job = 0;
    for (long i = b->printed; i < b->nslots;) {
        struct slot *s = &b->slots[i];
        if (s->state == DONE) {
            if (s->id[0] != '-') /* stored after an earlier line that is not settled */
                fprintf(stderr, "%sline %ld: stored, id %s (not on standard output)\n",
                        b->o->single ? "sluice-producer: " : "", s->lineno, s->id);
            i++;
            continue;
        }
        long j = i;
        while (j + 1 < b->nslots && b->slots[j + 1].state == s->state)
            j++;
        add_range(s->state == SENT ? &unknown : &unsent, s->lineno, b->slots[j].lineno,
                  s->state == SENT ? &nunknown : &nunsent);
        sent_job |= s->state == SENT;
        queued_job |= s->state == QUEUED;
        i = j + 1;
    }
    if (b->o->single) {
        if (sent_job || queued_job)
            fprintf(stderr, "sluice-producer: %s\n",
                    sent_job ? "the job was sent without an answer: it may or may not be stored"
                             : "the job was not stored");
    } else {
        if (first_open > 1)
            fprintf(stderr,
                    "sluice-producer: %s: lines 1-%ld but those refused above (%ld id%s "
                    "printed)\n",
                    b->spooled ? "stored or spooled" : "stored", first_open - 1, b->ids_printed,
                    b->ids_printed == 1 ? "" : "s");
        else
            fprintf(stderr, "sluice-producer: stored: no line\n");
        if (unknown.len)
            fprintf(stderr,
                    "sluice-producer: sent without an answer, may or may not be stored: %s "
                    "(resubmit them only with idempotency keys)\n",
                    unknown.data);
        if (more)
            sl_buf_printf(&unsent, "%sline %ld to the end of the input", unsent.len ? ", " : "",
                          lastline + 1);
        if (unsent.len)
            fprintf(stderr, "sluice-producer: not stored: %s\n", unsent.data);
    }
    sl_buf_deinit(&unknown);
    sl_buf_deinit(&unsent);
}

/* ---- the run --------------------------------------------------------- */

/* Checks line LINENO (LINE, N bytes) and hands its job to its queue's
 * batch, or to the spool. Returns 0, or -1 when Redis failed. */
static int take_line(struct bulk *b, char *line, size_t n, long lineno, sl_buf *body)
{
    const producer_opts *o = b->o;
    char err[512];
    long slot = slot_new(b, lineno);
    sl_jsoncheck_error je;
    if (sl_jsoncheck(line, n, &je)) {
        sl_jsoncheck_format(&je, NULL, err, sizeof err);
        reject(b, slot, lineno, err);
        return 0;
    }
    sl_job job;
    if (sl_job_parse(&job, line, n, (size_t)o->max_payload, err, sizeof err)) {
        reject(b, slot, lineno, err);
        return 0;
    }
    if (b->spooling && (job.batch || o->batch)) {
        snprintf(err, sizeof err,
                 "batch: redis is out of reach (%.200s) and a job of a batch cannot wait in "
                 "the spool: its batch lives in redis",
                 b->spool_why);
        reject(b, slot, lineno, err);
        sl_job_deinit(&job);
        return 0;
    }
    int st = job_batch(b, &job, slot, lineno);
    if (st) {
        sl_job_deinit(&job);
        return st < 0 ? -1 : 0;
    }
    sl_job_complete(&job);
    sl_buf_reset(body);
    sl_job_encode(&job, body);
    if (o->spool && !job.batch)
        b->slots[slot].rec = rec_new(&job, body->data, body->len);
    if (b->spooling) {
        sl_job_deinit(&job);
        pending_add(b, slot);
        return b->npending >= SPOOL_BATCH ? spool_pending(b) : 0;
    }
    struct queue_batch *q = queue_for(b, job.queue);
    if (!q) {
        sl_job_deinit(&job);
        return -1;
    }
    sl_enqueue_batch_add(&q->batch, &job, body->data, body->len);
    if (q->nlines == q->caplines) {
        q->caplines = q->caplines ? q->caplines * 2 : 512;
        q->lines = sl_realloc(q->lines, q->caplines * sizeof *q->lines);
    }
    q->lines[q->nlines++] = slot;
    sl_job_deinit(&job);
    if (q->batch.jobs >= o->batch_size || q->batch.args.bytes.len > (1u << 20))
        send_pending(b);
    return 0;
}

static long run(struct bulk *b, struct reader *in)
{
    const producer_opts *o = b->o;
    if (o->spool_only) { /* the spool still holds jobs: these wait behind them */
        b->spooling = 1;
        snprintf(b->spool_why, sizeof b->spool_why, "%s", o->spool_only);
    } else if (o->batch) {
        int added;
        producer_batches_add(&b->batches, o->batch, &added);
        open_batch(b, b->batches.ids[0], o->callback);
    }
    char *line;
    size_t n;
    long lineno = 0;
    sl_buf body = {0};
    int st, read_failed = 0;
    for (;;) {
        while (!b->failed && !b->out_errno && !read_failed &&
               (st = next_line(b, in, &line, &n)) != 0) {
            if (st < 0) { /* printed; what was read is still enqueued */
                read_failed = 1;
                break;
            }
            lineno++;
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
            if (n > 0 && take_line(b, line, n, lineno, &body))
                break;
        }
        if (!b->failed)
            flush_all(b);
        if (b->failed && start_spooling(b))
            continue; /* the same lines, and the rest, into the spool */
        break;
    }
    if (!b->spooling)
        finish_batches(b);
    if (b->out_errno)
        fprintf(stderr,
                "sluice-producer: cannot write ids to standard output: %s; stopped after line "
                "%ld: the lines read were enqueued, but ids from line %ld on may not have been "
                "delivered\n",
                strerror(b->out_errno), lineno, b->out_lost_from);
    if (b->spooled)
        fprintf(stderr,
                "sluice-producer: spooled: %ld job%s to %s (redis: %s); the next run of "
                "sluice-producer, or sluice-producer flush, sends %s\n",
                b->spooled, b->spooled == 1 ? "" : "s", sl_spool_path(o->spool), b->spool_why,
                b->spooled == 1 ? "it" : "them");
    if (b->failed && b->why[0]) {
        /* lines left unread: the reader stopped before its end */
        int more = !in->eof || in->start < in->len;
        report_failure(b, lineno, more);
    }
    producer_batches_deinit(&b->batches);
    for (int i = 0; i < b->nq; i++) {
        free(b->q[i].lines);
        sl_enqueue_batch_deinit(&b->q[i].batch);
    }
    for (int i = 0; i < PIPELINE; i++)
        free(b->flight[i].lines);
    for (long i = 0; i < b->nslots; i++)
        free(b->slots[i].rec);
    free(b->slots);
    free(b->pending);
    sl_buf_deinit(&body);
    fflush(b->out);
    return b->failed || b->out_errno || read_failed ? -1 : b->rejected;
}

long producer_bulk(redisContext *rc, const producer_opts *o, int fd, FILE *out)
{
    struct bulk b = {.rc = rc, .o = o, .out = out};
    struct reader in = {.fd = fd, .cap = READ_CHUNK + 1};
    in.buf = sl_malloc(in.cap);
    long rc_run = run(&b, &in);
    free(in.buf);
    return rc_run;
}

long producer_bulk_text(redisContext *rc, const producer_opts *o, const char *text, size_t len,
                        FILE *out)
{
    struct bulk b = {.rc = rc, .o = o, .out = out};
    struct reader in = {.fd = -1, .len = len, .cap = len + 1, .eof = 1};
    in.buf = sl_malloc(len + 1);
    memcpy(in.buf, text, len);
    long rc_run = run(&b, &in);
    free(in.buf);
    return rc_run;
}

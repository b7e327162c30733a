/* flush.c — the spool's jobs sent to Redis, oldest first, exactly once.
 *
 * A chunk of rows is read, cut into one enqueue call per run of jobs of
 * one queue (at most --batch-size each), the calls are pipelined, and the
 * rows of every call Redis answered are deleted in one transaction; the
 * next chunk is read and sent before that, so Redis works while SQLite
 * waits for its fsync. Every
 * job goes with its id chosen ("!"): a job a lost reply left stored already
 * refuses the copy ("!id: ... exists already"), which counts as delivered.
 * So a flush killed anywhere, or cut off by Redis, is simply run again. */
#include "producer.h"
#include "noperm.h"
#include "enqueue.h"
#include "job.h"
#include "keys.h"
#include "rblock.h"

#include <stdlib.h>
#include <string.h>

/* rows per delete transaction: each costs an fsync (10-30 ms here when the
 * machine is busy), so a chunk must be large for 50,000 jobs/s */
enum { CHUNK = 20000 };

struct call {
    int first, n; /* rows [first, first + n) of the chunk; n == 0: the SADD of a queue */
};

/* Rows read at once, their calls and the rowids Redis answered for. */
struct chunk {
    sl_spool_rows rows;
    struct call *calls;
    int ncalls;
    long long *done;
    int ndone;
};

struct flush {
    redisContext *rc;
    const producer_opts *o;
    producer_flushed *out;
    struct chunk chunk[2]; /* one answered while the next is sent */
    char **queues;         /* registered in this flush */
    int nqueues;
};

/* Appends the SADD registering QUEUE the first time this flush sees it. */
static void register_queue(struct flush *f, struct chunk *c, const char *queue, int first)
{
    for (int i = 0; i < f->nqueues; i++)
        if (!strcmp(f->queues[i], queue))
            return;
    f->queues = sl_realloc(f->queues, (size_t)(f->nqueues + 1) * sizeof *f->queues);
    f->queues[f->nqueues++] = sl_strdup(queue);
    char key[SL_KEY_MAX];
    sl_keys_queues(key, f->o->prefix);
    redisAppendCommand(f->rc, "SADD %s %s", key, queue);
    c->calls[c->ncalls++] = (struct call){first, 0};
}

/* Appends the calls for the N rows of C and writes them out, so Redis
 * works on them while we do something else. 0, or 1 when the connection
 * failed (out->why). */
static int send_calls(struct flush *f, struct chunk *c, int n)
{
    const producer_opts *o = f->o;
    int64_t now = sl_now_ms();
    c->calls = sl_realloc(c->calls, (size_t)n * 2 * sizeof *c->calls);
    c->done = sl_realloc(c->done, (size_t)n * sizeof *c->done);
    c->ncalls = c->ndone = 0;
    for (int i = 0; i < n;) {
        const char *queue = c->rows.jobs[i].queue;
        register_queue(f, c, queue, i);
        sl_enqueue_batch eb;
        sl_enqueue_batch_init(&eb, o->prefix, queue, o->idem_ttl_ms);
        int j = i;
        for (; j < n && j - i < o->batch_size && !strcmp(c->rows.jobs[j].queue, queue); j++) {
            const sl_spool_job *r = &c->rows.jobs[j];
            sl_job job;
            sl_job_init(&job);
            sl_strlcpy(job.id, r->id, sizeof job.id);
            sl_strlcpy(job.queue, queue, sizeof job.queue);
            job.id_chosen = 1;
            job.priority =
                r->priority >= 0 && r->priority < SL_PRIO_COUNT ? r->priority : SL_PRIO_NORMAL;
            /* the delay counts from when it was spooled, not from now */
            int64_t waited = now - r->spooled_ms;
            job.delay_ms = r->delay_ms > waited ? r->delay_ms - waited : 0;
            job.run_at_ms = r->run_at_ms;
            job.idempotency_key = (char *)r->idempotency_key; /* borrowed: not deinit */
            sl_enqueue_batch_add(&eb, &job, r->body, r->len);
        }
        const char **argv;
        const size_t *lens;
        int argc = sl_enqueue_batch_args(&eb, &argv, &lens);
        sl_rblock_append_script(f->rc, SL_SCRIPT_ENQUEUE, SL_ENQUEUE_KEYS, argc, argv, lens);
        sl_enqueue_batch_deinit(&eb);
        c->calls[c->ncalls++] = (struct call){i, j - i};
        i = j;
    }
    int done = 0;
    while (!done)
        if (redisBufferWrite(f->rc, &done) != REDIS_OK) {
            sl_rblock_error(f->rc, f->out->why, sizeof f->out->why);
            return 1;
        }
    return 0;
}

/* Files the answer R to CALL of chunk C. Returns 0, 1 (Redis out of
 * reach: out->why) or -1 (printed). */
static int file_reply(struct flush *f, struct chunk *c, const struct call *call, redisReply *r)
{
    producer_flushed *out = f->out;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(out->why, sizeof out->why, "%s", r->str);
        if (sl_rblock_outage(r->str))
            return 1;
        fprintf(stderr, "sluice-producer: flush: redis refused %s: %s%s\n",
                call->n ? "the enqueue (EVALSHA enqueue)" : "registering the queue (SADD)", r->str,
                sl_noperm_note(r->str));
        return -1;
    }
    if (!call->n)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY || (int)r->elements != call->n) {
        fprintf(stderr, "sluice-producer: flush: unexpected reply to the enqueue\n");
        return -1;
    }
    for (int k = 0; k < call->n; k++) {
        const redisReply *e = r->element[k];
        const sl_spool_job *row = &c->rows.jobs[call->first + k];
        if (e->type == REDIS_REPLY_STRING && e->str[0] != '!') {
            /* another id: its idempotency key was taken by that job */
            if (strcmp(e->str, row->id))
                out->already++;
            else
                out->sent++;
        } else if (e->type == REDIS_REPLY_STRING && !strncmp(e->str, "!id: ", 5)) {
            out->already++;
        } else {
            fprintf(stderr,
                    "sluice-producer: flush: job %s (queue %s) refused by redis: %s; removed "
                    "from the spool\n",
                    row->id, row->queue,
                    e->type == REDIS_REPLY_STRING ? e->str + 1 : "unexpected reply");
            out->refused++;
        }
        c->done[c->ndone++] = row->rowid;
    }
    return 0;
}

/* Reads the replies to chunk C's calls in order and deletes the rows of
 * every call answered (Redis meanwhile works on the next chunk). Returns
 * 0, 1 or -1 as producer_flush. */
static int settle_chunk(struct flush *f, struct chunk *c)
{
    int status = 0;
    for (int i = 0; i < c->ncalls && !status; i++) {
        redisReply *r = NULL;
        if (redisGetReply(f->rc, (void **)&r) != REDIS_OK || !r) {
            sl_rblock_error(f->rc, f->out->why, sizeof f->out->why);
            status = 1;
            break;
        }
        status = file_reply(f, c, &c->calls[i], r);
        freeReplyObject(r);
    }
    char err[400];
    if (sl_spool_delete(f->o->spool, c->done, c->ndone, err, sizeof err)) {
        /* they were stored: sent again, they are refused as copies */
        fprintf(stderr, "sluice-producer: flush: %s\n", err);
        return -1;
    }
    c->ncalls = c->ndone = 0;
    return status;
}

int producer_flush(redisContext *rc, const producer_opts *o, producer_flushed *out)
{
    memset(out, 0, sizeof *out);
    char err[400];
    int lk = sl_spool_flush_lock(o->spool);
    if (lk == SL_ESTATE) {
        out->busy = 1;
        return 0;
    }
    if (lk) {
        fprintf(stderr, "sluice-producer: spool %s: cannot lock %s-flush: %m\n",
                sl_spool_path(o->spool), sl_spool_path(o->spool));
        return -1;
    }
    struct flush f = {.rc = rc, .o = o, .out = out};
    int status = 0, cur = 0;
    long long after = 0;
    struct chunk *sent = NULL; /* calls written, replies not read */
    for (;;) {
        struct chunk *c = &f.chunk[cur];
        int n = sl_spool_peek(o->spool, after, CHUNK, &c->rows, err, sizeof err);
        if (n < 0) {
            fprintf(stderr, "sluice-producer: flush: %s\n", err);
            status = -1;
            break;
        }
        if (n > 0 && (status = send_calls(&f, c, n)))
            break;
        if (sent && (status = settle_chunk(&f, sent)))
            break;
        if (n == 0)
            break;
        sent = c;
        after = c->rows.jobs[n - 1].rowid;
        cur = !cur;
    }
    sl_spool_depth d;
    if (sl_spool_stat(o->spool, &d, err, sizeof err) == 0)
        out->left = d.jobs;
    sl_spool_flush_unlock(o->spool);
    for (int i = 0; i < 2; i++) {
        sl_spool_rows_deinit(&f.chunk[i].rows);
        free(f.chunk[i].calls);
        free(f.chunk[i].done);
    }
    for (int i = 0; i < f.nqueues; i++)
        free(f.queues[i]);
    free(f.queues);
    return status;
}

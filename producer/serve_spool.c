/* serve_spool.c — `serve --spool PATH`: the SQLite spool behind the intake.
 *
 * A job Redis could not take (down, timing out, answering LOADING,
 * READONLY, OOM or MASTERDOWN, or a call sent whose answer was lost) goes
 * to the spool with the id and idempotency key it already has, and its
 * request is answered 202 {"spooled": true} once the put is on disk. Every
 * SQLite call runs on one pool thread that owns the handle; the jobs queued
 * in one loop turn share one put (one transaction, one fsync), and their
 * requests stay suspended until its done callback answers them.
 *
 * The flusher runs in the same loop: while rows wait and Redis is up, it
 * holds the spool's flush lock (a CLI `sluice-producer flush` on the same
 * file waits its turn), peeks the oldest chunk on the thread, sends it with
 * the enqueue script with every id chosen ("!": a copy already stored is
 * refused, so nothing runs twice), and deletes the rows on the thread once
 * Redis confirmed them. While rows wait, new jobs go behind them into the
 * spool, so they reach Redis in the order they came. */
#include "serve.h"
#include "keys.h"
#include "log.h"
#include "pool.h"
#include "rblock.h"
#include "spool.h"

#include <stdlib.h>
#include <string.h>

enum { CHUNK = 5000, CALL_JOBS = 500 };

struct pentry {
    sreq *r;
    int index;
};

/* One put: the jobs queued in a turn. */
struct put {
    sl_pool_work w;
    struct serve_spool *sp;
    struct pentry *e;
    sl_spool_job *jobs;
    int *rc; /* per job */
    int n;
    char err[400];
    sl_spool_depth d;
    int stat_ok;
};

enum fstate { F_IDLE, F_PEEK, F_SEND, F_DELETE };

struct fcall {
    struct serve_spool *sp;
    int first, n; /* rows of the chunk; n == 0: an SADD */
};

struct serve_spool {
    serve *s;
    sl_spool *sp; /* used on the pool thread only (after open) */
    sl_pool *pool;
    ev_timer timer; /* retries the flusher (lock busy, another writer) */
    /* jobs queued this turn */
    struct pentry *q;
    int nq, capq;
    struct put *put; /* in flight, or NULL */
    /* the depth, as last read on the thread */
    sl_spool_depth d;
    /* the flusher */
    int state;
    sl_pool_work fw;
    sl_spool_depth fd; /* read by the flusher's work on the thread */
    int locked, busy, peek_n;
    sl_pool_work sw; /* the timer's depth read */
    int stating;
    sl_spool_depth sd;
    char ferr[400];
    sl_spool_rows rows;
    long long *done;
    int ndone, outstanding, failed;
    long long sent, already, refused;
};

/* ---- puts ----------------------------------------------------------------- */

static void put_run(sl_pool_work *w)
{
    struct put *p = w->data;
    sl_spool *sp = p->sp->sp;
    int rc = sl_spool_put(sp, p->jobs, p->n, p->err, sizeof p->err);
    for (int i = 0; i < p->n; i++)
        p->rc[i] = rc;
    if (rc == SL_ETOOBIG && p->n > 1) {
        /* not all fit: each request alone, all of it or nothing of it */
        char *seen = sl_calloc((size_t)p->n, 1);
        sl_spool_job *one = sl_malloc((size_t)p->n * sizeof *one);
        int *at = sl_malloc((size_t)p->n * sizeof *at);
        for (int i = 0; i < p->n; i++) {
            if (seen[i])
                continue;
            int k = 0;
            for (int j = i; j < p->n; j++)
                if (!seen[j] && p->e[j].r == p->e[i].r) {
                    seen[j] = 1;
                    at[k] = j;
                    one[k++] = p->jobs[j];
                }
            char err[400];
            int r1 = sl_spool_put(sp, one, k, err, sizeof err);
            for (int j = 0; j < k; j++)
                p->rc[at[j]] = r1;
            if (r1)
                memcpy(p->err, err, sizeof err);
        }
        free(seen);
        free(one);
        free(at);
    }
    char err[400];
    p->stat_ok = sl_spool_stat(sp, &p->d, err, sizeof err) == 0;
}

static void put_done(sl_pool_work *w, int status)
{
    struct put *p = w->data;
    struct serve_spool *sp = p->sp;
    if (status) {
        for (int i = 0; i < p->n; i++)
            p->rc[i] = SL_EIO;
        snprintf(p->err, sizeof p->err, "the spool's thread stopped before the put");
    }
    if (p->stat_ok)
        sp->d = p->d;
    char msg[500];
    for (int i = 0; i < p->n; i++) {
        const char *why = p->err;
        if (p->rc[i] == SL_ETOOBIG) {
            snprintf(msg, sizeof msg, "the spool is full: %s (--spool-max-mb %lld sets the limit)",
                     p->err, sp->s->o.spool_max_mb);
            why = msg;
        }
        serve_jobs_spooled(p->e[i].r, p->e[i].index, p->rc[i], why);
    }
    if (p->rc[0] == SL_EIO)
        sl_warn("the spool refused a put jobs=%d error=\"%s\"", p->n, p->err);
    sp->put = NULL;
    free(p->e);
    free(p->jobs);
    free(p->rc);
    free(p);
}

static void start_put(struct serve_spool *sp)
{
    if (sp->put || !sp->nq)
        return;
    struct put *p = sl_calloc(1, sizeof *p);
    p->sp = sp;
    p->e = sp->q;
    p->n = sp->nq;
    sp->q = NULL;
    sp->nq = sp->capq = 0;
    p->jobs = sl_malloc((size_t)p->n * sizeof *p->jobs);
    p->rc = sl_calloc((size_t)p->n, sizeof *p->rc);
    for (int i = 0; i < p->n; i++)
        p->jobs[i] = *serve_jobs_record(p->e[i].r, p->e[i].index);
    p->w.data = p;
    sp->put = p;
    sl_pool_submit(sp->pool, &p->w, put_run, put_done);
}

void serve_spool_add(serve *s, sreq *r, int index)
{
    struct serve_spool *sp = s->spool;
    if (sp->nq == sp->capq) {
        sp->capq = sp->capq ? sp->capq * 2 : 256;
        sp->q = sl_realloc(sp->q, (size_t)sp->capq * sizeof *sp->q);
    }
    sp->q[sp->nq++] = (struct pentry){r, index};
}

/* ---- the flusher ---------------------------------------------------------- */

static void flush_kick(struct serve_spool *sp);

static void peek_run(sl_pool_work *w)
{
    struct serve_spool *sp = w->data;
    sp->busy = 0;
    sp->ferr[0] = '\0';
    if (!sp->locked) {
        int lk = sl_spool_flush_lock(sp->sp);
        if (lk) {
            sp->busy = lk == SL_ESTATE;
            if (!sp->busy)
                snprintf(sp->ferr, sizeof sp->ferr, "cannot lock %s-flush", sl_spool_path(sp->sp));
            sp->peek_n = 0;
            return;
        }
        sp->locked = 1;
    }
    sp->peek_n = sl_spool_peek(sp->sp, 0, CHUNK, &sp->rows, sp->ferr, sizeof sp->ferr);
    char err[400];
    sl_spool_stat(sp->sp, &sp->fd, err, sizeof err);
    if (sp->peek_n <= 0) {
        sl_spool_flush_unlock(sp->sp);
        sp->locked = 0;
    }
}

static void delete_run(sl_pool_work *w)
{
    struct serve_spool *sp = w->data;
    sp->failed |= sl_spool_delete(sp->sp, sp->done, sp->ndone, sp->ferr, sizeof sp->ferr) != 0;
    char err[400];
    sl_spool_stat(sp->sp, &sp->fd, err, sizeof err);
    if (sp->failed || !sp->fd.jobs) {
        sl_spool_flush_unlock(sp->sp);
        sp->locked = 0;
    }
}

static void delete_done(sl_pool_work *w, int status)
{
    struct serve_spool *sp = w->data;
    sp->state = F_IDLE;
    if (!status)
        sp->d = sp->fd;
    if (!status && !sp->d.jobs) {
        sl_info("flush: the spool is empty sent=%lld already=%lld refused=%lld", sp->sent,
                sp->already, sp->refused);
        sp->sent = sp->already = sp->refused = 0;
    }
    if (sp->failed && sp->ferr[0])
        sl_warn("flush: deleting sent rows failed (sent again later, refused as copies) "
                "error=\"%s\"",
                sp->ferr);
    if (!status && !sp->failed && !sp->s->stopping)
        flush_kick(sp);
}

/* Every call of the chunk answered: delete the rows Redis confirmed. */
static void chunk_answered(struct serve_spool *sp)
{
    if (sp->ndone) {
        sp->state = F_DELETE;
        sp->fw.data = sp;
        sl_pool_submit(sp->pool, &sp->fw, delete_run, delete_done);
        return;
    }
    sp->state = F_IDLE; /* nothing confirmed: the timer tries again */
}

static void fsadd_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct fcall *fc = priv;
    struct serve_spool *sp = fc->sp;
    const char *e = reply ? sl_reply_error(reply) : "no answer";
    if (e)
        sp->failed = 1;
    free(fc);
    if (--sp->outstanding == 0)
        chunk_answered(sp);
}

static void fenqueue_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct fcall *fc = priv;
    struct serve_spool *sp = fc->sp;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || (int)reply->elements != fc->n) {
        const char *e = reply ? sl_reply_error(reply) : NULL;
        if (e && !sl_rblock_outage(e))
            sl_warn("flush: redis refused the enqueue jobs=%d error=\"%s\"", fc->n, e);
        sp->failed = 1; /* the rows stay: sent again later */
    } else {
        for (int k = 0; k < fc->n; k++) {
            const redisReply *e = reply->element[k];
            const sl_spool_job *row = &sp->rows.jobs[fc->first + k];
            if (e->type == REDIS_REPLY_STRING && e->len > 0 && e->str[0] != '!') {
                if (strcmp(e->str, row->id))
                    sp->already++; /* its idempotency key was taken by that job */
                else
                    sp->sent++;
            } else if (e->type == REDIS_REPLY_STRING && !strncmp(e->str, "!id: ", 5)) {
                sp->already++; /* stored before (its answer was lost) */
            } else {
                sl_warn("flush: a spooled job refused by redis, removed from the spool id=%s "
                        "queue=%s error=\"%s\"",
                        row->id, row->queue,
                        e->type == REDIS_REPLY_STRING ? e->str + 1 : "unexpected reply");
                sp->refused++;
            }
            sp->done[sp->ndone++] = row->rowid;
        }
    }
    free(fc);
    if (--sp->outstanding == 0)
        chunk_answered(sp);
}

/* Sends the N rows peeked, one call per run of one queue. */
static void send_chunk(struct serve_spool *sp, int n)
{
    serve *s = sp->s;
    sp->done = sl_realloc(sp->done, (size_t)n * sizeof *sp->done);
    sp->ndone = sp->failed = 0;
    sp->outstanding = 1; /* held until every call is sent */
    sp->state = F_SEND;
    int64_t now = sl_now_ms();
    const char *last = "";
    for (int i = 0; i < n && !sp->failed;) {
        const char *queue = sp->rows.jobs[i].queue;
        if (strcmp(queue, last)) {
            struct fcall *fc = sl_calloc(1, sizeof *fc);
            fc->sp = sp;
            const char *argv[] = {"SADD", s->queues_key, queue};
            if (sl_rconn_command(s->redis, fsadd_cb, fc, 3, argv, NULL)) {
                free(fc);
                sp->failed = 1;
                break;
            }
            sp->outstanding++;
            last = queue;
        }
        sl_enqueue_batch eb;
        sl_enqueue_batch_init(&eb, s->o.prefix, queue, s->o.idem_ttl_ms);
        int j = i;
        for (; j < n && j - i < CALL_JOBS && !strcmp(sp->rows.jobs[j].queue, queue); j++) {
            const sl_spool_job *r = &sp->rows.jobs[j];
            sl_job job;
            sl_job_init(&job);
            sl_strlcpy(job.id, r->id, sizeof job.id);
            sl_strlcpy(job.queue, queue, sizeof job.queue);
            job.id_chosen = 1; /* "!": a copy already stored is refused */
            job.priority =
                r->priority >= 0 && r->priority < SL_PRIO_COUNT ? r->priority : SL_PRIO_NORMAL;
            int64_t waited = now - r->spooled_ms; /* the delay counts from the spooling */
            job.delay_ms = r->delay_ms > waited ? r->delay_ms - waited : 0;
            job.run_at_ms = r->run_at_ms;
            job.idempotency_key = (char *)r->idempotency_key; /* borrowed */
            sl_enqueue_batch_add(&eb, &job, r->body, r->len);
        }
        const char **argv;
        const size_t *lens;
        int argc = sl_enqueue_batch_args(&eb, &argv, &lens);
        struct fcall *fc = sl_calloc(1, sizeof *fc);
        *fc = (struct fcall){sp, i, j - i};
        if (sl_rconn_script(s->redis, SL_SCRIPT_ENQUEUE, fenqueue_cb, fc, SL_ENQUEUE_KEYS, argc,
                            argv, lens)) {
            free(fc);
            sp->failed = 1;
        } else {
            sp->outstanding++;
        }
        sl_enqueue_batch_deinit(&eb);
        i = j;
    }
    if (--sp->outstanding == 0)
        chunk_answered(sp);
}

static void peek_done(sl_pool_work *w, int status)
{
    struct serve_spool *sp = w->data;
    sp->state = F_IDLE;
    if (status || sp->s->stopping)
        return;
    sp->d = sp->fd;
    if (sp->peek_n < 0 || sp->ferr[0]) {
        sl_warn("flush: cannot read the spool error=\"%s\"", sp->ferr);
        return;
    }
    if (sp->peek_n > 0 && sp->s->redis && sl_rconn_is_up(sp->s->redis))
        send_chunk(sp, sp->peek_n);
}

/* Starts a round of the flusher when rows wait and Redis is up. */
static void flush_kick(struct serve_spool *sp)
{
    if (sp->s->stopping || sp->state != F_IDLE || !sp->d.jobs || !sl_rconn_is_up(sp->s->redis))
        return;
    sp->state = F_PEEK;
    sp->fw.data = sp;
    sl_pool_submit(sp->pool, &sp->fw, peek_run, peek_done);
}

static void stat_run(sl_pool_work *w)
{
    struct serve_spool *sp = w->data;
    char err[400];
    if (sl_spool_stat(sp->sp, &sp->sd, err, sizeof err))
        sp->sd.max_bytes = -1;
}

static void stat_done(sl_pool_work *w, int status)
{
    struct serve_spool *sp = w->data;
    sp->stating = 0;
    /* only when nothing else read or changed the spool meanwhile */
    if (status || sp->sd.max_bytes < 0 || sp->put || sp->state != F_IDLE)
        return;
    sp->d = sp->sd;
    flush_kick(sp);
}

/* Once a second: rows another process spooled, a lock that was busy. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    struct serve_spool *sp = w->data;
    if (sp->state != F_IDLE || sp->s->stopping)
        return;
    if (sp->d.jobs) {
        flush_kick(sp);
    } else if (!sp->stating && !sp->put) {
        sp->stating = 1;
        sp->sw.data = sp;
        sl_pool_submit(sp->pool, &sp->sw, stat_run, stat_done);
    }
}

/* ---- the rest ------------------------------------------------------------- */

int serve_spool_first(serve *s)
{
    struct serve_spool *sp = s->spool;
    if (!sp)
        return 0;
    return !sl_rconn_is_up(s->redis) || sp->d.jobs > 0 || sp->nq > 0 || sp->put ||
           sp->state != F_IDLE;
}

void serve_spool_turn(serve *s)
{
    struct serve_spool *sp = s->spool;
    if (!sp)
        return;
    start_put(sp);
    flush_kick(sp);
}

void serve_spool_json(serve *s, sl_buf *b, int *room)
{
    struct serve_spool *sp = s->spool;
    *room = 0;
    if (!sp)
        return;
    /* room: for one more job of the largest payload allowed */
    *room = sp->d.max_bytes - sp->d.bytes >= s->o.max_payload + 1024;
    sl_buf_printf(b,
                  ",\"spool\":{\"jobs\":%lld,\"bytes\":%lld,\"max_bytes\":%lld,\"oldest_ms\":%lld,"
                  "\"room\":%s}",
                  sp->d.jobs, sp->d.bytes, sp->d.max_bytes, sp->d.oldest_ms,
                  *room ? "true" : "false");
}

int serve_spool_depth(serve *s, long long *jobs, long long *bytes)
{
    if (!s->spool)
        return 0;
    *jobs = s->spool->d.jobs;
    *bytes = s->spool->d.bytes;
    return 1;
}

int serve_spool_open(serve *s, char *err, size_t errlen)
{
    if (!s->o.spool_path)
        return 0;
    sl_spool *h = sl_spool_open(s->o.spool_path, s->o.spool_max_mb * 1024 * 1024, err, errlen);
    if (!h)
        return -1;
    struct serve_spool *sp = sl_calloc(1, sizeof *sp);
    sp->s = s;
    sp->sp = h;
    /* start-up, before the loop runs: the one SQLite call made here */
    if (sl_spool_stat(h, &sp->d, err, errlen) || !(sp->pool = sl_pool_new(s->loop, 1))) {
        if (!sp->pool && !err[0])
            snprintf(err, errlen, "cannot start the spool's thread");
        sl_spool_close(h);
        free(sp);
        return -1;
    }
    ev_timer_init(&sp->timer, timer_cb, 1., 1.);
    sp->timer.data = sp;
    ev_timer_start(s->loop, &sp->timer);
    ev_unref(s->loop); /* the timer alone does not keep the loop running */
    s->spool = sp;
    sl_info("spool path=%s jobs=%lld bytes=%lld max_bytes=%lld", s->o.spool_path, sp->d.jobs,
            sp->d.bytes, sp->d.max_bytes);
    return 0;
}

void serve_spool_close(serve *s)
{
    struct serve_spool *sp = s->spool;
    if (!sp)
        return;
    s->stopping = 1; /* no new flush round */
    ev_ref(s->loop);
    ev_timer_stop(s->loop, &sp->timer);
    /* jobs Redis left unanswered at the end go to the spool too */
    start_put(sp);
    while (sl_pool_pending(sp->pool) || sp->nq) {
        ev_run(s->loop, EVRUN_ONCE);
        start_put(sp);
    }
    sl_pool_free(sp->pool);
    sl_spool_close(sp->sp);
    sl_spool_rows_deinit(&sp->rows);
    free(sp->done);
    free(sp->q);
    free(sp);
    s->spool = NULL;
}

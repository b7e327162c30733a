/* pdf_job.c — the `pdf` job (schemas/pdf.json): render a document to PDF off
 * the event loop, under a fleet-wide cap on renders at once, and deliver it
 * (pdf_deliver.c).
 *
 * A run: check that the target can be served here; wait in this process's
 * FIFO for a place under the cap (sem_acquire.lua on PREFIX:{sem:pdf}:renders,
 * a ZSET of holders scored by when their place runs out, so a dead worker's
 * places free themselves); render on a pool thread into a temporary file in
 * --tmp-dir named for this process; give the place back; deliver; remove
 * the file. Only the head of the FIFO asks Redis, one call at a time, and
 * when all places are taken it asks again after a short pause or as soon as
 * one of this process's renders ends. A task waiting for a place holds no
 * worker slot and its timeout does not run. */
#include "pdf_private.h"
#include "log.h"
#include "pdf_publish.h"
#include "tmpfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_FULL_MS 50    /* all places taken: ask again after this (plus jitter) */
#define RETRY_ERROR_MS 1000 /* Redis failed */

static void park(pdfjob *j, int on)
{
    if (j->parked == on)
        return;
    j->parked = on;
    j->shared->w->parked += on ? 1 : -1;
}

/* ---- the queue for a place ---- */

static void queue_push(pdfjob *j, int front)
{
    pdf_shared *P = j->shared;
    j->stage = PDF_WAITING;
    j->prev = j->next = NULL;
    if (front) {
        j->next = P->head;
        if (P->head)
            P->head->prev = j;
        else
            P->tail = j;
        P->head = j;
    } else {
        j->prev = P->tail;
        if (P->tail)
            P->tail->next = j;
        else
            P->head = j;
        P->tail = j;
    }
}

static void queue_remove(pdfjob *j)
{
    pdf_shared *P = j->shared;
    if (j->prev)
        j->prev->next = j->next;
    else
        P->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        P->tail = j->prev;
    j->prev = j->next = NULL;
}

/* ---- a job's state ---- */

static void job_free(pdfjob *j)
{
    pdf_deliver_cancel(j);
    if (j->path[0] && unlink(j->path) && errno != ENOENT)
        sl_warn("cannot remove %s: %s", j->path, strerror(errno));
    cJSON_Delete(j->doc);
    free(j->bytes);
    if (j->t)
        j->t->state = NULL;
    free(j);
}

void pdf_finish(pdfjob *j, enum task_result r, const char *error)
{
    char copy[TASK_ERROR_MAX + 1]; /* ERROR may live in J: see worker.h */
    task *t = j->t;
    snprintf(copy, sizeof copy, "%s", error ? error : "");
    job_free(j);
    task_finish(t, r, error ? copy : NULL);
}

void pdf_defer(pdfjob *j, long ms, const char *why)
{
    char copy[600];
    task *t = j->t;
    snprintf(copy, sizeof copy, "%s", why);
    job_free(j);
    task_defer(t, ms, copy);
}

static void pump(pdf_shared *P);

/* Gives J's place back (when the run ends, or its render ends). */
static void release(pdfjob *j)
{
    pdf_shared *P = j->shared;
    if (!j->holds)
        return;
    j->holds = 0;
    P->held--;
    if (P->stopping) /* the place runs out on its own */
        return;
    const char *argv[] = {"ZREM", P->key, j->holder};
    sl_rconn_command(P->w->redis, NULL, NULL, 3, argv, NULL);
    /* a place just freed: the next in line asks at once */
    ev_timer_stop(P->w->loop, &P->retry);
    pump(P);
}

/* ---- rendering, on a pool thread ---- */

static void render_run(sl_pool_work *work)
{
    pdfjob *j = work->data;
    const pdf_opts *o = &j->shared->o; /* not changed after pdf_init */
    int64_t start = sl_monotonic_us();
    j->rc = sl_pdf_render(j->doc, j->path, &o->render, &j->info, j->err, sizeof j->err);
    if (!j->rc && j->target == PDF_TO_FILE)
        j->rc = sl_pdf_publish(j->path, o->out_dir, j->file, j->err, sizeof j->err);
    if (!j->rc && j->target == PDF_TO_PUT) {
        j->bytes = sl_read_file(j->path, &j->nbytes);
        if (!j->bytes) {
            snprintf(j->err, sizeof j->err, "cannot read %s back: %s", j->path, strerror(errno));
            j->rc = SL_EIO;
        }
    }
    j->render_us = sl_monotonic_us() - start;
}

static void render_done(sl_pool_work *work, int status)
{
    pdfjob *j = work->data;
    release(j);
    cJSON_Delete(j->doc);
    j->doc = NULL;
    if (!j->t || j->shared->stopping) { /* abandoned meanwhile, or the loop is over */
        job_free(j);
        return;
    }
    task *t = j->t;
    if (status) {
        pdf_finish(j, TASK_RETRY, "pdf: the worker stopped before the render");
        return;
    }
    wm_pdf_rendered(t->w, j->rc == 0);
    if (j->rc) {
        sl_info("pdf failed job=%s error=\"%s\"", t->job.id, j->err);
        pdf_finish(j, j->rc == SL_EIO ? TASK_RETRY : TASK_PERMANENT, j->err);
        return;
    }
    sl_debug("pdf rendered job=%s pages=%d bytes=%zu ms=%.1f", t->job.id, j->info.pages,
             j->info.bytes, (double)j->render_us / 1000.0);
    j->stage = PDF_DELIVERING;
    pdf_deliver(j);
}

static void render(pdfjob *j)
{
    task *t = j->t;
    j->stage = PDF_RENDERING;
    ev_timer_set(&t->timeout, (double)t->job.timeout_ms / 1000.0, 0);
    ev_timer_start(t->w->loop, &t->timeout);
    j->doc = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(t->job.payload, "document"), 1);
    sl_tmpfile_name(j->path, sizeof j->path, j->shared->o.tmp_dir, "pdf-", t->job.id, ".pdf");
    j->work.data = j;
    if (sl_pool_submit(j->shared->pool, &j->work, render_run, render_done)) {
        release(j);
        pdf_finish(j, TASK_RETRY, "pdf: the worker is stopping");
    }
}

/* ---- a place under the cap ---- */

static void acquire_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    pdfjob *j = priv;
    pdf_shared *P = j->shared;
    P->acquiring = 0;
    if (!c) { /* the connection is being freed: the worker is stopping */
        if (!j->t)
            job_free(j);
        else
            queue_push(j, 1); /* freed with the queue */
        return;
    }
    int got = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
              reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == 1;
    if (got) {
        j->holds = 1;
        P->held++;
    }
    if (!j->t) { /* abandoned while asking */
        release(j);
        job_free(j);
        pump(P);
        return;
    }
    if (got) {
        park(j, 0);
        render(j);
        pump(P);
        return;
    }
    const char *error = reply ? sl_reply_error(reply) : "no answer";
    if (error)
        sl_warn("pdf: cannot ask redis for a render place: %s", error);
    else
        wm_pdf_place_wait(P->w);
    queue_push(j, 1);
    double ms = error ? RETRY_ERROR_MS : RETRY_FULL_MS + rand() % RETRY_FULL_MS;
    ev_timer_set(&P->retry, ms / 1000.0, 0);
    ev_timer_start(P->w->loop, &P->retry);
}

static void pump(pdf_shared *P)
{
    if (P->stopping || P->acquiring || !P->head || P->held >= P->max_held ||
        ev_is_active(&P->retry))
        return;
    pdfjob *j = P->head;
    queue_remove(j);
    j->stage = PDF_ACQUIRING;
    char cap[24], ttl[24];
    snprintf(cap, sizeof cap, "%d", P->o.renders);
    snprintf(ttl, sizeof ttl, "%ld", j->ttl_ms);
    const char *argv[] = {P->key, j->holder, cap, ttl};
    if (sl_rconn_script(P->w->redis, SL_SCRIPT_SEM_ACQUIRE, acquire_cb, j, 1, 4, argv, NULL)) {
        queue_push(j, 1);
        ev_timer_set(&P->retry, RETRY_ERROR_MS / 1000.0, 0);
        ev_timer_start(P->w->loop, &P->retry);
        return;
    }
    P->acquiring = 1;
}

static void retry_cb(struct ev_loop *loop, ev_timer *tm, int revents)
{
    (void)loop, (void)revents;
    pump(tm->data);
}

/* ---- the handler ---- */

static void pdf_start(task *t)
{
    pdfjob *j = sl_calloc(1, sizeof *j);
    j->shared = t->w->pdf;
    j->t = t;
    t->state = j;
    char err[300];
    if (pdf_deliver_check(j, err, sizeof err)) {
        pdf_finish(j, TASK_PERMANENT, err);
        return;
    }
    snprintf(j->holder, sizeof j->holder, "%s/%s/%u", t->w->id, t->job.id, j->shared->seq++);
    j->ttl_ms = (long)t->job.timeout_ms + 10000;
    /* waiting for a place is not running */
    ev_timer_stop(t->w->loop, &t->timeout);
    park(j, 1);
    queue_push(j, 0);
    pump(j->shared);
}

static void pdf_cancel(task *t)
{
    pdfjob *j = t->state;
    if (!j)
        return;
    t->state = NULL;
    j->t = NULL;
    park(j, 0);
    switch (j->stage) {
    case PDF_WAITING:
        queue_remove(j);
        job_free(j);
        break;
    case PDF_ACQUIRING: /* acquire_cb frees it */
        break;
    case PDF_RENDERING: /* not started: free it now; else render_done will */
        if (sl_pool_cancel(j->shared->pool, &j->work) == 0) {
            release(j);
            job_free(j);
        }
        break;
    case PDF_DELIVERING:
        job_free(j);
        break;
    }
}

const handler handler_pdf = {"pdf", pdf_start, pdf_cancel};

int pdf_init(worker *w, const pdf_opts *o, char *err, size_t errlen)
{
    pdf_shared *P = w->pdf = sl_calloc(1, sizeof *P);
    P->w = w;
    P->o = *o;
    P->max_held = 2 * o->threads;
    snprintf(P->key, sizeof P->key, "%s:{sem:pdf}:renders", w->prefix);
    ev_init(&P->retry, retry_cb);
    P->retry.data = P;
    char why[400];
    if (sl_mkdir_p(o->tmp_dir, 0700, why, sizeof why)) {
        snprintf(err, errlen, "--tmp-dir: %s", why);
        return SL_EIO;
    }
    int n = sl_tmpfile_sweep(o->tmp_dir, "pdf-", "sluice-worker", why, sizeof why);
    if (n < 0) {
        snprintf(err, errlen, "--tmp-dir: %s", why);
        return SL_EIO;
    }
    if (n)
        sl_info("pdf: removed %d temporary file(s) of workers that are gone dir=%s", n, o->tmp_dir);
    if (o->out_dir) {
        if (sl_mkdir_p(o->out_dir, 0755, why, sizeof why)) {
            snprintf(err, errlen, "--pdf-dir: %s", why);
            return SL_EIO;
        }
        n = sl_tmpfile_sweep(o->out_dir, SL_PDF_PART_PREFIX, "sluice-worker", why, sizeof why);
        if (n > 0)
            sl_info("pdf: removed %d partial file(s) of workers that are gone dir=%s", n,
                    o->out_dir);
    }
    P->pool = sl_pool_new(w->loop, o->threads);
    if (!P->pool) {
        snprintf(err, errlen, "--pdf-threads: cannot start %d threads", o->threads);
        return SL_EINVAL;
    }
    return 0;
}

void pdf_deinit(worker *w)
{
    pdf_shared *P = w->pdf;
    if (!P)
        return;
    P->stopping = 1;
    ev_timer_stop(P->w->loop, &P->retry);
    /* every task is gone by now: what is left is abandoned renders, which
     * the pool reports (and render_done frees) as it ends */
    sl_pool_free(P->pool);
    P->pool = NULL;
    sl_pdf_cleanup(); /* the render threads, and their font maps, are gone */
    while (P->head) {
        pdfjob *j = P->head;
        queue_remove(j);
        job_free(j);
    }
    free(P);
    w->pdf = NULL;
}

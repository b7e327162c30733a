/* serve_jobs.c — POST /v1/jobs. A body is checked whole first (the strict
 * front check, then each job against the same compiled schemas as the
 * CLI), so an array with one bad job stores nothing. Good jobs are not
 * sent at once: they join their queue's batch, and the ev_prepare of the
 * loop (serve.c) sends each queue's batch as one enqueue script call once
 * per loop turn. Concurrent POSTs that arrive in one turn share a call,
 * which is what keeps Redis's CPU per job low (31 µs alone, ~4 µs shared).
 *
 * With --spool (serve_spool.c), a job Redis could not take (down, an
 * outage error, or a call sent whose answer was lost) goes to the spool in
 * job_failed(), with the id and idempotency key it already has, and its
 * request is answered 202 {"spooled": true}. While spooled jobs wait, new
 * ones go behind them. Without a spool, or when it is full, the answer is
 * 503 + Retry-After. Jobs of a batch are never spooled (the batch lives in
 * Redis). */
#include "serve.h"
#include "job.h"
#include "jsoncheck.h"
#include "keys.h"
#include "log.h"
#include "rblock.h"
#include "spool.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_JOBS = 1000, CALL_MAX_JOBS = 2000, MAX_ERRORS = 100 };

/* What one request is owed. */
struct sreq_jobs {
    int n;               /* jobs */
    int array;           /* {"jobs": [...]}: answer {"ids"} */
    int waiting;         /* jobs without an answer from Redis yet */
    int unknown;         /* a call went without an answer: its jobs may be stored */
    char why[200];       /* Redis's error, when it refused a call */
    char (*ids)[65];     /* per job: the id, or "" when refused */
    char **refused;      /* per job: Redis's reason, or NULL */
    sl_spool_job **recs; /* --spool: per job, what the spool keeps (NULL: a batch's) */
    int spooled;         /* jobs the spool took */
    char spool_err[500]; /* the spool refused: why */
};

/* One queue: the jobs gathered in this turn, and whether the queue is in
 * PREFIX:queues yet. */
struct entry {
    sreq *r;
    int index; /* the job's place in its request */
};

struct queue_pending {
    char name[65];
    sl_enqueue_batch batch;
    struct entry *e;
    int n, cap;
    int registered; /* SADD sent since Redis came up */
    int on_list;    /* in s->pending */
    struct queue_pending *next_pending, *next;
};

/* One script call in flight. */
struct call {
    serve *s;
    struct entry *e;
    int n;
    int sent; /* 0: never sent (Redis was down): nothing of it stored */
};

void sreq_jobs_free(struct sreq_jobs *j)
{
    if (!j)
        return;
    if (j->refused)
        for (int i = 0; i < j->n; i++)
            free(j->refused[i]);
    free(j->refused);
    if (j->recs)
        for (int i = 0; i < j->n; i++)
            free(j->recs[i]);
    free(j->recs);
    free(j->ids);
    free(j);
}

/* ---- answers ------------------------------------------------------------- */

/* Every job of R has its answer: say it. */
static void answer(sreq *r)
{
    struct sreq_jobs *j = r->jobs;
    int stored = 0, refused = 0, lost = 0, first = -1;
    for (int i = 0; i < j->n; i++) {
        if (j->ids[i][0])
            stored++;
        else if (j->refused && j->refused[i]) {
            refused++;
            if (first < 0)
                first = i;
        } else
            lost++;
    }
    sl_buf *b = &r->resp;
    sl_buf_reset(b);
    if (lost && j->spool_err[0]) {
        r->status = 503;
        r->retry_after = 1;
        char msg[700];
        snprintf(msg, sizeof msg, "%sredis could not take %d job%s and the spool refused them: %s",
                 stored ? "some jobs (with an id in \"ids\") were stored or spooled; " : "", lost,
                 lost == 1 ? "" : "s", j->spool_err);
        sl_buf_puts(b, "{\"error\":{\"field\":null,\"message\":");
        sl_buf_json_str(b, msg, strlen(msg));
        sl_buf_puts(b, "}");
    } else if (lost) {
        r->status = 503;
        r->retry_after = 1;
        sl_buf_puts(b, "{\"error\":{\"field\":null,\"message\":");
        char msg[400];
        const char *what =
            j->unknown  ? "redis went away before it answered: the jobs may or may not be stored; "
                          "resubmit with idempotency keys (the same key answers the first id)"
            : j->why[0] ? "redis refused the call, nothing of it was stored: "
                        : "redis is unreachable: nothing was stored; try again";
        snprintf(msg, sizeof msg, "%s%s%s",
                 stored ? "some jobs (with an id in \"ids\") were "
                          "stored; for the others, "
                        : "",
                 what, j->unknown ? "" : j->why);
        sl_buf_json_str(b, msg, strlen(msg));
        sl_buf_puts(b, "}");
    } else if (refused) {
        r->status = 409;
        sl_buf_puts(b, "{\"error\":");
        serve_error_object(b, j->refused[first], j->array ? first : -1);
        if (j->array) {
            sl_buf_puts(b, ",\"errors\":[");
            int k = 0;
            for (int i = 0; i < j->n && k < MAX_ERRORS; i++)
                if (j->refused && j->refused[i]) {
                    if (k++)
                        sl_buf_puts(b, ",");
                    serve_error_object(b, j->refused[i], i);
                }
            sl_buf_puts(b, "]");
        }
    } else {
        /* 202: some (or all) of them wait in the spool, sent when Redis is back */
        r->status = j->spooled ? 202 : 201;
        if (!j->array) {
            sl_buf_puts(b, "{\"id\":");
            sl_buf_json_str(b, j->ids[0], strlen(j->ids[0]));
            sl_buf_puts(b, j->spooled ? ",\"spooled\":true}" : "}");
            return;
        }
    }
    if (j->array) {
        sl_buf_puts(b, r->status == 201 || r->status == 202 ? "{\"ids\":[" : ",\"ids\":[");
        for (int i = 0; i < j->n; i++) {
            if (i)
                sl_buf_puts(b, ",");
            if (j->ids[i][0])
                sl_buf_json_str(b, j->ids[i], strlen(j->ids[i]));
            else
                sl_buf_puts(b, "null");
        }
        sl_buf_puts(b, "]");
        if (r->status == 202)
            sl_buf_puts(b, ",\"spooled\":true");
    }
    sl_buf_puts(b, "}");
}

static void job_settled(sreq *r)
{
    if (--r->jobs->waiting == 0) {
        answer(r);
        serve_resume(r->s, r);
    }
}

/* Redis did not take the job of R at INDEX: the call was SENT without an
 * answer, or refused with REPLY's error, or never sent. With --spool, an
 * outage sends it to the spool (a call sent without an answer too: the
 * flusher's "!" refuses the copy if it was stored). */
static void job_failed(sreq *r, int index, int sent, const redisReply *reply)
{
    struct sreq_jobs *j = r->jobs;
    const char *e = reply ? sl_reply_error(reply) : NULL;
    if (j->recs && j->recs[index] && (!reply || (e && sl_rblock_outage(e)))) {
        serve_spool_add(r->s, r, index);
        return;
    }
    if (sent && !reply)
        j->unknown = 1;
    else if (reply && !j->why[0])
        sl_strlcpy(j->why, sl_reply_error(reply) ? sl_reply_error(reply) : "unexpected reply",
                   sizeof j->why);
    job_settled(r);
}

/* ---- calls --------------------------------------------------------------- */

static void sadd_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct queue_pending *q = priv;
    const char *e = reply ? sl_reply_error(reply) : "no answer";
    if (e) {
        sl_warn("registering a queue failed queue=%s error=\"%s\"", q->name, e);
        q->registered = 0;
    }
}

static void enqueue_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c;
    struct call *call = priv;
    int ok = reply && reply->type == REDIS_REPLY_ARRAY && (int)reply->elements == call->n;
    if (reply && !ok)
        sl_warn("the enqueue script failed jobs=%d error=\"%s\"", call->n,
                sl_reply_error(reply) ? sl_reply_error(reply) : "unexpected reply");
    for (int i = 0; i < call->n; i++) {
        sreq *r = call->e[i].r;
        int idx = call->e[i].index;
        struct sreq_jobs *j = r->jobs;
        if (!ok) {
            job_failed(r, idx, call->sent, reply);
            continue;
        }
        const redisReply *el = reply->element[i];
        if (el->type == REDIS_REPLY_STRING && el->len > 0 && el->str[0] != '!') {
            sl_strlcpy(j->ids[idx], el->str, sizeof j->ids[idx]);
        } else {
            if (!j->refused)
                j->refused = sl_calloc((size_t)j->n, sizeof *j->refused);
            j->refused[idx] =
                sl_strdup(el->type == REDIS_REPLY_STRING ? el->str + 1 : "refused by redis");
        }
        job_settled(r);
    }
    free(call->e);
    free(call);
}

/* Sends Q's gathered jobs as one script call. */
static void send_queue(serve *s, struct queue_pending *q)
{
    if (!q->n)
        return;
    struct call *call = sl_malloc(sizeof *call);
    call->s = s;
    call->e = q->e;
    call->n = q->n;
    call->sent = 1;
    q->e = NULL;
    q->n = q->cap = 0;
    int rc = 0;
    if (!q->registered) {
        const char *argv[] = {"SADD", s->queues_key, q->name};
        rc = sl_rconn_command(s->redis, sadd_cb, q, 3, argv, NULL);
        q->registered = rc == 0;
    }
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&q->batch, &argv, &lens);
    if (!rc)
        rc = sl_rconn_script(s->redis, SL_SCRIPT_ENQUEUE, enqueue_cb, call, SL_ENQUEUE_KEYS, argc,
                             argv, lens);
    sl_enqueue_batch_reset(&q->batch);
    if (rc) { /* down since the jobs were taken: answered 503 now */
        call->sent = 0;
        enqueue_cb(NULL, NULL, call);
    }
}

void serve_jobs_flush(serve *s)
{
    while (s->pending) {
        struct queue_pending *q = s->pending;
        s->pending = q->next_pending;
        q->on_list = 0;
        send_queue(s, q);
    }
    serve_spool_turn(s);
}

void serve_jobs_redis_up(serve *s)
{
    for (struct queue_pending *q = s->queues; q; q = q->next)
        q->registered = 0;
}

void serve_jobs_free(serve *s)
{
    while (s->queues) {
        struct queue_pending *q = s->queues;
        s->queues = q->next;
        sl_enqueue_batch_deinit(&q->batch);
        free(q->e);
        free(q);
    }
    s->pending = NULL;
}

static struct queue_pending *queue_get(serve *s, const char *name)
{
    for (struct queue_pending *q = s->queues; q; q = q->next)
        if (!strcmp(q->name, name))
            return q;
    struct queue_pending *q = sl_calloc(1, sizeof *q);
    sl_strlcpy(q->name, name, sizeof q->name);
    sl_enqueue_batch_init(&q->batch, s->o.prefix, name, s->o.idem_ttl_ms);
    q->next = s->queues;
    s->queues = q;
    return q;
}

/* What the spool keeps of JOB (completed) encoded as BODY. */
static sl_spool_job *rec_new(const sl_job *job, const char *body, size_t len)
{
    size_t q = strlen(job->queue) + 1, i = strlen(job->id) + 1;
    size_t k = job->idempotency_key ? strlen(job->idempotency_key) + 1 : 0;
    sl_spool_job *r = sl_malloc(sizeof *r + q + i + k + len + 1);
    char *p = (char *)(r + 1);
    *r = (sl_spool_job){.priority = job->priority,
                        .delay_ms = job->delay_ms,
                        .run_at_ms = job->run_at_ms,
                        .len = len};
    r->queue = memcpy(p, job->queue, q), p += q;
    r->id = memcpy(p, job->id, i), p += i;
    if (k)
        r->idempotency_key = memcpy(p, job->idempotency_key, k), p += k;
    memcpy(p, body, len);
    p[len] = '\0';
    r->body = p;
    return r;
}

const sl_spool_job *serve_jobs_record(sreq *r, int index)
{
    return r->jobs && r->jobs->recs ? r->jobs->recs[index] : NULL;
}

void serve_jobs_spooled(sreq *r, int index, int rc, const char *err)
{
    struct sreq_jobs *j = r->jobs;
    if (!rc) {
        sl_strlcpy(j->ids[index], j->recs[index]->id, sizeof j->ids[index]);
        j->spooled++;
    } else if (!j->spool_err[0]) {
        sl_strlcpy(j->spool_err, err, sizeof j->spool_err);
    }
    job_settled(r);
}

/* Puts JOB (checked, completed) of R, at INDEX, in its queue's batch, or
 * in the spool when TO_SPOOL. */
static void gather(serve *s, sreq *r, int index, sl_job *job, sl_buf *body, int to_spool)
{
    sl_buf_reset(body);
    sl_job_encode(job, body);
    if (r->jobs->recs && !job->batch)
        r->jobs->recs[index] = rec_new(job, body->data, body->len);
    if (to_spool) {
        serve_spool_add(s, r, index);
        return;
    }
    struct queue_pending *q = queue_get(s, job->queue);
    sl_enqueue_batch_add(&q->batch, job, body->data, body->len);
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->e = sl_realloc(q->e, (size_t)q->cap * sizeof *q->e);
    }
    q->e[q->n].r = r;
    q->e[q->n].index = index;
    q->n++;
    if (q->n >= CALL_MAX_JOBS) {
        send_queue(s, q); /* a call stays short: Redis serves others between */
        return;
    }
    if (!q->on_list) {
        q->on_list = 1;
        q->next_pending = s->pending;
        s->pending = q;
    }
}

/* ---- checking ------------------------------------------------------------ */

/* Checks item DOC (taken over) into JOB: the schemas, the token's scope, the
 * Idempotency-Key header. Returns 0, or the HTTP status with the reason in
 * ERR ("FIELD: message"). */
static int check_job(sreq *r, cJSON *doc, sl_job *job, const char *idem, char *err, size_t errlen)
{
    if (sl_job_from_doc(job, doc, (size_t)r->s->o.max_payload, err, errlen))
        return 400;
    if (idem) {
        if (job->idempotency_key && strcmp(job->idempotency_key, idem)) {
            snprintf(err, errlen, "idempotency_key: differs from the Idempotency-Key header");
            return 400;
        }
        if (!job->idempotency_key)
            job->idempotency_key = sl_strdup(idem);
    }
    sl_job_complete(job);
    serve_token *t = r->token;
    if (t && !serve_token_allows_queue(t, job->queue)) {
        snprintf(err, errlen, "queue: token %s may not enqueue into queue %s", t->name, job->queue);
        return 403;
    }
    if (t && !serve_token_allows_type(t, job->type)) {
        snprintf(err, errlen, "type: token %s may not enqueue jobs of type %s", t->name, job->type);
        return 403;
    }
    return 0;
}

static int check_idem_header(sreq *r, const char **idem)
{
    *idem = sreq_header(r, "Idempotency-Key");
    if (!*idem)
        return 0;
    size_t n = strlen(*idem);
    if (n == 0 || n > 200) {
        sreq_error(r, 400, "Idempotency-Key", "must be 1 to 200 bytes");
        return -1;
    }
    return 0;
}

void serve_jobs_post(sreq *r)
{
    serve *s = r->s;
    char err[600];
    sl_jsoncheck_error je;
    if (sl_jsoncheck(r->body.data ? r->body.data : "", r->body.len, &je)) {
        sl_jsoncheck_format(&je, NULL, err, sizeof err);
        sreq_error_text(r, 400, err, -1);
        return;
    }
    const char *idem;
    if (check_idem_header(r, &idem))
        return;
    cJSON *doc = cJSON_ParseWithLength(r->body.data, r->body.len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        sreq_error(r, 400, NULL, "the body must be a JSON object: one job, or {\"jobs\": [...]}");
        return;
    }
    cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "jobs");
    int array = list != NULL;
    int n = 1;
    if (array) {
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(doc) != 1) {
            sreq_error(r, 400, cJSON_IsArray(list) ? NULL : "jobs",
                       cJSON_IsArray(list) ? "a body with \"jobs\" holds nothing else"
                                           : "must be an array of job envelopes");
            cJSON_Delete(doc);
            return;
        }
        n = cJSON_GetArraySize(list);
        if (n < 1 || n > MAX_JOBS) {
            snprintf(err, sizeof err, "%d jobs: give 1 to %d", n, MAX_JOBS);
            sreq_error(r, 400, "jobs", err);
            cJSON_Delete(doc);
            return;
        }
        if (idem) {
            sreq_error(r, 400, "Idempotency-Key",
                       "only for one job: give each job of an array its idempotency_key");
            cJSON_Delete(doc);
            return;
        }
    }
    sl_job *jobs = sl_calloc((size_t)n, sizeof *jobs);
    int bad = 0, status = 0, first = -1;
    sl_buf errs = {0};
    char first_err[600] = "";
    for (int i = 0; i < n; i++) {
        cJSON *item = array ? cJSON_DetachItemFromArray(list, 0) : doc;
        int st = check_job(r, item, &jobs[i], idem, err, sizeof err);
        if (!st)
            continue;
        if (bad++ == 0) {
            first = i;
            status = st;
            sl_strlcpy(first_err, err, sizeof first_err);
        } else if (st == 400 && status != 400) {
            status = 400; /* a malformed job is the first thing to fix */
        }
        if (array && bad <= MAX_ERRORS) {
            if (errs.len)
                sl_buf_puts(&errs, ",");
            serve_error_object(&errs, err, i);
        }
    }
    if (array)
        cJSON_Delete(doc);
    /* while spooled jobs wait (or Redis is down) new ones go behind them;
     * a job of a batch cannot wait (its batch lives in Redis) */
    int to_spool = !bad && serve_spool_first(s);
    for (int i = 0; to_spool && i < n; i++)
        if (jobs[i].batch)
            to_spool = 0;
    if (!bad && !to_spool && !sl_rconn_is_up(s->redis)) {
        r->retry_after = 1;
        sreq_error(r, 503, NULL,
                   s->spool ? "redis is unreachable and jobs of a batch are not spooled: nothing "
                              "was stored; try again"
                            : "redis is unreachable: nothing was stored; try again");
        bad = -1;
    }
    if (!bad && r->token) { /* last: a refused request takes nothing of the quota */
        int wait = serve_token_take(r->token, n, ev_now(s->loop));
        if (wait) {
            r->retry_after = wait;
            snprintf(first_err, sizeof first_err,
                     "over the quota of token %s (%.0f jobs/s): retry after %d s", r->token->name,
                     r->token->rate, wait);
            sreq_error(r, 429, NULL, first_err);
            bad = -1;
        }
    }
    if (bad > 0) {
        sl_buf *b = &r->resp;
        r->status = status;
        sl_buf_reset(b);
        if (array) {
            char msg[700];
            snprintf(msg, sizeof msg,
                     "%s (job %d of %d; %d bad; nothing of this request was stored)", first_err,
                     first, n, bad);
            sl_buf_puts(b, "{\"error\":");
            serve_error_object(b, msg, first);
            sl_buf_printf(b, ",\"errors\":[%s]}", errs.data ? errs.data : "");
        } else {
            sreq_error_text(r, status, first_err, -1);
        }
    }
    sl_buf_deinit(&errs);
    if (bad) {
        for (int i = 0; i < n; i++)
            sl_job_deinit(&jobs[i]);
        free(jobs);
        return;
    }
    struct sreq_jobs *j = sl_calloc(1, sizeof *j);
    j->n = n;
    j->array = array;
    j->waiting = n;
    j->ids = sl_calloc((size_t)n, sizeof *j->ids);
    if (s->spool)
        j->recs = sl_calloc((size_t)n, sizeof *j->recs);
    r->jobs = j;
    sreq_suspend(r);
    sl_buf body = {0};
    for (int i = 0; i < n; i++) {
        gather(s, r, i, &jobs[i], &body, to_spool);
        sl_job_deinit(&jobs[i]);
    }
    sl_buf_deinit(&body);
    free(jobs);
}

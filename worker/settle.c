/* settle.c — finished runs go back to Redis in batches: every id acked in
 * one loop turn travels in one ack.lua call per queue, every failure in one
 * fail.lua call, each id with its claim's lease token. A call that gets no
 * answer (connection lost) or an error is put back and sent again: ack and
 * fail only move jobs whose lease the token still holds, so a repeat is
 * harmless (and counts nothing twice in a job's batch; it counts as stale).
 * Acks travel in runs that share a token (the jobs of one claim mostly end
 * together), so a token crosses once per run, not once per job. Acks of
 * jobs in a batch travel apart, as (id, token, batch) triples after the
 * runs, so that jobs in none pay nothing for batches; jobs with a result
 * travel last, as (id, token, batch, envelope with the result, result), so
 * that jobs without one pay nothing for results either. ack.lua and
 * fail.lua publish one line per ended job on PREFIX:{Q}:finished, and
 * append every end to PREFIX:events (events.h): the worker makes each
 * job's line here (C formats cheaper than Lua), the acks' all in one
 * argument, a failure's beside it.
 * Settles refused as stale (the job's lease was taken back: this worker was
 * paused, cut off or declared dead meanwhile) are logged once per call. */
#include "worker.h"
#include "events.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

enum { ACK, FAIL };

struct settle_call {
    worker *w;
    wqueue *q;
    int kind;
    struct pending p;  /* the variable arguments, owned while in flight */
    struct pending pb; /* ACK: the (id, token, batch) triples after them */
    struct pending pr; /* ACK: then the jobs with a result, 5 values each */
    sl_buf lines;      /* ACK: the completion channel's message, or empty */
    struct wm_list m;  /* the jobs' metrics, counted when accepted (wmetrics.c) */
    sl_buf events;     /* ACK: the events.h lines of its jobs */
    const char **argv;
    size_t *lens;
    int cap;
    struct settle_call *next; /* worker.settle_spare */
};

static void pending_reset(struct pending *p)
{
    sl_args_reset(&p->args);
    p->jobs = 0;
}

void pending_deinit(struct pending *p)
{
    sl_args_deinit(&p->args);
    p->jobs = 0;
}

static void pending_move(struct pending *dst, const struct pending *src)
{
    sl_args_append(&dst->args, &src->args);
    dst->jobs += src->jobs;
}

void settle_ack(wqueue *q, const char *token, const sl_job *job, int64_t claimed_ms,
                int rate_limited)
{
    const char *id = job->id, *batch = job->batch;
    if (q->w->events_cap > 0)
        sl_events_line(&q->ack_events, "done", id, job, claimed_ms, rate_limited, NULL);
    if (batch) {
        sl_args_add(&q->backs.args, id, strlen(id));
        sl_args_add(&q->backs.args, token, strlen(token));
        sl_args_add(&q->backs.args, batch, strlen(batch));
        q->backs.jobs++;
        return;
    }
    struct pending *p = &q->acks;
    size_t len = strlen(token);
    if (q->ack_run && q->ack_run_jobs < 999999 && p->args.lens[q->ack_run - 2] == len &&
        !memcmp(sl_args_at(&p->args, q->ack_run - 2), token, len)) {
        /* the count is fixed width ("000042"), rewritten in place */
        char num[12];
        snprintf(num, sizeof num, "%06d", ++q->ack_run_jobs);
        memcpy(p->args.bytes.data + p->args.offs[q->ack_run - 1], num, 6);
    } else {
        sl_args_add(&p->args, token, len);
        sl_args_add(&p->args, "000001", 6);
        q->ack_run = p->args.argc;
        q->ack_run_jobs = 1;
    }
    sl_args_add(&p->args, id, strlen(id));
    p->jobs++;
}

void settle_ack_result(wqueue *q, const char *token, const sl_job *job, int64_t claimed_ms,
                       int rate_limited, const char *body, size_t body_len, const char *result,
                       size_t result_len)
{
    const char *id = job->id, *batch = job->batch;
    if (q->w->events_cap > 0)
        sl_events_line(&q->ack_events, "done", id, job, claimed_ms, rate_limited, NULL);
    struct pending *p = &q->rets;
    sl_args_add(&p->args, id, strlen(id));
    sl_args_add(&p->args, token, strlen(token));
    sl_args_add(&p->args, batch ? batch : "", batch ? strlen(batch) : 0);
    sl_args_add(&p->args, body, body_len);
    sl_args_add(&p->args, result, result_len);
    p->jobs++;
}

void settle_fail(wqueue *q, const char *id, const char *token, const struct settle_how *how)
{
    /* fail.lua's names of the actions, and the events' outcomes */
    static const char *const actions[] = {
        [SETTLE_RETRY] = "retry",
        [SETTLE_DEAD] = "dead",
        [SETTLE_BACK] = "back",
        [SETTLE_DEFER] = "defer",
    };
    static const char *const outcomes[] = {
        [SETTLE_RETRY] = "retried",
        [SETTLE_DEAD] = "dead",
        [SETTLE_BACK] = NULL,
        [SETTLE_DEFER] = "deferred",
    };
    const char *action = actions[how->action];
    char num[24];
    struct pending *p = &q->fails;
    sl_args_add(&p->args, id, strlen(id));
    sl_args_add(&p->args, token, strlen(token));
    sl_args_add(&p->args, action, strlen(action));
    sl_args_add(&p->args, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)how->delay_ms));
    sl_args_add(&p->args, num, (size_t)snprintf(num, sizeof num, "%d", how->priority));
    const sl_buf *body = how->body && how->body->data ? how->body : NULL;
    sl_args_add(&p->args, body ? body->data : "", body ? body->len : 0);
    sl_args_add(&p->args, how->batch ? how->batch : "", how->batch ? strlen(how->batch) : 0);
    const char *outcome = outcomes[how->action];
    if (outcome && q->w->events_cap > 0) {
        sl_buf *line = &q->w->event_line;
        sl_buf_reset(line);
        sl_events_line(line, outcome, id, how->job, how->claimed_ms, how->rate_limited, how->error);
        sl_args_add(&p->args, line->data, line->len);
    } else {
        sl_args_add(&p->args, "", 0);
    }
    p->jobs++;
}

int settle_idle(const worker *w)
{
    if (w->settle_calls)
        return 0;
    for (int i = 0; i < w->nqueues; i++)
        if (w->queues[i].acks.jobs || w->queues[i].backs.jobs || w->queues[i].rets.jobs ||
            w->queues[i].fails.jobs)
            return 0;
    return 1;
}

static void call_free(struct settle_call *c)
{
    pending_reset(&c->p);
    pending_reset(&c->pb);
    pending_reset(&c->pr);
    sl_buf_reset(&c->lines);
    c->m.n = 0;
    sl_buf_reset(&c->events);
    c->next = c->w->settle_spare;
    c->w->settle_spare = c;
}

static void settle_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct settle_call *c = priv;
    worker *w = c->w;
    w->settle_calls--;
    const char *err = sl_reply_error(reply);
    if (!rc) { /* the connection is being freed at exit */
        call_free(c);
        return;
    }
    int jobs = c->p.jobs + c->pb.jobs + c->pr.jobs;
    if (!reply || err) {
        sl_warn("settle failed, will resend kind=%s queue=%s jobs=%d error=\"%s\"",
                c->kind == ACK ? "ack" : "fail", c->q->keys.queue, jobs,
                err ? err : "no reply (connection lost)");
        pending_move(c->kind == ACK ? &c->q->acks : &c->q->fails, &c->p);
        pending_move(&c->q->backs, &c->pb);
        pending_move(&c->q->rets, &c->pr);
        wm_list_move(c->kind == ACK ? &c->q->ack_m : &c->q->fail_m, &c->m);
        if (c->events.len)
            sl_buf_append(&c->q->ack_events, c->events.data, c->events.len);
        if (c->kind == ACK)
            c->q->ack_run = 0; /* the runs moved back are complete */
        if (!ev_is_active(&w->settle_retry)) {
            ev_timer_set(&w->settle_retry, 0.2, 0);
            ev_timer_start(w->loop, &w->settle_retry);
        }
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3 &&
               reply->element[1]->type == REDIS_REPLY_INTEGER && reply->element[1]->integer > 0) {
        /* {moved, stale, a stale id}: one line per call, not per job */
        const redisReply *sample = reply->element[2];
        sl_warn("settle refused as stale kind=%s queue=%s jobs=%lld of=%d sample=%s (this worker "
                "no longer "
                "holds their leases: they expired or the worker was declared dead while it was "
                "paused or cut off, and the jobs were put back to run elsewhere; or an ack "
                "repeated after a lost reply)",
                c->kind == ACK ? "ack" : "fail", c->q->keys.queue,
                (long long)reply->element[1]->integer, jobs,
                sample->type == REDIS_REPLY_STRING ? sample->str : "?");
    }
    if (reply && !err && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER)
        /* ack: {acknowledged, stale, ...}; fail: {moved (hand-backs too), stale, ...} */
        wm_list_count(&c->m, c->kind == ACK ? reply->element[0]->integer
                                            : c->m.n - reply->element[1]->integer);
    if (c->kind == ACK && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 4 &&
        reply->element[3]->type == REDIS_REPLY_INTEGER)
        c->q->heard = reply->element[3]->integer != 0;
    call_free(c);
    drain_check_done(w);
}

/* C's message for PREFIX:{Q}:finished (ack.lua): one NDJSON line per job,
 * {"id":"ID","state":"done"} or with ,"result":R. Ids are plain (run.c
 * refuses others), so nothing needs escaping. */
static void make_lines(struct settle_call *c)
{
    static const char head[] = "{\"id\":\"", tail[] = "\",\"state\":\"done\"}\n";
    const struct pending *p = &c->p;
    for (int i = 0; i < p->args.argc;) {
        char num[8];
        memcpy(num, sl_args_at(&p->args, i + 1), 6);
        num[6] = '\0';
        int k = atoi(num);
        for (int j = i + 2; j < i + 2 + k; j++) {
            sl_buf_append(&c->lines, head, sizeof head - 1);
            sl_buf_append(&c->lines, sl_args_at(&p->args, j), p->args.lens[j]);
            sl_buf_append(&c->lines, tail, sizeof tail - 1);
        }
        i += 2 + k;
    }
    for (int i = 0; i < c->pb.args.argc; i += 3) {
        sl_buf_append(&c->lines, head, sizeof head - 1);
        sl_buf_append(&c->lines, sl_args_at(&c->pb.args, i), c->pb.args.lens[i]);
        sl_buf_append(&c->lines, tail, sizeof tail - 1);
    }
    for (int i = 0; i < c->pr.args.argc; i += 5) {
        sl_buf_append(&c->lines, head, sizeof head - 1);
        sl_buf_append(&c->lines, sl_args_at(&c->pr.args, i), c->pr.args.lens[i]);
        sl_buf_puts(&c->lines, "\",\"state\":\"done\",\"result\":");
        sl_buf_append(&c->lines, sl_args_at(&c->pr.args, i + 4), c->pr.args.lens[i + 4]);
        sl_buf_puts(&c->lines, "}\n");
    }
}

/* Swaps SRC's collected arguments into DST (empty): the queue keeps
 * collecting into DST's old buffers. */
static void take(struct pending *dst, struct pending *src)
{
    struct pending tmp = *dst;
    *dst = *src;
    *src = tmp;
    pending_reset(src);
}

/* Sends what Q has collected for KIND as one ack.lua (ACK) or fail.lua (FAIL)
 * call, when there is any and Redis is up. */
static void send_ack_or_fail(worker *w, wqueue *q, int kind)
{
    struct pending *src = kind == ACK ? &q->acks : &q->fails;
    if ((!src->jobs && (kind != ACK || (!q->backs.jobs && !q->rets.jobs))) ||
        !sl_rconn_is_up(w->redis))
        return;
    struct settle_call *c = w->settle_spare;
    if (c)
        w->settle_spare = c->next;
    else
        c = sl_calloc(1, sizeof *c);
    c->w = w;
    c->q = q;
    c->kind = kind;
    take(&c->p, src);
    wm_list_take(&c->m, kind == ACK ? &q->ack_m : &q->fail_m);
    if (kind == ACK) {
        take(&c->pb, &q->backs);
        take(&c->pr, &q->rets);
        q->ack_run = 0;
        sl_buf tmp = c->events; /* empty: the queue collects into its buffer next */
        c->events = q->ack_events;
        q->ack_events = tmp;
    }

    int head = kind == ACK ? 12 : 13;
    int argc = head + c->p.args.argc + c->pb.args.argc + c->pr.args.argc;
    if (argc > c->cap) {
        c->cap = argc * 2;
        c->argv = sl_realloc(c->argv, c->cap * sizeof *c->argv);
        c->lens = sl_realloc(c->lens, c->cap * sizeof *c->lens);
    }
    char retention[24], plain[16], triples[16], cap[24];
    snprintf(cap, sizeof cap, "%lld", w->events_cap);
    int n = 0, nkeys;
    if (kind == ACK) {
        c->argv[n++] = q->keys.active;
        c->argv[n++] = q->keys.done;
        c->argv[n++] = q->keys.stats;
        c->argv[n++] = q->keys.lease;
        c->argv[n++] = q->keys.events;
        nkeys = 5;
        c->argv[n++] = q->keys.base;
        snprintf(retention, sizeof retention, "%lld", w->retention_ms);
        c->argv[n++] = retention;
        snprintf(plain, sizeof plain, "%d", c->p.args.argc);
        c->argv[n++] = plain;
        snprintf(triples, sizeof triples, "%d", c->pb.args.argc);
        c->argv[n++] = triples;
        if (q->heard)
            make_lines(c);
        c->argv[n++] = c->lines.len ? c->lines.data : "";
        c->argv[n++] = c->events.len ? c->events.data : "";
        c->argv[n++] = cap;
    } else {
        c->argv[n++] = q->keys.active;
        c->argv[n++] = q->keys.delayed;
        c->argv[n++] = q->keys.dead;
        c->argv[n++] = q->keys.stats;
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            c->argv[n++] = q->keys.ready[p];
        c->argv[n++] = q->keys.lease;
        c->argv[n++] = q->keys.events;
        nkeys = 10;
        c->argv[n++] = q->keys.base;
        c->argv[n++] = w->sched_channel;
        c->argv[n++] = cap;
    }
    for (int i = 0; i < n; i++)
        c->lens[i] = strlen(c->argv[i]); /* the lines have no NUL either */
    for (int i = 0; i < c->p.args.argc; i++, n++) {
        c->argv[n] = sl_args_at(&c->p.args, i);
        c->lens[n] = c->p.args.lens[i];
    }
    for (int i = 0; i < c->pb.args.argc; i++, n++) {
        c->argv[n] = sl_args_at(&c->pb.args, i);
        c->lens[n] = c->pb.args.lens[i];
    }
    for (int i = 0; i < c->pr.args.argc; i++, n++) {
        c->argv[n] = sl_args_at(&c->pr.args, i);
        c->lens[n] = c->pr.args.lens[i];
    }
    enum sl_script_id script = kind == ACK ? SL_SCRIPT_ACK : SL_SCRIPT_FAIL;
    if (sl_rconn_script(w->redis, script, settle_reply_cb, c, nkeys, argc, c->argv, c->lens)) {
        pending_move(src, &c->p);
        pending_move(&q->backs, &c->pb);
        pending_move(&q->rets, &c->pr);
        wm_list_move(kind == ACK ? &q->ack_m : &q->fail_m, &c->m);
        if (c->events.len)
            sl_buf_append(&q->ack_events, c->events.data, c->events.len);
        if (kind == ACK)
            q->ack_run = 0;
        call_free(c);
        return;
    }
    w->settle_calls++;
}

void settle_flush(worker *w)
{
    for (int i = 0; i < w->nqueues; i++) {
        send_ack_or_fail(w, &w->queues[i], FAIL);
        send_ack_or_fail(w, &w->queues[i], ACK);
    }
}

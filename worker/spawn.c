/* spawn.c — see spawn.h. */
#include "spawn.h"
#include "enqueue.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define IDEM_TTL_MS (7LL * 24 * 3600 * 1000)

struct spawn {
    worker *w;
    sl_enqueue_batch *batches; /* one per queue */
    int nbatches;
    int jobs;
    int waiting; /* replies to come */
    int ok;
    int cancelled;
    char error[256];
    spawn_cb *cb;
    void *priv;
    ev_idle later; /* CB for a send that had nothing to send */
};

spawn *spawn_new(worker *w)
{
    spawn *s = sl_calloc(1, sizeof *s);
    s->w = w;
    s->ok = 1;
    return s;
}

int spawn_add(spawn *s, const char *envelope, char *err, size_t errlen)
{
    sl_job job;
    if (sl_job_parse(&job, envelope, strlen(envelope), SL_JOB_DEFAULT_MAX_PAYLOAD, err, errlen))
        return SL_EINVAL;
    sl_job_complete(&job);
    sl_enqueue_batch *b = NULL;
    for (int i = 0; i < s->nbatches && !b; i++)
        if (!strcmp(s->batches[i].keys.queue, job.queue))
            b = &s->batches[i];
    if (!b) {
        s->batches = sl_realloc(s->batches, (size_t)(s->nbatches + 1) * sizeof *s->batches);
        b = &s->batches[s->nbatches++];
        sl_enqueue_batch_init(b, s->w->prefix, job.queue, IDEM_TTL_MS);
    }
    sl_buf body = {0};
    sl_job_encode(&job, &body);
    sl_enqueue_batch_add(b, &job, body.data, body.len);
    sl_buf_deinit(&body);
    sl_job_deinit(&job);
    s->jobs++;
    return 0;
}

static void spawn_free(spawn *s)
{
    for (int i = 0; i < s->nbatches; i++)
        sl_enqueue_batch_deinit(&s->batches[i]);
    free(s->batches);
    free(s);
}

static void reply_done(spawn *s)
{
    if (--s->waiting > 0)
        return;
    if (!s->cancelled)
        s->cb(s->ok, s->ok ? NULL : s->error, s->priv);
    spawn_free(s);
}

static void fail(spawn *s, const char *why)
{
    if (s->ok)
        sl_strlcpy(s->error, why, sizeof s->error);
    s->ok = 0;
}

static void enqueue_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    spawn *s = priv;
    (void)rc;
    const char *err = sl_reply_error(reply);
    if (!reply || err || reply->type != REDIS_REPLY_ARRAY) {
        fail(s, err ? err : "redis: no answer to the enqueue of spawned jobs");
    } else {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *r = reply->element[i];
            if (r->type == REDIS_REPLY_STRING && r->str[0] == '!')
                sl_warn("spawned job refused reason=\"%s\"", r->str + 1);
        }
    }
    reply_done(s);
}

static void sadd_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc;
    if (!reply || sl_reply_error(reply))
        fail(priv, "redis: the queue could not be registered");
    reply_done(priv);
}

static void later_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    spawn *s = w->data;
    ev_idle_stop(loop, w);
    s->waiting = 1;
    reply_done(s);
}

void spawn_send(spawn *s, spawn_cb *cb, void *priv)
{
    s->cb = cb;
    s->priv = priv;
    ev_idle_init(&s->later, later_cb);
    s->later.data = s;
    if (!s->nbatches) {
        ev_idle_start(s->w->loop, &s->later);
        return;
    }
    s->waiting = 1; /* held until every call is out */
    char qkey[SL_KEY_MAX];
    sl_keys_queues(qkey, s->w->prefix);
    for (int i = 0; i < s->nbatches; i++) {
        sl_enqueue_batch *b = &s->batches[i];
        /* the queue is known to the scheduler before its first delayed job */
        const char *sargv[3] = {"SADD", qkey, b->keys.queue};
        if (sl_rconn_command(s->w->redis, sadd_reply_cb, s, 3, sargv, NULL) == 0)
            s->waiting++;
        else
            fail(s, "redis is down");
        const char **argv;
        const size_t *lens;
        int argc = sl_enqueue_batch_args(b, &argv, &lens);
        if (sl_rconn_script(s->w->redis, SL_SCRIPT_ENQUEUE, enqueue_reply_cb, s, SL_ENQUEUE_KEYS,
                            argc, argv, lens) == 0)
            s->waiting++;
        else
            fail(s, "redis is down");
    }
    if (s->waiting == 1) { /* nothing went out: answer from the loop, not from here */
        s->waiting = 0;
        ev_idle_start(s->w->loop, &s->later);
        return;
    }
    reply_done(s);
}

void spawn_cancel(spawn *s)
{
    if (!s)
        return;
    s->cancelled = 1;
    if (s->cb && ev_is_active(&s->later)) {
        ev_idle_stop(s->w->loop, &s->later);
        spawn_free(s);
    } else if (!s->cb) {
        spawn_free(s);
    }
}

/* serve_wait.c — GET /v1/jobs/ID[?queue=Q][&wait=S]. With ?wait the
 * request is suspended until the job is done or dead (or cancelled), or S
 * seconds pass. What wakes it is Redis pub/sub, never polling: the one
 * subscriber connection has PSUBSCRIBE PREFIX:{*}:finished, on which each
 * ack/fail call publishes NDJSON lines {"id": ..., "state": ...}; a table
 * of waiters by id finds the requests to answer, and each is answered
 * after one fresh look-up (the whole state: attempts, timings, result).
 *
 * No finish is missed: a waiter is entered before its first look-up (a
 * message that comes while it is in flight makes a second one), and every
 * waiter is looked up again each time the subscription is (re)made. A
 * waiting request costs its suspended connection, a table entry and a
 * timer: no CPU until something happens. */
#include "serve.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_WAIT_S = 60 };

struct serve_waiters {
    sreq **bucket;  /* chains through look->next_waiter */
    size_t nbucket; /* a power of two */
    size_t n;
    int ready; /* the subscription is in place */
};

static size_t hash_id(const char *id, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
    return (size_t)h;
}

static void table_grow(struct serve_waiters *w)
{
    size_t nb = w->nbucket ? w->nbucket * 2 : 1024;
    sreq **b = sl_calloc(nb, sizeof *b);
    for (size_t i = 0; i < w->nbucket; i++) {
        sreq *r = w->bucket[i];
        while (r) {
            sreq *next = r->look->next_waiter;
            size_t at = hash_id(r->look->id, strlen(r->look->id)) & (nb - 1);
            r->look->next_waiter = b[at];
            b[at] = r;
            r = next;
        }
    }
    free(w->bucket);
    w->bucket = b;
    w->nbucket = nb;
}

static void waiter_add(struct serve_waiters *w, sreq *r)
{
    if (w->n + 1 > w->nbucket)
        table_grow(w);
    size_t at = hash_id(r->look->id, strlen(r->look->id)) & (w->nbucket - 1);
    r->look->next_waiter = w->bucket[at];
    w->bucket[at] = r;
    w->n++;
}

static void waiter_remove(struct serve_waiters *w, sreq *r)
{
    size_t at = hash_id(r->look->id, strlen(r->look->id)) & (w->nbucket - 1);
    for (sreq **p = &w->bucket[at]; *p; p = &(*p)->look->next_waiter)
        if (*p == r) {
            *p = r->look->next_waiter;
            w->n--;
            return;
        }
}

/* ---- answers ------------------------------------------------------------- */

static void finish(sreq *r, int found)
{
    serve *s = r->s;
    struct sreq_lookup *l = r->look;
    if (l->wait) {
        l->wait = 0;
        waiter_remove(s->waiters, r);
        ev_timer_stop(s->loop, &l->timer);
    }
    if (found > 0 && r->token && !serve_token_allows_queue(r->token, l->queue))
        found = 0; /* a queue the token does not see */
    if (found < 0) {
        r->retry_after = 1;
        sreq_error(r, 503, NULL, "redis is unreachable; try again");
    } else if (found == 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "no job %s%s%s", l->id, l->queue[0] ? " in queue " : "",
                 l->queue);
        sreq_error(r, 404, "id", msg);
    } else {
        r->status = 200;
        sl_buf_reset(&r->resp);
        serve_lookup_json(l, &r->resp);
    }
    serve_resume(s, r);
}

static void looked_up(sreq *r, int found)
{
    struct sreq_lookup *l = r->look;
    int hidden = found > 0 && r->token && !serve_token_allows_queue(r->token, l->queue);
    if (found <= 0 || hidden || !l->wait || serve_state_final(l->state) || l->timed_out) {
        finish(r, found);
        return;
    }
    if (l->recheck) {
        l->recheck = 0;
        if (serve_lookup(r, looked_up))
            finish(r, -1);
        return;
    }
    /* still running: the finish message or the timer wakes it; the body
     * (up to a payload's limit) is not kept while it waits */
    free(l->body);
    l->body = NULL;
    l->len = 0;
}

/* Something may have changed for waiter R: look again. */
static void poke(sreq *r)
{
    struct sreq_lookup *l = r->look;
    if (l->looking) {
        l->recheck = 1;
        return;
    }
    if (serve_lookup(r, looked_up))
        finish(r, -1);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    sreq *r = t->data;
    r->look->timed_out = 1;
    poke(r);
}

/* ---- the subscription ---------------------------------------------------- */

static void wake_id(serve *s, const char *id, size_t len)
{
    struct serve_waiters *w = s->waiters;
    if (!w->n)
        return;
    size_t at = hash_id(id, len) & (w->nbucket - 1);
    sreq *r = w->bucket[at];
    while (r) {
        sreq *next = r->look->next_waiter; /* poke may answer and unlink r */
        if (strlen(r->look->id) == len && !memcmp(r->look->id, id, len))
            poke(r);
        r = next;
    }
}

/* Every waiter looked up again: the subscription was (re)made, and what
 * was published while it was down was not seen. */
static void poke_all(serve *s)
{
    struct serve_waiters *w = s->waiters;
    size_t n = w->n;
    if (!n)
        return;
    sreq **all = sl_malloc(n * sizeof *all);
    size_t k = 0;
    for (size_t i = 0; i < w->nbucket; i++)
        for (sreq *r = w->bucket[i]; r; r = r->look->next_waiter)
            all[k++] = r;
    for (size_t i = 0; i < k; i++)
        poke(all[i]);
    free(all);
}

static void message_cb(sl_rconn *c, const char *channel, const char *msg, size_t len, void *priv)
{
    (void)c, (void)channel;
    serve *s = priv;
    if (!msg) { /* PSUBSCRIBE confirmed */
        s->waiters->ready = 1;
        poke_all(s);
        return;
    }
    /* NDJSON: one {"id": ..., "state": ...} a line */
    const char *p = msg, *end = msg + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        cJSON *doc = cJSON_ParseWithLength(p, (size_t)(le - p));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
        if (cJSON_IsString(id))
            wake_id(s, id->valuestring, strlen(id->valuestring));
        cJSON_Delete(doc);
        p = le + 1;
    }
}

static void sub_state_cb(sl_rconn *c, int up, void *priv)
{
    (void)c;
    serve *s = priv;
    if (!up)
        s->waiters->ready = 0;
}

int serve_wait_init(serve *s)
{
    s->waiters = sl_calloc(1, sizeof *s->waiters);
    char pattern[SL_KEY_MAX];
    /* the channel's name: PREFIX:{QUEUE}:finished (one per queue) */
    snprintf(pattern, sizeof pattern, "%s:{*}:finished", s->o.prefix);
    const char *p = pattern;
    sl_rconn_psubscribe(s->sub, 1, &p, message_cb, s);
    sl_rconn_set_state_cb(s->sub, sub_state_cb, s);
    return 0;
}

void serve_wait_release_all(serve *s)
{
    struct serve_waiters *w = s->waiters;
    if (!w)
        return;
    /* each is answered with what a look-up says now (or 503 without Redis) */
    while (w->n) {
        sreq *r = NULL;
        for (size_t i = 0; i < w->nbucket && !r; i++)
            r = w->bucket[i];
        struct sreq_lookup *l = r->look;
        l->timed_out = 1;
        waiter_remove(w, r);
        l->wait = 0;
        ev_timer_stop(s->loop, &l->timer);
        if (!l->looking && serve_lookup(r, looked_up))
            finish(r, -1);
    }
}

void serve_wait_deinit(serve *s)
{
    if (!s->waiters)
        return;
    free(s->waiters->bucket);
    free(s->waiters);
    s->waiters = NULL;
}

/* ---- GET /v1/jobs/ID ----------------------------------------------------- */

/* Reads ?queue= into L; 0, or -1 with R's answer set. */
int serve_queue_arg(sreq *r, struct sreq_lookup *l);
int serve_queue_arg(sreq *r, struct sreq_lookup *l)
{
    const char *q = sreq_arg(r, "queue");
    if (!q)
        return 0;
    char err[200];
    if (sl_check_name("queue", q, err, sizeof err)) {
        sreq_error_text(r, 400, err, -1);
        return -1;
    }
    if (r->token && !serve_token_allows_queue(r->token, q)) {
        char msg[200];
        snprintf(msg, sizeof msg, "token %s may not read queue %s", r->token->name, q);
        sreq_error(r, 403, "queue", msg);
        return -1;
    }
    sl_strlcpy(l->queue, q, sizeof l->queue);
    return 0;
}

void serve_job_get(sreq *r, const char *id)
{
    serve *s = r->s;
    struct sreq_lookup *l = sl_calloc(1, sizeof *l);
    r->look = l;
    sl_strlcpy(l->id, id, sizeof l->id);
    if (serve_queue_arg(r, l))
        return;
    const char *w = sreq_arg(r, "wait");
    long wait = 0;
    if (w) {
        char *end;
        wait = strtol(w, &end, 10);
        if (!*w || *end || wait < 0 || wait > MAX_WAIT_S) {
            sreq_error(r, 400, "wait", "seconds from 0 to 60");
            return;
        }
    }
    if (wait > 0 && !s->waiters->ready) {
        r->retry_after = 1;
        sreq_error(r, 503, "wait", "the subscription to finished jobs is not up yet; try again");
        return;
    }
    if (wait > 0) {
        l->wait = 1;
        waiter_add(s->waiters, r);
        ev_timer_init(&l->timer, timer_cb, (double)wait, 0.);
        l->timer.data = r;
        ev_timer_start(s->loop, &l->timer);
    }
    if (serve_lookup(r, looked_up)) {
        if (l->wait) {
            l->wait = 0;
            waiter_remove(s->waiters, r);
            ev_timer_stop(s->loop, &l->timer);
        }
        r->retry_after = 1;
        sreq_error(r, 503, NULL, "redis is unreachable; try again");
        return;
    }
    sreq_suspend(r);
}

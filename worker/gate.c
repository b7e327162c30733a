/* gate.c — see gate.h. */
#include "gate.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

enum {
    NBUCKETS = 1024,
    MAX_WINDOW = 32,          /* acquires in flight per gate when they all succeed */
    HOLD_IN_MEMORY_MS = 5000, /* longer waits go back to Redis as delayed jobs */
};

struct acquire {
    gate *g;
    gate_link *link; /* NULL once the task left */
};

struct gate {
    char key[400];
    sl_rl_request req;
    gate_link *head, *tail;
    int inflight; /* acquires sent, not answered */
    int window;   /* how many may be in flight */
    int closed;   /* waiting on the timer */
    ev_timer timer;
    ev_tstamp last_used;
    worker *w;
    gate *hnext;
};

static gate *table[NBUCKETS];
static ev_timer sweep_timer;

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static void key_of(const sl_rl_request *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s|%s|%s|%s", r->base, r->route, r->major, r->hold);
}

static void pump(gate *g);

/* A task is parked (holds no slot) while any of its calls waits in a gate. */
static void park(task *t, int d)
{
    int before = t->gated;
    t->gated += d;
    if (before == 0 && t->gated > 0)
        t->w->parked++;
    else if (before > 0 && t->gated == 0)
        t->w->parked--;
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    gate *g = t->data;
    g->closed = 0;
    pump(g);
}

static void close_for(gate *g, long ms)
{
    g->closed = 1;
    g->window = 1;
    ev_timer_stop(g->w->loop, &g->timer);
    ev_timer_set(&g->timer, (double)ms / 1000.0, 0);
    ev_timer_start(g->w->loop, &g->timer);
}

static void unlink_link(gate_link *l)
{
    gate *g = l->g;
    if (l->prev)
        l->prev->next = l->next;
    else
        g->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        g->tail = l->prev;
    l->prev = l->next = NULL;
    l->g = NULL;
    if (l->acq)
        l->acq->link = NULL;
    l->acq = NULL;
}

static void acquire_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct acquire *a = priv;
    gate *g = a->g;
    gate_link *l = a->link;
    free(a);
    if (!rc)
        return;
    g->inflight--;
    g->last_used = ev_now(g->w->loop);
    if (l)
        l->acq = NULL;
    const char *err = sl_reply_error(reply);
    if (!reply || err || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        if (err)
            sl_warn("rate limit check failed error=\"%s\"", err);
        close_for(g, 200); /* Redis trouble: ask again shortly */
        return;
    }
    long wait = (long)reply->element[0]->integer;
    if (wait <= 0) {
        if (g->window < MAX_WINDOW)
            g->window *= 2;
        if (l) {
            l->discover = reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_STRING &&
                          !strcmp(reply->element[1]->str, "discover");
            unlink_link(l);
            park(l->t, -1);
            l->admit(l->t, 0, l->priv);
        }
        pump(g);
        return;
    }
    if (wait > HOLD_IN_MEMORY_MS) {
        /* a long wait (a global 429, an invalid-request pause): hand every
         * waiting task back to Redis instead of holding it here */
        while (g->head) {
            gate_link *x = g->head;
            unlink_link(x);
            park(x->t, -1);
            x->admit(x->t, wait, x->priv);
        }
    }
    close_for(g, wait);
}

static void send_acquire(gate *g, gate_link *l)
{
    const char *argv[5 + 3 * SL_RL_MAX_LIMITS];
    size_t lens[5 + 3 * SL_RL_MAX_LIMITS];
    char nums[1 + 2 * SL_RL_MAX_LIMITS][32];
    int argc = sl_rl_acquire_args(&g->req, argv, lens, nums);
    struct acquire *a = sl_malloc(sizeof *a);
    a->g = g;
    a->link = l;
    if (sl_rconn_script(g->w->redis, SL_SCRIPT_RL_ACQUIRE, acquire_reply_cb, a, 1, argc, argv,
                        lens)) {
        free(a);
        close_for(g, 200); /* Redis down: the connection comes back by itself */
        return;
    }
    l->acq = a;
    g->inflight++;
}

static void pump(gate *g)
{
    if (g->closed)
        return;
    for (gate_link *l = g->head; l && g->inflight < g->window; l = l->next)
        if (!l->acq)
            send_acquire(g, l);
}

static gate *find_or_make(worker *w, const sl_rl_request *r)
{
    char key[400];
    key_of(r, key, sizeof key);
    unsigned h = hash(key);
    for (gate *g = table[h]; g; g = g->hnext)
        if (!strcmp(g->key, key))
            return g;
    gate *g = sl_calloc(1, sizeof *g);
    sl_strlcpy(g->key, key, sizeof g->key);
    g->req = *r;
    g->window = 1;
    g->w = w;
    ev_timer_init(&g->timer, timer_cb, 0, 0);
    g->timer.data = g;
    g->hnext = table[h];
    table[h] = g;
    return g;
}

void gate_enter(worker *w, task *t, const sl_rl_request *r, gate_admit_cb *admit, void *priv,
                gate_link *link)
{
    gate *g = find_or_make(w, r); /* same key, same limits: set when it was made */
    memset(link, 0, sizeof *link);
    link->g = g;
    link->t = t;
    link->admit = admit;
    link->priv = priv;
    link->prev = g->tail;
    if (g->tail)
        g->tail->next = link;
    else
        g->head = link;
    g->tail = link;
    g->last_used = ev_now(w->loop);
    park(t, 1);
    pump(g);
}

void gate_leave(gate_link *link)
{
    if (!link->g)
        return;
    park(link->t, -1);
    unlink_link(link);
}

void gate_hold(worker *w, const sl_rl_request *r, long ms)
{
    gate *g = find_or_make(w, r);
    if (!g->closed || ev_timer_remaining(w->loop, &g->timer) * 1000.0 < (double)ms)
        close_for(g, ms);
}

/* Gates unused for a minute are freed, so a worker that has posted to
 * millions of channels does not keep a gate for each. */
static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    ev_tstamp now = ev_now(loop);
    for (int i = 0; i < NBUCKETS; i++) {
        gate **pp = &table[i];
        while (*pp) {
            gate *g = *pp;
            if (!g->head && !g->inflight && !g->closed && now - g->last_used > 60) {
                *pp = g->hnext;
                free(g);
            } else {
                pp = &g->hnext;
            }
        }
    }
}

void gates_start(worker *w)
{
    ev_timer_init(&sweep_timer, sweep_cb, 30, 30);
    ev_timer_start(w->loop, &sweep_timer);
    ev_unref(w->loop);
}

void gates_stop(worker *w)
{
    ev_ref(w->loop);
    ev_timer_stop(w->loop, &sweep_timer);
    for (int i = 0; i < NBUCKETS; i++)
        for (gate *g = table[i]; g; g = g->hnext) {
            ev_timer_stop(w->loop, &g->timer);
            g->closed = 1; /* nothing more is sent */
        }
}

void gates_free(void)
{
    /* after the Redis connections are freed: no acquire can answer now */
    for (int i = 0; i < NBUCKETS; i++) {
        while (table[i]) {
            gate *g = table[i];
            table[i] = g->hnext;
            free(g);
        }
    }
}

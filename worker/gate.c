/* gate.c — see gate.h. */
#include "gate.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

enum {
    NBUCKETS = 1024,
    MAX_WINDOW = 2,           /* acquires in flight per gate when they all succeed: while
                               * they are out, tasks gather for the next one */
    CHUNK = 64,               /* waiting tasks one acquire asks for */
    HOLD_IN_MEMORY_MS = 5000, /* longer waits go back to Redis as delayed jobs */
};

/* One rl_acquire.lua call for up to CHUNK of a gate's waiting links: the
 * links point to it (gate_link.acq) until the answer comes. */
struct acquire {
    gate *g;
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
    l->acq = NULL;
    l->granted = 0;
}

static void acquire_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct acquire *a = priv;
    gate *g = a->g;
    if (!rc) { /* teardown: the gates are going too */
        free(a);
        return;
    }
    g->inflight--;
    g->last_used = ev_now(g->w->loop);
    const char *err = sl_reply_error(reply);
    int ok = reply && !err && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1;
    long wait = ok ? (long)reply->element[0]->integer : 1;
    long granted = 0;
    int discover = 0;
    if (ok && wait <= 0) {
        granted = reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_INTEGER
                      ? (long)reply->element[1]->integer
                      : 1;
        discover = reply->elements > 2 && reply->element[2]->type == REDIS_REPLY_STRING &&
                   !strcmp(reply->element[2]->str, "discover");
    }
    /* the first GRANTED of the links asked for go, in order; the others
     * wait to be asked for again */
    for (gate_link *l = g->head; l; l = l->next) {
        if (l->acq != a)
            continue;
        l->acq = NULL;
        if (granted > 0) {
            l->granted = 1;
            l->discover = discover;
            granted--;
        }
    }
    free(a);
    if (!ok) {
        if (err)
            sl_warn("rate limit check failed error=\"%s\"", err);
        close_for(g, 200); /* Redis trouble: ask again shortly */
        return;
    }
    if (wait <= 0) {
        if (g->window < MAX_WINDOW)
            g->window *= 2;
        /* one at a time from the head: an admission may end other tasks,
         * whose links then leave the list */
        for (;;) {
            gate_link *l = g->head;
            while (l && !l->granted)
                l = l->next;
            if (!l)
                break;
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

/* Asks for L and the links after it that no acquire covers, CHUNK at most. */
static void send_acquire(gate *g, gate_link *l)
{
    int count = 0;
    for (gate_link *x = l; x && count < CHUNK; x = x->next)
        count += !x->acq && !x->granted;
    const char *argv[6 + 3 * SL_RL_MAX_LIMITS];
    size_t lens[6 + 3 * SL_RL_MAX_LIMITS];
    char nums[2 + 2 * SL_RL_MAX_LIMITS][32];
    int argc = sl_rl_acquire_args(&g->req, count, argv, lens, nums);
    struct acquire *a = sl_malloc(sizeof *a);
    a->g = g;
    if (sl_rconn_script(g->w->redis, SL_SCRIPT_RL_ACQUIRE, acquire_reply_cb, a, 1, argc, argv,
                        lens)) {
        free(a);
        close_for(g, 200); /* Redis down: the connection comes back by itself */
        return;
    }
    int marked = 0;
    for (gate_link *x = l; x && marked < count; x = x->next)
        if (!x->acq && !x->granted) {
            x->acq = a;
            marked++;
        }
    g->inflight++;
}

static void pump(gate *g)
{
    if (g->closed)
        return;
    for (gate_link *l = g->head; l && g->inflight < g->window; l = l->next)
        if (!l->acq && !l->granted)
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

/* gate.c — see gate.h.
 *
 * Gates of one bot share an asker: a gate with waiting tasks that no
 * acquire covers joins its bot's want list, and just before the loop next
 * polls (ev_prepare) the asker sends one rl_acquire.lua call for every gate
 * on the list, up to CHUNK tasks each. Two calls at most are in flight per
 * bot; while they are out, gates gather on the list for the next one. So a
 * worker sending to a hundred channels at 15,000 messages/s makes a few
 * thousand Redis calls a second rather than one per message, and a lone
 * message still goes out in the same loop iteration it arrived. */
#include "gate.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

enum {
    NBUCKETS = 1024,
    MAX_WINDOW = 2,           /* acquires in flight covering one gate when they all succeed */
    CHUNK = 64,               /* waiting tasks of one gate one acquire asks for */
    ASK_WINDOW = 2,           /* acquires in flight per bot: while they are out, gates gather */
    ASK_GATES = 64,           /* gates in one acquire */
    HOLD_IN_MEMORY_MS = 5000, /* longer waits go back to Redis as delayed jobs */
};

typedef struct asker asker;

/* One rl_acquire.lua call for NGATES gates of a bot, up to CHUNK waiting
 * links of each: the links point to it (gate_link.acq) until the answer
 * comes. */
struct acquire {
    asker *ask;
    int64_t sent_us;
    int ngates;
    gate *g[ASK_GATES];
};

struct gate {
    char key[400];
    sl_rl_request req;
    gate_link *head, *tail;
    int inflight; /* acquires covering this gate sent, not answered */
    int window;   /* how many may be in flight */
    int closed;   /* waiting on the timer */
    int wants;    /* on its asker's want list */
    ev_timer timer;
    ev_tstamp last_used;
    struct sl_series *waits; /* metrics: made at the first wait, or NULL */
    worker *w;
    asker *ask;
    gate *hnext;
    gate *want_next;
};

/* The acquires of one bot (one rl_acquire KEYS[1]). */
struct asker {
    sl_rl_request head; /* the first gate's request: the bot's part of the call */
    gate *want_head, *want_tail;
    int inflight;
    ev_prepare prepare;
    worker *w;
    asker *next;
};

/* A worker's gates (worker.gates), from gates_start to gates_free. */
struct gates {
    gate *table[NBUCKETS];
    asker *askers;
    ev_timer sweep_timer;
    gate_given given;
    int stopping; /* gates_stop was called: nothing more is sent */
    /* send_acquire's arguments, made anew for every call */
    const char *argv[SL_RL_HEAD_ARGS + ASK_GATES * SL_RL_GATE_ARGS];
    size_t lens[SL_RL_HEAD_ARGS + ASK_GATES * SL_RL_GATE_ARGS];
    char nums[SL_RL_HEAD_NUMS + ASK_GATES * SL_RL_GATE_NUMS][32];
    int counts[ASK_GATES];
};

/* A give-back in flight: what its answer needs. */
struct give_back {
    struct gates *gs;
    sl_rl_request r;
};

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

static gate *find(struct gates *gs, const sl_rl_request *r);

/* A give-back's answer. A bucket place that came back may be the only one
 * left in its window, and the gate it was taken for may have closed until
 * the window ends (an answer that found the bucket empty came between the
 * grant and the give-back): it opens again to ask for that place, or the
 * place stays unused and the window is one request short. */
static void give_back_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct give_back *b = priv;
    if (rc && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        struct gates *gs = b->gs;
        gs->given.ms += (unsigned long long)reply->element[0]->integer;
        gs->given.bucket += (unsigned long long)reply->element[1]->integer;
        gate *g = reply->element[1]->integer > 0 ? find(gs, &b->r) : NULL;
        if (g && g->closed && g->head && !gs->stopping) {
            ev_timer_stop(g->w->loop, &g->timer);
            g->closed = 0;
            pump(g);
        }
    }
    free(b);
}

void gate_give_back(worker *w, const sl_rl_request *r, long long granted_at_ms, long long window,
                    long long seq, int discover)
{
    const char *argv[SL_RL_RELEASE_ARGS];
    size_t lens[SL_RL_RELEASE_ARGS];
    char nums[SL_RL_RELEASE_NUMS][32];
    int argc = sl_rl_release_args(r, granted_at_ms, window, seq, discover, argv, lens, nums);
    w->gates->given.places++;
    struct give_back *b = sl_malloc(sizeof *b); /* for the answer */
    b->gs = w->gates;
    b->r = *r;
    if (sl_rconn_script(w->redis, SL_SCRIPT_RL_ACQUIRE, give_back_cb, b, 1, argc, argv, lens))
        free(b);
}

gate_given gates_given(const worker *w)
{
    return w->gates->given;
}

/* What one acquire said of G: WAIT ms (0 = go; < 0 when the call failed)
 * for the links of A, GRANTED of them going first. */
static void settle(gate *g, struct acquire *a, long wait, long granted, int discover,
                   long long granted_at_ms, long long window, long long seq)
{
    g->inflight--;
    g->last_used = ev_now(g->w->loop);
    /* the first GRANTED of the links asked for go, in order; the others
     * wait to be asked for again */
    for (gate_link *l = g->head; l; l = l->next) {
        if (l->acq != a)
            continue;
        l->acq = NULL;
        if (wait == 0 && granted > 0) {
            l->granted = 1;
            l->discover = discover;
            l->granted_us = a->sent_us;
            l->granted_at_ms = granted_at_ms;
            l->window = window;
            l->seq = seq ? seq++ : 0;
            granted--;
        }
    }
    /* places asked for links that left the gate while the acquire was out
     * (their task ended): nobody will use them */
    for (; wait == 0 && granted > 0; granted--)
        gate_give_back(g->w, &g->req, granted_at_ms, window, seq ? seq++ : 0, discover);
    if (wait < 0) {
        close_for(g, 200); /* Redis trouble: ask again shortly */
        return;
    }
    if (wait > 0 && g->w->metrics) {
        if (!g->waits)
            g->waits = wm_rl_waits(g->w, &g->req);
        sl_series_inc(g->waits);
    }
    if (wait == 0) {
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
        /* a long wait (a global 429, an invalid-request pause, a bucket
         * spent for its window): hand the waiting tasks back to Redis
         * instead of holding them here. Not those this answer does not
         * speak for: one another acquire still out covers (it may grant
         * it a place), nor one that entered after this acquire was sent (a
         * request not sent whose place went back after this answer was
         * made: that place is its own to take). One at a time from the
         * head: an admission may end other tasks. */
        int unasked = 0;
        for (;;) {
            gate_link *x = g->head;
            while (x && (x->acq || x->entered_us > a->sent_us))
                x = x->next;
            if (!x)
                break;
            unlink_link(x);
            park(x->t, -1);
            x->admit(x->t, wait, x->priv);
        }
        for (gate_link *x = g->head; x; x = x->next)
            unasked += !x->acq;
        if (unasked) {
            pump(g); /* they ask for themselves; a long wait again sends them back */
            return;
        }
    }
    close_for(g, wait);
}

static void ask_soon(asker *k)
{
    if (k->want_head && k->inflight < ASK_WINDOW)
        ev_prepare_start(k->w->loop, &k->prepare);
}

static void acquire_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct acquire *a = priv;
    if (!rc) { /* teardown: the gates are going too */
        free(a);
        return;
    }
    asker *k = a->ask;
    k->inflight--;
    const char *err = sl_reply_error(reply);
    int ok = reply && !err && reply->type == REDIS_REPLY_ARRAY &&
             reply->elements == SL_RL_REPLY_PER_GATE * (size_t)a->ngates;
    if (!ok)
        sl_warn("rate limit check failed error=\"%s\"", err ? err : "unexpected answer");
    for (int i = 0; i < a->ngates; i++) {
        long wait = -1, granted = 0;
        long long at = 0, window = 0, seq = 0;
        int discover = 0;
        if (ok) {
            redisReply **e = reply->element + SL_RL_REPLY_PER_GATE * i;
            wait = e[0]->integer > 0 ? (long)e[0]->integer : 0;
            granted = (long)e[1]->integer;
            discover = e[2]->type == REDIS_REPLY_STRING && !strcmp(e[2]->str, "discover");
            at = e[3]->integer;
            window = e[4]->integer;
            seq = e[5]->integer;
        }
        settle(a->g[i], a, wait, granted, discover, at, window, seq);
    }
    free(a);
    ask_soon(k);
}

/* The links of G that no acquire covers, up to CHUNK. */
static int uncovered(const gate *g)
{
    int count = 0;
    for (const gate_link *x = g->head; x && count < CHUNK; x = x->next)
        count += !x->acq && !x->granted;
    return count;
}

/* One acquire for the gates at the head of K's want list. */
static void send_acquire(asker *k)
{
    struct gates *gs = k->w->gates;
    const char **argv = gs->argv;
    size_t *lens = gs->lens;
    char(*nums)[32] = gs->nums;
    int *counts = gs->counts;
    struct acquire *a = sl_malloc(sizeof *a);
    a->ask = k;
    a->ngates = 0;
    int argc = SL_RL_HEAD_ARGS, nnums = SL_RL_HEAD_NUMS;
    while (k->want_head && a->ngates < ASK_GATES) {
        gate *g = k->want_head;
        k->want_head = g->want_next;
        if (!k->want_head)
            k->want_tail = NULL;
        g->wants = 0;
        g->want_next = NULL;
        int count = g->closed ? 0 : uncovered(g);
        if (count == 0)
            continue;
        counts[a->ngates] = count;
        a->g[a->ngates++] = g;
        argc += sl_rl_acquire_gate(&g->req, count, argv + argc, lens + argc, nums + nnums);
        nnums += SL_RL_GATE_NUMS;
    }
    if (a->ngates == 0) {
        free(a);
        return;
    }
    sl_rl_acquire_head(&k->head, a->ngates, argv, lens, nums);
    a->sent_us = sl_monotonic_us();
    if (sl_rconn_script(k->w->redis, SL_SCRIPT_RL_ACQUIRE, acquire_reply_cb, a, 1, argc, argv,
                        lens)) {
        for (int i = 0; i < a->ngates; i++)
            close_for(a->g[i], 200); /* Redis down: the connection comes back by itself */
        free(a);
        return;
    }
    k->inflight++;
    for (int i = 0; i < a->ngates; i++) {
        gate *g = a->g[i];
        int marked = 0;
        for (gate_link *x = g->head; x && marked < counts[i]; x = x->next)
            if (!x->acq && !x->granted) {
                x->acq = a;
                marked++;
            }
        g->inflight++;
    }
    /* gates with more waiting than one acquire covers go on the list again */
    for (int i = 0; i < a->ngates; i++)
        pump(a->g[i]);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)revents;
    asker *k = p->data;
    ev_prepare_stop(loop, p);
    while (k->want_head && k->inflight < ASK_WINDOW)
        send_acquire(k);
}

static void pump(gate *g)
{
    if (g->closed || g->wants || g->inflight >= g->window || uncovered(g) == 0)
        return;
    asker *k = g->ask;
    g->wants = 1;
    if (k->want_tail)
        k->want_tail->want_next = g;
    else
        k->want_head = g;
    k->want_tail = g;
    ask_soon(k);
}

static asker *asker_for(worker *w, const sl_rl_request *r)
{
    struct gates *gs = w->gates;
    for (asker *k = gs->askers; k; k = k->next)
        if (!strcmp(k->head.base, r->base))
            return k;
    asker *k = sl_calloc(1, sizeof *k);
    k->head = *r;
    k->w = w;
    ev_prepare_init(&k->prepare, prepare_cb);
    k->prepare.data = k;
    k->next = gs->askers;
    gs->askers = k;
    return k;
}

static gate *find(struct gates *gs, const sl_rl_request *r)
{
    char key[400];
    key_of(r, key, sizeof key);
    for (gate *g = gs->table[hash(key)]; g; g = g->hnext)
        if (!strcmp(g->key, key))
            return g;
    return NULL;
}

static gate *find_or_make(worker *w, const sl_rl_request *r)
{
    struct gates *gs = w->gates;
    gate *g = find(gs, r);
    if (g)
        return g;
    char key[400];
    key_of(r, key, sizeof key);
    unsigned h = hash(key);
    g = sl_calloc(1, sizeof *g);
    sl_strlcpy(g->key, key, sizeof g->key);
    g->req = *r;
    g->window = 1;
    g->w = w;
    g->ask = asker_for(w, r);
    ev_timer_init(&g->timer, timer_cb, 0, 0);
    g->timer.data = g;
    g->hnext = gs->table[h];
    gs->table[h] = g;
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
    link->entered_us = sl_monotonic_us();
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

void gate_reenter(worker *w, task *t, const sl_rl_request *r, gate_admit_cb *admit, void *priv,
                  gate_link *link)
{
    /* pump() only schedules the acquire, which covers links in list order */
    gate_enter(w, t, r, admit, priv, link);
    gate *g = link->g;
    if (g->head == link)
        return;
    g->tail = link->prev;
    g->tail->next = NULL;
    link->prev = NULL;
    link->next = g->head;
    g->head->prev = link;
    g->head = link;
}

void gate_leave(gate_link *link)
{
    if (!link->g)
        return;
    gate *g = link->g;
    /* granted, and its task ended before its turn to be admitted came (an
     * admission just before it ended the task) */
    if (link->granted)
        gate_give_back(g->w, &g->req, link->granted_at_ms, link->window, link->seq, link->discover);
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
    (void)revents;
    struct gates *gs = t->data;
    ev_tstamp now = ev_now(loop);
    for (int i = 0; i < NBUCKETS; i++) {
        gate **pp = &gs->table[i];
        while (*pp) {
            gate *g = *pp;
            if (!g->head && !g->inflight && !g->closed && !g->wants && now - g->last_used > 60) {
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
    struct gates *gs = w->gates = sl_calloc(1, sizeof *gs);
    ev_timer_init(&gs->sweep_timer, sweep_cb, 30, 30);
    gs->sweep_timer.data = gs;
    ev_timer_start(w->loop, &gs->sweep_timer);
    ev_unref(w->loop);
}

void gates_stop(worker *w)
{
    struct gates *gs = w->gates;
    gs->stopping = 1;
    ev_ref(w->loop);
    ev_timer_stop(w->loop, &gs->sweep_timer);
    for (int i = 0; i < NBUCKETS; i++)
        for (gate *g = gs->table[i]; g; g = g->hnext) {
            ev_timer_stop(w->loop, &g->timer);
            g->closed = 1; /* nothing more is sent */
        }
    for (asker *k = gs->askers; k; k = k->next)
        ev_prepare_stop(w->loop, &k->prepare);
}

void gates_free(worker *w)
{
    struct gates *gs = w->gates;
    if (!gs)
        return;
    /* after the Redis connections are freed: no acquire can answer now */
    for (int i = 0; i < NBUCKETS; i++) {
        while (gs->table[i]) {
            gate *g = gs->table[i];
            gs->table[i] = g->hnext;
            free(g);
        }
    }
    while (gs->askers) {
        asker *k = gs->askers;
        gs->askers = k->next;
        free(k);
    }
    free(gs);
    w->gates = NULL;
}

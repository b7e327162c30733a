/* rconn.c — see rconn.h.
 *
 * hiredis 0.14 frees its context itself after a failed connect or a
 * disconnect, so this module forgets the context in those callbacks and
 * reconnects from an ev_timer, never from inside them, after a wait from
 * sl_backoff_reconnect_delay() (backoff.h). */
#include "rconn.h"
#include "backoff.h"
#include "log.h"
#include "metrics.h"
#include "noperm.h"
#include "util.h"

#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct request {
    sl_rconn_reply_cb *cb;
    void *priv;
    double sent;          /* ev_time() at send, when round trips are measured */
    char command[24];     /* its name, for a refusal's log line */
    const char *script;   /* EVALSHA: the script's name, else NULL */
    struct request *next; /* free list */
};

struct sl_rconn {
    struct ev_loop *loop;
    sl_redis_addr addr;
    char name[32];
    redisAsyncContext *ac; /* NULL while down */
    int up;                /* connected and set up */
    int closing;           /* no more reconnects */
    int failures;          /* failed connects (or a loss) since it was last up */
    double retry_s;        /* the wait before the next connect */
    uint32_t jitter;       /* xorshift state: the waits' jitter, per connection */
    double timeout;        /* drop a silent connection after this, s */
    int pending;           /* commands awaiting their reply */
    ev_tstamp progress;    /* last reply, or when pending went 0 -> 1 */
    ev_timer reconnect;
    ev_timer watchdog;
    sl_rconn_state_cb *state_cb;
    void *state_priv;
    char **channels; /* pub/sub mode when n_channels > 0 */
    int n_channels;
    sl_rconn_message_cb *message_cb;
    void *message_priv;
    int pattern; /* the channels are patterns: PSUBSCRIBE */
    struct request *free_requests;
    /* Logging an outage: one line when it starts or its reason changes, then
     * a reminder at most every REMIND_S, one line when it ends. */
    char reason[400];      /* the reason last logged; "" while up */
    ev_tstamp logged_at;   /* when it was logged */
    ev_tstamp down_since;  /* start of the outage */
    long attempts;         /* failed connects in this outage */
    char setup_error[200]; /* this attempt's first refused set-up command */
    int was_up;            /* has been up: the next up is a reconnect */
    sl_series *roundtrip;  /* metrics, or NULL */
    sl_series *reconnects;
    ev_tstamp noperm_at; /* when a permission refusal was last logged */
    long noperm_since;   /* refusals since then, not logged */
};

enum { REMIND_S = 30 };

static void connect_now(sl_rconn *c);

const char *sl_reply_error(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

/* Logs a failed attempt: the first of an outage, or one whose reason
 * differs from the last logged, at once; the same again only as a reminder
 * every REMIND_S (a wrong password retried every 5 s is one line, then one
 * per half minute, not a burst per attempt). */
static void log_down(sl_rconn *c, const char *why, int was_up)
{
    ev_tstamp now = ev_now(c->loop);
    if (was_up || !c->reason[0]) {
        c->down_since = now;
        c->attempts = 0;
    }
    c->attempts++;
    int changed = strcmp(c->reason, why) != 0;
    if (!changed && now - c->logged_at < REMIND_S)
        return;
    char where[400];
    sl_redis_addr_describe(&c->addr, where, sizeof where);
    if (changed)
        sl_warn("redis connection down conn=%s addr=%s reason=\"%s\" retry_s=%.2f", c->name, where,
                why, c->retry_s);
    else
        sl_warn("redis still down conn=%s addr=%s reason=\"%s\" attempts=%ld down_s=%.0f "
                "(next reminder in %d s)",
                c->name, where, why, c->attempts, now - c->down_since, REMIND_S);
    sl_strlcpy(c->reason, why, sizeof c->reason);
    c->logged_at = now;
}

/* A uniform value in [0, 1) from C's own state: the jitter does not hang
 * on whether the program seeded rand(). */
static double jitter01(sl_rconn *c)
{
    uint32_t x = c->jitter;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->jitter = x;
    return (double)x / 4294967296.0;
}

static void went_down(sl_rconn *c, const char *why)
{
    int was_up = c->up;
    c->ac = NULL;
    c->up = 0;
    c->pending = 0;
    if (!c->closing)
        c->retry_s = sl_backoff_reconnect_delay(++c->failures, jitter01(c));
    if (c->closing)
        sl_debug("redis connection closed conn=%s", c->name);
    else
        log_down(c, c->setup_error[0] ? c->setup_error : why, was_up);
    if (was_up && c->state_cb)
        c->state_cb(c, 0, c->state_priv);
    if (!c->closing) {
        ev_timer_set(&c->reconnect, c->retry_s, 0);
        ev_timer_start(c->loop, &c->reconnect);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sl_rconn *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK && c->n_channels && sl_noperm_is(ac->errstr)) {
        /* hiredis drops a subscriber whose SUBSCRIBE was refused */
        char why[sizeof c->reason];
        sl_noperm_explain(ac->errstr, c->pattern ? "PSUBSCRIBE" : "SUBSCRIBE", why, sizeof why);
        went_down(c, why);
        return;
    }
    went_down(c, status == REDIS_OK ? "closed" : ac->errstr);
}

static void setup_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    sl_rconn *c = ac->data;
    const char *what = priv;
    const char *err = sl_reply_error(r);
    /* the first refusal is the reason (the commands after a refused AUTH
     * are all refused too: NOAUTH); went_down logs it */
    if (c && err && !c->setup_error[0]) {
        snprintf(c->setup_error, sizeof c->setup_error, "%s refused: %s", what, err);
        redisAsyncDisconnect(ac);
    }
}

/* The connection works: the outage (if any) ends, and the next one's
 * backoff starts from the beginning. A subscriber's works once its first
 * subscription is confirmed: one refused (NOPERM) drops it, and must not
 * reset the backoff each time (a reconnect loop at the first step's pace). */
static void now_up(sl_rconn *c)
{
    c->failures = 0;
    if (c->reason[0]) {
        sl_info("redis connection up conn=%s attempts=%ld down_s=%.1f", c->name, c->attempts,
                ev_now(c->loop) - c->down_since);
        c->reason[0] = '\0';
    }
}

static void message_trampoline(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    sl_rconn *c = ac->data;
    redisReply *reply = r;
    if (!c || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    c->progress = ev_now(c->loop);
    if (reply->element[0]->type == REDIS_REPLY_STRING &&
        !strcmp(reply->element[0]->str, "subscribe"))
        now_up(c);
    if (reply->element[0]->type == REDIS_REPLY_STRING &&
        !strcmp(reply->element[0]->str, "message") && c->message_cb)
        c->message_cb(c, reply->element[1]->str, reply->element[2]->str, reply->element[2]->len,
                      c->message_priv);
}

/* Pattern mode: "pmessage" pushes go to message_cb, and each "psubscribe"
 * confirmation as a call with MESSAGE NULL (the pattern as CHANNEL). */
static void pmessage_trampoline(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    sl_rconn *c = ac->data;
    redisReply *reply = r;
    if (!c || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING || !c->message_cb)
        return;
    c->progress = ev_now(c->loop);
    const char *kind = reply->element[0]->str;
    if (!strcmp(kind, "pmessage") && reply->elements == 4)
        c->message_cb(c, reply->element[2]->str, reply->element[3]->str, reply->element[3]->len,
                      c->message_priv);
    else if (!strcmp(kind, "psubscribe")) {
        now_up(c);
        c->message_cb(c, reply->element[1]->str, NULL, 0, c->message_priv);
    }
}

/* The answer to the PING queued after the set-up commands: every one of them
 * has been answered without error (an error disconnects first), so the
 * connection is ready for use. */
static void ready_cb(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    sl_rconn *c = ac->data;
    if (!c || !r || sl_reply_error(r))
        return;
    if (!c->n_channels)
        now_up(c);
    c->up = 1;
    if (c->was_up && c->reconnects)
        sl_series_inc(c->reconnects);
    c->was_up = 1;
    c->progress = ev_now(c->loop);
    for (int i = 0; i < c->n_channels; i++)
        redisAsyncCommand(ac, c->pattern ? pmessage_trampoline : message_trampoline, NULL,
                          c->pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s", c->channels[i]);
    if (c->state_cb)
        c->state_cb(c, 1, c->state_priv);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    sl_rconn *c = ac->data;
    if (c && status != REDIS_OK)
        went_down(c, ac->errstr);
}

static void connect_now(sl_rconn *c)
{
    c->setup_error[0] = '\0';
    redisAsyncContext *ac = c->addr.path[0] ? redisAsyncConnectUnix(c->addr.path)
                                            : redisAsyncConnect(c->addr.host, c->addr.port);
    if (!ac) {
        abort(); /* hiredis returns NULL only when out of memory */
    }
    if (ac->err) {
        char why[256];
        sl_strlcpy(why, ac->errstr, sizeof why);
        redisAsyncFree(ac);
        went_down(c, why);
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before the connect completes; Redis answers them in order, so
     * every later command runs authenticated, in the right database, with
     * the scripts loaded. */
    if (c->addr.pass[0]) {
        if (c->addr.user[0])
            redisAsyncCommand(ac, setup_reply_cb, (void *)"AUTH", "AUTH %s %s", c->addr.user,
                              c->addr.pass);
        else
            redisAsyncCommand(ac, setup_reply_cb, (void *)"AUTH", "AUTH %s", c->addr.pass);
    }
    if (c->addr.db)
        redisAsyncCommand(ac, setup_reply_cb, (void *)"SELECT", "SELECT %d", c->addr.db);
    if (!c->n_channels) {
        for (int i = 0; i < SL_SCRIPT_COUNT; i++) {
            const sl_script *s = sl_script_get(i);
            redisAsyncCommand(ac, setup_reply_cb, (void *)"SCRIPT LOAD", "SCRIPT LOAD %b", s->text,
                              s->len);
        }
    }
    redisAsyncCommand(ac, ready_cb, NULL, "PING");
}

static void reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    sl_rconn *c = w->data;
    if (!c->ac && !c->closing)
        connect_now(c);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    sl_rconn *c = w->data;
    if (c->ac && c->pending > 0 && ev_now(loop) - c->progress > c->timeout) {
        sl_warn("redis not answering conn=%s pending=%d silent_s=%.1f: reconnecting", c->name,
                c->pending, ev_now(loop) - c->progress);
        redisAsyncFree(c->ac); /* NULL replies to the pending, then on_disconnect */
    }
}

sl_rconn *sl_rconn_new(struct ev_loop *loop, const sl_redis_addr *addr, const char *name)
{
    sl_rconn *c = sl_calloc(1, sizeof *c);
    c->loop = loop;
    c->addr = *addr;
    sl_strlcpy(c->name, name, sizeof c->name);
    sl_noperm_set_user(addr->user);
    c->jitter = (uint32_t)getpid() ^ (uint32_t)sl_monotonic_us() ^ (uint32_t)(uintptr_t)c;
    if (!c->jitter)
        c->jitter = 1; /* xorshift stays 0 from 0 */
    c->timeout = 10;
    ev_timer_init(&c->reconnect, reconnect_cb, 0, 0);
    c->reconnect.data = c;
    ev_timer_init(&c->watchdog, watchdog_cb, 1, 1);
    c->watchdog.data = c;
    ev_timer_start(loop, &c->watchdog);
    ev_unref(loop); /* the watchdog alone does not keep the loop alive */
    ev_timer_set(&c->reconnect, 0, 0);
    ev_timer_start(loop, &c->reconnect);
    return c;
}

void sl_rconn_free(sl_rconn *c)
{
    if (!c)
        return;
    c->closing = 1;
    ev_timer_stop(c->loop, &c->reconnect);
    ev_ref(c->loop);
    ev_timer_stop(c->loop, &c->watchdog);
    if (c->ac) {
        c->ac->data = NULL; /* callbacks below must not touch c */
        /* pending replies are delivered as NULL to their callers, which
         * still expect to be called; they get c via the request */
        redisAsyncFree(c->ac);
        c->ac = NULL;
    }
    for (int i = 0; i < c->n_channels; i++)
        free(c->channels[i]);
    free(c->channels);
    while (c->free_requests) {
        struct request *r = c->free_requests;
        c->free_requests = r->next;
        free(r);
    }
    free(c);
}

void sl_rconn_close(sl_rconn *c)
{
    c->closing = 1;
    ev_timer_stop(c->loop, &c->reconnect);
    if (c->ac)
        redisAsyncDisconnect(c->ac);
}

void sl_rconn_set_state_cb(sl_rconn *c, sl_rconn_state_cb *cb, void *priv)
{
    c->state_cb = cb;
    c->state_priv = priv;
}

void sl_rconn_set_timeout(sl_rconn *c, double seconds)
{
    c->timeout = seconds;
}

void sl_rconn_set_metrics(sl_rconn *c, sl_series *roundtrip, sl_series *reconnects)
{
    c->roundtrip = roundtrip;
    c->reconnects = reconnects;
}

int sl_rconn_is_up(const sl_rconn *c)
{
    return c->up;
}

/* A command refused for lack of permission (the user's ACL rules): one
 * line naming the connection, the user and the command (the script, for
 * an EVALSHA), then at most one every REMIND_S with the count meanwhile;
 * the caller logs its own failure too. */
static void log_noperm(sl_rconn *c, const struct request *r, const char *err)
{
    ev_tstamp now = ev_now(c->loop);
    if (c->noperm_at && now - c->noperm_at < REMIND_S) {
        c->noperm_since++;
        return;
    }
    char what[96], line[600];
    if (r->script)
        snprintf(what, sizeof what, "%s %s (script %s.lua)", r->command, r->script, r->script);
    else
        snprintf(what, sizeof what, "%s", r->command);
    sl_noperm_explain(err, what, line, sizeof line);
    sl_warn("redis refused a command conn=%s: %s refused_since_last=%ld", c->name, line,
            c->noperm_since);
    c->noperm_at = now;
    c->noperm_since = 0;
}

/* In sl_rconn_free, ac->data is NULL: the pending callbacks then get c = NULL
 * and their request records are freed here, not put on the free list. */
static void reply_trampoline(redisAsyncContext *ac, void *reply, void *priv)
{
    struct request *r = priv;
    sl_rconn *c = ac->data;
    sl_rconn_reply_cb *cb = r->cb;
    void *cbpriv = r->priv;
    if (c && sl_noperm_is(sl_reply_error(reply)))
        log_noperm(c, r, sl_reply_error(reply));
    if (c) {
        if (c->roundtrip)
            sl_series_observe(c->roundtrip, ev_time() - r->sent);
        c->pending--;
        c->progress = ev_now(c->loop);
        r->next = c->free_requests;
        c->free_requests = r;
    } else {
        free(r);
    }
    if (cb)
        cb(c, reply, cbpriv);
}

static int send_command(sl_rconn *c, sl_rconn_reply_cb *cb, void *priv, int argc, const char **argv,
                        const size_t *lens, const char *script)
{
    if (!c->up || !c->ac)
        return SL_EREDIS;
    struct request *r = c->free_requests;
    if (r)
        c->free_requests = r->next;
    else
        r = sl_malloc(sizeof *r);
    r->cb = cb;
    r->priv = priv;
    if (c->roundtrip)
        r->sent = ev_time();
    size_t n = lens ? lens[0] : strlen(argv[0]);
    if (n >= sizeof r->command)
        n = sizeof r->command - 1;
    memcpy(r->command, argv[0], n);
    r->command[n] = '\0';
    r->script = script;
    if (redisAsyncCommandArgv(c->ac, reply_trampoline, r, argc, argv, lens) != REDIS_OK) {
        r->next = c->free_requests;
        c->free_requests = r;
        return SL_EREDIS;
    }
    if (c->pending++ == 0)
        c->progress = ev_now(c->loop);
    return 0;
}

int sl_rconn_command(sl_rconn *c, sl_rconn_reply_cb *cb, void *priv, int argc, const char **argv,
                     const size_t *lens)
{
    return send_command(c, cb, priv, argc, argv, lens, NULL);
}

int sl_rconn_script(sl_rconn *c, enum sl_script_id id, sl_rconn_reply_cb *cb, void *priv, int nkeys,
                    int argc, const char **argv, const size_t *lens)
{
    const sl_script *s = sl_script_get(id);
    enum { STACK = 64 };
    const char *sv[STACK];
    size_t sl[STACK];
    const char **v = sv;
    size_t *l = sl;
    char nk[16];
    if (argc + 3 > STACK) {
        v = sl_malloc((argc + 3) * sizeof *v);
        l = sl_malloc((argc + 3) * sizeof *l);
    }
    v[0] = "EVALSHA", l[0] = 7;
    v[1] = s->sha, l[1] = 40;
    l[2] = (size_t)snprintf(nk, sizeof nk, "%d", nkeys);
    v[2] = nk;
    for (int i = 0; i < argc; i++) {
        v[i + 3] = argv[i];
        l[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    int rc = send_command(c, cb, priv, argc + 3, v, l, s->name);
    if (v != sv) {
        free(v);
        free(l);
    }
    return rc;
}

void sl_rconn_subscribe(sl_rconn *c, int n, const char **channels, sl_rconn_message_cb *cb,
                        void *priv)
{
    c->channels = sl_calloc(n, sizeof *c->channels);
    for (int i = 0; i < n; i++)
        c->channels[i] = sl_strdup(channels[i]);
    c->n_channels = n;
    c->message_cb = cb;
    c->message_priv = priv;
}

void sl_rconn_psubscribe(sl_rconn *c, int n, const char **patterns, sl_rconn_message_cb *cb,
                         void *priv)
{
    sl_rconn_subscribe(c, n, patterns, cb, priv);
    c->pattern = 1;
}

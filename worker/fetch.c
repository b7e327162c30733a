/* fetch.c — claims. A worker claims only when it has free slots, from the
 * queue its policy picks (strict tiers in order, weights within a tier), as many jobs as it has
 * room for (up to --batch) in one claim.lua call. It never sleep-polls: a
 * queue whose claim came back short is left alone until a wake-up arrives on
 * pub/sub (published when a ready list goes from empty to non-empty), with a
 * slow safety poll for a wake-up lost to a reconnect. */
#include "worker.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

struct claim {
    worker *w;
    wqueue *q;
    int n;             /* slots reserved */
    unsigned wake_seq; /* q->wake_seq when sent */
};

/* Jobs that finish at once (no-ops, cache hits) are claimed in full batches,
 * two claims in flight: Redis pays its per-call cost over many jobs. Jobs
 * that wait (HTTP calls, timers) free their slots in bursts; they are claimed
 * in eighths of a batch, eight in flight, so the first of a burst's replacements
 * start a round trip after the slots free instead of after the whole batch. */
static void claim_shape(const worker *w, int *size, int *inflight)
{
    if (w->avg_run_us < 1000.0) {
        *size = w->batch, *inflight = 2;
    } else {
        *size = w->batch / 8 > 16 ? w->batch / 8 : (w->batch < 16 ? w->batch : 16);
        *inflight = 8;
    }
}

static void claim_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct claim *c = priv;
    worker *w = c->w;
    wqueue *q = c->q;
    int asked = c->n;
    unsigned seq = c->wake_seq;
    w->claims_inflight--;
    w->reserved -= asked;
    free(c);
    if (!rc)
        return;
    const char *err = sl_reply_error(reply);
    if (!reply || err || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        /* The claim may have run: its jobs then wait in active until their
         * lease expires and the scheduler puts them back. An error (a
         * refused permission, a key of the wrong type) would come back at
         * once on every claim: the queue waits for its next wake-up or the
         * safety poll (poll_cb) rather than claim again in a loop. */
        if (err) {
            sl_warn("claim failed queue=%s error=\"%s\"", q->keys.queue, err);
            q->maybe_ready = 0;
        }
        return;
    }
    /* {now} or {now, token, id1, body1, ...} */
    size_t got = reply->elements > 2 ? (reply->elements - 2) / 2 : 0;
    const char *token = reply->elements > 1 && reply->element[1]->type == REDIS_REPLY_STRING
                            ? reply->element[1]->str
                            : "";
    w->claimed += got;
    wm_claimed(w, q, got);
    if (got < (size_t)asked && q->wake_seq == seq)
        q->maybe_ready = 0;
    int64_t now = reply->element[0]->type == REDIS_REPLY_INTEGER ? reply->element[0]->integer : 0;
    for (size_t i = 2; i + 1 < reply->elements; i += 2) {
        redisReply *id = reply->element[i], *body = reply->element[i + 1];
        run_claimed(w, q, token, now, id->str, body->str, body->len);
    }
    fetch_maybe_claim(w);
}

static wqueue *pick(worker *w)
{
    for (int i = 0; i < w->nqueues;) {
        int tier = w->queues[i].tier, end = i, total = 0;
        for (; end < w->nqueues && w->queues[end].tier == tier; end++)
            if (w->queues[end].maybe_ready)
                total += w->queues[end].weight ? w->queues[end].weight : 1;
        if (total) {
            int r = rand() % total;
            for (int k = i; k < end; k++) {
                wqueue *q = &w->queues[k];
                if (!q->maybe_ready)
                    continue;
                int weight = q->weight ? q->weight : 1;
                if (r < weight)
                    return q;
                r -= weight;
            }
        }
        i = end;
    }
    return NULL;
}

static int send_claim(worker *w, wqueue *q, int n)
{
    char num[16], lease[24], cap[24];
    const char *argv[15];
    int k = 0;
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        argv[k++] = q->keys.ready[p];
    argv[k++] = q->keys.active;
    argv[k++] = q->keys.paused;
    argv[k++] = q->keys.dead;
    argv[k++] = q->keys.stats;
    argv[k++] = q->keys.lease;
    argv[k++] = q->keys.events;
    argv[k++] = q->keys.base;
    snprintf(num, sizeof num, "%d", n);
    argv[k++] = num;
    snprintf(lease, sizeof lease, "%lld", w->lease_ms);
    argv[k++] = lease;
    argv[k++] = w->id;
    snprintf(cap, sizeof cap, "%lld", w->events_cap);
    argv[k++] = cap;
    struct claim *c = sl_malloc(sizeof *c);
    *c = (struct claim){w, q, n, q->wake_seq};
    if (sl_rconn_script(w->redis, SL_SCRIPT_CLAIM, claim_reply_cb, c, 10, k, argv, NULL)) {
        free(c);
        return -1;
    }
    w->claims_inflight++;
    w->reserved += n;
    return 0;
}

void fetch_maybe_claim(worker *w)
{
    int size, max_inflight;
    claim_shape(w, &size, &max_inflight);
    while (!w->draining && w->claims_inflight < max_inflight && sl_rconn_is_up(w->redis)) {
        /* Jobs waiting for a rate limit hold no slot, but no more than
         * --concurrency of them wait at once. */
        int busy = w->running - w->parked;
        if (w->parked > w->concurrency)
            busy += w->parked - w->concurrency;
        int free_slots = w->concurrency - busy - w->reserved;
        /* With little room, wait for a little more unless nothing runs:
         * fewer, larger claims cost Redis less per job. The floor is small
         * (1/64 of the slots) so slots of long jobs do not sit idle. */
        int want = free_slots < size ? free_slots : size;
        int floor = w->concurrency / 64 < size / 4 ? w->concurrency / 64 : size / 4;
        if (want <= 0 || (want < floor && busy + w->reserved > 0))
            return;
        wqueue *q = pick(w);
        if (!q || send_claim(w, q, want))
            return;
    }
}

void fetch_wake_all(worker *w)
{
    for (int i = 0; i < w->nqueues; i++) {
        w->queues[i].maybe_ready = 1;
        w->queues[i].wake_seq++;
    }
}

static void message_cb(sl_rconn *c, const char *channel, const char *msg, size_t len, void *priv)
{
    (void)c, (void)msg, (void)len;
    worker *w = priv;
    for (int i = 0; i < w->nqueues; i++) {
        if (!strcmp(channel, w->queues[i].keys.notify)) {
            w->queues[i].maybe_ready = 1;
            w->queues[i].wake_seq++;
        }
    }
    fetch_maybe_claim(w);
}

static void subs_state_cb(sl_rconn *c, int up, void *priv)
{
    (void)c;
    worker *w = priv;
    drain_check_closed(w);
    if (up) { /* wake-ups may have been missed while it was down */
        fetch_wake_all(w);
        fetch_maybe_claim(w);
    }
}

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    worker *w = t->data;
    fetch_wake_all(w);
    fetch_maybe_claim(w);
}

void fetch_start(worker *w)
{
    const char **channels = sl_calloc(w->nqueues, sizeof *channels);
    for (int i = 0; i < w->nqueues; i++)
        channels[i] = w->queues[i].keys.notify;
    sl_rconn_subscribe(w->subs, w->nqueues, channels, message_cb, w);
    free(channels);
    sl_rconn_set_state_cb(w->subs, subs_state_cb, w);
    ev_timer_init(&w->poll, poll_cb, 2.0, 2.0);
    w->poll.data = w;
    ev_timer_start(w->loop, &w->poll);
}

/* drain.c — the worker's way out, on SIGTERM or SIGINT: claim nothing more,
 * let the running jobs finish within --grace-ms, then hand the rest back to
 * ready (run_hand_back_all in run.c); once nothing runs, nothing waits to be
 * settled and no claim is in flight, leave the workers' registry and close
 * both connections, and the loop ends when they have said goodbye. A second
 * signal ends the grace period at once. If Redis is gone and cannot be told,
 * give up after a few seconds: the jobs still leased come back when their
 * leases expire. */
#include "worker.h"
#include "gate.h"
#include "log.h"
#include "start.h"

#include <signal.h>

void drain_check_done(worker *w)
{
    if (!w->draining || w->stopped)
        return;
    if (w->running || w->claims_inflight || !settle_idle(w))
        return;
    w->stopped = 1;
    sl_info("worker stopped worker=%s processed=%llu failed=%llu abandoned=%llu", w->id,
            (unsigned long long)w->processed, (unsigned long long)w->failed,
            (unsigned long long)w->abandoned);
    /* Leave the registry, then close: the loop ends once both connections
     * have closed (after the replies to what was sent). */
    char workers[SL_KEY_MAX], me[SL_KEY_MAX];
    sl_keys_workers(workers, w->prefix);
    sl_keys_worker(me, w->prefix, w->id);
    const char *zrem[] = {"ZREM", workers, w->id};
    const char *del[] = {"DEL", me};
    sl_rconn_command(w->redis, NULL, NULL, 3, zrem, NULL);
    sl_rconn_command(w->redis, NULL, NULL, 2, del, NULL);
    lease_stop(w);
    gates_stop(w);
    ev_timer_stop(w->loop, &w->poll);
    ev_timer_stop(w->loop, &w->grace);
    ev_timer_stop(w->loop, &w->settle_retry);
    ev_prepare_stop(w->loop, &w->flush);
    ev_signal_stop(w->loop, &w->sigterm);
    ev_signal_stop(w->loop, &w->sigint);
    sl_rconn_close(w->subs);
    sl_rconn_close(w->redis);
    ev_timer_stop(w->loop, &w->give_up);
    ev_timer_set(&w->give_up, 2.0, 0);
    ev_timer_start(w->loop, &w->give_up);
}

/* Redis cannot be reached to settle the last jobs: exit anyway. Nothing is
 * lost: those jobs are still in active, and the scheduler puts them back
 * when their leases expire. */
static void give_up_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    worker *w = t->data;
    if (w->stopped) { /* the goodbye to redis did not finish in time */
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    sl_warn("could not settle with redis before exiting running=%d: the scheduler will put "
            "those jobs back when their leases expire",
            w->running);
    w->stopped = 1;
    ev_break(loop, EVBREAK_ALL);
}

static void grace_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    worker *w = t->data;
    if (!ev_is_active(&w->give_up)) {
        ev_timer_set(&w->give_up, 5.0, 0);
        ev_timer_start(loop, &w->give_up);
    }
    if (w->running)
        sl_info("grace period over: handing back running=%d", w->running);
    run_hand_back_all(w);
    settle_flush(w);
    drain_check_done(w);
}

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    worker *w = s->data;
    if (w->draining) { /* a second signal: do not wait for the grace period */
        ev_timer_stop(loop, &w->grace);
        grace_cb(loop, &w->grace, 0);
        return;
    }
    sl_info("draining signal=%s running=%d grace_ms=%lld", s->signum == SIGTERM ? "TERM" : "INT",
            w->running, w->grace_ms);
    w->draining = 1;
    sl_notify_stopping(&w->notify);
    ev_timer_stop(loop, &w->poll);
    ev_timer_set(&w->grace, (double)w->grace_ms / 1000.0, 0);
    ev_timer_start(loop, &w->grace);
    drain_check_done(w);
}

void drain_check_closed(worker *w)
{
    if (w->stopped && !sl_rconn_is_up(w->redis) && !sl_rconn_is_up(w->subs))
        ev_break(w->loop, EVBREAK_ALL);
}

void drain_start(worker *w)
{
    ev_init(&w->give_up, give_up_cb);
    w->give_up.data = w;
    ev_init(&w->grace, grace_cb);
    w->grace.data = w;
    sl_start_signals(w->loop, &w->sigterm, &w->sigint, signal_cb, w);
}

void drain_stop(worker *w)
{
    ev_timer_stop(w->loop, &w->grace);
    ev_timer_stop(w->loop, &w->give_up);
    ev_signal_stop(w->loop, &w->sigterm);
    ev_signal_stop(w->loop, &w->sigint);
}

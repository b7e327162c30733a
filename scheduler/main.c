/* sluice-scheduler — promotes delayed jobs, reclaims expired leases, trims
 * finished jobs and removes silent workers. Run two or more: one leads,
 * the others wait and take over within a few seconds of it dying. */
#include "sched.h"
#include "archive.h"
#include "config.h"
#include "events.h"
#include "func.h"
#include "log.h"
#include "metrics_http.h"
#include "notify.h"
#include "start.h"

#include <stdlib.h>
#include <string.h>

static struct {
    const char *redis_url, *prefix, *log_level, *id, *approval_queue, *metrics_listen;
    long long approval_ms;
    long long lock_ttl_ms, tick_ms, reap_ms, worker_stale_ms, worker_dead_ms;
    long long done_age_ms, done_max, dead_age_ms, dead_max, events_cap;
    const char *archive, *history;
    long long archive_done_ms, archive_failed_ms, archive_rollup_ms;
    int archive_batch;
} o;

static const sl_option options[] = {
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &o.redis_url, "redis://127.0.0.1:6379/0", 0, 0,
     "Redis address: redis://[user:pass@]host:port/db or unix:///path"},
    {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &o.prefix, "sluice", 0, 0, "key prefix"},
    {"lock-ttl-ms", "SLUICE_LOCK_TTL_MS", SL_OPT_INT, &o.lock_ttl_ms, "3000", 300, 600000,
     "leader lock TTL: a standby takes over within about this long"},
    {"tick-ms", "SLUICE_TICK_MS", SL_OPT_INT, &o.tick_ms, "1000", 10, 60000,
     "longest wait between promotion passes (they are timed by the next due job)"},
    {"reap-ms", "SLUICE_REAP_MS", SL_OPT_INT, &o.reap_ms, "500", 50, 60000,
     "how often expired leases, retention and workers are checked"},
    {"worker-stale-ms", "SLUICE_WORKER_STALE_MS", SL_OPT_INT, &o.worker_stale_ms, "30000", 1000,
     86400000,
     "with --worker-dead-ms 0: remove a worker from the registry after this long without a "
     "heartbeat (otherwise a dead worker leaves it once its jobs are back)"},
    {"worker-dead-ms", "SLUICE_WORKER_DEAD_MS", SL_OPT_INT, &o.worker_dead_ms, "15000", 0, 86400000,
     "a worker without a heartbeat this long (3 beats at the workers' default --heartbeat-ms, "
     "and never before 3 of its own) is dead: the jobs it holds go back at once, attempt "
     "counted, instead of when their leases expire (0: wait for the leases)"},
    {"done-retention-ms", "SLUICE_DONE_RETENTION_MS", SL_OPT_INT, &o.done_age_ms, "3600000", 0,
     31536000000LL, "keep finished jobs this long"},
    {"done-max", "SLUICE_DONE_MAX", SL_OPT_INT, &o.done_max, "100000", 0, 1000000000,
     "and at most this many per queue"},
    {"dead-retention-ms", "SLUICE_DEAD_RETENTION_MS", SL_OPT_INT, &o.dead_age_ms, "604800000", 0,
     31536000000LL, "keep dead jobs this long"},
    {"dead-max", "SLUICE_DEAD_MAX", SL_OPT_INT, &o.dead_max, "100000", 0, 1000000000,
     "and at most this many per queue"},
    {"events-cap", "SLUICE_EVENTS_CAP", SL_OPT_INT, &o.events_cap, SL_EVENTS_CAP_DEFAULT_STR, 0,
     100000000,
     "entries kept in the job-end events stream PREFIX:events (XADD MAXLEN ~; the workers' "
     "--events-cap should be the same): the reclaims' entries, and the cap the archiver "
     "reports. 0: write no events"},
    {"archive", "SLUICE_ARCHIVE", SL_OPT_STR, &o.archive, NULL, 0, 0,
     "SQLite file the leading scheduler archives every job end into (PREFIX:events, "
     "consumer group \"archive\"; WAL); unset: no archive"},
    {"history", "SLUICE_HISTORY", SL_OPT_STR, &o.history, "failures", 0, 0,
     "which job ends get a row in the archive's job_ends: \"failures\" (retried, dead, "
     "cancelled) or \"all\" (done ones too); the per-minute rollups count every end either way"},
    {"history-done-retention-ms", "SLUICE_HISTORY_DONE_RETENTION_MS", SL_OPT_INT,
     &o.archive_done_ms, "604800000", 0, 315360000000LL,
     "keep the archive's rows of done jobs this long (0: for ever)"},
    {"history-failed-retention-ms", "SLUICE_HISTORY_FAILED_RETENTION_MS", SL_OPT_INT,
     &o.archive_failed_ms, "2592000000", 0, 315360000000LL,
     "keep the archive's rows of failures this long (0: for ever)"},
    {"rollup-retention-ms", "SLUICE_ROLLUP_RETENTION_MS", SL_OPT_INT, &o.archive_rollup_ms,
     "7776000000", 0, 315360000000LL,
     "keep the archive's per-minute rollups this long (default 90 days; 0: for ever)"},
    {"archive-batch", "SLUICE_ARCHIVE_BATCH", SL_OPT_INT32, &o.archive_batch, "2000", 1, 100000,
     "most events entries the archiver reads and commits at once"},
    {"approval-interval-ms", "SLUICE_APPROVAL_INTERVAL_MS", SL_OPT_INT, &o.approval_ms, "10000", 0,
     86400000, "how often pending applications are swept for a decision; 0: never"},
    {"approval-queue", "SLUICE_APPROVAL_QUEUE", SL_OPT_STR, &o.approval_queue, "approval", 0, 0,
     "the queue of the approval sweep jobs"},
    {"id", "SLUICE_SCHEDULER_ID", SL_OPT_STR, &o.id, NULL, 0, 0,
     "scheduler id (default: host-pid-random)"},
    SL_METRICS_LISTEN_OPTION(&o.metrics_listen),
    {"log-level", "SLUICE_LOG_LEVEL", SL_OPT_STR, &o.log_level, "info", 0, 0,
     "debug, info, warn or error"},
    {0},
};

static const char *description =
    "Leader-elected housekeeping for Sluice: promotes due delayed jobs and retries,\n"
    "puts back jobs whose lease expired (attempt counted), trims done and dead by age\n"
    "and count, takes back at once the jobs of a worker whose heartbeat stopped, removes\n"
    "silent workers, and enqueues an approval sweep every interval while applications\n"
    "are pending. With --archive, the leader copies every job end (PREFIX:events) into\n"
    "that SQLite file: per-job rows and per-minute rollups (README: History in SQLite).\n"
    "SIGTERM gives up the lock.";

static void queues_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    if (!rc || !reply || reply->type != REDIS_REPLY_ARRAY)
        return;
    int added = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const char *name = reply->element[i]->str;
        int known = 0;
        for (int j = 0; j < s->nqueues && !known; j++)
            known = !strcmp(s->queues[j].keys.queue, name);
        char err[160];
        if (known || sl_check_name("queue", name, err, sizeof err))
            continue;
        /* append only: calls in flight refer to queues by index */
        s->queues = sl_realloc(s->queues, (s->nqueues + 1) * sizeof *s->queues);
        memset(&s->queues[s->nqueues], 0, sizeof *s->queues);
        sl_keys_init(&s->queues[s->nqueues].keys, s->prefix, name);
        s->nqueues++;
        added++;
    }
    if (added && leader_active(s)) {
        sl_info("queues known=%d", s->nqueues);
        promote_soon(s, 0);
    }
}

void sched_refresh_queues(sched *s)
{
    char key[SL_KEY_MAX];
    sl_keys_queues(key, s->prefix);
    const char *argv[] = {"SMEMBERS", key};
    sl_rconn_command(s->redis, queues_reply_cb, s, 2, argv, NULL);
}

static void maintain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    sched *s = t->data;
    sched_refresh_queues(s);
    if (!leader_active(s))
        return;
    reap_pass(s);
    trim_pass(s);
}

void sched_became_leader(sched *s)
{
    promote_soon(s, 0);
    ev_timer_again(s->loop, &s->maintain_timer);
    archive_leading(s, 1);
}

void sched_lost_leadership(sched *s)
{
    ev_timer_stop(s->loop, &s->promote_timer);
    archive_leading(s, 0);
}

static sl_notify notify; /* systemd (notify.h) */

/* systemctl status: leader or standby, the queues it knows. */
static void notify_status_cb(char *buf, size_t len, void *priv)
{
    sched *s = priv;
    snprintf(buf, len, "%s; queues %d; redis %s",
             s->stopping ? "stopping"
             : s->leader ? "leader"
                         : "follower (standby)",
             s->nqueues, sl_rconn_is_up(s->redis) ? "up" : "down");
}

static void redis_state_cb(sl_rconn *c, int up, void *priv)
{
    sched *s = priv;
    if (up) {
        sl_notify_ready(&notify); /* up: authenticated, scripts loaded */
        sl_func_report(c);
    }
    s->redis_up_since = up ? ev_now(s->loop) : 0;
    if (up && !s->stopping)
        ev_feed_event(s->loop, &s->leader_timer, EV_TIMER); /* try the lock now */
}

static void signal_cb(struct ev_loop *loop, ev_signal *sig, int revents)
{
    (void)revents;
    sched *s = sig->data;
    sl_info("stopping scheduler=%s leader=%d promoted=%llu reclaimed=%llu trimmed=%llu", s->id,
            s->leader, s->promoted, s->reclaimed, s->trimmed);
    s->stopping = 1;
    sl_notify_stopping(&notify);
    leader_release(s);
    ev_timer_stop(loop, &s->promote_timer);
    ev_timer_stop(loop, &s->maintain_timer);
    approval_stop(s);
    smetrics_quiet(s);
    archive_leading(s, 0);
    ev_signal_stop(loop, &s->sigterm);
    ev_signal_stop(loop, &s->sigint);
    sl_rconn_close(s->subs);
    sl_rconn_close(s->redis); /* closes once the release is answered */
}

int main(int argc, char **argv)
{
    const sl_start start = {"sluice-scheduler", "[options]", description, options};
    int rc = sl_start_options(&start, argc, argv, NULL, NULL);
    if (rc != SL_START_GO)
        return rc;
    sl_redis_addr addr;
    if ((rc = sl_start_setup(&start, "scheduler", o.log_level, o.redis_url, o.prefix, &addr)))
        return rc;
    char err[512];
    static sched s;
    s.prefix = o.prefix;
    s.lock_ttl_ms = o.lock_ttl_ms;
    s.tick_ms = o.tick_ms;
    s.reap_ms = o.reap_ms;
    s.worker_stale_ms = o.worker_stale_ms;
    s.worker_dead_ms = o.worker_dead_ms;
    s.done_age_ms = o.done_age_ms;
    s.done_max = o.done_max;
    s.dead_age_ms = o.dead_age_ms;
    s.dead_max = o.dead_max;
    s.events_cap = o.events_cap;
    s.next_due_ms = -1;
    s.approval_ms = o.approval_ms;
    s.approval_queue = o.approval_queue;
    if (sl_check_name("--approval-queue", o.approval_queue, err, sizeof err)) {
        fprintf(stderr, "sluice-scheduler: %s\n", err);
        return 2;
    }
    if (strcmp(o.history, "all") && strcmp(o.history, "failures")) {
        fprintf(stderr, "sluice-scheduler: --history: \"%s\" is neither \"all\" nor \"failures\"\n",
                o.history);
        return 2;
    }
    s.loop = sl_start_loop(s.id, sizeof s.id, o.id);
    const struct archive_options ao = {o.archive && *o.archive ? o.archive : NULL,
                                       !strcmp(o.history, "all"),
                                       o.archive_done_ms,
                                       o.archive_failed_ms,
                                       o.archive_rollup_ms,
                                       o.archive_batch};
    if (archive_init(&s, &ao, err, sizeof err)) {
        fprintf(stderr, "sluice-scheduler: %s\n", err);
        return 2;
    }
    s.redis = sl_rconn_new(s.loop, &addr, "commands");
    s.subs = sl_rconn_new(s.loop, &addr, "wakeups");
    sl_rconn_set_state_cb(s.redis, redis_state_cb, &s);
    promote_start(&s);
    approval_start(&s);
    ev_timer_init(&s.maintain_timer, maintain_cb, 0, (double)s.reap_ms / 1000.0);
    s.maintain_timer.data = &s;
    ev_timer_start(s.loop, &s.maintain_timer);
    leader_start(&s);
    if (smetrics_start(&s, o.metrics_listen, err, sizeof err)) {
        fprintf(stderr, "sluice-scheduler: %s\n", err);
        return 2;
    }
    sl_start_signals(s.loop, &s.sigterm, &s.sigint, signal_cb, &s);
    sl_notify_init(&notify, s.loop, notify_status_cb, &s);
    char where[400];
    sl_redis_addr_describe(&addr, where, sizeof where);
    sl_info("scheduler started scheduler=%s redis=%s", s.id, where);
    ev_run(s.loop, 0);
    sl_notify_deinit(&notify);
    archive_deinit(&s);
    sl_rconn_free(s.subs);
    sl_rconn_free(s.redis);
    smetrics_stop(&s);
    free(s.queues);
    ev_loop_destroy(s.loop);
    return 0;
}

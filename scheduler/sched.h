/* sched.h — sluice-scheduler: one libev loop; a Redis lock elects one leader
 * among any number of schedulers, and only the leader works.
 *
 *   leader.c          the lock: take it, keep it, give it up
 *   promote.c         due delayed jobs into ready, timed by the next due job
 *   reap.c            expired leases back to ready (or dead); silent workers removed
 *   dead.c            the jobs of a worker whose heartbeat stopped back at once
 *   trim.c            done and dead kept within their retention
 *   archive.c         the events stream into the SQLite archive (archive.h)
 *   approval_clock.c  the approval sweep's clock: one `approval` job per interval
 *                     (worker/handlers/approval.c runs the sweep)
 *   smetrics.c        --metrics-listen: this scheduler's figures, and the fleet
 *                     gauges the leader alone exports
 *   main.c            options, start-up, the queue list, signals */
#ifndef SL_SCHED_H
#define SL_SCHED_H

#include <ev.h>

#include "keys.h"
#include "rconn.h"

typedef struct sched sched;
struct archive;

typedef struct squeue {
    sl_keys keys;
    int busy_promote; /* a promote call is in flight */
    int busy_reap;
    int busy_trim;
} squeue;

struct sched {
    struct ev_loop *loop;
    char id[96];
    const char *prefix;
    sl_rconn *redis;
    sl_rconn *subs;
    squeue *queues;
    int nqueues;
    int leader;
    ev_tstamp leader_until; /* local deadline: past it without a renewal, assume lost */
    long long lock_ttl_ms, tick_ms, reap_ms, worker_stale_ms;
    long long worker_dead_ms; /* silent this long: its jobs are taken back; 0: never */
    ev_tstamp redis_up_since; /* when the command connection last came up; 0: down */
    long long done_age_ms, done_max, dead_age_ms, dead_max;
    long long events_cap;    /* --events-cap: entries kept in PREFIX:events (reclaim.lua's) */
    struct archive *archive; /* archive.c */
    int promote_outstanding;
    int promote_again;     /* a wake-up came during a pass: run one more */
    long long next_due_ms; /* soonest delayed job seen in this pass, server ms; -1 none */
    long long server_now_ms;
    ev_timer leader_timer;   /* renew or try to take the lock */
    ev_timer promote_timer;  /* next promotion pass */
    ev_timer maintain_timer; /* queue list, reaping, trimming */
    ev_timer approval_timer; /* approval sweeps */
    long long approval_ms;   /* their interval; 0: none */
    const char *approval_queue;
    int approval_registered; /* the queue is in the queue set */
    ev_signal sigterm, sigint;
    int stopping;
    unsigned long long promoted, reclaimed, trimmed, workers_removed, sweeps;
    struct dead_scan {     /* dead.c: one dead worker at a time */
        int busy;          /* a check or scan is under way */
        char cand[64][96]; /* silent workers of the last pass, oldest first */
        long long cand_silent[64];
        int ncand, next;          /* how many; the next to check */
        char worker[96];          /* whose jobs */
        long long silent_ms;      /* its silence when found */
        int queue;                /* index of the queue being scanned */
        char cursor[32];          /* HSCAN cursor in that queue's lease hash */
        unsigned long long taken; /* jobs taken back so far */
    } dead;
    struct smetrics *metrics; /* smetrics.c: NULL without --metrics-listen */
};

/* leader.c */
void leader_start(sched *s);
void leader_release(sched *s);
int leader_active(sched *s);

/* promote.c */
void promote_start(sched *s);
void promote_soon(sched *s, double after_s);

/* reap.c */
void reap_pass(sched *s);
/* Sends reclaim.lua for N jobs of queue QI, given as groups of 4 replies (id,
 * deadline, lease token, body) as expired.lua and orphans.lua list them;
 * WHY: "lease" or "worker". As sl_rconn_script. */
int reap_reclaim(sched *s, int qi, redisReply **jobs, size_t n, const char *why,
                 sl_rconn_reply_cb *cb, void *priv);
void reap_remove_worker(sched *s, const char *id);

/* dead.c */
/* A pass lists each worker silent for >= --worker-dead-ms with
 * dead_take_back (ID, its silence), oldest first, then calls dead_check:
 * each listed worker in turn, unless it beats slower than that, has every
 * job it holds taken back and leaves the registry. A list still being
 * worked through is finished before a new one is taken. */
void dead_take_back(sched *s, const char *id, long long silent_ms);
void dead_check(sched *s);

/* trim.c */
void trim_pass(sched *s);

/* approval_clock.c */
void approval_start(sched *s);
void approval_stop(sched *s);

/* smetrics.c */
/* Registers the families and serves them on LISTEN (NULL: off). ERR names
 * --metrics-listen when the address is bad or taken. Other modules'
 * families are registered there too (see its comment). */
int smetrics_start(sched *s, const char *listen, char *err, size_t errlen);
/* SIGTERM: stops reading the fleet gauges and serving (the loop ends when
 * nothing is left running). */
void smetrics_quiet(sched *s);
void smetrics_stop(sched *s);

/* main.c */
void sched_became_leader(sched *s);
void sched_lost_leadership(sched *s);
/* Reads the set of queues again; a new one gets a promotion pass at once. */
void sched_refresh_queues(sched *s);

#endif

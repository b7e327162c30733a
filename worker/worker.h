/* worker.h — sluice-worker: one libev loop, a command connection and a
 * pub/sub connection to Redis, many jobs in flight. docs/ARCHITECTURE.md
 * follows a job through these files.
 *
 *   main.c     options, start-up, the flush once per loop turn, Redis back up
 *   drain.c    SIGTERM: stop claiming, a grace period, hand the rest back,
 *              leave the registry, close, exit
 *   fetch.c    which queue to claim from, claims, wake-ups on pub/sub
 *   run.c      a job's life in the process: start, timeout, finish
 *   settle.c   batched acks, retries and hand-backs to Redis
 *   lease.c    lease renewal and heartbeats
 *   spawn.c    jobs that jobs make (spawn.h): validated, enqueued per queue
 *   call.c     a job's request to Discord or Telegram (call.h): gate, HTTP,
 *              report to the shared limits, 429s waited out, one verdict
 *   gate.c     in-process queues in front of the fleet-wide rate limits
 *              (gate.h): one rl_acquire.lua call for a bot's waiting gates
 *   wmetrics.c --metrics-listen: the worker's families, updated on kept series;
 *              wmetrics_calls.c: those of platform requests, limits, PDFs
 *
 * The job types:
 *   handlers/basic.c        noop, sleep, fail
 *   handlers/message.c      message: send, edit or delete on Discord or Telegram
 *   handlers/interview.c    interview: find or create the channel, intro, follow-up
 *   handlers/followup.c     followup: a reminder, unless an image came or it was decided
 *   handlers/approval.c     approval: one sweep over the pending applications
 *   handlers/app.c          what those three share: records, templates (app.h)
 *   handlers/pdf_job.c      pdf: a place under the fleet's cap, the render on a
 *                           pool thread, its temporary file (pdf_job.h, pdf_private.h)
 *   handlers/pdf_deliver.c  where a rendered PDF goes: Discord, Telegram, a
 *                           directory, an HTTP PUT */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <ev.h>
#include <stdint.h>
#include <stdio.h>

#include "args.h"
#include "backoff.h"
#include "job.h"
#include "keys.h"
#include "notify.h"
#include "rconn.h"
#include "util.h"

typedef struct worker worker;
typedef struct task task;
typedef struct wqueue wqueue;

/* What a handler reports when a run ends. */
enum task_result {
    TASK_OK,        /* done */
    TASK_RETRY,     /* transient failure: retry with backoff while attempts last */
    TASK_PERMANENT, /* permanent failure: dead at once */
};

/* A job type's code. start() runs on the loop and must not block; it ends
 * the run by calling task_finish() exactly once, now or later. cancel()
 * abandons a run that has not finished (timeout, shutdown, lease taken
 * back): it stops the handler's watchers and frees its state, and must not
 * call task_finish(). */
typedef struct handler {
    const char *type;
    void (*start)(task *t);
    void (*cancel)(task *t);
} handler;

/* Series to count once Redis has accepted the settles they stand for
 * (wmetrics.c): one per job, in the order sent. */
struct wm_list {
    struct sl_series **s;
    int n, cap;
};

/* Settlement of one finished run, waiting to be sent in a batch. */
struct pending {
    sl_args args; /* the jobs' arguments, back to back */
    int jobs;
};

struct wqueue {
    worker *w;
    sl_keys keys;
    int weight;           /* 0: strict, served before the tiers after it */
    int tier;             /* queues are tried tier by tier; weights pick within one */
    int maybe_ready;      /* 0 after a claim came back short, until a wake-up */
    unsigned wake_seq;    /* wake-ups seen, to spot one that raced a claim */
    struct pending acks;  /* ids done, for ack.lua: runs of (token, count, ids) */
    int ack_run;          /* acks' index + 1 of the last run's count; 0: start a run */
    int ack_run_jobs;     /* that run's count (its argument is the same, "%06d") */
    struct pending backs; /* (id, token, batch) triples done of jobs in a batch, for ack.lua */
    struct pending rets;  /* (id, token, batch, body, result) of jobs done with a result */
    struct pending fails; /* retries, deaths and hand-backs, for fail.lua */
    int inflight;         /* tasks of this queue in the process */
    int heard;            /* PREFIX:{Q}:finished had a subscriber at the last ack: make its lines */
    struct wm_list ack_m; /* metrics of the acks collected (wmetrics.c) */
    struct wm_list fail_m;
    sl_buf ack_events; /* the events.h lines of acks, backs and rets, for ack.lua */
};

struct task {
    worker *w;
    wqueue *q;
    sl_job job;
    const handler *h;
    int64_t started_us;
    int64_t claimed_ms; /* Redis time of the claim (claim.lua's "now") */
    int rate_limited;   /* 429s answered to this run's requests (call.c), for its event */
    ev_timer timeout;   /* timeout_ms of the run */
    ev_timer timer;     /* for the handler's own use */
    void *state;        /* the handler's */
    char token[128];    /* the claim's lease token, "WORKER/SEQ" (claim.lua) */
    uint64_t seq;       /* order of creation in this process (worker.tasks) */
    int gated;          /* calls of this task waiting in rate-limit gates */
    char *result;       /* the handler's result (JSON text, heap), or NULL */
    size_t result_len;
    task *prev, *next; /* in worker.running */
};

struct worker {
    struct ev_loop *loop;
    char id[96];
    const char *prefix;
    sl_rconn *redis; /* commands */
    sl_rconn *subs;  /* pub/sub wake-ups */
    wqueue *queues;
    int nqueues;
    int concurrency;
    int batch;    /* most jobs per claim */
    int running;  /* tasks in flight */
    int parked;   /* of those, waiting in a rate-limit gate: they hold no slot */
    int reserved; /* slots promised to claims in flight */
    int claims_inflight;
    task *run_head; /* running tasks */
    task *free_tasks;
    long long lease_ms, grace_ms, retention_ms, heartbeat_ms;
    long long result_max; /* --result-max-bytes */
    long long events_cap; /* --events-cap: entries kept in PREFIX:events; 0: no events */
    sl_backoff_retry backoff;
    int draining;     /* SIGTERM seen: claim nothing more */
    int settle_calls; /* ack/fail calls in flight */
    int stopped;
    uint64_t processed, failed, claimed;
    uint64_t abandoned; /* runs stopped because their lease was taken back */
    uint64_t tasks;     /* tasks ever created: the last one's seq */
    double avg_run_us;  /* moving average of a run's time, shapes the claims */
    char sched_channel[SL_KEY_MAX];
    ev_prepare flush; /* batches settle calls and claims once per loop turn */
    ev_timer poll;    /* safety net for a missed wake-up */
    ev_timer lease;   /* renewals */
    ev_timer heartbeat;
    ev_timer grace;
    ev_timer give_up; /* after the grace period: exit even if Redis is gone */
    ev_timer settle_retry;
    ev_signal sigterm, sigint;
    int64_t started_ms;
    FILE *latency_log; /* --latency-log: "id start_us" per run, for sluice-bench */
    sl_notify notify;  /* systemd: READY=1, WATCHDOG=1, STOPPING=1, STATUS= (notify.h) */
    sl_buf event_line; /* settle.c: one failure's events.h line, made here */

    /* What the files named keep for this worker, passed with it rather than
     * hidden in globals (as curl's GlobalInfo or libuv's loop) */
    struct settle_call *settle_spare; /* settle.c: ended ack/fail calls, for reuse */
    struct listing *listings;         /* handlers/interview.c: guild channel listings */
    struct pdf_shared *pdf;           /* handlers/pdf_job.c: renders' places, threads (pdf_init) */
    struct gates *gates;              /* gate.c: every gate and asker (gates_start) */
    struct pcalls *calls;             /* call.c: bots, the HTTP engine (pcall_init) */
    struct wmetrics *metrics;         /* wmetrics.c: NULL without --metrics-listen */
};

/* fetch.c */
void fetch_start(worker *w);
void fetch_maybe_claim(worker *w);
void fetch_wake_all(worker *w);

/* run.c */
/* TOKEN: the claim's lease token, given back with every renew and settle. */
/* CLAIMED_MS: the claim's Redis time. */
void run_claimed(worker *w, wqueue *q, const char *token, int64_t claimed_ms, const char *id,
                 const char *body, size_t len);
/* Ends T's run with RESULT; ERROR (for failures) is copied, cut at
 * TASK_ERROR_MAX bytes. Frees T. A handler frees its own state first (its
 * calls must be gone before the task is), so an ERROR that points into that
 * state (a request's curl error) is copied before the state is freed. */
#define TASK_ERROR_MAX 2000
void task_finish(task *t, enum task_result result, const char *error);
/* Gives T's run a result, RESULT printed compactly (copied; a later call
 * replaces it). When T then finishes TASK_OK, the result is stored as
 * "result" in the job's envelope (kept with it in done) and published on
 * PREFIX:{Q}:finished (ack.lua); a result over --result-max-bytes is
 * replaced by {"error": "result over N bytes", "bytes": ITS SIZE} and
 * logged: the job is done all the same. Jobs that set none pay nothing. */
void task_set_result(task *t, const cJSON *result);
const handler *handler_find(const char *type);
/* Abandons every running task and hands it back to ready. */
void run_hand_back_all(worker *w);
/* Stops T's run because its lease was taken back (the job may run elsewhere
 * now): the handler's cancel, as at a timeout, and nothing settled, since
 * the job is no longer this worker's. Frees T and its slot. */
void task_abandon(task *t);

/* settle.c */
void pending_deinit(struct pending *p);
/* TOKEN: the lease token of the claim (the scripts refuse a settle whose
 * token is no longer the job's, and count it as stale). BATCH: the job's
 * batch (counted by the script when the job is really moved to done or
 * dead), or NULL. */
void settle_ack(wqueue *q, const char *token, const sl_job *job, int64_t claimed_ms,
                int rate_limited);
/* The ack of a job with a result: BODY is its envelope with "result" in it,
 * RESULT the result's JSON text. */
void settle_ack_result(wqueue *q, const char *token, const sl_job *job, int64_t claimed_ms,
                       int rate_limited, const char *body, size_t body_len, const char *result,
                       size_t result_len);
/* Where fail.lua puts a job whose run did not end done. */
enum settle_action {
    SETTLE_RETRY, /* to delayed, due in delay_ms: an attempt used (counted failed, retried) */
    SETTLE_DEAD,  /* to dead now (counted failed, dead; in its batch, if any, as failed) */
    SETTLE_BACK,  /* to the front of its ready list at once, no attempt used: the worker
                   * stops (drain) or claimed it while stopping */
    SETTLE_DEFER, /* to delayed, due in delay_ms, no attempt used: a rate limit asked for a
                   * long wait (counted deferred) */
};
/* How a job leaves: what settle_fail sends for it. */
struct settle_how {
    enum settle_action action;
    int64_t delay_ms;   /* RETRY, DEFER */
    int priority;       /* BACK: the ready list it goes to */
    const sl_buf *body; /* the envelope rewritten (attempts, last_error), or NULL: the
                         * stored one stays */
    const char *batch;  /* DEAD: the job's batch, counted failed; NULL: none */
    /* the events.h line (not for BACK): the job (NULL: its body did not
     * parse), its claim's Redis time, the error */
    const sl_job *job;
    int64_t claimed_ms;
    int rate_limited;
    const char *error;
};
/* Queues the failure of job ID (lease TOKEN) for the next fail.lua call of
 * Q. HOW and what it points to are copied. */
void settle_fail(wqueue *q, const char *id, const char *token, const struct settle_how *how);
void settle_flush(worker *w);
int settle_idle(const worker *w);

/* lease.c */
void lease_start(worker *w);
void lease_stop(worker *w);

/* drain.c */
/* Sets up the signal watchers (started) and the grace and give-up timers. */
void drain_start(worker *w);
void drain_stop(worker *w);
/* Once draining and nothing is left (nothing running, nothing to settle, no
 * claim in flight): leaves the registry and closes the connections. Call
 * after anything that may have been the last. */
void drain_check_done(worker *w);
/* Ends the loop once both connections have closed after a stop. */
void drain_check_closed(worker *w);

/* Ends T's run without an attempt: back to Redis as a delayed job, to run
 * again in MS (a rate limit asked for a long wait). Frees T. */
void task_defer(task *t, long ms, const char *why);

/* wmetrics.c: the worker's metrics; every call does nothing without
 * --metrics-listen. */
struct sl_rl_request;
struct sl_bot;
struct sl_call;
/* Registers the families and serves them on LISTEN (NULL: off). ERR names
 * --metrics-listen when the address is bad or taken. */
int wmetrics_start(worker *w, const char *listen, long invalid_threshold, char *err, size_t errlen);
void wmetrics_stop(worker *w);
enum wm_outcome { WM_DONE, WM_RETRIED, WM_DEAD };
void wm_job_started(task *t);
/* T's run time RUN_US (-1: it never started), and its count queued with
 * T's settle (counted when the settle's reply accepts it: wm_list_count). */
void wm_job_ended(task *t, enum wm_outcome outcome, int64_t run_us);
void wm_buried(worker *w, wqueue *q); /* a job that could not run, sent to dead */
void wm_claimed(worker *w, wqueue *q, size_t got);
void wm_http(worker *w, const struct sl_bot *bot, const struct sl_call *spec, long status,
             const char *scope429);
/* The waits series of a gate of REQ (looked up once per gate); NULL when off. */
struct sl_series *wm_rl_waits(worker *w, const struct sl_rl_request *req);
void wm_pdf_rendered(worker *w, int ok);
void wm_pdf_place_wait(worker *w);
void wm_list_move(struct wm_list *dst, struct wm_list *src); /* appends, empties SRC */
void wm_list_take(struct wm_list *dst, struct wm_list *src); /* swaps: DST empty before */
/* Counts the first ACCEPTED series of L (a reply's accepted jobs), empties L. */
void wm_list_count(struct wm_list *l, long long accepted);
void wm_list_deinit(struct wm_list *l);

/* handlers/ */
extern const handler handler_noop, handler_sleep, handler_fail, handler_message;
extern const handler handler_interview, handler_followup, handler_approval;
extern const handler handler_pdf; /* handlers/pdf_job.c; set up by pdf_init (handlers/pdf_job.h) */

/* call.c: the bots, the HTTP engine and the limits of platform requests,
 * set up at start-up (pcall_init in call.h) */
typedef struct message_opts {
    long long discord_per_second;  /* each Discord bot's global limit */
    long long telegram_per_second; /* each Telegram bot's limit */
    long invalid_threshold;        /* pause a Discord bot at this many 401/403/429 per 10 min */
    const char *discord_ua_url;    /* User-Agent: DiscordBot (URL, VERSION) */
    const char *discord_ua_version;
} message_opts;

#endif

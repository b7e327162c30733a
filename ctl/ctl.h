/* ctl.h — sluice-ctl's parts: main.c parses options and dispatches,
 * common.c holds the Redis and output helpers every command shares, then one
 * file per group of commands (stats.c: stats and workers; show.c: show and
 * dead; jobs.c: retry, cancel, pause and resume; batch_status.c: batch;
 * apps.c: app, apps; spool_status.c: spool, and the spool line of stats;
 * install.c: install, the Redis Function library; ls.c: ls and purge;
 * view.c: the live view top and web show; top.c: top; web.c: web, the
 * dashboard; archive_read.c: the archive's rollups for top and web;
 * history.c: history and metrics, from the SQLite archive).
 *
 * Blocking hiredis, no event loop: each command is a handful of pipelined
 * round trips. Exit status: 0 done, 1 not found or wrong state, 2 usage or
 * Redis error. */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <hiredis/hiredis.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "keys.h"

#define CTL_OK 0
#define CTL_NOTFOUND 1 /* not found, or the job is in the wrong state */
#define CTL_FAIL 2     /* usage or Redis error */

typedef struct ctl_opts {
    const char *redis_url; /* secret: never printed */
    const char *prefix;
    const char *queue;      /* --queue, or NULL */
    int json;               /* --json */
    int all_dead;           /* retry --all-dead */
    long long limit;        /* dead --limit */
    const char *spool;      /* stats --spool: a producer's spool to show too */
    int print;              /* install --print */
    int check;              /* install --check */
    const char *state;      /* purge --state: "dead", "done" or "dead,done" */
    int yes;                /* purge --yes */
    long long interval;     /* top --interval, seconds */
    int once;               /* top --once: one frame, no escapes */
    const char *archive;    /* top, web --archive: the SQLite archive, or NULL */
    const char *listen;     /* web --listen HOST:PORT */
    const char *token_file; /* web --admin-token-file, or NULL: read-only */
    const char *type;       /* history, metrics: --type */
    const char *since;      /* history, metrics: --since (a duration) */
    const char *step;       /* metrics: --step (a duration) */
    int failed;             /* history: --failed */
} ctl_opts;

typedef struct ctl {
    const ctl_opts *o;
    const char *cmd;  /* command name, for messages */
    redisContext *rc; /* connected, scripts loaded */
    int quiet;        /* retry, cancel: no "revived"/"cancelled" line (web.c) */
} ctl;

/* Commands: POS holds the positional arguments after the command name. Each
 * returns an exit status and prints its own errors. */
int ctl_stats(ctl *c, int npos, char **pos);
int ctl_workers(ctl *c, int npos, char **pos);
int ctl_show(ctl *c, int npos, char **pos);
int ctl_dead(ctl *c, int npos, char **pos);

/* Appends a queue's counts to the pipeline, CTL_QUEUE_COUNTS commands in
 * this order: LLEN of the four ready lists (critical first); ZCARD of
 * delayed, active, done, dead; EXISTS paused; HGETALL stats. Read by
 * `sluice-ctl stats` and the live view (top, web). */
enum { CTL_QUEUE_COUNTS = SL_PRIO_COUNT + 6 };
void ctl_append_queue_counts(ctl *c, const sl_keys *k);

/* The LIMIT newest dead jobs of NQ queues NAMES, newest first: one pipeline
 * of ZREVRANGE + ZCARD a queue, then one of GET a job (a body is a nil
 * reply when the job is gone). Used by `sluice-ctl dead` and the
 * dashboard's /api/dead. -1 when Redis refuses (told with ctl_errorf);
 * free L with ctl_dead_list_free either way. */
typedef struct ctl_dead_entry {
    long queue; /* index into NAMES */
    const char *id;
    int64_t died_ms;
} ctl_dead_entry;
typedef struct ctl_dead_list {
    ctl_dead_entry *e;   /* [n]; ids point into r */
    redisReply **bodies; /* [n] */
    size_t n;
    long long total; /* dead jobs of those queues in all */
    redisReply **r;  /* [nr]: the ZREVRANGE and ZCARD replies */
    size_t nr;
} ctl_dead_list;
int ctl_dead_read(ctl *c, char **names, long nq, long long limit, ctl_dead_list *l);
void ctl_dead_list_free(ctl_dead_list *l);
int ctl_retry(ctl *c, int npos, char **pos);
int ctl_cancel(ctl *c, int npos, char **pos);
int ctl_pause(ctl *c, int npos, char **pos);
int ctl_resume(ctl *c, int npos, char **pos);
int ctl_batch(ctl *c, int npos, char **pos);
int ctl_app(ctl *c, int npos, char **pos);
int ctl_apps(ctl *c, int npos, char **pos);
/* spool PATH: needs no Redis (c->rc is NULL). */
int ctl_spool(ctl *c, int npos, char **pos);

/* The depth of the spool at PATH: added to DOC as "spool", or printed
 * when DOC is NULL. CTL_OK, or CTL_FAIL after printing the problem. */
int ctl_spool_stats(const char *path, cJSON *doc);
int ctl_install(ctl *c, int npos, char **pos);
int ctl_ls(ctl *c, int npos, char **pos);    /* ls.c */
int ctl_purge(ctl *c, int npos, char **pos); /* ls.c */
int ctl_top(ctl *c, int npos, char **pos);   /* top.c */
int ctl_web(ctl *c, int npos, char **pos);   /* web.c */
/* history, metrics: need no Redis (c->rc is NULL): the archive file. */
int ctl_history(ctl *c, int npos, char **pos);
int ctl_metrics(ctl *c, int npos, char **pos);

/* `sluice-ctl install --print`: the library's text on stdout, no Redis. */
int ctl_install_print(void);

/* --- common.c --------------------------------------------------------- */

/* Prints "sluice-ctl: message" on stderr. */
void ctl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads N replies of commands appended before (a pipeline) into R. Returns 0,
 * or -1 after printing the first problem (connection lost, or an error reply
 * to the command described by WHAT); on failure every reply read is freed
 * and R holds NULLs. */
int ctl_read_replies(ctl *c, redisReply **r, size_t n, const char *what);
void ctl_free_replies(redisReply **r, size_t n);

/* One command, waited for. NULL after printing the problem. */
redisReply *ctl_command(ctl *c, const char *what, const char *fmt, ...);

/* An integer reply, or a string holding one (HGETALL values, scores);
 * nil and anything else give DFLT. */
long long ctl_reply_int(const redisReply *r, long long dflt);
/* The reply to TIME as milliseconds since the epoch. */
int64_t ctl_reply_time_ms(const redisReply *r);

/* The known queues (the PREFIX:queues set), sorted; or just QUEUE when it
 * is not NULL. The caller frees the list with ctl_queues_free. Returns the
 * count, or -1 after printing the problem. */
long ctl_queues(ctl *c, const char *queue, char ***out);
void ctl_queues_free(char **q, long n);

/* Checks a job id given on the command line (1..64 bytes, no spaces or
 * control characters). Returns 0, or CTL_FAIL after printing why. */
int ctl_check_id(const ctl *c, const char *id);

/* Writes MS as ISO 8601 UTC with milliseconds ("2026-11-22T18:47:35.123Z")
 * into OUT (at least 32 bytes). */
void ctl_iso_time(int64_t ms, char *out, size_t outlen);

/* Prints DOC as one line of compact JSON on stdout and frees it. */
void ctl_print_json(cJSON *doc);

/* Prints DOC indented by two spaces a level, then a newline. */
void ctl_print_pretty(const cJSON *doc, FILE *out);

/* Copies S into OUT as one line: control characters become spaces, and when
 * S is longer than MAX bytes it is cut there (never inside a UTF-8 sequence)
 * and ends in "...". OUTLEN should be at least MAX + 4. */
void ctl_one_line(const char *s, size_t max, char *out, size_t outlen);

/* A text table: cells added row by row, printed with aligned columns. */
typedef struct ctl_table {
    int ncols;
    const char *align; /* one char per column: 'l' or 'r' */
    char **cells;      /* row-major, heap strings */
    size_t ncells, cap;
} ctl_table;

void ctl_table_init(ctl_table *t, int ncols, const char *align);
void ctl_table_add(ctl_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ctl_table_print(const ctl_table *t, FILE *out);
void ctl_table_deinit(ctl_table *t);

/* Where a job is. A dead job whose last_error starts with "cancelled" is
 * reported as CTL_STATE_CANCELLED. */
enum ctl_state {
    CTL_STATE_UNKNOWN, /* the body exists, the id is in no list or set */
    CTL_STATE_READY,
    CTL_STATE_DELAYED,
    CTL_STATE_ACTIVE,
    CTL_STATE_DONE,
    CTL_STATE_DEAD,
    CTL_STATE_CANCELLED,
};
const char *ctl_state_name(int state);

typedef struct ctl_job {
    char id[65];
    sl_keys keys;       /* of the job's queue */
    int state;          /* enum ctl_state */
    int priority;       /* ready: which list */
    long long position; /* ready: index in its list (0 = next) */
    int has_score;
    int64_t score_ms; /* delayed: run-at; active: lease deadline; done, dead: when */
    int64_t now_ms;   /* Redis server time when looked up */
    char *body;       /* heap, NULL when the key is missing */
    size_t len;
    cJSON *doc; /* the body parsed, when it is a JSON object; else NULL */
} ctl_job;

/* Finds job ID in QUEUE, or when QUEUE is NULL in every known queue
 * (pipelined EXISTS), then reads its body and state in one round trip.
 * Returns 0; CTL_NOTFOUND after printing "no job ID in ..."; CTL_FAIL after
 * printing a Redis problem. J needs ctl_job_deinit after a 0 return only. */
int ctl_job_find(ctl *c, const char *id, const char *queue, ctl_job *j);
void ctl_job_deinit(ctl_job *j);

/* The envelope's priority as an enum sl_priority, normal when unknown. */
int ctl_doc_priority(const cJSON *doc);

/* --- batch_status.c --------------------------------------------------- */

/* A batch as its hash holds it (lib_batch.lua); not its callback's body. */
typedef struct ctl_batch_info {
    char id[65];
    int found; /* 0: no such batch (never opened, or expired); the rest is 0 */
    long long total, done, failed;
    int sealed;
    int64_t created_ms, keep_ms, completed_ms; /* completed_ms 0 while not complete */
    char cb_id[65], cb_queue[65];              /* the callback job; "" when none */
    int64_t cb_fired_ms;                       /* 0 while it waits */
    int64_t ttl_ms;                            /* PTTL of the hash */
    int64_t now_ms;                            /* Redis server time */
} ctl_batch_info;

/* Reads batch ID in one round trip. Returns 0 (B->found says whether it
 * exists), or CTL_FAIL after printing a Redis problem. */
int ctl_batch_get(ctl *c, const char *id, ctl_batch_info *b);
long long ctl_batch_pending(const ctl_batch_info *b);
/* "open", "sealed", "complete", or "gone" when not found. */
const char *ctl_batch_state(const ctl_batch_info *b);
/* The batch as `batch --json` prints it; the caller owns the document. */
cJSON *ctl_batch_json(const ctl_batch_info *b);
/* "200 jobs: 150 done, 2 failed, 48 pending" */
void ctl_batch_counts(const ctl_batch_info *b, char *out, size_t outlen);

/* --- view.c: the live picture top draws and web serves ---------------- */

typedef struct ctl_view ctl_view;

/* Reads the names the first refresh needs (queues, workers, rate-limit
 * keys). NULL after printing a Redis problem. */
ctl_view *ctl_view_new(ctl *c);
void ctl_view_free(ctl_view *v);

/* One pipelined round trip: a document with now_ms, interval_s, queues
 * (depths by priority, sets, paused, counters, rates per second since the
 * last refresh or null, and with SAMPLE_DONE the latency of the newest done
 * jobs), workers (with the in-flight jobs their leases show), ratelimits
 * per bot and dead_recent. The caller owns it. NULL after printing a Redis
 * problem. */
cJSON *ctl_view_refresh(ctl_view *v, int sample_done);

/* --- archive_read.c: the archive's rollups ----------------------------- */

/* Per queue over the minutes since SINCE_MS: done, dead, retried,
 * rate_limited, run and wait p50/p99. NULL with WHY ("no archive ...")
 * when PATH or its rollups table is not there. */
cJSON *ctl_archive_latency(const char *path, int64_t since_ms, char *why, size_t whylen);
/* Per minute since SINCE_MS, across queues: [minute_ms, done, dead,
 * retried, cancelled, rate_limited]. NULL with WHY as above. */
cJSON *ctl_archive_series(const char *path, int64_t since_ms, char *why, size_t whylen);

#endif

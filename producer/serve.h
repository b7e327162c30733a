/* serve.h — `sluice-producer serve`, the HTTP intake, in parts:
 *   serve.c         options, start-up, the one libev loop driving
 *                   libmicrohttpd (shared/httpd.c: its epoll fd on the loop)
 *   serve_http.c    one request: headers, body, routing, JSON answers,
 *                   suspend and resume
 *   serve_jobs.c    POST /v1/jobs: check, then one enqueue script call per
 *                   queue per loop turn for every request that came in it
 *   serve_lookup.c  a job's state read from Redis (GET, DELETE, ?wait)
 *   serve_wait.c    GET /v1/jobs/ID?wait=S: waiters woken by pub/sub
 *   serve_admin.c   DELETE /v1/jobs/ID, /v1/queues, /v1/batches/ID
 *   serve_tokens.c  bearer tokens: the file, SHA-256, scopes, quotas;
 *                   `sluice-producer token new`
 *   serve_spool.c   --spool: jobs Redis could not take go to SQLite (on a
 *                   pool thread), and the flusher sends them back in order
 *   serve_metrics.c --metrics-listen: requests by route class and status,
 *                   spool depth, Redis round trips
 * One thread runs the loop: nothing on it blocks, every wait is a watcher;
 * SQLite runs on the spool's own pool thread. */
#ifndef SL_SERVE_H
#define SL_SERVE_H

#include "config.h"
#include "enqueue.h"
#include "httpd.h"
#include "notify.h"
#include "rconn.h"
#include "util.h"

#include <ev.h>
#include <microhttpd.h>
#include <stdint.h>

typedef struct serve serve;
typedef struct sreq sreq;
typedef struct serve_token serve_token;
typedef struct serve_tokens serve_tokens;

typedef struct serve_opts {
    const char *redis_url;
    const char *prefix;
    const char *listen;
    const char *tokens_file;
    int no_auth;
    long long max_body;
    long long max_payload;
    long long idem_ttl_ms;
    long long max_conns;
    long long conn_memory;
    long long redis_timeout_ms;
    const char *spool_path; /* NULL: no spool */
    long long spool_max_mb;
    const char *metrics_listen; /* NULL: no metrics */
} serve_opts;

/* ---- serve_tokens.c ---------------------------------------------------- */

struct serve_token {
    char name[65];
    unsigned char sha256[32];
    char **queues; /* NULL: any */
    int nqueues;
    char **types; /* NULL: any */
    int ntypes;
    double rate;        /* jobs/s; 0: no quota */
    double bucket;      /* jobs that may go now; negative: debt */
    ev_tstamp refilled; /* when bucket was last topped up */
};

struct serve_tokens {
    serve_token *t;
    int n;
};

/* Reads PATH (one JSON object a line: {"name", "sha256", "queues", "types",
 * "rate"}; blank lines and lines starting with '#' skipped) into OUT.
 * Returns 0, or -1 with the line and the problem in ERR (OUT untouched). */
int serve_tokens_load(serve_tokens *out, const char *path, char *err, size_t errlen);
void serve_tokens_deinit(serve_tokens *ts);

/* The entry whose hash matches TOKEN (LEN bytes), compared in constant time
 * over every entry; NULL when none. */
serve_token *serve_tokens_find(serve_tokens *ts, const char *token, size_t len);

int serve_token_allows_queue(const serve_token *t, const char *queue);
int serve_token_allows_type(const serve_token *t, const char *type);

/* Takes N jobs from T's quota at time NOW. Returns 0, or the seconds to
 * wait (>= 1) when the quota is used up (nothing taken). */
int serve_token_take(serve_token *t, long n, ev_tstamp now);

/* `sluice-producer token new --queues A,B --types X --rate N --name NAME`. */
int serve_token_main(int argc, char **argv);

/* ---- serve.c ----------------------------------------------------------- */

struct queue_pending; /* serve_jobs.c: jobs of one queue gathered this turn */

struct serve {
    struct ev_loop *loop;
    serve_opts o;
    sl_httpd *httpd; /* MHD on the loop; once per turn: flush batches */
    ev_signal sigterm, sigint, sighup;
    ev_timer stop_timer;
    sl_rconn *redis; /* commands and scripts */
    sl_rconn *sub;   /* PSUBSCRIBE PREFIX:{*}:finished */
    serve_tokens tokens;
    int stopping;
    long live;                     /* requests waiting on Redis or a wait */
    long open;                     /* requests being read or answered (serve_http.c) */
    struct queue_pending *pending; /* queues with jobs gathered this turn */
    struct queue_pending *queues;  /* every queue seen (registered in Redis) */
    char queues_key[SL_KEY_MAX];
    struct serve_waiters *waiters; /* serve_wait.c */
    struct serve_spool *spool;     /* serve_spool.c; NULL without --spool */
    struct serve_metrics *metrics; /* serve_metrics.c; NULL without --metrics-listen */
    sl_notify notify;              /* systemd (notify.h) */
};

/* Resumes R's connection once its answer is set (serve_http.c). */
void serve_resume(serve *s, sreq *r);

/* ---- serve_http.c ------------------------------------------------------ */

enum sreq_phase { SREQ_BODY, SREQ_WAITING, SREQ_ANSWER };

struct sreq {
    serve *s;
    struct MHD_Connection *conn;
    const char *method; /* MHD's, valid for the request */
    char *url;
    int phase;   /* enum sreq_phase */
    int too_big; /* the body passed --max-body-bytes: read and dropped */
    sl_buf body;
    serve_token *token; /* NULL when auth is off */
    /* the answer */
    int status;
    sl_buf resp;
    int retry_after; /* seconds, or 0: no header */
    /* POST /v1/jobs */
    struct sreq_jobs *jobs;
    /* GET /v1/jobs/ID */
    struct sreq_lookup *look;
};

enum MHD_Result serve_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls);
void serve_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

/* Sets R's answer: STATUS with the JSON error {"error": {"field": FIELD,
 * "message": MSG}} (FIELD may be NULL: none). */
void sreq_error(sreq *r, int status, const char *field, const char *msg);
/* The same from "FIELD: message" text as job.h and schema.h write it. */
void sreq_error_text(sreq *r, int status, const char *text, long index);
/* Sets R's answer: STATUS with BODY (copied). */
void sreq_json(sreq *r, int status, const char *body, size_t len);
/* Appends {"field": F, "message": M[, "index": I]} made from "F: M" TEXT. */
void serve_error_object(sl_buf *b, const char *text, long index);

const char *sreq_header(sreq *r, const char *name);
const char *sreq_arg(sreq *r, const char *name);
void sreq_suspend(sreq *r);

/* ---- serve_jobs.c ------------------------------------------------------ */

/* POST /v1/jobs with the whole body read. Answers, or suspends R until
 * Redis has answered. */
void serve_jobs_post(sreq *r);
/* Sends every queue's gathered jobs: one script call per queue. */
void serve_jobs_flush(serve *s);
/* Redis came up: queues are registered again on their next job. */
void serve_jobs_redis_up(serve *s);
void serve_jobs_free(serve *s);
void sreq_jobs_free(struct sreq_jobs *j);
/* The spool's answer for the job of R at INDEX: RC 0 (spooled) or an
 * error (ERR says which, with the limit when full). */
void serve_jobs_spooled(sreq *r, int index, int rc, const char *err);
/* The record the spool keeps for the job of R at INDEX, or NULL (no spool,
 * or a job of a batch: its batch lives in Redis). */
const struct sl_spool_job *serve_jobs_record(sreq *r, int index);

/* ---- serve_spool.c ----------------------------------------------------- */

/* Opens --spool (when given), its thread and the flusher's timer. 0, or -1
 * with the reason in ERR. */
int serve_spool_open(serve *s, char *err, size_t errlen);
/* New jobs must go to the spool: Redis is down, or spooled jobs still wait
 * (new ones go behind them, so the order holds). 0 without --spool. */
int serve_spool_first(serve *s);
/* Queues the job of R at INDEX for this turn's put (one transaction for
 * every job queued in a turn); serve_jobs_spooled answers it later. */
void serve_spool_add(serve *s, sreq *r, int index);
/* Once per loop turn: starts the turn's put, and the flusher when rows wait
 * and Redis is up. */
void serve_spool_turn(serve *s);
/* Appends ,"spool":{...} (the depth) to B; nothing without --spool. Sets
 * *ROOM to whether the spool has room for one more job of the largest
 * payload (--max-payload-bytes + 1 KiB); 0 without --spool. */
void serve_spool_json(serve *s, sl_buf *b, int *room);
/* The depth as last read (JOBS rows, BYTES): 1, or 0 without --spool. */
int serve_spool_depth(serve *s, long long *jobs, long long *bytes);
/* After the loop: settles every put still owed, closes the spool. */
void serve_spool_close(serve *s);

/* ---- serve_metrics.c --------------------------------------------------- */

/* Registers the intake's families and serves them on --metrics-listen
 * (nothing when unset). 0, or -1 with ERR naming the option. */
int serve_metrics_start(serve *s, char *err, size_t errlen);
/* Counts an answer: URL's route class (never an id or a token), STATUS. */
void serve_metrics_answer(serve *s, const char *route, int status);
void serve_metrics_stop(serve *s);

/* ---- serve_lookup.c ---------------------------------------------------- */

enum serve_state {
    SERVE_STATE_UNKNOWN,
    SERVE_STATE_READY,
    SERVE_STATE_DELAYED,
    SERVE_STATE_ACTIVE,
    SERVE_STATE_DONE,
    SERVE_STATE_DEAD,
    SERVE_STATE_CANCELLED,
};
const char *serve_state_name(int state);
int serve_state_final(int state);

typedef void serve_lookup_cb(sreq *r, int found);

struct sreq_lookup {
    char id[65];
    char queue[65]; /* "" until known */
    int state;
    int64_t score_ms; /* delayed: run at; active: lease deadline; done/dead: when */
    char *body;       /* the stored envelope, or NULL */
    size_t len;
    serve_lookup_cb *cb;
    /* ?wait */
    int wait;          /* waiting for the job to end */
    int looking;       /* a look-up is in flight */
    int recheck;       /* a finish message came while looking */
    int timed_out;     /* the wait ran out */
    ev_timer timer;    /* the wait's end */
    sreq *next_waiter; /* same id, in the waiter table */
    int cancel;        /* DELETE */
};

/* Looks up R->look->id (in R->look->queue when set, else across the known
 * queues), then calls CB(R, found) once, later. Returns 0, or SL_EREDIS when
 * Redis is down (CB not called). */
int serve_lookup(sreq *r, serve_lookup_cb *cb);
/* Appends the job's JSON answer (state, attempts, last_error, timings,
 * batch, result) to B. */
void serve_lookup_json(const struct sreq_lookup *l, sl_buf *b);
void sreq_lookup_free(struct sreq_lookup *l);

/* ---- serve_wait.c / serve_admin.c -------------------------------------- */

void serve_job_get(sreq *r, const char *id);
void serve_job_delete(sreq *r, const char *id);
void serve_queues_get(sreq *r);
void serve_batch_get(sreq *r, const char *id);
void serve_readyz(sreq *r);

int serve_wait_init(serve *s);
/* Answers every waiter now (shutting down). */
void serve_wait_release_all(serve *s);
void serve_wait_deinit(serve *s);

/* `sluice-producer serve ...`: returns the exit status. */
int serve_main(int argc, char **argv);

#endif

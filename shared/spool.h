/* spool.h — a local SQLite spool for jobs that could not reach Redis
 * (Redis down, timing out, or answering LOADING/READONLY/OOM/MASTERDOWN).
 *
 * One row per job, in arrival order: queue, id, idempotency key, priority,
 * delay, run-at and the envelope exactly as it would be sent. Ids are fixed
 * before a job is spooled, so a flusher that sends it again with the
 * client-chosen id flag (enqueue.lua's "!") can never store it twice.
 *
 * WAL, synchronous=FULL: a put that returned 0 survives a crash or a power
 * cut. The spool is bounded: the jobs' bytes (body, queue, id and key) never
 * pass max_bytes. No global state: each handle is used by one thread at a
 * time; threads and processes may share the file, each with its own handle.
 * Every call blocks on the disk (busy_timeout 10 s when another handle
 * writes): an event loop runs them on a thread of its own. */
#ifndef SL_SPOOL_H
#define SL_SPOOL_H

#include <stddef.h>

#include "util.h"

typedef struct sl_spool sl_spool;

/* One spooled job. Put: rowid and spooled_ms are ignored (now is used).
 * Peek: every pointer points into the sl_spool_rows that holds it. */
typedef struct sl_spool_job {
    long long rowid;             /* the row: delete by it once Redis confirmed */
    const char *queue;           /* 1..64 bytes */
    const char *id;              /* the job's id, fixed */
    const char *idempotency_key; /* NULL: none */
    int priority;                /* enum sl_priority */
    long long delay_ms;          /* as given, counted from spooled_ms */
    long long run_at_ms;         /* absolute, 0 = none */
    long long spooled_ms;        /* wall clock when it was spooled */
    const char *body;            /* the envelope as it would be sent */
    size_t len;
} sl_spool_job;

/* Rows read by sl_spool_peek; zero-initialised is empty. */
typedef struct sl_spool_rows {
    sl_spool_job *jobs;
    int n, cap;
    sl_buf arena; /* the strings of every row */
} sl_spool_rows;

typedef struct sl_spool_depth {
    long long jobs;      /* rows waiting */
    long long bytes;     /* their size, as counted against max_bytes */
    long long max_bytes; /* the handle's limit */
    long long oldest_ms; /* spooled_ms of the oldest row, 0 when empty */
} sl_spool_depth;

/* Opens (creating it, mode 0600, when missing) the spool at PATH with room
 * for MAX_BYTES of jobs. Returns NULL with the reason in ERR (SQLite's
 * message and the path). */
sl_spool *sl_spool_open(const char *path, long long max_bytes, char *err, size_t errlen);

/* Closes S (NULL does nothing); a flush lock held is released. */
void sl_spool_close(sl_spool *s);

/* Appends the N jobs of JOBS in order, in one transaction: all of them or,
 * on failure, none. Returns 0; SL_ETOOBIG when they would pass max_bytes
 * (ERR says how full the spool is and the limit); SL_EIO on a disk or
 * SQLite error (ERR says which). Copies what it needs. */
int sl_spool_put(sl_spool *s, const sl_spool_job *jobs, int n, char *err, size_t errlen);

/* Reads the oldest rows after AFTER_ROWID (0: from the start), at most MAX,
 * into OUT (reset first). Returns the number read, or SL_EIO. */
int sl_spool_peek(sl_spool *s, long long after_rowid, int max, sl_spool_rows *out, char *err,
                  size_t errlen);
void sl_spool_rows_deinit(sl_spool_rows *rows);

/* Deletes the N rows of ROWIDS in one transaction (rows already gone are
 * skipped). Call only after Redis confirmed the jobs. 0 or SL_EIO; on
 * failure nothing is deleted. */
int sl_spool_delete(sl_spool *s, const long long *rowids, int n, char *err, size_t errlen);

/* The spool's depth, in one read. 0 or SL_EIO. */
int sl_spool_stat(sl_spool *s, sl_spool_depth *d, char *err, size_t errlen);

/* Becomes the spool's only flusher (an flock on PATH-flush, held until
 * sl_spool_flush_unlock or close), so two flushers never send the same rows
 * out of order. 0; SL_ESTATE when another handle flushes; SL_EIO. Never
 * waits. */
int sl_spool_flush_lock(sl_spool *s);
void sl_spool_flush_unlock(sl_spool *s);

/* The path S was opened with. */
const char *sl_spool_path(const sl_spool *s);

#endif

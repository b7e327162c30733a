/* archive_db.h — the SQLite archive of job ends (README "History in
 * SQLite"): the tables, and one batch of PREFIX:events entries applied in
 * one transaction. Used by the leading scheduler's archiver on a pool
 * thread (scheduler/archive.c), read by sluice-ctl history / metrics.
 *
 *   job_ends   one row per end: failures always (retried, dead,
 *              cancelled), done ones with --history all
 *   rollups    one row per minute, queue and type: counts, p50/p95/p99 of
 *              run and wait time, and the histograms they come from
 *              (run_hist, wait_hist: hist.h) so that a minute whose ends
 *              arrive in several batches keeps exact percentiles
 *   applied    the stream entries already applied (ms, seq of the id): an
 *              entry delivered twice (a failover between the commit and the
 *              XACK, two leaders for a moment) is skipped, so nothing is
 *              written or counted twice
 *   archive_meta  key/value: what the writer was run with
 *
 * WAL, synchronous=FULL: the archiver XACKs entries once their
 * transaction has committed, and an XACKed entry is gone from Redis for
 * good; with NORMAL a power cut could lose the last commits after their
 * XACK. One fsync per batch of thousands of ends costs little. */
#ifndef SL_ARCHIVE_DB_H
#define SL_ARCHIVE_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_adb sl_adb;

/* Opens (and with WRITE, creates: the tables, WAL) the archive at PATH.
 * Read-only opens fail when the file does not exist. Returns NULL with the
 * reason in ERR. */
sl_adb *sl_adb_open(const char *path, int write, char *err, size_t errlen);
void sl_adb_close(sl_adb *db); /* NULL: nothing */
/* The underlying handle, for readers' own queries. */
struct sqlite3 *sl_adb_handle(sl_adb *db);

/* One stream entry: its id ("MS-SEQ"), queue and lines (events.h), owned by
 * the caller; LINES is modified while it is applied. */
typedef struct sl_adb_entry {
    char *id;
    char *queue;
    char *lines;
} sl_adb_entry;

typedef struct sl_adb_result {
    long long entries; /* applied now */
    long long skipped; /* already applied before */
    long long ends;    /* ends in the entries applied now */
    long long rows;    /* job_ends rows written */
    long long bad;     /* malformed lines skipped */
} sl_adb_result;

/* Applies N entries in one transaction: job_ends rows (done ones only with
 * KEEP_DONE), rollups merged. Returns 0, or -1 with the reason in ERR
 * (nothing applied). RES may be NULL. */
int sl_adb_apply(sl_adb *db, sl_adb_entry *entries, size_t n, int keep_done, sl_adb_result *res,
                 char *err, size_t errlen);

/* Deletes what is older than its retention at NOW_MS: done rows, failure
 * rows, rollups (each age in ms; 0 keeps them for ever), applied ids past
 * a week. Returns 0 or -1 with ERR. */
int sl_adb_expire(sl_adb *db, int64_t now_ms, int64_t done_ms, int64_t failed_ms, int64_t rollup_ms,
                  char *err, size_t errlen);

/* Sets archive_meta KEY to VALUE. */
int sl_adb_meta_set(sl_adb *db, const char *key, const char *value);

#endif

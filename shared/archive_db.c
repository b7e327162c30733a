/* archive_db.c — see archive_db.h. */
#include "archive_db.h"
#include "events.h"
#include "hist.h"
#include "util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS job_ends(\n"
    "  stream_id TEXT NOT NULL, job_id TEXT NOT NULL, queue TEXT NOT NULL,\n"
    "  type TEXT NOT NULL, outcome TEXT NOT NULL, attempts INTEGER NOT NULL,\n"
    "  enqueued_ms INTEGER, started_ms INTEGER, finished_ms INTEGER NOT NULL,\n"
    "  wait_ms INTEGER, run_ms INTEGER, error TEXT,\n"
    "  PRIMARY KEY(stream_id));\n"
    "CREATE INDEX IF NOT EXISTS job_ends_finished ON job_ends(finished_ms);\n"
    "CREATE INDEX IF NOT EXISTS job_ends_job ON job_ends(job_id);\n"
    "CREATE TABLE IF NOT EXISTS rollups(\n"
    "  minute_ms INTEGER NOT NULL, queue TEXT NOT NULL, type TEXT NOT NULL,\n"
    "  done INTEGER NOT NULL, dead INTEGER NOT NULL, retried INTEGER NOT NULL,\n"
    "  cancelled INTEGER NOT NULL, rate_limited INTEGER NOT NULL,\n"
    "  run_p50_ms REAL, run_p95_ms REAL, run_p99_ms REAL,\n"
    "  wait_p50_ms REAL, wait_p95_ms REAL, wait_p99_ms REAL,\n"
    "  run_hist BLOB, wait_hist BLOB,\n"
    "  PRIMARY KEY(minute_ms, queue, type));\n"
    "CREATE TABLE IF NOT EXISTS applied(ms INTEGER NOT NULL, seq INTEGER NOT NULL,\n"
    "  PRIMARY KEY(ms, seq)) WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS archive_meta(key TEXT PRIMARY KEY, value TEXT);\n";

enum { ST_APPLIED, ST_END, ST_ROLL_GET, ST_ROLL_PUT, ST_COUNT };
static const char *const statements[ST_COUNT] = {
    [ST_APPLIED] = "INSERT OR IGNORE INTO applied(ms, seq) VALUES(?, ?)",
    [ST_END] = "INSERT OR IGNORE INTO job_ends(stream_id, job_id, queue, type, outcome, attempts, "
               "enqueued_ms, started_ms, finished_ms, wait_ms, run_ms, error) "
               "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    [ST_ROLL_GET] = "SELECT done, dead, retried, cancelled, rate_limited, run_hist, wait_hist "
                    "FROM rollups WHERE minute_ms = ? AND queue = ? AND type = ?",
    [ST_ROLL_PUT] = "INSERT OR REPLACE INTO rollups(minute_ms, queue, type, done, dead, retried, "
                    "cancelled, rate_limited, run_p50_ms, run_p95_ms, run_p99_ms, wait_p50_ms, "
                    "wait_p95_ms, wait_p99_ms, run_hist, wait_hist) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
};

struct sl_adb {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

/* One rollup row being made from a batch. */
struct roll {
    int64_t minute;
    char queue[65], type[65];
    long long done, dead, retried, cancelled, rate_limited;
    sl_hist run, wait;
};

static int fail(sl_adb *a, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, a->db ? sqlite3_errmsg(a->db) : "no database");
    return -1;
}

sl_adb *sl_adb_open(const char *path, int write, char *err, size_t errlen)
{
    sl_adb *a = sl_calloc(1, sizeof *a);
    int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &a->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, a->db ? sqlite3_errmsg(a->db) : "cannot open");
        sl_adb_close(a);
        return NULL;
    }
    sqlite3_busy_timeout(a->db, 5000);
    if (!write)
        return a;
    char *msg = NULL;
    if (sqlite3_exec(a->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                     "PRAGMA wal_autocheckpoint=4000;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(a->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(a->db));
        sqlite3_free(msg);
        sl_adb_close(a);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v2(a->db, statements[i], -1, &a->st[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(a->db));
            sl_adb_close(a);
            return NULL;
        }
    return a;
}

void sl_adb_close(sl_adb *a)
{
    if (!a)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(a->st[i]);
    sqlite3_close(a->db);
    free(a);
}

struct sqlite3 *sl_adb_handle(sl_adb *a)
{
    return a->db;
}

int sl_adb_meta_set(sl_adb *a, const char *key, const char *value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(a->db, "INSERT OR REPLACE INTO archive_meta(key, value) VALUES(?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void bind_ms(sqlite3_stmt *st, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

static struct roll *roll_find(struct roll **rolls, size_t *n, size_t *cap, int64_t minute,
                              const char *queue, const char *type)
{
    for (size_t i = *n; i-- > 0;) {
        struct roll *r = &(*rolls)[i];
        if (r->minute == minute && !strcmp(r->queue, queue) && !strcmp(r->type, type))
            return r;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *rolls = sl_realloc(*rolls, *cap * sizeof **rolls);
    }
    struct roll *r = &(*rolls)[(*n)++];
    memset(r, 0, sizeof *r);
    r->minute = minute;
    snprintf(r->queue, sizeof r->queue, "%s", queue);
    snprintf(r->type, sizeof r->type, "%s", type);
    return r;
}

static void bind_quantile(sqlite3_stmt *st, int i, const sl_hist *h, double p)
{
    if (h->total)
        sqlite3_bind_double(st, i, sl_hist_quantile(h, p));
    else
        sqlite3_bind_null(st, i);
}

/* Merges R into its stored row. */
static int roll_write(sl_adb *a, struct roll *r)
{
    sqlite3_stmt *get = a->st[ST_ROLL_GET], *put = a->st[ST_ROLL_PUT];
    sqlite3_bind_int64(get, 1, r->minute);
    sqlite3_bind_text(get, 2, r->queue, -1, SQLITE_STATIC);
    sqlite3_bind_text(get, 3, r->type, -1, SQLITE_STATIC);
    int rc = sqlite3_step(get);
    if (rc == SQLITE_ROW) {
        r->done += sqlite3_column_int64(get, 0);
        r->dead += sqlite3_column_int64(get, 1);
        r->retried += sqlite3_column_int64(get, 2);
        r->cancelled += sqlite3_column_int64(get, 3);
        r->rate_limited += sqlite3_column_int64(get, 4);
        sl_hist_decode_add(&r->run, sqlite3_column_blob(get, 5),
                           (size_t)sqlite3_column_bytes(get, 5));
        sl_hist_decode_add(&r->wait, sqlite3_column_blob(get, 6),
                           (size_t)sqlite3_column_bytes(get, 6));
    }
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    unsigned char run[SL_HIST_BUCKETS * 6], wait[SL_HIST_BUCKETS * 6];
    size_t nrun = sl_hist_encode(&r->run, run), nwait = sl_hist_encode(&r->wait, wait);
    sqlite3_bind_int64(put, 1, r->minute);
    sqlite3_bind_text(put, 2, r->queue, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 3, r->type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(put, 4, r->done);
    sqlite3_bind_int64(put, 5, r->dead);
    sqlite3_bind_int64(put, 6, r->retried);
    sqlite3_bind_int64(put, 7, r->cancelled);
    sqlite3_bind_int64(put, 8, r->rate_limited);
    bind_quantile(put, 9, &r->run, 0.50);
    bind_quantile(put, 10, &r->run, 0.95);
    bind_quantile(put, 11, &r->run, 0.99);
    bind_quantile(put, 12, &r->wait, 0.50);
    bind_quantile(put, 13, &r->wait, 0.95);
    bind_quantile(put, 14, &r->wait, 0.99);
    sqlite3_bind_blob(put, 15, run, (int)nrun, SQLITE_STATIC);
    sqlite3_bind_blob(put, 16, wait, (int)nwait, SQLITE_STATIC);
    return step_done(put);
}

/* The entry's lines: rows and rollup counts. */
static int apply_entry(sl_adb *a, sl_adb_entry *e, int64_t ms, int keep_done, struct roll **rolls,
                       size_t *nrolls, size_t *cap, sl_adb_result *res)
{
    sqlite3_stmt *end = a->st[ST_END];
    int64_t minute = ms - ms % 60000;
    char *p = e->lines;
    sl_event ev;
    int rc, index = 0;
    while ((rc = sl_events_next(&p, &ev))) {
        if (rc < 0) {
            res->bad++;
            continue;
        }
        int line = index++;
        struct roll *r = roll_find(rolls, nrolls, cap, minute, e->queue, ev.type);
        r->rate_limited += ev.rate_limited; /* 429s the run waited out */
        int64_t run = ev.started_ms > 0 && ms >= ev.started_ms ? ms - ev.started_ms : -1;
        int64_t wait = ev.started_ms > 0 && ev.enqueued_ms > 0
                           ? (ev.started_ms > ev.enqueued_ms ? ev.started_ms - ev.enqueued_ms : 0)
                           : -1;
        int row = 1;
        if (!strcmp(ev.outcome, "done")) {
            r->done++;
            row = keep_done;
        } else if (!strcmp(ev.outcome, "dead")) {
            r->dead++;
        } else if (!strcmp(ev.outcome, "retried")) {
            r->retried++;
        } else if (!strcmp(ev.outcome, "cancelled")) {
            r->cancelled++;
        } else if (!strcmp(ev.outcome, "deferred")) {
            r->rate_limited++;
            continue; /* a wait, not an end: no row, no run */
        } else {
            res->bad++;
            continue;
        }
        res->ends++;
        if (run >= 0)
            sl_hist_add(&r->run, run);
        if (wait >= 0)
            sl_hist_add(&r->wait, wait);
        if (!row)
            continue;
        char sid[96];
        snprintf(sid, sizeof sid, "%s/%d", e->id, line);
        sqlite3_bind_text(end, 1, sid, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(end, 2, ev.id, -1, SQLITE_STATIC);
        sqlite3_bind_text(end, 3, e->queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(end, 4, ev.type, -1, SQLITE_STATIC);
        sqlite3_bind_text(end, 5, ev.outcome, -1, SQLITE_STATIC);
        sqlite3_bind_int(end, 6, ev.attempts);
        bind_ms(end, 7, ev.enqueued_ms);
        bind_ms(end, 8, ev.started_ms);
        sqlite3_bind_int64(end, 9, ms);
        bind_ms(end, 10, wait);
        bind_ms(end, 11, run);
        if (*ev.error)
            sqlite3_bind_text(end, 12, ev.error, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(end, 12);
        if (step_done(end))
            return -1;
        res->rows++;
    }
    return 0;
}

int sl_adb_apply(sl_adb *a, sl_adb_entry *entries, size_t n, int keep_done, sl_adb_result *res,
                 char *err, size_t errlen)
{
    sl_adb_result local = {0};
    struct roll *rolls = NULL;
    size_t nrolls = 0, cap = 0;
    if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(a, err, errlen, "begin");
    sqlite3_stmt *ap = a->st[ST_APPLIED];
    for (size_t i = 0; i < n; i++) {
        sl_adb_entry *e = &entries[i];
        char *dash;
        long long ms = strtoll(e->id, &dash, 10), seq = *dash == '-' ? atoll(dash + 1) : 0;
        sqlite3_bind_int64(ap, 1, ms);
        sqlite3_bind_int64(ap, 2, seq);
        if (step_done(ap))
            goto fail;
        if (sqlite3_changes(a->db) == 0) {
            local.skipped++;
            continue;
        }
        local.entries++;
        if (apply_entry(a, e, ms, keep_done, &rolls, &nrolls, &cap, &local))
            goto fail;
    }
    for (size_t i = 0; i < nrolls; i++)
        if (roll_write(a, &rolls[i]))
            goto fail;
    free(rolls);
    if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fail(a, err, errlen, "commit");
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (res)
        *res = local;
    return 0;
fail:
    free(rolls);
    fail(a, err, errlen, "write");
    sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int sl_adb_expire(sl_adb *a, int64_t now_ms, int64_t done_ms, int64_t failed_ms, int64_t rollup_ms,
                  char *err, size_t errlen)
{
    static const char *const sql[] = {
        "DELETE FROM job_ends WHERE outcome = 'done' AND finished_ms < ?",
        "DELETE FROM job_ends WHERE outcome <> 'done' AND finished_ms < ?",
        "DELETE FROM rollups WHERE minute_ms < ?",
        "DELETE FROM applied WHERE ms < ?",
    };
    int64_t ages[] = {done_ms, failed_ms, rollup_ms, 7 * 86400000LL};
    for (int i = 0; i < 4; i++) {
        if (ages[i] <= 0)
            continue;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(a->db, sql[i], -1, &st, NULL) != SQLITE_OK)
            return fail(a, err, errlen, "expire");
        sqlite3_bind_int64(st, 1, now_ms - ages[i]);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fail(a, err, errlen, "expire");
    }
    return 0;
}

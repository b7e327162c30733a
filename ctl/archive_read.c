/* archive_read.c — what top and web read from the SQLite archive the
 * leading scheduler writes (--archive / SLUICE_ARCHIVE): the per-minute
 * rollups per queue and type (table `rollups`, README "History in
 * SQLite"). Opened read-only for each read, so an archive that appears (or
 * is replaced) later is picked up; a file or table that is not there is
 * "no archive", not an error. */
#include "ctl.h"
#include "util.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

static sqlite3 *open_ro(const char *path, char *why, size_t whylen)
{
    sqlite3 *db = NULL;
    if (!path || access(path, R_OK)) {
        snprintf(why, whylen, "no archive");
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "no archive (%s)", db ? sqlite3_errmsg(db) : "cannot open");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 200);
    return db;
}

/* SQL over the rows of the minutes since SINCE_MS (its one parameter),
 * on its own read-only connection; NULL with WHY set when there is no
 * archive, or no rollups table in it (an archive from before, or not one at
 * all). End with finish(). */
static sqlite3_stmt *query(const char *path, const char *sql, int64_t since_ms, char *why,
                           size_t whylen)
{
    sqlite3 *db = open_ro(path, why, whylen);
    if (!db)
        return NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, whylen, "no archive (%s)", sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_bind_int64(st, 1, since_ms);
    return st;
}

static void finish(sqlite3_stmt *st)
{
    sqlite3 *db = sqlite3_db_handle(st);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

cJSON *ctl_archive_latency(const char *path, int64_t since_ms, char *why, size_t whylen)
{
    /* p50: the count-weighted mean of the minutes' p50s; p99: the highest
     * minute's (an upper bound): the rollups keep no histograms to merge */
    static const char *sql =
        "SELECT queue, SUM(done), SUM(dead), SUM(retried), SUM(rate_limited),"
        " SUM(run_p50_ms * done) / NULLIF(SUM(CASE WHEN run_p50_ms IS NULL THEN 0 ELSE done END),"
        " 0), MAX(run_p99_ms),"
        " SUM(wait_p50_ms * done) / NULLIF(SUM(CASE WHEN wait_p50_ms IS NULL THEN 0 ELSE done"
        " END), 0), MAX(wait_p99_ms)"
        " FROM rollups WHERE minute_ms >= ? GROUP BY queue ORDER BY queue";
    sqlite3_stmt *st = query(path, sql, since_ms, why, whylen);
    if (!st)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    static const char *cols[] = {"done",       "dead",       "retried",     "rate_limited",
                                 "run_p50_ms", "run_p99_ms", "wait_p50_ms", "wait_p99_ms"};
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *q = (const char *)sqlite3_column_text(st, 0);
        cJSON *o = cJSON_AddObjectToObject(out, q ? q : "");
        for (int i = 0; i < 8; i++) {
            if (sqlite3_column_type(st, i + 1) == SQLITE_NULL)
                cJSON_AddNullToObject(o, cols[i]);
            else
                cJSON_AddNumberToObject(o, cols[i], sqlite3_column_double(st, i + 1));
        }
    }
    finish(st);
    return out;
}

cJSON *ctl_archive_series(const char *path, int64_t since_ms, char *why, size_t whylen)
{
    static const char *sql =
        "SELECT minute_ms, SUM(done), SUM(dead), SUM(retried), SUM(cancelled),"
        " SUM(rate_limited) FROM rollups WHERE minute_ms >= ? GROUP BY minute_ms"
        " ORDER BY minute_ms";
    sqlite3_stmt *st = query(path, sql, since_ms, why, whylen);
    if (!st)
        return NULL;
    cJSON *out = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int i = 0; i < 6; i++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(sqlite3_column_double(st, i)));
        cJSON_AddItemToArray(out, row);
    }
    finish(st);
    return out;
}

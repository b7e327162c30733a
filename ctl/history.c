/* history.c — `sluice-ctl history` (job ends, newest first) and
 * `sluice-ctl metrics` (the per-minute rollups, merged into steps) read the
 * SQLite archive the leading scheduler writes (archive_db.h), read-only:
 * no Redis needed. */
#include "ctl.h"
#include "archive_db.h"
#include "hist.h"
#include "util.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "90s", "30m", "1h", "7d", "500ms" or a bare number of seconds, as ms;
 * -1 when it is none of those. */
static long long duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double unit = !strcmp(end, "ms")           ? 1
                  : !strcmp(end, "s") || !*end ? 1000
                  : !strcmp(end, "m")          ? 60000
                  : !strcmp(end, "h")          ? 3600000
                  : !strcmp(end, "d")          ? 86400000
                                               : -1;
    return unit < 0 ? -1 : (long long)(v * unit);
}

/* The archive, read-only; NULL after saying which option to fix. */
static sl_adb *open_archive(const ctl *c)
{
    const char *path = c->o->archive;
    if (!path || !*path) {
        ctl_errorf("%s: --archive PATH (or SLUICE_ARCHIVE) is needed: the SQLite file the "
                   "scheduler archives into (its --archive)",
                   c->cmd);
        return NULL;
    }
    if (access(path, F_OK)) {
        ctl_errorf("%s: --archive %s: no such file (the scheduler's --archive or SLUICE_ARCHIVE; "
                   "it is made when the leading scheduler starts with it)",
                   c->cmd, path);
        return NULL;
    }
    char err[512];
    sl_adb *db = sl_adb_open(path, 0, err, sizeof err);
    if (!db)
        ctl_errorf("%s: --archive %s", c->cmd, err);
    return db;
}

static int since_ms(const ctl *c, const char *dflt, long long *out)
{
    const char *s = c->o->since ? c->o->since : dflt;
    long long d = duration_ms(s);
    if (d < 0) {
        ctl_errorf("%s: --since: \"%.40s\" is not a duration (like 90s, 30m, 1h, 7d)", c->cmd, s);
        return CTL_FAIL;
    }
    *out = sl_realtime_us() / 1000 - d;
    return 0;
}

static sqlite3_stmt *prepare(const ctl *c, sl_adb *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(sl_adb_handle(db), sql, -1, &st, NULL) != SQLITE_OK) {
        ctl_errorf("%s: --archive %s: %s (is it a Sluice archive?)", c->cmd, c->o->archive,
                   sqlite3_errmsg(sl_adb_handle(db)));
        return NULL;
    }
    return st;
}

static void ms_text(char *out, size_t len, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        snprintf(out, len, "-");
    else
        snprintf(out, len, "%lld", (long long)sqlite3_column_int64(st, col));
}

int ctl_history(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    long long from;
    if (since_ms(c, "1h", &from))
        return CTL_FAIL;
    sl_adb *db = open_archive(c);
    if (!db)
        return CTL_FAIL;
    sqlite3_stmt *st = prepare(
        c, db,
        "SELECT finished_ms, queue, type, job_id, outcome, attempts, enqueued_ms, started_ms, "
        "wait_ms, run_ms, error, stream_id FROM job_ends WHERE finished_ms >= ?1 "
        "AND (?2 IS NULL OR queue = ?2) AND (?3 IS NULL OR type = ?3) "
        "AND (?4 = 0 OR outcome <> 'done') ORDER BY finished_ms DESC, stream_id DESC LIMIT ?5");
    if (!st) {
        sl_adb_close(db);
        return CTL_FAIL;
    }
    sqlite3_bind_int64(st, 1, from);
    if (c->o->queue)
        sqlite3_bind_text(st, 2, c->o->queue, -1, SQLITE_STATIC);
    if (c->o->type)
        sqlite3_bind_text(st, 3, c->o->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, c->o->failed);
    sqlite3_bind_int64(st, 5, c->o->limit);
    cJSON *list = cJSON_CreateArray();
    ctl_table t;
    ctl_table_init(&t, 9, "lllllrrrl");
    ctl_table_add(&t, "FINISHED");
    ctl_table_add(&t, "QUEUE");
    ctl_table_add(&t, "TYPE");
    ctl_table_add(&t, "ID");
    ctl_table_add(&t, "OUTCOME");
    ctl_table_add(&t, "ATTEMPTS");
    ctl_table_add(&t, "WAIT_MS");
    ctl_table_add(&t, "RUN_MS");
    ctl_table_add(&t, "ERROR");
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        const char *err = (const char *)sqlite3_column_text(st, 10);
        if (c->o->json) {
            static const char *const names[] = {
                "finished_ms", "queue",      "type",    "id",     "outcome", "attempts",
                "enqueued_ms", "started_ms", "wait_ms", "run_ms", "error",   "stream_id"};
            cJSON *row = cJSON_CreateObject();
            for (int i = 0; i < 12; i++) {
                int type = sqlite3_column_type(st, i);
                if (type == SQLITE_NULL)
                    cJSON_AddNullToObject(row, names[i]);
                else if (type == SQLITE_INTEGER)
                    cJSON_AddNumberToObject(row, names[i], (double)sqlite3_column_int64(st, i));
                else
                    cJSON_AddStringToObject(row, names[i],
                                            (const char *)sqlite3_column_text(st, i));
            }
            cJSON_AddItemToArray(list, row);
            continue;
        }
        char when[32], wait[24], run[24], line[104];
        ctl_iso_time(sqlite3_column_int64(st, 0), when, sizeof when);
        ms_text(wait, sizeof wait, st, 8);
        ms_text(run, sizeof run, st, 9);
        ctl_one_line(err ? err : "", 100, line, sizeof line);
        ctl_table_add(&t, "%s", when);
        ctl_table_add(&t, "%s", sqlite3_column_text(st, 1));
        ctl_table_add(&t, "%s", sqlite3_column_text(st, 2));
        ctl_table_add(&t, "%s", sqlite3_column_text(st, 3));
        ctl_table_add(&t, "%s", sqlite3_column_text(st, 4));
        ctl_table_add(&t, "%d", sqlite3_column_int(st, 5));
        ctl_table_add(&t, "%s", wait);
        ctl_table_add(&t, "%s", run);
        ctl_table_add(&t, "%s", line);
    }
    int status = CTL_OK;
    if (rc != SQLITE_DONE) {
        ctl_errorf("%s: --archive %s: %s", c->cmd, c->o->archive,
                   sqlite3_errmsg(sl_adb_handle(db)));
        status = CTL_FAIL;
    } else if (c->o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddItemToObject(doc, "ends", list);
        list = NULL;
        ctl_print_json(doc);
    } else if (n) {
        ctl_table_print(&t, stdout);
    } else {
        printf("no job ends in the archive since %s%s\n", c->o->since ? c->o->since : "1h",
               c->o->failed ? " (failures only)" : "");
    }
    cJSON_Delete(list);
    ctl_table_deinit(&t);
    sqlite3_finalize(st);
    sl_adb_close(db);
    return status;
}

/* One step of one queue and type: the rollups' minutes added. */
struct step {
    long long start;
    char queue[65], type[65];
    long long done, dead, retried, cancelled, rate_limited;
    sl_hist run, wait;
};

static void quantile_text(char *out, size_t len, const sl_hist *h, double p)
{
    if (h->total)
        snprintf(out, len, "%.0f", sl_hist_quantile(h, p));
    else
        snprintf(out, len, "-");
}

static void step_out(const ctl *c, const struct step *s, ctl_table *t, cJSON *list)
{
    static const double ps[] = {0.50, 0.95, 0.99};
    if (c->o->json) {
        static const char *const names[] = {"run_p50_ms",  "run_p95_ms",  "run_p99_ms",
                                            "wait_p50_ms", "wait_p95_ms", "wait_p99_ms"};
        cJSON *row = cJSON_CreateObject();
        cJSON_AddNumberToObject(row, "start_ms", (double)s->start);
        cJSON_AddStringToObject(row, "queue", s->queue);
        cJSON_AddStringToObject(row, "type", s->type);
        cJSON_AddNumberToObject(row, "done", (double)s->done);
        cJSON_AddNumberToObject(row, "dead", (double)s->dead);
        cJSON_AddNumberToObject(row, "retried", (double)s->retried);
        cJSON_AddNumberToObject(row, "cancelled", (double)s->cancelled);
        cJSON_AddNumberToObject(row, "rate_limited", (double)s->rate_limited);
        for (int i = 0; i < 6; i++) {
            const sl_hist *h = i < 3 ? &s->run : &s->wait;
            if (h->total)
                cJSON_AddNumberToObject(row, names[i], sl_hist_quantile(h, ps[i % 3]));
            else
                cJSON_AddNullToObject(row, names[i]);
        }
        cJSON_AddItemToArray(list, row);
        return;
    }
    char when[32], q[6][24];
    ctl_iso_time(s->start, when, sizeof when);
    for (int i = 0; i < 6; i++)
        quantile_text(q[i], sizeof q[i], i < 3 ? &s->run : &s->wait, ps[i % 3]);
    ctl_table_add(t, "%.16s", when); /* to the minute */
    ctl_table_add(t, "%s", s->queue);
    ctl_table_add(t, "%s", s->type);
    ctl_table_add(t, "%lld", s->done);
    ctl_table_add(t, "%lld", s->dead);
    ctl_table_add(t, "%lld", s->retried);
    ctl_table_add(t, "%lld", s->cancelled);
    ctl_table_add(t, "%lld", s->rate_limited);
    for (int i = 0; i < 6; i++)
        ctl_table_add(t, "%s", q[i]);
}

int ctl_metrics(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    long long from, span = 0;
    if (since_ms(c, "24h", &from))
        return CTL_FAIL;
    span = sl_realtime_us() / 1000 - from;
    long long step = c->o->step          ? duration_ms(c->o->step)
                     : span <= 3600000   ? 60000
                     : span <= 172800000 ? 3600000
                                         : 86400000;
    if (step < 60000 || step % 60000) {
        ctl_errorf("%s: --step: \"%.40s\" is not a whole number of minutes (like 1m, 15m, 1h, 1d)",
                   c->cmd, c->o->step ? c->o->step : "");
        return CTL_FAIL;
    }
    sl_adb *db = open_archive(c);
    if (!db)
        return CTL_FAIL;
    sqlite3_stmt *st = prepare(
        c, db,
        "SELECT minute_ms - minute_ms % ?2 AS start, queue, type, done, dead, retried, cancelled, "
        "rate_limited, run_hist, wait_hist FROM rollups WHERE minute_ms >= ?1 - ?1 % 60000 "
        "AND (?3 IS NULL OR queue = ?3) AND (?4 IS NULL OR type = ?4) "
        "ORDER BY start, queue, type");
    if (!st) {
        sl_adb_close(db);
        return CTL_FAIL;
    }
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, step);
    if (c->o->queue)
        sqlite3_bind_text(st, 3, c->o->queue, -1, SQLITE_STATIC);
    if (c->o->type)
        sqlite3_bind_text(st, 4, c->o->type, -1, SQLITE_STATIC);
    ctl_table t;
    ctl_table_init(&t, 14, "lllrrrrrrrrrrr");
    static const char *const heads[] = {"START (UTC)", "QUEUE",    "TYPE",     "DONE",    "DEAD",
                                        "RETRIED",     "CANCEL",   "RATE_LTD", "RUN_P50", "RUN_P95",
                                        "RUN_P99",     "WAIT_P50", "WAIT_P95", "WAIT_P99"};
    for (int i = 0; i < 14; i++)
        ctl_table_add(&t, "%s", heads[i]);
    cJSON *list = cJSON_CreateArray();
    struct step *cur = sl_calloc(1, sizeof *cur);
    int have = 0, n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        long long start = sqlite3_column_int64(st, 0);
        const char *queue = (const char *)sqlite3_column_text(st, 1),
                   *type = (const char *)sqlite3_column_text(st, 2);
        if (have && (cur->start != start || strcmp(cur->queue, queue) || strcmp(cur->type, type))) {
            step_out(c, cur, &t, list);
            n++;
            memset(cur, 0, sizeof *cur);
            have = 0;
        }
        if (!have) {
            cur->start = start;
            snprintf(cur->queue, sizeof cur->queue, "%s", queue);
            snprintf(cur->type, sizeof cur->type, "%s", type);
            have = 1;
        }
        cur->done += sqlite3_column_int64(st, 3);
        cur->dead += sqlite3_column_int64(st, 4);
        cur->retried += sqlite3_column_int64(st, 5);
        cur->cancelled += sqlite3_column_int64(st, 6);
        cur->rate_limited += sqlite3_column_int64(st, 7);
        sl_hist_decode_add(&cur->run, sqlite3_column_blob(st, 8),
                           (size_t)sqlite3_column_bytes(st, 8));
        sl_hist_decode_add(&cur->wait, sqlite3_column_blob(st, 9),
                           (size_t)sqlite3_column_bytes(st, 9));
    }
    if (have) {
        step_out(c, cur, &t, list);
        n++;
    }
    free(cur);
    int status = CTL_OK;
    if (rc != SQLITE_DONE) {
        ctl_errorf("%s: --archive %s: %s", c->cmd, c->o->archive,
                   sqlite3_errmsg(sl_adb_handle(db)));
        status = CTL_FAIL;
    } else if (c->o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddNumberToObject(doc, "step_ms", (double)step);
        cJSON_AddItemToObject(doc, "rollups", list);
        list = NULL;
        ctl_print_json(doc);
    } else if (n) {
        ctl_table_print(&t, stdout);
    } else {
        printf("no rollups in the archive since %s\n", c->o->since ? c->o->since : "24h");
    }
    cJSON_Delete(list);
    ctl_table_deinit(&t);
    sqlite3_finalize(st);
    sl_adb_close(db);
    return status;
}

/* Unit tests: the archive's percentile histograms (hist.c) — buckets,
 * quantiles within 3%, and merges that give the same percentiles as one
 * histogram of everything, through the stored encoding too; the events
 * lines (events.c); and archive_db.c applying batches: a minute split
 * over batches keeps exact percentiles, an entry applied twice counts
 * once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_db.h"
#include "events.h"
#include "hist.h"
#include "job.h"

#define TEST_DIR_NAME "archive"
#include "dir_fixture.h"

static void buckets_are_ordered_and_close(void **state)
{
    (void)state;
    int last = -1;
    for (int64_t v = 0; v < 5000000; v = v < 100 ? v + 1 : v + v / 7) {
        int b = sl_hist_bucket(v);
        assert_true(b >= last);
        last = b;
        double back = sl_hist_value(b);
        assert_true(fabs(back - (double)v) <= (double)v / 16.0 + 0.5);
    }
    assert_int_equal(sl_hist_bucket(-5), 0);
    assert_int_equal(sl_hist_bucket(31), 31);
    assert_int_equal(sl_hist_bucket(INT64_MAX), SL_HIST_BUCKETS - 1);
}

static void quantiles_within_three_percent(void **state)
{
    (void)state;
    sl_hist *h = calloc(1, sizeof *h);
    for (int v = 1; v <= 10000; v++)
        sl_hist_add(h, v);
    assert_true(fabs(sl_hist_quantile(h, 0.50) - 5000) <= 5000 * 0.035);
    assert_true(fabs(sl_hist_quantile(h, 0.95) - 9500) <= 9500 * 0.035);
    assert_true(fabs(sl_hist_quantile(h, 0.99) - 9900) <= 9900 * 0.035);
    sl_hist *empty = calloc(1, sizeof *empty);
    assert_true(sl_hist_quantile(empty, 0.5) < 0);
    free(h);
    free(empty);
}

/* One minute's values arrive in three batches, each merged into what was
 * stored, through the sparse encoding: the percentiles equal those of one
 * histogram of all the values (not an average of the batches' p99s). */
static void merge_equals_whole(void **state)
{
    (void)state;
    sl_hist *whole = calloc(1, sizeof *whole), *stored = calloc(1, sizeof *stored);
    sl_hist *part = calloc(1, sizeof *part);
    unsigned char *blob = malloc(SL_HIST_BUCKETS * 6);
    size_t len = 0;
    srand(7);
    for (int batch = 0; batch < 3; batch++) {
        memset(part, 0, sizeof *part);
        /* skewed batches: fast ones, then a slow tail in the last */
        for (int i = 0; i < 1000; i++) {
            int64_t v = batch == 2 ? 2000 + rand() % 8000 : rand() % 50;
            sl_hist_add(part, v);
            sl_hist_add(whole, v);
        }
        memset(stored, 0, sizeof *stored);
        assert_int_equal(sl_hist_decode_add(stored, blob, len), 0);
        sl_hist_merge(stored, part);
        assert_int_equal(sl_hist_encoded_size(stored), len = sl_hist_encode(stored, blob));
    }
    memset(stored, 0, sizeof *stored);
    assert_int_equal(sl_hist_decode_add(stored, blob, len), 0);
    assert_int_equal(stored->total, 3000);
    for (double p = 0.01; p <= 1.0; p += 0.01)
        assert_true(sl_hist_quantile(stored, p) == sl_hist_quantile(whole, p));
    assert_int_equal(sl_hist_decode_add(stored, blob, 5), -1); /* torn */
    free(whole);
    free(stored);
    free(part);
    free(blob);
}

static void event_lines_round_trip(void **state)
{
    (void)state;
    sl_job job;
    sl_job_init(&job);
    snprintf(job.type, sizeof job.type, "message");
    job.attempts = 2;
    job.created_ms = 1700000000000;
    sl_buf b = {0};
    sl_events_line(&b, "dead", "J1", &job, 1700000000500, 3, "bad\trequest\nline two");
    sl_events_line(&b, "done", "J2", NULL, 0, 0, NULL);
    char *p = b.data;
    sl_event ev;
    assert_int_equal(sl_events_next(&p, &ev), 1);
    assert_string_equal(ev.outcome, "dead");
    assert_string_equal(ev.id, "J1");
    assert_string_equal(ev.type, "message");
    assert_int_equal(ev.attempts, 2);
    assert_int_equal(ev.enqueued_ms, 1700000000000);
    assert_int_equal(ev.started_ms, 1700000000500);
    assert_int_equal(ev.rate_limited, 3);
    assert_string_equal(ev.error, "bad request line two");
    assert_int_equal(sl_events_next(&p, &ev), 1);
    assert_string_equal(ev.id, "J2");
    assert_int_equal(ev.started_ms, -1);
    assert_int_equal(ev.rate_limited, 0);
    assert_int_equal(sl_events_next(&p, &ev), 0);
    char bad[] = "done\tonly-two\n";
    p = bad;
    assert_int_equal(sl_events_next(&p, &ev), -1);
    sl_buf_deinit(&b);
    sl_job_deinit(&job);
}

static long long one(sl_adb *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(sl_adb_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Entries of one minute in two batches, one of them applied twice. */
static void apply_batches_once(void **state)
{
    (void)state;
    char path[300], err[300];
    snprintf(path, sizeof path, "%s/a.db", dir);
    write_file(path, ""); /* an empty file is a new database to SQLite */
    sl_adb *db = sl_adb_open(path, 1, err, sizeof err);
    assert_non_null(db);
    const int64_t t0 = 1700000040000; /* a minute's start */
    sl_hist *whole = calloc(1, sizeof *whole);
    char id[2][32], lines[2][4096], copy[4096];
    for (int e = 0; e < 2; e++) {
        sl_buf b = {0};
        for (int i = 0; i < 20; i++) {
            sl_job job;
            sl_job_init(&job);
            snprintf(job.type, sizeof job.type, "noop");
            job.created_ms = t0 - 1000;
            int64_t run = e == 0 ? i : 500 + 40 * i;
            sl_hist_add(whole, run);
            char jid[32];
            snprintf(jid, sizeof jid, "j%d-%d", e, i);
            sl_events_line(&b, i % 5 ? "done" : "dead", jid, &job, t0 + 1000 * e + 30000 - run, 1,
                           i % 5 ? NULL : "boom");
            sl_job_deinit(&job);
        }
        snprintf(id[e], sizeof id[e], "%lld-0", (long long)(t0 + 1000 * e + 30000));
        snprintf(lines[e], sizeof lines[e], "%s", b.data);
        sl_buf_deinit(&b);
    }
    for (int e = 0; e < 3; e++) { /* 0, 1, then 1 again */
        int k = e ? 1 : 0;
        snprintf(copy, sizeof copy, "%s", lines[k]);
        sl_adb_entry en = {id[k], "q", copy};
        sl_adb_result res;
        assert_int_equal(sl_adb_apply(db, &en, 1, 0, &res, err, sizeof err), 0);
        assert_int_equal(res.skipped, e == 2);
    }
    assert_int_equal(one(db, "SELECT count(*) FROM job_ends"), 8); /* failures only */
    assert_int_equal(one(db, "SELECT done FROM rollups"), 32);
    assert_int_equal(one(db, "SELECT dead FROM rollups"), 8);
    assert_int_equal(one(db, "SELECT count(*) FROM rollups"), 1);
    assert_int_equal(one(db, "SELECT rate_limited FROM rollups"), 40); /* one 429 each */
    long long p99 = one(db, "SELECT CAST(run_p99_ms AS INTEGER) FROM rollups");
    assert_int_equal(p99, (long long)sl_hist_quantile(whole, 0.99));
    long long p50 = one(db, "SELECT CAST(run_p50_ms AS INTEGER) FROM rollups");
    assert_int_equal(p50, (long long)sl_hist_quantile(whole, 0.50));
    sl_adb_close(db);
    free(whole);
    assert_true(exists(path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_are_ordered_and_close),
        cmocka_unit_test(quantiles_within_three_percent),
        cmocka_unit_test(merge_equals_whole),
        cmocka_unit_test(event_lines_round_trip),
        cmocka_unit_test_setup_teardown(apply_batches_once, setup_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

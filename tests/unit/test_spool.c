/* Unit tests: the SQLite spool — order, all-or-nothing puts, the size
 * bound, deletes, the flush lock, and a reopen after a process died
 * without closing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spool.h"

static char dir[64], path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/spool.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* Job I of a test: id "jI", body {"n":I}. */
static sl_spool_job job(int i, char *id, char *body)
{
    sprintf(id, "j%d", i);
    int n = sprintf(body, "{\"n\":%d}", i);
    sl_spool_job j = {
        .queue = "q", .id = id, .priority = i % 4, .delay_ms = i, .body = body, .len = (size_t)n};
    return j;
}

static void put_range(sl_spool *s, int from, int to)
{
    sl_spool_job jobs[512];
    char ids[512][16], bodies[512][32];
    char err[300];
    int n = 0;
    for (int i = from; i < to; i++, n++)
        jobs[n] = job(i, ids[n], bodies[n]);
    assert_int_equal(sl_spool_put(s, jobs, n, err, sizeof err), 0);
}

static void order_and_delete(void **state)
{
    (void)state;
    char err[300];
    sl_spool *s = sl_spool_open(path, 1 << 20, err, sizeof err);
    assert_non_null(s);
    put_range(s, 0, 300);
    put_range(s, 300, 310);
    sl_spool_rows rows = {0};
    assert_int_equal(sl_spool_peek(s, 0, 1000, &rows, err, sizeof err), 310);
    for (int i = 0; i < 310; i++) {
        char want[32];
        sprintf(want, "j%d", i);
        assert_string_equal(rows.jobs[i].id, want);
        sprintf(want, "{\"n\":%d}", i);
        assert_int_equal(rows.jobs[i].len, strlen(want));
        assert_memory_equal(rows.jobs[i].body, want, rows.jobs[i].len);
        assert_string_equal(rows.jobs[i].queue, "q");
        assert_null(rows.jobs[i].idempotency_key);
        assert_int_equal(rows.jobs[i].priority, i % 4);
        assert_int_equal(rows.jobs[i].delay_ms, i);
        assert_true(rows.jobs[i].spooled_ms > 0);
        if (i)
            assert_true(rows.jobs[i].rowid > rows.jobs[i - 1].rowid);
    }
    /* paging: after a rowid */
    long long mid = rows.jobs[99].rowid;
    sl_spool_rows page = {0};
    assert_int_equal(sl_spool_peek(s, mid, 5, &page, err, sizeof err), 5);
    assert_string_equal(page.jobs[0].id, "j100");
    assert_string_equal(page.jobs[4].id, "j104");
    /* delete the first 100: the oldest left is j100 */
    long long del[100];
    for (int i = 0; i < 100; i++)
        del[i] = rows.jobs[i].rowid;
    assert_int_equal(sl_spool_delete(s, del, 100, err, sizeof err), 0);
    assert_int_equal(sl_spool_delete(s, del, 100, err, sizeof err), 0); /* gone: skipped */
    assert_int_equal(sl_spool_peek(s, 0, 1, &page, err, sizeof err), 1);
    assert_string_equal(page.jobs[0].id, "j100");
    sl_spool_depth d;
    assert_int_equal(sl_spool_stat(s, &d, err, sizeof err), 0);
    assert_int_equal(d.jobs, 210);
    assert_true(d.oldest_ms > 0);
    long long bytes = 0;
    for (int i = 100; i < 310; i++)
        bytes += (long long)(rows.jobs[i].len + strlen(rows.jobs[i].id) + 1);
    assert_int_equal(d.bytes, bytes);
    /* a key comes back as given */
    sl_spool_job k = {
        .queue = "mail", .id = "k1", .idempotency_key = "order-7", .body = "{}", .len = 2};
    assert_int_equal(sl_spool_put(s, &k, 1, err, sizeof err), 0);
    assert_int_equal(sl_spool_peek(s, rows.jobs[309].rowid, 10, &page, err, sizeof err), 1);
    assert_string_equal(page.jobs[0].idempotency_key, "order-7");
    assert_string_equal(page.jobs[0].queue, "mail");
    sl_spool_rows_deinit(&rows);
    sl_spool_rows_deinit(&page);
    sl_spool_close(s);
}

/* A put that cannot be whole stores nothing: over the bound, or a row the
 * table refuses half-way. */
static void put_is_atomic(void **state)
{
    (void)state;
    char err[300];
    sl_spool *s = sl_spool_open(path, 1000, err, sizeof err);
    assert_non_null(s);
    put_range(s, 0, 10); /* ~ 10 * 11 bytes */
    sl_spool_depth d0, d;
    assert_int_equal(sl_spool_stat(s, &d0, err, sizeof err), 0);
    sl_spool_job jobs[200];
    char ids[200][16], bodies[200][32];
    for (int i = 0; i < 200; i++)
        jobs[i] = job(1000 + i, ids[i], bodies[i]);
    assert_int_equal(sl_spool_put(s, jobs, 200, err, sizeof err), SL_ETOOBIG);
    assert_non_null(strstr(err, "full"));
    assert_non_null(strstr(err, "1000 bytes"));
    assert_int_equal(sl_spool_stat(s, &d, err, sizeof err), 0);
    assert_int_equal(d.jobs, d0.jobs);
    assert_int_equal(d.bytes, d0.bytes);
    /* job 3 of 5 breaks a NOT NULL column: the two before it go too */
    jobs[3].queue = NULL;
    assert_int_equal(sl_spool_put(s, jobs, 5, err, sizeof err), SL_EIO);
    assert_int_equal(sl_spool_stat(s, &d, err, sizeof err), 0);
    assert_int_equal(d.jobs, d0.jobs);
    /* what fits still goes in, up to the byte */
    jobs[3].queue = "q";
    int fit = 0;
    while (sl_spool_put(s, &jobs[fit], 1, err, sizeof err) == 0)
        fit++;
    assert_int_equal(sl_spool_stat(s, &d, err, sizeof err), 0);
    assert_true(d.bytes <= 1000);
    assert_true(d.bytes + (long long)(jobs[fit].len + strlen(jobs[fit].id) + 1) > 1000);
    assert_int_equal(d.jobs, 10 + fit);
    sl_spool_close(s);
}

/* A process killed after its put returned: the jobs are there on reopen,
 * in order, and the depth agrees with them. */
static void reopen_after_crash(void **state)
{
    (void)state;
    char err[300];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sl_spool *s = sl_spool_open(path, 1 << 20, err, sizeof err);
        if (!s)
            _exit(3);
        put_range(s, 0, 100);
        put_range(s, 100, 150);
        kill(getpid(), SIGKILL); /* no close, no checkpoint */
        _exit(4);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    sl_spool *s = sl_spool_open(path, 1 << 20, err, sizeof err);
    assert_non_null(s);
    sl_spool_rows rows = {0};
    assert_int_equal(sl_spool_peek(s, 0, 1000, &rows, err, sizeof err), 150);
    assert_string_equal(rows.jobs[0].id, "j0");
    assert_string_equal(rows.jobs[149].id, "j149");
    sl_spool_depth d;
    assert_int_equal(sl_spool_stat(s, &d, err, sizeof err), 0);
    assert_int_equal(d.jobs, 150);
    sl_spool_rows_deinit(&rows);
    sl_spool_close(s);
}

/* One flusher at a time, across handles; the lock goes with the handle. */
static void flush_lock(void **state)
{
    (void)state;
    char err[300];
    sl_spool *a = sl_spool_open(path, 1 << 20, err, sizeof err);
    sl_spool *b = sl_spool_open(path, 1 << 20, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(sl_spool_flush_lock(a), 0);
    assert_int_equal(sl_spool_flush_lock(a), 0);
    assert_int_equal(sl_spool_flush_lock(b), SL_ESTATE);
    put_range(b, 0, 3); /* writing is not flushing */
    sl_spool_close(a);
    assert_int_equal(sl_spool_flush_lock(b), 0);
    sl_spool_flush_unlock(b);
    sl_spool_close(b);
}

static void open_errors(void **state)
{
    (void)state;
    char err[300];
    assert_null(sl_spool_open("/nonexistent-dir/x/spool.db", 1000, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/x/spool.db"));
    /* not a database */
    FILE *f = fopen(path, "w");
    fputs("this is not sqlite, just text long enough to be read as a header......", f);
    fclose(f);
    assert_null(sl_spool_open(path, 1000, err, sizeof err));
    assert_non_null(strstr(err, path));
    sl_spool_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(order_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(put_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(flush_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: batches — batch ids, callback jobs, the batch key, the
 * enqueue arguments of a job in a batch, and the scripts that include
 * lib_batch.lua. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "enqueue.h"
#include "keys.h"
#include "schema.h"
#include "scripts.h"

static void batch_ids(void **state)
{
    (void)state;
    char err[300], id[80];
    assert_int_equal(sl_batch_check_id("--batch", "b1", err, sizeof err), 0);
    assert_int_equal(sl_batch_check_id("--batch", "orders.2026-11:eu_1", err, sizeof err), 0);
    memset(id, 'a', 64);
    id[64] = '\0';
    assert_int_equal(sl_batch_check_id("--batch", id, err, sizeof err), 0);
    id[64] = 'a';
    id[65] = '\0';
    assert_int_equal(sl_batch_check_id("--batch", id, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "64"));
    assert_int_equal(strncmp(err, "--batch", 7), 0);
    const char *bad[] = {"", "a b", "{x}", "a/b", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sl_batch_check_id("--batch", bad[i], err, sizeof err), SL_EINVAL);
        assert_int_equal(strncmp(err, "--batch: ", 9), 0);
    }
}

static void expect_callback_error(const char *text, const char *want)
{
    char err[600];
    sl_job job;
    assert_int_not_equal(sl_batch_callback_parse(&job, text, strlen(text), 1000, err, sizeof err),
                         0);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void callbacks(void **state)
{
    (void)state;
    char err[600];
    sl_job job;
    const char *ok = "{\"type\":\"sleep\",\"payload\":{\"ms\":5},\"priority\":\"high\"}";
    assert_int_equal(sl_batch_callback_parse(&job, ok, strlen(ok), 1000, err, sizeof err), 0);
    assert_int_equal(strlen(job.id), SL_ID_LEN); /* completed: a new id, the queue, a time */
    assert_string_equal(job.queue, "sleep");
    assert_true(job.created_ms > 0);
    assert_int_equal(job.priority, SL_PRIO_HIGH);
    sl_job_deinit(&job);

    expect_callback_error("{\"type\":\"sleep\",\"payload\":{\"ms\":\"x\"}}", "payload.ms");
    expect_callback_error("{\"type\":\"noop\",\"payload\":{},\"id\":\"x1\"}", "id:");
    expect_callback_error("{\"type\":\"noop\",\"payload\":{},\"batch\":\"b\"}", "batch:");
    expect_callback_error("{\"type\":\"noop\",\"payload\":{},\"delay_ms\":5}", "delay_ms:");
    expect_callback_error("{\"type\":\"noop\",\"payload\":{},\"run_at_ms\":5}", "run_at_ms:");
    expect_callback_error("{\"type\":\"noop\",\"payload\":{},\"idempotency_key\":\"k\"}",
                          "idempotency_key:");
    char big[1300];
    snprintf(big, sizeof big, "{\"type\":\"noop\",\"payload\":{\"s\":\"%01100d\"}}", 0);
    expect_callback_error(big, "the limit is 1000");
}

static void batch_key(void **state)
{
    (void)state;
    char key[SL_KEY_MAX];
    sl_keys_batch(key, "sluice", "orders.7");
    assert_string_equal(key, "sluice:batch:{orders.7}");
}

/* A job's arguments are 6 values; its batch follows the priority digit
 * after "@", and a job in none has no more than before. */
static void enqueue_arguments(void **state)
{
    (void)state;
    char err[300];
    sl_enqueue_batch b;
    sl_enqueue_batch_init(&b, "sluice", "q", 1000);
    sl_job job;
    const char *in = "{\"type\":\"noop\",\"payload\":{},\"batch\":\"b7\"}";
    assert_int_equal(sl_job_parse(&job, in, strlen(in), 0, err, sizeof err), 0);
    sl_job_complete(&job);
    sl_enqueue_batch_add(&b, &job, "{}", 2);
    sl_job_deinit(&job);
    in = "{\"type\":\"noop\",\"payload\":{}}";
    assert_int_equal(sl_job_parse(&job, in, strlen(in), 0, err, sizeof err), 0);
    sl_job_complete(&job);
    sl_enqueue_batch_add(&b, &job, "{}", 2);
    sl_job_deinit(&job);
    in = "{\"id\":\"x1\",\"type\":\"noop\",\"payload\":{},\"batch\":\"b.8\",\"priority\":\"low\"}";
    assert_int_equal(sl_job_parse(&job, in, strlen(in), 0, err, sizeof err), 0);
    sl_job_complete(&job);
    sl_enqueue_batch_add(&b, &job, "{}", 2);
    sl_job_deinit(&job);
    const char **argv;
    const size_t *lens;
    int argc = sl_enqueue_batch_args(&b, &argv, &lens);
    int head = SL_ENQUEUE_KEYS + 3;
    assert_int_equal(argc, head + 3 * 6);
    assert_int_equal(lens[head + 1], 4);
    assert_memory_equal(argv[head + 1], "2@b7", 4);
    assert_int_equal(lens[head + 6 + 1], 1);
    assert_memory_equal(argv[head + 6 + 1], "2", 1);
    assert_int_equal(lens[head + 12 + 1], 6);
    assert_memory_equal(argv[head + 12 + 1], "3!@b.8", 6);
    sl_enqueue_batch_deinit(&b);
}

/* Scripts that say "-- include: lib_batch.lua" run with it in front. */
static void includes(void **state)
{
    (void)state;
    const sl_script *ack = sl_script_get(SL_SCRIPT_ACK);
    const sl_script *claim = sl_script_get(SL_SCRIPT_CLAIM);
    assert_int_equal(strncmp(ack->text, "-- lib_batch:", 13), 0);
    assert_non_null(strstr(ack->text, "\n-- ack: "));
    assert_int_equal(strlen(ack->text), ack->len);
    assert_null(strstr(claim->text, "lib_batch:"));
    int with[] = {SL_SCRIPT_ACK,  SL_SCRIPT_BATCH,   SL_SCRIPT_CANCEL, SL_SCRIPT_ENQUEUE,
                  SL_SCRIPT_FAIL, SL_SCRIPT_RECLAIM, SL_SCRIPT_REVIVE};
    for (size_t i = 0; i < sizeof with / sizeof with[0]; i++)
        assert_non_null(strstr(sl_script_get(with[i])->text, "local function batch_count"));
    assert_string_not_equal(ack->sha, claim->sha);
}

int main(void)
{
    sl_schema_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_ids), cmocka_unit_test(callbacks),
        cmocka_unit_test(batch_key), cmocka_unit_test(enqueue_arguments),
        cmocka_unit_test(includes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

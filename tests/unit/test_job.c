/* Unit tests: the envelope codec (parse, validate, encode, round trip). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "job.h"
#include "schema.h"

static void parse_fills_defaults(void **state)
{
    (void)state;
    char err[256];
    sl_job job;
    const char *in = "{\"type\":\"noop\",\"payload\":{\"a\":[1,2,{}]}}";
    assert_int_equal(sl_job_parse(&job, in, strlen(in), 65536, err, sizeof err), 0);
    assert_string_equal(job.type, "noop");
    assert_int_equal(job.priority, SL_PRIO_NORMAL);
    assert_int_equal(job.max_attempts, SL_JOB_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(job.timeout_ms, SL_JOB_DEFAULT_TIMEOUT_MS);
    assert_string_equal(job.id, "");
    sl_job_complete(&job);
    assert_int_equal(strlen(job.id), SL_ID_LEN);
    assert_string_equal(job.queue, "noop");
    assert_true(job.created_ms > 0);
    sl_job_deinit(&job);
}

static void round_trip_keeps_everything(void **state)
{
    (void)state;
    char err[256];
    sl_job a, b;
    const char *in = "{\"id\":\"abc\",\"type\":\"sleep\",\"queue\":\"slow\",\"priority\":\"high\","
                     "\"payload\":{\"ms\":5},\"max_attempts\":3,\"timeout_ms\":1000,"
                     "\"delay_ms\":20,\"idempotency_key\":\"k \\\"q\\\"\",\"batch\":\"b1\","
                     "\"created_ms\":17,\"attempts\":2,\"last_error\":\"boom\\nline\"}";
    assert_int_equal(sl_job_parse(&a, in, strlen(in), 0, err, sizeof err), 0);
    sl_buf out = {0};
    sl_job_encode(&a, &out);
    assert_int_equal(sl_job_parse(&b, out.data, out.len, 0, err, sizeof err), 0);
    assert_string_equal(b.id, "abc");
    assert_string_equal(b.queue, "slow");
    assert_int_equal(b.priority, SL_PRIO_HIGH);
    assert_int_equal(b.max_attempts, 3);
    assert_int_equal(b.timeout_ms, 1000);
    assert_int_equal(b.delay_ms, 20);
    assert_string_equal(b.idempotency_key, "k \"q\"");
    assert_string_equal(b.batch, "b1");
    assert_int_equal(b.created_ms, 17);
    assert_int_equal(b.attempts, 2);
    assert_string_equal(b.last_error, "boom\nline");
    /* the payload comes out compact, and payload last so a reader can stop early */
    assert_non_null(strstr(out.data, ",\"payload\":{\"ms\":5}}"));
    sl_buf_deinit(&out);
    sl_job_deinit(&a);
    sl_job_deinit(&b);
}

static void empty_arrays_survive(void **state)
{
    (void)state;
    char err[256];
    sl_job a;
    const char *in = "{\"type\":\"noop\",\"payload\":{\"list\":[],\"obj\":{}}}";
    assert_int_equal(sl_job_parse(&a, in, strlen(in), 0, err, sizeof err), 0);
    sl_buf out = {0};
    sl_job_encode(&a, &out);
    assert_non_null(strstr(out.data, "\"list\":[]"));
    assert_non_null(strstr(out.data, "\"obj\":{}"));
    sl_buf_deinit(&out);
    sl_job_deinit(&a);
}

static void expect_error(const char *in, size_t max_payload, const char *needle)
{
    char err[256] = "";
    sl_job job;
    assert_int_not_equal(sl_job_parse(&job, in, strlen(in), max_payload, err, sizeof err), 0);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

static void errors_name_the_field(void **state)
{
    (void)state;
    expect_error("{\"payload\":{}}", 0, "type: missing");
    expect_error("{\"type\":\"noop\"}", 0, "payload: missing");
    expect_error("{\"type\":\"noop\",\"payload\":{},\"colour\":1}", 0, "unknown field \"colour\"");
    expect_error("{\"type\":\"noop\",\"payload\":{},\"priority\":\"urgent\"}", 0, "priority");
    expect_error("{\"type\":\"noop\",\"payload\":{},\"max_attempts\":\"3\"}", 0, "max_attempts");
    expect_error("{\"type\":\"noop\",\"payload\":{},\"max_attempts\":0}", 0, "max_attempts");
    expect_error("{\"type\":\"Bad Type\",\"payload\":{}}", 0, "type");
    expect_error("{\"type\":\"sleep\",\"payload\":{\"ms\":\"x\"}}", 0, "payload.ms");
    expect_error("{\"type\":\"sleep\",\"payload\":{}}", 0, "payload.ms: missing");
    expect_error("not json", 0, "not valid JSON");
    expect_error("[1,2]", 0, "JSON object");
}

static void payload_limit(void **state)
{
    (void)state;
    char big[300];
    memset(big, 'x', sizeof big);
    char in[512];
    snprintf(in, sizeof in, "{\"type\":\"noop\",\"payload\":{\"s\":\"%.*s\"}}", 250, big);
    expect_error(in, 100, "payload: 258 bytes, the limit is 100");
    char err[256];
    sl_job job;
    assert_int_equal(sl_job_parse(&job, in, strlen(in), 1000, err, sizeof err), 0);
    sl_job_deinit(&job);
}

static void ids_sort_by_time_and_are_unique(void **state)
{
    (void)state;
    char prev[SL_ID_LEN + 1] = "", id[SL_ID_LEN + 1];
    for (int i = 0; i < 100000; i++) {
        sl_id_new(id);
        assert_int_equal(strlen(id), SL_ID_LEN);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
}

static void priorities(void **state)
{
    (void)state;
    assert_int_equal(sl_priority_parse("critical"), SL_PRIO_CRITICAL);
    assert_int_equal(sl_priority_parse("low"), SL_PRIO_LOW);
    assert_int_equal(sl_priority_parse("urgent"), -1);
    assert_string_equal(sl_priority_name(SL_PRIO_HIGH), "high");
}

static void encode_with_result(void **state)
{
    (void)state;
    char err[256];
    sl_job a;
    const char *in = "{\"id\":\"abc\",\"type\":\"noop\",\"payload\":{\"x\":1},\"created_ms\":5}";
    assert_int_equal(sl_job_parse(&a, in, strlen(in), 0, err, sizeof err), 0);
    sl_buf plain = {0}, with = {0};
    sl_job_encode(&a, &plain);
    sl_job_encode_result(&a, &with, "{\"message_id\":\"7\"}", 18);
    /* the same envelope, the result just before the payload (still last) */
    assert_string_equal(with.data,
                        "{\"id\":\"abc\",\"type\":\"noop\",\"queue\":\"\",\"priority\":"
                        "\"normal\",\"max_attempts\":8,\"timeout_ms\":30000,\"created_ms\":5,"
                        "\"result\":{\"message_id\":\"7\"},\"payload\":{\"x\":1}}");
    assert_null(strstr(plain.data, "result"));
    cJSON *doc = cJSON_Parse(with.data);
    assert_non_null(doc);
    cJSON_Delete(doc);
    sl_buf_deinit(&plain);
    sl_buf_deinit(&with);
    sl_job_deinit(&a);
}

static void ids_valid(void **state)
{
    (void)state;
    assert_true(sl_job_id_valid("01M95M71XM4MMEFM1QPXJXDXHV"));
    assert_true(sl_job_id_valid("a_b-C9"));
    assert_false(sl_job_id_valid(""));
    assert_false(sl_job_id_valid("a\"b"));
    assert_false(sl_job_id_valid("a b"));
    assert_false(sl_job_id_valid("a:b"));
    char long_id[70];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_false(sl_job_id_valid(long_id));
    long_id[64] = '\0';
    assert_true(sl_job_id_valid(long_id));
}

int main(void)
{
    sl_schema_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_fills_defaults),
        cmocka_unit_test(round_trip_keeps_everything),
        cmocka_unit_test(empty_arrays_survive),
        cmocka_unit_test(errors_name_the_field),
        cmocka_unit_test(payload_limit),
        cmocka_unit_test(ids_sort_by_time_and_are_unique),
        cmocka_unit_test(priorities),
        cmocka_unit_test(encode_with_result),
        cmocka_unit_test(ids_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

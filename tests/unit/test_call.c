/* Unit tests: a job's requests to Discord (worker/call.c) through the real
 * gates (gate.c), the worker's HTTP engine and a real redis-server, against
 * tests/http/server.py on loopback standing in for Discord. What they check
 * is what a handler and the platform see: one verdict per call, the bot's
 * token and User-Agent on the request, a 429 waited out and never passed
 * on, a request that missed its send-by time not sent and its place given
 * back, a call freed in flight silent. Fixture: worker_fixture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "worker_fixture.h"
#include "call.h"
#include "gate.h"
#include "log.h"
#include "http.h"
#include "http_fixture.h"

#define FAKE_TOKEN "123456.FAKEsecretTOKENxyz"

static message_opts opts = {
    .discord_per_second = 1000, /* paced, but never the reason a test waits */
    .telegram_per_second = 30,
    .invalid_threshold = 0,
    .discord_ua_url = "https://sluice.invalid/",
    .discord_ua_version = "0.1",
};

static struct fx *start(int concurrency)
{
    struct fx *f = fx_new(concurrency);
    gates_start(&f->w);
    char err[300];
    assert_int_equal(pcall_init(&f->w, &opts, err, sizeof err), 0);
    return f;
}

static int setup(void **state)
{
    *state = start(10);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gates_stop(&f->w);
    sl_rconn_free(f->w.redis);
    f->w.redis = NULL;
    pcall_deinit(&f->w);
    gates_free(&f->w);
    fx_free(f);
    return 0;
}

/* One call of a task, and what came back. */
struct job {
    task t;
    pcall *c;
    int calls;
    enum sl_verdict verdict;
    long status, defer_ms;
    char error[300];
    cJSON *body; /* the answer's JSON */
};

static void done_cb(pcall *c, const pcall_result *r, void *priv)
{
    struct job *j = priv;
    assert_ptr_equal(c, j->c);
    j->calls++;
    j->verdict = r->verdict;
    j->status = r->status;
    j->defer_ms = r->defer_ms;
    snprintf(j->error, sizeof j->error, "%s", r->error ? r->error : "");
    cJSON_Delete(j->body);
    j->body = cJSON_ParseWithLength(r->body, r->len);
}

/* Starts J's call: METHOD PATH (on the server) under ROUTE and MAJOR
 * ("" "": the bot's global limit only). */
static void call(struct fx *f, struct job *j, const char *method, const char *path,
                 const char *route, const char *major)
{
    memset(j, 0, sizeof *j);
    j->t.w = &f->w;
    snprintf(j->t.job.id, sizeof j->t.job.id, "job-%s", path);
    j->t.job.timeout_ms = 10000;
    char err[300];
    const sl_bot *bot = pcall_bot(&f->w, "discord", NULL, err, sizeof err);
    assert_non_null(bot);
    j->c = pcall_new(&j->t, bot, 0);
    sl_call *spec = pcall_spec(j->c);
    spec->method = method;
    sl_buf_puts(&spec->path, path);
    sl_strlcpy(spec->route, route, sizeof spec->route);
    sl_strlcpy(spec->major, major, sizeof spec->major);
    pcall_start(j->c, "get", done_cb, j);
    assert_int_equal(j->calls, 0); /* never from inside pcall_start */
}

static void end(struct job *j)
{
    pcall_free(j->c);
    cJSON_Delete(j->body);
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int json_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsNumber(v));
    return v->valueint;
}

/* A call comes back once, with the answer, and its request carried the
 * bot's token and the User-Agent Discord asks for. */
static void an_answer_comes_back_once(void **state)
{
    struct fx *f = *state;
    struct job j;
    call(f, &j, "GET", "/echo", "", "");
    run_until(f, &j.calls);
    assert_int_equal(j.verdict, SL_VERDICT_OK);
    assert_int_equal(j.status, 200);
    assert_non_null(j.body);
    assert_string_equal(json_str(j.body, "headers", "authorization"), "Bot " FAKE_TOKEN);
    assert_string_equal(json_str(j.body, "headers", "user-agent"),
                        "DiscordBot (https://sluice.invalid/, 0.1)");
    roundtrip(f);
    assert_int_equal(j.calls, 1);
    end(&j);
}

/* A 403 is a permanent failure, and says why. */
static void a_403_is_permanent(void **state)
{
    struct fx *f = *state;
    struct job j;
    call(f, &j, "GET", "/status?code=403", "", "");
    run_until(f, &j.calls);
    assert_int_equal(j.verdict, SL_VERDICT_PERMANENT);
    assert_int_equal(j.status, 403);
    assert_non_null(strstr(j.error, "403"));
    end(&j);
}

/* A global 429 with retry_after: the caller never sees it. The request
 * asks again once the wait is over, not before (the server counts a
 * request during the wait as early), and the 429 was told to Redis: the
 * bot's invalid-request count has it. */
static void a_429_is_waited_out_and_reported(void **state)
{
    struct fx *f = *state;
    struct job j;
    call(f, &j, "GET", "/limited?key=w429&retry_after=0.3&scope=global", "", "");
    run_until(f, &j.calls);
    assert_int_equal(j.verdict, SL_VERDICT_OK);
    assert_int_equal(j.defer_ms, 0);
    assert_int_equal(json_int(j.body, "requests"), 2);
    assert_int_equal(json_int(j.body, "early"), 0);
    redisReply *r = cmd(f, "KEYS %s:{rl:discord:default}:invalid:*", f->prefix);
    assert_int_equal(r->elements, 1);
    redisReply *n = cmd(f, "GET %s", r->element[0]->str);
    assert_string_equal(n->str, "1");
    freeReplyObject(n);
    freeReplyObject(r);
    end(&j);
}

static void busy_cb(struct ev_loop *loop, ev_check *c, int revents)
{
    (void)loop, (void)c, (void)revents;
    usleep(20000);
}

/* A worker too busy to send a request within 10 ms of its grant (every
 * loop turn takes 20 ms here): the request is not sent, since it could
 * land in a window with requests granted after it; its place goes back to
 * the limits, and it asks again (and after a few misses goes late all the
 * same). Its bucket allows one a minute, so without the give-back the
 * second ask would find it spent and the job would wait a minute. The
 * server sees the request once. */
static void a_late_request_gives_its_place_back(void **state)
{
    struct fx *f = *state;
    learn_bucket(f, "default", "GET /late", 1, 60000);
    ev_check busy;
    ev_check_init(&busy, busy_cb);
    ev_check_start(f->loop, &busy);
    struct job j;
    call(f, &j, "GET", "/limited?key=late", "GET /late", "7");
    run_until(f, &j.calls);
    ev_check_stop(f->loop, &busy);
    assert_int_equal(j.verdict, SL_VERDICT_OK);
    assert_int_equal(j.defer_ms, 0);
    assert_int_equal(json_int(j.body, "requests"), 1);
    gate_given g = gates_given(&f->w);
    assert_true(g.places >= 1);
    assert_true(g.bucket >= 1);
    end(&j);
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    *(int *)t->data = 1;
}

/* A call freed while its request is out (the job timed out or was
 * abandoned) never calls back; the teardown finds nothing left running. */
static void a_call_freed_in_flight_is_silent(void **state)
{
    struct fx *f = *state;
    struct job j;
    call(f, &j, "GET", "/slow?ms=300", "", "");
    int fired = 0;
    ev_timer t;
    ev_timer_init(&t, timer_cb, 0.1, 0);
    t.data = &fired;
    ev_timer_start(f->loop, &t);
    run_until(f, &fired);
    pcall_free(j.c);
    j.c = NULL;
    fired = 0;
    ev_timer_set(&t, 0.5, 0);
    ev_timer_start(f->loop, &t);
    run_until(f, &fired);
    assert_int_equal(j.calls, 0);
    assert_int_equal(sl_http_in_flight(pcall_http(&f->w)), 0);
    end(&j);
}

int main(void)
{
    sl_log_init("test", SL_LOG_WARN);
    if (start_redis())
        return 1;
    if (http_server_start()) {
        stop_redis();
        return 1;
    }
    char api[64];
    snprintf(api, sizeof api, "http://127.0.0.1:%d", server_port);
    setenv("SLUICE_DISCORD_API", api, 1);
    setenv("SLUICE_DISCORD_TOKEN", FAKE_TOKEN, 1);
    unsetenv("SLUICE_DISCORD_TOKEN_FILE");
    unsetenv("SLUICE_TELEGRAM_TOKEN_FILE");
    unsetenv("SLUICE_TELEGRAM_TOKEN");
    unsetenv("SLUICE_BOTS_FILE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_answer_comes_back_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_403_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_429_is_waited_out_and_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(a_late_request_gives_its_place_back, setup, teardown),
        cmocka_unit_test_setup_teardown(a_call_freed_in_flight_is_silent, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    http_server_stop();
    stop_redis();
    return failed;
}

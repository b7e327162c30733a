/* Tests of the shared rate limits: the header and body parsing, and the
 * scripts themselves against a real redis-server this test starts on a Unix
 * socket of its own (and stops by PID). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ratelimit.h"
#include "rblock.h"
#include "util.h"

/* ---- parsing ---- */

struct hdrs {
    const char *kv[16];
};

static const char *lookup(const void *ctx, const char *name)
{
    const struct hdrs *h = ctx;
    for (int i = 0; h->kv[i]; i += 2)
        if (!strcasecmp(h->kv[i], name))
            return h->kv[i + 1];
    return NULL;
}

static void discord_headers(void **state)
{
    (void)state;
    struct hdrs h = {{"X-RateLimit-Bucket", "abcd1234", "X-RateLimit-Limit", "5",
                      "X-RateLimit-Remaining", "4", "X-RateLimit-Reset-After", "4.2501", NULL}};
    sl_rl_answer a;
    sl_rl_parse_discord(&a, 200, lookup, &h, "{}", 2);
    assert_string_equal(a.bucket, "abcd1234");
    assert_int_equal(a.limit, 5);
    assert_int_equal(a.remaining, 4);
    assert_int_equal(a.reset_after_ms, 4251); /* rounded up: never early */
    assert_string_equal(a.scope, "");
}

static void discord_429s(void **state)
{
    (void)state;
    struct hdrs global = {{"X-RateLimit-Global", "true", "Retry-After", "2", NULL}};
    const char *body = "{\"message\":\"You are being rate limited.\",\"retry_after\":0.337,"
                       "\"global\":true}";
    sl_rl_answer a;
    sl_rl_parse_discord(&a, 429, lookup, &global, body, strlen(body));
    assert_string_equal(a.scope, "global");
    assert_int_equal(a.retry_after_ms, 337); /* the body's value is the precise one */

    struct hdrs user = {{"X-RateLimit-Scope", "user", "Retry-After", "3", NULL}};
    sl_rl_parse_discord(&a, 429, lookup, &user, "not json", 8);
    assert_string_equal(a.scope, "user");
    assert_int_equal(a.retry_after_ms, 3000); /* falls back to the header */

    struct hdrs none = {{NULL}};
    sl_rl_parse_discord(&a, 429, lookup, &none, NULL, 0);
    assert_int_equal(a.retry_after_ms, 1000);

    struct hdrs partial = {{"X-RateLimit-Bucket", "b", "X-RateLimit-Limit", "5", NULL}};
    sl_rl_parse_discord(&a, 200, lookup, &partial, NULL, 0);
    assert_string_equal(a.bucket, ""); /* incomplete headers teach nothing */
}

static void telegram_429(void **state)
{
    (void)state;
    const char *body = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: "
                       "retry after 7\",\"parameters\":{\"retry_after\":7}}";
    sl_rl_answer a;
    sl_rl_parse_telegram(&a, 429, body, strlen(body));
    assert_int_equal(a.retry_after_ms, 7000);
    sl_rl_parse_telegram(&a, 200, "{\"ok\":true}", 11);
    assert_int_equal(a.retry_after_ms, -1);
}

static void limits_of_requests(void **state)
{
    (void)state;
    sl_rl_request r;
    sl_rl_discord(&r, "sluice", "main", "POST /channels/{id}/messages", "42", 50, 5000);
    assert_string_equal(r.base, "sluice:{rl:discord:main}:");
    assert_string_equal(r.block_key, "sluice:{rl:discord:main}:block");
    assert_int_equal(r.nlimits, 1);
    assert_true(r.limits[0].interval_ms > 20.8 && r.limits[0].interval_ms < 20.9); /* 96% of 50/s */
    assert_int_equal(r.limits[0].burst, 2);
    sl_rl_telegram(&r, "sluice", "tg", "-100123", 30);
    assert_int_equal(r.nlimits, 2);
    assert_string_equal(r.limits[1].name, "chat:-100123");
    assert_true(r.limits[1].interval_ms >= 3000); /* 20 a minute in a group */
    sl_rl_telegram(&r, "sluice", "tg", "777", 30);
    assert_true(r.limits[1].interval_ms >= 1000 && r.limits[1].interval_ms <= 1150);
}

/* ---- against redis ---- */

static pid_t redis_pid;
static char dir[64], sock[128];
static redisContext *rc;

static int start_redis(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sluice-rl-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    redis_pid = fork();
    if (redis_pid == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
               "--appendonly", "no", "--dir", dir, "--logfile", "", "--loglevel", "warning",
               (char *)NULL);
        _exit(127);
    }
    sl_redis_addr addr = {0};
    sl_strlcpy(addr.path, sock, sizeof addr.path);
    char err[256];
    for (int i = 0; i < 200 && !rc; i++) {
        if (access(sock, F_OK) == 0)
            rc = sl_rblock_connect(&addr, 2.0, err, sizeof err);
        if (!rc)
            usleep(10000);
    }
    return rc ? 0 : -1;
}

static int stop_redis(void **state)
{
    (void)state;
    redisFree(rc);
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    unlink(sock);
    rmdir(dir);
    return 0;
}

/* the server time and bucket window of the last gate granted by
 * acquire_gates */
static long long last_granted_at, last_window, last_seq;

/* One rl_acquire call for N gates of one bot (REQS[i] asking for
 * COUNTS[i]): per gate the wait in ms (0 = go), how many may go and the
 * reason ("discover" when going to learn a route). */
static void acquire_gates(const sl_rl_request *reqs, const int *counts, int n, long *waits,
                          int *granted, char (*reasons)[32])
{
    const char *argv[SL_RL_HEAD_ARGS + 8 * SL_RL_GATE_ARGS];
    size_t lens[SL_RL_HEAD_ARGS + 8 * SL_RL_GATE_ARGS];
    char nums[SL_RL_HEAD_NUMS + 8 * SL_RL_GATE_NUMS][32];
    assert_true(n <= 8);
    int argc = sl_rl_acquire_head(&reqs[0], n, argv, lens, nums);
    for (int i = 0; i < n; i++)
        argc += sl_rl_acquire_gate(&reqs[i], counts[i], argv + argc, lens + argc,
                                   nums + SL_RL_HEAD_NUMS + i * SL_RL_GATE_NUMS);
    redisReply *rep = sl_rblock_script(rc, SL_SCRIPT_RL_ACQUIRE, 1, argc, argv, lens);
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_ARRAY)
        fail_msg("rl_acquire: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "not an array");
    assert_int_equal(rep->elements, SL_RL_REPLY_PER_GATE * (size_t)n);
    for (int i = 0; i < n; i++) {
        waits[i] = (long)rep->element[SL_RL_REPLY_PER_GATE * i]->integer;
        granted[i] = (int)rep->element[SL_RL_REPLY_PER_GATE * i + 1]->integer;
        sl_strlcpy(reasons[i], rep->element[SL_RL_REPLY_PER_GATE * i + 2]->str, sizeof reasons[i]);
        if (granted[i] > 0) {
            last_granted_at = rep->element[SL_RL_REPLY_PER_GATE * i + 3]->integer;
            last_window = rep->element[SL_RL_REPLY_PER_GATE * i + 4]->integer;
            last_seq = rep->element[SL_RL_REPLY_PER_GATE * i + 5]->integer;
        }
        /* a gate either goes (some granted, no wait) or waits (none) */
        assert_true((waits[i] <= 0 && granted[i] > 0) || (waits[i] > 0 && granted[i] == 0));
    }
    freeReplyObject(rep);
}

/* rl_acquire for COUNT requests of one gate: returns the wait in ms (0 =
 * go), how many may go (GRANTED) and the reason. */
static long acquire_n(const sl_rl_request *r, int count, int *granted, char *reason,
                      size_t reason_len)
{
    long wait;
    int n;
    char why[1][32];
    acquire_gates(r, &count, 1, &wait, &n, why);
    if (granted)
        *granted = n;
    if (reason)
        sl_strlcpy(reason, why[0], reason_len);
    return wait;
}

/* rl_acquire for one request: the wait in ms (0 = go) and the reason. */
static long acquire(const sl_rl_request *r, char *reason, size_t reason_len)
{
    int granted;
    long wait = acquire_n(r, 1, &granted, reason, reason_len);
    if (wait <= 0)
        assert_int_equal(granted, 1);
    return wait;
}

static void report(const sl_rl_request *r, const sl_rl_answer *a)
{
    const char *argv[32];
    size_t lens[32];
    char nums[16][32];
    int argc = sl_rl_report_args(r, a, argv, lens, nums);
    redisReply *rep = sl_rblock_script(rc, SL_SCRIPT_RL_REPORT, 1, argc, argv, lens);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ERROR)
        fail_msg("rl_report: %s", rep->str);
    freeReplyObject(rep);
}

/* Gives back place SEQ of R granted at AT in bucket window WINDOW: returns
 * the ms given back to the limiter; *BUCKET 1 if the bucket got it. */
static long release(const sl_rl_request *r, long long at, long long window, long long seq,
                    int discovering, int *bucket)
{
    const char *argv[SL_RL_RELEASE_ARGS];
    size_t lens[SL_RL_RELEASE_ARGS];
    char nums[SL_RL_RELEASE_NUMS][32];
    int argc = sl_rl_release_args(r, at, window, seq, discovering, argv, lens, nums);
    redisReply *rep = sl_rblock_script(rc, SL_SCRIPT_RL_ACQUIRE, 1, argc, argv, lens);
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2)
        fail_msg("release: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "not 2 values");
    long given = (long)rep->element[0]->integer;
    if (bucket)
        *bucket = (int)rep->element[1]->integer;
    freeReplyObject(rep);
    return given;
}

static sl_rl_answer answer(int status, const char *bucket, long limit, long remaining,
                           long reset_after_ms, const char *scope, long retry_after_ms)
{
    sl_rl_answer a = {status, "", limit, remaining, reset_after_ms, "", retry_after_ms, 0};
    sl_strlcpy(a.bucket, bucket, sizeof a.bucket);
    sl_strlcpy(a.scope, scope, sizeof a.scope);
    return a;
}

static void gcra_paces_the_global_limit(void **state)
{
    (void)state;
    sl_rl_request r;
    sl_rl_discord(&r, "t1", "bot", "", "", 50, 0);
    int64_t at[200];
    int admitted = 0, first_second = 0;
    long long first_at = 0;
    int64_t start = sl_monotonic_us();
    /* a second and a half of asking as fast as possible, as many replicas
     * would */
    while (sl_monotonic_us() - start < 1500000 && admitted < 200) {
        long wait = acquire(&r, NULL, 0);
        if (wait == 0) {
            at[admitted++] = sl_monotonic_us();
            if (!first_at)
                first_at = last_granted_at;
            first_second += last_granted_at < first_at + 1000; /* by the server's clock */
        } else {
            assert_true(wait <= 22);
        }
    }
    /* never more than 50 in any second (the burst of 2 may pair two
     * requests after a late one, but the window still holds) */
    for (int k = 0; k + 50 < admitted; k++)
        if (at[k + 50] - at[k] < 1000000)
            fail_msg("51 requests within %lld us", (long long)(at[k + 50] - at[k]));
    /* from idle, one place and then one per interval: 48 in the first
     * second (49 with the burst), so one that reaches the server a little
     * late still finds room in its window */
    assert_in_range(first_second, 40, 48);
}

static void discord_bucket_is_learned_then_followed(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request r, other;
    sl_rl_discord(&r, "t2", "bot", "POST /channels/{id}/messages", "100", 0, 0);
    sl_rl_discord(&other, "t2", "bot", "POST /channels/{id}/messages", "200", 0, 0);
    assert_int_equal(acquire(&r, why, sizeof why), 0); /* the discovering request */
    assert_true(acquire(&r, why, sizeof why) > 0);
    assert_string_equal(why, "discovering");
    /* another channel learns on its own */
    assert_int_equal(acquire(&other, why, sizeof why), 0);
    sl_rl_answer a = answer(200, "bkt", 5, 4, 2000, "", -1);
    report(&r, &a);
    for (int i = 0; i < 4; i++)
        assert_int_equal(acquire(&r, why, sizeof why), 0);
    long wait = acquire(&r, why, sizeof why);
    assert_string_equal(why, "bucket");
    assert_in_range(wait, 1500, 2000);
    /* a late answer with more room left must not give places back */
    sl_rl_answer late = answer(200, "bkt", 5, 3, 1900, "", -1);
    report(&r, &late);
    assert_true(acquire(&r, why, sizeof why) > 0);
}

/* A bucket whose window got shorter: the first answer of a server window
 * says so, and the next window we open is the short one. */
static void a_shorter_bucket_window_is_learned(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request r;
    sl_rl_discord(&r, "t11", "bot", "POST /channels/{id}/messages", "100", 0, 0);
    assert_int_equal(acquire(&r, why, sizeof why), 0); /* learns: 2 per 5 s */
    sl_rl_answer a = answer(200, "bkt11", 2, 1, 5000, "", -1);
    report(&r, &a);
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    long wait = acquire(&r, why, sizeof why);
    assert_string_equal(why, "bucket");
    assert_in_range(wait, 4000, 5000);
    /* the server now starts a window of 300 ms with our next request */
    sl_rl_answer first = answer(200, "bkt11", 2, 1, 300, "", -1);
    report(&r, &first);
    wait = acquire(&r, why, sizeof why);
    assert_in_range(wait, 1, 300);
    usleep((useconds_t)wait * 1000 + 20000);
    /* a new window of ours: 2 go, then the wait is the short window's */
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    wait = acquire(&r, why, sizeof why);
    assert_string_equal(why, "bucket");
    assert_in_range(wait, 1, 400);
}

/* A new channel on a route whose bucket is known starts with the bucket's
 * whole limit, not one request: 5 go at once where the shape is 5 per 5 s. */
static void a_new_channel_of_a_known_route_starts_full(void **state)
{
    (void)state;
    char why[32];
    int n;
    const char *route = "POST /channels/{id}/messages";
    sl_rl_request a, b;
    sl_rl_discord(&a, "t12", "bot", route, "1", 0, 0);
    sl_rl_discord(&b, "t12", "bot", route, "2", 0, 0);
    assert_int_equal(acquire(&a, why, sizeof why), 0); /* channel 1 learns the route */
    sl_rl_answer first = answer(200, "bkt12", 5, 4, 5000, "", -1);
    report(&a, &first);
    assert_int_equal(acquire_n(&b, 5, &n, why, sizeof why), 0);
    assert_int_equal(n, 5);
    /* the first answer of channel 2 keeps the count: nothing more goes */
    report(&b, &first);
    long wait = acquire(&b, why, sizeof why);
    assert_string_equal(why, "bucket");
    assert_in_range(wait, 4000, 5100);
}

/* A bucket instance opened before its shape was known (one request): its
 * first answer tells the limit, and the places it did not count are
 * there at once rather than after the whole window. */
static void a_first_answer_does_not_stall_a_bucket(void **state)
{
    (void)state;
    char why[32];
    int n;
    const char *route = "POST /channels/{id}/messages";
    sl_rl_request a, b;
    sl_rl_discord(&a, "t13", "bot", route, "1", 0, 0);
    sl_rl_discord(&b, "t13", "bot", route, "2", 0, 0);
    assert_int_equal(acquire(&a, why, sizeof why), 0);
    sl_rl_answer first = answer(200, "bkt13", 5, 4, 5000, "", -1);
    report(&a, &first);
    /* as a route learned by an older version: its bucket, not the shape */
    freeReplyObject(redisCommand(rc, "SET %s %s",
                                 "t13:{rl:discord:bot}:route:"
                                 "POST /channels/{id}/messages",
                                 "bkt13"));
    assert_int_equal(acquire_n(&b, 5, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    report(&b, &first);
    assert_int_equal(acquire_n(&b, 5, &n, why, sizeof why), 0);
    assert_int_equal(n, 4);
    assert_true(acquire(&b, why, sizeof why) > 0);
    assert_string_equal(why, "bucket");
}

/* A place granted and not used goes back: the next request takes it at
 * once, and one more waits as before. */
static void a_place_not_used_is_given_back(void **state)
{
    (void)state;
    char why[32];
    int n, bucket;
    sl_rl_request r;
    /* 10/s for the bot; idle, it starts with one place, not its burst of 2 */
    sl_rl_discord(&r, "t14", "bot", "", "", 10.5, 0);
    assert_int_equal(acquire_n(&r, 2, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    long long at = last_granted_at, seq = last_seq;
    assert_true(acquire(&r, why, sizeof why) > 0);
    assert_string_equal(why, "rate");
    long given = release(&r, at, 0, seq, 0, &bucket);
    assert_in_range(given, 90, 100); /* one interval, 99 ms */
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    assert_true(acquire(&r, why, sizeof why) > 0);

    /* a bucket's place comes back while its window is the one it was taken in */
    sl_rl_request b;
    sl_rl_discord(&b, "t14", "bot", "POST /channels/{id}/messages", "3", 0, 0);
    assert_int_equal(acquire(&b, why, sizeof why), 0); /* learns 2 per 5 s */
    assert_string_equal(why, "discover");
    /* a discovering request not sent frees the route for the next one */
    release(&b, last_granted_at, 0, 0, 1, &bucket);
    assert_int_equal(acquire(&b, why, sizeof why), 0);
    assert_string_equal(why, "discover");
    sl_rl_answer a = answer(200, "bkt14", 2, 1, 5000, "", -1);
    a.granted_at_ms = last_granted_at;
    report(&b, &a);
    assert_int_equal(acquire(&b, why, sizeof why), 0);
    long long window = last_window;
    assert_true(window > 0);
    assert_true(acquire(&b, why, sizeof why) > 0);
    assert_string_equal(why, "bucket");
    release(&b, last_granted_at, window, 0, 0, &bucket);
    assert_int_equal(bucket, 1);
    assert_int_equal(acquire(&b, why, sizeof why), 0);
    assert_true(acquire(&b, why, sizeof why) > 0);
    /* one of another window does not */
    release(&b, last_granted_at, window - 1, 0, 0, &bucket);
    assert_int_equal(bucket, 0);
    assert_true(acquire(&b, why, sizeof why) > 0);
}

/* Places given back never let more go than the limiter allows: for 2 s,
 * requests are asked for as fast as possible with pauses of up to 30 ms
 * now and then (so the limiter falls idle or behind), and of the places
 * granted a third are given back at once, a third after the next grant or
 * pause, and a third kept (sent). The kept ones must conform to the
 * limiter (GCRA): for any i < j of them, t_j - t_i >= (j - i - 1) * T
 * (a burst of 2). */
static void places_given_back_never_exceed_the_limit(void **state)
{
    (void)state;
    sl_rl_request r;
    sl_rl_discord(&r, "t15", "bot", "", "", 50, 0);
    double T = r.limits[0].interval_ms;
    long long kept[400], pending = 0, pending_seq = 0;
    int nkept = 0, granted_total = 0, given_back = 0;
    unsigned seed = 15;
    int64_t start = sl_monotonic_us();
    while (sl_monotonic_us() - start < 2000000 && nkept < 390) {
        char why[32];
        int n;
        if (acquire_n(&r, 1, &n, why, sizeof why) != 0)
            continue;
        granted_total++;
        long long at = last_granted_at, seq = last_seq;
        if (pending) { /* the one held back until this grant */
            given_back += release(&r, pending, 0, pending_seq, 0, NULL) > 0;
            pending = 0;
        }
        switch (rand_r(&seed) % 3) {
        case 0:
            kept[nkept++] = at;
            break;
        case 1:
            given_back += release(&r, at, 0, seq, 0, NULL) > 0;
            break;
        default:
            pending = at;
            pending_seq = seq;
        }
        if (rand_r(&seed) % 4 == 0) {
            usleep((useconds_t)(rand_r(&seed) % 30000));
            if (pending) {
                given_back += release(&r, pending, 0, pending_seq, 0, NULL) > 0;
                pending = 0;
            }
        }
    }
    for (int i = 0; i < nkept; i++)
        for (int j = i + 1; j < nkept; j++)
            if ((double)(kept[j] - kept[i]) < (j - i - 1) * T - 1.0) /* 1: ms rounding */
                fail_msg("%d requests kept within %lld ms (%.1f ms apart)", j - i + 1,
                         kept[j] - kept[i], T);
    /* places did come back */
    assert_true(given_back > granted_total / 4);
}

/* A window of ours may end later than the server's (its answer came back
 * late): no place is granted in the last GUARD ms before the earliest the
 * server's window may end, where it could arrive in the server's next
 * window, beside the places we grant there. */
static void no_place_in_the_last_moments_of_a_window(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request b;
    sl_rl_discord(&b, "t16", "bot", "POST /channels/{id}/messages", "4", 0, 0);
    assert_int_equal(acquire(&b, why, sizeof why), 0);
    /* 10 per 300 ms, answered 200 ms after the grant */
    usleep(200000);
    sl_rl_answer a = answer(200, "bkt16", 10, 9, 100, "", -1);
    a.granted_at_ms = last_granted_at;
    report(&b, &a);
    /* the server's window ends 100 ms from now at the latest, and at the
     * earliest 100 ms after the grant, that is now: nothing more goes */
    long wait = acquire(&b, why, sizeof why);
    assert_string_equal(why, "bucket");
    assert_in_range(wait, 1, 100);
    usleep((useconds_t)wait * 1000 + 5000);
    int n;
    assert_int_equal(acquire_n(&b, 20, &n, why, sizeof why), 0);
    assert_int_equal(n, 10);
}

/* Many requests in one call: as many go as every limit allows, no more. */
static void many_at_once_take_what_the_limits_allow(void **state)
{
    (void)state;
    char why[32];
    int n;
    sl_rl_request r;
    /* 10/s (96% of 10.5) from idle: one goes now, then one per ~100 ms (the
     * burst of 2 is for catching up, not for a start from idle) */
    sl_rl_discord(&r, "t7", "bot", "", "", 10.5, 0);
    assert_int_equal(acquire_n(&r, 5, &n, why, sizeof why), 0);
    assert_int_equal(n, 1);
    assert_true(acquire_n(&r, 5, &n, why, sizeof why) > 0);
    assert_string_equal(why, "rate");
    /* a learned bucket with 3 left gives at most 3 */
    sl_rl_request b;
    sl_rl_discord(&b, "t8", "bot", "POST /channels/{id}/messages", "7", 0, 0);
    assert_int_equal(acquire_n(&b, 10, &n, why, sizeof why), 0);
    assert_int_equal(n, 1); /* the route is unknown: one learns it */
    assert_string_equal(why, "discover");
    sl_rl_answer a = answer(200, "bkt8", 4, 3, 2000, "", -1);
    report(&b, &a);
    assert_int_equal(acquire_n(&b, 10, &n, why, sizeof why), 0);
    assert_int_equal(n, 3);
    assert_true(acquire_n(&b, 10, &n, why, sizeof why) > 0);
    assert_string_equal(why, "bucket");
    /* no limit at all: every one goes */
    sl_rl_request free_route;
    sl_rl_discord(&free_route, "t9", "bot", "POST /channels/{id}/messages", "8", 0, 0);
    assert_int_equal(acquire(&free_route, why, sizeof why), 0);
    sl_rl_answer plain = answer(200, "", -1, -1, -1, "", -1);
    report(&free_route, &plain);
    assert_int_equal(acquire_n(&free_route, 64, &n, why, sizeof why), 0);
    assert_int_equal(n, 64);
}

/* One call for several gates of a bot: each is answered by its own limits,
 * and a limit of the whole bot is shared out in order. */
static void gates_of_a_bot_share_one_call(void **state)
{
    (void)state;
    sl_rl_request g[4];
    long wait[4];
    int n[4], count[4] = {1, 3, 1, 1};
    char why[4][32];
    /* 10/s with a burst of 2 for the bot; channels 11 and 12 on a route
     * known to have no bucket, channel 13 on a route still unknown */
    const char *route = "POST /channels/{id}/messages";
    sl_rl_discord(&g[0], "t10", "bot", route, "11", 10.5, 0);
    sl_rl_discord(&g[1], "t10", "bot", route, "12", 10.5, 0);
    sl_rl_discord(&g[2], "t10", "bot", route, "12", 10.5, 0);
    sl_rl_discord(&g[3], "t10", "bot", "PATCH /channels/{id}/messages/{id}", "13", 0, 0);
    sl_rl_request learn;
    sl_rl_discord(&learn, "t10", "bot", route, "11", 0, 0);
    assert_int_equal(acquire(&learn, NULL, 0), 0);
    sl_rl_answer plain = answer(200, "", -1, -1, -1, "", -1);
    report(&learn, &plain);

    acquire_gates(g, count, 4, wait, n, why);
    /* the bot, idle, has one place: the first gate takes it */
    assert_int_equal(wait[0], 0);
    assert_int_equal(n[0], 1);
    /* nothing left for the second and third; their wait is the bot's next
     * place */
    for (int i = 1; i <= 2; i++) {
        assert_string_equal(why[i], "rate");
        assert_in_range(wait[i], 1, 110);
    }
    /* the fourth is under no bot limit here and learns its route */
    assert_int_equal(n[3], 1);
    assert_string_equal(why[3], "discover");

    /* a global 429 stops every gate of the bot in the same call */
    sl_rl_answer stop = answer(429, "", -1, -1, -1, "global", 900);
    report(&learn, &stop);
    acquire_gates(g, count, 4, wait, n, why);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(why[i], "blocked");
        assert_in_range(wait[i], 800, 900);
    }
}

static void route_without_buckets_is_not_serialised(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request r;
    sl_rl_discord(&r, "t6", "bot", "POST /channels/{id}/messages", "5", 0, 0);
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    sl_rl_answer plain = answer(200, "", -1, -1, -1, "", -1); /* no X-RateLimit-* */
    report(&r, &plain);
    for (int i = 0; i < 20; i++) /* nothing to learn: no request waits for another */
        assert_int_equal(acquire(&r, why, sizeof why), 0);
}

static void global_429_stops_every_route(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request r, other;
    sl_rl_discord(&r, "t3", "bot", "POST /channels/{id}/messages", "1", 0, 0);
    sl_rl_discord(&other, "t3", "bot", "GET /guilds/{id}/members/{id}", "9", 0, 0);
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    sl_rl_answer a = answer(429, "", -1, -1, -1, "global", 800);
    report(&r, &a);
    long wait = acquire(&other, why, sizeof why);
    assert_string_equal(why, "blocked");
    assert_in_range(wait, 700, 800);
}

static void invalid_requests_pause_before_the_ban(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request r;
    sl_rl_discord(&r, "t4", "bot", "", "", 0, 3);
    sl_rl_answer forbidden = answer(403, "", -1, -1, -1, "", -1);
    sl_rl_answer shared = answer(429, "", -1, -1, -1, "shared", 100);
    report(&r, &shared); /* Discord does not count "shared" 429s */
    for (int i = 0; i < 2; i++)
        report(&r, &forbidden);
    assert_int_equal(acquire(&r, why, sizeof why), 0);
    report(&r, &forbidden);
    assert_true(acquire(&r, why, sizeof why) > 0);
    assert_string_equal(why, "invalid");
}

static void telegram_chats_are_paced_apart(void **state)
{
    (void)state;
    char why[32];
    sl_rl_request a, b;
    sl_rl_telegram(&a, "t5", "tg", "1001", 30);
    sl_rl_telegram(&b, "t5", "tg", "1002", 30);
    assert_int_equal(acquire(&a, why, sizeof why), 0);
    long wait = acquire(&a, why, sizeof why);
    assert_string_equal(why, "rate");
    assert_in_range(wait, 900, 1150);
    /* another chat is not held up by the first one's second, only by the
     * bot's own 30/s */
    wait = acquire(&b, why, sizeof why);
    assert_in_range(wait, 0, 40);
    if (wait) {
        usleep((useconds_t)wait * 1000);
        assert_int_equal(acquire(&b, why, sizeof why), 0);
    }
    sl_rl_answer flood = answer(429, "", -1, -1, -1, "", 5000);
    report(&b, &flood);
    wait = acquire(&b, why, sizeof why);
    assert_in_range(wait, 4800, 5000);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(discord_headers),
        cmocka_unit_test(discord_429s),
        cmocka_unit_test(telegram_429),
        cmocka_unit_test(limits_of_requests),
    };
    const struct CMUnitTest redis[] = {
        cmocka_unit_test(gcra_paces_the_global_limit),
        cmocka_unit_test(discord_bucket_is_learned_then_followed),
        cmocka_unit_test(a_shorter_bucket_window_is_learned),
        cmocka_unit_test(a_new_channel_of_a_known_route_starts_full),
        cmocka_unit_test(a_first_answer_does_not_stall_a_bucket),
        cmocka_unit_test(a_place_not_used_is_given_back),
        cmocka_unit_test(places_given_back_never_exceed_the_limit),
        cmocka_unit_test(no_place_in_the_last_moments_of_a_window),
        cmocka_unit_test(route_without_buckets_is_not_serialised),
        cmocka_unit_test(many_at_once_take_what_the_limits_allow),
        cmocka_unit_test(gates_of_a_bot_share_one_call),
        cmocka_unit_test(global_429_stops_every_route),
        cmocka_unit_test(invalid_requests_pause_before_the_ban),
        cmocka_unit_test(telegram_chats_are_paced_apart),
    };
    int failed = cmocka_run_group_tests_name("ratelimit parsing", pure, NULL, NULL);
    return failed +
           cmocka_run_group_tests_name("ratelimit scripts", redis, start_redis, stop_redis);
}

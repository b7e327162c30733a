/* worker_fixture.h — what test_gate.c and test_call.c share: a real
 * redis-server on a Unix socket of its own (started once per group,
 * stopped by PID), and per test a real libev loop with a worker on it
 * (worker.h) whose command connection is up, a blocking connection for
 * the test's own looks at Redis, and a guard timer (unreferenced, so it
 * keeps nothing alive) that fails a test that would hang. Each test has a
 * key prefix of its own. Teardown frees everything and asserts the loop is
 * empty, as test_http.c does: nothing of the worker is left running.
 * Nothing sleeps: tests wait on the loop. */
#ifndef TEST_WORKER_FIXTURE_H
#define TEST_WORKER_FIXTURE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rconn.h"
#include "rblock.h"
#include "util.h"
#include "worker.h"

#define GUARD_S 20.0

static pid_t redis_pid;
static char redis_dir[64], redis_sock[128];
static sl_redis_addr redis_addr;
static int tests_run; /* for each test's prefix */

struct fx {
    struct ev_loop *loop;
    worker w;
    char prefix[32];
    redisContext *rc; /* blocking: the test's own looks at Redis */
    ev_timer guard;
    int guard_fired;
    ev_check check; /* roundtrip() */
    int up, pong;
};

static int start_redis(void)
{
    snprintf(redis_dir, sizeof redis_dir, "/tmp/sluice-wfx-XXXXXX");
    if (!mkdtemp(redis_dir))
        return -1;
    snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", redis_dir);
    sl_strlcpy(redis_addr.path, redis_sock, sizeof redis_addr.path);
    redis_pid = fork();
    if (redis_pid < 0)
        return -1;
    if (redis_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock, "--save",
               "", "--appendonly", "no", "--dir", redis_dir, "--logfile", "", "--loglevel",
               "warning", (char *)NULL);
        _exit(127);
    }
    char err[256];
    for (int i = 0; i < 500; i++) {
        if (access(redis_sock, F_OK) == 0) {
            redisContext *rc = sl_rblock_connect(&redis_addr, 2.0, err, sizeof err);
            if (rc) {
                redisFree(rc);
                return 0;
            }
        }
        usleep(10000);
    }
    fprintf(stderr, "redis-server did not start on %s\n", redis_sock);
    return -1;
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
    }
    unlink(redis_sock);
    rmdir(redis_dir);
}

static void guard_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    struct fx *f = t->data;
    ev_ref(loop); /* it was unreferenced; libev has just stopped it */
    f->guard_fired = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until *FLAG is set (or the guard fires: the test fails). */
static void run_until(struct fx *f, const int *flag)
{
    while (!*flag && !f->guard_fired)
        ev_run(f->loop, EVRUN_ONCE);
    assert_false(f->guard_fired);
}

static void up_cb(sl_rconn *c, int up, void *priv)
{
    (void)c;
    ((struct fx *)priv)->up = up;
}

/* A worker of CONCURRENCY on a new loop, its commands connection up. */
static struct fx *fx_new(int concurrency)
{
    struct fx *f = sl_calloc(1, sizeof *f);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    ev_timer_init(&f->guard, guard_cb, GUARD_S, 0.);
    f->guard.data = f;
    ev_timer_start(f->loop, &f->guard);
    ev_unref(f->loop);
    snprintf(f->prefix, sizeof f->prefix, "t%d", ++tests_run);
    char err[256];
    f->rc = sl_rblock_connect(&redis_addr, 2.0, err, sizeof err);
    assert_non_null(f->rc);
    worker *w = &f->w;
    w->loop = f->loop;
    w->prefix = f->prefix;
    sl_strlcpy(w->id, "test-worker", sizeof w->id);
    w->concurrency = concurrency;
    w->lease_ms = 30000;
    w->redis = sl_rconn_new(f->loop, &redis_addr, "commands");
    sl_rconn_set_state_cb(w->redis, up_cb, f);
    run_until(f, &f->up);
    return f;
}

/* Frees F's worker connection and loop: asserts nothing was left in it. */
static void fx_free(struct fx *f)
{
    sl_rconn_free(f->w.redis);
    if (ev_is_active(&f->guard)) {
        ev_ref(f->loop);
        ev_timer_stop(f->loop, &f->guard);
    }
    int left = ev_run(f->loop, EVRUN_NOWAIT); /* nonzero while watchers remain */
    ev_loop_destroy(f->loop);
    redisFree(f->rc);
    free(f);
    assert_int_equal(left, 0);
}

static void pong_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c, (void)reply;
    ((struct fx *)priv)->pong = 1;
}

static void check_cb(struct ev_loop *loop, ev_check *c, int revents)
{
    (void)revents;
    struct fx *f = c->data;
    ev_check_stop(loop, c);
    const char *argv[] = {"PING"};
    assert_int_equal(sl_rconn_command(f->w.redis, pong_cb, f, 1, argv, NULL), 0);
}

/* Runs the loop until Redis has answered everything the worker sent it up
 * to the end of the next loop turn (its prepare watchers send then): one
 * connection answers in order, so a PING sent after them comes back last. */
static void roundtrip(struct fx *f)
{
    f->pong = 0;
    ev_check_init(&f->check, check_cb);
    f->check.data = f;
    ev_check_start(f->loop, &f->check);
    run_until(f, &f->pong);
}

/* A blocking command of the test's own; the reply is the caller's. */
static redisReply *cmd(struct fx *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(f->rc, fmt, ap);
    va_end(ap);
    assert_non_null(r);
    return r;
}

/* A Discord route of F's bot BOT learned to have bucket "b" of LIMIT
 * requests per WINDOW_MS (what rl_report.lua writes from the headers). */
static void learn_bucket(struct fx *f, const char *bot, const char *route, int limit, int window_ms)
{
    char shape[64];
    snprintf(shape, sizeof shape, "b %d %d", limit, window_ms);
    redisReply *r = cmd(f, "SET %s:{rl:discord:%s}:route:%s %s", f->prefix, bot, route, shape);
    freeReplyObject(r);
}

#endif

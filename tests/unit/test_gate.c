/* Unit tests: the rate-limit gates (worker/gate.c) of a worker on a real
 * loop, asking a real redis-server through rl_acquire.lua. What they check
 * is what a user of the limits sees: how many tasks a gate lets go, in what
 * order, which it hands back to wait in Redis, and that a place given back
 * goes to the next in line. Fixture: worker_fixture.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "worker_fixture.h"
#include "gate.h"
#include "log.h"

#define ROUTE "POST /channels/{id}/messages"

/* A task waiting in a gate, and what its admission said. */
struct entry {
    task t;
    gate_link link;
    int admitted; /* times ADMIT was called */
    long wait_ms; /* what it said: 0 send now, more: defer through Redis */
    int order;    /* 1 for the first admitted, 2 the next... */
};

static int admissions;

static void admit_cb(task *t, long wait_ms, void *priv)
{
    struct entry *e = priv;
    assert_ptr_equal(t, &e->t);
    e->admitted++;
    e->wait_ms = wait_ms;
    e->order = ++admissions;
}

static void enter(struct fx *f, struct entry *e, const sl_rl_request *r)
{
    memset(e, 0, sizeof *e);
    e->t.w = &f->w;
    gate_enter(&f->w, &e->t, r, admit_cb, e, &e->link);
    assert_int_equal(e->admitted, 0); /* never from inside gate_enter */
}

static int setup(void **state)
{
    struct fx *f = fx_new(10);
    gates_start(&f->w);
    admissions = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gates_stop(&f->w);
    sl_rconn_free(f->w.redis); /* acquires still out get their NULL reply */
    f->w.redis = NULL;
    gates_free(&f->w);
    fx_free(f);
    return 0;
}

/* The requests of bot "main" to ROUTE in channel 42, under no limit but
 * the route's learned bucket. */
static void bucket_request(struct fx *f, sl_rl_request *r)
{
    sl_rl_discord(r, f->prefix, "main", ROUTE, "42", 0, 0);
}

static long long bucket_remaining(struct fx *f)
{
    redisReply *r = cmd(f, "HGET %s:{rl:discord:main}:bucket:b:42 remaining", f->prefix);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    long long n = atoll(r->str);
    freeReplyObject(r);
    return n;
}

/* Five tasks, a bucket of two a minute: two go, in the order they came; the
 * other three are not held in memory for a minute but handed back with the
 * wait (the handler defers them through Redis). None holds a worker slot
 * while it waits. */
static void a_gate_admits_no_more_than_its_bucket(void **state)
{
    struct fx *f = *state;
    learn_bucket(f, "main", ROUTE, 2, 60000);
    sl_rl_request r;
    bucket_request(f, &r);
    struct entry e[5];
    for (int i = 0; i < 5; i++)
        enter(f, &e[i], &r);
    assert_int_equal(f->w.parked, 5);
    int all = 0;
    while (!all) {
        roundtrip(f);
        all = 1;
        for (int i = 0; i < 5; i++)
            all &= e[i].admitted == 1;
    }
    assert_int_equal(e[0].wait_ms, 0);
    assert_int_equal(e[1].wait_ms, 0);
    assert_true(e[0].order < e[1].order);
    for (int i = 2; i < 5; i++) {
        assert_true(e[i].wait_ms > 0);
        assert_true(e[i].order > e[1].order);
    }
    assert_int_equal(f->w.parked, 0);
    assert_int_equal(bucket_remaining(f), 0);
}

/* A bucket of one per 3 s: A takes the place, B waits in the gate (a
 * short wait is held in memory). A's request is not sent and its place
 * goes back: the gate opens at once and B goes in the same window, with
 * the place A did not use, rather than in the next. */
static void a_place_given_back_reopens_the_gate(void **state)
{
    struct fx *f = *state;
    learn_bucket(f, "main", ROUTE, 1, 3000);
    sl_rl_request r;
    bucket_request(f, &r);
    struct entry a, b;
    enter(f, &a, &r);
    run_until(f, &a.admitted);
    assert_int_equal(a.wait_ms, 0);
    enter(f, &b, &r);
    roundtrip(f); /* B's acquire is answered: the bucket is spent */
    assert_int_equal(b.admitted, 0);
    assert_int_equal(f->w.parked, 1);

    gate_give_back(&f->w, &r, a.link.granted_at_ms, a.link.window, a.link.seq, a.link.discover);
    run_until(f, &b.admitted);
    assert_int_equal(b.wait_ms, 0);
    assert_true(a.link.window > 0);
    assert_int_equal(b.link.window, a.link.window); /* the same window: A's place */
    gate_given g = gates_given(&f->w);
    assert_int_equal(g.places, 1);
    assert_int_equal(g.bucket, 1);
    assert_int_equal(bucket_remaining(f), 0);
}

/* A task that leaves its gate (its job was abandoned) is never admitted
 * and no longer counts as parked; the task behind it is unaffected. */
static void a_task_that_leaves_is_never_admitted(void **state)
{
    struct fx *f = *state;
    learn_bucket(f, "main", ROUTE, 1, 3000);
    sl_rl_request r;
    bucket_request(f, &r);
    struct entry a, b, c;
    enter(f, &a, &r);
    run_until(f, &a.admitted);
    enter(f, &b, &r);
    enter(f, &c, &r);
    roundtrip(f);
    assert_int_equal(f->w.parked, 2);
    gate_leave(&b.link);
    assert_int_equal(f->w.parked, 1);
    gate_give_back(&f->w, &r, a.link.granted_at_ms, a.link.window, a.link.seq, a.link.discover);
    run_until(f, &c.admitted);
    assert_int_equal(c.wait_ms, 0);
    assert_int_equal(b.admitted, 0);
    assert_int_equal(f->w.parked, 0);
}

/* Gates of different limits do not wait for each other: a spent bucket in
 * one channel holds nothing back in another. */
static void gates_of_other_channels_go_on(void **state)
{
    struct fx *f = *state;
    learn_bucket(f, "main", ROUTE, 1, 60000);
    sl_rl_request r42, r43;
    sl_rl_discord(&r42, f->prefix, "main", ROUTE, "42", 0, 0);
    sl_rl_discord(&r43, f->prefix, "main", ROUTE, "43", 0, 0);
    struct entry a, b, c;
    enter(f, &a, &r42);
    enter(f, &b, &r42);
    enter(f, &c, &r43);
    while (!(a.admitted && b.admitted && c.admitted))
        roundtrip(f);
    assert_int_equal(a.wait_ms, 0);
    assert_true(b.wait_ms > 0);
    assert_int_equal(c.wait_ms, 0);
}

int main(void)
{
    sl_log_init("test", SL_LOG_WARN);
    if (start_redis())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_gate_admits_no_more_than_its_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(a_place_given_back_reopens_the_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(a_task_that_leaves_is_never_admitted, setup, teardown),
        cmocka_unit_test_setup_teardown(gates_of_other_channels_go_on, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    stop_redis();
    return failed;
}

/* Unit tests: the HTTP engine (shared/http.c) against tests/http/server.py on
 * loopback. Every test runs a real loop and ends with it empty: run() returns
 * only when no watcher is left, and a guard timer (unreferenced, so it keeps
 * nothing alive) fails a test that would hang. Nothing sleeps: tests wait on
 * the loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "http_fixture.h"
#include "util.h"

#define GUARD_S 20.0
#define FAKE_TOKEN "123456:FAKEsecretTOKENxyz"

struct fx {
    struct ev_loop *loop;
    sl_http *h;
    ev_timer guard;
    int guard_fired;
};

/* --- the server: started once for the group --- */

static int start_server(void **state)
{
    (void)state;
    return http_server_start();
}

static int stop_server(void **state)
{
    (void)state;
    http_server_stop();
    return 0;
}

static void url_of(char *out, size_t n, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", server_port, path);
}

/* --- per-test loop, engine and guard --- */

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct fx *f = w->data;
    ev_ref(loop); /* it was unreferenced; libev has just stopped it */
    f->guard_fired = 1;
    ev_break(loop, EVBREAK_ALL);
}

static int setup(void **state)
{
    struct fx *f = sl_calloc(1, sizeof(*f));
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->h = sl_http_new(f->loop, NULL);
    ev_timer_init(&f->guard, guard_cb, GUARD_S, 0.);
    f->guard.data = f;
    ev_timer_start(f->loop, &f->guard);
    ev_unref(f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sl_http_free(f->h);
    if (ev_is_active(&f->guard)) {
        ev_ref(f->loop);
        ev_timer_stop(f->loop, &f->guard);
    }
    int left = ev_run(f->loop, EVRUN_NOWAIT); /* nonzero while watchers remain */
    ev_loop_destroy(f->loop);
    free(f);
    assert_int_equal(left, 0);
    return 0;
}

static void use_opts(struct fx *f, const sl_http_opts *opts)
{
    sl_http_free(f->h);
    f->h = sl_http_new(f->loop, opts);
    assert_non_null(f->h);
}

/* Runs the loop until nothing is left in it. */
static void run(struct fx *f)
{
    ev_run(f->loop, 0);
    assert_false(f->guard_fired);
    assert_int_equal(sl_http_in_flight(f->h), 0);
}

struct done {
    int calls;
    sl_http_req *req;
};

static void done_cb(sl_http_req *req, void *priv)
{
    struct done *d = priv;
    assert_ptr_equal(req, d->req);
    d->calls++;
}

/* Sends REQ (already set up) and waits for it. */
static void send_and_wait(struct fx *f, sl_http_req *req)
{
    struct done d = {0, req};
    assert_int_equal(sl_http_start(f->h, req, done_cb, &d), 0);
    assert_int_equal(d.calls, 0); /* never from inside start */
    run(f);
    assert_int_equal(d.calls, 1);
}

static sl_http_req *get(struct fx *f, const char *path, long timeout_ms)
{
    char url[256];
    url_of(url, sizeof(url), path);
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, url);
    sl_http_req_set_timeout(req, timeout_ms);
    send_and_wait(f, req);
    return req;
}

static cJSON *body_json(const sl_http_req *req)
{
    size_t len;
    const char *body = sl_http_body(req, &len);
    cJSON *j = cJSON_ParseWithLength(body, len);
    assert_non_null(j);
    return j;
}

static const char *json_str(const cJSON *j, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- round trips --- */

static void get_round_trip(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(url, sizeof(url), "/echo?x=1");
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, url);
    sl_http_req_add_header(req, "X-Test: abc");
    sl_http_req_add_header(req, "Accept: application/json");
    send_and_wait(f, req);

    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    assert_int_equal(sl_http_status(req), 200);
    assert_string_equal(sl_http_error(req), "");
    assert_false(sl_http_transient(req));
    assert_int_equal(sl_http_connects(req), 1);
    assert_true(sl_http_elapsed_ms(req) >= 0 && sl_http_elapsed_ms(req) < 5000);
    assert_string_equal(sl_http_header(req, "content-type"), "application/json");
    cJSON *j = body_json(req);
    assert_string_equal(json_str(j, "method", NULL), "GET");
    assert_string_equal(json_str(j, "path", NULL), "/echo?x=1");
    assert_string_equal(json_str(j, "headers", "x-test"), "abc");
    assert_string_equal(json_str(j, "headers", "accept"), "application/json");
    assert_string_equal(json_str(j, "headers", "user-agent"), SL_HTTP_USER_AGENT);
    cJSON_Delete(j);
    sl_http_req_free(req);
}

static void post_put_patch_delete_round_trip(void **state)
{
    struct fx *f = *state;
    static const struct {
        enum sl_http_method method;
        const char *name;
        const char *body; /* NULL: none */
        const char *content_length;
    } cases[] = {
        {SL_HTTP_POST, "POST", "{\"text\":\"hi\"}", "13"},
        {SL_HTTP_POST, "POST", NULL, "0"},
        {SL_HTTP_PUT, "PUT", "{}", "2"},
        {SL_HTTP_PUT, "PUT", NULL, "0"},
        {SL_HTTP_PATCH, "PATCH", "{\"a\":1}", "7"},
        {SL_HTTP_DELETE, "DELETE", NULL, NULL},
        {SL_HTTP_DELETE, "DELETE", "{\"why\":1}", "9"},
    };
    char url[256];
    url_of(url, sizeof(url), "/echo");
    sl_http_req *req = sl_http_req_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_http_req_reset(req);
        sl_http_req_set_url(req, url, url);
        sl_http_req_set_method(req, cases[i].method);
        sl_http_req_add_header(req, "X-Case: yes");
        if (cases[i].body)
            sl_http_req_set_body(req, "application/json", cases[i].body, strlen(cases[i].body));
        send_and_wait(f, req);
        assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
        assert_int_equal(sl_http_status(req), 200);
        cJSON *j = body_json(req);
        assert_string_equal(json_str(j, "method", NULL), cases[i].name);
        assert_string_equal(json_str(j, "body", NULL), cases[i].body ? cases[i].body : "");
        assert_string_equal(json_str(j, "headers", "x-case"), "yes");
        if (cases[i].content_length)
            assert_string_equal(json_str(j, "headers", "content-length"), cases[i].content_length);
        else
            assert_null(json_str(j, "headers", "content-length"));
        if (cases[i].body)
            assert_string_equal(json_str(j, "headers", "content-type"), "application/json");
        assert_null(json_str(j, "headers", "expect"));
        cJSON_Delete(j);
        /* All on one kept-alive connection. */
        assert_int_equal(sl_http_connects(req), i == 0 ? 1 : 0);
    }
    sl_http_req_free(req);
}

static void bad_requests_fail_without_callback(void **state)
{
    struct fx *f = *state;
    struct done d = {0, NULL};
    sl_http_req *req = sl_http_req_new();
    d.req = req;
    assert_int_equal(sl_http_start(f->h, req, done_cb, &d), SL_EINVAL); /* no URL */
    char url[256];
    url_of(url, sizeof(url), "/echo");
    sl_http_req_set_url(req, url, NULL);
    sl_http_req_set_body(req, NULL, "x", 1);
    assert_int_equal(sl_http_start(f->h, req, done_cb, &d), SL_EINVAL); /* GET + body */
    sl_http_req_set_method(req, SL_HTTP_POST);
    sl_http_req_add_part(req, "a", "b", 1, NULL, NULL);
    assert_int_equal(sl_http_start(f->h, req, done_cb, &d), SL_EINVAL); /* body + parts */
    assert_int_equal(sl_http_req_add_file_part(req, "f", "/nonexistent/x.pdf", NULL, NULL), SL_EIO);
    assert_int_equal(sl_http_in_flight(f->h), 0);
    run(f);
    assert_int_equal(d.calls, 0);

    /* A refused scheme still reports from the loop, not from start. */
    sl_http_req_reset(req);
    sl_http_req_set_url(req, "ftp://127.0.0.1/file", NULL);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_ERROR);
    assert_false(sl_http_transient(req));
    assert_non_null(strstr(sl_http_error(req), "GET ftp://127.0.0.1/<redacted>: "));
    sl_http_req_free(req);
}

/* --- many at once --- */

struct wave {
    int calls[300];
    int ok;
    long connects;
    int ports[300];
    int n_ports;
};

struct slot {
    struct wave *w;
    int i;
};

static void wave_cb(sl_http_req *req, void *priv)
{
    struct slot *s = priv;
    struct wave *w = s->w;
    w->calls[s->i]++;
    w->connects += sl_http_connects(req);
    if (sl_http_outcome(req) == SL_HTTP_OK && sl_http_status(req) == 200)
        w->ok++;
    const char *port = strstr(sl_http_body(req, NULL), "\"client_port\": ");
    if (port) {
        int p = atoi(port + 15), seen = 0;
        for (int k = 0; k < w->n_ports; k++)
            seen |= w->ports[k] == p;
        if (!seen)
            w->ports[w->n_ports++] = p;
    }
}

static void send_wave(struct fx *f, sl_http_req **reqs, struct wave *w, const char *path)
{
    struct slot slots[300];
    memset(w, 0, sizeof(*w));
    for (int i = 0; i < 300; i++) {
        char url[256];
        url_of(url, sizeof(url), path);
        slots[i].w = w;
        slots[i].i = i;
        sl_http_req_reset(reqs[i]);
        sl_http_req_set_url(reqs[i], url, url);
        sl_http_req_set_timeout(reqs[i], 15000);
        assert_int_equal(sl_http_start(f->h, reqs[i], wave_cb, &slots[i]), 0);
    }
    assert_int_equal(sl_http_in_flight(f->h), 300);
    run(f);
    for (int i = 0; i < 300; i++)
        assert_int_equal(w->calls[i], 1);
    assert_int_equal(w->ok, 300);
}

static void three_hundred_in_flight(void **state)
{
    struct fx *f = *state;
    sl_http_req *reqs[300];
    for (int i = 0; i < 300; i++)
        reqs[i] = sl_http_req_new();
    static struct wave w;

    /* 300 requests of 200 ms each: one after another that is a minute. */
    int64_t t0 = sl_monotonic_us();
    send_wave(f, reqs, &w, "/slow?ms=200");
    int64_t ms = (sl_monotonic_us() - t0) / 1000;
    print_message("300 x /slow?ms=200 in flight at once: %lld ms, %ld connections\n", (long long)ms,
                  w.connects);
    assert_true(ms < 10000);

    /* The next wave finds most of those connections idle in the cache: curl
     * keeps 4 per transfer still in flight, so the last ones to finish close
     * some. */
    send_wave(f, reqs, &w, "/echo");
    print_message("next 300 x /echo: %ld new connections\n", w.connects);
    assert_true(w.connects < 150);

    /* With room for all of them in the cache, the wave after opens none. */
    sl_http_opts opts = {.max_idle_connections = 300};
    use_opts(f, &opts);
    send_wave(f, reqs, &w, "/slow?ms=200");
    assert_int_equal(w.connects, 300);
    send_wave(f, reqs, &w, "/echo");
    print_message("with max_idle_connections 300, next 300 x /echo: %ld new connections\n",
                  w.connects);
    assert_true(w.connects < 10);

    for (int i = 0; i < 300; i++)
        sl_http_req_free(reqs[i]);
}

static void host_limit_shares_connections(void **state)
{
    struct fx *f = *state;
    sl_http_opts opts = {.max_host_connections = 4};
    use_opts(f, &opts);
    sl_http_req *reqs[300];
    for (int i = 0; i < 300; i++)
        reqs[i] = sl_http_req_new();
    static struct wave w;
    send_wave(f, reqs, &w, "/echo");
    print_message("300 x /echo, 4 per host: %ld connections, %d client ports\n", w.connects,
                  w.n_ports);
    assert_true(w.connects >= 1 && w.connects <= 4);
    assert_true(w.n_ports >= 1 && w.n_ports <= 4);
    for (int i = 0; i < 300; i++)
        sl_http_req_free(reqs[i]);
}

/* --- failures --- */

static void total_timeout(void **state)
{
    struct fx *f = *state;
    sl_http_req *req = get(f, "/slow?ms=5000", 500);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_TIMEOUT);
    assert_true(sl_http_transient(req));
    assert_true(sl_http_elapsed_ms(req) >= 450 && sl_http_elapsed_ms(req) < 1500);
    assert_non_null(strstr(sl_http_error(req), "timed out"));
    sl_http_req_free(req);
}

static void subsecond_timeout_is_honoured(void **state)
{
    struct fx *f = *state;
    unsigned before = ev_iteration(f->loop);
    sl_http_req *req = get(f, "/slow?ms=5000", 150);
    unsigned iterations = ev_iteration(f->loop) - before;
    assert_int_equal(sl_http_outcome(req), SL_HTTP_TIMEOUT);
    assert_true(sl_http_elapsed_ms(req) >= 140 && sl_http_elapsed_ms(req) < 700);
    /* A timer armed at 150 / 1000 == 0 s would spin the loop until then. */
    print_message("150 ms timeout: %lld ms, %u loop iterations\n",
                  (long long)sl_http_elapsed_ms(req), iterations);
    assert_true(iterations < 50);
    sl_http_req_free(req);
}

static int unused_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s); /* bound, never listened: connects are refused */
    return ntohs(a.sin_port);
}

static void connection_refused(void **state)
{
    struct fx *f = *state;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", unused_port());
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, NULL);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_CONNECT);
    assert_true(sl_http_transient(req));
    assert_int_equal(sl_http_status(req), 0);
    print_message("refused: %s\n", sl_http_error(req));
    sl_http_req_free(req);
}

/* A request past its send-by time is not written at all: the server of
 * this test (a bare listening socket) gets a connection and no byte. One
 * still in time goes out as usual. */
static void late_request_is_never_written(void **state)
{
    struct fx *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, 4), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/late", ntohs(a.sin_port));
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, NULL);
    sl_http_req_set_method(req, SL_HTTP_POST);
    sl_http_req_set_body(req, "application/json", "{}", 2);
    sl_http_req_set_send_by(req, sl_monotonic_us() - 1000);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_LATE);
    assert_string_equal(sl_http_outcome_name(SL_HTTP_LATE), "late");
    assert_non_null(strstr(sl_http_error(req), "had passed"));
    int c = accept(s, NULL, NULL);
    assert_true(c >= 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64];
    assert_true(recv(c, buf, sizeof buf, 0) <= 0); /* closed or silent, never a request */
    close(c);
    close(s);

    /* the same request in time, to the test server */
    sl_http_req_reset(req);
    url_of(url, sizeof(url), "/echo");
    sl_http_req_set_url(req, url, NULL);
    sl_http_req_set_send_by(req, sl_monotonic_us() + 5000000);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    assert_int_equal(sl_http_status(req), 200);
    sl_http_req_free(req);
}

/* Reads one request's head (up to the blank line) from C into BUF; returns
 * its length, or 0 when C closed or said nothing within TIMEOUT_MS. */
static size_t read_head(int c, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            break;
        ssize_t r = recv(c, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return n;
    }
    return 0;
}

/* The server of reused_connection_dies: on its first connection it answers
 * one request with keep-alive, then reads the next one and closes without
 * a word, as a server that acted and crashed (or a proxy that dropped it). */
struct dying {
    int listener;
    int requests; /* request heads read on that connection */
};

static void *dying_server(void *arg)
{
    struct dying *d = arg;
    char buf[4096];
    int c = accept(d->listener, NULL, NULL);
    if (c < 0)
        return NULL;
    if (read_head(c, buf, sizeof buf, 5000)) {
        d->requests++;
        static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if (send(c, ok, sizeof ok - 1, 0) < 0)
            perror("send");
    }
    if (read_head(c, buf, sizeof buf, 5000))
        d->requests++;
    close(c);
    return NULL;
}

/* curl sends a request again, silently, when a reused connection dies
 * before any answer; the engine must not let it (each copy that reaches a
 * platform must hold a rate-limit place). The second request's connection
 * dies after it was read: it ends SL_HTTP_RESENT, and no other connection
 * carries a copy of it. */
static void reused_connection_dies(void **state)
{
    struct fx *f = *state;
    struct dying d = {.listener = socket(AF_INET, SOCK_STREAM, 0)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(d.listener, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(d.listener, 4), 0);
    assert_int_equal(getsockname(d.listener, (struct sockaddr *)&a, &len), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, dying_server, &d), 0);

    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/once", ntohs(a.sin_port));
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, NULL);
    sl_http_req_set_timeout(req, 3000);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);

    sl_http_req_reset(req); /* the same handle: curl reuses the connection */
    sl_http_req_set_url(req, url, NULL);
    sl_http_req_set_method(req, SL_HTTP_POST);
    sl_http_req_set_body(req, "application/json", "{\"nonce\":\"n1\"}", 14);
    sl_http_req_set_timeout(req, 3000);
    send_and_wait(f, req);
    pthread_join(th, NULL);
    print_message("reused connection died: %s\n", sl_http_error(req));
    assert_int_equal(d.requests, 2);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_RESENT);
    assert_string_equal(sl_http_outcome_name(SL_HTTP_RESENT), "resent");
    assert_true(sl_http_transient(req));
    assert_non_null(strstr(sl_http_error(req), "not sent again"));

    /* any later connection (curl's retry opens one) carried no request */
    int copies = 0;
    for (;;) {
        struct pollfd p = {.fd = d.listener, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            break;
        int c = accept(d.listener, NULL, NULL);
        if (c < 0)
            break;
        char buf[4096];
        copies += read_head(c, buf, sizeof buf, 200) > 0;
        close(c);
    }
    assert_int_equal(copies, 0);
    close(d.listener);
    sl_http_req_free(req);
}

static void reset_empty_and_partial(void **state)
{
    struct fx *f = *state;
    static const char *const paths[] = {"/reset", "/reset?mode=close", "/partial"};
    for (int i = 0; i < 3; i++) {
        sl_http_req *req = get(f, paths[i], 5000);
        print_message("%s: %s\n", paths[i], sl_http_error(req));
        assert_int_equal(sl_http_outcome(req), SL_HTTP_RESET);
        assert_true(sl_http_transient(req));
        sl_http_req_free(req);
    }
}

static void response_cap(void **state)
{
    struct fx *f = *state;
    sl_http_opts opts = {.max_response = 65536};
    use_opts(f, &opts);

    sl_http_req *req = get(f, "/big?bytes=65536", 5000); /* exactly the cap */
    size_t len;
    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    sl_http_body(req, &len);
    assert_int_equal(len, 65536);
    sl_http_req_free(req);

    static const char *const over[] = {"/big?bytes=65537", "/big?bytes=300000&chunked=1",
                                       "/big?bytes=65537&chunked=1"};
    for (int i = 0; i < 3; i++) {
        req = get(f, over[i], 5000);
        assert_int_equal(sl_http_outcome(req), SL_HTTP_TOOBIG);
        assert_false(sl_http_transient(req));
        sl_http_body(req, &len);
        assert_true(len <= 65536);
        assert_non_null(strstr(sl_http_error(req), "response over 65536 bytes"));
        sl_http_req_free(req);
    }
}

static void status_headers_and_transience(void **state)
{
    struct fx *f = *state;
    sl_http_req *req = get(f, "/status?code=503", 5000);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    assert_int_equal(sl_http_status(req), 503);
    assert_true(sl_http_transient(req));
    assert_string_equal(sl_http_error(req), "");
    sl_http_req_free(req);

    req = get(f, "/status?code=404", 5000);
    assert_int_equal(sl_http_status(req), 404);
    assert_false(sl_http_transient(req));
    sl_http_req_free(req);

    req = get(f, "/status?code=429&retry_after=7", 5000);
    assert_int_equal(sl_http_status(req), 429);
    assert_false(sl_http_transient(req));
    assert_string_equal(sl_http_header(req, "Retry-After"), "7");
    assert_string_equal(sl_http_header(req, "retry-after"), "7");
    assert_string_equal(sl_http_header(req, "RETRY-AFTER"), "7");
    assert_string_equal(sl_http_header(req, "x-ratelimit-remaining"), "0");
    assert_string_equal(sl_http_header(req, "X-RateLimit-Reset"), "1.5");
    assert_string_equal(sl_http_header(req, "content-length"), "13");
    assert_null(sl_http_header(req, "X-Nope"));
    assert_null(sl_http_header(req, "Retry"));
    sl_http_req_free(req);

    req = get(f, "/status?code=200", 5000);
    assert_false(sl_http_transient(req));
    assert_null(sl_http_header(req, "Retry-After"));
    sl_http_req_free(req);
}

/* --- cancel and teardown --- */

struct cancel_ctx {
    sl_http *h;
    sl_http_req *req;
    sl_http **hp; /* non-NULL: free the engine instead */
};

static void cancel_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cancel_ctx *c = w->data;
    if (c->hp) {
        sl_http_free(*c->hp);
        *c->hp = NULL;
    } else {
        sl_http_cancel(c->h, c->req);
        sl_http_cancel(c->h, c->req); /* twice is harmless */
    }
}

static void cancel_in_flight(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(url, sizeof(url), "/slow?ms=3000");
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, url);
    sl_http_cancel(f->h, req); /* not in flight: nothing */

    struct done d = {0, req};
    assert_int_equal(sl_http_start(f->h, req, done_cb, &d), 0);
    struct cancel_ctx c = {f->h, req, NULL};
    ev_timer t;
    ev_timer_init(&t, cancel_timer_cb, 0.05, 0.);
    t.data = &c;
    ev_timer_start(f->loop, &t);
    int64_t t0 = sl_monotonic_us();
    run(f); /* returns: the cancel left no watcher behind */
    assert_true(sl_monotonic_us() - t0 < 2000000);
    assert_int_equal(d.calls, 0);

    /* It keeps its settings and can go again. */
    url_of(url, sizeof(url), "/echo");
    sl_http_req_set_url(req, url, url);
    send_and_wait(f, req);
    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    sl_http_req_free(req);
}

static void free_engine_with_requests_in_flight(void **state)
{
    struct fx *f = *state;
    char url[256];
    url_of(url, sizeof(url), "/slow?ms=3000");
    sl_http_req *reqs[3];
    struct done d[3];
    for (int i = 0; i < 3; i++) {
        reqs[i] = sl_http_req_new();
        d[i] = (struct done){0, reqs[i]};
        sl_http_req_set_url(reqs[i], url, url);
        assert_int_equal(sl_http_start(f->h, reqs[i], done_cb, &d[i]), 0);
    }
    struct cancel_ctx c = {NULL, NULL, &f->h};
    ev_timer t;
    ev_timer_init(&t, cancel_timer_cb, 0.05, 0.);
    t.data = &c;
    ev_timer_start(f->loop, &t);
    ev_run(f->loop, 0);
    assert_false(f->guard_fired);
    assert_null(f->h);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d[i].calls, 0);
        sl_http_req_free(reqs[i]);
    }
}

struct free_inside {
    struct fx *f;
    int calls;
};

static void free_inside_cb(sl_http_req *req, void *priv)
{
    (void)req;
    struct free_inside *fi = priv;
    fi->calls++;
    sl_http_free(fi->f->h); /* finished after this callback returns */
    fi->f->h = NULL;
}

static void free_engine_inside_callback(void **state)
{
    struct fx *f = *state;
    struct free_inside fi = {f, 0};
    char url[256];
    sl_http_req *fast = sl_http_req_new(), *slow = sl_http_req_new();
    url_of(url, sizeof(url), "/echo");
    sl_http_req_set_url(fast, url, url);
    url_of(url, sizeof(url), "/slow?ms=3000");
    sl_http_req_set_url(slow, url, url);
    assert_int_equal(sl_http_start(f->h, slow, free_inside_cb, &fi), 0);
    assert_int_equal(sl_http_start(f->h, fast, free_inside_cb, &fi), 0);
    ev_run(f->loop, 0);
    assert_false(f->guard_fired);
    assert_null(f->h);
    assert_int_equal(fi.calls, 1);
    assert_int_equal(sl_http_outcome(fast), SL_HTTP_OK);
    sl_http_req_free(fast);
    sl_http_req_free(slow);
}

/* Past 32 in flight the engine spreads requests over several curl multi
 * handles (shards): cancelling, restarting and freeing the engine from a
 * callback work across all of them. */
enum { SPREAD = 100 };

struct spread {
    struct fx *f;
    int calls[SPREAD];
    int total, ok;
    int free_at; /* free the engine in this callback (1-based), 0: never */
};

struct spread_slot {
    struct spread *s;
    int i;
};

static void spread_cb(sl_http_req *req, void *priv)
{
    struct spread_slot *slot = priv;
    struct spread *s = slot->s;
    s->calls[slot->i]++;
    s->total++;
    if (sl_http_outcome(req) == SL_HTTP_OK && sl_http_status(req) == 200)
        s->ok++;
    if (s->total == s->free_at) {
        sl_http_free(s->f->h);
        s->f->h = NULL;
    }
}

struct cancel_many {
    sl_http *h;
    sl_http_req **reqs;
};

static void cancel_many_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct cancel_many *c = w->data;
    for (int i = 0; i < SPREAD; i += 3)
        sl_http_cancel(c->h, c->reqs[i]);
}

static void shards_cancel_restart_and_free(void **state)
{
    struct fx *f = *state;
    sl_http_req *reqs[SPREAD];
    struct spread_slot slots[SPREAD];
    static struct spread s;
    char url[256];
    url_of(url, sizeof(url), "/slow?ms=300");
    memset(&s, 0, sizeof(s));
    s.f = f;
    for (int i = 0; i < SPREAD; i++) {
        reqs[i] = sl_http_req_new();
        slots[i] = (struct spread_slot){&s, i};
        sl_http_req_set_url(reqs[i], url, url);
        sl_http_req_set_timeout(reqs[i], 15000);
        assert_int_equal(sl_http_start(f->h, reqs[i], spread_cb, &slots[i]), 0);
    }
    assert_int_equal(sl_http_in_flight(f->h), SPREAD);

    /* Every third one is cancelled while in flight, in every shard. */
    struct cancel_many c = {f->h, reqs};
    ev_timer t;
    ev_timer_init(&t, cancel_many_cb, 0.05, 0.);
    t.data = &c;
    ev_timer_start(f->loop, &t);
    run(f);
    for (int i = 0; i < SPREAD; i++)
        assert_int_equal(s.calls[i], i % 3 ? 1 : 0);
    assert_int_equal(s.ok, SPREAD - (SPREAD + 2) / 3);

    /* All go again; the first answer frees the engine: no other callback,
     * and nothing is left in the loop. */
    memset(&s, 0, sizeof(s));
    s.f = f;
    s.free_at = 1;
    for (int i = 0; i < SPREAD; i++)
        assert_int_equal(sl_http_start(f->h, reqs[i], spread_cb, &slots[i]), 0);
    ev_run(f->loop, 0);
    assert_false(f->guard_fired);
    assert_null(f->h);
    assert_int_equal(s.total, 1);
    for (int i = 0; i < SPREAD; i++)
        sl_http_req_free(reqs[i]);
}

/* --- multipart --- */

static const cJSON *part_named(const cJSON *j, const char *name)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(j, "parts"))
    {
        const char *n = json_str(p, "name", NULL);
        if (n && strcmp(n, name) == 0)
            return p;
    }
    fail_msg("no part %s", name);
    return NULL;
}

static void multipart_upload(void **state)
{
    struct fx *f = *state;
    char path[] = "/tmp/sluice-test-http-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[1234];
    memset(data, 'p', sizeof(data));
    assert_int_equal(write(fd, data, sizeof(data)), sizeof(data));
    close(fd);

    char url[256];
    url_of(url, sizeof(url), "/multipart");
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, url, url);
    sl_http_req_set_method(req, SL_HTTP_POST);
    sl_http_req_add_part(req, "chat_id", "42", 2, NULL, NULL);
    static char pdf[5000];
    memset(pdf, 'x', sizeof(pdf));
    memcpy(pdf, "%PDF-1.7", 8);
    sl_http_req_add_part(req, "document", pdf, sizeof(pdf), "report.pdf", "application/pdf");
    assert_int_equal(sl_http_req_add_file_part(req, "photo", path, "cat.jpg", "image/jpeg"), 0);
    assert_int_equal(sl_http_req_add_file_part(req, "raw", path, NULL, NULL), 0);
    send_and_wait(f, req);
    unlink(path);

    assert_int_equal(sl_http_outcome(req), SL_HTTP_OK);
    assert_int_equal(sl_http_status(req), 200);
    cJSON *j = body_json(req);
    assert_non_null(strstr(json_str(j, "content_type", NULL), "multipart/form-data; boundary="));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "parts")), 4);

    const cJSON *p = part_named(j, "chat_id");
    assert_string_equal(json_str(p, "text", NULL), "42");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(p, "filename")));
    p = part_named(j, "document");
    assert_string_equal(json_str(p, "filename", NULL), "report.pdf");
    assert_string_equal(json_str(p, "content_type", NULL), "application/pdf");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "size")->valueint, 5000);
    p = part_named(j, "photo");
    assert_string_equal(json_str(p, "filename", NULL), "cat.jpg");
    assert_string_equal(json_str(p, "content_type", NULL), "image/jpeg");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "size")->valueint, 1234);
    p = part_named(j, "raw");
    assert_string_equal(json_str(p, "filename", NULL), strrchr(path, '/') + 1);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "size")->valueint, 1234);
    cJSON_Delete(j);
    sl_http_req_free(req);
}

/* --- secrets --- */

static void token_never_in_error_text(void **state)
{
    struct fx *f = *state;
    sl_http_opts opts = {.max_response = 1000};
    use_opts(f, &opts);
    char refused[64];
    snprintf(refused, sizeof(refused), "127.0.0.1:%d", unused_port());
    char here[64];
    snprintf(here, sizeof(here), "127.0.0.1:%d", server_port);
    static const struct {
        const char *host; /* NULL: the test server */
        const char *tail;
        long timeout_ms;
        enum sl_http_outcome outcome;
    } cases[] = {
        {NULL, "/slow?ms=3000", 200, SL_HTTP_TIMEOUT},
        {NULL, "/reset", 5000, SL_HTTP_RESET},
        {NULL, "/big?bytes=5000", 5000, SL_HTTP_TOOBIG},
        {"refused", "/sendMessage", 5000, SL_HTTP_CONNECT},
    };
    sl_http_req *req = sl_http_req_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *host = cases[i].host ? refused : here;
        char url[256], log_url[256];
        snprintf(url, sizeof(url), "http://%s/bot%s%s", host, FAKE_TOKEN, cases[i].tail);
        snprintf(log_url, sizeof(log_url), "http://%s/bot<token>%s", host, cases[i].tail);
        for (int given = 0; given < 2; given++) {
            sl_http_req_reset(req);
            sl_http_req_set_url(req, url, given ? log_url : NULL);
            sl_http_req_set_timeout(req, cases[i].timeout_ms);
            send_and_wait(f, req);
            const char *err = sl_http_error(req);
            print_message("%s\n", err);
            assert_int_equal(sl_http_outcome(req), cases[i].outcome);
            assert_null(strstr(err, "FAKEsecret"));
            assert_null(strstr(sl_http_req_log_url(req), "FAKEsecret"));
            if (given) {
                assert_string_equal(sl_http_req_log_url(req), log_url);
                assert_non_null(strstr(err, log_url));
            } else {
                char shown[128];
                snprintf(shown, sizeof(shown), "GET http://%s/<redacted>: ", host);
                assert_non_null(strstr(err, shown));
            }
        }
    }

    /* Userinfo is a secret too; so is the path when curl rejects the URL. */
    sl_http_req_reset(req);
    sl_http_req_set_url(req, "ftp://user:pa55word@127.0.0.1/bot" FAKE_TOKEN "/x", NULL);
    send_and_wait(f, req);
    assert_string_equal(sl_http_req_log_url(req), "ftp://127.0.0.1/<redacted>");
    assert_null(strstr(sl_http_error(req), "pa55word"));
    assert_null(strstr(sl_http_error(req), "FAKEsecret"));
    sl_http_req_free(req);
}

/* --- reuse of one request object --- */

struct chain {
    struct fx *f;
    int n, target, ok;
    long connects;
    size_t heap_at_100;
    size_t heap_at_end;
    char url[256];
};

static size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}

static void chain_cb(sl_http_req *req, void *priv)
{
    struct chain *c = priv;
    c->n++;
    c->connects += sl_http_connects(req);
    if (sl_http_outcome(req) == SL_HTTP_OK && sl_http_status(req) == 200)
        c->ok++;
    if (c->n == 100)
        c->heap_at_100 = heap_in_use();
    if (c->n == c->target) {
        c->heap_at_end = heap_in_use();
        return;
    }
    /* Reset and restart from inside the callback, as a worker does. */
    sl_http_req_reset(req);
    sl_http_req_set_url(req, c->url, c->url);
    sl_http_req_set_method(req, SL_HTTP_POST);
    sl_http_req_add_header(req, "X-Seq: 1");
    sl_http_req_set_body(req, "application/json", "{\"chat_id\":42,\"text\":\"hello\"}", 30);
    assert_int_equal(sl_http_start(c->f->h, req, chain_cb, c), 0);
}

static void reuse_one_request_1000_times(void **state)
{
    struct fx *f = *state;
    struct chain c = {.f = f, .target = 1000};
    url_of(c.url, sizeof(c.url), "/echo");
    sl_http_req *req = sl_http_req_new();
    sl_http_req_set_url(req, c.url, c.url);
    assert_int_equal(sl_http_start(f->h, req, chain_cb, &c), 0);
    run(f);
    assert_int_equal(c.n, 1000);
    assert_int_equal(c.ok, 1000);
    assert_int_equal(c.connects, 1); /* one kept-alive connection throughout */
    long growth = (long)c.heap_at_end - (long)c.heap_at_100;
    print_message("heap in use, request 100 -> 1000: %+ld bytes\n", growth);
#if !defined(__SANITIZE_ADDRESS__) /* ASan's allocator is not malloc's */
    assert_true(growth < 16384);
#endif
    sl_http_req_free(req);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(300); /* backstop for a hang outside the loop (the server's start) */
    /* The requests go to 127.0.0.1; a proxy from the environment must not. */
    setenv("no_proxy", "*", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(post_put_patch_delete_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_requests_fail_without_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(three_hundred_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(host_limit_shares_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(total_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(subsecond_timeout_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(late_request_is_never_written, setup, teardown),
        cmocka_unit_test_setup_teardown(reused_connection_dies, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_empty_and_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(response_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(status_headers_and_transience, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(free_engine_with_requests_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(free_engine_inside_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(shards_cancel_restart_and_free, setup, teardown),
        cmocka_unit_test_setup_teardown(multipart_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(token_never_in_error_text, setup, teardown),
        cmocka_unit_test_setup_teardown(reuse_one_request_1000_times, setup, teardown),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}

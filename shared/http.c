/* http.c — see http.h.
 *
 * The pattern of curl's docs/examples/evhiperfifo.c: curl tells us which
 * sockets to watch (socket_cb, one ev_io each, kept with curl_multi_assign)
 * and when to wake it (timer_fn, one ev_timer); we hand every event back with
 * curl_multi_socket_action and then collect finished transfers in one place,
 * drain(). timer_fn only arms the timer, even for a timeout of 0, so nothing
 * completes inside sl_http_start and curl is never re-entered from its own
 * callbacks.
 *
 * Shards. For each transfer curl (7.88) walks the host's connection list to
 * find an idle connection, and walks the whole connection cache again when
 * the transfer is removed. Over plain HTTP/1.1, 1,000 requests in flight are
 * 1,000 connections, and those walks made a request cost 140k instructions
 * instead of 97k (callgrind, sluice-fake-platform). So the engine spreads
 * requests over several multi handles, each with its own connection cache,
 * and fills one before it uses the next: while SHARD_FILL or fewer are in
 * flight they all go to shard 0, and at 1,000 each walk covers ~SHARD_FILL
 * connections. A shard with a free slot also has an idle connection (it
 * opened one per request it had in flight at its peak), so over HTTP/1.1
 * sharding opens hardly any extra connections (a client with 1,000 in
 * flight had 1,071 descriptors open instead of 1,009); over HTTP/2 each
 * shard in use has a connection of its own. A connection limit (max_host_connections,
 * max_total_connections) keeps one shard, so that the limit holds as set. */
#include "http.h"
#include "util.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_RESPONSE (1024 * 1024)
/* curl's receive buffer, allocated for each transfer. Chat APIs answer in
 * one or two KB (the headers go to a buffer of their own); 2 KB instead of
 * curl's 16 KB saves 14 MB at 1,000 requests in flight (6 MB against the
 * 8 KB used before), and a larger answer is read in more calls. */
#define RECV_BUFFER 2048
/* curl sends "Expect: 100-continue" (and waits up to a second for a 100
 * that many servers never send) for bodies over 1 MiB and for multipart
 * ones; below that, suppressing it only costs header scans. */
#define EXPECT_THRESHOLD (1024 * 1024)

#define SHARD_FILL 32 /* requests a shard takes before the next one is used */
#define MAX_SHARDS 64 /* past SHARD_FILL * MAX_SHARDS, the least loaded takes more */

/* One curl multi handle and its timer. */
struct shard {
    sl_http *h;
    CURLM *multi;
    ev_timer timer; /* curl's timeout; timer.data = the shard */
    int n_reqs;     /* in flight here */
};

/* One socket curl asked us to watch. Kept on a free list when curl is done
 * with it: sockets come and go with connections, the structs stay. */
struct http_sock {
    ev_io io;                   /* io.data = the shard */
    struct http_sock *next_all; /* every struct made, for sl_http_free */
    struct http_sock *next_free;
};

struct sl_http {
    struct ev_loop *loop;
    struct shard *shards[MAX_SHARDS]; /* made as needed; [0] always */
    int n_shards;
    int max_shards; /* 1 when a connection limit is set */
    long max_host_connections, max_total_connections, max_idle_connections;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_response;
    char *user_agent;
    sl_http_req *reqs; /* in flight, doubly linked */
    int n_reqs;
    struct http_sock *socks;      /* all */
    struct http_sock *free_socks; /* unused */
    int draining;                 /* inside drain(): callbacks are running */
    int closing;                  /* sl_http_free was called; free after drain */
};

struct sl_http_req {
    CURL *easy;       /* CURLOPT_PRIVATE points back here */
    sl_http *h;       /* engine while in flight, else NULL */
    struct shard *sh; /* its shard while in flight */
    sl_http_req *prev, *next;
    sl_http_done_cb *cb;
    void *priv;

    /* settings */
    enum sl_http_method method;
    sl_buf url;     /* the real one: for curl only */
    sl_buf log_url; /* the one to show */
    sl_buf headers; /* "Name: value\0" each */
    int n_headers;
    struct curl_slist *slist; /* nodes pointing into headers, built at start */
    int slist_cap;
    sl_buf content_type; /* of the body; empty: none given */
    sl_buf body;
    int has_body;
    curl_mime *mime;              /* NULL: no parts */
    long timeout_ms;              /* 0: the engine's */
    int fresh;                    /* on a new connection: never re-sent by curl */
    int64_t send_by_us;           /* 0, or the latest moment to write the request */
    int prereqs;                  /* times curl was about to write it in this transfer */
    enum sl_http_outcome aborted; /* why prereq_cb stopped it (LATE, RESENT), else OK */

    /* result */
    enum sl_http_outcome outcome;
    long status;
    sl_buf resp_body;
    sl_buf resp_headers; /* "name\0value\0" each, final response only */
    size_t max_response; /* the engine's, copied at start for the callbacks */
    int too_big;         /* a callback refused data over max_response */
    int64_t started_us;
    int64_t elapsed_ms;
    long connects;
    sl_buf error;
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
};

static const char *const method_names[] = {"GET", "POST", "PATCH", "PUT", "DELETE"};

/* curl failing to allocate: abort, as sl_malloc does. */
static void fatal(const char *what)
{
    fprintf(stderr, "sluice: %s failed: out of memory\n", what);
    abort();
}

/* Shared by every handle of the process: the DNS cache and TLS sessions, so
 * that shards resolve a host once and resume each other's TLS sessions, and
 * no handle keeps a session cache of its own (600 bytes each). One loop
 * thread uses it, so it needs no lock functions. Never freed, like curl's
 * global state. */
static CURLSH *share;

static void global_init(void)
{
    /* Not thread-safe before curl 7.84; we call it from the loop thread. */
    if (share)
        return;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        fatal("curl_global_init");
    CURLSH *sh = curl_share_init();
    if (!sh || curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
        fatal("curl_share_init");
    share = sh;
}

static const char *buf_str(const sl_buf *b)
{
    return b->len ? b->data : "";
}

/* --- loop glue --- */

static void drain(struct shard *sh);

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct shard *sh = w->data;
    int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
                 (revents & EV_WRITE ? CURL_CSELECT_OUT : 0) |
                 (revents & EV_ERROR ? CURL_CSELECT_ERR : 0);
    int running;
    /* W may be released inside this call (CURL_POLL_REMOVE): read it first. */
    curl_multi_socket_action(sh->multi, w->fd, action, &running);
    drain(sh);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct shard *sh = w->data;
    int running;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain(sh);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, anything else (0 included) arms
 * it, in seconds as a double: integer division would make 150 ms 0. */
static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct shard *sh = userp;
    ev_timer_stop(sh->h->loop, &sh->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&sh->timer, timeout_ms / 1000.0, 0.);
        ev_timer_start(sh->h->loop, &sh->timer);
    }
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch S for WHAT. curl calls this with
 * CURL_POLL_REMOVE before it closes a socket, so a reused fd number never
 * meets a stale watcher. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct shard *sh = userp;
    sl_http *h = sh->h;
    struct http_sock *hs = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (hs) {
            ev_io_stop(h->loop, &hs->io);
            hs->next_free = h->free_socks;
            h->free_socks = hs;
        }
        return 0;
    }
    if (!hs) {
        hs = h->free_socks;
        if (hs) {
            h->free_socks = hs->next_free;
        } else {
            hs = sl_calloc(1, sizeof(*hs));
            hs->next_all = h->socks;
            h->socks = hs;
        }
        ev_io_init(&hs->io, io_cb, s, 0);
        hs->io.data = sh;
        curl_multi_assign(sh->multi, s, hs);
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    /* ev_io_set adds a flag of its own to io.events: compare the two bits. */
    if (ev_is_active(&hs->io) && (hs->io.events & (EV_READ | EV_WRITE)) == events)
        return 0;
    ev_io_stop(h->loop, &hs->io);
    if (events) {
        ev_io_set(&hs->io, s, events);
        ev_io_start(h->loop, &hs->io);
    }
    return 0;
}

/* --- the engine --- */

/* A new shard for H, or NULL if curl cannot make a multi handle. */
static struct shard *shard_new(sl_http *h)
{
    CURLM *multi = curl_multi_init();
    if (!multi)
        return NULL;
    struct shard *sh = sl_calloc(1, sizeof(*sh));
    sh->h = h;
    sh->multi = multi;
    ev_init(&sh->timer, timer_cb);
    sh->timer.data = sh;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, sh);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (h->max_host_connections > 0)
        curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->max_host_connections);
    if (h->max_total_connections > 0)
        curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, h->max_total_connections);
    if (h->max_idle_connections > 0)
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, h->max_idle_connections);
    h->shards[h->n_shards++] = sh;
    return sh;
}

/* The first shard with room, else a new one, else the least loaded. */
static struct shard *pick_shard(sl_http *h)
{
    struct shard *best = NULL;
    for (int i = 0; i < h->n_shards; i++) {
        struct shard *sh = h->shards[i];
        if (sh->n_reqs < SHARD_FILL)
            return sh;
        if (!best || sh->n_reqs < best->n_reqs)
            best = sh;
    }
    struct shard *sh = h->n_shards < h->max_shards ? shard_new(h) : NULL;
    return sh ? sh : best;
}

sl_http *sl_http_new(struct ev_loop *loop, const sl_http_opts *opts)
{
    static const sl_http_opts none;
    if (!opts)
        opts = &none;
    global_init();

    sl_http *h = sl_calloc(1, sizeof(*h));
    h->loop = loop;
    h->connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    h->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    h->max_response = opts->max_response ? opts->max_response : DEFAULT_MAX_RESPONSE;
    h->max_host_connections = opts->max_host_connections;
    h->max_total_connections = opts->max_total_connections;
    h->max_idle_connections = opts->max_idle_connections;
    h->max_shards =
        opts->max_host_connections > 0 || opts->max_total_connections > 0 ? 1 : MAX_SHARDS;
    if (!shard_new(h)) {
        free(h);
        return NULL;
    }
    h->user_agent = sl_strdup(opts->user_agent ? opts->user_agent : SL_HTTP_USER_AGENT);
    return h;
}

static void detach(sl_http *h, sl_http_req *req)
{
    curl_multi_remove_handle(req->sh->multi, req->easy);
    req->sh->n_reqs--;
    req->sh = NULL;
    if (req->prev)
        req->prev->next = req->next;
    else
        h->reqs = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->h = NULL;
    h->n_reqs--;
}

static void destroy(sl_http *h)
{
    while (h->reqs)
        detach(h, h->reqs);
    for (int i = 0; i < h->n_shards; i++) {
        struct shard *sh = h->shards[i];
        /* May call socket_cb for the last sockets; the watchers are still ours. */
        curl_multi_cleanup(sh->multi);
        ev_timer_stop(h->loop, &sh->timer);
        free(sh);
    }
    struct http_sock *hs = h->socks;
    while (hs) {
        struct http_sock *next = hs->next_all;
        ev_io_stop(h->loop, &hs->io);
        free(hs);
        hs = next;
    }
    free(h->user_agent);
    free(h);
}

void sl_http_free(sl_http *h)
{
    if (!h)
        return;
    if (h->draining) {
        /* Inside a done callback: drain() still uses H; it frees it after. */
        h->closing = 1;
        while (h->reqs)
            detach(h, h->reqs);
        return;
    }
    destroy(h);
}

int sl_http_in_flight(const sl_http *h)
{
    return h->n_reqs;
}

/* --- results --- */

/* ABORTED: why prereq_cb stopped the transfer (SL_HTTP_OK if it did not),
 * the only callback of ours that aborts one (the data callbacks' refusals
 * come back as CURLE_WRITE_ERROR). */
static enum sl_http_outcome classify(CURLcode rc, int too_big, enum sl_http_outcome aborted)
{
    if (aborted != SL_HTTP_OK && rc == CURLE_ABORTED_BY_CALLBACK)
        return aborted;
    switch (rc) {
    case CURLE_OK:
        return SL_HTTP_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return SL_HTTP_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
        return SL_HTTP_CONNECT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return SL_HTTP_RESET;
    case CURLE_FILESIZE_EXCEEDED:
        return SL_HTTP_TOOBIG;
    case CURLE_WRITE_ERROR:
        return too_big ? SL_HTTP_TOOBIG : SL_HTTP_ERROR;
    default:
        return SL_HTTP_ERROR;
    }
}

/* Appends SRC to OUT with each occurrence of SECRET replaced by WITH. */
static void append_replacing(sl_buf *out, const char *src, const char *secret, const char *with)
{
    size_t n = strlen(secret);
    const char *p;
    while (n && (p = strstr(src, secret))) {
        sl_buf_append(out, src, p - src);
        sl_buf_puts(out, with);
        src = p + n;
    }
    sl_buf_puts(out, src);
}

/* The parts of the real URL that may carry a secret: the userinfo and
 * everything from the path on. Offsets into URL; empty when absent. */
static void url_secrets(const char *url, size_t *user_off, size_t *user_len, size_t *path_off)
{
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    const char *path = auth + strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', path - auth);
    *user_off = auth - url;
    *user_len = at ? (size_t)(at - auth) + 1 : 0;
    *path_off = scheme ? (size_t)(path - url) : 0;
}

/* req->error = "METHOD log_url: MESSAGE", with the real URL, its path and
 * its userinfo scrubbed from MESSAGE in case curl quoted them. */
static void set_error(sl_http_req *req, const char *message)
{
    const char *url = buf_str(&req->url);
    size_t user_off, user_len, path_off;
    url_secrets(url, &user_off, &user_len, &path_off);
    char *user = sl_strndup(url + user_off, user_len);
    const char *path = strlen(url + path_off) > 1 ? url + path_off : "";
    /* The whole URL first: it contains the others. */
    const char *secrets[][2] = {{url, buf_str(&req->log_url)}, {path, "/<redacted>"}, {user, ""}};
    sl_buf in = {0}, out = {0};
    sl_buf_puts(&in, message);
    for (int i = 0; i < 3; i++) {
        sl_buf_reset(&out);
        append_replacing(&out, buf_str(&in), secrets[i][0], secrets[i][1]);
        sl_buf swap = in;
        in = out;
        out = swap;
    }
    sl_buf_reset(&req->error);
    sl_buf_printf(&req->error, "%s %s: %s", method_names[req->method], buf_str(&req->log_url),
                  buf_str(&in));
    free(user);
    sl_buf_deinit(&in);
    sl_buf_deinit(&out);
}

/* Records the result of REQ's finished transfer, detaches it and calls back. */
static void finish(sl_http *h, sl_http_req *req, CURLcode rc)
{
    req->outcome = classify(rc, req->too_big, req->aborted);
    req->elapsed_ms = (sl_monotonic_us() - req->started_us) / 1000;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
    curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &req->connects);
    if (req->outcome == SL_HTTP_TOOBIG) {
        char msg[96];
        snprintf(msg, sizeof(msg), "response over %zu bytes", req->max_response);
        set_error(req, msg);
    } else if (req->outcome == SL_HTTP_LATE) {
        set_error(req, "not sent: the time it had to leave by had passed");
    } else if (req->outcome == SL_HTTP_RESENT) {
        set_error(req, "the connection died with no answer; not sent again without a new grant");
    } else if (req->outcome != SL_HTTP_OK) {
        set_error(req, req->errbuf[0] ? req->errbuf : curl_easy_strerror(rc));
    }
    detach(h, req);
    sl_http_done_cb *cb = req->cb;
    void *priv = req->priv;
    req->cb = NULL;
    req->priv = NULL;
    cb(req, priv); /* may reset, restart or free REQ, or free H */
}

/* The one place transfers complete: after every socket_action of SH. */
static void drain(struct shard *sh)
{
    sl_http *h = sh->h;
    CURLMsg *msg;
    int left;
    h->draining = 1;
    while (!h->closing && (msg = curl_multi_info_read(sh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = msg->data.result; /* MSG dies with the handle's removal */
        char *priv;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        finish(h, (sl_http_req *)priv, rc);
    }
    h->draining = 0;
    if (h->closing)
        destroy(h);
}

/* --- curl's data callbacks --- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
    sl_http_req *req = userp;
    size_t n = size * nmemb;
    if (req->resp_body.len + n > req->max_response) {
        req->too_big = 1;
        return 0; /* CURLE_WRITE_ERROR: curl stops the transfer */
    }
    sl_buf_append(&req->resp_body, ptr, n);
    return n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* One header line at a time, with its CRLF. A status line starts a new
 * response (after a 100 Continue, say): only the last one's headers stay. */
static size_t header_cb(char *line, size_t size, size_t nmemb, void *userp)
{
    sl_http_req *req = userp;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        sl_buf_reset(&req->resp_headers);
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return n; /* the blank line, or junk */
    if (req->resp_headers.len + n + 2 > req->max_response) {
        req->too_big = 1;
        return 0;
    }
    const char *end = line + n;
    const char *value = colon + 1;
    while (value < end && is_space(*value))
        value++;
    while (end > value && is_space(end[-1]))
        end--;
    const char *name_end = colon;
    while (name_end > line && is_space(name_end[-1]))
        name_end--;
    sl_buf_append(&req->resp_headers, line, name_end - line);
    sl_buf_append(&req->resp_headers, "", 1);
    sl_buf_append(&req->resp_headers, value, end - value);
    sl_buf_append(&req->resp_headers, "", 1);
    return n;
}

/* --- requests --- */

sl_http_req *sl_http_req_new(void)
{
    global_init();
    sl_http_req *req = sl_calloc(1, sizeof(*req));
    req->easy = curl_easy_init();
    /* before the first transfer: curl_easy_reset keeps it */
    if (!req->easy || curl_easy_setopt(req->easy, CURLOPT_SHARE, share) != CURLE_OK)
        fatal("curl_easy_init");
    return req;
}

void sl_http_req_free(sl_http_req *req)
{
    if (!req)
        return;
    assert(!req->h && "sl_http_req_free: request in flight");
    curl_easy_cleanup(req->easy);
    curl_mime_free(req->mime); /* after the handle that refers to it */
    sl_buf_deinit(&req->url);
    sl_buf_deinit(&req->log_url);
    sl_buf_deinit(&req->headers);
    free(req->slist);
    sl_buf_deinit(&req->content_type);
    sl_buf_deinit(&req->body);
    sl_buf_deinit(&req->resp_body);
    sl_buf_deinit(&req->resp_headers);
    sl_buf_deinit(&req->error);
    free(req);
}

static void clear_result(sl_http_req *req)
{
    req->outcome = SL_HTTP_OK;
    req->status = 0;
    sl_buf_reset(&req->resp_body);
    sl_buf_reset(&req->resp_headers);
    req->too_big = 0;
    req->elapsed_ms = 0;
    req->connects = 0;
    sl_buf_reset(&req->error);
    req->errbuf[0] = '\0';
}

void sl_http_req_reset(sl_http_req *req)
{
    assert(!req->h && "sl_http_req_reset: request in flight");
    /* Reset the handle first: it still points into the mime we free. */
    curl_easy_reset(req->easy);
    curl_mime_free(req->mime);
    req->mime = NULL;
    req->method = SL_HTTP_GET;
    sl_buf_reset(&req->url);
    sl_buf_reset(&req->log_url);
    sl_buf_reset(&req->headers);
    req->n_headers = 0;
    sl_buf_reset(&req->content_type);
    sl_buf_reset(&req->body);
    req->has_body = 0;
    req->timeout_ms = 0;
    req->fresh = 0;
    req->send_by_us = 0;
    clear_result(req);
}

void sl_http_req_set_url(sl_http_req *req, const char *url, const char *log_url)
{
    assert(!req->h);
    sl_buf_reset(&req->url);
    sl_buf_puts(&req->url, url);
    sl_buf_reset(&req->log_url);
    if (log_url) {
        sl_buf_puts(&req->log_url, log_url);
        return;
    }
    size_t user_off, user_len, path_off;
    url_secrets(url, &user_off, &user_len, &path_off);
    if (!path_off) {
        sl_buf_puts(&req->log_url, "<redacted>");
        return;
    }
    sl_buf_append(&req->log_url, url, user_off);
    sl_buf_append(&req->log_url, url + user_off + user_len, path_off - user_off - user_len);
    if (strlen(url + path_off) > 1)
        sl_buf_puts(&req->log_url, "/<redacted>");
}

void sl_http_req_set_method(sl_http_req *req, enum sl_http_method method)
{
    assert(!req->h);
    assert(method >= SL_HTTP_GET && method <= SL_HTTP_DELETE);
    req->method = method;
}

void sl_http_req_add_header(sl_http_req *req, const char *line)
{
    assert(!req->h);
    sl_buf_append(&req->headers, line, strlen(line) + 1);
    req->n_headers++;
}

void sl_http_req_set_body(sl_http_req *req, const char *content_type, const void *data, size_t len)
{
    assert(!req->h);
    sl_buf_reset(&req->body);
    sl_buf_reserve(&req->body, len);
    if (len)
        sl_buf_append(&req->body, data, len);
    sl_buf_reset(&req->content_type);
    if (content_type)
        sl_buf_printf(&req->content_type, "Content-Type: %s", content_type);
    req->has_body = 1;
}

static curl_mimepart *add_part(sl_http_req *req, const char *name, const char *filename,
                               const char *content_type)
{
    if (!req->mime && !(req->mime = curl_mime_init(req->easy)))
        fatal("curl_mime_init");
    curl_mimepart *part = curl_mime_addpart(req->mime);
    if (!part || curl_mime_name(part, name) != CURLE_OK ||
        (filename && curl_mime_filename(part, filename) != CURLE_OK) ||
        (content_type && curl_mime_type(part, content_type) != CURLE_OK))
        fatal("curl_mime_addpart");
    return part;
}

void sl_http_req_add_part(sl_http_req *req, const char *name, const void *data, size_t len,
                          const char *filename, const char *content_type)
{
    assert(!req->h);
    curl_mimepart *part = add_part(req, name, filename, content_type);
    if (curl_mime_data(part, data, len) != CURLE_OK)
        fatal("curl_mime_data");
}

int sl_http_req_add_file_part(sl_http_req *req, const char *name, const char *path,
                              const char *filename, const char *content_type)
{
    assert(!req->h);
    /* curl has no way to take a part back, so check before adding it. */
    if (access(path, R_OK) != 0)
        return SL_EIO;
    curl_mimepart *part = add_part(req, name, NULL, content_type);
    if (curl_mime_filedata(part, path) != CURLE_OK)
        return SL_EIO; /* raced with the file's removal; the send will fail */
    /* curl_mime_filedata set the base name; replace it if asked to. */
    if (filename && curl_mime_filename(part, filename) != CURLE_OK)
        fatal("curl_mime_filename");
    return 0;
}

void sl_http_req_set_timeout(sl_http_req *req, long timeout_ms)
{
    assert(!req->h);
    req->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void sl_http_req_set_fresh(sl_http_req *req, int fresh)
{
    assert(!req->h);
    req->fresh = fresh;
}

void sl_http_req_set_send_by(sl_http_req *req, int64_t send_by_us)
{
    assert(!req->h);
    req->send_by_us = send_by_us > 0 ? send_by_us : 0;
}

/* CURLOPT_PREREQFUNCTION: the connection is ready and the request about to
 * be written. curl (7.88 multi.c, MSTATE_DO) calls it each time it is about
 * to write the request, and that includes its own silent re-send: when a
 * reused connection fails before any byte of an answer, Curl_retry_request
 * sends the transfer back to MSTATE_CONNECT and it passes here again. The
 * second call is refused: the first copy may have reached the server. */
static int prereq_cb(void *priv, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    sl_http_req *req = priv;
    if (++req->prereqs > 1) {
        req->aborted = SL_HTTP_RESENT;
        return CURL_PREREQFUNC_ABORT;
    }
    if (req->send_by_us && sl_monotonic_us() > req->send_by_us) {
        req->aborted = SL_HTTP_LATE;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

const char *sl_http_req_log_url(const sl_http_req *req)
{
    return buf_str(&req->log_url);
}

/* The request headers as a curl_slist whose nodes live in one array and
 * point into req->headers: curl only reads the list, so this costs no
 * allocation once the array is big enough. */
static struct curl_slist *build_slist(sl_http_req *req)
{
    int n = req->n_headers + 2; /* + Content-Type, + "Expect:" */
    if (n > req->slist_cap) {
        req->slist = sl_realloc(req->slist, n * sizeof(*req->slist));
        req->slist_cap = n;
    }
    int i = 0;
    const char *p = req->headers.data;
    for (int k = 0; k < req->n_headers; k++) {
        req->slist[i++].data = (char *)p;
        p += strlen(p) + 1;
    }
    if (req->content_type.len)
        req->slist[i++].data = req->content_type.data;
    if (req->mime || req->body.len > EXPECT_THRESHOLD)
        req->slist[i++].data = "Expect:";
    for (int k = 0; k < i; k++)
        req->slist[k].next = k + 1 < i ? &req->slist[k + 1] : NULL;
    return i ? req->slist : NULL;
}

/* Applies every setting to the handle: all of them each time, so that a
 * request started again, or after a setter, carries nothing stale. */
static int configure(sl_http *h, sl_http_req *req)
{
    CURL *e = req->easy;
    int bad = 0;
    const char *url = req->url.data;

    bad |= curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)req) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECV_BUFFER) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                            req->timeout_ms ? req->timeout_ms : h->timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, req->fresh ? 1L : 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PREREQDATA, (void *)req) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_response) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)req) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)req) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, build_slist(req)) != CURLE_OK;
    /* Fails only without nghttp2; HTTP/1.1 is fine then. Plain http stays 1.1. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for a connection being set up to say whether it multiplexes rather
     * than open one per request: 300 sends to one https host share a few
     * connections. Plain http never multiplexes, so it need not wait. */
    bad |= curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncasecmp(url, "https:", 6) == 0 ? 1L : 0L) !=
           CURLE_OK;

    const char *custom = req->method == SL_HTTP_GET || req->method == SL_HTTP_POST
                             ? NULL
                             : method_names[req->method];
    if (req->mime) {
        bad |= curl_easy_setopt(e, CURLOPT_MIMEPOST, req->mime) != CURLE_OK;
    } else if (req->has_body || (req->method != SL_HTTP_GET && req->method != SL_HTTP_DELETE)) {
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, buf_str(&req->body)) != CURLE_OK;
        bad |=
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len) != CURLE_OK;
    } else {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    }
    bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom) != CURLE_OK;
    return bad ? SL_EINVAL : 0;
}

int sl_http_start(sl_http *h, sl_http_req *req, sl_http_done_cb *cb, void *priv)
{
    assert(cb);
    assert(!req->h && "sl_http_start: request already in flight");
    if (h->closing)
        return SL_ESTATE;
    if (!req->url.len || (req->has_body && req->mime) ||
        (req->method == SL_HTTP_GET && (req->has_body || req->mime)))
        return SL_EINVAL;
    if (configure(h, req) != 0)
        return SL_EINVAL;

    /* Arms the timer (at 0) through timer_fn; nothing runs before the loop. */
    struct shard *sh = pick_shard(h);
    if (curl_multi_add_handle(sh->multi, req->easy) != CURLM_OK)
        return SL_EINVAL;
    sh->n_reqs++;
    req->sh = sh;
    clear_result(req);
    req->prereqs = 0;
    req->aborted = SL_HTTP_OK;
    req->max_response = h->max_response;
    req->started_us = sl_monotonic_us();
    req->h = h;
    req->cb = cb;
    req->priv = priv;
    req->prev = NULL;
    req->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = req;
    h->reqs = req;
    h->n_reqs++;
    return 0;
}

void sl_http_cancel(sl_http *h, sl_http_req *req)
{
    if (!req->h)
        return;
    assert(req->h == h);
    detach(h, req);
    req->cb = NULL;
    req->priv = NULL;
}

/* --- results --- */

enum sl_http_outcome sl_http_outcome(const sl_http_req *req)
{
    return req->outcome;
}

const char *sl_http_outcome_name(enum sl_http_outcome outcome)
{
    static const char *const names[] = {"ok",     "timeout", "connect", "reset",
                                        "toobig", "error",   "late",    "resent"};
    return outcome >= SL_HTTP_OK && outcome <= SL_HTTP_RESENT ? names[outcome] : "unknown";
}

long sl_http_status(const sl_http_req *req)
{
    return req->status;
}

const char *sl_http_body(const sl_http_req *req, size_t *len)
{
    if (len)
        *len = req->resp_body.len;
    return buf_str(&req->resp_body);
}

const char *sl_http_header(const sl_http_req *req, const char *name)
{
    const char *p = req->resp_headers.data;
    const char *end = p + req->resp_headers.len;
    while (p < end) {
        const char *value = p + strlen(p) + 1;
        if (strcasecmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

int64_t sl_http_elapsed_ms(const sl_http_req *req)
{
    return req->elapsed_ms;
}

long sl_http_connects(const sl_http_req *req)
{
    return req->connects;
}

const char *sl_http_error(const sl_http_req *req)
{
    return buf_str(&req->error);
}

int sl_http_transient(const sl_http_req *req)
{
    if (req->outcome == SL_HTTP_OK)
        return req->status >= 500 && req->status <= 599;
    return req->outcome == SL_HTTP_TIMEOUT || req->outcome == SL_HTTP_CONNECT ||
           req->outcome == SL_HTTP_RESET || req->outcome == SL_HTTP_RESENT;
}

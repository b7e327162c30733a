/* server.c — see server.h. One fake_req per request, made on MHD's first
 * call (headers in), fed the body on the next calls, handled on the last
 * (body complete) under st->lock, then either answered at once or parked:
 * the connection is suspended and the timer resumes it when the latency is
 * over, after which MHD calls us once more and the stored answer goes out.
 *
 * One thread does it all: a libev loop with MHD on it (shared/httpd.c) and
 * one ev_timer for the next due latency; each loop turn resumes what is
 * due and lets MHD run. Nothing
 * sleeps and nothing crosses threads per request (MHD's own polling threads
 * with a timer thread beside them spent most of their time waking each
 * other), so this one thread carries thousands of waiting connections and
 * tens of thousands of requests a second. */
#include "server.h"
#include "httpd.h"
#include "timer.h"
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_BODY (64u << 20)    /* larger bodies are read and dropped: 413 */
#define MAX_FIELD (1u << 20)    /* plain form fields are kept up to this */
#define FORM_BUFFER (64u << 10) /* MHD's post processor's working buffer */
#define CONN_MEMORY (16u << 10) /* per connection: headers and read buffer */

enum { PHASE_BODY, PHASE_WAITING };

struct fake_server {
    fake_state *st;
    struct ev_loop *loop; /* the server thread's */
    sl_httpd *httpd;      /* MHD on that loop */
    fake_timer *timer;    /* the server thread's alone */
    ev_timer due;         /* the timer's next entry */
    ev_async wake;        /* fake_server_stop wakes the thread */
    pthread_t thread;
    atomic_int stopping; /* answer at once from now on, then leave */
};

/* ---------------------------------------------------------------- request API */

const char *fake_req_header(const fake_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *fake_req_query(const fake_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const fake_field *fake_req_field(const fake_req *r, const char *name)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (!strcmp(r->fields[i].name, name))
            return &r->fields[i];
    return NULL;
}

void fake_reply(fake_req *r, int status, const char *json)
{
    free(r->resp);
    r->resp = json ? sl_strdup(json) : NULL;
    r->resp_len = json ? strlen(json) : 0;
    r->status = status;
}

void fake_reply_json(fake_req *r, int status, cJSON *doc)
{
    free(r->resp);
    r->resp = cJSON_PrintUnformatted(doc);
    if (!r->resp)
        abort(); /* cJSON prints NULL only when out of memory */
    r->resp_len = strlen(r->resp);
    r->status = status;
    cJSON_Delete(doc);
}

void fake_reply_header(fake_req *r, const char *name, const char *fmt, ...)
{
    assert(r->nhdr < FAKE_MAX_HEADERS);
    if (r->nhdr >= FAKE_MAX_HEADERS)
        return;
    fake_header *h = &r->hdr[r->nhdr++];
    sl_strlcpy(h->name, name, sizeof h->name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- bodies */

static enum MHD_Result form_part_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
    fake_req *r = cls;
    (void)kind;
    (void)transfer_encoding;
    /* MHD hands a part over in pieces, in order; offset 0 starts a new one */
    if (off == 0 || r->nfields == 0) {
        if (r->nfields == r->capfields) {
            r->capfields = r->capfields ? r->capfields * 2 : 8;
            r->fields = sl_realloc(r->fields, r->capfields * sizeof *r->fields);
        }
        fake_field *f = &r->fields[r->nfields++];
        memset(f, 0, sizeof *f);
        f->name = sl_strdup(key ? key : "");
        f->filename = filename ? sl_strdup(filename) : NULL;
        f->content_type = content_type ? sl_strdup(content_type) : NULL;
    }
    fake_field *f = &r->fields[r->nfields - 1];
    f->size += size;
    if (!f->filename && f->value.len + size <= MAX_FIELD)
        sl_buf_append(&f->value, data, size);
    return MHD_YES;
}

int fake_req_body_is_json(const fake_req *r)
{
    for (size_t i = 0; i < r->body.len; i++) {
        char ch = r->body.data[i];
        if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n')
            return ch == '{';
    }
    return 0;
}

static int form_kind(const char *ctype)
{
    if (ctype && !strncasecmp(ctype, "multipart/form-data", 19))
        return FAKE_FORM_MULTIPART;
    if (ctype && !strncasecmp(ctype, "application/x-www-form-urlencoded", 33))
        return FAKE_FORM_URLENCODED;
    return FAKE_FORM_NONE;
}

static fake_req *req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
    fake_req *r = sl_calloc(1, sizeof *r);
    r->conn = conn;
    r->method = method;
    r->path = sl_strdup(url);
    r->route = -1;
    r->bot = -1;
    r->status = 500;
    r->form = form_kind(fake_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
    if (r->form != FAKE_FORM_NONE)
        r->pp = MHD_create_post_processor(conn, FORM_BUFFER, form_part_cb, r);
    if (!r->pp)
        r->form = FAKE_FORM_NONE;
    return r;
}

static void req_free(fake_req *r)
{
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    for (size_t i = 0; i < r->nfields; i++) {
        free(r->fields[i].name);
        free(r->fields[i].filename);
        free(r->fields[i].content_type);
        sl_buf_deinit(&r->fields[i].value);
    }
    free(r->fields);
    sl_buf_deinit(&r->body);
    free(r->resp);
    free(r->path);
    free(r);
}

static void take_body(fake_req *r, const char *data, size_t size)
{
    if (r->too_big)
        return;
    size_t have = r->body.len;
    for (size_t i = 0; r->form == FAKE_FORM_MULTIPART && i < r->nfields; i++)
        have += r->fields[i].size;
    if (have + size > MAX_BODY) {
        r->too_big = 1;
        return;
    }
    /* urlencoded bodies are kept raw too: they may be JSON sent by a
     * client that did not set a content type (see fake_req_body_is_json) */
    if (r->form != FAKE_FORM_MULTIPART)
        sl_buf_append(&r->body, data, size);
    if (r->pp && MHD_post_process(r->pp, data, size) != MHD_YES) {
        /* a malformed form: keep the parts parsed so far, ignore the rest
         * (the handler then answers as Discord or Telegram would) */
        MHD_destroy_post_processor(r->pp);
        r->pp = NULL;
    }
}

/* ---------------------------------------------------------------- answers */

static enum MHD_Result answer(fake_req *r)
{
    if (r->drop)
        return MHD_NO; /* MHD closes the connection without a word */
    struct MHD_Response *resp;
    if (r->resp) {
        resp = MHD_create_response_from_buffer(r->resp_len, r->resp, MHD_RESPMEM_MUST_FREE);
        r->resp = NULL; /* MHD frees it */
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    if (r->resp_len)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (int i = 0; i < r->nhdr; i++)
        MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void resume_cb(void *arg)
{
    fake_req *r = arg;
    sl_httpd_resume(r->server->httpd, r->conn);
}

static int has_prefix(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return 0;
    *rest = s + n;
    return 1;
}

static enum MHD_Result dispatch(fake_server *s, fake_req *r)
{
    fake_state *st = s->st;
    const char *rest;
    if (r->pp) {
        MHD_destroy_post_processor(r->pp); /* flushes the last part */
        r->pp = NULL;
    }
    pthread_mutex_lock(&st->lock);
    r->t_ms = sl_now_ms();
    if (has_prefix(r->path, "/_fake", &rest))
        fake_control_serve(st, r, rest);
    else if (has_prefix(r->path, "/api/v10", &rest))
        fake_discord_serve(st, r, rest);
    else if (has_prefix(r->path, "/bot", &rest))
        fake_telegram_serve(st, r, rest);
    else
        fake_reply(r, 404, "{\"message\": \"404: Not Found\", \"code\": 0}");
    if (r->route >= 0) {
        r->latency_ms = fake_latency_for(st, r->route);
        if (st->cfg.drop_rate > 0 && fake_random(st) < st->cfg.drop_rate)
            r->drop = 1;
        fake_record(st, r);
    }
    pthread_mutex_unlock(&st->lock);

    if (r->latency_ms <= 0)
        return answer(r);
    if (atomic_load(&s->stopping))
        return answer(r); /* shutting down: no more waiting */
    r->phase = PHASE_WAITING;
    MHD_suspend_connection(r->conn);
    int64_t due = sl_monotonic_us() + (int64_t)r->latency_ms * 1000;
    r->server = s;
    fake_timer_add(s->timer, due, resume_cb, r);
    return MHD_YES;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    fake_req *r = *con_cls;
    (void)version;
    if (!r) {
        *con_cls = req_new(conn, url, method);
        return MHD_YES;
    }
    if (r->phase == PHASE_WAITING)
        return answer(r); /* resumed: the latency is over */
    if (*upload_data_size) {
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return dispatch(cls, r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    if (*con_cls)
        req_free(*con_cls);
    *con_cls = NULL;
}

/* A dropped request (--drop-rate) is MHD_NO from the handler, which MHD
 * reports as an application error: expected here, so not worth a line. */
static int quiet_cb(const char *msg)
{
    return strstr(msg, "Application reported internal error") != NULL;
}

/* ---------------------------------------------------------------- the thread */

/* Once per loop turn (httpd.h): what is due resumes its connection (MHD
 * then runs for them), and the timer is set for the next entry. */
static void turn_cb(sl_httpd *h, void *priv)
{
    (void)h;
    fake_server *s = priv;
    fake_timer_run(s->timer, sl_monotonic_us());
    ev_timer_stop(s->loop, &s->due);
    int64_t due = fake_timer_next(s->timer);
    if (due >= 0) {
        int64_t now = sl_monotonic_us();
        ev_timer_set(&s->due, due <= now ? 0. : (double)(due - now) / 1e6, 0.);
        ev_timer_start(s->loop, &s->due);
    }
}

static void due_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents; /* the turn runs what is due */
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w, (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* The server thread: one libev loop with MHD on it (httpd.h), the timer's
 * next entry as one ev_timer. */
static void *serve(void *arg)
{
    fake_server *s = arg;
    ev_run(s->loop, 0);
    /* stopping: every waiting answer goes out now, and MHD gets to send
     * them (new requests are answered without waiting, see dispatch) */
    while (fake_timer_run(s->timer, INT64_MAX) > 0)
        sl_httpd_run(s->httpd);
    return NULL;
}

/* ---------------------------------------------------------------- start, stop */

fake_server *fake_server_start(fake_state *st, int listen_fd, unsigned conn_limit, char *err,
                               size_t errlen)
{
    fake_server *s = sl_calloc(1, sizeof *s);
    s->st = st;
    s->timer = fake_timer_new();
    s->loop = ev_loop_new(EVFLAG_AUTO);
    if (!s->loop) {
        snprintf(err, errlen, "cannot make an event loop (ev_loop_new)");
        goto fail;
    }
    ev_init(&s->due, due_cb);
    ev_async_init(&s->wake, wake_cb);
    ev_async_start(s->loop, &s->wake);
    const sl_httpd_conf hc = {.listen_fd = listen_fd,
                              .conn_limit = conn_limit,
                              .conn_memory = CONN_MEMORY,
                              .conn_timeout = 0,
                              .suspend = 1,
                              .access = access_cb,
                              .access_priv = s,
                              .completed = completed_cb,
                              .completed_priv = s,
                              .turn = turn_cb,
                              .turn_priv = s,
                              .quiet = quiet_cb};
    s->httpd = sl_httpd_start(s->loop, &hc, err, errlen);
    if (!s->httpd)
        goto fail;
    int rc = pthread_create(&s->thread, NULL, serve, s);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the server thread: %s", strerror(rc));
        sl_httpd_free(s->httpd);
        goto fail;
    }
    return s;
fail:
    if (s->loop)
        ev_loop_destroy(s->loop);
    fake_timer_free(s->timer);
    free(s);
    return NULL;
}

void fake_server_stop(fake_server *s)
{
    if (!s)
        return;
    /* MHD must not be stopped with connections suspended: the thread
     * resumes them all before it leaves */
    atomic_store(&s->stopping, 1);
    ev_async_send(s->loop, &s->wake);
    pthread_join(s->thread, NULL);
    sl_httpd_free(s->httpd);
    ev_timer_stop(s->loop, &s->due);
    ev_async_stop(s->loop, &s->wake);
    ev_loop_destroy(s->loop);
    fake_timer_free(s->timer);
    free(s);
}

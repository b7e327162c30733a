/* serve_http.c — one HTTP request of the intake: headers, body, token,
 * routing, and the JSON answer. MHD calls serve_access_cb once with the
 * headers, once per piece of body, and once at the end; a request that
 * waits (on Redis, or ?wait) is suspended and resumed once its answer is
 * set, when MHD calls again and the answer is queued. */
#include "serve.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sreq_header(sreq *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *sreq_arg(sreq *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

void sreq_suspend(sreq *r)
{
    r->phase = SREQ_WAITING;
    r->s->live++;
    MHD_suspend_connection(r->conn);
}

void sreq_json(sreq *r, int status, const char *body, size_t len)
{
    r->status = status;
    sl_buf_reset(&r->resp);
    sl_buf_append(&r->resp, body, len);
}

void serve_error_object(sl_buf *b, const char *text, long index)
{
    /* "FIELD: reason" as job.h and schema.h write it; a text whose part
     * before ": " holds a space names no field ("the job must be ...") */
    const char *colon = strstr(text, ": ");
    int field = colon && colon > text && !memchr(text, ' ', (size_t)(colon - text));
    int document = field && !strncmp(text, "(document): ", 12); /* jsoncheck's "no field" */
    sl_buf_puts(b, "{");
    if (index >= 0)
        sl_buf_printf(b, "\"index\":%ld,", index);
    sl_buf_puts(b, "\"field\":");
    if (field && !document)
        sl_buf_json_str(b, text, (size_t)(colon - text));
    else
        sl_buf_puts(b, "null");
    sl_buf_puts(b, ",\"message\":");
    const char *msg = field ? colon + 2 : text;
    sl_buf_json_str(b, msg, strlen(msg));
    sl_buf_puts(b, "}");
}

void sreq_error_text(sreq *r, int status, const char *text, long index)
{
    r->status = status;
    sl_buf_reset(&r->resp);
    sl_buf_puts(&r->resp, "{\"error\":");
    serve_error_object(&r->resp, text, index);
    sl_buf_puts(&r->resp, "}");
}

void sreq_error(sreq *r, int status, const char *field, const char *msg)
{
    r->status = status;
    sl_buf_reset(&r->resp);
    sl_buf_puts(&r->resp, "{\"error\":{\"field\":");
    if (field)
        sl_buf_json_str(&r->resp, field, strlen(field));
    else
        sl_buf_puts(&r->resp, "null");
    sl_buf_puts(&r->resp, ",\"message\":");
    sl_buf_json_str(&r->resp, msg, strlen(msg));
    sl_buf_puts(&r->resp, "}}");
}

static const char *route_name(const char *url);

static enum MHD_Result queue_answer(sreq *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->resp.len, r->resp.len ? r->resp.data : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sluice\"");
    /* a body left unread (refused early) leaves the connection unusable */
    if (r->too_big || r->status == 413)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    serve_metrics_answer(r->s, route_name(r->url), r->status);
    return ret;
}

/* ---- authentication ------------------------------------------------------ */

/* 0 when R may go on (R->token set, or auth off); else R's answer is set. */
static int authenticate(sreq *r)
{
    serve *s = r->s;
    if (s->o.no_auth)
        return 0;
    const char *h = sreq_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) {
        sreq_error(r, 401, "Authorization", "missing: send Authorization: Bearer TOKEN");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7)) {
        sreq_error(r, 401, "Authorization", "not a bearer token: send Authorization: Bearer TOKEN");
        return -1;
    }
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    r->token = serve_tokens_find(&s->tokens, tok, strlen(tok));
    if (!r->token) {
        /* never the token itself: not in the answer, not in the log */
        sreq_error(r, 401, "Authorization", "unknown token");
        return -1;
    }
    return 0;
}

/* ---- routing ------------------------------------------------------------- */

static int is_json(const char *ctype)
{
    if (!ctype)
        return 0;
    while (*ctype == ' ')
        ctype++;
    if (strncasecmp(ctype, "application/json", 16))
        return 0;
    char c = ctype[16];
    return c == '\0' || c == ';' || c == ' ';
}

/* A job or batch id from the path: 1..64 of [A-Za-z0-9_.:-] (the
 * envelope's rule for both). */
static int path_id(const char *p, const char **id)
{
    size_t n = strlen(p);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == ':'))
            return 0;
    }
    *id = p;
    return 1;
}

enum route { R_NONE, R_JOBS, R_JOB, R_QUEUES, R_BATCH, R_HEALTH, R_READY };

static int route_of(const char *url, const char **id)
{
    *id = NULL;
    if (!strcmp(url, "/v1/jobs"))
        return R_JOBS;
    if (!strncmp(url, "/v1/jobs/", 9))
        return path_id(url + 9, id) ? R_JOB : R_NONE;
    if (!strcmp(url, "/v1/queues"))
        return R_QUEUES;
    if (!strncmp(url, "/v1/batches/", 12))
        return path_id(url + 12, id) ? R_BATCH : R_NONE;
    if (!strcmp(url, "/healthz"))
        return R_HEALTH;
    if (!strcmp(url, "/readyz"))
        return R_READY;
    return R_NONE;
}

/* URL's route class, for the metrics: never an id. */
static const char *route_name(const char *url)
{
    static const char *const names[] = {
        [R_NONE] = "other",        [R_JOBS] = "/v1/jobs",          [R_JOB] = "/v1/jobs/{id}",
        [R_QUEUES] = "/v1/queues", [R_BATCH] = "/v1/batches/{id}", [R_HEALTH] = "/healthz",
        [R_READY] = "/readyz"};
    const char *id;
    return names[route_of(url, &id)];
}

static const char *allowed[] = {
    [R_JOBS] = "POST", [R_JOB] = "GET, DELETE", [R_QUEUES] = "GET",
    [R_BATCH] = "GET", [R_HEALTH] = "GET",      [R_READY] = "GET",
};

static int method_ok(int route, const char *m)
{
    switch (route) {
    case R_JOBS:
        return !strcmp(m, "POST");
    case R_JOB:
        return !strcmp(m, "GET") || !strcmp(m, "DELETE");
    default:
        return !strcmp(m, "GET");
    }
}

/* The first call, headers read: answers at once what needs no body (and
 * every refusal that can be made now), or returns 0 to read the body. */
static int on_headers(sreq *r)
{
    serve *s = r->s;
    const char *id;
    int route = route_of(r->url, &id);
    if (route == R_NONE) {
        sreq_error(r, 404, NULL, "no such endpoint (see schemas/openapi.json)");
        return 1;
    }
    if (!method_ok(route, r->method)) {
        char msg[120];
        snprintf(msg, sizeof msg, "%s is not allowed here; allowed: %s", r->method, allowed[route]);
        sreq_error(r, 405, NULL, msg);
        return 1;
    }
    if (route == R_HEALTH) {
        sreq_json(r, 200, "{\"status\":\"ok\"}", 15);
        return 1;
    }
    if (route == R_READY) {
        serve_readyz(r);
        return 1;
    }
    if (authenticate(r))
        return 1;
    if (s->stopping) {
        r->retry_after = 1;
        sreq_error(r, 503, NULL, "shutting down");
        return 1;
    }
    switch (route) {
    case R_JOBS: {
        if (!is_json(sreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
            sreq_error(r, 415, "Content-Type", "must be application/json");
            return 1;
        }
        const char *cl = sreq_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->o.max_body) {
            char msg[120];
            snprintf(msg, sizeof msg, "the body is %s bytes, the limit is %lld (--max-body-bytes)",
                     cl, s->o.max_body);
            sreq_error(r, 413, NULL, msg);
            return 1;
        }
        return 0; /* read the body */
    }
    case R_JOB:
        if (!strcmp(r->method, "GET"))
            serve_job_get(r, id);
        else
            serve_job_delete(r, id);
        return 1;
    case R_QUEUES:
        serve_queues_get(r);
        return 1;
    case R_BATCH:
        serve_batch_get(r, id);
        return 1;
    }
    return 1;
}

static void take_body(sreq *r, const char *data, size_t size)
{
    if (r->too_big)
        return;
    if (r->body.len + size > (size_t)r->s->o.max_body) {
        /* no Content-Length (chunked): read the rest and drop it */
        r->too_big = 1;
        sl_buf_deinit(&r->body);
        return;
    }
    sl_buf_append(&r->body, data, size);
}

enum MHD_Result serve_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload_data,
                                size_t *upload_data_size, void **con_cls)
{
    (void)version;
    sreq *r = *con_cls;
    if (!r) {
        r = sl_calloc(1, sizeof *r);
        r->s = cls;
        r->conn = conn;
        r->method = method;
        r->url = sl_strdup(url);
        r->status = 500;
        r->s->open++;
        *con_cls = r;
        if (on_headers(r)) {
            if (r->phase == SREQ_WAITING)
                return MHD_YES;
            return queue_answer(r);
        }
        return MHD_YES;
    }
    if (r->phase == SREQ_ANSWER)
        return queue_answer(r);
    if (r->phase == SREQ_WAITING)
        return MHD_YES; /* not expected: suspended requests get no calls */
    if (*upload_data_size) {
        take_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* the whole body is here */
    if (r->too_big) {
        char msg[120];
        snprintf(msg, sizeof msg, "the body is over the limit of %lld bytes (--max-body-bytes)",
                 r->s->o.max_body);
        sreq_error(r, 413, NULL, msg);
        return queue_answer(r);
    }
    serve_jobs_post(r);
    if (r->jobs) /* suspended: the answer is queued once resumed */
        return MHD_YES;
    return queue_answer(r);
}

void serve_completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    sreq *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    r->s->open--;
    sreq_jobs_free(r->jobs);
    sreq_lookup_free(r->look);
    sl_buf_deinit(&r->body);
    sl_buf_deinit(&r->resp);
    free(r->url);
    free(r);
}

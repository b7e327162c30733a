/* http.h — outgoing HTTP on the worker's libev loop: libcurl multi_socket
 * with one ev_io per socket and one ev_timer for curl's timeout, hundreds of
 * requests in flight on one thread.
 *
 *   sl_http      the engine: curl multi handles (connection caches, HTTP/2
 *                multiplexing) bound to one loop, one more per 32 requests in
 *                flight; the DNS cache and TLS sessions are shared by the
 *                whole process. One engine per process.
 *   sl_http_req  one request and, after it completes, its result. Owned by the
 *                caller (one per in-flight job), reused through _reset so the
 *                hot path allocates little.
 *
 * Life of a request:
 *   req = sl_http_req_new();                       once per job slot
 *   sl_http_req_set_url(req, url, log_url);        setters copy their input
 *   sl_http_req_set_method / _add_header / _set_body / _add_part / _set_timeout
 *   sl_http_start(h, req, done_cb, priv);          0, then done_cb exactly once
 *   done_cb(req, priv): sl_http_outcome, _status, _body, sl_http_header, ...
 *   sl_http_req_reset(req) for the next request, or sl_http_start again to
 *   send the same one (a retry); sl_http_req_free(req) when not in flight.
 *
 * Callback rules: done_cb never runs inside sl_http_start; it runs from the
 * loop. Inside it the caller may reset, restart or free REQ, start or cancel
 * other requests, and even sl_http_free the engine (the free is finished
 * after the callback returns). Cancelled requests get no callback.
 *
 * Secrets: Telegram puts the bot token in the URL path, so the real URL is
 * only ever handed to curl. Error texts and sl_http_req_log_url() use the
 * caller's redacted form, and anything of the real URL that curl puts in its
 * error buffer is replaced before the text is stored. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_http sl_http;
typedef struct sl_http_req sl_http_req;

/* Engine options. Zero-initialised (or a NULL pointer) means every default. */
typedef struct sl_http_opts {
    long connect_timeout_ms;    /* 0: 5000 */
    long timeout_ms;            /* total, for requests that set none; 0: 30000 */
    size_t max_response;        /* cap on body bytes, and on header bytes; 0: 1 MiB */
    long max_host_connections;  /* 0: curl's default (no limit) */
    long max_total_connections; /* 0: no limit */
    /* kept open for reuse, per shard; 0: curl's, 4 x in flight in the shard.
     * Past 32 requests in flight the engine spreads them over several curl
     * multi handles (shards, see http.c) unless one of the two limits above
     * is set; each shard has its own connections. */
    long max_idle_connections;
    const char *user_agent; /* NULL: "sluice/0.1"; copied */
} sl_http_opts;

#define SL_HTTP_USER_AGENT "sluice/0.1"

enum sl_http_method { SL_HTTP_GET, SL_HTTP_POST, SL_HTTP_PATCH, SL_HTTP_PUT, SL_HTTP_DELETE };

/* What became of a started request: every one ends in exactly one of these
 * (http.c's classify() maps curl's codes to them), unless it is cancelled
 * (sl_http_cancel, sl_http_free: no callback). A request that could not be
 * started has no outcome: sl_http_start returned an error instead. Only
 * SL_HTTP_OK has a complete response, whatever its status; the others may
 * still have a status if headers had arrived. Their error text is
 * sl_http_error(); sl_http_transient() says which are worth a retry. */
enum sl_http_outcome {
    SL_HTTP_OK,      /* a response arrived, any status (a 4xx or 5xx too) */
    SL_HTTP_TIMEOUT, /* the total or the connect timeout passed (transient) */
    SL_HTTP_CONNECT, /* refused, unreachable, host or proxy unresolved, TLS handshake
                      * failed (transient: nothing was sent) */
    SL_HTTP_RESET,   /* send or receive error, empty reply, truncated body, HTTP/2
                      * stream or framing error (transient; the server may have acted) */
    SL_HTTP_TOOBIG,  /* the body or the headers passed max_response, or the
                      * Content-Length announced more; the transfer was cut */
    SL_HTTP_ERROR,   /* anything else: bad URL, certificate, protocol refused, a
                      * write refused by a callback for another reason */
    SL_HTTP_LATE,    /* not sent: its send_by time had passed (sl_http_req_set_send_by)
                      * when its connection was ready */
    SL_HTTP_RESENT,  /* sent on a reused connection that died before any answer; curl
                      * would have sent it again at once, the engine does not: the
                      * first copy may have reached the server (see set_fresh;
                      * transient) */
};

/* Called once per started request, from the loop. REQ's results are valid
 * until REQ is reset, restarted or freed. */
typedef void sl_http_done_cb(sl_http_req *req, void *priv);

/* --- the engine --- */

/* A new engine on LOOP (which must outlive it). Options are copied. Returns
 * NULL if curl cannot make a multi handle. Calls nothing back. */
sl_http *sl_http_new(struct ev_loop *loop, const sl_http_opts *opts);

/* Cancels every request in flight without calling their callbacks, closes
 * the connections, stops the watchers and frees H. NULL does nothing. From
 * inside a done callback the requests are cancelled at once and the memory
 * is released when the callback returns. */
void sl_http_free(sl_http *h);

/* Sends REQ. Returns 0 and later calls CB(REQ, PRIV) exactly once from the
 * loop (never from inside this call), unless the request is cancelled first.
 * Returns SL_EINVAL (no URL; a GET with a body; both a body and parts; curl
 * refused an option or the transfer) or SL_ESTATE (H is being freed)
 * without calling CB and without changing REQ.
 * REQ must not be in flight, and must not be changed by setters while it is.
 * The previous result of REQ is cleared. */
int sl_http_start(sl_http *h, sl_http_req *req, sl_http_done_cb *cb, void *priv);

/* If REQ is in flight, stops it; its callback is not called, it keeps its
 * settings and may be started again. Otherwise does nothing. */
void sl_http_cancel(sl_http *h, sl_http_req *req);

int sl_http_in_flight(const sl_http *h); /* requests started, not yet done */

/* --- building a request --- */

sl_http_req *sl_http_req_new(void); /* a GET with no URL; aborts on OOM */

/* Frees REQ, which must not be in flight (cancel it first). NULL does nothing. */
void sl_http_req_free(sl_http_req *req);

/* Clears settings and result for a new request, keeping the curl handle and
 * the buffers' memory. REQ must not be in flight. */
void sl_http_req_reset(sl_http_req *req);

/* URL is handed only to curl. LOG_URL is what logs and error texts show; when
 * NULL, the scheme and host are shown and the rest is "<redacted>". Both are
 * copied. */
void sl_http_req_set_url(sl_http_req *req, const char *url, const char *log_url);
void sl_http_req_set_method(sl_http_req *req, enum sl_http_method method);

/* Adds one request header, "Name: value", copied. Adding "Name:" removes a
 * header curl would send itself (curl's own convention). */
void sl_http_req_add_header(sl_http_req *req, const char *line);

/* The request body, copied (LEN bytes of DATA), with CONTENT_TYPE as its
 * Content-Type (NULL: curl's application/x-www-form-urlencoded). A POST, PUT
 * or PATCH without a body sends Content-Length: 0. Replaces an earlier body. */
void sl_http_req_set_body(sl_http_req *req, const char *content_type, const void *data, size_t len);

/* multipart/form-data parts (the method stays POST unless set otherwise).
 * A text part: FILENAME and CONTENT_TYPE NULL. A file from memory: DATA
 * copied, FILENAME and CONTENT_TYPE as the server should see them. */
void sl_http_req_add_part(sl_http_req *req, const char *name, const void *data, size_t len,
                          const char *filename, const char *content_type);

/* A file part read from PATH when the request is sent (again on a retry);
 * FILENAME NULL uses PATH's base name. Returns SL_EIO if PATH cannot be read,
 * adding nothing. */
int sl_http_req_add_file_part(sl_http_req *req, const char *name, const char *path,
                              const char *filename, const char *content_type);

/* Total time allowed, connect included; set it below the job's lease.
 * 0: the engine's timeout_ms. */
void sl_http_req_set_timeout(sl_http_req *req, long timeout_ms);

/* Sends REQ on a new connection. When a reused connection turns out to have
 * been closed before any answer came, curl would send the request again at
 * once, silently (up to 5 times); the engine never lets it: every request
 * is written at most once per sl_http_start, so that each copy that reaches
 * a server is one the caller asked for (and holds a rate-limit place for).
 * Such a request ends SL_HTTP_RESENT instead: the server may or may not
 * have acted on it, as after SL_HTTP_RESET. A fresh connection cannot meet
 * that case (nor a server's idle close racing the request); a lost answer
 * then ends SL_HTTP_RESET or SL_HTTP_TIMEOUT. */
void sl_http_req_set_fresh(sl_http_req *req, int fresh);

/* A request that must leave by SEND_BY_US (sl_monotonic_us) or not at all: a
 * place under a rate limit taken for it is only good for so long. Checked
 * when its connection is ready, just before the request is written; past
 * it, nothing is sent and the outcome is SL_HTTP_LATE. 0: no limit. */
void sl_http_req_set_send_by(sl_http_req *req, int64_t send_by_us);

const char *sl_http_req_log_url(const sl_http_req *req);

/* --- the result: valid in the callback and until the next reset or start --- */

enum sl_http_outcome sl_http_outcome(const sl_http_req *req);
/* "ok", "timeout", "connect", "reset", "toobig", "error", "late", "resent":
 * for logs. */
const char *sl_http_outcome_name(enum sl_http_outcome outcome);

long sl_http_status(const sl_http_req *req); /* 0 when no status line arrived */

/* The response body, NUL-terminated (so JSON can be parsed in place), at most
 * max_response bytes; "" when empty. LEN may be NULL. */
const char *sl_http_body(const sl_http_req *req, size_t *len);

/* The value of response header NAME (case-insensitive), first of repeated
 * ones, whitespace trimmed; NULL if absent. Only the final response's. */
const char *sl_http_header(const sl_http_req *req, const char *name);

int64_t sl_http_elapsed_ms(const sl_http_req *req); /* start to completion */
long sl_http_connects(const sl_http_req *req);      /* new connections it opened */

/* "" for SL_HTTP_OK; otherwise "METHOD log_url: curl's message". Never holds
 * the real URL. */
const char *sl_http_error(const sl_http_req *req);

/* 1 if trying again later may succeed: TIMEOUT, CONNECT, RESET, RESENT, or
 * OK with a 5xx status. 0 for other responses (4xx included: 429 is the
 * caller's to read Retry-After from), TOOBIG, ERROR and LATE (LATE sent
 * nothing: the caller asks for a new place and sends it again). */
int sl_http_transient(const sl_http_req *req);

#endif

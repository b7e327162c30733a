/* call.h — one request of a job to Discord or Telegram, with everything the
 * fleet-wide limits ask: it waits in the gate of its limits (gate.c: no slot
 * held, no attempt used), goes over the worker's one HTTP engine, tells
 * Redis what the answer teaches the shared limits (rl_report.lua), waits out
 * a 429 and asks again, and comes back once with a verdict.
 *
 *   pcall *c = pcall_new(t, bot);
 *   sl_discord_...(pcall_spec(c), ...);       fill the sl_call (platform.h)
 *   pcall_add_part(c, ...);                   optional multipart parts
 *   pcall_start(c, "send", done_cb, priv);    done_cb exactly once, later
 *   ... done_cb(c, &result, priv): read result, then pcall_free(c) or
 *   fill the spec again and pcall_start the next request.
 *
 * A task may hold many calls at once (an approval sweep does). Tokens never
 * leave this file and http.c: logs show "/bot<token>" in Telegram paths. */
#ifndef SL_CALL_H
#define SL_CALL_H

#include "bots.h"
#include "platform.h"
#include "worker.h"

typedef struct pcall pcall;

typedef struct pcall_result {
    enum sl_verdict verdict; /* OK, RETRY or PERMANENT: a 429 never reaches the caller */
    long status;             /* HTTP status, 0 when no answer came */
    const char *body;        /* the answer's body (NUL-terminated), valid in the callback */
    size_t len;
    const char *error; /* a readable reason when not OK ("discord 403: Missing Access ...") */
    long defer_ms;     /* > 0: the limits ask for a wait too long to hold the job in
                        * memory (global 429, invalid-request pause): defer the task
                        * (task_defer) rather than fail it; verdict is then RETRY */
} pcall_result;

typedef void pcall_cb(pcall *c, const pcall_result *r, void *priv);

/* Sets up the calls of every handler of W (worker.calls): the bots
 * (bots.h) and the HTTP engine. O is kept, not copied. ERR names what is
 * wrong (never a token). */
int pcall_init(worker *w, const message_opts *o, char *err, size_t errlen);
/* Logs what the calls counted and frees worker.calls; after every call is
 * freed and after the Redis connections, before gates_free. */
void pcall_deinit(worker *w);

/* W's one HTTP engine, for requests that are not to a platform (an HTTP
 * PUT of a document to an allowed URL). */
struct sl_http *pcall_http(worker *w);

/* The bot NAME of W on PLATFORM ("discord", "telegram"); NULL with a reason
 * in ERR naming the setting to fix. */
const sl_bot *pcall_bot(worker *w, const char *platform, const char *name, char *err,
                        size_t errlen);

/* A new call for T by BOT. With TIMED set, T's timeout is paused while the
 * call waits in a gate and restarted when it is sent (a job of one request
 * at a time: waiting for a limit is not running). */
pcall *pcall_new(task *t, const sl_bot *bot, int timed);

/* The request to make; cleared by pcall_reset. */
sl_call *pcall_spec(pcall *c);

/* A multipart part, sent instead of the spec's JSON body (Discord's
 * payload_json + files[0], Telegram's sendDocument). A text part: PATH NULL,
 * VALUE its content. A file: PATH read when the request is sent (again on a
 * retry after a 429), FILENAME and CONTENT_TYPE as the server should see. */
void pcall_add_part(pcall *c, const char *name, const char *value, const char *path,
                    const char *filename, const char *content_type);

/* Clears the spec and parts for the next request of the same call. */
void pcall_reset(pcall *c);

/* Queues the request. OP is what the verdict is judged as ("send", "edit",
 * "delete", "get"). CB runs once, from the loop, never inside this call. */
void pcall_start(pcall *c, const char *op, pcall_cb *cb, void *priv);

/* Cancels a call in flight (no callback) and frees it. NULL does nothing. */
void pcall_free(pcall *c);

#endif

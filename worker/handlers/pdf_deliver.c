/* pdf_deliver.c — where a rendered PDF goes: a Discord attachment (multipart
 * payload_json + files[0], in a channel or a user's DM), a Telegram
 * sendDocument, a file under --pdf-dir (published on the pool thread right
 * after the render), or an HTTP PUT to a URL under --pdf-put-allow.
 *
 * Platform requests go through call.h, so they keep to the fleet's rate
 * limits like any message; a Discord post carries the job's nonce, so a
 * retried delivery is not posted twice.
 *
 * The run's result (task_set_result) says where the document went:
 *   {"delivered": "discord", "channel_id": "C", "message_id": "M", ...}
 *   {"delivered": "telegram", "chat_id": X, "message_id": "M", ...}
 *   {"delivered": "file", "file": "reports/a.pdf", ...}
 *   {"delivered": "url", "url": URL without query and fragment, "status": 201, ...}
 * each with "pages" and "bytes" of the document. */
#include "pdf_private.h"
#include "log.h"
#include "platform.h"
#include "url_allow.h"

#include <stdlib.h>
#include <string.h>

static const cJSON *field(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *text(const cJSON *o, const char *name)
{
    const cJSON *v = field(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *target_of(const pdfjob *j)
{
    return field(j->t->job.payload, "deliver");
}

int pdf_deliver_check(pdfjob *j, char *err, size_t errlen)
{
    const pdf_opts *o = &j->shared->o;
    const cJSON *d = target_of(j), *x;
    char why[200];
    if ((x = field(d, "discord")) || (x = field(d, "telegram"))) {
        int discord = !strcmp(x->string, "discord");
        j->target = discord ? PDF_TO_DISCORD : PDF_TO_TELEGRAM;
        j->bot = pcall_bot(j->shared->w, x->string, text(x, "bot"), err, errlen);
        if (!j->bot)
            return -1;
        if (discord && text(x, "user_id"))
            snprintf(j->user, sizeof j->user, "%s", text(x, "user_id"));
        return 0;
    }
    if ((x = field(d, "file"))) {
        j->target = PDF_TO_FILE;
        if (!o->out_dir) {
            snprintf(err, errlen, "deliver.file: this worker has no --pdf-dir (SLUICE_PDF_DIR)");
            return -1;
        }
        snprintf(j->file, sizeof j->file, "%s", text(x, "name") ? text(x, "name") : "");
        return 0;
    }
    if ((x = field(d, "put"))) {
        j->target = PDF_TO_PUT;
        const char *url = text(x, "url");
        if (!url || !sl_url_allowed(url, o->put_allow, why, sizeof why)) {
            char shown[256];
            sl_url_for_log(url ? url : "", shown, sizeof shown);
            snprintf(err, errlen, "deliver.put.url: %s is refused: %s", shown, why);
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen, "deliver: names no target (discord, telegram, file or put)");
    return -1;
}

void pdf_deliver_cancel(pdfjob *j)
{
    pcall_free(j->call);
    j->call = NULL;
    if (j->req) {
        if (j->in_http)
            sl_http_cancel(pcall_http(j->shared->w), j->req);
        sl_http_req_free(j->req);
        j->req = NULL;
        j->in_http = 0;
    }
}

/* Sets J's result: delivered TO, then FIELDS' members (taken). */
static void delivered(pdfjob *j, const char *to, cJSON *fields)
{
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "delivered", to);
    while (fields && fields->child) {
        cJSON *f = fields->child;
        const char *name = f->string;
        cJSON_DetachItemViaPointer(fields, f);
        cJSON_AddItemToObject(res, name, f);
    }
    cJSON_Delete(fields);
    cJSON_AddNumberToObject(res, "pages", j->info.pages);
    cJSON_AddNumberToObject(res, "bytes", (double)j->info.bytes);
    task_set_result(j->t, res);
    cJSON_Delete(res);
    sl_debug("pdf delivered job=%s to=%s pages=%d bytes=%zu render_ms=%.1f", j->t->job.id, to,
             j->info.pages, j->info.bytes, (double)j->render_us / 1000.0);
    pdf_finish(j, TASK_OK, NULL);
}

/* ---- Discord and Telegram ---- */

static void post(pdfjob *j, const char *channel);

/* Where the platform's answer R says the document is. */
static cJSON *posted_at(pdfjob *j, const pcall_result *r)
{
    int discord = j->target == PDF_TO_DISCORD;
    cJSON *answer = cJSON_ParseWithLength(r->body, r->len);
    const cJSON *msg = discord ? answer : field(answer, "result");
    const cJSON *id = field(msg, discord ? "id" : "message_id");
    cJSON *out = cJSON_CreateObject();
    if (discord) {
        const cJSON *ch = field(msg, "channel_id");
        if (cJSON_IsString(ch))
            cJSON_AddStringToObject(out, "channel_id", ch->valuestring);
    } else {
        const cJSON *chat = field(field(target_of(j), "telegram"), "chat_id");
        if (chat)
            cJSON_AddItemToObject(out, "chat_id", cJSON_Duplicate(chat, 0));
    }
    char num[32];
    if (cJSON_IsString(id)) {
        cJSON_AddStringToObject(out, "message_id", id->valuestring);
    } else if (cJSON_IsNumber(id)) {
        snprintf(num, sizeof num, "%.0f", id->valuedouble);
        cJSON_AddStringToObject(out, "message_id", num);
    }
    cJSON_Delete(answer);
    return out;
}

static void call_done_cb(pcall *c, const pcall_result *r, void *priv)
{
    pdfjob *j = priv;
    (void)c;
    if (r->defer_ms > 0) { /* a long wait for the limits: back to Redis, no attempt used */
        pdf_defer(j, r->defer_ms, r->error ? r->error : "rate limited");
        return;
    }
    if (r->verdict == SL_VERDICT_OK) {
        if (j->target == PDF_TO_DISCORD && j->user[0]) { /* the DM channel is known now */
            cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
            const cJSON *id = field(doc, "id");
            char channel[24];
            int ok = cJSON_IsString(id) && strlen(id->valuestring) < sizeof channel;
            if (ok)
                snprintf(channel, sizeof channel, "%s", id->valuestring);
            cJSON_Delete(doc);
            if (!ok) {
                pdf_finish(j, TASK_RETRY, "discord: the DM channel answer has no id");
                return;
            }
            j->user[0] = '\0';
            pcall_reset(j->call);
            post(j, channel);
            return;
        }
        delivered(j, j->target == PDF_TO_DISCORD ? "discord" : "telegram", posted_at(j, r));
        return;
    }
    pdf_finish(j, r->verdict == SL_VERDICT_RETRY ? TASK_RETRY : TASK_PERMANENT, r->error);
}

static const char *filename_of(const pdfjob *j)
{
    const char *f = text(j->t->job.payload, "filename");
    return f ? f : "document.pdf";
}

/* The message with the attachment, in CHANNEL. */
static void post(pdfjob *j, const char *channel)
{
    const cJSON *x = field(target_of(j), "discord");
    sl_buf payload = {0};
    sl_discord_send_file(pcall_spec(j->call), channel);
    sl_discord_file_payload(&payload, text(x, "content"), filename_of(j), j->t->job.id);
    pcall_add_part(j->call, "payload_json", payload.data, NULL, NULL, NULL);
    pcall_add_part(j->call, "files[0]", NULL, j->path, filename_of(j), "application/pdf");
    sl_buf_deinit(&payload);
    pcall_start(j->call, "send", call_done_cb, j);
}

static void to_discord(pdfjob *j)
{
    const cJSON *x = field(target_of(j), "discord");
    j->call = pcall_new(j->t, j->bot, 1);
    if (j->user[0]) {
        sl_discord_open_dm(pcall_spec(j->call), j->user);
        pcall_start(j->call, "send", call_done_cb, j);
        return;
    }
    post(j, text(x, "channel_id"));
}

static void to_telegram(pdfjob *j)
{
    const cJSON *x = field(target_of(j), "telegram");
    const cJSON *chat = field(x, "chat_id");
    char id[72];
    if (cJSON_IsString(chat))
        snprintf(id, sizeof id, "%s", chat->valuestring);
    else
        snprintf(id, sizeof id, "%.0f", cJSON_IsNumber(chat) ? chat->valuedouble : 0.0);
    j->call = pcall_new(j->t, j->bot, 1);
    sl_telegram_send_document(pcall_spec(j->call), id);
    pcall_add_part(j->call, "chat_id", id, NULL, NULL, NULL);
    if (text(x, "caption"))
        pcall_add_part(j->call, "caption", text(x, "caption"), NULL, NULL, NULL);
    pcall_add_part(j->call, "document", NULL, j->path, filename_of(j), "application/pdf");
    pcall_start(j->call, "send", call_done_cb, j);
}

/* ---- HTTP PUT ---- */

static void put_done_cb(sl_http_req *req, void *priv)
{
    pdfjob *j = priv;
    j->in_http = 0;
    char err[400];
    if (sl_http_outcome(req) != SL_HTTP_OK) {
        pdf_finish(j, TASK_RETRY, sl_http_error(req));
        return;
    }
    long status = sl_http_status(req);
    if (status >= 200 && status < 300) {
        char shown[512];
        cJSON *at = cJSON_CreateObject();
        sl_url_for_log(text(field(target_of(j), "put"), "url"), shown, sizeof shown);
        cJSON_AddStringToObject(at, "url", shown);
        cJSON_AddNumberToObject(at, "status", (double)status);
        delivered(j, "url", at);
        return;
    }
    size_t len;
    const char *body = sl_http_body(req, &len);
    snprintf(err, sizeof err, "put %ld: %.200s", status, len ? body : "no body");
    pdf_finish(
        j, sl_http_transient(req) || status == 408 || status == 429 ? TASK_RETRY : TASK_PERMANENT,
        err);
}

static void to_url(pdfjob *j)
{
    task *t = j->t;
    const char *url = text(field(target_of(j), "put"), "url");
    char shown[512];
    sl_url_for_log(url, shown, sizeof shown);
    j->req = sl_http_req_new();
    sl_http_req_set_url(j->req, url, shown);
    sl_http_req_set_method(j->req, SL_HTTP_PUT);
    sl_http_req_set_body(j->req, "application/pdf", j->bytes, j->nbytes);
    free(j->bytes);
    j->bytes = NULL;
    /* below the lease, so a hung request never outlives the job's claim */
    long timeout = (long)t->job.timeout_ms;
    if (timeout > t->w->lease_ms * 2 / 3)
        timeout = (long)(t->w->lease_ms * 2 / 3);
    sl_http_req_set_timeout(j->req, timeout);
    int rc = sl_http_start(pcall_http(j->shared->w), j->req, put_done_cb, j);
    if (rc) {
        char err[100];
        snprintf(err, sizeof err, "http: the request could not be started: %s", sl_strerror(rc));
        pdf_finish(j, TASK_RETRY, err);
        return;
    }
    j->in_http = 1;
}

void pdf_deliver(pdfjob *j)
{
    switch (j->target) {
    case PDF_TO_FILE: {
        cJSON *at = cJSON_CreateObject();
        cJSON_AddStringToObject(at, "file", j->file);
        delivered(j, "file", at);
        return;
    }
    case PDF_TO_PUT:
        to_url(j);
        return;
    case PDF_TO_DISCORD:
        to_discord(j);
        return;
    case PDF_TO_TELEGRAM:
        to_telegram(j);
        return;
    }
}

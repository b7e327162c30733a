/* platform.c — see platform.h. */
#include "platform.h"
#include "sha1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_call_init(sl_call *c)
{
    memset(c, 0, sizeof *c);
}

void sl_call_deinit(sl_call *c)
{
    sl_buf_deinit(&c->path);
    sl_buf_deinit(&c->body);
    memset(c, 0, sizeof *c);
}

static const char *str(const cJSON *payload, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An id that may be a JSON string or integer, as text. */
static void id_text(const cJSON *payload, const char *name, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
    if (cJSON_IsString(v))
        snprintf(out, outlen, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, outlen, "%.0f", v->valuedouble);
    else
        out[0] = '\0';
}

static void put_json(sl_buf *b, const char *name, const cJSON *v, int *first)
{
    if (!v)
        return;
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        abort(); /* cJSON fails only when out of memory */
    sl_buf_printf(b, "%s\"%s\":%s", *first ? "" : ",", name, s);
    *first = 0;
    free(s);
}

void sl_discord_open_dm(sl_call *c, const char *user_id)
{
    c->method = "POST";
    c->repeat_safe = 1; /* the same bot and user always get the same channel */
    sl_buf_puts(&c->path, "/users/@me/channels");
    sl_buf_puts(&c->body, "{\"recipient_id\":");
    sl_buf_json_str(&c->body, user_id, strlen(user_id));
    sl_buf_puts(&c->body, "}");
    snprintf(c->route, sizeof c->route, "POST /users/@me/channels");
}

static int ua_part_bad(const char *s)
{
    if (!s || !*s || strlen(s) > 200)
        return 1;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '(' || *s == ')' || *s == ',')
            return 1;
    return 0;
}

int sl_discord_user_agent(char *out, size_t outlen, const char *url, const char *version, char *err,
                          size_t errlen)
{
    const char *bad = ua_part_bad(url)       ? "--discord-ua-url"
                      : ua_part_bad(version) ? "--discord-ua-version"
                                             : NULL;
    if (bad) {
        snprintf(err, errlen,
                 "%s: 1 to 200 printable characters without \"(\", \")\" or \",\" (it goes in "
                 "User-Agent: DiscordBot (URL, VERSION))",
                 bad);
        return SL_EINVAL;
    }
    snprintf(out, outlen, "User-Agent: DiscordBot (%s, %s)", url, version);
    return 0;
}

void sl_discord_nonce(const char *job_id, char out[26])
{
    char hex[41];
    sl_sha1_hex(job_id, strlen(job_id), hex);
    memcpy(out, hex, 25);
    out[25] = '\0';
}

void sl_discord_message(sl_call *c, const cJSON *payload, const char *channel_id,
                        const char *job_id)
{
    const char *op = str(payload, "op");
    char mid[40];
    id_text(payload, "message_id", mid, sizeof mid);
    snprintf(c->major, sizeof c->major, "%s", channel_id);
    int first = 1;
    if (!op || !strcmp(op, "send")) {
        c->method = "POST";
        sl_buf_printf(&c->path, "/channels/%s/messages", channel_id);
        snprintf(c->route, sizeof c->route, "POST /channels/{id}/messages");
        char nonce[26];
        sl_discord_nonce(job_id, nonce);
        sl_buf_printf(&c->body, "{\"nonce\":\"%s\",\"enforce_nonce\":true", nonce);
        c->repeat_safe = 1;
        first = 0;
    } else if (!strcmp(op, "edit")) {
        c->method = "PATCH";
        sl_buf_printf(&c->path, "/channels/%s/messages/%s", channel_id, mid);
        snprintf(c->route, sizeof c->route, "PATCH /channels/{id}/messages/{id}");
        sl_buf_puts(&c->body, "{");
    } else {
        c->method = "DELETE";
        sl_buf_printf(&c->path, "/channels/%s/messages/%s", channel_id, mid);
        snprintf(c->route, sizeof c->route, "DELETE /channels/{id}/messages/{id}");
        return;
    }
    put_json(&c->body, "content", cJSON_GetObjectItemCaseSensitive(payload, "content"), &first);
    put_json(&c->body, "embeds", cJSON_GetObjectItemCaseSensitive(payload, "embeds"), &first);
    sl_buf_puts(&c->body, "}");
}

void sl_discord_send_text(sl_call *c, const char *channel_id, const char *content,
                          const char *nonce_key)
{
    char nonce[26];
    sl_discord_nonce(nonce_key, nonce);
    c->method = "POST";
    c->repeat_safe = 1;
    sl_buf_printf(&c->path, "/channels/%s/messages", channel_id);
    snprintf(c->route, sizeof c->route, "POST /channels/{id}/messages");
    snprintf(c->major, sizeof c->major, "%s", channel_id);
    sl_buf_printf(&c->body, "{\"nonce\":\"%s\",\"enforce_nonce\":true,\"content\":", nonce);
    sl_buf_json_str(&c->body, content, strlen(content));
    sl_buf_puts(&c->body, "}");
}

void sl_discord_send_file(sl_call *c, const char *channel_id)
{
    c->method = "POST";
    sl_buf_printf(&c->path, "/channels/%s/messages", channel_id);
    snprintf(c->route, sizeof c->route, "POST /channels/{id}/messages");
    snprintf(c->major, sizeof c->major, "%s", channel_id);
    c->repeat_safe = 1; /* its payload_json carries the job's nonce */
}

void sl_discord_file_payload(sl_buf *out, const char *content, const char *filename,
                             const char *job_id)
{
    char nonce[26];
    sl_discord_nonce(job_id, nonce);
    sl_buf_puts(out, "{");
    if (content) {
        sl_buf_puts(out, "\"content\":");
        sl_buf_json_str(out, content, strlen(content));
        sl_buf_puts(out, ",");
    }
    sl_buf_printf(out, "\"nonce\":\"%s\",\"enforce_nonce\":true,", nonce);
    sl_buf_puts(out, "\"attachments\":[{\"id\":0,\"filename\":");
    sl_buf_json_str(out, filename, strlen(filename));
    sl_buf_puts(out, "}]}");
}

void sl_discord_list_channels(sl_call *c, const char *guild_id)
{
    c->method = "GET";
    sl_buf_printf(&c->path, "/guilds/%s/channels", guild_id);
    snprintf(c->route, sizeof c->route, "GET /guilds/{id}/channels");
    snprintf(c->major, sizeof c->major, "%s", guild_id);
}

void sl_discord_create_channel(sl_call *c, const char *guild_id, const char *body_json)
{
    c->method = "POST";
    sl_buf_printf(&c->path, "/guilds/%s/channels", guild_id);
    snprintf(c->route, sizeof c->route, "POST /guilds/{id}/channels");
    snprintf(c->major, sizeof c->major, "%s", guild_id);
    sl_buf_puts(&c->body, body_json);
}

void sl_discord_get_member(sl_call *c, const char *guild_id, const char *user_id)
{
    c->method = "GET";
    sl_buf_printf(&c->path, "/guilds/%s/members/%s", guild_id, user_id);
    snprintf(c->route, sizeof c->route, "GET /guilds/{id}/members/{id}");
    snprintf(c->major, sizeof c->major, "%s", guild_id);
}

void sl_discord_list_messages(sl_call *c, const char *channel_id, int limit)
{
    c->method = "GET";
    sl_buf_printf(&c->path, "/channels/%s/messages?limit=%d", channel_id, limit);
    snprintf(c->route, sizeof c->route, "GET /channels/{id}/messages");
    snprintf(c->major, sizeof c->major, "%s", channel_id);
}

void sl_telegram_message(sl_call *c, const cJSON *payload)
{
    const char *op = str(payload, "op");
    id_text(payload, "chat_id", c->chat, sizeof c->chat);
    c->method = "POST";
    const char *method = !op || !strcmp(op, "send") ? "sendMessage"
                         : !strcmp(op, "edit")      ? "editMessageText"
                                                    : "deleteMessage";
    sl_buf_printf(&c->path, "/%s", method);
    int first = 1;
    sl_buf_puts(&c->body, "{");
    put_json(&c->body, "chat_id", cJSON_GetObjectItemCaseSensitive(payload, "chat_id"), &first);
    put_json(&c->body, "message_id", cJSON_GetObjectItemCaseSensitive(payload, "message_id"),
             &first);
    if (strcmp(method, "deleteMessage")) {
        put_json(&c->body, "text", cJSON_GetObjectItemCaseSensitive(payload, "text"), &first);
        put_json(&c->body, "parse_mode", cJSON_GetObjectItemCaseSensitive(payload, "parse_mode"),
                 &first);
    }
    sl_buf_puts(&c->body, "}");
}

void sl_telegram_send_document(sl_call *c, const char *chat)
{
    c->method = "POST";
    sl_buf_puts(&c->path, "/sendDocument");
    snprintf(c->chat, sizeof c->chat, "%s", chat);
}

enum sl_verdict sl_platform_verdict(enum sl_platform platform, const char *op, int status,
                                    const char *body, size_t body_len, char *err, size_t errlen)
{
    if (status >= 200 && status < 300)
        return SL_VERDICT_OK;
    cJSON *doc = body && body_len ? cJSON_ParseWithLength(body, body_len) : NULL;
    const char *msg = NULL;
    int code = 0;
    if (platform == SL_PLATFORM_DISCORD) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "code");
        msg = cJSON_IsString(m) ? m->valuestring : NULL;
        code = cJSON_IsNumber(k) ? (int)k->valuedouble : 0;
    } else {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "description");
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "error_code");
        msg = cJSON_IsString(d) ? d->valuestring : NULL;
        code = cJSON_IsNumber(k) ? (int)k->valuedouble : 0;
    }
    char code_text[32] = "";
    if (code && platform == SL_PLATFORM_DISCORD)
        snprintf(code_text, sizeof code_text, " (code %d)", code);
    snprintf(err, errlen, "%s %d: %.300s%s", sl_platform_name(platform), status,
             msg ? msg : "no message", code_text);
    cJSON_Delete(doc); /* msg is gone with it: err holds the text */
    if (status == 429)
        return SL_VERDICT_RATE;
    if (status >= 500 || status == 408)
        return SL_VERDICT_RETRY;
    /* deleting what is already gone: a retried delete whose first try
     * landed. Discord: Unknown Message (10008); Telegram: 400 "message to
     * delete not found". */
    if (op && !strcmp(op, "delete") &&
        ((platform == SL_PLATFORM_DISCORD && status == 404) ||
         (platform == SL_PLATFORM_TELEGRAM && status == 400 &&
          strstr(err, "message to delete not found"))))
        return SL_VERDICT_OK;
    return SL_VERDICT_PERMANENT;
}

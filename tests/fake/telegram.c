/* telegram.c — Telegram's Bot API: /bot<token>/<method> for sendMessage,
 * editMessageText, deleteMessage and sendDocument, with parameters from a
 * JSON body, a form (urlencoded or multipart) or the query string, as the
 * real API takes them.
 *
 * Limits: every method counts against the bot's limit (per second);
 * sendMessage, sendDocument and editMessageText also against the chat's:
 * a private chat (chat_id > 0) per second, a group or channel per minute.
 * As on Discord, a refused request counts against nothing. */
#include "fake.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOT_WINDOW_MS 1000
#define CHAT_WINDOW_MS 1000
#define GROUP_WINDOW_MS 60000
#define MAX_TEXT 4096
#define SUPERGROUP_BELOW -1000000000000LL

static const struct {
    const char *method;
    int route;
} methods[] = {
    {"sendMessage", FAKE_R_TG_SEND_MESSAGE},
    {"editMessageText", FAKE_R_TG_EDIT_MESSAGE_TEXT},
    {"deleteMessage", FAKE_R_TG_DELETE_MESSAGE},
    {"sendDocument", FAKE_R_TG_SEND_DOCUMENT},
};

static void tg_error(fake_req *r, int status, const char *description)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddBoolToObject(doc, "ok", 0);
    cJSON_AddNumberToObject(doc, "error_code", status);
    cJSON_AddStringToObject(doc, "description", description);
    fake_reply_json(r, status, doc);
}

static void tg_ok(fake_req *r, cJSON *result)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddBoolToObject(doc, "ok", 1);
    cJSON_AddItemToObject(doc, "result", result);
    fake_reply_json(r, 200, doc);
}

/* Parameter NAME from the JSON body, a plain form part or the query, as
 * text (numbers formatted into BUF). NULL when absent. */
static const char *param(const fake_req *r, const cJSON *json, const char *name, char *buf,
                         size_t buflen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, name);
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        snprintf(buf, buflen, "%.0f", v->valuedouble);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    const fake_field *f = fake_req_field(r, name);
    if (f && !f->filename)
        return f->value.data ? f->value.data : "";
    return fake_req_query(r, name);
}

static int parse_int64(const char *s, long long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    *out = strtoll(s, &end, 10);
    return *end ? -1 : 0;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void add_chat(cJSON *msg, const char *chat)
{
    long long id;
    cJSON *c = cJSON_AddObjectToObject(msg, "chat");
    if (parse_int64(chat, &id) == 0) {
        cJSON_AddNumberToObject(c, "id", (double)id);
        cJSON_AddStringToObject(c, "type",
                                id > 0                   ? "private"
                                : id <= SUPERGROUP_BELOW ? "supergroup"
                                                         : "group");
    } else {
        cJSON_AddStringToObject(c, "id", chat);
        cJSON_AddStringToObject(c, "type", "channel");
    }
}

static cJSON *message_json(const fake_message *m, const char *chat)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "message_id", (double)strtoll(m->id, NULL, 10));
    cJSON *from = cJSON_AddObjectToObject(doc, "from");
    cJSON_AddNumberToObject(from, "id", 800000000 + m->bot);
    cJSON_AddBoolToObject(from, "is_bot", 1);
    cJSON_AddStringToObject(from, "first_name", "Fake bot");
    add_chat(doc, chat);
    cJSON_AddNumberToObject(doc, "date", (double)(m->t_ms / 1000));
    if (m->edited_ms)
        cJSON_AddNumberToObject(doc, "edit_date", (double)(m->edited_ms / 1000));
    if (m->attachments) {
        cJSON *doc_item = cJSON_Duplicate(cJSON_GetArrayItem(m->attachments, 0), 1);
        cJSON_AddItemToObject(doc, "document", doc_item);
        if (m->content && m->content[0])
            cJSON_AddStringToObject(doc, "caption", m->content);
    } else {
        cJSON_AddStringToObject(doc, "text", m->content ? m->content : "");
    }
    return doc;
}

/* The bot's and the chat's limits; counts the request in both when it
 * passes. Returns 0, or -1 after answering 429. */
static int admit(fake_state *st, fake_req *r, int bot, const char *chat, int per_chat)
{
    const fake_config *c = &st->cfg;
    int64_t now = r->t_ms;
    long long id;
    int private_chat = parse_int64(chat, &id) == 0 && id > 0;
    int chat_limit = private_chat ? c->tg_chat_limit : c->tg_group_limit;
    int64_t chat_span = private_chat ? CHAT_WINDOW_MS : GROUP_WINDOW_MS;
    fake_window *w = NULL;
    if (per_chat) {
        char key[96];
        snprintf(key, sizeof key, "t\n%d\n%s", bot, chat);
        void **slot = fake_map_slot(&st->buckets, key, NULL);
        if (!*slot)
            *slot = sl_calloc(1, sizeof(fake_window));
        w = *slot;
    }
    int64_t wait = fake_window_wait(&st->tbots[bot], now, c->tg_bot_limit, BOT_WINDOW_MS);
    int scope = FAKE_SCOPE_TG_BOT;
    if (wait == 0 && w) {
        wait = fake_window_wait(w, now, chat_limit, chat_span);
        scope = FAKE_SCOPE_TG_CHAT;
    }
    if (wait > 0) {
        st->stats.limited[scope]++;
        if (scope == FAKE_SCOPE_TG_CHAT && !private_chat)
            st->stats.limited[FAKE_SCOPE_TG_GROUP]++;
        /* Telegram says whole seconds, at least one */
        long long secs = (long long)ceil((double)wait / 1000.0);
        if (secs < 1)
            secs = 1;
        char text[96];
        snprintf(text, sizeof text, "Too Many Requests: retry after %lld", secs);
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 0);
        cJSON_AddNumberToObject(doc, "error_code", 429);
        cJSON_AddStringToObject(doc, "description", text);
        cJSON *params = cJSON_AddObjectToObject(doc, "parameters");
        cJSON_AddNumberToObject(params, "retry_after", (double)secs);
        fake_reply_json(r, 429, doc);
        return -1;
    }
    fake_window_take(&st->tbots[bot], now, BOT_WINDOW_MS);
    if (w) {
        fake_window_take(w, now, chat_span);
        int *max = private_chat ? &st->stats.max_tg_chat : &st->stats.max_tg_group;
        if (w->count > *max)
            *max = w->count;
    }
    return 0;
}

static void send(fake_state *st, fake_req *r, const char *chat, const char *text,
                 const fake_field *document)
{
    fake_channel *ch = fake_channel_get(&st->chats, chat, 1);
    fake_message *m = fake_message_add(ch);
    snprintf(m->id, sizeof m->id, "%lld", (long long)ch->next_tg_id++);
    m->content = sl_strdup(text ? text : "");
    m->delivered = sl_strdup(m->content);
    m->bot = r->bot;
    snprintf(m->author, sizeof m->author, "%d", 800000000 + r->bot);
    m->t_ms = r->t_ms;
    if (document) {
        char file_id[24];
        fake_next_id(st, file_id);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "file_name", document->filename);
        cJSON_AddStringToObject(d, "mime_type",
                                document->content_type ? document->content_type
                                                       : "application/octet-stream");
        cJSON_AddStringToObject(d, "file_id", file_id);
        cJSON_AddStringToObject(d, "file_unique_id", file_id);
        cJSON_AddNumberToObject(d, "file_size", (double)document->size);
        m->attachments = cJSON_CreateArray();
        cJSON_AddItemToArray(m->attachments, d);
    }
    st->stats.deliveries_telegram++;
    r->delivered = 1;
    tg_ok(r, message_json(m, chat));
}

static void edit_or_delete(fake_state *st, fake_req *r, const char *chat, const char *mid,
                           const char *text)
{
    fake_message *m = fake_message_find(fake_channel_get(&st->chats, chat, 0), mid);
    int edit = r->route == FAKE_R_TG_EDIT_MESSAGE_TEXT;
    if (!m || m->deleted) {
        tg_error(r, 400,
                 edit ? "Bad Request: message to edit not found"
                      : "Bad Request: message to delete not found");
    } else if (!edit) {
        m->deleted = 1;
        tg_ok(r, cJSON_CreateTrue());
    } else if (!strcmp(m->content, text)) {
        tg_error(r, 400,
                 "Bad Request: message is not modified: specified new message content "
                 "and reply markup are exactly the same as a current content and reply "
                 "markup of the message");
    } else {
        free(m->content);
        m->content = sl_strdup(text);
        m->edited_ms = r->t_ms;
        tg_ok(r, message_json(m, chat));
    }
}

/* Checks the parameters of R's method; answers 400 and returns -1 when one
 * is missing or wrong. */
static int check_params(fake_req *r, const char *chat, const char *text, const char *mid,
                        const char *parse_mode, const fake_field *document)
{
    int route = r->route;
    const char *why = NULL;
    if (!chat || !chat[0])
        why = "Bad Request: chat_id is empty";
    else if (route != FAKE_R_TG_SEND_MESSAGE && route != FAKE_R_TG_SEND_DOCUMENT && !mid)
        why = "Bad Request: message identifier is not specified";
    else if (route == FAKE_R_TG_SEND_DOCUMENT && !document)
        why = "Bad Request: there is no document in the request";
    else if ((route == FAKE_R_TG_SEND_MESSAGE || route == FAKE_R_TG_EDIT_MESSAGE_TEXT) &&
             (!text || !text[0]))
        why = "Bad Request: message text is empty";
    else if (text && utf8_chars(text) > MAX_TEXT)
        why = "Bad Request: message is too long";
    else if (parse_mode && parse_mode[0] && strcmp(parse_mode, "HTML") &&
             strcmp(parse_mode, "Markdown") && strcmp(parse_mode, "MarkdownV2"))
        why = "Bad Request: unsupported parse_mode";
    if (why)
        tg_error(r, 400, why);
    return why ? -1 : 0;
}

static const fake_field *document_part(const fake_req *r)
{
    const fake_field *f = fake_req_field(r, "document");
    return f && f->filename ? f : NULL;
}

void fake_telegram_serve(fake_state *st, fake_req *r, const char *path)
{
    const char *slash = strchr(path, '/');
    const char *method = slash ? slash + 1 : "";
    r->route = FAKE_R_TG_UNKNOWN;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (!strcasecmp(method, methods[i].method)) /* Telegram ignores the case */
            r->route = methods[i].route;
    size_t toklen = slash ? (size_t)(slash - path) : strlen(path);
    for (int i = 0; i < st->n_telegram && r->bot < 0; i++)
        if (strlen(st->telegram_tokens[i]) == toklen &&
            !strncmp(path, st->telegram_tokens[i], toklen))
            r->bot = i;
    if (r->bot < 0) {
        tg_error(r, 401, "Unauthorized");
        return;
    }
    if (r->route == FAKE_R_TG_UNKNOWN) {
        tg_error(r, 404, "Not Found");
        return;
    }
    int failed = fake_roll_failure(st);
    if (failed) {
        st->stats.failed++;
        tg_error(r, failed, failed == 500 ? "Internal Server Error" : "Bad Gateway");
        return;
    }
    if (r->too_big) {
        tg_error(r, 413, "Request Entity Too Large");
        return;
    }
    cJSON *json = NULL;
    if (fake_req_body_is_json(r) || (r->form == FAKE_FORM_NONE && r->body.len)) {
        json = cJSON_ParseWithLength(r->body.data, r->body.len);
        if (!cJSON_IsObject(json)) {
            cJSON_Delete(json);
            tg_error(r, 400, "Bad Request: can't parse JSON object");
            return;
        }
    }
    char b1[32], b2[32], b3[32], b4[32];
    const char *chat = param(r, json, "chat_id", b1, sizeof b1);
    const char *mid = param(r, json, "message_id", b2, sizeof b2);
    const char *text =
        param(r, json, r->route == FAKE_R_TG_SEND_DOCUMENT ? "caption" : "text", b3, sizeof b3);
    const char *parse_mode = param(r, json, "parse_mode", b4, sizeof b4);
    const fake_field *document = document_part(r);
    if (chat)
        sl_strlcpy(r->channel, chat, sizeof r->channel);
    int per_chat = r->route != FAKE_R_TG_DELETE_MESSAGE;
    if (check_params(r, chat, text, mid, parse_mode, document) == 0 &&
        admit(st, r, r->bot, chat, per_chat) == 0) {
        if (fake_map_get(&st->missing_chats, chat))
            tg_error(r, 400, "Bad Request: chat not found");
        else if (r->route == FAKE_R_TG_SEND_MESSAGE || r->route == FAKE_R_TG_SEND_DOCUMENT)
            send(st, r, chat, text, document);
        else
            edit_or_delete(st, r, chat, mid, text);
    }
    cJSON_Delete(json);
}

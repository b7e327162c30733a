/* discord_messages.c — POST/GET /channels/{cid}/messages and PATCH/DELETE
 * /channels/{cid}/messages/{mid}, with Discord's nonce rule: a message sent
 * with "enforce_nonce": true whose nonce the same bot used on the same
 * channel in the last five minutes is not created again; the earlier
 * message is returned. Every other repeat of a nonce on a channel is a
 * delivered duplicate, counted for the tests to assert on. */
#include "discord.h"

#include <stdlib.h>
#include <string.h>

#define NONCE_TTL_MS (5 * 60 * 1000)
#define MAX_CONTENT 2000 /* characters, not bytes */
#define MAX_NONCE 25
#define MAX_DUPLICATES_LISTED 100
#define DEFAULT_LIST_LIMIT 50

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void form_body_error(fake_req *r, const char *field, const char *code, const char *text)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "message", "Invalid Form Body");
    cJSON_AddNumberToObject(doc, "code", 50035);
    cJSON *errors = cJSON_AddObjectToObject(doc, "errors");
    cJSON *f = cJSON_AddObjectToObject(errors, field);
    cJSON *list = cJSON_AddArrayToObject(f, "_errors");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", text);
    cJSON_AddItemToArray(list, e);
    fake_reply_json(r, 400, doc);
}

cJSON *fake_discord_message_json(const fake_message *m, const char *cid)
{
    char ts[40];
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", m->id);
    cJSON_AddNumberToObject(doc, "type", 0);
    cJSON_AddStringToObject(doc, "channel_id", cid);
    cJSON *author = cJSON_AddObjectToObject(doc, "author");
    cJSON_AddStringToObject(author, "id", m->author);
    if (m->bot >= 0)
        cJSON_AddBoolToObject(author, "bot", 1);
    cJSON_AddStringToObject(doc, "content", m->content ? m->content : "");
    fake_iso_time(m->t_ms, ts);
    cJSON_AddStringToObject(doc, "timestamp", ts);
    if (m->edited_ms) {
        fake_iso_time(m->edited_ms, ts);
        cJSON_AddStringToObject(doc, "edited_timestamp", ts);
    } else {
        cJSON_AddNullToObject(doc, "edited_timestamp");
    }
    cJSON_AddBoolToObject(doc, "tts", 0);
    cJSON_AddBoolToObject(doc, "pinned", 0);
    cJSON_AddItemToObject(doc, "attachments",
                          m->attachments ? cJSON_Duplicate(m->attachments, 1)
                                         : cJSON_CreateArray());
    cJSON_AddItemToObject(doc, "embeds",
                          m->embeds ? cJSON_Duplicate(m->embeds, 1) : cJSON_CreateArray());
    if (m->nonce)
        cJSON_AddStringToObject(doc, "nonce", m->nonce);
    return doc;
}

/* The files[N] parts (any part with a file name) as attachment objects. */
static cJSON *attachments_of(fake_state *st, const fake_req *r, const char *cid)
{
    cJSON *list = NULL;
    for (size_t i = 0; i < r->nfields; i++) {
        const fake_field *f = &r->fields[i];
        if (!f->filename)
            continue;
        if (!list)
            list = cJSON_CreateArray();
        char id[24], url[512];
        fake_next_id(st, id);
        snprintf(url, sizeof url, "https://cdn.discordapp.com/attachments/%s/%s/%s", cid, id,
                 f->filename);
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "id", id);
        cJSON_AddStringToObject(a, "filename", f->filename);
        cJSON_AddNumberToObject(a, "size", (double)f->size);
        cJSON_AddStringToObject(a, "url", url);
        cJSON_AddStringToObject(a, "proxy_url", url);
        if (f->content_type)
            cJSON_AddStringToObject(a, "content_type", f->content_type);
        cJSON_AddItemToArray(list, a);
    }
    return list;
}

/* The message's text: "content" from the JSON payload, else from a plain
 * form part of that name. NULL when there is none. */
static const char *content_of(const fake_req *r, const cJSON *in)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(in, "content");
    if (cJSON_IsString(c))
        return c->valuestring;
    const fake_field *f = fake_req_field(r, "content");
    return f && !f->filename ? (f->value.data ? f->value.data : "") : NULL;
}

/* Records where NONCE went; counts a duplicate when it had been delivered
 * on this channel before. */
static void note_nonce(fake_state *st, const char *key, const char *cid, const char *nonce,
                       fake_message *m, int bot, int64_t now)
{
    void **slot = fake_map_slot(&st->nonces, key, NULL);
    if (*slot) {
        st->stats.duplicates++;
        if (cJSON_GetArraySize(st->stats.duplicate_list) < MAX_DUPLICATES_LISTED) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "channel_id", cid);
            cJSON_AddStringToObject(d, "nonce", nonce);
            cJSON_AddNumberToObject(d, "bot", bot);
            cJSON_AddItemToArray(st->stats.duplicate_list, d);
        }
    } else {
        *slot = sl_calloc(1, sizeof(fake_nonce));
    }
    fake_nonce *n = *slot;
    n->msg = m;
    n->bot = bot;
    n->t_ms = now;
}

void fake_discord_create_message(fake_state *st, fake_req *r, const char *cid)
{
    int bad;
    cJSON *in = fake_discord_payload(r, &bad);
    if (bad) {
        fake_discord_error(r, 400, "The request body contains invalid JSON.", 50109);
        return;
    }
    const char *content = content_of(r, in);
    const cJSON *embeds = cJSON_GetObjectItemCaseSensitive(in, "embeds");
    int has_files = 0;
    for (size_t i = 0; i < r->nfields; i++)
        has_files |= r->fields[i].filename != NULL;
    int has_embeds = cJSON_IsArray(embeds) && cJSON_GetArraySize(embeds) > 0;
    char nonce[64] = "";
    int has_nonce = fake_json_id(in, "nonce", nonce, sizeof nonce) == 0;
    if (!has_nonce) {
        const fake_field *f = fake_req_field(r, "nonce");
        if (f && f->value.len && f->value.len < sizeof nonce) {
            sl_strlcpy(nonce, f->value.data, sizeof nonce);
            has_nonce = 1;
        }
    }
    int enforce = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "enforce_nonce"));
    sl_strlcpy(r->nonce, nonce, sizeof r->nonce);

    if ((!content || !content[0]) && !has_embeds && !has_files) {
        fake_discord_error(r, 400, "Cannot send an empty message", 50006);
    } else if (content && utf8_chars(content) > MAX_CONTENT) {
        form_body_error(r, "content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
    } else if (has_nonce && strlen(nonce) > MAX_NONCE) {
        form_body_error(r, "nonce", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
    } else {
        char key[128] = "";
        fake_nonce *seen = NULL;
        if (has_nonce) {
            snprintf(key, sizeof key, "%s\n%s", cid, nonce);
            seen = fake_map_get(&st->nonces, key);
        }
        if (enforce && seen && seen->bot == r->bot && r->t_ms - seen->t_ms < NONCE_TTL_MS) {
            /* the earlier message, as Discord answers; nothing delivered */
            st->stats.nonce_repeats++;
            fake_reply_json(r, 200, fake_discord_message_json(seen->msg, cid));
        } else {
            fake_channel *ch = fake_channel_get(&st->channels, cid, 1);
            fake_message *m = fake_message_add(ch);
            fake_next_id(st, m->id);
            m->content = sl_strdup(content ? content : "");
            m->delivered = sl_strdup(m->content);
            m->nonce = has_nonce ? sl_strdup(nonce) : NULL;
            fake_discord_bot_id(r->bot, m->author);
            m->bot = r->bot;
            m->t_ms = r->t_ms;
            m->attachments = attachments_of(st, r, cid);
            m->embeds = has_embeds ? cJSON_Duplicate(embeds, 1) : NULL;
            if (has_nonce)
                note_nonce(st, key, cid, nonce, m, r->bot, r->t_ms);
            st->stats.deliveries_discord++;
            r->delivered = 1;
            fake_reply_json(r, 200, fake_discord_message_json(m, cid));
        }
    }
    cJSON_Delete(in);
}

/* The message MID on CID, or NULL after answering 404. */
static fake_message *existing(fake_state *st, fake_req *r, const char *cid, const char *mid)
{
    fake_message *m = fake_message_find(fake_channel_get(&st->channels, cid, 0), mid);
    if (!m || m->deleted) {
        fake_discord_error(r, 404, "Unknown Message", 10008);
        return NULL;
    }
    return m;
}

void fake_discord_edit_message(fake_state *st, fake_req *r, const char *cid, const char *mid)
{
    int bad;
    cJSON *in = fake_discord_payload(r, &bad);
    fake_message *m;
    if (bad) {
        fake_discord_error(r, 400, "The request body contains invalid JSON.", 50109);
    } else if ((m = existing(st, r, cid, mid)) != NULL) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(in, "content");
        const cJSON *embeds = cJSON_GetObjectItemCaseSensitive(in, "embeds");
        if (m->bot != r->bot) {
            fake_discord_error(r, 403, "Cannot edit a message authored by another user", 50005);
        } else if (cJSON_IsString(content) && utf8_chars(content->valuestring) > MAX_CONTENT) {
            form_body_error(r, "content", "BASE_TYPE_MAX_LENGTH",
                            "Must be 2000 or fewer in length.");
        } else {
            if (cJSON_IsString(content)) {
                free(m->content);
                m->content = sl_strdup(content->valuestring);
            }
            if (cJSON_IsArray(embeds)) {
                cJSON_Delete(m->embeds);
                m->embeds = cJSON_Duplicate(embeds, 1);
            }
            m->edited_ms = r->t_ms;
            fake_reply_json(r, 200, fake_discord_message_json(m, cid));
        }
    }
    cJSON_Delete(in);
}

void fake_discord_delete_message(fake_state *st, fake_req *r, const char *cid, const char *mid)
{
    fake_message *m = existing(st, r, cid, mid);
    if (!m)
        return;
    m->deleted = 1;
    fake_reply(r, 204, NULL);
}

void fake_discord_list_messages(fake_state *st, fake_req *r, const char *cid)
{
    long limit = DEFAULT_LIST_LIMIT;
    const char *q = fake_req_query(r, "limit");
    if (q) {
        char *end;
        limit = strtol(q, &end, 10);
        if (end == q || *end || limit < 1 || limit > 100) {
            form_body_error(r, "limit", "NUMBER_TYPE_MAX", "Must be between 1 and 100.");
            return;
        }
    }
    cJSON *list = cJSON_CreateArray();
    fake_channel *ch = fake_channel_get(&st->channels, cid, 0);
    for (size_t i = ch ? ch->len : 0; i-- > 0 && cJSON_GetArraySize(list) < limit;)
        if (!ch->msgs[i]->deleted)
            cJSON_AddItemToArray(list, fake_discord_message_json(ch->msgs[i], cid));
    fake_reply_json(r, 200, list);
}

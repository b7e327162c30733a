/* control.c — the control API under /_fake/: what tests read and steer.
 * Never authenticated, rate-limited, delayed, failed or recorded.
 *
 *   GET  /_fake/stats                  counters and maxima (see README.md)
 *   GET  /_fake/messages?channel_id=X  what was delivered to a Discord channel
 *   GET  /_fake/messages?chat_id=X     ... to a Telegram chat
 *   POST /_fake/reset                  forget the records, keep the settings
 *   GET  /_fake/config                 the settings in force
 *   POST /_fake/config                 change them (all or nothing) */
#include "fake.h"

#include <string.h>

#define MAX_LIMIT 1000000
#define MAX_MS 3600000

static void ctl_error(fake_req *r, int status, const char *message)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "error", message);
    fake_reply_json(r, status, doc);
}

static void add_count(cJSON *obj, const char *key, uint64_t n)
{
    cJSON_AddNumberToObject(obj, key, (double)n);
}

static cJSON *map_keys(const fake_map *m)
{
    cJSON *list = cJSON_CreateArray();
    size_t it = 0;
    const char *key;
    void *val;
    while (fake_map_next(m, &it, &key, &val))
        if (val)
            cJSON_AddItemToArray(list, cJSON_CreateString(key));
    return list;
}

static cJSON *config_json(const fake_state *st)
{
    const fake_config *c = &st->cfg;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "latency_ms", c->latency_ms);
    cJSON *lat = cJSON_AddObjectToObject(doc, "latency");
    for (int i = 0; i < FAKE_R_COUNT; i++)
        if (c->route_latency_ms[i] >= 0)
            cJSON_AddNumberToObject(lat, fake_route_names[i], c->route_latency_ms[i]);
    cJSON_AddNumberToObject(doc, "fail_rate", c->fail_rate);
    cJSON_AddNumberToObject(doc, "drop_rate", c->drop_rate);
    cJSON_AddNumberToObject(doc, "fail_after_rate", c->fail_after_rate);
    cJSON_AddNumberToObject(doc, "global_limit", c->global_limit);
    cJSON_AddNumberToObject(doc, "bucket_limit", c->bucket_limit);
    cJSON_AddNumberToObject(doc, "bucket_window_ms", c->bucket_window_ms);
    cJSON_AddNumberToObject(doc, "telegram_bot_limit", c->tg_bot_limit);
    cJSON_AddNumberToObject(doc, "telegram_chat_limit", c->tg_chat_limit);
    cJSON_AddNumberToObject(doc, "telegram_group_limit", c->tg_group_limit);
    int64_t left = c->global_429_until - sl_now_ms();
    cJSON_AddNumberToObject(doc, "global_429_remaining_ms", (double)(left > 0 ? left : 0));
    cJSON_AddNumberToObject(doc, "discord_bots", st->n_discord);
    cJSON_AddNumberToObject(doc, "telegram_bots", st->n_telegram);
    cJSON_AddItemToObject(doc, "forbidden_channels", map_keys(&st->forbidden));
    cJSON_AddItemToObject(doc, "missing_channels", map_keys(&st->missing));
    cJSON_AddItemToObject(doc, "missing_chats", map_keys(&st->missing_chats));
    cJSON *roles = cJSON_AddObjectToObject(doc, "member_roles");
    size_t it = 0;
    const char *key;
    void *val;
    while (fake_map_next(&st->member_roles, &it, &key, &val))
        if (val)
            cJSON_AddItemToObject(roles, key, cJSON_Duplicate(val, 1));
    return doc;
}

/* ---------------------------------------------------------------- stats */

static cJSON *stats_json(fake_state *st)
{
    const fake_stats *s = &st->stats;
    int64_t now = sl_now_ms();
    char key[16];
    cJSON *doc = cJSON_CreateObject();
    add_count(doc, "uptime_ms", (uint64_t)(now - st->started_ms));
    add_count(doc, "since_reset_ms", (uint64_t)(now - st->reset_ms));

    cJSON *req = cJSON_AddObjectToObject(doc, "requests");
    uint64_t total = 0;
    for (int i = 0; i < FAKE_R_COUNT; i++) {
        cJSON *by_status = NULL;
        for (int code = 0; code < FAKE_STATUS_MAX; code++) {
            if (!s->requests[i][code])
                continue;
            if (!by_status)
                by_status = cJSON_AddObjectToObject(req, fake_route_names[i]);
            snprintf(key, sizeof key, "%d", code);
            add_count(by_status, code ? key : "dropped", s->requests[i][code]);
            total += s->requests[i][code];
        }
    }
    add_count(doc, "requests_total", total);
    add_count(doc, "deliveries", s->deliveries_discord + s->deliveries_telegram);
    add_count(doc, "deliveries_discord", s->deliveries_discord);
    add_count(doc, "deliveries_telegram", s->deliveries_telegram);
    add_count(doc, "nonce_repeats", s->nonce_repeats);
    add_count(doc, "duplicates", s->duplicates);
    cJSON_AddItemToObject(doc, "duplicate_list", cJSON_Duplicate(s->duplicate_list, 1));
    cJSON *limited = cJSON_AddObjectToObject(doc, "rate_limited");
    for (int i = 0; i < FAKE_SCOPE_COUNT; i++)
        add_count(limited, fake_scope_names[i], s->limited[i]);
    add_count(doc, "failed", s->failed);
    add_count(doc, "failed_after", s->failed_after);
    add_count(doc, "dropped", s->dropped);
    add_count(doc, "bad_user_agent", s->bad_user_agent);
    cJSON_AddItemToObject(doc, "user_agents", cJSON_Duplicate(s->user_agents, 1));

    cJSON *inv = cJSON_AddObjectToObject(doc, "invalid_requests");
    cJSON *per_sec = cJSON_CreateObject();
    int max_global = 0;
    for (int i = 0; i < st->n_discord; i++) {
        const fake_discord_bot *b = &st->dbots[i];
        snprintf(key, sizeof key, "%d", i);
        cJSON *one = cJSON_AddObjectToObject(inv, key);
        add_count(one, "last_10min", fake_invalid_recent(&b->invalid, now));
        add_count(one, "total", b->invalid.total);
        cJSON_AddNumberToObject(per_sec, key, b->global.max);
        if (b->global.max > max_global)
            max_global = b->global.max;
    }
    cJSON *unknown = cJSON_AddObjectToObject(inv, "unknown");
    add_count(unknown, "last_10min", fake_invalid_recent(&s->invalid_unknown, now));
    add_count(unknown, "total", s->invalid_unknown.total);
    cJSON_AddNumberToObject(doc, "max_global_per_second", max_global);
    cJSON_AddItemToObject(doc, "max_global_per_second_by_bot", per_sec);

    cJSON *by_route = cJSON_CreateObject();
    int max_bucket = 0;
    for (int i = 0; i < FAKE_R_COUNT; i++) {
        if (!s->max_bucket[i])
            continue;
        cJSON_AddNumberToObject(by_route, fake_route_names[i], s->max_bucket[i]);
        if (s->max_bucket[i] > max_bucket)
            max_bucket = s->max_bucket[i];
    }
    cJSON_AddNumberToObject(doc, "max_bucket_window", max_bucket);
    cJSON_AddItemToObject(doc, "max_bucket_window_by_route", by_route);

    cJSON *tg = cJSON_CreateObject();
    int max_tg = 0;
    for (int i = 0; i < st->n_telegram; i++) {
        snprintf(key, sizeof key, "%d", i);
        cJSON_AddNumberToObject(tg, key, st->tbots[i].max);
        if (st->tbots[i].max > max_tg)
            max_tg = st->tbots[i].max;
    }
    cJSON_AddNumberToObject(doc, "max_telegram_bot_per_second", max_tg);
    cJSON_AddItemToObject(doc, "max_telegram_bot_per_second_by_bot", tg);
    cJSON_AddNumberToObject(doc, "max_telegram_chat_per_second", s->max_tg_chat);
    cJSON_AddNumberToObject(doc, "max_telegram_group_per_minute", s->max_tg_group);
    cJSON_AddItemToObject(doc, "config", config_json(st));
    return doc;
}

/* ---------------------------------------------------------------- messages */

static cJSON *message_record(const fake_message *m)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", m->id);
    cJSON_AddStringToObject(doc, "author_id", m->author);
    if (m->bot >= 0)
        cJSON_AddNumberToObject(doc, "bot", m->bot);
    cJSON_AddStringToObject(doc, "content", m->content ? m->content : "");
    cJSON_AddStringToObject(doc, "delivered_content", m->delivered ? m->delivered : "");
    if (m->nonce)
        cJSON_AddStringToObject(doc, "nonce", m->nonce);
    cJSON_AddNumberToObject(doc, "t_ms", (double)m->t_ms);
    cJSON_AddBoolToObject(doc, "edited", m->edited_ms != 0);
    cJSON_AddBoolToObject(doc, "deleted", m->deleted);
    if (m->attachments)
        cJSON_AddItemToObject(doc, "attachments", cJSON_Duplicate(m->attachments, 1));
    if (m->embeds)
        cJSON_AddItemToObject(doc, "embeds", cJSON_Duplicate(m->embeds, 1));
    return doc;
}

static void messages(fake_state *st, fake_req *r)
{
    const char *cid = fake_req_query(r, "channel_id");
    const char *chat = fake_req_query(r, "chat_id");
    if (!cid == !chat) {
        ctl_error(r, 400, "give channel_id or chat_id");
        return;
    }
    fake_channel *ch = fake_channel_get(cid ? &st->channels : &st->chats, cid ? cid : chat, 0);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, cid ? "channel_id" : "chat_id", cid ? cid : chat);
    cJSON *contents = cJSON_AddArrayToObject(doc, "contents");
    cJSON *list = cJSON_AddArrayToObject(doc, "messages");
    size_t delivered = 0;
    for (size_t i = 0; ch && i < ch->len; i++) {
        const fake_message *m = ch->msgs[i];
        if (m->bot >= 0) {
            cJSON_AddItemToArray(contents, cJSON_CreateString(m->delivered ? m->delivered : ""));
            delivered++;
        }
        cJSON_AddItemToArray(list, message_record(m));
    }
    add_count(doc, "deliveries", delivered);
    fake_reply_json(r, 200, doc);
}

/* ---------------------------------------------------------------- config */

/* Reads ITEM as an integer in [MIN, MAX] into *OUT; 0 or -1. */
static int int_in(const cJSON *item, long long min, long long max, long long *out)
{
    if (!cJSON_IsNumber(item) || item->valuedouble < (double)min ||
        item->valuedouble > (double)max ||
        item->valuedouble != (double)(long long)item->valuedouble)
        return -1;
    *out = (long long)item->valuedouble;
    return 0;
}

static int id_text(const cJSON *item, char *out, size_t outlen)
{
    if (cJSON_IsString(item) && item->valuestring[0] && strlen(item->valuestring) < outlen) {
        sl_strlcpy(out, item->valuestring, outlen);
        return 0;
    }
    if (cJSON_IsNumber(item)) {
        snprintf(out, outlen, "%.0f", item->valuedouble);
        return 0;
    }
    return -1;
}

/* post_message: a message from a user (an applicant posting an image),
 * listed by GET .../messages but not counted as a delivery. */
static int post_message(fake_state *st, const cJSON *in, int dry, cJSON *posted)
{
    char cid[40], author[24];
    if (!cJSON_IsObject(in) || id_text(cJSON_GetObjectItem(in, "channel_id"), cid, sizeof cid) ||
        id_text(cJSON_GetObjectItem(in, "author_id"), author, sizeof author))
        return -1;
    const cJSON *content = cJSON_GetObjectItem(in, "content");
    const cJSON *atts = cJSON_GetObjectItem(in, "attachments");
    if ((content && !cJSON_IsString(content)) || (atts && !cJSON_IsArray(atts)))
        return -1;
    const cJSON *a;
    for (a = atts ? atts->child : NULL; a; a = a->next) {
        const cJSON *fn = cJSON_GetObjectItem(a, "filename");
        if (!cJSON_IsString(fn))
            return -1;
    }
    if (dry)
        return 0;
    fake_channel *ch = fake_channel_get(&st->channels, cid, 1);
    fake_message *m = fake_message_add(ch);
    fake_next_id(st, m->id);
    m->content = sl_strdup(content ? content->valuestring : "");
    m->delivered = sl_strdup(m->content);
    sl_strlcpy(m->author, author, sizeof m->author);
    m->bot = -1;
    m->t_ms = sl_now_ms();
    for (a = atts ? atts->child : NULL; a; a = a->next) {
        char id[24], url[512];
        const cJSON *fn = cJSON_GetObjectItem(a, "filename");
        const cJSON *ct = cJSON_GetObjectItem(a, "content_type");
        const cJSON *size = cJSON_GetObjectItem(a, "size");
        fake_next_id(st, id);
        snprintf(url, sizeof url, "https://cdn.discordapp.com/attachments/%s/%s/%s", cid, id,
                 fn->valuestring);
        cJSON *att = cJSON_CreateObject();
        cJSON_AddStringToObject(att, "id", id);
        cJSON_AddStringToObject(att, "filename", fn->valuestring);
        cJSON_AddNumberToObject(att, "size", cJSON_IsNumber(size) ? size->valuedouble : 1024);
        cJSON_AddStringToObject(att, "url", url);
        cJSON_AddStringToObject(att, "proxy_url", url);
        if (cJSON_IsString(ct))
            cJSON_AddStringToObject(att, "content_type", ct->valuestring);
        if (!m->attachments)
            m->attachments = cJSON_CreateArray();
        cJSON_AddItemToArray(m->attachments, att);
    }
    cJSON_AddItemToArray(posted, message_record(m));
    return 0;
}

static int set_list(fake_map *map, const cJSON *list, int dry)
{
    char id[40];
    const cJSON *v;
    if (!cJSON_IsArray(list))
        return -1;
    for (v = list->child; v; v = v->next) {
        if (id_text(v, id, sizeof id))
            return -1;
    }
    if (dry)
        return 0;
    fake_map_clear(map, NULL);
    for (v = list->child; v; v = v->next) {
        id_text(v, id, sizeof id);
        fake_map_set(map, id, (void *)1);
    }
    return 0;
}

static int set_roles(fake_state *st, const cJSON *obj, int dry)
{
    const cJSON *v, *role;
    if (!cJSON_IsObject(obj))
        return -1;
    for (v = obj->child; v; v = v->next) {
        if (!strchr(v->string, '/') || !(cJSON_IsArray(v) || cJSON_IsNull(v)))
            return -1;
        for (role = v->child; role; role = role->next) {
            if (!cJSON_IsString(role) && !cJSON_IsNumber(role))
                return -1;
        }
    }
    for (v = obj->child; v; v = v->next) {
        if (dry)
            continue;
        cJSON *roles = cJSON_CreateArray();
        char id[40];
        for (role = v->child; role; role = role->next) {
            id_text(role, id, sizeof id);
            cJSON_AddItemToArray(roles, cJSON_CreateString(id));
        }
        if (cJSON_IsNull(v)) {
            cJSON_Delete(roles);
            roles = NULL; /* no longer a member */
        }
        cJSON_Delete(fake_map_set(&st->member_roles, v->string, roles));
    }
    return 0;
}

/* Applies the members of IN to C (and to ST's maps unless DRY). Returns 0,
 * or -1 with the offending key in ERR. Run once DRY to validate, then for
 * real: a bad request changes nothing. */
static int apply(fake_state *st, fake_config *c, const cJSON *in, int dry, cJSON *posted, char *err,
                 size_t errlen)
{
    const cJSON *item;
    for (item = in->child; item; item = item->next) {
        const char *k = item->string;
        long long v = 0;
        int bad = 0;
        if (!strcmp(k, "limits") || !strcmp(k, "config")) {
            bad = !cJSON_IsObject(item) || apply(st, c, item, dry, posted, err, errlen);
            if (bad)
                return -1;
        } else if (!strcmp(k, "latency_ms")) {
            bad = int_in(item, 0, MAX_MS, &v);
            c->latency_ms = (int)v;
        } else if (!strcmp(k, "latency")) {
            const cJSON *r;
            bad = !cJSON_IsObject(item);
            for (r = item->child; r; r = r->next) {
                int route = fake_route_parse(r->string);
                bad |= route < 0 || (!cJSON_IsNull(r) && int_in(r, 0, MAX_MS, &v));
                if (!bad)
                    c->route_latency_ms[route] = cJSON_IsNull(r) ? -1 : (int)v;
            }
        } else if (!strcmp(k, "fail_rate") || !strcmp(k, "drop_rate") ||
                   !strcmp(k, "fail_after_rate")) {
            bad = !cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble > 1;
            *(!strcmp(k, "fail_rate")   ? &c->fail_rate
              : !strcmp(k, "drop_rate") ? &c->drop_rate
                                        : &c->fail_after_rate) = item->valuedouble;
        } else if (!strcmp(k, "global_limit") || !strcmp(k, "bucket_limit") ||
                   !strcmp(k, "telegram_bot_limit") || !strcmp(k, "telegram_chat_limit") ||
                   !strcmp(k, "telegram_group_limit")) {
            bad = int_in(item, 0, MAX_LIMIT, &v);
            int *dst = !strcmp(k, "global_limit")          ? &c->global_limit
                       : !strcmp(k, "bucket_limit")        ? &c->bucket_limit
                       : !strcmp(k, "telegram_bot_limit")  ? &c->tg_bot_limit
                       : !strcmp(k, "telegram_chat_limit") ? &c->tg_chat_limit
                                                           : &c->tg_group_limit;
            *dst = (int)v;
        } else if (!strcmp(k, "bucket_window_ms")) {
            bad = int_in(item, 1, MAX_MS, &v);
            c->bucket_window_ms = (int)v;
        } else if (!strcmp(k, "global_429_for_ms")) {
            bad = int_in(item, 0, MAX_MS, &v);
            c->global_429_until = v ? sl_now_ms() + v : 0;
        } else if (!strcmp(k, "member_roles")) {
            bad = set_roles(st, item, dry);
        } else if (!strcmp(k, "post_message")) {
            const cJSON *one;
            if (cJSON_IsArray(item)) {
                for (one = item->child; one; one = one->next)
                    bad |= post_message(st, one, dry, posted);
            } else {
                bad = post_message(st, item, dry, posted);
            }
        } else if (!strcmp(k, "forbidden_channels")) {
            bad = set_list(&st->forbidden, item, dry);
        } else if (!strcmp(k, "missing_channels")) {
            bad = set_list(&st->missing, item, dry);
        } else if (!strcmp(k, "missing_chats")) {
            bad = set_list(&st->missing_chats, item, dry);
        } else {
            snprintf(err, errlen, "unknown key \"%.60s\"", k);
            return -1;
        }
        if (bad) {
            snprintf(err, errlen, "bad value for \"%.60s\"", k);
            return -1;
        }
    }
    return 0;
}

static void set_config(fake_state *st, fake_req *r)
{
    char err[128];
    cJSON *in = cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
    if (!cJSON_IsObject(in)) {
        cJSON_Delete(in);
        ctl_error(r, 400, "expected a JSON object");
        return;
    }
    fake_config c = st->cfg;
    cJSON *posted = cJSON_CreateArray();
    if (apply(st, &c, in, 1, posted, err, sizeof err) != 0) {
        ctl_error(r, 400, err);
    } else {
        c = st->cfg;
        apply(st, &c, in, 0, posted, err, sizeof err);
        st->cfg = c;
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddBoolToObject(doc, "ok", 1);
        cJSON_AddItemToObject(doc, "config", config_json(st));
        cJSON_AddItemToObject(doc, "posted", posted);
        posted = NULL;
        fake_reply_json(r, 200, doc);
    }
    cJSON_Delete(posted);
    cJSON_Delete(in);
}

void fake_control_serve(fake_state *st, fake_req *r, const char *path)
{
    int get = !strcmp(r->method, "GET"), post = !strcmp(r->method, "POST");
    if (!strcmp(path, "/stats") && get) {
        fake_reply_json(r, 200, stats_json(st));
    } else if (!strcmp(path, "/messages") && get) {
        messages(st, r);
    } else if (!strcmp(path, "/reset") && post) {
        fake_state_reset(st);
        fake_reply(r, 200, "{\"ok\":true}");
    } else if (!strcmp(path, "/config") && get) {
        fake_reply_json(r, 200, config_json(st));
    } else if (!strcmp(path, "/config") && post) {
        set_config(st, r);
    } else if (!strcmp(path, "/stats") || !strcmp(path, "/messages") || !strcmp(path, "/reset") ||
               !strcmp(path, "/config")) {
        ctl_error(r, 405, "method not allowed");
    } else {
        ctl_error(r, 404, "no such control endpoint");
    }
}

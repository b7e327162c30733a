/* discord.c — Discord's REST API v10, as far as Sluice's workers use it:
 * routing, bot-token auth, the global and per-route rate limits with their
 * headers, the invalid-request count, and the DM and guild routes. The
 * channel message routes are in discord_messages.c.
 *
 * A request goes: route (404/405) -> token (401) -> User-Agent (403) ->
 * injected 5xx -> global limit -> bucket -> forbidden/missing channel
 * (403/404) -> the route -> injected 5xx after the effect (--fail-after-rate:
 * done, counted, answered 5xx without bucket headers). A request refused on
 * the way is neither counted against a limit nor delivered, as on Discord. */
#include "discord.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GLOBAL_WINDOW_MS 1000

typedef struct route_match {
    int route;      /* enum fake_route */
    int status;     /* 404 or 405 when route is FAKE_R_DISCORD_UNKNOWN */
    char major[40]; /* channel id or guild id; "" for the DM route */
    char minor[40]; /* message id or user id */
} route_match;

void fake_discord_error(fake_req *r, int status, const char *message, int code)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "message", message);
    cJSON_AddNumberToObject(doc, "code", code);
    fake_reply_json(r, status, doc);
}

void fake_discord_bot_id(int bot, char out[24])
{
    snprintf(out, 24, "%llu", 900000000000000000ULL + (unsigned long long)bot);
}

int fake_json_id(const cJSON *obj, const char *name, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(v) && v->valuestring[0]) {
        snprintf(out, outlen, "%s", v->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        snprintf(out, outlen, "%.0f", v->valuedouble);
        return 0;
    }
    return -1;
}

cJSON *fake_discord_payload(const fake_req *r, int *bad)
{
    const char *text = NULL;
    size_t len = 0;
    const fake_field *pj = fake_req_field(r, "payload_json");
    if (pj) {
        text = pj->value.data;
        len = pj->value.len;
    } else if (fake_req_body_is_json(r) || (r->form == FAKE_FORM_NONE && r->body.len)) {
        text = r->body.data;
        len = r->body.len;
    }
    *bad = 0;
    if (!text || !len)
        return NULL;
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        *bad = 1;
        return NULL;
    }
    return doc;
}

/* ---------------------------------------------------------------- routing */

static int split(const char *path, char *buf, size_t buflen, char **seg, int max)
{
    sl_strlcpy(buf, path, buflen);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return max + 1; /* longer than any route */
        seg[n++] = t;
    }
    return n;
}

static void match(const char *method, const char *path, route_match *m)
{
    char buf[512], *s[5];
    int n = split(path, buf, sizeof buf, s, 4);
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    memset(m, 0, sizeof *m);
    m->route = FAKE_R_DISCORD_UNKNOWN;
    m->status = 404;
    if (n < 3)
        return;
    int id_len_ok = strlen(s[1]) < sizeof m->major && (n < 4 || strlen(s[3]) < sizeof m->minor);
    if (!id_len_ok)
        return;
    sl_strlcpy(m->major, s[1], sizeof m->major);
    if (n == 4)
        sl_strlcpy(m->minor, s[3], sizeof m->minor);
    int route = -1;
    if (n == 3 && !strcmp(s[0], "users") && !strcmp(s[1], "@me") && !strcmp(s[2], "channels")) {
        m->major[0] = '\0';
        route = post ? FAKE_R_DM : -2;
    } else if (!strcmp(s[0], "channels") && !strcmp(s[2], "messages")) {
        if (n == 3)
            route = post ? FAKE_R_CREATE_MESSAGE : get ? FAKE_R_LIST_MESSAGES : -2;
        else
            route = !strcmp(method, "PATCH")    ? FAKE_R_EDIT_MESSAGE
                    : !strcmp(method, "DELETE") ? FAKE_R_DELETE_MESSAGE
                                                : -2;
    } else if (!strcmp(s[0], "guilds") && n == 3 && !strcmp(s[2], "channels")) {
        route = post ? FAKE_R_CREATE_CHANNEL : get ? FAKE_R_LIST_CHANNELS : -2;
    } else if (!strcmp(s[0], "guilds") && n == 4 && !strcmp(s[2], "members")) {
        route = get ? FAKE_R_GET_MEMBER : -2;
    }
    if (route >= 0)
        m->route = route;
    else if (route == -2)
        m->status = 405;
}

static int find_token(const fake_state *st, const fake_req *r)
{
    const char *auth = fake_req_header(r, "Authorization");
    if (!auth || strncmp(auth, "Bot ", 4) != 0)
        return -1;
    for (int i = 0; i < st->n_discord; i++)
        if (!strcmp(auth + 4, st->discord_tokens[i]))
            return i;
    return -1;
}

/* ---------------------------------------------------------------- limits */

static void rate_limited(fake_req *r, int64_t wait_ms, int global)
{
    double secs = (double)wait_ms / 1000.0;
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "message", "You are being rate limited.");
    cJSON_AddNumberToObject(doc, "retry_after", secs);
    cJSON_AddBoolToObject(doc, "global", global);
    fake_reply_json(r, 429, doc);
    fake_reply_header(r, "Retry-After", "%lld", (long long)ceil(secs));
    fake_reply_header(r, "X-RateLimit-Scope", "%s", global ? "global" : "user");
    if (global)
        fake_reply_header(r, "X-RateLimit-Global", "true");
}

static void bucket_headers(fake_req *r, const fake_window *w, int64_t now, int limit, int span,
                           int route)
{
    char hash[33];
    fake_bucket_hash(fake_route_names[route], hash);
    int64_t reset = fake_window_reset_ms(w, now, span);
    fake_reply_header(r, "X-RateLimit-Limit", "%d", limit);
    fake_reply_header(r, "X-RateLimit-Remaining", "%d", fake_window_remaining(w, now, limit, span));
    fake_reply_header(r, "X-RateLimit-Reset", "%.3f", (double)reset / 1000.0);
    fake_reply_header(r, "X-RateLimit-Reset-After", "%.3f", (double)(reset - now) / 1000.0);
    fake_reply_header(r, "X-RateLimit-Bucket", "%s", hash);
}

/* Checks the global limit and the route's bucket; counts the request in
 * both when it passes. Returns the bucket's window (for the headers, which
 * the caller adds once the answer is known), or NULL after answering 429. */
static fake_window *admit(fake_state *st, fake_req *r, int bot, const route_match *m)
{
    const fake_config *c = &st->cfg;
    int64_t now = r->t_ms;
    if (now < c->global_429_until) {
        st->stats.limited[FAKE_SCOPE_GLOBAL]++;
        rate_limited(r, c->global_429_until - now, 1);
        return NULL;
    }
    fake_window *global = &st->dbots[bot].global;
    int64_t wait = fake_window_wait(global, now, c->global_limit, GLOBAL_WINDOW_MS);
    if (wait > 0) {
        st->stats.limited[FAKE_SCOPE_GLOBAL]++;
        rate_limited(r, wait, 1);
        return NULL;
    }
    char key[160];
    snprintf(key, sizeof key, "d\n%d\n%s\n%s", bot, fake_route_names[m->route], m->major);
    void **slot = fake_map_slot(&st->buckets, key, NULL);
    if (!*slot)
        *slot = sl_calloc(1, sizeof(fake_window));
    fake_window *bucket = *slot;
    wait = fake_window_wait(bucket, now, c->bucket_limit, c->bucket_window_ms);
    if (wait > 0) {
        st->stats.limited[FAKE_SCOPE_USER]++;
        rate_limited(r, wait, 0);
        bucket_headers(r, bucket, now, c->bucket_limit, c->bucket_window_ms, m->route);
        return NULL;
    }
    fake_window_take(global, now, GLOBAL_WINDOW_MS);
    fake_window_take(bucket, now, c->bucket_window_ms);
    if (bucket->count > st->stats.max_bucket[m->route])
        st->stats.max_bucket[m->route] = bucket->count;
    return bucket;
}

/* ---------------------------------------------------------------- DM and guild routes */

static void create_dm(fake_state *st, fake_req *r, int bot)
{
    int bad;
    char user[40], key[64];
    cJSON *in = fake_discord_payload(r, &bad);
    if (bad || fake_json_id(in, "recipient_id", user, sizeof user) != 0) {
        cJSON_Delete(in);
        fake_discord_error(r, 400,
                           bad ? "The request body contains invalid JSON." : "Invalid Form Body",
                           bad ? 50109 : 50035);
        return;
    }
    cJSON_Delete(in);
    /* one DM channel per bot and user, as on Discord */
    snprintf(key, sizeof key, "%d\n%s", bot, user);
    void **slot = fake_map_slot(&st->dms, key, NULL);
    if (!*slot) {
        char id[24];
        fake_next_id(st, id);
        *slot = sl_strdup(id);
    }
    sl_strlcpy(r->channel, *slot, sizeof r->channel);
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", *slot);
    cJSON_AddNumberToObject(doc, "type", 1);
    cJSON_AddNullToObject(doc, "last_message_id");
    cJSON *recipients = cJSON_AddArrayToObject(doc, "recipients");
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "id", user);
    cJSON_AddItemToArray(recipients, u);
    fake_reply_json(r, 200, doc);
}

static void create_channel(fake_state *st, fake_req *r, const char *guild)
{
    int bad;
    cJSON *in = fake_discord_payload(r, &bad);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    if (bad || !cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 100) {
        cJSON_Delete(in);
        fake_discord_error(r, 400,
                           bad ? "The request body contains invalid JSON." : "Invalid Form Body",
                           bad ? 50109 : 50035);
        return;
    }
    void **slot = fake_map_slot(&st->guilds, guild, NULL);
    if (!*slot)
        *slot = cJSON_CreateArray();
    cJSON *list = *slot;
    char id[24];
    fake_next_id(st, id);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(in, "type");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(ch, "id", id);
    cJSON_AddNumberToObject(ch, "type", cJSON_IsNumber(type) ? type->valuedouble : 0);
    cJSON_AddStringToObject(ch, "guild_id", guild);
    cJSON_AddStringToObject(ch, "name", name->valuestring);
    cJSON_AddNumberToObject(ch, "position", cJSON_GetArraySize(list));
    const cJSON *po = cJSON_GetObjectItemCaseSensitive(in, "permission_overwrites");
    cJSON_AddItemToObject(ch, "permission_overwrites",
                          cJSON_IsArray(po) ? cJSON_Duplicate(po, 1) : cJSON_CreateArray());
    static const char *const copied[] = {"parent_id", "topic"};
    for (size_t i = 0; i < sizeof copied / sizeof copied[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, copied[i]);
        if (v)
            cJSON_AddItemToObject(ch, copied[i], cJSON_Duplicate(v, 1));
    }
    cJSON_AddItemToArray(list, cJSON_Duplicate(ch, 1));
    cJSON_Delete(in);
    sl_strlcpy(r->channel, id, sizeof r->channel);
    fake_reply_json(r, 201, ch);
}

static void list_channels(fake_state *st, fake_req *r, const char *guild)
{
    cJSON *list = fake_map_get(&st->guilds, guild);
    fake_reply_json(r, 200, list ? cJSON_Duplicate(list, 1) : cJSON_CreateArray());
}

static void get_member(fake_state *st, fake_req *r, const char *guild, const char *user)
{
    char key[96];
    snprintf(key, sizeof key, "%s/%s", guild, user);
    cJSON *roles = fake_map_get(&st->member_roles, key);
    if (!roles) {
        fake_discord_error(r, 404, "Unknown Member", 10007);
        return;
    }
    char joined[40];
    fake_iso_time(st->started_ms, joined);
    cJSON *doc = cJSON_CreateObject();
    cJSON *u = cJSON_AddObjectToObject(doc, "user");
    cJSON_AddStringToObject(u, "id", user);
    cJSON_AddItemToObject(doc, "roles", cJSON_Duplicate(roles, 1));
    cJSON_AddStringToObject(doc, "joined_at", joined);
    cJSON_AddBoolToObject(doc, "deaf", 0);
    cJSON_AddBoolToObject(doc, "mute", 0);
    fake_reply_json(r, 200, doc);
}

/* ---------------------------------------------------------------- entry */

static void failure(fake_req *r, int status)
{
    const char *msg = status == 500   ? "500: Internal Server Error"
                      : status == 502 ? "502: Bad Gateway"
                                      : "503: Service Unavailable";
    fake_discord_error(r, status, msg, 0);
}

static int is_channel_route(int route)
{
    return route >= FAKE_R_CREATE_MESSAGE && route <= FAKE_R_LIST_MESSAGES;
}

static void serve_route(fake_state *st, fake_req *r, int bot, const route_match *m)
{
    switch (m->route) {
    case FAKE_R_DM:
        create_dm(st, r, bot);
        break;
    case FAKE_R_CREATE_MESSAGE:
        fake_discord_create_message(st, r, m->major);
        break;
    case FAKE_R_EDIT_MESSAGE:
        fake_discord_edit_message(st, r, m->major, m->minor);
        break;
    case FAKE_R_DELETE_MESSAGE:
        fake_discord_delete_message(st, r, m->major, m->minor);
        break;
    case FAKE_R_LIST_MESSAGES:
        fake_discord_list_messages(st, r, m->major);
        break;
    case FAKE_R_CREATE_CHANNEL:
        create_channel(st, r, m->major);
        break;
    case FAKE_R_LIST_CHANNELS:
        list_channels(st, r, m->major);
        break;
    case FAKE_R_GET_MEMBER:
        get_member(st, r, m->major, m->minor);
        break;
    }
}

/* Discord's rule for HTTP clients: "User-Agent: DiscordBot ($url,
 * $versionNumber)", both parts non-empty (anything may follow, as
 * libraries append their runtime). */
static int user_agent_ok(const char *ua)
{
    static const char head[] = "DiscordBot (";
    if (!ua || strncmp(ua, head, sizeof head - 1))
        return 0;
    const char *url = ua + sizeof head - 1;
    const char *comma = strstr(url, ", ");
    const char *close = comma ? strchr(comma + 2, ')') : NULL;
    return comma && comma > url && close && close > comma + 2;
}

/* Keeps the first 10 different User-Agents for the stats. */
static void note_user_agent(fake_state *st, const char *ua)
{
    const cJSON *seen;
    cJSON_ArrayForEach(seen, st->stats.user_agents)
    {
        if (!strcmp(seen->valuestring, ua))
            return;
    }
    if (cJSON_GetArraySize(st->stats.user_agents) < 10)
        cJSON_AddItemToArray(st->stats.user_agents, cJSON_CreateString(ua));
}

void fake_discord_serve(fake_state *st, fake_req *r, const char *path)
{
    route_match m;
    match(r->method, path, &m);
    r->route = m.route;
    if (is_channel_route(m.route))
        sl_strlcpy(r->channel, m.major, sizeof r->channel);
    if (m.route == FAKE_R_DISCORD_UNKNOWN) {
        fake_discord_error(r, m.status,
                           m.status == 405 ? "405: Method Not Allowed" : "404: Not Found", 0);
        return;
    }
    int bot = find_token(st, r);
    r->bot = bot;
    if (bot < 0) {
        fake_discord_error(r, 401, "401: Unauthorized", 0);
        fake_invalid_add(&st->stats.invalid_unknown, r->t_ms);
        return;
    }
    const char *ua = fake_req_header(r, "User-Agent");
    note_user_agent(st, ua ? ua : "");
    if (!user_agent_ok(ua)) {
        st->stats.bad_user_agent++;
        fake_discord_error(
            r, 403, "403: Forbidden (send User-Agent: DiscordBot ($url, $versionNumber))", 0);
        fake_invalid_add(&st->dbots[bot].invalid, r->t_ms);
        return;
    }
    int failed = fake_roll_failure(st);
    if (failed) {
        st->stats.failed++;
        failure(r, failed);
        return;
    }
    fake_window *bucket = admit(st, r, bot, &m);
    if (bucket) {
        if (r->too_big)
            fake_discord_error(r, 413, "Request entity too large", 40005);
        else if (is_channel_route(m.route) && fake_map_get(&st->forbidden, m.major))
            fake_discord_error(r, 403, "Missing Access", 50001);
        else if (is_channel_route(m.route) && fake_map_get(&st->missing, m.major))
            fake_discord_error(r, 404, "Unknown Channel", 10003);
        else
            serve_route(st, r, bot, &m);
        failed = r->status >= 200 && r->status < 300 ? fake_roll_failure_after(st) : 0;
        if (failed) {
            /* done (a message stays delivered, a channel made), and the
             * answer lost in Discord's backend: the client cannot tell */
            st->stats.failed_after++;
            r->failed_after = 1;
            failure(r, failed);
        }
        if (st->cfg.bucket_limit > 0 && !r->failed_after) /* a 5xx carries none */
            bucket_headers(r, bucket, r->t_ms, st->cfg.bucket_limit, st->cfg.bucket_window_ms,
                           m.route);
    }
    if (r->status == 401 || r->status == 403 || r->status == 429)
        fake_invalid_add(&st->dbots[bot].invalid, r->t_ms);
}

/* record.c — the fake's state: ids, channels and messages, the statistics
 * and the request log (see fake.h). Everything here runs with st->lock held,
 * except fake_state_init/deinit, which run before the server starts and
 * after it stops. */
#include "fake.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const fake_route_names[FAKE_R_COUNT] = {
    [FAKE_R_DM] = "dm",
    [FAKE_R_CREATE_MESSAGE] = "create_message",
    [FAKE_R_EDIT_MESSAGE] = "edit_message",
    [FAKE_R_DELETE_MESSAGE] = "delete_message",
    [FAKE_R_LIST_MESSAGES] = "list_messages",
    [FAKE_R_CREATE_CHANNEL] = "create_channel",
    [FAKE_R_LIST_CHANNELS] = "list_channels",
    [FAKE_R_GET_MEMBER] = "get_member",
    [FAKE_R_DISCORD_UNKNOWN] = "discord_unknown",
    [FAKE_R_TG_SEND_MESSAGE] = "sendMessage",
    [FAKE_R_TG_EDIT_MESSAGE_TEXT] = "editMessageText",
    [FAKE_R_TG_DELETE_MESSAGE] = "deleteMessage",
    [FAKE_R_TG_SEND_DOCUMENT] = "sendDocument",
    [FAKE_R_TG_UNKNOWN] = "telegram_unknown",
};

const char *const fake_scope_names[FAKE_SCOPE_COUNT] = {
    [FAKE_SCOPE_GLOBAL] = "global",           [FAKE_SCOPE_USER] = "user",
    [FAKE_SCOPE_TG_BOT] = "telegram_bot",     [FAKE_SCOPE_TG_CHAT] = "telegram_chat",
    [FAKE_SCOPE_TG_GROUP] = "telegram_group",
};

/* Discord's epoch (2015-01-01): our ids read like real snowflakes. */
#define DISCORD_EPOCH_MS 1420070400000LL

int fake_route_parse(const char *name)
{
    for (int i = 0; i < FAKE_R_COUNT; i++)
        if (!strcmp(name, fake_route_names[i]))
            return i;
    return -1;
}

static void message_free(fake_message *m)
{
    free(m->content);
    free(m->delivered);
    free(m->nonce);
    cJSON_Delete(m->attachments);
    cJSON_Delete(m->embeds);
    free(m);
}

static void channel_free(void *p)
{
    fake_channel *ch = p;
    for (size_t i = 0; i < ch->len; i++)
        message_free(ch->msgs[i]);
    free(ch->msgs);
    free(ch->id);
    free(ch);
}

static void json_free(void *p)
{
    cJSON_Delete(p);
}

static void clear_records(fake_state *st)
{
    fake_map_clear(&st->channels, channel_free);
    fake_map_clear(&st->chats, channel_free);
    fake_map_clear(&st->nonces, free);
    fake_map_clear(&st->buckets, free);
    fake_map_clear(&st->dms, free);
    fake_map_clear(&st->guilds, json_free);
    cJSON_Delete(st->stats.duplicate_list);
    cJSON_Delete(st->stats.user_agents);
    memset(&st->stats, 0, sizeof st->stats);
    st->stats.duplicate_list = cJSON_CreateArray();
    st->stats.user_agents = cJSON_CreateArray();
    for (int i = 0; i < st->n_discord; i++)
        memset(&st->dbots[i], 0, sizeof st->dbots[i]);
    for (int i = 0; i < st->n_telegram; i++)
        memset(&st->tbots[i], 0, sizeof st->tbots[i]);
}

void fake_state_init(fake_state *st, uint64_t seed)
{
    /* the caller has filled in cfg, the tokens and the channel lists */
    pthread_mutex_init(&st->lock, NULL);
    st->dbots = sl_calloc(st->n_discord ? st->n_discord : 1, sizeof *st->dbots);
    st->tbots = sl_calloc(st->n_telegram ? st->n_telegram : 1, sizeof *st->tbots);
    st->rng = seed ^ 0x9e3779b97f4a7c15ULL;
    st->started_ms = st->reset_ms = sl_now_ms();
    clear_records(st);
}

void fake_state_deinit(fake_state *st)
{
    clear_records(st);
    cJSON_Delete(st->stats.duplicate_list);
    cJSON_Delete(st->stats.user_agents);
    fake_map_clear(&st->forbidden, NULL);
    fake_map_clear(&st->missing, NULL);
    fake_map_clear(&st->missing_chats, NULL);
    fake_map_clear(&st->member_roles, json_free);
    free(st->dbots);
    free(st->tbots);
    pthread_mutex_destroy(&st->lock);
}

void fake_state_reset(fake_state *st)
{
    clear_records(st);
    st->reset_ms = sl_now_ms();
}

double fake_random(fake_state *st)
{
    /* splitmix64: one seed gives one sequence (in request order) */
    uint64_t z = (st->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int roll(fake_state *st, double rate)
{
    if (rate <= 0 || fake_random(st) >= rate)
        return 0;
    static const int statuses[] = {500, 502, 503};
    return statuses[(int)(fake_random(st) * 3) % 3];
}

int fake_roll_failure(fake_state *st)
{
    return roll(st, st->cfg.fail_rate);
}

int fake_roll_failure_after(fake_state *st)
{
    return roll(st, st->cfg.fail_after_rate);
}

void fake_next_id(fake_state *st, char out[24])
{
    /* a snowflake from the clock, but never equal to or below the last
     * one: ids are unique and increase even within one millisecond */
    uint64_t id = (uint64_t)(sl_now_ms() - DISCORD_EPOCH_MS) << 22;
    if (id <= st->last_id)
        id = st->last_id + 1;
    st->last_id = id;
    snprintf(out, 24, "%llu", (unsigned long long)id);
}

void fake_iso_time(int64_t ms, char out[40])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03d000+00:00", (int)(ms % 1000));
}

int fake_latency_for(const fake_state *st, int route)
{
    if (route >= 0 && route < FAKE_R_COUNT && st->cfg.route_latency_ms[route] >= 0)
        return st->cfg.route_latency_ms[route];
    return st->cfg.latency_ms;
}

fake_channel *fake_channel_get(fake_map *map, const char *id, int create)
{
    if (!create)
        return fake_map_get(map, id);
    void **slot = fake_map_slot(map, id, NULL);
    if (!*slot) {
        fake_channel *ch = sl_calloc(1, sizeof *ch);
        ch->id = sl_strdup(id);
        ch->next_tg_id = 1;
        *slot = ch;
    }
    return *slot;
}

fake_message *fake_message_add(fake_channel *ch)
{
    if (ch->len == ch->cap) {
        ch->cap = ch->cap ? ch->cap * 2 : 16;
        ch->msgs = sl_realloc(ch->msgs, ch->cap * sizeof *ch->msgs);
    }
    fake_message *m = sl_calloc(1, sizeof *m);
    ch->msgs[ch->len++] = m;
    return m;
}

fake_message *fake_message_find(fake_channel *ch, const char *id)
{
    if (!ch)
        return NULL;
    /* newest first: edits and deletes are mostly of recent messages */
    for (size_t i = ch->len; i-- > 0;)
        if (!strcmp(ch->msgs[i]->id, id))
            return ch->msgs[i];
    return NULL;
}

static int is_telegram(int route)
{
    return route >= FAKE_R_TG_SEND_MESSAGE;
}

void fake_record(fake_state *st, const fake_req *r)
{
    if (r->route < 0 || r->route >= FAKE_R_COUNT)
        return;
    int status = r->drop ? 0 : r->status;
    if (status < 0 || status >= FAKE_STATUS_MAX)
        status = FAKE_STATUS_MAX - 1;
    st->stats.requests[r->route][status]++;
    if (r->drop)
        st->stats.dropped++;
    if (!st->log)
        return;
    /* built whole, then written with one call: stdio's lock keeps lines
     * intact, and st->lock already orders them */
    sl_buf line = {0};
    sl_buf_printf(&line, "{\"t_ms\":%lld,\"method\":", (long long)r->t_ms);
    sl_buf_json_str(&line, r->method, strlen(r->method));
    sl_buf_printf(&line, ",\"route\":\"%s\",\"status\":%d", fake_route_names[r->route], r->status);
    if (r->channel[0]) {
        sl_buf_puts(&line, is_telegram(r->route) ? ",\"chat_id\":" : ",\"channel_id\":");
        sl_buf_json_str(&line, r->channel, strlen(r->channel));
    }
    if (r->nonce[0]) {
        sl_buf_puts(&line, ",\"nonce\":");
        sl_buf_json_str(&line, r->nonce, strlen(r->nonce));
    }
    if (r->bot >= 0)
        sl_buf_printf(&line, ",\"bot\":%d", r->bot);
    if (r->delivered)
        sl_buf_puts(&line, ",\"delivered\":true");
    if (r->failed_after)
        sl_buf_puts(&line, ",\"failed_after\":true");
    if (r->drop)
        sl_buf_puts(&line, ",\"dropped\":true");
    sl_buf_printf(&line, ",\"latency_ms\":%d}\n", r->latency_ms);
    fwrite(line.data, 1, line.len, st->log);
    sl_buf_deinit(&line);
}

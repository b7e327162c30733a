/* fake.h — the fake Discord + Telegram platform's shared state.
 *
 * Everything a request reads or changes lives in one fake_state behind one
 * mutex, taken once per request around the handler: a request is checked
 * against the limits, counted and recorded atomically, so the statistics
 * can be trusted to the last request. Handler work is a few microseconds;
 * parsing HTTP and moving bytes, the costly part, happens outside the lock.
 *
 * The table of contents, by file:
 *   main.c      options, start-up, signals
 *   server.c    libmicrohttpd glue: bodies, forms, latency, answers
 *   timer.c     the latency timer thread (min-heap)
 *   limits.c    rate-limit windows, invalid-request counts
 *   record.c    this state: ids, channels, messages, stats, the request log
 *   discord.c   /api/v10/...
 *   telegram.c  /bot<token>/<method>
 *   control.c   /_fake/... (stats, messages, reset, config)
 *   map.c       the string hash map everything is kept in */
#ifndef FAKE_H
#define FAKE_H

#include "limits.h"
#include "map.h"
#include "request.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

enum fake_route {
    FAKE_R_DM,
    FAKE_R_CREATE_MESSAGE,
    FAKE_R_EDIT_MESSAGE,
    FAKE_R_DELETE_MESSAGE,
    FAKE_R_LIST_MESSAGES,
    FAKE_R_CREATE_CHANNEL,
    FAKE_R_LIST_CHANNELS,
    FAKE_R_GET_MEMBER,
    FAKE_R_DISCORD_UNKNOWN, /* no such Discord route (404/405) */
    FAKE_R_TG_SEND_MESSAGE,
    FAKE_R_TG_EDIT_MESSAGE_TEXT,
    FAKE_R_TG_DELETE_MESSAGE,
    FAKE_R_TG_SEND_DOCUMENT,
    FAKE_R_TG_UNKNOWN, /* no such Telegram method */
    FAKE_R_COUNT
};

/* "dm", "create_message", ..., "sendMessage", ...: the names used by
 * --latency ROUTE=MS, the stats and the log. */
extern const char *const fake_route_names[FAKE_R_COUNT];
int fake_route_parse(const char *name); /* -1 when unknown */

enum fake_scope {
    FAKE_SCOPE_GLOBAL, /* Discord, per token per second */
    FAKE_SCOPE_USER,   /* Discord, per route per major parameter */
    FAKE_SCOPE_TG_BOT,
    FAKE_SCOPE_TG_CHAT,  /* private chats and groups alike */
    FAKE_SCOPE_TG_GROUP, /* the group share of FAKE_SCOPE_TG_CHAT */
    FAKE_SCOPE_COUNT
};
extern const char *const fake_scope_names[FAKE_SCOPE_COUNT];

/* What POST /_fake/config may change at run time. */
typedef struct fake_config {
    int latency_ms;                     /* for routes without their own */
    int route_latency_ms[FAKE_R_COUNT]; /* -1 = latency_ms */
    double fail_rate;                   /* share answered 500/502/503 */
    double drop_rate;                   /* share closed without an answer */
    double fail_after_rate;             /* Discord: share done, then answered 5xx */
    int global_limit;                   /* Discord requests/s per token; 0 = off */
    int bucket_limit;                   /* per route per major parameter; 0 = off */
    int bucket_window_ms;
    int tg_bot_limit;         /* Telegram requests/s per bot; 0 = off */
    int tg_chat_limit;        /* per private chat per second */
    int tg_group_limit;       /* per group per minute */
    int64_t global_429_until; /* every Discord request gets a global 429 until then */
} fake_config;

typedef struct fake_message {
    char id[24];       /* snowflake (Discord) or message_id (Telegram) */
    char *content;     /* as it is now (edits change it) */
    char *delivered;   /* as it was delivered */
    char *nonce;       /* NULL when none was sent */
    char author[24];   /* author's user id */
    int bot;           /* token index; -1 = posted through the control API */
    int64_t t_ms;      /* created */
    int64_t edited_ms; /* 0 = never edited */
    int deleted;
    cJSON *attachments; /* array of attachment objects, or NULL */
    cJSON *embeds;      /* as sent, or NULL */
} fake_message;

typedef struct fake_channel {
    char *id;
    fake_message **msgs; /* in creation order, deleted ones included */
    size_t len, cap;
    int64_t next_tg_id; /* Telegram: message ids are per chat */
} fake_channel;

/* Where a nonce was first delivered on a channel. */
typedef struct fake_nonce {
    fake_message *msg;
    int bot;
    int64_t t_ms;
} fake_nonce;

typedef struct fake_discord_bot {
    fake_window global;   /* the global limit's window */
    fake_invalid invalid; /* 401/403/429 answers */
} fake_discord_bot;

#define FAKE_STATUS_MAX 600 /* requests[][0] counts dropped connections */

typedef struct fake_stats {
    uint64_t requests[FAKE_R_COUNT][FAKE_STATUS_MAX];
    uint64_t deliveries_discord, deliveries_telegram;
    uint64_t nonce_repeats; /* enforce_nonce answered with the earlier message */
    uint64_t duplicates;    /* a nonce delivered twice on one channel */
    cJSON *duplicate_list;  /* the first 100: {"channel_id", "nonce"} */
    uint64_t limited[FAKE_SCOPE_COUNT];
    uint64_t failed, dropped;     /* injected */
    uint64_t failed_after;        /* done, then answered 5xx (--fail-after-rate) */
    fake_invalid invalid_unknown; /* 401s whose token matched none */
    int max_bucket[FAKE_R_COUNT]; /* most passed in one bucket window */
    int max_tg_chat, max_tg_group;
    uint64_t bad_user_agent; /* Discord requests refused for their User-Agent */
    cJSON *user_agents;      /* the first 10 different Discord User-Agents seen */
} fake_stats;

typedef struct fake_state {
    pthread_mutex_t lock; /* guards everything except the token lists */
    fake_config cfg;
    char **discord_tokens; /* fixed at start-up; never printed */
    int n_discord;
    char **telegram_tokens;
    int n_telegram;
    fake_discord_bot *dbots; /* [n_discord] */
    fake_window *tbots;      /* [n_telegram]: the per-bot window */

    /* settings kept across /_fake/reset */
    fake_map forbidden; /* channel id -> (void *)1: 403 Missing Access */
    fake_map missing;   /* channel id -> (void *)1: 404 Unknown Channel */
    fake_map missing_chats;
    fake_map member_roles; /* "GUILD/USER" -> cJSON array; NULL = not a member */

    /* records, cleared by /_fake/reset */
    fake_map channels; /* Discord channel id -> fake_channel */
    fake_map chats;    /* Telegram chat id -> fake_channel */
    fake_map nonces;   /* "CHANNEL\nNONCE" -> fake_nonce */
    fake_map buckets;  /* "d\nBOT\nROUTE\nMAJOR" or "t\nBOT\nCHAT" -> fake_window */
    fake_map dms;      /* "BOT\nUSER" -> channel id (char *) */
    fake_map guilds;   /* guild id -> cJSON array of channel objects */
    fake_stats stats;

    uint64_t rng;
    uint64_t last_id;
    int64_t started_ms, reset_ms;
    FILE *log; /* --log: one JSON line per request, or NULL */
} fake_state;

/* record.c */
void fake_state_init(fake_state *st, uint64_t seed);
void fake_state_deinit(fake_state *st);
void fake_state_reset(fake_state *st); /* clears records, keeps settings */
double fake_random(fake_state *st);    /* uniform in [0, 1) */
void fake_next_id(fake_state *st, char out[24]);
void fake_iso_time(int64_t ms, char out[40]);
int fake_latency_for(const fake_state *st, int route);
/* 500, 502 or 503 for a share cfg.fail_rate of calls, else 0. */
int fake_roll_failure(fake_state *st);
/* The same for a share cfg.fail_after_rate (a request already done). */
int fake_roll_failure_after(fake_state *st);
/* The channel ID in MAP, created when CREATE; NULL when absent. */
fake_channel *fake_channel_get(fake_map *map, const char *id, int create);
/* A new zeroed message appended to CH. */
fake_message *fake_message_add(fake_channel *ch);
fake_message *fake_message_find(fake_channel *ch, const char *id);
/* Counts R in the stats and writes its log line. */
void fake_record(fake_state *st, const fake_req *r);

/* discord.c, telegram.c, control.c: PATH is what follows the prefix
 * ("/api/v10", "/bot", "/_fake"). Called with st->lock held. */
void fake_discord_serve(fake_state *st, fake_req *r, const char *path);
void fake_telegram_serve(fake_state *st, fake_req *r, const char *path);
void fake_control_serve(fake_state *st, fake_req *r, const char *path);

#endif

/* platform.h — what a job asks of Discord or Telegram, as HTTP (a message,
 * an interview's channels and members, a PDF as an attachment): the request
 * to make, the rate limits it falls under, and what the answer means. Pure functions: no I/O, no
 * tokens (the caller adds the Authorization header, or the token in Telegram's path). */
#ifndef SL_PLATFORM_H
#define SL_PLATFORM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "bots.h"
#include "util.h"

typedef struct sl_call {
    const char *method; /* "GET", "POST", "PATCH", "DELETE" */
    sl_buf path;        /* after the base URL; Telegram: after "/bot<TOKEN>" */
    sl_buf body;        /* JSON, empty for none */
    char route[96];     /* Discord route template for its buckets, "" for Telegram */
    char major[32];     /* Discord major parameter (channel id), "" for none */
    char chat[72];      /* Telegram chat id, for its per-chat limits */
    int repeat_safe;    /* a POST the server takes once even if sent twice (a nonce
                         * with enforce_nonce, the DM open): after a lost answer
                         * it asks for a new grant and goes again at once; a
                         * Discord POST without it goes on a fresh connection */
} sl_call;

void sl_call_init(sl_call *c);
void sl_call_deinit(sl_call *c);

/* Sluice's version, and where it lives (a placeholder until the project has
 * a public home): the defaults of Discord's User-Agent. */
#define SL_VERSION "0.1"
#define SL_PROJECT_URL "https://sluice.invalid/"

/* The header Discord asks every HTTP client to send,
 * "User-Agent: DiscordBot (URL, VERSION)", into OUT. Returns 0, or SL_EINVAL
 * with ERR naming --discord-ua-url or --discord-ua-version when one is empty,
 * over 200 bytes, or holds a character that would end the form early or
 * break the header ("(", ")", ",", a control character). */
int sl_discord_user_agent(char *out, size_t outlen, const char *url, const char *version, char *err,
                          size_t errlen);

/* The call that opens (or returns) the DM channel with USER_ID. */
void sl_discord_open_dm(sl_call *c, const char *user_id);

/* The Discord call for message PAYLOAD (validated against schemas/message.json)
 * in CHANNEL_ID (the payload's channel_id, or the DM channel of its user_id).
 * A send carries a nonce derived from JOB_ID with enforce_nonce, so that a
 * retried send is not posted twice. */
void sl_discord_message(sl_call *c, const cJSON *payload, const char *channel_id,
                        const char *job_id);

/* The 25-character nonce of JOB_ID (Discord's limit), the same every time. */
void sl_discord_nonce(const char *job_id, char out[26]);

/* A plain send of CONTENT (UTF-8) to CHANNEL_ID with the nonce of NONCE_KEY
 * (a job id, or a job id and a step: the same key never posts twice). */
void sl_discord_send_text(sl_call *c, const char *channel_id, const char *content,
                          const char *nonce_key);

/* The call that posts a message with one attachment in CHANNEL_ID: method,
 * path, route ("POST /channels/{id}/messages", the bucket of every message
 * post) and major. The body goes as multipart parts, not C->body. */
void sl_discord_send_file(sl_call *c, const char *channel_id);

/* The payload_json part of that message: CONTENT (NULL: none), the nonce of
 * JOB_ID with enforce_nonce (a retried post is not posted twice), and
 * attachment 0 named FILENAME. Appended to OUT. */
void sl_discord_file_payload(sl_buf *out, const char *content, const char *filename,
                             const char *job_id);

/* Guild routes for interviews: the channel listing, a channel's creation
 * (BODY_JSON: name, type, topic, permission_overwrites...), a member (for
 * its roles), and the newest LIMIT messages of a channel (1..100). */
void sl_discord_list_channels(sl_call *c, const char *guild_id);
void sl_discord_create_channel(sl_call *c, const char *guild_id, const char *body_json);
void sl_discord_get_member(sl_call *c, const char *guild_id, const char *user_id);
void sl_discord_list_messages(sl_call *c, const char *channel_id, int limit);

/* The Telegram call for PAYLOAD. */
void sl_telegram_message(sl_call *c, const cJSON *payload);

/* Telegram's sendDocument to CHAT (its per-chat limits key on C->chat); the
 * document goes as multipart parts. */
void sl_telegram_send_document(sl_call *c, const char *chat);

enum sl_verdict {
    SL_VERDICT_OK,        /* done */
    SL_VERDICT_RATE,      /* 429: wait as the answer says, no attempt used */
    SL_VERDICT_RETRY,     /* transient: 5xx, 408, network */
    SL_VERDICT_PERMANENT, /* 4xx: dead, with the platform's message */
};

/* What STATUS and BODY mean for a call of OP ("send", "edit", "delete") on
 * PLATFORM. ERR gets a readable reason for anything but OK, with the
 * platform's own message and code ("discord 403: Missing Access (code
 * 50001)"). A delete of a message that is already gone counts as done. */
enum sl_verdict sl_platform_verdict(enum sl_platform platform, const char *op, int status,
                                    const char *body, size_t body_len, char *err, size_t errlen);

#endif

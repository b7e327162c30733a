/* bots.h — the bot tokens a worker may use, by platform and name. Tokens are
 * read from files (or the environment) at start-up and live only in this
 * process's memory: never in a job, in Redis, in a log line or in --help.
 *
 *   SLUICE_DISCORD_TOKEN_FILE / SLUICE_DISCORD_TOKEN     bot "default" on Discord
 *   SLUICE_TELEGRAM_TOKEN_FILE / SLUICE_TELEGRAM_TOKEN   bot "default" on Telegram
 *   SLUICE_BOTS_FILE   JSON: {"bots": [{"name": "main", "platform": "discord",
 *                      "token_file": "/etc/sluice/main.token"}, ...]}
 *   SLUICE_DISCORD_API  base URL, default https://discord.com/api/v10
 *   SLUICE_TELEGRAM_API base URL, default https://api.telegram.org */
#ifndef SL_BOTS_H
#define SL_BOTS_H

#include <stddef.h>

enum sl_platform { SL_PLATFORM_DISCORD, SL_PLATFORM_TELEGRAM };

typedef struct sl_bot {
    char name[65];
    enum sl_platform platform;
    char *token; /* secret */
} sl_bot;

typedef struct sl_bots {
    sl_bot *bots;
    int n;
    char discord_api[256];
    char telegram_api[256];
} sl_bots;

/* Loads the bots from the environment (see above). Returns 0, or SL_EINVAL
 * with a message in ERR naming the variable or file and what is wrong (never
 * the token); on failure B holds nothing. No bot at all is not an error. */
int sl_bots_load(sl_bots *b, char *err, size_t errlen);

/* The bot NAME on PLATFORM, or NULL. */
const sl_bot *sl_bots_find(const sl_bots *b, enum sl_platform platform, const char *name);

/* Wipes the tokens from memory and frees them. */
void sl_bots_deinit(sl_bots *b);

const char *sl_platform_name(enum sl_platform p);

#endif

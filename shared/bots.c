/* bots.c — see bots.h. */
#include "bots.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *sl_platform_name(enum sl_platform p)
{
    return p == SL_PLATFORM_TELEGRAM ? "telegram" : "discord";
}

/* A token from a file: one line, surrounding white space dropped. */
static char *read_token(const char *path, const char *what, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 0004))
        sl_warn("token file readable by everyone file=%s (chmod 600 it)", path);
    size_t len;
    char *text = sl_read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read %s: %m", what, path);
        return NULL;
    }
    char *s = text, *e = text + len;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    char *token = sl_strndup(s, (size_t)(e - s));
    memset(text, 0, len);
    free(text);
    if (!token[0] || strpbrk(token, " \t\r\n")) {
        snprintf(err, errlen, "%s: %s must hold the token alone on one line", what, path);
        free(token);
        return NULL;
    }
    return token;
}

static int add(sl_bots *b, enum sl_platform platform, const char *name, char *token, char *err,
               size_t errlen)
{
    int rc = sl_check_name("bot name", name, err, errlen);
    if (!rc && sl_bots_find(b, platform, name)) {
        snprintf(err, errlen, "bot \"%s\" on %s is configured twice", name,
                 sl_platform_name(platform));
        rc = SL_EINVAL;
    }
    if (rc) {
        free(token);
        return rc;
    }
    b->bots = sl_realloc(b->bots, (b->n + 1) * sizeof *b->bots);
    sl_bot *bot = &b->bots[b->n++];
    sl_strlcpy(bot->name, name, sizeof bot->name);
    bot->platform = platform;
    bot->token = token;
    return 0;
}

static int from_env(sl_bots *b, enum sl_platform platform, const char *file_var,
                    const char *token_var, char *err, size_t errlen)
{
    const char *file = getenv(file_var), *direct = getenv(token_var);
    char *token = NULL;
    if (file && *file)
        token = read_token(file, file_var, err, errlen);
    else if (direct && *direct)
        token = sl_strdup(direct);
    else
        return 0;
    if (!token)
        return SL_EINVAL;
    return add(b, platform, "default", token, err, errlen);
}

static int from_file(sl_bots *b, const char *path, char *err, size_t errlen)
{
    char *text = sl_read_file(path, NULL);
    if (!text) {
        snprintf(err, errlen, "SLUICE_BOTS_FILE: cannot read %s: %m", path);
        return SL_EINVAL;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "bots");
    if (!cJSON_IsArray(list)) {
        snprintf(err, errlen, "SLUICE_BOTS_FILE: %s: expected {\"bots\": [...]}", path);
        cJSON_Delete(doc);
        return SL_EINVAL;
    }
    int i = 0, rc = 0;
    for (const cJSON *e = list->child; e && !rc; e = e->next, i++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *plat = cJSON_GetObjectItemCaseSensitive(e, "platform");
        const cJSON *tf = cJSON_GetObjectItemCaseSensitive(e, "token_file");
        if (!cJSON_IsString(name) || !cJSON_IsString(plat) || !cJSON_IsString(tf) ||
            (strcmp(plat->valuestring, "discord") && strcmp(plat->valuestring, "telegram"))) {
            snprintf(err, errlen,
                     "SLUICE_BOTS_FILE: bots[%d]: needs \"name\", \"platform\" (discord or "
                     "telegram) and \"token_file\"",
                     i);
            rc = SL_EINVAL;
            break;
        }
        char what[96];
        snprintf(what, sizeof what, "SLUICE_BOTS_FILE: bots[%d].token_file", i);
        char *token = read_token(tf->valuestring, what, err, errlen);
        if (!token) {
            rc = SL_EINVAL;
            break;
        }
        enum sl_platform p =
            strcmp(plat->valuestring, "telegram") ? SL_PLATFORM_DISCORD : SL_PLATFORM_TELEGRAM;
        rc = add(b, p, name->valuestring, token, err, errlen);
    }
    cJSON_Delete(doc);
    return rc;
}

int sl_bots_load(sl_bots *b, char *err, size_t errlen)
{
    memset(b, 0, sizeof *b);
    err[0] = '\0';
    const char *d = getenv("SLUICE_DISCORD_API"), *t = getenv("SLUICE_TELEGRAM_API");
    sl_strlcpy(b->discord_api, d && *d ? d : "https://discord.com/api/v10", sizeof b->discord_api);
    sl_strlcpy(b->telegram_api, t && *t ? t : "https://api.telegram.org", sizeof b->telegram_api);
    const char *file = getenv("SLUICE_BOTS_FILE");
    int rc = from_env(b, SL_PLATFORM_DISCORD, "SLUICE_DISCORD_TOKEN_FILE", "SLUICE_DISCORD_TOKEN",
                      err, errlen);
    if (!rc)
        rc = from_env(b, SL_PLATFORM_TELEGRAM, "SLUICE_TELEGRAM_TOKEN_FILE",
                      "SLUICE_TELEGRAM_TOKEN", err, errlen);
    if (!rc && file && *file)
        rc = from_file(b, file, err, errlen);
    if (rc)
        sl_bots_deinit(b);
    return rc;
}

const sl_bot *sl_bots_find(const sl_bots *b, enum sl_platform platform, const char *name)
{
    for (int i = 0; i < b->n; i++)
        if (b->bots[i].platform == platform && !strcmp(b->bots[i].name, name))
            return &b->bots[i];
    return NULL;
}

void sl_bots_deinit(sl_bots *b)
{
    for (int i = 0; i < b->n; i++) {
        /* volatile: the wipe must not be optimised away before free */
        volatile char *p = b->bots[i].token;
        while (*p)
            *p++ = '\0';
        free(b->bots[i].token);
    }
    free(b->bots);
    memset(b, 0, sizeof *b);
}

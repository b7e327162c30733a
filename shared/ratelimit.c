/* ratelimit.c — see ratelimit.h. No I/O here: the scripts do the counting. */
#include "ratelimit.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* shares of a bot's limit the fleet paces itself at: see ratelimit.h */
#define DISCORD_PACE 0.96
#define TELEGRAM_PACE 0.95

static void base_init(sl_rl_request *r, const char *prefix, const char *platform, const char *bot)
{
    memset(r, 0, sizeof *r);
    snprintf(r->base, sizeof r->base, "%s:{rl:%s:%s}:", prefix, platform, bot);
    snprintf(r->block_key, sizeof r->block_key, "%sblock", r->base);
}

static void add_limit(sl_rl_request *r, const char *name, double interval_ms, int burst)
{
    if (r->nlimits == SL_RL_MAX_LIMITS)
        return;
    sl_strlcpy(r->limits[r->nlimits].name, name, sizeof r->limits[0].name);
    r->limits[r->nlimits].interval_ms = interval_ms;
    r->limits[r->nlimits].burst = burst;
    r->nlimits++;
}

void sl_rl_discord(sl_rl_request *r, const char *prefix, const char *bot, const char *route,
                   const char *major, double per_second, long invalid_threshold)
{
    base_init(r, prefix, "discord", bot);
    sl_strlcpy(r->route, route ? route : "", sizeof r->route);
    sl_strlcpy(r->major, major ? major : "", sizeof r->major);
    r->invalid_threshold = invalid_threshold;
    if (per_second > 0)
        add_limit(r, "global", 1000.0 / (per_second * DISCORD_PACE), 2);
}

void sl_rl_telegram(sl_rl_request *r, const char *prefix, const char *bot, const char *chat_id,
                    double bot_per_second)
{
    base_init(r, prefix, "telegram", bot);
    if (bot_per_second > 0)
        add_limit(r, "bot", 1000.0 / (bot_per_second * TELEGRAM_PACE), 2);
    char name[96];
    int group = chat_id[0] == '-' || chat_id[0] == '@';
    snprintf(name, sizeof name, "chat:%s", chat_id);
    /* 1 a second for a private chat; 20 a minute for a group, with the
     * minute's worth allowed as a burst spread over 3 s steps. A private
     * chat's sends are granted 1,150 ms apart. Each is written within 10 ms
     * of its grant (call.c's send-by fence, checked just before curl writes
     * it), so two leave >= 1,140 ms apart less any stall of the process
     * between that check and the write: 140 ms are left for such a stall
     * and for one send taking longer to reach Telegram than the next. With
     * 1,100 ms, a worker stopped 100 ms in every 400 (t_message_telegram_busy)
     * put two sends 999 ms apart at the platform. */
    if (group)
        add_limit(r, name, 3000.0 * 1.02, 1);
    else
        add_limit(r, name, 1150.0, 1);
    sl_strlcpy(r->hold, name, sizeof r->hold);
}

int sl_rl_acquire_head(const sl_rl_request *r, int ngates, const char **argv, size_t *lens,
                       char nums[][32])
{
    argv[0] = r->block_key;
    argv[1] = r->base;
    snprintf(nums[0], 32, "%ld", r->invalid_threshold);
    argv[2] = nums[0];
    snprintf(nums[1], 32, "%d", ngates);
    argv[3] = nums[1];
    for (int i = 0; i < SL_RL_HEAD_ARGS; i++)
        lens[i] = strlen(argv[i]);
    return SL_RL_HEAD_ARGS;
}

int sl_rl_acquire_gate(const sl_rl_request *r, int count, const char **argv, size_t *lens,
                       char nums[][32])
{
    int n = 0, k = 0;
    argv[n++] = r->route;
    argv[n++] = r->major;
    snprintf(nums[k], 32, "%d", count > 0 ? count : 1);
    argv[n++] = nums[k++];
    snprintf(nums[k], 32, "%d", r->nlimits);
    argv[n++] = nums[k++];
    for (int i = 0; i < r->nlimits; i++) {
        argv[n++] = r->limits[i].name;
        snprintf(nums[k], 32, "%.3f", r->limits[i].interval_ms);
        argv[n++] = nums[k++];
        snprintf(nums[k], 32, "%d", r->limits[i].burst);
        argv[n++] = nums[k++];
    }
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return n;
}

static long seconds_to_ms(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0 || !isfinite(v))
        return -1;
    return (long)ceil(v * 1000.0);
}

void sl_rl_parse_discord(sl_rl_answer *a, int status, sl_rl_header_fn *header, const void *ctx,
                         const char *body, size_t body_len)
{
    memset(a, 0, sizeof *a);
    a->status = status;
    a->limit = a->remaining = a->reset_after_ms = a->retry_after_ms = -1;
    const char *v;
    if ((v = header(ctx, "x-ratelimit-bucket")))
        sl_strlcpy(a->bucket, v, sizeof a->bucket);
    if ((v = header(ctx, "x-ratelimit-limit")))
        a->limit = atol(v);
    if ((v = header(ctx, "x-ratelimit-remaining")))
        a->remaining = atol(v);
    a->reset_after_ms = seconds_to_ms(header(ctx, "x-ratelimit-reset-after"));
    if (a->bucket[0] && (a->limit < 1 || a->remaining < 0 || a->reset_after_ms < 0))
        a->bucket[0] = '\0'; /* incomplete: learn nothing from it */
    if (status != 429)
        return;
    if ((v = header(ctx, "x-ratelimit-scope")))
        sl_strlcpy(a->scope, v, sizeof a->scope);
    if ((v = header(ctx, "x-ratelimit-global")) && !strcasecmp(v, "true"))
        sl_strlcpy(a->scope, "global", sizeof a->scope);
    cJSON *doc = body ? cJSON_ParseWithLength(body, body_len) : NULL;
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(doc, "retry_after");
    if (cJSON_IsNumber(ra) && ra->valuedouble >= 0)
        a->retry_after_ms = (long)ceil(ra->valuedouble * 1000.0);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "global")))
        sl_strlcpy(a->scope, "global", sizeof a->scope);
    cJSON_Delete(doc);
    if (a->retry_after_ms < 0)
        a->retry_after_ms = seconds_to_ms(header(ctx, "retry-after"));
    if (a->retry_after_ms < 0)
        a->retry_after_ms = 1000; /* a 429 that says nothing: wait a second */
}

void sl_rl_parse_telegram(sl_rl_answer *a, int status, const char *body, size_t body_len)
{
    memset(a, 0, sizeof *a);
    a->status = status;
    a->limit = a->remaining = a->reset_after_ms = a->retry_after_ms = -1;
    if (status != 429)
        return;
    cJSON *doc = body ? cJSON_ParseWithLength(body, body_len) : NULL;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(doc, "parameters");
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(params, "retry_after");
    a->retry_after_ms =
        cJSON_IsNumber(ra) && ra->valuedouble >= 0 ? (long)ceil(ra->valuedouble * 1000.0) : 1000;
    cJSON_Delete(doc);
}

int sl_rl_report_args(const sl_rl_request *r, const sl_rl_answer *a, const char **argv,
                      size_t *lens, char nums[][32])
{
    int n = 0;
    argv[n++] = r->block_key;
    argv[n++] = r->base;
    argv[n++] = r->route;
    argv[n++] = r->major;
    snprintf(nums[0], 32, "%d", a->status);
    argv[n++] = nums[0];
    argv[n++] = a->bucket;
    snprintf(nums[1], 32, "%ld", a->limit);
    argv[n++] = nums[1];
    snprintf(nums[2], 32, "%ld", a->remaining);
    argv[n++] = nums[2];
    snprintf(nums[3], 32, "%ld", a->reset_after_ms);
    argv[n++] = nums[3];
    argv[n++] = a->scope;
    snprintf(nums[4], 32, "%ld", a->retry_after_ms);
    argv[n++] = nums[4];
    argv[n++] = r->hold;
    snprintf(nums[5], 32, "%lld", a->granted_at_ms);
    argv[n++] = nums[5];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return n;
}

int sl_rl_release_args(const sl_rl_request *r, long long granted_at_ms, long long window,
                       long long seq, int discovering, const char **argv, size_t *lens,
                       char nums[][32])
{
    int n = 0;
    argv[n++] = r->block_key;
    argv[n++] = r->base;
    argv[n++] = "release";
    argv[n++] = r->route;
    argv[n++] = r->major;
    snprintf(nums[0], 32, "%lld", granted_at_ms);
    argv[n++] = nums[0];
    snprintf(nums[1], 32, "%lld", window);
    argv[n++] = nums[1];
    argv[n++] = discovering ? "1" : "0";
    snprintf(nums[2], 32, "%lld", seq);
    argv[n++] = nums[2];
    /* only the first rate limit's place is numbered */
    argv[n++] = r->nlimits ? r->limits[0].name : "";
    snprintf(nums[3], 32, "%.3f", r->nlimits ? r->limits[0].interval_ms : 0.0);
    argv[n++] = nums[3];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return n;
}

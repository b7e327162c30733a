/* func.c — see func.h. The text is build/gen/sluice.lua, embedded by
 * tools/embed.sh as sl_function_sources. */
#include "func.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_embedded {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct sl_embedded sl_function_sources[];

const char *sl_func_text(size_t *len)
{
    *len = sl_function_sources[0].len;
    return sl_function_sources[0].text;
}

int sl_func_version(void)
{
    static const char mark[] = "\nlocal SLUICE_VERSION = ";
    const char *at = strstr(sl_function_sources[0].text, mark);
    if (!at) {
        fprintf(stderr, "sluice: the function library declares no SLUICE_VERSION\n");
        abort(); /* a build defect */
    }
    return atoi(at + sizeof mark - 1);
}

int sl_func_reply_version(const redisReply *r, char *err, size_t errlen)
{
    if (!r) {
        snprintf(err, errlen, "no answer from Redis");
        return SL_FUNC_ERROR;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 && r->integer < 1000000)
        return (int)r->integer;
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "Function not found"))
        return SL_FUNC_NONE;
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "unknown command"))
        snprintf(err, errlen,
                 "Redis has no functions (%s): Sluice's function library needs "
                 "Redis 7.0 or newer",
                 r->str);
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(err, errlen, "FCALL_RO sluice_version: %s", r->str);
    else
        snprintf(err, errlen, "FCALL_RO sluice_version: unexpected reply (type %d)", r->type);
    return SL_FUNC_ERROR;
}

int sl_func_loaded(redisContext *rc, char *err, size_t errlen)
{
    redisReply *r = redisCommand(rc, "FCALL_RO sluice_version 0");
    if (!r) {
        snprintf(err, errlen, "redis: %s", rc->errstr[0] ? rc->errstr : "connection lost");
        return SL_FUNC_ERROR;
    }
    int v = sl_func_reply_version(r, err, errlen);
    freeReplyObject(r);
    return v;
}

static void report_cb(sl_rconn *c, redisReply *reply, void *priv)
{
    (void)c, (void)priv;
    char err[300];
    int want = sl_func_version();
    int have = sl_func_reply_version(reply, err, sizeof err);
    if (have == SL_FUNC_ERROR)
        sl_info("function library: cannot tell which is loaded (%s)", err);
    else if (have == SL_FUNC_NONE)
        sl_warn("function library: Redis has none; frontends that enqueue with FCALL "
                "sluice_enqueue need version %d: run `sluice-ctl install`",
                want);
    else if (have < want)
        sl_warn("function library: Redis has version %d, this build carries %d: run `sluice-ctl "
                "install` (FCALL clients get version %d's behaviour until then)",
                have, want, have);
    else
        sl_debug("function library: version %d loaded (this build's: %d)", have, want);
}

void sl_func_report(sl_rconn *c)
{
    static int sent;
    if (sent)
        return;
    const char *argv[] = {"FCALL_RO", "sluice_version", "0"};
    if (!sl_rconn_command(c, report_cb, NULL, 3, argv, NULL))
        sent = 1;
}

/* rblock.c — see rblock.h. */
#include "rblock.h"
#include "noperm.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

const char *sl_rblock_error(const redisContext *rc, char *buf, size_t len)
{
    if (rc->err == REDIS_ERR_IO &&
        (!strcmp(rc->errstr, strerror(EAGAIN)) || !strcmp(rc->errstr, strerror(ETIMEDOUT)))) {
        double s = rc->timeout ? rc->timeout->tv_sec + rc->timeout->tv_usec / 1e6 : 0;
        snprintf(buf, len, SL_RBLOCK_TIMED_OUT ": no answer within %.1f s", s);
    } else {
        snprintf(buf, len, "%s", rc->err ? rc->errstr : "no reply");
    }
    return buf;
}

int sl_rblock_outage(const char *text)
{
    static const char *const codes[] = {"LOADING", "READONLY",   "OOM", "MASTERDOWN",
                                        "BUSY",    "NOREPLICAS", NULL};
    const char *refused = strstr(text, " refused: ");
    if (refused)
        text = refused + 10;
    else if (!strncmp(text, "redis: ", 7))
        return 1; /* sl_rblock_connect: no answer at all */
    for (int i = 0; codes[i]; i++) {
        size_t n = strlen(codes[i]);
        if (!strncmp(text, codes[i], n) && (text[n] == ' ' || text[n] == '\0'))
            return 1;
    }
    return 0;
}

static int simple(redisContext *rc, char *err, size_t errlen, const char *what, redisReply *r)
{
    if (!r) {
        char why[160];
        snprintf(err, errlen, "redis: %s: %s", what, sl_rblock_error(rc, why, sizeof why));
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: %s refused: %s%s", what, r->str, sl_noperm_note(r->str));
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

redisContext *sl_rblock_connect(const sl_redis_addr *a, double timeout_s, char *err, size_t errlen)
{
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
    redisContext *rc = a->path[0] ? redisConnectUnixWithTimeout(a->path, tv)
                                  : redisConnectWithTimeout(a->host, a->port, tv);
    char where[400];
    sl_redis_addr_describe(a, where, sizeof where);
    if (!rc || rc->err) {
        char why[160];
        snprintf(err, errlen,
                 "redis: cannot connect to %s: %s (is redis-server running? set "
                 "SLUICE_REDIS_URL or --redis-url)",
                 where, rc ? sl_rblock_error(rc, why, sizeof why) : "out of memory");
        redisFree(rc);
        return NULL;
    }
    redisSetTimeout(rc, tv);
    sl_noperm_set_user(a->user);
    if (a->pass[0]) {
        redisReply *r = a->user[0] ? redisCommand(rc, "AUTH %s %s", a->user, a->pass)
                                   : redisCommand(rc, "AUTH %s", a->pass);
        if (simple(rc, err, errlen, "AUTH", r))
            goto fail;
    }
    if (a->db && simple(rc, err, errlen, "SELECT", redisCommand(rc, "SELECT %d", a->db)))
        goto fail;
    for (int i = 0; i < SL_SCRIPT_COUNT; i++) {
        const sl_script *s = sl_script_get(i);
        if (simple(rc, err, errlen, "SCRIPT LOAD",
                   redisCommand(rc, "SCRIPT LOAD %b", s->text, s->len)))
            goto fail;
    }
    return rc;
fail:
    redisFree(rc);
    return NULL;
}

static void build(enum sl_script_id id, int nkeys, int argc, const char **argv, const size_t *lens,
                  const char ***v_out, size_t **l_out, char *nk)
{
    const sl_script *s = sl_script_get(id);
    const char **v = sl_malloc((argc + 3) * sizeof *v);
    size_t *l = sl_malloc((argc + 3) * sizeof *l);
    v[0] = "EVALSHA", l[0] = 7;
    v[1] = s->sha, l[1] = 40;
    l[2] = (size_t)snprintf(nk, 16, "%d", nkeys);
    v[2] = nk;
    for (int i = 0; i < argc; i++) {
        v[i + 3] = argv[i];
        l[i + 3] = lens ? lens[i] : strlen(argv[i]);
    }
    *v_out = v;
    *l_out = l;
}

void sl_rblock_append_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                             const char **argv, const size_t *lens)
{
    const char **v;
    size_t *l;
    char nk[16];
    build(id, nkeys, argc, argv, lens, &v, &l, nk);
    redisAppendCommandArgv(rc, argc + 3, v, l);
    free(v);
    free(l);
}

redisReply *sl_rblock_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                             const char **argv, const size_t *lens)
{
    sl_rblock_append_script(rc, id, nkeys, argc, argv, lens);
    void *r = NULL;
    if (redisGetReply(rc, &r) != REDIS_OK)
        return NULL;
    return r;
}

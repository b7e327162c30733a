/* install.c — `sluice-ctl install`: loads the Redis Function library
 * "sluice" this build carries (func.h) into Redis, or upgrades an older one
 * (FUNCTION LOAD REPLACE), and says which it did. Idempotent: at the same
 * version it changes nothing. A newer library is left alone, so an old
 * sluice-ctl never takes functions away from newer clients. Redis keeps
 * functions in its RDB and AOF and sends them to replicas. */
#include "ctl.h"
#include "noperm.h"
#include "func.h"

#include <string.h>

int ctl_install_print(void)
{
    size_t len;
    const char *text = sl_func_text(&len);
    if (fwrite(text, 1, len, stdout) != len || fflush(stdout)) {
        ctl_errorf("install --print: cannot write the library: %m");
        return CTL_FAIL;
    }
    return CTL_OK;
}

/* Whether Redis has a library named sluice (one without sluice_version
 * still counts). -1 after printing a Redis error. */
static int library_exists(ctl *c)
{
    redisReply *r = redisCommand(c->rc, "FUNCTION LIST LIBRARYNAME %s", SL_FUNC_LIBRARY);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        ctl_errorf("install: FUNCTION LIST: %s%s", r ? r->str : c->rc->errstr,
                   r ? sl_noperm_note(r->str) : "");
        freeReplyObject(r);
        return -1;
    }
    /* LIBRARYNAME matches by substring: look for the exact name */
    int found = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *lib = r->element[i];
        for (size_t k = 0; lib->type == REDIS_REPLY_ARRAY && k + 1 < lib->elements; k += 2)
            if (lib->element[k]->type == REDIS_REPLY_STRING &&
                !strcmp(lib->element[k]->str, "library_name") &&
                lib->element[k + 1]->type == REDIS_REPLY_STRING &&
                !strcmp(lib->element[k + 1]->str, SL_FUNC_LIBRARY))
                found = 1;
    }
    freeReplyObject(r);
    return found;
}

int ctl_install(ctl *c, int npos, char **pos)
{
    (void)npos;
    (void)pos;
    char err[512];
    int want = sl_func_version();
    int have = sl_func_loaded(c->rc, err, sizeof err);
    if (have == SL_FUNC_ERROR) {
        ctl_errorf("install: %s", err);
        return CTL_FAIL;
    }
    if (c->o->check) {
        if (have == SL_FUNC_NONE) {
            printf("sluice function library: not loaded (this sluice-ctl has version %d: run "
                   "sluice-ctl install)\n",
                   want);
            return CTL_NOTFOUND;
        }
        printf("sluice function library: version %d loaded (this sluice-ctl has version %d)%s\n",
               have, want, have < want ? ": run sluice-ctl install" : "");
        return have < want ? CTL_NOTFOUND : CTL_OK;
    }
    if (have == want) {
        printf("sluice function library: already at version %d\n", have);
        return CTL_OK;
    }
    if (have > want) {
        printf("sluice function library: Redis has version %d, newer than this sluice-ctl's "
               "%d: left as it is (install with the newer sluice-ctl)\n",
               have, want);
        return CTL_NOTFOUND;
    }
    int exists = have >= 0 ? 1 : library_exists(c);
    if (exists < 0)
        return CTL_FAIL;
    size_t len;
    const char *text = sl_func_text(&len);
    redisReply *r = redisCommand(c->rc, "FUNCTION LOAD REPLACE %b", text, len);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        ctl_errorf("install: FUNCTION LOAD: %s%s", r ? r->str : c->rc->errstr,
                   r ? sl_noperm_note(r->str) : "");
        freeReplyObject(r);
        return CTL_FAIL;
    }
    freeReplyObject(r);
    int now = sl_func_loaded(c->rc, err, sizeof err);
    if (now != want) {
        ctl_errorf("install: loaded, but Redis then answers version %d (%s)", now,
                   now == SL_FUNC_ERROR ? err : "expected the new one");
        return CTL_FAIL;
    }
    if (have >= 0)
        printf("sluice function library: upgraded from version %d to %d\n", have, want);
    else if (exists)
        printf("sluice function library: upgraded from a library without a version to %d\n", want);
    else
        printf("sluice function library: installed version %d\n", want);
    return CTL_OK;
}

/* scripts.c — see scripts.h. */
#include "scripts.h"
#include "sha1.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_embedded {
    const char *name;
    const char *text;
    size_t len;
};
extern const struct sl_embedded sl_lua_sources[];

static const char *names[SL_SCRIPT_COUNT] = {
    [SL_SCRIPT_ACK] = "ack",
    [SL_SCRIPT_BATCH] = "batch",
    [SL_SCRIPT_APP_DECIDE] = "app_decide",
    [SL_SCRIPT_APP_OPEN] = "app_open",
    [SL_SCRIPT_APP_SWEEP] = "app_sweep",
    [SL_SCRIPT_CANCEL] = "cancel",
    [SL_SCRIPT_CLAIM] = "claim",
    [SL_SCRIPT_DONE_SAMPLE] = "done_sample",
    [SL_SCRIPT_ENQUEUE] = "enqueue",
    [SL_SCRIPT_EXPIRED] = "expired",
    [SL_SCRIPT_FAIL] = "fail",
    [SL_SCRIPT_HEARTBEAT] = "heartbeat",
    [SL_SCRIPT_LEADER] = "leader",
    [SL_SCRIPT_ORPHANS] = "orphans",
    [SL_SCRIPT_PROMOTE] = "promote",
    [SL_SCRIPT_PURGE] = "purge",
    [SL_SCRIPT_RECLAIM] = "reclaim",
    [SL_SCRIPT_RENEW] = "renew",
    [SL_SCRIPT_REVIVE] = "revive",
    [SL_SCRIPT_RL_ACQUIRE] = "rl_acquire",
    [SL_SCRIPT_RL_REPORT] = "rl_report",
    [SL_SCRIPT_SEM_ACQUIRE] = "sem_acquire",
    [SL_SCRIPT_TRIM] = "trim",
};

static sl_script scripts[SL_SCRIPT_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const struct sl_embedded *find(const char *name, size_t len)
{
    const struct sl_embedded *e = sl_lua_sources;
    while (e->name && (strlen(e->name) != len || memcmp(e->name, name, len)))
        e++;
    if (!e->name) {
        fprintf(stderr, "sluice: script %.*s.lua is not in the build\n", (int)len, name);
        abort();
    }
    return e;
}

/* The text Redis runs for E: E's own, or with the files named by its
 * "-- include: NAME.lua" lines in front, in the order named (kept for the
 * life of the process). tools/funclib.sh resolves the same lines for the
 * function library. */
static void compose(sl_script *s, const struct sl_embedded *e)
{
    static const char mark[] = "\n-- include: ";
    s->text = e->text;
    s->len = e->len;
    sl_buf text = {0};
    const char *at = e->text, *end = e->text + e->len;
    while ((at = memmem(at, (size_t)(end - at), mark, sizeof mark - 1))) {
        const char *name = at + sizeof mark - 1;
        const char *eol = memchr(name, '\n', (size_t)(end - name));
        size_t n = eol ? (size_t)(eol - name) : (size_t)(end - name);
        if (n > 4 && !memcmp(name + n - 4, ".lua", 4))
            n -= 4;
        const struct sl_embedded *lib = find(name, n);
        sl_buf_append(&text, lib->text, lib->len);
        at = name;
    }
    if (!text.len)
        return;
    sl_buf_append(&text, e->text, e->len);
    s->text = text.data; /* kept: a script's text lives as long as the process */
    s->len = text.len;
}

static void load(void)
{
    for (int i = 0; i < SL_SCRIPT_COUNT; i++) {
        const struct sl_embedded *e = find(names[i], strlen(names[i]));
        scripts[i].name = e->name;
        compose(&scripts[i], e);
        sl_sha1_hex(scripts[i].text, scripts[i].len, scripts[i].sha);
    }
}

const sl_script *sl_script_get(enum sl_script_id id)
{
    pthread_once(&once, load);
    return &scripts[id];
}

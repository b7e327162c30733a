/* scripts.c — see scripts.h. */
#include "scripts.h"
#include "sha1.h"

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
    [SL_SCRIPT_CANCEL] = "cancel",
    [SL_SCRIPT_CLAIM] = "claim",
    [SL_SCRIPT_ENQUEUE] = "enqueue",
    [SL_SCRIPT_EXPIRED] = "expired",
    [SL_SCRIPT_FAIL] = "fail",
    [SL_SCRIPT_HEARTBEAT] = "heartbeat",
    [SL_SCRIPT_LEADER] = "leader",
    [SL_SCRIPT_PROMOTE] = "promote",
    [SL_SCRIPT_RECLAIM] = "reclaim",
    [SL_SCRIPT_RENEW] = "renew",
    [SL_SCRIPT_REVIVE] = "revive",
    [SL_SCRIPT_RL_ACQUIRE] = "rl_acquire",
    [SL_SCRIPT_RL_REPORT] = "rl_report",
    [SL_SCRIPT_TRIM] = "trim",
};

static sl_script scripts[SL_SCRIPT_COUNT];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
    for (int i = 0; i < SL_SCRIPT_COUNT; i++) {
        const struct sl_embedded *e = sl_lua_sources;
        while (e->name && strcmp(e->name, names[i]))
            e++;
        if (!e->name) {
            fprintf(stderr, "sluice: script %s.lua is not in the build\n", names[i]);
            abort();
        }
        scripts[i].name = e->name;
        scripts[i].text = e->text;
        scripts[i].len = e->len;
        sl_sha1_hex(e->text, e->len, scripts[i].sha);
    }
}

const sl_script *sl_script_get(enum sl_script_id id)
{
    pthread_once(&once, load);
    return &scripts[id];
}

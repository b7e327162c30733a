/* scripts.h — the Lua scripts in shared/scripts/, compiled in, called with
 * EVALSHA. Each script's header comment lists its KEYS and ARGV. A script
 * with lines "-- include: NAME.lua" runs with each NAME's text in front of
 * its own, in the order named (lib_*.lua: shared code, not scripts of their
 * own; lib_enqueue.lua is also part of the function library, func.h). */
#ifndef SL_SCRIPTS_H
#define SL_SCRIPTS_H

#include <stddef.h>

enum sl_script_id {
    SL_SCRIPT_ACK,
    SL_SCRIPT_BATCH,
    SL_SCRIPT_APP_DECIDE,
    SL_SCRIPT_APP_OPEN,
    SL_SCRIPT_APP_SWEEP,
    SL_SCRIPT_CANCEL,
    SL_SCRIPT_CLAIM,
    SL_SCRIPT_DONE_SAMPLE,
    SL_SCRIPT_ENQUEUE,
    SL_SCRIPT_EXPIRED,
    SL_SCRIPT_FAIL,
    SL_SCRIPT_HEARTBEAT,
    SL_SCRIPT_LEADER,
    SL_SCRIPT_ORPHANS,
    SL_SCRIPT_PROMOTE,
    SL_SCRIPT_PURGE,
    SL_SCRIPT_RECLAIM,
    SL_SCRIPT_RENEW,
    SL_SCRIPT_REVIVE,
    SL_SCRIPT_RL_ACQUIRE,
    SL_SCRIPT_RL_REPORT,
    SL_SCRIPT_SEM_ACQUIRE,
    SL_SCRIPT_TRIM,
    SL_SCRIPT_COUNT
};

typedef struct sl_script {
    const char *name; /* file name without .lua */
    const char *text; /* as sent to Redis: an included file's text first */
    size_t len;
    char sha[41]; /* SHA-1 of text, as Redis names it */
} sl_script;

/* The script ID. Hashes every script on first use; aborts if a script the
 * enum names is missing from the build (a build defect). */
const sl_script *sl_script_get(enum sl_script_id id);

#endif

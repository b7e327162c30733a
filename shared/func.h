/* func.h — the Redis Function library "sluice" (shared/functions/sluice.lua,
 * made by tools/funclib.sh with lib_enqueue.lua, the CLI's enqueue, inside):
 * any Redis client enqueues with FCALL sluice_enqueue 1 PREFIX:{QUEUE}
 * ENVELOPE_JSON... once `sluice-ctl install` has loaded it. Here: its text
 * as this build carries it, its version, and which version Redis has (the
 * CLI runs the same enqueue text with EVALSHA and needs no check). */
#ifndef SL_FUNC_H
#define SL_FUNC_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "rconn.h"

#define SL_FUNC_LIBRARY "sluice"

/* The library's text, as FUNCTION LOAD takes it (LEN bytes, NUL-terminated,
 * static). */
const char *sl_func_text(size_t *len);

/* The version this build's library declares (SLUICE_VERSION in the text). */
int sl_func_version(void);

#define SL_FUNC_NONE -1  /* Redis has no sluice_version function */
#define SL_FUNC_ERROR -2 /* could not tell: ERR says why */

/* The version R, the reply to "FCALL_RO sluice_version 0", says is loaded
 * (>= 0), or SL_FUNC_NONE when Redis has no such function (no library, or
 * one too old to say), or SL_FUNC_ERROR with the reason in ERR (Redis
 * before 7.0 has no FCALL_RO, an ACL refusal...; NULL R: no answer). For
 * callers with an async connection; sl_func_loaded does the round trip. */
int sl_func_reply_version(const redisReply *r, char *err, size_t errlen);

/* Asks RC which version is loaded: as sl_func_reply_version. */
int sl_func_loaded(redisContext *rc, char *err, size_t errlen);

/* Says in the log, once per process (call it each time C comes up; only
 * the first does anything), which library Redis has against the one this
 * build carries: a warning naming `sluice-ctl install` when it has none or
 * an older one. Sluice's own programs run the enqueue as a script and need
 * no function; the bot frontends that FCALL sluice_enqueue do, and after an
 * upgrade of Sluice they get the older library's behaviour until then. */
void sl_func_report(sl_rconn *c);

#endif

/* rsync.h — blocking Redis for the command-line tools (sluice-producer,
 * sluice-ctl, sluice-bench), which have no event loop to keep free. */
#ifndef SL_RSYNC_H
#define SL_RSYNC_H

#include <hiredis/hiredis.h>

#include "config.h"
#include "scripts.h"

/* Connects, authenticates, selects the database and loads the scripts.
 * Returns NULL with the reason in ERR (never the password). */
redisContext *sl_rsync_connect(const sl_redis_addr *addr, double timeout_s, char *err,
                               size_t errlen);

/* Appends an EVALSHA of script ID to the output buffer (pipelining); the
 * reply is read later with redisGetReply. */
void sl_rsync_append_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                            const char **argv, const size_t *lens);

/* EVALSHA and wait for the reply (caller frees it with freeReplyObject).
 * NULL when the connection failed; rc->errstr says why. */
redisReply *sl_rsync_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                            const char **argv, const size_t *lens);

#endif

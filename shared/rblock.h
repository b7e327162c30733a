/* rblock.h — blocking Redis ("r" for Redis, as in rconn.h, the loop's
 * asynchronous connection): hiredis's redisContext for the command-line
 * tools (sluice-producer, sluice-ctl, sluice-bench), which have no event
 * loop to keep free. */
#ifndef SL_RBLOCK_H
#define SL_RBLOCK_H

#include <hiredis/hiredis.h>

#include "config.h"
#include "scripts.h"

/* Connects, authenticates, selects the database and loads the scripts;
 * TIMEOUT_S bounds the connect and every later read and write. Returns NULL
 * with the reason in ERR (never the password; a timeout says
 * SL_RBLOCK_TIMED_OUT and how long). */
redisContext *sl_rblock_connect(const sl_redis_addr *addr, double timeout_s, char *err,
                                size_t errlen);

/* What sl_rblock_error says when Redis did not answer within the timeout. */
#define SL_RBLOCK_TIMED_OUT "timed out"

/* RC's last error for a message, in BUF: hiredis's errstr, or "timed out:
 * no answer within N s" when a read or write hit the timeout (hiredis says
 * "Resource temporarily unavailable"). Returns BUF. */
const char *sl_rblock_error(const redisContext *rc, char *buf, size_t len);

/* 1 when TEXT says Redis is out of reach for now, so a job may wait in a
 * spool and be sent later: an error reply whose code is LOADING, READONLY,
 * OOM, MASTERDOWN, NOREPLICAS or BUSY (alone, or after "... refused: " as
 * sl_rblock_connect writes it), or a failure of sl_rblock_connect other than
 * a refusal (cannot connect, timed out, connection lost). A refusal for any
 * other reason (WRONGPASS, NOPERM, ERR) gives 0. */
int sl_rblock_outage(const char *text);

/* Appends an EVALSHA of script ID to the output buffer (pipelining); the
 * reply is read later with redisGetReply. */
void sl_rblock_append_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                             const char **argv, const size_t *lens);

/* EVALSHA and wait for the reply (caller frees it with freeReplyObject).
 * NULL when the connection failed; rc->errstr says why. */
redisReply *sl_rblock_script(redisContext *rc, enum sl_script_id id, int nkeys, int argc,
                             const char **argv, const size_t *lens);

#endif

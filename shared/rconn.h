/* rconn.h — an asynchronous Redis connection on a libev loop (hiredis async
 * with its libev adapter) that keeps itself up: it authenticates, selects the
 * database, loads the Lua scripts, reconnects after any failure with a
 * jittered backoff (backoff.h), and drops a connection that stops answering
 * (hiredis has no command timeouts). */
#ifndef SL_RCONN_H
#define SL_RCONN_H

#include <ev.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "scripts.h"

typedef struct sl_rconn sl_rconn;

/* Called once per command with its reply, borrowed for the call; REPLY is
 * NULL when the connection went down before the answer came (the command may
 * or may not have run). C is NULL when the call comes from sl_rconn_free. */
typedef void sl_rconn_reply_cb(sl_rconn *c, redisReply *reply, void *priv);

/* Called when the connection comes up (UP = 1: commands may be sent) and when
 * it goes down (UP = 0). */
typedef void sl_rconn_state_cb(sl_rconn *c, int up, void *priv);

/* Called for every pub/sub message: CHANNEL and MESSAGE are borrowed. */
typedef void sl_rconn_message_cb(sl_rconn *c, const char *channel, const char *message, size_t len,
                                 void *priv);

/* A connection named NAME (for logs) to ADDR; it starts connecting at once.
 * ADDR is copied. Never NULL (out of memory aborts). */
sl_rconn *sl_rconn_new(struct ev_loop *loop, const sl_redis_addr *addr, const char *name);

/* Stops every watcher and frees C; pending callbacks get a NULL reply.
 * Must not be called from inside one of C's callbacks. NULL does nothing. */
void sl_rconn_free(sl_rconn *c);

void sl_rconn_set_state_cb(sl_rconn *c, sl_rconn_state_cb *cb, void *priv);

/* Seconds without any answer, while commands are pending, after which the
 * connection is dropped and made again (default 10). */
void sl_rconn_set_timeout(sl_rconn *c, double seconds);

/* Metrics (metrics.h), either NULL for none: every command's round trip,
 * send to reply, observed in ROUNDTRIP (a histogram, seconds); every time
 * the connection comes up again after being up, RECONNECTS + 1. */
struct sl_series;
void sl_rconn_set_metrics(sl_rconn *c, struct sl_series *roundtrip, struct sl_series *reconnects);

int sl_rconn_is_up(const sl_rconn *c);

/* Sends a command. Returns 0 and calls CB exactly once later, or SL_EREDIS
 * when the connection is down (CB is not called). Arguments are copied. */
int sl_rconn_command(sl_rconn *c, sl_rconn_reply_cb *cb, void *priv, int argc, const char **argv,
                     const size_t *lens);

/* EVALSHA of script ID with NKEYS keys first in ARGV. As sl_rconn_command. */
int sl_rconn_script(sl_rconn *c, enum sl_script_id id, sl_rconn_reply_cb *cb, void *priv, int nkeys,
                    int argc, const char **argv, const size_t *lens);

/* Makes this a subscriber connection for CHANNELS (copied), subscribed again
 * after every reconnect; CB gets each message. Call once, before it is up. */
void sl_rconn_subscribe(sl_rconn *c, int n, const char **channels, sl_rconn_message_cb *cb,
                        void *priv);

/* The same with PATTERNS (PSUBSCRIBE): CB gets each message with the
 * channel it came on, and, once the subscription is in place after each
 * connect, one call with MESSAGE NULL (CHANNEL = the pattern): what was
 * published before it was not seen. */
void sl_rconn_psubscribe(sl_rconn *c, int n, const char **patterns, sl_rconn_message_cb *cb,
                         void *priv);

/* Closes C for good, gracefully (hiredis's redisAsyncDisconnect: no QUIT is
 * sent; the socket closes once every pending reply has come), and stops
 * reconnecting. New commands are refused at once (SL_EREDIS), though
 * sl_rconn_is_up stays 1 until the socket closes. What fires, in order:
 *   - each pending command's reply callback, with its reply (NULL if the
 *     connection dies first);
 *   - a connection still setting up finishes it: its state callback may
 *     see UP = 1 first;
 *   - then, if C was up, the state callback once with UP = 0, and nothing
 *     more: no reconnect. With no reply pending this happens inside this
 *     call (or, called from one of C's reply callbacks, when that returns).
 * Pub/sub messages stop. A connection that was down fires nothing. C must
 * still be freed with sl_rconn_free (not from inside its callbacks). */
void sl_rconn_close(sl_rconn *c);

/* An error reply's text, or NULL when REPLY is not an error. */
const char *sl_reply_error(const redisReply *reply);

#endif

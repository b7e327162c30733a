/* spawn.h — jobs that jobs make: an interview's follow-up, a decision's
 * welcome message. Each is validated like a producer's (envelope and payload
 * schema) and enqueued with enqueue.lua, one script call per queue, so a
 * job that spawns many pays one round trip per queue. Give spawned jobs an
 * idempotency key derived from what they stand for, and a retried parent
 * spawns nothing twice. */
#ifndef SL_SPAWN_H
#define SL_SPAWN_H

#include "worker.h"

typedef struct spawn spawn;

/* OK: every job was stored (or its idempotency key had been seen). */
typedef void spawn_cb(int ok, const char *error, void *priv);

spawn *spawn_new(worker *w);

/* Adds the job ENVELOPE (JSON text). Returns 0, or SL_EINVAL with the reason
 * in ERR (field and limit), adding nothing. */
int spawn_add(spawn *s, const char *envelope, char *err, size_t errlen);

/* Sends the jobs; CB runs once, later, from the loop; S is freed after it.
 * With no job, CB still runs (later) with OK set. */
void spawn_send(spawn *s, spawn_cb *cb, void *priv);

/* The owner of CB's PRIV is going away: CB will not be called. S is freed
 * when its replies are in. NULL does nothing. */
void spawn_cancel(spawn *s);

#endif

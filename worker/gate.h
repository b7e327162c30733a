/* gate.h — in-process queues in front of the fleet-wide rate limits.
 *
 * Every request to an upstream passes rl_acquire.lua first. Tasks headed for
 * the same limits (bot, route, channel or chat) wait in one FIFO gate here,
 * and only the gates talk to Redis: one call asks for every gate of a bot
 * that has tasks waiting (up to 64 tasks of each), two calls at most in
 * flight per bot, and lets go as many as the limits allow; a gate the limits
 * hold asks nothing until its wait is over, so a thousand waiting jobs cost
 * Redis nothing. A task in a gate holds no worker slot (worker.parked). */
#ifndef SL_GATE_H
#define SL_GATE_H

#include "ratelimit.h"
#include "worker.h"

typedef struct gate gate;

/* Called once per gate_enter: WAIT_MS 0 means "send now" (the place under
 * every limit is taken); more means the limits ask for a wait longer than
 * the gate holds jobs in memory, and the task should be deferred that long
 * through Redis. */
typedef void gate_admit_cb(task *t, long wait_ms, void *priv);

/* A task's place in a gate; embedded in the handler's state. */
typedef struct gate_link {
    struct gate_link *prev, *next;
    gate *g;
    task *t;
    gate_admit_cb *admit;
    void *priv;              /* ADMIT's */
    struct acquire *acq;     /* the acquire in flight that covers this link, or NULL */
    int granted;             /* its place is taken: admitted next */
    int discover;            /* admitted to learn its route's bucket: report the answer */
    int64_t granted_us;      /* admitted: when the acquire that let it go was sent
                              * (sl_monotonic_us), at or before its place was taken */
    long long granted_at_ms; /* admitted: the server time of the grant, the bucket */
    long long window;        /* window and the number of the place (rl_acquire.lua), */
    long long seq;           /* for its report and its release */
    int64_t entered_us;      /* when it entered the gate (sl_monotonic_us) */
} gate_link;

/* Makes W's gates (worker.gates), empty, and starts their sweep. */
void gates_start(worker *w);
/* Stops every gate's timer (the worker is stopping); sends nothing more. */
void gates_stop(worker *w);
/* Frees W's gates; only after the Redis connections are freed. */
void gates_free(worker *w);

/* Queues T behind the limits of R; ADMIT(T, wait, PRIV) is called later,
 * never from inside this call. LINK must stay valid until then or until
 * gate_leave. A task may have several links in gates at once. */
void gate_enter(worker *w, task *t, const sl_rl_request *r, gate_admit_cb *admit, void *priv,
                gate_link *link);

/* As gate_enter, but at the head of the gate: for a request that was let go
 * and then not sent or not taken (late, its connection died, a 429). It was
 * first in line, and stays so: a chat's or channel's messages keep their
 * order. */
void gate_reenter(worker *w, task *t, const sl_rl_request *r, gate_admit_cb *admit, void *priv,
                  gate_link *link);

/* Takes T out of its gate without a callback (the task was abandoned); a
 * place already granted to it goes back (gate_give_back). */
void gate_leave(gate_link *link);

/* A place granted under R at GRANTED_AT_MS (bucket WINDOW, place SEQ;
 * DISCOVER when it was to learn the route's bucket) was not used: it goes
 * back to the limits (rl_acquire.lua's release mode), so a request not
 * sent costs the fleet nothing. gate_leave and the gates' own answers call
 * it for places whose task went away; call.c for a request not sent. */
void gate_give_back(worker *w, const sl_rl_request *r, long long granted_at_ms, long long window,
                    long long seq, int discover);

/* What gate_give_back did so far in W: places, ms of rate limiters' time
 * and bucket places the limits took back. */
typedef struct gate_given {
    unsigned long long places, ms, bucket;
} gate_given;
gate_given gates_given(const worker *w);

/* An upstream answered 429 for R: hold its gate for MS before asking again. */
void gate_hold(worker *w, const sl_rl_request *r, long ms);

#endif

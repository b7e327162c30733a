/* leader.c — leader election through one Redis key with a TTL
 * (leader.lua: SET if absent, PEXPIRE if mine). The leader renews every
 * third of the TTL; a standby tries as often. If renewals stop getting
 * through, the leader stands down on its own once the TTL could have run
 * out, so two leaders never work at once for longer than a round trip. */
#include "sched.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void leader_reply_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    sched *s = priv;
    if (!rc || !reply || reply->type != REDIS_REPLY_INTEGER)
        return; /* leader_active() times out on its own */
    if (reply->integer == 1) {
        s->leader_until = ev_now(s->loop) + (double)s->lock_ttl_ms / 1000.0 * 0.8;
        if (!s->leader && !s->stopping) {
            s->leader = 1;
            sl_info("leader now scheduler=%s", s->id);
            sched_became_leader(s);
        }
    } else if (s->leader) {
        s->leader = 0;
        sl_warn("leadership lost scheduler=%s (another scheduler holds the lock)", s->id);
        sched_lost_leadership(s);
    }
}

static void send_leader(sched *s, const char *mode)
{
    char key[SL_KEY_MAX], ttl[24];
    sl_keys_leader(key, s->prefix);
    snprintf(ttl, sizeof ttl, "%lld", s->lock_ttl_ms);
    const char *argv[] = {key, s->id, ttl, mode};
    sl_rconn_script(s->redis, SL_SCRIPT_LEADER, leader_reply_cb, s, 1, 4, argv, NULL);
}

int leader_active(sched *s)
{
    if (s->leader && ev_now(s->loop) > s->leader_until) {
        s->leader = 0;
        sl_warn("leadership expired scheduler=%s (no renewal got through)", s->id);
        sched_lost_leadership(s);
    }
    return s->leader;
}

static void leader_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    sched *s = t->data;
    leader_active(s);
    if (!s->stopping)
        send_leader(s, "keep");
}

void leader_start(sched *s)
{
    double every = (double)s->lock_ttl_ms / 3000.0;
    ev_timer_init(&s->leader_timer, leader_cb, 0, every);
    s->leader_timer.data = s;
    ev_timer_start(s->loop, &s->leader_timer);
}

void leader_release(sched *s)
{
    ev_timer_stop(s->loop, &s->leader_timer);
    if (s->leader)
        send_leader(s, "release");
    s->leader = 0;
}

/* notify.c — sd_notify on the loop: see notify.h. libsystemd's sd_notify
 * sends one datagram to NOTIFY_SOCKET and does not block (a full socket
 * buffer is an error return, logged once). */
#include "notify.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

static void send_state(const char *state)
{
    static int warned;
    int rc = sd_notify(0, state);
    if (rc < 0 && !warned) {
        warned = 1;
        sl_warn("sd_notify failed: %s (NOTIFY_SOCKET is set; systemd may not hear this process)",
                strerror(-rc));
    }
}

/* STATUS=text when it changed; with PREFIX ("READY=1\n"...) always. */
static void send_status(sl_notify *n, const char *prefix)
{
    char now[sizeof n->last] = "";
    if (n->status_cb)
        n->status_cb(now, sizeof now, n->status_priv);
    int changed = n->status_cb && strcmp(now, n->last);
    if (!prefix && !changed)
        return;
    char msg[sizeof now + 64];
    snprintf(msg, sizeof msg, "%s%s%s", prefix ? prefix : "", changed ? "STATUS=" : "",
             changed ? now : "");
    send_state(msg);
    if (changed)
        memcpy(n->last, now, sizeof now);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    send_state("WATCHDOG=1");
}

static void status_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    send_status(t->data, NULL);
}

void sl_notify_init(sl_notify *n, struct ev_loop *loop, sl_notify_status_cb *cb, void *priv)
{
    memset(n, 0, sizeof *n);
    n->loop = loop;
    n->status_cb = cb;
    n->status_priv = priv;
    ev_init(&n->watchdog, watchdog_cb);
    n->watchdog.data = n;
    ev_init(&n->status, status_cb);
    n->status.data = n;
    const char *sock = getenv("NOTIFY_SOCKET");
    n->on = sock && *sock;
    if (!n->on)
        return;
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        double every = (double)usec / 2e6; /* half the timeout, as sd_watchdog_enabled(3) says */
        ev_timer_set(&n->watchdog, 0, every);
        ev_timer_start(loop, &n->watchdog);
        ev_unref(loop);
        sl_info("systemd watchdog on timeout_ms=%llu ping_ms=%.0f",
                (unsigned long long)(usec / 1000), every * 1000);
    }
    if (cb) {
        ev_timer_set(&n->status, 1.0, 1.0);
        ev_timer_start(loop, &n->status);
        ev_unref(loop);
    }
}

void sl_notify_ready(sl_notify *n)
{
    if (!n->on || n->ready || n->stopping)
        return;
    n->ready = 1;
    send_status(n, "READY=1\n");
}

void sl_notify_stopping(sl_notify *n)
{
    if (!n->on || n->stopping)
        return;
    n->stopping = 1;
    send_status(n, "STOPPING=1\n");
}

void sl_notify_deinit(sl_notify *n)
{
    if (ev_is_active(&n->watchdog)) {
        ev_ref(n->loop);
        ev_timer_stop(n->loop, &n->watchdog);
    }
    if (ev_is_active(&n->status)) {
        ev_ref(n->loop);
        ev_timer_stop(n->loop, &n->status);
    }
}

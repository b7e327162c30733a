/* notify.h — systemd's service notifications (sd_notify, libsystemd) for
 * the long-running binaries (sluice-worker, sluice-scheduler,
 * sluice-producer serve) under a Type=notify unit:
 *   READY=1     once, the first time Redis answers with the scripts loaded
 *               (sl_notify_ready from the command connection's state
 *               callback), never before: a unit ordered After= it starts
 *               only against a Redis that works;
 *   WATCHDOG=1  from an ev_timer on the loop every half of WATCHDOG_USEC
 *               (sd_watchdog_enabled), so a loop that stops turning stops
 *               the pings and systemd restarts the process (WatchdogSec=);
 *   STOPPING=1  when the drain starts (sl_notify_stopping);
 *   STATUS=...  what the program's status callback writes, asked at most
 *               once a second and sent only when it changed (systemctl
 *               status shows it).
 * Without NOTIFY_SOCKET in the environment (not under systemd, or not
 * Type=notify) every call does nothing and no watcher is started. */
#ifndef SL_NOTIFY_H
#define SL_NOTIFY_H

#include <ev.h>
#include <stddef.h>

/* Writes the current status, one line, into BUF (LEN bytes, NUL-terminated,
 * cut if longer). Called on the loop. */
typedef void sl_notify_status_cb(char *buf, size_t len, void *priv);

typedef struct sl_notify {
    struct ev_loop *loop;
    int on;              /* NOTIFY_SOCKET is set */
    int ready, stopping; /* READY=1, STOPPING=1 sent */
    ev_timer watchdog;   /* WATCHDOG=1, every half of WATCHDOG_USEC; inactive without it */
    ev_timer status;     /* STATUS=, once a second */
    sl_notify_status_cb *status_cb;
    void *status_priv;
    char last[256]; /* the STATUS= text last sent */
} sl_notify;

/* Sets N up on LOOP and, when NOTIFY_SOCKET is set, starts its watchdog
 * (if WATCHDOG_USEC asks for one) and status timers. STATUS_CB (may be
 * NULL: no STATUS=) is called with PRIV. The timers do not keep the loop
 * alive. */
void sl_notify_init(sl_notify *n, struct ev_loop *loop, sl_notify_status_cb *status_cb, void *priv);

/* READY=1 with the current status; only the first call sends it. */
void sl_notify_ready(sl_notify *n);

/* STOPPING=1 with the current status; only the first call sends it. The
 * watchdog goes on until sl_notify_deinit: a drain takes its grace period
 * and a stuck one is still worth a restart. */
void sl_notify_stopping(sl_notify *n);

/* Stops N's timers (after the loop, or before it ends). */
void sl_notify_deinit(sl_notify *n);

#endif

/* httpd.h — libmicrohttpd on a process's own libev loop, and the listening
 * socket it serves. MHD runs in external mode with epoll: its epoll fd is
 * an ev_io on the loop, MHD_get_timeout sets one ev_timer, and an
 * ev_prepare runs once per loop turn, after every callback of the turn: it
 * lets MHD finish connections resumed in the turn, calls the owner's turn
 * hook, and sets the timer again. Handlers run on the loop's thread, so
 * they may touch the loop's state and answer at once; an answer that waits
 * (on Redis, a timer) suspends its connection and resumes it with
 * sl_httpd_resume. Used by the intake (producer/serve.c), the fake platform
 * (tests/fake/server.c) and the metrics endpoint (metrics_http.h). */
#ifndef SL_HTTPD_H
#define SL_HTTPD_H

#include <ev.h>
#include <microhttpd.h>
#include <stddef.h>

typedef struct sl_httpd sl_httpd;

typedef struct sl_httpd_conf {
    int listen_fd;         /* bound and listening; MHD closes it when stopped */
    unsigned conn_limit;   /* open connections at most; 0: MHD's default */
    size_t conn_memory;    /* per connection; 0: MHD's default */
    unsigned conn_timeout; /* idle seconds before a connection is closed; 0: never */
    int suspend;           /* MHD_ALLOW_SUSPEND_RESUME (and an inter-thread channel) */
    MHD_AccessHandlerCallback access;
    void *access_priv;
    MHD_RequestCompletedCallback completed; /* NULL: none */
    void *completed_priv;
    /* Once per loop turn, after MHD has run for resumed connections: the
     * owner's batching (the intake sends the jobs gathered in the turn). */
    void (*turn)(sl_httpd *h, void *priv);
    void *turn_priv;
    /* MHD's error lines go to sl_warn unless this says to drop one. */
    int (*quiet)(const char *msg);
} sl_httpd_conf;

/* Starts MHD on LOOP as CONF says. NULL with the reason in ERR (the listen
 * fd is then still the caller's). */
sl_httpd *sl_httpd_start(struct ev_loop *loop, const sl_httpd_conf *conf, char *err, size_t errlen);

/* Stops accepting: the listening socket is closed, connections stay. */
void sl_httpd_quiesce(sl_httpd *h);

/* Resumes CONN (suspended by its handler), whose answer is now ready. */
void sl_httpd_resume(sl_httpd *h, struct MHD_Connection *conn);

/* Lets MHD run now (its answers go out). */
void sl_httpd_run(sl_httpd *h);

/* Lets MHD send what is queued, then stops it and frees H. Every suspended
 * connection must have been resumed first. NULL does nothing. */
void sl_httpd_free(sl_httpd *h);

/* A listening TCP socket for SPEC: "HOST:PORT" (IPv4 or [IPv6]), or, when
 * BARE_PORT_HOST is not NULL, a bare "PORT" on that host; with ALLOW_UNIX,
 * also "unix:/path" (a stale socket file is removed first). -1 with ERR set
 * to a message naming OPTION ("--listen") and what is wrong (a bad
 * address, a port outside 0..65535, the address in use). */
int sl_httpd_listen(const char *spec, const char *option, const char *bare_port_host,
                    int allow_unix, char *err, size_t errlen);

#endif

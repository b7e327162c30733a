/* httpd.c — see httpd.h. */
#include "httpd.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct sl_httpd {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    ev_io io;        /* the daemon's epoll fd */
    ev_timer timer;  /* MHD_get_timeout */
    ev_prepare turn; /* once per loop turn: resumed connections, the owner's hook */
    int resumed;     /* a connection was resumed: MHD must run */
    sl_httpd_conf conf;
};

void sl_httpd_run(sl_httpd *h)
{
    h->resumed = 0;
    MHD_run(h->mhd);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    sl_httpd_run(w->data);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    sl_httpd_run(w->data);
}

static void turn_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    sl_httpd *h = w->data;
    if (h->resumed)
        sl_httpd_run(h);
    if (h->conf.turn) {
        h->conf.turn(h, h->conf.turn_priv);
        if (h->resumed)
            sl_httpd_run(h);
    }
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(loop, &h->timer);
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000.0, 0.);
        ev_timer_start(loop, &h->timer);
    }
}

void sl_httpd_resume(sl_httpd *h, struct MHD_Connection *conn)
{
    MHD_resume_connection(conn);
    h->resumed = 1;
}

static void log_cb(void *cls, const char *fmt, va_list ap)
{
    sl_httpd *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (h->conf.quiet && h->conf.quiet(msg))
        return;
    sl_warn("libmicrohttpd: %s", msg);
}

sl_httpd *sl_httpd_start(struct ev_loop *loop, const sl_httpd_conf *conf, char *err, size_t errlen)
{
    sl_httpd *h = sl_calloc(1, sizeof *h);
    h->loop = loop;
    h->conf = *conf;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (conf->suspend)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    struct MHD_OptionItem opts[8];
    int n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_cb, h};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, conf->listen_fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, conf->conn_timeout, NULL};
    if (conf->conn_limit)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, conf->conn_limit, NULL};
    if (conf->conn_memory)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                            (intptr_t)conf->conn_memory, NULL};
    if (conf->completed)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)conf->completed,
                                            conf->completed_priv};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, conf->access, conf->access_priv,
                              MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->mhd) {
        snprintf(err, errlen, "libmicrohttpd did not start (%s)", strerror(errno));
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    ev_io_init(&h->io, io_cb, info->epoll_fd, EV_READ);
    h->io.data = h;
    ev_io_start(loop, &h->io);
    ev_init(&h->timer, timer_cb);
    h->timer.data = h;
    ev_prepare_init(&h->turn, turn_cb);
    h->turn.data = h;
    ev_prepare_start(loop, &h->turn);
    return h;
}

void sl_httpd_quiesce(sl_httpd *h)
{
    MHD_socket fd = MHD_quiesce_daemon(h->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void sl_httpd_free(sl_httpd *h)
{
    if (!h)
        return;
    for (int i = 0; i < 3; i++)
        MHD_run(h->mhd);
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    ev_prepare_stop(h->loop, &h->turn);
    MHD_stop_daemon(h->mhd);
    free(h);
}

/* ---- listening ----------------------------------------------------------- */

static int listen_unix(const char *spec, const char *option, char *err, size_t errlen)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    const char *path = spec + 5;
    if (!*path || strlen(path) >= sizeof un.sun_path) {
        snprintf(err, errlen, "%s: unix:PATH needs a path of 1 to %zu bytes", option,
                 sizeof un.sun_path - 1);
        return -1;
    }
    strcpy(un.sun_path, path);
    unlink(path); /* a socket left by an earlier run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) || listen(fd, 1024)) {
        snprintf(err, errlen, "%s %s: %s", option, spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int sl_httpd_listen(const char *spec, const char *option, const char *bare_port_host,
                    int allow_unix, char *err, size_t errlen)
{
    if (allow_unix && !strncmp(spec, "unix:", 5))
        return listen_unix(spec, option, err, errlen);
    char host[256];
    const char *colon = strrchr(spec, ':');
    const char *port_text;
    if (!colon && bare_port_host) {
        sl_strlcpy(host, bare_port_host, sizeof host);
        port_text = spec;
    } else if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) {
        snprintf(err, errlen, "%s: \"%s\" is not HOST:PORT%s%s", option, spec,
                 bare_port_host ? " or PORT" : "", allow_unix ? " or unix:/path" : "");
        return -1;
    } else {
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port_text = colon + 1;
    }
    char *end;
    long port = strtol(port_text, &end, 10);
    if (*end || port < 0 || port > 65535 || end == port_text) {
        snprintf(err, errlen, "%s: port \"%s\" is not 0..65535", option, port_text);
        return -1;
    }
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    size_t hl = strlen(host);
    if (hl > 1 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            goto bad_host;
        sl = sizeof *a6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
            goto bad_host;
        sl = sizeof *a4;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 4096)) {
        snprintf(err, errlen, "%s %s: %s", option, spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
bad_host:
    snprintf(err, errlen, "%s: \"%s\" is not an IP address (give 127.0.0.1, [::1], 0.0.0.0 ...)",
             option, host);
    return -1;
}

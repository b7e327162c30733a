/* server.h — the HTTP side: libmicrohttpd on a libev loop (shared/httpd.h)
 * in a thread of its own, answers held back by suspending the connection
 * and resuming it from that thread's timer (timer.h) at the due time. */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include "fake.h"

#include <stddef.h>

typedef struct fake_server fake_server;

/* Serves ST on LISTEN_FD (bound and listening; the server takes it over and
 * closes it on stop) on one thread of its own with at most CONN_LIMIT
 * connections. Returns NULL with the reason in ERR on failure (LISTEN_FD is
 * then still the caller's). */
fake_server *fake_server_start(fake_state *st, int listen_fd, unsigned conn_limit, char *err,
                               size_t errlen);

/* Answers every held-back request at once, then stops the thread and
 * closes every connection. NULL does nothing. */
void fake_server_stop(fake_server *s);

#endif

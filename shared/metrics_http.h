/* metrics_http.h — `--metrics-listen`: a process's GET /metrics (the
 * registry's text, metrics.h), /healthz (the process answers: 200) and
 * /readyz (200 when the process can work: Redis connected and the scripts
 * loaded; otherwise 503 with {"ready": false, "reason": "..."}), served by
 * libmicrohttpd on the process's own loop (httpd.h). Every answer is made
 * at once on the loop's thread: nothing waits. */
#ifndef SL_METRICS_HTTP_H
#define SL_METRICS_HTTP_H

#include "metrics.h"

#include <ev.h>
#include <stddef.h>

typedef struct sl_metrics_http sl_metrics_http;

/* 1 when ready; 0 with the reason in WHY (plain text, no secret). */
typedef int sl_metrics_ready_fn(void *priv, char *why, size_t len);

/* The option every program has; FIELD is the const char * it sets. */
#define SL_METRICS_LISTEN_OPTION(field)                                                            \
    {                                                                                              \
        "metrics-listen", "SLUICE_METRICS_LISTEN", SL_OPT_STR, (field), NULL, 0, 0,                \
            "serve GET /metrics (Prometheus), /healthz and /readyz on HOST:PORT, or PORT on "      \
            "127.0.0.1 (unset: off)"                                                               \
    }

/* Listens on SPEC ("HOST:PORT", "[::1]:PORT" or a bare "PORT" on
 * 127.0.0.1) and serves M on LOOP. NULL with ERR naming --metrics-listen
 * and the reason (a bad address, the port taken). */
sl_metrics_http *sl_metrics_http_start(struct ev_loop *loop, const char *spec, sl_metrics *m,
                                       sl_metrics_ready_fn *ready, void *priv, char *err,
                                       size_t errlen);

/* GET /metrics also renders EXTRA, after the main registry, whenever
 * SHOW(PRIV) says 1 at the time (the leading scheduler's fleet gauges:
 * a follower shows none). One extra; a second call replaces it. */
void sl_metrics_http_also(sl_metrics_http *h, sl_metrics *extra, int (*show)(void *priv),
                          void *priv);

/* Stops serving and frees H. NULL does nothing. */
void sl_metrics_http_free(sl_metrics_http *h);

#endif

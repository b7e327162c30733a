/* metrics_http.c — see metrics_http.h. A request has no body to read, so
 * MHD's first call answers it. The text of /metrics is rendered into one
 * buffer kept between scrapes (it grows once to the registry's size). */
#include "metrics_http.h"
#include "httpd.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sl_metrics_http {
    sl_httpd *httpd;
    sl_metrics *m;
    sl_metrics_ready_fn *ready;
    void *priv;
    sl_buf text; /* the last scrape's */
    sl_metrics *extra;
    int (*show)(void *priv);
    void *show_priv;
};

void sl_metrics_http_also(sl_metrics_http *h, sl_metrics *extra, int (*show)(void *priv),
                          void *priv)
{
    h->extra = extra;
    h->show = show;
    h->show_priv = priv;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *ctype,
                              const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    sl_metrics_http *h = cls;
    (void)version, (void)upload_data;
    if (!*con_cls) { /* headers in; the body (none expected) next */
        *con_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is read and dropped */
        return MHD_YES;
    }
    static const char json[] = "application/json";
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return answer(conn, 405, json, "{\"error\":\"GET only\"}\n", 20);
    if (!strcmp(url, "/metrics")) {
        sl_buf_reset(&h->text);
        sl_metrics_render(h->m, &h->text);
        if (h->extra && (!h->show || h->show(h->show_priv)))
            sl_metrics_render(h->extra, &h->text);
        return answer(conn, 200, SL_METRICS_CONTENT_TYPE, h->text.data ? h->text.data : "",
                      h->text.len);
    }
    if (!strcmp(url, "/healthz"))
        return answer(conn, 200, json, "{\"alive\":true}\n", 15);
    if (!strcmp(url, "/readyz")) {
        char why[256] = "not ready";
        if (!h->ready || h->ready(h->priv, why, sizeof why))
            return answer(conn, 200, json, "{\"ready\":true}\n", 15);
        sl_buf b = {0};
        sl_buf_puts(&b, "{\"ready\":false,\"reason\":");
        sl_buf_json_str(&b, why, strlen(why));
        sl_buf_puts(&b, "}\n");
        enum MHD_Result ret = answer(conn, 503, json, b.data, b.len);
        sl_buf_deinit(&b);
        return ret;
    }
    static const char nf[] = "{\"error\":\"not found: GET /metrics, /healthz or /readyz\"}\n";
    return answer(conn, 404, json, nf, sizeof nf - 1);
}

sl_metrics_http *sl_metrics_http_start(struct ev_loop *loop, const char *spec, sl_metrics *m,
                                       sl_metrics_ready_fn *ready, void *priv, char *err,
                                       size_t errlen)
{
    int fd = sl_httpd_listen(spec, "--metrics-listen", "127.0.0.1", 0, err, errlen);
    if (fd < 0)
        return NULL;
    sl_metrics_http *h = sl_calloc(1, sizeof *h);
    h->m = m;
    h->ready = ready;
    h->priv = priv;
    const sl_httpd_conf hc = {.listen_fd = fd,
                              .conn_limit = 64,
                              .conn_timeout = 30,
                              .access = access_cb,
                              .access_priv = h};
    char why[256];
    h->httpd = sl_httpd_start(loop, &hc, why, sizeof why);
    if (!h->httpd) {
        snprintf(err, errlen, "--metrics-listen %s: %s", spec, why);
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

void sl_metrics_http_free(sl_metrics_http *h)
{
    if (!h)
        return;
    sl_httpd_free(h->httpd);
    sl_buf_deinit(&h->text);
    free(h);
}

/* wmetrics.h — what worker/wmetrics.c (the families, the job counts) and
 * worker/wmetrics_calls.c (platform requests, rate limits, PDFs) share:
 * the worker's registry and the families they update. Private to those
 * two files; the worker calls the functions in worker.h. */
#ifndef SL_WMETRICS_H
#define SL_WMETRICS_H

#include "metrics.h"
#include "metrics_http.h"
#include "worker.h"

enum { WM_NKNOWN = 8, WM_NTYPES = WM_NKNOWN + 1 }; /* job types with a handler, and "unknown" */

struct wm_type { /* one queue's series for one job type */
    sl_series *processed, *retried, *dead, *run, *wait;
};

struct wm_queue {
    struct wm_type *types[WM_NTYPES]; /* made on first use */
    sl_series *in_flight, *claims, *claimed;
};

struct wmetrics {
    sl_metrics *m;
    sl_metrics_http *http;
    sl_metric *processed, *failed, *run, *wait, *in_flight, *claims, *claimed;
    sl_metric *http_requests, *rl_waits, *rl_429, *invalid;
    sl_series *pdf_ok, *pdf_failed, *pdf_waits;
    struct wm_queue *queues; /* [worker.nqueues] */
};

#endif

/* metrics.h — a process's Prometheus metrics: counters, gauges and
 * histograms with labels, and their text for GET /metrics (the exposition
 * format 0.0.4). One registry a process, used from its loop's thread only:
 * a family is registered once at start-up, a series (one set of label
 * values) is looked up once and kept by the caller, and an update is then a
 * plain add: no lock, no allocation, no string work on the hot path.
 *
 * Names follow Prometheus's rules ([a-zA-Z_:][a-zA-Z0-9_:]*; a counter's
 * ends in "_total", seconds are "_seconds"); label values are any text and
 * are escaped when rendered. Gauges that are read rather than counted
 * (jobs in flight, a spool's depth) are set by a hook the registry calls
 * before each render. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include "util.h"

typedef struct sl_metrics sl_metrics; /* the registry */
typedef struct sl_metric sl_metric;   /* a family: name, help, type, label names */
typedef struct sl_series sl_series;   /* one family's value for one set of label values */

enum { SL_METRICS_MAX_LABELS = 8, SL_METRICS_MAX_BUCKETS = 32 };

sl_metrics *sl_metrics_new(void);
void sl_metrics_free(sl_metrics *m);

/* Registers a family. LABELS names its labels, comma-separated ("queue,type";
 * "" for none). A histogram has NBUCKETS upper bounds BUCKETS, ascending
 * (+Inf is added). Asserts a name Prometheus would refuse, a name already
 * registered, or more than SL_METRICS_MAX_LABELS / _BUCKETS (programming
 * errors: the families are fixed at start-up). */
sl_metric *sl_metrics_counter(sl_metrics *m, const char *name, const char *help,
                              const char *labels);
sl_metric *sl_metrics_gauge(sl_metrics *m, const char *name, const char *help, const char *labels);
sl_metric *sl_metrics_histogram(sl_metrics *m, const char *name, const char *help,
                                const char *labels, const double *buckets, int nbuckets);

/* Buckets for durations in seconds, 1 ms to 60 s (13 bounds). */
extern const double sl_metrics_seconds_buckets[];
extern const int sl_metrics_seconds_nbuckets;

/* The series of F for label VALUES (as many as F has labels; NULL when it
 * has none), made at 0 on first use. The pointer is valid as long as the
 * registry: keep it rather than looking it up per update (a look-up
 * compares the values of each series F has). */
sl_series *sl_metric_series(sl_metric *f, const char *const *values);

void sl_series_inc(sl_series *s);               /* counter, gauge: +1 */
void sl_series_add(sl_series *s, double v);     /* counter (v >= 0), gauge */
void sl_series_set(sl_series *s, double v);     /* gauge */
void sl_series_observe(sl_series *s, double v); /* histogram */
double sl_series_value(const sl_series *s);     /* counter, gauge; a histogram's count */

/* FN(M, PRIV) runs at the start of every render, to set the gauges that are
 * read (in flight, depth). One hook; a second call replaces it. */
void sl_metrics_on_render(sl_metrics *m, void (*fn)(sl_metrics *m, void *priv), void *priv);

/* Appends the exposition text of every family (in the order registered,
 * its series in the order made) to OUT: "# HELP", "# TYPE", then one line
 * a series (a histogram: its _bucket lines, _sum and _count). A family with
 * no series yet shows its HELP and TYPE only. */
void sl_metrics_render(sl_metrics *m, sl_buf *out);

/* The Content-Type of that text. */
#define SL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif

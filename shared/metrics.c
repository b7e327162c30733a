/* metrics.c — see metrics.h. Each series keeps its labels already rendered
 * ("{queue=\"a\",type=\"b\"}", escaped once when the series is made), so a
 * render is appends and number formatting. */
#include "metrics.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct sl_series {
    sl_metric *f;
    char **values; /* f->nlabels of them */
    char *labels;  /* rendered: "" or "{a=\"x\",b=\"y\"}" */
    double value;  /* counter, gauge; a histogram's sum */
    uint64_t count;
    uint64_t *buckets; /* histogram: per bound, not cumulative; [nbuckets] is +Inf */
};

struct sl_metric {
    sl_metrics *m;
    enum kind kind;
    char *name, *help;
    char *label_names[SL_METRICS_MAX_LABELS];
    int nlabels;
    double bounds[SL_METRICS_MAX_BUCKETS];
    int nbuckets;
    sl_series **series;
    int nseries, cap;
};

struct sl_metrics {
    sl_metric **families;
    int n, cap;
    void (*hook)(sl_metrics *m, void *priv);
    void *hook_priv;
};

const double sl_metrics_seconds_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,      2.5,   5,    10,    30,   60};
const int sl_metrics_seconds_nbuckets =
    (int)(sizeof sl_metrics_seconds_buckets / sizeof sl_metrics_seconds_buckets[0]);

sl_metrics *sl_metrics_new(void)
{
    return sl_calloc(1, sizeof(sl_metrics));
}

static void series_free(sl_series *s)
{
    for (int i = 0; i < s->f->nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->labels);
    free(s->buckets);
    free(s);
}

void sl_metrics_free(sl_metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n; i++) {
        sl_metric *f = m->families[i];
        for (int j = 0; j < f->nseries; j++)
            series_free(f->series[j]);
        for (int j = 0; j < f->nlabels; j++)
            free(f->label_names[j]);
        free(f->series);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m->families);
    free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (a label's name: no ':', and "__" is reserved) */
static int valid_name(const char *s, int label)
{
    if (!*s || (*s >= '0' && *s <= '9') || (label && !strncmp(s, "__", 2)))
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (c == ':' && !label)))
            return 0;
    }
    return 1;
}

static sl_metric *family(sl_metrics *m, enum kind kind, const char *name, const char *help,
                         const char *labels)
{
    assert(valid_name(name, 0) && "a metric name Prometheus refuses");
    for (int i = 0; i < m->n; i++)
        assert(strcmp(m->families[i]->name, name) && "a metric registered twice");
    sl_metric *f = sl_calloc(1, sizeof *f);
    f->m = m;
    f->kind = kind;
    f->name = sl_strdup(name);
    f->help = sl_strdup(help);
    for (const char *p = labels; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        assert(f->nlabels < SL_METRICS_MAX_LABELS && "too many labels");
        char *l = sl_malloc(n + 1);
        memcpy(l, p, n);
        l[n] = '\0';
        assert(valid_name(l, 1) && strcmp(l, "le") && "a label name Prometheus refuses");
        f->label_names[f->nlabels++] = l;
        p = comma ? comma + 1 : p + n;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->families = sl_realloc(m->families, (size_t)m->cap * sizeof *m->families);
    }
    m->families[m->n++] = f;
    return f;
}

sl_metric *sl_metrics_counter(sl_metrics *m, const char *name, const char *help, const char *labels)
{
    return family(m, COUNTER, name, help, labels);
}

sl_metric *sl_metrics_gauge(sl_metrics *m, const char *name, const char *help, const char *labels)
{
    return family(m, GAUGE, name, help, labels);
}

sl_metric *sl_metrics_histogram(sl_metrics *m, const char *name, const char *help,
                                const char *labels, const double *buckets, int nbuckets)
{
    assert(nbuckets > 0 && nbuckets <= SL_METRICS_MAX_BUCKETS && "a histogram's buckets");
    sl_metric *f = family(m, HISTOGRAM, name, help, labels);
    for (int i = 0; i < nbuckets; i++) {
        assert((i == 0 || buckets[i] > buckets[i - 1]) && "buckets must ascend");
        f->bounds[i] = buckets[i];
    }
    f->nbuckets = nbuckets;
    return f;
}

/* A label value as the format escapes it: \\, \" and \n. */
static void put_escaped(sl_buf *b, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            sl_buf_puts(b, "\\\\");
        else if (*s == '\n')
            sl_buf_puts(b, "\\n");
        else if (*s == '"' && quote)
            sl_buf_puts(b, "\\\"");
        else
            sl_buf_append(b, s, 1);
    }
}

sl_series *sl_metric_series(sl_metric *f, const char *const *values)
{
    for (int i = 0; i < f->nseries; i++) {
        sl_series *s = f->series[i];
        int k = 0;
        while (k < f->nlabels && !strcmp(s->values[k], values[k]))
            k++;
        if (k == f->nlabels)
            return s;
    }
    sl_series *s = sl_calloc(1, sizeof *s);
    s->f = f;
    s->values = sl_calloc((size_t)f->nlabels + 1, sizeof *s->values);
    sl_buf b = {0};
    for (int k = 0; k < f->nlabels; k++) {
        s->values[k] = sl_strdup(values[k]);
        sl_buf_puts(&b, k ? "," : "{");
        sl_buf_puts(&b, f->label_names[k]);
        sl_buf_puts(&b, "=\"");
        put_escaped(&b, values[k], 1);
        sl_buf_puts(&b, "\"");
    }
    if (f->nlabels)
        sl_buf_puts(&b, "}");
    s->labels = b.data ? b.data : sl_strdup("");
    if (f->kind == HISTOGRAM)
        s->buckets = sl_calloc((size_t)f->nbuckets + 1, sizeof *s->buckets);
    if (f->nseries == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 8;
        f->series = sl_realloc(f->series, (size_t)f->cap * sizeof *f->series);
    }
    f->series[f->nseries++] = s;
    return s;
}

void sl_series_inc(sl_series *s)
{
    s->value += 1;
}

void sl_series_add(sl_series *s, double v)
{
    assert(s->f->kind != HISTOGRAM);
    assert((s->f->kind == GAUGE || v >= 0) && "a counter only goes up");
    s->value += v;
}

void sl_series_set(sl_series *s, double v)
{
    assert(s->f->kind == GAUGE && "only a gauge is set");
    s->value = v;
}

void sl_series_observe(sl_series *s, double v)
{
    sl_metric *f = s->f;
    assert(f->kind == HISTOGRAM);
    int i = 0;
    while (i < f->nbuckets && v > f->bounds[i])
        i++;
    s->buckets[i]++;
    s->count++;
    s->value += v;
}

double sl_series_value(const sl_series *s)
{
    return s->f->kind == HISTOGRAM ? (double)s->count : s->value;
}

void sl_metrics_on_render(sl_metrics *m, void (*fn)(sl_metrics *m, void *priv), void *priv)
{
    m->hook = fn;
    m->hook_priv = priv;
}

/* V as short as it reads back exactly (0.005, not 0.0050000000000000001). */
static void put_shortest(sl_buf *b, double v)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v)
            break;
    }
    sl_buf_puts(b, t);
}

/* A sample value as Prometheus reads it: integers without a point or an
 * exponent, others at their shortest, and +Inf, -Inf, NaN. */
static void put_number(sl_buf *b, double v)
{
    if (isnan(v))
        sl_buf_puts(b, "NaN");
    else if (isinf(v))
        sl_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sl_buf_printf(b, "%.0f", v);
    else
        put_shortest(b, v);
}

/* NAME SUFFIX then the series' labels with LE added (a histogram's bucket). */
static void put_sample_name(sl_buf *b, const sl_metric *f, const sl_series *s, const char *suffix)
{
    sl_buf_puts(b, f->name);
    sl_buf_puts(b, suffix);
    sl_buf_puts(b, s->labels);
}

static void render_histogram(sl_buf *b, const sl_metric *f, const sl_series *s)
{
    uint64_t cum = 0;
    for (int i = 0; i <= f->nbuckets; i++) {
        cum += s->buckets[i];
        sl_buf_puts(b, f->name);
        sl_buf_puts(b, "_bucket");
        if (s->labels[0]) { /* {a="x"} -> {a="x",le="..."} */
            sl_buf_append(b, s->labels, strlen(s->labels) - 1);
            sl_buf_puts(b, ",le=\"");
        } else {
            sl_buf_puts(b, "{le=\"");
        }
        if (i == f->nbuckets)
            sl_buf_puts(b, "+Inf");
        else
            put_shortest(b, f->bounds[i]);
        sl_buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    put_sample_name(b, f, s, "_sum");
    sl_buf_puts(b, " ");
    put_number(b, s->value);
    sl_buf_puts(b, "\n");
    put_sample_name(b, f, s, "_count");
    sl_buf_printf(b, " %llu\n", (unsigned long long)s->count);
}

void sl_metrics_render(sl_metrics *m, sl_buf *out)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    if (m->hook)
        m->hook(m, m->hook_priv);
    for (int i = 0; i < m->n; i++) {
        const sl_metric *f = m->families[i];
        sl_buf_printf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, 0);
        sl_buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->kind]);
        for (int j = 0; j < f->nseries; j++) {
            const sl_series *s = f->series[j];
            if (f->kind == HISTOGRAM) {
                render_histogram(out, f, s);
                continue;
            }
            put_sample_name(out, f, s, "");
            sl_buf_puts(out, " ");
            put_number(out, s->value);
            sl_buf_puts(out, "\n");
        }
    }
}

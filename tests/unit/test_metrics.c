/* Unit tests: the Prometheus registry and its text (shared/metrics.c). The
 * text is compared whole: what a scraper reads is the contract. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "metrics.h"

static char *render(sl_metrics *m, sl_buf *b)
{
    sl_buf_reset(b);
    sl_metrics_render(m, b);
    sl_buf_append(b, "", 1); /* NUL */
    return b->data;
}

static void counters_with_labels(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metric *f = sl_metrics_counter(m, "sluice_jobs_processed_total", "Jobs that reached done.",
                                      "queue,type");
    sl_series *a = sl_metric_series(f, (const char *[]){"message", "message"});
    sl_series *b = sl_metric_series(f, (const char *[]){"pdf", "pdf"});
    assert_ptr_equal(a, sl_metric_series(f, (const char *[]){"message", "message"}));
    sl_series_inc(a);
    sl_series_add(a, 2);
    sl_series_inc(b);
    sl_buf out = {0};
    assert_string_equal(render(m, &out),
                        "# HELP sluice_jobs_processed_total Jobs that reached done.\n"
                        "# TYPE sluice_jobs_processed_total counter\n"
                        "sluice_jobs_processed_total{queue=\"message\",type=\"message\"} 3\n"
                        "sluice_jobs_processed_total{queue=\"pdf\",type=\"pdf\"} 1\n");
    assert_true(sl_series_value(a) == 3);
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

/* Sets a gauge to the number of renders so far. */
struct hook_ctx {
    sl_series *s;
    int *calls;
};

static void hook(sl_metrics *m, void *priv)
{
    (void)m;
    struct hook_ctx *c = priv;
    sl_series_set(c->s, ++*c->calls);
}

static void gauges_set_by_the_hook(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metric *f = sl_metrics_gauge(m, "sluice_jobs_in_flight", "Jobs running now.", "");
    sl_series *s = sl_metric_series(f, NULL);
    int calls = 0;
    struct hook_ctx c = {s, &calls};
    sl_metrics_on_render(m, hook, &c);
    sl_buf out = {0};
    assert_string_equal(render(m, &out), "# HELP sluice_jobs_in_flight Jobs running now.\n"
                                         "# TYPE sluice_jobs_in_flight gauge\n"
                                         "sluice_jobs_in_flight 1\n");
    assert_string_equal(render(m, &out), "# HELP sluice_jobs_in_flight Jobs running now.\n"
                                         "# TYPE sluice_jobs_in_flight gauge\n"
                                         "sluice_jobs_in_flight 2\n");
    assert_int_equal(calls, 2);
    sl_series_set(s, -0.5);
    sl_metrics_on_render(m, NULL, NULL);
    assert_non_null(strstr(render(m, &out), "sluice_jobs_in_flight -0.5\n"));
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

static void histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    const double b[] = {0.005, 0.1, 1};
    sl_metric *f =
        sl_metrics_histogram(m, "sluice_job_run_seconds", "Run time of a job.", "queue", b, 3);
    sl_series *s = sl_metric_series(f, (const char *[]){"noop"});
    sl_series_observe(s, 0.001);
    sl_series_observe(s, 0.005); /* on the bound: counts in it (le) */
    sl_series_observe(s, 0.5);
    sl_series_observe(s, 7);
    sl_buf out = {0};
    assert_string_equal(render(m, &out),
                        "# HELP sluice_job_run_seconds Run time of a job.\n"
                        "# TYPE sluice_job_run_seconds histogram\n"
                        "sluice_job_run_seconds_bucket{queue=\"noop\",le=\"0.005\"} 2\n"
                        "sluice_job_run_seconds_bucket{queue=\"noop\",le=\"0.1\"} 2\n"
                        "sluice_job_run_seconds_bucket{queue=\"noop\",le=\"1\"} 3\n"
                        "sluice_job_run_seconds_bucket{queue=\"noop\",le=\"+Inf\"} 4\n"
                        "sluice_job_run_seconds_sum{queue=\"noop\"} 7.506\n"
                        "sluice_job_run_seconds_count{queue=\"noop\"} 4\n");
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

static void histogram_without_labels(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metric *f = sl_metrics_histogram(m, "sluice_redis_rtt_seconds", "Redis round trips.", "",
                                        sl_metrics_seconds_buckets, sl_metrics_seconds_nbuckets);
    sl_series_observe(sl_metric_series(f, NULL), 0.0003);
    sl_buf out = {0};
    const char *t = render(m, &out);
    assert_non_null(strstr(t, "sluice_redis_rtt_seconds_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(t, "sluice_redis_rtt_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(t, "sluice_redis_rtt_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(t, "sluice_redis_rtt_seconds_count 1\n"));
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

/* Label values are untrusted text (queue names, error classes): escaped
 * as the format says; HELP escapes backslash and newline only. */
static void label_values_and_help_are_escaped(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metric *f = sl_metrics_counter(m, "x_total", "a \\ b\nc \"d\"", "v");
    sl_series_inc(sl_metric_series(f, (const char *[]){"q\"u\\o\nte"}));
    sl_buf out = {0};
    assert_string_equal(render(m, &out), "# HELP x_total a \\\\ b\\nc \"d\"\n"
                                         "# TYPE x_total counter\n"
                                         "x_total{v=\"q\\\"u\\\\o\\nte\"} 1\n");
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

static void special_values(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metric *f = sl_metrics_gauge(m, "g", "G.", "k");
    sl_series_set(sl_metric_series(f, (const char *[]){"inf"}), INFINITY);
    sl_series_set(sl_metric_series(f, (const char *[]){"nan"}), NAN);
    sl_series_set(sl_metric_series(f, (const char *[]){"big"}), 1e20);
    sl_series_set(sl_metric_series(f, (const char *[]){"int"}), 1234567890123.0);
    sl_buf out = {0};
    const char *t = render(m, &out);
    assert_non_null(strstr(t, "g{k=\"inf\"} +Inf\n"));
    assert_non_null(strstr(t, "g{k=\"nan\"} NaN\n"));
    assert_non_null(strstr(t, "g{k=\"big\"} 1e+20\n"));
    assert_non_null(strstr(t, "g{k=\"int\"} 1234567890123\n"));
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

static void an_empty_family_shows_help_and_type(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_metrics_counter(m, "sluice_http_requests_total", "HTTP requests.", "platform,status");
    sl_buf out = {0};
    assert_string_equal(render(m, &out), "# HELP sluice_http_requests_total HTTP requests.\n"
                                         "# TYPE sluice_http_requests_total counter\n");
    sl_buf_deinit(&out);
    sl_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_with_labels),
        cmocka_unit_test(gauges_set_by_the_hook),
        cmocka_unit_test(histogram_buckets_are_cumulative),
        cmocka_unit_test(histogram_without_labels),
        cmocka_unit_test(label_values_and_help_are_escaped),
        cmocka_unit_test(special_values),
        cmocka_unit_test(an_empty_family_shows_help_and_type),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}

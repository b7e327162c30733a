/* events.c — see events.h. */
#include "events.h"
#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long long sl_events_cap_env(void)
{
    const char *s = getenv("SLUICE_EVENTS_CAP");
    char *end;
    long long v = s && *s ? strtoll(s, &end, 10) : -1;
    return v >= 0 && s && !*end ? v : SL_EVENTS_CAP_DEFAULT;
}

void sl_events_key(char *out, const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:events", prefix);
}

/* S without tabs and newlines: they separate the fields and lines. */
static void append_clean(sl_buf *out, const char *s)
{
    size_t n = strlen(s);
    sl_buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        out->data[out->len++] = c == '\t' || c == '\n' || c == '\r' ? ' ' : c;
    }
    out->data[out->len] = '\0';
}

void sl_events_line(sl_buf *out, const char *outcome, const char *id, const sl_job *job,
                    int64_t started_ms, int rate_limited, const char *error)
{
    char num[64];
    sl_buf_puts(out, outcome);
    sl_buf_append(out, "\t", 1);
    sl_buf_puts(out, id);
    sl_buf_append(out, "\t", 1);
    if (job) {
        sl_buf_puts(out, job->type);
        int n = job->created_ms > 0 ? snprintf(num, sizeof num, "\t%d\t%lld\t", job->attempts,
                                               (long long)job->created_ms)
                                    : snprintf(num, sizeof num, "\t%d\t\t", job->attempts);
        sl_buf_append(out, num, (size_t)n);
    } else {
        sl_buf_append(out, "\t0\t\t", 4);
    }
    if (started_ms > 0)
        sl_buf_append(out, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)started_ms));
    sl_buf_append(out, "\t", 1);
    if (rate_limited > 0)
        sl_buf_append(out, num, (size_t)snprintf(num, sizeof num, "%d", rate_limited));
    sl_buf_append(out, "\t", 1);
    if (error)
        append_clean(out, error);
    sl_buf_append(out, "\n", 1);
}

static int64_t num_or_unknown(const char *s)
{
    if (!*s)
        return -1;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end ? -1 : v;
}

int sl_events_next(char **text, sl_event *ev)
{
    char *p = *text;
    if (!*p)
        return 0;
    char *nl = strchr(p, '\n');
    char *end = nl ? nl : p + strlen(p);
    *text = nl ? nl + 1 : end;
    *end = '\0';
    char *f[8];
    int n = 0;
    f[n++] = p;
    for (char *q = p; *q && n < 8; q++)
        if (*q == '\t') {
            *q = '\0';
            f[n++] = q + 1;
        }
    if (n != 8 || !*f[0] || !*f[1])
        return -1;
    ev->outcome = f[0];
    ev->id = f[1];
    ev->type = f[2];
    ev->attempts = atoi(f[3]);
    ev->enqueued_ms = num_or_unknown(f[4]);
    ev->started_ms = num_or_unknown(f[5]);
    ev->rate_limited = atoi(f[6]);
    ev->error = f[7];
    return 1;
}

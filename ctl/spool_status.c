/* spool_status.c — `sluice-ctl spool PATH` (the jobs waiting in a producer's
 * spool, oldest first) and the spool line of `sluice-ctl stats --spool PATH`.
 * Read straight from the SQLite file: no Redis needed, which is when an
 * operator wants to see it. */
#include "ctl.h"
#include "spool.h"
#include "job.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Opens PATH, which must exist (a typo must not make an empty spool). */
static sl_spool *open_existing(const char *path)
{
    char err[512];
    if (access(path, F_OK)) {
        ctl_errorf("spool %s: no such file (the producer's --spool PATH or SLUICE_SPOOL)", path);
        return NULL;
    }
    sl_spool *s = sl_spool_open(path, LLONG_MAX, err, sizeof err);
    if (!s)
        ctl_errorf("%s", err);
    return s;
}

/* "12s", "5m03s", "2h10m", "3d04h". */
static void age_text(char *out, size_t len, long long ms)
{
    long long s = ms < 0 ? 0 : ms / 1000;
    if (s < 60)
        snprintf(out, len, "%llds", s);
    else if (s < 3600)
        snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static cJSON *depth_json(const char *path, const sl_spool_depth *d, int64_t now)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "jobs", (double)d->jobs);
    cJSON_AddNumberToObject(o, "bytes", (double)d->bytes);
    cJSON_AddNumberToObject(o, "oldest_age_ms", d->jobs ? (double)(now - d->oldest_ms) : 0);
    return o;
}

int ctl_spool_stats(const char *path, cJSON *doc)
{
    sl_spool *s = open_existing(path);
    if (!s)
        return CTL_FAIL;
    char err[512];
    sl_spool_depth d;
    int rc = sl_spool_stat(s, &d, err, sizeof err);
    sl_spool_close(s);
    if (rc) {
        ctl_errorf("%s", err);
        return CTL_FAIL;
    }
    int64_t now = sl_now_ms();
    if (doc) {
        cJSON_AddItemToObject(doc, "spool", depth_json(path, &d, now));
    } else {
        char age[32];
        age_text(age, sizeof age, now - d.oldest_ms);
        printf("\nspool %s: %lld job%s waiting, %lld bytes%s%s\n", path, d.jobs,
               d.jobs == 1 ? "" : "s", d.bytes, d.jobs ? ", the oldest for " : "",
               d.jobs ? age : "");
    }
    return CTL_OK;
}

int ctl_spool(ctl *c, int npos, char **pos)
{
    (void)npos;
    const char *path = pos[0];
    sl_spool *s = open_existing(path);
    if (!s)
        return CTL_FAIL;
    char err[512];
    sl_spool_depth d;
    sl_spool_rows rows = {0};
    int n = 0;
    if (sl_spool_stat(s, &d, err, sizeof err) ||
        (n = sl_spool_peek(s, 0, (int)c->o->limit, &rows, err, sizeof err)) < 0) {
        ctl_errorf("%s", err);
        sl_spool_rows_deinit(&rows);
        sl_spool_close(s);
        return CTL_FAIL;
    }
    int64_t now = sl_now_ms();
    if (c->o->json) {
        cJSON *doc = depth_json(path, &d, now);
        cJSON *list = cJSON_AddArrayToObject(doc, "waiting");
        for (int i = 0; i < n; i++) {
            const sl_spool_job *j = &rows.jobs[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "queue", j->queue);
            cJSON_AddStringToObject(o, "id", j->id);
            if (j->idempotency_key)
                cJSON_AddStringToObject(o, "idempotency_key", j->idempotency_key);
            cJSON_AddStringToObject(o, "priority", sl_priority_name(j->priority));
            cJSON_AddNumberToObject(o, "age_ms", (double)(now - j->spooled_ms));
            cJSON_AddNumberToObject(o, "bytes", (double)j->len);
            cJSON_AddItemToArray(list, o);
        }
        ctl_print_json(doc);
    } else {
        if (n)
            printf("%-20s %-26s %8s %9s\n", "QUEUE", "ID", "AGE", "BYTES");
        for (int i = 0; i < n; i++) {
            const sl_spool_job *j = &rows.jobs[i];
            char age[32];
            age_text(age, sizeof age, now - j->spooled_ms);
            printf("%-20s %-26s %8s %9zu\n", j->queue, j->id, age, j->len);
        }
        if (d.jobs > n)
            printf("(%d oldest of %lld; see --limit)\n", n, d.jobs);
        printf("%s: %lld job%s waiting, %lld bytes\n", path, d.jobs, d.jobs == 1 ? "" : "s",
               d.bytes);
    }
    sl_spool_rows_deinit(&rows);
    sl_spool_close(s);
    return CTL_OK;
}

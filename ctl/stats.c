/* stats.c — `sluice-ctl stats` (counts per queue) and `sluice-ctl workers`
 * (heartbeats). Each reads everything it shows in one pipelined round trip
 * after listing the queues or workers. */
#include "ctl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* stale: renews and settles refused because the caller no longer held the
 * job's lease (fencing: ack.lua, fail.lua, renew.lua) */
static const char *counter_names[] = {"enqueued",  "processed", "failed",  "retried", "dead",
                                      "reclaimed", "cancelled", "revived", "stale"};
#define NCOUNTERS 9

#define PER_QUEUE CTL_QUEUE_COUNTS /* commands per queue */

typedef struct queue_stats {
    const char *name;
    long long ready[SL_PRIO_COUNT];
    long long delayed, active, done, dead;
    int paused;
    long long counters[NCOUNTERS];
    const redisReply *hash; /* the stats HASH, for counters beyond the known ones */
} queue_stats;

static void read_queue(queue_stats *q, redisReply **r)
{
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        q->ready[p] = ctl_reply_int(r[p], 0);
    q->delayed = ctl_reply_int(r[4], 0);
    q->active = ctl_reply_int(r[5], 0);
    q->done = ctl_reply_int(r[6], 0);
    q->dead = ctl_reply_int(r[7], 0);
    q->paused = ctl_reply_int(r[8], 0) == 1;
    q->hash = r[9];
    for (size_t i = 0; i + 1 < r[9]->elements; i += 2)
        for (int k = 0; k < NCOUNTERS; k++)
            if (!strcmp(r[9]->element[i]->str, counter_names[k]))
                q->counters[k] = ctl_reply_int(r[9]->element[i + 1], 0);
}

static cJSON *queue_json(const queue_stats *q)
{
    cJSON *o = cJSON_CreateObject(), *ready = cJSON_AddObjectToObject(o, "ready");
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        cJSON_AddNumberToObject(ready, sl_priority_name(p), (double)q->ready[p]);
    cJSON_AddNumberToObject(o, "delayed", (double)q->delayed);
    cJSON_AddNumberToObject(o, "active", (double)q->active);
    cJSON_AddNumberToObject(o, "done", (double)q->done);
    cJSON_AddNumberToObject(o, "dead", (double)q->dead);
    cJSON_AddBoolToObject(o, "paused", q->paused);
    cJSON *counters = cJSON_AddObjectToObject(o, "counters");
    for (int k = 0; k < NCOUNTERS; k++)
        cJSON_AddNumberToObject(counters, counter_names[k], (double)q->counters[k]);
    /* Counters some later part adds are shown too, as they are. */
    for (size_t i = 0; i + 1 < q->hash->elements; i += 2) {
        const char *name = q->hash->element[i]->str;
        if (!cJSON_HasObjectItem(counters, name))
            cJSON_AddNumberToObject(counters, name,
                                    (double)ctl_reply_int(q->hash->element[i + 1], 0));
    }
    return o;
}

static void print_table(const queue_stats *qs, long nq, long long workers)
{
    ctl_table t;
    ctl_table_init(&t, 19, "lrrrrrrrrlrrrrrrrrr");
    const char *head[] = {"QUEUE",     "CRITICAL",  "HIGH",    "NORMAL",  "LOW",
                          "DELAYED",   "ACTIVE",    "DONE",    "DEAD",    "PAUSED",
                          "ENQUEUED",  "PROCESSED", "FAILED",  "RETRIED", "DIED",
                          "RECLAIMED", "CANCELLED", "REVIVED", "STALE"};
    for (int i = 0; i < 19; i++)
        ctl_table_add(&t, "%s", head[i]);
    for (long i = 0; i < nq; i++) {
        const queue_stats *q = &qs[i];
        ctl_table_add(&t, "%s", q->name);
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            ctl_table_add(&t, "%lld", q->ready[p]);
        ctl_table_add(&t, "%lld", q->delayed);
        ctl_table_add(&t, "%lld", q->active);
        ctl_table_add(&t, "%lld", q->done);
        ctl_table_add(&t, "%lld", q->dead);
        ctl_table_add(&t, "%s", q->paused ? "yes" : "no");
        for (int k = 0; k < NCOUNTERS; k++)
            ctl_table_add(&t, "%lld", q->counters[k]);
    }
    ctl_table_print(&t, stdout);
    ctl_table_deinit(&t);
    printf("\nworkers: %lld\n", workers);
}

int ctl_stats(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    char **names;
    long nq = ctl_queues(c, NULL, &names);
    if (nq < 0)
        return CTL_FAIL;
    for (long i = 0; i < nq; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, names[i]);
        ctl_append_queue_counts(c, &k);
    }
    char wkey[SL_KEY_MAX];
    sl_keys_workers(wkey, c->o->prefix);
    redisAppendCommand(c->rc, "ZCARD %s", wkey);
    size_t nr = (size_t)nq * PER_QUEUE + 1;
    redisReply **r = sl_calloc(nr, sizeof *r);
    if (ctl_read_replies(c, r, nr, "reading queue statistics")) {
        free(r);
        ctl_queues_free(names, nq);
        return CTL_FAIL;
    }
    queue_stats *qs = sl_calloc((size_t)nq + 1, sizeof *qs);
    for (long i = 0; i < nq; i++) {
        qs[i].name = names[i];
        read_queue(&qs[i], r + i * PER_QUEUE);
    }
    long long workers = ctl_reply_int(r[nr - 1], 0);
    int status = CTL_OK;
    if (c->o->json) {
        cJSON *doc = cJSON_CreateObject(), *queues = cJSON_AddObjectToObject(doc, "queues");
        for (long i = 0; i < nq; i++)
            cJSON_AddItemToObject(queues, qs[i].name, queue_json(&qs[i]));
        cJSON_AddNumberToObject(doc, "workers", (double)workers);
        if (c->o->spool && ctl_spool_stats(c->o->spool, doc))
            status = CTL_FAIL;
        ctl_print_json(doc);
    } else if (nq == 0) {
        printf("no queues under prefix \"%s\" yet (a producer registers each queue it enqueues "
               "into)\nworkers: %lld\n",
               c->o->prefix, workers);
    } else {
        print_table(qs, nq, workers);
    }
    if (!c->o->json && c->o->spool && ctl_spool_stats(c->o->spool, NULL))
        status = CTL_FAIL;
    free(qs);
    ctl_free_replies(r, nr);
    free(r);
    ctl_queues_free(names, nq);
    return status;
}

/* Worker hash fields that hold numbers: shown as JSON numbers. */
static int numeric_field(const char *name)
{
    static const char *nums[] = {"pid",    "concurrency", "running",      "processed",
                                 "failed", "started_ms",  "heartbeat_ms", NULL};
    for (int i = 0; nums[i]; i++)
        if (!strcmp(name, nums[i]))
            return 1;
    return 0;
}

static const char *hash_get(const redisReply *h, const char *name, const char *dflt)
{
    for (size_t i = 0; h && i + 1 < h->elements; i += 2)
        if (!strcmp(h->element[i]->str, name))
            return h->element[i + 1]->str;
    return dflt;
}

static void print_workers(const redisReply *ids, redisReply **h, int64_t now)
{
    ctl_table t;
    ctl_table_init(&t, 10, "lllrlrrrrr");
    const char *head[] = {"WORKER",  "STATE",     "HOST",   "PID",  "QUEUES",
                          "RUNNING", "PROCESSED", "FAILED", "UP_S", "HEARTBEAT_S_AGO"};
    for (int i = 0; i < 10; i++)
        ctl_table_add(&t, "%s", head[i]);
    for (size_t i = 0; i + 1 < ids->elements; i += 2) {
        const redisReply *hh = h[i / 2]->elements ? h[i / 2] : NULL;
        int64_t beat = ctl_reply_int(ids->element[i + 1], 0);
        long long started = atoll(hash_get(hh, "started_ms", "0"));
        ctl_table_add(&t, "%s", ids->element[i]->str);
        ctl_table_add(&t, "%s", hash_get(hh, "state", "gone"));
        ctl_table_add(&t, "%s", hash_get(hh, "host", "-"));
        ctl_table_add(&t, "%s", hash_get(hh, "pid", "-"));
        ctl_table_add(&t, "%s", hash_get(hh, "queues", "-"));
        ctl_table_add(&t, "%s/%s", hash_get(hh, "running", "-"), hash_get(hh, "concurrency", "-"));
        ctl_table_add(&t, "%s", hash_get(hh, "processed", "-"));
        ctl_table_add(&t, "%s", hash_get(hh, "failed", "-"));
        if (started > 0)
            ctl_table_add(&t, "%lld", (long long)(now - started) / 1000);
        else
            ctl_table_add(&t, "-");
        ctl_table_add(&t, "%.1f", (double)(now - beat) / 1000.0);
    }
    ctl_table_print(&t, stdout);
    ctl_table_deinit(&t);
}

static cJSON *workers_json(const redisReply *ids, redisReply **h, int64_t now)
{
    cJSON *doc = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(doc, "workers");
    for (size_t i = 0; i + 1 < ids->elements; i += 2) {
        const redisReply *hh = h[i / 2];
        int64_t beat = ctl_reply_int(ids->element[i + 1], 0);
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "id", ids->element[i]->str);
        cJSON_AddNumberToObject(w, "last_heartbeat_ms", (double)beat);
        cJSON_AddNumberToObject(w, "seconds_since_heartbeat", (double)(now - beat) / 1000.0);
        if (!hh->elements)
            cJSON_AddStringToObject(w, "state", "gone");
        for (size_t f = 0; f + 1 < hh->elements; f += 2) {
            const char *name = hh->element[f]->str;
            const redisReply *v = hh->element[f + 1];
            if (numeric_field(name))
                cJSON_AddNumberToObject(w, name, (double)ctl_reply_int(v, 0));
            else
                cJSON_AddStringToObject(w, name, v->str);
        }
        cJSON_AddItemToArray(list, w);
    }
    cJSON_AddNumberToObject(doc, "count", (double)(ids->elements / 2));
    return doc;
}

int ctl_workers(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    char wkey[SL_KEY_MAX], hkey[SL_KEY_MAX];
    sl_keys_workers(wkey, c->o->prefix);
    redisReply *ids = ctl_command(c, "ZREVRANGE", "ZREVRANGE %s 0 -1 WITHSCORES", wkey);
    if (!ids)
        return CTL_FAIL;
    size_t nw = ids->elements / 2;
    for (size_t i = 0; i < nw; i++) {
        sl_keys_worker(hkey, c->o->prefix, ids->element[2 * i]->str);
        redisAppendCommand(c->rc, "HGETALL %s", hkey);
    }
    redisAppendCommand(c->rc, "TIME");
    redisReply **h = sl_calloc(nw + 1, sizeof *h);
    if (ctl_read_replies(c, h, nw + 1, "reading worker records")) {
        free(h);
        freeReplyObject(ids);
        return CTL_FAIL;
    }
    int64_t now = ctl_reply_time_ms(h[nw]);
    if (c->o->json)
        ctl_print_json(workers_json(ids, h, now));
    else if (nw == 0)
        printf("no workers have reported under prefix \"%s\"\n", c->o->prefix);
    else
        print_workers(ids, h, now);
    ctl_free_replies(h, nw + 1);
    free(h);
    freeReplyObject(ids);
    return CTL_OK;
}

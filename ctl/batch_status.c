/* batch_status.c — `sluice-ctl batch ID`: a batch's counts, whether it is sealed
 * or complete, and its callback job; and the batch line `show` prints for a
 * job of a batch. The batch is the hash PREFIX:batch:{ID} (lib_batch.lua);
 * the callback's body is not read, only its id and queue. */
#include "ctl.h"
#include "batch.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static const char *fields[] = {"total",   "done",         "failed", "sealed",   "created_ms",
                               "keep_ms", "completed_ms", "cb_id",  "cb_queue", "cb_fired_ms"};
enum { NFIELDS = sizeof fields / sizeof fields[0] };

static void copy_str(const redisReply *r, char *out, size_t outlen)
{
    out[0] = '\0';
    if (r && r->type == REDIS_REPLY_STRING)
        sl_strlcpy(out, r->str, outlen);
}

int ctl_batch_get(ctl *c, const char *id, ctl_batch_info *b)
{
    memset(b, 0, sizeof *b);
    sl_strlcpy(b->id, id, sizeof b->id);
    char key[SL_KEY_MAX];
    sl_keys_batch(key, c->o->prefix, id);
    const char *argv[2 + NFIELDS] = {"HMGET", key};
    for (int i = 0; i < NFIELDS; i++)
        argv[2 + i] = fields[i];
    redisAppendCommandArgv(c->rc, 2 + NFIELDS, argv, NULL);
    redisAppendCommand(c->rc, "PTTL %s", key);
    redisAppendCommand(c->rc, "TIME");
    redisReply *r[3];
    if (ctl_read_replies(c, r, 3, "reading the batch"))
        return CTL_FAIL;
    const redisReply *v = r[0];
    if (v->type == REDIS_REPLY_ARRAY && v->elements == NFIELDS &&
        v->element[0]->type == REDIS_REPLY_STRING) {
        b->found = 1;
        b->total = ctl_reply_int(v->element[0], 0);
        b->done = ctl_reply_int(v->element[1], 0);
        b->failed = ctl_reply_int(v->element[2], 0);
        b->sealed = ctl_reply_int(v->element[3], 0) == 1;
        b->created_ms = ctl_reply_int(v->element[4], 0);
        b->keep_ms = ctl_reply_int(v->element[5], 0);
        b->completed_ms = ctl_reply_int(v->element[6], 0);
        copy_str(v->element[7], b->cb_id, sizeof b->cb_id);
        copy_str(v->element[8], b->cb_queue, sizeof b->cb_queue);
        b->cb_fired_ms = ctl_reply_int(v->element[9], 0);
        b->ttl_ms = ctl_reply_int(r[1], -2);
    }
    b->now_ms = ctl_reply_time_ms(r[2]);
    ctl_free_replies(r, 3);
    return 0;
}

long long ctl_batch_pending(const ctl_batch_info *b)
{
    long long n = b->total - b->done - b->failed;
    return n > 0 ? n : 0;
}

const char *ctl_batch_state(const ctl_batch_info *b)
{
    return !b->found ? "gone" : b->completed_ms ? "complete" : b->sealed ? "sealed" : "open";
}

cJSON *ctl_batch_json(const ctl_batch_info *b)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "batch", b->id);
    cJSON_AddStringToObject(doc, "state", ctl_batch_state(b));
    if (!b->found)
        return doc;
    cJSON_AddNumberToObject(doc, "total", (double)b->total);
    cJSON_AddNumberToObject(doc, "done", (double)b->done);
    cJSON_AddNumberToObject(doc, "failed", (double)b->failed);
    cJSON_AddNumberToObject(doc, "pending", (double)ctl_batch_pending(b));
    cJSON_AddBoolToObject(doc, "sealed", b->sealed);
    cJSON_AddNumberToObject(doc, "created_ms", (double)b->created_ms);
    if (b->completed_ms)
        cJSON_AddNumberToObject(doc, "completed_ms", (double)b->completed_ms);
    else
        cJSON_AddNullToObject(doc, "completed_ms");
    if (b->cb_id[0]) {
        cJSON *cb = cJSON_AddObjectToObject(doc, "callback");
        cJSON_AddStringToObject(cb, "id", b->cb_id);
        cJSON_AddStringToObject(cb, "queue", b->cb_queue);
        cJSON_AddStringToObject(cb, "state", b->cb_fired_ms ? "fired" : "pending");
        if (b->cb_fired_ms)
            cJSON_AddNumberToObject(cb, "fired_ms", (double)b->cb_fired_ms);
        else
            cJSON_AddNullToObject(cb, "fired_ms");
    } else {
        cJSON_AddNullToObject(doc, "callback");
    }
    cJSON_AddNumberToObject(doc, "keep_ms", (double)b->keep_ms);
    cJSON_AddNumberToObject(doc, "ttl_ms", (double)b->ttl_ms);
    cJSON_AddNumberToObject(doc, "now_ms", (double)b->now_ms);
    return doc;
}

void ctl_batch_counts(const ctl_batch_info *b, char *out, size_t outlen)
{
    snprintf(out, outlen, "%lld job%s: %lld done, %lld failed, %lld pending", b->total,
             b->total == 1 ? "" : "s", b->done, b->failed, ctl_batch_pending(b));
}

/* "2026-11-22T18:47:35.123Z, 1500 ms ago" */
static void when(int64_t at, int64_t now, char *out, size_t outlen)
{
    char iso[40];
    ctl_iso_time(at, iso, sizeof iso);
    snprintf(out, outlen, "%s, %lld ms ago", iso, (long long)(now - at));
}

static void print_batch(const ctl_batch_info *b)
{
    char line[160], t[80];
    printf("batch: %s\n", b->id);
    if (b->completed_ms) {
        when(b->completed_ms, b->now_ms, t, sizeof t);
        printf("state: complete (at %s)\n", t);
    } else if (b->sealed) {
        printf("state: sealed (no more jobs join; complete when the pending ones end)\n");
    } else {
        printf("state: open (jobs may join; sluice-producer seal %s closes it)\n", b->id);
    }
    ctl_batch_counts(b, line, sizeof line);
    printf("jobs: %s\n", line);
    if (!b->cb_id[0]) {
        printf("callback: none\n");
    } else if (b->cb_fired_ms) {
        when(b->cb_fired_ms, b->now_ms, t, sizeof t);
        printf("callback: fired: job %s on queue %s, enqueued at %s\n", b->cb_id, b->cb_queue, t);
    } else {
        printf("callback: pending: job %s on queue %s, enqueued when the batch completes\n",
               b->cb_id, b->cb_queue);
    }
    when(b->created_ms, b->now_ms, t, sizeof t);
    printf("created: %s\n", t);
    if (b->ttl_ms >= 0)
        printf("expires: in %lld ms%s\n", (long long)b->ttl_ms,
               b->completed_ms ? "" : " unless more jobs are submitted or it is sealed");
}

int ctl_batch(ctl *c, int npos, char **pos)
{
    (void)npos;
    char err[300];
    if (sl_batch_check_id("batch ID", pos[0], err, sizeof err)) {
        ctl_errorf("batch: %s", err);
        return CTL_FAIL;
    }
    ctl_batch_info b;
    if (ctl_batch_get(c, pos[0], &b))
        return CTL_FAIL;
    if (!b.found) {
        ctl_errorf("no batch %s under prefix %s (never opened, or expired)", pos[0], c->o->prefix);
        return CTL_NOTFOUND;
    }
    if (c->o->json)
        ctl_print_json(ctl_batch_json(&b));
    else
        print_batch(&b);
    return CTL_OK;
}

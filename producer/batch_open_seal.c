/* batch_open_seal.c — the producer's side of batches (README, "Batches"): the
 * callback job given with --batch-callback, the set of batches a run
 * submits to, and batch.lua calls that open them before their first job and
 * seal them at the end (or on `sluice-producer seal ID`). The counting and
 * the callback's firing happen in Redis, in the scripts. */
#include "producer.h"
#include "noperm.h"
#include "batch.h"
#include "jsoncheck.h"
#include "keys.h"
#include "rblock.h"

#include <stdlib.h>
#include <string.h>

struct producer_callback {
    char id[65];
    char queue[65];
    const char *priority; /* its name: the ready list's suffix */
    sl_buf body;          /* the canonical envelope */
};

/* What batch.lua answers. */
typedef struct batch_state {
    int found;
    long long total, done, failed;
    int sealed;
    long long completed_ms;
    char cb_id[65];
    long long cb_fired_ms;
    int stored; /* the callback given was stored */
} batch_state;

producer_callback *producer_callback_new(const producer_opts *o)
{
    const char *text = o->batch_callback;
    char *file = NULL;
    size_t len;
    if (text[0] == '@') {
        file = sl_read_file(text + 1, &len);
        if (!file) {
            fprintf(stderr, "sluice-producer: --batch-callback: cannot read %s: %m\n", text + 1);
            return NULL;
        }
        text = file;
    } else {
        len = strlen(text);
    }
    sl_job job;
    char err[600];
    sl_jsoncheck_error je;
    int rc = sl_jsoncheck(text, len, &je);
    if (rc)
        sl_jsoncheck_format(&je, NULL, err, sizeof err);
    else
        rc = sl_batch_callback_parse(&job, text, len, (size_t)o->max_payload, err, sizeof err);
    free(file);
    if (rc) {
        fprintf(stderr, "sluice-producer: --batch-callback: %s\n", err);
        return NULL;
    }
    producer_callback *cb = sl_calloc(1, sizeof *cb);
    sl_strlcpy(cb->id, job.id, sizeof cb->id);
    sl_strlcpy(cb->queue, job.queue, sizeof cb->queue);
    cb->priority = sl_priority_name(job.priority);
    sl_job_encode(&job, &cb->body);
    sl_job_deinit(&job);
    return cb;
}

void producer_callback_free(producer_callback *cb)
{
    if (!cb)
        return;
    sl_buf_deinit(&cb->body);
    free(cb);
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void reindex(producer_batches *s)
{
    free(s->index);
    s->nindex = s->nindex ? s->nindex * 2 : 16;
    s->index = sl_calloc((size_t)s->nindex, sizeof *s->index);
    for (int i = 0; i < s->n; i++) {
        unsigned at = hash(s->ids[i]) & (unsigned)(s->nindex - 1);
        while (s->index[at])
            at = (at + 1) & (unsigned)(s->nindex - 1);
        s->index[at] = i + 1;
    }
}

int producer_batches_add(producer_batches *s, const char *id, int *added)
{
    *added = 0;
    if (2 * (s->n + 1) > s->nindex)
        reindex(s);
    unsigned at = hash(id) & (unsigned)(s->nindex - 1);
    for (; s->index[at]; at = (at + 1) & (unsigned)(s->nindex - 1))
        if (!strcmp(s->ids[s->index[at] - 1], id))
            return s->index[at] - 1;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->ids = sl_realloc(s->ids, (size_t)s->cap * sizeof *s->ids);
        s->sealed = sl_realloc(s->sealed, (size_t)s->cap);
    }
    s->sealed[s->n] = 0;
    s->ids[s->n] = sl_strdup(id);
    s->index[at] = ++s->n;
    *added = 1;
    return s->n - 1;
}

void producer_batches_deinit(producer_batches *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    free(s->sealed);
    free(s->index);
    memset(s, 0, sizeof *s);
}

void producer_batch_append(redisContext *rc, const producer_opts *o, const char *op, const char *id,
                           const producer_callback *cb)
{
    char key[SL_KEY_MAX], queues[SL_KEY_MAX], ttl[24], keep[24];
    sl_keys_batch(key, o->prefix, id);
    sl_keys_queues(queues, o->prefix);
    snprintf(ttl, sizeof ttl, "%lld", o->batch_ttl_ms);
    snprintf(keep, sizeof keep, "%lld", o->batch_keep_ms);
    const char *argv[10] = {key, queues, op, o->prefix, ttl, keep};
    size_t lens[10];
    int argc = 6;
    if (cb) {
        argv[argc++] = cb->id;
        argv[argc++] = cb->queue;
        argv[argc++] = cb->priority;
        argv[argc++] = cb->body.data;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (cb)
        lens[argc - 1] = cb->body.len;
    sl_rblock_append_script(rc, SL_SCRIPT_BATCH, 2, argc, argv, lens);
}

static long long element_int(const redisReply *r, size_t i)
{
    if (i >= r->elements)
        return 0;
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

/* Reads R into ST. Returns 0, or -1 after printing the problem with ID. */
static int read_state(const redisReply *r, const char *id, batch_state *st)
{
    memset(st, 0, sizeof *st);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 9) {
        fprintf(stderr, "sluice-producer: redis refused batch %s (EVALSHA batch): %s%s\n", id,
                r && r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply",
                r && r->type == REDIS_REPLY_ERROR ? sl_noperm_note(r->str) : "");
        return -1;
    }
    st->found = (int)element_int(r, 0);
    st->total = element_int(r, 1);
    st->done = element_int(r, 2);
    st->failed = element_int(r, 3);
    st->sealed = (int)element_int(r, 4);
    st->completed_ms = element_int(r, 5);
    if (r->element[6]->type == REDIS_REPLY_STRING)
        sl_strlcpy(st->cb_id, r->element[6]->str, sizeof st->cb_id);
    st->cb_fired_ms = element_int(r, 7);
    st->stored = (int)element_int(r, 8);
    return 0;
}

/* Notes on a callback given but not stored. */
static void callback_note(const batch_state *st, const char *id, const producer_callback *cb)
{
    if (!cb || st->stored)
        return;
    if (st->cb_id[0])
        fprintf(stderr,
                "sluice-producer: note: batch %s has a callback already (job %s); "
                "--batch-callback was not stored\n",
                id, st->cb_id);
    else
        fprintf(stderr,
                "sluice-producer: note: batch %s is complete; --batch-callback was not "
                "stored\n",
                id);
}

int producer_batch_opened(const redisReply *r, const char *id, const producer_callback *cb)
{
    batch_state st;
    if (read_state(r, id, &st))
        return -1;
    if (st.completed_ms || st.sealed)
        fprintf(stderr,
                "sluice-producer: note: batch %s is %s: jobs not in it already are "
                "refused\n",
                id, st.completed_ms ? "complete" : "sealed");
    callback_note(&st, id, cb);
    return st.completed_ms || st.sealed;
}

int producer_batches_seal(redisContext *rc, const producer_opts *o, const producer_batches *s)
{
    for (int i = 0; i < s->n; i++)
        if (!s->sealed[i])
            producer_batch_append(rc, o, "seal", s->ids[i], NULL);
    int bad = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->sealed[i])
            continue;
        redisReply *r = NULL;
        if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
            char why[160];
            fprintf(stderr,
                    "sluice-producer: redis: %s; batches not sealed: seal them with "
                    "sluice-producer seal ID\n",
                    sl_rblock_error(rc, why, sizeof why));
            return -1;
        }
        batch_state st;
        if (read_state(r, s->ids[i], &st)) {
            bad = 1;
        } else if (!st.found) {
            fprintf(stderr, "sluice-producer: batch %s is gone (expired?): not sealed\n",
                    s->ids[i]);
            bad = 1;
        }
        freeReplyObject(r);
    }
    return bad ? -1 : 0;
}

int producer_seal(redisContext *rc, const producer_opts *o, const char *id)
{
    producer_batch_append(rc, o, "seal", id, o->callback);
    redisReply *r = NULL;
    if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
        char why[160];
        fprintf(stderr, "sluice-producer: redis: %s\n", sl_rblock_error(rc, why, sizeof why));
        return 2;
    }
    batch_state st;
    int bad = read_state(r, id, &st);
    freeReplyObject(r);
    if (bad)
        return 2;
    if (!st.found) {
        fprintf(stderr,
                "sluice-producer: seal: no batch %s under prefix %s (never opened, or "
                "expired)\n",
                id, o->prefix);
        return 1;
    }
    callback_note(&st, id, o->callback);
    long long pending = st.total - st.done - st.failed;
    printf("batch %s %s: %lld job%s, %lld done, %lld failed", id,
           st.completed_ms ? "complete" : "sealed", st.total, st.total == 1 ? "" : "s", st.done,
           st.failed);
    if (!st.completed_ms)
        printf(", %lld pending", pending > 0 ? pending : 0);
    if (!st.cb_id[0])
        printf("; no callback\n");
    else if (st.cb_fired_ms)
        printf("; callback job %s enqueued\n", st.cb_id);
    else
        printf("; callback job %s waits for them\n", st.cb_id);
    return 0;
}

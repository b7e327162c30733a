/* jobs.c — commands that change things: `retry` (revive.lua), `cancel`
 * (cancel.lua), `pause` and `resume` (the queue's paused key, which
 * claim.lua checks). */
#include "ctl.h"
#include "events.h"
#include "noperm.h"
#include "job.h"
#include "rblock.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define CANCEL_REASON "cancelled by sluice-ctl"
#define REVIVE_BATCH 500

/* The body a revived job gets, as a heap string: attempts back to 0 and
 * every other field as it was; a record the worker wrote for a malformed job
 * ({"id","queue","last_error","raw"}) gives back its original text. *PRIO
 * is the envelope's priority, normal when unknown. */
static char *revived_body(const char *body, size_t len, size_t *outlen, int *prio)
{
    *prio = SL_PRIO_NORMAL;
    cJSON *doc = cJSON_ParseWithLength(body, len);
    char *out;
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(doc, "raw");
    if (!cJSON_IsObject(doc)) {
        out = sl_strndup(body, len); /* nothing to rewrite: as it was */
    } else if (cJSON_IsString(raw) && !cJSON_HasObjectItem(doc, "type")) {
        out = sl_strdup(raw->valuestring);
        cJSON *orig = cJSON_Parse(out);
        if (cJSON_IsObject(orig))
            *prio = ctl_doc_priority(orig);
        cJSON_Delete(orig);
    } else {
        *prio = ctl_doc_priority(doc);
        if (cJSON_HasObjectItem(doc, "attempts"))
            cJSON_ReplaceItemInObjectCaseSensitive(doc, "attempts", cJSON_CreateNumber(0));
        out = cJSON_PrintUnformatted(doc);
        if (!out)
            abort(); /* cJSON fails only when out of memory */
    }
    cJSON_Delete(doc);
    *outlen = strlen(out);
    return out;
}

/* Calls revive.lua for queue K with ARGS (id, priority, body triples).
 * Returns the number revived, or -1 after printing the problem. */
static long revive(ctl *c, const sl_keys *k, char **args, const size_t *lens, int nargs)
{
    int argc = 7 + nargs;
    const char **argv = sl_malloc((size_t)argc * sizeof *argv);
    size_t *alens = sl_malloc((size_t)argc * sizeof *alens);
    const char *fixed[] = {k->dead,     k->stats,    k->ready[0], k->ready[1],
                           k->ready[2], k->ready[3], k->base};
    for (int i = 0; i < 7; i++) {
        argv[i] = fixed[i];
        alens[i] = strlen(fixed[i]);
    }
    for (int i = 0; i < nargs; i++) {
        argv[7 + i] = args[i];
        alens[7 + i] = lens[i];
    }
    redisReply *r = sl_rblock_script(c->rc, SL_SCRIPT_REVIVE, 6, argc, argv, alens);
    free(argv);
    free(alens);
    long n = -1;
    if (!r)
        ctl_errorf("redis: revive: %s", c->rc->errstr);
    else if (r->type == REDIS_REPLY_ERROR)
        ctl_errorf("redis refused revive (EVALSHA revive): %s%s", r->str, sl_noperm_note(r->str));
    else
        n = (long)ctl_reply_int(r, 0);
    freeReplyObject(r);
    return n;
}

static const char *prio_arg[] = {"0", "1", "2", "3"};

static int retry_one(ctl *c, const char *id)
{
    if (ctl_check_id(c, id))
        return CTL_FAIL;
    ctl_job j;
    int rc = ctl_job_find(c, id, c->o->queue, &j);
    if (rc)
        return rc;
    if (j.state != CTL_STATE_DEAD && j.state != CTL_STATE_CANCELLED) {
        ctl_errorf("%s is %s: only dead jobs can be retried", id, ctl_state_name(j.state));
        ctl_job_deinit(&j);
        return CTL_NOTFOUND;
    }
    if (!j.body) {
        ctl_errorf("%s is dead but its body (%s%s) is gone: nothing to retry", id,
                   j.keys.job_prefix, id);
        ctl_job_deinit(&j);
        return CTL_NOTFOUND;
    }
    int prio;
    size_t lens[3];
    char *body = revived_body(j.body, j.len, &lens[2], &prio);
    char *args[3] = {j.id, (char *)prio_arg[prio], body};
    lens[0] = strlen(j.id);
    lens[1] = 1;
    long n = revive(c, &j.keys, args, lens, 3);
    free(body);
    ctl_job_deinit(&j);
    if (n < 0)
        return CTL_FAIL;
    if (n == 0) {
        ctl_errorf("%s left dead meanwhile: nothing revived", id);
        return CTL_NOTFOUND;
    }
    if (!c->quiet)
        printf("revived 1 job\n");
    return CTL_OK;
}

/* One batch of --all-dead: the oldest ids up to MAX_SCORE, after SKIP ids
 * that have no body. Returns revived (>= 0), or -1 on a Redis problem;
 * *LISTED says how many ids were looked at. */
static long retry_batch(ctl *c, const sl_keys *k, const char *max_score, long *skip, long *listed)
{
    redisReply *ids = ctl_command(c, "ZRANGEBYSCORE", "ZRANGEBYSCORE %s -inf %s LIMIT %ld %d",
                                  k->dead, max_score, *skip, REVIVE_BATCH);
    if (!ids)
        return -1;
    size_t n = ids->elements;
    *listed = (long)n;
    for (size_t i = 0; i < n; i++)
        redisAppendCommand(c->rc, "GET %s%s", k->job_prefix, ids->element[i]->str);
    redisReply **bodies = sl_calloc(n + 1, sizeof *bodies);
    char **args = sl_calloc(3 * n + 1, sizeof *args);
    size_t *lens = sl_calloc(3 * n + 1, sizeof *lens);
    long revived = -1;
    int nargs = 0;
    if (ctl_read_replies(c, bodies, n, "reading dead jobs"))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (bodies[i]->type != REDIS_REPLY_STRING) {
            (*skip)++; /* no body: left in dead, and stepped over from now on */
            continue;
        }
        int prio;
        args[nargs] = ids->element[i]->str;
        lens[nargs] = ids->element[i]->len;
        args[nargs + 2] = revived_body(bodies[i]->str, bodies[i]->len, &lens[nargs + 2], &prio);
        args[nargs + 1] = (char *)prio_arg[prio];
        lens[nargs + 1] = 1;
        nargs += 3;
    }
    revived = nargs ? revive(c, k, args, lens, nargs) : 0;
out:
    for (int i = 2; i < nargs; i += 3)
        free(args[i]);
    free(args);
    free(lens);
    ctl_free_replies(bodies, n);
    free(bodies);
    freeReplyObject(ids);
    return revived;
}

/* Revives every job that was dead when the command started (jobs dying
 * meanwhile, even the revived ones failing again, are left for next time). */
static int retry_all(ctl *c)
{
    sl_keys k;
    sl_keys_init(&k, c->o->prefix, c->o->queue);
    redisReply *top = ctl_command(c, "ZREVRANGE", "ZREVRANGE %s 0 0 WITHSCORES", k.dead);
    if (!top)
        return CTL_FAIL;
    char max_score[64] = "";
    if (top->elements == 2)
        sl_strlcpy(max_score, top->element[1]->str, sizeof max_score);
    freeReplyObject(top);
    long total = 0, skip = 0, listed = 0;
    while (max_score[0]) {
        long n = retry_batch(c, &k, max_score, &skip, &listed);
        if (n < 0) {
            if (total)
                fprintf(stderr, "sluice-ctl: %ld jobs were revived before the error\n", total);
            return CTL_FAIL;
        }
        total += n;
        if (listed == 0 || (n == 0 && listed < REVIVE_BATCH))
            break;
    }
    if (skip)
        fprintf(stderr,
                "sluice-ctl: note: %ld dead ids of queue %s have no body and were left "
                "in dead\n",
                skip, c->o->queue);
    printf("revived %ld job%s\n", total, total == 1 ? "" : "s");
    return CTL_OK;
}

int ctl_retry(ctl *c, int npos, char **pos)
{
    if (c->o->all_dead) {
        if (npos > 0) {
            ctl_errorf("retry: give a job ID or --all-dead, not both");
            return CTL_FAIL;
        }
        if (!c->o->queue) {
            ctl_errorf("retry: --all-dead needs --queue Q (usage: sluice-ctl retry --all-dead "
                       "--queue Q)");
            return CTL_FAIL;
        }
        return retry_all(c);
    }
    if (npos == 0) {
        ctl_errorf("retry: missing job ID (usage: sluice-ctl retry ID [--queue Q] | --all-dead "
                   "--queue Q)");
        return CTL_FAIL;
    }
    return retry_one(c, pos[0]);
}

/* The body a cancelled job keeps: the envelope re-encoded with last_error
 * set when it is a valid one; otherwise the JSON object with last_error set,
 * or for anything else a record like the worker's for malformed jobs. */
static char *cancelled_body(const ctl_job *j, size_t *len)
{
    sl_job job;
    char err[512];
    sl_buf b = {0};
    if (j->body && !sl_job_parse(&job, j->body, j->len, 0, err, sizeof err)) {
        if (!job.id[0])
            sl_strlcpy(job.id, j->id, sizeof job.id);
        if (!job.queue[0])
            sl_strlcpy(job.queue, j->keys.queue, sizeof job.queue);
        sl_job_set_error(&job, CANCEL_REASON);
        sl_job_encode(&job, &b);
        sl_job_deinit(&job);
    } else if (j->doc) {
        cJSON *doc = cJSON_Duplicate(j->doc, 1);
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "last_error");
        cJSON_AddStringToObject(doc, "last_error", CANCEL_REASON);
        char *s = cJSON_PrintUnformatted(doc);
        if (!s)
            abort(); /* cJSON fails only when out of memory */
        sl_buf_puts(&b, s);
        free(s);
        cJSON_Delete(doc);
    } else {
        sl_job_encode_broken(&b, j->id, j->keys.queue, CANCEL_REASON, j->body, j->len);
    }
    *len = b.len;
    return b.data;
}

static int not_waiting(const char *id, int state)
{
    ctl_errorf("%s is %s: only ready or delayed jobs can be cancelled", id, ctl_state_name(state));
    return CTL_NOTFOUND;
}

int ctl_cancel(ctl *c, int npos, char **pos)
{
    (void)npos;
    const char *id = pos[0];
    if (ctl_check_id(c, id))
        return CTL_FAIL;
    ctl_job j;
    int rc = ctl_job_find(c, id, c->o->queue, &j);
    if (rc)
        return rc;
    if (j.state != CTL_STATE_READY && j.state != CTL_STATE_DELAYED) {
        ctl_job_deinit(&j);
        return not_waiting(id, j.state);
    }
    size_t blen;
    char cap[24];
    snprintf(cap, sizeof cap, "%lld", sl_events_cap_env());
    char *body = cancelled_body(&j, &blen);
    const sl_keys *k = &j.keys;
    const char *argv[] = {k->delayed,  k->dead,   k->stats, k->ready[0], k->ready[1], k->ready[2],
                          k->ready[3], k->events, k->base,  j.id,        body,        cap};
    size_t lens[12];
    for (int i = 0; i < 12; i++)
        lens[i] = strlen(argv[i]);
    lens[10] = blen;
    redisReply *r = sl_rblock_script(c->rc, SL_SCRIPT_CANCEL, 8, 12, argv, lens);
    free(body);
    char queue[65];
    sl_strlcpy(queue, k->queue, sizeof queue);
    ctl_job_deinit(&j);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        ctl_errorf("redis%s cancel (EVALSHA cancel): %s%s", r ? " refused" : ":",
                   r ? r->str : c->rc->errstr, r ? sl_noperm_note(r->str) : "");
        freeReplyObject(r);
        return CTL_FAIL;
    }
    long long done = ctl_reply_int(r, 0);
    freeReplyObject(r);
    if (done == 1) {
        if (!c->quiet)
            printf("cancelled %s\n", id);
        return CTL_OK;
    }
    /* A worker claimed it between the look-up and the script: say where it is now. */
    if ((rc = ctl_job_find(c, id, queue, &j)))
        return rc;
    int state = j.state;
    ctl_job_deinit(&j);
    return not_waiting(id, state);
}

static int check_queue_arg(const ctl *c, const char *q)
{
    char err[256];
    if (sl_check_name("queue", q, err, sizeof err)) {
        ctl_errorf("%s: %s", c->cmd, err);
        return CTL_FAIL;
    }
    return 0;
}

int ctl_pause(ctl *c, int npos, char **pos)
{
    (void)npos;
    const char *q = pos[0];
    if (check_queue_arg(c, q))
        return CTL_FAIL;
    sl_keys k;
    char qkey[SL_KEY_MAX], when[40], value[80];
    sl_keys_init(&k, c->o->prefix, q);
    sl_keys_queues(qkey, c->o->prefix);
    ctl_iso_time(sl_now_ms(), when, sizeof when);
    snprintf(value, sizeof value, "paused by sluice-ctl at %s", when);
    redisAppendCommand(c->rc, "SISMEMBER %s %s", qkey, q);
    redisAppendCommand(c->rc, "SET %s %s NX", k.paused, value);
    redisReply *r[2];
    if (ctl_read_replies(c, r, 2, "pause"))
        return CTL_FAIL;
    if (ctl_reply_int(r[0], 0) != 1)
        fprintf(stderr,
                "sluice-ctl: note: %s is not a known queue under prefix \"%s\" (nothing "
                "was enqueued into it yet); paused anyway\n",
                q, c->o->prefix);
    if (r[1]->type == REDIS_REPLY_NIL)
        printf("%s was paused already\n", q);
    else
        printf("paused %s\n", q);
    ctl_free_replies(r, 2);
    return CTL_OK;
}

int ctl_resume(ctl *c, int npos, char **pos)
{
    (void)npos;
    const char *q = pos[0];
    if (check_queue_arg(c, q))
        return CTL_FAIL;
    sl_keys k;
    sl_keys_init(&k, c->o->prefix, q);
    /* Workers waiting on the queue hear of it at once, not at their next
     * safety poll. */
    redisAppendCommand(c->rc, "DEL %s", k.paused);
    redisAppendCommand(c->rc, "PUBLISH %s ready", k.notify);
    redisReply *r[2];
    if (ctl_read_replies(c, r, 2, "resume"))
        return CTL_FAIL;
    if (ctl_reply_int(r[0], 0) == 1)
        printf("resumed %s\n", q);
    else
        printf("%s was not paused\n", q);
    ctl_free_replies(r, 2);
    return CTL_OK;
}

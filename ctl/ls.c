/* ls.c — `sluice-ctl ls STATE` (the jobs in one state, across queues) and
 * `sluice-ctl purge Q --state dead|done --yes` (finished jobs deleted for
 * good, in batches, by purge.lua).
 *
 * ls reads in two pipelined round trips: the ids (LRANGE of the four ready
 * lists in claim order, or the ZSET by score) with the totals, then the
 * bodies of the ids it shows (and the lease of active ones).
 *
 * Which states purge may delete: done and dead only. Those jobs are over:
 * their batch counted them when they ended, no worker holds them, and the
 * scheduler trims them anyway. Ready and delayed jobs are waiting for a
 * run their producer expects (and a batch waits for them): cancel them
 * first (they move to dead), then purge dead. Active jobs never: a worker
 * holds the lease and is running the job now. */
#include "ctl.h"
#include "rblock.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PURGE_BATCH 500

static const char *state_names[] = {"ready", "delayed", "active", "done", "dead"};
enum { LS_READY, LS_DELAYED, LS_ACTIVE, LS_DONE, LS_DEAD, LS_NSTATES };

static int state_parse(const char *s)
{
    for (int i = 0; i < LS_NSTATES; i++)
        if (!strcmp(s, state_names[i]))
            return i;
    return -1;
}

typedef struct ls_entry {
    long queue; /* index into the queue names */
    const char *id;
    int priority;     /* ready: its list */
    long long pos;    /* ready: index in its list (0 = claimed next) */
    int64_t score_ms; /* the others: the ZSET score */
} ls_entry;

static int by_score_asc(const void *a, const void *b)
{
    const ls_entry *x = a, *y = b;
    if (x->score_ms != y->score_ms)
        return x->score_ms < y->score_ms ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int by_score_desc(const void *a, const void *b)
{
    return by_score_asc(b, a);
}

/* "in 4m12s" or "3h5m ago", coarse enough to read at a glance. */
static void ago(int64_t at, int64_t now, char *out, size_t outlen)
{
    int64_t d = at > now ? at - now : now - at;
    char span[32];
    if (d < 1000)
        snprintf(span, sizeof span, "%lldms", (long long)d);
    else if (d < 60000)
        snprintf(span, sizeof span, "%llds", (long long)(d / 1000));
    else if (d < 3600000)
        snprintf(span, sizeof span, "%lldm%llds", (long long)(d / 60000),
                 (long long)(d / 1000 % 60));
    else if (d < 86400000)
        snprintf(span, sizeof span, "%lldh%lldm", (long long)(d / 3600000),
                 (long long)(d / 60000 % 60));
    else
        snprintf(span, sizeof span, "%lldd%lldh", (long long)(d / 86400000),
                 (long long)(d / 3600000 % 24));
    if (at > now)
        snprintf(out, outlen, "in %s", span);
    else
        snprintf(out, outlen, "%s ago", span);
}

/* What a body says for the listing: type, attempts, last_error. */
typedef struct ls_info {
    char type[65];
    long long attempts;
    char *error; /* heap copy, or NULL */
} ls_info;

static void read_info(const redisReply *body, ls_info *info)
{
    memset(info, 0, sizeof *info);
    strcpy(info->type, "-");
    if (!body || body->type != REDIS_REPLY_STRING) {
        info->error = sl_strdup("(body missing)");
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(body->str, body->len);
    if (!cJSON_IsObject(doc)) {
        info->error = sl_strdup("(body is not a JSON object)");
        cJSON_Delete(doc);
        return;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, "attempts");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "last_error");
    if (cJSON_IsString(t))
        sl_strlcpy(info->type, t->valuestring, sizeof info->type);
    if (cJSON_IsNumber(a))
        info->attempts = (long long)a->valuedouble;
    if (cJSON_IsString(e))
        info->error = sl_strdup(e->valuestring);
    cJSON_Delete(doc);
}

/* The lease token's worker part ("WORKER/SEQ" -> WORKER), or "-". */
static void lease_worker(const redisReply *r, char *out, size_t outlen)
{
    sl_strlcpy(out, "-", outlen);
    if (!r || r->type != REDIS_REPLY_STRING)
        return;
    sl_strlcpy(out, r->str, outlen);
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
}

static void print_ls(ctl *c, int state, char **names, const ls_entry *e, size_t n,
                     redisReply **bodies, redisReply **leases, long long total, int64_t now)
{
    static const char *when_head[] = {"ENQUEUED", "RUNS_AT", "LEASE_UNTIL", "FINISHED_AT",
                                      "DIED_AT"};
    cJSON *json = NULL, *list = NULL;
    ctl_table t;
    if (c->o->json) {
        json = cJSON_CreateObject();
        cJSON_AddStringToObject(json, "state", state_names[state]);
        list = cJSON_AddArrayToObject(json, "jobs");
    } else {
        ctl_table_init(&t, 7, "llllrll");
        const char *head[] = {state == LS_READY ? "PRIORITY" : when_head[state],
                              state == LS_READY ? "POS" : "",
                              "QUEUE",
                              "ID",
                              "ATTEMPTS",
                              "TYPE",
                              state == LS_DEAD     ? "REASON"
                              : state == LS_ACTIVE ? "WORKER"
                                                   : ""};
        for (int i = 0; i < 7; i++)
            ctl_table_add(&t, "%s", head[i]);
    }
    for (size_t i = 0; i < n; i++) {
        ls_info info;
        read_info(bodies[i], &info);
        char when[40], rel[40], worker[80] = "";
        ctl_iso_time(e[i].score_ms, when, sizeof when);
        ago(e[i].score_ms, now, rel, sizeof rel);
        if (state == LS_ACTIVE)
            lease_worker(leases[i], worker, sizeof worker);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "queue", names[e[i].queue]);
            cJSON_AddStringToObject(o, "id", e[i].id);
            cJSON_AddStringToObject(o, "type", info.type);
            cJSON_AddNumberToObject(o, "attempts", (double)info.attempts);
            if (state == LS_READY) {
                cJSON_AddStringToObject(o, "priority", sl_priority_name(e[i].priority));
                cJSON_AddNumberToObject(o, "position", (double)e[i].pos);
            } else {
                cJSON_AddNumberToObject(o, "score_ms", (double)e[i].score_ms);
                cJSON_AddStringToObject(o, "at", when);
            }
            if (state == LS_ACTIVE)
                cJSON_AddStringToObject(o, "worker", worker);
            if (state == LS_DEAD)
                cJSON_AddStringToObject(o, "last_error", info.error ? info.error : "");
            cJSON_AddItemToArray(list, o);
        } else {
            if (state == LS_READY) {
                ctl_table_add(&t, "%s", sl_priority_name(e[i].priority));
                ctl_table_add(&t, "%lld", e[i].pos);
            } else {
                ctl_table_add(&t, "%.19sZ", when); /* to the second: the relative one says more */
                ctl_table_add(&t, "%s", rel);
            }
            ctl_table_add(&t, "%s", names[e[i].queue]);
            ctl_table_add(&t, "%s", e[i].id);
            ctl_table_add(&t, "%lld", info.attempts);
            ctl_table_add(&t, "%s", info.type);
            if (state == LS_DEAD) {
                char err[112];
                ctl_one_line(info.error ? info.error : "", 100, err, sizeof err);
                ctl_table_add(&t, "%s", err);
            } else {
                ctl_table_add(&t, "%s", state == LS_ACTIVE ? worker : "");
            }
        }
        free(info.error);
    }
    if (json) {
        cJSON_AddNumberToObject(json, "total", (double)total);
        cJSON_AddNumberToObject(json, "now_ms", (double)now);
        ctl_print_json(json);
        return;
    }
    if (n == 0) {
        printf("no %s jobs%s%s\n", state_names[state], c->o->queue ? " in queue " : "",
               c->o->queue ? c->o->queue : "");
    } else {
        ctl_table_print(&t, stdout);
        if ((long long)n < total)
            printf("(%zu of %lld %s jobs; see --limit)\n", n, total, state_names[state]);
    }
    ctl_table_deinit(&t);
}

/* The ids: ready lists in claim order (critical first, each from its head),
 * queue after queue; ZSETs by score, soonest first for delayed and active,
 * newest first for done and dead. Appends per queue the reads, then the
 * counts. */
static void append_ids(ctl *c, int state, const sl_keys *k, long long limit)
{
    if (state == LS_READY) {
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            redisAppendCommand(c->rc, "LRANGE %s 0 %lld", k->ready[p], limit - 1);
        for (int p = 0; p < SL_PRIO_COUNT; p++)
            redisAppendCommand(c->rc, "LLEN %s", k->ready[p]);
        return;
    }
    const char *key = state == LS_DELAYED  ? k->delayed
                      : state == LS_ACTIVE ? k->active
                      : state == LS_DONE   ? k->done
                                           : k->dead;
    redisAppendCommand(c->rc, "%s %s 0 %lld WITHSCORES",
                       state <= LS_ACTIVE ? "ZRANGE" : "ZREVRANGE", key, limit - 1);
    redisAppendCommand(c->rc, "ZCARD %s", key);
}

int ctl_ls(ctl *c, int npos, char **pos)
{
    (void)npos;
    int state = state_parse(pos[0]);
    if (state < 0) {
        ctl_errorf("ls: unknown state \"%.40s\" (states: ready, delayed, active, done, dead)",
                   pos[0]);
        return CTL_FAIL;
    }
    char **names;
    long nq = ctl_queues(c, c->o->queue, &names);
    if (nq < 0)
        return CTL_FAIL;
    long long limit = c->o->limit;
    size_t per = state == LS_READY ? 2 * SL_PRIO_COUNT : 2;
    for (long i = 0; i < nq; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, names[i]);
        append_ids(c, state, &k, limit);
    }
    redisAppendCommand(c->rc, "TIME");
    size_t nr = per * (size_t)nq + 1;
    redisReply **r = sl_calloc(nr, sizeof *r);
    redisReply **bodies = NULL, **leases = NULL;
    ls_entry *e = NULL;
    size_t n = 0;
    int rc = CTL_FAIL;
    if (ctl_read_replies(c, r, nr, "listing jobs"))
        goto out;
    int64_t now = ctl_reply_time_ms(r[nr - 1]);
    long long total = 0;
    for (long i = 0; i < nq; i++) {
        redisReply **q = r + per * (size_t)i;
        if (state == LS_READY) {
            for (int p = 0; p < SL_PRIO_COUNT; p++) {
                total += ctl_reply_int(q[SL_PRIO_COUNT + p], 0);
                e = sl_realloc(e, (n + q[p]->elements + 1) * sizeof *e);
                for (size_t j = 0; j < q[p]->elements; j++)
                    e[n++] = (ls_entry){i, q[p]->element[j]->str, p, (long long)j, 0};
            }
            continue;
        }
        total += ctl_reply_int(q[1], 0);
        e = sl_realloc(e, (n + q[0]->elements / 2 + 1) * sizeof *e);
        for (size_t j = 0; j + 1 < q[0]->elements; j += 2)
            e[n++] =
                (ls_entry){i, q[0]->element[j]->str, 0, 0, ctl_reply_int(q[0]->element[j + 1], 0)};
    }
    /* ready stays in claim order queue by queue; the rest is merged by score */
    if (n > 0 && state != LS_READY)
        qsort(e, n, sizeof *e, state <= LS_ACTIVE ? by_score_asc : by_score_desc);
    if ((long long)n > limit)
        n = (size_t)limit;
    for (size_t i = 0; i < n; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, names[e[i].queue]);
        redisAppendCommand(c->rc, "GET %s%s", k.job_prefix, e[i].id);
        if (state == LS_ACTIVE)
            redisAppendCommand(c->rc, "HGET %s %s", k.lease, e[i].id);
    }
    size_t per_job = state == LS_ACTIVE ? 2 : 1;
    redisReply **got = sl_calloc(per_job * n + 1, sizeof *got);
    if (ctl_read_replies(c, got, per_job * n, "reading jobs")) {
        free(got);
        goto out;
    }
    bodies = sl_calloc(n + 1, sizeof *bodies);
    leases = sl_calloc(n + 1, sizeof *leases);
    for (size_t i = 0; i < n; i++) {
        bodies[i] = got[per_job * i];
        if (per_job == 2)
            leases[i] = got[2 * i + 1];
    }
    print_ls(c, state, names, e, n, bodies, leases, total, now);
    ctl_free_replies(got, per_job * n);
    free(got);
    rc = CTL_OK;
out:
    free(bodies);
    free(leases);
    free(e);
    ctl_free_replies(r, nr);
    free(r);
    ctl_queues_free(names, nq);
    return rc;
}

/* Deletes every job of ZSET KEY scored up to what its newest was now, in
 * batches. Returns the number deleted, or -1 after printing the problem
 * (*DONE_SO_FAR then says how many went before it). */
static long long purge_set(ctl *c, const sl_keys *k, const char *key, long long *done_so_far)
{
    redisReply *top = ctl_command(c, "ZREVRANGE", "ZREVRANGE %s 0 0 WITHSCORES", key);
    if (!top)
        return -1;
    char max_score[64] = "";
    if (top->elements == 2)
        sl_strlcpy(max_score, top->element[1]->str, sizeof max_score);
    freeReplyObject(top);
    char batch[16];
    snprintf(batch, sizeof batch, "%d", PURGE_BATCH);
    long long total = 0;
    while (max_score[0]) {
        const char *argv[] = {key, k->base, max_score, batch};
        size_t lens[4];
        for (int i = 0; i < 4; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = sl_rblock_script(c->rc, SL_SCRIPT_PURGE, 1, 4, argv, lens);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            ctl_errorf("redis%s purge: %s", r ? " refused" : ":", r ? r->str : c->rc->errstr);
            freeReplyObject(r);
            *done_so_far += total;
            return -1;
        }
        long long n = ctl_reply_int(r, 0);
        freeReplyObject(r);
        total += n;
        if (n < PURGE_BATCH)
            break;
    }
    *done_so_far += total;
    return total;
}

int ctl_purge(ctl *c, int npos, char **pos)
{
    (void)npos;
    const char *q = pos[0];
    char err[256];
    if (sl_check_name("queue", q, err, sizeof err)) {
        ctl_errorf("purge: %s", err);
        return CTL_FAIL;
    }
    if (!c->o->state) {
        ctl_errorf("purge: --state is required (dead, done or dead,done)");
        return CTL_FAIL;
    }
    /* --state: one state or a comma-separated list of them */
    int want[LS_NSTATES] = {0};
    char list[64];
    sl_strlcpy(list, c->o->state, sizeof list);
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int st = state_parse(s);
        if (st == LS_DONE || st == LS_DEAD) {
            want[st] = 1;
        } else if (st == LS_ACTIVE) {
            ctl_errorf("purge: --state active is refused: a worker holds those jobs and is "
                       "running them");
            return CTL_FAIL;
        } else if (st == LS_READY || st == LS_DELAYED) {
            ctl_errorf("purge: --state %s is refused: those jobs still wait for their run "
                       "(and a batch may wait for them); cancel them first (sluice-ctl cancel "
                       "ID), then purge dead",
                       s);
            return CTL_FAIL;
        } else {
            ctl_errorf("purge: --state: unknown state \"%.40s\" (dead, done or dead,done)", s);
            return CTL_FAIL;
        }
    }
    sl_keys k;
    sl_keys_init(&k, c->o->prefix, q);
    if (!c->o->yes) {
        redisAppendCommand(c->rc, "ZCARD %s", k.done);
        redisAppendCommand(c->rc, "ZCARD %s", k.dead);
        redisReply *r[2];
        if (ctl_read_replies(c, r, 2, "counting jobs"))
            return CTL_FAIL;
        long long n = (want[LS_DONE] ? ctl_reply_int(r[0], 0) : 0) +
                      (want[LS_DEAD] ? ctl_reply_int(r[1], 0) : 0);
        ctl_free_replies(r, 2);
        ctl_errorf("purge: refusing without --yes: this deletes %lld %s job%s of queue %s for "
                   "good (add --yes to do it)",
                   n, c->o->state, n == 1 ? "" : "s", q);
        return CTL_FAIL;
    }
    long long total = 0;
    for (int st = LS_DONE; st <= LS_DEAD; st++) {
        if (!want[st])
            continue;
        long long n = purge_set(c, &k, st == LS_DONE ? k.done : k.dead, &total);
        if (n < 0) {
            if (total)
                fprintf(stderr, "sluice-ctl: %lld jobs were purged before the error\n", total);
            return CTL_FAIL;
        }
        printf("purged %lld %s job%s of queue %s\n", n, state_names[st], n == 1 ? "" : "s", q);
    }
    return CTL_OK;
}

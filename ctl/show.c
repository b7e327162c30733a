/* show.c — `sluice-ctl show` (one job, its state, its batch and envelope)
 * and `sluice-ctl dead` (dead jobs, newest first). */
#include "ctl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* "in 59812 ms" or "1500 ms ago". */
static void relative(int64_t at, int64_t now, char *out, size_t outlen)
{
    if (at >= now)
        snprintf(out, outlen, "in %lld ms", (long long)(at - now));
    else
        snprintf(out, outlen, "%lld ms ago", (long long)(now - at));
}

/* The lease token of an active job, "WORKER/SEQ", into OUT ("" when it has
 * none: claimed by a worker older than lease tokens). Returns -1 after
 * printing a Redis problem. */
static int job_lease(ctl *c, const ctl_job *j, char *out, size_t outlen)
{
    out[0] = '\0';
    if (j->state != CTL_STATE_ACTIVE)
        return 0;
    redisAppendCommand(c->rc, "HGET %s %s", j->keys.lease, j->id);
    redisReply *r[1];
    if (ctl_read_replies(c, r, 1, "HGET lease"))
        return -1;
    if (r[0]->type == REDIS_REPLY_STRING)
        sl_strlcpy(out, r[0]->str, outlen);
    ctl_free_replies(r, 1);
    return 0;
}

static void print_state_line(const ctl_job *j, const char *lease)
{
    char when[40], rel[48];
    ctl_iso_time(j->score_ms, when, sizeof when);
    relative(j->score_ms, j->now_ms, rel, sizeof rel);
    printf("state: %s", ctl_state_name(j->state));
    switch (j->state) {
    case CTL_STATE_READY:
        printf(" (priority %s, position %lld in %s)", sl_priority_name(j->priority), j->position,
               j->keys.ready[j->priority]);
        break;
    case CTL_STATE_DELAYED:
        if (j->score_ms >= j->now_ms)
            printf(" (runs at %s, %s)", when, rel);
        else
            printf(" (was due at %s, %s: is sluice-scheduler running?)", when, rel);
        break;
    case CTL_STATE_ACTIVE:
        printf(" (lease deadline %s, %s)", when, rel);
        break;
    case CTL_STATE_DONE:
        printf(" (finished at %s, %s)", when, rel);
        break;
    case CTL_STATE_DEAD:
        printf(" (died at %s, %s)", when, rel);
        break;
    case CTL_STATE_CANCELLED:
        printf(" (cancelled at %s, %s; in %s)", when, rel, j->keys.dead);
        break;
    default:
        printf(" (the job's key exists but its id is in no ready list or set of queue %s)",
               j->keys.queue);
        break;
    }
    printf("\nqueue: %s\n", j->keys.queue);
    if (j->state == CTL_STATE_ACTIVE) {
        const char *slash = strrchr(lease, '/');
        if (slash)
            printf("lease: held by worker %.*s, claim %s\n", (int)(slash - lease), lease,
                   slash + 1);
        else
            printf("lease: no token (claimed by a worker older than lease tokens)\n");
    }
}

/* The batch JOB names, read into B. Returns 1 when there is one, 0 when
 * none, -1 after printing a Redis problem. */
static int job_batch(ctl *c, const cJSON *doc, ctl_batch_info *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "batch");
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= sizeof b->id)
        return 0;
    return ctl_batch_get(c, v->valuestring, b) ? -1 : 1;
}

static void print_batch_line(const ctl_batch_info *b)
{
    char counts[160];
    if (!b->found) {
        printf("batch: %s (gone: expired, or never opened)\n", b->id);
        return;
    }
    ctl_batch_counts(b, counts, sizeof counts);
    printf("batch: %s (%s; %s)\n", b->id, ctl_batch_state(b), counts);
}

int ctl_show(ctl *c, int npos, char **pos)
{
    (void)npos;
    if (ctl_check_id(c, pos[0]))
        return CTL_FAIL;
    ctl_job j;
    int rc = ctl_job_find(c, pos[0], c->o->queue, &j);
    if (rc)
        return rc;
    char lease[200];
    ctl_batch_info batch;
    int in_batch = job_lease(c, &j, lease, sizeof lease) ? -1 : job_batch(c, j.doc, &batch);
    if (in_batch < 0) {
        ctl_job_deinit(&j);
        return CTL_FAIL;
    }
    if (c->o->json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "id", j.id);
        cJSON_AddStringToObject(doc, "state", ctl_state_name(j.state));
        cJSON_AddStringToObject(doc, "queue", j.keys.queue);
        if (j.has_score)
            cJSON_AddNumberToObject(doc, "score_ms", (double)j.score_ms);
        else
            cJSON_AddNullToObject(doc, "score_ms");
        cJSON_AddNumberToObject(doc, "now_ms", (double)j.now_ms);
        if (lease[0])
            cJSON_AddStringToObject(doc, "lease", lease);
        if (j.state == CTL_STATE_READY) {
            cJSON_AddStringToObject(doc, "priority", sl_priority_name(j.priority));
            cJSON_AddNumberToObject(doc, "position", (double)j.position);
        }
        if (in_batch)
            cJSON_AddItemToObject(doc, "batch", ctl_batch_json(&batch));
        else
            cJSON_AddNullToObject(doc, "batch");
        /* what the handler gave back (done jobs that have one), as in GET /v1/jobs/ID */
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j.doc, "result");
        cJSON_AddItemToObject(doc, "result", res ? cJSON_Duplicate(res, 1) : cJSON_CreateNull());
        if (j.doc) {
            cJSON_AddItemToObject(doc, "job", j.doc);
            j.doc = NULL; /* now owned by DOC */
        } else {
            cJSON_AddNullToObject(doc, "job");
            if (j.body) /* not a JSON object: shown as it is */
                cJSON_AddStringToObject(doc, "raw", j.body);
        }
        ctl_print_json(doc);
    } else {
        print_state_line(&j, lease);
        if (in_batch)
            print_batch_line(&batch);
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j.doc, "result");
        if (res) {
            printf("result: ");
            ctl_print_pretty(res, stdout);
        }
        if (j.doc)
            ctl_print_pretty(j.doc, stdout);
        else if (j.body)
            printf("body (not a JSON object, %zu bytes):\n%s\n", j.len, j.body);
        else
            printf("body: missing (%s%s does not exist)\n", j.keys.job_prefix, j.id);
    }
    ctl_job_deinit(&j);
    return CTL_OK;
}

static int newest_first(const void *a, const void *b)
{
    const ctl_dead_entry *x = a, *y = b;
    if (x->died_ms != y->died_ms)
        return x->died_ms < y->died_ms ? 1 : -1;
    return -strcmp(x->id, y->id);
}

int ctl_dead_read(ctl *c, char **names, long nq, long long limit, ctl_dead_list *out)
{
    memset(out, 0, sizeof *out);
    for (long i = 0; i < nq; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, names[i]);
        redisAppendCommand(c->rc, "ZREVRANGE %s 0 %lld WITHSCORES", k.dead, limit - 1);
        redisAppendCommand(c->rc, "ZCARD %s", k.dead);
    }
    out->nr = 2 * (size_t)nq;
    out->r = sl_calloc(out->nr + 1, sizeof *out->r);
    if (ctl_read_replies(c, out->r, out->nr, "listing dead jobs"))
        return -1;
    for (long i = 0; i < nq; i++) {
        const redisReply *z = out->r[2 * i];
        out->total += ctl_reply_int(out->r[2 * i + 1], 0);
        out->e = sl_realloc(out->e, (out->n + z->elements / 2 + 1) * sizeof *out->e);
        for (size_t j = 0; j + 1 < z->elements; j += 2)
            out->e[out->n++] =
                (ctl_dead_entry){i, z->element[j]->str, ctl_reply_int(z->element[j + 1], 0)};
    }
    if (out->n > 1)
        qsort(out->e, out->n, sizeof *out->e, newest_first);
    if ((long long)out->n > limit)
        out->n = (size_t)limit;
    for (size_t i = 0; i < out->n; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, names[out->e[i].queue]);
        redisAppendCommand(c->rc, "GET %s%s", k.job_prefix, out->e[i].id);
    }
    out->bodies = sl_calloc(out->n + 1, sizeof *out->bodies);
    return ctl_read_replies(c, out->bodies, out->n, "reading dead jobs") ? -1 : 0;
}

void ctl_dead_list_free(ctl_dead_list *l)
{
    if (l->bodies)
        ctl_free_replies(l->bodies, l->n);
    if (l->r)
        ctl_free_replies(l->r, l->nr);
    free(l->bodies);
    free(l->e);
    free(l->r);
    memset(l, 0, sizeof *l);
}

/* What a dead job's body says: type, attempts, last_error. A record the
 * worker wrote for a malformed job keeps the original text under "raw":
 * its type and attempts come from there when it parses. */
typedef struct dead_info {
    char type[65];
    long long attempts;
    const char *error;
} dead_info;

static void read_body(const redisReply *body, cJSON **doc_out, dead_info *info)
{
    memset(info, 0, sizeof *info);
    strcpy(info->type, "-");
    info->error = "";
    cJSON *doc = NULL, *raw_doc = NULL;
    if (body->type == REDIS_REPLY_STRING)
        doc = cJSON_ParseWithLength(body->str, body->len);
    *doc_out = doc;
    if (!cJSON_IsObject(doc)) {
        info->error =
            body->type == REDIS_REPLY_STRING ? "(body is not a JSON object)" : "(body missing)";
        return;
    }
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(doc, "raw");
    const cJSON *src = doc;
    if (!cJSON_HasObjectItem(doc, "type") && cJSON_IsString(raw)) {
        raw_doc = cJSON_Parse(raw->valuestring);
        if (cJSON_IsObject(raw_doc))
            src = raw_doc;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(src, "type");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(src, "attempts");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "last_error");
    if (cJSON_IsString(t))
        sl_strlcpy(info->type, t->valuestring, sizeof info->type);
    if (cJSON_IsNumber(a))
        info->attempts = (long long)a->valuedouble;
    if (cJSON_IsString(e))
        info->error = e->valuestring;
    cJSON_Delete(raw_doc);
}

static void print_dead(ctl *c, char **names, const ctl_dead_entry *e, size_t n, redisReply **bodies,
                       long long total)
{
    cJSON *json = NULL, *list = NULL;
    ctl_table t;
    if (c->o->json) {
        json = cJSON_CreateObject();
        list = cJSON_AddArrayToObject(json, "jobs");
    } else {
        ctl_table_init(&t, 6, "lllrrl");
        const char *head[] = {"DIED_AT", "QUEUE", "ID", "TYPE", "ATTEMPTS", "LAST_ERROR"};
        for (int i = 0; i < 6; i++)
            ctl_table_add(&t, "%s", head[i]);
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *doc;
        dead_info info;
        read_body(bodies[i], &doc, &info);
        char when[40], err[112];
        ctl_iso_time(e[i].died_ms, when, sizeof when);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "died_at", when);
            cJSON_AddNumberToObject(o, "died_ms", (double)e[i].died_ms);
            cJSON_AddStringToObject(o, "queue", names[e[i].queue]);
            cJSON_AddStringToObject(o, "id", e[i].id);
            cJSON_AddStringToObject(o, "type", info.type);
            cJSON_AddNumberToObject(o, "attempts", (double)info.attempts);
            cJSON_AddStringToObject(o, "last_error", info.error);
            cJSON_AddItemToArray(list, o);
        } else {
            ctl_one_line(info.error, 100, err, sizeof err);
            ctl_table_add(&t, "%s", when);
            ctl_table_add(&t, "%s", names[e[i].queue]);
            ctl_table_add(&t, "%s", e[i].id);
            ctl_table_add(&t, "%s", info.type);
            ctl_table_add(&t, "%lld", info.attempts);
            ctl_table_add(&t, "%s", err);
        }
        cJSON_Delete(doc);
    }
    if (json) {
        cJSON_AddNumberToObject(json, "total", (double)total);
        ctl_print_json(json);
        return;
    }
    if (n == 0) {
        printf("no dead jobs%s%s\n", c->o->queue ? " in queue " : "",
               c->o->queue ? c->o->queue : "");
    } else {
        ctl_table_print(&t, stdout);
        if ((long long)n < total)
            printf("(%zu newest of %lld dead jobs; see --limit)\n", n, total);
    }
    ctl_table_deinit(&t);
}

int ctl_dead(ctl *c, int npos, char **pos)
{
    (void)npos, (void)pos;
    char **names;
    long nq = ctl_queues(c, c->o->queue, &names);
    if (nq < 0)
        return CTL_FAIL;
    ctl_dead_list l;
    int rc = CTL_FAIL;
    if (ctl_dead_read(c, names, nq, c->o->limit, &l) == 0) {
        print_dead(c, names, l.e, l.n, l.bodies, l.total);
        rc = CTL_OK;
    }
    ctl_dead_list_free(&l);
    ctl_queues_free(names, nq);
    return rc;
}

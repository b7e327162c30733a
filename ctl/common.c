/* common.c — see ctl.h: Redis replies, known queues, finding a job, times
 * and text tables, shared by every sluice-ctl command. */
#include "ctl.h"
#include "noperm.h"
#include "util.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ctl_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sluice-ctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static const char *conn_error(const ctl *c)
{
    return c->rc->errstr[0] ? c->rc->errstr : "connection lost";
}

void ctl_free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        freeReplyObject(r[i]);
        r[i] = NULL;
    }
}

int ctl_read_replies(ctl *c, redisReply **r, size_t n, const char *what)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        r[i] = NULL;
    /* Read every reply even after an error one, so nothing is left pending. */
    for (size_t i = 0; i < n; i++) {
        void *p = NULL;
        if (redisGetReply(c->rc, &p) != REDIS_OK) {
            ctl_errorf("redis: %s: %s", what, conn_error(c));
            ctl_free_replies(r, n);
            return -1;
        }
        r[i] = p;
        if (r[i]->type == REDIS_REPLY_ERROR && !bad) {
            ctl_errorf("redis refused %s: %s%s", what, r[i]->str, sl_noperm_note(r[i]->str));
            bad = 1;
        }
    }
    if (bad) {
        ctl_free_replies(r, n);
        return -1;
    }
    return 0;
}

redisReply *ctl_command(ctl *c, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAppendCommand(c->rc, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        ctl_errorf("redis: %s: %s", what, conn_error(c));
        return NULL;
    }
    redisReply *r;
    if (ctl_read_replies(c, &r, 1, what))
        return NULL;
    return r;
}

long long ctl_reply_int(const redisReply *r, long long dflt)
{
    if (!r)
        return dflt;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        char *end;
        double v = strtod(r->str, &end);
        return end != r->str && !*end ? (long long)v : dflt;
    }
    return dflt;
}

int64_t ctl_reply_time_ms(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return sl_now_ms();
    return ctl_reply_int(r->element[0], 0) * 1000 + ctl_reply_int(r->element[1], 0) / 1000;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long ctl_queues(ctl *c, const char *queue, char ***out)
{
    if (queue) {
        *out = sl_malloc(sizeof **out);
        (*out)[0] = sl_strdup(queue);
        return 1;
    }
    char key[SL_KEY_MAX];
    sl_keys_queues(key, c->o->prefix);
    redisReply *r = ctl_command(c, "SMEMBERS", "SMEMBERS %s", key);
    if (!r)
        return -1;
    long n = 0;
    *out = sl_malloc((r->elements + 1) * sizeof **out);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            (*out)[n++] = sl_strndup(r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    qsort(*out, (size_t)n, sizeof **out, by_name);
    return n;
}

void ctl_queues_free(char **q, long n)
{
    for (long i = 0; i < n; i++)
        free(q[i]);
    free(q);
}

int ctl_check_id(const ctl *c, const char *id)
{
    size_t n = strlen(id);
    int ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)id[i] > ' ' && id[i] != 0x7f;
    if (!ok) {
        ctl_errorf("%s: job id \"%.70s\" must be 1..64 characters without spaces", c->cmd, id);
        return CTL_FAIL;
    }
    return 0;
}

void ctl_iso_time(int64_t ms, char *out, size_t outlen)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&s, &tm)) {
        snprintf(out, outlen, "-");
        return;
    }
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", day, (int)(ms % 1000));
}

void ctl_print_json(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);
    if (!s)
        abort(); /* cJSON fails only when out of memory */
    puts(s);
    free(s);
    cJSON_Delete(doc);
}

void ctl_print_pretty(const cJSON *doc, FILE *out)
{
    char *s = cJSON_PrintUnformatted(doc);
    if (!s)
        abort(); /* cJSON fails only when out of memory */
    int depth = 0, in_str = 0;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (in_str) {
            fputc(ch, out);
            if (ch == '\\' && p[1])
                fputc(*++p, out);
            else if (ch == '"')
                in_str = 0;
            continue;
        }
        switch (ch) {
        case '"':
            in_str = 1;
            fputc(ch, out);
            break;
        case '{':
        case '[':
            fputc(ch, out);
            if (p[1] == (ch == '{' ? '}' : ']')) {
                fputc(*++p, out); /* empty: {} or [] */
                break;
            }
            fprintf(out, "\n%*s", 2 * ++depth, "");
            break;
        case '}':
        case ']':
            fprintf(out, "\n%*s%c", 2 * --depth, "", ch);
            break;
        case ',':
            fprintf(out, ",\n%*s", 2 * depth, "");
            break;
        case ':':
            fputs(": ", out);
            break;
        default:
            fputc(ch, out);
        }
    }
    fputc('\n', out);
    free(s);
}

void ctl_one_line(const char *s, size_t max, char *out, size_t outlen)
{
    size_t n = strlen(s), cut = n;
    if (n > max) {
        cut = max;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--; /* back to the start of a UTF-8 sequence */
    }
    size_t j = 0;
    for (size_t i = 0; i < cut && j + 4 < outlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[j++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    if (cut < n && j + 4 <= outlen) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
}

void ctl_table_init(ctl_table *t, int ncols, const char *align)
{
    assert(ncols > 0 && ncols <= 32 && (int)strlen(align) == ncols);
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->align = align;
}

void ctl_table_add(ctl_table *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *cell = sl_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(cell, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (t->ncells == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cells = sl_realloc(t->cells, t->cap * sizeof *t->cells);
    }
    t->cells[t->ncells++] = cell;
}

void ctl_table_print(const ctl_table *t, FILE *out)
{
    int width[32] = {0};
    size_t ncols = (size_t)t->ncols;
    for (size_t i = 0; i < t->ncells; i++) {
        int w = (int)strlen(t->cells[i]);
        if (w > width[i % ncols])
            width[i % ncols] = w;
    }
    for (size_t i = 0; i < t->ncells; i++) {
        size_t col = i % ncols;
        int last = col == ncols - 1;
        if (t->align[col] == 'r')
            fprintf(out, "%*s", width[col], t->cells[i]);
        else
            fprintf(out, "%-*s", last ? 0 : width[col], t->cells[i]);
        fputs(last ? "\n" : "  ", out);
    }
}

void ctl_table_deinit(ctl_table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

const char *ctl_state_name(int state)
{
    static const char *names[] = {"unknown", "ready", "delayed",  "active",
                                  "done",    "dead",  "cancelled"};
    return state >= 0 && state <= CTL_STATE_CANCELLED ? names[state] : "unknown";
}

int ctl_doc_priority(const cJSON *doc)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "priority");
    int prio = cJSON_IsString(p) ? sl_priority_parse(p->valuestring) : -1;
    return prio < 0 ? SL_PRIO_NORMAL : prio;
}

/* Which known queue holds a body for ID: one EXISTS per queue, pipelined.
 * Returns the index, -1 when none, -2 on a Redis problem (printed). */
static long find_queue(ctl *c, const char *id, char **qs, long nq)
{
    for (long i = 0; i < nq; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, qs[i]);
        redisAppendCommand(c->rc, "EXISTS %s%s", k.job_prefix, id);
    }
    redisReply **r = sl_calloc((size_t)nq + 1, sizeof *r);
    if (ctl_read_replies(c, r, (size_t)nq, "EXISTS")) {
        free(r);
        return -2;
    }
    long at = -1, others = 0;
    for (long i = 0; i < nq; i++) {
        if (ctl_reply_int(r[i], 0) != 1)
            continue;
        if (at < 0)
            at = i;
        else
            others++;
    }
    if (others)
        fprintf(stderr,
                "sluice-ctl: note: job %s exists in %ld more queue(s); showing queue %s "
                "(choose with --queue)\n",
                id, others, qs[at]);
    ctl_free_replies(r, (size_t)nq);
    free(r);
    return at;
}

int ctl_job_find(ctl *c, const char *id, const char *queue, ctl_job *j)
{
    memset(j, 0, sizeof *j);
    sl_strlcpy(j->id, id, sizeof j->id);
    char **qs;
    long nq = ctl_queues(c, queue, &qs);
    if (nq < 0)
        return CTL_FAIL;
    long at = queue ? 0 : find_queue(c, id, qs, nq);
    if (at < 0) {
        if (at == -1)
            ctl_errorf("no job %s in any queue%s", id,
                       nq ? "" : " (no queues are known under this --prefix)");
        ctl_queues_free(qs, nq);
        return at == -1 ? CTL_NOTFOUND : CTL_FAIL;
    }
    sl_keys_init(&j->keys, c->o->prefix, qs[at]);
    ctl_queues_free(qs, nq);

    const sl_keys *k = &j->keys;
    redisAppendCommand(c->rc, "GET %s%s", k->job_prefix, id);
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        redisAppendCommand(c->rc, "LPOS %s %s", k->ready[p], id);
    const char *sets[] = {k->delayed, k->active, k->done, k->dead};
    for (int i = 0; i < 4; i++)
        redisAppendCommand(c->rc, "ZSCORE %s %s", sets[i], id);
    redisAppendCommand(c->rc, "TIME");
    redisReply *r[10];
    if (ctl_read_replies(c, r, 10, "looking up the job"))
        return CTL_FAIL;

    if (r[0]->type == REDIS_REPLY_STRING) {
        j->body = sl_strndup(r[0]->str, r[0]->len);
        j->len = r[0]->len;
        j->doc = cJSON_ParseWithLength(j->body, j->len);
        if (j->doc && !cJSON_IsObject(j->doc)) {
            cJSON_Delete(j->doc);
            j->doc = NULL;
        }
    }
    j->state = CTL_STATE_UNKNOWN;
    for (int p = 0; p < SL_PRIO_COUNT && j->state == CTL_STATE_UNKNOWN; p++) {
        if (r[1 + p]->type == REDIS_REPLY_INTEGER) {
            j->state = CTL_STATE_READY;
            j->priority = p;
            j->position = r[1 + p]->integer;
        }
    }
    static const int set_state[] = {CTL_STATE_DELAYED, CTL_STATE_ACTIVE, CTL_STATE_DONE,
                                    CTL_STATE_DEAD};
    for (int i = 0; i < 4 && j->state == CTL_STATE_UNKNOWN; i++) {
        if (r[5 + i]->type == REDIS_REPLY_STRING) {
            j->state = set_state[i];
            j->has_score = 1;
            j->score_ms = ctl_reply_int(r[5 + i], 0);
        }
    }
    j->now_ms = ctl_reply_time_ms(r[9]);
    ctl_free_replies(r, 10);

    if (j->state == CTL_STATE_DEAD) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j->doc, "last_error");
        if (cJSON_IsString(e) && !strncmp(e->valuestring, "cancelled", 9))
            j->state = CTL_STATE_CANCELLED;
    }
    if (!j->body && j->state == CTL_STATE_UNKNOWN) {
        ctl_errorf("no job %s in queue %s", id, j->keys.queue);
        ctl_job_deinit(j);
        return CTL_NOTFOUND;
    }
    return 0;
}

void ctl_job_deinit(ctl_job *j)
{
    free(j->body);
    cJSON_Delete(j->doc);
    j->body = NULL;
    j->doc = NULL;
}

void ctl_append_queue_counts(ctl *c, const sl_keys *k)
{
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        redisAppendCommand(c->rc, "LLEN %s", k->ready[p]);
    redisAppendCommand(c->rc, "ZCARD %s", k->delayed);
    redisAppendCommand(c->rc, "ZCARD %s", k->active);
    redisAppendCommand(c->rc, "ZCARD %s", k->done);
    redisAppendCommand(c->rc, "ZCARD %s", k->dead);
    redisAppendCommand(c->rc, "EXISTS %s", k->paused);
    redisAppendCommand(c->rc, "HGETALL %s", k->stats);
}

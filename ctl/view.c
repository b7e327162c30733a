/* view.c — the live picture `sluice-ctl top` draws and `sluice-ctl web`
 * serves: one pipelined round trip per refresh, turned into one JSON
 * document (ctl.h, "view.c").
 *
 * The names a refresh reads come from the refresh before (the queues set,
 * the workers ZSET, the newest dead ids): a queue, worker or dead job seen
 * now is read in full at the next refresh, so that each refresh is one
 * pipeline. ctl_view_new reads them once first. The rate-limit keys of the
 * bots (PREFIX:{rl:PLATFORM:BOT}:*) have no index: they are found with
 * SCAN every RL_SCAN_EVERY refreshes, then read by name.
 *
 * What the rate-limit keys show (shared/scripts/rl_acquire.lua and
 * rl_report.lua): "block" while every replica must wait (a global 429, or an
 * operator's pause), with its reason and time left; "invalid:W" the 401,
 * 403 and 429 answers in the 10-minute window W (Discord bans a bot past
 * 10,000); "gcra:NAME" each rate limiter's theoretical arrival time: ahead
 * of now, requests under it are being paced (waiting). The stats hash's
 * "deferred" counter is the jobs put back for a rate-limit wait. */
#include "ctl.h"
#include "rblock.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RL_SCAN_EVERY 10 /* refreshes between two SCANs for rate-limit keys */
#define DEAD_RECENT 8    /* newest dead jobs shown */
#define DONE_SAMPLE 50   /* newest done jobs per queue for the latency */
#define LEASES_MAX 500   /* active jobs per queue up to which leases are read */
#define JOBS_PER_WORKER 4

/* per queue: ctl_append_queue_counts's, ZREVRANGE dead (newest), done
 * sample, HGETALL lease */
#define PER_QUEUE (CTL_QUEUE_COUNTS + 3)

typedef struct prev_queue {
    char *name;
    long long counters[4]; /* enqueued, processed, failed, dead, at the last refresh */
    long long active;
} prev_queue;

struct ctl_view {
    ctl *c;
    char **queues;
    long nq;
    char **workers;
    long nw;
    char **rl_keys; /* every PREFIX:{rl:...}:block|invalid:*|gcra:* key seen */
    long nrl;
    long refreshes;
    prev_queue *prev;
    long nprev;
    int64_t prev_ms;
    char **dead_ids; /* "QUEUE\nID" of the newest dead jobs, from the last refresh */
    long ndead;
};

static const char *rate_names[4] = {"enqueued", "processed", "failed", "dead"};

static void free_list(char **l, long n)
{
    for (long i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static char **reply_strings(const redisReply *r, size_t step, long *n)
{
    *n = 0;
    char **out = sl_malloc((r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0) * sizeof *out + 1);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i += step)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            out[(*n)++] = sl_strndup(r->element[i]->str, r->element[i]->len);
    return out;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rate-limit keys: SCAN MATCH PREFIX:{rl:* to the end. -1 on a Redis
 * problem (printed). */
static int scan_rl(ctl_view *v)
{
    char pattern[SL_KEY_MAX];
    snprintf(pattern, sizeof pattern, "%s:{rl:*", v->c->o->prefix);
    free_list(v->rl_keys, v->nrl);
    v->rl_keys = NULL;
    v->nrl = 0;
    long cap = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = ctl_command(v->c, "SCAN", "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return -1;
        }
        sl_strlcpy(cursor, r->element[0]->str, sizeof cursor);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            const char *tail = strstr(k, "}:");
            if (!tail)
                continue;
            tail += 2;
            if (strcmp(tail, "block") && strncmp(tail, "invalid:", 8) && strncmp(tail, "gcra:", 5))
                continue;
            if (v->nrl == cap) {
                cap = cap ? 2 * cap : 64;
                v->rl_keys = sl_realloc(v->rl_keys, (size_t)cap * sizeof *v->rl_keys);
            }
            v->rl_keys[v->nrl++] = sl_strdup(k);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    if (v->nrl > 1)
        qsort(v->rl_keys, (size_t)v->nrl, sizeof *v->rl_keys, by_name);
    return 0;
}

/* The names the first refresh reads: queues, workers, newest dead ids. */
static int read_names(ctl_view *v)
{
    char qkey[SL_KEY_MAX], wkey[SL_KEY_MAX];
    sl_keys_queues(qkey, v->c->o->prefix);
    sl_keys_workers(wkey, v->c->o->prefix);
    redisAppendCommand(v->c->rc, "SMEMBERS %s", qkey);
    redisAppendCommand(v->c->rc, "ZREVRANGE %s 0 -1", wkey);
    redisReply *r[2];
    if (ctl_read_replies(v->c, r, 2, "listing queues and workers"))
        return -1;
    free_list(v->queues, v->nq);
    free_list(v->workers, v->nw);
    v->queues = reply_strings(r[0], 1, &v->nq);
    v->workers = reply_strings(r[1], 1, &v->nw);
    if (v->nq > 1)
        qsort(v->queues, (size_t)v->nq, sizeof *v->queues, by_name);
    ctl_free_replies(r, 2);
    return 0;
}

ctl_view *ctl_view_new(ctl *c)
{
    ctl_view *v = sl_calloc(1, sizeof *v);
    v->c = c;
    if (read_names(v) || scan_rl(v)) {
        ctl_view_free(v);
        return NULL;
    }
    return v;
}

void ctl_view_free(ctl_view *v)
{
    if (!v)
        return;
    free_list(v->queues, v->nq);
    free_list(v->workers, v->nw);
    free_list(v->rl_keys, v->nrl);
    free_list(v->dead_ids, v->ndead);
    for (long i = 0; i < v->nprev; i++)
        free(v->prev[i].name);
    free(v->prev);
    free(v);
}

static const prev_queue *find_prev(const ctl_view *v, const char *name)
{
    for (long i = 0; i < v->nprev; i++)
        if (!strcmp(v->prev[i].name, name))
            return &v->prev[i];
    return NULL;
}

static const char *hash_get(const redisReply *h, const char *name)
{
    for (size_t i = 0; h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        if (!strcmp(h->element[i]->str, name))
            return h->element[i + 1]->str;
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* The nearest-rank percentile P (0..100) of the N sorted values. */
static long long percentile(const long long *s, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    return s[rank ? rank - 1 : 0];
}

static void add_latency(cJSON *q, const redisReply *sample)
{
    size_t n = sample && sample->type == REDIS_REPLY_ARRAY ? sample->elements : 0;
    cJSON *lat = cJSON_AddObjectToObject(q, "latency");
    cJSON_AddNumberToObject(lat, "n", (double)n);
    if (!n)
        return;
    long long *ms = sl_malloc(n * sizeof *ms);
    for (size_t i = 0; i < n; i++)
        ms[i] = ctl_reply_int(sample->element[i], 0);
    qsort(ms, n, sizeof *ms, cmp_ll);
    cJSON_AddNumberToObject(lat, "p50_ms", (double)percentile(ms, n, 50));
    cJSON_AddNumberToObject(lat, "p99_ms", (double)percentile(ms, n, 99));
    free(ms);
}

/* The queue's part of the document from its PER_QUEUE replies; updates
 * the counters kept for the next rates. */
static cJSON *queue_doc(const ctl_view *v, const char *name, redisReply **r, double dt,
                        prev_queue *next, int sample)
{
    cJSON *q = cJSON_CreateObject(), *ready = cJSON_AddObjectToObject(q, "ready");
    long long total_ready = 0;
    for (int p = 0; p < SL_PRIO_COUNT; p++) {
        long long n = ctl_reply_int(r[p], 0);
        total_ready += n;
        cJSON_AddNumberToObject(ready, sl_priority_name(p), (double)n);
    }
    cJSON_AddNumberToObject(q, "ready_total", (double)total_ready);
    static const char *sets[] = {"delayed", "active", "done", "dead"};
    for (int i = 0; i < 4; i++)
        cJSON_AddNumberToObject(q, sets[i], (double)ctl_reply_int(r[4 + i], 0));
    cJSON_AddBoolToObject(q, "paused", ctl_reply_int(r[8], 0) == 1);
    cJSON *counters = cJSON_AddObjectToObject(q, "counters");
    const redisReply *h = r[9];
    for (size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2)
        cJSON_AddNumberToObject(counters, h->element[i]->str,
                                (double)ctl_reply_int(h->element[i + 1], 0));
    /* per second since the last refresh; null on the first */
    const prev_queue *p = find_prev(v, name);
    cJSON *rates = cJSON_AddObjectToObject(q, "rates");
    next->name = sl_strdup(name);
    next->active = ctl_reply_int(r[5], 0);
    for (int i = 0; i < 4; i++) {
        const char *s = hash_get(h, rate_names[i]);
        next->counters[i] = s ? atoll(s) : 0;
        if (p && dt > 0)
            cJSON_AddNumberToObject(rates, rate_names[i],
                                    (double)(next->counters[i] - p->counters[i]) / dt);
        else
            cJSON_AddNullToObject(rates, rate_names[i]);
    }
    if (sample)
        add_latency(q, r[11]);
    return q;
}

/* Worker id -> a JSON object, with the jobs its leases show. */
static cJSON *worker_doc(const char *id, const redisReply *h, int64_t beat, int64_t now)
{
    cJSON *w = cJSON_CreateObject();
    cJSON_AddStringToObject(w, "id", id);
    static const char *nums[] = {"pid", "concurrency", "running", "processed", "failed"};
    static const char *strs[] = {"host", "queues", "state"};
    for (int i = 0; i < 5; i++) {
        const char *s = hash_get(h, nums[i]);
        cJSON_AddNumberToObject(w, nums[i], s ? (double)atoll(s) : 0);
    }
    for (int i = 0; i < 3; i++) {
        const char *s = hash_get(h, strs[i]);
        cJSON_AddStringToObject(w, strs[i], s ? s : (i == 2 ? "gone" : "-"));
    }
    cJSON_AddNumberToObject(w, "heartbeat_s_ago", beat ? (double)(now - beat) / 1000.0 : -1);
    cJSON_AddArrayToObject(w, "jobs");
    cJSON_AddNumberToObject(w, "jobs_seen", 0);
    return w;
}

/* Adds the in-flight jobs the lease hashes show to their workers. */
static void add_leases(cJSON *workers, const char *queue, const redisReply *lease)
{
    for (size_t i = 0; lease && lease->type == REDIS_REPLY_ARRAY && i + 1 < lease->elements;
         i += 2) {
        const char *tok = lease->element[i + 1]->str;
        const char *slash = strrchr(tok, '/');
        size_t wl = slash ? (size_t)(slash - tok) : strlen(tok);
        cJSON *w;
        cJSON_ArrayForEach(w, workers)
        {
            const char *id = cJSON_GetObjectItemCaseSensitive(w, "id")->valuestring;
            if (strlen(id) != wl || memcmp(id, tok, wl))
                continue;
            cJSON *seen = cJSON_GetObjectItemCaseSensitive(w, "jobs_seen");
            cJSON_SetNumberValue(seen, seen->valuedouble + 1);
            cJSON *jobs = cJSON_GetObjectItemCaseSensitive(w, "jobs");
            if (cJSON_GetArraySize(jobs) < JOBS_PER_WORKER) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "queue", queue);
                cJSON_AddStringToObject(j, "id", lease->element[i]->str);
                cJSON_AddItemToArray(jobs, j);
            }
            break;
        }
    }
}

/* "PREFIX:{rl:discord:main}:gcra:global" -> bot "discord:main", rest "gcra:global" */
static int split_rl(const char *key, char *bot, size_t botlen, const char **rest)
{
    const char *open = strstr(key, "{rl:"), *close = open ? strstr(open, "}:") : NULL;
    if (!close)
        return -1;
    size_t n = (size_t)(close - open - 4);
    if (n >= botlen)
        return -1;
    memcpy(bot, open + 4, n);
    bot[n] = '\0';
    *rest = close + 2;
    return 0;
}

static cJSON *bot_doc(cJSON *bots, const char *bot)
{
    cJSON *b;
    cJSON_ArrayForEach(b, bots)
    {
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(b, "bot")->valuestring, bot))
            return b;
    }
    b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "bot", bot);
    cJSON_AddNullToObject(b, "blocked");
    cJSON_AddNumberToObject(b, "blocked_ms", 0);
    cJSON_AddNumberToObject(b, "invalid_10min", 0);
    cJSON_AddNumberToObject(b, "limiters", 0);
    cJSON_AddNumberToObject(b, "pacing", 0);
    cJSON_AddNumberToObject(b, "max_ahead_ms", 0);
    cJSON_AddItemToArray(bots, b);
    return b;
}

static void bump(cJSON *o, const char *name, double by)
{
    cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);
    cJSON_SetNumberValue(n, n->valuedouble + by);
}

/* The rate-limit keys' replies: 2 per key (GET, PTTL). */
static cJSON *ratelimits_doc(const ctl_view *v, redisReply **r, int64_t now)
{
    cJSON *bots = cJSON_CreateArray();
    int64_t window = now / 600000;
    for (long i = 0; i < v->nrl; i++) {
        char bot[140];
        const char *rest;
        const redisReply *val = r[2 * i], *ttl = r[2 * i + 1];
        if (split_rl(v->rl_keys[i], bot, sizeof bot, &rest) || val->type != REDIS_REPLY_STRING)
            continue; /* expired since the scan */
        cJSON *b = bot_doc(bots, bot);
        if (!strcmp(rest, "block")) {
            cJSON_ReplaceItemInObjectCaseSensitive(b, "blocked", cJSON_CreateString(val->str));
            cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "blocked_ms"),
                                 (double)ctl_reply_int(ttl, 0));
        } else if (!strncmp(rest, "invalid:", 8)) {
            if (atoll(rest + 8) == window)
                bump(b, "invalid_10min", (double)atoll(val->str));
        } else {
            /* gcra: "TAT[ history]"; TAT ahead of now: requests are paced */
            double tat = atof(val->str), ahead = tat - (double)now;
            bump(b, "limiters", 1);
            if (ahead > 0) {
                bump(b, "pacing", 1);
                cJSON *m = cJSON_GetObjectItemCaseSensitive(b, "max_ahead_ms");
                if (ahead > m->valuedouble)
                    cJSON_SetNumberValue(m, floor(ahead));
            }
        }
    }
    return bots;
}

/* The newest dead jobs across queues (from their ZREVRANGE replies), with
 * the bodies read at this refresh for the ids the last one saw. */
static cJSON *dead_doc(ctl_view *v, redisReply **qr, redisReply **bodies)
{
    typedef struct {
        long q;
        const char *id;
        long long ms;
    } ent;
    ent *e = sl_malloc(((size_t)v->nq * DEAD_RECENT + 1) * sizeof *e);
    size_t n = 0;
    for (long i = 0; i < v->nq; i++) {
        const redisReply *z = qr[PER_QUEUE * i + 10];
        for (size_t j = 0; z->type == REDIS_REPLY_ARRAY && j + 1 < z->elements; j += 2)
            e[n++] = (ent){i, z->element[j]->str, ctl_reply_int(z->element[j + 1], 0)};
    }
    /* newest first: a few entries, insertion sort */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && e[j].ms > e[j - 1].ms; j--) {
            ent t = e[j];
            e[j] = e[j - 1];
            e[j - 1] = t;
        }
    if (n > DEAD_RECENT)
        n = DEAD_RECENT;
    cJSON *list = cJSON_CreateArray();
    char **ids = sl_malloc((n + 1) * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "queue", v->queues[e[i].q]);
        cJSON_AddStringToObject(d, "id", e[i].id);
        cJSON_AddNumberToObject(d, "died_ms", (double)e[i].ms);
        /* the body, when the last refresh asked for it */
        char key[200];
        snprintf(key, sizeof key, "%s\n%s", v->queues[e[i].q], e[i].id);
        ids[i] = sl_strdup(key);
        for (long k = 0; k < v->ndead; k++) {
            if (strcmp(v->dead_ids[k], key) || bodies[k]->type != REDIS_REPLY_STRING)
                continue;
            cJSON *doc = cJSON_ParseWithLength(bodies[k]->str, bodies[k]->len);
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "type");
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, "attempts");
            const cJSON *err = cJSON_GetObjectItemCaseSensitive(doc, "last_error");
            if (cJSON_IsString(t))
                cJSON_AddStringToObject(d, "type", t->valuestring);
            if (cJSON_IsNumber(a))
                cJSON_AddNumberToObject(d, "attempts", a->valuedouble);
            if (cJSON_IsString(err))
                cJSON_AddStringToObject(d, "last_error", err->valuestring);
            cJSON_Delete(doc);
            break;
        }
        cJSON_AddItemToArray(list, d);
    }
    free(e);
    free_list(v->dead_ids, v->ndead);
    v->dead_ids = ids;
    v->ndead = (long)n;
    return list;
}

cJSON *ctl_view_refresh(ctl_view *v, int sample_done)
{
    ctl *c = v->c;
    if (v->refreshes > 0 && v->refreshes % RL_SCAN_EVERY == 0 && scan_rl(v))
        return NULL;
    v->refreshes++;
    char qkey[SL_KEY_MAX], wkey[SL_KEY_MAX], hkey[SL_KEY_MAX];
    sl_keys_queues(qkey, c->o->prefix);
    sl_keys_workers(wkey, c->o->prefix);
    /* 0 TIME, 1 SMEMBERS, 2 ZRANGE workers, then the queues, the workers,
     * the rate-limit keys and the dead bodies */
    redisAppendCommand(c->rc, "TIME");
    redisAppendCommand(c->rc, "SMEMBERS %s", qkey);
    redisAppendCommand(c->rc, "ZREVRANGE %s 0 -1 WITHSCORES", wkey);
    char count[16];
    snprintf(count, sizeof count, "%d", DONE_SAMPLE);
    for (long i = 0; i < v->nq; i++) {
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, v->queues[i]);
        ctl_append_queue_counts(c, &k);
        redisAppendCommand(c->rc, "ZREVRANGE %s 0 %d WITHSCORES", k.dead, DEAD_RECENT - 1);
        if (sample_done) {
            const char *argv[] = {k.done, k.base, count};
            size_t lens[] = {strlen(k.done), strlen(k.base), strlen(count)};
            sl_rblock_append_script(c->rc, SL_SCRIPT_DONE_SAMPLE, 1, 3, argv, lens);
        } else {
            redisAppendCommand(c->rc, "ECHO -");
        }
        const prev_queue *p = find_prev(v, v->queues[i]);
        if (p && p->active <= LEASES_MAX)
            redisAppendCommand(c->rc, "HGETALL %s", k.lease);
        else
            redisAppendCommand(c->rc, "ECHO -");
    }
    for (long i = 0; i < v->nw; i++) {
        sl_keys_worker(hkey, c->o->prefix, v->workers[i]);
        redisAppendCommand(c->rc, "HGETALL %s", hkey);
    }
    for (long i = 0; i < v->nrl; i++) {
        redisAppendCommand(c->rc, "GET %s", v->rl_keys[i]);
        redisAppendCommand(c->rc, "PTTL %s", v->rl_keys[i]);
    }
    for (long i = 0; i < v->ndead; i++) {
        const char *nl = strchr(v->dead_ids[i], '\n');
        char q[65];
        snprintf(q, sizeof q, "%.*s", (int)(nl - v->dead_ids[i]), v->dead_ids[i]);
        sl_keys k;
        sl_keys_init(&k, c->o->prefix, q);
        redisAppendCommand(c->rc, "GET %s%s", k.job_prefix, nl + 1);
    }
    size_t nqr = (size_t)v->nq * PER_QUEUE,
           nr = 3 + nqr + (size_t)v->nw + 2 * (size_t)v->nrl + (size_t)v->ndead;
    redisReply **r = sl_calloc(nr + 1, sizeof *r);
    if (ctl_read_replies(c, r, nr, "reading the live view")) {
        free(r);
        return NULL;
    }
    int64_t now = ctl_reply_time_ms(r[0]);
    double dt = v->prev_ms ? (double)(now - v->prev_ms) / 1000.0 : 0;
    redisReply **qr = r + 3, **wr = qr + nqr, **rlr = wr + v->nw, **dr = rlr + 2 * v->nrl;

    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "now_ms", (double)now);
    cJSON_AddNumberToObject(doc, "interval_s", dt);
    cJSON *queues = cJSON_AddObjectToObject(doc, "queues");
    prev_queue *next = sl_calloc((size_t)v->nq + 1, sizeof *next);
    for (long i = 0; i < v->nq; i++)
        cJSON_AddItemToObject(
            queues, v->queues[i],
            queue_doc(v, v->queues[i], qr + PER_QUEUE * i, dt, &next[i], sample_done));
    /* workers, in the heartbeat ZSET's order (newest beat first) */
    cJSON *workers = cJSON_AddArrayToObject(doc, "workers");
    const redisReply *beats = r[2];
    for (long i = 0; i < v->nw; i++) {
        int64_t beat = 0;
        for (size_t j = 0; beats->type == REDIS_REPLY_ARRAY && j + 1 < beats->elements; j += 2)
            if (!strcmp(beats->element[j]->str, v->workers[i]))
                beat = ctl_reply_int(beats->element[j + 1], 0);
        if (!beat)
            continue; /* left the ZSET since the last refresh */
        cJSON_AddItemToArray(workers, worker_doc(v->workers[i], wr[i], beat, now));
    }
    for (long i = 0; i < v->nq; i++)
        add_leases(workers, v->queues[i], qr[PER_QUEUE * i + 12]);
    cJSON_AddItemToObject(doc, "ratelimits", ratelimits_doc(v, rlr, now));
    cJSON_AddItemToObject(doc, "dead_recent", dead_doc(v, qr, dr));

    /* what the next refresh reads */
    for (long i = 0; i < v->nprev; i++)
        free(v->prev[i].name);
    free(v->prev);
    v->prev = next;
    v->nprev = v->nq;
    v->prev_ms = now;
    free_list(v->queues, v->nq);
    free_list(v->workers, v->nw);
    v->queues = reply_strings(r[1], 1, &v->nq);
    if (v->nq > 1)
        qsort(v->queues, (size_t)v->nq, sizeof *v->queues, by_name);
    v->workers = reply_strings(r[2], 2, &v->nw);
    ctl_free_replies(r, nr);
    free(r);
    return doc;
}

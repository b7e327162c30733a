/* archive.c — the leading scheduler copies the job-end events stream
 * (PREFIX:events, events.h) into the SQLite archive (archive_db.h), with
 * nothing lost and nothing written twice across a failover:
 *
 *   - one consumer group, "archive", created at 0 with MKSTREAM when
 *     missing, and one consumer name, "archiver", shared by every
 *     scheduler: what the old leader had read but not acknowledged is the
 *     new leader's pending list, read first (XREADGROUP ... 0) before any
 *     new entry (">");
 *   - one batch of up to --archive-batch entries at a time, written on a
 *     pool thread (shared/pool.c: the loop never waits for SQLite) in one
 *     transaction, then XACKed once committed;
 *   - the transaction records each entry's id in the table "applied": an
 *     entry delivered again (committed, then the leader died before its
 *     XACK; or two leaders for a moment) is skipped, rows and rollup
 *     counts alike.
 *
 * Only the leader reads; on losing the lock it stops after the batch in
 * flight (whose commit is harmless: a later delivery of it is skipped).
 * Every 2 s the leader checks XLEN and the group's lag (XINFO GROUPS), and
 * whether the stream was trimmed past what the group had read (XINFO
 * STREAM's first entry beyond the group's last-delivered-id): those
 * entries are lost to the archive, counted and logged. Retention runs once a minute on the same
 * thread. */
#include "archive.h"
#include "sched.h"
#include "archive_db.h"
#include "events.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUP "archive"
#define CONSUMER "archiver"

struct batch {
    sl_pool_work work;
    struct archive *a;
    sl_adb_entry *entries; /* n, owned (strings too) */
    size_t n;
    char **ids; /* every id read (those with no fields too), for the XACK */
    size_t nids;
    int rc;
    char err[300];
    sl_adb_result res;
};

struct archive {
    sched *s;
    struct archive_options o;
    char key[SL_KEY_MAX];
    sl_adb *db; /* used by the pool thread only, once started */
    sl_pool *pool;
    int leading;
    int group_ok; /* the group is known to exist */
    int pending;  /* read the pending list (0) before new entries (>) */
    int busy;     /* a read or a write is under way */
    int checking; /* an XINFO check is in flight */
    /* the check's XINFO STREAM, kept for its XINFO GROUPS reply (no MULTI:
     * the scheduler's ACL role has none, deploy/users.acl) */
    int st_ok;
    long long st_length, st_added;
    char st_first[48];   /* first entry's id, "" when none */
    ev_timer poll;       /* the next read when the stream was empty, or after an error */
    ev_timer check;      /* lengths and lag, every 2 s */
    ev_timer expire;     /* retention, every minute */
    sl_pool_work expiry; /* the retention pass */
    int expiring;
    char last_delivered[48];
    archive_stats stats;
};

static void read_next(struct archive *a);

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->entries[i].queue);
        free(b->entries[i].lines);
    }
    for (size_t i = 0; i < b->nids; i++)
        free(b->ids[i]);
    free(b->entries);
    free(b->ids);
    free(b);
}

static void poll_later(struct archive *a, double after)
{
    ev_timer_stop(a->s->loop, &a->poll);
    ev_timer_set(&a->poll, after, 0);
    ev_timer_start(a->s->loop, &a->poll);
}

/* On the pool thread. */
static void write_run(sl_pool_work *w)
{
    struct batch *b = w->data;
    b->rc =
        sl_adb_apply(b->a->db, b->entries, b->n, b->a->o.keep_done, &b->res, b->err, sizeof b->err);
}

static void ack_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    (void)rc, (void)priv;
    const char *err = sl_reply_error(reply);
    if (err) /* committed: a later delivery is skipped */
        sl_warn("archive XACK failed error=\"%s\" (the entries are archived; they will be read "
                "again and skipped)",
                err);
}

static void write_done(sl_pool_work *w, int status)
{
    struct batch *b = w->data;
    struct archive *a = b->a;
    a->busy = 0;
    if (status || b->rc) {
        a->stats.write_errors++;
        sl_warn("archive write failed entries=%zu error=\"%s\" (not acknowledged: read again in 1 "
                "s)",
                b->n, status ? "pool stopped" : b->err);
        a->pending = 1;
        if (!a->s->stopping)
            poll_later(a, 1.0);
        batch_free(b);
        return;
    }
    a->stats.entries += (unsigned long long)b->res.entries;
    a->stats.duplicates += (unsigned long long)b->res.skipped;
    a->stats.written += (unsigned long long)b->res.ends;
    a->stats.rows += (unsigned long long)b->res.rows;
    if (b->res.bad)
        sl_warn("archive skipped malformed event lines count=%lld", b->res.bad);
    if (b->res.skipped)
        sl_info("archive skipped entries already archived count=%lld (delivered again after a "
                "failover)",
                b->res.skipped);
    if (!a->s->stopping && b->nids) {
        size_t argc = 3 + b->nids;
        const char **argv = sl_malloc(argc * sizeof *argv);
        argv[0] = "XACK", argv[1] = a->key, argv[2] = GROUP;
        for (size_t i = 0; i < b->nids; i++)
            argv[3 + i] = b->ids[i];
        sl_rconn_command(a->s->redis, ack_cb, a, (int)argc, argv, NULL);
        free(argv);
    }
    batch_free(b);
    read_next(a);
}

static char *dup_reply(const redisReply *r)
{
    char *s = sl_malloc(r->len + 1);
    memcpy(s, r->str, r->len);
    s[r->len] = '\0';
    return s;
}

/* XREADGROUP's reply: nil, or [[key, [[id, [field, value, ...] or nil], ...]]]. */
static void read_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct archive *a = priv;
    if (!rc)
        return;
    a->busy = 0;
    const char *err = sl_reply_error(reply);
    if (!reply || err) {
        if (err && !strncmp(err, "NOGROUP", 7))
            a->group_ok = 0;
        else if (err)
            sl_warn("archive read failed error=\"%s\"", err);
        poll_later(a, 1.0);
        return;
    }
    redisReply *list = NULL;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2)
        list = reply->element[0]->element[1];
    if (!list || list->type != REDIS_REPLY_ARRAY || !list->elements) {
        if (a->pending) { /* the old leader's pending entries are all done */
            a->pending = 0;
            read_next(a);
        } else {
            poll_later(a, 0.1);
        }
        return;
    }
    struct batch *b = sl_calloc(1, sizeof *b);
    b->a = a;
    b->entries = sl_calloc(list->elements, sizeof *b->entries);
    b->ids = sl_calloc(list->elements, sizeof *b->ids);
    for (size_t i = 0; i < list->elements; i++) {
        redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        b->ids[b->nids++] = dup_reply(e->element[0]);
        redisReply *f = e->element[1];
        if (f->type != REDIS_REPLY_ARRAY) { /* pending, but trimmed from the stream */
            a->stats.lost++;
            sl_warn("archive: event entry %s was trimmed before it was archived (lost)",
                    e->element[0]->str);
            continue;
        }
        const redisReply *q = NULL, *lines = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const char *name = f->element[k]->str;
            if (!strcmp(name, "q"))
                q = f->element[k + 1];
            else if (!strcmp(name, "e"))
                lines = f->element[k + 1];
        }
        if (!q || !lines || q->type != REDIS_REPLY_STRING || lines->type != REDIS_REPLY_STRING)
            continue;
        sl_adb_entry *en = &b->entries[b->n++];
        en->id = b->ids[b->nids - 1];
        en->queue = dup_reply(q);
        en->lines = dup_reply(lines);
    }
    snprintf(a->last_delivered, sizeof a->last_delivered, "%s",
             b->nids ? b->ids[b->nids - 1] : a->last_delivered);
    a->busy = 1;
    b->work.data = b;
    if (sl_pool_submit(a->pool, &b->work, write_run, write_done)) {
        a->busy = 0;
        batch_free(b);
        poll_later(a, 1.0);
    }
}

static void group_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct archive *a = priv;
    if (!rc)
        return;
    a->busy = 0;
    const char *err = sl_reply_error(reply);
    if (reply && (!err || !strncmp(err, "BUSYGROUP", 9))) {
        a->group_ok = 1;
        read_next(a);
        return;
    }
    sl_warn("archive: XGROUP CREATE failed error=\"%s\"", err ? err : "no reply");
    poll_later(a, 1.0);
}

static void read_next(struct archive *a)
{
    if (!a->leading || a->busy || a->s->stopping || !a->db)
        return;
    ev_timer_stop(a->s->loop, &a->poll);
    if (!a->group_ok) {
        const char *argv[] = {"XGROUP", "CREATE", a->key, GROUP, "0", "MKSTREAM"};
        if (sl_rconn_command(a->s->redis, group_cb, a, 6, argv, NULL) == 0)
            a->busy = 1;
        else
            poll_later(a, 1.0);
        return;
    }
    char count[16];
    snprintf(count, sizeof count, "%d", a->o.batch);
    const char *argv[] = {"XREADGROUP", "GROUP", GROUP,
                          CONSUMER,     "COUNT", count,
                          "STREAMS",    a->key,  a->pending ? "0" : ">"};
    if (sl_rconn_command(a->s->redis, read_cb, a, 9, argv, NULL) == 0)
        a->busy = 1;
    else
        poll_later(a, 1.0);
}

static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    read_next(t->data);
}

static long long field_int(const redisReply *r)
{
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

static const redisReply *field(const redisReply *map, const char *name)
{
    for (size_t i = 0; map && map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && !strcmp(map->element[i]->str, name))
            return map->element[i + 1];
    return NULL;
}

/* "MS-SEQ" ids compared; "" is the smallest. */
static int id_cmp(const char *x, const char *y)
{
    unsigned long long xm = strtoull(x, NULL, 10), ym = strtoull(y, NULL, 10);
    const char *xd = strchr(x, '-'), *yd = strchr(y, '-');
    unsigned long long xs = xd ? strtoull(xd + 1, NULL, 10) : 0,
                       ys = yd ? strtoull(yd + 1, NULL, 10) : 0;
    return xm != ym ? (xm < ym ? -1 : 1) : xs != ys ? (xs < ys ? -1 : 1) : 0;
}

/* XINFO STREAM, then XINFO GROUPS (sent together): lengths, lag, loss. */
static void check_reply(struct archive *a, const redisReply *groups);

static void stream_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct archive *a = priv;
    if (!rc)
        return;
    a->st_ok = reply && reply->type == REDIS_REPLY_ARRAY;
    a->st_first[0] = '\0';
    if (!a->st_ok) { /* no stream yet */
        a->st_length = a->st_added = 0;
        return;
    }
    a->st_length = field_int(field(reply, "length"));
    a->st_added = field_int(field(reply, "entries-added"));
    const redisReply *first = field(reply, "first-entry");
    if (first && first->type == REDIS_REPLY_ARRAY && first->elements >= 1 &&
        first->element[0]->type == REDIS_REPLY_STRING)
        snprintf(a->st_first, sizeof a->st_first, "%s", first->element[0]->str);
}

static void check_cb(sl_rconn *rc, redisReply *reply, void *priv)
{
    struct archive *a = priv;
    if (!rc)
        return;
    a->checking = 0;
    check_reply(a, reply);
    read_next(a); /* the first read waits for the first check (a loss is seen before it) */
}

static void check_reply(struct archive *a, const redisReply *groups)
{
    if (!groups)
        return;
    if (!a->st_ok) { /* no stream yet */
        a->stats.events_length = 0;
        return;
    }
    a->stats.events_length = a->st_length;
    long long added = a->st_added;
    const redisReply *g = NULL;
    for (size_t i = 0; groups->type == REDIS_REPLY_ARRAY && i < groups->elements; i++) {
        const redisReply *name = field(groups->element[i], "name");
        if (name && name->type == REDIS_REPLY_STRING && !strcmp(name->str, GROUP))
            g = groups->element[i];
    }
    /* no group yet: nothing read, and every entry trimmed is lost to an
     * archive that is to be */
    const redisReply *lag = field(g, "lag"), *read = field(g, "entries-read"),
                     *delivered = field(g, "last-delivered-id");
    const char *last = delivered && delivered->type == REDIS_REPLY_STRING ? delivered->str : "0-0";
    if (!g)
        a->stats.lag_events = -1;
    else if (lag && lag->type == REDIS_REPLY_INTEGER)
        a->stats.lag_events = lag->integer;
    else if (read && read->type == REDIS_REPLY_INTEGER && added >= 0)
        a->stats.lag_events = added - read->integer;
    else
        a->stats.lag_events = added;
    /* The stream trimmed past what the group was given: every entry left
     * is unread, every entry the group read is gone, and what it will never
     * read is what was added, less what it read, less what is left (MAXLEN
     * trimming leaves max-deleted-entry-id alone: the first entry tells). */
    long long nread =
        read && read->type == REDIS_REPLY_INTEGER ? read->integer : (!strcmp(last, "0-0") ? 0 : -1);
    if (a->db && a->st_first[0] && id_cmp(a->st_first, last) > 0 && nread >= 0 && added >= 0) {
        long long gone = added - nread - a->stats.events_length;
        if (gone > a->stats.lost_seen) {
            sl_warn("archive: the events stream was trimmed past the archive group's position "
                    "(first-entry=%s last-delivered-id=%s): %lld entries lost to the archive; "
                    "raise --events-cap, or keep an archiving scheduler running",
                    a->st_first, last, gone - a->stats.lost_seen);
            a->stats.lost += (unsigned long long)(gone - a->stats.lost_seen);
            a->stats.lost_seen = gone;
        }
    }
}

static void check_send(struct archive *a)
{
    if (a->checking || !a->leading || !sl_rconn_is_up(a->s->redis))
        return;
    const char *info[] = {"XINFO", "STREAM", a->key};
    const char *groups[] = {"XINFO", "GROUPS", a->key};
    if (sl_rconn_command(a->s->redis, stream_cb, a, 3, info, NULL))
        return;
    if (sl_rconn_command(a->s->redis, check_cb, a, 3, groups, NULL) == 0)
        a->checking = 1;
}

static void check_cb_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    check_send(t->data);
}

static void expire_run(sl_pool_work *w)
{
    struct archive *a = w->data;
    char err[300];
    if (sl_adb_expire(a->db, sl_realtime_us() / 1000, a->o.done_ms, a->o.failed_ms, a->o.rollup_ms,
                      err, sizeof err))
        sl_warn("archive retention failed error=\"%s\"", err);
}

static void expire_done(sl_pool_work *w, int status)
{
    (void)status;
    struct archive *a = w->data;
    a->expiring = 0;
}

static void expire_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    struct archive *a = t->data;
    if (a->expiring || !a->leading)
        return;
    a->expiry.data = a;
    if (sl_pool_submit(a->pool, &a->expiry, expire_run, expire_done) == 0)
        a->expiring = 1;
}

int archive_init(sched *s, const struct archive_options *o, char *err, size_t errlen)
{
    struct archive *a = sl_calloc(1, sizeof *a);
    s->archive = a;
    a->s = s;
    a->o = *o;
    a->pending = 1;
    a->stats.events_length = -1;
    a->stats.lag_events = -1;
    a->stats.events_cap = s->events_cap;
    sl_events_key(a->key, s->prefix);
    ev_init(&a->poll, poll_cb);
    a->poll.data = a;
    ev_timer_init(&a->check, check_cb_timer, 0.5, 2.0);
    a->check.data = a;
    ev_timer_init(&a->expire, expire_cb, 0, 60.0);
    a->expire.data = a;
    if (!o->path)
        return 0;
    char why[400];
    a->db = sl_adb_open(o->path, 1, why, sizeof why);
    if (!a->db) {
        snprintf(err, errlen, "--archive %s: %s", o->path, why);
        return -1;
    }
    char cap[24];
    snprintf(cap, sizeof cap, "%lld", s->events_cap);
    sl_adb_meta_set(a->db, "history", o->keep_done ? "all" : "failures");
    sl_adb_meta_set(a->db, "events_cap", cap);
    a->pool = sl_pool_new(s->loop, 1);
    if (!a->pool) {
        snprintf(err, errlen, "--archive %s: cannot start the writer thread", o->path);
        return -1;
    }
    return 0;
}

void archive_leading(sched *s, int leading)
{
    struct archive *a = s->archive;
    if (!a || a->leading == leading)
        return;
    a->leading = leading;
    if (leading) {
        a->pending = 1; /* the old leader's unacknowledged entries first */
        ev_timer_again(s->loop, &a->check);
        if (a->db) {
            sl_info("archive: leading, archiving events into %s", a->o.path);
            ev_timer_again(s->loop, &a->expire);
            check_send(a);      /* then the first read */
            poll_later(a, 1.0); /* or without it, if it cannot be sent */
        }
    } else {
        ev_timer_stop(s->loop, &a->poll);
        ev_timer_stop(s->loop, &a->check);
        ev_timer_stop(s->loop, &a->expire);
        if (a->db)
            sl_info("archive: not leading, archiving stopped");
    }
}

void archive_deinit(sched *s)
{
    struct archive *a = s->archive;
    if (!a)
        return;
    ev_timer_stop(s->loop, &a->poll);
    ev_timer_stop(s->loop, &a->check);
    ev_timer_stop(s->loop, &a->expire);
    sl_pool_free(a->pool);
    sl_adb_close(a->db);
    free(a);
    s->archive = NULL;
}

const archive_stats *archive_get_stats(const sched *s)
{
    return s->archive ? &s->archive->stats : NULL;
}

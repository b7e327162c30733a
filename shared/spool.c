/* spool.c — see spool.h. The depth (rows, bytes) lives in a one-row table
 * kept by triggers, so every process sharing the file sees the same figure
 * and a put checks the bound without summing the table. A put checks and
 * inserts inside one BEGIN IMMEDIATE transaction: two writers cannot both
 * take the last free bytes. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

enum { BUSY_MS = 10000 };

struct sl_spool {
    sqlite3 *db;
    sqlite3_stmt *insert, *peek, *del, *depth, *begin, *commit, *rollback;
    long long max_bytes;
    int lock_fd; /* -1, or the descriptor holding the flush lock */
    char *path;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    " rowid INTEGER PRIMARY KEY AUTOINCREMENT,"
    " queue TEXT NOT NULL, id TEXT NOT NULL, idem TEXT,"
    " priority INTEGER NOT NULL, delay_ms INTEGER NOT NULL, run_at_ms INTEGER NOT NULL,"
    " spooled_ms INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS depth (one INTEGER PRIMARY KEY CHECK (one = 1),"
    " jobs INTEGER NOT NULL, bytes INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO depth VALUES (1, 0, 0);"
    "CREATE TRIGGER IF NOT EXISTS jobs_in AFTER INSERT ON jobs BEGIN"
    " UPDATE depth SET jobs = jobs + 1, bytes = bytes + new.size; END;"
    "CREATE TRIGGER IF NOT EXISTS jobs_out AFTER DELETE ON jobs BEGIN"
    " UPDATE depth SET jobs = jobs - 1, bytes = bytes - old.size; END;";

static int fail(sl_spool *s, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "spool %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    return SL_EIO;
}

static int prepare(sl_spool *s, sqlite3_stmt **st, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return fail(s, err, errlen, "prepare");
    return 0;
}

sl_spool *sl_spool_open(const char *path, long long max_bytes, char *err, size_t errlen)
{
    /* created private first: SQLite gives the -wal and -shm files the
     * database's mode, and payloads are nobody else's business. Only a file
     * we made is closed here: closing any descriptor of a file drops the
     * POSIX locks SQLite holds on it in this process. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    else if (errno != EEXIST) {
        snprintf(err, errlen, "spool %s: cannot create: %s", path, strerror(errno));
        return NULL;
    }
    sl_spool *s = sl_calloc(1, sizeof *s);
    s->path = sl_strdup(path);
    s->max_bytes = max_bytes;
    s->lock_fd = -1;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        fail(s, err, errlen, "open");
        goto bad;
    }
    sqlite3_busy_timeout(s->db, BUSY_MS);
    char *msg = NULL;
    /* journal_mode answers a row: exec ignores it. WAL survives a crash
     * with every committed transaction when synchronous is FULL. */
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "PRAGMA foreign_keys=OFF;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "spool %s: %s", path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto bad;
    }
    if (prepare(s, &s->insert,
                "INSERT INTO jobs (queue, id, idem, priority, delay_ms, run_at_ms, spooled_ms,"
                " size, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                err, errlen) ||
        prepare(s, &s->peek,
                "SELECT rowid, queue, id, idem, priority, delay_ms, run_at_ms, spooled_ms, body"
                " FROM jobs WHERE rowid > ? ORDER BY rowid LIMIT ?",
                err, errlen) ||
        prepare(s, &s->del, "DELETE FROM jobs WHERE rowid = ?", err, errlen) ||
        prepare(s, &s->depth,
                "SELECT jobs, bytes, (SELECT spooled_ms FROM jobs ORDER BY rowid LIMIT 1)"
                " FROM depth",
                err, errlen) ||
        prepare(s, &s->begin, "BEGIN IMMEDIATE", err, errlen) ||
        prepare(s, &s->commit, "COMMIT", err, errlen) ||
        prepare(s, &s->rollback, "ROLLBACK", err, errlen))
        goto bad;
    return s;
bad:
    sl_spool_close(s);
    return NULL;
}

void sl_spool_close(sl_spool *s)
{
    if (!s)
        return;
    sqlite3_stmt *st[] = {s->insert, s->peek, s->del, s->depth, s->begin, s->commit, s->rollback};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        sqlite3_finalize(st[i]);
    sqlite3_close(s->db);
    sl_spool_flush_unlock(s);
    free(s->path);
    free(s);
}

const char *sl_spool_path(const sl_spool *s)
{
    return s->path;
}

/* Runs a statement that returns no row. */
static int step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void rollback(sl_spool *s)
{
    if (!sqlite3_get_autocommit(s->db))
        step(s->rollback);
}

static size_t len0(const char *s)
{
    return s ? strlen(s) : 0;
}

/* What a job counts against max_bytes. A NULL queue or id is refused by
 * the table's NOT NULL, which rolls the whole put back. */
static long long job_size(const sl_spool_job *j)
{
    return (long long)(j->len + len0(j->queue) + len0(j->id) + len0(j->idempotency_key));
}

/* Reads the depth row (inside or outside a transaction). */
static int read_depth(sl_spool *s, sl_spool_depth *d)
{
    int rc = sqlite3_step(s->depth);
    if (rc == SQLITE_ROW) {
        d->jobs = sqlite3_column_int64(s->depth, 0);
        d->bytes = sqlite3_column_int64(s->depth, 1);
        d->oldest_ms = sqlite3_column_int64(s->depth, 2);
        d->max_bytes = s->max_bytes;
    }
    sqlite3_reset(s->depth);
    return rc == SQLITE_ROW ? 0 : -1;
}

int sl_spool_put(sl_spool *s, const sl_spool_job *jobs, int n, char *err, size_t errlen)
{
    if (n <= 0)
        return 0;
    long long add = 0;
    for (int i = 0; i < n; i++)
        add += job_size(&jobs[i]);
    if (step(s->begin))
        return fail(s, err, errlen, "begin");
    sl_spool_depth d;
    if (read_depth(s, &d)) {
        fail(s, err, errlen, "read depth");
        rollback(s);
        return SL_EIO;
    }
    if (d.bytes + add > s->max_bytes) {
        rollback(s);
        snprintf(err, errlen,
                 "spool %s is full: it holds %lld job%s, %lld bytes; %d more job%s (%lld bytes) "
                 "would pass its limit of %lld bytes",
                 s->path, d.jobs, d.jobs == 1 ? "" : "s", d.bytes, n, n == 1 ? "" : "s", add,
                 s->max_bytes);
        return SL_ETOOBIG;
    }
    long long now = sl_now_ms();
    for (int i = 0; i < n; i++) {
        const sl_spool_job *j = &jobs[i];
        sqlite3_stmt *st = s->insert;
        sqlite3_bind_text(st, 1, j->queue, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, j->id, -1, SQLITE_STATIC);
        if (j->idempotency_key)
            sqlite3_bind_text(st, 3, j->idempotency_key, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        sqlite3_bind_int(st, 4, j->priority);
        sqlite3_bind_int64(st, 5, j->delay_ms);
        sqlite3_bind_int64(st, 6, j->run_at_ms);
        sqlite3_bind_int64(st, 7, now);
        sqlite3_bind_int64(st, 8, job_size(j));
        sqlite3_bind_blob64(st, 9, j->body, j->len, SQLITE_STATIC);
        int rc = step(st);
        sqlite3_clear_bindings(st);
        if (rc) {
            fail(s, err, errlen, "insert");
            rollback(s);
            return SL_EIO;
        }
    }
    if (step(s->commit)) {
        fail(s, err, errlen, "commit");
        rollback(s);
        return SL_EIO;
    }
    return 0;
}

void sl_spool_rows_deinit(sl_spool_rows *rows)
{
    free(rows->jobs);
    sl_buf_deinit(&rows->arena);
    memset(rows, 0, sizeof *rows);
}

/* Appends column COL's bytes and a NUL to the arena; returns the offset,
 * or -1 for NULL. */
static long long keep(sl_buf *a, sqlite3_stmt *st, int col, size_t *len)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return -1;
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    long long at = (long long)a->len;
    sl_buf_append(a, p ? p : "", n);
    sl_buf_append(a, "", 1);
    if (len)
        *len = n;
    return at;
}

int sl_spool_peek(sl_spool *s, long long after_rowid, int max, sl_spool_rows *out, char *err,
                  size_t errlen)
{
    out->n = 0;
    sl_buf_reset(&out->arena);
    /* offsets first: the arena moves as it grows */
    struct offs {
        long long queue, id, idem, body;
    } *o = NULL;
    sqlite3_stmt *st = s->peek;
    sqlite3_bind_int64(st, 1, after_rowid);
    sqlite3_bind_int(st, 2, max);
    int rc, ocap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 256;
            out->jobs = sl_realloc(out->jobs, out->cap * sizeof *out->jobs);
        }
        if (out->n == ocap) {
            ocap = out->cap;
            o = sl_realloc(o, (size_t)ocap * sizeof *o);
        }
        sl_spool_job *j = &out->jobs[out->n];
        struct offs *f = &o[out->n];
        memset(j, 0, sizeof *j);
        j->rowid = sqlite3_column_int64(st, 0);
        f->queue = keep(&out->arena, st, 1, NULL);
        f->id = keep(&out->arena, st, 2, NULL);
        f->idem = keep(&out->arena, st, 3, NULL);
        j->priority = sqlite3_column_int(st, 4);
        j->delay_ms = sqlite3_column_int64(st, 5);
        j->run_at_ms = sqlite3_column_int64(st, 6);
        j->spooled_ms = sqlite3_column_int64(st, 7);
        f->body = keep(&out->arena, st, 8, &j->len);
        out->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        free(o);
        out->n = 0;
        return fail(s, err, errlen, "read");
    }
    for (int i = 0; i < out->n; i++) {
        sl_spool_job *j = &out->jobs[i];
        j->queue = out->arena.data + o[i].queue;
        j->id = out->arena.data + o[i].id;
        j->idempotency_key = o[i].idem < 0 ? NULL : out->arena.data + o[i].idem;
        j->body = out->arena.data + o[i].body;
    }
    free(o);
    return out->n;
}

int sl_spool_delete(sl_spool *s, const long long *rowids, int n, char *err, size_t errlen)
{
    if (n <= 0)
        return 0;
    if (step(s->begin))
        return fail(s, err, errlen, "begin");
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int64(s->del, 1, rowids[i]);
        if (step(s->del)) {
            fail(s, err, errlen, "delete");
            rollback(s);
            return SL_EIO;
        }
    }
    if (step(s->commit)) {
        fail(s, err, errlen, "commit");
        rollback(s);
        return SL_EIO;
    }
    return 0;
}

int sl_spool_stat(sl_spool *s, sl_spool_depth *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (read_depth(s, d))
        return fail(s, err, errlen, "read depth");
    return 0;
}

int sl_spool_flush_lock(sl_spool *s)
{
    if (s->lock_fd >= 0)
        return 0;
    /* a file of its own: closing a descriptor of the database would drop
     * the POSIX locks SQLite holds on it */
    char lock[4096];
    snprintf(lock, sizeof lock, "%s-flush", s->path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return SL_EIO;
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        close(fd);
        return e == EWOULDBLOCK ? SL_ESTATE : SL_EIO;
    }
    s->lock_fd = fd;
    return 0;
}

void sl_spool_flush_unlock(sl_spool *s)
{
    if (s->lock_fd >= 0) {
        close(s->lock_fd);
        s->lock_fd = -1;
    }
}

/* archive.h — the leading scheduler's archiver: PREFIX:events into the
 * SQLite archive (archive_db.h), and the numbers it exposes. */
#ifndef SL_SCHED_ARCHIVE_H
#define SL_SCHED_ARCHIVE_H

#include <stddef.h>

typedef struct sched sched;

/* What a scrape of the scheduler shows of the events and the archive
 * (sluice_events_length, sluice_events_cap, sluice_archive_lag_events,
 * sluice_archive_written_total). Lengths and lag are those of the last
 * check (every 2 s, by the leader); -1 until known. */
typedef struct archive_stats {
    long long events_length;         /* XLEN PREFIX:events */
    long long events_cap;            /* --events-cap */
    long long lag_events;            /* entries not yet read by the archive group; -1: no group */
    unsigned long long written;      /* job ends archived (rows and rollup counts) */
    unsigned long long rows;         /* job_ends rows written */
    unsigned long long entries;      /* stream entries applied */
    unsigned long long duplicates;   /* entries delivered again and skipped (failover) */
    unsigned long long write_errors; /* batches that failed to commit (retried) */
    unsigned long long lost;         /* entries trimmed before the archive read them */
    long long lost_seen;             /* archive.c: the loss last computed */
} archive_stats;

struct archive_options {
    const char *path;    /* NULL: no archive */
    int keep_done;       /* --history all */
    long long done_ms;   /* retention of done rows */
    long long failed_ms; /* of failure rows */
    long long rollup_ms; /* of rollups */
    int batch;           /* most entries per read */
};

/* Opens the archive (exits the start-up with a message naming --archive on
 * failure: returns -1 with ERR). With no path, only the stats are kept. */
int archive_init(sched *s, const struct archive_options *o, char *err, size_t errlen);
/* Leadership came or went: the archiver reads only while leading. */
void archive_leading(sched *s, int leading);
/* Once the loop has ended: waits for a write in flight, closes. */
void archive_deinit(sched *s);
/* The numbers, for the metrics endpoint. */
const archive_stats *archive_get_stats(const sched *s);

#endif

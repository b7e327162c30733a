/* events.h — the job-end events stream, PREFIX:events (a Redis STREAM,
 * capped with XADD MAXLEN ~ CAP). ack.lua, fail.lua, reclaim.lua, cancel.lua
 * and claim.lua append one entry per call that ended jobs, inside the same
 * script as the state change, so that no end is lost between the two:
 *
 *   XADD PREFIX:events MAXLEN ~ CAP * q QUEUE e LINES
 *
 * LINES holds one line per ended job, each ending in "\n", eight fields
 * separated by tabs:
 *
 *   OUTCOME ID TYPE ATTEMPTS ENQUEUED_MS STARTED_MS RATE_LIMITED ERROR
 *
 * OUTCOME is done, retried, dead, cancelled, or deferred (a rate limit
 * asked for a long wait: no attempt used, not an end; counted as
 * rate_limited in the archive's rollups). ATTEMPTS counts the failed runs
 * (the envelope's "attempts"); ENQUEUED_MS is the job's created_ms;
 * STARTED_MS the Redis time of the claim of its last run; either is empty
 * when unknown. RATE_LIMITED: the 429s its last run was answered (and
 * waited out, no attempt used); empty is 0. ERROR is the last error (tabs and newlines turned into
 * spaces), empty for done. The entry's id is the Redis time of the end:
 * FINISHED_MS is its first part. One entry carries every end of one
 * script call, so the per-job cost is a line of text, not a command. */
#ifndef SL_EVENTS_H
#define SL_EVENTS_H

#include <stdint.h>

#include "job.h"
#include "util.h"

/* Entries kept when --events-cap / SLUICE_EVENTS_CAP is not given. */
#define SL_EVENTS_CAP_DEFAULT 10000
#define SL_EVENTS_CAP_DEFAULT_STR "10000"

/* SLUICE_EVENTS_CAP when it is a number >= 0, else the default: the cap
 * of the programs with no --events-cap (sluice-ctl, the intake: their
 * cancels). */
long long sl_events_cap_env(void);

/* The stream's key: PREFIX:events (SL_KEY_MAX bytes). */
void sl_events_key(char *out, const char *prefix);

/* Appends the line of one end to OUT. JOB may be NULL (a body that could
 * not be parsed): ID and ERROR are all there is. STARTED_MS <= 0: unknown.
 * RATE_LIMITED: 429s answered to the run. */
void sl_events_line(sl_buf *out, const char *outcome, const char *id, const sl_job *job,
                    int64_t started_ms, int rate_limited, const char *error);

/* One end, as sl_events_parse reads it: pointers into the parsed text's
 * copy (the caller's buffer, modified in place). */
typedef struct sl_event {
    const char *outcome, *id, *type, *error;
    int attempts;
    int rate_limited;
    int64_t enqueued_ms, started_ms; /* -1: unknown */
} sl_event;

/* Parses the next line of *TEXT (NUL-terminated, modified in place: tabs and
 * the newline become NULs) into EV and moves *TEXT past it. Returns 1 for a
 * line, 0 at the end, -1 for a malformed line (skipped; *TEXT moves past it). */
int sl_events_next(char **text, sl_event *ev);

#endif

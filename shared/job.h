/* job.h — the job envelope (DESIGN.md, "The job envelope"): parsing with
 * validation against schemas/envelope.json and the type's payload schema,
 * and the canonical JSON encoding stored at sluice:{Q}:job:ID. */
#ifndef SL_JOB_H
#define SL_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "util.h"

enum sl_priority { SL_PRIO_CRITICAL, SL_PRIO_HIGH, SL_PRIO_NORMAL, SL_PRIO_LOW, SL_PRIO_COUNT };

const char *sl_priority_name(int prio); /* "critical" .. "low" */
int sl_priority_parse(const char *s);   /* -1 when unknown */

#define SL_JOB_DEFAULT_MAX_ATTEMPTS 8
#define SL_JOB_DEFAULT_TIMEOUT_MS 30000
#define SL_JOB_DEFAULT_MAX_PAYLOAD 65536

typedef struct sl_job {
    char id[65];
    int id_chosen; /* the id came with the job, not from sl_job_complete */
    char type[65];
    char queue[65];
    int priority;       /* enum sl_priority */
    int max_attempts;   /* runs allowed in all, >= 1 */
    int attempts;       /* failed runs so far (written by Sluice) */
    int64_t timeout_ms; /* one run's limit */
    int64_t run_at_ms;  /* absolute start time, 0 = now */
    int64_t delay_ms;   /* relative start delay, from Redis time at enqueue */
    int64_t created_ms;
    char *idempotency_key; /* heap, or NULL */
    char *batch;           /* heap, or NULL */
    char *last_error;      /* heap, or NULL */
    cJSON *doc;            /* the parsed envelope; owns payload */
    const cJSON *payload;  /* the payload object inside doc */
    char *payload_json;    /* compact payload text, made on demand; heap */
    size_t payload_len;
} sl_job;

/* Sets the defaults of an empty job (priority normal, 8 attempts, 30 s). */
void sl_job_init(sl_job *job);
/* Frees what the job owns; the struct may be reused after sl_job_init. */
void sl_job_deinit(sl_job *job);

/* Parses TEXT (LEN bytes) into JOB (initialised by the call), validating the
 * envelope and the payload against schemas/TYPE.json (a type with no schema
 * is refused: "type: unknown job type ..."). MAX_PAYLOAD > 0
 * also bounds the payload's compact size. Returns 0, or SL_EINVAL /
 * SL_ETOOBIG with a message in ERR naming the field and the limit; on failure
 * JOB holds nothing that needs freeing. */
int sl_job_parse(sl_job *job, const char *text, size_t len, size_t max_payload, char *err,
                 size_t errlen);

/* The same for DOC, already parsed (strictly: jsoncheck.h): JOB takes DOC
 * over, on failure too (then DOC is freed). */
int sl_job_from_doc(sl_job *job, cJSON *doc, size_t max_payload, char *err, size_t errlen);

/* Validates an already-filled job's payload against its type's schema and
 * MAX_PAYLOAD (0 = unbounded). Same returns as sl_job_parse. */
int sl_job_check_payload(sl_job *job, size_t max_payload, char *err, size_t errlen);

/* Fills what a producer assigns: a new id when none, queue = type when
 * none, created_ms = now when 0. */
void sl_job_complete(sl_job *job);

/* Appends the canonical envelope (compact JSON, fixed field order, payload
 * last) to OUT. */
void sl_job_encode(sl_job *job, sl_buf *out);

/* The same with "result": RESULT (LEN bytes of JSON, written as they are)
 * before the payload: the envelope of a job done with a result. */
void sl_job_encode_result(sl_job *job, sl_buf *out, const char *result, size_t len);

/* 1 when ID is a job id: 1 to 64 bytes of A-Z a-z 0-9 _ - (schemas/envelope.json). */
int sl_job_id_valid(const char *id);

/* Appends the record kept for a job that is not a valid envelope (written
 * into Redis by hand, or damaged): {"id", "queue", "last_error": REASON,
 * "raw": the original text}, so `GET` shows both. RAW may be NULL (body gone). */
void sl_job_encode_broken(sl_buf *out, const char *id, const char *queue, const char *reason,
                          const char *raw, size_t raw_len);

/* Sets last_error to a copy of MSG (cut at 2,000 bytes). */
void sl_job_set_error(sl_job *job, const char *msg);

#endif

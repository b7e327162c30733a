/* job.c — see job.h. */
#include "job.h"
#include "schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prio_names[SL_PRIO_COUNT] = {"critical", "high", "normal", "low"};

const char *sl_priority_name(int prio)
{
    return prio >= 0 && prio < SL_PRIO_COUNT ? prio_names[prio] : "normal";
}

int sl_priority_parse(const char *s)
{
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        if (!strcmp(s, prio_names[p]))
            return p;
    return -1;
}

void sl_job_init(sl_job *job)
{
    memset(job, 0, sizeof *job);
    job->priority = SL_PRIO_NORMAL;
    job->max_attempts = SL_JOB_DEFAULT_MAX_ATTEMPTS;
    job->timeout_ms = SL_JOB_DEFAULT_TIMEOUT_MS;
}

void sl_job_deinit(sl_job *job)
{
    free(job->idempotency_key);
    free(job->batch);
    free(job->last_error);
    free(job->payload_json);
    cJSON_Delete(job->doc);
    sl_job_init(job);
}

static const char *str_field(const cJSON *doc, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t int_field(const cJSON *doc, const char *name, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

int sl_job_check_payload(sl_job *job, size_t max_payload, char *err, size_t errlen)
{
    const cJSON *schema = sl_schema_get(job->type);
    /* "envelope" names the envelope's own schema, not a payload's; a type
     * with no schema is no Sluice job type (FCALL sluice_enqueue says the
     * same): refused here rather than dead at the worker */
    if (!schema || !strcmp(job->type, "envelope")) {
        char known[256];
        sl_schema_job_types(known, sizeof known);
        snprintf(err, errlen, "type: unknown job type \"%s\" (known: %s)", job->type, known);
        return SL_EINVAL;
    }
    if (sl_schema_validate(schema, job->payload, "payload", err, errlen))
        return SL_EINVAL;
    if (max_payload) {
        if (!job->payload_json) {
            job->payload_json = cJSON_PrintUnformatted(job->payload);
            if (!job->payload_json)
                abort(); /* cJSON fails only when out of memory */
            job->payload_len = strlen(job->payload_json);
        }
        if (job->payload_len > max_payload) {
            snprintf(err, errlen, "payload: %zu bytes, the limit is %zu", job->payload_len,
                     max_payload);
            return SL_ETOOBIG;
        }
    }
    return 0;
}

int sl_job_parse(sl_job *job, const char *text, size_t len, size_t max_payload, char *err,
                 size_t errlen)
{
    sl_job_init(job);
    if (max_payload && len > max_payload + 8192) {
        snprintf(err, errlen, "payload: the job is %zu bytes, the payload limit is %zu", len,
                 max_payload);
        return SL_ETOOBIG;
    }
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!doc) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + len ? (long)(at - text) : -1;
        snprintf(err, errlen, "not valid JSON (at byte %ld)", off);
        return SL_EINVAL;
    }
    return sl_job_from_doc(job, doc, max_payload, err, errlen);
}

int sl_job_from_doc(sl_job *job, cJSON *doc, size_t max_payload, char *err, size_t errlen)
{
    sl_job_init(job);
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "the job must be a JSON object");
        cJSON_Delete(doc);
        return SL_EINVAL;
    }
    if (sl_schema_validate(sl_schema_get("envelope"), doc, NULL, err, errlen)) {
        cJSON_Delete(doc);
        return SL_EINVAL;
    }
    /* The schema has checked types, lengths and ranges: what is read below
     * fits the fields it goes into. */
    job->doc = doc;
    job->payload = cJSON_GetObjectItemCaseSensitive(doc, "payload");
    const char *s;
    if ((s = str_field(doc, "id"))) {
        sl_strlcpy(job->id, s, sizeof job->id);
        job->id_chosen = 1;
    }
    sl_strlcpy(job->type, str_field(doc, "type"), sizeof job->type);
    if ((s = str_field(doc, "queue")))
        sl_strlcpy(job->queue, s, sizeof job->queue);
    if ((s = str_field(doc, "priority")))
        job->priority = sl_priority_parse(s);
    job->max_attempts = (int)int_field(doc, "max_attempts", SL_JOB_DEFAULT_MAX_ATTEMPTS);
    job->attempts = (int)int_field(doc, "attempts", 0);
    job->timeout_ms = int_field(doc, "timeout_ms", SL_JOB_DEFAULT_TIMEOUT_MS);
    job->run_at_ms = int_field(doc, "run_at_ms", 0);
    job->delay_ms = int_field(doc, "delay_ms", 0);
    job->created_ms = int_field(doc, "created_ms", 0);
    if ((s = str_field(doc, "idempotency_key")))
        job->idempotency_key = sl_strdup(s);
    if ((s = str_field(doc, "batch")))
        job->batch = sl_strdup(s);
    if ((s = str_field(doc, "last_error")))
        job->last_error = sl_strdup(s);
    int rc = sl_job_check_payload(job, max_payload, err, errlen);
    if (rc)
        sl_job_deinit(job);
    return rc;
}

void sl_job_complete(sl_job *job)
{
    if (!job->id[0])
        sl_id_new(job->id);
    if (!job->queue[0])
        sl_strlcpy(job->queue, job->type, sizeof job->queue);
    if (!job->created_ms)
        job->created_ms = sl_now_ms();
}

void sl_job_set_error(sl_job *job, const char *msg)
{
    free(job->last_error);
    size_t n = strlen(msg);
    job->last_error = sl_strndup(msg, n > 2000 ? 2000 : n);
}

static void put_str(sl_buf *b, const char *name, const char *v)
{
    sl_buf_printf(b, ",\"%s\":", name);
    sl_buf_json_str(b, v, strlen(v));
}

void sl_job_encode(sl_job *job, sl_buf *b)
{
    sl_job_encode_result(job, b, NULL, 0);
}

int sl_job_id_valid(const char *id)
{
    size_t n = strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-");
    return n >= 1 && n <= 64 && !id[n];
}

void sl_job_encode_result(sl_job *job, sl_buf *b, const char *result, size_t len)
{
    sl_buf_puts(b, "{\"id\":");
    sl_buf_json_str(b, job->id, strlen(job->id));
    put_str(b, "type", job->type);
    put_str(b, "queue", job->queue);
    put_str(b, "priority", sl_priority_name(job->priority));
    sl_buf_printf(b, ",\"max_attempts\":%d,\"timeout_ms\":%lld", job->max_attempts,
                  (long long)job->timeout_ms);
    if (job->run_at_ms)
        sl_buf_printf(b, ",\"run_at_ms\":%lld", (long long)job->run_at_ms);
    if (job->delay_ms)
        sl_buf_printf(b, ",\"delay_ms\":%lld", (long long)job->delay_ms);
    if (job->idempotency_key)
        put_str(b, "idempotency_key", job->idempotency_key);
    if (job->batch)
        put_str(b, "batch", job->batch);
    sl_buf_printf(b, ",\"created_ms\":%lld", (long long)job->created_ms);
    if (job->attempts)
        sl_buf_printf(b, ",\"attempts\":%d", job->attempts);
    if (job->last_error)
        put_str(b, "last_error", job->last_error);
    if (result) {
        sl_buf_puts(b, ",\"result\":");
        sl_buf_append(b, result, len);
    }
    sl_buf_puts(b, ",\"payload\":");
    if (!job->payload_json) {
        if (job->payload) {
            job->payload_json = cJSON_PrintUnformatted(job->payload);
            if (!job->payload_json)
                abort();
        } else {
            job->payload_json = sl_strdup("{}");
        }
        job->payload_len = strlen(job->payload_json);
    }
    sl_buf_append(b, job->payload_json, job->payload_len);
    sl_buf_puts(b, "}");
}

void sl_job_encode_broken(sl_buf *b, const char *id, const char *queue, const char *reason,
                          const char *raw, size_t raw_len)
{
    sl_buf_puts(b, "{\"id\":");
    sl_buf_json_str(b, id, strlen(id));
    put_str(b, "queue", queue);
    put_str(b, "last_error", reason);
    if (raw) {
        sl_buf_puts(b, ",\"raw\":");
        sl_buf_json_str(b, raw, raw_len);
    }
    sl_buf_puts(b, "}");
}

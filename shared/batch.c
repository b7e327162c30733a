/* batch.c — see batch.h. */
#include "batch.h"
#include "schema.h"

#include <stdio.h>
#include <string.h>

int sl_batch_check_id(const char *what, const char *id, char *err, size_t errlen)
{
    /* The envelope's own rule, so that an id accepted here is one a job can
     * carry: a minimal envelope with the id, validated. */
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "type", "noop");
    cJSON_AddObjectToObject(doc, "payload");
    cJSON_AddStringToObject(doc, "batch", id);
    char why[300];
    int rc = sl_schema_validate(sl_schema_get("envelope"), doc, NULL, why, sizeof why);
    cJSON_Delete(doc);
    if (!rc)
        return 0;
    /* why reads "batch: ..." */
    const char *rest = strncmp(why, "batch", 5) ? why : why + 5;
    snprintf(err, errlen, "%s%s", what, rest);
    return SL_EINVAL;
}

int sl_batch_callback_parse(sl_job *job, const char *text, size_t len, size_t max_payload,
                            char *err, size_t errlen)
{
    int rc = sl_job_parse(job, text, len, max_payload, err, errlen);
    if (rc)
        return rc;
    const char *bad = NULL;
    if (job->id_chosen)
        bad = "id: a callback gets a new id (its batch shows it)";
    else if (job->batch)
        bad = "batch: a callback cannot belong to a batch";
    else if (job->delay_ms)
        bad = "delay_ms: a callback runs when its batch completes; it cannot be delayed";
    else if (job->run_at_ms)
        bad = "run_at_ms: a callback runs when its batch completes; it cannot be scheduled";
    else if (job->idempotency_key)
        bad = "idempotency_key: a callback is enqueued once by its batch and takes no key";
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        sl_job_deinit(job);
        return SL_EINVAL;
    }
    sl_job_complete(job);
    return 0;
}

/* batch.h — batches (README, "Batches"): jobs submitted under one batch id
 * are counted once each as they end (done, or dead), and an optional
 * callback job is enqueued once when the batch is sealed and every job has
 * ended. The counting lives in the Lua scripts (lib_batch.lua, batch.lua,
 * and the scripts that move jobs); this module checks what a producer sends.
 * Pure: no I/O. */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <stddef.h>

#include "job.h"

/* Checks batch id ID with the envelope schema's rule for "batch" (1..64 of
 * A-Z a-z 0-9 _ . : -). Returns 0, or SL_EINVAL with a message in ERR that
 * starts with WHAT ("--batch") and names the rule. */
int sl_batch_check_id(const char *what, const char *id, char *err, size_t errlen);

/* Parses TEXT (LEN bytes) as a batch's callback job: an envelope checked as
 * sl_job_parse does (MAX_PAYLOAD likewise), which may not have what a job
 * enqueued by its batch cannot use (id: it gets a new one; batch; delay_ms;
 * run_at_ms; idempotency_key), then completed (id, queue, created_ms).
 * Returns 0, or SL_EINVAL / SL_ETOOBIG with ERR naming the field; on failure
 * JOB holds nothing that needs freeing. */
int sl_batch_callback_parse(sl_job *job, const char *text, size_t len, size_t max_payload,
                            char *err, size_t errlen);

#endif

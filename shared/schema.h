/* schema.h — validation of JSON documents against the schemas in schemas/.
 *
 * The schemas are JSON Schema (draft 2020-12) files compiled into the binary
 * (tools/embed.sh); this module interprets the subset Sluice's schemas use.
 * They are the one wire format: the producer validates before anything
 * reaches Redis, the worker validates again before a handler runs. */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* The parsed schema called NAME ("envelope", "noop", "sleep", ...: the file
 * name in schemas/ without ".json"), or NULL when there is none. Parsed once
 * on first use and kept for the life of the process; thread-safe after
 * sl_schema_init(). */
const cJSON *sl_schema_get(const char *name);

/* The job types: the payload schemas compiled in (every schema but
 * "envelope"), as "approval, fail, ..." in OUT (cut at OUTLEN). The
 * function library's SLUICE_TYPE_LIST is the same list (tools/funclib.sh). */
void sl_schema_job_types(char *out, size_t outlen);

/* Parses every embedded schema up front; aborts on a schema that does not
 * parse (a build defect). Call once at start-up, before threads. */
void sl_schema_init(void);

/* Validates DOC against SCHEMA. Returns 0 when valid; otherwise -1 with a
 * message in ERR naming the field by its path and the rule it broke, e.g.
 * "payload.ms: 5000000 is above the maximum 3600000" or
 * "priority: \"urgent\" is not one of critical, high, normal, low".
 * PATH_PREFIX, if not NULL, is put before field paths ("payload"). */
int sl_schema_validate(const cJSON *schema, const cJSON *doc, const char *path_prefix, char *err,
                       size_t errlen);

#endif

/* jsoncheck.h — a strict front check for JSON text, run before cJSON parses
 * it. cJSON is lenient and changes what it reads: it stops at the end of the
 * first value (`{...}{...}` keeps one job), cuts strings at \u0000, skips
 * control characters between tokens, stores invalid UTF-8, keeps the first
 * of two equal keys, reads 1e400 as null and rounds 9007199254740993. What
 * passes this check is one RFC 8259 JSON value that cJSON reads and prints
 * back with the same value; anything else is refused with the path of the
 * value and the byte offset where the problem is.
 *
 * Numbers: a number is accepted when the number cJSON prints for it (the
 * one stored) has exactly the decimal value written: 0.1, 1e20, 123.50 and
 * 2^53 pass; 1e400, 1e-400, 9007199254740993, 2^60 and digits beyond a
 * double's precision are refused (send big ids as strings).
 *
 * Pure: no I/O, no global state, no allocation unless an object holds more
 * than 128 keys at once; safe to call from any thread. */
#ifndef SL_JSONCHECK_H
#define SL_JSONCHECK_H

#include <stddef.h>

#define SL_JSONCHECK_MAX_DEPTH 128 /* objects and arrays nested deeper are refused */
#define SL_JSONCHECK_MAX_NUMBER 63 /* cJSON reads at most 63 characters of a number */

typedef struct sl_jsoncheck_error {
    size_t offset;    /* byte of the text where the problem is */
    char path[200];   /* "payload.items[3].name"; "" for the document itself */
    char reason[200]; /* "invalid UTF-8: overlong encoding of U+002F" */
} sl_jsoncheck_error;

/* Checks that TEXT (LEN bytes, NUL bytes included) is exactly one JSON value
 * with optional white space around it, and nothing cJSON would change.
 * Returns 0, or SL_EINVAL with the first problem in E (E may be NULL). */
int sl_jsoncheck(const char *text, size_t len, sl_jsoncheck_error *e);

/* Writes "PATH: REASON (at byte N)" into OUT: PATH is E's path under PREFIX
 * ("payload" for a payload given alone; NULL for none), or "(document)"
 * when both are empty. */
void sl_jsoncheck_format(const sl_jsoncheck_error *e, const char *prefix, char *out, size_t outlen);

#endif

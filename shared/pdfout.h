/* pdfout.h — a rendered PDF published into a directory, whole or not at all.
 * (The Discord and Telegram requests that carry a PDF are platform.h's, the
 * URL allow-list for HTTP PUT url_allow.h's, its temporary file
 * tmpfile.h's.)
 *
 * No loop here: this blocks (copying, fsync). Call it from a pool thread
 * (pool.h). */
#ifndef SL_PDFOUT_H
#define SL_PDFOUT_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* Copies SRC into directory DIR as NAME (schemas/pdf.json's "pdfpath":
 * "a.pdf", "reports/2026/a.pdf"), whole or not at all: written to a
 * temporary file at DIR's top level (TMP_PREFIX PID "-" ...), synced, then
 * renamed into place, replacing a file of that name. Missing directories
 * are made (0755); a symbolic link on the way is refused, so nothing is
 * written outside DIR. Returns 0, SL_EINVAL (a bad NAME), or SL_EIO with
 * the reason in ERR; on failure no temporary file is left. */
int sl_pdfout_publish(const char *src, const char *dir, const char *name, char *err, size_t errlen);

#define SL_PDFOUT_PART_PREFIX ".sluice-part-"

#endif

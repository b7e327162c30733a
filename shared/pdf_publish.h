/* pdf_publish.h — a rendered PDF published into a directory (the pdf job's
 * deliver.file, under --pdf-dir), whole or not at all. The PDF's other
 * ways out: the Discord and Telegram requests are platform.h's, the URL
 * allow-list for HTTP PUT is url_allow.h's; its temporary file while it is
 * made is tmpfile.h's.
 *
 * No loop here: this blocks (copying, fsync). Call it from a pool thread
 * (pool.h). */
#ifndef SL_PDF_PUBLISH_H
#define SL_PDF_PUBLISH_H

#include <stddef.h>

#include "util.h"

/* Copies SRC into directory DIR as NAME (schemas/pdf.json's "pdfpath":
 * "a.pdf", "reports/2026/a.pdf"), whole or not at all: written to a
 * temporary file at DIR's top level (SL_PDF_PART_PREFIX PID "-" N), synced,
 * then renamed into place, replacing a file of that name. Missing directories
 * are made (0755); a symbolic link on the way is refused, so nothing is
 * written outside DIR. Returns 0, SL_EINVAL (a bad NAME), or SL_EIO with
 * the reason in ERR; on failure no temporary file is left. */
int sl_pdf_publish(const char *src, const char *dir, const char *name, char *err, size_t errlen);

#define SL_PDF_PART_PREFIX ".sluice-part-"

#endif

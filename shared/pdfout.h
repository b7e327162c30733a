/* pdfout.h — where a rendered PDF may go, and the files it leaves on the way:
 * a file published into a directory, and temporary files named by the
 * process that owns them so that a crash leaves nothing for good. (The
 * Discord and Telegram requests that carry it are platform.h's, the URL
 * allow-list for HTTP PUT url_allow.h's.)
 *
 * No loop here. The file functions block (copying, fsync, directory scans):
 * call them from a pool thread (pool.h) or at start-up. */
#ifndef SL_PDFOUT_H
#define SL_PDFOUT_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

/* --- files --- */

/* Copies SRC into directory DIR as NAME (schemas/pdf.json's "pdfpath":
 * "a.pdf", "reports/2026/a.pdf"), whole or not at all: written to a
 * temporary file at DIR's top level (TMP_PREFIX PID "-" ...), synced, then
 * renamed into place, replacing a file of that name. Missing directories
 * are made (0755); a symbolic link on the way is refused, so nothing is
 * written outside DIR. Returns 0, SL_EINVAL (a bad NAME), or SL_EIO with
 * the reason in ERR; on failure no temporary file is left. */
int sl_pdfout_publish(const char *src, const char *dir, const char *name, char *err, size_t errlen);

#define SL_PDFOUT_PART_PREFIX ".sluice-part-"

/* A temporary file name in DIR for this process: DIR "/" PREFIX PID "-" TAG
 * "-" N SUFFIX, N counting up in the process. TAG: letters, digits, '-',
 * '_' (a job id). */
void sl_tmpfile_name(char *out, size_t outlen, const char *dir, const char *prefix, const char *tag,
                     const char *suffix);

/* Removes the files of DIR whose name is PREFIX PID "-"... when process PID
 * is not a running EXE (its /proc/PID/comm), or is this process (which has
 * made none yet at start-up). Returns the number removed, or SL_EIO with
 * the reason in ERR when DIR cannot be read. */
int sl_tmpfile_sweep(const char *dir, const char *prefix, const char *exe, char *err,
                     size_t errlen);

/* Makes DIR (and its parents) with MODE if missing; checks it is a
 * directory we can write. 0, or SL_EIO with the reason in ERR. */
int sl_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen);

#endif

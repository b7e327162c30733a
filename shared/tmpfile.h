/* tmpfile.h — temporary files named by the process that owns them (its pid
 * is in the name), so that the files of a process that crashed are found
 * and removed by the next one to start; and the directories they go in.
 *
 * No loop here: these block (directory scans). Call them from a pool thread
 * (pool.h) or at start-up. */
#ifndef SL_TMPFILE_H
#define SL_TMPFILE_H

#include <stddef.h>
#include <sys/types.h>

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

/* pdf_job.h — the `pdf` job (schemas/pdf.json): set-up at worker start-up.
 * The handler itself is handler_pdf (worker.h). */
#ifndef SL_WORKER_PDF_JOB_H
#define SL_WORKER_PDF_JOB_H

#include <stddef.h>

#include "pdf_render.h"
#include "../worker.h"

typedef struct pdf_opts {
    int threads;           /* render threads in this process */
    int renders;           /* the fleet-wide cap on renders at once (Redis semaphore) */
    const char *tmp_dir;   /* temporary files; made if missing, swept at start-up */
    const char *out_dir;   /* deliver.file goes under it; NULL: file delivery refused */
    const char *put_allow; /* URL prefixes, comma-separated; NULL: PUT refused */
    sl_pdf_opts render;    /* page and size limits, font */
} pdf_opts;

/* Makes and sweeps the temporary directory (files of dead workers go),
 * checks --pdf-dir, starts the render threads. O is copied. Returns 0, or
 * SL_EINVAL / SL_EIO with the setting to fix in ERR. Call after
 * pcall_init. */
int pdf_init(worker *w, const pdf_opts *o, char *err, size_t errlen);

/* Waits for renders running now, removes their files, stops the threads,
 * frees W's pdf state (worker.pdf). After the Redis connections are freed,
 * before pcall_deinit. */
void pdf_deinit(worker *w);

#endif

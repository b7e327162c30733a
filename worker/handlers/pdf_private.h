/* pdf_private.h — what pdf_job.c (a run: a place under the fleet-wide cap, the
 * render on a pool thread, the temporary file) and pdf_deliver.c (where the
 * PDF goes) share. */
#ifndef SL_WORKER_PDF_PRIVATE_H
#define SL_WORKER_PDF_PRIVATE_H

#include "../call.h"
#include "http.h"
#include "pdf_job.h"
#include "pool.h"

enum pdf_stage {
    PDF_WAITING,    /* in the queue for a place under the cap */
    PDF_ACQUIRING,  /* sem_acquire.lua in flight */
    PDF_RENDERING,  /* on the pool */
    PDF_DELIVERING, /* a platform call or a PUT in flight */
};

enum pdf_target { PDF_TO_DISCORD, PDF_TO_TELEGRAM, PDF_TO_FILE, PDF_TO_PUT };

typedef struct pdfjob pdfjob;

/* What the pdf jobs of one worker share (worker.pdf): made by pdf_init,
 * freed by pdf_deinit. */
typedef struct pdf_shared {
    worker *w;
    pdf_opts o;
    sl_pool *pool;
    char key[SL_KEY_MAX]; /* the semaphore */
    pdfjob *head, *tail;  /* waiting for a place */
    int acquiring;        /* a sem_acquire call in flight */
    int held;             /* places this process holds */
    int max_held;         /* at most this many: renders running or queued */
    unsigned seq;         /* holder names */
    int stopping;         /* pdf_deinit: Redis is gone */
    ev_timer retry;
} pdf_shared;

struct pdfjob {
    task *t;            /* NULL once the run is abandoned: whatever is in flight frees J */
    pdf_shared *shared; /* its worker's: outlives J */
    enum pdf_stage stage;
    enum pdf_target target;
    pdfjob *prev, *next; /* in the place queue, while waiting */
    int parked;          /* counted in worker.parked (waiting for a place) */
    int holds;           /* holds a place under the cap */
    char holder[200];    /* its member in the semaphore */
    long ttl_ms;         /* the place runs out after this, if never given back */
    sl_pool_work work;
    /* read by the pool thread while rendering, set before */
    cJSON *doc;     /* a copy of payload.document: the job may go meanwhile */
    char path[512]; /* the temporary file, "" before it is named */
    char file[320]; /* deliver.file.name */
    /* written by the pool thread, read after */
    int rc; /* sl_pdf_render's, or the publish's */
    char err[600];
    sl_pdf_info info;
    char *bytes; /* PUT: the PDF, read back on the pool thread */
    size_t nbytes;
    int64_t render_us;
    /* delivery */
    const sl_bot *bot;
    pcall *call;
    char user[24]; /* Discord DM recipient, "" if none */
    sl_http_req *req;
    int in_http;
};

/* pdf_job.c: the end of a run. Frees J (and its file); ERROR is copied. */
void pdf_finish(pdfjob *j, enum task_result r, const char *error);
/* The end of a run without an attempt: back to Redis in MS (task_defer); the
 * document is rendered again when the job runs again. Frees J. */
void pdf_defer(pdfjob *j, long ms, const char *why);

/* pdf_deliver.c */
/* Checks, before anything is rendered, that the job's target can be served
 * here (a bot, --pdf-dir, the allow-list); fills J's target. 0, or -1 with
 * the reason in ERR (the job is permanently failed). */
int pdf_deliver_check(pdfjob *j, char *err, size_t errlen);
/* Sends the rendered file of J where the job says; ends with pdf_finish. */
void pdf_deliver(pdfjob *j);
/* Stops a delivery in flight (no callback). */
void pdf_deliver_cancel(pdfjob *j);

#endif

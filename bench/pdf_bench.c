/* pdf_bench.c — the pdf test: --jobs one-page documents (a title, paragraphs in
 * Latin and Cyrillic, a small table, a footer), each rendered by a worker's
 * pool threads under the fleet-wide render cap and filed under a private
 * --pdf-dir, so that the figure is rendering and not a platform's latency.
 * Afterwards the temporary directory must be empty. */
#include "bench.h"

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *document =
    "{\"document\":{\"title\":\"Invoice 2026-0042\",\"subtitle\":\"Sluice benchmark\","
    "\"paragraphs\":[\"Thank you for your order. This document was rendered by a sluice-worker "
    "pool thread with pango and cairo, off the event loop, and filed under --pdf-dir.\","
    "\"Спасибо за заказ. Этот документ создан в пуле потоков, а не в цикле событий.\","
    "\"Payment is due within thirty days of the date above. Questions go to the address in "
    "the footer.\"],"
    "\"tables\":[{\"title\":\"Summary\",\"rows\":[[\"Customer\",\"ACME Ltd\"],[\"Items\",\"3\"],"
    "[\"Net\",\"120.00 EUR\"],[\"VAT\",\"24.00 EUR\"],[\"Total\",\"144.00 EUR\"]]}],"
    "\"footer\":{\"text\":\"billing@example.com\"}},"
    "\"deliver\":{\"file\":{\"name\":\"bench.pdf\"}}}";

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Entries in DIR, or -1 when it cannot be read. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

int test_pdf(bench *b)
{
    char root[] = "/tmp/sluice-bench-pdf.XXXXXX", err[512];
    if (!mkdtemp(root)) {
        bench_error(b, "mkdtemp: cannot make %s", root);
        return -1;
    }
    snprintf(b->pdf_dir, sizeof b->pdf_dir, "%s/out", root);
    snprintf(b->tmp_dir, sizeof b->tmp_dir, "%s/tmp", root);
    report_int(b, "pdf_threads", b->pdf_threads);
    jobmaker m;
    double rate = NAN, steady = NAN;
    int rc = -1;
    if (jobmaker_init(&m, b, "pdf", document, err, sizeof err))
        bench_error(b, "pdf job: %s", err);
    else
        rc = bulk_test(b, &m, "document", &rate, &steady);
    if (!rc) {
        char out[160];
        struct stat st;
        snprintf(out, sizeof out, "%s/bench.pdf", b->pdf_dir);
        report_int(b, "pdf_bytes", stat(out, &st) ? -1 : (long long)st.st_size);
        int left = count_entries(b->tmp_dir);
        report_int(b, "temp_files_left", left);
        if (left != 0) {
            bench_error(b, "%d temporary file(s) left in %s", left, b->tmp_dir);
            rc = -1;
        }
    }
    nftw(root, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* pdf_render.h — a document spec (the "document" object of schemas/pdf.json)
 * rendered to a PDF file with pango (text layout: wrapping, justification,
 * any script the fonts cover, right-to-left included) and cairo (the PDF).
 *
 * Pure and blocking: no loop, no Redis. It runs on a pool thread (pool.h),
 * never on the event loop. Thread-safe: each thread lays out text with its
 * own pango font map (pango_cairo_font_map_get_default() is per thread since
 * pango 1.32.6), and nothing here is shared between calls.
 *
 * The document: title, subtitle, paragraphs, then key-value tables, on
 * pages of page_size (A4, A5, letter, legal; portrait or landscape) within
 * margins_mm, with a footer ("Page 2 of 5" and a text of its own). Pages are
 * laid out first, so the footer knows the page count; paragraphs and table
 * rows break across pages between lines. */
#ifndef SL_PDF_RENDER_H
#define SL_PDF_RENDER_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Limits and settings; zero fields take the defaults. */
typedef struct sl_pdf_opts {
    int max_pages;           /* 0: 50 */
    size_t max_bytes;        /* the PDF file; 0: 10 MiB */
    size_t max_string_bytes; /* one text (a paragraph, a cell); 0: 65536 */
    size_t max_text_bytes;   /* all text together; 0: 4 MiB */
    const char *font;        /* font family; NULL: "DejaVu Sans" */
} sl_pdf_opts;

#define SL_PDF_MAX_PAGES 50
#define SL_PDF_MAX_BYTES (10u << 20)
#define SL_PDF_MAX_STRING_BYTES 65536
#define SL_PDF_MAX_TEXT_BYTES (4u << 20)

/* What was made. */
typedef struct sl_pdf_info {
    int pages;
    size_t bytes;
} sl_pdf_info;

/* Renders DOC (a cJSON object, valid against schemas/pdf.json's
 * "document"; anything else is refused with a reason, never trusted) into a
 * new file at PATH (created or truncated, mode 0600). Fills INFO when not
 * NULL. Returns 0; SL_EINVAL for a document that cannot be rendered
 * (wrong type, text not UTF-8); SL_ETOOBIG when a limit is passed; SL_EIO
 * when PATH cannot be written (errno's text in ERR). ERR names the field and
 * the limit: "document.paragraphs[3]: 120000 bytes, at most 65536", "the
 * document runs to 61 pages, at most 50 (max_pages)". PATH is created
 * before the work starts (a crash at any point leaves it for a sweep) and
 * removed on failure. */
int sl_pdf_render(const cJSON *doc, const char *path, const sl_pdf_opts *opts, sl_pdf_info *info,
                  char *err, size_t errlen);

/* Frees this thread's pango font map (the next render in the thread makes
 * it again). A thread that ends frees its own; this is for one that lives
 * on, such as a test's main thread. */
void sl_pdf_thread_cleanup(void);

/* Frees the caches of fontconfig and cairo, so that leak checkers see a
 * clean exit. Only at exit, once no thread renders or holds a font map. */
void sl_pdf_cleanup(void);

/* Page size in points (1/72 inch) of NAME ("A4", "A5", "letter", "legal"),
 * portrait; -1 for an unknown name, else 0. */
int sl_pdf_page_size(const char *name, double *width, double *height);

#endif

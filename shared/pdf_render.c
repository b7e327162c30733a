/* pdf_render.c — see pdf_render.h.
 *
 * Two passes. The first makes one PangoLayout per text (a "block"), records
 * its lines' vertical ranges, and cuts blocks into slices ("pieces") that
 * fit on pages, between lines; a table row is two blocks side by side, cut
 * where neither column has a line across the cut. Only then is the page
 * count known, so the second pass can draw every page, footer included
 * ("Page 2 of 5"), onto a cairo PDF surface writing through a stream that
 * counts bytes and stops at the size limit.
 *
 * Lengths: pango units (1/PANGO_SCALE point) inside blocks, points on pages.
 * The pango context has a resolution of 72 dpi, so a font size in points is
 * a size on paper, and metrics are not hinted (this is print, not screen). */
#include "pdf_render.h"
#include "util.h"

#include <cairo-pdf.h>
#include <cairo.h>
#include <errno.h>
#include <fcntl.h>
#include <fontconfig/fontconfig.h>
#include <glib.h>
#include <pango/pangocairo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MM (72.0 / 25.4) /* points per millimetre */

struct block {
    PangoLayout *layout;
    int nlines;
    int *top, *bottom, *baseline, *x; /* per line, pango units, layout coordinates */
    int height;
};

struct piece {
    int page;
    int block;
    int y0, y1;  /* the slice of the block: lines whose top is in [y0, y1) */
    double x, y; /* where the slice's top-left goes on the page, points */
};

struct rule {
    int page;
    double x0, x1, y;
};

struct doc {
    const sl_pdf_opts *o;
    char *err;
    size_t errlen;
    double width, height, margin, font_size;
    double top, bottom; /* the body's vertical extent on a page, points */
    int justify;
    PangoContext *ctx;
    PangoFontDescription *body, *bold, *title, *subtitle, *heading, *footer;
    struct block *blocks;
    int nblocks, capblocks;
    struct piece *pieces;
    int npieces, cappieces;
    struct rule *rules;
    int nrules, caprules;
    int page; /* the page being filled, from 0 */
    double y; /* the cursor on it */
    size_t text_bytes;
};

static int fail(struct doc *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct doc *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return code;
}

int sl_pdf_page_size(const char *name, double *width, double *height)
{
    static const struct {
        const char *name;
        double w, h; /* points */
    } sizes[] = {
        {"A4", 210 * MM, 297 * MM},
        {"A5", 148 * MM, 210 * MM},
        {"letter", 612, 792},
        {"legal", 612, 1008},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (!strcmp(name, sizes[i].name)) {
            *width = sizes[i].w;
            *height = sizes[i].h;
            return 0;
        }
    }
    return -1;
}

/* ---- pass 1: blocks and pages ---- */

/* Checks that V at PATH is a string within the limits; 0 or an error. */
static int check_text(struct doc *d, const cJSON *v, const char *path)
{
    if (!cJSON_IsString(v))
        return fail(d, SL_EINVAL, "%s: expected a string", path);
    size_t n = strlen(v->valuestring);
    size_t max = d->o->max_string_bytes ? d->o->max_string_bytes : SL_PDF_MAX_STRING_BYTES;
    if (n > max)
        return fail(d, SL_ETOOBIG, "%s: %zu bytes, at most %zu", path, n, max);
    if (!g_utf8_validate(v->valuestring, (gssize)n, NULL))
        return fail(d, SL_EINVAL, "%s: not valid UTF-8", path);
    d->text_bytes += n;
    size_t total = d->o->max_text_bytes ? d->o->max_text_bytes : SL_PDF_MAX_TEXT_BYTES;
    if (d->text_bytes > total)
        return fail(d, SL_ETOOBIG, "document: more than %zu bytes of text in all (at %s)", total,
                    path);
    return 0;
}

/* Lays TEXT out WIDTH points wide in FONT; returns the new block's index. */
static int add_block(struct doc *d, const char *text, const PangoFontDescription *font,
                     double width, PangoAlignment align, int justify)
{
    if (d->nblocks == d->capblocks) {
        d->capblocks = d->capblocks ? 2 * d->capblocks : 64;
        d->blocks = sl_realloc(d->blocks, (size_t)d->capblocks * sizeof *d->blocks);
    }
    struct block *b = &d->blocks[d->nblocks];
    memset(b, 0, sizeof *b);
    PangoLayout *l = pango_layout_new(d->ctx);
    pango_layout_set_font_description(l, font);
    pango_layout_set_width(l, (int)(width * PANGO_SCALE));
    pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
    pango_layout_set_alignment(l, align);
    pango_layout_set_justify(l, justify);
    pango_layout_set_line_spacing(l, 1.2f);
    pango_layout_set_text(l, text, -1);
    b->layout = l;
    b->nlines = pango_layout_get_line_count(l);
    b->top = sl_malloc(4 * (size_t)b->nlines * sizeof *b->top);
    b->bottom = b->top + b->nlines;
    b->baseline = b->bottom + b->nlines;
    b->x = b->baseline + b->nlines;
    PangoLayoutIter *it = pango_layout_get_iter(l);
    int i = 0;
    do {
        PangoRectangle logical;
        pango_layout_iter_get_line_yrange(it, &b->top[i], &b->bottom[i]);
        pango_layout_iter_get_line_extents(it, NULL, &logical);
        b->baseline[i] = pango_layout_iter_get_baseline(it);
        b->x[i] = logical.x;
        i++;
    } while (i < b->nlines && pango_layout_iter_next_line(it));
    pango_layout_iter_free(it);
    b->nlines = i;
    b->height = i ? b->bottom[i - 1] : 0;
    return d->nblocks++;
}

static void add_piece(struct doc *d, int block, int y0, int y1, double x, double y)
{
    if (d->npieces == d->cappieces) {
        d->cappieces = d->cappieces ? 2 * d->cappieces : 64;
        d->pieces = sl_realloc(d->pieces, (size_t)d->cappieces * sizeof *d->pieces);
    }
    d->pieces[d->npieces++] = (struct piece){d->page, block, y0, y1, x, y};
}

static void add_rule(struct doc *d, double x0, double x1, double y)
{
    if (d->nrules == d->caprules) {
        d->caprules = d->caprules ? 2 * d->caprules : 64;
        d->rules = sl_realloc(d->rules, (size_t)d->caprules * sizeof *d->rules);
    }
    d->rules[d->nrules++] = (struct rule){d->page, x0, x1, y};
}

static void new_page(struct doc *d)
{
    d->page++;
    d->y = d->top;
}

static int at_page_top(const struct doc *d)
{
    return d->y <= d->top + 0.01;
}

/* The lowest cut at or above LIMIT where no line of the N blocks crosses. */
static int cut_at(const struct doc *d, const int *blocks, int n, int limit)
{
    int cut = limit, moved = 1;
    while (moved) {
        moved = 0;
        for (int k = 0; k < n; k++) {
            const struct block *b = &d->blocks[blocks[k]];
            for (int i = 0; i < b->nlines; i++) {
                if (b->top[i] < cut && b->bottom[i] > cut) {
                    cut = b->top[i];
                    moved = 1;
                }
            }
        }
    }
    return cut;
}

/* Places N blocks side by side (a paragraph: one; a table row: two) at XS,
 * SPACE points below what came before (none at a page's top), cutting them
 * across pages between lines. */
static void place(struct doc *d, const int *blocks, const double *xs, int n, double space)
{
    int height = 0;
    for (int k = 0; k < n; k++)
        if (d->blocks[blocks[k]].height > height)
            height = d->blocks[blocks[k]].height;
    if (!at_page_top(d))
        d->y += space;
    int y0 = 0;
    while (y0 < height) {
        int limit = y0 + (int)((d->bottom - d->y) * PANGO_SCALE);
        int cut = limit >= height ? height : cut_at(d, blocks, n, limit);
        if (cut <= y0) {
            if (!at_page_top(d)) {
                new_page(d);
                continue;
            }
            /* a line taller than a whole page: let it overflow rather than loop */
            cut = height;
            for (int k = 0; k < n; k++) {
                const struct block *b = &d->blocks[blocks[k]];
                for (int i = 0; i < b->nlines; i++)
                    if (b->bottom[i] > y0 && b->bottom[i] < cut)
                        cut = b->bottom[i];
            }
        }
        for (int k = 0; k < n; k++)
            add_piece(d, blocks[k], y0, cut, xs[k], d->y);
        d->y += (double)(cut - y0) / PANGO_SCALE;
        y0 = cut;
        if (y0 < height)
            new_page(d);
    }
}

/* A heading stays with what follows it: start a new page unless the heading
 * and NEXT points of what follows fit. */
static void keep_with_next(struct doc *d, int block, double next)
{
    double need = (double)d->blocks[block].height / PANGO_SCALE + next;
    if (!at_page_top(d) && d->y + need > d->bottom)
        new_page(d);
}

static int lay_table(struct doc *d, const cJSON *table, int ti)
{
    char path[96];
    double body = d->width - 2 * d->margin, pad = d->font_size * 0.4;
    double key_w = body * 0.35, value_w = body - key_w;
    if (!cJSON_IsObject(table))
        return fail(d, SL_EINVAL, "document.tables[%d]: expected an object", ti);
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(table, "title");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(table, "rows");
    if (!cJSON_IsArray(rows))
        return fail(d, SL_EINVAL, "document.tables[%d].rows: expected an array", ti);
    double x0 = d->margin, x1 = d->width - d->margin;
    if (title) {
        snprintf(path, sizeof path, "document.tables[%d].title", ti);
        int rc = check_text(d, title, path);
        if (rc)
            return rc;
        int b = add_block(d, title->valuestring, d->heading, body, PANGO_ALIGN_LEFT, 0);
        if (!at_page_top(d))
            d->y += d->font_size;
        keep_with_next(d, b, 3 * d->font_size);
        place(d, &b, &x0, 1, 0);
        d->y += pad;
    } else if (!at_page_top(d)) {
        d->y += d->font_size;
    }
    int ri = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows)
    {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != 2)
            return fail(d, SL_EINVAL, "document.tables[%d].rows[%d]: expected [key, value]", ti,
                        ri);
        int cells[2];
        for (int c = 0; c < 2; c++) {
            const cJSON *cell = cJSON_GetArrayItem(row, c);
            snprintf(path, sizeof path, "document.tables[%d].rows[%d][%d]", ti, ri, c);
            int rc = check_text(d, cell, path);
            if (rc)
                return rc;
            cells[c] = add_block(d, cell->valuestring, c ? d->body : d->bold,
                                 (c ? value_w : key_w) - 2 * pad, PANGO_ALIGN_LEFT, 0);
        }
        /* a rule above every row, at the row's top when it opens a page */
        if (d->y + pad + d->font_size * 1.5 > d->bottom)
            new_page(d);
        add_rule(d, x0, x1, d->y);
        d->y += pad;
        double xs[2] = {x0 + pad, x0 + key_w + pad};
        place(d, cells, xs, 2, 0);
        d->y += pad;
        ri++;
    }
    if (ri)
        add_rule(d, x0, x1, d->y);
    return 0;
}

static int lay_out(struct doc *d, const cJSON *doc)
{
    double body = d->width - 2 * d->margin, x = d->margin;
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(doc, "title");
    const cJSON *subtitle = cJSON_GetObjectItemCaseSensitive(doc, "subtitle");
    const cJSON *paragraphs = cJSON_GetObjectItemCaseSensitive(doc, "paragraphs");
    const cJSON *tables = cJSON_GetObjectItemCaseSensitive(doc, "tables");
    const cJSON *footer = cJSON_GetObjectItemCaseSensitive(doc, "footer");
    int rc;
    if (footer) { /* drawn in the second pass: checked now */
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(footer, "text");
        const cJSON *format = cJSON_GetObjectItemCaseSensitive(footer, "page_format");
        if (!cJSON_IsObject(footer))
            return fail(d, SL_EINVAL, "document.footer: expected an object");
        if (text && (rc = check_text(d, text, "document.footer.text")))
            return rc;
        if (format && (rc = check_text(d, format, "document.footer.page_format")))
            return rc;
    }
    d->y = d->top;
    if (title) {
        if ((rc = check_text(d, title, "document.title")))
            return rc;
        int b = add_block(d, title->valuestring, d->title, body, PANGO_ALIGN_LEFT, 0);
        place(d, &b, &x, 1, 0);
    }
    if (subtitle) {
        if ((rc = check_text(d, subtitle, "document.subtitle")))
            return rc;
        int b = add_block(d, subtitle->valuestring, d->subtitle, body, PANGO_ALIGN_LEFT, 0);
        place(d, &b, &x, 1, d->font_size * 0.3);
    }
    if (title || subtitle)
        d->y += d->font_size;
    if (paragraphs && !cJSON_IsArray(paragraphs))
        return fail(d, SL_EINVAL, "document.paragraphs: expected an array");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, paragraphs)
    {
        char path[64];
        snprintf(path, sizeof path, "document.paragraphs[%d]", i++);
        if ((rc = check_text(d, p, path)))
            return rc;
        int b = add_block(d, p->valuestring, d->body, body, PANGO_ALIGN_LEFT, d->justify);
        place(d, &b, &x, 1, d->font_size * 0.6);
    }
    if (tables && !cJSON_IsArray(tables))
        return fail(d, SL_EINVAL, "document.tables: expected an array");
    i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tables)
    {
        if ((rc = lay_table(d, t, i++)))
            return rc;
    }
    return 0;
}

/* ---- pass 2: drawing ---- */

struct sink {
    FILE *f;
    size_t bytes, max;
    int too_big, io_errno;
};

static cairo_status_t write_cb(void *closure, const unsigned char *data, unsigned int len)
{
    struct sink *s = closure;
    if (s->bytes + len > s->max) {
        s->too_big = 1;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    if (fwrite(data, 1, len, s->f) != len) {
        s->io_errno = errno ? errno : EIO;
        return CAIRO_STATUS_WRITE_ERROR;
    }
    s->bytes += len;
    return CAIRO_STATUS_SUCCESS;
}

static void draw_piece(const struct doc *d, cairo_t *cr, const struct piece *pc)
{
    const struct block *b = &d->blocks[pc->block];
    GSList *lines = pango_layout_get_lines_readonly(b->layout);
    for (int i = 0; i < b->nlines && lines; i++, lines = lines->next) {
        if (b->top[i] < pc->y0)
            continue;
        if (b->top[i] >= pc->y1)
            break;
        cairo_move_to(cr, pc->x + (double)b->x[i] / PANGO_SCALE,
                      pc->y + (double)(b->baseline[i] - pc->y0) / PANGO_SCALE);
        pango_cairo_show_layout_line(cr, lines->data);
    }
}

/* "Page {page} of {pages}" with the numbers put in. */
static void page_label(const char *format, int page, int pages, sl_buf *out)
{
    for (const char *s = format; *s;) {
        if (!strncmp(s, "{page}", 6)) {
            sl_buf_printf(out, "%d", page);
            s += 6;
        } else if (!strncmp(s, "{pages}", 7)) {
            sl_buf_printf(out, "%d", pages);
            s += 7;
        } else {
            sl_buf_append(out, s++, 1);
        }
    }
}

static void draw_footer(const struct doc *d, cairo_t *cr, const cJSON *footer, int page, int pages)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(footer, "text");
    const cJSON *numbers = cJSON_GetObjectItemCaseSensitive(footer, "page_numbers");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(footer, "page_format");
    double body = d->width - 2 * d->margin;
    double y = d->height - d->margin * 0.55;
    cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
    PangoLayout *l = pango_layout_new(d->ctx);
    pango_layout_set_font_description(l, d->footer);
    pango_layout_set_width(l, (int)(body * PANGO_SCALE));
    pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
    if (cJSON_IsString(text) && text->valuestring[0]) {
        pango_layout_set_text(l, text->valuestring, -1);
        pango_layout_set_alignment(l, PANGO_ALIGN_LEFT);
        pango_layout_set_width(l, (int)(body * 0.7 * PANGO_SCALE));
        cairo_move_to(cr, d->margin, y);
        pango_cairo_show_layout_line(cr, pango_layout_get_line_readonly(l, 0));
    }
    if (!cJSON_IsFalse(numbers)) {
        sl_buf label = {0};
        page_label(cJSON_IsString(format) ? format->valuestring : "Page {page} of {pages}", page,
                   pages, &label);
        pango_layout_set_width(l, -1);
        pango_layout_set_text(l, label.data ? label.data : "", -1);
        PangoRectangle logical;
        pango_layout_get_extents(l, NULL, &logical);
        cairo_move_to(cr, d->width - d->margin - (double)logical.width / PANGO_SCALE, y);
        pango_cairo_show_layout_line(cr, pango_layout_get_line_readonly(l, 0));
        sl_buf_deinit(&label);
    }
    g_object_unref(l);
}

/* Draws the pages into F (open on PATH), which it closes. */
static int draw(struct doc *d, const cJSON *doc, FILE *f, const char *path, int pages,
                sl_pdf_info *info)
{
    struct sink s = {f, 0, d->o->max_bytes ? d->o->max_bytes : SL_PDF_MAX_BYTES, 0, 0};
    cairo_surface_t *surface =
        cairo_pdf_surface_create_for_stream(write_cb, &s, d->width, d->height);
    const cJSON *title = cJSON_GetObjectItemCaseSensitive(doc, "title");
    if (cJSON_IsString(title))
        cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, title->valuestring);
    cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Sluice");
    cairo_t *cr = cairo_create(surface);
    const cJSON *footer = cJSON_GetObjectItemCaseSensitive(doc, "footer");
    int next = 0, rules = 0;
    for (int page = 0; page < pages && !s.too_big && !s.io_errno; page++) {
        cairo_set_source_rgb(cr, 0.75, 0.75, 0.75);
        cairo_set_line_width(cr, 0.5);
        for (; rules < d->nrules && d->rules[rules].page == page; rules++) {
            cairo_move_to(cr, d->rules[rules].x0, d->rules[rules].y);
            cairo_line_to(cr, d->rules[rules].x1, d->rules[rules].y);
            cairo_stroke(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        for (; next < d->npieces && d->pieces[next].page == page; next++)
            draw_piece(d, cr, &d->pieces[next]);
        draw_footer(d, cr, footer, page + 1, pages);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    cairo_status_t st = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    int closed = fclose(s.f);
    size_t max = s.max;
    if (s.too_big)
        return fail(d, SL_ETOOBIG, "the PDF passes %zu bytes (max_bytes)", max);
    if (s.io_errno || closed)
        return fail(d, SL_EIO, "cannot write %s: %s", path,
                    strerror(s.io_errno ? s.io_errno : errno));
    if (st != CAIRO_STATUS_SUCCESS)
        return fail(d, SL_EIO, "cairo: %s", cairo_status_to_string(st));
    if (info) {
        info->pages = pages;
        info->bytes = s.bytes;
    }
    return 0;
}

/* ---- the whole ---- */

static PangoFontDescription *font(const char *family, double size, PangoWeight weight)
{
    PangoFontDescription *f = pango_font_description_new();
    pango_font_description_set_family(f, family);
    pango_font_description_set_size(f, (int)(size * PANGO_SCALE));
    pango_font_description_set_weight(f, weight);
    return f;
}

static int setup(struct doc *d, const cJSON *doc)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(doc, "page_size");
    const cJSON *orient = cJSON_GetObjectItemCaseSensitive(doc, "orientation");
    const cJSON *margins = cJSON_GetObjectItemCaseSensitive(doc, "margins_mm");
    const cJSON *font_size = cJSON_GetObjectItemCaseSensitive(doc, "font_size");
    const cJSON *align = cJSON_GetObjectItemCaseSensitive(doc, "align");
    const char *name = cJSON_IsString(size) ? size->valuestring : "A4";
    if (sl_pdf_page_size(name, &d->width, &d->height))
        return fail(d, SL_EINVAL,
                    "document.page_size: \"%.40s\" is not one of A4, A5, letter, legal", name);
    if (cJSON_IsString(orient) && !strcmp(orient->valuestring, "landscape")) {
        double w = d->width;
        d->width = d->height;
        d->height = w;
    }
    double m = cJSON_IsNumber(margins) ? margins->valuedouble : 20;
    if (m < 5 || m > 50)
        return fail(d, SL_EINVAL, "document.margins_mm: %g is outside 5..50", m);
    d->margin = m * MM;
    d->font_size = cJSON_IsNumber(font_size) ? font_size->valuedouble : 11;
    if (d->font_size < 6 || d->font_size > 24)
        return fail(d, SL_EINVAL, "document.font_size: %g is outside 6..24", d->font_size);
    d->justify = cJSON_IsString(align) && !strcmp(align->valuestring, "justify");
    d->top = d->margin;
    d->bottom = d->height - d->margin;
    const char *family = d->o->font ? d->o->font : "DejaVu Sans";
    double fs = d->font_size;
    d->body = font(family, fs, PANGO_WEIGHT_NORMAL);
    d->bold = font(family, fs, PANGO_WEIGHT_BOLD);
    d->title = font(family, fs * 2, PANGO_WEIGHT_BOLD);
    d->subtitle = font(family, fs * 1.3, PANGO_WEIGHT_NORMAL);
    d->heading = font(family, fs * 1.2, PANGO_WEIGHT_BOLD);
    d->footer = font(family, fs * 0.8 < 6 ? 6 : fs * 0.8, PANGO_WEIGHT_NORMAL);
    /* this thread's font map: pango's default one is per thread */
    d->ctx = pango_font_map_create_context(pango_cairo_font_map_get_default());
    pango_cairo_context_set_resolution(d->ctx, 72.0);
    cairo_font_options_t *fo = cairo_font_options_create();
    cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
    cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
    pango_cairo_context_set_font_options(d->ctx, fo);
    cairo_font_options_destroy(fo);
    pango_context_set_round_glyph_positions(d->ctx, FALSE);
    return 0;
}

static void teardown(struct doc *d)
{
    for (int i = 0; i < d->nblocks; i++) {
        g_object_unref(d->blocks[i].layout);
        free(d->blocks[i].top);
    }
    free(d->blocks);
    free(d->pieces);
    free(d->rules);
    PangoFontDescription *fonts[] = {d->body,     d->bold,    d->title,
                                     d->subtitle, d->heading, d->footer};
    for (size_t i = 0; i < sizeof fonts / sizeof fonts[0]; i++)
        if (fonts[i])
            pango_font_description_free(fonts[i]);
    if (d->ctx)
        g_object_unref(d->ctx);
}

int sl_pdf_render(const cJSON *doc, const char *path, const sl_pdf_opts *opts, sl_pdf_info *info,
                  char *err, size_t errlen)
{
    static const sl_pdf_opts defaults;
    struct doc d = {.o = opts ? opts : &defaults, .err = err, .errlen = errlen};
    if (!cJSON_IsObject(doc))
        return fail(&d, SL_EINVAL, "document: expected an object");
    /* the file exists from the start: a crash at any point leaves it for
     * the start-up sweep, and an unwritable path fails before the work */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        int rc = fail(&d, SL_EIO, "cannot create %s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return rc;
    }
    int rc = setup(&d, doc);
    if (!rc)
        rc = lay_out(&d, doc);
    int pages = d.page + 1;
    int max = d.o->max_pages ? d.o->max_pages : SL_PDF_MAX_PAGES;
    if (!rc && pages > max)
        rc = fail(&d, SL_ETOOBIG, "the document runs to %d pages, at most %d (max_pages)", pages,
                  max);
    if (!rc) {
        rc = draw(&d, doc, f, path, pages, info); /* closes F */
    } else {
        fclose(f);
    }
    if (rc)
        unlink(path);
    teardown(&d);
    return rc;
}

void sl_pdf_thread_cleanup(void)
{
    pango_cairo_font_map_set_default(NULL);
}

void sl_pdf_cleanup(void)
{
    sl_pdf_thread_cleanup();
    cairo_debug_reset_static_data();
    FcFini();
}

/* Unit tests: documents rendered to PDF (shared/pdf_render.c), read back with
 * poppler's pdftotext and pdfinfo: the text is all there (Cyrillic, Greek
 * and Arabic included), pages break and are counted right, limits fail with
 * errors that name the field, and renders on several threads at once agree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pdf_render.h"
#include "util.h"

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sluice-test-pdf.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    sl_pdf_cleanup(); /* every thread that rendered has ended */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* The output of CMD (heap, NUL-terminated). */
static char *run(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    sl_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sl_buf_append(&b, chunk, n);
    assert_int_equal(pclose(f), 0);
    sl_buf_append(&b, "", 1);
    return b.data;
}

/* pdftotext's text of PATH (pages FIRST..LAST, 0 = all), runs of white
 * space made one space: justified lines come out with wider gaps. */
static char *text_of(const char *path, int first, int last)
{
    char cmd[512];
    if (first)
        snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 -f %d -l %d '%s' -", first, last, path);
    else
        snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 '%s' -", path);
    char *t = run(cmd), *w = t;
    int space = 0;
    for (char *r = t; *r; r++) {
        if (*r == ' ' || *r == '\n' || *r == '\t' || *r == '\f') {
            space = 1;
            continue;
        }
        if (space && w != t)
            *w++ = ' ';
        space = 0;
        *w++ = *r;
    }
    *w = '\0';
    return t;
}

/* TEXT without spaces and bidi marks (U+200E, U+200F, U+202A..U+202E). */
static char *compact(const char *text)
{
    char *out = sl_strdup(text), *w = out;
    for (const unsigned char *r = (const unsigned char *)text; *r;) {
        if (*r == ' ') {
            r++;
        } else if (r[0] == 0xe2 && r[1] == 0x80 &&
                   (r[2] == 0x8e || r[2] == 0x8f || (r[2] >= 0xaa && r[2] <= 0xae))) {
            r += 3;
        } else {
            *w++ = (char)*r++;
        }
    }
    *w = '\0';
    return out;
}

/* A field of pdfinfo's output ("Pages", "Page size"). */
static void info_field(const char *path, const char *field, char *out, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "pdfinfo '%s'", path);
    char *t = run(cmd);
    char *at = strstr(t, field);
    assert_non_null(at);
    at = strchr(at, ':') + 1;
    while (*at == ' ')
        at++;
    size_t len = strcspn(at, "\n");
    snprintf(out, n, "%.*s", (int)len, at);
    free(t);
}

static int pages_of(const char *path)
{
    char v[32];
    info_field(path, "Pages", v, sizeof v);
    return atoi(v);
}

static cJSON *parse(const char *json)
{
    cJSON *d = cJSON_Parse(json);
    assert_non_null(d);
    return d;
}

static const char *sample = "{\"title\": \"Quarterly report\", \"subtitle\": \"Sluice test suite\","
                            " \"paragraphs\": [\"The quick brown fox jumps over the lazy dog.\","
                            " \"Съешь же ещё этих мягких французских булок, да выпей чаю.\","
                            " \"Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.\","
                            " \"מרחבים של שלום עולם\", \"مرحبا بالعالم\"],"
                            " \"tables\": [{\"title\": \"Totals\", \"rows\": [[\"Jobs\", "
                            "\"1234\"], [\"Город\", \"Москва\"]]}],"
                            " \"footer\": {\"text\": \"Confidential\"}}";

static void renders_every_text(void **state)
{
    (void)state;
    char path[128], err[256] = "";
    path_of(path, sizeof path, "sample.pdf");
    cJSON *d = parse(sample);
    sl_pdf_info info = {0};
    assert_int_equal(sl_pdf_render(d, path, NULL, &info, err, sizeof err), 0);
    assert_int_equal(info.pages, 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((size_t)st.st_size, info.bytes);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pages_of(path), 1);
    char *t = text_of(path, 0, 0);
    const char *expect[] = {"Quarterly report",
                            "Sluice test suite",
                            "The quick brown fox jumps over the lazy dog.",
                            "Съешь же ещё этих мягких французских булок, да выпей чаю.",
                            "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
                            "Totals",
                            "Jobs 1234",
                            "Город Москва",
                            "Confidential",
                            "Page 1 of 1"};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        if (!strstr(t, expect[i]))
            fail_msg("\"%s\" not in the text: %s", expect[i], t);
    /* right-to-left lines are there in logical order, but pdftotext guesses
     * spaces inside their words from the glyph positions: compare without */
    char *c = compact(t);
    assert_non_null(strstr(c, "מרחביםשלשלוםעולם"));
    assert_non_null(strstr(c, "مرحبابالعالم"));
    free(c);
    char title[128];
    info_field(path, "Title", title, sizeof title);
    assert_string_equal(title, "Quarterly report");
    free(t);
    cJSON_Delete(d);
}

/* A long document: the page count of pdfinfo is the one returned, each
 * paragraph is there once, and the last page's footer knows the total. */
static void long_document_breaks_pages(void **state)
{
    (void)state;
    char path[128], err[256] = "";
    path_of(path, sizeof path, "long.pdf");
    cJSON *d = parse("{\"title\": \"Long\", \"align\": \"justify\", \"paragraphs\": []}");
    cJSON *ps = cJSON_GetObjectItem(d, "paragraphs");
    for (int i = 0; i < 120; i++) {
        char p[600];
        snprintf(p, sizeof p,
                 "Paragraph %03d begins here. Lorem ipsum dolor sit amet, consectetur adipiscing "
                 "elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut "
                 "enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut "
                 "aliquip ex ea commodo consequat. End %03d.",
                 i, i);
        cJSON_AddItemToArray(ps, cJSON_CreateString(p));
    }
    sl_pdf_info info = {0};
    assert_int_equal(sl_pdf_render(d, path, NULL, &info, err, sizeof err), 0);
    assert_true(info.pages >= 5);
    assert_int_equal(pages_of(path), info.pages);
    char *t = text_of(path, 0, 0);
    for (int i = 0; i < 120; i++) {
        char begin[48], end[32];
        snprintf(begin, sizeof begin, "Paragraph %03d begins", i);
        snprintf(end, sizeof end, "End %03d.", i);
        char *at = strstr(t, begin);
        if (!at || strstr(at + 1, begin) || !strstr(t, end))
            fail_msg("paragraph %d missing or repeated", i);
    }
    free(t);
    char last[64];
    snprintf(last, sizeof last, "Page %d of %d", info.pages, info.pages);
    t = text_of(path, info.pages, info.pages);
    assert_non_null(strstr(t, last));
    free(t);
    cJSON_Delete(d);
}

/* Table rows break across pages; none is lost or drawn twice. */
static void table_rows_break_across_pages(void **state)
{
    (void)state;
    char path[128], err[256] = "";
    path_of(path, sizeof path, "table.pdf");
    cJSON *d = parse("{\"page_size\": \"A5\", \"footer\": {\"page_format\": \"{page}/{pages}\"},"
                     " \"tables\": [{\"title\": \"Inventory\", \"rows\": []}]}");
    cJSON *rows =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "tables"), 0), "rows");
    for (int i = 0; i < 150; i++) {
        char k[32], v[200];
        snprintf(k, sizeof k, "key%03d", i);
        snprintf(v, sizeof v, "value%03d %s", i,
                 i % 10 == 0 ? "a longer value that wraps over several lines of the narrow "
                               "column of an A5 page, so that rows differ in height"
                             : "");
        cJSON *row = cJSON_CreateArray();
        cJSON_AddItemToArray(row, cJSON_CreateString(k));
        cJSON_AddItemToArray(row, cJSON_CreateString(v));
        cJSON_AddItemToArray(rows, row);
    }
    sl_pdf_info info = {0};
    assert_int_equal(sl_pdf_render(d, path, NULL, &info, err, sizeof err), 0);
    assert_true(info.pages >= 3);
    assert_int_equal(pages_of(path), info.pages);
    char size[64];
    info_field(path, "Page size", size, sizeof size);
    assert_non_null(strstr(size, "419.528 x 595.276"));
    char *t = text_of(path, 0, 0);
    for (int i = 0; i < 150; i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "key%03d", i);
        snprintf(v, sizeof v, "value%03d", i);
        char *at = strstr(t, k);
        if (!at || strstr(at + 1, k) || !strstr(t, v))
            fail_msg("row %d missing or repeated", i);
    }
    free(t);
    char last[32];
    snprintf(last, sizeof last, "%d/%d", info.pages, info.pages);
    t = text_of(path, info.pages, info.pages);
    assert_non_null(strstr(t, last));
    free(t);
    cJSON_Delete(d);
}

static void page_sizes_and_orientation(void **state)
{
    (void)state;
    char path[128], err[256] = "", size[64];
    path_of(path, sizeof path, "letter.pdf");
    cJSON *d = parse("{\"page_size\": \"letter\", \"orientation\": \"landscape\","
                     " \"margins_mm\": 10, \"font_size\": 9, \"paragraphs\": [\"x\"],"
                     " \"footer\": {\"page_numbers\": false}}");
    assert_int_equal(sl_pdf_render(d, path, NULL, NULL, err, sizeof err), 0);
    info_field(path, "Page size", size, sizeof size);
    assert_non_null(strstr(size, "792 x 612"));
    char *t = text_of(path, 0, 0);
    assert_null(strstr(t, "Page"));
    free(t);
    cJSON_Delete(d);
    double w, h;
    assert_int_equal(sl_pdf_page_size("A4", &w, &h), 0);
    assert_true(w > 595 && w < 596 && h > 841 && h < 842);
    assert_int_equal(sl_pdf_page_size("B5", &w, &h), -1);
}

/* Renders JSON with OPTS, expects CODE and an error containing NEEDLE, and
 * no file left behind. */
static void expect_error(const char *json, const sl_pdf_opts *opts, int code, const char *needle)
{
    char path[128], err[256] = "";
    path_of(path, sizeof path, "bad.pdf");
    cJSON *d = parse(json);
    int rc = sl_pdf_render(d, path, opts, NULL, err, sizeof err);
    if (rc != code || !strstr(err, needle))
        fail_msg("%s: got %d \"%s\", expected %d \"%s\"", json, rc, err, code, needle);
    assert_int_equal(access(path, F_OK), -1);
    cJSON_Delete(d);
}

static void limits_name_the_field(void **state)
{
    (void)state;
    sl_pdf_opts small = {.max_string_bytes = 100};
    expect_error("{\"paragraphs\": [\"a\", \"b\", \"c\", \"" /* 120 bytes */
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]}",
                 &small, SL_ETOOBIG, "document.paragraphs[3]: 120 bytes, at most 100");
    expect_error("{\"tables\": [{\"rows\": [[\"k\", \"v\"], [\"k2\","
                 " \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]]}]}",
                 &small, SL_ETOOBIG, "document.tables[0].rows[1][1]: 107 bytes, at most 100");
    sl_pdf_opts total = {.max_text_bytes = 10};
    expect_error("{\"title\": \"12345\", \"paragraphs\": [\"678901\"]}", &total, SL_ETOOBIG,
                 "more than 10 bytes of text in all (at document.paragraphs[0])");
    sl_pdf_opts pages = {.max_pages = 2};
    cJSON *d = parse("{\"paragraphs\": []}");
    for (int i = 0; i < 150; i++)
        cJSON_AddItemToArray(cJSON_GetObjectItem(d, "paragraphs"),
                             cJSON_CreateString("one line after another, and then some more"));
    char *json = cJSON_PrintUnformatted(d);
    expect_error(json, &pages, SL_ETOOBIG, "at most 2 (max_pages)");
    expect_error(json, &pages, SL_ETOOBIG, "the document runs to ");
    sl_pdf_opts bytes = {.max_bytes = 2000};
    expect_error(json, &bytes, SL_ETOOBIG, "the PDF passes 2000 bytes (max_bytes)");
    free(json);
    cJSON_Delete(d);
    expect_error("{\"paragraphs\": [\"ok\", 7]}", NULL, SL_EINVAL,
                 "document.paragraphs[1]: expected a string");
    expect_error("{\"paragraphs\": [\"\xff\xfe\"]}", NULL, SL_EINVAL,
                 "document.paragraphs[0]: not valid UTF-8");
    expect_error("{\"footer\": {\"text\": \"\xc3\"}}", NULL, SL_EINVAL,
                 "document.footer.text: not valid UTF-8");
    expect_error("{\"page_size\": \"B5\"}", NULL, SL_EINVAL,
                 "document.page_size: \"B5\" is not one of");
    expect_error("{\"tables\": [{\"rows\": [[\"only a key\"]]}]}", NULL, SL_EINVAL,
                 "document.tables[0].rows[0]: expected [key, value]");
    expect_error("[]", NULL, SL_EINVAL, "document: expected an object");
}

static void unwritable_path_is_an_io_error(void **state)
{
    (void)state;
    char err[256] = "";
    cJSON *d = parse("{\"title\": \"t\"}");
    assert_int_equal(sl_pdf_render(d, "/nonexistent-dir/x.pdf", NULL, NULL, err, sizeof err),
                     SL_EIO);
    assert_non_null(strstr(err, "cannot create /nonexistent-dir/x.pdf"));
    cJSON_Delete(d);
}

/* Four threads render at once (each with its own pango font map); every
 * document comes out whole. */
static void *render_thread(void *arg)
{
    long n = (long)arg;
    cJSON *d = cJSON_Parse(sample);
    for (int i = 0; i < 5; i++) {
        char path[128], name[32], err[256];
        snprintf(name, sizeof name, "t%ld-%d.pdf", n, i);
        path_of(path, sizeof path, name);
        if (sl_pdf_render(d, path, NULL, NULL, err, sizeof err)) {
            cJSON_Delete(d);
            return (void *)1;
        }
    }
    cJSON_Delete(d);
    return NULL;
}

static void renders_on_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, render_thread, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    for (int n = 0; n < 4; n++) {
        char path[128], name[32];
        snprintf(name, sizeof name, "t%d-4.pdf", n);
        path_of(path, sizeof path, name);
        char *t = text_of(path, 0, 0);
        assert_non_null(strstr(t, "Съешь же ещё этих мягких французских булок, да выпей чаю."));
        assert_non_null(strstr(t, "Page 1 of 1"));
        free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_every_text),
        cmocka_unit_test(long_document_breaks_pages),
        cmocka_unit_test(table_rows_break_across_pages),
        cmocka_unit_test(page_sizes_and_orientation),
        cmocka_unit_test(limits_name_the_field),
        cmocka_unit_test(unwritable_path_is_an_io_error),
        cmocka_unit_test(renders_on_threads),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}

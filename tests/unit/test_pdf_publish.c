/* Unit tests: a PDF published into a directory (shared/pdf_publish.c): whole,
 * never outside it, no part file left behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pdf_publish.h"

#define TEST_DIR_NAME "pdf-publish"
#include "dir_fixture.h"

static void publish_whole_and_inside(void **state)
{
    (void)state;
    char src[128], out[128], path[256], err[256];
    snprintf(src, sizeof src, "%s/src.pdf", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    write_file(src, "%PDF-1.5 fake");
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(sl_pdf_publish(src, out, "a.pdf", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/a.pdf", out);
    assert_true(exists(path));
    assert_int_equal(sl_pdf_publish(src, out, "reports/2026/q3.pdf", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/reports/2026/q3.pdf", out);
    assert_true(exists(path));
    /* replacing is fine */
    assert_int_equal(sl_pdf_publish(src, out, "reports/2026/q3.pdf", err, sizeof err), 0);
    /* a symbolic link on the way is refused */
    snprintf(path, sizeof path, "%s/link", out);
    assert_int_equal(symlink("/tmp", path), 0);
    assert_int_equal(sl_pdf_publish(src, out, "link/x.pdf", err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "symbolic links are refused"));
    const char *bad[] = {"../x.pdf", "/etc/x.pdf", ".x.pdf", "a/.b/x.pdf",   "a//x.pdf",
                         "x.txt",    "a/",         "",       "a/b/c/d/e.pdf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sl_pdf_publish(src, out, bad[i], err, sizeof err) != SL_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
    /* a source that is gone: an I/O error, and no part file left */
    snprintf(path, sizeof path, "%s/gone.pdf", dir);
    assert_int_equal(sl_pdf_publish(path, out, "b.pdf", err, sizeof err), SL_EIO);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^%s' >/dev/null", out, SL_PDF_PART_PREFIX);
    assert_int_not_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(publish_whole_and_inside),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}

/* Unit tests: where a PDF may go (shared/pdfout.c): publishing into a
 * directory (whole, never outside it), and the sweep of temporary files left
 * by dead processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pdfout.h"

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sluice-test-pdfout.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void publish_whole_and_inside(void **state)
{
    (void)state;
    char src[128], out[128], path[256], err[256];
    snprintf(src, sizeof src, "%s/src.pdf", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    write_file(src, "%PDF-1.5 fake");
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(sl_pdfout_publish(src, out, "a.pdf", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/a.pdf", out);
    assert_true(exists(path));
    assert_int_equal(sl_pdfout_publish(src, out, "reports/2026/q3.pdf", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/reports/2026/q3.pdf", out);
    assert_true(exists(path));
    /* replacing is fine */
    assert_int_equal(sl_pdfout_publish(src, out, "reports/2026/q3.pdf", err, sizeof err), 0);
    /* a symbolic link on the way is refused */
    snprintf(path, sizeof path, "%s/link", out);
    assert_int_equal(symlink("/tmp", path), 0);
    assert_int_equal(sl_pdfout_publish(src, out, "link/x.pdf", err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "symbolic links are refused"));
    const char *bad[] = {"../x.pdf", "/etc/x.pdf", ".x.pdf", "a/.b/x.pdf",   "a//x.pdf",
                         "x.txt",    "a/",         "",       "a/b/c/d/e.pdf"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sl_pdfout_publish(src, out, bad[i], err, sizeof err) != SL_EINVAL)
            fail_msg("\"%s\" was accepted", bad[i]);
    /* a source that is gone: an I/O error, and no part file left */
    snprintf(path, sizeof path, "%s/gone.pdf", dir);
    assert_int_equal(sl_pdfout_publish(path, out, "b.pdf", err, sizeof err), SL_EIO);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c '^%s' >/dev/null", out, SL_PDFOUT_PART_PREFIX);
    assert_int_not_equal(system(cmd), 0);
}

static void sweep_removes_dead_only(void **state)
{
    (void)state;
    char tmp[128], mine[256], dead[256], live[256], other[256], err[256];
    snprintf(tmp, sizeof tmp, "%s/tmp/deep", dir);
    assert_int_equal(sl_mkdir_p(tmp, 0700, err, sizeof err), 0);
    assert_int_equal(sl_mkdir_p(tmp, 0700, err, sizeof err), 0);
    sl_tmpfile_name(mine, sizeof mine, tmp, "pdf-", "01JOB", ".pdf");
    char expect[160];
    snprintf(expect, sizeof expect, "%s/pdf-%d-01JOB-", tmp, (int)getpid());
    assert_memory_equal(mine, expect, strlen(expect));
    write_file(mine, "x");
    /* a process that has exited */
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    snprintf(dead, sizeof dead, "%s/pdf-%d-J-1.pdf", tmp, (int)child);
    write_file(dead, "x");
    /* a live process whose name is not the one asked about: pid reused */
    snprintf(other, sizeof other, "%s/pdf-%d-J-2.pdf", tmp, (int)getppid());
    write_file(other, "x");
    /* a live one of the right name: this test program's parent is a shell,
     * so use our own name for a live process that is not us */
    pid_t sib = fork();
    if (sib == 0) {
        pause();
        _exit(0);
    }
    snprintf(live, sizeof live, "%s/pdf-%d-J-3.pdf", tmp, (int)sib);
    write_file(live, "x");
    char keep[256];
    snprintf(keep, sizeof keep, "%s/unrelated.pdf", tmp);
    write_file(keep, "x");
    char comm[64] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    assert_non_null(f);
    assert_non_null(fgets(comm, sizeof comm, f));
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    int n = sl_tmpfile_sweep(tmp, "pdf-", comm, err, sizeof err);
    kill(sib, SIGKILL);
    waitpid(sib, NULL, 0);
    assert_int_equal(n, 3);
    assert_false(exists(mine));
    assert_false(exists(dead));
    assert_false(exists(other));
    assert_true(exists(live));
    assert_true(exists(keep));
    assert_int_equal(sl_tmpfile_sweep("/nonexistent", "pdf-", comm, err, sizeof err), SL_EIO);
    assert_int_equal(sl_mkdir_p(keep, 0700, err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "not a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(publish_whole_and_inside),
        cmocka_unit_test(sweep_removes_dead_only),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}

/* Unit tests: temporary files named by their process (shared/tmpfile.c):
 * the sweep removes those of processes that are gone, or not ours, and
 * nothing else; the directories they go in. */
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

#include "tmpfile.h"
#include "util.h"

#define TEST_DIR_NAME "tmpfile"
#include "dir_fixture.h"

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
        cmocka_unit_test(sweep_removes_dead_only),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}

/* dir_fixture.h — a scratch directory for unit tests that write files:
 * setup_dir makes /tmp/sluice-test-TEST_DIR_NAME.XXXXXX (in `dir`),
 * remove_dir deletes it with all it holds. Define TEST_DIR_NAME before
 * including; include after cmocka.h. Used by test_tmpfile.c and
 * test_pdf_publish.c. */
#ifndef SL_TEST_DIR_FIXTURE_H
#define SL_TEST_DIR_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sluice-test-%s.XXXXXX", TEST_DIR_NAME);
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

#endif

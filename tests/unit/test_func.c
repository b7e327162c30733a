/* Unit tests: the function library as the build carries it (func.h), and
 * how a version reply is read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "func.h"
#include "scripts.h"

static void library_text_is_loadable_and_shares_the_enqueue(void **state)
{
    (void)state;
    size_t len;
    const char *text = sl_func_text(&len);
    assert_int_equal(strlen(text), len);
    /* FUNCTION LOAD needs the shebang on the first line */
    assert_memory_equal(text, "#!lua name=sluice\n", 18);
    assert_non_null(strstr(text, "redis.register_function('sluice_enqueue'"));
    /* every include resolved: no marker left */
    assert_null(strstr(text, "\n-- include"));
    /* one source of truth: the library holds lib_enqueue.lua exactly as the
     * CLI's enqueue script runs it */
    const sl_script *s = sl_script_get(SL_SCRIPT_ENQUEUE);
    const char *body = strstr(s->text, "-- lib_enqueue:");
    const char *end = strstr(s->text, "-- end of lib_enqueue\n");
    assert_non_null(body);
    assert_non_null(end);
    char *copy = strndup(body, (size_t)(end - body));
    assert_non_null(strstr(text, copy));
    free(copy);
    assert_true(sl_func_version() >= 1);
}

static void version_replies(void **state)
{
    (void)state;
    char err[300];
    redisReply r = {0};
    r.type = REDIS_REPLY_INTEGER;
    r.integer = 3;
    assert_int_equal(sl_func_reply_version(&r, err, sizeof err), 3);
    r.integer = 0;
    assert_int_equal(sl_func_reply_version(&r, err, sizeof err), 0);
    r.type = REDIS_REPLY_ERROR;
    r.str = "ERR Function not found";
    assert_int_equal(sl_func_reply_version(&r, err, sizeof err), SL_FUNC_NONE);
    r.str = "ERR unknown command 'FCALL_RO', with args beginning with: ";
    assert_int_equal(sl_func_reply_version(&r, err, sizeof err), SL_FUNC_ERROR);
    assert_non_null(strstr(err, "Redis 7.0 or newer"));
    r.str = "NOPERM this user has no permissions to run the 'fcall_ro' command";
    assert_int_equal(sl_func_reply_version(&r, err, sizeof err), SL_FUNC_ERROR);
    assert_non_null(strstr(err, "NOPERM"));
    assert_int_equal(sl_func_reply_version(NULL, err, sizeof err), SL_FUNC_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(library_text_is_loadable_and_shares_the_enqueue),
        cmocka_unit_test(version_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests: a permission refusal from Redis is recognised in both the
 * forms Redis 7.0 gives it, and told with the user and the command
 * (noperm.h); with the note, it is still no outage (a producer with
 * --spool must not keep jobs that its role may never send). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "noperm.h"
#include "rblock.h"

static const char *const TOPLEVEL =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
static const char *const IN_SCRIPT =
    "ERR The user executing the script can't access at least one of the keys mentioned in the "
    "command arguments script: 3e8f, on @user_script:12.";

static void recognised(void **state)
{
    (void)state;
    assert_true(sl_noperm_is(TOPLEVEL));
    assert_true(sl_noperm_is("NOPERM this user has no permissions to run the 'flushall' command"));
    assert_true(sl_noperm_is(IN_SCRIPT));
    assert_true(sl_noperm_is("ERR The user executing the script can't publish to the channel "
                             "mentioned in the command script: 98c0, on @user_script:1."));
    assert_false(sl_noperm_is(NULL));
    assert_false(sl_noperm_is(""));
    assert_false(sl_noperm_is("WRONGPASS invalid username-password pair or user is disabled."));
    assert_false(sl_noperm_is("ERR wrong number of arguments for 'get' command"));
    assert_false(sl_noperm_is("READONLY You can't write against a read only replica."));
}

static void told_with_user_and_command(void **state)
{
    (void)state;
    char buf[512];
    sl_noperm_set_user("sluice-worker");
    sl_noperm_explain(TOPLEVEL, "EVALSHA claim (script claim.lua)", buf, sizeof buf);
    assert_non_null(strstr(buf, "Redis user 'sluice-worker' may not run EVALSHA claim"));
    assert_non_null(strstr(buf, TOPLEVEL));
    assert_non_null(strstr(buf, "deploy/users.acl"));
    assert_non_null(strstr(sl_noperm_note(IN_SCRIPT), "Redis user 'sluice-worker' was refused"));
    assert_string_equal(sl_noperm_note("ERR something else"), "");
    assert_string_equal(sl_noperm_note(NULL), "");
    /* no user in the URL: Redis's default user */
    sl_noperm_set_user("");
    assert_non_null(strstr(sl_noperm_note(TOPLEVEL), "Redis user 'default'"));
    sl_noperm_set_user(NULL);
    assert_non_null(strstr(sl_noperm_note(TOPLEVEL), "Redis user 'default'"));
}

static void no_outage(void **state)
{
    (void)state;
    char text[600];
    sl_noperm_set_user("sluice-producer");
    snprintf(text, sizeof text, "redis: SCRIPT LOAD refused: %s%s", TOPLEVEL,
             sl_noperm_note(TOPLEVEL));
    assert_false(sl_rblock_outage(text));
    assert_false(sl_rblock_outage(IN_SCRIPT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recognised),
        cmocka_unit_test(told_with_user_and_command),
        cmocka_unit_test(no_outage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

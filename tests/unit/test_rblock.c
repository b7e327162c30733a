/* Unit tests: which Redis failures count as an outage, so that a producer
 * with --spool keeps the job instead of failing (rblock.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rblock.h"

static void outage(void **state)
{
    (void)state;
    /* error replies, as a script or a command returns them */
    assert_true(sl_rblock_outage("LOADING Redis is loading the dataset in memory"));
    assert_true(sl_rblock_outage("READONLY You can't write against a read only replica. script: "
                                 "ae28, on @user_script:168."));
    assert_true(sl_rblock_outage("OOM command not allowed when used memory > 'maxmemory'."));
    assert_true(sl_rblock_outage("MASTERDOWN Link with MASTER is down"));
    assert_true(sl_rblock_outage("NOREPLICAS Not enough good replicas to write."));
    assert_true(sl_rblock_outage("BUSY Redis is busy running a script."));
    assert_true(sl_rblock_outage("LOADING"));
    /* sl_rblock_connect's texts */
    assert_true(sl_rblock_outage("redis: cannot connect to redis://127.0.0.1:1/0: Connection "
                                 "refused (is redis-server running? ...)"));
    assert_true(sl_rblock_outage("redis: AUTH: timed out: no answer within 5.0 s"));
    assert_true(sl_rblock_outage("redis: SCRIPT LOAD refused: LOADING Redis is loading"));
    /* configuration errors and refusals are not outages */
    assert_false(sl_rblock_outage("redis: AUTH refused: WRONGPASS invalid username-password pair"));
    assert_false(sl_rblock_outage("redis: SCRIPT LOAD refused: NOPERM this user has no "
                                  "permissions"));
    assert_false(sl_rblock_outage("ERR Error running script"));
    assert_false(sl_rblock_outage("NOSCRIPT No matching script"));
    assert_false(sl_rblock_outage("OOMPH not a code"));
    assert_false(sl_rblock_outage("BUSYKEY Target key name already exists."));
    assert_false(sl_rblock_outage(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(outage)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

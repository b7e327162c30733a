/* Unit tests: option parsing (defaults, environment, flags, bounds) and
 * Redis URLs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

static const char *s_url, *s_name;
static long long s_conc;
static int s_json;

static const sl_option opts[] = {
    {"redis-url", "T_URL", SL_OPT_SECRET, &s_url, "redis://127.0.0.1:6379/0", 0, 0, "url"},
    {"name", NULL, SL_OPT_STR, &s_name, NULL, 0, 0, "name"},
    {"concurrency", "T_CONC", SL_OPT_INT, &s_conc, "100", 1, 1000, "jobs"},
    {"json", NULL, SL_OPT_BOOL, &s_json, NULL, 0, 0, "json"},
    {0},
};

static int parse(int argc, char **argv, char **pos, int *npos, char *err)
{
    return sl_config_parse(opts, argc, argv, pos, npos, err, 256);
}

static void defaults_env_flags(void **state)
{
    (void)state;
    char err[256];
    unsetenv("T_CONC");
    char *a1[] = {"prog"};
    assert_int_equal(parse(1, a1, NULL, NULL, err), 0);
    assert_int_equal(s_conc, 100);
    assert_null(s_name);
    setenv("T_CONC", "7", 1);
    assert_int_equal(parse(1, a1, NULL, NULL, err), 0);
    assert_int_equal(s_conc, 7);
    char *a2[] = {"prog", "--concurrency", "9", "--name=x", "--json"};
    assert_int_equal(parse(5, a2, NULL, NULL, err), 0);
    assert_int_equal(s_conc, 9); /* the flag beats the environment */
    assert_string_equal(s_name, "x");
    assert_int_equal(s_json, 1);
    unsetenv("T_CONC");
}

/* An option fills the field it sets, whatever its integer type: an int
 * (SL_OPT_INT32) with its neighbours untouched, an int64_t, a size_t. */
static void typed_targets(void **state)
{
    (void)state;
    char err[256];
    struct {
        int guard1, n, guard2;
        int64_t ms;
        size_t bytes;
    } t = {-1, 0, -1, 0, 0};
    const sl_option typed[] = {
        {"n", NULL, SL_OPT_INT32, &t.n, "5", -100, 100000, "an int"},
        {"ms", "T_MS", SL_OPT_INT, &t.ms, "30000", 0, 31536000000LL, "an int64_t"},
        {"bytes", NULL, SL_OPT_INT, &t.bytes, "10485760", 1, 1073741824, "a size_t"},
        {0},
    };
    unsetenv("T_MS");
    char *a1[] = {"prog"};
    assert_int_equal(sl_config_parse(typed, 1, a1, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(t.n, 5);
    assert_int_equal(t.ms, 30000);
    assert_int_equal(t.bytes, 10485760);
    setenv("T_MS", "31536000000", 1);
    char *a2[] = {"prog", "--n", "7", "--bytes=4096"};
    assert_int_equal(sl_config_parse(typed, 4, a2, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(t.n, 7);
    assert_int_equal(t.guard1, -1);
    assert_int_equal(t.guard2, -1);
    assert_true(t.ms == 31536000000LL);
    assert_int_equal(t.bytes, 4096);
    char *a3[] = {"prog", "--n", "100001"};
    assert_int_equal(sl_config_parse(typed, 3, a3, NULL, NULL, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "--n: 100001 is outside the allowed range -100..100000"));
    unsetenv("T_MS");
}

static void positionals_anywhere(void **state)
{
    (void)state;
    char err[256];
    char *pos[4];
    int npos = 4;
    char *a[] = {"prog", "show", "--json", "ID1", "--", "--weird"};
    assert_int_equal(parse(6, a, pos, &npos, err), 0);
    assert_int_equal(npos, 3);
    assert_string_equal(pos[0], "show");
    assert_string_equal(pos[1], "ID1");
    assert_string_equal(pos[2], "--weird");
}

static void errors_name_option_and_limit(void **state)
{
    (void)state;
    char err[256];
    char *a1[] = {"prog", "--concurrency", "5000"};
    assert_int_equal(parse(3, a1, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "--concurrency"));
    assert_non_null(strstr(err, "1..1000"));
    char *a2[] = {"prog", "--concurrency", "lots"};
    assert_int_equal(parse(3, a2, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "expected an integer"));
    char *a3[] = {"prog", "--nope"};
    assert_int_equal(parse(2, a3, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "--nope"));
    char *a4[] = {"prog", "--name"};
    assert_int_equal(parse(2, a4, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    setenv("T_CONC", "0", 1);
    char *a5[] = {"prog"};
    assert_int_equal(parse(1, a5, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "T_CONC (environment)"));
    unsetenv("T_CONC");
    char *a6[] = {"prog", "stray"};
    assert_int_equal(parse(2, a6, NULL, NULL, err), SL_EINVAL);
    char *a7[] = {"prog", "--help"};
    assert_int_equal(parse(2, a7, NULL, NULL, err), SL_CONFIG_HELP);
}

/* A secret given as a flag is copied, then blanked in argv (what ps and
 * /proc/PID/cmdline show); a second parse of the same argv gets the copy. */
static void secrets_blanked_from_argv(void **state)
{
    (void)state;
    char err[256];
    char a0[] = "prog", a1[] = "--redis-url", a2[] = "redis://app:hunter2@h:6379/0";
    char *a[] = {a0, a1, a2};
    assert_int_equal(parse(3, a, NULL, NULL, err), 0);
    assert_string_equal(s_url, "redis://app:hunter2@h:6379/0");
    assert_string_equal(a2, "redis://app:***@h:6379/0");
    assert_int_equal(a2[sizeof a2 - 2], '\0'); /* the freed bytes are zeroed */
    assert_int_equal(parse(3, a, NULL, NULL, err), 0);
    assert_string_equal(s_url, "redis://app:hunter2@h:6379/0");

    char b1[] = "--redis-url=redis://:pw@h/0";
    char *b[] = {a0, b1};
    assert_int_equal(parse(2, b, NULL, NULL, err), 0);
    assert_string_equal(s_url, "redis://:pw@h/0");
    assert_string_equal(b1, "--redis-url=redis://:**@h/0");

    char c1[] = "--redis-url", c2[] = "unix:///run/r.sock?db=1&password=s3cret&x=1";
    char *c[] = {a0, c1, c2};
    assert_int_equal(parse(3, c, NULL, NULL, err), 0);
    assert_string_equal(c2, "unix:///run/r.sock?db=1&password=***&x=1");

    char d1[] = "--redis-url", d2[] = "redis://h:6379/0"; /* no password: left alone */
    char *d[] = {a0, d1, d2};
    assert_int_equal(parse(3, d, NULL, NULL, err), 0);
    assert_string_equal(d2, "redis://h:6379/0");
    assert_string_equal(s_url, "redis://h:6379/0");
}

/* --help does not stop the parse: what follows it is still checked, and
 * the arguments before it are collected for the caller to check. */
static void help_reads_everything(void **state)
{
    (void)state;
    char err[256];
    char *pos[2];
    int npos = 2;
    char *a[] = {"prog", "serve", "--help"};
    assert_int_equal(parse(3, a, pos, &npos, err), SL_CONFIG_HELP);
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "serve");
    char *b[] = {"prog", "--help", "--bogus"};
    assert_int_equal(parse(3, b, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "--bogus"));
    char *c[] = {"prog", "-h", "extra"};
    assert_int_equal(parse(3, c, NULL, NULL, err), SL_EINVAL);
    assert_non_null(strstr(err, "extra"));
}

static void redis_urls(void **state)
{
    (void)state;
    char err[256], desc[512];
    sl_redis_addr a;
    assert_int_equal(sl_redis_addr_parse("redis://127.0.0.1:6380/2", &a, err, sizeof err), 0);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 2);
    assert_int_equal(sl_redis_addr_parse("redis://app:p%40ss@h/0", &a, err, sizeof err), 0);
    assert_string_equal(a.user, "app");
    assert_string_equal(a.pass, "p@ss");
    assert_int_equal(a.port, 6379);
    sl_redis_addr_describe(&a, desc, sizeof desc);
    assert_null(strstr(desc, "p@ss")); /* never shows the password */
    assert_non_null(strstr(desc, "app:***@h"));
    assert_int_equal(sl_redis_addr_parse("redis://:pw@h:1", &a, err, sizeof err), 0);
    assert_string_equal(a.pass, "pw");
    assert_string_equal(a.user, "");
    assert_int_equal(sl_redis_addr_parse("unix:///run/r.sock?db=3", &a, err, sizeof err), 0);
    assert_string_equal(a.path, "/run/r.sock");
    assert_int_equal(a.db, 3);
    assert_int_equal(sl_redis_addr_parse("http://x", &a, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "redis://"));
    assert_int_equal(sl_redis_addr_parse("redis://h:99999/0", &a, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(sl_redis_addr_parse("redis://h:1/x", &a, err, sizeof err), SL_EINVAL);
    assert_int_equal(sl_redis_addr_parse("unix://rel", &a, err, sizeof err), SL_EINVAL);
}

static void names(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sl_check_name("queue", "message", err, sizeof err), 0);
    assert_int_equal(sl_check_name("queue", "a-b_1", err, sizeof err), 0);
    assert_int_equal(sl_check_name("queue", "Bad", err, sizeof err), SL_EINVAL);
    assert_int_equal(sl_check_name("queue", "a{b}", err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "queue"));
    assert_int_equal(sl_check_name("queue", "", err, sizeof err), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_env_flags),
        cmocka_unit_test(positionals_anywhere),
        cmocka_unit_test(errors_name_option_and_limit),
        cmocka_unit_test(secrets_blanked_from_argv),
        cmocka_unit_test(help_reads_everything),
        cmocka_unit_test(redis_urls),
        cmocka_unit_test(typed_targets),
        cmocka_unit_test(names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

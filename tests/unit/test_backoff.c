/* Unit tests: retry delays and script hashing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "backoff.h"
#include "scripts.h"
#include "sha1.h"

static void ceiling_doubles_then_caps(void **state)
{
    (void)state;
    sl_backoff b = {1000, 60000};
    assert_int_equal(sl_backoff_ceiling(&b, 1), 1000);
    assert_int_equal(sl_backoff_ceiling(&b, 2), 2000);
    assert_int_equal(sl_backoff_ceiling(&b, 6), 32000);
    assert_int_equal(sl_backoff_ceiling(&b, 7), 60000);
    assert_int_equal(sl_backoff_ceiling(&b, 1000), 60000); /* no overflow */
    assert_int_equal(sl_backoff_ceiling(&b, 0), 1000);
}

static void delay_is_full_jitter_within_ceiling(void **state)
{
    (void)state;
    sl_backoff b = {1000, 60000};
    for (int attempt = 1; attempt < 12; attempt++) {
        int64_t c = sl_backoff_ceiling(&b, attempt);
        assert_int_equal(sl_backoff_delay(&b, attempt, 0.0), c / 10);
        assert_int_equal(sl_backoff_delay(&b, attempt, 0.999999), c);
        int64_t mid = sl_backoff_delay(&b, attempt, 0.5);
        assert_true(mid >= c / 2 - 1 && mid <= c / 2 + 1);
    }
    assert_true(sl_backoff_delay(&b, 1, 7.0) <= 1000); /* clamped input */
}

static void sha1_matches_redis(void **state)
{
    (void)state;
    char hex[41];
    sl_sha1_hex("abc", 3, hex);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    sl_sha1_hex("", 0, hex);
    assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    /* 56 bytes: the padding spills into a second block */
    sl_sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
    assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    for (int i = 0; i < SL_SCRIPT_COUNT; i++) {
        const sl_script *s = sl_script_get(i);
        assert_int_equal(strlen(s->sha), 40);
        assert_true(s->len > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ceiling_doubles_then_caps),
        cmocka_unit_test(delay_is_full_jitter_within_ceiling),
        cmocka_unit_test(sha1_matches_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

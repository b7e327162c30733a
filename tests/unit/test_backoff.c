/* Unit tests: a job's retry delays, Redis reconnect waits, and script
 * hashing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <string.h>

#include "backoff.h"
#include "scripts.h"
#include "sha1.h"

static void ceiling_doubles_then_caps(void **state)
{
    (void)state;
    sl_backoff_retry b = {1000, 60000};
    assert_int_equal(sl_backoff_retry_ceiling(&b, 1), 1000);
    assert_int_equal(sl_backoff_retry_ceiling(&b, 2), 2000);
    assert_int_equal(sl_backoff_retry_ceiling(&b, 6), 32000);
    assert_int_equal(sl_backoff_retry_ceiling(&b, 7), 60000);
    assert_int_equal(sl_backoff_retry_ceiling(&b, 1000), 60000); /* no overflow */
    assert_int_equal(sl_backoff_retry_ceiling(&b, 0), 1000);
}

static void delay_is_full_jitter_within_ceiling(void **state)
{
    (void)state;
    sl_backoff_retry b = {1000, 60000};
    for (int attempt = 1; attempt < 12; attempt++) {
        int64_t c = sl_backoff_retry_ceiling(&b, attempt);
        assert_int_equal(sl_backoff_retry_delay(&b, attempt, 0.0), c / 10);
        assert_int_equal(sl_backoff_retry_delay(&b, attempt, 0.999999), c);
        int64_t mid = sl_backoff_retry_delay(&b, attempt, 0.5);
        assert_true(mid >= c / 2 - 1 && mid <= c / 2 + 1);
    }
    assert_true(sl_backoff_retry_delay(&b, 1, 7.0) <= 1000); /* clamped input */
}

static int near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

/* A lost Redis connection: the wait's ceiling starts at 0.1 s, doubles per
 * failure in a row, and stops at 5 s however long the outage lasts. */
static void reconnect_grows_then_caps(void **state)
{
    (void)state;
    assert_true(near(sl_backoff_reconnect_ceiling(1), SL_BACKOFF_RECONNECT_BASE_S));
    assert_true(near(sl_backoff_reconnect_ceiling(0), SL_BACKOFF_RECONNECT_BASE_S));
    assert_true(near(sl_backoff_reconnect_ceiling(-3), SL_BACKOFF_RECONNECT_BASE_S));
    for (int f = 1; f < 60; f++) {
        double c = sl_backoff_reconnect_ceiling(f), next = sl_backoff_reconnect_ceiling(f + 1);
        double want = c * 2 < SL_BACKOFF_RECONNECT_MAX_S ? c * 2 : SL_BACKOFF_RECONNECT_MAX_S;
        if (!near(next, want))
            fail_msg("ceiling after %d failures: %g, expected %g", f + 1, next, want);
    }
    assert_true(near(sl_backoff_reconnect_ceiling(6), 3.2));
    assert_true(near(sl_backoff_reconnect_ceiling(7), SL_BACKOFF_RECONNECT_MAX_S));
    assert_true(near(sl_backoff_reconnect_ceiling(INT_MAX), SL_BACKOFF_RECONNECT_MAX_S));
}

/* Every wait lies in [ceiling / 2, ceiling], and which one is drawn depends
 * on the draw: connections that went down together (a fleet when Redis
 * restarts) come back spread over half the ceiling, not in one instant. */
static void reconnect_is_bounded_and_jittered(void **state)
{
    (void)state;
    for (int f = 1; f < 40; f++) {
        double c = sl_backoff_reconnect_ceiling(f), prev = -1;
        for (int k = 0; k < 100; k++) {
            double d = sl_backoff_reconnect_delay(f, k / 100.0);
            if (d < c / 2 - 1e-9 || d > c + 1e-9)
                fail_msg("failures=%d draw=%d: %g outside [%g, %g]", f, k, d, c / 2, c);
            if (!(d > prev))
                fail_msg("failures=%d: draws %d and %d give the same wait %g", f, k - 1, k, d);
            prev = d;
        }
        assert_true(near(sl_backoff_reconnect_delay(f, 0.0), c / 2));
        assert_true(sl_backoff_reconnect_delay(f, 0.999999) > c * 0.99);
    }
    /* draws outside [0, 1) are clamped, never outside the bounds */
    const double odd[] = {-1.0, 7.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        double d = sl_backoff_reconnect_delay(1, odd[i]);
        assert_true(d >= SL_BACKOFF_RECONNECT_BASE_S / 2 - 1e-9);
        assert_true(d <= SL_BACKOFF_RECONNECT_BASE_S + 1e-9);
        d = sl_backoff_reconnect_delay(INT_MAX, odd[i]);
        assert_true(d <= SL_BACKOFF_RECONNECT_MAX_S + 1e-9);
    }
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
        cmocka_unit_test(reconnect_grows_then_caps),
        cmocka_unit_test(reconnect_is_bounded_and_jittered),
        cmocka_unit_test(sha1_matches_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

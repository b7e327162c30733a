/* Unit tests: the URLs a PDF may be PUT to (shared/url_allow.c): whole
 * prefixes only, no dot segments, encoded dots, user info, spaces or
 * backslashes; and a signed URL's query kept out of logs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "url_allow.h"

static void expect_url(const char *url, const char *allow, int ok, const char *why_part)
{
    char why[200] = "";
    int got = sl_url_allowed(url, allow, why, sizeof why);
    if (got != ok || (!ok && !strstr(why, why_part)))
        fail_msg("%s under \"%s\": got %d \"%s\", expected %d \"%s\"", url, allow ? allow : "-",
                 got, why, ok, why_part);
}

static void put_allow_list(void **state)
{
    (void)state;
    const char *allow = "http://127.0.0.1:8080/up/, https://files.example.com";
    expect_url("http://127.0.0.1:8080/up/a.pdf", allow, 1, "");
    expect_url("http://127.0.0.1:8080/up/x/y.pdf?sig=1", allow, 1, "");
    expect_url("https://files.example.com/a.pdf", allow, 1, "");
    expect_url("https://files.example.com", allow, 1, "");
    expect_url("https://files.example.com?x=1", allow, 1, "");
    expect_url("https://files.example.com.evil.org/a.pdf", allow, 0, "no prefix");
    expect_url("https://files.example.com@evil.org/a.pdf", allow, 0, "user info");
    expect_url("http://127.0.0.1:8080/upload/a.pdf", allow, 0, "no prefix");
    expect_url("http://127.0.0.1:8080/up/../admin", allow, 0, "dot segments");
    expect_url("http://127.0.0.1:8080/up/..", allow, 0, "dot segments");
    expect_url("http://127.0.0.1:8080/up/./a.pdf", allow, 0, "dot segments");
    expect_url("http://127.0.0.1:8080/up/%2e%2e/admin", allow, 0, "encoded dots");
    expect_url("http://127.0.0.1:8080/up/a b.pdf", allow, 0, "spaces");
    expect_url("http://127.0.0.1:8080/up\\..\\a", allow, 0, "backslashes");
    expect_url("ftp://127.0.0.1/up/a.pdf", allow, 0, "only http");
    expect_url("http://127.0.0.1:8080/up/a..b.pdf", allow, 1, "");
    expect_url("http://127.0.0.1:8080/up/a.pdf?next=/../x", allow, 1, "");
    expect_url("http://127.0.0.1:8080/up/a.pdf", "", 0, "no --pdf-put-allow");
    expect_url("http://127.0.0.1:8080/up/a.pdf", NULL, 0, "no --pdf-put-allow");
    char log[128];
    sl_url_for_log("https://s3.example.com/b/k.pdf?X-Amz-Signature=secret#f", log, sizeof log);
    assert_string_equal(log, "https://s3.example.com/b/k.pdf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_allow_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

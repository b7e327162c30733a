/* Unit tests: the strict JSON front check (jsoncheck.c) — what it accepts
 * cJSON stores unchanged; what it refuses is named with a path and a byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsoncheck.h"
#include "util.h"

/* TEXT (LEN bytes; -1: strlen) is refused at PATH with REASON in the
 * message, at byte AT (-1: any). */
static void refused_n(const char *text, long len, const char *path, const char *reason, long at)
{
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    sl_jsoncheck_error e;
    memset(&e, 0x55, sizeof e);
    int rc = sl_jsoncheck(text, n, &e);
    if (rc != SL_EINVAL)
        fail_msg("accepted: %.*s", (int)n, text);
    if (strcmp(e.path, path) || !strstr(e.reason, reason) || (at >= 0 && (long)e.offset != at))
        fail_msg("%.*s: got path \"%s\" reason \"%s\" at %zu; want \"%s\" \"%s\" at %ld", (int)n,
                 text, e.path, e.reason, e.offset, path, reason, at);
    assert_int_equal(sl_jsoncheck(text, n, NULL), SL_EINVAL); /* E may be NULL */
}

static void refused(const char *text, const char *path, const char *reason)
{
    refused_n(text, -1, path, reason, -1);
}

/* TEXT is accepted, and cJSON prints it back as EXPECT (NULL: as TEXT). */
static void accepted(const char *text, const char *expect)
{
    sl_jsoncheck_error e;
    if (sl_jsoncheck(text, strlen(text), &e))
        fail_msg("refused %s: %s: %s at %zu", text, e.path, e.reason, e.offset);
    cJSON *doc = cJSON_Parse(text);
    assert_non_null(doc);
    char *out = cJSON_PrintUnformatted(doc);
    assert_string_equal(out, expect ? expect : text);
    free(out);
    cJSON_Delete(doc);
}

static void valid_documents(void **state)
{
    (void)state;
    accepted("{}", NULL);
    accepted("[]", NULL);
    accepted("\"x\"", NULL);
    accepted("0", NULL);
    accepted("true", NULL);
    accepted("null", NULL);
    accepted(" \t\r\n{\"a\" : [1, 2.5, -3, {\"b\":null}], \"c\":false} \n",
             "{\"a\":[1,2.5,-3,{\"b\":null}],\"c\":false}");
    accepted("{\"t\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"}", NULL);
    /* escapes decode to the same characters cJSON prints */
    accepted("{\"t\":\"\\u00e9\\ud83d\\ude00\\/\\n\\\"\"}",
             "{\"t\":\"\xc3\xa9\xf0\x9f\x98\x80/\\n\\\"\"}");
    /* the same name in different objects is no duplicate */
    accepted("{\"a\":{\"a\":1},\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":1}]}", NULL);
    /* DEL inside a string is plain JSON */
    accepted("\"a\x7f\"", NULL);
}

static void trailing_data(void **state)
{
    (void)state;
    refused_n("{\"a\":1}{\"b\":2}", -1, "", "a second JSON value", 7);
    refused("{\"ms\":5} trailing", "", "data after the JSON value: 't'");
    refused("[1] [2]", "", "a second JSON value");
    refused("1 2", "", "data after");
    refused("{\"a\":1},", "", "data after");
    refused("truex", "", "data after");
    refused("", "", "no JSON value");
    refused("  \n", "", "no JSON value");
}

static void syntax_errors(void **state)
{
    (void)state;
    refused("{\"a\":1", "", "'}' missing");
    refused("{\"a\":[1,2", "a", "']' missing");
    refused("{\"a\":[1,]}", "a[1]", "expected a value, got ']'");
    refused("{\"a\":1,}", "", "expected a member name");
    refused("{a:1}", "", "expected a member name in quotes, got 'a'");
    refused("{\"a\" 1}", "a", "expected ':'");
    refused("{\"a\":1 \"b\":2}", "", "expected ',' or '}'");
    refused("{\"a\":tru}", "a", "expected true");
    refused("{\"a\":nul", "a", "expected null");
    refused("{\"a\":'x'}", "a", "expected a value, got '''");
    refused("{\"a\":\"x}", "a", "unterminated string");
    refused("{\"a\":\"\\x\"}", "a", "invalid escape: \\ followed by 'x'");
    refused("{\"a\":\"\\u12g4\"}", "a", "four hex digits");
    refused("{\"a\":\"\\u12", "a", "four hex digits");
    refused("{\"a\":01}", "a", "must not start with 0");
    refused("{\"a\":-}", "a", "'-' must be followed by a digit");
    refused("{\"a\":1.}", "a", "after the decimal point");
    refused("{\"a\":1e}", "a", "in the exponent");
    refused("{\"a\":+1}", "a", "expected a value, got '+'");
    refused("{\"a\":.5}", "a", "expected a value");
    refused("{\"a\":NaN}", "a", "expected a value");
    refused("{\"a\":Infinity}", "a", "expected a value");
}

static void nul_bytes(void **state)
{
    (void)state;
    /* cJSON would store "a": two keys "a\u0000b" and "a\u0000c" would collide */
    refused_n("{\"k\":\"a\\u0000b\"}", -1, "k", "\\u0000 (NUL)", 7);
    refused_n("{\"k\":\"a\0b\"}", 11, "k", "NUL byte in a string", 7);
    refused_n("{\"k\":1}\0", 8, "", "NUL byte outside a string", 7);
    refused_n("{\"k\"\0:1}", 8, "k", "NUL byte outside", 4);
}

static void control_characters(void **state)
{
    (void)state;
    refused_n("{\"a\":\x01 1}", -1, "a", "control character 0x01 outside a string", 5);
    refused_n("{\x1f\"a\":1}", -1, "", "control character 0x1f", 1);
    refused_n("{\"a\":1}\x0b", -1, "", "control character 0x0b", 7);
    refused_n("{\"a\":1\x7f}", -1, "", "control character 0x7f", 6);
    refused_n("{\"a\":\"x\ty\"}", -1, "a", "unescaped control character 0x09", 7);
    refused_n("{\"a\":\"x\ny\"}", -1, "a", "write it as \\u000a", 7);
}

static void invalid_utf8(void **state)
{
    (void)state;
    refused_n("{\"t\":\"\xc0\xaf\"}", -1, "t", "overlong encoding", 6);
    refused("{\"t\":\"\xe0\x80\xaf\"}", "t", "overlong encoding");
    refused("{\"t\":\"\xf0\x80\x80\xaf\"}", "t", "overlong encoding");
    refused("{\"t\":\"\xed\xa0\x80\"}", "t", "encodes a surrogate");
    refused("{\"t\":\"\xf4\x90\x80\x80\"}", "t", "beyond U+10FFFF");
    refused("{\"t\":\"\xf5\x80\x80\x80\"}", "t", "beyond U+10FFFF");
    refused("{\"t\":\"\xff\"}", "t", "beyond U+10FFFF");
    refused("{\"t\":\"\x80\"}", "t", "a continuation byte");
    refused("{\"t\":\"\xe2\x82\"}", "t", "truncated sequence");
    refused_n("{\"t\":\"\xe2\x82", -1, "t", "truncated sequence", 6);
    refused("{\"t\":\"\xc3 \"}", "t", "truncated sequence");
    /* in a member name: the path is the object's, the name shows as bytes */
    refused("{\"p\":{\"\xc3\x28\":1}}", "p", "truncated sequence");
    /* outside a string */
    refused("{\"t\":1\xc3\xa9}", "", "expected ',' or '}', got byte 0xc3");
}

static void surrogates(void **state)
{
    (void)state;
    refused_n("{\"t\":\"x\\ud800\"}", -1, "t", "lone high surrogate \\ud800", 7);
    refused("{\"t\":\"\\ud800\\u0041\"}", "t", "lone high surrogate");
    refused("{\"t\":\"\\udbff\\ud800\"}", "t", "lone high surrogate");
    refused("{\"t\":\"\\udc00\"}", "t", "lone low surrogate \\udc00");
    refused("{\"t\":\"\\uDFFF\"}", "t", "lone low surrogate");
    accepted("{\"t\":\"\\uD834\\uDD1E\"}", "{\"t\":\"\xf0\x9d\x84\x9e\"}");
}

static void duplicate_keys(void **state)
{
    (void)state;
    refused_n("{\"a\":1,\"a\":2}", -1, "a", "duplicate member name (first at byte 1)", 7);
    refused("{\"p\":{\"x\":1,\"y\":{},\"x\":[]}}", "p.x", "duplicate");
    /* the same name written two ways */
    refused("{\"\\u0061\":1,\"a\":2}", "a", "duplicate");
    refused("{\"\xc3\xa9\":1,\"\\u00e9\":2}", "\\u00e9", "duplicate");
    refused("{\"\\/\":1,\"/\":2}", "/", "duplicate");
    /* a duplicate after a closed inner object with the same names */
    refused("{\"a\":{\"b\":1,\"c\":2},\"b\":1,\"c\":2,\"a\":3}", "a", "duplicate");
    /* names that differ only after an escape are different */
    accepted("{\"a\\n\":1,\"a\\t\":2,\"a\":3}", NULL);
}

/* An object of N members "k0".."kN-1", with "k0" again at the end when DUP. */
static char *many_members(int n, int dup)
{
    sl_buf b = {0};
    sl_buf_puts(&b, "{\"p\":{");
    for (int i = 0; i < n; i++)
        sl_buf_printf(&b, "%s\"k%d\":{\"k%d\":%d}", i ? "," : "", i, i, i);
    if (dup)
        sl_buf_puts(&b, ",\"k0\":1");
    sl_buf_puts(&b, "}}");
    return b.data;
}

static void many_keys(void **state)
{
    (void)state;
    /* past the 128 keys kept on the stack: the index grows */
    char *ok = many_members(5000, 0);
    sl_jsoncheck_error e;
    assert_int_equal(sl_jsoncheck(ok, strlen(ok), &e), 0);
    free(ok);
    char *dup = many_members(5000, 1);
    refused(dup, "p.k0", "duplicate member name (first at byte 6)");
    free(dup);
}

static void numbers(void **state)
{
    (void)state;
    accepted("[0,-0.5,1.5,123456789,-123456789,2147483647,-2147483648]", NULL);
    accepted("[0.1,0.25,1e-7]", "[0.1,0.25,1e-07]");
    accepted("[1E+2,100.000,1e20,-1.5e300,999999999999999,1.5e-300]",
             "[100,100,1e+20,-1.5e+300,999999999999999,1.5e-300]");
    /* cJSON's own rounding: its 15-digit form is "close enough" for it */
    refused("{\"n\":9007199254740992}", "n", "would be stored as 9.00719925474099e+15");
    accepted("[1234567890123,-0,0.0,2147483648]", "[1234567890123,-0,0,2147483648]");
    refused("{\"n\":1e400}", "n", "out of range (it would be stored as null)");
    refused("{\"n\":-1e400}", "n", "out of range");
    refused("{\"n\":1e-400}", "n", "would be stored as 0");
    refused("{\"n\":9007199254740993}", "n", "would be stored as 9.00719925474099e+15");
    refused("{\"n\":1152921504606846977}", "n", "send big ids as strings");
    refused("{\"n\":0.30000000000000004}", "n", "would be stored as 0.3");
    refused("{\"n\":0.12345678901234567890}", "n", "would be stored as 0.12345678901234568");
    refused("{\"n\":1234567890123456789012345678901234567890123456789012345678901234}", "n",
            "a number of 64 characters");
}

/* The number the check says cJSON stores is the one it stores, and an
 * accepted number is stored with the same double (and, when both are plain
 * integers, the same digits). */
static void numbers_as_cjson_prints_them(void **state)
{
    (void)state;
    srand(42);
    for (int i = 0; i < 20000; i++) {
        char text[80], doc[100];
        int digits = 1 + rand() % 19;
        int k = 0;
        if (rand() % 2)
            text[k++] = '-';
        text[k++] = (char)('1' + rand() % 9);
        for (int d = 1; d < digits; d++)
            text[k++] = (char)('0' + rand() % 10);
        int form = rand() % 4;
        if (form >= 2) {
            text[k++] = '.';
            for (int d = rand() % 18; d >= 0; d--)
                text[k++] = (char)('0' + rand() % 10);
        }
        if (form == 1 || form == 3)
            k += sprintf(text + k, "e%d", rand() % 700 - 350);
        text[k] = '\0';
        snprintf(doc, sizeof doc, "[%s]", text);
        sl_jsoncheck_error e;
        int rc = sl_jsoncheck(doc, strlen(doc), &e);
        cJSON *a = cJSON_Parse(doc);
        assert_non_null(a);
        char *printed = cJSON_PrintUnformatted(a);
        const char *said = strstr(e.reason, "would be stored as ");
        if (rc && strstr(e.reason, "out of range")) {
            assert_string_equal(printed, "[null]");
        } else if (rc) {
            assert_non_null(said);
            char want[80];
            snprintf(want, sizeof want, "[%.*s]", (int)strcspn(said + 19, " "), said + 19);
            assert_string_equal(printed, want);
        } else {
            assert_true(strtod(printed + 1, NULL) == strtod(text, NULL));
            if (form == 0 && !strpbrk(printed, "e."))
                assert_string_equal(printed, doc);
        }
        free(printed);
        cJSON_Delete(a);
    }
}

static void paths(void **state)
{
    (void)state;
    refused("{\"payload\":{\"items\":[1,{\"name\":\"\xc0\"}]}}", "payload.items[1].name",
            "overlong");
    refused("[[1],[2,[3,\"\\q\"]]]", "[1][1][1]", "invalid escape");
    sl_jsoncheck_error e;
    const char *t = "{\"text\":\"\\u0000\"}";
    assert_int_equal(sl_jsoncheck(t, strlen(t), &e), SL_EINVAL);
    char msg[512];
    sl_jsoncheck_format(&e, "payload", msg, sizeof msg);
    assert_string_equal(msg, "payload.text: \\u0000 (NUL) in a string: refused, it would cut the "
                             "string (at byte 9)");
    sl_jsoncheck_format(&e, NULL, msg, sizeof msg);
    assert_string_equal(msg, "text: \\u0000 (NUL) in a string: refused, it would cut the string "
                             "(at byte 9)");
    t = "{}x";
    assert_int_equal(sl_jsoncheck(t, strlen(t), &e), SL_EINVAL);
    sl_jsoncheck_format(&e, NULL, msg, sizeof msg);
    assert_string_equal(msg, "(document): data after the JSON value: 'x' (at byte 2)");
    sl_jsoncheck_format(&e, "payload", msg, sizeof msg);
    assert_string_equal(msg, "payload: data after the JSON value: 'x' (at byte 2)");
    /* a long path is cut, still terminated */
    sl_buf b = {0};
    sl_buf_puts(&b, "{");
    for (int i = 0; i < 20; i++)
        sl_buf_printf(&b, "\"%s%d\":{", "a_rather_long_member_name_", i);
    sl_buf_puts(&b, "\"x\":01");
    assert_int_equal(sl_jsoncheck(b.data, b.len, &e), SL_EINVAL);
    assert_true(strlen(e.path) < sizeof e.path);
    assert_non_null(strstr(e.path, "..."));
    sl_buf_deinit(&b);
}

static void depth(void **state)
{
    (void)state;
    char deep[2 * SL_JSONCHECK_MAX_DEPTH + 3];
    int n = SL_JSONCHECK_MAX_DEPTH;
    memset(deep, '[', (size_t)n);
    memset(deep + n, ']', (size_t)n);
    deep[2 * n] = '\0';
    sl_jsoncheck_error e;
    assert_int_equal(sl_jsoncheck(deep, strlen(deep), &e), 0);
    memset(deep, '[', (size_t)n + 1);
    memset(deep + n + 1, ']', (size_t)n + 1);
    deep[2 * n + 2] = '\0';
    assert_int_equal(sl_jsoncheck(deep, strlen(deep), &e), SL_EINVAL);
    assert_non_null(strstr(e.reason, "nested deeper than 128"));
    assert_int_equal(e.offset, 128);
}

/* Every prefix of a valid document, and every single-byte change of it,
 * is either refused or read by cJSON and printed back with the same
 * value; never a crash (under ASan). */
static void every_prefix_and_byte(void **state)
{
    (void)state;
    const char *doc = "{\"type\":\"message\",\"payload\":{\"text\":\"h\xc3\xa9llo \\ud83d\\ude00\","
                      "\"n\":[1,2.5,-3e2,true,null],\"k\":\"a\\\"b\"}}";
    size_t len = strlen(doc);
    char buf[256];
    static const unsigned char subs[] = {0,    1,    '"',  '\\', '{',  '}',  '[',  ']',  ',',
                                         ':',  '0',  'e',  '-',  '.',  ' ',  '\n', 0x7f, 0x80,
                                         0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xff};
    int accepted_n = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        if (sl_jsoncheck(doc, cut, NULL) == 0) {
            accepted_n++;
            assert_int_equal(cut, len);
        }
    }
    for (size_t at = 0; at < len; at++) {
        for (size_t k = 0; k < sizeof subs; k++) {
            memcpy(buf, doc, len);
            buf[at] = (char)subs[k];
            if (sl_jsoncheck(buf, len, NULL))
                continue;
            accepted_n++;
            cJSON *a = cJSON_ParseWithLength(buf, len);
            assert_non_null(a);
            char *printed = cJSON_PrintUnformatted(a);
            /* printed back, it is accepted again and reads the same */
            assert_int_equal(sl_jsoncheck(printed, strlen(printed), NULL), 0);
            cJSON *b = cJSON_Parse(printed);
            assert_true(cJSON_Compare(a, b, 1));
            free(printed);
            cJSON_Delete(a);
            cJSON_Delete(b);
        }
    }
    assert_true(accepted_n > 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_documents),
        cmocka_unit_test(trailing_data),
        cmocka_unit_test(syntax_errors),
        cmocka_unit_test(nul_bytes),
        cmocka_unit_test(control_characters),
        cmocka_unit_test(invalid_utf8),
        cmocka_unit_test(surrogates),
        cmocka_unit_test(duplicate_keys),
        cmocka_unit_test(many_keys),
        cmocka_unit_test(numbers),
        cmocka_unit_test(numbers_as_cjson_prints_them),
        cmocka_unit_test(paths),
        cmocka_unit_test(depth),
        cmocka_unit_test(every_prefix_and_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

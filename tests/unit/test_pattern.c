/* Unit tests: the schema validator's byte-set fast path for simple patterns
 * must accept exactly what regexec accepts. Random strings over an alphabet
 * full of edge cases go through the envelope's id, queue and batch fields;
 * the verdict is compared with regexec of the same pattern. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "util.h"

static void agree(const char *field, const char *pattern, size_t maxlen)
{
    static const char alphabet[] = "azAZ09_-.:{} /\\^$[]\x7f\xc3\xa9";
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    const cJSON *schema = sl_schema_get("envelope");
    srand(42);
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        char s[12];
        int n = rand() % 6;
        for (int j = 0; j < n; j++)
            s[j] = alphabet[rand() % (sizeof alphabet - 1)];
        s[n] = '\0';
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "type", "noop");
        cJSON_AddItemToObject(doc, "payload", cJSON_CreateObject());
        cJSON_AddStringToObject(doc, field, s);
        char err[256];
        int valid = sl_schema_validate(schema, doc, NULL, err, sizeof err) == 0;
        int want = regexec(&re, s, 0, NULL, 0) == 0 && strlen(s) <= maxlen && strlen(s) >= 1;
        if (valid != want)
            fail_msg("%s=\"%s\": validator says %d, regexec %d (%s)", field, s, valid, want, err);
        accepted += valid;
        cJSON_Delete(doc);
    }
    assert_true(accepted > 100); /* the alphabet reaches both verdicts */
    regfree(&re);
}

static void fast_path_agrees_with_regexec(void **state)
{
    (void)state;
    agree("id", "^[0-9A-Za-z_-]+$", 64);
    agree("queue", "^[a-z][a-z0-9_-]*$", 64);
    agree("batch", "^[0-9A-Za-z_.:-]+$", 64);
}

int main(void)
{
    sl_schema_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_path_agrees_with_regexec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_schema.c — the schema validator: every keyword it interprets, the
 * messages it writes, start-up refusal of schemas it cannot honour, and the
 * shared vectors in tests/schema/vectors.json (which tests/schema/crosscheck.py
 * also runs through python3-jsonschema). Run from the repository root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "schema.h"

/* Same layout as tools/embed.sh writes; see the seam in shared/schema.c. */
struct sl_embedded {
    const char *name;
    const char *text;
    size_t len;
};
const struct sl_embedded *sl_schema_extra_sources = NULL;

/* Schemas that use the keywords schemas/ does not. Written with single quotes
 * for legibility; main() turns them into double quotes before loading. */
static char t_types[] = "{'properties': {'o': {'type': 'object'}, 'a': {'type': 'array'},"
                        " 's': {'type': 'string'}, 'i': {'type': 'integer'},"
                        " 'n': {'type': 'number'}, 'b': {'type': 'boolean'},"
                        " 'z': {'type': 'null'}, 'sn': {'type': ['string', 'null']}}}";
static char t_values[] = "{'properties': {'e': {'enum': [1, 'a', null, true, {'k': [1, 2]}]},"
                         " 'c': {'const': 'fixed'}, 'co': {'const': {'x': 1}}}}";
static char t_numbers[] = "{'properties': {'r': {'minimum': 1.5, 'maximum': 2.5},"
                          " 'x': {'exclusiveMinimum': 0, 'exclusiveMaximum': 10}}}";
static char t_strings[] = "{'properties': {'len': {'minLength': 2, 'maxLength': 4},"
                          " 'code': {'pattern': '^[A-Z]{3}$'}, 'sub': {'pattern': 'b+'}}}";
static char t_arrays[] = "{'properties': {'tags': {'type': 'array', 'minItems': 1, 'maxItems': 4,"
                         " 'items': {'type': 'string', 'maxLength': 3}},"
                         " 'grid': {'items': {'items': {'type': 'integer'}}}}}";
static char t_objects[] = "{'required': ['known'], 'properties': {'known': {}, 'no': false,"
                          " 'yes': true, 'inner': {'properties': {'a': {}},"
                          " 'additionalProperties': false}},"
                          " 'additionalProperties': {'type': 'integer'}}";
static char t_logic[] =
    "{'properties': {"
    " 'all': {'allOf': [{'type': 'integer'}, {'minimum': 10}]},"
    " 'any': {'anyOf': [{'type': 'string'}, {'type': 'integer', 'minimum': 0}]},"
    " 'one': {'oneOf': [{'type': 'integer'}, {'minimum': 5}]},"
    " 'not': {'not': {'type': 'string'}}}}";
static char t_cond[] = "{'properties': {'kind': {'enum': ['a', 'b']}},"
                       " 'if': {'properties': {'kind': {'const': 'a'}}, 'required': ['kind']},"
                       " 'then': {'required': ['x']}, 'else': {'required': ['y']}}";
static char t_ref[] = "{'$ref': '#/$defs/node', '$defs': {"
                      " 'node': {'type': 'object', 'required': ['name'],"
                      "  'additionalProperties': false, 'properties': {"
                      "  'name': {'$ref': '#/$defs/name'},"
                      "  'children': {'type': 'array', 'items': {'$ref': '#/$defs/node'}}}},"
                      " 'name': {'type': 'string', 'pattern': '^[a-z]+$'}}}";
static char t_cycle[] = "{'$ref': '#/$defs/a', '$defs': {'a': {'$ref': '#/$defs/a'}}}";
static char t_notes[] = "{'$schema': 'https://json-schema.org/draft/2020-12/schema',"
                        " '$id': 'https://sluice.invalid/t', 'title': 't', 'description': 'd',"
                        " '$comment': 'c', 'default': 5, 'examples': [5], 'type': 'string'}";

/* clang-format off */
#define SOURCE(name) {#name, name, sizeof name - 1}
/* clang-format on */
static struct sl_embedded test_sources[] = {
    SOURCE(t_types),  SOURCE(t_values),  SOURCE(t_numbers), SOURCE(t_strings),
    SOURCE(t_arrays), SOURCE(t_objects), SOURCE(t_logic),   SOURCE(t_cond),
    SOURCE(t_ref),    SOURCE(t_cycle),   SOURCE(t_notes),   {NULL, NULL, 0},
};

static void swap_quotes(char *s)
{
    for (; *s; s++)
        if (*s == '\'')
            *s = '"';
}

/* Parses TEXT, written with single quotes. */
static cJSON *parse(const char *text)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    swap_quotes(copy);
    cJSON *doc = cJSON_Parse(copy);
    if (doc == NULL)
        fail_msg("test document does not parse: %s", copy);
    free(copy);
    return doc;
}

static int validate(const char *schema, const char *doc_text, const char *prefix, char *err,
                    size_t errlen)
{
    const cJSON *s = sl_schema_get(schema);
    if (s == NULL)
        fail_msg("no schema %s", schema);
    cJSON *doc = parse(doc_text);
    int rc = sl_schema_validate(s, doc, prefix, err, errlen);
    cJSON_Delete(doc);
    return rc;
}

static void expect_valid(const char *schema, const char *doc)
{
    char err[256];
    if (validate(schema, doc, NULL, err, sizeof err) != 0)
        fail_msg("%s: %s should be valid, got: %s", schema, doc, err);
}

/* Expects DOC to fail with exactly MESSAGE. */
static void expect_error_at(const char *schema, const char *doc, const char *prefix,
                            const char *message)
{
    char err[256];
    if (validate(schema, doc, prefix, err, sizeof err) != -1)
        fail_msg("%s: %s should be invalid (%s)", schema, doc, message);
    if (strcmp(err, message) != 0)
        fail_msg("%s: %s\n  expected: %s\n  got:      %s", schema, doc, message, err);
}

static void expect_error(const char *schema, const char *doc, const char *message)
{
    expect_error_at(schema, doc, NULL, message);
}

/* ---- schemas the validator must refuse at start-up ---- */

/* Runs sl_schema_init() in a child with BAD loaded too, and expects it to
 * abort with a message holding each of NEEDLES. Only works while this
 * process has not loaded the schemas yet (the child inherits that state),
 * so main() runs these tests first. */
static void expect_refused(const char *bad_text, const char *const *needles)
{
    char *text = strdup(bad_text);
    assert_non_null(text);
    swap_quotes(text);
    const struct sl_embedded bad[] = {{"t_bad", text, strlen(text)}, {NULL, NULL, 0}};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        sl_schema_extra_sources = bad;
        sl_schema_init();
        _exit(0);
    }
    close(fds[1]);
    char out[2048];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(text);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("schema %s was not refused (status %d, stderr: %s)", bad_text, status, out);
    for (; *needles != NULL; needles++)
        if (strstr(out, *needles) == NULL)
            fail_msg("refusal should mention %s, says: %s", *needles, out);
}

static void test_refuses_unknown_keyword(void **state)
{
    (void)state;
    expect_refused("{'properties': {'id': {'type': 'string', 'format': 'uuid'}}}",
                   (const char *[]){"\"t_bad\"", "#/properties/id", "\"format\"", NULL});
    expect_refused("{'minProperties': 1}",
                   (const char *[]){"\"t_bad\"", "\"minProperties\"", NULL});
    expect_refused("{'anyOf': [{}, {'prefixItems': []}]}",
                   (const char *[]){"#/anyOf/1", "\"prefixItems\"", NULL});
}

static void test_refuses_bad_json(void **state)
{
    (void)state;
    expect_refused("{'type': 'string',\n 'maxLength': }",
                   (const char *[]){"\"t_bad\"", "not valid JSON", "line 2", NULL});
}

static void test_refuses_bad_values(void **state)
{
    (void)state;
    expect_refused("{'type': 'int'}", (const char *[]){"\"t_bad\"", "\"type\"", NULL});
    expect_refused("{'maxLength': -1}", (const char *[]){"\"maxLength\"", NULL});
    expect_refused("{'minimum': '3'}", (const char *[]){"\"minimum\"", NULL});
    expect_refused("{'enum': []}", (const char *[]){"\"enum\"", NULL});
    expect_refused("{'required': [1]}", (const char *[]){"\"required\"", NULL});
    expect_refused("{'properties': {'a': 3}}",
                   (const char *[]){"#/properties/a", "object or a boolean", NULL});
    expect_refused("{'$schema': 'http://json-schema.org/draft-07/schema#'}",
                   (const char *[]){"\"$schema\"", NULL});
}

static void test_refuses_bad_patterns(void **state)
{
    (void)state;
    expect_refused("{'pattern': '^[a-z'}", (const char *[]){"\"pattern\"", "compile", NULL});
    /* Each of these means one thing to regcomp and another to ECMA-262. */
    expect_refused("{'pattern': '^\\\\d+$'}", (const char *[]){"\"pattern\"", "\\d", NULL});
    expect_refused("{'pattern': '^[a-z\\\\-]+$'}", (const char *[]){"inside [...]", NULL});
    expect_refused("{'pattern': '^[]a]$'}", (const char *[]){"\"pattern\"", NULL});
    expect_refused("{'pattern': '^(?=a)'}", (const char *[]){"(?", NULL});
}

static void test_refuses_bad_refs(void **state)
{
    (void)state;
    expect_refused("{'$ref': '#/$defs/missing'}", (const char *[]){"\"$ref\"", "missing", NULL});
    expect_refused("{'$ref': 'other.json'}", (const char *[]){"\"$ref\"", NULL});
    expect_refused("{'$ref': '#/properties/a', 'properties': {'a': {}}}",
                   (const char *[]){"\"$ref\"", NULL});
}

/* ---- lookup ---- */

static void test_get(void **state)
{
    (void)state;
    sl_schema_init();
    sl_schema_init(); /* a second call changes nothing */
    const char *names[] = {"envelope", "noop", "sleep", "fail"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(sl_schema_get(names[i]));
    assert_ptr_equal(sl_schema_get("envelope"), sl_schema_get("envelope"));
    assert_null(sl_schema_get("nope"));
    assert_null(sl_schema_get(""));

    /* Any subschema of a loaded schema validates on its own. */
    const cJSON *env = sl_schema_get("envelope");
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(env, "properties");
    const cJSON *priority = cJSON_GetObjectItemCaseSensitive(props, "priority");
    cJSON *doc = cJSON_CreateString("urgent");
    char err[128];
    assert_int_equal(sl_schema_validate(priority, doc, "priority", err, sizeof err), -1);
    assert_string_equal(err, "priority: \"urgent\" is not one of critical, high, normal, low");
    cJSON_Delete(doc);
}

/* ---- messages the rest of Sluice and its users rely on ---- */

static void test_documented_messages(void **state)
{
    (void)state;
    expect_error_at("sleep", "{'ms': 5000000}", "payload",
                    "payload.ms: 5000000 is above the maximum 3600000");
    expect_error("envelope", "{'type': 'noop', 'payload': {}, 'priority': 'urgent'}",
                 "priority: \"urgent\" is not one of critical, high, normal, low");
    expect_error("envelope", "{'type': 'noop', 'payload': {}, 'colour': 'red'}",
                 "unknown field \"colour\"");
    expect_error_at("sleep", "{'ms': 1, 'colour': 'red'}", "payload",
                    "payload: unknown field \"colour\"");
    expect_error("envelope", "{'payload': {}}", "type: missing (required)");
    expect_error_at("sleep", "{}", "payload", "payload.ms: missing (required)");
    expect_error("envelope", "{'type': 'noop', 'payload': {}, 'max_attempts': 'x'}",
                 "max_attempts: expected integer, got string");
    char doc[400];
    snprintf(doc, sizeof doc, "{'type': 'noop', 'payload': {}, 'idempotency_key': '%0250d'}", 0);
    expect_error("envelope", doc, "idempotency_key: 250 characters, the limit is 200");
    expect_error("envelope", "{'type': 'noop', 'payload': {}, 'queue': 'Bad Queue'}",
                 "queue: \"Bad Queue\" does not match ^[a-z][a-z0-9_-]*$");
    expect_error("envelope", "[]", "expected object, got array");
}

static void test_first_error_wins(void **state)
{
    (void)state;
    /* Required fields are checked before the fields present, then in document order. */
    expect_error("envelope", "{'priority': 'x', 'payload': {}}", "type: missing (required)");
    expect_error("envelope", "{'type': 'noop', 'payload': {}, 'max_attempts': 0, 'queue': 'Q'}",
                 "max_attempts: 0 is below the minimum 1");
}

/* ---- keywords ---- */

static void test_type(void **state)
{
    (void)state;
    expect_valid("t_types",
                 "{'o': {}, 'a': [], 's': '', 'i': -3, 'n': 0.5, 'b': false, 'z': null}");
    expect_valid("t_types", "{'i': 2.0, 'n': 7, 'sn': 'x'}");
    expect_valid("t_types", "{'i': 1e3}");
    expect_valid("t_types", "{'sn': null}");
    expect_error("t_types", "{'o': []}", "o: expected object, got array");
    expect_error("t_types", "{'a': {}}", "a: expected array, got object");
    expect_error("t_types", "{'s': 1}", "s: expected string, got integer");
    expect_error("t_types", "{'i': 1.5}", "i: expected integer, got number");
    expect_error("t_types", "{'i': true}", "i: expected integer, got boolean");
    expect_error("t_types", "{'n': '1'}", "n: expected number, got string");
    expect_error("t_types", "{'b': 0}", "b: expected boolean, got integer");
    expect_error("t_types", "{'z': false}", "z: expected null, got boolean");
    expect_error("t_types", "{'sn': 1}", "sn: expected string or null, got integer");
}

static void test_enum_and_const(void **state)
{
    (void)state;
    expect_valid("t_values", "{'e': 1}");
    expect_valid("t_values", "{'e': 1.0}"); /* JSON Schema compares numbers by value */
    expect_valid("t_values", "{'e': 'a', 'c': 'fixed', 'co': {'x': 1}}");
    expect_valid("t_values", "{'e': null}");
    expect_valid("t_values", "{'e': {'k': [1, 2]}}");
    expect_error("t_values", "{'e': {'k': [2, 1]}}",
                 "e: an object is not one of 1, a, null, true, an object");
    expect_error("t_values", "{'e': false}", "e: false is not one of 1, a, null, true, an object");
    expect_error("t_values", "{'e': '1'}", "e: \"1\" is not one of 1, a, null, true, an object");
    expect_error("t_values", "{'c': 'other'}", "c: must be \"fixed\", got \"other\"");
    expect_error("t_values", "{'co': {'x': 2}}", "co: must be an object, got an object");
}

static void test_numeric_bounds(void **state)
{
    (void)state;
    expect_valid("t_numbers", "{'r': 1.5, 'x': 0.001}");
    expect_valid("t_numbers", "{'r': 2.5, 'x': 9.999}");
    expect_valid("t_numbers", "{'r': 'not a number', 'x': []}"); /* bounds apply to numbers only */
    expect_error("t_numbers", "{'r': 1.25}", "r: 1.25 is below the minimum 1.5");
    expect_error("t_numbers", "{'r': 3}", "r: 3 is above the maximum 2.5");
    expect_error("t_numbers", "{'r': 0.1}", "r: 0.1 is below the minimum 1.5");
    expect_error("t_numbers", "{'x': 0}", "x: 0 is not above the exclusive minimum 0");
    expect_error("t_numbers", "{'x': 10}", "x: 10 is not below the exclusive maximum 10");
    expect_error("t_numbers", "{'x': -1e300}", "x: -1e+300 is not above the exclusive minimum 0");
}

static void test_string_length_and_pattern(void **state)
{
    (void)state;
    expect_valid("t_strings", "{'len': 'ab', 'code': 'EUR', 'sub': 'abba'}");
    /* Lengths count code points: four characters in eight bytes. */
    expect_valid("t_strings", "{'len': '\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9'}");
    expect_valid("t_strings", "{'len': '\xf0\x9f\x98\x80\xf0\x9f\x98\x80'}");
    expect_error("t_strings", "{'len': '\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9'}",
                 "len: 5 characters, the limit is 4");
    expect_error("t_strings", "{'len': 'a'}", "len: 1 character, the minimum is 2");
    expect_error("t_strings", "{'code': 'EU'}", "code: \"EU\" does not match ^[A-Z]{3}$");
    expect_error("t_strings", "{'code': 'EURO'}", "code: \"EURO\" does not match ^[A-Z]{3}$");
    /* An unanchored pattern matches anywhere in the string. */
    expect_error("t_strings", "{'sub': 'acca'}", "sub: \"acca\" does not match b+");
    expect_valid("t_strings", "{'len': 12, 'code': null}"); /* string rules skip other types */
}

static void test_array_items(void **state)
{
    (void)state;
    expect_valid("t_arrays", "{'tags': ['a', 'bb', 'ccc'], 'grid': [[1, 2], [], [3]]}");
    expect_error("t_arrays", "{'tags': []}", "tags: 0 items, the minimum is 1");
    expect_error("t_arrays", "{'tags': ['a', 'b', 'c', 'd', 'e']}",
                 "tags: 5 items, the limit is 4");
    expect_error("t_arrays", "{'tags': ['a', 'b', 'c', 'dddd']}",
                 "tags[3]: 4 characters, the limit is 3");
    expect_error("t_arrays", "{'grid': [[1], [2, 3, 'x']]}",
                 "grid[1][2]: expected integer, got string");
    expect_error_at("t_arrays", "{'tags': [1]}", "payload",
                    "payload.tags[0]: expected string, got integer");
    expect_valid("t_arrays", "{'grid': 'items apply to arrays only'}");
}

static void test_objects(void **state)
{
    (void)state;
    expect_valid("t_objects", "{'known': 1, 'yes': 'anything', 'extra': 2, 'more': -1}");
    expect_error("t_objects", "{'yes': 1}", "known: missing (required)");
    expect_error("t_objects", "{'known': 1, 'extra': 'x'}", "extra: expected integer, got string");
    expect_error("t_objects", "{'known': 1, 'no': 1}", "no: not allowed");
    expect_error("t_objects", "{'known': 1, 'inner': {'a': 1, 'b': 2}}",
                 "inner: unknown field \"b\"");
}

static void test_combinators(void **state)
{
    (void)state;
    expect_valid("t_logic", "{'all': 10, 'any': 'x', 'one': 3, 'not': 1}");
    expect_valid("t_logic", "{'any': 0, 'one': 7.5, 'not': null}");
    expect_error("t_logic", "{'all': 9}", "all: 9 is below the minimum 10");
    expect_error("t_logic", "{'all': 10.5}", "all: expected integer, got number");
    expect_error("t_logic", "{'any': -1}",
                 "any: matches none of the 2 alternatives "
                 "(first: any: expected string, got integer)");
    expect_error("t_logic", "{'one': 7}",
                 "one: matches alternatives 1 and 2, but oneOf allows exactly one");
    expect_error("t_logic", "{'one': 2.5}",
                 "one: matches none of the 2 alternatives "
                 "(first: one: expected integer, got number)");
    expect_error("t_logic", "{'not': 'text'}", "not: must not match the schema in \"not\"");
}

static void test_if_then_else(void **state)
{
    (void)state;
    expect_valid("t_cond", "{'kind': 'a', 'x': 1}");
    expect_valid("t_cond", "{'kind': 'b', 'y': 1}");
    expect_valid("t_cond", "{'y': 1}");
    expect_error("t_cond", "{'kind': 'a', 'y': 1}", "x: missing (required)");
    expect_error("t_cond", "{'kind': 'b', 'x': 1}", "y: missing (required)");
    expect_error("t_cond", "{}", "y: missing (required)");
    expect_error("t_cond", "{'kind': 'c', 'y': 1}", "kind: \"c\" is not one of a, b");
}

static void test_ref_and_defs(void **state)
{
    (void)state;
    expect_valid("t_ref", "{'name': 'root', 'children': [{'name': 'a'},"
                          " {'name': 'b', 'children': [{'name': 'c'}]}]}");
    expect_error("t_ref",
                 "{'name': 'root', 'children': [{'name': 'a'},"
                 " {'name': 'b', 'children': [{'name': 'C'}]}]}",
                 "children[1].children[0].name: \"C\" does not match ^[a-z]+$");
    expect_error("t_ref", "{'children': []}", "name: missing (required)");
    expect_error("t_ref", "{'name': 'a', 'kids': []}", "unknown field \"kids\"");

    /* The envelope's type and queue share one definition. */
    const cJSON *env = sl_schema_get("envelope");
    const cJSON *name =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(env, "$defs"), "name");
    cJSON *doc = cJSON_CreateString("Bad");
    char err[128];
    assert_int_equal(sl_schema_validate(name, doc, NULL, err, sizeof err), -1);
    assert_string_equal(err, "\"Bad\" does not match ^[a-z][a-z0-9_-]*$");
    cJSON_Delete(doc);
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    /* A $ref cycle that consumes nothing ends in an error, not a stack overflow. */
    expect_error("t_cycle", "1", "nested more than 64 levels deep");

    /* So does a document nested past the limit. */
    char doc[2048];
    size_t len = 0;
    for (int i = 0; i < 70; i++)
        len += (size_t)snprintf(doc + len, sizeof doc - len, "{'name': 'n', 'children': [");
    len += (size_t)snprintf(doc + len, sizeof doc - len, "{'name': 'leaf'}");
    for (int i = 0; i < 70; i++)
        len += (size_t)snprintf(doc + len, sizeof doc - len, "]}");
    char err[2048];
    assert_true(len < sizeof doc);
    assert_int_equal(validate("t_ref", doc, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested more than 64 levels deep"));
}

static void test_annotations_are_ignored(void **state)
{
    (void)state;
    expect_valid("t_notes", "'x'");
    expect_error("t_notes", "5", "expected string, got integer");
}

/* ---- message hygiene ---- */

static void test_values_are_cut_and_escaped(void **state)
{
    (void)state;
    char doc[256], want[256];
    snprintf(doc, sizeof doc, "{'code': '%s'}",
             "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
    snprintf(want, sizeof want, "code: \"%s...\" does not match ^[A-Z]{3}$",
             "abcdefghijklmnopqrstuvwxyzabcdefghijklmn");
    expect_error("t_strings", doc, want);
    /* Quotes and backslashes are escaped, control characters replaced: one line per message. */
    expect_error("t_strings", "{'code': 'a\\\\\\\"b\\nc'}",
                 "code: \"a\\\\\\\"b?c\" does not match ^[A-Z]{3}$");
    /* A multi-byte character is never split. */
    char long_utf8[200] = "";
    for (int i = 0; i < 45; i++)
        strcat(long_utf8, "\xc3\xa9");
    snprintf(doc, sizeof doc, "{'code': '%s'}", long_utf8);
    long_utf8[80] = '\0';
    snprintf(want, sizeof want, "code: \"%s...\" does not match ^[A-Z]{3}$", long_utf8);
    expect_error("t_strings", doc, want);
}

static void test_error_buffer_limits(void **state)
{
    (void)state;
    char small[12];
    memset(small, 'x', sizeof small);
    assert_int_equal(validate("sleep", "{'ms': 5000000}", "payload", small, sizeof small), -1);
    assert_string_equal(small, "payload.ms:");
    assert_int_equal(validate("sleep", "{'ms': 5000000}", NULL, NULL, 0), -1);
    assert_int_equal(validate("sleep", "{'ms': 5}", NULL, NULL, 0), 0);
    char one[1] = {'x'};
    assert_int_equal(validate("sleep", "{'ms': -1}", NULL, one, sizeof one), -1);
    assert_int_equal(one[0], '\0');
    char err[64] = "stale";
    assert_int_equal(validate("sleep", "{'ms': 5}", NULL, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(validate("sleep", "{'ms': -1}", "", err, sizeof err), -1);
    assert_string_equal(err, "ms: -1 is below the minimum 0");
}

/* ---- the vectors shared with crosscheck.py ---- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (run the test from the repository root)", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    assert_true(size >= 0);
    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

static void test_vectors(void **state)
{
    (void)state;
    char *text = read_file("tests/schema/vectors.json");
    cJSON *vectors = cJSON_Parse(text);
    free(text);
    assert_true(cJSON_IsArray(vectors));
    int count = 0, failed = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vectors)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "schema");
        const cJSON *doc = cJSON_GetObjectItemCaseSensitive(v, "doc");
        const cJSON *valid = cJSON_GetObjectItemCaseSensitive(v, "valid");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(v, "error");
        assert_true(cJSON_IsString(name) && doc != NULL && cJSON_IsBool(valid));
        const cJSON *schema = sl_schema_get(name->valuestring);
        if (schema == NULL)
            fail_msg("vector %d: no schema %s", count, name->valuestring);
        char err[512];
        int rc = sl_schema_validate(schema, doc, NULL, err, sizeof err);
        if ((rc == 0) != cJSON_IsTrue(valid)) {
            char *json = cJSON_PrintUnformatted(doc);
            print_error("vector %d (%s %.80s): expected %s, got %s\n", count, name->valuestring,
                        json, cJSON_IsTrue(valid) ? "valid" : "invalid", rc == 0 ? "valid" : err);
            free(json);
            failed++;
        } else if (rc != 0 && cJSON_IsString(error) && strstr(err, error->valuestring) == NULL) {
            print_error("vector %d (%s): expected an error containing '%s', got '%s'\n", count,
                        name->valuestring, error->valuestring, err);
            failed++;
        }
        count++;
    }
    cJSON_Delete(vectors);
    assert_true(count >= 40);
    assert_int_equal(failed, 0);
}

int main(void)
{
    for (struct sl_embedded *s = test_sources; s->name != NULL; s++)
        swap_quotes((char *)s->text);
    sl_schema_extra_sources = test_sources;

    /* These fork before anything is loaded: the children must load from scratch. */
    const struct CMUnitTest refusals[] = {
        cmocka_unit_test(test_refuses_unknown_keyword), cmocka_unit_test(test_refuses_bad_json),
        cmocka_unit_test(test_refuses_bad_values),      cmocka_unit_test(test_refuses_bad_patterns),
        cmocka_unit_test(test_refuses_bad_refs),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_documented_messages),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_enum_and_const),
        cmocka_unit_test(test_numeric_bounds),
        cmocka_unit_test(test_string_length_and_pattern),
        cmocka_unit_test(test_array_items),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_combinators),
        cmocka_unit_test(test_if_then_else),
        cmocka_unit_test(test_ref_and_defs),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_annotations_are_ignored),
        cmocka_unit_test(test_values_are_cut_and_escaped),
        cmocka_unit_test(test_error_buffer_limits),
        cmocka_unit_test(test_vectors),
    };
    int failed = cmocka_run_group_tests_name("schema refusals", refusals, NULL, NULL);
    return failed + cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}

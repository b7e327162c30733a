/* schema.c — see schema.h.
 *
 * sl_schema_init() compiles every schema once into a tree of struct node: each
 * keyword looked up, checked and converted, each pattern compiled by regcomp(3).
 * A table sorted by address maps every schema object, subschemas included, to
 * its node, so a caller may validate against any part of a schema it holds.
 * Validation then only reads that shared data: it parses nothing, compiles
 * nothing and allocates nothing, and any number of threads may validate at
 * once.
 *
 * A keyword this file does not interpret stops the process at start-up: a
 * schema whose rules are silently skipped would let bad jobs through. */
#include "schema.h"
#include "util.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The schema files, compiled in by tools/embed.sh (build/gen/schemas_gen.c). */
struct sl_embedded {
    const char *name; /* file base name without ".json" */
    const char *text;
    size_t len;
};
extern const struct sl_embedded sl_schema_sources[];

/* Test seam: a unit test defines this to load schemas of its own after the
 * embedded ones (the keywords our schemas do not use need testing too). Weak,
 * so the binaries get NULL and load only sl_schema_sources. */
__attribute__((weak)) const struct sl_embedded *sl_schema_extra_sources;

#define DIALECT "https://json-schema.org/draft/2020-12/schema"
#define MAX_DEPTH 64   /* schema nesting followed while validating one document */
#define QUOTE_CHARS 40 /* a string value quoted in a message is cut after this */
#define VALUE_SIZE 200 /* room for one such value, quoted and escaped */

enum {
    T_OBJECT = 1 << 0,
    T_ARRAY = 1 << 1,
    T_STRING = 1 << 2,
    T_INTEGER = 1 << 3,
    T_NUMBER = 1 << 4,
    T_BOOLEAN = 1 << 5,
    T_NULL = 1 << 6,
};
static const char *const type_names[] = {"object", "array",   "string", "integer",
                                         "number", "boolean", "null"};
#define NTYPES (sizeof type_names / sizeof type_names[0])

struct bound {
    double value;
    bool set;
};

struct list {
    struct node **v;
    size_t n;
};

struct prop {
    const char *name;
    struct node *schema;
};

struct node {
    const cJSON *src;         /* the schema (object or boolean) this was compiled from */
    bool never;               /* the schema `false`: no value is valid */
    unsigned types;           /* T_* bits "type" accepts; 0: no "type" */
    const cJSON *enum_values; /* "enum" array, or NULL */
    const cJSON *const_value; /* "const", or NULL */
    struct bound minimum, maximum, exclusive_minimum, exclusive_maximum;
    long min_length, max_length; /* in code points; -1: no limit */
    long min_items, max_items;   /* -1: no limit */
    const char *pattern;         /* "pattern" as written, for messages, or NULL */
    regex_t regex;               /* pattern compiled at init; valid when pattern != NULL */
    struct fast_pattern *fast;   /* the same pattern as byte sets, when simple enough */
    struct prop *props;          /* "properties", in schema order */
    size_t nprops;
    const char **required;
    size_t nrequired;
    struct node *additional; /* "additionalProperties", or NULL: any field goes */
    struct node *items;
    struct list all_of, any_of, one_of;
    struct node *not_schema, *if_schema, *then_schema, *else_schema;
    const cJSON *ref_target; /* what "$ref" names; resolved into ref after loading */
    struct node *ref;
};

struct loaded {
    const char *name;
    cJSON *root;
};

static struct loaded *schemas; /* every schema, by name */
static size_t nschemas;
static struct node **nodes; /* every node, sorted by src once loading is done */
static size_t nnodes, nodes_cap;
static bool initialized;

/* ---- memory: running out at start-up is fatal, as everywhere in Sluice ---- */

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fprintf(stderr, "sluice: schema: out of memory\n");
        abort();
    }
    return p;
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (p == NULL) {
        fprintf(stderr, "sluice: schema: out of memory\n");
        abort();
    }
    return p;
}

/* ---- messages: built in a bounded buffer (sl_fixbuf) ---- */

static bool is_integral(double d)
{
    if (!isfinite(d))
        return false;
    /* Every double from 2^53 up is a whole number; below, the cast is exact. */
    if (d >= 9007199254740992.0 || d <= -9007199254740992.0)
        return true;
    return d == (double)(int64_t)d;
}

static void add_number(sl_fixbuf *b, double d)
{
    if (is_integral(d) && d > -9e18 && d < 9e18) {
        sl_fixbuf_printf(b, "%lld", (long long)d);
        return;
    }
    /* The shortest of %.15g and %.17g that reads back as the same double. */
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        snprintf(tmp, sizeof tmp, "%.17g", d);
    sl_fixbuf_printf(b, "%s", tmp);
}

/* Adds S in double quotes, cut after QUOTE_CHARS code points, so one long or
 * hostile value cannot fill a message or a log line. */
static void add_quoted(sl_fixbuf *b, const char *s)
{
    sl_fixbuf_printf(b, "\"");
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80 && chars++ == QUOTE_CHARS) {
            sl_fixbuf_printf(b, "...");
            break;
        }
        if (*p == '"' || *p == '\\')
            sl_fixbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sl_fixbuf_printf(b, "?");
        else
            sl_fixbuf_printf(b, "%c", *p);
    }
    sl_fixbuf_printf(b, "\"");
}

static void add_value(sl_fixbuf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        add_quoted(b, v->valuestring);
    else if (cJSON_IsNumber(v))
        add_number(b, v->valuedouble);
    else if (cJSON_IsTrue(v))
        sl_fixbuf_printf(b, "true");
    else if (cJSON_IsFalse(v))
        sl_fixbuf_printf(b, "false");
    else if (cJSON_IsNull(v))
        sl_fixbuf_printf(b, "null");
    else if (cJSON_IsArray(v))
        sl_fixbuf_printf(b, "an array");
    else
        sl_fixbuf_printf(b, "an object");
}

/* ---- loading ---- */

struct loader {
    const char *name;  /* the schema being loaded, for messages */
    const cJSON *root; /* its root, which "$ref" resolves against */
    char where[256];   /* location of the node being compiled, as a JSON pointer */
};

__attribute__((format(printf, 2, 3))) _Noreturn static void die(const struct loader *ld,
                                                                const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sluice: schema \"%s\", at #%s: ", ld->name, ld->where);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static size_t where_push(struct loader *ld, const char *segment)
{
    size_t mark = strlen(ld->where);
    snprintf(ld->where + mark, sizeof ld->where - mark, "/%s", segment);
    return mark;
}

static size_t where_push_index(struct loader *ld, int i)
{
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%d", i);
    return where_push(ld, tmp);
}

static void where_pop(struct loader *ld, size_t mark)
{
    ld->where[mark] = '\0';
}

static struct node *compile(struct loader *ld, const cJSON *s);

typedef void compile_fn(struct loader *ld, struct node *n, const cJSON *v, size_t field);

#define FIELD(n, field, type) ((type *)((char *)(n) + (field)))

static void kw_dialect(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)n, (void)field;
    if (!cJSON_IsString(v) || strcmp(v->valuestring, DIALECT) != 0)
        die(ld, "\"$schema\" must be \"%s\": other drafts mean other rules", DIALECT);
}

static void kw_type(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    const cJSON *one = v;
    if (cJSON_IsArray(v)) {
        one = v->child;
        if (one == NULL)
            die(ld, "\"type\" must not be an empty array");
    }
    for (; one != NULL; one = cJSON_IsArray(v) ? one->next : NULL) {
        size_t t = 0;
        while (t < NTYPES && !(cJSON_IsString(one) && strcmp(one->valuestring, type_names[t]) == 0))
            t++;
        if (t == NTYPES)
            die(ld, "\"type\" must be one of object, array, string, integer, number, boolean, "
                    "null, or an array of them");
        n->types |= 1u << t;
    }
}

static void kw_enum(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    if (!cJSON_IsArray(v) || v->child == NULL)
        die(ld, "\"enum\" must be a non-empty array");
    n->enum_values = v;
}

static void kw_const(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)ld, (void)field;
    n->const_value = v;
}

static void kw_bound(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        die(ld, "\"%s\" must be a number", v->string);
    *FIELD(n, field, struct bound) = (struct bound){v->valuedouble, true};
}

static void kw_count(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    if (!cJSON_IsNumber(v) || !is_integral(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 2147483647.0)
        die(ld, "\"%s\" must be an integer from 0 to 2147483647", v->string);
    *FIELD(n, field, long) = (long)v->valuedouble;
}

/* JSON Schema means ECMA-262 regexes; regcomp reads POSIX ERE. They agree on
 * anchors, brackets of plain characters and ranges, alternation, groups and
 * repetition, but not on escapes such as \d (a literal 'd' to glibc), on a
 * backslash inside brackets (literal to POSIX) or on (?...). Refuse those
 * rather than match differently from producers written in other languages. */
static void check_portable(struct loader *ld, const char *re)
{
    bool in_brackets = false;
    for (const char *p = re; *p != '\0'; p++) {
        if (in_brackets) {
            if (*p == '\\' || *p == '[')
                die(ld,
                    "\"pattern\" %s has '%c' inside [...], which POSIX and ECMA regexes "
                    "read differently",
                    re, *p);
            in_brackets = *p != ']';
        } else if (*p == '[') {
            in_brackets = true;
            p += p[1] == '^';
            if (p[1] == ']') /* a member to POSIX; to ECMA, "[]" is an empty class */
                die(ld,
                    "\"pattern\" %s starts a [...] with ']', which POSIX and ECMA regexes "
                    "read differently",
                    re);
        } else if (*p == '\\') {
            if (isalnum((unsigned char)p[1]))
                die(ld, "\"pattern\" %s uses \\%c, which POSIX and ECMA regexes read differently",
                    re, p[1]);
            p += p[1] != '\0';
        } else if (*p == '(' && p[1] == '?') {
            die(ld, "\"pattern\" %s uses (?, which POSIX regexes lack", re);
        }
    }
}

/* Most patterns in our schemas are anchored runs of bracket classes, like
 * ^[a-z][a-z0-9_-]*$: matched with byte sets, they cost a few ns instead of a
 * regexec (which took a fifth of a worker's CPU per job). Only shapes whose
 * greedy match is exact are taken: every atom but the last matches one byte;
 * the last may repeat (*, +). Anything else keeps regexec. */
struct fast_pattern {
    int natoms;
    uint8_t set[4][32]; /* bit c of set[i]: atom i matches byte c */
    char last_quant;    /* '\0' (exactly one), '*' or '+' */
};

static struct fast_pattern *fast_compile(const char *re)
{
    struct fast_pattern f = {0};
    const char *p = re;
    if (*p++ != '^')
        return NULL;
    while (*p == '[') {
        if (f.natoms == 4 || f.last_quant)
            return NULL;
        uint8_t *set = f.set[f.natoms++];
        p++;
        if (*p == '^' || *p == ']')
            return NULL;
        while (*p && *p != ']') {
            unsigned char lo = (unsigned char)*p, hi = lo;
            if (p[1] == '-' && p[2] && p[2] != ']') {
                hi = (unsigned char)p[2];
                p += 3;
            } else {
                p++;
            }
            if (hi < lo)
                return NULL;
            for (unsigned c = lo; c <= hi; c++)
                set[c >> 3] |= (uint8_t)(1u << (c & 7));
        }
        if (*p++ != ']')
            return NULL;
        if (*p == '*' || *p == '+')
            f.last_quant = *p++;
    }
    if (f.natoms == 0 || strcmp(p, "$") != 0)
        return NULL;
    struct fast_pattern *out = xcalloc(1, sizeof *out);
    *out = f;
    return out;
}

static bool fast_match(const struct fast_pattern *f, const unsigned char *s)
{
#define IN(set, c) ((set)[(c) >> 3] & (1u << ((c)&7)))
    int i = 0;
    for (; i < f->natoms - 1; i++, s++)
        if (!*s || !IN(f->set[i], *s))
            return false;
    const uint8_t *last = f->set[i];
    size_t n = 0;
    for (; *s; s++, n++)
        if (!IN(last, *s))
            return false;
    return f->last_quant == '*' || (f->last_quant == '+' ? n >= 1 : n == 1);
#undef IN
}

static void kw_pattern(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    if (!cJSON_IsString(v))
        die(ld, "\"pattern\" must be a string");
    check_portable(ld, v->valuestring);
    int rc = regcomp(&n->regex, v->valuestring, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[128];
        regerror(rc, &n->regex, why, sizeof why);
        die(ld, "\"pattern\" %s does not compile: %s", v->valuestring, why);
    }
    n->pattern = v->valuestring;
    n->fast = fast_compile(v->valuestring);
}

static void kw_properties(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    if (!cJSON_IsObject(v))
        die(ld, "\"properties\" must be an object");
    n->nprops = (size_t)cJSON_GetArraySize(v);
    n->props = xcalloc(n->nprops, sizeof *n->props);
    size_t i = 0;
    for (const cJSON *p = v->child; p != NULL; p = p->next, i++) {
        size_t mark = where_push(ld, "properties");
        where_push(ld, p->string);
        n->props[i] = (struct prop){p->string, compile(ld, p)};
        where_pop(ld, mark);
    }
}

static void kw_required(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    if (!cJSON_IsArray(v))
        die(ld, "\"required\" must be an array of strings");
    n->nrequired = (size_t)cJSON_GetArraySize(v);
    n->required = xcalloc(n->nrequired, sizeof *n->required);
    size_t i = 0;
    for (const cJSON *r = v->child; r != NULL; r = r->next, i++) {
        if (!cJSON_IsString(r))
            die(ld, "\"required\" must be an array of strings");
        n->required[i] = r->valuestring;
    }
}

/* additionalProperties, items, not, if, then, else: one subschema each. */
static void kw_schema(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    size_t mark = where_push(ld, v->string);
    *FIELD(n, field, struct node *) = compile(ld, v);
    where_pop(ld, mark);
}

/* allOf, anyOf, oneOf: a non-empty array of subschemas. */
static void kw_list(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    if (!cJSON_IsArray(v) || v->child == NULL)
        die(ld, "\"%s\" must be a non-empty array of schemas", v->string);
    struct list *l = FIELD(n, field, struct list);
    l->n = (size_t)cJSON_GetArraySize(v);
    l->v = xcalloc(l->n, sizeof *l->v);
    size_t i = 0;
    for (const cJSON *s = v->child; s != NULL; s = s->next, i++) {
        size_t mark = where_push(ld, v->string);
        where_push_index(ld, (int)i);
        l->v[i] = compile(ld, s);
        where_pop(ld, mark);
    }
}

static void kw_ref(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)field;
    static const char prefix[] = "#/$defs/";
    const char *name = cJSON_IsString(v) ? v->valuestring : "";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        die(ld, "\"$ref\" must be \"#/$defs/NAME\", a definition in the same schema");
    name += sizeof prefix - 1;
    const cJSON *defs = cJSON_GetObjectItemCaseSensitive(ld->root, "$defs");
    n->ref_target = cJSON_GetObjectItemCaseSensitive(defs, name);
    if (n->ref_target == NULL)
        die(ld, "\"$ref\" names %s, which the schema's \"$defs\" lacks", v->valuestring);
}

static void kw_defs(struct loader *ld, struct node *n, const cJSON *v, size_t field)
{
    (void)n, (void)field;
    if (!cJSON_IsObject(v))
        die(ld, "\"$defs\" must be an object");
    for (const cJSON *d = v->child; d != NULL; d = d->next) {
        size_t mark = where_push(ld, "$defs");
        where_push(ld, d->string);
        compile(ld, d);
        where_pop(ld, mark);
    }
}

/* Every keyword a schema may use. compile NULL marks an annotation: it is
 * allowed and has no effect on validation. */
static const struct keyword {
    const char *name;
    compile_fn *compile;
    size_t field; /* where in struct node the compiled value goes, when generic */
} keywords[] = {
    {"$schema", kw_dialect, 0},
    {"$id", NULL, 0},
    {"title", NULL, 0},
    {"description", NULL, 0},
    {"default", NULL, 0},
    {"examples", NULL, 0},
    {"$comment", NULL, 0},
    {"type", kw_type, 0},
    {"enum", kw_enum, 0},
    {"const", kw_const, 0},
    {"minimum", kw_bound, offsetof(struct node, minimum)},
    {"maximum", kw_bound, offsetof(struct node, maximum)},
    {"exclusiveMinimum", kw_bound, offsetof(struct node, exclusive_minimum)},
    {"exclusiveMaximum", kw_bound, offsetof(struct node, exclusive_maximum)},
    {"minLength", kw_count, offsetof(struct node, min_length)},
    {"maxLength", kw_count, offsetof(struct node, max_length)},
    {"pattern", kw_pattern, 0},
    {"properties", kw_properties, 0},
    {"required", kw_required, 0},
    {"additionalProperties", kw_schema, offsetof(struct node, additional)},
    {"items", kw_schema, offsetof(struct node, items)},
    {"minItems", kw_count, offsetof(struct node, min_items)},
    {"maxItems", kw_count, offsetof(struct node, max_items)},
    {"allOf", kw_list, offsetof(struct node, all_of)},
    {"anyOf", kw_list, offsetof(struct node, any_of)},
    {"oneOf", kw_list, offsetof(struct node, one_of)},
    {"not", kw_schema, offsetof(struct node, not_schema)},
    {"if", kw_schema, offsetof(struct node, if_schema)},
    {"then", kw_schema, offsetof(struct node, then_schema)},
    {"else", kw_schema, offsetof(struct node, else_schema)},
    {"$ref", kw_ref, 0},
    {"$defs", kw_defs, 0},
};

static struct node *compile(struct loader *ld, const cJSON *s)
{
    struct node *n = xcalloc(1, sizeof *n);
    n->src = s;
    n->min_length = n->max_length = n->min_items = n->max_items = -1;
    if (nnodes == nodes_cap) {
        nodes_cap = nodes_cap ? 2 * nodes_cap : 64;
        nodes = xrealloc(nodes, nodes_cap * sizeof *nodes);
    }
    nodes[nnodes++] = n;

    if (cJSON_IsBool(s)) {
        n->never = cJSON_IsFalse(s);
        return n;
    }
    if (!cJSON_IsObject(s))
        die(ld, "a schema must be an object or a boolean");
    for (const cJSON *kw = s->child; kw != NULL; kw = kw->next) {
        size_t k = 0;
        while (k < sizeof keywords / sizeof keywords[0] && strcmp(kw->string, keywords[k].name))
            k++;
        if (k == sizeof keywords / sizeof keywords[0])
            die(ld,
                "unsupported keyword \"%s\": the validator would ignore it (see shared/schema.c)",
                kw->string);
        if (keywords[k].compile != NULL)
            keywords[k].compile(ld, n, kw, keywords[k].field);
    }
    return n;
}

static int node_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(struct node *const *)a)->src;
    uintptr_t y = (uintptr_t)(*(struct node *const *)b)->src;
    return x < y ? -1 : x > y;
}

/* The node compiled from schema object S, or NULL when S is not part of any
 * loaded schema. */
static struct node *node_find(const cJSON *s)
{
    size_t lo = 0, hi = nnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)nodes[mid]->src < (uintptr_t)s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nnodes && nodes[lo]->src == s ? nodes[lo] : NULL;
}

static void load(const struct sl_embedded *e)
{
    struct loader ld = {.name = e->name};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(e->text, e->len, &end, false);
    if (root == NULL) {
        int line = 1;
        for (const char *p = e->text; end != NULL && p < end; p++)
            line += *p == '\n';
        fprintf(stderr, "sluice: schema \"%s\" is not valid JSON (line %d)\n", e->name, line);
        abort();
    }
    for (size_t i = 0; i < nschemas; i++)
        if (strcmp(schemas[i].name, e->name) == 0)
            die(&ld, "defined twice");
    ld.root = root;
    compile(&ld, root);
    schemas = xrealloc(schemas, (nschemas + 1) * sizeof *schemas);
    schemas[nschemas++] = (struct loaded){e->name, root};
}

void sl_schema_init(void)
{
    if (initialized)
        return;
    for (const struct sl_embedded *e = sl_schema_sources; e->name != NULL; e++)
        load(e);
    for (const struct sl_embedded *e = sl_schema_extra_sources; e && e->name != NULL; e++)
        load(e);
    qsort(nodes, nnodes, sizeof *nodes, node_cmp);
    /* Only now: a "$ref" may name a definition compiled after it. */
    for (size_t i = 0; i < nnodes; i++)
        if (nodes[i]->ref_target != NULL)
            nodes[i]->ref = node_find(nodes[i]->ref_target);
    initialized = true;
}

const cJSON *sl_schema_get(const char *name)
{
    sl_schema_init();
    for (size_t i = 0; i < nschemas; i++)
        if (strcmp(schemas[i].name, name) == 0)
            return schemas[i].root;
    return NULL;
}

void sl_schema_job_types(char *out, size_t outlen)
{
    size_t len = 0;
    if (outlen)
        out[0] = '\0';
    for (const struct sl_embedded *e = sl_schema_sources; e->name != NULL; e++) {
        if (!strcmp(e->name, "envelope"))
            continue;
        int n = snprintf(out + len, outlen - len, "%s%s", len ? ", " : "", e->name);
        if (n < 0 || (size_t)n >= outlen - len)
            return; /* cut */
        len += (size_t)n;
    }
}

/* ---- validation ---- */

/* One step of the path to the value being checked: a field name, or an array
 * index when name is NULL. Kept as pointers and only formatted when a check
 * fails, so the success path does no string work. */
struct step {
    const char *name;
    size_t index;
};

struct ctx {
    const char *prefix; /* put before the path, or NULL */
    char *err;          /* where the message goes; NULL while probing alternatives */
    size_t errlen;
    int depth; /* nodes entered, bounded by MAX_DEPTH against $ref cycles */
    int nsteps;
    struct step steps[MAX_DEPTH + 1];
};

static void push(struct ctx *c, const char *name, size_t index)
{
    assert(c->nsteps <= MAX_DEPTH); /* each step is followed by check(), which bounds depth */
    c->steps[c->nsteps++] = (struct step){name, index};
}

__attribute__((format(printf, 2, 3))) static int fail(const struct ctx *c, const char *fmt, ...)
{
    if (c->err == NULL || c->errlen == 0)
        return -1;
    sl_fixbuf b = {c->err, c->errlen, 0};
    c->err[0] = '\0';
    bool any = c->prefix != NULL && c->prefix[0] != '\0';
    if (any)
        sl_fixbuf_printf(&b, "%s", c->prefix);
    for (int i = 0; i < c->nsteps; i++) {
        if (c->steps[i].name == NULL)
            sl_fixbuf_printf(&b, "[%zu]", c->steps[i].index);
        else
            sl_fixbuf_printf(&b, "%s%s", any ? "." : "", c->steps[i].name);
        any = true;
    }
    if (any)
        sl_fixbuf_printf(&b, ": ");
    if (b.len + 1 < b.size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(b.p + b.len, b.size - b.len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static unsigned type_of(const cJSON *v)
{
    if (cJSON_IsNumber(v))
        return T_NUMBER | (is_integral(v->valuedouble) ? T_INTEGER : 0);
    if (cJSON_IsString(v))
        return T_STRING;
    if (cJSON_IsObject(v))
        return T_OBJECT;
    if (cJSON_IsArray(v))
        return T_ARRAY;
    if (cJSON_IsBool(v))
        return T_BOOLEAN;
    if (cJSON_IsNull(v))
        return T_NULL;
    return 0; /* cJSON_Raw, or an item the caller built wrong: no JSON type at all */
}

static int fail_type(const struct ctx *c, unsigned want, const cJSON *v)
{
    char expected[128];
    sl_fixbuf b = {expected, sizeof expected, 0};
    expected[0] = '\0';
    for (size_t t = 0; t < NTYPES; t++)
        if (want & (1u << t))
            sl_fixbuf_printf(&b, "%s%s", b.len ? " or " : "", type_names[t]);
    unsigned got = type_of(v);
    const char *name = got & T_INTEGER ? "integer" : got & T_NUMBER ? "number" : "no JSON type";
    for (size_t t = 0; t < NTYPES; t++)
        if (got == 1u << t)
            name = type_names[t];
    return fail(c, "expected %s, got %s", expected, name);
}

static int fail_enum(const struct ctx *c, const cJSON *values, const cJSON *v)
{
    char got[VALUE_SIZE], list[256];
    sl_fixbuf g = {got, sizeof got, 0}, l = {list, sizeof list, 0};
    got[0] = list[0] = '\0';
    add_value(&g, v);
    for (const cJSON *e = values->child; e != NULL; e = e->next) {
        if (e != values->child)
            sl_fixbuf_printf(&l, ", ");
        if (cJSON_IsString(e))
            sl_fixbuf_printf(&l, "%s", e->valuestring);
        else
            add_value(&l, e);
    }
    return fail(c, "%s is not one of %s", got, list);
}

static int fail_const(const struct ctx *c, const cJSON *want, const cJSON *v)
{
    char a[VALUE_SIZE], b[VALUE_SIZE];
    sl_fixbuf x = {a, sizeof a, 0}, y = {b, sizeof b, 0};
    a[0] = b[0] = '\0';
    add_value(&x, want);
    add_value(&y, v);
    return fail(c, "must be %s, got %s", a, b);
}

static int fail_bound(const struct ctx *c, double v, const char *rule, double limit)
{
    char a[40], b[40];
    sl_fixbuf x = {a, sizeof a, 0}, y = {b, sizeof b, 0};
    a[0] = b[0] = '\0';
    add_number(&x, v);
    add_number(&y, limit);
    return fail(c, "%s %s %s", a, rule, b);
}

static int check_number(const struct ctx *c, const struct node *n, double v)
{
    if (n->minimum.set && v < n->minimum.value)
        return fail_bound(c, v, "is below the minimum", n->minimum.value);
    if (n->maximum.set && v > n->maximum.value)
        return fail_bound(c, v, "is above the maximum", n->maximum.value);
    if (n->exclusive_minimum.set && v <= n->exclusive_minimum.value)
        return fail_bound(c, v, "is not above the exclusive minimum", n->exclusive_minimum.value);
    if (n->exclusive_maximum.set && v >= n->exclusive_maximum.value)
        return fail_bound(c, v, "is not below the exclusive maximum", n->exclusive_maximum.value);
    return 0;
}

static int check_string(const struct ctx *c, const struct node *n, const char *s)
{
    if (n->min_length >= 0 || n->max_length >= 0) {
        /* Code points, as JSON Schema counts: every byte but UTF-8 continuations. */
        size_t chars = 0;
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            chars += (*p & 0xC0) != 0x80;
        if (n->min_length >= 0 && chars < (size_t)n->min_length)
            return fail(c, "%zu character%s, the minimum is %ld", chars, chars == 1 ? "" : "s",
                        n->min_length);
        if (n->max_length >= 0 && chars > (size_t)n->max_length)
            return fail(c, "%zu character%s, the limit is %ld", chars, chars == 1 ? "" : "s",
                        n->max_length);
    }
    if (n->pattern != NULL && !(n->fast ? fast_match(n->fast, (const unsigned char *)s)
                                        : regexec(&n->regex, s, 0, NULL, 0) == 0)) {
        char got[VALUE_SIZE];
        sl_fixbuf g = {got, sizeof got, 0};
        got[0] = '\0';
        add_quoted(&g, s);
        return fail(c, "%s does not match %s", got, n->pattern);
    }
    return 0;
}

static int check(struct ctx *c, const struct node *n, const cJSON *v);

static int check_object(struct ctx *c, const struct node *n, const cJSON *v)
{
    for (size_t i = 0; i < n->nrequired; i++) {
        if (cJSON_GetObjectItemCaseSensitive(v, n->required[i]) == NULL) {
            push(c, n->required[i], 0);
            fail(c, "missing (required)");
            c->nsteps--;
            return -1;
        }
    }
    if (n->nprops == 0 && n->additional == NULL)
        return 0;
    for (const cJSON *m = v->child; m != NULL; m = m->next) {
        const struct node *sub = NULL;
        for (size_t i = 0; i < n->nprops && sub == NULL; i++)
            if (strcmp(n->props[i].name, m->string) == 0)
                sub = n->props[i].schema;
        if (sub == NULL) {
            sub = n->additional;
            if (sub == NULL)
                continue;
            if (sub->never) {
                char name[VALUE_SIZE];
                sl_fixbuf b = {name, sizeof name, 0};
                name[0] = '\0';
                add_quoted(&b, m->string);
                return fail(c, "unknown field %s", name);
            }
        }
        push(c, m->string, 0);
        int rc = check(c, sub, m);
        c->nsteps--;
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int check_array(struct ctx *c, const struct node *n, const cJSON *v)
{
    if (n->min_items >= 0 || n->max_items >= 0) {
        size_t count = 0;
        for (const cJSON *e = v->child; e != NULL; e = e->next)
            count++;
        if (n->min_items >= 0 && count < (size_t)n->min_items)
            return fail(c, "%zu item%s, the minimum is %ld", count, count == 1 ? "" : "s",
                        n->min_items);
        if (n->max_items >= 0 && count > (size_t)n->max_items)
            return fail(c, "%zu item%s, the limit is %ld", count, count == 1 ? "" : "s",
                        n->max_items);
    }
    if (n->items == NULL)
        return 0;
    size_t i = 0;
    for (const cJSON *e = v->child; e != NULL; e = e->next, i++) {
        push(c, NULL, i);
        int rc = check(c, n->items, e);
        c->nsteps--;
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Checks V against N without reporting to the caller: the message, if any,
 * goes to ERR (or nowhere when ERR is NULL or nobody wants messages). */
static int probe(struct ctx *c, const struct node *n, const cJSON *v, char *err, size_t errlen)
{
    char *saved = c->err;
    size_t saved_len = c->errlen;
    bool wanted = saved != NULL && saved_len > 0 && err != NULL;
    c->err = wanted ? err : NULL;
    c->errlen = wanted ? errlen : 0;
    int rc = check(c, n, v);
    c->err = saved;
    c->errlen = saved_len;
    return rc;
}

static int check_alternatives(struct ctx *c, const struct list *l, bool one, const cJSON *v)
{
    char first[160] = "";
    size_t matched = 0, which[2] = {0, 0};
    for (size_t i = 0; i < l->n; i++) {
        if (probe(c, l->v[i], v, i == 0 ? first : NULL, sizeof first) == 0) {
            if (!one)
                return 0;
            if (matched < 2)
                which[matched] = i + 1;
            matched++;
        }
    }
    if (matched == 1)
        return 0;
    if (matched == 0)
        return fail(c, "matches none of the %zu alternatives (first: %s)", l->n, first);
    return fail(c, "matches alternatives %zu and %zu, but oneOf allows exactly one", which[0],
                which[1]);
}

static int check_node(struct ctx *c, const struct node *n, const cJSON *v)
{
    if (n->never)
        return fail(c, "not allowed");
    if (n->types != 0 && (n->types & type_of(v)) == 0)
        return fail_type(c, n->types, v);
    if (n->enum_values != NULL) {
        const cJSON *e = n->enum_values->child;
        while (e != NULL && !cJSON_Compare(e, v, true))
            e = e->next;
        if (e == NULL)
            return fail_enum(c, n->enum_values, v);
    }
    if (n->const_value != NULL && !cJSON_Compare(n->const_value, v, true))
        return fail_const(c, n->const_value, v);

    int rc = 0;
    if (cJSON_IsNumber(v))
        rc = check_number(c, n, v->valuedouble);
    else if (cJSON_IsString(v))
        rc = check_string(c, n, v->valuestring);
    else if (cJSON_IsObject(v))
        rc = check_object(c, n, v);
    else if (cJSON_IsArray(v))
        rc = check_array(c, n, v);
    if (rc < 0)
        return -1;

    if (n->ref != NULL && check(c, n->ref, v) < 0)
        return -1;
    for (size_t i = 0; i < n->all_of.n; i++)
        if (check(c, n->all_of.v[i], v) < 0)
            return -1;
    if (n->any_of.n > 0 && check_alternatives(c, &n->any_of, false, v) < 0)
        return -1;
    if (n->one_of.n > 0 && check_alternatives(c, &n->one_of, true, v) < 0)
        return -1;
    if (n->not_schema != NULL && probe(c, n->not_schema, v, NULL, 0) == 0)
        return fail(c, "must not match the schema in \"not\"");
    if (n->if_schema != NULL) {
        const struct node *next =
            probe(c, n->if_schema, v, NULL, 0) == 0 ? n->then_schema : n->else_schema;
        if (next != NULL && check(c, next, v) < 0)
            return -1;
    }
    return 0;
}

static int check(struct ctx *c, const struct node *n, const cJSON *v)
{
    if (c->depth >= MAX_DEPTH)
        return fail(c, "nested more than %d levels deep", MAX_DEPTH);
    c->depth++;
    int rc = check_node(c, n, v);
    c->depth--;
    return rc;
}

int sl_schema_validate(const cJSON *schema, const cJSON *doc, const char *path_prefix, char *err,
                       size_t errlen)
{
    const struct node *n = node_find(schema);
    assert(n != NULL && "SCHEMA must come from sl_schema_get()");
    assert(doc != NULL);
    /* Field by field: the 1 KB of steps is written only as far as it is used. */
    struct ctx c;
    c.prefix = path_prefix;
    c.err = err;
    c.errlen = err != NULL ? errlen : 0;
    c.depth = 0;
    c.nsteps = 0;
    if (c.errlen > 0)
        err[0] = '\0';
    return check(&c, n, doc);
}

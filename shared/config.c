/* config.c — see config.h. */
#include "config.h"
#include "util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Stores V in O's integer target: an option fills the field it sets (an
 * int, an int64_t, a size_t...), so its value is not copied by hand. */
static void put_int(const sl_option *o, long long v)
{
    if (o->type == SL_OPT_INT32) {
        assert(o->min >= INT_MIN && o->max <= INT_MAX);
        int i = (int)v;
        memcpy(o->target, &i, sizeof i);
    } else {
        memcpy(o->target, &v, sizeof v);
    }
}

static int set_value(const sl_option *o, const char *val, const char *from, char *err,
                     size_t errlen)
{
    switch (o->type) {
    case SL_OPT_STR:
    case SL_OPT_SECRET:
        *(const char **)o->target = val;
        return 0;
    case SL_OPT_BOOL:
        if (!strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes"))
            *(int *)o->target = 1;
        else if (!strcmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no"))
            *(int *)o->target = 0;
        else {
            snprintf(err, errlen, "%s: expected true or false, got \"%.40s\"", from, val);
            return SL_EINVAL;
        }
        return 0;
    case SL_OPT_INT:
    case SL_OPT_INT32: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end) {
            snprintf(err, errlen, "%s: expected an integer, got \"%.40s\"", from, val);
            return SL_EINVAL;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: %lld is outside the allowed range %lld..%lld", from, v,
                     o->min, o->max);
            return SL_EINVAL;
        }
        put_int(o, v);
        return 0;
    }
    }
    return SL_EINVAL;
}

/* Secrets taken out of argv: where each was, and its copy (kept for the
 * life of the process: option targets point at it). */
static struct {
    const char *at;
    char *copy;
} blanked[16];

/* Overwrites the secret part of V in place: a URL's password
 * (scheme://user:PASS@host, or ?password=PASS), or all of V when it is no
 * URL, with "***", the rest moved up and the freed bytes zeroed. */
static void blank_secret(char *v)
{
    size_t n = strlen(v);
    char *from = v, *to = v + n;
    char *scheme = strstr(v, "://");
    if (scheme) {
        char *host = scheme + 3, *at = strrchr(host, '@'), *pw = strstr(v, "password=");
        if (at) {
            char *colon = memchr(host, ':', (size_t)(at - host));
            from = colon ? colon + 1 : host;
            to = at;
        } else if (pw) {
            from = pw + 9;
            to = from + strcspn(from, "&");
        } else {
            return; /* no password in it */
        }
    }
    size_t stars = (size_t)(to - from) < 3 ? (size_t)(to - from) : 3;
    memset(from, '*', stars);
    memmove(from + stars, to, strlen(to) + 1);
    size_t left = strlen(v);
    memset(v + left, 0, n - left);
}

/* The value of secret option argument VAL (inside argv): a copy, with VAL
 * blanked; the same copy when VAL was blanked before. */
static const char *take_secret(char *val)
{
    size_t k = 0;
    for (; k < sizeof blanked / sizeof blanked[0] && blanked[k].at; k++)
        if (blanked[k].at == val)
            return blanked[k].copy;
    char *copy = sl_strdup(val);
    if (k < sizeof blanked / sizeof blanked[0]) {
        blanked[k].at = val;
        blanked[k].copy = copy;
    }
    blank_secret(val);
    return copy;
}

void sl_config_usage_line(FILE *out, const char *prog, const char *synopsis)
{
    fprintf(out, "usage: %s %s\n", prog, synopsis);
}

int sl_config_parse(const sl_option *opts, int argc, char **argv, char **pos, int *npos, char *err,
                    size_t errlen)
{
    int help = 0;
    int maxpos = npos ? *npos : 0, np = 0;
    char from[160];
    for (const sl_option *o = opts; o->name; o++) {
        if (o->type == SL_OPT_BOOL)
            *(int *)o->target = o->defval && !strcmp(o->defval, "1");
        else if (o->type == SL_OPT_INT || o->type == SL_OPT_INT32)
            put_int(o, o->defval ? strtoll(o->defval, NULL, 10) : 0);
        else
            *(const char **)o->target = o->defval;
    }
    for (const sl_option *o = opts; o->name; o++) {
        const char *v = o->env ? getenv(o->env) : NULL;
        if (!v || !*v)
            continue;
        snprintf(from, sizeof from, "%s (environment)", o->env);
        if (set_value(o, v, from, err, errlen))
            return SL_EINVAL;
    }
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            if (np >= maxpos) {
                snprintf(err, errlen, "unexpected argument \"%.40s\" (see --help)", a);
                return SL_EINVAL;
            }
            pos[np++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help = 1; /* the rest is still checked: "serve --bogus --help" is an error */
            continue;
        }
        if (a[1] != '-') {
            snprintf(err, errlen, "unknown option \"%.40s\" (see --help)", a);
            return SL_EINVAL;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const sl_option *o = opts;
        for (; o->name; o++)
            if (strlen(o->name) == nlen && !strncmp(o->name, name, nlen))
                break;
        if (!o->name) {
            snprintf(err, errlen, "unknown option \"--%.*s\" (see --help)", (int)nlen, name);
            return SL_EINVAL;
        }
        snprintf(from, sizeof from, "--%s", o->name);
        char *val;
        if (o->type == SL_OPT_BOOL && !eq)
            val = "1";
        else if (eq)
            val = (char *)eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errlen, "--%s: needs a value", o->name);
            return SL_EINVAL;
        }
        if (set_value(o, o->type == SL_OPT_SECRET ? take_secret(val) : val, from, err, errlen))
            return SL_EINVAL;
    }
    if (npos)
        *npos = np;
    return help ? SL_CONFIG_HELP : 0;
}

void sl_config_usage(FILE *out, const char *prog, const char *synopsis, const char *description,
                     const sl_option *opts)
{
    fprintf(out, "usage: %s %s\n\n%s\n\noptions (environment variable, default):\n", prog, synopsis,
            description);
    for (const sl_option *o = opts; o->name; o++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s%s", o->name,
                 o->type == SL_OPT_BOOL                             ? ""
                 : o->type == SL_OPT_INT || o->type == SL_OPT_INT32 ? " N"
                                                                    : " VALUE");
        fprintf(out, "  %-26s %s\n", flag, o->help);
        char extra[256] = "";
        size_t n = 0;
        if (o->env)
            n += snprintf(extra + n, sizeof extra - n, "env %s", o->env);
        if (o->type == SL_OPT_SECRET)
            n += snprintf(extra + n, sizeof extra - n, "%ssecret, never printed", n ? "; " : "");
        else if (o->defval)
            n += snprintf(extra + n, sizeof extra - n, "%sdefault %s", n ? "; " : "", o->defval);
        if (o->type == SL_OPT_INT || o->type == SL_OPT_INT32)
            snprintf(extra + n, sizeof extra - n, "%srange %lld..%lld", n ? "; " : "", o->min,
                     o->max);
        if (extra[0])
            fprintf(out, "  %-26s (%s)\n", "", extra);
        if (o->type == SL_OPT_SECRET)
            fprintf(out,
                    "  %-26s (given as a flag, its password is blanked from ps once read;\n"
                    "  %-26s  the environment is safer: ps shows arguments at start-up)\n",
                    "", "");
    }
    fprintf(out, "  %-26s %s\n", "-h, --help", "show this help");
}

static int copy_part(char *dst, size_t dstlen, const char *s, size_t n, const char *what, char *err,
                     size_t errlen)
{
    if (n >= dstlen) {
        snprintf(err, errlen, "redis url: %s is longer than %zu characters", what, dstlen - 1);
        return SL_EINVAL;
    }
    /* percent-decoding, so a password may hold '@' or ':' */
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 0 && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hx[3] = {s[i + 1], s[i + 2], 0};
            dst[j++] = (char)strtol(hx, NULL, 16);
            i += 2;
        } else {
            dst[j++] = s[i];
        }
    }
    dst[j] = '\0';
    return 0;
}

int sl_redis_addr_parse(const char *url, sl_redis_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!strncmp(url, "unix://", 7)) {
        const char *p = url + 7, *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || p[0] != '/') {
            snprintf(err, errlen,
                     "redis url: unix:// needs an absolute socket path, as in "
                     "unix:///run/redis.sock");
            return SL_EINVAL;
        }
        if (copy_part(out->path, sizeof out->path, p, n, "socket path", err, errlen))
            return SL_EINVAL;
        if (q) {
            const char *db = strstr(q, "db=");
            if (db)
                out->db = atoi(db + 3);
            const char *pw = strstr(q, "password=");
            if (pw) {
                const char *e = strchr(pw, '&');
                size_t pn = e ? (size_t)(e - pw - 9) : strlen(pw + 9);
                if (copy_part(out->pass, sizeof out->pass, pw + 9, pn, "password", err, errlen))
                    return SL_EINVAL;
            }
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8)) {
        /* say nothing of the rest: it may hold a password */
        const char *sep = strstr(url, "://");
        int scheme = sep && sep - url < 16 ? (int)(sep - url) : 0;
        snprintf(err, errlen, "redis url: must start with redis:// or unix:// (got %s%.*s%s)",
                 scheme ? "\"" : "", scheme, url, scheme ? "://...\"" : "no scheme");
        return SL_EINVAL;
    }
    const char *p = url + 8, *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', at - p);
        if (colon) {
            if (copy_part(out->user, sizeof out->user, p, colon - p, "user", err, errlen) ||
                copy_part(out->pass, sizeof out->pass, colon + 1, at - colon - 1, "password", err,
                          errlen))
                return SL_EINVAL;
        } else if (copy_part(out->pass, sizeof out->pass, p, at - p, "password", err, errlen)) {
            return SL_EINVAL;
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hl);
    size_t hostlen = colon ? (size_t)(colon - p) : hl;
    if (hostlen == 0) {
        snprintf(err, errlen, "redis url: no host (expected redis://host:port/db)");
        return SL_EINVAL;
    }
    if (copy_part(out->host, sizeof out->host, p, hostlen, "host", err, errlen))
        return SL_EINVAL;
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hl || port < 1 || port > 65535) {
            snprintf(err, errlen, "redis url: port must be 1..65535");
            return SL_EINVAL;
        }
        out->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 15) {
            snprintf(err, errlen, "redis url: database must be a number 0..15 after the '/'");
            return SL_EINVAL;
        }
        out->db = (int)db;
    }
    return 0;
}

void sl_redis_addr_describe(const sl_redis_addr *a, char *out, size_t outlen)
{
    const char *auth = a->pass[0] ? (a->user[0] ? ":***@" : "***@") : "";
    if (a->path[0])
        snprintf(out, outlen, "unix://%s%s (db %d)", a->path, a->pass[0] ? " (password set)" : "",
                 a->db);
    else
        snprintf(out, outlen, "redis://%s%s%s:%d/%d", a->user, auth, a->host, a->port, a->db);
}

int sl_check_name(const char *what, const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64) {
        snprintf(err, errlen, "%s: must be 1..64 characters (got %zu)", what, n);
        return SL_EINVAL;
    }
    if (!islower((unsigned char)name[0])) {
        snprintf(err, errlen, "%s: \"%.40s\" must start with a lowercase letter", what, name);
        return SL_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!islower(c) && !isdigit(c) && c != '_' && c != '-') {
            snprintf(err, errlen, "%s: \"%.40s\" may hold only a-z, 0-9, '_' and '-'", what, name);
            return SL_EINVAL;
        }
    }
    return 0;
}

/* serve_tokens.c — the intake's bearer tokens. The file holds one JSON
 * object a line:
 *   {"name": "discord-bot", "sha256": "<64 hex>", "queues": ["message"],
 *    "types": ["message"], "rate": 200}
 * queues and types left out (or ["*"]) allow any; rate is jobs/s (0 or left
 * out: no quota). Only the SHA-256 of a token is stored: a token is 256
 * random bits, so a plain hash is enough (no salt or stretching needed: a
 * guess is as hard as the token). SHA-256 and the constant-time compare
 * come from OpenSSL's libcrypto, the well-kept implementation Debian ships
 * (libssl-dev). A token is never logged nor echoed.
 *
 * Quotas are token buckets of RATE jobs/s holding one second's worth. A
 * request of N jobs needs N in the bucket; one larger than a second's worth
 * (a 500-job array under a 200/s quota) needs a full bucket and leaves it
 * in debt, which holds the next requests back: the average stays RATE. */
#include "serve.h"
#include "util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    /* fetched once: OpenSSL 3 would look the algorithm up on every call */
    static EVP_MD *md;
    if (!md && !(md = EVP_MD_fetch(NULL, "SHA256", NULL)))
        abort(); /* no SHA-256 in libcrypto: a broken installation */
    unsigned int n = 32;
    if (!EVP_Digest(data, len, out, &n, md, NULL))
        abort(); /* only out of memory */
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A list of names, or NULL for "any" ("*" or left out). */
static int read_names(const cJSON *v, const char *what, char ***out, int *n, char *err,
                      size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v)) {
        snprintf(err, errlen, "%s: must be an array of names", what);
        return -1;
    }
    int cnt = cJSON_GetArraySize(v);
    char **names = sl_calloc((size_t)cnt + 1, sizeof *names);
    int k = 0, any = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > 64) {
            snprintf(err, errlen, "%s: each must be a name of 1 to 64 bytes", what);
            for (int i = 0; i < k; i++)
                free(names[i]);
            free(names);
            return -1;
        }
        if (!strcmp(e->valuestring, "*"))
            any = 1;
        names[k++] = sl_strdup(e->valuestring);
    }
    if (any) {
        for (int i = 0; i < k; i++)
            free(names[i]);
        free(names);
        return 0;
    }
    *out = names;
    *n = k;
    return 0;
}

static void token_deinit(serve_token *t)
{
    for (int i = 0; i < t->nqueues; i++)
        free(t->queues[i]);
    for (int i = 0; i < t->ntypes; i++)
        free(t->types[i]);
    free(t->queues);
    free(t->types);
}

static int parse_line(const char *line, serve_token *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    cJSON *doc = cJSON_Parse(line);
    int rc = -1;
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(doc, "sha256");
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(doc, "rate");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 64) {
        snprintf(err, errlen, "name: a string of 1 to 64 bytes is required");
        goto out;
    }
    sl_strlcpy(t->name, name->valuestring, sizeof t->name);
    if (!cJSON_IsString(hash) || strlen(hash->valuestring) != 64) {
        snprintf(err, errlen, "sha256: 64 lowercase hex digits are required");
        goto out;
    }
    for (int i = 0; i < 32; i++) {
        int hi = hexval(hash->valuestring[2 * i]), lo = hexval(hash->valuestring[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(err, errlen, "sha256: 64 lowercase hex digits are required");
            goto out;
        }
        t->sha256[i] = (unsigned char)(hi << 4 | lo);
    }
    if (rate && (!cJSON_IsNumber(rate) || rate->valuedouble < 0 || rate->valuedouble > 1e9)) {
        snprintf(err, errlen, "rate: jobs/s from 0 (no quota) to 1e9");
        goto out;
    }
    t->rate = rate ? rate->valuedouble : 0;
    t->bucket = t->rate;
    if (read_names(cJSON_GetObjectItemCaseSensitive(doc, "queues"), "queues", &t->queues,
                   &t->nqueues, err, errlen) ||
        read_names(cJSON_GetObjectItemCaseSensitive(doc, "types"), "types", &t->types, &t->ntypes,
                   err, errlen)) {
        token_deinit(t);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(doc);
    return rc;
}

int serve_tokens_load(serve_tokens *out, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = sl_read_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    serve_tokens ts = {0};
    int cap = 0, lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#' || *line == '\r')
            continue;
        if (ts.n == cap) {
            cap = cap ? cap * 2 : 8;
            ts.t = sl_realloc(ts.t, (size_t)cap * sizeof *ts.t);
        }
        char why[300];
        if (parse_line(line, &ts.t[ts.n], why, sizeof why)) {
            snprintf(err, errlen, "%s: line %d: %s", path, lineno, why);
            rc = -1;
            break;
        }
        ts.n++;
    }
    free(text);
    if (rc) {
        serve_tokens_deinit(&ts);
        return -1;
    }
    *out = ts;
    return 0;
}

void serve_tokens_deinit(serve_tokens *ts)
{
    for (int i = 0; i < ts->n; i++)
        token_deinit(&ts->t[i]);
    free(ts->t);
    ts->t = NULL;
    ts->n = 0;
}

serve_token *serve_tokens_find(serve_tokens *ts, const char *token, size_t len)
{
    unsigned char h[32];
    sha256(token, len, h);
    serve_token *found = NULL;
    /* every entry is compared, each in constant time */
    for (int i = 0; i < ts->n; i++)
        if (CRYPTO_memcmp(h, ts->t[i].sha256, 32) == 0)
            found = &ts->t[i];
    return found;
}

static int in_list(char **names, int n, const char *name)
{
    if (!names)
        return 1;
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return 1;
    return 0;
}

int serve_token_allows_queue(const serve_token *t, const char *queue)
{
    return in_list(t->queues, t->nqueues, queue);
}

int serve_token_allows_type(const serve_token *t, const char *type)
{
    return in_list(t->types, t->ntypes, type);
}

int serve_token_take(serve_token *t, long n, ev_tstamp now)
{
    if (t->rate <= 0)
        return 0;
    if (t->refilled > 0) {
        t->bucket += (now - t->refilled) * t->rate;
        if (t->bucket > t->rate)
            t->bucket = t->rate; /* a burst of one second at most */
    }
    t->refilled = now;
    /* N jobs need N in the bucket; more than a second's worth need a full
     * bucket, and leave a debt */
    double need = (double)n < t->rate ? (double)n : t->rate;
    if (t->bucket < need) {
        int wait = (int)ceil((need - t->bucket) / t->rate);
        return wait < 1 ? 1 : wait;
    }
    t->bucket -= (double)n;
    return 0;
}

/* ---- sluice-producer token new ------------------------------------------- */

static void json_names(sl_buf *b, const char *list)
{
    sl_buf_puts(b, "[");
    int first = 1;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n) {
            if (!first)
                sl_buf_puts(b, ",");
            sl_buf_json_str(b, p, n);
            first = 0;
        }
        p += n + (comma != NULL);
    }
    sl_buf_puts(b, "]");
}

int serve_token_main(int argc, char **argv)
{
    const char *queues = NULL, *types = NULL, *name = NULL;
    long long rate = 0;
    int help = 0;
    const sl_option opts[] = {
        {"queues", NULL, SL_OPT_STR, &queues, "*", 0, 0, "queues the token may enqueue into (A,B)"},
        {"types", NULL, SL_OPT_STR, &types, "*", 0, 0, "job types it may enqueue (A,B)"},
        {"rate", NULL, SL_OPT_INT, &rate, "0", 0, 1000000000, "jobs/s quota (0: none)"},
        {"name", NULL, SL_OPT_STR, &name, NULL, 0, 0, "a name for logs and errors"},
        {0},
    };
    char err[512];
    char *pos[4];
    int npos = 4;
    int rc = sl_config_parse(opts, argc, argv, pos, &npos, err, sizeof err);
    const char *syn = "token new [--queues A,B] [--types A,B] [--rate N] [--name NAME]";
    if (rc == SL_CONFIG_HELP) {
        sl_config_usage(stdout, "sluice-producer", syn,
                        "Prints a new random token (256 bits from /dev/urandom) once, then the\n"
                        "line to add to the --tokens-file of sluice-producer serve, which holds\n"
                        "only the token's SHA-256. Then send SIGHUP to the intake to reload.",
                        opts);
        return 0;
    }
    (void)help;
    if (rc || npos != 2 || strcmp(pos[1], "new")) {
        fprintf(stderr, "sluice-producer: %s\n", rc ? err : "usage: sluice-producer token new");
        sl_config_usage_line(stderr, "sluice-producer", syn);
        return 2;
    }
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        fprintf(stderr, "sluice-producer: /dev/urandom: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 2;
    }
    close(fd);
    char token[8 + 65];
    strcpy(token, "sluice_");
    for (int i = 0; i < 32; i++)
        snprintf(token + 7 + 2 * i, 3, "%02x", raw[i]);
    unsigned char h[32];
    sha256(token, strlen(token), h);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    char defname[32];
    if (!name) {
        snprintf(defname, sizeof defname, "token-%.8s", hex);
        name = defname;
    }
    sl_buf b = {0};
    sl_buf_puts(&b, "{\"name\":");
    sl_buf_json_str(&b, name, strlen(name));
    sl_buf_printf(&b, ",\"sha256\":\"%s\",\"queues\":", hex);
    json_names(&b, queues);
    sl_buf_puts(&b, ",\"types\":");
    json_names(&b, types);
    sl_buf_printf(&b, ",\"rate\":%lld}", rate);
    /* stdout: the token, then the entry (for scripts); stderr: what they are */
    printf("%s\n%s\n", token, b.data);
    fflush(stdout);
    fprintf(stderr, "sluice-producer: line 1 is the token, shown this once: give it to the "
                    "frontend; line 2 goes into the --tokens-file (only the token's SHA-256), "
                    "then SIGHUP the intake\n");
    sl_buf_deinit(&b);
    return 0;
}

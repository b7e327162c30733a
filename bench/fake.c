/* fake.c — the control API of sluice-fake-platform (tests/fake/README.md),
 * which the message test delivers to: POST /_fake/reset before a run, GET
 * /_fake/stats after it. Both go through `curl -s` (popen): two blocking
 * calls between phases, nothing timed. No token is involved: the control API
 * has no auth, and the token file is only handed to the workers. */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int fake_init(bench *b)
{
    const char *url = b->discord_api;
    static const char suffix[] = "/api/v10";
    size_t n = strlen(url);
    /* The URL goes into a shell command in single quotes: allow only what a
     * loopback URL needs, so that nothing in it can be read by the shell. */
    if (strncmp(url, "http://", 7) || n >= sizeof b->fake_url ||
        strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:/_-[]") != n) {
        bench_error(b, "--discord-api: expected http://HOST:PORT/api/v10, got \"%s\"", url);
        return -1;
    }
    while (n > 7 && url[n - 1] == '/')
        n--;
    if (n > sizeof suffix - 1 && !strncmp(url + n - (sizeof suffix - 1), suffix, sizeof suffix - 1))
        n -= sizeof suffix - 1;
    memcpy(b->fake_url, url, n);
    b->fake_url[n] = '\0';
    return 0;
}

/* Runs curl for METHOD PATH on the fake; returns its answer in OUT, or -1
 * after reporting (curl failed, an HTTP error, no answer in 10 s). */
static int fake_call(bench *b, const char *method, const char *path, sl_buf *out)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -sS -f --max-time 10 -X %s '%s%s'", method, b->fake_url, path);
    fflush(stdout);
    fflush(stderr);
    FILE *p = popen(cmd, "r");
    if (!p) {
        bench_error(b, "fake: cannot run curl: %m");
        return -1;
    }
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0)
        sl_buf_append(out, chunk, got);
    int status = pclose(p);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
        bench_error(b, "fake: %s %s%s failed (curl status %d)", method, b->fake_url, path,
                    status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status));
        return -1;
    }
    return 0;
}

int fake_reset(bench *b)
{
    sl_buf out = {0};
    int rc = fake_call(b, "POST", "/_fake/reset", &out);
    sl_buf_deinit(&out);
    return rc;
}

cJSON *fake_stats(bench *b)
{
    sl_buf out = {0};
    cJSON *doc = NULL;
    if (!fake_call(b, "GET", "/_fake/stats", &out)) {
        doc = out.len ? cJSON_ParseWithLength(out.data, out.len) : NULL;
        if (!cJSON_IsObject(doc)) {
            bench_error(b, "fake: /_fake/stats is not a JSON object");
            cJSON_Delete(doc);
            doc = NULL;
        }
    }
    sl_buf_deinit(&out);
    return doc;
}

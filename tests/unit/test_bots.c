/* Unit tests: bot tokens from files and the environment; errors name the
 * variable or file, never the token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bots.h"

static char dir[64];

static const char *write_file(const char *name, const char *text)
{
    static char path[8][128];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static void clear_env(void)
{
    unsetenv("SLUICE_DISCORD_TOKEN_FILE");
    unsetenv("SLUICE_DISCORD_TOKEN");
    unsetenv("SLUICE_TELEGRAM_TOKEN_FILE");
    unsetenv("SLUICE_TELEGRAM_TOKEN");
    unsetenv("SLUICE_BOTS_FILE");
    unsetenv("SLUICE_DISCORD_API");
    unsetenv("SLUICE_TELEGRAM_API");
}

static void tokens_from_files_and_env(void **state)
{
    (void)state;
    clear_env();
    char err[256];
    sl_bots b;
    setenv("SLUICE_DISCORD_TOKEN_FILE", write_file("d.token", "  disc-secret-1\n"), 1);
    setenv("SLUICE_TELEGRAM_TOKEN", "123:tg-secret", 1);
    setenv("SLUICE_DISCORD_API", "http://127.0.0.1:9/api/v10", 1);
    char json[512];
    snprintf(json, sizeof json,
             "{\"bots\": [{\"name\": \"second\", \"platform\": \"discord\", \"token_file\": "
             "\"%s\"}]}",
             write_file("s.token", "disc-secret-2"));
    setenv("SLUICE_BOTS_FILE", write_file("bots.json", json), 1);
    assert_int_equal(sl_bots_load(&b, err, sizeof err), 0);
    assert_int_equal(b.n, 3);
    const sl_bot *d = sl_bots_find(&b, SL_PLATFORM_DISCORD, "default");
    assert_non_null(d);
    assert_string_equal(d->token, "disc-secret-1");
    assert_string_equal(sl_bots_find(&b, SL_PLATFORM_TELEGRAM, "default")->token, "123:tg-secret");
    assert_string_equal(sl_bots_find(&b, SL_PLATFORM_DISCORD, "second")->token, "disc-secret-2");
    assert_null(sl_bots_find(&b, SL_PLATFORM_TELEGRAM, "second"));
    assert_string_equal(b.discord_api, "http://127.0.0.1:9/api/v10");
    assert_string_equal(b.telegram_api, "https://api.telegram.org");
    sl_bots_deinit(&b);
    assert_int_equal(b.n, 0);
}

static void errors_never_show_the_token(void **state)
{
    (void)state;
    clear_env();
    char err[256];
    sl_bots b;
    setenv("SLUICE_DISCORD_TOKEN_FILE", write_file("bad.token", "two words-secret\n"), 1);
    assert_int_equal(sl_bots_load(&b, err, sizeof err), -1);
    assert_non_null(strstr(err, "SLUICE_DISCORD_TOKEN_FILE"));
    assert_null(strstr(err, "secret"));
    setenv("SLUICE_DISCORD_TOKEN_FILE", "/nonexistent/x.token", 1);
    assert_int_equal(sl_bots_load(&b, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.token"));
    clear_env();
    setenv("SLUICE_BOTS_FILE", write_file("b2.json", "{\"bots\": [{\"name\": \"x\"}]}"), 1);
    assert_int_equal(sl_bots_load(&b, err, sizeof err), -1);
    assert_non_null(strstr(err, "bots[0]"));
    clear_env();
    assert_int_equal(sl_bots_load(&b, err, sizeof err), 0); /* no bots: fine */
    assert_int_equal(b.n, 0);
    sl_bots_deinit(&b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sluice-bots-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_from_files_and_env),
        cmocka_unit_test(errors_never_show_the_token),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}

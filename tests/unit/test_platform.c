/* Unit tests: the HTTP calls a job makes (a message, a PDF attachment), and
 * what answers mean. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "platform.h"

static cJSON *payload(const char *json)
{
    cJSON *p = cJSON_Parse(json);
    assert_non_null(p);
    return p;
}

static void discord_send_has_a_stable_nonce(void **state)
{
    (void)state;
    cJSON *p =
        payload("{\"platform\":\"discord\",\"channel_id\":\"42\",\"content\":\"hi \\\"you\\\"\","
                "\"embeds\":[]}");
    sl_call a, b;
    sl_call_init(&a);
    sl_call_init(&b);
    sl_discord_message(&a, p, "42", "01JOBID");
    sl_discord_message(&b, p, "42", "01JOBID");
    assert_string_equal(a.method, "POST");
    assert_string_equal(a.path.data, "/channels/42/messages");
    assert_string_equal(a.route, "POST /channels/{id}/messages");
    assert_string_equal(a.major, "42");
    assert_string_equal(a.body.data, b.body.data); /* a retry sends the same nonce */
    cJSON *body = cJSON_Parse(a.body.data);
    assert_string_equal(cJSON_GetObjectItem(body, "content")->valuestring, "hi \"you\"");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(body, "enforce_nonce")));
    assert_int_equal(strlen(cJSON_GetObjectItem(body, "nonce")->valuestring), 25);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(body, "embeds")));
    char other[26];
    sl_discord_nonce("01JOBID2", other);
    assert_string_not_equal(other, cJSON_GetObjectItem(body, "nonce")->valuestring);
    cJSON_Delete(body);
    cJSON_Delete(p);
    sl_call_deinit(&a);
    sl_call_deinit(&b);
}

static void discord_edit_delete_dm(void **state)
{
    (void)state;
    sl_call c;
    sl_call_init(&c);
    cJSON *p = payload("{\"platform\":\"discord\",\"op\":\"edit\",\"channel_id\":\"7\","
                       "\"message_id\":\"99\",\"content\":\"new\"}");
    sl_discord_message(&c, p, "7", "j");
    assert_string_equal(c.method, "PATCH");
    assert_string_equal(c.path.data, "/channels/7/messages/99");
    assert_string_equal(c.body.data, "{\"content\":\"new\"}");
    cJSON_Delete(p);
    sl_call_deinit(&c);
    p = payload("{\"platform\":\"discord\",\"op\":\"delete\",\"channel_id\":\"7\","
                "\"message_id\":99}");
    sl_discord_message(&c, p, "7", "j");
    assert_string_equal(c.method, "DELETE");
    assert_string_equal(c.path.data, "/channels/7/messages/99");
    assert_int_equal(c.body.len, 0);
    cJSON_Delete(p);
    sl_call_deinit(&c);
    sl_discord_open_dm(&c, "1234");
    assert_string_equal(c.path.data, "/users/@me/channels");
    assert_string_equal(c.body.data, "{\"recipient_id\":\"1234\"}");
    sl_call_deinit(&c);
}

static void telegram_calls(void **state)
{
    (void)state;
    sl_call c;
    sl_call_init(&c);
    cJSON *p = payload("{\"platform\":\"telegram\",\"chat_id\":-100123,\"text\":\"<b>x</b>\","
                       "\"parse_mode\":\"HTML\"}");
    sl_telegram_message(&c, p);
    assert_string_equal(c.path.data, "/sendMessage");
    assert_string_equal(c.chat, "-100123");
    assert_string_equal(c.body.data,
                        "{\"chat_id\":-100123,\"text\":\"<b>x</b>\",\"parse_mode\":\"HTML\"}");
    cJSON_Delete(p);
    sl_call_deinit(&c);
    p = payload("{\"platform\":\"telegram\",\"op\":\"delete\",\"chat_id\":\"@news\","
                "\"message_id\":5}");
    sl_telegram_message(&c, p);
    assert_string_equal(c.path.data, "/deleteMessage");
    assert_string_equal(c.body.data, "{\"chat_id\":\"@news\",\"message_id\":5}");
    cJSON_Delete(p);
    sl_call_deinit(&c);
}

/* Only POSTs the server takes once even when sent twice may ride a reused
 * connection (curl re-sends on one that died unanswered). */
static void posts_that_may_be_repeated(void **state)
{
    (void)state;
    sl_call c;
    sl_call_init(&c);
    sl_discord_send_text(&c, "42", "hi", "intro:app-1");
    assert_true(c.repeat_safe);
    assert_non_null(strstr(c.body.data, "\"enforce_nonce\":true"));
    sl_call_deinit(&c);
    sl_call_init(&c);
    sl_discord_open_dm(&c, "7");
    assert_true(c.repeat_safe);
    sl_call_deinit(&c);
    sl_call_init(&c);
    sl_discord_create_channel(&c, "900", "{\"name\":\"interview-1\"}");
    assert_false(c.repeat_safe);
    assert_string_equal(c.route, "POST /guilds/{id}/channels");
    sl_call_deinit(&c);
    cJSON *p = cJSON_Parse("{\"platform\":\"telegram\",\"chat_id\":5,\"text\":\"hi\"}");
    sl_call_init(&c);
    sl_telegram_message(&c, p);
    assert_false(c.repeat_safe);
    sl_call_deinit(&c);
    cJSON_Delete(p);
}

static void discord_user_agent(void **state)
{
    (void)state;
    char ua[512], err[256];
    assert_int_equal(
        sl_discord_user_agent(ua, sizeof ua, "https://bots.example/x", "2.3", err, sizeof err), 0);
    assert_string_equal(ua, "User-Agent: DiscordBot (https://bots.example/x, 2.3)");
    assert_int_equal(
        sl_discord_user_agent(ua, sizeof ua, SL_PROJECT_URL, SL_VERSION, err, sizeof err), 0);
    static const char *const bad[][3] = {
        {"", "1", "--discord-ua-url"},
        {"https://x/a,b", "1", "--discord-ua-url"},
        {"https://x/(a)", "1", "--discord-ua-url"},
        {"https://x/\r\nX-Evil: 1", "1", "--discord-ua-url"},
        {"https://x/", "", "--discord-ua-version"},
        {"https://x/", "1, 2", "--discord-ua-version"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(
            sl_discord_user_agent(ua, sizeof ua, bad[i][0], bad[i][1], err, sizeof err), SL_EINVAL);
        assert_non_null(strstr(err, bad[i][2]));
    }
}

static void verdicts(void **state)
{
    (void)state;
    char err[256];
    const char *missing = "{\"message\": \"Missing Access\", \"code\": 50001}";
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "send", 200, "{}", 2, err, 256),
                     SL_VERDICT_OK);
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "send", 403, missing, strlen(missing),
                                         err, sizeof err),
                     SL_VERDICT_PERMANENT);
    assert_string_equal(err, "discord 403: Missing Access (code 50001)");
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "send", 502, "<html>", 6, err, 256),
                     SL_VERDICT_RETRY);
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "send", 429, NULL, 0, err, 256),
                     SL_VERDICT_RATE);
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "delete", 404, NULL, 0, err, 256),
                     SL_VERDICT_OK);
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_DISCORD, "send", 404, NULL, 0, err, 256),
                     SL_VERDICT_PERMANENT);
    const char *tg = "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not "
                     "found\"}";
    assert_int_equal(
        sl_platform_verdict(SL_PLATFORM_TELEGRAM, "send", 400, tg, strlen(tg), err, sizeof err),
        SL_VERDICT_PERMANENT);
    assert_string_equal(err, "telegram 400: Bad Request: chat not found");
    const char *gone = "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message "
                       "to delete not found\"}";
    assert_int_equal(sl_platform_verdict(SL_PLATFORM_TELEGRAM, "delete", 400, gone, strlen(gone),
                                         err, sizeof err),
                     SL_VERDICT_OK);
}

/* A document posted as an attachment (the pdf job): the same bucket as a
 * message post, and a payload_json with the job's nonce. */
static void pdf_attachment_calls(void **state)
{
    (void)state;
    sl_call c;
    sl_call_init(&c);
    sl_discord_send_file(&c, "42");
    assert_string_equal(c.method, "POST");
    assert_string_equal(c.path.data, "/channels/42/messages");
    assert_string_equal(c.route, "POST /channels/{id}/messages");
    assert_string_equal(c.major, "42");
    assert_int_equal(c.body.len, 0);
    sl_call_deinit(&c);

    sl_buf b = {0};
    sl_discord_file_payload(&b, "your \"report\"", "r.pdf", "01JOB");
    cJSON *p = cJSON_Parse(b.data);
    assert_non_null(p);
    assert_string_equal(cJSON_GetObjectItem(p, "content")->valuestring, "your \"report\"");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "enforce_nonce")));
    char nonce[26];
    sl_discord_nonce("01JOB", nonce);
    assert_string_equal(cJSON_GetObjectItem(p, "nonce")->valuestring, nonce);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "attachments"), 0);
    assert_int_equal(cJSON_GetObjectItem(a, "id")->valueint, 0);
    assert_string_equal(cJSON_GetObjectItem(a, "filename")->valuestring, "r.pdf");
    cJSON_Delete(p);
    sl_buf_reset(&b);
    sl_discord_file_payload(&b, NULL, "r.pdf", "01JOB");
    assert_null(strstr(b.data, "content"));
    sl_buf_deinit(&b);

    sl_call_init(&c);
    sl_telegram_send_document(&c, "-1001");
    assert_string_equal(c.path.data, "/sendDocument");
    assert_string_equal(c.chat, "-1001");
    sl_call_deinit(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(discord_send_has_a_stable_nonce),
        cmocka_unit_test(discord_edit_delete_dm),
        cmocka_unit_test(telegram_calls),
        cmocka_unit_test(verdicts),
        cmocka_unit_test(discord_user_agent),
        cmocka_unit_test(posts_that_may_be_repeated),
        cmocka_unit_test(pdf_attachment_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

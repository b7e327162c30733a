/* discord.h — what discord.c (routing, auth, limits) and
 * discord_messages.c (the channel message routes) share. */
#ifndef FAKE_DISCORD_H
#define FAKE_DISCORD_H

#include "fake.h"

/* {"message": MESSAGE, "code": CODE} with STATUS. */
void fake_discord_error(fake_req *r, int status, const char *message, int code);

/* The bot user's id for token index BOT (stable, snowflake-like). */
void fake_discord_bot_id(int bot, char out[24]);

/* Reads a string or integer member NAME of OBJ into OUT; 0, or -1 when it
 * is absent, null, or of another type. */
int fake_json_id(const cJSON *obj, const char *name, char *out, size_t outlen);

/* The request's JSON document: the body, or the payload_json part of a
 * multipart body. NULL when there is none; *BAD is set when there was one
 * that does not parse. The caller frees it. */
cJSON *fake_discord_payload(const fake_req *r, int *bad);

/* Route handlers, called after auth and the limits passed. CID is the
 * channel id, MID the message id (edit and delete only). */
void fake_discord_create_message(fake_state *st, fake_req *r, const char *cid);
void fake_discord_edit_message(fake_state *st, fake_req *r, const char *cid, const char *mid);
void fake_discord_delete_message(fake_state *st, fake_req *r, const char *cid, const char *mid);
void fake_discord_list_messages(fake_state *st, fake_req *r, const char *cid);

/* A message as Discord's API shows it; the caller owns the result. */
cJSON *fake_discord_message_json(const fake_message *m, const char *cid);

#endif

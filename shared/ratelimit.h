/* ratelimit.h — upstream rate limits shared by every worker replica, kept in
 * Redis per bot (rl_acquire.lua, rl_report.lua). This module is the pure
 * part: which limits a request is under, and what an answer's headers and
 * body say about them.
 *
 * Keys live under "PREFIX:{rl:PLATFORM:BOT}:" (one cluster slot per bot):
 *   block                    global 429 or pause, with a TTL
 *   gcra:NAME                a rate limiter's theoretical arrival time, ms, and the
 *                            lowest levels it was at lately (to give places back)
 *   route:ROUTE              "BUCKET LIMIT WINDOW": the Discord bucket a route was
 *                            learned to use, and its shape (a new channel starts with it)
 *   bucket:BUCKET:MAJOR      HASH remaining, reset_at, close_at, opened, limit, window
 *   discover:ROUTE:MAJOR     one request at a time learns a route's bucket
 *   invalid:WINDOW           401/403/429 answers per 10-minute window */
#ifndef SL_RATELIMIT_H
#define SL_RATELIMIT_H

#include <stddef.h>

#include "keys.h"

enum { SL_RL_MAX_LIMITS = 3 };

/* The limits one request is under. */
typedef struct sl_rl_request {
    char base[160];             /* "PREFIX:{rl:PLATFORM:BOT}:" (names <= 64) */
    char block_key[SL_KEY_MAX]; /* base + "block" */
    char route[96];             /* Discord route template, "" for none */
    char major[32];             /* its major parameter (channel, guild), "" for none */
    long invalid_threshold;     /* pause at this many invalid answers per 10 min; 0 none */
    int nlimits;
    struct {
        char name[96];      /* key suffix after "gcra:" */
        double interval_ms; /* one request per this long on average */
        int burst;          /* this many at once */
    } limits[SL_RL_MAX_LIMITS];
    char hold[96]; /* the limiter a 429 without a bucket holds, "" none */
} sl_rl_request;

/* Discord: the bot's global limit (PER_SECOND, e.g. 50) plus the learned bucket of ROUTE (a
 * template such as "POST /channels/{id}/messages") for MAJOR (its channel or guild id).
 * INVALID_THRESHOLD: see sl_rl_request. */
/* Discord's global limit is paced at 96% of the rate with a burst of 2: the
 * burst absorbs a timer firing a millisecond late, and any window of a
 * second still holds at most 2 + 0.96 * rate - 1 requests (49 of 50), and no
 * more than the limit while requests reach the server up to 20 ms more
 * bunched than they were granted (a window of 1.02 s holds 50). A limiter
 * idle for an interval starts with one place, not the burst
 * (rl_acquire.lua, "Idle start"): the first second after idle holds 48 by
 * grant time, so the first requests of a start may reach the server up to
 * 40 ms late (new connections) and their window still holds 50. Telegram's
 * bot limit, a rule of thumb rather than a counted window, keeps 95%. */
void sl_rl_discord(sl_rl_request *r, const char *prefix, const char *bot, const char *route,
                   const char *major, double per_second, long invalid_threshold);

/* Telegram: the bot's messages per second (about 30), and the chat's own
 * limit: 1 a second for a private chat (CHAT_ID > 0), 20 a minute for a
 * group or channel (negative id or @name). */
void sl_rl_telegram(sl_rl_request *r, const char *prefix, const char *bot, const char *chat_id,
                    double bot_per_second);

/* Arguments of rl_acquire.lua (KEYS then ARGV; the script has 1 key), which
 * asks for any number of a bot's gates in one call: sl_rl_acquire_head
 * writes the bot's part for NGATES gates (SL_RL_HEAD_ARGS values, numbers
 * in SL_RL_HEAD_NUMS of NUMS), then sl_rl_acquire_gate appends one gate of
 * the same bot asking for COUNT requests (at most SL_RL_GATE_ARGS values,
 * SL_RL_GATE_NUMS numbers). Both return how many values they wrote. The
 * answer has SL_RL_REPLY_PER_GATE values per gate, in order: wait ms (0 =
 * go), how many may go, the reason ("discover", "blocked", "rate", ...),
 * the server time ms of the grant, the bucket window it took places in (0 =
 * none) and the number of the first place under the first rate limit (the
 * gate's places are numbered on from it): they go with the request's
 * report and its release. */
enum {
    SL_RL_REPLY_PER_GATE = 6,
    SL_RL_HEAD_ARGS = 4,
    SL_RL_HEAD_NUMS = 2,
    SL_RL_GATE_ARGS = 4 + 3 * SL_RL_MAX_LIMITS,
    SL_RL_GATE_NUMS = 2 + 2 * SL_RL_MAX_LIMITS,
};
int sl_rl_acquire_head(const sl_rl_request *r, int ngates, const char **argv, size_t *lens,
                       char nums[][32]);
int sl_rl_acquire_gate(const sl_rl_request *r, int count, const char **argv, size_t *lens,
                       char nums[][32]);

/* What one answer says about the limits. */
typedef struct sl_rl_answer {
    int status;
    char bucket[64];         /* X-RateLimit-Bucket, "" when absent */
    long limit;              /* X-RateLimit-Limit */
    long remaining;          /* X-RateLimit-Remaining */
    long reset_after_ms;     /* X-RateLimit-Reset-After, rounded up */
    char scope[16];          /* "global", "user", "shared" or "" */
    long retry_after_ms;     /* 429: how long to wait, rounded up */
    long long granted_at_ms; /* set by the caller: when the request's place was granted
                              * (rl_acquire.lua's answer), 0 unknown */
} sl_rl_answer;

/* Header lookup, case-insensitive; NULL when absent. */
typedef const char *sl_rl_header_fn(const void *ctx, const char *name);

/* Reads a Discord answer: the X-RateLimit-* headers; on a 429 the scope
 * (X-RateLimit-Scope, X-RateLimit-Global, or "global": true in the body) and
 * the wait (body "retry_after", else the Retry-After header). */
void sl_rl_parse_discord(sl_rl_answer *a, int status, sl_rl_header_fn *header, const void *ctx,
                         const char *body, size_t body_len);

/* Reads a Telegram answer: on a 429, "parameters": {"retry_after": S}. */
void sl_rl_parse_telegram(sl_rl_answer *a, int status, const char *body, size_t body_len);

/* Arguments of rl_report.lua for answer A to request R (room for
 * SL_RL_REPORT_ARGS values, 6 numbers); returns how many values it wrote. */
enum { SL_RL_REPORT_ARGS = 13 };
int sl_rl_report_args(const sl_rl_request *r, const sl_rl_answer *a, const char **argv,
                      size_t *lens, char nums[][32]);

/* Arguments of rl_acquire.lua in its release mode: place number SEQ of R,
 * granted at GRANTED_AT_MS in bucket window WINDOW (all from
 * rl_acquire.lua's answer), was not used: the request was not sent.
 * DISCOVERING when it was to learn its route. Room for SL_RL_RELEASE_ARGS
 * values and SL_RL_RELEASE_NUMS numbers. The answer: the ms given back to
 * the rate limiter, and 1 when the bucket got its place back. */
enum { SL_RL_RELEASE_ARGS = 11, SL_RL_RELEASE_NUMS = 4 };
int sl_rl_release_args(const sl_rl_request *r, long long granted_at_ms, long long window,
                       long long seq, int discovering, const char **argv, size_t *lens,
                       char nums[][32]);

#endif

/* request.h — one HTTP request as the route handlers see it, and how they
 * answer it. server.c fills it in from libmicrohttpd, calls a handler once
 * the whole body is in, and sends the answer (after the injected latency).
 * Handlers never see MHD and never block. */
#ifndef FAKE_REQUEST_H
#define FAKE_REQUEST_H

#include "util.h"

#include <cjson/cJSON.h>
#include <stdint.h>

struct MHD_Connection;
struct MHD_PostProcessor;

/* One part of a multipart/form-data or urlencoded body. */
typedef struct fake_field {
    char *name;
    char *filename;     /* NULL for a plain field */
    char *content_type; /* NULL when the part named none */
    sl_buf value;       /* plain fields only: files keep just their size */
    uint64_t size;      /* bytes received */
} fake_field;

enum { FAKE_FORM_NONE, FAKE_FORM_URLENCODED, FAKE_FORM_MULTIPART };

#define FAKE_MAX_HEADERS 12

typedef struct fake_header {
    char name[32];
    char value[96];
} fake_header;

typedef struct fake_req {
    struct MHD_Connection *conn;
    const char *method; /* MHD's string, valid for the request */
    char *path;         /* URL path, percent-decoded, no query */
    sl_buf body;        /* the raw body, unless it is multipart */
    int form;           /* FAKE_FORM_*: how the body was parsed into fields */
    fake_field *fields; /* the parts, when it is a form */
    size_t nfields, capfields;
    struct MHD_PostProcessor *pp; /* NULL unless the body is a form */
    int too_big;                  /* the body passed FAKE_MAX_BODY */
    int phase;                    /* server.c's state machine */
    struct fake_server *server;   /* set while the answer waits (server.c) */
    int64_t t_ms;                 /* wall clock when the body was complete */

    /* filled in by the handler, for the stats and the log */
    int route;        /* enum fake_route; -1 = control API, not recorded */
    int bot;          /* index of the token used; -1 = none matched */
    char channel[40]; /* Discord channel id or Telegram chat id, or "" */
    char nonce[48];   /* Discord nonce as sent (truncated), or "" */
    int delivered;    /* 1 when this request created a message */
    int failed_after; /* done, then answered 5xx (--fail-after-rate) */

    /* the answer */
    int status;
    char *resp; /* malloc'd body; NULL = empty */
    size_t resp_len;
    fake_header hdr[FAKE_MAX_HEADERS];
    int nhdr;
    int drop;       /* close the connection instead of answering */
    int latency_ms; /* hold the answer back this long */
} fake_req;

/* A request header or query argument, or NULL. Valid for the request. */
const char *fake_req_header(const fake_req *r, const char *name);
const char *fake_req_query(const fake_req *r, const char *name);

/* The form part called NAME, or NULL (also when the body is not a form). */
const fake_field *fake_req_field(const fake_req *r, const char *name);

/* Whether the raw body is a JSON object (by its first byte: curl -d sends
 * JSON as application/x-www-form-urlencoded unless told otherwise, and
 * Discord and Telegram read it as JSON all the same). */
int fake_req_body_is_json(const fake_req *r);

/* Sets the answer to STATUS with body JSON (copied; NULL = no body). */
void fake_reply(fake_req *r, int status, const char *json);

/* Sets the answer to STATUS with DOC printed compactly; frees DOC. */
void fake_reply_json(fake_req *r, int status, cJSON *doc);

/* Adds a response header; ignored past FAKE_MAX_HEADERS (a bug, asserted). */
void fake_reply_header(fake_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/* util.h — small things every part uses: a growable byte buffer, JSON string
 * escaping, job ids, clocks. */
#ifndef SL_UTIL_H
#define SL_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Error codes: functions returning int give 0 or one of these (negative). */
#define SL_EINVAL -1  /* bad input; the error text says which field */
#define SL_EREDIS -2  /* Redis unreachable or answered an error */
#define SL_ENOENT -3  /* no such job / queue */
#define SL_ESTATE -4  /* the job is not in a state that allows this */
#define SL_EIO -5     /* file or socket error; errno holds the cause */
#define SL_ETOOBIG -6 /* over a configured size limit */
const char *sl_strerror(int code);

/* A growable buffer. Zero-initialised is empty and valid. Out of memory
 * aborts (as Redis's zmalloc does), so appends cannot fail. */
typedef struct sl_buf {
    char *data; /* NUL-terminated whenever len > 0 or cap > 0 */
    size_t len;
    size_t cap;
} sl_buf;

void sl_buf_reserve(sl_buf *b, size_t extra);
void sl_buf_append(sl_buf *b, const void *p, size_t n);
void sl_buf_puts(sl_buf *b, const char *s);
void sl_buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends S as a JSON string literal, quotes included. */
void sl_buf_json_str(sl_buf *b, const char *s, size_t n);
void sl_buf_reset(sl_buf *b);  /* len = 0, keeps the memory */
void sl_buf_deinit(sl_buf *b); /* frees the memory */

/* A fixed buffer that never overflows and stays terminated: appends past
 * its end are cut off (error messages, paths in them). {p, size, 0} is
 * empty; len stops at size - 1. */
typedef struct sl_fixbuf {
    char *p;
    size_t size, len;
} sl_fixbuf;
void sl_fixbuf_printf(sl_fixbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *sl_malloc(size_t n); /* abort on out of memory */
void *sl_calloc(size_t n, size_t size);
void *sl_realloc(void *p, size_t n);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);

/* A new job id: 26 characters, Crockford base32 of the millisecond time then
 * 80 random bits, like a ULID. Ids sort by creation time across processes and
 * increase strictly within one. OUT holds at least 27 bytes. */
#define SL_ID_LEN 26
void sl_id_new(char *out);

/* An id for this process in the fleet: GIVEN when set, else host-pid-rand,
 * e.g. "web-3-4242-9f1c". Uses rand(): seed it first. */
void sl_process_id(char *out, size_t outlen, const char *given);

int64_t sl_now_ms(void);       /* wall clock, ms since the epoch */
int64_t sl_monotonic_us(void); /* monotonic clock, µs */
int64_t sl_realtime_us(void);  /* wall clock, µs since the epoch */

/* Copies at most DST_SIZE-1 bytes and terminates; returns strlen(src). */
size_t sl_strlcpy(char *dst, const char *src, size_t dst_size);

/* Reads a whole file into a NUL-terminated heap string; NULL with errno set
 * on failure. "-" reads standard input. */
char *sl_read_file(const char *path, size_t *len_out);

#endif

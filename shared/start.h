/* start.h — the start-up the long-running binaries share (sluice-worker,
 * sluice-scheduler, sluice-producer serve), written once: options from the
 * environment and the command line, --help and usage errors, logging, the
 * JSON schemas, the Redis address and the key prefix, the random seed and
 * the process's id, SIGPIPE, and the stop signals on the loop. Exiting is
 * for start-up only (STYLE): these print what to fix, naming the option,
 * and hand back the exit status; main() returns it. */
#ifndef SL_START_H
#define SL_START_H

#include <ev.h>
#include <stddef.h>

#include "config.h"

/* What the helpers print with. */
typedef struct sl_start {
    const char *prog;         /* "sluice-worker": begins every error line */
    const char *synopsis;     /* "[options]": the usage line after PROG */
    const char *description;  /* --help's text */
    const sl_option *options; /* the binary's option table */
} sl_start;

#define SL_START_GO -1 /* go on: start-up continues */

/* Reads S's options from the environment, then ARGV (positional arguments
 * into POS, up to *NPOS, which is updated; POS NULL: none allowed).
 * Returns SL_START_GO, or the exit status after printing: 0 after --help
 * (the usage on stdout), 2 after an error (the error, then the usage line,
 * on stderr). */
int sl_start_options(const sl_start *s, int argc, char **argv, char **pos, int *npos);

/* Logging as COMPONENT at LOG_LEVEL ("debug", "info", "warn" or "error";
 * NULL: info), the JSON schemas, then REDIS_URL parsed into ADDR and PREFIX
 * checked. Returns 0, or 2 after printing the error naming the option. */
int sl_start_setup(const sl_start *s, const char *component, const char *log_level,
                   const char *redis_url, const char *prefix, sl_redis_addr *addr);

/* Seeds rand() from the pid and the time; makes the process's id (GIVEN,
 * else host-pid-random) into ID (IDLEN bytes) unless ID is NULL; ignores
 * SIGPIPE (a peer that went away is an error return, not a death). Returns
 * the default loop. */
struct ev_loop *sl_start_loop(char *id, size_t idlen, const char *given);

typedef void sl_start_signal_cb(struct ev_loop *loop, ev_signal *w, int revents);

/* Starts TERM (SIGTERM) and INT (SIGINT) on LOOP; both call CB with DATA as
 * their data. They are the binary's to stop. */
void sl_start_signals(struct ev_loop *loop, ev_signal *term, ev_signal *intr,
                      sl_start_signal_cb *cb, void *data);

#endif

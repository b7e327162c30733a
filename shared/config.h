/* config.h — one declarative table of options per binary drives parsing,
 * --help and validation (as Redis's config.c does). Each option may come from
 * the environment; a flag on the command line overrides it. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum sl_opt_type {
    SL_OPT_STR,    /* target: char ** (points into argv/environ or the default) */
    SL_OPT_INT,    /* target: a 64-bit integer (long long, int64_t; long or size_t where
                    * they are 64 bits), within [min, max] */
    SL_OPT_INT32,  /* target: int *, within [min, max] (which must fit an int) */
    SL_OPT_BOOL,   /* target: int *; a flag with no value; env: 1/0/true/false */
    SL_OPT_SECRET, /* like STR, but never printed, and blanked from argv once read */
};

typedef struct sl_option {
    const char *name; /* long flag without "--" */
    const char *env;  /* environment variable, or NULL */
    enum sl_opt_type type;
    void *target;
    const char *defval; /* default, as text; NULL = unset */
    long long min, max; /* bounds for SL_OPT_INT */
    const char *help;
} sl_option;

#define SL_CONFIG_HELP 1 /* sl_config_parse saw -h / --help */

/* Applies defaults, then the environment, then ARGV[1..]. Non-option
 * arguments are collected into POS (up to *NPOS, which is updated) in order;
 * "--" ends the options. The value of an SL_OPT_SECRET given in ARGV is
 * copied and its secret part (a URL's password, or all of it) overwritten
 * in ARGV, so ps and /proc/PID/cmdline no longer show it; a second parse of
 * the same ARGV gets the copy. Every argument is read even after -h/--help.
 * Returns SL_EINVAL with a message in ERR naming the option (or argument)
 * and its limit, else SL_CONFIG_HELP when -h/--help was given, else 0. */
int sl_config_parse(const sl_option *opts, int argc, char **argv, char **pos, int *npos, char *err,
                    size_t errlen);

/* Prints "usage: PROG SYNOPSIS": the line after a usage error. */
void sl_config_usage_line(FILE *out, const char *prog, const char *synopsis);

/* Prints "usage: PROG SYNOPSIS", DESCRIPTION, then one line per option with
 * its environment variable, default and bounds (a secret: what becomes of
 * it). */
void sl_config_usage(FILE *out, const char *prog, const char *synopsis, const char *description,
                     const sl_option *opts);

/* A parsed Redis address. */
typedef struct sl_redis_addr {
    char host[256]; /* empty when path is set */
    int port;
    char path[256]; /* Unix socket, from unix:///path */
    char user[128];
    char pass[256]; /* secret: never log it */
    int db;
} sl_redis_addr;

/* Parses "redis://[user:pass@]host[:port][/db]", "redis://:pass@host",
 * "unix:///path/to.sock[?db=N]". Returns 0, or SL_EINVAL with the reason. */
int sl_redis_addr_parse(const char *url, sl_redis_addr *out, char *err, size_t errlen);

/* Writes the address without its password ("redis://user:***@host:port/0"). */
void sl_redis_addr_describe(const sl_redis_addr *addr, char *out, size_t outlen);

/* Prefix and queue-name rules shared by every binary: [a-z0-9_-], 1..64,
 * starting with a letter for queues. Returns 0 or SL_EINVAL with a message. */
int sl_check_name(const char *what, const char *name, char *err, size_t errlen);

#endif

/* start.c — see start.h. */
#include "start.h"
#include "log.h"
#include "schema.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

int sl_start_options(const sl_start *s, int argc, char **argv, char **pos, int *npos)
{
    char err[512];
    int none = 0;
    int rc = sl_config_parse(s->options, argc, argv, pos, pos ? npos : &none, err, sizeof err);
    if (rc == SL_CONFIG_HELP) {
        sl_config_usage(stdout, s->prog, s->synopsis, s->description, s->options);
        return 0;
    }
    if (rc) {
        fprintf(stderr, "%s: %s\n", s->prog, err);
        sl_config_usage_line(stderr, s->prog, s->synopsis);
        return 2;
    }
    return SL_START_GO;
}

int sl_start_setup(const sl_start *s, const char *component, const char *log_level,
                   const char *redis_url, const char *prefix, sl_redis_addr *addr)
{
    char err[512];
    int level = log_level ? sl_log_level_parse(log_level) : SL_LOG_INFO;
    if (level < 0) {
        fprintf(stderr, "%s: --log-level: expected debug, info, warn or error\n", s->prog);
        return 2;
    }
    sl_log_init(component, level);
    sl_schema_init();
    if (sl_redis_addr_parse(redis_url, addr, err, sizeof err)) {
        fprintf(stderr, "%s: --redis-url: %s\n", s->prog, err);
        return 2;
    }
    if (sl_check_name("--prefix", prefix, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", s->prog, err);
        return 2;
    }
    return 0;
}

struct ev_loop *sl_start_loop(char *id, size_t idlen, const char *given)
{
    srand((unsigned)(getpid() ^ sl_now_ms()));
    if (id)
        sl_process_id(id, idlen, given);
    signal(SIGPIPE, SIG_IGN);
    return EV_DEFAULT;
}

void sl_start_signals(struct ev_loop *loop, ev_signal *term, ev_signal *intr,
                      sl_start_signal_cb *cb, void *data)
{
    ev_signal_init(term, cb, SIGTERM);
    term->data = data;
    ev_signal_start(loop, term);
    ev_signal_init(intr, cb, SIGINT);
    intr->data = data;
    ev_signal_start(loop, intr);
}

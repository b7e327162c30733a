/* sluice-fake-platform — a fake Discord REST API v10 and Telegram Bot API
 * on one loopback port, with their rate limits, injected latency, failures
 * and dropped connections, recording every request so tests can assert
 * that no limit was exceeded and nothing was delivered twice. See
 * tests/fake/README.md. main.c only parses the options, opens the socket,
 * starts the server and waits for a signal. */
#include "config.h"
#include "fake.h"
#include "log.h"
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    const char *bind;
    long long port, connections;
    const char *discord_tokens, *telegram_tokens;
    long long latency_ms;
    const char *latency;
    long long global_limit, bucket_limit, bucket_window_ms;
    long long tg_bot_limit, tg_chat_limit, tg_group_limit;
    const char *fail_rate, *drop_rate, *fail_after_rate;
    long long seed;
    const char *log, *log_level;
    const char *forbidden, *missing, *missing_chats;
} o;

static const sl_option options[] = {
    {"bind", NULL, SL_OPT_STR, &o.bind, "127.0.0.1", 0, 0, "address; only 127.0.0.1 is accepted"},
    {"port", NULL, SL_OPT_INT, &o.port, "0", 0, 65535, "TCP port; 0 picks a free one"},
    {"connections", NULL, SL_OPT_INT, &o.connections, "16384", 64, 1000000,
     "most open connections (also capped by the open-file limit)"},
    {"discord-token", "SLUICE_FAKE_DISCORD_TOKENS", SL_OPT_SECRET, &o.discord_tokens, NULL, 0, 0,
     "accepted bot token (repeatable, or comma-separated)"},
    {"telegram-token", "SLUICE_FAKE_TELEGRAM_TOKENS", SL_OPT_SECRET, &o.telegram_tokens, NULL, 0, 0,
     "accepted Telegram bot token (repeatable, or comma-separated)"},
    {"latency-ms", NULL, SL_OPT_INT, &o.latency_ms, "0", 0, 3600000,
     "added to every Discord/Telegram answer"},
    {"latency", NULL, SL_OPT_STR, &o.latency, NULL, 0, 0,
     "ROUTE=MS for one route (repeatable; routes in README.md)"},
    {"global-limit", NULL, SL_OPT_INT, &o.global_limit, "50", 0, 1000000,
     "Discord requests per second per token; 0 = off"},
    {"bucket-limit", NULL, SL_OPT_INT, &o.bucket_limit, "5", 0, 1000000,
     "Discord requests per route per channel/guild per window; 0 = off"},
    {"bucket-window-ms", NULL, SL_OPT_INT, &o.bucket_window_ms, "5000", 1, 3600000,
     "the bucket window"},
    {"telegram-bot-limit", NULL, SL_OPT_INT, &o.tg_bot_limit, "30", 0, 1000000,
     "Telegram requests per second per bot; 0 = off"},
    {"telegram-chat-limit", NULL, SL_OPT_INT, &o.tg_chat_limit, "1", 0, 1000000,
     "messages per second per private chat (chat_id > 0); 0 = off"},
    {"telegram-group-limit", NULL, SL_OPT_INT, &o.tg_group_limit, "20", 0, 1000000,
     "messages per minute per group (chat_id < 0); 0 = off"},
    {"fail-rate", NULL, SL_OPT_STR, &o.fail_rate, "0", 0, 0,
     "share of requests answered 500/502/503 (0..1)"},
    {"fail-after-rate", NULL, SL_OPT_STR, &o.fail_after_rate, "0", 0, 0,
     "share of Discord requests done, then answered 500/502/503 (0..1)"},
    {"drop-rate", NULL, SL_OPT_STR, &o.drop_rate, "0", 0, 0,
     "share of requests whose connection is closed unanswered (0..1)"},
    {"seed", NULL, SL_OPT_INT, &o.seed, "1", 0, 9007199254740991LL,
     "seed for --fail-rate, --fail-after-rate and --drop-rate"},
    {"log", NULL, SL_OPT_STR, &o.log, NULL, 0, 0, "append one JSON line per request to FILE"},
    {"log-level", NULL, SL_OPT_STR, &o.log_level, "info", 0, 0, "debug, info, warn or error"},
    {"forbidden-channel", NULL, SL_OPT_STR, &o.forbidden, NULL, 0, 0,
     "channel id answered 403 Missing Access (repeatable)"},
    {"missing-channel", NULL, SL_OPT_STR, &o.missing, NULL, 0, 0,
     "channel id answered 404 Unknown Channel (repeatable)"},
    {"missing-chat", NULL, SL_OPT_STR, &o.missing_chats, NULL, 0, 0,
     "Telegram chat id answered 400 chat not found (repeatable)"},
    {0},
};

static const char *synopsis = "[options]";
static const char *description =
    "A fake Discord REST API v10 (/api/v10/...) and Telegram Bot API (/bot<token>/...) on\n"
    "127.0.0.1, with rate limits, latency, failures and a control API (/_fake/...).\n"
    "Prints \"listening 127.0.0.1:PORT\" as its first line on stdout; SIGTERM stops it.";

/* Options that may be given more than once: sl_config_parse keeps the last
 * value, so they are collected here first (joined with commas) and taken
 * out of argv; the values of secret ones (tokens) are then overwritten in
 * argv, as sl_config_parse does, so ps and /proc/PID/cmdline never show
 * them. */
static const char *const repeatable[] = {"discord-token",     "telegram-token",  "latency",
                                         "forbidden-channel", "missing-channel", "missing-chat"};
#define NREPEAT (sizeof repeatable / sizeof repeatable[0])

static int is_secret(const char *name)
{
    for (const sl_option *opt = options; opt->name; opt++)
        if (!strcmp(opt->name, name))
            return opt->type == SL_OPT_SECRET;
    return 0;
}

/* Overwrites V in place with "***", the rest zeroed. */
static void blank(char *v)
{
    size_t n = strlen(v), stars = n < 3 ? n : 3;
    memset(v, '*', stars);
    memset(v + stars, 0, n - stars);
}

static int collect_repeatable(int argc, char **argv, char **rest, sl_buf *joined)
{
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = NREPEAT;
        if (!strcmp(a, "--")) {
            while (i < argc)
                rest[n++] = argv[i++];
            break;
        }
        for (k = 0; k < NREPEAT; k++) {
            size_t len = strlen(repeatable[k]);
            if (!strncmp(a, "--", 2) && !strncmp(a + 2, repeatable[k], len) &&
                (a[2 + len] == '\0' || a[2 + len] == '='))
                break;
        }
        if (k == NREPEAT) {
            rest[n++] = argv[i];
            continue;
        }
        char *eq = strchr(argv[i], '=');
        char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "sluice-fake-platform: --%s: needs a value\n", repeatable[k]);
            sl_config_usage_line(stderr, "sluice-fake-platform", synopsis);
            exit(2);
        }
        if (joined[k].len)
            sl_buf_puts(&joined[k], ",");
        sl_buf_puts(&joined[k], val);
        if (is_secret(repeatable[k]))
            blank(val);
    }
    return n;
}

/* Splits a comma-separated list into a NULL-terminated array of copies. */
static char **split_list(const char *s, int *count)
{
    char **out = sl_calloc(1, sizeof *out);
    int n = 0;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len) {
            out = sl_realloc(out, (n + 2) * sizeof *out);
            out[n++] = sl_strndup(s, len);
            out[n] = NULL;
        }
        s = comma ? comma + 1 : NULL;
    }
    *count = n;
    return out;
}

/* Frees a split_list result, wiping each string first (tokens). */
static void free_list(char **list)
{
    for (char **p = list; p && *p; p++) {
        memset(*p, 0, strlen(*p));
        free(*p);
    }
    free(list);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sluice-fake-platform: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static double parse_rate(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 1))
        die("%s %s: expected a share between 0 and 1", name, s);
    return v;
}

static void fill_map(fake_map *map, const char *list)
{
    int n;
    char **items = split_list(list, &n);
    for (int i = 0; i < n; i++)
        fake_map_set(map, items[i], (void *)1);
    free_list(items);
}

static void parse_latencies(fake_config *c, const char *list)
{
    int n;
    char **items = split_list(list, &n);
    for (int i = 0; i < n; i++) {
        char *eq = strchr(items[i], '='), *end;
        if (eq)
            *eq = '\0';
        int route = eq ? fake_route_parse(items[i]) : -1;
        long ms = eq ? strtol(eq + 1, &end, 10) : -1;
        if (route < 0 || end == eq + 1 || *end || ms < 0 || ms > 3600000)
            die("--latency %s: expected ROUTE=MS with a route from dm, create_message, "
                "edit_message, delete_message, list_messages, create_channel, list_channels, "
                "get_member, sendMessage, editMessageText, deleteMessage, sendDocument",
                items[i]);
        c->route_latency_ms[route] = (int)ms;
    }
    free_list(items);
}

static int open_listener(int port, int *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    /* a deep backlog: a benchmark opens a thousand connections at once */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(a.sin_port);
    return fd;
}

/* Raises the open-file limit as far as allowed; returns how many
 * connections that leaves room for. */
static unsigned room_for_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur > 1000064 ? 1000000 : (unsigned)(rl.rlim_cur - 64);
}

int main(int argc, char **argv)
{
    char err[512];
    sl_buf joined[NREPEAT] = {{0}};
    char **rest = sl_calloc((size_t)argc + 1, sizeof *rest);
    int nrest = collect_repeatable(argc, argv, rest, joined);
    int rc = sl_config_parse(options, nrest, rest, NULL, NULL, err, sizeof err);
    free(rest);
    if (rc == SL_CONFIG_HELP) {
        sl_config_usage(stdout, "sluice-fake-platform", synopsis, description, options);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "sluice-fake-platform: %s\n", err);
        sl_config_usage_line(stderr, "sluice-fake-platform", synopsis);
        exit(2); /* as die() does: the token buffers stay reachable */
    }
    const char **targets[NREPEAT] = {&o.discord_tokens, &o.telegram_tokens, &o.latency,
                                     &o.forbidden,      &o.missing,         &o.missing_chats};
    for (size_t k = 0; k < NREPEAT; k++)
        if (joined[k].len)
            *targets[k] = joined[k].data; /* flags override the environment */
    int level = sl_log_level_parse(o.log_level);
    if (level < 0)
        die("--log-level %s: expected debug, info, warn or error", o.log_level);
    sl_log_init("fake-platform", level);
    if (strcmp(o.bind, "127.0.0.1") != 0 && strcmp(o.bind, "localhost") != 0)
        die("--bind %s: refused; the fake platform listens on 127.0.0.1 only", o.bind);

    static fake_state st;
    fake_config *c = &st.cfg;
    c->latency_ms = (int)o.latency_ms;
    for (int i = 0; i < FAKE_R_COUNT; i++)
        c->route_latency_ms[i] = -1;
    parse_latencies(c, o.latency);
    c->fail_rate = parse_rate("--fail-rate", o.fail_rate);
    c->drop_rate = parse_rate("--drop-rate", o.drop_rate);
    c->fail_after_rate = parse_rate("--fail-after-rate", o.fail_after_rate);
    c->global_limit = (int)o.global_limit;
    c->bucket_limit = (int)o.bucket_limit;
    c->bucket_window_ms = (int)o.bucket_window_ms;
    c->tg_bot_limit = (int)o.tg_bot_limit;
    c->tg_chat_limit = (int)o.tg_chat_limit;
    c->tg_group_limit = (int)o.tg_group_limit;
    st.discord_tokens = split_list(o.discord_tokens, &st.n_discord);
    st.telegram_tokens = split_list(o.telegram_tokens, &st.n_telegram);
    fill_map(&st.forbidden, o.forbidden);
    fill_map(&st.missing, o.missing);
    fill_map(&st.missing_chats, o.missing_chats);
    for (size_t k = 0; k < NREPEAT; k++) {
        /* everything above took copies; the options now point at freed
         * memory and are not read again */
        if (joined[k].data)
            memset(joined[k].data, 0, joined[k].len); /* may hold tokens */
        sl_buf_deinit(&joined[k]);
    }
    if (o.log) {
        st.log = fopen(o.log, "a");
        if (!st.log)
            die("--log %s: cannot open", o.log);
        setvbuf(st.log, NULL, _IOLBF, 0); /* tests read it while we run */
    }
    fake_state_init(&st, (uint64_t)o.seed);

    /* signals are taken with sigwait below: block them before any thread
     * starts so that every thread inherits the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int port = 0;
    int fd = open_listener((int)o.port, &port);
    if (fd < 0)
        die("cannot listen on 127.0.0.1:%lld: %s", o.port, strerror(errno));
    unsigned room = room_for_connections();
    unsigned conns = (unsigned)o.connections < room ? (unsigned)o.connections : room;
    if (conns < 4096)
        sl_warn("only %u connections fit under the open-file limit", conns);
    fake_server *srv = fake_server_start(&st, fd, conns, err, sizeof err);
    if (!srv) {
        close(fd);
        die("%s", err);
    }
    printf("listening 127.0.0.1:%d\n", port);
    fflush(stdout);
    sl_info("listening port=%d connections=%u discord_bots=%d telegram_bots=%d "
            "latency_ms=%lld global_limit=%lld bucket_limit=%lld/%lldms",
            port, conns, st.n_discord, st.n_telegram, o.latency_ms, o.global_limit, o.bucket_limit,
            o.bucket_window_ms);

    int sig = 0;
    sigwait(&sigs, &sig);
    sl_info("signal %d: stopping", sig);
    fake_server_stop(srv);
    fake_state_deinit(&st);
    if (st.log)
        fclose(st.log);
    free_list(st.discord_tokens);
    free_list(st.telegram_tokens);
    return 0;
}

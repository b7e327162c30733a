/* sluice-ctl — the operator's admin CLI: queue statistics, one job's state,
 * dead jobs, retry, cancel, pause and resume, workers, batches, a
 * producer's spool, and the install of the Redis Function library. main()
 * parses the options (one table per command, as config.h has them), connects and
 * dispatches; ctl.h names the file each command lives in. */
#include "ctl.h"
#include "config.h"
#include "rblock.h"
#include "schema.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static ctl_opts o;

/* clang-format off */
#define OPT_REDIS                                                                                 \
    {"redis-url", "SLUICE_REDIS_URL", SL_OPT_SECRET, &o.redis_url, "redis://127.0.0.1:6379/0", 0, \
     0, "Redis address: redis://[user:pass@]host:port/db or unix:///path"}
#define OPT_PREFIX {"prefix", "SLUICE_PREFIX", SL_OPT_STR, &o.prefix, "sluice", 0, 0, "key prefix"}
#define OPT_JSON {"json", NULL, SL_OPT_BOOL, &o.json, NULL, 0, 0, "print one JSON document"}
#define OPT_QUEUE(help) {"queue", NULL, SL_OPT_STR, &o.queue, NULL, 0, 0, help}
#define OPT_LIMIT {"limit", NULL, SL_OPT_INT, &o.limit, "50", 1, 100000, "list at most N jobs"}
#define OPT_ALL_DEAD                                                                              \
    {"all-dead", NULL, SL_OPT_BOOL, &o.all_dead, NULL, 0, 0, "revive every dead job of --queue"}
#define OPT_SPOOL                                                                                 \
    {"spool", "SLUICE_SPOOL", SL_OPT_STR, &o.spool, NULL, 0, 0,                                   \
     "also show the depth of this producer spool (SQLite file)"}
#define OPT_PRINT                                                                                 \
    {"print", NULL, SL_OPT_BOOL, &o.print, NULL, 0, 0,                                             \
     "print the library (for FUNCTION LOAD by hand) instead of loading it"}
#define OPT_CHECK                                                                                 \
    {"check", NULL, SL_OPT_BOOL, &o.check, NULL, 0, 0,                                             \
     "only say which version Redis has; exit status 1 when older than this one's or none"}
#define OPT_STATE                                                                                 \
    {"state", NULL, SL_OPT_STR, &o.state, NULL, 0, 0,                                             \
     "which finished jobs to delete: dead, done, or dead,done"}
#define OPT_YES {"yes", NULL, SL_OPT_BOOL, &o.yes, NULL, 0, 0, "really delete them"}
#define OPT_ARCHIVE                                                                               \
    {"archive", "SLUICE_ARCHIVE", SL_OPT_STR, &o.archive, NULL, 0, 0,                             \
     "the SQLite archive the scheduler writes: latency and history from its rollups"}
#define OPT_INTERVAL                                                                              \
    {"interval", NULL, SL_OPT_INT, &o.interval, "1", 1, 3600, "seconds between two frames"}
#define OPT_ONCE                                                                                  \
    {"once", NULL, SL_OPT_BOOL, &o.once, NULL, 0, 0,                                              \
     "print one frame (80x24, no escapes) and exit"}
#define OPT_LISTEN                                                                                \
    {"listen", NULL, SL_OPT_STR, &o.listen, "127.0.0.1:8788", 0, 0,                               \
     "HOST:PORT to serve the dashboard on (an IPv4 address)"}
#define OPT_TOKEN_FILE                                                                            \
    {"admin-token-file", "SLUICE_ADMIN_TOKEN_FILE", SL_OPT_STR, &o.token_file, NULL, 0, 0,        \
     "file holding the token that allows retry and cancel (none: read-only)"}
#define OPT_TYPE(help) {"type", NULL, SL_OPT_STR, &o.type, NULL, 0, 0, help}
#define OPT_SINCE(d) {"since", NULL, SL_OPT_STR, &o.since, d, 0, 0, "how far back: 90s, 30m, 1h, 7d"}
#define OPT_STEP                                                                                  \
    {"step", NULL, SL_OPT_STR, &o.step, NULL, 0, 0,                                               \
     "one row per this much time (1m, 15m, 1h, 1d; default: 1m up to --since 1h, 1h up to 2d, "   \
     "then 1d)"}
#define OPT_FAILED                                                                                \
    {"failed", NULL, SL_OPT_BOOL, &o.failed, NULL, 0, 0, "only failures (retried, dead, cancelled)"}
#define FIND_HELP "the job's queue (default: look in every known queue)"
/* clang-format on */

static const sl_option common_opts[] = {OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option all_opts[] = {OPT_REDIS,    OPT_PREFIX,      OPT_QUEUE(""), OPT_JSON,
                                     OPT_LIMIT,    OPT_ALL_DEAD,    OPT_SPOOL,     OPT_PRINT,
                                     OPT_CHECK,    OPT_STATE,       OPT_YES,       OPT_ARCHIVE,
                                     OPT_INTERVAL, OPT_ONCE,        OPT_LISTEN,    OPT_TOKEN_FILE,
                                     OPT_TYPE(""), OPT_SINCE(NULL), OPT_STEP,      OPT_FAILED,
                                     {0}};
static const sl_option history_opts[] = {OPT_ARCHIVE,
                                         OPT_QUEUE("only this queue"),
                                         OPT_TYPE("only this job type"),
                                         OPT_SINCE("1h"),
                                         OPT_FAILED,
                                         OPT_LIMIT,
                                         OPT_JSON,
                                         {0}};
static const sl_option metrics_opts[] = {OPT_ARCHIVE,
                                         OPT_QUEUE("only this queue"),
                                         OPT_TYPE("only this job type"),
                                         OPT_SINCE("24h"),
                                         OPT_STEP,
                                         OPT_JSON,
                                         {0}};
static const sl_option stats_opts[] = {OPT_JSON, OPT_SPOOL, OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option spool_opts[] = {OPT_LIMIT, OPT_JSON, {0}};
static const sl_option install_opts[] = {OPT_PRINT, OPT_CHECK, OPT_REDIS, {0}};
static const sl_option json_opts[] = {OPT_JSON, OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option show_opts[] = {OPT_QUEUE(FIND_HELP), OPT_JSON, OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option dead_opts[] = {OPT_QUEUE("only this queue (default: every known queue)"),
                                      OPT_LIMIT,
                                      OPT_JSON,
                                      OPT_REDIS,
                                      OPT_PREFIX,
                                      {0}};
static const sl_option retry_opts[] = {
    OPT_QUEUE(FIND_HELP), OPT_ALL_DEAD, OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option ls_opts[] = {OPT_QUEUE("only this queue (default: every known queue)"),
                                    OPT_LIMIT,
                                    OPT_JSON,
                                    OPT_REDIS,
                                    OPT_PREFIX,
                                    {0}};
static const sl_option purge_opts[] = {OPT_STATE, OPT_YES, OPT_REDIS, OPT_PREFIX, {0}};
static const sl_option top_opts[] = {OPT_INTERVAL, OPT_ONCE,   OPT_ARCHIVE,
                                     OPT_REDIS,    OPT_PREFIX, {0}};
static const sl_option web_opts[] = {OPT_LISTEN, OPT_TOKEN_FILE, OPT_ARCHIVE,
                                     OPT_REDIS,  OPT_PREFIX,     {0}};
static const sl_option cancel_opts[] = {OPT_QUEUE(FIND_HELP), OPT_REDIS, OPT_PREFIX, {0}};

typedef struct command {
    const char *name;
    const char *args;    /* synopsis after the name */
    const char *summary; /* one line for sluice-ctl --help */
    const char *description;
    const sl_option *opts;
    int minpos, maxpos;  /* positional arguments after the name */
    const char *missing; /* what a missing argument is */
    int (*run)(ctl *c, int npos, char **pos);
} command;

static const command commands[] = {
    {"stats", "[--json] [--spool PATH]", "jobs in each state and counters, per queue",
     "For every known queue: ready jobs by priority (CRITICAL..LOW), delayed, active, done\n"
     "and dead jobs, whether it is paused, then its counters (ENQUEUED..REVIVED, where DIED\n"
     "counts jobs sent to dead); then the number of workers. With --spool (or SLUICE_SPOOL):\n"
     "the jobs and bytes waiting in that producer spool, and the age of the oldest.",
     stats_opts, 0, 0, NULL, ctl_stats},
    {"show", "ID [--queue Q] [--json]", "one job: its state, its result and its envelope",
     "Shows job ID: its state (ready, delayed, active, done, dead, cancelled, unknown) with\n"
     "the time that goes with it, then its envelope. Exit status 1 when there is no such job.",
     show_opts, 1, 1, "job ID", ctl_show},
    {"dead", "[--queue Q] [--limit N] [--json]", "dead jobs, newest first",
     "Lists dead jobs newest first: time of death (UTC), queue, id, type, attempts and the\n"
     "last error (cut to 100 characters; --json has it whole).",
     dead_opts, 0, 0, NULL, ctl_dead},
    {"ls", "STATE [--queue Q] [--limit N] [--json]",
     "jobs in STATE: ready, delayed, active, done or dead",
     "Lists the jobs in one state across the known queues (or --queue Q), with their type\n"
     "and attempts: ready in claim order (critical to low, each list from its head, queue\n"
     "by queue) with priority and position; delayed (when each runs) and active (its lease\n"
     "deadline and the worker holding it) soonest first; done (when it finished) and dead\n"
     "(when it died, and why, cut to 100 characters; --json has it whole) newest first.",
     ls_opts, 1, 1, "state (ready, delayed, active, done or dead)", ctl_ls},
    {"purge", "Q --state dead|done --yes", "delete finished jobs of queue Q for good",
     "Deletes the dead (or done, or dead,done) jobs of queue Q, ids and bodies, in batches\n"
     "of 500, each batch atomic. Jobs that arrive in that state meanwhile are left. Prints\n"
     "how many went. Refuses without --yes (and says how many it would delete). Only\n"
     "finished jobs can be purged: ready and delayed ones still wait for their run (cancel\n"
     "them first), and active ones are held by a worker.",
     purge_opts, 1, 1, "queue name Q", ctl_purge},
    {"top", "[--interval S] [--once] [--archive F]", "live view of queues, workers, limits",
     "Redraws every --interval seconds (one pipelined round trip): per queue the ready jobs\n"
     "by priority, delayed, active and dead, enqueued/done/failed per second (from the stats\n"
     "counters), and the latency p50/p99: queue wait from the archive's rollups of the last\n"
     "5 minutes with --archive (or SLUICE_ARCHIVE), else due->finished of the newest 50 done\n"
     "jobs per queue (the line under the table says which). Then the workers with the jobs\n"
     "their leases show, each bot's rate-limit state (blocked and why, 401/403/429 in this\n"
     "10-minute window, rate limiters pacing requests), and the newest dead jobs. A queue\n"
     "marked | is paused. Fits the terminal (80x24 and up): lines are cut, never wrapped.\n"
     "Plain ANSI escapes, no curses. Ctrl-C quits. --once prints one frame (80x24, no\n"
     "escapes; two refreshes --interval apart, so rates are known).",
     top_opts, 0, 0, NULL, ctl_top},
    {"web", "[--listen H:P] [--admin-token-file F]", "the dashboard, in a browser",
     "Serves the dashboard on --listen (loopback by default): queues and depths, throughput\n"
     "and failures over time from the archive's rollups (--archive; \"no archive\" without),\n"
     "dead jobs with their reasons, workers, rate limits, the interview workflow's\n"
     "applications. Self-contained (no CDN). Read-only, unless --admin-token-file names a\n"
     "file holding a token: then its retry and cancel buttons work for whoever gives that\n"
     "token (Authorization: Bearer). Runs until SIGINT or SIGTERM.",
     web_opts, 0, 0, NULL, ctl_web},
    {"retry", "ID [--queue Q] | --all-dead --queue Q", "put dead jobs back in ready",
     "Revives dead job ID (or with --all-dead every dead job of queue Q): attempts start\n"
     "again from 0 and the job goes to the end of its priority's ready list. Prints how\n"
     "many were revived. Exit status 1 when the job is not dead.",
     retry_opts, 0, 1, NULL, ctl_retry},
    {"cancel", "ID [--queue Q]", "cancel a ready or delayed job",
     "Moves job ID from ready or delayed to dead with last_error \"cancelled by sluice-ctl\".\n"
     "Exit status 1 when the job is running or finished.",
     cancel_opts, 1, 1, "job ID", ctl_cancel},
    {"pause", "Q", "stop handing out jobs of queue Q",
     "Pauses queue Q: workers claim nothing from it until it is resumed. Jobs keep arriving\n"
     "and running jobs finish.",
     common_opts, 1, 1, "queue name Q", ctl_pause},
    {"resume", "Q", "undo pause", "Resumes queue Q after a pause.", common_opts, 1, 1,
     "queue name Q", ctl_resume},
    {"batch", "ID [--json]", "a batch: its jobs' counts and its callback",
     "Shows batch ID: open, sealed (no more jobs join) or complete; its jobs in all, done,\n"
     "failed (dead or cancelled) and pending; its callback job (none, pending, or fired with\n"
     "the time); when it was made and when it expires. Exit status 1 when there is no such\n"
     "batch (never opened, or expired).",
     json_opts, 1, 1, "batch ID", ctl_batch},
    {"apps", "[--json]", "applications of the interview workflow, by state",
     "Counts the applications (interviewing, approved, rejected, expired), those pending\n"
     "approval with the next deadline, decision messages not yet enqueued, and whether an\n"
     "approval sweep is running.",
     json_opts, 0, 0, NULL, ctl_apps},
    {"app", "ID [--json]", "one application: channel, state, reminders, deadlines",
     "Shows application ID's record: guild, user, channel, state, reminders sent, whether an\n"
     "image was seen, its deadline and decision time, the texts it will post. Exit status 1\n"
     "when there is no such application.",
     json_opts, 1, 1, "application ID", ctl_app},
    {"workers", "[--json]", "workers and their last heartbeats",
     "Lists the workers that reported a heartbeat: host, pid, queues, jobs running, processed\n"
     "and failed, and seconds since the last heartbeat (\"gone\": its record expired).",
     json_opts, 0, 0, NULL, ctl_workers},
    {"spool", "PATH [--limit N] [--json]", "jobs waiting in a producer's spool",
     "Lists the jobs waiting in the SQLite spool PATH of sluice-producer (--spool), oldest\n"
     "first: queue, id, how long it has waited and its size; then how many wait in all.\n"
     "Reads the file only: works while redis is down. sluice-producer flush sends them.",
     spool_opts, 1, 1, "spool PATH", ctl_spool},
    {"install", "[--print | --check]", "load or upgrade the Redis Function library",
     "Loads the Redis Function library \"sluice\" (Redis 7+) that this sluice-ctl carries, or\n"
     "upgrades an older one (FUNCTION LOAD REPLACE); then any Redis client enqueues with\n"
     "  FCALL sluice_enqueue 1 PREFIX:{QUEUE} ENVELOPE_JSON [ENVELOPE_JSON ...]\n"
     "(the same enqueue as sluice-producer; README: \"Enqueue from any language\").\n"
     "Idempotent: prints \"installed version N\", \"upgraded from version M to N\" or \"already\n"
     "at version N\". A newer library in Redis is left as it is (exit status 1). Functions\n"
     "are not per prefix: one library serves every prefix.",
     install_opts, 0, 0, NULL, ctl_install},
    {"history", "[--since 1h] [--failed] [--queue Q]", "job ends from the archive",
     "Lists job ends from the SQLite archive (--archive or SLUICE_ARCHIVE: the file the\n"
     "leading scheduler writes), newest first: when it ended (UTC), queue, type, id, outcome\n"
     "(done, retried, dead, cancelled), attempts, wait and run time, and the error. Done ones\n"
     "are there when the scheduler runs with --history all. Reads the file only: no Redis.",
     history_opts, 0, 0, NULL, ctl_history},
    {"metrics", "[--since 24h] [--queue Q] [--step 1h]", "per-minute rollups from the archive",
     "The archive's per-minute rollups, added up per --step for each queue and type: jobs\n"
     "done, dead, retried and cancelled, rate-limit waits, and the p50/p95/p99 of run and\n"
     "wait time in ms (from the minutes' histograms, so exact to 3% over any step). Reads\n"
     "the file only: no Redis.",
     metrics_opts, 0, 0, NULL, ctl_metrics},
    {0},
};

static const command *find_command(const char *name)
{
    for (const command *cmd = commands; name && cmd->name; cmd++)
        if (!strcmp(cmd->name, name))
            return cmd;
    return NULL;
}

static void usage_all(FILE *out)
{
    static char desc[4096];
    size_t n = (size_t)snprintf(desc, sizeof desc,
                                "The operator's view of Sluice's queues, jobs and workers.\n\n"
                                "commands (sluice-ctl COMMAND --help for each):");
    for (const command *cmd = commands; cmd->name; cmd++)
        n += (size_t)snprintf(desc + n, sizeof desc - n, "\n  %-8s %-38s %s", cmd->name, cmd->args,
                              cmd->summary);
    snprintf(desc + n, sizeof desc - n,
             "\n\nExit status: 0 done, 1 not found or wrong state, 2 usage or Redis error.");
    sl_config_usage(out, "sluice-ctl", "COMMAND [ARGS] [options]", desc, common_opts);
}

static void usage_command(const command *cmd)
{
    char synopsis[128];
    snprintf(synopsis, sizeof synopsis, "%s %s", cmd->name, cmd->args);
    sl_config_usage(stdout, "sluice-ctl", synopsis, cmd->description, cmd->opts);
}

/* The line after a usage error: the command's synopsis, or the general one. */
static void usage_line(const command *cmd)
{
    char synopsis[128];
    if (cmd)
        snprintf(synopsis, sizeof synopsis, "%s %s", cmd->name, cmd->args);
    else
        snprintf(synopsis, sizeof synopsis, "COMMAND [ARGS] [options]");
    sl_config_usage_line(stderr, "sluice-ctl", synopsis);
}

static int unknown_command(const char *name)
{
    char list[256] = "";
    size_t n = 0;
    for (const command *cmd = commands; cmd->name; cmd++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", cmd->name);
    ctl_errorf("unknown command \"%.40s\" (commands: %s; see sluice-ctl --help)", name, list);
    usage_line(NULL);
    return CTL_FAIL;
}

/* The command's own options, positional count and names. Returns 0 or
 * CTL_FAIL after printing what to fix. */
static int parse_command(const command *cmd, int argc, char **argv, char **pos, int *npos)
{
    char err[512];
    int rc = sl_config_parse(cmd->opts, argc, argv, pos, npos, err, sizeof err);
    if (rc) { /* --help was handled by the first pass */
        ctl_errorf("%s: %s", cmd->name, err);
        usage_line(cmd);
        return CTL_FAIL;
    }
    int nargs = *npos - 1;
    if (nargs < cmd->minpos) {
        ctl_errorf("%s: missing %s", cmd->name, cmd->missing);
        usage_line(cmd);
        return CTL_FAIL;
    }
    if (nargs > cmd->maxpos) {
        ctl_errorf("%s: unexpected argument \"%.40s\"", cmd->name, pos[1 + cmd->maxpos]);
        usage_line(cmd);
        return CTL_FAIL;
    }
    if (sl_check_name("--prefix", o.prefix, err, sizeof err) ||
        (o.queue && sl_check_name("--queue", o.queue, err, sizeof err))) {
        ctl_errorf("%s: %s", cmd->name, err);
        return CTL_FAIL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    char *pos[8] = {0};
    int npos = 8;
    /* First pass with every option, to find the command wherever it is. */
    int rc = sl_config_parse(all_opts, argc, argv, pos, &npos, err, sizeof err);
    const command *cmd = find_command(pos[0]);
    if (rc == SL_CONFIG_HELP || (pos[0] && !strcmp(pos[0], "help"))) {
        const char *name = pos[0] && !strcmp(pos[0], "help") ? pos[1] : pos[0];
        if (!name) {
            usage_all(stdout);
            return CTL_OK;
        }
        if (!(cmd = find_command(name)))
            return unknown_command(name);
        usage_command(cmd);
        return CTL_OK;
    }
    if (rc) {
        ctl_errorf("%s%s%s", cmd ? cmd->name : "", cmd ? ": " : "", err);
        usage_line(cmd);
        return CTL_FAIL;
    }
    if (npos == 0) {
        usage_all(stderr);
        fprintf(stderr, "\nsluice-ctl: missing command\n");
        return CTL_FAIL;
    }
    if (!cmd)
        return unknown_command(pos[0]);
    npos = 8;
    if (parse_command(cmd, argc, argv, pos, &npos))
        return CTL_FAIL;

    if (cmd->run == ctl_spool || cmd->run == ctl_history || cmd->run == ctl_metrics) {
        /* need no redis (nor does install --print) */
        ctl c = {.o = &o, .cmd = cmd->name};
        return cmd->run(&c, npos - 1, pos + 1);
    }
    if (cmd->run == ctl_install && o.print)
        return ctl_install_print(); /* no Redis needed */
    sl_redis_addr addr;
    if (sl_redis_addr_parse(o.redis_url, &addr, err, sizeof err)) {
        ctl_errorf("--redis-url: %s", err);
        return CTL_FAIL;
    }
    sl_schema_init();
    ctl c = {.o = &o, .cmd = cmd->name};
    c.rc = sl_rblock_connect(&addr, 5.0, err, sizeof err);
    if (!c.rc) {
        ctl_errorf("%s", err);
        return CTL_FAIL;
    }
    rc = cmd->run(&c, npos - 1, pos + 1);
    redisFree(c.rc);
    return rc;
}

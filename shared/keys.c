/* keys.c — see keys.h. */
#include "keys.h"

#include <stdio.h>
#include <string.h>

void sl_keys_init(sl_keys *k, const char *prefix, const char *queue)
{
    snprintf(k->queue, sizeof k->queue, "%s", queue);
    snprintf(k->base, sizeof k->base, "%s:{%s}:", prefix, queue);
    for (int p = 0; p < SL_PRIO_COUNT; p++)
        snprintf(k->ready[p], SL_KEY_MAX, "%sready:%s", k->base, sl_priority_name(p));
    snprintf(k->delayed, SL_KEY_MAX, "%sdelayed", k->base);
    snprintf(k->active, SL_KEY_MAX, "%sactive", k->base);
    snprintf(k->lease, SL_KEY_MAX, "%slease", k->base);
    snprintf(k->done, SL_KEY_MAX, "%sdone", k->base);
    snprintf(k->dead, SL_KEY_MAX, "%sdead", k->base);
    snprintf(k->stats, SL_KEY_MAX, "%sstats", k->base);
    snprintf(k->paused, SL_KEY_MAX, "%spaused", k->base);
    snprintf(k->job_prefix, SL_KEY_MAX, "%sjob:", k->base);
    snprintf(k->idem_prefix, SL_KEY_MAX, "%sidem:", k->base);
    snprintf(k->notify, SL_KEY_MAX, "%snotify", k->base);
    snprintf(k->events, SL_KEY_MAX, "%s:events", prefix);
}

void sl_keys_queues(char *out, const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:queues", prefix);
}

void sl_keys_workers(char *out, const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:workers", prefix);
}

void sl_keys_worker(char *out, const char *prefix, const char *worker_id)
{
    snprintf(out, SL_KEY_MAX, "%s:worker:%s", prefix, worker_id);
}

void sl_keys_leader(char *out, const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:scheduler:leader", prefix);
}

void sl_keys_sched_notify(char *out, const char *prefix)
{
    snprintf(out, SL_KEY_MAX, "%s:scheduler:notify", prefix);
}

void sl_keys_batch(char *out, const char *prefix, const char *batch)
{
    snprintf(out, SL_KEY_MAX, "%s:batch:{%s}", prefix, batch);
}

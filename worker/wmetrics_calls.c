/* wmetrics_calls.c — the worker's metrics of its requests to Discord and
 * Telegram, of their rate limits and of PDF renders (the families are
 * registered by wmetrics.c). Apart from the job counts so that the unit
 * tests of call.c and gate.c link without the handlers. */
#include "wmetrics.h"
#include "bots.h"
#include "platform.h"
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

/* The route class of a request: Discord's route template ("POST
 * /channels/{id}/messages"); Telegram's method and path without its query
 * ("POST /sendMessage": the token is never in it, see platform.h). */
static void route_class(const sl_bot *bot, const sl_call *spec, char *out, size_t len)
{
    if (bot->platform == SL_PLATFORM_DISCORD && spec->route[0]) {
        sl_strlcpy(out, spec->route, len);
        return;
    }
    const char *path = spec->path.data ? spec->path.data : "";
    size_t n = strcspn(path, "?");
    if (bot->platform == SL_PLATFORM_DISCORD)
        n = 0; /* no template: never a raw Discord path, it holds ids */
    snprintf(out, len, "%s %.*s", spec->method ? spec->method : "?", (int)n, n ? path : "(other)");
}

void wm_http(worker *w, const sl_bot *bot, const sl_call *spec, long status, const char *scope429)
{
    if (!w->metrics)
        return;
    struct wmetrics *M = w->metrics;
    const char *platform = bot->platform == SL_PLATFORM_DISCORD ? "discord" : "telegram";
    char route[128], code[16];
    route_class(bot, spec, route, sizeof route);
    snprintf(code, sizeof code, "%ld", status);
    /* a look-up per platform request (not per job): a few dozen series */
    sl_series_inc(sl_metric_series(M->http_requests, (const char *[]){platform, route, code}));
    const char *scope = scope429 && scope429[0] ? scope429 : "none";
    if (status == 429)
        sl_series_inc(sl_metric_series(M->rl_429, (const char *[]){bot->name, scope}));
    if (bot->platform == SL_PLATFORM_DISCORD &&
        (status == 401 || status == 403 || (status == 429 && strcmp(scope, "shared"))))
        sl_series_inc(sl_metric_series(M->invalid, (const char *[]){bot->name}));
}

sl_series *wm_rl_waits(worker *w, const sl_rl_request *req)
{
    if (!w->metrics)
        return NULL;
    /* base is "PREFIX:{rl:PLATFORM:BOT}:" */
    char bot[80] = "?", scope[32] = "global";
    const char *p = strstr(req->base, "{rl:");
    if (p && (p = strchr(p + 4, ':'))) {
        size_t n = strcspn(p + 1, "}");
        snprintf(bot, sizeof bot, "%.*s", (int)n, p + 1);
    }
    if (req->route[0])
        sl_strlcpy(scope, "route", sizeof scope);
    else if (req->nlimits > 0) {
        const char *name = req->limits[req->nlimits - 1].name;
        snprintf(scope, sizeof scope, "%.*s", (int)strcspn(name, ":"), name);
    }
    return sl_metric_series(w->metrics->rl_waits, (const char *[]){bot, scope});
}

void wm_pdf_rendered(worker *w, int ok)
{
    if (w->metrics)
        sl_series_inc(ok ? w->metrics->pdf_ok : w->metrics->pdf_failed);
}

void wm_pdf_place_wait(worker *w)
{
    if (w->metrics)
        sl_series_inc(w->metrics->pdf_waits);
}

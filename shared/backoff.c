/* backoff.c — see backoff.h. Pure arithmetic, unit-tested. */
#include "backoff.h"

int64_t sl_backoff_retry_ceiling(const sl_backoff_retry *b, int attempt)
{
    if (attempt < 1)
        attempt = 1;
    int64_t c = b->base_ms;
    for (int i = 1; i < attempt && c < b->max_ms; i++)
        c *= 2;
    return c < b->max_ms ? c : b->max_ms;
}

int64_t sl_backoff_retry_delay(const sl_backoff_retry *b, int attempt, double rand01)
{
    int64_t c = sl_backoff_retry_ceiling(b, attempt);
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    int64_t d = (int64_t)(rand01 * (double)(c + 1));
    if (d < c / 10)
        d = c / 10;
    return d > c ? c : d;
}

double sl_backoff_reconnect_ceiling(int failures)
{
    double c = SL_BACKOFF_RECONNECT_BASE_S;
    for (int i = 1; i < failures && c < SL_BACKOFF_RECONNECT_MAX_S; i++)
        c *= 2;
    return c < SL_BACKOFF_RECONNECT_MAX_S ? c : SL_BACKOFF_RECONNECT_MAX_S;
}

double sl_backoff_reconnect_delay(int failures, double rand01)
{
    double c = sl_backoff_reconnect_ceiling(failures);
    if (!(rand01 >= 0)) /* NaN too */
        rand01 = 0;
    if (rand01 > 1)
        rand01 = 1;
    return c / 2 + rand01 * (c / 2);
}

/* backoff.c — see backoff.h. Pure arithmetic, unit-tested. */
#include "backoff.h"

int64_t sl_backoff_ceiling(const sl_backoff *b, int attempt)
{
    if (attempt < 1)
        attempt = 1;
    int64_t c = b->base_ms;
    for (int i = 1; i < attempt && c < b->max_ms; i++)
        c *= 2;
    return c < b->max_ms ? c : b->max_ms;
}

int64_t sl_backoff_delay(const sl_backoff *b, int attempt, double rand01)
{
    int64_t c = sl_backoff_ceiling(b, attempt);
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 >= 1)
        rand01 = 0.999999;
    int64_t d = (int64_t)(rand01 * (double)(c + 1));
    if (d < c / 10)
        d = c / 10;
    return d > c ? c : d;
}

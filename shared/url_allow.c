/* url_allow.c — see url_allow.h. */
#include "url_allow.h"

#include <stdio.h>
#include <string.h>

static int refuse(char *why, size_t whylen, const char *reason)
{
    snprintf(why, whylen, "%s", reason);
    return 0;
}

int sl_url_allowed(const char *url, const char *allow, char *why, size_t whylen)
{
    size_t skip = !strncmp(url, "https://", 8) ? 8 : !strncmp(url, "http://", 7) ? 7 : 0;
    if (!skip)
        return refuse(why, whylen, "only http:// and https:// URLs");
    for (const unsigned char *s = (const unsigned char *)url; *s; s++)
        if (*s <= ' ' || *s == 0x7f || *s == '\\')
            return refuse(why, whylen, "spaces, control characters and backslashes are refused");
    size_t host = strcspn(url + skip, "/?#");
    if (memchr(url + skip, '@', host))
        return refuse(why, whylen, "user info in the URL is refused");
    size_t path_end = skip + host + strcspn(url + skip + host, "?#");
    for (size_t i = skip + host; i < path_end; i++) {
        if (url[i] == '%' && url[i + 1] == '2' && (url[i + 2] == 'e' || url[i + 2] == 'E'))
            return refuse(why, whylen, "encoded dots in the path are refused");
        if (url[i] != '/' || url[i + 1] != '.')
            continue;
        size_t dots = url[i + 2] == '.' ? 2 : 1;
        size_t after = i + 1 + dots;
        if (after == path_end || url[after] == '/')
            return refuse(why, whylen, "dot segments (/./, /../) in the path are refused");
    }
    if (!allow || !*allow)
        return refuse(why, whylen, "this worker has no --pdf-put-allow list");
    for (const char *p = allow; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ')
            len--;
        if (len && !strncmp(url, p, len)) {
            char next = url[len];
            if (p[len - 1] == '/' || next == '\0' || next == '/' || next == '?')
                return 1;
        }
        p += strcspn(p, ",");
    }
    return refuse(why, whylen, "the URL is under no prefix of --pdf-put-allow");
}

void sl_url_for_log(const char *url, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.*s", (int)strcspn(url, "?#"), url);
}

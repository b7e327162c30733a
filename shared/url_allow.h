/* url_allow.h — the URLs a worker may PUT a rendered PDF to: an allow-list
 * of prefixes (--pdf-put-allow), checked whole, and refusing URL tricks
 * that would step outside a prefix; and a URL as logs may show it. Pure:
 * no I/O. */
#ifndef SL_URL_ALLOW_H
#define SL_URL_ALLOW_H

#include <stddef.h>

/* Whether URL may receive a PUT under ALLOW, a comma-separated list of URL
 * prefixes. A prefix matches only whole: it ends in '/', or the URL goes on
 * with '/', '?' or nothing after it (so "https://a.example" does not admit
 * "https://a.example.evil.org"). URLs with dot segments ("/../"), encoded
 * dots or backslashes, user info ('@' before the path), spaces or control
 * characters are refused whatever the list says. Returns 1, or 0 with the
 * reason in WHY. */
int sl_url_allowed(const char *url, const char *allow, char *why, size_t whylen);

/* URL as logs may show it: without query and fragment (a signed upload URL
 * carries its credential there). */
void sl_url_for_log(const char *url, char *out, size_t outlen);

#endif

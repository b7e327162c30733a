/* noperm.c — see noperm.h. */
#include "noperm.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static char user[128];

int sl_noperm_is(const char *err)
{
    return err &&
           (!strncmp(err, "NOPERM", 6) || strstr(err, "The user executing the script can't"));
}

void sl_noperm_set_user(const char *u)
{
    sl_strlcpy(user, u && u[0] ? u : "default", sizeof user);
}

static const char *who(void)
{
    return user[0] ? user : "default";
}

#define HINT                                                                                       \
    "its ACL rules lack this command, key or channel: see deploy/users.acl; the server's "         \
    "ACL LOG names which"

const char *sl_noperm_note(const char *err)
{
    static char note[320];
    if (!sl_noperm_is(err))
        return "";
    snprintf(note, sizeof note, " (Redis user '%s' was refused: " HINT ")", who());
    return note;
}

const char *sl_noperm_explain(const char *err, const char *what, char *buf, size_t len)
{
    snprintf(buf, len, "Redis user '%s' may not run %s: %s (" HINT ")", who(), what, err);
    return buf;
}

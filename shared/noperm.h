/* noperm.h — saying which Redis user was refused what. A role's ACL rules
 * (deploy/users.acl) that lack a command, key or channel make Redis answer
 * "NOPERM ..." (or, for a command a script runs, "ERR The user executing
 * the script can't ..."), which names neither the user nor, from a script,
 * the command: these helpers add both, so that an operator knows whose
 * rules to change. */
#ifndef SL_NOPERM_H
#define SL_NOPERM_H

#include <stddef.h>

/* 1 when ERR (an error reply's text, or NULL) is Redis refusing for lack
 * of permission, else 0. */
int sl_noperm_is(const char *err);

/* Records the Redis user this process connects as (copied; "" or NULL:
 * the default user), for sl_noperm_note. Called by rconn and rblock when
 * they connect. */
void sl_noperm_set_user(const char *user);

/* "" when ERR is not a permission refusal, else a note to append to a
 * message that shows ERR: " (Redis user 'U' lacks the permission: ...)".
 * The text is static: valid until the next call. */
const char *sl_noperm_note(const char *err);

/* Writes "Redis user 'U' may not run WHAT: ERR (...)" into BUF. Returns
 * BUF. */
const char *sl_noperm_explain(const char *err, const char *what, char *buf, size_t len);

#endif

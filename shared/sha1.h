/* sha1.h — SHA-1, only to name Lua scripts for EVALSHA the way Redis does. */
#ifndef SL_SHA1_H
#define SL_SHA1_H

#include <stddef.h>

/* Writes the 40 lowercase hex digits of SHA-1(DATA) and a NUL into HEX. */
void sl_sha1_hex(const void *data, size_t len, char hex[41]);

#endif

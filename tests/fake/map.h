/* map.h — a string-keyed hash map (open addressing, linear probing) for the
 * fake's records: channels, nonces, rate-limit buckets. Keys are copied;
 * values belong to the caller. There is no single-key delete: records are
 * cleared as a whole (POST /_fake/reset), so a NULL value stands for "absent"
 * where a setting can be withdrawn. Not thread-safe: the caller locks. */
#ifndef FAKE_MAP_H
#define FAKE_MAP_H

#include <stddef.h>

typedef struct fake_map {
    char **keys; /* NULL = empty slot */
    void **vals;
    size_t cap; /* a power of two, or 0 before the first insert */
    size_t len;
} fake_map;

/* The value for KEY, or NULL when there is none. */
void *fake_map_get(const fake_map *m, const char *key);

/* The slot holding KEY's value, inserting KEY with a NULL value first when
 * it is missing (set *CREATED to tell which). Valid until the next insert. */
void **fake_map_slot(fake_map *m, const char *key, int *created);

/* Sets KEY to VAL and returns the value it replaces (NULL when new). */
void *fake_map_set(fake_map *m, const char *key, void *val);

/* Walks every entry: start with *ITER = 0; returns 0 after the last. */
int fake_map_next(const fake_map *m, size_t *iter, const char **key, void **val);

/* Empties the map, calling FREE_VAL (if not NULL) on each non-NULL value. */
void fake_map_clear(fake_map *m, void (*free_val)(void *));

#endif

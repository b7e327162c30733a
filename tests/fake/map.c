/* map.c — see map.h. */
#include "map.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* The index of KEY's slot, or of the empty slot where it would go. */
static size_t find(const fake_map *m, const char *key)
{
    size_t mask = m->cap - 1, i = (size_t)hash(key) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

static void grow(fake_map *m)
{
    fake_map bigger = {0};
    bigger.cap = m->cap ? m->cap * 2 : 64;
    bigger.keys = sl_calloc(bigger.cap, sizeof *bigger.keys);
    bigger.vals = sl_calloc(bigger.cap, sizeof *bigger.vals);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = find(&bigger, m->keys[i]);
        bigger.keys[j] = m->keys[i]; /* the key moves, no copy */
        bigger.vals[j] = m->vals[i];
    }
    bigger.len = m->len;
    free(m->keys);
    free(m->vals);
    *m = bigger;
}

void *fake_map_get(const fake_map *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = find(m, key);
    return m->keys[i] ? m->vals[i] : NULL;
}

void **fake_map_slot(fake_map *m, const char *key, int *created)
{
    /* keep the load under 3/4 so probe runs stay short */
    if ((m->len + 1) * 4 > m->cap * 3)
        grow(m);
    size_t i = find(m, key);
    if (created)
        *created = !m->keys[i];
    if (!m->keys[i]) {
        m->keys[i] = sl_strdup(key);
        m->vals[i] = NULL;
        m->len++;
    }
    return &m->vals[i];
}

void *fake_map_set(fake_map *m, const char *key, void *val)
{
    void **slot = fake_map_slot(m, key, NULL);
    void *old = *slot;
    *slot = val;
    return old;
}

int fake_map_next(const fake_map *m, size_t *iter, const char **key, void **val)
{
    for (size_t i = *iter; i < m->cap; i++) {
        if (m->keys[i]) {
            *key = m->keys[i];
            *val = m->vals[i];
            *iter = i + 1;
            return 1;
        }
    }
    *iter = m->cap;
    return 0;
}

void fake_map_clear(fake_map *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        if (free_val && m->vals[i])
            free_val(m->vals[i]);
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* args.c — see args.h. */
#include "args.h"

#include <stdlib.h>
#include <string.h>

void sl_args_add(sl_args *a, const void *p, size_t n)
{
    if (a->argc == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->offs = sl_realloc(a->offs, a->cap * sizeof *a->offs);
        a->lens = sl_realloc(a->lens, a->cap * sizeof *a->lens);
        free(a->argv); /* made again, as large, by sl_args_argv */
        a->argv = NULL;
    }
    a->offs[a->argc] = a->bytes.len;
    a->lens[a->argc] = n;
    sl_buf_append(&a->bytes, p, n);
    a->argc++;
}

void sl_args_add_str(sl_args *a, const char *s)
{
    sl_args_add(a, s, strlen(s));
}

const char **sl_args_argv(sl_args *a)
{
    if (!a->argv && a->cap)
        a->argv = sl_malloc(a->cap * sizeof *a->argv);
    for (int i = 0; i < a->argc; i++)
        a->argv[i] = sl_args_at(a, i);
    return a->argv;
}

void sl_args_append(sl_args *a, const sl_args *src)
{
    for (int i = 0; i < src->argc; i++)
        sl_args_add(a, sl_args_at(src, i), src->lens[i]);
}

void sl_args_reset(sl_args *a)
{
    sl_buf_reset(&a->bytes);
    a->argc = 0;
}

void sl_args_deinit(sl_args *a)
{
    sl_buf_deinit(&a->bytes);
    free(a->offs);
    free(a->lens);
    free(a->argv);
    memset(a, 0, sizeof *a);
}

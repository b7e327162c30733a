/* args.h — the arguments of one Redis call kept back to back in one buffer,
 * so a call of thousands of arguments costs a few allocations, not one
 * each (the enqueue batches of shared/enqueue.c, the worker's ack and fail
 * calls in worker/settle.c). Zero-initialised is empty and valid; out of
 * memory aborts, so adding cannot fail. */
#ifndef SL_ARGS_H
#define SL_ARGS_H

#include <stddef.h>

#include "util.h"

typedef struct sl_args {
    sl_buf bytes;      /* every argument's bytes, back to back */
    size_t *offs;      /* argument i starts at bytes.data + offs[i] */
    size_t *lens;      /* and is lens[i] bytes long (no NUL: may hold any byte) */
    const char **argv; /* made by sl_args_argv */
    int argc, cap;
} sl_args;

/* Appends an argument: N bytes of P, copied. */
void sl_args_add(sl_args *a, const void *p, size_t n);
void sl_args_add_str(sl_args *a, const char *s);

/* Argument I's first byte; valid until the next add, reset or deinit. */
static inline const char *sl_args_at(const sl_args *a, int i)
{
    return a->bytes.data + a->offs[i];
}

/* Every argument's pointer (LENS: a->lens), valid until the next add,
 * reset or deinit. */
const char **sl_args_argv(sl_args *a);

/* Appends every argument of SRC to A. */
void sl_args_append(sl_args *a, const sl_args *src);

void sl_args_reset(sl_args *a);  /* no argument; keeps the memory */
void sl_args_deinit(sl_args *a); /* frees the memory; A is empty again */

#endif

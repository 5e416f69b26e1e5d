/*
 * registry.c - the table of every primitive, generated from prim_list.h,
 * and the default params equality and hash.
 */
#include "prim.h"

#include <string.h>

const kiln_prim *const kiln__prims[] = {
#define KILN_X_(name) &kiln__prim_##name,
#include "prim_list.h"
#undef KILN_X_
};

const int kiln__nprims = (int)(sizeof kiln__prims / sizeof kiln__prims[0]);

bool kiln__prim_params_equal(const kiln_prim *p, const void *a,
                             const void *b)
{
    if (p->equal) {
        return p->equal(a, b, p->params_size);
    }
    return p->params_size == 0 || memcmp(a, b, p->params_size) == 0;
}

uint64_t kiln__prim_params_hash(const kiln_prim *p, const void *params)
{
    if (p->hash) {
        return p->hash(params, p->params_size);
    }
    /* FNV-1a over the bytes (params are zero-initialised, so padding is
     * deterministic) */
    uint64_t h = 1469598103934665603ull;
    const unsigned char *b = params;
    for (size_t i = 0; i < p->params_size; i++) {
        h = (h ^ b[i]) * 1099511628211ull;
    }
    return h;
}

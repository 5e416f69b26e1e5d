/*
 * iter.c - dimension collapsing and range-split iteration (see iter.h).
 */
#include "iter.h"

#include <string.h>

#include "../../runtime/pool.h"

void kiln__iter_init(kiln_iter *it, int ndim, const int64_t *shape, int nops,
                     char *const *base, const int64_t *const *strides)
{
    int nd = 0;
    it->nops = nops;
    it->size = 1;
    for (int k = 0; k < nops; k++) {
        it->base[k] = base[k];
    }
    for (int i = 0; i < ndim; i++) {
        it->size *= shape[i];
        if (shape[i] == 1) {
            continue;
        }
        /* merge with the previous kept dim when every operand steps
         * through both as one */
        bool merge = nd > 0;
        for (int k = 0; k < nops && merge; k++) {
            merge = it->strides[k][nd - 1] == strides[k][i] * shape[i];
        }
        if (merge) {
            it->shape[nd - 1] *= shape[i];
            for (int k = 0; k < nops; k++) {
                it->strides[k][nd - 1] = strides[k][i];
            }
        } else {
            it->shape[nd] = shape[i];
            for (int k = 0; k < nops; k++) {
                it->strides[k][nd] = strides[k][i];
            }
            nd++;
        }
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) {
            it->strides[k][0] = 0;
        }
        nd = 1;
    }
    it->nd = nd;
}

void kiln__iter_range(const kiln_iter *it, int64_t lo, int64_t hi,
                      kiln_row_fn fn, void *ctx)
{
    int nd = it->nd;
    int64_t inner = it->shape[nd - 1];
    int64_t idx[KILN_MAX_NDIM];
    char *ptrs[KILN_ITER_MAX_OPS];
    int64_t rs[KILN_ITER_MAX_OPS];
    if (lo >= hi) {
        return;
    }
    /* multi-index of lo */
    int64_t r = lo;
    for (int i = nd - 1; i >= 0; i--) {
        idx[i] = r % it->shape[i];
        r /= it->shape[i];
    }
    for (int k = 0; k < it->nops; k++) {
        char *p = it->base[k];
        for (int i = 0; i < nd; i++) {
            p += idx[i] * it->strides[k][i];
        }
        ptrs[k] = p;
        rs[k] = it->strides[k][nd - 1];
    }
    int64_t pos = lo;
    while (pos < hi) {
        int64_t n = inner - idx[nd - 1];
        if (n > hi - pos) {
            n = hi - pos;
        }
        fn(ctx, ptrs, rs, n);
        pos += n;
        if (pos >= hi) {
            break;
        }
        /* advance to the start of the next row */
        for (int k = 0; k < it->nops; k++) {
            ptrs[k] += n * rs[k];
        }
        idx[nd - 1] += n;
        for (int i = nd - 1; i > 0 && idx[i] == it->shape[i]; i--) {
            for (int k = 0; k < it->nops; k++) {
                ptrs[k] -= idx[i] * it->strides[k][i];
                ptrs[k] += it->strides[k][i - 1];
            }
            idx[i] = 0;
            idx[i - 1]++;
        }
    }
}

typedef struct {
    const kiln_iter *it;
    kiln_row_fn fn;
    void *ctx;
} run_ctx;

static void run_range(void *c, int64_t lo, int64_t hi)
{
    run_ctx *rc = c;
    kiln__iter_range(rc->it, lo, hi, rc->fn, rc->ctx);
}

void kiln__iter_run(const kiln_iter *it, int64_t grain, kiln_row_fn fn,
                    void *ctx)
{
    if (it->size == 0) {
        return;
    }
    if (grain <= 0 || it->size < 2 * grain) {
        kiln__iter_range(it, 0, it->size, fn, ctx);
        return;
    }
    run_ctx rc = {it, fn, ctx};
    kiln__pool_for(it->size, grain, run_range, &rc);
}

/*
 * creation_cpu.c - eager fills of the creation primitives (prim/creation.c):
 * arange, linspace and eye.
 *
 * Range values are computed in double (floats) or in 64-bit wrapping
 * integer arithmetic (integer arange) a block at a time, and each block is
 * stored through the astype kernel of the target dtype, so conversions
 * (rounding, saturation, float16) are exactly those of astype. Large fills
 * are split over the thread pool.
 */
#include "creation_cpu.h"

#include <string.h>

#include "../../core/dtype.h"
#include "../../runtime/pool.h"
#include "elementwise_cpu.h"

#define BLOCK 512

typedef struct {
    const kiln_range_params *rp;
    bool linspace;
    char *dst;
} fill_ctx;

/* Values [lo, hi) into ctx->dst, BLOCK at a time through astype. */
static void fill_range(void *c, int64_t lo, int64_t hi)
{
    const fill_ctx *f = c;
    const kiln_range_params *rp = f->rp;
    kiln_dtype dt = rp->dtype;
    size_t isz = kiln_dtype_size(dt);
    bool ints = !f->linspace && kiln_dtype_is_integer(dt);
    union {
        double f[BLOCK];
        int64_t i[BLOCK];
    } blk;
    uint64_t s0 = 0, delta = 0;
    if (ints) {
        /* as MLX: start and start + step converted to dt, then
         * repeated differences (wrapping like the integer type) */
        char t0[8], t1[8];
        kiln__dtype_store_f64(t0, dt, rp->start);
        kiln__dtype_store_f64(t1, dt, rp->start + rp->step);
        s0 = (uint64_t)kiln__dtype_load_i64(t0, dt);
        delta = (uint64_t)kiln__dtype_load_i64(t1, dt) - s0;
    }
    kiln_unary_kernel k =
        kiln__cpu_astype[ints ? KILN_DTYPE_INT64 : KILN_DTYPE_FLOAT64][dt];
    for (int64_t b = lo; b < hi; b += BLOCK) {
        int64_t n = hi - b < BLOCK ? hi - b : BLOCK;
        if (ints) {
            for (int64_t i = 0; i < n; i++) {
                blk.i[i] = (int64_t)(s0 + (uint64_t)(b + i) * delta);
            }
        } else if (f->linspace) {
            for (int64_t i = 0; i < n; i++) {
                blk.f[i] = rp->start + (double)(b + i) * rp->step;
            }
            /* the last value is stop itself, not start + (n-1) * step */
            if (b + n == rp->size && rp->size > 1) {
                blk.f[n - 1] = rp->stop;
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                blk.f[i] = rp->start + (double)(b + i) * rp->step;
            }
        }
        k(n, (const char *)&blk, 8, f->dst + b * (int64_t)isz,
          (int64_t)isz);
    }
}

static kiln_status eval_range(const kiln_node *n, bool linspace,
                              kiln_array *const *out)
{
    if (kiln__array_alloc(out[0], n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    fill_ctx f = {n->params, linspace, kiln__array_ptr(out[0])};
    kiln__pool_for(out[0]->size, 1 << 16, fill_range, &f);
    return KILN_OK;
}

kiln_status kiln__cpu_eval_arange(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    (void)in;
    return eval_range(n, false, out);
}

kiln_status kiln__cpu_eval_linspace(const kiln_node *n,
                                    kiln_array *const *in,
                                    kiln_array *const *out)
{
    (void)in;
    return eval_range(n, true, out);
}

kiln_status kiln__cpu_eval_eye(const kiln_node *n, kiln_array *const *in,
                               kiln_array *const *out)
{
    const kiln_eye_params *ep = n->params;
    kiln_array *y = out[0];
    char one[8];
    (void)in;
    if (kiln__array_alloc(y, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    size_t isz = kiln_dtype_size(y->dtype);
    char *p = kiln__array_ptr(y);
    memset(p, 0, (size_t)y->size * isz);
    kiln__dtype_store_f64(one, y->dtype, 1.0);
    if (ep->k >= ep->m || ep->k <= -ep->n) {
        return KILN_OK; /* the diagonal misses the matrix */
    }
    /* rows i with 0 <= i + k < m */
    int64_t i0 = ep->k < 0 ? -ep->k : 0;
    for (int64_t i = i0; i < ep->n && i + ep->k < ep->m; i++) {
        memcpy(p + (i * ep->m + i + ep->k) * (int64_t)isz, one, isz);
    }
    return KILN_OK;
}


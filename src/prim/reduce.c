/*
 * reduce.c - reduction and scan primitives: descriptors and shape rules.
 *
 * Reductions: sum prod max min all any argmax argmin. One input; params
 * kiln_reduce_params {axes: bit mask of reduced axes, keepdims}. keepdims
 * lives in the primitive (the output either keeps reduced axes as size 1
 * or drops them; the memory layout is the same), so no reshape node
 * follows a reduction and the kernels never see a difference.
 *   shape: the input shape without the reduced axes (size 1 with keepdims);
 *          an empty mask is an elementwise conversion.
 *   dtype: from the kind's rule (kiln__reduce_out_dtype, below):
 *          sum, prod   bool, int8-32 -> int32; uint8-32 -> uint32;
 *                      64-bit ints and floats keep their dtype (as MLX)
 *          max, min    the input dtype
 *          all, any    bool
 *          argmax/min  uint32 (the flat index over the reduced axes in
 *                      row-major order)
 *   math:  sum = x0 + x1 + ... (0 when empty), prod (1 when empty),
 *          max/min propagate NaN (no identity: an empty reduced axis is
 *          a value error), all = and of (x != 0) (true when empty),
 *          any = or of (x != 0) (false when empty), argmax/argmin = first
 *          index of the extreme, or of the first NaN.
 *   derivatives: not yet (vjp/jvp NULL; the transforms work adds them).
 *
 * Scans: cumsum cumprod cummax cummin. One input; params kiln_scan_params
 * {axis, reverse, inclusive, flat}.
 *   shape: the input shape, or (size) when flat.
 *   dtype: the input dtype, except cumsum of bool -> int32 (as MLX).
 *   math:  y[i] = x[0] op ... op x[i] along the axis (from the end when
 *          reverse); exclusive scans shift by one and start at the
 *          identity (0, 1, the lowest value, the highest value).
 */
#include <math.h>

#include "reduce.h"

#include "../backend/cpu/reduce_cpu.h"
#include "../backend/cpu/scan_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "prim.h"

kiln_dtype kiln__reduce_out_dtype(kiln_reduce_out out, kiln_dtype dt)
{
    switch (out) {
    case KILN_REDUCE_OUT_SUM:
        if (dt == KILN_DTYPE_UINT8 || dt == KILN_DTYPE_UINT16 ||
            dt == KILN_DTYPE_UINT32) {
            return KILN_DTYPE_UINT32;
        }
        if (dt == KILN_DTYPE_BOOL || dt == KILN_DTYPE_INT8 ||
            dt == KILN_DTYPE_INT16 || dt == KILN_DTYPE_INT32) {
            return KILN_DTYPE_INT32;
        }
        return dt;
    case KILN_REDUCE_OUT_BOOL:
        return KILN_DTYPE_BOOL;
    case KILN_REDUCE_OUT_UINT32:
        return KILN_DTYPE_UINT32;
    case KILN_REDUCE_OUT_CUMSUM:
        return dt == KILN_DTYPE_BOOL ? KILN_DTYPE_INT32 : dt;
    default:
        return dt;
    }
}

static kiln_status infer_reduce(const kiln_prim *p, const void *params,
                                const kiln_meta *in, int nin, kiln_meta *out,
                                int *nout)
{
    const kiln_reduce_kind *k = p->kernels;
    const kiln_reduce_params *rp = params;
    int nd = 0;
    bool empty = false;
    (void)nin;
    if ((uint64_t)rp->axes >> in[0].ndim != 0) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] reduced axes out of range for ndim %d",
                         p->name, in[0].ndim);
    }
    for (int i = 0; i < in[0].ndim; i++) {
        if (rp->axes & (1u << i)) {
            empty = empty || in[0].shape[i] == 0;
            if (rp->keepdims) {
                out[0].shape[nd++] = 1;
            }
        } else {
            out[0].shape[nd++] = in[0].shape[i];
        }
    }
    if (k->nonempty && empty) {
        char buf[128];
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] cannot reduce over an empty axis (shape %s): "
                         "the reduction has no identity",
                         p->name,
                         kiln__shape_str(in[0].shape, in[0].ndim, buf,
                                         sizeof buf));
    }
    out[0].ndim = nd;
    out[0].dtype = kiln__reduce_out_dtype(k->out, in[0].dtype);
    *nout = 1;
    return KILN_OK;
}

/* Each kind: its dtype rule and flags, and the backend's loops. */
static const kiln_reduce_kind kind_sum = {KILN_REDUCE_OUT_SUM, false, false,
                                          kiln__cpu_reduce_sum};
static const kiln_reduce_kind kind_prod = {KILN_REDUCE_OUT_SUM, false,
                                           false, kiln__cpu_reduce_prod};
static const kiln_reduce_kind kind_max = {KILN_REDUCE_OUT_SAME, false, true,
                                          kiln__cpu_reduce_max};
static const kiln_reduce_kind kind_min = {KILN_REDUCE_OUT_SAME, false, true,
                                          kiln__cpu_reduce_min};
static const kiln_reduce_kind kind_all = {KILN_REDUCE_OUT_BOOL, false, false,
                                          kiln__cpu_reduce_all};
static const kiln_reduce_kind kind_any = {KILN_REDUCE_OUT_BOOL, false, false,
                                          kiln__cpu_reduce_any};
static const kiln_reduce_kind kind_argmax = {KILN_REDUCE_OUT_UINT32, true,
                                             true, kiln__cpu_reduce_argmax};
static const kiln_reduce_kind kind_argmin = {KILN_REDUCE_OUT_UINT32, true,
                                             true, kiln__cpu_reduce_argmin};

/* How each fusable reduction folds a value into its accumulator (see
 * kiln_emit in prim.h); argmax/argmin have none and are never fused. */
static const kiln_emit emit_sum = {.combine = &kiln__prim_add,
                                   .identity = 0.0};
static const kiln_emit emit_prod = {.combine = &kiln__prim_multiply,
                                    .identity = 1.0};
static const kiln_emit emit_max = {.combine = &kiln__prim_maximum,
                                   .identity = -INFINITY, .nonempty = true};
static const kiln_emit emit_min = {.combine = &kiln__prim_minimum,
                                   .identity = INFINITY, .nonempty = true};
static const kiln_emit emit_all = {.combine = &kiln__prim_logical_and,
                                   .identity = 1.0};
static const kiln_emit emit_any = {.combine = &kiln__prim_logical_or,
                                   .identity = 0.0};
#define EMIT_sum (&emit_sum)
#define EMIT_prod (&emit_prod)
#define EMIT_max (&emit_max)
#define EMIT_min (&emit_min)
#define EMIT_all (&emit_all)
#define EMIT_any (&emit_any)
#define EMIT_argmax NULL
#define EMIT_argmin NULL

#define REDUCE(kind)                                                         \
    const kiln_prim kiln__prim_##kind = {                                    \
        .name = #kind,                                                       \
        .flags = KILN_PRIM_REDUCTION,                                        \
        .nin = 1,                                                            \
        .params_size = sizeof(kiln_reduce_params),                           \
        .infer = infer_reduce,                                               \
        .eval_cpu = kiln__cpu_eval_reduce,                                   \
        .emit = EMIT_##kind,                                                 \
        .kernels = &kind_##kind,                                             \
    };
KILN_REDUCE_KIND_LIST(REDUCE)

static kiln_status infer_scan(const kiln_prim *p, const void *params,
                              const kiln_meta *in, int nin, kiln_meta *out,
                              int *nout)
{
    const kiln_scan_kind *k = p->kernels;
    const kiln_scan_params *sp = params;
    (void)nin;
    out[0] = in[0];
    if (sp->flat) {
        int64_t size = 1;
        for (int i = 0; i < in[0].ndim; i++) {
            size *= in[0].shape[i];
        }
        out[0].ndim = 1;
        out[0].shape[0] = size;
    } else if (sp->axis < 0 || sp->axis >= in[0].ndim) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] axis %d is out of bounds for array of ndim "
                         "%d",
                         p->name, (int)sp->axis, in[0].ndim);
    }
    out[0].dtype = kiln__reduce_out_dtype(k->out, in[0].dtype);
    *nout = 1;
    return KILN_OK;
}

static const kiln_scan_kind kind_cumsum = {KILN_REDUCE_OUT_CUMSUM,
                                           kiln__cpu_scan_cumsum};
static const kiln_scan_kind kind_cumprod = {KILN_REDUCE_OUT_SAME,
                                            kiln__cpu_scan_cumprod};
static const kiln_scan_kind kind_cummax = {KILN_REDUCE_OUT_SAME,
                                           kiln__cpu_scan_cummax};
static const kiln_scan_kind kind_cummin = {KILN_REDUCE_OUT_SAME,
                                           kiln__cpu_scan_cummin};

#define SCAN(kind)                                                           \
    const kiln_prim kiln__prim_##kind = {                                    \
        .name = #kind,                                                       \
        .nin = 1,                                                            \
        .params_size = sizeof(kiln_scan_params),                             \
        .infer = infer_scan,                                                 \
        .eval_cpu = kiln__cpu_eval_scan,                                     \
        .kernels = &kind_##kind,                                             \
    };
KILN_SCAN_KIND_LIST(SCAN)

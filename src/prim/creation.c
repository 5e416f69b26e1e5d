/*
 * creation.c - primitives with no inputs that fill a new array: arange,
 * linspace and eye.
 *
 * Each has its shape in its params (so infer needs no input, and none can
 * replay on new shapes) and fills a fresh contiguous buffer when
 * evaluated; nothing is allocated before then. The fill loops live in
 * backend/cpu/creation_cpu.c.
 *
 * zeros, ones and full need no primitive: they are a 0-d scalar broadcast
 * to the shape (ops/construct.c).
 */
#include "creation.h"

#include "../backend/cpu/creation_cpu.h"
#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "autodiff_shape.h"
#include "prim.h"

static kiln_status infer_range(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_range_params *rp = params;
    int64_t size;
    (void)in;
    (void)nin;
    if (!kiln__dtype_valid(rp->dtype)) {
        return kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", p->name,
                         (int)rp->dtype);
    }
    if (kiln__shape_size(&rp->size, 1, kiln_dtype_size(rp->dtype), &size,
                         p->name)) {
        return kiln_errcode();
    }
    out[0].dtype = rp->dtype;
    out[0].ndim = 1;
    out[0].shape[0] = rp->size;
    *nout = 1;
    return KILN_OK;
}

/*
 * arange: y[i] = start + i * step for i < size, where size =
 * ceil((stop - start) / step) clamped at 0 (the ops layer computes it).
 * For integer dtypes, as MLX: y[i] = T(start) + i * (T(start + step) -
 * T(start)) with T's wrapping. Shape rule: (size). dtypes: all but bool.
 * No inputs, no derivative.
 */
const kiln_prim kiln__prim_arange = {
    .name = "arange",
    .flags = KILN_PRIM_NO_SHAPELESS, /* params hold the output shape */
    .nin = 0,
    .params_size = sizeof(kiln_range_params),
    .infer = infer_range,
    .eval_cpu = kiln__cpu_eval_arange,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
};

/*
 * linspace: size values evenly spaced from start to stop inclusive:
 * y[i] = start + i * step with step = (stop - start) / (size - 1), and
 * y[size - 1] = stop exactly (y = [start] when size is 1). Computed in
 * double, then converted to dtype as astype does. Shape rule: (size).
 * dtypes: any. No inputs, no derivative.
 */
const kiln_prim kiln__prim_linspace = {
    .name = "linspace",
    .flags = KILN_PRIM_NO_SHAPELESS, /* params hold the output shape */
    .nin = 0,
    .params_size = sizeof(kiln_range_params),
    .infer = infer_range,
    .eval_cpu = kiln__cpu_eval_linspace,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
};

/*
 * eye: y[i, j] = (j - i == k) as dtype. Shape rule: (n, m), both >= 0.
 * dtypes: any. No inputs, no derivative.
 */
static kiln_status infer_eye(const kiln_prim *p, const void *params,
                             const kiln_meta *in, int nin, kiln_meta *out,
                             int *nout)
{
    const kiln_eye_params *ep = params;
    int64_t shape[2] = {ep->n, ep->m}, size;
    (void)in;
    (void)nin;
    if (!kiln__dtype_valid(ep->dtype)) {
        return kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", p->name,
                         (int)ep->dtype);
    }
    if (kiln__shape_size(shape, 2, kiln_dtype_size(ep->dtype), &size,
                         p->name)) {
        return kiln_errcode();
    }
    out[0].dtype = ep->dtype;
    out[0].ndim = 2;
    out[0].shape[0] = ep->n;
    out[0].shape[1] = ep->m;
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_eye = {
    .name = "eye",
    .flags = KILN_PRIM_NO_SHAPELESS, /* params hold the output shape */
    .nin = 0,
    .params_size = sizeof(kiln_eye_params),
    .infer = infer_eye,
    .eval_cpu = kiln__cpu_eval_eye,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
};

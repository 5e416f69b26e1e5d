/*
 * autodiff_shape.c - helpers shared by the transform rules of the
 * structural families (see autodiff_shape.h). Built from public ops and
 * kiln__node_make1 handed to the scope with kiln__ret; nothing here
 * releases what it builds (the transform's scope owns it).
 */
#include "autodiff_shape.h"

#include "../core/array.h"

kiln_status kiln__autodiff_shape_vjp_zero(const kiln_prim *p,
                                          const void *params,
                                          kiln_array *const *in, int nin,
                                          kiln_array *const *out, int nout,
                                          kiln_array *const *cot_out,
                                          const bool *need,
                                          kiln_array **cot_in)
{
    (void)p;
    (void)params;
    (void)in;
    (void)out;
    (void)nout;
    (void)cot_out;
    (void)need;
    for (int i = 0; i < nin; i++) {
        cot_in[i] = NULL;
    }
    return KILN_OK;
}

kiln_status kiln__autodiff_shape_jvp_zero(const kiln_prim *p,
                                          const void *params,
                                          kiln_array *const *in, int nin,
                                          kiln_array *const *out, int nout,
                                          kiln_array *const *tan_in,
                                          kiln_array **tan_out)
{
    (void)p;
    (void)params;
    (void)in;
    (void)nin;
    (void)out;
    (void)tan_in;
    for (int k = 0; k < nout; k++) {
        tan_out[k] = NULL;
    }
    return KILN_OK;
}

kiln_status kiln__autodiff_shape_jvp_linear(const kiln_prim *p,
                                            const void *params,
                                            kiln_array *const *in, int nin,
                                            kiln_array *const *out, int nout,
                                            kiln_array *const *tan_in,
                                            kiln_array **tan_out)
{
    (void)in;
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    tan_out[0] = kiln__autodiff_shape_apply(p, params, tan_in, 1);
    return tan_out[0] ? KILN_OK : kiln_errcode();
}

kiln_array *kiln__autodiff_shape_apply(const kiln_prim *p, const void *params,
                                       kiln_array *const *in, int nin)
{
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            return NULL; /* the failing op set the error */
        }
    }
    return kiln__ret(kiln__node_make1(p, params, in, nin, p->name));
}

int64_t kiln__autodiff_shape_batch_size(kiln_array *const *in,
                                        const int *bdim, int nin)
{
    for (int i = 0; i < nin; i++) {
        if (bdim[i] >= 0 && in[i] && bdim[i] < in[i]->ndim) {
            return in[i]->shape[bdim[i]];
        }
    }
    return 0;
}

kiln_array *kiln__autodiff_shape_front(kiln_array *x, int bdim, bool lead,
                                       int64_t n)
{
    if (!x) {
        return NULL;
    }
    if (bdim > 0) {
        return kiln_moveaxis(x, bdim, 0);
    }
    if (bdim == 0) {
        return x;
    }
    if (!lead && n < 0) {
        return x;
    }
    int64_t shape[KILN_MAX_NDIM];
    if (x->ndim + 1 > KILN_MAX_NDIM) {
        return kiln_expand_dims(x, (int[]){0}, 1); /* reports the error */
    }
    shape[0] = lead ? 1 : n;
    for (int i = 0; i < x->ndim; i++) {
        shape[i + 1] = x->shape[i];
    }
    kiln_array *e = kiln_expand_dims(x, (int[]){0}, 1);
    return lead ? e : kiln_broadcast_to(e, shape, x->ndim + 1);
}

kiln_array *kiln__autodiff_shape_ones_at(kiln_array *x, int at, int count)
{
    int axes[KILN_MAX_NDIM];
    if (!x || count <= 0) {
        return x;
    }
    if (count > KILN_MAX_NDIM) {
        count = KILN_MAX_NDIM; /* expand_dims reports the overflow */
    }
    for (int i = 0; i < count; i++) {
        axes[i] = at + i;
    }
    return kiln_expand_dims(x, axes, count);
}

kiln_array *kiln__autodiff_shape_zeros(const kiln_array *a)
{
    if (!a) {
        return NULL;
    }
    return kiln_zeros(a->shape, a->ndim, a->dtype);
}

int kiln__autodiff_shape_mask_axes(uint32_t mask, int ndim, int *axes)
{
    int n = 0;
    for (int i = 0; i < ndim; i++) {
        if (mask >> i & 1u) {
            axes[n++] = i;
        }
    }
    return n;
}

kiln_array *kiln__autodiff_shape_slice_axis(kiln_array *x, int ax, int64_t lo,
                                            int64_t hi)
{
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM];
    if (!x) {
        return NULL;
    }
    for (int i = 0; i < x->ndim; i++) {
        start[i] = i == ax ? lo : 0;
        stop[i] = i == ax ? hi : x->shape[i];
    }
    return kiln_slice(x, start, stop, NULL);
}

/*
 * random.c - random_bits, the one random primitive.
 *
 * random_bits(key) params {shape, width}: shape-many unsigned integers of
 *   `width` bytes (1, 2, 4, 8 -> uint8, uint16, uint32, uint64) whose bits
 *   are Threefry-2x32-20 of (key, counter). The key is uint32 of shape
 *   (2), or a batch of keys (K1..Kk, 2); with a batch, the output shape
 *   starts with K1..Kk and each key fills its own slice.
 *   Layout, per key: the B output bytes are W = ceil(B / 4) uint32 words;
 *   with H = W / 2 and O = H + W % 2, counter pair (j, j + O) for j < H
 *   gives word j (first half of the block) and word j + O (second half),
 *   and when W is odd word H is the first half of counter (H, 0). Words
 *   fill the bytes little-endian; a partial last word keeps its low bytes.
 *   This is JAX's and MLX's layout: one key's stream never depends on how
 *   the work is split between threads.
 *   Not differentiable (no inputs a gradient could flow to). Everything
 *   random (uniform, normal, randint, ...) is composed from this and
 *   ordinary primitives in ops/sampling.c, so compile and autodiff see
 *   through it.
 */
#include <string.h>

#include "../backend/cpu/random_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "autodiff_shape.h"
#include "prim.h"
#include "random.h"

static kiln_status infer_random_bits(const kiln_prim *p, const void *params,
                                     const kiln_meta *in, int nin,
                                     kiln_meta *out, int *nout)
{
    const kiln_random_bits_params *bp = params;
    const kiln_meta *key = &in[0];
    char sk[256], so[256];
    (void)nin;
    if (key->dtype != KILN_DTYPE_UINT32) {
        return kiln__err(KILN_ERR_TYPE, "[%s] key must be uint32, got %s",
                         p->name, kiln_dtype_name(key->dtype));
    }
    kiln__shape_str(key->shape, key->ndim, sk, sizeof sk);
    if (key->ndim < 1 || key->shape[key->ndim - 1] != 2) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] key must have shape (..., 2), got %s", p->name,
                         sk);
    }
    if (bp->width != 1 && bp->width != 2 && bp->width != 4 &&
        bp->width != 8) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] width must be 1, 2, 4 or 8 bytes, got %d",
                         p->name, bp->width);
    }
    if (bp->ndim < 0 || bp->ndim > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] ndim %d is out of range",
                         p->name, bp->ndim);
    }
    kiln__shape_str(bp->shape, bp->ndim, so, sizeof so);
    bool fits = bp->ndim >= key->ndim - 1;
    for (int i = 0; fits && i < key->ndim - 1; i++) {
        fits = bp->shape[i] == key->shape[i];
    }
    if (!fits) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] shape %s does not start with the batch dims "
                         "of keys %s", p->name, so, sk);
    }
    static const kiln_dtype by_width[9] = {
        [1] = KILN_DTYPE_UINT8, [2] = KILN_DTYPE_UINT16,
        [4] = KILN_DTYPE_UINT32, [8] = KILN_DTYPE_UINT64};
    out->dtype = by_width[bp->width];
    out->ndim = bp->ndim;
    for (int i = 0; i < bp->ndim; i++) {
        out->shape[i] = bp->shape[i];
    }
    *nout = 1;
    return KILN_OK;
}

/* A batch of keys (B, ..., 2) gives a batch of outputs: the shape gains
 * the leading B, as for keys the primitive batches itself. */
static kiln_status vmap_random_bits(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, const int *bdim,
                                    int nin, kiln_array **out, int *out_bdim,
                                    int *nout)
{
    const kiln_random_bits_params *bp = params;
    kiln_random_bits_params np;
    (void)nin;
    *nout = 1;
    if (bdim[0] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, 1);
        return out[0] ? KILN_OK : kiln_errcode();
    }
    if (bp->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    kiln_array *key = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    if (!key) {
        return kiln_errcode();
    }
    memset(&np, 0, sizeof np);
    np.ndim = bp->ndim + 1;
    np.width = bp->width;
    np.shape[0] = kiln_array_dim(key, 0);
    for (int i = 0; i < bp->ndim; i++) {
        np.shape[i + 1] = bp->shape[i];
    }
    out_bdim[0] = 0;
    out[0] = kiln__autodiff_shape_apply(p, &np, &key, 1);
    return out[0] ? KILN_OK : kiln_errcode();
}

const kiln_prim kiln__prim_random_bits = {
    .name = "random_bits",
    /* params hold the absolute output shape */
    .flags = KILN_PRIM_RANDOM | KILN_PRIM_NO_SHAPELESS,
    .nin = 1,
    .params_size = sizeof(kiln_random_bits_params),
    .infer = infer_random_bits,
    .eval_cpu = kiln__cpu_eval_random_bits,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
    .vmap = vmap_random_bits,
};

/*
 * test_movement.c - reshape and relatives, axis permutations, broadcasting,
 * slicing, slice_update, concatenate/stack/split, pad, tile and repeat.
 *
 * Expectations are computed independently: by hand for small cases, and by
 * index arithmetic in the test (a port of CPython's slice rules, numpy's
 * definitions of tile/repeat/pad) for the exhaustive ones. Views are
 * checked to share their input's buffer (internal header), and elementwise
 * ops are run on non-contiguous views to exercise the strided iterator.
 */
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "harness.h"
#include "kiln.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

/* int32 array of `shape` holding 0, 1, 2, ... (owned by the scope). */
static kiln_array *iota(const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    int32_t *v = malloc(sizeof *v * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        v[i] = (int32_t)i;
    }
    kiln_array *a = kiln_array_from_data(v, shape, ndim, KILN_DTYPE_INT32);
    free(v);
    return a;
}

static kiln_array *iota1(int64_t n)
{
    return iota(&n, 1);
}

static bool has_shape(kiln_array *a, int ndim, const int64_t *shape)
{
    if (!a || kiln_array_ndim(a) != ndim) {
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        if (kiln_array_shape(a)[i] != shape[i]) {
            return false;
        }
    }
    return true;
}

#define SHAPE(a, ...)                                                     \
    has_shape((a), (int)(sizeof((int64_t[]){__VA_ARGS__}) /               \
                         sizeof(int64_t)),                                \
              (int64_t[]){__VA_ARGS__})

/* int32 data equals want[0..n) */
static bool data_is(kiln_array *a, const int32_t *want, int64_t n)
{
    if (!a || kiln_array_dtype(a) != KILN_DTYPE_INT32 ||
        kiln_array_size(a) != n) {
        return false;
    }
    const int32_t *p = kiln_array_data(a);
    if (!p) {
        return false;
    }
    for (int64_t i = 0; i < n; i++) {
        if (p[i] != want[i]) {
            return false;
        }
    }
    return true;
}

#define DATA(a, ...)                                                      \
    data_is((a), (int32_t[]){__VA_ARGS__},                                \
            (int64_t)(sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))

/* the array has been evaluated into src's buffer (a view) */
static bool shares(kiln_array *a, kiln_array *src)
{
    return a && src && kiln_array_eval(a) == KILN_OK &&
           kiln_array_eval(src) == KILN_OK && a->buf == src->buf;
}

/* the call failed with this code and the message contains `text` */
static bool failed(const void *r, kiln_status code, const char *text)
{
    bool ok = r == NULL && kiln_errcode() == code &&
              (!text || strstr(kiln_errmsg(), text) != NULL);
    if (!ok) {
        fprintf(stderr, "    got %s: %s\n", kiln_status_name(kiln_errcode()),
                kiln_errmsg());
    }
    kiln_errclear();
    return ok;
}

/* ------------------------------------------------------------------ */
/* reshape, flatten, unflatten                                        */
/* ------------------------------------------------------------------ */

TEST(movement_reshape_view)
{
    kiln_scope_begin();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *y = kiln_reshape(x, (int64_t[]){3, 2}, 2);
    CHECK(SHAPE(y, 3, 2));
    CHECK(DATA(y, 0, 1, 2, 3, 4, 5));
    CHECK(shares(y, x));
    kiln_array *z = kiln_reshape(x, (int64_t[]){-1}, 1);
    CHECK(SHAPE(z, 6));
    kiln_array *w = kiln_reshape(x, (int64_t[]){1, -1, 2, 1}, 4);
    CHECK(SHAPE(w, 1, 3, 2, 1));
    CHECK(DATA(w, 0, 1, 2, 3, 4, 5));
    /* the same shape is the array itself */
    CHECK(kiln_reshape(x, (int64_t[]){2, 3}, 2) == x);
    /* 0-d <-> 1-element */
    kiln_array *s = kiln_scalar_i64(7, KILN_DTYPE_INT32);
    kiln_array *s11 = kiln_reshape(s, (int64_t[]){1, 1}, 2);
    CHECK(SHAPE(s11, 1, 1) && DATA(s11, 7));
    kiln_array *s0 = kiln_reshape(s11, NULL, 0);
    CHECK(s0 && kiln_array_ndim(s0) == 0 && DATA(s0, 7));
    kiln_array *sm = kiln_reshape(s, (int64_t[]){-1}, 1);
    CHECK(SHAPE(sm, 1));
    /* size 0 */
    kiln_array *e = iota((int64_t[]){0, 3}, 2);
    kiln_array *e2 = kiln_reshape(e, (int64_t[]){3, 0, 5}, 3);
    CHECK(SHAPE(e2, 3, 0, 5) && kiln_array_size(e2) == 0);
    CHECK(kiln_array_eval(e2) == KILN_OK);
    kiln_scope_end(NULL);
}

TEST(movement_reshape_strided)
{
    kiln_scope_begin();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *t = kiln_transpose(x, NULL, 0);
    /* a transposed array cannot be flattened in place: copied */
    kiln_array *f = kiln_reshape(t, (int64_t[]){6}, 1);
    CHECK(DATA(f, 0, 3, 1, 4, 2, 5));
    CHECK(kiln_array_eval(f) == KILN_OK && f->buf != x->buf);
    /* but its dims can be split without a copy */
    kiln_array *x3 = iota((int64_t[]){2, 3, 4}, 3);
    kiln_array *t3 = kiln_transpose(x3, (int[]){1, 0, 2}, 3);
    kiln_array *r3 = kiln_reshape(t3, (int64_t[]){3, 2, 2, 2}, 4);
    CHECK(shares(r3, x3));
    int32_t want[24];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            for (int k = 0; k < 4; k++) {
                want[(i * 2 + j) * 4 + k] = j * 12 + i * 4 + k;
            }
        }
    }
    CHECK(data_is(r3, want, 24));
    /* merging t3's last two dims (strides 12, 1) must copy */
    kiln_array *m3 = kiln_reshape(t3, (int64_t[]){3, 8}, 2);
    CHECK(data_is(m3, want, 24));
    CHECK(kiln_array_eval(m3) == KILN_OK && m3->buf != x3->buf);
    /* a broadcast array: splitting a broadcast dim stays a view with zero
     * strides, flattening copies */
    kiln_array *c = iota((int64_t[]){3, 1}, 2);
    kiln_array *b = kiln_broadcast_to(c, (int64_t[]){3, 4}, 2);
    kiln_array *bs = kiln_reshape(b, (int64_t[]){3, 2, 2}, 3);
    CHECK(shares(bs, c));
    CHECK(DATA(bs, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2));
    kiln_array *bf = kiln_reshape(b, (int64_t[]){12}, 1);
    CHECK(DATA(bf, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2));
    /* a reversed slice reshaped keeps its (negative) stride */
    kiln_array *r = kiln_slice(iota1(6), (int64_t[]){KILN_SLICE_BEGIN},
                               (int64_t[]){KILN_SLICE_END}, (int64_t[]){-1});
    kiln_array *r23 = kiln_reshape(r, (int64_t[]){2, 3}, 2);
    CHECK(DATA(r23, 5, 4, 3, 2, 1, 0));
    kiln_scope_end(NULL);
}

TEST(movement_reshape_errors)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    CHECK(failed(kiln_reshape(x, (int64_t[]){4}, 1), KILN_ERR_VALUE,
                 "[reshape] cannot reshape array of size 6 into shape (4)"));
    CHECK(failed(kiln_reshape(x, (int64_t[]){-1, -1}, 2), KILN_ERR_VALUE,
                 "[reshape]"));
    CHECK(failed(kiln_reshape(x, (int64_t[]){-2, -3}, 2), KILN_ERR_VALUE,
                 "negative"));
    CHECK(failed(kiln_reshape(x, (int64_t[]){-1, 4}, 2), KILN_ERR_VALUE,
                 "size 6"));
    CHECK(failed(kiln_reshape(x, (int64_t[]){INT64_MAX, 4, 2}, 3),
                 KILN_ERR_VALUE, "[reshape]"));
    CHECK(failed(kiln_reshape(x, (int64_t[]){-1, 0}, 2), KILN_ERR_VALUE,
                 "[reshape]"));
    int64_t ones[KILN_MAX_NDIM + 1];
    for (int i = 0; i <= KILN_MAX_NDIM; i++) {
        ones[i] = 1;
    }
    ones[0] = 6;
    CHECK(failed(kiln_reshape(x, ones, KILN_MAX_NDIM + 1), KILN_ERR_VALUE,
                 "ndim 17"));
    CHECK(failed(kiln_reshape(x, NULL, 2), KILN_ERR_VALUE, "NULL"));
    CHECK(failed(kiln_reshape(NULL, (int64_t[]){6}, 1), KILN_ERR_VALUE,
                 "[reshape] argument is NULL"));
    /* a -1 in an empty array's shape is ambiguous */
    kiln_array *e = iota((int64_t[]){0, 3}, 2);
    CHECK(failed(kiln_reshape(e, (int64_t[]){-1, 0}, 2), KILN_ERR_VALUE,
                 "[reshape]"));
    CHECK(SHAPE(kiln_reshape(e, (int64_t[]){-1, 3}, 2), 0, 3));
    kiln_scope_end(NULL);
}

/* The reshape node keeps the user's -1, so infer on new input shapes (a
 * shapeless replay) resolves it again; primitives whose params hold an
 * absolute shape say they cannot replay. */
TEST(movement_reshape_replay)
{
    kiln_scope_begin();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *y = kiln_reshape(x, (int64_t[]){-1, 2}, 2);
    CHECK(SHAPE(y, 3, 2));
    CHECK(y && y->node && y->node->prim == &kiln__prim_reshape);
    if (y && y->node) {
        const kiln_prim *p = y->node->prim;
        kiln_meta in = {KILN_DTYPE_FLOAT32, 3, {4, 2, 5}}, out;
        int no = 0;
        CHECK(p->infer(p, y->node->params, &in, 1, &out, &no) == KILN_OK);
        CHECK(no == 1 && out.ndim == 2 && out.shape[0] == 20 &&
              out.shape[1] == 2);
        CHECK(!(p->flags & KILN_PRIM_NO_SHAPELESS));
    }
    CHECK(kiln__prim_broadcast_to.flags & KILN_PRIM_NO_SHAPELESS);
    CHECK(kiln__prim_random_bits.flags & KILN_PRIM_NO_SHAPELESS);
    CHECK(kiln__prim_arange.flags & KILN_PRIM_NO_SHAPELESS);
    CHECK(kiln__prim_linspace.flags & KILN_PRIM_NO_SHAPELESS);
    CHECK(kiln__prim_eye.flags & KILN_PRIM_NO_SHAPELESS);
    CHECK(!(kiln__prim_slice.flags & KILN_PRIM_NO_SHAPELESS));
    CHECK(!(kiln__prim_pad.flags & KILN_PRIM_NO_SHAPELESS));
    kiln_scope_end(NULL);
}

TEST(movement_flatten_unflatten)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){2, 3, 4}, 3);
    CHECK(SHAPE(kiln_flatten(x, 0, -1), 24));
    CHECK(SHAPE(kiln_flatten(x, 1, 2), 2, 12));
    CHECK(SHAPE(kiln_flatten(x, 0, 1), 6, 4));
    CHECK(kiln_flatten(x, 1, 1) == x);
    /* as MLX, axes beyond the ends are clamped */
    CHECK(SHAPE(kiln_flatten(x, -10, 10), 24));
    CHECK(SHAPE(kiln_flatten(kiln_scalar_f64(1, KILN_DTYPE_FLOAT32), 0, -1),
                1));
    CHECK(failed(kiln_flatten(x, 2, 1), KILN_ERR_VALUE, "[flatten]"));
    CHECK(failed(kiln_flatten(x, 3, 5), KILN_ERR_INDEX, "[flatten]"));
    CHECK(failed(kiln_flatten(x, -10, -5), KILN_ERR_INDEX, "[flatten]"));
    CHECK(failed(kiln_flatten(NULL, 0, 1), KILN_ERR_VALUE, "NULL"));

    kiln_array *f = kiln_flatten(x, 1, 2);
    kiln_array *u = kiln_unflatten(f, 1, (int64_t[]){3, 4}, 2);
    CHECK(SHAPE(u, 2, 3, 4));
    CHECK(SHAPE(kiln_unflatten(f, -1, (int64_t[]){-1, 2, 3}, 3), 2, 2, 2,
                3));
    CHECK(SHAPE(kiln_unflatten(f, 0, (int64_t[]){1, 2}, 2), 1, 2, 12));
    int32_t want[24];
    for (int i = 0; i < 24; i++) {
        want[i] = i;
    }
    CHECK(data_is(u, want, 24));
    CHECK(failed(kiln_unflatten(f, 1, (int64_t[]){5, -1}, 2),
                 KILN_ERR_VALUE, "[unflatten] cannot reshape array of size "
                                 "12 into shape (5,-1)"));
    CHECK(failed(kiln_unflatten(f, 2, (int64_t[]){3, 4}, 2), KILN_ERR_INDEX,
                 "[unflatten]"));
    CHECK(failed(kiln_unflatten(f, 1, (int64_t[]){12}, 0), KILN_ERR_VALUE,
                 "[unflatten]"));
    CHECK(failed(kiln_unflatten(f, 1, NULL, 2), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* transpose, swapaxes, moveaxis, expand_dims, squeeze                */
/* ------------------------------------------------------------------ */

/* checks y == x transposed by perm, x = iota(shape) */
static bool is_transpose(kiln_array *y, const int64_t *shape, int nd,
                         const int *perm)
{
    int64_t xst[8], n = 1, idx[8] = {0};
    for (int i = nd - 1; i >= 0; i--) {
        xst[i] = n;
        n *= shape[i];
    }
    int32_t *want = malloc(sizeof *want * (size_t)n);
    for (int64_t f = 0; f < n; f++) {
        /* idx: y's multi-index for flat f */
        int64_t r = f, src = 0;
        for (int i = nd - 1; i >= 0; i--) {
            idx[i] = r % shape[perm[i]];
            r /= shape[perm[i]];
        }
        for (int i = 0; i < nd; i++) {
            src += idx[i] * xst[perm[i]];
        }
        want[f] = (int32_t)src;
    }
    bool ok = data_is(y, want, n);
    free(want);
    return ok;
}

TEST(movement_transpose)
{
    kiln_scope_begin();
    kiln_errclear();
    int64_t shape[3] = {2, 3, 4};
    kiln_array *x = iota(shape, 3);
    kiln_array *t = kiln_transpose(x, (int[]){2, 0, 1}, 3);
    CHECK(SHAPE(t, 4, 2, 3));
    CHECK(shares(t, x)); /* before reading data, which makes t contiguous */
    CHECK(is_transpose(t, shape, 3, (int[]){2, 0, 1}));
    kiln_array *r = kiln_transpose(x, NULL, 0);
    CHECK(SHAPE(r, 4, 3, 2) && is_transpose(r, shape, 3, (int[]){2, 1, 0}));
    kiln_array *n = kiln_transpose(x, (int[]){-1, 0, -2}, 3);
    CHECK(is_transpose(n, shape, 3, (int[]){2, 0, 1}));
    CHECK(kiln_transpose(x, (int[]){0, 1, 2}, 3) == x);
    kiln_array *s = kiln_scalar_f64(2, KILN_DTYPE_FLOAT32);
    CHECK(kiln_transpose(s, NULL, 0) == s);
    CHECK(failed(kiln_transpose(x, (int[]){0, 1}, 2), KILN_ERR_VALUE,
                 "[transpose]"));
    CHECK(failed(kiln_transpose(x, (int[]){0, 1, 1}, 3), KILN_ERR_VALUE,
                 "[transpose]"));
    CHECK(failed(kiln_transpose(x, (int[]){0, 1, 3}, 3), KILN_ERR_INDEX,
                 "[transpose] axis 3 is out of bounds"));
    CHECK(failed(kiln_transpose(NULL, NULL, 0), KILN_ERR_VALUE, "NULL"));

    kiln_array *sw = kiln_swapaxes(x, 0, -1);
    CHECK(SHAPE(sw, 4, 3, 2) && is_transpose(sw, shape, 3, (int[]){2, 1, 0}));
    CHECK(kiln_swapaxes(x, 1, -2) == x);
    CHECK(failed(kiln_swapaxes(x, 0, 3), KILN_ERR_INDEX, "[swapaxes]"));

    kiln_array *m = kiln_moveaxis(x, 0, -1);
    CHECK(SHAPE(m, 3, 4, 2) && is_transpose(m, shape, 3, (int[]){1, 2, 0}));
    kiln_array *m2 = kiln_moveaxis(x, -1, 0);
    CHECK(SHAPE(m2, 4, 2, 3) && is_transpose(m2, shape, 3, (int[]){2, 0, 1}));
    kiln_array *m3 = kiln_moveaxis(x, 0, 1);
    CHECK(SHAPE(m3, 3, 2, 4) && is_transpose(m3, shape, 3, (int[]){1, 0, 2}));
    CHECK(failed(kiln_moveaxis(x, -4, 0), KILN_ERR_INDEX, "[moveaxis]"));
    kiln_scope_end(NULL);
}

/* Copies of transposed arrays large enough to be tiled, for every item
 * size, with an outer dim and ragged tile edges. */
TEST(movement_transpose_copy_tiled)
{
    kiln_scope_begin();
    int64_t shape[3] = {3, 40, 37};
    kiln_array *x = iota(shape, 3);
    const int perms[3][3] = {{0, 2, 1}, {2, 0, 1}, {2, 1, 0}};
    const kiln_dtype dts[4] = {KILN_DTYPE_UINT8, KILN_DTYPE_INT16,
                               KILN_DTYPE_INT32, KILN_DTYPE_FLOAT64};
    for (int p = 0; p < 3; p++) {
        for (int d = 0; d < 4; d++) {
            /* uint8 wraps: compare against the wrapped reference */
            kiln_array *xd = kiln_astype(
                d == 0 ? kiln_remainder(x, kiln_weak_i64(256)) : x, dts[d]);
            kiln_array *t = kiln_transpose(xd, perms[p], 3);
            kiln_array *f = kiln_reshape(t, (int64_t[]){-1}, 1);
            kiln_array *back = kiln_astype(f, KILN_DTYPE_INT32);
            kiln_array *want = kiln_reshape(
                kiln_transpose(x, perms[p], 3), (int64_t[]){-1}, 1);
            if (d == 0) {
                want = kiln_remainder(want, kiln_weak_i64(256));
            }
            const int32_t *pb = kiln_array_data(back);
            const int32_t *pw = kiln_array_data(want);
            CHECK(pb && pw && memcmp(pb, pw, 3 * 40 * 37 * 4) == 0);
        }
        CHECK(is_transpose(kiln_reshape(kiln_transpose(x, perms[p], 3),
                                        (int64_t[]){-1}, 1),
                           shape, 3, perms[p]));
    }
    kiln_scope_end(NULL);
}

TEST(movement_expand_squeeze)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *e = kiln_expand_dims(x, (int[]){0, -1}, 2);
    CHECK(SHAPE(e, 1, 2, 3, 1));
    CHECK(DATA(e, 0, 1, 2, 3, 4, 5));
    CHECK(shares(e, x));
    CHECK(SHAPE(kiln_expand_dims(x, (int[]){1}, 1), 2, 1, 3));
    CHECK(SHAPE(kiln_expand_dims(x, (int[]){3, 0}, 2), 1, 2, 3, 1));
    CHECK(kiln_expand_dims(x, NULL, 0) == x);
    kiln_array *s = kiln_scalar_f64(1, KILN_DTYPE_FLOAT32);
    CHECK(SHAPE(kiln_expand_dims(s, (int[]){0}, 1), 1));
    CHECK(failed(kiln_expand_dims(x, (int[]){0, 0}, 2), KILN_ERR_VALUE,
                 "[expand_dims] duplicate axis"));
    CHECK(failed(kiln_expand_dims(x, (int[]){-2, 2}, 2), KILN_ERR_VALUE,
                 "[expand_dims] duplicate axis"));
    CHECK(failed(kiln_expand_dims(x, (int[]){4}, 1), KILN_ERR_INDEX,
                 "[expand_dims]"));
    CHECK(failed(kiln_expand_dims(x, NULL, 1), KILN_ERR_VALUE, "NULL"));
    int many[KILN_MAX_NDIM];
    for (int i = 0; i < KILN_MAX_NDIM; i++) {
        many[i] = i;
    }
    CHECK(failed(kiln_expand_dims(x, many, KILN_MAX_NDIM - 1),
                 KILN_ERR_VALUE, "[expand_dims]"));
    CHECK(SHAPE(kiln_expand_dims(x, many, KILN_MAX_NDIM - 2), 1, 1, 1, 1, 1,
                1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3));

    kiln_array *y = iota((int64_t[]){1, 2, 1, 3}, 4);
    kiln_array *q = kiln_squeeze(y, NULL, 0);
    CHECK(SHAPE(q, 2, 3) && DATA(q, 0, 1, 2, 3, 4, 5));
    CHECK(shares(q, y));
    CHECK(SHAPE(kiln_squeeze(y, (int[]){0}, 1), 2, 1, 3));
    CHECK(SHAPE(kiln_squeeze(y, (int[]){-2}, 1), 1, 2, 3));
    CHECK(SHAPE(kiln_squeeze(y, (int[]){2, 0}, 2), 2, 3));
    CHECK(kiln_squeeze(x, NULL, 0) == x);
    CHECK(kiln_squeeze(s, NULL, 0) == s);
    CHECK(failed(kiln_squeeze(y, (int[]){1}, 1), KILN_ERR_VALUE,
                 "[squeeze] cannot squeeze axis 1 of size 2"));
    CHECK(failed(kiln_squeeze(y, (int[]){4}, 1), KILN_ERR_INDEX,
                 "[squeeze]"));
    CHECK(failed(kiln_squeeze(y, (int[]){0, -4}, 2), KILN_ERR_VALUE,
                 "duplicate"));
    /* squeeze of a strided view */
    kiln_array *tq = kiln_squeeze(kiln_transpose(y, NULL, 0), NULL, 0);
    CHECK(SHAPE(tq, 3, 2) && DATA(tq, 0, 3, 1, 4, 2, 5));
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* broadcasting                                                       */
/* ------------------------------------------------------------------ */

TEST(movement_broadcast)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *c = iota((int64_t[]){3, 1}, 2);
    kiln_array *b = kiln_broadcast_to(c, (int64_t[]){2, 3, 4}, 3);
    CHECK(SHAPE(b, 2, 3, 4));
    CHECK(shares(b, c));
    CHECK(b->strides[0] == 0 && b->strides[2] == 0);
    int32_t want[24];
    for (int i = 0; i < 24; i++) {
        want[i] = (i / 4) % 3;
    }
    CHECK(data_is(b, want, 24));
    CHECK(kiln_broadcast_to(c, (int64_t[]){3, 1}, 2) == c);
    CHECK(SHAPE(kiln_broadcast_to(c, (int64_t[]){3, 0}, 2), 3, 0));
    kiln_array *s = kiln_scalar_i64(5, KILN_DTYPE_INT32);
    CHECK(DATA(kiln_broadcast_to(s, (int64_t[]){2, 2}, 2), 5, 5, 5, 5));
    CHECK(failed(kiln_broadcast_to(iota1(3), (int64_t[]){4}, 1),
                 KILN_ERR_VALUE,
                 "[broadcast_to] cannot broadcast shape (3) to (4)"));
    CHECK(failed(kiln_broadcast_to(c, (int64_t[]){3}, 1), KILN_ERR_VALUE,
                 "[broadcast_to]"));
    CHECK(failed(kiln_broadcast_to(c, (int64_t[]){-3, 1}, 2),
                 KILN_ERR_VALUE, "negative"));
    CHECK(failed(kiln_broadcast_to(c, (int64_t[]){INT64_MAX / 2, 3, 4}, 3),
                 KILN_ERR_VALUE, "too large"));
    CHECK(failed(kiln_broadcast_to(NULL, (int64_t[]){3}, 1), KILN_ERR_VALUE,
                 "NULL"));

    kiln_array *xs[3] = {c, iota((int64_t[]){1, 4}, 2), s};
    kiln_list *l = kiln_broadcast_arrays(xs, 3);
    CHECK(l && kiln_list_size(l) == 3);
    for (size_t i = 0; l && i < 3; i++) {
        CHECK(SHAPE(kiln_list_get(l, i), 3, 4));
    }
    if (l) {
        CHECK(DATA(kiln_list_get(l, 1), 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3));
        CHECK(DATA(kiln_list_get(l, 2), 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5));
    }
    kiln_list_free(l);
    kiln_list *l0 = kiln_broadcast_arrays(NULL, 0);
    CHECK(l0 && kiln_list_size(l0) == 0);
    kiln_list_free(l0);
    kiln_array *bad[2] = {iota1(3), iota1(4)};
    CHECK(failed(kiln_broadcast_arrays(bad, 2), KILN_ERR_VALUE,
                 "[broadcast_arrays]"));
    kiln_array *withnull[2] = {c, NULL};
    CHECK(failed(kiln_broadcast_arrays(withnull, 2), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* slice                                                              */
/* ------------------------------------------------------------------ */

/* CPython's PySlice_Unpack + PySlice_AdjustIndices, with "None" given as
 * the kiln sentinels (start BEGIN, stop END). Returns the count. */
static int64_t py_slice(int64_t len, int64_t start, int64_t stop,
                        int64_t step, int64_t *first)
{
    if (start == KILN_SLICE_BEGIN) {
        start = step < 0 ? INT64_MAX : 0;
    }
    if (stop == KILN_SLICE_END) {
        stop = step < 0 ? INT64_MIN : INT64_MAX;
    }
    if (start < 0) {
        start += len;
        if (start < 0) {
            start = step < 0 ? -1 : 0;
        }
    } else if (start >= len) {
        start = step < 0 ? len - 1 : len;
    }
    if (stop < 0) {
        stop += len;
        if (stop < 0) {
            stop = step < 0 ? -1 : 0;
        }
    } else if (stop >= len) {
        stop = step < 0 ? len - 1 : len;
    }
    *first = start;
    if (step < 0) {
        return stop < start ? (start - stop - 1) / (-step) + 1 : 0;
    }
    return start < stop ? (stop - start - 1) / step + 1 : 0;
}

TEST(movement_slice_exhaustive_1d)
{
    int64_t bounds[19];
    int nb = 0;
    bounds[nb++] = KILN_SLICE_BEGIN;
    bounds[nb++] = KILN_SLICE_END;
    for (int64_t v = -8; v <= 8; v++) {
        bounds[nb++] = v;
    }
    int64_t steps[8] = {1, 2, 3, 7, -1, -2, -3, -7};
    int bad = 0, total = 0;
    for (int64_t len = 0; len <= 6; len += 1 + (len >= 3)) {
        kiln_scope_begin();
        kiln_array *x = iota1(len);
        for (int a = 0; a < nb; a++) {
            for (int b = 0; b < nb; b++) {
                for (int s = 0; s < 8; s++) {
                    kiln_scope_begin();
                    int64_t first, st = steps[s];
                    int64_t n = py_slice(len, bounds[a], bounds[b], st,
                                         &first);
                    int32_t want[16];
                    for (int64_t i = 0; i < n; i++) {
                        want[i] = (int32_t)(first + i * st);
                    }
                    kiln_array *y = kiln_slice(x, &bounds[a], &bounds[b],
                                               &st);
                    total++;
                    if (!data_is(y, want, n)) {
                        if (bad++ < 5) {
                            fprintf(stderr,
                                    "    len %lld [%lld:%lld:%lld] wrong\n",
                                    (long long)len, (long long)bounds[a],
                                    (long long)bounds[b], (long long)st);
                        }
                    }
                    kiln_scope_end(NULL);
                }
            }
        }
        kiln_scope_end(NULL);
    }
    CHECK(bad == 0 && total == 5 * nb * nb * 8);
}

TEST(movement_slice)
{
    kiln_scope_begin();
    kiln_errclear();
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    kiln_array *x = iota1(10);
    CHECK(DATA(kiln_slice(x, (int64_t[]){2}, (int64_t[]){8}, NULL), 2, 3, 4,
               5, 6, 7));
    CHECK(DATA(kiln_slice(x, (int64_t[]){B}, (int64_t[]){E},
                          (int64_t[]){-1}),
               9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    CHECK(DATA(kiln_slice(x, (int64_t[]){E}, (int64_t[]){B},
                          (int64_t[]){-3}),
               9, 6, 3, 0));
    CHECK(DATA(kiln_slice(x, (int64_t[]){7}, (int64_t[]){1},
                          (int64_t[]){-2}),
               7, 5, 3));
    CHECK(DATA(kiln_slice(x, (int64_t[]){-3}, (int64_t[]){E}, NULL), 7, 8,
               9));
    CHECK(DATA(kiln_slice(x, (int64_t[]){-100}, (int64_t[]){100},
                          (int64_t[]){4}),
               0, 4, 8));
    kiln_array *empty = kiln_slice(x, (int64_t[]){5}, (int64_t[]){2}, NULL);
    CHECK(SHAPE(empty, 0) && kiln_array_eval(empty) == KILN_OK);
    CHECK(kiln_slice(x, (int64_t[]){B}, (int64_t[]){E}, NULL) == x);
    /* whole only at this length: a view (compile drops it unless
     * shapeless, where a replay on a longer x cuts it) */
    CHECK(DATA(kiln_slice(x, (int64_t[]){0}, (int64_t[]){10},
                          (int64_t[]){1}),
               0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    /* huge steps select one item without overflowing */
    CHECK(DATA(kiln_slice(x, (int64_t[]){3}, (int64_t[]){E},
                          (int64_t[]){INT64_MAX}),
               3));
    CHECK(DATA(kiln_slice(x, (int64_t[]){3}, (int64_t[]){B},
                          (int64_t[]){INT64_MIN}),
               3));
    /* 2-d with negative steps on both axes */
    kiln_array *m = iota((int64_t[]){4, 5}, 2);
    kiln_array *v = kiln_slice(m, (int64_t[]){B, 4}, (int64_t[]){E, 0},
                               (int64_t[]){-2, -2});
    CHECK(SHAPE(v, 2, 2));
    CHECK(shares(v, m));
    CHECK(DATA(v, 19, 17, 9, 7));
    /* 0-d: nothing to slice */
    kiln_array *s = kiln_scalar_i64(4, KILN_DTYPE_INT32);
    CHECK(kiln_slice(s, NULL, NULL, NULL) == s);
    /* size-0 axis */
    kiln_array *z = iota((int64_t[]){0, 3}, 2);
    CHECK(SHAPE(kiln_slice(z, (int64_t[]){B, 1}, (int64_t[]){E, 3}, NULL), 0,
                2));
    CHECK(failed(kiln_slice(x, (int64_t[]){0}, (int64_t[]){5},
                            (int64_t[]){0}),
                 KILN_ERR_VALUE, "[slice] slice step cannot be zero"));
    CHECK(failed(kiln_slice(x, NULL, (int64_t[]){5}, NULL), KILN_ERR_VALUE,
                 "NULL"));
    CHECK(failed(kiln_slice(NULL, (int64_t[]){0}, (int64_t[]){5}, NULL),
                 KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* Elementwise ops on chains of views: the strided iterator must read them
 * right. y = transpose(slice(broadcast(c))) + transpose(slice(m)). */
TEST(movement_views_elementwise)
{
    kiln_scope_begin();
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    kiln_array *c = iota1(3);                               /* (3) */
    kiln_array *b = kiln_broadcast_to(c, (int64_t[]){5, 3}, 2); /* (5,3) */
    kiln_array *s = kiln_slice(b, (int64_t[]){1, B}, (int64_t[]){E, E},
                               (int64_t[]){2, -1});         /* (2,3) */
    kiln_array *t = kiln_transpose(s, NULL, 0);             /* (3,2) */
    CHECK(SHAPE(t, 3, 2));
    kiln_array *m = iota((int64_t[]){4, 6}, 2);
    kiln_array *ms = kiln_slice(m, (int64_t[]){3, 5}, (int64_t[]){0, B},
                                (int64_t[]){-2, -2});       /* (2,3) */
    kiln_array *mt = kiln_transpose(ms, NULL, 0);           /* (3,2) */
    kiln_array *y = kiln_add(t, mt);
    int32_t want[6];
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            /* t[i,j] = s[j,i] = b[1+2j, 2-i] = 2-i;
             * mt[i,j] = ms[j,i] = m[3-2j, 5-2i] */
            want[i * 2 + j] = (2 - i) + (3 - 2 * j) * 6 + (5 - 2 * i);
        }
    }
    CHECK(data_is(y, want, 6));
    /* unary, cast and where on the same views */
    kiln_array *neg = kiln_negative(mt);
    kiln_array *f = kiln_astype(t, KILN_DTYPE_FLOAT64);
    const double *pf = kiln_array_data(f);
    const int32_t *pn = kiln_array_data(neg);
    for (int i = 0; pf && pn && i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            CHECK(pf[i * 2 + j] == 2 - i);
            CHECK(pn[i * 2 + j] == -((3 - 2 * j) * 6 + (5 - 2 * i)));
        }
    }
    kiln_array *w = kiln_where(kiln_greater(t, kiln_weak_i64(0)), mt, t);
    const int32_t *pw = kiln_array_data(w);
    for (int i = 0; pw && i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            int32_t tv = 2 - i, mv = (3 - 2 * j) * 6 + (5 - 2 * i);
            CHECK(pw[i * 2 + j] == (tv > 0 ? mv : tv));
        }
    }
    /* large enough for the pool to split the strided iteration */
    kiln_array *big = iota((int64_t[]){600, 400}, 2);
    kiln_array *bt = kiln_transpose(big, NULL, 0);
    kiln_array *bs = kiln_slice(bt, (int64_t[]){E, 1}, (int64_t[]){B, E},
                                (int64_t[]){-1, 3}); /* (400, 200) */
    kiln_array *sum = kiln_add(bs, bs);
    const int32_t *ps = kiln_array_data(sum);
    int wrong = 0;
    CHECK(SHAPE(sum, 400, 200));
    for (int i = 0; ps && i < 400; i++) {
        for (int j = 0; j < 200; j++) {
            int32_t v = (int32_t)((1 + 3 * j) * 400 + (399 - i));
            wrong += ps[i * 200 + j] != 2 * v;
        }
    }
    CHECK(ps && wrong == 0);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* slice_update                                                       */
/* ------------------------------------------------------------------ */

TEST(movement_slice_update)
{
    kiln_scope_begin();
    kiln_errclear();
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    kiln_array *x = iota((int64_t[]){3, 4}, 2);
    int32_t uv[4] = {-1, -2, -3, -4};
    kiln_array *u = kiln_array_from_data(uv, (int64_t[]){2, 2}, 2,
                                         KILN_DTYPE_INT32);
    kiln_array *y = kiln_slice_update(x, u, (int64_t[]){1, B},
                                      (int64_t[]){E, E}, (int64_t[]){1, 2});
    CHECK(SHAPE(y, 3, 4));
    CHECK(DATA(y, 0, 1, 2, 3, -1, 5, -2, 7, -3, 9, -4, 11));
    /* x itself is unchanged (arrays are values) */
    CHECK(DATA(x, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    /* a broadcast scalar update, cast to x's dtype */
    kiln_array *y2 = kiln_slice_update(x, kiln_scalar_f64(7.9,
                                                          KILN_DTYPE_FLOAT64),
                                       (int64_t[]){E, 3}, (int64_t[]){B, B},
                                       (int64_t[]){-2, -3});
    CHECK(kiln_array_dtype(y2) == KILN_DTYPE_INT32);
    CHECK(DATA(y2, 7, 1, 2, 7, 4, 5, 6, 7, 7, 9, 10, 7));
    /* a row update broadcast over rows, with a leading size-1 dim */
    int32_t row[2] = {100, 200};
    kiln_array *r = kiln_array_from_data(row, (int64_t[]){1, 1, 2}, 3,
                                         KILN_DTYPE_INT32);
    kiln_array *y3 = kiln_slice_update(x, r, (int64_t[]){B, 1},
                                       (int64_t[]){E, 3}, NULL);
    CHECK(DATA(y3, 0, 100, 200, 3, 4, 100, 200, 7, 8, 100, 200, 11));
    /* into a strided x (transposed) */
    kiln_array *xt = kiln_transpose(x, NULL, 0); /* (4,3) */
    kiln_array *y4 = kiln_slice_update(xt, kiln_scalar_i64(0,
                                                           KILN_DTYPE_INT32),
                                       (int64_t[]){1, 1}, (int64_t[]){3, 2},
                                       NULL);
    CHECK(DATA(y4, 0, 4, 8, 1, 0, 9, 2, 0, 10, 3, 7, 11));
    /* an empty region gives x back */
    kiln_array *zero = kiln_scalar_i64(0, KILN_DTYPE_INT32);
    CHECK(kiln_slice_update(x, zero, (int64_t[]){2, 0}, (int64_t[]){1, 4},
                            NULL) == x);
    CHECK(failed(kiln_slice_update(x, u, (int64_t[]){2, 0},
                                   (int64_t[]){1, 4}, NULL),
                 KILN_ERR_VALUE, "cannot broadcast shape (2,2) to (0,4)"));
    /* 0-d */
    kiln_array *s = kiln_scalar_i64(1, KILN_DTYPE_INT32);
    CHECK(DATA(kiln_slice_update(s, kiln_scalar_i64(9, KILN_DTYPE_INT32),
                                 NULL, NULL, NULL),
               9));
    CHECK(failed(kiln_slice_update(x, u, (int64_t[]){0, 0},
                                   (int64_t[]){3, 4}, NULL),
                 KILN_ERR_VALUE,
                 "[slice_update] cannot broadcast shape (2,2) to (3,4)"));
    CHECK(failed(kiln_slice_update(x, u, (int64_t[]){0, 0},
                                   (int64_t[]){3, 4}, (int64_t[]){1, 0}),
                 KILN_ERR_VALUE, "zero"));
    CHECK(failed(kiln_slice_update(x, NULL, (int64_t[]){0, 0},
                                   (int64_t[]){3, 4}, NULL),
                 KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

TEST(movement_slice_update_donated)
{
    /* the input is an intermediate nothing else holds: its buffer is
     * reused, and the values must still be right */
    int64_t n = 8;
    kiln_array *a = iota1(n);
    kiln_array *t = kiln_add(a, a);
    kiln_array *u = kiln_scalar_i64(-5, KILN_DTYPE_INT32);
    kiln_array *y = kiln_slice_update(t, u, (int64_t[]){1},
                                      (int64_t[]){KILN_SLICE_END},
                                      (int64_t[]){3});
    kiln_array_release(t);
    CHECK(DATA(y, 0, -5, 4, 6, -5, 10, 12, -5));
    /* chained updates of intermediates */
    kiln_array *z = kiln_slice_update(y, u, (int64_t[]){0}, (int64_t[]){1},
                                      NULL);
    kiln_array *three = kiln_weak_i64(3);
    kiln_array *z2 = kiln_slice_update(z, three, (int64_t[]){7},
                                       (int64_t[]){8}, NULL);
    kiln_array_release(three);
    kiln_array_release(z);
    CHECK(DATA(z2, -5, -5, 4, 6, -5, 10, 12, 3));
    CHECK(DATA(y, 0, -5, 4, 6, -5, 10, 12, -5));
    kiln_errclear();
    kiln_array_release(z2);
    kiln_array_release(y);
    kiln_array_release(u);
    kiln_array_release(a);
}

/* ------------------------------------------------------------------ */
/* concatenate, stack, split                                          */
/* ------------------------------------------------------------------ */

TEST(movement_concatenate)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *a = iota((int64_t[]){2, 2}, 2);
    kiln_array *b = kiln_add(iota((int64_t[]){2, 3}, 2), kiln_weak_i64(10));
    kiln_array *e = iota((int64_t[]){2, 0}, 2);
    kiln_array *c1 = kiln_concatenate((kiln_array *[]){a, e, b}, 3, 1);
    CHECK(SHAPE(c1, 2, 5));
    CHECK(DATA(c1, 0, 1, 10, 11, 12, 2, 3, 13, 14, 15));
    kiln_array *c0 = kiln_concatenate(
        (kiln_array *[]){a, kiln_transpose(a, NULL, 0)}, 2, -2);
    CHECK(SHAPE(c0, 4, 2) && DATA(c0, 0, 1, 2, 3, 0, 2, 1, 3));
    /* promotion */
    kiln_array *f = kiln_astype(a, KILN_DTYPE_FLOAT32);
    kiln_array *cf = kiln_concatenate((kiln_array *[]){a, f}, 2, 0);
    CHECK(kiln_array_dtype(cf) == KILN_DTYPE_FLOAT32);
    kiln_array *cu = kiln_concatenate(
        (kiln_array *[]){kiln_astype(a, KILN_DTYPE_UINT8),
                         kiln_astype(a, KILN_DTYPE_INT8)},
        2, 0);
    CHECK(kiln_array_dtype(cu) == KILN_DTYPE_INT16);
    /* many inputs, each a strided slice */
    kiln_array *x = iota1(12);
    kiln_array *parts[12];
    for (int i = 0; i < 12; i++) {
        parts[i] = kiln_slice(x, (int64_t[]){11 - i}, (int64_t[]){12 - i},
                              NULL);
    }
    kiln_array *rev = kiln_concatenate(parts, 12, 0);
    CHECK(DATA(rev, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    CHECK(kiln_concatenate((kiln_array *[]){a}, 1, 0) == a);
    CHECK(failed(kiln_concatenate((kiln_array *[]){a, b}, 2, 0),
                 KILN_ERR_VALUE, "[concatenate]"));
    CHECK(failed(kiln_concatenate((kiln_array *[]){a, iota1(2)}, 2, 0),
                 KILN_ERR_VALUE, "[concatenate]"));
    CHECK(failed(kiln_concatenate((kiln_array *[]){a, b}, 2, 2),
                 KILN_ERR_INDEX, "[concatenate]"));
    CHECK(failed(kiln_concatenate(NULL, 0, 0), KILN_ERR_VALUE,
                 "[concatenate] needs at least one array"));
    CHECK(failed(kiln_concatenate((kiln_array *[]){a, NULL}, 2, 0),
                 KILN_ERR_VALUE, "NULL"));
    kiln_array *s = kiln_scalar_i64(1, KILN_DTYPE_INT32);
    CHECK(failed(kiln_concatenate((kiln_array *[]){s, s}, 2, 0),
                 KILN_ERR_VALUE, "zero-dimensional"));
    kiln_scope_end(NULL);
}

TEST(movement_stack)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *a = iota1(3);
    kiln_array *b = kiln_add(iota1(3), kiln_weak_i64(10));
    kiln_array *s0 = kiln_stack((kiln_array *[]){a, b}, 2, 0);
    CHECK(SHAPE(s0, 2, 3) && DATA(s0, 0, 1, 2, 10, 11, 12));
    kiln_array *s1 = kiln_stack((kiln_array *[]){a, b}, 2, -1);
    CHECK(SHAPE(s1, 3, 2) && DATA(s1, 0, 10, 1, 11, 2, 12));
    kiln_array *sc = kiln_stack(
        (kiln_array *[]){kiln_scalar_i64(4, KILN_DTYPE_INT32),
                         kiln_scalar_i64(5, KILN_DTYPE_INT32)},
        2, 0);
    CHECK(SHAPE(sc, 2) && DATA(sc, 4, 5));
    CHECK(failed(kiln_stack((kiln_array *[]){a, iota1(4)}, 2, 0),
                 KILN_ERR_VALUE, "[stack] all arrays must have the same "
                                 "shape"));
    CHECK(failed(kiln_stack((kiln_array *[]){a, b}, 2, 2), KILN_ERR_INDEX,
                 "[stack]"));
    CHECK(failed(kiln_stack(NULL, 0, 0), KILN_ERR_VALUE, "[stack]"));
    kiln_scope_end(NULL);
}

TEST(movement_split)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){6, 2}, 2);
    kiln_list *l = kiln_split(x, 3, NULL, 0, 0);
    CHECK(l && kiln_list_size(l) == 3);
    if (l && kiln_list_size(l) == 3) {
        CHECK(SHAPE(kiln_list_get(l, 1), 2, 2));
        CHECK(DATA(kiln_list_get(l, 1), 4, 5, 6, 7));
        CHECK(DATA(kiln_list_get(l, 2), 8, 9, 10, 11));
        CHECK(shares(kiln_list_get(l, 2), x));
    }
    kiln_list_free(l);
    l = kiln_split(x, 2, NULL, 0, -1);
    CHECK(l && kiln_list_size(l) == 2);
    if (l && kiln_list_size(l) == 2) {
        CHECK(DATA(kiln_list_get(l, 1), 1, 3, 5, 7, 9, 11));
    }
    kiln_list_free(l);
    /* at indices, Python slice semantics: [:1], [1:-2], [-2:10], [10:] */
    l = kiln_split(x, 0, (int64_t[]){1, -2, 10}, 3, 0);
    CHECK(l && kiln_list_size(l) == 4);
    if (l && kiln_list_size(l) == 4) {
        CHECK(DATA(kiln_list_get(l, 0), 0, 1));
        CHECK(DATA(kiln_list_get(l, 1), 2, 3, 4, 5, 6, 7));
        CHECK(DATA(kiln_list_get(l, 2), 8, 9, 10, 11));
        CHECK(SHAPE(kiln_list_get(l, 3), 0, 2));
    }
    kiln_list_free(l);
    /* unsorted indices give empty parts */
    l = kiln_split(iota1(5), 0, (int64_t[]){3, 1}, 2, 0);
    CHECK(l && kiln_list_size(l) == 3);
    if (l && kiln_list_size(l) == 3) {
        CHECK(DATA(kiln_list_get(l, 0), 0, 1, 2));
        CHECK(SHAPE(kiln_list_get(l, 1), 0));
        CHECK(DATA(kiln_list_get(l, 2), 1, 2, 3, 4));
    }
    kiln_list_free(l);
    l = kiln_split(x, 0, (int64_t[]){0}, 0, 0);
    CHECK(l && kiln_list_size(l) == 1 && kiln_list_get(l, 0) == x);
    kiln_list_free(l);
    /* a size-0 axis splits into empty parts */
    l = kiln_split(iota1(0), 4, NULL, 0, 0);
    CHECK(l && kiln_list_size(l) == 4);
    kiln_list_free(l);
    CHECK(failed(kiln_split(x, 4, NULL, 0, 0), KILN_ERR_VALUE,
                 "[split] array of size 6 along axis 0 cannot be split "
                 "into 4 equal parts"));
    CHECK(failed(kiln_split(x, 0, NULL, 0, 0), KILN_ERR_VALUE, "[split]"));
    CHECK(failed(kiln_split(x, 2, NULL, 0, 2), KILN_ERR_INDEX, "[split]"));
    CHECK(failed(kiln_split(kiln_scalar_i64(1, KILN_DTYPE_INT32), 1, NULL, 0,
                            0),
                 KILN_ERR_INDEX, "[split]"));
    CHECK(failed(kiln_split(NULL, 2, NULL, 0, 0), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* pad, tile, repeat                                                  */
/* ------------------------------------------------------------------ */

TEST(movement_pad)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *p = kiln_pad(x, (int64_t[]){1, 0, 2, 1}, -1.0);
    CHECK(SHAPE(p, 3, 6));
    CHECK(DATA(p, -1, -1, -1, -1, -1, -1, /* row of padding */
               -1, -1, 0, 1, 2, -1,      /* */
               -1, -1, 3, 4, 5, -1));
    /* the value is converted to x's dtype */
    kiln_array *p1 = kiln_pad(iota1(2), (int64_t[]){1, 1}, 2.7);
    CHECK(DATA(p1, 2, 0, 1, 2));
    /* a strided x */
    kiln_array *pt = kiln_pad(kiln_transpose(x, NULL, 0),
                              (int64_t[]){0, 1, 1, 0}, 9);
    CHECK(SHAPE(pt, 4, 3) && DATA(pt, 9, 0, 3, 9, 1, 4, 9, 2, 5, 9, 9, 9));
    /* empty x */
    kiln_array *pe = kiln_pad(iota((int64_t[]){0, 2}, 2),
                              (int64_t[]){1, 1, 0, 0}, 4);
    CHECK(SHAPE(pe, 2, 2) && DATA(pe, 4, 4, 4, 4));
    /* 3-d against the definition */
    kiln_array *x3 = iota((int64_t[]){2, 3, 2}, 3);
    int64_t w[6] = {1, 2, 0, 1, 2, 0};
    kiln_array *p3 = kiln_pad(x3, w, -7);
    CHECK(SHAPE(p3, 5, 4, 4));
    int32_t want[80];
    for (int i = 0; i < 5; i++) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                int a = i - 1, b = j, c = k - 2;
                bool in = a >= 0 && a < 2 && b < 3 && c >= 0 && c < 2;
                want[(i * 4 + j) * 4 + k] = in ? (a * 3 + b) * 2 + c : -7;
            }
        }
    }
    CHECK(data_is(p3, want, 80));
    CHECK(kiln_pad(x, (int64_t[]){0, 0, 0, 0}, 1) == x);
    kiln_array *s = kiln_scalar_i64(1, KILN_DTYPE_INT32);
    CHECK(kiln_pad(s, NULL, 0) == s);
    CHECK(failed(kiln_pad(x, (int64_t[]){0, -1, 0, 0}, 0), KILN_ERR_VALUE,
                 "[pad] pad widths must be non-negative"));
    CHECK(failed(kiln_pad(x, (int64_t[]){0, INT64_MAX, 0, 0}, 0),
                 KILN_ERR_VALUE, "[pad]"));
    CHECK(failed(kiln_pad(x, NULL, 0), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* checks y == numpy.tile(iota(xs), reps) */
static bool is_tile(kiln_array *y, const int64_t *xs, int xnd,
                    const int64_t *reps, int nreps)
{
    int d = xnd > nreps ? xnd : nreps;
    int64_t xsh[KILN_MAX_NDIM] = {0}, out[KILN_MAX_NDIM] = {0}, n = 1;
    for (int i = 0; i < d; i++) {
        int xi = i - (d - xnd), ri = i - (d - nreps);
        xsh[i] = xi >= 0 ? xs[xi] : 1;
        out[i] = xsh[i] * (ri >= 0 ? reps[ri] : 1);
        n *= out[i];
    }
    if (!has_shape(y, d, out)) {
        return false;
    }
    int32_t *want = malloc(sizeof *want * (size_t)(n ? n : 1));
    for (int64_t f = 0; f < n; f++) {
        int64_t r = f, src = 0, stride = 1;
        for (int i = d - 1; i >= 0; i--) {
            int64_t idx = r % out[i];
            r /= out[i];
            src += (idx % xsh[i]) * stride;
            stride *= xsh[i];
        }
        want[f] = (int32_t)src;
    }
    bool ok = data_is(y, want, n);
    free(want);
    return ok;
}

TEST(movement_tile)
{
    kiln_scope_begin();
    kiln_errclear();
    int64_t xs[2] = {2, 3};
    kiln_array *x = iota(xs, 2);
    CHECK(is_tile(kiln_tile(x, (int64_t[]){2, 2}, 2), xs, 2,
                  (int64_t[]){2, 2}, 2));
    CHECK(is_tile(kiln_tile(x, (int64_t[]){2, 1, 2}, 3), xs, 2,
                  (int64_t[]){2, 1, 2}, 3));
    CHECK(is_tile(kiln_tile(x, (int64_t[]){3}, 1), xs, 2, (int64_t[]){3},
                  1));
    CHECK(is_tile(kiln_tile(x, (int64_t[]){0, 2}, 2), xs, 2,
                  (int64_t[]){0, 2}, 2));
    CHECK(kiln_tile(x, (int64_t[]){1, 1}, 2) == x);
    CHECK(SHAPE(kiln_tile(x, (int64_t[]){1, 1, 1}, 3), 1, 2, 3));
    kiln_array *s = kiln_scalar_i64(0, KILN_DTYPE_INT32);
    CHECK(is_tile(kiln_tile(s, (int64_t[]){3}, 1), NULL, 0, (int64_t[]){3},
                  1));
    /* a strided input */
    kiln_array *t = kiln_tile(kiln_transpose(x, NULL, 0), (int64_t[]){2}, 1);
    CHECK(SHAPE(t, 3, 4) && DATA(t, 0, 3, 0, 3, 1, 4, 1, 4, 2, 5, 2, 5));
    /* more repeated dims than one pass can hold: axis by axis */
    int64_t xs9[9] = {1, 1, 1, 1, 1, 1, 1, 2, 2};
    int64_t r9[9] = {2, 1, 2, 2, 2, 2, 2, 2, 2};
    CHECK(is_tile(kiln_tile(iota(xs9, 9), r9, 9), xs9, 9, r9, 9));
    CHECK(failed(kiln_tile(x, (int64_t[]){2, -1}, 2), KILN_ERR_VALUE,
                 "[tile]"));
    CHECK(failed(kiln_tile(x, (int64_t[]){INT64_MAX / 2, 3}, 2),
                 KILN_ERR_VALUE, "[tile]"));
    CHECK(failed(kiln_tile(x, NULL, 2), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

TEST(movement_repeat)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota((int64_t[]){2, 3}, 2);
    kiln_array *r0 = kiln_repeat(x, 2, 0, false);
    CHECK(SHAPE(r0, 4, 3) && DATA(r0, 0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5));
    kiln_array *r1 = kiln_repeat(x, 2, -1, false);
    CHECK(SHAPE(r1, 2, 6) && DATA(r1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5));
    kiln_array *rf = kiln_repeat(x, 3, 99, true);
    CHECK(SHAPE(rf, 18));
    CHECK(DATA(rf, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5));
    CHECK(SHAPE(kiln_repeat(x, 0, 1, false), 2, 0));
    CHECK(kiln_repeat(x, 1, 1, false) == x);
    kiln_array *rt = kiln_repeat(kiln_transpose(x, NULL, 0), 2, 1, false);
    CHECK(DATA(rt, 0, 0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5));
    kiln_array *rs = kiln_repeat(kiln_scalar_i64(6, KILN_DTYPE_INT32), 2, 0,
                                 true);
    CHECK(SHAPE(rs, 2) && DATA(rs, 6, 6));
    /* an array of KILN_MAX_NDIM dims takes the (A, s, 1, B) path */
    int64_t big[KILN_MAX_NDIM];
    for (int i = 0; i < KILN_MAX_NDIM; i++) {
        big[i] = 1;
    }
    big[3] = 2;
    big[KILN_MAX_NDIM - 1] = 2;
    kiln_array *rb = kiln_repeat(iota(big, KILN_MAX_NDIM), 2, 3, false);
    big[3] = 4;
    CHECK(has_shape(rb, KILN_MAX_NDIM, big));
    CHECK(DATA(rb, 0, 1, 0, 1, 2, 3, 2, 3));
    CHECK(failed(kiln_repeat(x, -1, 0, false), KILN_ERR_VALUE, "[repeat]"));
    CHECK(failed(kiln_repeat(x, 2, 2, false), KILN_ERR_INDEX, "[repeat]"));
    CHECK(failed(kiln_repeat(kiln_scalar_i64(6, KILN_DTYPE_INT32), 2, 0,
                             false),
                 KILN_ERR_INDEX, "[repeat]"));
    CHECK(failed(kiln_repeat(x, INT64_MAX / 2, 0, false), KILN_ERR_VALUE,
                 "[repeat]"));
    CHECK(failed(kiln_repeat(NULL, 2, 0, false), KILN_ERR_VALUE, "NULL"));
    kiln_scope_end(NULL);
}

/* Every op given a NULL array in a chain keeps the first error. */
TEST(movement_null_chain)
{
    kiln_scope_begin();
    kiln_errclear();
    kiln_array *x = iota1(3);
    kiln_array *bad = kiln_reshape(x, (int64_t[]){4}, 1);
    CHECK(bad == NULL);
    CHECK(kiln_transpose(kiln_expand_dims(bad, (int[]){0}, 1), NULL, 0) ==
          NULL);
    CHECK(strstr(kiln_errmsg(), "[reshape]") != NULL);
    kiln_errclear();
    kiln_scope_end(NULL);
}

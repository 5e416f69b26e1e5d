/*
 * copy_cpu.c - strided block copies and fills (see copy_cpu.h).
 *
 * One row function per item size, chosen once per copy: a contiguous row
 * is a memcpy, a zero source stride is a fill loop the compiler vectorises,
 * anything else is a plain strided loop. Rows come from the shared strided
 * iterator (iter.h), which collapses dims and splits large copies over the
 * pool.
 *
 * Transposing copies (the destination is contiguous along its last dim,
 * the source along another dim k) would read the source one cache line per
 * item if walked row by row; they are copied in TILE x TILE blocks of the
 * (k, last) plane instead, so both sides stay in cache (a 4096^2 float32
 * transpose copy: about 400 ms walked by rows, 50-80 ms tiled, on the
 * 2-core development machine under load; 32 was the best of 8/16/32/64).
 */
#include "copy_cpu.h"

#include <string.h>

#include "../../core/array.h"
#include "../../runtime/pool.h"
#include "iter.h"

#define TILE 32

/* COPY_ROW(copy8, uint64_t) defines copy8(ctx, p, s, n) copying n items
 * of 8 bytes from p[1] (stride s[1]) to p[0] (stride s[0]). */
#define COPY_ROW(name, T)                                                 \
    static void name(void *ctx, char *const *p, const int64_t *s,         \
                     int64_t n)                                           \
    {                                                                     \
        const int64_t z = (int64_t)sizeof(T);                             \
        char *y = p[0];                                                   \
        const char *x = p[1];                                             \
        (void)ctx;                                                        \
        if (s[0] == z && s[1] == z) {                                     \
            memcpy(y, x, (size_t)n * sizeof(T));                          \
        } else if (s[0] == z && s[1] == 0) {                              \
            T v = *(const T *)(const void *)x;                            \
            T *yp = (T *)(void *)y;                                       \
            for (int64_t i = 0; i < n; i++) {                             \
                yp[i] = v;                                                \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                *(T *)(void *)(y + i * s[0]) =                            \
                    *(const T *)(const void *)(x + i * s[1]);             \
            }                                                             \
        }                                                                 \
    }

COPY_ROW(copy1, uint8_t)
COPY_ROW(copy2, uint16_t)
COPY_ROW(copy4, uint32_t)
COPY_ROW(copy8, uint64_t)

/* BLOCK(block8, uint64_t) copies rows [i0, i1) x cols [j0, j1) of a plane
 * whose destination rows are ds bytes apart (items contiguous) and whose
 * source columns are ss bytes apart (items of a column contiguous). */
#define BLOCK(name, T)                                                    \
    static void name(char *d, const char *s, int64_t ds, int64_t ss,      \
                     int64_t i0, int64_t i1, int64_t j0, int64_t j1)      \
    {                                                                     \
        for (int64_t i = i0; i < i1; i++) {                               \
            T *dr = (T *)(void *)(d + i * ds);                            \
            const char *sr = s + i * (int64_t)sizeof(T);                  \
            for (int64_t j = j0; j < j1; j++) {                           \
                dr[j] = *(const T *)(const void *)(sr + j * ss);          \
            }                                                             \
        }                                                                 \
    }

BLOCK(block1, uint8_t)
BLOCK(block2, uint16_t)
BLOCK(block4, uint32_t)
BLOCK(block8, uint64_t)

typedef void (*block_fn)(char *d, const char *s, int64_t ds, int64_t ss,
                         int64_t i0, int64_t i1, int64_t j0, int64_t j1);

typedef struct {
    const kiln_iter *it;
    int k;              /* the dim along which the source is contiguous */
    int64_t row_tiles;  /* tiles along dim k */
    block_fn block;
} tiled_ctx;

/* Tasks [lo, hi): task t is tile row t % row_tiles of the (k, last) plane
 * at outer index t / row_tiles (the other dims, row-major). */
static void copy_tiles(void *c, int64_t lo, int64_t hi)
{
    const tiled_ctx *tc = c;
    const kiln_iter *it = tc->it;
    int nd = it->nd, k = tc->k;
    int64_t n = it->shape[nd - 1], m = it->shape[k];
    for (int64_t t = lo; t < hi; t++) {
        int64_t outer = t / tc->row_tiles;
        int64_t i0 = t % tc->row_tiles * TILE;
        int64_t i1 = i0 + TILE < m ? i0 + TILE : m;
        char *d = it->base[0];
        const char *s = it->base[1];
        for (int i = nd - 2; i >= 0; i--) {
            if (i != k) {
                int64_t idx = outer % it->shape[i];
                outer /= it->shape[i];
                d += idx * it->strides[0][i];
                s += idx * it->strides[1][i];
            }
        }
        for (int64_t j0 = 0; j0 < n; j0 += TILE) {
            int64_t j1 = j0 + TILE < n ? j0 + TILE : n;
            tc->block(d, s, it->strides[0][k], it->strides[1][nd - 1], i0,
                      i1, j0, j1);
        }
    }
}

/* The dim k < nd - 1 along which the source is contiguous while the
 * destination is contiguous along the last dim and the source is not;
 * -1 when the copy is not such a transpose (or too small to tile). */
static int transpose_dim(const kiln_iter *it, int64_t isz)
{
    int nd = it->nd;
    if (nd < 2 || it->strides[0][nd - 1] != isz ||
        it->strides[1][nd - 1] == isz || it->shape[nd - 1] < TILE / 2) {
        return -1;
    }
    for (int k = nd - 2; k >= 0; k--) {
        if (it->strides[1][k] == isz && it->shape[k] >= TILE / 2) {
            return k;
        }
    }
    return -1;
}

void kiln__cpu_copy(int ndim, const int64_t *shape, size_t isz, char *dst,
                    const int64_t *dst_strides, const char *src,
                    const int64_t *src_strides)
{
    static const kiln_row_fn by_size[9] = {
        [1] = copy1, [2] = copy2, [4] = copy4, [8] = copy8};
    static const block_fn blocks[9] = {
        [1] = block1, [2] = block2, [4] = block4, [8] = block8};
    char *base[2] = {dst, (char *)src};
    const int64_t *strides[2] = {dst_strides, src_strides};
    kiln_iter it;
    if (isz > 8 || !by_size[isz]) {
        return;
    }
    kiln__iter_init(&it, ndim, shape, 2, base, strides);
    if (it.size == 0) {
        return;
    }
    int k = transpose_dim(&it, (int64_t)isz);
    if (k >= 0) {
        tiled_ctx tc = {&it, k, (it.shape[k] + TILE - 1) / TILE,
                        blocks[isz]};
        /* tasks of TILE rows by the whole last dim */
        int64_t ntasks =
            it.size / it.shape[k] / it.shape[it.nd - 1] * tc.row_tiles;
        int64_t per = TILE * it.shape[it.nd - 1];
        int64_t grain = KILN_GRAIN_ELEMENTWISE / per + 1;
        kiln__pool_for(ntasks, grain, copy_tiles, &tc);
        return;
    }
    kiln__iter_run(&it, KILN_GRAIN_ELEMENTWISE, by_size[isz], NULL);
}

void kiln__cpu_copy_contig(const kiln_array *src, void *dst)
{
    int64_t st_out[KILN_MAX_NDIM], st_in[KILN_MAX_NDIM];
    size_t isz = kiln_dtype_size(src->dtype);
    int64_t s = (int64_t)isz;
    for (int i = src->ndim - 1; i >= 0; i--) {
        st_out[i] = s;
        s *= src->shape[i];
    }
    kiln__array_byte_strides(src, st_in);
    /* the tiled copy keeps transposed reads cache-friendly */
    kiln__cpu_copy(src->ndim, src->shape, isz, dst, st_out,
                   kiln__array_ptr(src), st_in);
}

/*
 * gemv.c - matrix-vector products of float16/bfloat16 matrices
 * (interface in gemv.h).
 *
 * Elements of M are widened in registers (bfloat16 by a shift, float16 by
 * the F16C conversion where the compiler targets it) and used at once, VL
 * (16 with AVX-512) at a time. Two forms, after the layout of M:
 * - y = M x (rows of M contiguous, dotted with x): the pool's items are
 *   rows of y; up to KILN_GEMV_MAX_X vectors x share each widened vector
 *   of M (a few rows of A times W given transposed). Four accumulators a
 *   vector x (lane l of accumulator u sums the elements 4 VL s + VL u + l
 *   in s order; then the first also takes the whole vectors past the last
 *   multiple of 4 VL) are added lane by lane, then the elements past the
 *   last multiple of VL in order.
 * - y = M' x (rows of M contiguous along y): the pool's items are groups
 *   of VL columns of y, one chunk of them a thread. Blocks of up to BLOCK
 *   columns keep their accumulators in L1 while the rows of M add x[i]
 *   times their segment, four rows per pass over the block (each
 *   accumulator still gets the rows one at a time, in order); the block
 *   that ends at the last group also carries the columns past it, in
 *   scalars, in the same pass (a pass of their own would read M again).
 * Both orders depend on the shape (and the build's VL) alone. alpha == 0
 * forms no product, as BLAS (NaNs in M or x do not reach y).
 */
#include <string.h>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "gemv.h"

#include "../../core/half.h"
#include "../../runtime/pool.h"

/* Columns a block of the transposed form accumulates at once (8 KB of
 * accumulators; a pass reads four rows' 4 KB segments of M). Measured on
 * a Zen 5, 2 threads, bfloat16 (1, k) @ (k, n): with blocks of 512 and 8
 * pool chunks, (11008, 4096) read M at 31 GB/s; with 2048 and one chunk
 * a thread, 55 (read bandwidth 88); eight rows a pass instead of four
 * gained nothing. */
#define BLOCK 2048
/* Matrix elements a pool chunk should read at least. */
#define GEMV_GRAIN 65536

/* Floats a vector holds: a register of the widest kind the target has
 * (a wider vector type than the target's would change the calling
 * convention of the helpers that return one). */
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
typedef float vf __attribute__((vector_size(VL * 4)));
typedef uint16_t vh __attribute__((vector_size(VL * 2)));
typedef uint32_t vu __attribute__((vector_size(VL * 4)));

#define INLINE static inline __attribute__((always_inline))

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

INLINE float widen1(bool bf, uint16_t h)
{
    return bf ? kiln_bf16_to_f32(h) : kiln_f16_to_f32(h);
}

/* s[0..VL) widened. */
INLINE vf widen_v(bool bf, const uint16_t *s)
{
    vf f;
    if (bf) {
#ifdef __AVX512F__
        /* one vpmovzxwd on zmm (gcc 12 splits the generic form in two) */
        __m512i u = _mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)s)), 16);
        memcpy(&f, &u, sizeof f);
#else
        vh h;
        memcpy(&h, s, sizeof h);
        vu u = __builtin_convertvector(h, vu) << 16;
        memcpy(&f, &u, sizeof f);
#endif
        return f;
    }
#if defined(KILN_HALF_HW) && KILN_HALF_HW == VL
    kiln__half_vhi h;
    memcpy(&h, s, sizeof h);
    f = kiln__half_widen(h);
#else
    float b[VL];
    kiln_f16_to_f32_n(s, b, VL);
    memcpy(&f, b, sizeof f);
#endif
    return f;
}

INLINE vf load(const float *s)
{
    vf v;
    memcpy(&v, s, sizeof v);
    return v;
}

INLINE void store_y(const kiln_gemv_half *p, int64_t i, float s)
{
    p->y[i] = p->beta != 0.0f ? p->alpha * s + p->beta * p->y[i]
                              : p->alpha * s;
}

INLINE const uint16_t *row_of(const kiln_gemv_half *p, int64_t i)
{
    return (const uint16_t *)p->m + i * p->ld;
}

/* Rows [lo, hi) of y = M x for the nx vectors (a constant where
 * inlined): each widened vector of M serves all of them, and each
 * vector's sums are the same as alone. */
INLINE void dot_rows(const kiln_gemv_half *p, int64_t lo, int64_t hi,
                     bool bf, int nx)
{
    for (int64_t i = lo; i < hi; i++) {
        const uint16_t *r = row_of(p, i);
        vf acc[KILN_GEMV_MAX_X][4];
        int64_t t = 0;
        for (int q = 0; q < nx; q++) {
            for (int u = 0; u < 4; u++) {
                acc[q][u] = (vf){0};
            }
        }
        for (; t + 4 * VL <= p->cols; t += 4 * VL) {
            for (int u = 0; u < 4; u++) {
                vf w = widen_v(bf, r + t + u * VL);
                for (int q = 0; q < nx; q++) {
                    acc[q][u] += w * load(p->x + q * p->ldx + t + u * VL);
                }
            }
        }
        for (; t + VL <= p->cols; t += VL) {
            vf w = widen_v(bf, r + t);
            for (int q = 0; q < nx; q++) {
                acc[q][0] += w * load(p->x + q * p->ldx + t);
            }
        }
        for (int q = 0; q < nx; q++) {
            const float *x = p->x + q * p->ldx;
            vf v = (acc[q][0] + acc[q][1]) + (acc[q][2] + acc[q][3]);
            float s = 0.0f;
            for (int l = 0; l < VL; l++) {
                s += v[l];
            }
            float tail = 0.0f;
            for (int64_t e = t; e < p->cols; e++) {
                tail += widen1(bf, r[e]) * x[e];
            }
            store_y(p, q * p->ldy + i, s + tail);
        }
    }
}

/* Columns [j0, j0 + nv * VL + nt) of y = M' x, nv <= BLOCK / VL, nt <
 * VL: the last nt (the columns past the last multiple of VL) in scalars,
 * in the same pass over the rows. */
INLINE void axpy_block(const kiln_gemv_half *p, int64_t j0, int64_t nv,
                       int64_t nt, bool bf)
{
    vf acc[BLOCK / VL];
    float tacc[VL] = {0};
    const float *x = p->x;
    const int64_t te = nv * VL; /* the tail's offset from j0 */
    int64_t i = 0;
    for (int64_t u = 0; u < nv; u++) {
        acc[u] = (vf){0};
    }
    for (; i + 4 <= p->rows; i += 4) {
        const uint16_t *r0 = row_of(p, i) + j0, *r1 = row_of(p, i + 1) + j0;
        const uint16_t *r2 = row_of(p, i + 2) + j0;
        const uint16_t *r3 = row_of(p, i + 3) + j0;
        for (int64_t u = 0; u < nv; u++) {
            vf a = acc[u];
            a += x[i] * widen_v(bf, r0 + u * VL);
            a += x[i + 1] * widen_v(bf, r1 + u * VL);
            a += x[i + 2] * widen_v(bf, r2 + u * VL);
            a += x[i + 3] * widen_v(bf, r3 + u * VL);
            acc[u] = a;
        }
        for (int64_t t = 0; t < nt; t++) {
            float a = tacc[t];
            a += x[i] * widen1(bf, r0[te + t]);
            a += x[i + 1] * widen1(bf, r1[te + t]);
            a += x[i + 2] * widen1(bf, r2[te + t]);
            a += x[i + 3] * widen1(bf, r3[te + t]);
            tacc[t] = a;
        }
    }
    for (; i < p->rows; i++) {
        const uint16_t *r = row_of(p, i) + j0;
        for (int64_t u = 0; u < nv; u++) {
            acc[u] += x[i] * widen_v(bf, r + u * VL);
        }
        for (int64_t t = 0; t < nt; t++) {
            tacc[t] += x[i] * widen1(bf, r[te + t]);
        }
    }
    for (int64_t u = 0; u < nv; u++) {
        for (int l = 0; l < VL; l++) {
            store_y(p, j0 + u * VL + l, acc[u][l]);
        }
    }
    for (int64_t t = 0; t < nt; t++) {
        store_y(p, j0 + te + t, tacc[t]);
    }
}

/* Column groups [lo, hi) of y = M' x; the range that ends at the last
 * group also takes the columns past it (the last block's tail). */
INLINE void axpy_cols(const kiln_gemv_half *p, int64_t lo, int64_t hi,
                      bool bf)
{
    int64_t nt = hi * VL + VL > p->cols ? p->cols - hi * VL : 0;
    int64_t g = lo;
    do {
        int64_t nv = min64(BLOCK / VL, hi - g);
        axpy_block(p, g * VL, nv, g + nv == hi ? nt : 0, bf);
        g += nv;
    } while (g < hi);
}

/* The pool's range functions of the dot form, one a dtype and vector
 * count: DOT(dot_f16_2, false, 2) defines
 *     static void dot_f16_2(void *ctx, int64_t lo, int64_t hi)
 * calling dot_rows(ctx, lo, hi, false, 2). */
#define DOT(name, BF, NX)                                                 \
    static void name(void *ctx, int64_t lo, int64_t hi)                   \
    {                                                                     \
        dot_rows(ctx, lo, hi, BF, NX);                                    \
    }
DOT(dot_f16_1, false, 1)
DOT(dot_f16_2, false, 2)
DOT(dot_f16_3, false, 3)
DOT(dot_f16_4, false, 4)
DOT(dot_bf16_1, true, 1)
DOT(dot_bf16_2, true, 2)
DOT(dot_bf16_3, true, 3)
DOT(dot_bf16_4, true, 4)

/* [bfloat16][nx - 1] */
static const kiln_range_fn dots[2][KILN_GEMV_MAX_X] = {
    {dot_f16_1, dot_f16_2, dot_f16_3, dot_f16_4},
    {dot_bf16_1, dot_bf16_2, dot_bf16_3, dot_bf16_4},
};

static void axpy_f16(void *ctx, int64_t lo, int64_t hi)
{
    axpy_cols(ctx, lo, hi, false);
}

static void axpy_bf16(void *ctx, int64_t lo, int64_t hi)
{
    axpy_cols(ctx, lo, hi, true);
}

void kiln__gemv_half(const kiln_gemv_half *p)
{
    bool bf = p->dt == KILN_DTYPE_BFLOAT16;
    void *ctx = (void *)p;
    if (p->alpha == 0.0f) {
        /* as BLAS: the product is not formed (NaNs in M stay out) */
        int64_t len = p->trans ? p->cols : p->rows;
        for (int q = 0; q < p->nx; q++) {
            float *y = p->y + q * p->ldy;
            for (int64_t i = 0; i < len; i++) {
                y[i] = p->beta != 0.0f ? p->beta * y[i] : 0.0f;
            }
        }
        return;
    }
    if (!p->trans) {
        int64_t grain = p->cols >= GEMV_GRAIN ? 1 : GEMV_GRAIN / p->cols;
        kiln__pool_for(p->rows, grain, dots[bf][p->nx - 1], ctx);
        return;
    }
    int64_t groups = p->cols / VL, per = VL * p->rows;
    if (groups == 0) {
        /* fewer than VL columns: all of them past the last group */
        axpy_cols(p, 0, 0, bf);
        return;
    }
    /* one chunk a thread: wide blocks, long runs of each row (pool_for
     * cuts n / grain chunks: rounding up would leave an odd group count
     * on one of two threads) */
    int64_t grain = per >= GEMV_GRAIN ? 1 : GEMV_GRAIN / per;
    int64_t wide = groups / kiln__pool_nthreads();
    grain = grain > wide ? grain : wide;
    kiln__pool_for(groups, grain, bf ? axpy_bf16 : axpy_f16, ctx);
}

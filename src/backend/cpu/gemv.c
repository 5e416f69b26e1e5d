/*
 * gemv.c - matrix-vector products of float16/bfloat16 matrices
 * (interface in gemv.h).
 *
 * Elements of M are widened in registers (bfloat16 by a shift, float16 by
 * the F16C conversion where the compiler targets it) and used at once, VL
 * (16 with AVX-512) at a time. Two forms, after the layout of M:
 * - y = M x (rows of M contiguous, dotted with x): the pool's items are
 *   rows of y. Four vector accumulators (lane l of accumulator u sums the
 *   elements 4 VL q + VL u + l in q order) are added lane by lane at the
 *   end, then the elements past the last multiple of 4 VL in order.
 * - y = M' x (rows of M contiguous along y): the pool's items are groups
 *   of VL columns of y (the last group also takes the columns past the
 *   last multiple of VL), one chunk of them a thread. Blocks of up to
 *   BLOCK columns keep their accumulators in L1 while the rows of M add
 *   x[i] times their segment, four rows per pass over the block (each
 *   accumulator still gets the rows one at a time, in order).
 * Both orders depend on the shape (and the build's VL) alone.
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
INLINE vf widen16(bool bf, const uint16_t *s)
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

/* Rows [lo, hi) of y = M x. */
INLINE void dot_rows(const kiln_gemv_half *p, int64_t lo, int64_t hi,
                     bool bf)
{
    const float *x = p->x;
    for (int64_t i = lo; i < hi; i++) {
        const uint16_t *r = row_of(p, i);
        vf acc[4] = {{0}, {0}, {0}, {0}};
        int64_t t = 0;
        for (; t + 4 * VL <= p->cols; t += 4 * VL) {
            for (int u = 0; u < 4; u++) {
                acc[u] += widen16(bf, r + t + u * VL) * load(x + t + u * VL);
            }
        }
        vf v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        float s = 0.0f;
        for (int l = 0; l < VL; l++) {
            s += v[l];
        }
        float tail = 0.0f;
        for (; t < p->cols; t++) {
            tail += widen1(bf, r[t]) * x[t];
        }
        store_y(p, i, s + tail);
    }
}

/* Columns [j0, j0 + nv * VL) of y = M' x, nv <= BLOCK / VL. */
INLINE void axpy_block(const kiln_gemv_half *p, int64_t j0, int64_t nv,
                       bool bf)
{
    vf acc[BLOCK / VL];
    const float *x = p->x;
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
            a += x[i] * widen16(bf, r0 + u * VL);
            a += x[i + 1] * widen16(bf, r1 + u * VL);
            a += x[i + 2] * widen16(bf, r2 + u * VL);
            a += x[i + 3] * widen16(bf, r3 + u * VL);
            acc[u] = a;
        }
    }
    for (; i < p->rows; i++) {
        const uint16_t *r = row_of(p, i) + j0;
        for (int64_t u = 0; u < nv; u++) {
            acc[u] += x[i] * widen16(bf, r + u * VL);
        }
    }
    for (int64_t u = 0; u < nv; u++) {
        for (int l = 0; l < VL; l++) {
            store_y(p, j0 + u * VL + l, acc[u][l]);
        }
    }
}

/* Column groups [lo, hi) of y = M' x (the last one with the columns past
 * the last multiple of VL). */
INLINE void axpy_cols(const kiln_gemv_half *p, int64_t lo, int64_t hi,
                      bool bf)
{
    for (int64_t g = lo; g < hi; g += BLOCK / VL) {
        axpy_block(p, g * VL, min64(BLOCK / VL, hi - g), bf);
    }
    if (hi * VL + VL > p->cols) {
        for (int64_t j = hi * VL; j < p->cols; j++) {
            float s = 0.0f;
            for (int64_t i = 0; i < p->rows; i++) {
                s += p->x[i] * widen1(bf, row_of(p, i)[j]);
            }
            store_y(p, j, s);
        }
    }
}

static void dot_f16(void *ctx, int64_t lo, int64_t hi)
{
    dot_rows(ctx, lo, hi, false);
}

static void dot_bf16(void *ctx, int64_t lo, int64_t hi)
{
    dot_rows(ctx, lo, hi, true);
}

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
    if (!p->trans) {
        int64_t grain = p->cols >= GEMV_GRAIN ? 1 : GEMV_GRAIN / p->cols;
        kiln__pool_for(p->rows, grain, bf ? dot_bf16 : dot_f16, ctx);
        return;
    }
    int64_t groups = p->cols / VL, per = VL * p->rows;
    if (groups == 0) {
        /* fewer than VL columns: all of them past the last group */
        axpy_cols(p, 0, 0, bf);
        return;
    }
    /* one chunk a thread: wide blocks, long runs of each row */
    int64_t grain = per >= GEMV_GRAIN ? 1 : GEMV_GRAIN / per;
    int64_t nt = kiln__pool_nthreads();
    int64_t wide = (groups + nt - 1) / nt;
    grain = grain > wide ? grain : wide;
    kiln__pool_for(groups, grain, bf ? axpy_bf16 : axpy_f16, ctx);
}

/*
 * accum.h - what the reduction loops (reduce_cpu.c) and the scan loops
 * (scan_cpu.c) share: the per-dtype table of storage, compute and
 * accumulator types they are stamped from, and block conversions of stored
 * values to their compute type. Included by those two files only; every
 * function here is static inline.
 */
#ifndef KILN_CPU_ACCUM_H
#define KILN_CPU_ACCUM_H

#include <math.h>
#include <stdint.h>

#include "../../core/half.h"
#include "scalar.h"

#if defined(__F16C__)
#include <immintrin.h>
#endif

#define ID_(v) (v)
#define F16_LD(v) kiln_f16_to_f32(v)
#define BF16_LD(v) kiln_bf16_to_f32(v)

/* One row per input dtype:
 * X(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, ...)
 *   ST   storage type          c, CT  compute tag and type (scalar.h)
 *   LD   storage -> compute    SA     sum/prod accumulator (wrapping
 *                                     unsigned for integers)
 *   SO   sum/prod output type, SODT its dtype (must agree with the
 *        KILN_REDUCE_OUT_SUM rule in prim/reduce.c, which infer uses)
 *   TO   float compute -> storage (half types round), identity otherwise
 *   LO   HI  the smallest and largest value (identities of max and min)
 *   F    1 for float dtypes */
#define DTYPES(X, ...)                                                       \
    X(BOOL, b, kiln_b, b, kiln_b, ID_, uint32_t, int32_t, INT32, ID_, 0,     \
      1, 0, __VA_ARGS__)                                                     \
    X(UINT8, u8, uint8_t, u8, uint8_t, ID_, uint32_t, uint32_t, UINT32,      \
      ID_, 0, UINT8_MAX, 0, __VA_ARGS__)                                     \
    X(UINT16, u16, uint16_t, u16, uint16_t, ID_, uint32_t, uint32_t,         \
      UINT32, ID_, 0, UINT16_MAX, 0, __VA_ARGS__)                            \
    X(UINT32, u32, uint32_t, u32, uint32_t, ID_, uint32_t, uint32_t,         \
      UINT32, ID_, 0, UINT32_MAX, 0, __VA_ARGS__)                            \
    X(UINT64, u64, uint64_t, u64, uint64_t, ID_, uint64_t, uint64_t,         \
      UINT64, ID_, 0, UINT64_MAX, 0, __VA_ARGS__)                            \
    X(INT8, i8, int8_t, i8, int8_t, ID_, uint32_t, int32_t, INT32, ID_,      \
      INT8_MIN, INT8_MAX, 0, __VA_ARGS__)                                    \
    X(INT16, i16, int16_t, i16, int16_t, ID_, uint32_t, int32_t, INT32,      \
      ID_, INT16_MIN, INT16_MAX, 0, __VA_ARGS__)                             \
    X(INT32, i32, int32_t, i32, int32_t, ID_, uint32_t, int32_t, INT32,      \
      ID_, INT32_MIN, INT32_MAX, 0, __VA_ARGS__)                             \
    X(INT64, i64, int64_t, i64, int64_t, ID_, uint64_t, int64_t, INT64,      \
      ID_, INT64_MIN, INT64_MAX, 0, __VA_ARGS__)                             \
    X(FLOAT16, f16, kiln_f16, f32, float, F16_LD, float, kiln_f16,           \
      FLOAT16, kiln_f32_to_f16, -INFINITY, INFINITY, 1, __VA_ARGS__)         \
    X(BFLOAT16, bf16, kiln_bf16, f32, float, BF16_LD, float, kiln_bf16,      \
      BFLOAT16, kiln_f32_to_bf16, -INFINITY, INFINITY, 1, __VA_ARGS__)       \
    X(FLOAT32, f32, float, f32, float, ID_, float, float, FLOAT32, ID_,      \
      -INFINITY, INFINITY, 1, __VA_ARGS__)                                   \
    X(FLOAT64, f64, double, f64, double, ID_, double, double, FLOAT64,       \
      ID_, -INFINITY, INFINITY, 1, __VA_ARGS__)

/* accumulators per output chunk or column task (reductions), columns per
 * task (scans) */
#define CB 256

/* cvt_row_<t>(dst, src, n) and cvt_str_<t>(dst, x, s, n): n stored values
 * (contiguous, or at byte stride s) to their compute type, for the loops
 * that fold a converted block (contiguous float16 runs, scans, argmin/argmax
 * columns). float16 blocks use the F16C instruction where the compiler
 * targets it: exact, like kiln_f16_to_f32, whose portable select chain does
 * not vectorise. */
#if defined(__F16C__)
static inline int64_t cvt_f16_hw(float *dst, const kiln_f16 *src, int64_t n)
{
    int64_t i = 0;
#if defined(__AVX512F__)
    /* as wide as the folding loop's loads, so stores forward to them */
    for (; i + 16 <= n; i += 16) {
        __m256i h =
            _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(h));
    }
#endif
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}
#define HW_START_F16_LD(dst, src, n) cvt_f16_hw(dst, src, n)
#else
#define HW_START_F16_LD(dst, src, n) 0
#endif
#define HW_START_ID_(dst, src, n) 0
#define HW_START_BF16_LD(dst, src, n) 0

#define CVT_FNS(DT, t, ST, c, CT, LD, SA, SO, SODT, TO, LO, HI, F, u)        \
    static inline void cvt_row_##t(CT *dst, const ST *src, int64_t n)        \
    {                                                                        \
        for (int64_t i = HW_START_##LD(dst, src, n); i < n; i++) {           \
            dst[i] = LD(src[i]);                                             \
        }                                                                    \
    }                                                                        \
    static inline void cvt_str_##t(CT *dst, const char *x, int64_t s,        \
                                   int64_t n)                                \
    {                                                                        \
        for (int64_t i = 0; i < n; i++) {                                    \
            dst[i] = LD(*(const ST *)(const void *)(x + i * s));             \
        }                                                                    \
    }
DTYPES(CVT_FNS, 0)

/* sum/prod (and cumsum/cumprod) folds */
#define ADD_V(a, v) ((a) + (v))
#define MUL_V(a, v) ((a) * (v))

#endif

/*
 * scalar.h - the scalar meaning of every elementwise op, per dtype.
 *
 * One static inline function per (op, compute type): kiln_s_<op>_<t>. The
 * eager loops (unary_cpu.c, binary_cpu.c) call these, and the JIT preamble
 * will include this same header, so eager and compiled results cannot
 * disagree. Compute types: b (bool, stored as uint8_t 0/1), u8..u64,
 * i8..i64, f32, f64; float16 and bfloat16 compute through f32.
 *
 * Invariants:
 * - no undefined behaviour for any input: signed overflow wraps (computed
 *   in unsigned), integer division by zero gives 0, shifts by a count
 *   outside [0, bits) give 0 (or the sign for arithmetic right shifts),
 *   float-to-integer conversion saturates and sends NaN to 0;
 * - floats keep IEEE NaN/Inf behaviour: maximum/minimum propagate NaN,
 *   sign(NaN) is NaN, comparisons with NaN are false (not_equal true);
 * - bodies are branch-free selects so loops over them vectorise.
 */
#ifndef KILN_CPU_SCALAR_H
#define KILN_CPU_SCALAR_H

#include <math.h>
#include <stdint.h>

#include "../../core/half.h"
#include "vmath.h"

typedef uint8_t kiln_b;

/* X(t, T, W): integer compute types; W is an unsigned type at least as wide
 * used for wrapping arithmetic. S = 1 when signed. */
#define KILN_SINT_TYPES(X)                                                \
    X(i8, int8_t, uint32_t, 8)                                            \
    X(i16, int16_t, uint32_t, 16)                                         \
    X(i32, int32_t, uint32_t, 32)                                         \
    X(i64, int64_t, uint64_t, 64)
#define KILN_UINT_TYPES(X)                                                \
    X(u8, uint8_t, uint32_t, 8)                                           \
    X(u16, uint16_t, uint32_t, 16)                                        \
    X(u32, uint32_t, uint32_t, 32)                                        \
    X(u64, uint64_t, uint64_t, 64)
#define KILN_FLOAT_TYPES(X)                                               \
    X(f32, float, f)                                                      \
    X(f64, double, d)

/* ------------------------------------------------------------------ */
/* integer ops (signed and unsigned)                                  */
/* ------------------------------------------------------------------ */

#define KILN_DEF_INT_COMMON(t, T, W, BITS)                                \
    static inline T kiln_s_add_##t(T a, T b)                              \
    {                                                                     \
        return (T)((W)a + (W)b);                                          \
    }                                                                     \
    static inline T kiln_s_subtract_##t(T a, T b)                         \
    {                                                                     \
        return (T)((W)a - (W)b);                                          \
    }                                                                     \
    static inline T kiln_s_multiply_##t(T a, T b)                         \
    {                                                                     \
        return (T)((W)a * (W)b);                                          \
    }                                                                     \
    static inline T kiln_s_square_##t(T a)                                \
    {                                                                     \
        return (T)((W)a * (W)a);                                          \
    }                                                                     \
    static inline T kiln_s_negative_##t(T a)                              \
    {                                                                     \
        return (T)((W)0 - (W)a);                                          \
    }                                                                     \
    static inline T kiln_s_maximum_##t(T a, T b)                          \
    {                                                                     \
        return a > b ? a : b;                                             \
    }                                                                     \
    static inline T kiln_s_minimum_##t(T a, T b)                          \
    {                                                                     \
        return a < b ? a : b;                                             \
    }                                                                     \
    static inline T kiln_s_bitwise_and_##t(T a, T b)                      \
    {                                                                     \
        return (T)(a & b);                                                \
    }                                                                     \
    static inline T kiln_s_bitwise_or_##t(T a, T b)                       \
    {                                                                     \
        return (T)(a | b);                                                \
    }                                                                     \
    static inline T kiln_s_bitwise_xor_##t(T a, T b)                      \
    {                                                                     \
        return (T)(a ^ b);                                                \
    }                                                                     \
    static inline T kiln_s_bitwise_invert_##t(T a)                        \
    {                                                                     \
        return (T)~a;                                                     \
    }                                                                     \
    static inline T kiln_s_left_shift_##t(T a, T b)                       \
    {                                                                     \
        return (uint64_t)(int64_t)b >= BITS                               \
                   ? (T)0                                                 \
                   : (T)((W)a << ((W)b & (BITS - 1)));                    \
    }                                                                     \
    static inline T kiln_s_floor_##t(T a)                                 \
    {                                                                     \
        return a;                                                         \
    }                                                                     \
    static inline T kiln_s_ceil_##t(T a)                                  \
    {                                                                     \
        return a;                                                         \
    }                                                                     \
    static inline T kiln_s_round_##t(T a)                                 \
    {                                                                     \
        return a;                                                         \
    }                                                                     \
    static inline T kiln_ipow_##t(T a, uint64_t e)                        \
    {                                                                     \
        W r = 1, base = (W)a;                                             \
        while (e) {                                                       \
            r = (e & 1) ? (W)(r * base) : r;                              \
            base = (W)(base * base);                                      \
            e >>= 1;                                                      \
        }                                                                 \
        return (T)r;                                                      \
    }

#define KILN_DEF_SINT(t, T, W, BITS)                                      \
    KILN_DEF_INT_COMMON(t, T, W, BITS)                                    \
    static inline T kiln_s_abs_##t(T a)                                   \
    {                                                                     \
        return a < 0 ? (T)((W)0 - (W)a) : a;                              \
    }                                                                     \
    static inline T kiln_s_sign_##t(T a)                                  \
    {                                                                     \
        return (T)((a > 0) - (a < 0));                                    \
    }                                                                     \
    static inline T kiln_s_floor_divide_##t(T a, T b)                     \
    {                                                                     \
        if (b == 0) {                                                     \
            return 0;                                                     \
        }                                                                 \
        if (b == -1) {                                                    \
            return (T)((W)0 - (W)a);                                      \
        }                                                                 \
        T q = (T)(a / b);                                                 \
        return (T)(q - ((a % b != 0) && ((a < 0) != (b < 0))));           \
    }                                                                     \
    static inline T kiln_s_remainder_##t(T a, T b)                        \
    {                                                                     \
        if (b == 0 || b == -1) {                                          \
            return 0;                                                     \
        }                                                                 \
        T r = (T)(a % b);                                                 \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;         \
    }                                                                     \
    static inline T kiln_s_right_shift_##t(T a, T b)                      \
    {                                                                     \
        return (uint64_t)(int64_t)b >= BITS ? (T)(a < 0 ? -1 : 0)         \
                                            : (T)(a >> b);                \
    }                                                                     \
    static inline T kiln_s_power_##t(T a, T b)                            \
    {                                                                     \
        /* a negative exponent gives the truncated 1 / a^|b| */          \
        if (b < 0) {                                                      \
            return a == 1 ? (T)1                                          \
                          : (a == -1 ? ((b & 1) ? a : (T)1) : (T)0);      \
        }                                                                 \
        return kiln_ipow_##t(a, (uint64_t)b);                             \
    }

#define KILN_DEF_UINT(t, T, W, BITS)                                      \
    KILN_DEF_INT_COMMON(t, T, W, BITS)                                    \
    static inline T kiln_s_abs_##t(T a)                                   \
    {                                                                     \
        return a;                                                         \
    }                                                                     \
    static inline T kiln_s_sign_##t(T a)                                  \
    {                                                                     \
        return (T)(a > 0);                                                \
    }                                                                     \
    static inline T kiln_s_floor_divide_##t(T a, T b)                     \
    {                                                                     \
        return b == 0 ? (T)0 : (T)(a / b);                                \
    }                                                                     \
    static inline T kiln_s_remainder_##t(T a, T b)                        \
    {                                                                     \
        return b == 0 ? (T)0 : (T)(a % b);                                \
    }                                                                     \
    static inline T kiln_s_right_shift_##t(T a, T b)                      \
    {                                                                     \
        return (uint64_t)b >= BITS ? (T)0 : (T)(a >> b);                  \
    }                                                                     \
    static inline T kiln_s_power_##t(T a, T b)                            \
    {                                                                     \
        return kiln_ipow_##t(a, (uint64_t)b);                             \
    }

KILN_SINT_TYPES(KILN_DEF_SINT)
KILN_UINT_TYPES(KILN_DEF_UINT)

/* ------------------------------------------------------------------ */
/* bool                                                               */
/* ------------------------------------------------------------------ */

static inline kiln_b kiln_s_add_b(kiln_b a, kiln_b b)
{
    return a | b;
}
static inline kiln_b kiln_s_multiply_b(kiln_b a, kiln_b b)
{
    return a & b;
}
static inline kiln_b kiln_s_maximum_b(kiln_b a, kiln_b b)
{
    return a | b;
}
static inline kiln_b kiln_s_minimum_b(kiln_b a, kiln_b b)
{
    return a & b;
}
static inline kiln_b kiln_s_abs_b(kiln_b a)
{
    return a;
}
static inline kiln_b kiln_s_square_b(kiln_b a)
{
    return a;
}
static inline kiln_b kiln_s_logical_and_b(kiln_b a, kiln_b b)
{
    return a & b;
}
static inline kiln_b kiln_s_logical_or_b(kiln_b a, kiln_b b)
{
    return a | b;
}
static inline kiln_b kiln_s_logical_not_b(kiln_b a)
{
    return !a;
}
static inline kiln_b kiln_s_bitwise_and_b(kiln_b a, kiln_b b)
{
    return a & b;
}
static inline kiln_b kiln_s_bitwise_or_b(kiln_b a, kiln_b b)
{
    return a | b;
}
static inline kiln_b kiln_s_bitwise_xor_b(kiln_b a, kiln_b b)
{
    return a ^ b;
}
static inline kiln_b kiln_s_bitwise_invert_b(kiln_b a)
{
    return !a;
}

/* ------------------------------------------------------------------ */
/* floats (f32 with suffix f, f64 with suffix d in vmath and libm)    */
/* ------------------------------------------------------------------ */

#define KILN_DEF_FLOAT(t, T, s)                                           \
    static inline T kiln_s_add_##t(T a, T b)                              \
    {                                                                     \
        return a + b;                                                     \
    }                                                                     \
    static inline T kiln_s_subtract_##t(T a, T b)                         \
    {                                                                     \
        return a - b;                                                     \
    }                                                                     \
    static inline T kiln_s_multiply_##t(T a, T b)                         \
    {                                                                     \
        return a * b;                                                     \
    }                                                                     \
    static inline T kiln_s_divide_##t(T a, T b)                           \
    {                                                                     \
        return a / b;                                                     \
    }                                                                     \
    static inline T kiln_s_floor_divide_##t(T a, T b)                     \
    {                                                                     \
        return floor##s##_(a / b);                                        \
    }                                                                     \
    static inline T kiln_s_remainder_##t(T a, T b)                        \
    {                                                                     \
        /* Python's %: the result takes the divisor's sign, a zero        \
         * result too (4 % -2 is -0.0) */                                 \
        T r = fmod##s##_(a, b);                                           \
        T z = copysign##s##_((T)0, b);                                    \
        return r == 0 ? z : (((r < 0) != (b < 0)) ? r + b : r);           \
    }                                                                     \
    static inline T kiln_s_power_##t(T a, T b)                            \
    {                                                                     \
        return pow##s##_(a, b);                                           \
    }                                                                     \
    static inline T kiln_s_maximum_##t(T a, T b)                          \
    {                                                                     \
        return (a > b || a != a) ? a : b;                                 \
    }                                                                     \
    static inline T kiln_s_minimum_##t(T a, T b)                          \
    {                                                                     \
        return (a < b || a != a) ? a : b;                                 \
    }                                                                     \
    static inline T kiln_s_arctan2_##t(T a, T b)                          \
    {                                                                     \
        return kiln_vatan2##s(a, b);                                      \
    }                                                                     \
    static inline T kiln_s_logaddexp_##t(T a, T b)                        \
    {                                                                     \
        T m = kiln_s_maximum_##t(a, b);                                   \
        T d = a - b;                                                      \
        d = d < 0 ? -d : d;                                               \
        T r = m + kiln_vlog1p##s(kiln_vexp##s(-d));                       \
        /* equal infinities: a - b is NaN, the answer is a */             \
        return a == b ? a + (T)0.69314718055994530942 : r;                \
    }                                                                     \
    static inline T kiln_s_abs_##t(T a)                                   \
    {                                                                     \
        return fabs##s##_(a);                                             \
    }                                                                     \
    static inline T kiln_s_negative_##t(T a)                              \
    {                                                                     \
        return -a;                                                        \
    }                                                                     \
    static inline T kiln_s_sign_##t(T a)                                  \
    {                                                                     \
        return a > 0 ? (T)1 : (a < 0 ? (T)-1 : a);                        \
    }                                                                     \
    static inline T kiln_s_square_##t(T a)                                \
    {                                                                     \
        return a * a;                                                     \
    }                                                                     \
    static inline T kiln_s_sqrt_##t(T a)                                  \
    {                                                                     \
        return sqrt##s##_(a);                                             \
    }                                                                     \
    static inline T kiln_s_rsqrt_##t(T a)                                 \
    {                                                                     \
        return (T)1 / sqrt##s##_(a);                                      \
    }                                                                     \
    static inline T kiln_s_reciprocal_##t(T a)                            \
    {                                                                     \
        return (T)1 / a;                                                  \
    }                                                                     \
    static inline T kiln_s_exp_##t(T a)                                   \
    {                                                                     \
        return kiln_vexp##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_expm1_##t(T a)                                 \
    {                                                                     \
        return kiln_vexpm1##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_log_##t(T a)                                   \
    {                                                                     \
        return kiln_vlog##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_log1p_##t(T a)                                 \
    {                                                                     \
        return kiln_vlog1p##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_log2_##t(T a)                                  \
    {                                                                     \
        return kiln_vlog2##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_log10_##t(T a)                                 \
    {                                                                     \
        return kiln_vlog10##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_sin_##t(T a)                                   \
    {                                                                     \
        return kiln_vsin##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_cos_##t(T a)                                   \
    {                                                                     \
        return kiln_vcos##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_tan_##t(T a)                                   \
    {                                                                     \
        return kiln_vtan##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_arcsin_##t(T a)                                \
    {                                                                     \
        return kiln_vasin##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_arccos_##t(T a)                                \
    {                                                                     \
        return kiln_vacos##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_arctan_##t(T a)                                \
    {                                                                     \
        return kiln_vatan##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_sinh_##t(T a)                                  \
    {                                                                     \
        return kiln_vsinh##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_cosh_##t(T a)                                  \
    {                                                                     \
        return kiln_vcosh##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_tanh_##t(T a)                                  \
    {                                                                     \
        return kiln_vtanh##s(a);                                          \
    }                                                                     \
    static inline T kiln_s_arcsinh_##t(T a)                               \
    {                                                                     \
        return kiln_vasinh##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_arccosh_##t(T a)                               \
    {                                                                     \
        return kiln_vacosh##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_arctanh_##t(T a)                               \
    {                                                                     \
        return kiln_vatanh##s(a);                                         \
    }                                                                     \
    static inline T kiln_s_sigmoid_##t(T a)                               \
    {                                                                     \
        return kiln_vsigmoid##s(a);                                       \
    }                                                                     \
    static inline T kiln_s_erf_##t(T a)                                   \
    {                                                                     \
        return kiln_verf##s(a);                                           \
    }                                                                     \
    static inline T kiln_s_erfinv_##t(T a)                                \
    {                                                                     \
        return kiln_verfinv##s(a);                                        \
    }                                                                     \
    static inline T kiln_s_floor_##t(T a)                                 \
    {                                                                     \
        return floor##s##_(a);                                            \
    }                                                                     \
    static inline T kiln_s_ceil_##t(T a)                                  \
    {                                                                     \
        return ceil##s##_(a);                                             \
    }                                                                     \
    static inline T kiln_s_round_##t(T a)                                 \
    {                                                                     \
        /* half to even in the default rounding mode */                   \
        return rint##s##_(a);                                             \
    }

/* libm names by suffix: f -> sqrtf, d -> sqrt */
#define sqrtf_ sqrtf
#define sqrtd_ sqrt
#define fabsf_ fabsf
#define fabsd_ fabs
#define floorf_ floorf
#define floord_ floor
#define ceilf_ ceilf
#define ceild_ ceil
#define rintf_ rintf
#define rintd_ rint
#define fmodf_ fmodf
#define copysignf_ copysignf
#define copysignd_ copysign
#define fmodd_ fmod
#define powf_ powf
#define powd_ pow

KILN_FLOAT_TYPES(KILN_DEF_FLOAT)

/* ------------------------------------------------------------------ */
/* predicates and comparisons, every type                             */
/* ------------------------------------------------------------------ */

#define KILN_DEF_CMP(t, T)                                                \
    static inline kiln_b kiln_s_equal_##t(T a, T b)                       \
    {                                                                     \
        return a == b;                                                    \
    }                                                                     \
    static inline kiln_b kiln_s_not_equal_##t(T a, T b)                   \
    {                                                                     \
        return a != b;                                                    \
    }                                                                     \
    static inline kiln_b kiln_s_less_##t(T a, T b)                        \
    {                                                                     \
        return a < b;                                                     \
    }                                                                     \
    static inline kiln_b kiln_s_less_equal_##t(T a, T b)                  \
    {                                                                     \
        return a <= b;                                                    \
    }                                                                     \
    static inline kiln_b kiln_s_greater_##t(T a, T b)                     \
    {                                                                     \
        return a > b;                                                     \
    }                                                                     \
    static inline kiln_b kiln_s_greater_equal_##t(T a, T b)               \
    {                                                                     \
        return a >= b;                                                    \
    }                                                                     \
    static inline kiln_b kiln_s_isnan_##t(T a)                            \
    {                                                                     \
        return a != a;                                                    \
    }

/* infinity predicates: floats compare; integers and bool are always
 * finite ((T)INFINITY would be undefined for them, and in practice makes
 * isinf(uint8 255) true) */
#define KILN_DEF_INF_FLOAT(t, T)                                          \
    static inline kiln_b kiln_s_isinf_##t(T a)                            \
    {                                                                     \
        return a == (T)INFINITY || a == (T)-INFINITY;                     \
    }                                                                     \
    static inline kiln_b kiln_s_isfinite_##t(T a)                         \
    {                                                                     \
        return a == a && a != (T)INFINITY && a != (T)-INFINITY;           \
    }                                                                     \
    static inline kiln_b kiln_s_isposinf_##t(T a)                         \
    {                                                                     \
        return a == (T)INFINITY;                                          \
    }                                                                     \
    static inline kiln_b kiln_s_isneginf_##t(T a)                         \
    {                                                                     \
        return a == (T)-INFINITY;                                         \
    }
#define KILN_DEF_INF_INT(t, T)                                            \
    static inline kiln_b kiln_s_isinf_##t(T a)                            \
    {                                                                     \
        (void)a;                                                          \
        return 0;                                                         \
    }                                                                     \
    static inline kiln_b kiln_s_isfinite_##t(T a)                         \
    {                                                                     \
        (void)a;                                                          \
        return 1;                                                         \
    }                                                                     \
    static inline kiln_b kiln_s_isposinf_##t(T a)                         \
    {                                                                     \
        (void)a;                                                          \
        return 0;                                                         \
    }                                                                     \
    static inline kiln_b kiln_s_isneginf_##t(T a)                         \
    {                                                                     \
        (void)a;                                                          \
        return 0;                                                         \
    }

#define KILN_DEF_CMP_INT(t, T, W, BITS)                                   \
    KILN_DEF_CMP(t, T)                                                    \
    KILN_DEF_INF_INT(t, T)
#define KILN_DEF_CMP_FLOAT(t, T, s)                                       \
    KILN_DEF_CMP(t, T)                                                    \
    KILN_DEF_INF_FLOAT(t, T)
KILN_DEF_CMP(b, kiln_b)
KILN_DEF_INF_INT(b, kiln_b)
KILN_SINT_TYPES(KILN_DEF_CMP_INT)
KILN_UINT_TYPES(KILN_DEF_CMP_INT)
KILN_FLOAT_TYPES(KILN_DEF_CMP_FLOAT)

/* ------------------------------------------------------------------ */
/* conversions: kiln_cvt_<t>(x) converts any arithmetic x to type t   */
/* ------------------------------------------------------------------ */

/* Float to integer, saturating, NaN to 0 (C leaves this undefined).
 * LO is the type's minimum and HI_EXCL the power of two just above its
 * maximum; both are exact in float and double. */
#define KILN_SAT(T, MINV, MAXV, LO, HI_EXCL, x)                           \
    ((x) != (x) ? (T)0                                                    \
                : ((x) < (LO) ? (T)(MINV)                                 \
                              : ((x) >= (HI_EXCL) ? (T)(MAXV) : (T)(x))))

#define KILN_CVT_INT(T, MINV, MAXV, LO, HI_EXCL, x)                       \
    _Generic((x),                                                         \
        float: KILN_SAT(T, MINV, MAXV, (float)(LO), (float)(HI_EXCL), (x)), \
        double: KILN_SAT(T, MINV, MAXV, (double)(LO), (double)(HI_EXCL),  \
                         (x)),                                            \
        default: (T)(x))

#define kiln_cvt_b(x) ((kiln_b)((x) != 0))
#define kiln_cvt_i8(x) KILN_CVT_INT(int8_t, INT8_MIN, INT8_MAX, -128.0, 128.0, x)
#define kiln_cvt_i16(x)                                                   \
    KILN_CVT_INT(int16_t, INT16_MIN, INT16_MAX, -32768.0, 32768.0, x)
#define kiln_cvt_i32(x)                                                   \
    KILN_CVT_INT(int32_t, INT32_MIN, INT32_MAX, -2147483648.0,            \
                 2147483648.0, x)
#define kiln_cvt_i64(x)                                                   \
    KILN_CVT_INT(int64_t, INT64_MIN, INT64_MAX, -9223372036854775808.0,   \
                 9223372036854775808.0, x)
#define kiln_cvt_u8(x) KILN_CVT_INT(uint8_t, 0, UINT8_MAX, 0.0, 256.0, x)
#define kiln_cvt_u16(x) KILN_CVT_INT(uint16_t, 0, UINT16_MAX, 0.0, 65536.0, x)
#define kiln_cvt_u32(x)                                                   \
    KILN_CVT_INT(uint32_t, 0, UINT32_MAX, 0.0, 4294967296.0, x)
#define kiln_cvt_u64(x)                                                   \
    KILN_CVT_INT(uint64_t, 0, UINT64_MAX, 0.0, 18446744073709551616.0, x)
#define kiln_cvt_f32(x) ((float)(x))
#define kiln_cvt_f64(x) ((double)(x))

#endif

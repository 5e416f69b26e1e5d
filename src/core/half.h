/*
 * half.h - float16 and bfloat16 storage types and their conversions.
 *
 * Both are stored as uint16_t and computed through float32 (DESIGN.md 6).
 * Conversions round to nearest even, keep infinities and produce
 * subnormals where the format has them; float16 ones give a NaN the bits
 * the x86 hardware gives it (F16C vcvtps2ph / vcvtph2ps): quiet, its
 * payload kept (narrowing keeps the top 10 bits), so block conversions
 * may use the hardware without checking for NaN. float64 sources are
 * rounded once (through a round-to-odd float32, not a plain cast, which
 * would round twice). They are branch-free
 * selects so loops over them vectorise. Header-only: the eager kernels and
 * the JIT preamble include the same text.
 */
#ifndef KILN_CORE_HALF_H
#define KILN_CORE_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t kiln_f16;
typedef uint16_t kiln_bf16;

static inline uint32_t kiln_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float kiln_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float kiln_f16_to_f32(kiln_f16 h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t em = h & 0x7fffu;
    /* normal: rebias the exponent by 127 - 15 */
    uint32_t normal = (em << 13) + 0x38000000u;
    /* inf/NaN: all-ones exponent, payload kept, a NaN made quiet (as
     * the hardware's vcvtph2ps) */
    uint32_t special = 0x7f800000u | ((em & 0x3ffu) << 13) |
                       ((uint32_t)(em > 0x7c00u) << 22);
    /* subnormal: value is em * 2^-24, exact in float32 */
    uint32_t sub =
        kiln_f32_bits((float)(int32_t)em * 5.9604644775390625e-08f);
    /* selects as masks: gcc if-converts a ?: chain here into branches,
     * which stops loops over this function from vectorising */
    uint32_t is_special = 0u - (uint32_t)(em >= 0x7c00u);
    uint32_t is_normal = 0u - (uint32_t)(em >= 0x0400u);
    uint32_t bits = (special & is_special) |
                    (normal & ~is_special & is_normal) | (sub & ~is_normal);
    return kiln_bits_f32(bits | sign);
}

static inline kiln_f16 kiln_f32_to_f16(float f)
{
    uint32_t x = kiln_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    /* normal range: rebias and round to nearest even on bit 13 */
    uint32_t normal = (ax + 0xc8000fffu + ((ax >> 13) & 1u)) >> 13;
    /* below 2^-14: adding 0.5 makes the float unit 2^-24, the f16
     * subnormal unit, so the hardware rounds for us */
    uint32_t sub = kiln_f32_bits(kiln_bits_f32(ax) + 0.5f) - 0x3f000000u;
    /* NaN: quiet, the top 10 bits of the payload kept (vcvtps2ph) */
    uint32_t nan = 0x7e00u | ((ax >> 13) & 0x3ffu);
    uint32_t r = ax > 0x7f800000u   ? nan
                 : ax >= 0x477ff000u ? 0x7c00u
                 : ax < 0x38800000u  ? sub
                                     : normal;
    return (kiln_f16)(r | sign);
}

/* kiln_f16_to_f32(kiln_f32_to_f16(f)) without the 16-bit detour: f rounded
 * to float16's precision and range (ties to even, overflow to inf, the
 * subnormal grid 2^-24, a NaN quiet with the low 13 bits of its payload
 * cleared), as a float. The same bits as the round trip for every float (all
 * 2^32: tools/check_half_round.c). Compiled kernels round every float16 op
 * result with it, so it is written for a vectorised loop: 11 vector
 * instructions, no branch. c is 2^13 times |f|'s binade (clamped below to
 * 2^-14, where float16 turns subnormal, and above to 2^16, past its range),
 * so |f| + c rounds |f| to 11 significant bits (to the 2^-24 grid below
 * 2^-14) in the hardware's round-to-nearest-even, and - c is exact; scaling
 * by 2^112 and back is exact below 2^16 and overflows to inf from there (so
 * from 65520, which rounded to 65536). It assumes the default floating-point
 * environment, as the rest of kiln: round to nearest, no traps
 * (kiln_f32_to_f16 and the hardware conversions round to nearest whatever
 * the mode is). */
#if defined(__FAST_MATH__)
#error "half.h: kiln_f16_round needs IEEE float arithmetic (no -ffast-math)"
#endif
static inline float kiln_f16_round(float f)
{
    uint32_t x = kiln_f32_bits(f);
    uint32_t ax = x & 0x7fffffffu;
    uint32_t e = ax & 0x7f800000u;
    e = e < 0x38800000u ? 0x38800000u : e;
    e = e > 0x47800000u ? 0x47800000u : e;
    float c = kiln_bits_f32(e + 0x06800000u);
    /* one float operation per assignment: each rounds to float even
     * where the compiler evaluates in wider precision (FLT_EVAL_METHOD) */
    float s = kiln_bits_f32(ax) + c;
    float t = s - c;
    float u = t * 0x1p112f;
    float v = u * 0x1p-112f;
    uint32_t r = kiln_f32_bits(v);
    r = ax > 0x7f800000u ? (ax & 0x7fffe000u) | 0x00400000u : r;
    return kiln_bits_f32(r | (x & 0x80000000u));
}

static inline float kiln_bf16_to_f32(kiln_bf16 h)
{
    return kiln_bits_f32((uint32_t)h << 16);
}

static inline kiln_bf16 kiln_f32_to_bf16(float f)
{
    uint32_t x = kiln_f32_bits(f);
    uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint32_t nan = ((x >> 16) & 0x8000u) | 0x7fc0u;
    return (kiln_bf16)((x & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* kiln_bf16_to_f32(kiln_f32_to_bf16(f)), as kiln_f16_round. */
static inline float kiln_bf16_round(float f)
{
    uint32_t x = kiln_f32_bits(f);
    uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) & 0xffff0000u;
    uint32_t nan = (x & 0x80000000u) | 0x7fc00000u;
    return kiln_bits_f32((x & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* d rounded to float32 "to odd": truncated toward zero, with the last bit
 * set when anything was dropped. Rounding that to a format with at least
 * two fewer significand bits (float16, bfloat16) gives the same result as
 * rounding d directly; a plain (float)d can land on a tie and round
 * twice. NaN stays NaN; beyond the float32 range it gives +-FLT_MAX, which
 * still rounds to infinity in both half formats. */
static inline float kiln_f64_to_f32_odd(double d)
{
    float f = (float)d;
    double back = (double)f;
    uint32_t u = kiln_f32_bits(f);
    u -= (uint32_t)(fabs(back) > fabs(d)); /* rounded away: step back */
    u |= (uint32_t)(back != d);            /* sticky bit */
    return kiln_bits_f32(u);
}

static inline kiln_f16 kiln_f64_to_f16(double d)
{
    return kiln_f32_to_f16(kiln_f64_to_f32_odd(d));
}

static inline kiln_bf16 kiln_f64_to_bf16(double d)
{
    return kiln_f32_to_bf16(kiln_f64_to_f32_odd(d));
}

/*
 * Blocks: y[i] = kiln_f16_to_f32(x[i]) / kiln_f32_to_f16(x[i]) for i < n,
 * the same bits, x and y not overlapping. Where the compiler targets F16C
 * (x86 -mf16c, implied by -march=native on any AVX2 machine) KILN_HALF_HW
 * elements at a time (16 with AVX-512, 8 with F16C alone) go through the
 * hardware conversion (vcvtph2ps / vcvtps2ph, round to nearest even,
 * subnormals, infinities and NaNs as the scalar functions above), which
 * gcc 12 never emits for the scalar functions. GCC builtins on vector
 * types rather than <immintrin.h>, whose parsing would double the JIT's
 * compile time (this file is in the JIT preamble); clang has the same
 * builtins.
 */
#if defined(__AVX512F__) && defined(__GNUC__)
#define KILN_HALF_HW 16
typedef short kiln__half_vhi __attribute__((vector_size(32)));
typedef float kiln__half_vsf __attribute__((vector_size(64)));

static inline kiln__half_vsf kiln__half_widen(kiln__half_vhi h)
{
    const kiln__half_vsf z = {0};
    return __builtin_ia32_vcvtph2ps512_mask(h, z, (unsigned short)0xffff, 4);
}

/* 8: round to nearest even, exceptions suppressed */
static inline kiln__half_vhi kiln__half_narrow(kiln__half_vsf f)
{
    const kiln__half_vhi z = {0};
    return __builtin_ia32_vcvtps2ph512_mask(f, 8, z, (unsigned short)0xffff);
}
#elif defined(__F16C__) && defined(__GNUC__)
#define KILN_HALF_HW 8
typedef short kiln__half_vhi __attribute__((vector_size(16)));
typedef float kiln__half_vsf __attribute__((vector_size(32)));

static inline kiln__half_vsf kiln__half_widen(kiln__half_vhi h)
{
    return __builtin_ia32_vcvtph2ps256(h);
}

static inline kiln__half_vhi kiln__half_narrow(kiln__half_vsf f)
{
    return __builtin_ia32_vcvtps2ph256(f, 8);
}
#endif

static inline void kiln_f16_to_f32_n(const kiln_f16 *x, float *y, int64_t n)
{
    int64_t i = 0;
#ifdef KILN_HALF_HW
    for (; i + KILN_HALF_HW <= n; i += KILN_HALF_HW) {
        kiln__half_vhi h;
        memcpy(&h, x + i, sizeof h);
        kiln__half_vsf f = kiln__half_widen(h);
        memcpy(y + i, &f, sizeof f);
    }
#endif
    for (; i < n; i++) {
        y[i] = kiln_f16_to_f32(x[i]);
    }
}

/* x[i] = kiln_f16_round(x[i]) for i < n, in place: with the hardware,
 * KILN_HALF_HW at a time narrowed and widened back (the same bits). */
static inline void kiln_f16_round_n(float *x, int64_t n)
{
    int64_t i = 0;
#ifdef KILN_HALF_HW
    for (; i + KILN_HALF_HW <= n; i += KILN_HALF_HW) {
        kiln__half_vsf f;
        memcpy(&f, x + i, sizeof f);
        f = kiln__half_widen(kiln__half_narrow(f));
        memcpy(x + i, &f, sizeof f);
    }
#endif
    for (; i < n; i++) {
        x[i] = kiln_f16_round(x[i]);
    }
}

static inline void kiln_f32_to_f16_n(const float *x, kiln_f16 *y, int64_t n)
{
    int64_t i = 0;
#ifdef KILN_HALF_HW
    for (; i + KILN_HALF_HW <= n; i += KILN_HALF_HW) {
        kiln__half_vsf f;
        memcpy(&f, x + i, sizeof f);
        kiln__half_vhi h = kiln__half_narrow(f);
        memcpy(y + i, &h, sizeof h);
    }
#endif
    for (; i < n; i++) {
        y[i] = kiln_f32_to_f16(x[i]);
    }
}

#endif

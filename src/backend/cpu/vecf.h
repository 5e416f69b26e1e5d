/*
 * vecf.h - float32 vectors for generated loops that round float16 values
 * (JIT preamble only; the eager kernels do not use it).
 *
 * gcc vectorises the scalar loops kiln generates, but it never turns a
 * float16 round trip into the hardware conversions, so a loop that rounds
 * float16 values it reads again pays kiln_f16_round's 11 instructions per
 * value or a detour through memory (codegen_loop.c). A loop written over
 * kiln_vf instead holds KILN_VW floats per value and rounds them with
 * vcvtps2ph / vcvtph2ps inline. The functions here are the vector forms
 * of scalar.h's kiln_s_<op>_f32 that a primitive names in its emit
 * facet's `vexpr` (prim.h): each lane gives the bits of the scalar
 * function on that lane's element, so a vector loop and the scalar loop
 * (and eager) agree bit for bit.
 *
 * Invariants: every function takes and returns kiln_vf (a caller splats
 * a scalar with kiln_vsplat first); loads and stores take any alignment.
 * Without KILN_HALF_HW (no F16C, or not GCC) KILN_VW is 1 and kiln_vf is
 * float: the same text then compiles to the scalar functions.
 */
#ifndef KILN_CPU_VECF_H
#define KILN_CPU_VECF_H

#include <stdint.h>
#include <string.h>

#include "../../core/half.h"
#include "scalar.h"

#ifdef KILN_HALF_HW
#define KILN_VW KILN_HALF_HW
/* a vector fold holds its 32 lanes (codegen_impl.h LANES) as whole
 * vectors */
_Static_assert(32 % KILN_VW == 0, "KILN_VW divides the fold's 32 lanes");
typedef kiln__half_vsf kiln_vf;
typedef int32_t kiln_vi __attribute__((vector_size(4 * KILN_HALF_HW)));
typedef uint32_t kiln_vu __attribute__((vector_size(4 * KILN_HALF_HW)));

static inline kiln_vf kiln_vload(const float *p)
{
    kiln_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void kiln_vstore(float *p, kiln_vf v)
{
    memcpy(p, &v, sizeof v);
}

/* KILN_VW float16 values widened / narrowed (the bits of kiln_f16_to_f32
 * and kiln_f32_to_f16 on every lane: half.h) */
static inline kiln_vf kiln_vload_h(const kiln_f16 *p)
{
    kiln__half_vhi h;
    memcpy(&h, p, sizeof h);
    return kiln__half_widen(h);
}

static inline void kiln_vstore_h(kiln_f16 *p, kiln_vf v)
{
    kiln__half_vhi h = kiln__half_narrow(v);
    memcpy(p, &h, sizeof h);
}

static inline kiln_vf kiln_vsplat(float x)
{
    kiln_vf v;
    for (int k = 0; k < KILN_VW; k++) {
        v[k] = x;
    }
    return v;
}

/* lanes of a where m is all ones, else of b (m: a comparison's result) */
static inline kiln_vf kiln__vecf_sel(kiln_vi m, kiln_vf a, kiln_vf b)
{
    return (kiln_vf)((m & (kiln_vi)a) | (~m & (kiln_vi)b));
}

/* kiln_f16_round on every lane: the hardware round trip (the same bits
 * on every float, NaNs included: half.h) */
static inline kiln_vf kiln_vround_f16(kiln_vf f)
{
    return kiln__half_widen(kiln__half_narrow(f));
}

/* kiln_bf16_round on every lane (the same integer steps) */
static inline kiln_vf kiln_vround_bf16(kiln_vf f)
{
    kiln_vu x = (kiln_vu)f;
    kiln_vu r = (x + 0x7fffu + ((x >> 16) & 1u)) & 0xffff0000u;
    kiln_vu nan = (x & 0x80000000u) | 0x7fc00000u;
    kiln_vi isnan = (kiln_vi)((x & 0x7fffffffu) > 0x7f800000u);
    return kiln__vecf_sel(isnan, (kiln_vf)nan, (kiln_vf)r);
}

static inline kiln_vf kiln_v_add_f32(kiln_vf a, kiln_vf b)
{
    return a + b;
}

static inline kiln_vf kiln_v_subtract_f32(kiln_vf a, kiln_vf b)
{
    return a - b;
}

static inline kiln_vf kiln_v_multiply_f32(kiln_vf a, kiln_vf b)
{
    return a * b;
}

static inline kiln_vf kiln_v_divide_f32(kiln_vf a, kiln_vf b)
{
    return a / b;
}

/* (a > b || a != a) ? a : b, as kiln_s_maximum_f32 */
static inline kiln_vf kiln_v_maximum_f32(kiln_vf a, kiln_vf b)
{
    return kiln__vecf_sel((a > b) | (a != a), a, b);
}

static inline kiln_vf kiln_v_minimum_f32(kiln_vf a, kiln_vf b)
{
    return kiln__vecf_sel((a < b) | (a != a), a, b);
}

static inline kiln_vf kiln_v_negative_f32(kiln_vf a)
{
    return -a;
}

static inline kiln_vf kiln_v_square_f32(kiln_vf a)
{
    return a * a;
}

/* fabsf: the sign bit cleared, a NaN's payload kept */
static inline kiln_vf kiln_v_abs_f32(kiln_vf a)
{
    return (kiln_vf)((kiln_vi)a & 0x7fffffff);
}

/* The vector form of a scalar function that gcc vectorises (sqrt and
 * vmath.h's branch-free functions): the function on each lane, in a loop
 * over the lanes that gcc turns into vector code, so the same bits as
 * the scalar function by construction. */
#define KILN__VECF_LIFT(op)                                               \
    static inline kiln_vf kiln_v_##op##_f32(kiln_vf a)                    \
    {                                                                     \
        float x[KILN_VW], y[KILN_VW];                                     \
        kiln_vf r;                                                        \
        memcpy(x, &a, sizeof x);                                          \
        for (int k = 0; k < KILN_VW; k++) {                               \
            y[k] = kiln_s_##op##_f32(x[k]);                               \
        }                                                                 \
        memcpy(&r, y, sizeof r);                                          \
        return r;                                                         \
    }
#else
#define KILN_VW 1
typedef float kiln_vf;

static inline kiln_vf kiln_vload(const float *p)
{
    return *p;
}

static inline void kiln_vstore(float *p, kiln_vf v)
{
    *p = v;
}

static inline kiln_vf kiln_vload_h(const kiln_f16 *p)
{
    return kiln_f16_to_f32(*p);
}

static inline void kiln_vstore_h(kiln_f16 *p, kiln_vf v)
{
    *p = kiln_f32_to_f16(v);
}

static inline kiln_vf kiln_vsplat(float x)
{
    return x;
}

#define kiln_vround_f16 kiln_f16_round
#define kiln_vround_bf16 kiln_bf16_round
#define kiln_v_add_f32 kiln_s_add_f32
#define kiln_v_subtract_f32 kiln_s_subtract_f32
#define kiln_v_multiply_f32 kiln_s_multiply_f32
#define kiln_v_divide_f32 kiln_s_divide_f32
#define kiln_v_maximum_f32 kiln_s_maximum_f32
#define kiln_v_minimum_f32 kiln_s_minimum_f32
#define kiln_v_negative_f32 kiln_s_negative_f32
#define kiln_v_square_f32 kiln_s_square_f32
#define kiln_v_abs_f32 kiln_s_abs_f32

#define KILN__VECF_LIFT(op)                                               \
    static inline kiln_vf kiln_v_##op##_f32(kiln_vf a)                    \
    {                                                                     \
        return kiln_s_##op##_f32(a);                                      \
    }
#endif

/* The unary ops whose vector form is their scalar function lifted (unary.c
 * gives each the vexpr kiln_v_<op>_$t). */
#define KILN__VECF_LIFTED(X)                                              \
    X(sqrt) X(rsqrt) X(reciprocal) X(exp) X(expm1) X(log) X(log1p)        \
    X(log2) X(log10) X(sin) X(cos) X(tan) X(arcsin) X(arccos) X(arctan)   \
    X(sinh) X(cosh) X(tanh) X(arcsinh) X(arccosh) X(arctanh) X(sigmoid)   \
    X(erf) X(erfinv)
KILN__VECF_LIFTED(KILN__VECF_LIFT)

#endif

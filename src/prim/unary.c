/*
 * unary.c - one-input elementwise primitives: descriptors and shape rules.
 *
 * Every primitive here has the shape rule "output shape = input shape" and
 * one of these dtype rules (the ops layer applies them before the node is
 * made, so the primitive sees an input of a dtype its table supports):
 *   SAME    abs negative sign square floor ceil round bitwise_invert
 *   FLOAT   sqrt rsqrt reciprocal exp expm1 log log1p log2 log10 sin cos
 *           tan arcsin arccos arctan sinh cosh tanh arcsinh arccosh
 *           arctanh sigmoid erf erfinv  (integers compute in float32)
 *   TO_BOOL isnan isinf isfinite isposinf isneginf (bool result)
 *   BOOL    logical_not (input cast to bool)
 * The math of each op is its scalar function in backend/cpu/scalar.h.
 *
 * Transform rules (contract in prim.h): each differentiable op has one
 * derivative expression, g * f'(x), written with the public ops over x (the
 * input), y (the primal output, used where it is cheaper: exp, sqrt,
 * tanh, sigmoid, ...) and g; vjp applies it to the cotangent and jvp to the
 * tangent (the Jacobian of an elementwise op is diagonal), integer inputs
 * included (as in MLX); ops whose result is piecewise constant or not a
 * number (sign floor ceil round, logical, bitwise, isnan...) and
 * stop_gradient have zero derivatives (NULL), as in MLX. vmap is the one
 * elementwise rule of autodiff.c.
 *
 * stop_gradient: identity, evaluated as a view of its input.
 * astype: params {dtype}; converts (float to integer saturates). Its
 * cotangent is cast back to the input dtype, its tangent to the output's,
 * whatever the dtypes (as MLX: a cast to an integer passes the gradient
 * straight through).
 */
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/array.h"
#include "../core/error.h"
#include "autodiff.h"
#include "prim.h"

static kiln_status infer_unary(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_unary_kernel *table = p->kernels;
    (void)params;
    (void)nin;
    if (table && !table[in[0].dtype]) {
        return kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype %s",
                         p->name, kiln_dtype_name(in[0].dtype));
    }
    out[0] = in[0];
    if (p->rule == KILN_RULE_TO_BOOL || p->rule == KILN_RULE_BOOL) {
        out[0].dtype = KILN_DTYPE_BOOL;
    }
    *nout = 1;
    return KILN_OK;
}

/* ---- transform rules ---------------------------------------------- */

/* Short names for the public ops the derivatives are written in; c(v) is
 * a weak scalar, so it takes the other operand's float dtype. */
static inline kiln_array *c(double v)
{
    return kiln_weak_f64(v);
}
static inline kiln_array *mul(kiln_array *a, kiln_array *b)
{
    return kiln_multiply(a, b);
}
static inline kiln_array *dv(kiln_array *a, kiln_array *b)
{
    return kiln_divide(a, b);
}
static inline kiln_array *add(kiln_array *a, kiln_array *b)
{
    return kiln_add(a, b);
}
static inline kiln_array *sub(kiln_array *a, kiln_array *b)
{
    return kiln_subtract(a, b);
}
static inline kiln_array *neg(kiln_array *a)
{
    return kiln_negative(a);
}
static inline kiln_array *sq(kiln_array *a)
{
    return kiln_square(a);
}

/* g * f'(x), given x, y = f(x) and g (cotangent or tangent). */
typedef kiln_array *(*deriv_fn)(kiln_array *x, kiln_array *y, kiln_array *g);

/* r cast to dt (the rule's result must have the input's dtype). */
static kiln_array *as(kiln_array *r, kiln_dtype dt)
{
    return r && kiln_array_dtype(r) != dt ? kiln_astype(r, dt) : r;
}

static kiln_status vjp_deriv(deriv_fn d, kiln_array *const *in,
                             kiln_array *const *out,
                             kiln_array *const *cot_out, const bool *need,
                             kiln_array **cot_in)
{
    kiln_dtype dt = kiln_array_dtype(in[0]);
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    cot_in[0] = as(d(in[0], out[0], cot_out[0]), dt);
    return cot_in[0] ? KILN_OK : kiln__autodiff_fail();
}

static kiln_status jvp_deriv(deriv_fn d, kiln_array *const *in,
                             kiln_array *const *out,
                             kiln_array *const *tan_in, kiln_array **tan_out)
{
    kiln_dtype dt = kiln_array_dtype(out[0]);
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    tan_out[0] = as(d(in[0], out[0], tan_in[0]), dt);
    return tan_out[0] ? KILN_OK : kiln__autodiff_fail();
}

#define EW (KILN_PRIM_ELEMENTWISE | KILN_PRIM_FUSABLE)
/* A descriptor with the given vjp/jvp. In a fused region: the op's scalar
 * function on the operand, and VEXPR its vector form or NULL. */
#define UNARY_PRIM(op, RULE, COST, VJP, JVP, VEXPR)                       \
    static const kiln_emit emit_##op = {                                  \
        .expr = "kiln_s_" #op "_$t($0)",                                  \
        .vexpr = VEXPR,                                                   \
        .chunk = kiln__cpu_chunk_unary,                                   \
        .cost = COST,                                                     \
    };                                                                    \
    const kiln_prim kiln__prim_##op = {                                   \
        .name = #op,                                                      \
        .flags = EW,                                                      \
        .nin = 1,                                                         \
        .infer = infer_unary,                                             \
        .eval_cpu = kiln__cpu_eval_unary,                                 \
        .vjp = VJP,                                                       \
        .jvp = JVP,                                                       \
        .vmap = kiln__autodiff_vmap_elementwise,                          \
        .emit = &emit_##op,                                               \
        .rule = KILN_RULE_##RULE,                                         \
        .kernels = kiln__cpu_unary_##op,                                  \
    };

/* A differentiable op: DERIV is g * f'(x) over x, y and g. */
#define UNARY_X(op, RULE, COST, DERIV, VEXPR)                            \
    static kiln_array *deriv_##op(kiln_array *x, kiln_array *y,           \
                                  kiln_array *g)                          \
    {                                                                     \
        (void)x, (void)y;                                                 \
        return DERIV;                                                     \
    }                                                                     \
    static kiln_status vjp_##op(const kiln_prim *p, const void *params,   \
                                kiln_array *const *in, int nin,           \
                                kiln_array *const *out, int nout,         \
                                kiln_array *const *cot_out,               \
                                const bool *need, kiln_array **cot_in)    \
    {                                                                     \
        (void)p, (void)params, (void)nin, (void)nout;                     \
        return vjp_deriv(deriv_##op, in, out, cot_out, need, cot_in);     \
    }                                                                     \
    static kiln_status jvp_##op(const kiln_prim *p, const void *params,   \
                                kiln_array *const *in, int nin,           \
                                kiln_array *const *out, int nout,         \
                                kiln_array *const *tan_in,                \
                                kiln_array **tan_out)                     \
    {                                                                     \
        (void)p, (void)params, (void)nin, (void)nout;                     \
        return jvp_deriv(deriv_##op, in, out, tan_in, tan_out);           \
    }                                                                     \
    UNARY_PRIM(op, RULE, COST, vjp_##op, jvp_##op, VEXPR)
#define UNARY(op, RULE, COST, DERIV) UNARY_X(op, RULE, COST, DERIV, NULL)
/* ... with the vector form of vecf.h */
#define UNARY_V(op, RULE, COST, DERIV)                                    \
    UNARY_X(op, RULE, COST, DERIV, "kiln_v_" #op "_$t($0)")

/* Piecewise constant, integer or bool valued: zero derivative. */
#define UNARY_FLAT(op, RULE)                                              \
    UNARY_PRIM(op, RULE, 1, kiln__autodiff_vjp_zero,                      \
               kiln__autodiff_jvp_zero, NULL)

#define LN2 0.693147180559945309417
#define LN10 2.302585092994045684018
#define TWO_OVER_SQRT_PI 1.128379167095512573896
#define SQRT_PI_OVER_TWO 0.886226925452758013649

UNARY_V(abs, SAME, 1, mul(g, kiln_sign(x)))
UNARY_V(negative, NUMERIC, 1, neg(g))
UNARY_FLAT(sign, NUMERIC)
UNARY_V(square, SAME, 1, mul(g, mul(c(2), x)))
UNARY_V(sqrt, FLOAT, 3, dv(g, mul(c(2), y)))
UNARY_V(rsqrt, FLOAT, 4, mul(g, mul(c(-0.5), dv(y, x))))
UNARY_V(reciprocal, FLOAT, 3, neg(mul(g, sq(y))))
UNARY_V(exp, FLOAT, 8, mul(g, y))
UNARY_V(expm1, FLOAT, 10, mul(g, add(y, c(1))))
UNARY_V(log, FLOAT, 8, dv(g, x))
UNARY_V(log1p, FLOAT, 10, dv(g, add(x, c(1))))
UNARY_V(log2, FLOAT, 8, dv(g, mul(x, c(LN2))))
UNARY_V(log10, FLOAT, 8, dv(g, mul(x, c(LN10))))
UNARY_V(sin, FLOAT, 10, mul(g, kiln_cos(x)))
UNARY_V(cos, FLOAT, 10, neg(mul(g, kiln_sin(x))))
UNARY_V(tan, FLOAT, 14, mul(g, add(c(1), sq(y))))
UNARY_V(arcsin, FLOAT, 12, mul(g, kiln_rsqrt(sub(c(1), sq(x)))))
UNARY_V(arccos, FLOAT, 12, neg(mul(g, kiln_rsqrt(sub(c(1), sq(x))))))
UNARY_V(arctan, FLOAT, 12, dv(g, add(c(1), sq(x))))
UNARY_V(sinh, FLOAT, 12, mul(g, kiln_cosh(x)))
UNARY_V(cosh, FLOAT, 10, mul(g, kiln_sinh(x)))
UNARY_V(tanh, FLOAT, 10, mul(g, sub(c(1), sq(y))))
UNARY_V(arcsinh, FLOAT, 14, mul(g, kiln_rsqrt(add(sq(x), c(1)))))
UNARY_V(arccosh, FLOAT, 14, mul(g, kiln_rsqrt(sub(sq(x), c(1)))))
UNARY_V(arctanh, FLOAT, 12, dv(g, sub(c(1), sq(x))))
UNARY_V(sigmoid, FLOAT, 10, mul(mul(g, y), sub(c(1), y)))
UNARY_V(erf, FLOAT, 10, mul(g, mul(c(TWO_OVER_SQRT_PI), kiln_exp(neg(sq(x))))))
UNARY_V(erfinv, FLOAT, 14, mul(g, mul(c(SQRT_PI_OVER_TWO), kiln_exp(sq(y)))))
UNARY_FLAT(floor, NUMERIC)
UNARY_FLAT(ceil, NUMERIC)
UNARY_FLAT(round, NUMERIC)
UNARY_FLAT(logical_not, BOOL)
UNARY_FLAT(bitwise_invert, INTEGER)
UNARY_FLAT(isnan, TO_BOOL)
UNARY_FLAT(isinf, TO_BOOL)
UNARY_FLAT(isfinite, TO_BOOL)
UNARY_FLAT(isposinf, TO_BOOL)
UNARY_FLAT(isneginf, TO_BOOL)

/* stop_gradient: y = x; no gradient flows through it. */
static kiln_status eval_identity_view(const kiln_node *n,
                                      kiln_array *const *in,
                                      kiln_array *const *out)
{
    (void)n;
    kiln__array_set_view(out[0], in[0], in[0]->offset, in[0]->strides);
    return KILN_OK;
}

static const kiln_emit emit_identity = {
    .expr = "$0", .vexpr = "$0", .chunk = kiln__cpu_chunk_copy};

const kiln_prim kiln__prim_stop_gradient = {
    .name = "stop_gradient",
    .flags = KILN_PRIM_ELEMENTWISE | KILN_PRIM_VIEW,
    .nin = 1,
    .infer = infer_unary,
    .eval_cpu = eval_identity_view,
    .vjp = kiln__autodiff_vjp_zero,
    .jvp = kiln__autodiff_jvp_zero,
    .vmap = kiln__autodiff_vmap_elementwise,
    .emit = &emit_identity,
    .rule = KILN_RULE_SAME,
};

/* astype: y = (dtype) x. params: the target dtype. Float to integer
 * saturates at the type's bounds and maps NaN to 0; to bool is x != 0. */
typedef struct {
    kiln_dtype dtype;
} astype_params;

static kiln_status infer_astype(const kiln_prim *p, const void *params,
                                const kiln_meta *in, int nin, kiln_meta *out,
                                int *nout)
{
    const astype_params *ap = params;
    (void)nin;
    if ((unsigned)ap->dtype >= KILN_DTYPE_COUNT) {
        return kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", p->name,
                         (int)ap->dtype);
    }
    out[0] = in[0];
    out[0].dtype = ap->dtype;
    *nout = 1;
    return KILN_OK;
}

/* A conversion to the input's own dtype. */
static int noop_astype(const void *params, const kiln_meta *in,
                       const kiln_meta *out)
{
    (void)params;
    return in->dtype == out->dtype ? KILN_NOOP_ALWAYS : KILN_NOOP_NEVER;
}

/* The identity's rules, cast: the cotangent to the input's dtype, the
 * tangent to the output's, whatever the dtypes (as MLX, a cast to an
 * integer passes the gradient straight through, truncated). */
static kiln_status vjp_astype(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *cot_out, const bool *need,
                              kiln_array **cot_in)
{
    kiln_dtype dt = kiln_array_dtype(in[0]);
    (void)p;
    (void)params;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    cot_in[0] = kiln_astype(cot_out[0], dt);
    return cot_in[0] ? KILN_OK : kiln__autodiff_fail();
}

static kiln_status jvp_astype(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *tan_in,
                              kiln_array **tan_out)
{
    kiln_dtype dt = kiln_array_dtype(out[0]);
    (void)p;
    (void)params;
    (void)in;
    (void)nin;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    tan_out[0] = kiln_astype(tan_in[0], dt);
    return tan_out[0] ? KILN_OK : kiln__autodiff_fail();
}

/* In a fused region: the saturating conversion of scalar.h, from the
 * operand's compute type to the output's; over vectors (whose compute
 * types are all float32: float32, float16 and bfloat16 values) it is the
 * identity, any rounding to the output dtype being the generator's. */
static const kiln_emit emit_astype = {.expr = "kiln_cvt_$o($0)",
                                      .vexpr = "$0",
                                      .chunk = kiln__cpu_chunk_astype};

const kiln_prim kiln__prim_astype = {
    .name = "astype",
    .flags = EW,
    .nin = 1,
    .params_size = sizeof(astype_params),
    .infer = infer_astype,
    .eval_cpu = kiln__cpu_eval_astype,
    .noop = noop_astype,
    .vjp = vjp_astype,
    .jvp = jvp_astype,
    .vmap = kiln__autodiff_vmap_elementwise,
    .emit = &emit_astype,
    .rule = KILN_RULE_SAME,
};

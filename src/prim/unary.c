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
 * The math of each op is its scalar function in backend/cpu/scalar.h;
 * derivatives (vjp/jvp) are added by the transforms issue.
 *
 * stop_gradient: identity, evaluated as a view of its input.
 * astype: params {dtype}; converts (float to integer saturates).
 */
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/array.h"
#include "../core/error.h"
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

#define EW (KILN_PRIM_ELEMENTWISE | KILN_PRIM_FUSABLE)
/* In a fused region: the op's scalar function on the operand. */
#define UNARY(op, RULE)                                                   \
    static const kiln_emit emit_##op = {                                  \
        .expr = "kiln_s_" #op "_$t($0)",                                  \
        .chunk = kiln__cpu_chunk_unary,                                   \
    };                                                                    \
    const kiln_prim kiln__prim_##op = {                                   \
        .name = #op,                                                      \
        .flags = EW,                                                      \
        .nin = 1,                                                         \
        .infer = infer_unary,                                             \
        .eval_cpu = kiln__cpu_eval_unary,                                 \
        .emit = &emit_##op,                                               \
        .rule = KILN_RULE_##RULE,                                         \
        .kernels = kiln__cpu_unary_##op,                                  \
    };

UNARY(abs, SAME)
UNARY(negative, NUMERIC)
UNARY(sign, NUMERIC)
UNARY(square, SAME)
UNARY(sqrt, FLOAT)
UNARY(rsqrt, FLOAT)
UNARY(reciprocal, FLOAT)
UNARY(exp, FLOAT)
UNARY(expm1, FLOAT)
UNARY(log, FLOAT)
UNARY(log1p, FLOAT)
UNARY(log2, FLOAT)
UNARY(log10, FLOAT)
UNARY(sin, FLOAT)
UNARY(cos, FLOAT)
UNARY(tan, FLOAT)
UNARY(arcsin, FLOAT)
UNARY(arccos, FLOAT)
UNARY(arctan, FLOAT)
UNARY(sinh, FLOAT)
UNARY(cosh, FLOAT)
UNARY(tanh, FLOAT)
UNARY(arcsinh, FLOAT)
UNARY(arccosh, FLOAT)
UNARY(arctanh, FLOAT)
UNARY(sigmoid, FLOAT)
UNARY(erf, FLOAT)
UNARY(erfinv, FLOAT)
UNARY(floor, NUMERIC)
UNARY(ceil, NUMERIC)
UNARY(round, NUMERIC)
UNARY(logical_not, BOOL)
UNARY(bitwise_invert, INTEGER)
UNARY(isnan, TO_BOOL)
UNARY(isinf, TO_BOOL)
UNARY(isfinite, TO_BOOL)
UNARY(isposinf, TO_BOOL)
UNARY(isneginf, TO_BOOL)

/* stop_gradient: y = x; no gradient flows through it. */
static kiln_status eval_identity_view(const kiln_node *n,
                                      kiln_array *const *in,
                                      kiln_array *const *out)
{
    (void)n;
    kiln__array_set_view(out[0], in[0], in[0]->offset, in[0]->strides);
    return KILN_OK;
}

static const kiln_emit emit_identity = {.expr = "$0",
                                        .chunk = kiln__cpu_chunk_copy};

const kiln_prim kiln__prim_stop_gradient = {
    .name = "stop_gradient",
    .flags = KILN_PRIM_ELEMENTWISE | KILN_PRIM_VIEW,
    .nin = 1,
    .infer = infer_unary,
    .eval_cpu = eval_identity_view,
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

/* In a fused region: the saturating conversion of scalar.h, from the
 * operand's compute type to the output's. */
static const kiln_emit emit_astype = {.expr = "kiln_cvt_$o($0)",
                                      .chunk = kiln__cpu_chunk_astype};

const kiln_prim kiln__prim_astype = {
    .name = "astype",
    .flags = EW,
    .nin = 1,
    .params_size = sizeof(astype_params),
    .infer = infer_astype,
    .eval_cpu = kiln__cpu_eval_astype,
    .noop = noop_astype,
    .emit = &emit_astype,
    .rule = KILN_RULE_SAME,
};

/*
 * binary.c - two-input elementwise primitives and where.
 *
 * Shape rule: numpy broadcasting of the inputs. The ops layer promotes both
 * inputs to one dtype (weak scalars deferring, as in MLX) and applies the
 * dtype rule below before the node is made:
 *   SAME     add subtract multiply floor_divide remainder power maximum
 *            minimum  (bool: add = or, multiply = and)
 *   FLOAT    divide arctan2 logaddexp (integers compute in float32)
 *   TO_BOOL  equal not_equal less less_equal greater greater_equal
 *   BOOL     logical_and logical_or (inputs cast to bool)
 *   INTEGER  bitwise_and bitwise_or bitwise_xor left_shift right_shift
 * Integer semantics follow Python: floor_divide rounds toward -inf,
 * remainder takes the divisor's sign; dividing by zero gives 0 rather than
 * trapping. maximum/minimum propagate NaN.
 *
 * where(cond, a, b): cond bool, a and b one dtype, all three broadcast.
 */
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "prim.h"

static kiln_status infer_broadcast(const kiln_prim *p, const kiln_meta *in,
                                   int nin, kiln_meta *out)
{
    out->ndim = in[0].ndim;
    for (int i = 0; i < in[0].ndim; i++) {
        out->shape[i] = in[0].shape[i];
    }
    for (int i = 1; i < nin; i++) {
        int nd;
        int64_t shape[KILN_MAX_NDIM];
        if (kiln__shape_broadcast(out->shape, out->ndim, in[i].shape,
                                  in[i].ndim, shape, &nd, p->name)) {
            return kiln_errcode();
        }
        out->ndim = nd;
        for (int j = 0; j < nd; j++) {
            out->shape[j] = shape[j];
        }
    }
    return KILN_OK;
}

static kiln_status infer_binary(const kiln_prim *p, const void *params,
                                const kiln_meta *in, int nin, kiln_meta *out,
                                int *nout)
{
    const kiln_binary_kernel *table = p->kernels;
    (void)params;
    if (in[0].dtype != in[1].dtype) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] inputs must share a dtype (%s, %s)", p->name,
                         kiln_dtype_name(in[0].dtype),
                         kiln_dtype_name(in[1].dtype));
    }
    if (!table[in[0].dtype]) {
        return kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype %s",
                         p->name, kiln_dtype_name(in[0].dtype));
    }
    if (infer_broadcast(p, in, nin, out) != KILN_OK) {
        return kiln_errcode();
    }
    out->dtype = (p->rule == KILN_RULE_TO_BOOL || p->rule == KILN_RULE_BOOL)
                     ? KILN_DTYPE_BOOL
                     : in[0].dtype;
    *nout = 1;
    return KILN_OK;
}

#define EW (KILN_PRIM_ELEMENTWISE | KILN_PRIM_FUSABLE)
/* In a fused region: the op's scalar function on the two operands. */
#define BINARY(op, RULE)                                                  \
    static const kiln_emit emit_##op = {                                  \
        .expr = "kiln_s_" #op "_$t($0, $1)",                              \
        .chunk = kiln__cpu_chunk_binary,                                  \
    };                                                                    \
    const kiln_prim kiln__prim_##op = {                                   \
        .name = #op,                                                      \
        .flags = EW,                                                      \
        .nin = 2,                                                         \
        .infer = infer_binary,                                            \
        .eval_cpu = kiln__cpu_eval_binary,                                \
        .emit = &emit_##op,                                               \
        .rule = KILN_RULE_##RULE,                                         \
        .kernels = kiln__cpu_binary_##op,                                 \
    };

BINARY(add, SAME)
BINARY(subtract, SAME)
BINARY(multiply, SAME)
BINARY(divide, FLOAT)
BINARY(floor_divide, SAME)
BINARY(remainder, SAME)
BINARY(power, SAME)
BINARY(maximum, SAME)
BINARY(minimum, SAME)
BINARY(equal, TO_BOOL)
BINARY(not_equal, TO_BOOL)
BINARY(less, TO_BOOL)
BINARY(less_equal, TO_BOOL)
BINARY(greater, TO_BOOL)
BINARY(greater_equal, TO_BOOL)
BINARY(logical_and, BOOL)
BINARY(logical_or, BOOL)
BINARY(bitwise_and, INTEGER)
BINARY(bitwise_or, INTEGER)
BINARY(bitwise_xor, INTEGER)
BINARY(left_shift, INTEGER)
BINARY(right_shift, INTEGER)
BINARY(arctan2, FLOAT)
BINARY(logaddexp, FLOAT)

static kiln_status infer_where(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    (void)params;
    if (in[0].dtype != KILN_DTYPE_BOOL || in[1].dtype != in[2].dtype) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] needs a bool condition and values of one "
                         "dtype", p->name);
    }
    if (infer_broadcast(p, in, nin, out) != KILN_OK) {
        return kiln_errcode();
    }
    out->dtype = in[1].dtype;
    *nout = 1;
    return KILN_OK;
}

/* In a fused region: a select, which vectorises as a blend. */
static const kiln_emit emit_where = {.expr = "($0 ? $1 : $2)",
                                     .chunk = kiln__cpu_chunk_where};

const kiln_prim kiln__prim_where = {
    .name = "where",
    .flags = EW,
    .nin = 3,
    .infer = infer_where,
    .eval_cpu = kiln__cpu_eval_where,
    .emit = &emit_where,
    .rule = KILN_RULE_SAME,
};

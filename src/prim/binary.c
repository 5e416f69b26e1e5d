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
 *
 * Transform rules (contract in prim.h): each differentiable op has two
 * partial-derivative expressions, g * df/da and g * df/db, over a, b, the
 * primal output y and g. vjp applies them to the cotangent (output shape)
 * and sums each result back to its input's shape (the inputs were
 * broadcast inside the primitive: kiln__autodiff_unbroadcast); jvp applies
 * them to the tangents (input shapes, broadcasting naturally), adds the
 * two and broadcasts like the output (kiln__autodiff_broadcast_like),
 * integer inputs included (as in MLX); comparisons, logical, bitwise ops
 * and floor_divide have zero derivatives, as in MLX. maximum routes the
 * gradient to a where a > b, else (ties included) to b; minimum to a where
 * a < b, else to b (MLX). power: df/db = log(a) * y, taken as 0 where
 * y == 0 (MLX). where: the condition gets none. vmap is the one
 * elementwise rule of autodiff.c.
 */
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "autodiff.h"
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
/* g where mask holds, else 0 (no NaN from 0 * inf, unlike a product). */
static inline kiln_array *mask(kiln_array *m, kiln_array *g)
{
    return kiln_where(m, g, c(0));
}

/* g * df/d(input k), given a, b, y = f(a, b) and g. */
typedef kiln_array *(*deriv_fn)(kiln_array *a, kiln_array *b, kiln_array *y,
                                kiln_array *g);

/* r cast to dt (the rule's results keep the inputs' dtype). */
static kiln_array *as(kiln_array *r, kiln_dtype dt)
{
    return r && kiln_array_dtype(r) != dt ? kiln_astype(r, dt) : r;
}

/* The rules of a binary op from d[0] = g * df/da and d[1] = g * df/db. */
static kiln_status vjp_deriv(const deriv_fn *d, int nin,
                             kiln_array *const *in, kiln_array *const *out,
                             kiln_array *const *cot_out, const bool *need,
                             kiln_array **cot_in)
{
    kiln_array *a = in[0], *b = in[1];
    for (int i = 0; i < nin; i++) {
        cot_in[i] = NULL;
    }
    for (int i = 0; i < nin; i++) {
        if (!need[i] || !cot_out[0]) {
            continue;
        }
        kiln_array *r = d[i](a, b, out[0], cot_out[0]);
        r = kiln__autodiff_unbroadcast(r, in[i]);
        cot_in[i] = as(r, kiln_array_dtype(in[i]));
        if (!cot_in[i]) {
            return kiln__autodiff_fail();
        }
    }
    return KILN_OK;
}

static kiln_status jvp_deriv(const deriv_fn *d, int nin,
                             kiln_array *const *in, kiln_array *const *out,
                             kiln_array *const *tan_in, kiln_array **tan_out)
{
    kiln_array *a = in[0], *b = in[1];
    kiln_array *t = NULL;
    tan_out[0] = NULL;
    for (int i = 0; i < nin; i++) {
        if (!tan_in[i]) {
            continue;
        }
        kiln_array *r = d[i](a, b, out[0], tan_in[i]);
        t = t ? add(t, r) : r;
        if (!t) {
            return kiln__autodiff_fail();
        }
    }
    if (!t) {
        return KILN_OK;
    }
    t = kiln__autodiff_broadcast_like(t, out[0]);
    tan_out[0] = as(t, kiln_array_dtype(out[0]));
    return tan_out[0] ? KILN_OK : kiln__autodiff_fail();
}

#define EW (KILN_PRIM_ELEMENTWISE | KILN_PRIM_FUSABLE)
/* A descriptor with the given vjp/jvp. In a fused region: the op's scalar
 * function on the two operands, and VEXPR its vector form or NULL. */
#define BINARY_PRIM(op, RULE, COST, VJP, JVP, VEXPR)                      \
    static const kiln_emit emit_##op = {                                  \
        .expr = "kiln_s_" #op "_$t($0, $1)",                              \
        .vexpr = VEXPR,                                                   \
        .chunk = kiln__cpu_chunk_binary,                                  \
        .cost = COST,                                                     \
    };                                                                    \
    const kiln_prim kiln__prim_##op = {                                   \
        .name = #op,                                                      \
        .flags = EW,                                                      \
        .nin = 2,                                                         \
        .infer = infer_binary,                                            \
        .eval_cpu = kiln__cpu_eval_binary,                                \
        .vjp = VJP,                                                       \
        .jvp = JVP,                                                       \
        .vmap = kiln__autodiff_vmap_elementwise,                          \
        .emit = &emit_##op,                                               \
        .rule = KILN_RULE_##RULE,                                         \
        .kernels = kiln__cpu_binary_##op,                                 \
    };

/* A differentiable op: DA = g * df/da and DB = g * df/db over a, b, y, g. */
#define BINARY_X(op, RULE, COST, DA, DB, VEXPR)                           \
    static kiln_array *da_##op(kiln_array *a, kiln_array *b,              \
                               kiln_array *y, kiln_array *g)              \
    {                                                                     \
        (void)a, (void)b, (void)y;                                        \
        return DA;                                                        \
    }                                                                     \
    static kiln_array *db_##op(kiln_array *a, kiln_array *b,              \
                               kiln_array *y, kiln_array *g)              \
    {                                                                     \
        (void)a, (void)b, (void)y;                                        \
        return DB;                                                        \
    }                                                                     \
    static const deriv_fn deriv_##op[2] = {da_##op, db_##op};             \
    static kiln_status vjp_##op(const kiln_prim *p, const void *params,   \
                                kiln_array *const *in, int nin,           \
                                kiln_array *const *out, int nout,         \
                                kiln_array *const *cot_out,               \
                                const bool *need, kiln_array **cot_in)    \
    {                                                                     \
        (void)p, (void)params, (void)nout;                                \
        return vjp_deriv(deriv_##op, nin, in, out, cot_out, need,         \
                         cot_in);                                         \
    }                                                                     \
    static kiln_status jvp_##op(const kiln_prim *p, const void *params,   \
                                kiln_array *const *in, int nin,           \
                                kiln_array *const *out, int nout,         \
                                kiln_array *const *tan_in,                \
                                kiln_array **tan_out)                     \
    {                                                                     \
        (void)p, (void)params, (void)nout;                                \
        return jvp_deriv(deriv_##op, nin, in, out, tan_in, tan_out);      \
    }                                                                     \
    BINARY_PRIM(op, RULE, COST, vjp_##op, jvp_##op, VEXPR)
#define BINARY(op, RULE, COST, DA, DB) BINARY_X(op, RULE, COST, DA, DB, NULL)
/* ... with the vector form of vecf.h */
#define BINARY_V(op, RULE, COST, DA, DB)                                  \
    BINARY_X(op, RULE, COST, DA, DB, "kiln_v_" #op "_$t($0, $1)")

/* Piecewise constant, integer or bool valued: zero derivative. */
#define BINARY_FLAT(op, RULE)                                             \
    BINARY_PRIM(op, RULE, 1, kiln__autodiff_vjp_zero,                     \
                kiln__autodiff_jvp_zero, NULL)

BINARY_V(add, SAME, 1, g, g)
BINARY_V(subtract, SAME, 1, g, neg(g))
BINARY_V(multiply, SAME, 1, mul(g, b), mul(g, a))
BINARY_V(divide, FLOAT, 3, dv(g, b), neg(mul(g, dv(y, b))))
BINARY_FLAT(floor_divide, SAME)
BINARY(remainder, SAME, 4, g, neg(mul(g, kiln_floor(dv(a, b)))))
BINARY(power, SAME, 20, mul(g, mul(b, kiln_power(a, sub(b, c(1))))),
       mul(g, mask(kiln_not_equal(y, c(0)), mul(kiln_log(a), y))))
BINARY_V(maximum, SAME, 1, mask(kiln_greater(a, b), g),
       mask(kiln_less_equal(a, b), g))
BINARY_V(minimum, SAME, 1, mask(kiln_less(a, b), g),
       mask(kiln_greater_equal(a, b), g))
BINARY_FLAT(equal, TO_BOOL)
BINARY_FLAT(not_equal, TO_BOOL)
BINARY_FLAT(less, TO_BOOL)
BINARY_FLAT(less_equal, TO_BOOL)
BINARY_FLAT(greater, TO_BOOL)
BINARY_FLAT(greater_equal, TO_BOOL)
BINARY_FLAT(logical_and, BOOL)
BINARY_FLAT(logical_or, BOOL)
BINARY_FLAT(bitwise_and, INTEGER)
BINARY_FLAT(bitwise_or, INTEGER)
BINARY_FLAT(bitwise_xor, INTEGER)
BINARY_FLAT(left_shift, INTEGER)
BINARY_FLAT(right_shift, INTEGER)
BINARY(arctan2, FLOAT, 14, mul(g, dv(b, add(sq(a), sq(b)))),
       neg(mul(g, dv(a, add(sq(a), sq(b))))))
BINARY(logaddexp, FLOAT, 16, mul(g, kiln_sigmoid(sub(a, b))),
       mul(g, kiln_sigmoid(sub(b, a))))

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

/* where(cond, a, b): a's term is where(cond, g, 0), b's where(cond, 0,
 * g); the condition gets none. */
static kiln_status vjp_where(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin,
                             kiln_array *const *out, int nout,
                             kiln_array *const *cot_out, const bool *need,
                             kiln_array **cot_in)
{
    (void)p;
    (void)params;
    (void)out;
    (void)nout;
    for (int i = 0; i < nin; i++) {
        cot_in[i] = NULL;
    }
    for (int i = 1; i < nin; i++) {
        if (!need[i] || !cot_out[0]) {
            continue;
        }
        kiln_array *r = i == 1 ? kiln_where(in[0], cot_out[0], c(0))
                               : kiln_where(in[0], c(0), cot_out[0]);
        r = kiln__autodiff_unbroadcast(r, in[i]);
        cot_in[i] = as(r, kiln_array_dtype(in[i]));
        if (!cot_in[i]) {
            return kiln__autodiff_fail();
        }
    }
    return KILN_OK;
}

static kiln_status jvp_where(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin,
                             kiln_array *const *out, int nout,
                             kiln_array *const *tan_in, kiln_array **tan_out)
{
    (void)p;
    (void)params;
    (void)nin;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[1] && !tan_in[2]) {
        return KILN_OK;
    }
    kiln_array *t = kiln_where(in[0], tan_in[1] ? tan_in[1] : c(0),
                               tan_in[2] ? tan_in[2] : c(0));
    t = kiln__autodiff_broadcast_like(t, out[0]);
    tan_out[0] = as(t, kiln_array_dtype(out[0]));
    return tan_out[0] ? KILN_OK : kiln__autodiff_fail();
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
    .vjp = vjp_where,
    .jvp = jvp_where,
    .vmap = kiln__autodiff_vmap_elementwise,
    .emit = &emit_where,
    .rule = KILN_RULE_SAME,
};

/*
 * unary_cpu.c - eager loops and tables for one-input elementwise ops and
 * astype (whose row kernels other kernels reuse to widen and narrow).
 *
 * Loops are stamped by macros from the scalar meanings in scalar.h. One
 * expansion, for reference: UNARY_LOOP(exp_f32, float, float,
 * kiln_s_exp_f32(v)) defines
 *     static void exp_f32(int64_t n, const char *x, int64_t sx,
 *                         char *y, int64_t sy)
 * with a contiguous loop `yp[i] = kiln_s_exp_f32(xp[i])` (vectorised), a
 * broadcast-input fill, and a strided loop. The contiguous loop is its own
 * function, flattened (every call in it inlined): this file stamps so many
 * loops from inline functions that gcc's unit growth limit otherwise
 * leaves some vmath functions out of line in it, which keeps that loop
 * scalar (which ones depends on the sizes of all of them).
 * float16/bfloat16 load through float32 and store back with
 * round-to-nearest-even.
 */
#include <string.h>

#include "../../core/dtype.h"
#include "../../core/error.h"
#include "copy_cpu.h"
#include "elementwise_cpu.h"
#include "iter.h"
#include "scalar.h"

#if defined(__GNUC__)
#define KILN__FLATTEN __attribute__((flatten))
#else
#define KILN__FLATTEN
#endif

#define UNARY_LOOP(name, TI, TO, EXPR)                                    \
    static KILN__FLATTEN void name##_c(int64_t n, const TI *xp, TO *yp)   \
    {                                                                     \
        for (int64_t i = 0; i < n; i++) {                                 \
            TI v = xp[i];                                                 \
            yp[i] = (EXPR);                                               \
        }                                                                 \
    }                                                                     \
    static void name(int64_t n, const char *x, int64_t sx, char *y,       \
                     int64_t sy)                                          \
    {                                                                     \
        if (sx == (int64_t)sizeof(TI) && sy == (int64_t)sizeof(TO)) {     \
            name##_c(n, (const TI *)(const void *)x, (TO *)(void *)y);    \
        } else if (sx == 0 && sy == (int64_t)sizeof(TO)) {                \
            TI v = *(const TI *)(const void *)x;                          \
            TO r = (EXPR);                                                \
            TO *yp = (TO *)(void *)y;                                     \
            for (int64_t i = 0; i < n; i++) {                             \
                yp[i] = r;                                                \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                TI v = *(const TI *)(const void *)(x + i * sx);           \
                *(TO *)(void *)(y + i * sy) = (EXPR);                     \
            }                                                             \
        }                                                                 \
    }

/* The storage types by dtype tag, and how float16/bfloat16 go through
 * float32. */
#define F16_IN(v) kiln_f16_to_f32(v)
#define F16_OUT(r) kiln_f32_to_f16(r)
#define BF16_IN(v) kiln_bf16_to_f32(v)
#define BF16_OUT(r) kiln_f32_to_bf16(r)

/* same-type loops */
#define U_T(op, t, T) UNARY_LOOP(op##_##t, T, T, kiln_s_##op##_##t(v))
#define U_F16(op)                                                         \
    UNARY_LOOP(op##_f16, kiln_f16, kiln_f16,                              \
               F16_OUT(kiln_s_##op##_f32(F16_IN(v))))                     \
    UNARY_LOOP(op##_bf16, kiln_bf16, kiln_bf16,                           \
               BF16_OUT(kiln_s_##op##_f32(BF16_IN(v))))
/* predicate loops (bool out) */
#define P_T(op, t, T) UNARY_LOOP(op##_##t, T, kiln_b, kiln_s_##op##_##t(v))
#define P_F16(op)                                                         \
    UNARY_LOOP(op##_f16, kiln_f16, kiln_b, kiln_s_##op##_f32(F16_IN(v)))  \
    UNARY_LOOP(op##_bf16, kiln_bf16, kiln_b, kiln_s_##op##_f32(BF16_IN(v)))

#define INTS(M, op)                                                       \
    M(op, u8, uint8_t) M(op, u16, uint16_t) M(op, u32, uint32_t)          \
    M(op, u64, uint64_t) M(op, i8, int8_t) M(op, i16, int16_t)            \
    M(op, i32, int32_t) M(op, i64, int64_t)
#define FLOATS(M, op) M(op, f32, float) M(op, f64, double)

#define E_INTS(op)                                                        \
    [KILN_DTYPE_UINT8] = op##_u8, [KILN_DTYPE_UINT16] = op##_u16,         \
    [KILN_DTYPE_UINT32] = op##_u32, [KILN_DTYPE_UINT64] = op##_u64,       \
    [KILN_DTYPE_INT8] = op##_i8, [KILN_DTYPE_INT16] = op##_i16,           \
    [KILN_DTYPE_INT32] = op##_i32, [KILN_DTYPE_INT64] = op##_i64,
#define E_FLOATS(op)                                                      \
    [KILN_DTYPE_FLOAT16] = op##_f16, [KILN_DTYPE_BFLOAT16] = op##_bf16,   \
    [KILN_DTYPE_FLOAT32] = op##_f32, [KILN_DTYPE_FLOAT64] = op##_f64,
#define E_BOOL(op) [KILN_DTYPE_BOOL] = op##_b,

#define TABLE(op, ...)                                                    \
    const kiln_unary_kernel kiln__cpu_unary_##op[KILN_DTYPE_COUNT] = {    \
        __VA_ARGS__};

/* float-only ops (the ops layer casts integers to float32 first) */
#define FLOAT_OP(op) FLOATS(U_T, op) U_F16(op) TABLE(op, E_FLOATS(op))
FLOAT_OP(sqrt)
FLOAT_OP(rsqrt)
FLOAT_OP(reciprocal)
FLOAT_OP(exp)
FLOAT_OP(expm1)
FLOAT_OP(log)
FLOAT_OP(log1p)
FLOAT_OP(log2)
FLOAT_OP(log10)
FLOAT_OP(sin)
FLOAT_OP(cos)
FLOAT_OP(tan)
FLOAT_OP(arcsin)
FLOAT_OP(arccos)
FLOAT_OP(arctan)
FLOAT_OP(sinh)
FLOAT_OP(cosh)
FLOAT_OP(tanh)
FLOAT_OP(arcsinh)
FLOAT_OP(arccosh)
FLOAT_OP(arctanh)
FLOAT_OP(sigmoid)
FLOAT_OP(erf)
FLOAT_OP(erfinv)

/* numeric ops over integers and floats */
#define NUM_OP(op)                                                        \
    INTS(U_T, op) FLOATS(U_T, op) U_F16(op)                               \
    TABLE(op, E_INTS(op) E_FLOATS(op))
#define NUM_BOOL_OP(op)                                                   \
    INTS(U_T, op) FLOATS(U_T, op) U_F16(op) U_T(op, b, kiln_b)            \
    TABLE(op, E_INTS(op) E_FLOATS(op) E_BOOL(op))
NUM_OP(negative)
NUM_OP(sign)
NUM_OP(floor)
NUM_OP(ceil)
NUM_OP(round)
NUM_BOOL_OP(abs)
NUM_BOOL_OP(square)

/* integer and bool only */
INTS(U_T, bitwise_invert)
U_T(bitwise_invert, b, kiln_b)
TABLE(bitwise_invert, E_INTS(bitwise_invert) E_BOOL(bitwise_invert))
U_T(logical_not, b, kiln_b)
TABLE(logical_not, E_BOOL(logical_not))

/* predicates: every dtype in, bool out */
#define PRED_OP(op)                                                       \
    INTS(P_T, op) FLOATS(P_T, op) P_F16(op) P_T(op, b, kiln_b)            \
    TABLE(op, E_INTS(op) E_FLOATS(op) E_BOOL(op))
PRED_OP(isnan)
PRED_OP(isinf)
PRED_OP(isfinite)
PRED_OP(isposinf)
PRED_OP(isneginf)

/* stop_gradient is a view (prim/unary.c); its table stays empty */
TABLE(stop_gradient, 0)

/* ------------------------------------------------------------------ */
/* astype: every (src, dst) pair                                      */
/* ------------------------------------------------------------------ */

/* load a stored value as its compute value */
#define LD_b(v) (v)
#define LD_u8(v) (v)
#define LD_u16(v) (v)
#define LD_u32(v) (v)
#define LD_u64(v) (v)
#define LD_i8(v) (v)
#define LD_i16(v) (v)
#define LD_i32(v) (v)
#define LD_i64(v) (v)
#define LD_f16(v) F16_IN(v)
#define LD_bf16(v) BF16_IN(v)
#define LD_f32(v) (v)
#define LD_f64(v) (v)
/* store any compute value as dst */
#define ST_b(x) kiln_cvt_b(x)
#define ST_u8(x) kiln_cvt_u8(x)
#define ST_u16(x) kiln_cvt_u16(x)
#define ST_u32(x) kiln_cvt_u32(x)
#define ST_u64(x) kiln_cvt_u64(x)
#define ST_i8(x) kiln_cvt_i8(x)
#define ST_i16(x) kiln_cvt_i16(x)
#define ST_i32(x) kiln_cvt_i32(x)
#define ST_i64(x) kiln_cvt_i64(x)
/* to float16/bfloat16: float32 rounds once; float64 and integers go
 * through kiln_f64_to_* so they too round once (a cast to float first
 * could land on a tie); integers beyond 2^53 still round twice */
#define ST_f16(x)                                                         \
    _Generic((x), float: F16_OUT((float)(x)),                             \
             default: kiln_f64_to_f16((double)(x)))
#define ST_bf16(x)                                                        \
    _Generic((x), float: BF16_OUT((float)(x)),                            \
             default: kiln_f64_to_bf16((double)(x)))
#define ST_f32(x) kiln_cvt_f32(x)
#define ST_f64(x) kiln_cvt_f64(x)

/* X(DT, t, T): storage type per dtype */
#define ALL_TYPES(X, ...)                                                 \
    X(BOOL, b, kiln_b, __VA_ARGS__)                                       \
    X(UINT8, u8, uint8_t, __VA_ARGS__)                                    \
    X(UINT16, u16, uint16_t, __VA_ARGS__)                                 \
    X(UINT32, u32, uint32_t, __VA_ARGS__)                                 \
    X(UINT64, u64, uint64_t, __VA_ARGS__)                                 \
    X(INT8, i8, int8_t, __VA_ARGS__)                                      \
    X(INT16, i16, int16_t, __VA_ARGS__)                                   \
    X(INT32, i32, int32_t, __VA_ARGS__)                                   \
    X(INT64, i64, int64_t, __VA_ARGS__)                                   \
    X(FLOAT16, f16, kiln_f16, __VA_ARGS__)                                \
    X(BFLOAT16, bf16, kiln_bf16, __VA_ARGS__)                             \
    X(FLOAT32, f32, float, __VA_ARGS__)                                   \
    X(FLOAT64, f64, double, __VA_ARGS__)

/* the same list again: a macro cannot expand itself, so the pairwise
 * tables below nest this copy inside ALL_TYPES */
#define ALL_TYPES_INNER(X, ...)                                                 \
    X(BOOL, b, kiln_b, __VA_ARGS__)                                       \
    X(UINT8, u8, uint8_t, __VA_ARGS__)                                    \
    X(UINT16, u16, uint16_t, __VA_ARGS__)                                 \
    X(UINT32, u32, uint32_t, __VA_ARGS__)                                 \
    X(UINT64, u64, uint64_t, __VA_ARGS__)                                 \
    X(INT8, i8, int8_t, __VA_ARGS__)                                      \
    X(INT16, i16, int16_t, __VA_ARGS__)                                   \
    X(INT32, i32, int32_t, __VA_ARGS__)                                   \
    X(INT64, i64, int64_t, __VA_ARGS__)                                   \
    X(FLOAT16, f16, kiln_f16, __VA_ARGS__)                                \
    X(BFLOAT16, bf16, kiln_bf16, __VA_ARGS__)                             \
    X(FLOAT32, f32, float, __VA_ARGS__)                                   \
    X(FLOAT64, f64, double, __VA_ARGS__)

#define CVT_LOOP(DD, d, TD, SD, s, TS)                                    \
    UNARY_LOOP(cvt_##s##_##d, TS, TD, ST_##d(LD_##s(v)))
#define CVT_FROM(SD, s, TS, unused) ALL_TYPES_INNER(CVT_LOOP, SD, s, TS)
ALL_TYPES(CVT_FROM, 0)

#define CVT_ENTRY(DD, d, TD, SD, s, TS) [KILN_DTYPE_##DD] = cvt_##s##_##d,
#define CVT_ROW(SD, s, TS, unused)                                        \
    [KILN_DTYPE_##SD] = {ALL_TYPES_INNER(CVT_ENTRY, SD, s, TS)},
const kiln_unary_kernel kiln__cpu_astype[KILN_DTYPE_COUNT]
                                        [KILN_DTYPE_COUNT] = {
                                            ALL_TYPES(CVT_ROW, 0)};

/* ------------------------------------------------------------------ */
/* eval                                                               */
/* ------------------------------------------------------------------ */

static void unary_row(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    kiln_unary_kernel k = *(kiln_unary_kernel *)ctx;
    k(n, p[1], s[1], p[0], s[0]);
}

/* Runs kernel k from in to a fresh (or donated) contiguous out; p's cost
 * sets the grain. */
static kiln_status run_unary(kiln_unary_kernel k, kiln_array *in,
                             kiln_array *out, const kiln_prim *p)
{
    const char *fn = p->name;
    int64_t st_out[KILN_MAX_NDIM], st_in[KILN_MAX_NDIM];
    if (!kiln__array_donate(out, in) && kiln__array_alloc(out, fn)) {
        return kiln_errcode();
    }
    kiln__array_byte_strides(out, st_out);
    kiln__array_byte_strides(in, st_in);
    char *base[2] = {kiln__array_ptr(out), kiln__array_ptr(in)};
    const int64_t *strides[2] = {st_out, st_in};
    kiln_iter it;
    kiln__iter_init(&it, out->ndim, out->shape, 2, base, strides);
    kiln__iter_run(&it,
                   kiln__iter_grain_for_cost(KILN_GRAIN_ELEMENTWISE,
                                        p->emit ? p->emit->cost : 1),
                   unary_row, &k);
    return KILN_OK;
}

kiln_status kiln__cpu_eval_unary(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out)
{
    const kiln_unary_kernel *table = n->prim->kernels;
    kiln_unary_kernel k = table[in[0]->dtype];
    if (!k) {
        return kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype %s",
                         n->prim->name, kiln_dtype_name(in[0]->dtype));
    }
    return run_unary(k, in[0], out[0], n->prim);
}

kiln_status kiln__cpu_eval_astype(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    kiln_unary_kernel k = kiln__cpu_astype[in[0]->dtype][out[0]->dtype];
    return run_unary(k, in[0], out[0], n->prim);
}

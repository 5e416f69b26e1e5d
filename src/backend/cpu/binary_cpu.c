/*
 * binary_cpu.c - eager loops and tables for two-input elementwise ops and
 * where.
 *
 * One expansion, for reference: BINARY_LOOP(add_f32, float, float,
 * kiln_s_add_f32(a, b)) defines add_f32(n, a, sa, b, sb, y, sy) with
 * contiguous/contiguous, scalar/contiguous and contiguous/scalar loops the
 * compiler vectorises, and a generic strided loop. Inputs were promoted to
 * one dtype by the ops layer; broadcasting arrives as zero strides.
 */
#include <string.h>

#include "../../core/dtype.h"
#include "../../core/error.h"
#include "../../core/shape.h"
#include "elementwise_cpu.h"
#include "iter.h"
#include "scalar.h"

#define BINARY_LOOP(name, TI, TO, EXPR)                                   \
    static void name(int64_t n, const char *pa, int64_t sa,               \
                     const char *pb, int64_t sb, char *py, int64_t sy)    \
    {                                                                     \
        const int64_t zi = (int64_t)sizeof(TI);                           \
        const TI *xa = (const TI *)(const void *)pa;                      \
        const TI *xb = (const TI *)(const void *)pb;                      \
        TO *yp = (TO *)(void *)py;                                        \
        if (sy == (int64_t)sizeof(TO) && sa == zi && sb == zi) {          \
            for (int64_t i = 0; i < n; i++) {                             \
                TI a = xa[i], b = xb[i];                                  \
                yp[i] = (EXPR);                                           \
            }                                                             \
        } else if (sy == (int64_t)sizeof(TO) && sa == 0 && sb == zi) {    \
            TI a = xa[0];                                                 \
            for (int64_t i = 0; i < n; i++) {                             \
                TI b = xb[i];                                             \
                yp[i] = (EXPR);                                           \
            }                                                             \
        } else if (sy == (int64_t)sizeof(TO) && sa == zi && sb == 0) {    \
            TI b = xb[0];                                                 \
            for (int64_t i = 0; i < n; i++) {                             \
                TI a = xa[i];                                             \
                yp[i] = (EXPR);                                           \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                TI a = *(const TI *)(const void *)(pa + i * sa);          \
                TI b = *(const TI *)(const void *)(pb + i * sb);          \
                *(TO *)(void *)(py + i * sy) = (EXPR);                    \
            }                                                             \
        }                                                                 \
    }

#define F16_IN(v) kiln_f16_to_f32(v)
#define F16_OUT(r) kiln_f32_to_f16(r)
#define BF16_IN(v) kiln_bf16_to_f32(v)
#define BF16_OUT(r) kiln_f32_to_bf16(r)

/* same type in and out */
#define B_T(op, t, T) BINARY_LOOP(op##_##t, T, T, kiln_s_##op##_##t(a, b))
#define B_F16(op)                                                         \
    BINARY_LOOP(op##_f16, kiln_f16, kiln_f16,                             \
                F16_OUT(kiln_s_##op##_f32(F16_IN(a), F16_IN(b))))         \
    BINARY_LOOP(op##_bf16, kiln_bf16, kiln_bf16,                          \
                BF16_OUT(kiln_s_##op##_f32(BF16_IN(a), BF16_IN(b))))
/* comparisons: bool out */
#define C_T(op, t, T)                                                     \
    BINARY_LOOP(op##_##t, T, kiln_b, kiln_s_##op##_##t(a, b))
#define C_F16(op)                                                         \
    BINARY_LOOP(op##_f16, kiln_f16, kiln_b,                               \
                kiln_s_##op##_f32(F16_IN(a), F16_IN(b)))                  \
    BINARY_LOOP(op##_bf16, kiln_bf16, kiln_b,                             \
                kiln_s_##op##_f32(BF16_IN(a), BF16_IN(b)))

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
    const kiln_binary_kernel kiln__cpu_binary_##op[KILN_DTYPE_COUNT] = {  \
        __VA_ARGS__};

#define NUM_OP(op)                                                        \
    INTS(B_T, op) FLOATS(B_T, op) B_F16(op)                               \
    TABLE(op, E_INTS(op) E_FLOATS(op))
#define NUM_BOOL_OP(op)                                                   \
    INTS(B_T, op) FLOATS(B_T, op) B_F16(op) B_T(op, b, kiln_b)            \
    TABLE(op, E_INTS(op) E_FLOATS(op) E_BOOL(op))
#define FLOAT_OP(op) FLOATS(B_T, op) B_F16(op) TABLE(op, E_FLOATS(op))
#define INT_OP(op) INTS(B_T, op) TABLE(op, E_INTS(op))
#define INT_BOOL_OP(op)                                                   \
    INTS(B_T, op) B_T(op, b, kiln_b) TABLE(op, E_INTS(op) E_BOOL(op))
#define CMP_OP(op)                                                        \
    INTS(C_T, op) FLOATS(C_T, op) C_F16(op) C_T(op, b, kiln_b)            \
    TABLE(op, E_INTS(op) E_FLOATS(op) E_BOOL(op))

NUM_BOOL_OP(add)
NUM_OP(subtract)
NUM_BOOL_OP(multiply)
FLOAT_OP(divide)
NUM_OP(floor_divide)
NUM_OP(remainder)
NUM_OP(power)
NUM_BOOL_OP(maximum)
NUM_BOOL_OP(minimum)
CMP_OP(equal)
CMP_OP(not_equal)
CMP_OP(less)
CMP_OP(less_equal)
CMP_OP(greater)
CMP_OP(greater_equal)
B_T(logical_and, b, kiln_b)
TABLE(logical_and, E_BOOL(logical_and))
B_T(logical_or, b, kiln_b)
TABLE(logical_or, E_BOOL(logical_or))
INT_BOOL_OP(bitwise_and)
INT_BOOL_OP(bitwise_or)
INT_BOOL_OP(bitwise_xor)
INT_OP(left_shift)
INT_OP(right_shift)
FLOAT_OP(arctan2)
FLOAT_OP(logaddexp)

/* where(c, a, b): selection moves bits, so one loop per item size */
#define WHERE_LOOP(name, T)                                               \
    static void name(int64_t n, const char *pc, int64_t sc,               \
                     const char *pa, int64_t sa, const char *pb,          \
                     int64_t sb, char *py, int64_t sy)                    \
    {                                                                     \
        const int64_t z = (int64_t)sizeof(T);                             \
        if (sy == z && sc == 1 && sa == z && sb == z) {                   \
            const kiln_b *c = (const kiln_b *)pc;                         \
            const T *a = (const T *)(const void *)pa;                     \
            const T *b = (const T *)(const void *)pb;                     \
            T *y = (T *)(void *)py;                                       \
            for (int64_t i = 0; i < n; i++) {                             \
                y[i] = c[i] ? a[i] : b[i];                                \
            }                                                             \
        } else {                                                          \
            for (int64_t i = 0; i < n; i++) {                             \
                T a = *(const T *)(const void *)(pa + i * sa);            \
                T b = *(const T *)(const void *)(pb + i * sb);            \
                *(T *)(void *)(py + i * sy) =                             \
                    *(const kiln_b *)(pc + i * sc) ? a : b;               \
            }                                                             \
        }                                                                 \
    }
WHERE_LOOP(where_1, uint8_t)
WHERE_LOOP(where_2, uint16_t)
WHERE_LOOP(where_4, uint32_t)
WHERE_LOOP(where_8, uint64_t)
const kiln_ternary_kernel kiln__cpu_where[4] = {where_1, where_2, where_4,
                                                where_8};

/* ------------------------------------------------------------------ */
/* eval                                                               */
/* ------------------------------------------------------------------ */

static void binary_row(void *ctx, char *const *p, const int64_t *s,
                       int64_t n)
{
    kiln_binary_kernel k = *(kiln_binary_kernel *)ctx;
    k(n, p[1], s[1], p[2], s[2], p[0], s[0]);
}

static void where_row(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    kiln_ternary_kernel k = *(kiln_ternary_kernel *)ctx;
    k(n, p[1], s[1], p[2], s[2], p[3], s[3], p[0], s[0]);
}

/* Gives out a buffer, donated by an input of the same shape when
 * possible, and sets up the iterator over (out, in...) with broadcast
 * strides. */
static kiln_status prepare(kiln_array *const *in, int nin, kiln_array *out,
                           kiln_iter *it, const char *fn)
{
    int64_t st[KILN_ITER_MAX_OPS][KILN_MAX_NDIM];
    int64_t raw[KILN_MAX_NDIM];
    char *base[KILN_ITER_MAX_OPS];
    const int64_t *strides[KILN_ITER_MAX_OPS];
    bool donated = false;
    for (int i = 0; i < nin && !donated; i++) {
        donated = kiln__shape_equal(in[i]->shape, in[i]->ndim, out->shape,
                                    out->ndim) &&
                  in[i]->dtype == out->dtype &&
                  kiln__array_donate(out, in[i]);
    }
    if (!donated && kiln__array_alloc(out, fn) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__array_byte_strides(out, st[0]);
    base[0] = kiln__array_ptr(out);
    strides[0] = st[0];
    for (int i = 0; i < nin; i++) {
        kiln__array_byte_strides(in[i], raw);
        kiln__shape_bcast_strides(in[i]->shape, raw, in[i]->ndim, out->ndim,
                                  out->shape, st[i + 1]);
        base[i + 1] = kiln__array_ptr(in[i]);
        strides[i + 1] = st[i + 1];
    }
    kiln__iter_init(it, out->ndim, out->shape, nin + 1, base, strides);
    return KILN_OK;
}

kiln_status kiln__cpu_eval_binary(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    const kiln_binary_kernel *table = n->prim->kernels;
    kiln_binary_kernel k = table[in[0]->dtype];
    kiln_iter it;
    if (!k) {
        return kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype %s",
                         n->prim->name, kiln_dtype_name(in[0]->dtype));
    }
    if (prepare(in, 2, out[0], &it, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__iter_run(&it,
                   kiln__iter_grain_for_cost(KILN_GRAIN_ELEMENTWISE,
                                        n->prim->emit ? n->prim->emit->cost
                                                      : 1),
                   binary_row, &k);
    return KILN_OK;
}

kiln_status kiln__cpu_eval_where(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out)
{
    static const int size_index[9] = {0, 0, 1, 0, 2, 0, 0, 0, 3};
    kiln_ternary_kernel k =
        kiln__cpu_where[size_index[kiln_dtype_size(out[0]->dtype)]];
    kiln_iter it;
    if (prepare(in, 3, out[0], &it, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__iter_run(&it, KILN_GRAIN_ELEMENTWISE, where_row, &k);
    return KILN_OK;
}

/*
 * codegen_value.c - the C text of one value of a region: its register,
 * its store and its fold (the generator's map: codegen.c).
 *
 * Every live value becomes a `const <compute type> v<i>` register (a
 * float16 value rounded in blocks is written to, and read back from, a
 * stack block h<i>: codegen_loop.c):
 * float32 for float16/bfloat16 (loads widen with kiln_f16_to_f32 /
 * kiln_bf16_to_f32, stores narrow back), kiln_b for bool, else the storage
 * type. An OP's text is its emit template with $0..$2 replaced by the
 * argument registers, $t by the compute suffix of its last argument (the
 * operands' dtype; `where`'s condition comes first) and $o by the output's.
 * A float16/bfloat16 OP or REDUCE result is rounded to its storage
 * precision at once, as eager rounds after every op; a half result of
 * non-float32 operands (astype from float64 or an integer) is computed in
 * double ($o = f64) and rounded once by kiln_f64_to_f16/bf16, as eager's
 * astype does.
 *
 * A stored half OP result (sw, plan_half) keeps its unrounded float w<i>
 * for the store (narrowing it gives the same half as narrowing the
 * rounded v<i>), so a value that is only stored is rounded once, not
 * three times. Where an operand is read or written depends on its class
 * and the variant: a uniform one through p[o] once per call, an outer one
 * through its row pointer r<o>, an inner one at the element index the
 * loop passes (x<o>[j] / y<o>[j] in the fast variant, byte offsets in the
 * strided one; a staged float16 operand through its float row or block).
 * These functions only append text; the loops around them are
 * codegen_loop.c's.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/error.h"
#include "../core/half.h"
#include "codegen_impl.h"

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static const char *tsuf(kiln_dtype dt)
{
    return kiln__region_tsuffix(dt);
}

/* storage -> compute and back: a prefix "f(" closed by close_fn, or "" */
static const char *load_fn(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16    ? "kiln_f16_to_f32("
           : dt == KILN_DTYPE_BFLOAT16 ? "kiln_bf16_to_f32("
                                       : "";
}

static const char *store_fn(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16    ? "kiln_f32_to_f16("
           : dt == KILN_DTYPE_BFLOAT16 ? "kiln_f32_to_bf16("
                                       : "";
}

static const char *close_fn(kiln_dtype dt)
{
    return is_half(dt) ? ")" : "";
}

/* The operand index of input `input` (outputs come first). */
static int in_op(const gen *g, int input)
{
    return g->r->noutputs + input;
}

/* ------------------------------------------------------------------ */
/* literals                                                           */
/* ------------------------------------------------------------------ */

/* An exact C literal of float f (suffix "f") or double d (suffix ""). */
static void put_float(kiln_text *t, double d, bool single)
{
    if (isnan(d)) {
        /* payload below the quiet bit; signalling NaNs keep theirs */
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        uint64_t pay = u & 0x0007ffffffffffffull;
        bool quiet = (u >> 51) & 1u;
        if (single) {
            pay >>= 29; /* the float payload */
        }
        kiln__text_printf(t, "(%s__builtin_nan%s%s(\"0x%" PRIx64 "\"))",
                          signbit(d) ? "-" : "", quiet ? "" : "s",
                          single ? "f" : "", pay);
    } else if (isinf(d)) {
        kiln__text_printf(t, "(%s__builtin_inf%s())", d < 0 ? "-" : "",
                          single ? "f" : "");
    } else {
        kiln__text_printf(t, signbit(d) ? "(%a%s)" : "%a%s", d,
                          single ? "f" : "");
    }
}

/* The compute-type literal of a CONST value. */
static void put_const(kiln_text *t, const kiln_rval *v)
{
    const uint8_t *b = v->value;
    union {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        int8_t i8;
        int16_t i16;
        int32_t i32;
        int64_t i64;
        float f;
        double d;
    } x;
    memcpy(&x, b, sizeof x);
    switch (v->dtype) {
    case KILN_DTYPE_BOOL:
        kiln__text_printf(t, "((kiln_b)%d)", x.u8 != 0);
        break;
    case KILN_DTYPE_UINT8:
        kiln__text_printf(t, "((uint8_t)%u)", (unsigned)x.u8);
        break;
    case KILN_DTYPE_UINT16:
        kiln__text_printf(t, "((uint16_t)%u)", (unsigned)x.u16);
        break;
    case KILN_DTYPE_UINT32:
        kiln__text_printf(t, "((uint32_t)%" PRIu32 "u)", x.u32);
        break;
    case KILN_DTYPE_UINT64:
        kiln__text_printf(t, "((uint64_t)%" PRIu64 "ull)", x.u64);
        break;
    case KILN_DTYPE_INT8:
        kiln__text_printf(t, "((int8_t)%d)", (int)x.i8);
        break;
    case KILN_DTYPE_INT16:
        kiln__text_printf(t, "((int16_t)%d)", (int)x.i16);
        break;
    case KILN_DTYPE_INT32:
        kiln__text_printf(t, "((int32_t)%" PRId32 "ll)", x.i32);
        break;
    case KILN_DTYPE_INT64:
        if (x.i64 == INT64_MIN) {
            kiln__text_puts(t, "((int64_t)(-9223372036854775807ll - 1))");
        } else {
            kiln__text_printf(t, "((int64_t)%" PRId64 "ll)", x.i64);
        }
        break;
    case KILN_DTYPE_FLOAT16:
        put_float(t, kiln_f16_to_f32(x.u16), true);
        break;
    case KILN_DTYPE_BFLOAT16:
        put_float(t, kiln_bf16_to_f32(x.u16), true);
        break;
    case KILN_DTYPE_FLOAT32:
        put_float(t, x.f, true);
        break;
    default:
        put_float(t, x.d, false);
        break;
    }
}

/* A reduction's start value in its compute type: the identity saturated
 * into the dtype (bool: clamped to 0/1, so max's -inf is false). */
static void put_identity(kiln_text *t, double id, kiln_dtype dt)
{
    if (dt == KILN_DTYPE_BOOL) {
        kiln__text_printf(t, "((kiln_b)%d)", id > 0);
        return;
    }
    kiln__text_printf(t, "kiln_cvt_%s(", tsuf(dt));
    put_float(t, id, false);
    kiln__text_puts(t, ")");
}

/* The identity of REDUCE value i in its compute type. */
void kiln__codegen_value_put_id(gen *g, int i)
{
    const kiln_rval *v = &g->r->vals[i];
    put_identity(g->t, v->prim->emit->identity, v->dtype);
}

/* ------------------------------------------------------------------ */
/* templates                                                          */
/* ------------------------------------------------------------------ */

/* Appends tmpl with $k -> arg[k], $t -> ts, $o -> os. */
static kiln_status subst(kiln_text *t, const char *tmpl,
                         const char *const *arg, int nargs, const char *ts,
                         const char *os, int vi)
{
    const char *s = tmpl;
    while (*s) {
        const char *d = strchr(s, '$');
        if (!d) {
            kiln__text_puts(t, s);
            break;
        }
        kiln__text_append(t, s, (size_t)(d - s));
        char c = d[1];
        if (c >= '0' && c <= '9' && c - '0' < nargs) {
            kiln__text_puts(t, arg[c - '0']);
        } else if (c == 't') {
            kiln__text_puts(t, ts);
        } else if (c == 'o') {
            kiln__text_puts(t, os);
        } else {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] value %d: bad template \"%s\"", FN, vi,
                             tmpl);
        }
        s = d + 2;
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* values                                                             */
/* ------------------------------------------------------------------ */

/* The load of input value vi at element index text j. */
static void put_load(gen *g, int vi, const char *j)
{
    const kiln_region *r = g->r;
    kiln_dtype dt = r->vals[vi].dtype;
    int o = in_op(g, r->vals[vi].input);
    const char *st = stype(dt);
    if (g->cls[vi] == CLS_INNER && g->fast && g->stage[o]) {
        /* rows: x<o> is the row converted to float (put_kernel);
         * elementwise: converted a block at a time into c<o> */
        kiln__text_printf(g->t, g->reduce ? "x%d[%s]" : "c%d[%s - kb]", o,
                          j);
        return;
    }
    kiln__text_puts(g->t, load_fn(dt));
    if (g->cls[vi] == CLS_UNIFORM) {
        kiln__text_printf(g->t, "*(const %s *)(const void *)p[%d]", st, o);
    } else if (g->cls[vi] == CLS_OUTER) {
        kiln__text_printf(g->t, "*(const %s *)(const void *)r%d", st, o);
    } else if (g->fast) {
        kiln__text_printf(g->t, "x%d[%s]", o, j);
    } else if (g->reduce) {
        kiln__text_printf(g->t,
                          "*(const %s *)(const void *)(r%d + (%s) * st[%d])",
                          st, o, j, o);
    } else {
        kiln__text_printf(g->t,
                          "*(const %s *)(const void *)(p[%d] + %s * s[%d])",
                          st, o, j, o);
    }
    kiln__text_puts(g->t, close_fn(dt));
}

/* The expression of OP value vi in its compute type, rounded to storage
 * precision when its dtype is a half one and `round`. */
kiln_status kiln__codegen_value_put_op_expr(gen *g, int vi, bool round)
{
    const kiln_rval *v = &g->r->vals[vi];
    char names[3][24];
    const char *arg[3];
    for (int k = 0; k < v->nargs; k++) {
        snprintf(names[k], sizeof names[k], "v%d", v->args[k]);
        arg[k] = names[k];
    }
    kiln_dtype last = g->r->vals[v->args[v->nargs - 1]].dtype;
    const char *os = g->wide[vi] ? "f64" : tsuf(v->dtype);
    bool rounded = round && is_half(v->dtype);
    bool f16 = v->dtype == KILN_DTYPE_FLOAT16;
    if (rounded && g->wide[vi]) {
        kiln__text_printf(g->t, "%s(kiln_f64_to_%s(",
                          f16 ? "kiln_f16_to_f32" : "kiln_bf16_to_f32",
                          f16 ? "f16" : "bf16");
    } else if (rounded) {
        /* the round trip through the half type, without the detour */
        kiln__text_puts(g->t, f16 ? "kiln_f16_round((" : "kiln_bf16_round((");
    }
    if (subst(g->t, v->prim->emit->expr, arg, v->nargs, tsuf(last), os,
              vi) != KILN_OK) {
        return kiln_errcode();
    }
    if (rounded) {
        kiln__text_puts(g->t, "))");
    }
    return KILN_OK;
}

/* `const T v<i> = <expr>;` for an INPUT, CONST or OP value. A half OP
 * value that is stored (sw) is first `const float w<i>`, unrounded: the
 * stores narrow w<i>, which gives the same half as narrowing v<i> (a
 * float16/bfloat16 value converts back exactly and a NaN comes back as
 * the same NaN), so v<i> is dead code when only stored. */
kiln_status kiln__codegen_value_put(gen *g, int vi, const char *j)
{
    const kiln_rval *v = &g->r->vals[vi];
    if (g->sw[vi] && !cached_here(g, vi)) {
        bool f16 = v->dtype == KILN_DTYPE_FLOAT16;
        ind(g);
        kiln__text_printf(g->t, "const float w%d = ", vi);
        if (kiln__codegen_value_put_op_expr(g, vi, false) != KILN_OK) {
            return kiln_errcode();
        }
        kiln__text_puts(g->t, ";\n");
        ind(g);
        kiln__text_printf(g->t, "const float v%d = %s(w%d);\n", vi,
                          f16 ? "kiln_f16_round" : "kiln_bf16_round", vi);
        return KILN_OK;
    }
    ind(g);
    kiln__text_printf(g->t, "const %s v%d = ", ctype(v->dtype), vi);
    if (cached_here(g, vi)) {
        kiln__text_printf(g->t, "y%d[%s];\n", g->cache[vi], j);
        return KILN_OK;
    }
    if (v->kind == KILN_RVAL_INPUT) {
        put_load(g, vi, j);
    } else if (v->kind == KILN_RVAL_CONST) {
        put_const(g->t, v);
    } else if (kiln__codegen_value_put_op_expr(g, vi, true) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__text_puts(g->t, ";\n");
    if (g->fast && g->reduce && g->cache[vi] >= 0 &&
        g->pass == g->lev[vi]) {
        /* kept in the output row for a later pass to read back */
        ind(g);
        kiln__text_printf(g->t, "y%d[%s] = v%d;\n", g->cache[vi], j, vi);
    }
    return KILN_OK;
}

/* `<acc> = tmpl(<acc>, <x>);`: REDUCE value vi's combine, template tmpl
 * (its expr, or its vexpr over vectors) with type suffix ts. */
static kiln_status put_combine(gen *g, int vi, const char *tmpl,
                               const char *ts, const char *acc,
                               const char *x)
{
    const char *arg[2] = {acc, x};
    ind(g);
    kiln__text_printf(g->t, "%s = ", acc);
    if (subst(g->t, tmpl, arg, 2, ts, ts, vi) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__text_puts(g->t, ";\n");
    return KILN_OK;
}

/* `<acc> = combine(<acc>, <x>);` for REDUCE value vi. */
kiln_status kiln__codegen_value_put_fold(gen *g, int vi, const char *acc,
                                         const char *x)
{
    const kiln_rval *v = &g->r->vals[vi];
    return put_combine(g, vi, v->prim->emit->combine->emit->expr,
                       tsuf(v->dtype), acc, x);
}

/* Folds the element just computed into REDUCE value vi's accumulator. */
kiln_status kiln__codegen_value_put_fold_elem(gen *g, int vi, const char *acc)
{
    const kiln_rval *v = &g->r->vals[vi];
    int a = v->args[0];
    char x[48];
    kiln_dtype adt = g->r->vals[a].dtype;
    if (strcmp(ctype(adt), ctype(v->dtype)) == 0) {
        snprintf(x, sizeof x, "v%d", a);
    } else {
        snprintf(x, sizeof x, "kiln_cvt_%s(v%d)", tsuf(v->dtype), a);
    }
    return kiln__codegen_value_put_fold(g, vi, acc, x);
}

/* Store of value vi into output j at element index text j (inner) or
 * once per row (outer). */
void kiln__codegen_value_put_store(gen *g, int out, int vi, const char *j,
                                   bool inner)
{
    kiln_dtype dt = out_dtype(g, out);
    const char *st = stype(dt);
    char val[24];
    snprintf(val, sizeof val, "%c%d", inner && g->sw[vi] ? 'w' : 'v', vi);
    ind(g);
    if (inner && g->fast && g->stage[out]) {
        /* a float row narrowed after the row (put_kernel), or a block */
        kiln__text_printf(g->t, g->reduce ? "y%d[%s] = %s;\n"
                                          : "c%d[%s - kb] = %s;\n",
                          out, j, val);
        return;
    }
    if (!inner) {
        kiln__text_printf(g->t, "*(%s *)(void *)r%d", st, out);
    } else if (g->fast) {
        kiln__text_printf(g->t, "y%d[%s]", out, j);
    } else if (g->reduce) {
        kiln__text_printf(g->t, "*(%s *)(void *)(r%d + (%s) * st[%d])", st,
                          out, j, out);
    } else {
        kiln__text_printf(g->t, "*(%s *)(void *)(p[%d] + %s * s[%d])", st,
                          out, j, out);
    }
    kiln__text_printf(g->t, " = %s%s%s;\n", store_fn(dt), val, close_fn(dt));
}

/* ------------------------------------------------------------------ */
/* vectors (codegen_loop.c's vector loops)                            */
/* ------------------------------------------------------------------ */

/* `<load or store function>(` and the address of operand o's row at
 * element index text j (the staged block c<o> of an elementwise region,
 * else x<o> / y<o>); a float16 row not staged (vhalf) goes through the
 * widening / narrowing forms. */
static void put_vaddr(gen *g, int o, const char *j, bool load)
{
    bool h = op_dtype(g, o) == KILN_DTYPE_FLOAT16 && !g->stage[o];
    kiln__text_printf(g->t, "kiln_v%s%s(", load ? "load" : "store",
                      h ? "_h" : "");
    if (g->stage[o] && !g->reduce) {
        kiln__text_printf(g->t, "c%d + (%s - kb)", o, j);
    } else {
        kiln__text_printf(g->t, "%c%d + %s", o < g->r->noutputs ? 'y' : 'x',
                          o, j);
    }
}

/* kiln__codegen_value_put over KILN_VW elements from index text j:
 * `const kiln_vf v<i>` (and w<i>), each OP through its vexpr, an argument
 * computed outside the loop read as its splat s<i>. The loop's gate
 * (codegen_loop.c vec_ok) has checked that every value is a float32
 * compute value with a vector form and every row a float row. */
kiln_status kiln__codegen_value_put_vec(gen *g, int vi, const char *j)
{
    const kiln_rval *v = &g->r->vals[vi];
    ind(g);
    if (cached_here(g, vi)) {
        kiln__text_printf(g->t, "const kiln_vf v%d = kiln_vload(y%d + %s);\n",
                          vi, g->cache[vi], j);
        return KILN_OK;
    }
    if (v->kind == KILN_RVAL_INPUT) {
        kiln__text_printf(g->t, "const kiln_vf v%d = ", vi);
        put_vaddr(g, in_op(g, v->input), j, true);
        kiln__text_puts(g->t, ");\n");
        return KILN_OK;
    }
    char names[3][24];
    const char *arg[3];
    for (int k = 0; k < v->nargs; k++) {
        int a = v->args[k];
        snprintf(names[k], sizeof names[k], "%c%d", g->need[a] ? 'v' : 's',
                 a);
        arg[k] = names[k];
    }
    const char *rf = v->dtype == KILN_DTYPE_FLOAT16    ? "kiln_vround_f16"
                     : v->dtype == KILN_DTYPE_BFLOAT16 ? "kiln_vround_bf16"
                                                       : NULL;
    bool sw = g->sw[vi];
    kiln__text_printf(g->t, "const kiln_vf %c%d = %s%s", sw ? 'w' : 'v', vi,
                      rf && !sw ? rf : "", rf && !sw ? "(" : "");
    if (subst(g->t, v->prim->emit->vexpr, arg, v->nargs, "f32", "f32",
              vi) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__text_puts(g->t, rf && !sw ? ");\n" : ";\n");
    if (sw) {
        /* stored unrounded, as the scalar loop's w<i> */
        ind(g);
        kiln__text_printf(g->t, "const kiln_vf v%d = %s(w%d);\n", vi, rf,
                          vi);
    }
    return KILN_OK;
}

/* kiln__codegen_value_put_store over KILN_VW elements (inner, fast); a
 * value computed outside the loop (an output repeating one value) is
 * splatted. */
void kiln__codegen_value_put_vstore(gen *g, int out, int vi, const char *j)
{
    ind(g);
    put_vaddr(g, out, j, false);
    if (!g->need[vi]) {
        kiln__text_printf(g->t, ", kiln_vsplat(v%d));\n", vi);
    } else {
        kiln__text_printf(g->t, ", %c%d);\n", g->sw[vi] ? 'w' : 'v', vi);
    }
}

/* kiln__codegen_value_put_fold_elem over KILN_VW elements: `<acc> =
 * combine(<acc>, v<a>);` through the combine's vexpr, acc a kiln_vf of
 * REDUCE value vi's lanes (vec_can: both compute in float32). */
kiln_status kiln__codegen_value_put_vfold(gen *g, int vi, const char *acc)
{
    const kiln_rval *v = &g->r->vals[vi];
    char x[24];
    snprintf(x, sizeof x, "v%d", v->args[0]);
    return put_combine(g, vi, v->prim->emit->combine->emit->vexpr, "f32",
                       acc, x);
}

/* Every value of class cls (and level lev, when lev >= 0) not computed
 * elsewhere: uniform and outer values (never REDUCE). */
kiln_status kiln__codegen_value_put_all(gen *g, int cls, int lev_lo, int lev_hi)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && g->cls[i] == cls &&
            r->vals[i].kind != KILN_RVAL_REDUCE && g->lev[i] >= lev_lo &&
            g->lev[i] <= lev_hi) {
            if (kiln__codegen_value_put(g, i, "") != KILN_OK) {
                return kiln_errcode();
            }
        }
    }
    return KILN_OK;
}

/*
 * codegen.c - C source for a fused region (see codegen.h, region.h).
 *
 * Every live value becomes a `const <compute type> v<i>` register:
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
 * Half values read by other values of a loop that does not fold are
 * rounded a block at a time through the hardware (plan_round, below).
 *
 * Half stores and staging (plan_half). A stored half OP result keeps its
 * unrounded float w<i> for the store (narrowing it gives the same half
 * as narrowing the rounded v<i>), so a value that is only stored is
 * rounded once, not three times. In the fast variant, float16 operands
 * that move along the loop are staged through float arrays c<o>, filled
 * by kiln_f16_to_f32_n and narrowed by kiln_f32_to_f16_n (half.h:
 * hardware conversions where the CPU has them, the scalar functions'
 * bits): elementwise regions convert every STAGE elements around the
 * loop body; reduction regions convert whole rows in the kernel (once
 * for an input whose rows repeat, e.g. a weight) and hand them to the
 * helper as float rows, which every pass then reads as float32 code
 * does; the first staged output of a last pass that does not fold takes
 * the row of the first staged input whose rows move (plan_share: that
 * pass reads each element before writing it, and no later pass exists).
 * bfloat16 converts with a shift and integer ops that gcc vectorises
 * inline, so it is not staged.
 *
 * Placement. A value is *uniform* when it depends only on constants and
 * rank-0 inputs: computed once per call. Every kernel has two variants:
 * <sym>_fast, a static always_inline helper taking the moving operands as
 * typed parameters and indexing them plainly, so gcc -O3 vectorises it
 * without alias checks: restrict parameters in row regions (gcc honours
 * restrict on parameters, not on local pointers) except the staged rows
 * that may share a row (plan_share), KILN_IVDEP (gcc's ivdep, clang's
 * assume_safety) on elementwise loops, whose output may share an input's
 * buffer at the same index, and on a last pass whose output may share an
 * input's row (put_ivdep); and <sym>_strided, byte offsets, not vectorised
 * (scalar anyway; halves the compile time). The kernel takes the fast one
 * when every moving operand's stride is its element size. Elementwise
 * regions (nreduce 0) are one loop over n elements. Reduction regions loop
 * over n rows; a row runs passes 0..L over its len elements (region.h):
 * outer values of level l are computed before pass l (after the last pass
 * when l > L), pass l recomputes the inner values it needs, stores the
 * inner outputs of level l and folds the reductions whose argument has
 * level l. A fold keeps LANES independent accumulators (a loop kept rolled
 * so gcc holds them in vector registers), refilled every BLOCK elements,
 * so it vectorises without -ffast-math and a float sum adds at most
 * BLOCK / LANES values in sequence per lane; blocks fold in sequence into
 * the row's accumulator, the tail into a second one, combined last. Up to
 * BLOCK elements this is eager's order (reduce_cpu.c), so such sums equal
 * eager's bit for bit; both variants fold in the same order, so a result
 * never depends on the memory layout.
 *
 * No a*b+c contraction: kernels carry optimize("fp-contract=off") (gcc),
 * since eager rounds after every op and gcc contracts across inlined
 * calls by default (gnu modes); the JIT should also pass -ffp-contract=off
 * so that out-of-line preamble functions are covered too.
 *
 * Levels and uniformity are recomputed here from the region's structure;
 * `inner` flags come from the region (a broadcast_to of a row value is
 * inner with outer arguments). Nothing here names a primitive.
 */
#include "codegen.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/half.h"

#define FN "codegen"
#define LANES 32   /* accumulators per reduction (eager: NL) */
#define BLOCK 2048 /* elements folded into fresh lanes (multiple of LANES) */
#define STAGE 512  /* float16 block converted at once (elementwise) */
#define ROW_STAGE 2048 /* floats of staged rows kept on the stack */

enum { CLS_UNIFORM, CLS_OUTER, CLS_INNER };

typedef struct gen {
    const kiln_region *r;
    kiln_text *t;
    int depth;          /* indentation level */
    bool fast;          /* variant being emitted */
    bool reduce;        /* nreduce > 0 */
    int last;           /* L, the last pass (reductions) */
    unsigned char *cls; /* [nvals] CLS_* */
    int *lev;           /* [nvals] */
    bool *live;         /* [nvals] */
    bool *need;         /* [nvals] inner values of the current pass */
    bool *wide;         /* [nvals] half OP computed in double */
    int *in_val;        /* [ninputs] the INPUT value of each input, or -1 */
    int *folds;         /* [nvals] reductions of the current pass */
    int *cache;         /* [nvals] output row caching the value, or -1 */
    bool *sw;           /* [nvals] half OP result stored unrounded (w<i>) */
    bool stage[KILN_REGION_MAX_OPERANDS]; /* operand staged (fast variant) */
    int share;          /* staged output writing into an input's row, or -1 */
    int *seg;           /* [nvals] segment computing the value (plan_round) */
    bool *rnd;          /* [nvals] float16 value rounded a block at a time */
    bool *mark;         /* [nvals] scratch: values of the segment emitted */
    int pass;           /* the pass being emitted */
    int pf;             /* pass prefetching the next row, or 0: none */
} gen;

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static bool is_half(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
}

static const char *ctype(kiln_dtype dt)
{
    return kiln__region_ctype(dt);
}

static const char *stype(kiln_dtype dt)
{
    return kiln__region_stype(dt);
}

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

static void ind(gen *g)
{
    for (int i = 0; i < g->depth; i++) {
        kiln__text_puts(g->t, "    ");
    }
}

static void open_block(gen *g, const char *head)
{
    ind(g);
    kiln__text_printf(g->t, "%s{\n", head);
    g->depth++;
}

static void close_block(gen *g)
{
    g->depth--;
    ind(g);
    kiln__text_puts(g->t, "}\n");
}

/* operand index of output j / input i, and dtypes */
static int in_op(const gen *g, int input)
{
    return g->r->noutputs + input;
}

static kiln_dtype out_dtype(const gen *g, int j)
{
    return g->r->vals[g->r->out_val[j]].dtype;
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
/* analysis                                                           */
/* ------------------------------------------------------------------ */

static bool is_ident(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') ||
                (*s >= 'A' && *s <= 'Z'))) {
        return false;
    }
    for (; *s; s++) {
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) {
            return false;
        }
    }
    return true;
}

/* Checks the invariants codegen relies on. */
static kiln_status check(const kiln_region *r)
{
    if (r->nvals <= 0 || !r->vals || r->noutputs <= 0 || !r->out_val ||
        r->ninputs < 0 || r->ndim < 0 || r->nreduce < 0 ||
        r->nreduce > r->ndim ||
        r->noutputs + r->ninputs > KILN_REGION_MAX_OPERANDS ||
        (r->ninputs > 0 && (!r->in_dtype || !r->in_ndim || !r->in_outer))) {
        return kiln__err(KILN_ERR_VALUE, "[%s] malformed region", FN);
    }
    for (int i = 0; i < r->ninputs; i++) {
        if ((unsigned)r->in_dtype[i] >= KILN_DTYPE_COUNT) {
            return kiln__err(KILN_ERR_VALUE, "[%s] input %d: bad dtype",
                             FN, i);
        }
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if ((unsigned)v->dtype >= KILN_DTYPE_COUNT) {
            return kiln__err(KILN_ERR_VALUE, "[%s] value %d: bad dtype", FN,
                             i);
        }
        switch (v->kind) {
        case KILN_RVAL_INPUT:
            if (v->input < 0 || v->input >= r->ninputs ||
                r->in_dtype[v->input] != v->dtype) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d: bad input index", FN, i);
            }
            break;
        case KILN_RVAL_CONST:
            break;
        case KILN_RVAL_OP:
        case KILN_RVAL_REDUCE: {
            bool op = v->kind == KILN_RVAL_OP;
            if (!v->prim) {
                return kiln__err(KILN_ERR_VALUE, "[%s] value %d: no prim",
                                 FN, i);
            }
            const kiln_emit *e = v->prim->emit;
            if (!e || (op && !e->expr) ||
                (!op && (!e->combine || !e->combine->emit ||
                         !e->combine->emit->expr))) {
                return kiln__err(KILN_ERR_UNSUPPORTED,
                                 "[%s] primitive %s cannot be emitted", FN,
                                 v->prim->name);
            }
            if (v->nargs < 1 || v->nargs > 3 || (!op && v->nargs != 1) ||
                (!op && r->nreduce == 0)) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d (%s): bad arguments", FN, i,
                                 v->prim->name);
            }
            for (int k = 0; k < v->nargs; k++) {
                if (v->args[k] < 0 || v->args[k] >= i) {
                    return kiln__err(KILN_ERR_VALUE,
                                     "[%s] value %d (%s): argument %d is "
                                     "not an earlier value",
                                     FN, i, v->prim->name, k);
                }
            }
            break;
        }
        default:
            return kiln__err(KILN_ERR_VALUE, "[%s] value %d: bad kind", FN,
                             i);
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        if (r->out_val[j] < 0 || r->out_val[j] >= r->nvals) {
            return kiln__err(KILN_ERR_VALUE, "[%s] output %d: bad value",
                             FN, j);
        }
    }
    return KILN_OK;
}

/* Fills cls, lev, live, wide, in_val and last. */
static kiln_status analyse(gen *g)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->ninputs; i++) {
        g->in_val[i] = -1;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        int cls = CLS_UNIFORM, lev = 0;
        g->wide[i] = false;
        if (v->kind == KILN_RVAL_INPUT) {
            if (g->in_val[v->input] >= 0) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] input %d appears twice", FN,
                                 v->input);
            }
            g->in_val[v->input] = i;
            cls = r->in_ndim[v->input] == 0 ? CLS_UNIFORM
                  : g->reduce && r->in_outer[v->input] ? CLS_OUTER
                                                       : CLS_INNER;
        } else if (v->kind == KILN_RVAL_OP) {
            for (int k = 0; k < v->nargs; k++) {
                int a = v->args[k];
                lev = g->lev[a] > lev ? g->lev[a] : lev;
                cls = g->cls[a] > cls ? g->cls[a] : cls;
            }
            if (cls == CLS_OUTER && v->inner) {
                cls = CLS_INNER; /* a row value broadcast along the row */
            } else if (cls == CLS_INNER && g->reduce && !v->inner) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d (%s): outer value of an "
                                 "inner argument", FN, i, v->prim->name);
            }
            kiln_dtype last = r->vals[v->args[v->nargs - 1]].dtype;
            g->wide[i] = is_half(v->dtype) &&
                         strcmp(ctype(last), "float") != 0;
        } else if (v->kind == KILN_RVAL_REDUCE) {
            cls = CLS_OUTER;
            lev = g->lev[v->args[0]] + 1;
        }
        if (!g->reduce && cls == CLS_OUTER) {
            cls = CLS_INNER;
        }
        g->cls[i] = (unsigned char)cls;
        g->lev[i] = lev;
        g->live[i] = false;
    }
    for (int j = 0; j < r->noutputs; j++) {
        g->live[r->out_val[j]] = true;
    }
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind >= KILN_RVAL_OP) {
            for (int k = 0; k < v->nargs; k++) {
                g->live[v->args[k]] = true;
            }
        }
    }
    g->last = -1;
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && r->vals[i].kind == KILN_RVAL_REDUCE) {
            int l = g->lev[r->vals[i].args[0]];
            g->last = l > g->last ? l : g->last;
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        int v = r->out_val[j];
        if (r->vals[v].inner && g->lev[v] > g->last) {
            g->last = g->lev[v];
        }
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

/* Whether value vi is read back from its caching output row in the
 * current pass instead of being computed again. */
static bool cached_here(const gen *g, int vi)
{
    return g->fast && g->reduce && g->cache[vi] >= 0 &&
           g->pass > g->lev[vi];
}

/* The expression of OP value vi in its compute type, rounded to storage
 * precision when its dtype is a half one and `round`. */
static kiln_status put_op_expr(gen *g, int vi, bool round)
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
static kiln_status put_value(gen *g, int vi, const char *j)
{
    const kiln_rval *v = &g->r->vals[vi];
    if (g->sw[vi] && !cached_here(g, vi)) {
        bool f16 = v->dtype == KILN_DTYPE_FLOAT16;
        ind(g);
        kiln__text_printf(g->t, "const float w%d = ", vi);
        if (put_op_expr(g, vi, false) != KILN_OK) {
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
    } else if (put_op_expr(g, vi, true) != KILN_OK) {
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

/* `<acc> = combine(<acc>, <x>);` for REDUCE value vi. */
static kiln_status put_fold(gen *g, int vi, const char *acc, const char *x)
{
    const kiln_rval *v = &g->r->vals[vi];
    const char *ts = tsuf(v->dtype);
    const char *arg[2] = {acc, x};
    ind(g);
    kiln__text_printf(g->t, "%s = ", acc);
    if (subst(g->t, v->prim->emit->combine->emit->expr, arg, 2, ts, ts,
              vi) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__text_puts(g->t, ";\n");
    return KILN_OK;
}

/* Folds the element just computed into REDUCE value vi's accumulator. */
static kiln_status put_fold_elem(gen *g, int vi, const char *acc)
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
    return put_fold(g, vi, acc, x);
}

/* Store of value vi into output j at element index text j (inner) or
 * once per row (outer). */
static void put_store(gen *g, int out, int vi, const char *j, bool inner)
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

/* Every value of class cls (and level lev, when lev >= 0) not computed
 * elsewhere: uniform and outer values (never REDUCE). */
static kiln_status put_values(gen *g, int cls, int lev_lo, int lev_hi)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && g->cls[i] == cls &&
            r->vals[i].kind != KILN_RVAL_REDUCE && g->lev[i] >= lev_lo &&
            g->lev[i] <= lev_hi) {
            if (put_value(g, i, "") != KILN_OK) {
                return kiln_errcode();
            }
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* elementwise regions                                                */
/* ------------------------------------------------------------------ */

/* The loop body at element index j: inner values, then the stores. */
static kiln_status put_body(gen *g, const char *j, int pass)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        if (g->need[i] && put_value(g, i, j) != KILN_OK) {
            return kiln_errcode();
        }
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (!g->reduce || (r->vals[v].inner && g->lev[v] == pass)) {
            put_store(g, o, v, j, true);
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* operands and the fast variant's helper                             */
/* ------------------------------------------------------------------ */

enum { ROLE_NONE, ROLE_MOVING, ROLE_OUTER };

/* How operand o takes part: moving along the loop (inner), once per row
 * (outer), or not at all (unused, or a rank-0 input read at entry). */
static int role(const gen *g, int o)
{
    const kiln_region *r = g->r;
    if (o < r->noutputs) {
        return !g->reduce || r->vals[r->out_val[o]].inner ? ROLE_MOVING
                                                          : ROLE_OUTER;
    }
    int v = g->in_val[o - r->noutputs];
    if (v < 0 || !g->live[v] || g->cls[v] == CLS_UNIFORM) {
        return ROLE_NONE;
    }
    return g->cls[v] == CLS_INNER ? ROLE_MOVING : ROLE_OUTER;
}

static int noperands(const gen *g)
{
    return g->r->noutputs + g->r->ninputs;
}

static kiln_dtype op_dtype(const gen *g, int o)
{
    return o < g->r->noutputs ? out_dtype(g, o)
                              : g->r->in_dtype[o - g->r->noutputs];
}

/* Whether moving operand o of an elementwise region may also take the
 * fast path with stride 0 (an input broadcast along the row: a (n, 1)
 * column, a stride-0 array): put_ew_call replicates it into a block. */
static bool bcast_ok(const gen *g, int o)
{
    return !g->reduce && o >= g->r->noutputs && role(g, o) == ROLE_MOVING;
}

/* The fast-path condition: every moving operand's stride (array sname) is
 * its element size (or 0 where bcast_ok). */
static void put_fast_cond(gen *g, const char *sname)
{
    int nterms = 0;
    ind(g);
    kiln__text_puts(g->t, "if (");
    for (int o = 0; o < noperands(g); o++) {
        if (role(g, o) != ROLE_MOVING) {
            continue;
        }
        size_t es = kiln_dtype_size(op_dtype(g, o));
        if (bcast_ok(g, o)) {
            kiln__text_printf(g->t, "%s(%s[%d] == %zu || %s[%d] == 0)",
                              nterms ? " && " : "", sname, o, es, sname, o);
        } else {
            kiln__text_printf(g->t, "%s%s[%d] == %zu", nterms ? " && " : "",
                              sname, o, es);
        }
        nterms++;
    }
    kiln__text_printf(g->t, "%s) {\n", nterms ? "" : "1");
}

/* Whether operand o's next row is prefetched (as f<o>) by pass g->pf. */
static bool prefetched(const gen *g, int o)
{
    return g->pf > 0 && o >= g->r->noutputs && role(g, o) == ROLE_MOVING &&
           !g->stage[o];
}

/* Whether operand o's staged row may be shared (plan_share): it is then
 * no restrict parameter. */
static bool row_may_alias(const gen *g, int o)
{
    return g->share >= 0 &&
           (o == g->share || (o >= g->r->noutputs && g->stage[o]));
}

/* The helper's parameters: the uniform values, then typed pointers
 * (moving operands; restrict in row regions, which is what lets gcc
 * vectorise them without alias checks, except rows that may be shared)
 * and row pointers (outer operands). */
static void put_params(gen *g)
{
    const kiln_region *r = g->r;
    kiln__text_puts(g->t, g->reduce ? "int64_t len" : "int64_t n");
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && g->cls[i] == CLS_UNIFORM) {
            kiln__text_printf(g->t, ", const %s v%d",
                              ctype(r->vals[i].dtype), i);
        }
    }
    for (int o = 0; o < noperands(g); o++) {
        int ro = role(g, o);
        bool out = o < r->noutputs;
        const char *st = g->reduce && g->stage[o] ? "float"
                                                  : stype(op_dtype(g, o));
        if (ro == ROLE_MOVING) {
            kiln__text_printf(g->t, ", %s%s *%s%c%d",
                              out ? "" : "const ", st,
                              g->reduce && !row_may_alias(g, o) ? "restrict "
                                                          : "",
                              out ? 'y' : 'x', o);
            if (prefetched(g, o)) {
                kiln__text_printf(g->t, ", const char *f%d", o);
            }
        } else if (ro == ROLE_OUTER) {
            kiln__text_printf(g->t, ", %schar *r%d", out ? "" : "const ",
                              o);
        }
    }
}

/* `, v<i>` for every uniform value: the helper's leading arguments. */
static void put_uniform_args(gen *g)
{
    for (int i = 0; i < g->r->nvals; i++) {
        if (g->live[i] && g->cls[i] == CLS_UNIFORM) {
            kiln__text_printf(g->t, ", v%d", i);
        }
    }
}

/* The row helper's call for row `row` of a reduction region. */
static void put_row_call(gen *g, const char *fn)
{
    const kiln_region *r = g->r;
    ind(g);
    kiln__text_printf(g->t, "%s(len", fn);
    put_uniform_args(g);
    for (int o = 0; o < noperands(g); o++) {
        int ro = role(g, o);
        bool out = o < r->noutputs;
        if (ro == ROLE_MOVING && g->stage[o]) {
            kiln__text_printf(g->t, ", c%d", o);
        } else if (ro == ROLE_MOVING) {
            const char *st = stype(op_dtype(g, o));
            kiln__text_printf(g->t, ",\n");
            ind(g);
            kiln__text_printf(g->t,
                              "    (%s%s *)(%svoid *)(p[%d] + row * s[%d])",
                              out ? "" : "const ", st, out ? "" : "const ",
                              o, o);
            if (prefetched(g, o)) {
                /* the next row of this chunk (the last row: itself) */
                kiln__text_printf(g->t,
                                  ",\n%*s    p[%d] + (row + 1 < n ? row + 1 "
                                  ": row) * s[%d]",
                                  4 * g->depth, "", o, o);
            }
        } else if (ro == ROLE_OUTER) {
            kiln__text_printf(g->t, ", (p[%d] + row * s[%d])", o, o);
        }
    }
    kiln__text_puts(g->t, ");\n");
}

/* The elementwise fast call. An input of stride 0 is replicated into a
 * stack block b<o> of STAGE elements and the helper then runs block by
 * block (one call site: the helper is inlined once), so a broadcast
 * operand keeps the vectorised variant. A non-NULL ctx asks for streaming
 * stores (fused_cpu.c decides, for outputs far bigger than the caches):
 * the helper then writes each output's block into a stack block o<o>,
 * which kiln_nt_copy (ntstore.h) streams to memory. */
static void put_ew_call(gen *g, const char *fn)
{
    const kiln_region *r = g->r;
    char head[96];
    ind(g);
    kiln__text_puts(g->t, "const int nt = ctx != NULL;\n");
    ind(g);
    kiln__text_printf(g->t, "int64_t step = nt ? %d : n;\n", STAGE);
    for (int o = 0; o < r->noutputs; o++) {
        if (role(g, o) == ROLE_MOVING) {
            ind(g);
            kiln__text_printf(g->t, "%s o%d[%d];\n", stype(op_dtype(g, o)),
                              o, STAGE);
        }
    }
    for (int o = 0; o < noperands(g); o++) {
        if (!bcast_ok(g, o)) {
            continue;
        }
        const char *st = stype(op_dtype(g, o));
        ind(g);
        kiln__text_printf(g->t, "%s b%d[%d];\n", st, o, STAGE);
        snprintf(head, sizeof head, "if (s[%d] == 0) ", o);
        open_block(g, head);
        ind(g);
        kiln__text_printf(g->t, "step = %d;\n", STAGE);
        snprintf(head, sizeof head,
                 "for (int64_t k = 0; k < n && k < %d; k++) ", STAGE);
        open_block(g, head);
        ind(g);
        kiln__text_printf(g->t, "b%d[k] = *(const %s *)(const void *)p[%d];\n",
                          o, st, o);
        close_block(g);
        close_block(g);
    }
    open_block(g, "for (int64_t off = 0; off < n; off += step) ");
    ind(g);
    kiln__text_puts(g->t,
                    "const int64_t m = n - off < step ? n - off : step;\n");
    ind(g);
    kiln__text_printf(g->t, "%s(m", fn);
    put_uniform_args(g);
    for (int o = 0; o < noperands(g); o++) {
        if (role(g, o) != ROLE_MOVING) {
            continue;
        }
        bool out = o < r->noutputs;
        const char *st = stype(op_dtype(g, o));
        kiln__text_puts(g->t, ",\n");
        ind(g);
        if (bcast_ok(g, o)) {
            kiln__text_printf(g->t, "    s[%d] == 0 ? b%d : ", o, o);
        } else if (out) {
            kiln__text_printf(g->t, "    nt ? o%d : ", o);
        } else {
            kiln__text_puts(g->t, "    ");
        }
        kiln__text_printf(g->t, "(%s%s *)(%svoid *)p[%d] + off",
                          out ? "" : "const ", st, out ? "" : "const ", o);
    }
    kiln__text_puts(g->t, ");\n");
    open_block(g, "if (nt) ");
    for (int o = 0; o < r->noutputs; o++) {
        if (role(g, o) == ROLE_MOVING) {
            size_t es = kiln_dtype_size(op_dtype(g, o));
            ind(g);
            kiln__text_printf(g->t,
                              "kiln_nt_copy(p[%d] + off * %zu, o%d, "
                              "(size_t)m * %zu);\n",
                              o, es, o, es);
        }
    }
    close_block(g);
    close_block(g);
    open_block(g, "if (nt) ");
    ind(g);
    kiln__text_puts(g->t, "kiln_nt_fence();\n");
    close_block(g);
}

/* Row pointers r<o> of the strided variant. */
static void put_row_pointers(gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (role(g, o) != ROLE_NONE) {
            ind(g);
            kiln__text_printf(g->t, "%schar *r%d = p[%d] + row * s[%d];\n",
                              o < g->r->noutputs ? "" : "const ", o, o, o);
        }
    }
}

/* ------------------------------------------------------------------ */
/* elementwise loops                                                  */
/* ------------------------------------------------------------------ */

/* Whether staged operand o is converted block by block in the loop of an
 * elementwise region (reductions convert rows: put_row_stage): an input
 * whose value the loop reads, or an output. */
static bool stage_used(const gen *g, int o)
{
    const kiln_region *r = g->r;
    if (!g->fast || !g->stage[o] || g->reduce) {
        return false;
    }
    if (o < r->noutputs) {
        return true;
    }
    int v = g->in_val[o - r->noutputs];
    return v >= 0 && g->need[v];
}

static bool stage_any(const gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (stage_used(g, o)) {
            return true;
        }
    }
    return false;
}

/* The block conversions of the staged operands over the elements kb ..
 * kb + cnt - 1: inputs into c<o> before the block's loop (load), c<o>
 * into the outputs after it. */
static void put_stage(gen *g, bool load, const char *cnt)
{
    for (int o = 0; o < noperands(g); o++) {
        if (stage_used(g, o) && (o >= g->r->noutputs) == load) {
            ind(g);
            if (load) {
                kiln__text_printf(g->t,
                                  "kiln_f16_to_f32_n(x%d + kb, c%d, %s);\n",
                                  o, o, cnt);
            } else {
                kiln__text_printf(g->t,
                                  "kiln_f32_to_f16_n(c%d, y%d + kb, %s);\n",
                                  o, o, cnt);
            }
        }
    }
}

/* Fast elementwise loops, and the last pass of a row whose output may
 * share an input's row (plan_share): their pointers are not restrict,
 * since an output may share an input's memory (fused_cpu.c donates
 * buffers), always at the same index; KILN_IVDEP promises the compiler
 * that no iteration depends on another, so it vectorises without alias
 * checks (which an exact overlap would fail, sending every in-place call
 * to the scalar loop). */
static void put_ivdep(gen *g)
{
    if (g->fast && (!g->reduce || (g->pass == g->last && g->share >= 0))) {
        kiln__text_puts(g->t, "KILN_IVDEP\n");
    }
}

/*
 * Rounding in blocks (fast variant, loops that do not fold). A float16 OP
 * result that another value of the loop reads must be rounded to float16
 * (kiln_f16_round, 11 vector instructions on the two FP ports); a block of
 * them goes through the hardware conversion and back (kiln_f16_round_n:
 * 4, plus a load and a store). So the loop is cut into segments over a
 * block of STAGE elements: segment s computes, unrounded, into h<i>[], the
 * rounded values of segment s (seg[i] == s), which kiln_f16_round_n then
 * rounds in place; a later segment reads them back and recomputes any
 * other value it needs (its inputs are loads, constants and rounded
 * values, all still at hand). The last segment S computes the stores.
 * seg[i] is the first segment in which all of value i's arguments exist:
 * the largest of seg[a] + rnd[a] over its loop arguments, so a rounded
 * value's readers come strictly after it. Same bits as the plain loop:
 * every value is the same expression of the same rounded values.
 * Returns S (0: one segment, nothing to cut).
 */
static int plan_round(gen *g)
{
    const kiln_region *r = g->r;
    int last = 0;
    if (!g->fast) {
        return 0;
    }
    for (int i = 0; i < r->nvals; i++) {
        g->rnd[i] = false;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        g->seg[i] = 0;
        if (!g->need[i] || v->kind != KILN_RVAL_OP || cached_here(g, i)) {
            continue;
        }
        for (int k = 0; k < v->nargs; k++) {
            int a = v->args[k];
            if (g->need[a]) {
                g->rnd[a] = g->rnd[a] ||
                            (r->vals[a].kind == KILN_RVAL_OP &&
                             r->vals[a].dtype == KILN_DTYPE_FLOAT16 &&
                             !g->wide[a] && !cached_here(g, a));
                int sa = g->seg[a] + (g->rnd[a] ? 1 : 0);
                g->seg[i] = sa > g->seg[i] ? sa : g->seg[i];
            }
        }
        last = g->seg[i] > last ? g->seg[i] : last;
    }
    return last;
}

/* Whether value vi is stored by the loop of pass `pass`. */
static bool stored_here(const gen *g, int vi, int pass)
{
    const kiln_region *r = g->r;
    for (int o = 0; o < r->noutputs; o++) {
        if (r->out_val[o] == vi &&
            (!g->reduce || (r->vals[vi].inner && g->lev[vi] == pass))) {
            return true;
        }
    }
    return false;
}

/* Segment s of a cut loop at element index i (plan_round): marks what it
 * computes (back from its targets: the rounded values of segment s, or
 * the stores in the last one), then emits those values in order. */
static kiln_status put_segment(gen *g, int s, int last, int pass)
{
    const kiln_region *r = g->r;
    for (int i = r->nvals - 1; i >= 0; i--) {
        g->mark[i] = g->need[i] &&
                     (s == last ? stored_here(g, i, pass)
                                : g->rnd[i] && g->seg[i] == s);
    }
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        bool back = g->rnd[i] && g->seg[i] < s; /* read from h<i> */
        if (g->mark[i] && !back && v->kind == KILN_RVAL_OP &&
            !cached_here(g, i)) {
            for (int k = 0; k < v->nargs; k++) {
                g->mark[v->args[k]] = g->need[v->args[k]];
            }
        }
    }
    for (int i = 0; i < r->nvals; i++) {
        if (!g->mark[i]) {
            continue;
        }
        if (g->rnd[i] && g->seg[i] < s) {
            ind(g);
            kiln__text_printf(g->t, "const float v%d = h%d[i - kb];\n", i,
                              i);
            if (g->sw[i]) {
                /* narrowing the rounded value gives the same half */
                ind(g);
                kiln__text_printf(g->t, "const float w%d = v%d;\n", i, i);
            }
        } else if (g->rnd[i]) {
            ind(g);
            kiln__text_printf(g->t, "h%d[i - kb] = ", i);
            if (put_op_expr(g, i, false) != KILN_OK) {
                return kiln_errcode();
            }
            kiln__text_puts(g->t, ";\n");
        } else if (put_value(g, i, "i") != KILN_OK) {
            return kiln_errcode();
        }
    }
    if (s == last) {
        for (int o = 0; o < r->noutputs; o++) {
            int v = r->out_val[o];
            if (stored_here(g, v, pass)) {
                put_store(g, o, v, "i", true);
            }
        }
    }
    return KILN_OK;
}

/* A loop cut into segments over blocks of STAGE elements (plan_round). */
static kiln_status put_cut_loop(gen *g, const char *count, int pass,
                                int last)
{
    const kiln_region *r = g->r;
    char head[96];
    snprintf(head, sizeof head, "for (int64_t kb = 0; kb < %s; kb += %d) ",
             count, STAGE);
    open_block(g, head);
    ind(g);
    kiln__text_printf(g->t,
                      "const int64_t ke = %s - kb < %d ? %s : kb + %d;\n",
                      count, STAGE, count, STAGE);
    for (int i = 0; i < r->nvals; i++) {
        if (g->rnd[i]) {
            ind(g);
            kiln__text_printf(g->t, "float h%d[%d];\n", i, STAGE);
        }
    }
    put_stage(g, true, "ke - kb");
    for (int s = 0; s <= last; s++) {
        put_ivdep(g);
        open_block(g, "for (int64_t i = kb; i < ke; i++) ");
        if (put_segment(g, s, last, pass) != KILN_OK) {
            return kiln_errcode();
        }
        close_block(g);
        for (int i = 0; i < r->nvals && s < last; i++) {
            if (g->rnd[i] && g->seg[i] == s) {
                ind(g);
                kiln__text_printf(g->t, "kiln_f16_round_n(h%d, ke - kb);\n",
                                  i);
            }
        }
    }
    put_stage(g, false, "ke - kb");
    close_block(g);
    return KILN_OK;
}

/* `for (i < count) body` of pass `pass`; with staged operands, in blocks
 * of STAGE elements between their conversions; cut into segments where
 * float16 values are rounded (plan_round). */
static kiln_status put_flat_loop(gen *g, const char *count, int pass)
{
    int last = plan_round(g);
    if (last > 0) {
        return put_cut_loop(g, count, pass, last);
    }
    if (!stage_any(g)) {
        char head[64];
        snprintf(head, sizeof head, "for (int64_t i = 0; i < %s; i++) ",
                 count);
        put_ivdep(g);
        open_block(g, head);
        if (put_body(g, "i", pass) != KILN_OK) {
            return kiln_errcode();
        }
        close_block(g);
        return KILN_OK;
    }
    char head[96];
    snprintf(head, sizeof head, "for (int64_t kb = 0; kb < %s; kb += %d) ",
             count, STAGE);
    open_block(g, head);
    ind(g);
    kiln__text_printf(g->t,
                      "const int64_t ke = %s - kb < %d ? %s : kb + %d;\n",
                      count, STAGE, count, STAGE);
    put_stage(g, true, "ke - kb");
    put_ivdep(g);
    open_block(g, "for (int64_t i = kb; i < ke; i++) ");
    if (put_body(g, "i", pass) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    put_stage(g, false, "ke - kb");
    close_block(g);
    return KILN_OK;
}

static kiln_status put_ew_loop(gen *g)
{
    return put_flat_loop(g, "n", 0);
}

/* ------------------------------------------------------------------ */
/* reduction rows                                                     */
/* ------------------------------------------------------------------ */

/* Marks the inner values pass l computes; returns whether it folds or
 * stores anything. */
static bool plan_pass(gen *g, int l, bool *folds)
{
    const kiln_region *r = g->r;
    bool any = false;
    *folds = false;
    for (int i = 0; i < r->nvals; i++) {
        g->need[i] = false;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind == KILN_RVAL_REDUCE &&
            g->lev[v->args[0]] == l) {
            *folds = any = true;
            g->need[v->args[0]] = g->cls[v->args[0]] == CLS_INNER;
        }
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (r->vals[v].inner && g->lev[v] == l) {
            any = true;
            g->need[v] = g->need[v] || g->cls[v] == CLS_INNER;
        }
    }
    g->pass = l;
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        if (g->need[i] && v->kind == KILN_RVAL_OP && !cached_here(g, i)) {
            for (int k = 0; k < v->nargs; k++) {
                int a = v->args[k];
                g->need[a] = g->need[a] || g->cls[a] == CLS_INNER;
            }
        }
    }
    return any;
}

/* The reductions pass l folds, into g->folds; returns their count. */
static int pass_folds(gen *g, int l)
{
    const kiln_region *r = g->r;
    int nf = 0;
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind == KILN_RVAL_REDUCE &&
            g->lev[v->args[0]] == l) {
            g->folds[nf++] = i;
        }
    }
    return nf;
}

/* `acc = combine(acc, x)` for every fold k, acc and x formats over the
 * value index. */
static kiln_status put_combines(gen *g, int nf, const char *afmt,
                                const char *bfmt)
{
    char acc[32], x[32];
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        snprintf(acc, sizeof acc, afmt, i);
        snprintf(x, sizeof x, bfmt, i);
        if (put_fold(g, i, acc, x) != KILN_OK) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

/* Body of pass l at index j: values, stores, then each element folded
 * into the accumulator accfmt (over the value index). */
static kiln_status put_pass_body(gen *g, int l, const char *j,
                                 const char *accfmt, int nf)
{
    char acc[32];
    if (put_body(g, j, l) != KILN_OK) {
        return kiln_errcode();
    }
    for (int k = 0; k < nf; k++) {
        snprintf(acc, sizeof acc, accfmt, g->folds[k]);
        if (put_fold_elem(g, g->folds[k], acc) != KILN_OK) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

/* The identity of REDUCE value i in its compute type. */
static void put_id(gen *g, int i)
{
    const kiln_rval *v = &g->r->vals[i];
    put_identity(g->t, v->prim->emit->identity, v->dtype);
}

/*
 * Pass l. With folds:
 *     T v; { T t = id, u = id, a[LANES];   blocks, tail, lanes
 *     for each block of BLOCK elements (whole lanes only):
 *         a[LANES] = id; a[l] folds elements b + k*LANES + l;
 *         tree over the lanes; t = t (+) a[0]
 *     tail elements fold into u;  v = t (+) u, rounded }
 * For len <= BLOCK this is the order of eager's contiguous loops
 * (reduce_cpu.c run_c_*: lanes, tree, then the tail), so such results
 * equal eager's bit for bit.
 */
/* The first pass after pass 0 that folds reads its row from cache and
 * spends its time computing, with no memory traffic of its own: it asks
 * for the next row of every moving input (the hardware prefetcher does
 * not cross to it while the core computes), so that row's pass 0 finds it
 * near. A region of one pass has nothing to overlap. */
static void plan_prefetch(gen *g)
{
    bool folds = false;
    g->pf = 0;
    for (int l = 1; g->reduce && l <= g->last && g->pf == 0; l++) {
        if (plan_pass(g, l, &folds) && folds) {
            g->pf = l;
        }
    }
}

/* One prefetch per cache line of the LANES elements at i of each
 * prefetched operand's next row. */
static void put_prefetch(gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (!prefetched(g, o)) {
            continue;
        }
        size_t bytes = LANES * kiln_dtype_size(op_dtype(g, o));
        for (size_t at = 0; at < bytes; at += 64) {
            ind(g);
            kiln__text_printf(g->t, "KILN_PREFETCH(f%d + i * %zu + %zu);\n",
                              o, bytes / LANES, at);
        }
    }
}

static kiln_status put_pass(gen *g, int l)
{
    bool folds;
    char head[96];
    if (!plan_pass(g, l, &folds)) {
        return KILN_OK;
    }
    ind(g);
    kiln__text_printf(g->t, "/* pass %d */\n", l);
    if (!folds) {
        return put_flat_loop(g, "len", l);
    }
    int nf = pass_folds(g, l);
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        ind(g);
        kiln__text_printf(g->t, "%s v%d;\n", ctype(g->r->vals[i].dtype), i);
    }
    open_block(g, "");
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        const char *ct = ctype(g->r->vals[i].dtype);
        ind(g);
        kiln__text_printf(g->t, "const %s id%d = ", ct, i);
        put_id(g, i);
        kiln__text_puts(g->t, ";\n");
        ind(g);
        kiln__text_printf(g->t, "%s t%d = id%d, u%d = id%d, a%d[%d];\n", ct,
                          i, i, i, i, i, LANES);
    }
    ind(g);
    kiln__text_printf(g->t, "const int64_t nb = len / %d * %d;\n", LANES,
                      LANES);
    snprintf(head, sizeof head, "for (int64_t b = 0; b < nb; b += %d) ",
             BLOCK);
    open_block(g, head);
    ind(g);
    kiln__text_printf(g->t,
                      "const int64_t be = nb - b < %d ? nb : b + %d;\n",
                      BLOCK, BLOCK);
    snprintf(head, sizeof head, "for (int l = 0; l < %d; l++) ", LANES);
    open_block(g, head);
    for (int k = 0; k < nf; k++) {
        ind(g);
        kiln__text_printf(g->t, "a%d[l] = id%d;\n", g->folds[k],
                          g->folds[k]);
    }
    close_block(g);
    snprintf(head, sizeof head, "for (int64_t i = b; i < be; i += %d) ",
             LANES);
    open_block(g, head);
    if (g->fast && l == g->pf) {
        put_prefetch(g);
    }
    /* kept a loop (not unrolled): gcc then vectorises it with the lanes
     * held in registers */
    kiln__text_puts(g->t, "#pragma GCC unroll 1\n");
    snprintf(head, sizeof head, "for (int l = 0; l < %d; l++) ", LANES);
    open_block(g, head);
    if (put_pass_body(g, l, "i + l", "a%d[l]", nf) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    close_block(g);
    snprintf(head, sizeof head, "for (int w = %d; w > 0; w /= 2) ",
             LANES / 2);
    open_block(g, head);
    open_block(g, "for (int l = 0; l < w; l++) ");
    if (put_combines(g, nf, "a%d[l]", "a%d[l + w]") != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    close_block(g);
    if (put_combines(g, nf, "t%d", "a%d[0]") != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    open_block(g, "for (int64_t i = nb; i < len; i++) ");
    if (put_pass_body(g, l, "i", "u%d", nf) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    if (put_combines(g, nf, "t%d", "u%d") != KILN_OK) {
        return kiln_errcode();
    }
    /* results, rounded to storage precision for half dtypes */
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        kiln_dtype dt = g->r->vals[i].dtype;
        ind(g);
        if (is_half(dt)) {
            bool f16 = dt == KILN_DTYPE_FLOAT16;
            kiln__text_printf(g->t, "v%d = %s(t%d);\n", i,
                              f16 ? "kiln_f16_round" : "kiln_bf16_round", i);
        } else {
            kiln__text_printf(g->t, "v%d = t%d;\n", i, i);
        }
    }
    close_block(g);
    return KILN_OK;
}

/* One row: outer values by level, the passes, the outer stores. */
static kiln_status put_row(gen *g)
{
    const kiln_region *r = g->r;
    for (int l = 0; l <= g->last; l++) {
        if (put_values(g, CLS_OUTER, l, l) != KILN_OK ||
            put_pass(g, l) != KILN_OK) {
            return kiln_errcode();
        }
    }
    if (put_values(g, CLS_OUTER, g->last + 1, 1 << 30) != KILN_OK) {
        return kiln_errcode();
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (!r->vals[v].inner) {
            put_store(g, o, v, "", false);
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* entry                                                              */
/* ------------------------------------------------------------------ */

/* Emitted before every kernel (guarded, so once per source). Kernels
 * never contract a*b+c across ops, whatever the compiler flags (gcc
 * contracts by default outside -std=c11), since eager rounds after every
 * op; the strided variant, scalar anyway, is not vectorised (which halves
 * the compile time). */
static const char attr_text[] =
    "#ifndef KILN_KERNEL_ATTR\n"
    "#if defined(__GNUC__) && !defined(__clang__)\n"
    "#define KILN_KERNEL_ATTR __attribute__((optimize(\"fp-contract=off\")))"
    "\n"
    "#define KILN_STRIDED_ATTR \\\n"
    "    __attribute__((noinline, optimize(\"fp-contract=off\", "
    "\"no-tree-vectorize\")))\n"
    "#else\n"
    "#define KILN_KERNEL_ATTR\n"
    "#define KILN_STRIDED_ATTR __attribute__((noinline))\n"
    "#endif\n"
    "#if defined(__GNUC__)\n"
    "#define KILN_PREFETCH(a) __builtin_prefetch(a)\n"
    "#else\n"
    "#define KILN_PREFETCH(a) ((void)(a))\n"
    "#endif\n"
    "#if defined(__clang__)\n"
    "#define KILN_IVDEP _Pragma(\"clang loop vectorize(assume_safety)\")\n"
    "#elif defined(__GNUC__)\n"
    "#define KILN_IVDEP _Pragma(\"GCC ivdep\")\n"
    "#else\n"
    "#define KILN_IVDEP\n"
    "#endif\n"
    "#endif\n";

/* `const int64_t len, *st` from ctx (reductions). */
static void put_ctx(gen *g)
{
    ind(g);
    kiln__text_puts(g->t,
                    "/* ctx: kiln_region_inner {len; stride[16]} */\n");
    ind(g);
    kiln__text_puts(g->t,
                    "const int64_t len = ((const int64_t *)ctx)[0];\n");
    ind(g);
    kiln__text_puts(g->t, "const int64_t *st = (const int64_t *)ctx + 1;\n");
}

/*
 * Output rows as caches (fast variant of reduction regions): an inner
 * output stored in pass L > 0 has its row free until then, so an OP value
 * computed in an earlier pass l (for a fold) and needed again in pass L
 * is written to that row in pass l and read back in pass L instead of
 * recomputed: softmax's exp runs once, not twice. Same value, same bits.
 * Only for outputs whose storage is the value's compute type (no
 * rounding), one value per output, the latest-defined candidate (it holds
 * the most work).
 */
static void plan_cache(gen *g)
{
    const kiln_region *r = g->r;
    bool folds;
    for (int i = 0; i < r->nvals; i++) {
        g->cache[i] = -1;
    }
    if (!g->reduce) {
        return;
    }
    for (int o = 0; o < r->noutputs; o++) {
        int ov = r->out_val[o];
        kiln_dtype dt = out_dtype(g, o);
        int L = g->lev[ov];
        if (!r->vals[ov].inner || L == 0 || is_half(dt) ||
            dt == KILN_DTYPE_BOOL) {
            continue;
        }
        g->fast = false; /* plan without caches */
        plan_pass(g, L, &folds);
        int best = -1;
        for (int i = 0; i < r->nvals; i++) {
            const kiln_rval *v = &r->vals[i];
            if (g->need[i] && v->kind == KILN_RVAL_OP &&
                g->cls[i] == CLS_INNER && g->lev[i] < L &&
                v->dtype == dt && g->cache[i] < 0 && i != ov) {
                best = i;
            }
        }
        if (best < 0) {
            continue;
        }
        /* it must be computed over the whole row in its own pass */
        plan_pass(g, g->lev[best], &folds);
        if (g->need[best]) {
            bool taken = false;
            for (int i = 0; i < r->nvals; i++) {
                taken = taken || g->cache[i] == o;
            }
            if (!taken) {
                g->cache[best] = o;
            }
        }
    }
}

/*
 * Half-precision plans (file comment). sw: a float16/bfloat16 OP result
 * stored as an inner output, which keeps its unrounded w<i> for the store
 * (put_value). stage: a moving float16 operand of the fast variant, read
 * or written through a float block (put_flat_loop) or row
 * (put_row_stage).
 */
static void plan_half(gen *g)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        g->sw[i] = false;
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        g->sw[v] = g->sw[v] ||
                   (r->vals[v].kind == KILN_RVAL_OP &&
                    is_half(r->vals[v].dtype) && !g->wide[v] &&
                    g->cls[v] == CLS_INNER);
    }
    for (int o = 0; o < noperands(g); o++) {
        g->stage[o] = role(g, o) == ROLE_MOVING &&
                      op_dtype(g, o) == KILN_DTYPE_FLOAT16;
    }
}

/*
 * Shared rows (fast variant of reduction regions with staged rows): the
 * first staged output stored in the last pass, when that pass does not
 * fold, is written into the row of a staged input instead of a row of its
 * own. Every earlier pass has read that input by then, and the last pass
 * reads element i before it writes element i (the loop runs under ivdep,
 * the staged operands without restrict), so the row is still right where
 * it is read; the rows then fit the L1 cache where they would not (layer
 * norm's float16 rows of 4096: 48 KB instead of 64, 10% faster). Which
 * input is picked at run time (put_row_stage): the first whose rows move,
 * since one whose rows repeat (row stride 0) is converted once for all
 * rows and must keep its row; with none, the output has its own row.
 */
static void plan_share(gen *g)
{
    const kiln_region *r = g->r;
    bool folds = true, any = false;
    g->share = -1;
    for (int q = r->noutputs; q < noperands(g); q++) {
        any = any || g->stage[q];
    }
    if (!g->reduce || !any || !plan_pass(g, g->last, &folds) || folds) {
        return;
    }
    for (int o = 0; o < r->noutputs && g->share < 0; o++) {
        int ov = r->out_val[o];
        if (g->stage[o] && r->vals[ov].inner && g->lev[ov] == g->last) {
            g->share = o;
        }
    }
}

/* The fast variant: a static helper whose typed parameters are the
 * moving operands (one row of a reduction, or the n elements). */
static kiln_status put_fast(gen *g, const char *symbol)
{
    plan_cache(g);
    kiln__text_printf(g->t,
                      "static inline __attribute__((always_inline)) "
                      "KILN_KERNEL_ATTR void\n%s_fast(",
                      symbol);
    put_params(g);
    kiln__text_puts(g->t, ")\n{\n");
    g->depth = 1;
    g->fast = true;
    for (int o = 0; o < noperands(g) && !g->reduce; o++) {
        if (g->stage[o]) {
            ind(g);
            kiln__text_printf(g->t, "float c%d[%d];\n", o, STAGE);
        }
    }
    kiln_status st = g->reduce ? put_row(g) : put_ew_loop(g);
    kiln__text_puts(g->t, "}\n");
    return st;
}

/* The strided variant: byte offsets, the kernel's own signature. */
static kiln_status put_strided(gen *g, const char *symbol)
{
    kiln__text_printf(g->t,
                      "static KILN_STRIDED_ATTR void\n%s_strided(void *ctx, "
                      "char *const *p, const int64_t *s, int64_t n)\n{\n",
                      symbol);
    g->depth = 1;
    g->fast = false;
    if (g->reduce) {
        put_ctx(g);
    } else {
        ind(g);
        kiln__text_puts(g->t, "(void)ctx;\n");
    }
    if (put_values(g, CLS_UNIFORM, 0, 1 << 30) != KILN_OK) {
        return kiln_errcode();
    }
    kiln_status st;
    if (g->reduce) {
        open_block(g, "for (int64_t row = 0; row < n; row++) ");
        put_row_pointers(g);
        st = put_row(g);
        close_block(g);
    } else {
        st = put_ew_loop(g);
    }
    kiln__text_puts(g->t, "}\n");
    return st;
}

/*
 * Row staging (reductions with staged operands): each float16 row is
 * converted once into a float row c<o> that every pass reads, and the
 * output rows are narrowed after the row; an input whose rows repeat
 * (row stride 0: a weight broadcast over the rows) is converted once.
 * The rows come from a stack buffer when they fit, else from malloc;
 * without memory the strided variant runs. Returns the number of rows.
 */
static int put_row_stage(gen *g, const char *symbol)
{
    int ns = 0;
    for (int o = 0; o < noperands(g); o++) {
        ns += g->stage[o];
    }
    if (ns == 0) {
        return 0;
    }
    ind(g);
    kiln__text_printf(g->t, "float sbuf[%d];\n", ROW_STAGE);
    ind(g);
    kiln__text_printf(g->t,
                      "float *stage = len <= %d ? sbuf : "
                      "(float *)malloc((size_t)len * %d * sizeof(float));\n",
                      ROW_STAGE / ns, ns);
    open_block(g, "if (!stage) ");
    ind(g);
    kiln__text_printf(g->t, "%s_strided(ctx, p, s, n);\n", symbol);
    ind(g);
    kiln__text_puts(g->t, "return;\n");
    close_block(g);
    int k = 0;
    for (int o = 0; o < noperands(g); o++) {
        if (g->stage[o] && o != g->share) {
            ind(g);
            kiln__text_printf(g->t, "float *c%d = stage + %d * len;\n", o,
                              k++);
        }
    }
    if (g->share >= 0) {
        /* the first input whose rows move; one converted once for all
         * rows keeps its row */
        ind(g);
        kiln__text_printf(g->t, "float *c%d = ", g->share);
        for (int q = g->r->noutputs; q < noperands(g); q++) {
            if (g->stage[q]) {
                kiln__text_printf(g->t, "s[%d] != 0 ? c%d : ", q, q);
            }
        }
        kiln__text_printf(g->t, "stage + %d * len;\n", k);
    }
    return ns;
}

/* The conversions of row `row`: staged inputs before the helper (load),
 * staged outputs after it. */
static void put_row_convert(gen *g, bool load)
{
    for (int o = 0; o < noperands(g); o++) {
        bool in = o >= g->r->noutputs;
        if (!g->stage[o] || in != load) {
            continue;
        }
        ind(g);
        if (load) {
            kiln__text_printf(g->t,
                              "if (row == 0 || s[%d] != 0) {\n", o);
            ind(g);
            kiln__text_printf(g->t,
                              "    kiln_f16_to_f32_n((const kiln_f16 *)"
                              "(const void *)(p[%d] + row * s[%d]), c%d, "
                              "len);\n",
                              o, o, o);
            ind(g);
            kiln__text_puts(g->t, "}\n");
        } else {
            kiln__text_printf(g->t,
                              "kiln_f32_to_f16_n(c%d, (kiln_f16 *)(void *)"
                              "(p[%d] + row * s[%d]), len);\n",
                              o, o, o);
        }
    }
}

/* The exported kernel: picks the variant. */
static kiln_status put_kernel(gen *g, const char *symbol)
{
    char fn[160];
    snprintf(fn, sizeof fn, "%s_fast", symbol);
    kiln__text_printf(g->t,
                      "KILN_KERNEL_ATTR __attribute__((visibility("
                      "\"default\"))) void\n%s(void *ctx, char *const *p, "
                      "const int64_t *s, int64_t n)\n{\n",
                      symbol);
    g->depth = 1;
    g->fast = true;
    open_block(g, "if (n <= 0) ");
    ind(g);
    kiln__text_puts(g->t, "return;\n");
    close_block(g);
    if (g->reduce) {
        put_ctx(g);
    }
    put_fast_cond(g, g->reduce ? "st" : "s");
    g->depth++;
    if (put_values(g, CLS_UNIFORM, 0, 1 << 30) != KILN_OK) {
        return kiln_errcode();
    }
    if (g->reduce) {
        int ns = put_row_stage(g, symbol);
        open_block(g, "for (int64_t row = 0; row < n; row++) ");
        put_row_convert(g, true);
        put_row_call(g, fn);
        put_row_convert(g, false);
        close_block(g);
        if (ns > 0) {
            ind(g);
            kiln__text_puts(g->t, "if (stage != sbuf) {\n");
            ind(g);
            kiln__text_puts(g->t, "    free(stage);\n");
            ind(g);
            kiln__text_puts(g->t, "}\n");
        }
    } else {
        put_ew_call(g, fn);
    }
    g->depth--;
    ind(g);
    kiln__text_puts(g->t, "} else {\n");
    g->depth++;
    ind(g);
    kiln__text_printf(g->t, "%s_strided(ctx, p, s, n);\n", symbol);
    close_block(g);
    kiln__text_puts(g->t, "}\n");
    return KILN_OK;
}

kiln_status kiln__codegen_region(const kiln_region *r, const char *symbol,
                                 kiln_text *out)
{
    if (!r || !out) {
        return kiln__err_null(FN);
    }
    if (!is_ident(symbol) || strlen(symbol) > 100) {
        return kiln__err(KILN_ERR_VALUE, "[%s] bad symbol name", FN);
    }
    if (check(r) != KILN_OK) {
        return kiln_errcode();
    }
    size_t nv = (size_t)r->nvals;
    size_t ni = (size_t)(r->ninputs > 0 ? r->ninputs : 1);
    gen g = {0};
    g.r = r;
    g.t = out;
    g.reduce = r->nreduce > 0;
    int *ints = malloc((4 * nv + ni) * sizeof *ints);
    unsigned char *bytes = malloc(nv * (1 + 6 * sizeof(bool)));
    if (!ints || !bytes) {
        free(ints);
        free(bytes);
        return kiln__err_oom(FN, nv * 16);
    }
    g.lev = ints;
    g.folds = ints + nv;
    g.in_val = ints + 2 * nv;
    g.cache = ints + 2 * nv + ni;
    g.seg = ints + 3 * nv + ni;
    for (size_t i = 0; i < nv; i++) {
        g.cache[i] = -1;
    }
    g.cls = bytes;
    g.live = (bool *)(void *)(bytes + nv);
    g.need = g.live + nv;
    g.wide = g.need + nv;
    g.sw = g.wide + nv;
    g.rnd = g.sw + nv;
    g.mark = g.rnd + nv;
    kiln_status st = analyse(&g);
    if (st == KILN_OK) {
        plan_half(&g);
        plan_share(&g);
        plan_prefetch(&g);
    }
    if (st == KILN_OK && !g.reduce) {
        for (int i = 0; i < r->nvals; i++) {
            g.need[i] = g.live[i] && g.cls[i] == CLS_INNER;
        }
    }
    if (st == KILN_OK) {
        bool rows = false;
        for (int o = 0; o < noperands(&g); o++) {
            rows = rows || (g.reduce && g.stage[o]);
        }
        kiln__text_puts(out, attr_text);
        if (rows) {
            kiln__text_puts(out, "#include <stdlib.h>\n"); /* malloc */
        }
        st = put_fast(&g, symbol);
    }
    if (st == KILN_OK) {
        st = put_strided(&g, symbol);
    }
    if (st == KILN_OK) {
        st = put_kernel(&g, symbol);
    }
    if (st == KILN_OK && !kiln__text_ok(out, FN)) {
        st = kiln_errcode();
    }
    free(ints);
    free(bytes);
    return st;
}

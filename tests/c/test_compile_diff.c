/*
 * test_compile_diff.c - differential test of kiln_compile: random graphs of
 * elementwise ops, casts, reductions, broadcasting and movement, run eager,
 * compiled with the JIT and compiled with the interpreter (KILN_JIT=0), must
 * agree.
 *
 * A small deterministic generator (splitmix64, seeded per graph) builds
 * each graph as a list of ops over six inputs: A and B (m, n), R (n,),
 * C (m, 1), S () and W (m + 1, 2n); A is sometimes passed as a transposed
 * view and sometimes holds a NaN. Every value has a shape class, a bound on
 * its magnitude and a bound on how far two correct evaluations may differ
 * (0 for elementwise work, which is the same math in every path; reductions
 * may sum in another order). Ops that would make results too large, or feed
 * an inexact value into a discontinuous op (floor, a comparison, a float16
 * round trip, sqrt near 0), are not generated, so any disagreement beyond
 * a relative 1e-4 plus that bound is a bug. Integer and bool outputs must
 * match exactly, NaN positions too.
 *
 * Counts: KILN_FUZZ_N graphs (default 200), the first KILN_FUZZ_JIT_N of
 * them also through the JIT (default 60; all of them when only KILN_FUZZ_N
 * is set); KILN_FUZZ_SEED moves the base seed; KILN_FUZZ_ONLY=<graph seed>
 * reruns the one graph a failure named (JIT and interpreter). A failure
 * prints the graph's seed, the graph and the compiled function's traced
 * dump.
 *
 * The fallbacks are checked on such graphs too (fresh ones, so no kernel
 * built earlier fits them): without a compiler (KILN_CC=false, an empty
 * cache folder) and with KILN_JIT=0 results match eager through the
 * interpreter; KILN_JIT=require without a compiler fails with a message.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kiln.h"

#define F32 KILN_DTYPE_FLOAT32
#define MAX_OPS 30
#define NIN 6
#define MAX_VALS (NIN + MAX_OPS)

enum op_kind {
    /* unary */
    U_EXP, U_LOG1ABS, U_TANH, U_SQRTABS, U_NEG, U_SQUARE, U_SIGMOID,
    U_FLOOR, U_ERF, U_HALF,
    /* binary */
    B_ADD, B_SUB, B_MUL, B_DIVAWAY, B_MAX, B_MIN, B_WHERE_GT, B_HALFCHAIN,
    /* reductions over the last axis */
    R_SUM, R_MAX, R_MEAN,
    /* movement */
    M_TRANSPOSE, M_SLICE, M_RESHAPE,
    N_KINDS
};

static const char *kind_name[N_KINDS] = {
    "exp", "log(|x|+1)", "tanh", "sqrt(|x|)", "negative", "square",
    "sigmoid", "floor", "erf", "f16 round trip", "add", "subtract",
    "multiply", "divide(a, |b|+0.5)", "maximum", "minimum",
    "where(a > b, a, c)", "float16 (a * b + a) * b", "sum(-1)", "max(-1)", "mean(-1)", "transpose",
    "slice", "reshape"}; /* reductions keep dims except on (n) */

/* shape classes */
enum { C_FULL, C_ROW, C_COL, C_SCALAR, C_WIDE, C_WCOL };
static const char *cls_name[6] = {"(m,n)", "(n)", "(m,1)", "()",
                                  "(m+1,2n)", "(m+1,1)"};

typedef struct gop {
    int kind, a, b, c, sub;
} gop;

typedef struct graph {
    uint64_t seed;
    int64_t m, n;
    bool a_transposed, nan_in;
    int nops;
    gop ops[MAX_OPS];
    int cls[MAX_VALS];
    double bound[MAX_VALS], err[MAX_VALS];
    int nout, outs[3];
    int int_out, bool_a, bool_b; /* -1 when absent */
} graph;

static uint64_t sm_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int sm_below(uint64_t *s, int n)
{
    return (int)(sm_next(s) % (uint64_t)n);
}

static double sm_unit(uint64_t *s)
{
    return (double)(sm_next(s) >> 11) * 0x1p-53;
}

static int combine(int a, int b)
{
    if (a == b || b == C_SCALAR) {
        return a;
    }
    if (a == C_SCALAR) {
        return b;
    }
    if (a <= C_COL && b <= C_COL) {
        return C_FULL;
    }
    if (a >= C_WIDE && b >= C_WIDE) {
        return C_WIDE;
    }
    return -1;
}

static int64_t reduced_len(const graph *g, int cls)
{
    return cls == C_ROW || cls == C_FULL ? g->n : (cls == C_WIDE ? 2 * g->n
                                                                 : 1);
}

/* Reordered float32 sums: at most EPS_SUM * (1 + log2 len) relative to the
 * sum of magnitudes (blocked or pairwise summation; a naive loop stays far
 * below this for the short axes used here). */
#define EPS_SUM 2.4e-7
#define BOUND_CAP 5e3
#define ERR_CAP 1e-3

/* Fills in the class, bound and error of op o (value v) and says whether
 * the op may be generated. */
static bool plan(graph *g, const gop *o, int v)
{
    int ca = g->cls[o->a], cb = g->cls[o->b], cc = g->cls[o->c];
    double ba = g->bound[o->a], bb = g->bound[o->b], bc = g->bound[o->c];
    double ea = g->err[o->a], eb = g->err[o->b], ec = g->err[o->c];
    int cls = ca;
    double bound = ba, err = ea;
    switch (o->kind) {
    case U_EXP:
        if (ba > 6) {
            return false;
        }
        bound = exp(ba);
        err = ea * bound;
        break;
    case U_LOG1ABS:
        bound = log(ba + 1);
        break;
    case U_TANH:
    case U_SIGMOID:
    case U_ERF:
        bound = 1;
        err = ea * 1.2;
        break;
    case U_SQRTABS:
        if (ea > 0) {
            return false;
        }
        bound = sqrt(ba);
        break;
    case U_SQUARE:
        bound = ba * ba;
        err = 2 * ba * ea;
        break;
    case U_FLOOR:
    case U_HALF:
        if (ea > 0) {
            return false;
        }
        bound = ba + 1;
        break;
    case U_NEG:
        break;
    case B_ADD:
    case B_SUB:
    case B_MAX:
    case B_MIN:
    case B_MUL:
    case B_DIVAWAY:
        cls = combine(ca, cb);
        bound = o->kind == B_MUL ? ba * bb
                                 : (o->kind == B_DIVAWAY ? 2 * ba
                                                         : (o->kind <= B_SUB
                                                                ? ba + bb
                                                                : fmax(ba, bb)));
        err = o->kind == B_MUL ? ba * eb + bb * ea
                               : (o->kind == B_DIVAWAY ? 2 * ea + 4 * ba * eb
                                                       : ea + eb);
        break;
    case B_HALFCHAIN:
        /* rounded at every op, in either path the same bits: exact inputs
         * give an exact result (eager's bits) */
        if (ea > 0 || eb > 0) {
            return false;
        }
        cls = combine(ca, cb);
        bound = (ba * bb + ba) * bb * 1.01 + 1;
        err = 0;
        break;
    case B_WHERE_GT:
        if (ea > 0 || eb > 0) {
            return false;
        }
        cls = combine(combine(ca, cb), cc);
        if (combine(ca, cb) < 0) {
            return false;
        }
        bound = fmax(ba, bc);
        err = ec;
        break;
    case R_SUM:
    case R_MAX:
    case R_MEAN: {
        if (ca == C_SCALAR) {
            return false;
        }
        int64_t len = reduced_len(g, ca);
        double rel = EPS_SUM * (1 + log2((double)len));
        cls = ca == C_ROW ? C_SCALAR : (ca == C_WIDE || ca == C_WCOL ? C_WCOL
                                                                     : C_COL);
        if (o->kind == R_SUM) {
            bound = ba * (double)len;
            err = (double)len * (ea + rel * ba);
        } else if (o->kind == R_MEAN) {
            err = ea + rel * ba;
        }
        break;
    }
    case M_TRANSPOSE:
        if (ca != C_FULL || g->m != g->n) {
            return false;
        }
        break;
    case M_SLICE:
        if (ca != C_WIDE) {
            return false;
        }
        cls = C_FULL;
        break;
    default: /* M_RESHAPE */
        if (ca != C_FULL) {
            return false;
        }
        break;
    }
    if (cls < 0 || !(bound <= BOUND_CAP) || !(err <= ERR_CAP)) {
        return false;
    }
    g->cls[v] = cls;
    g->bound[v] = bound;
    g->err[v] = err;
    return true;
}

static int pick_val(uint64_t *s, int nvals)
{
    if (sm_below(s, 10) < 6) {
        int back = sm_below(s, nvals < 4 ? nvals : 4);
        return nvals - 1 - back;
    }
    return sm_below(s, nvals);
}

static void build(graph *g, uint64_t seed)
{
    memset(g, 0, sizeof *g);
    uint64_t s = seed;
    g->seed = seed;
    g->m = 1 + sm_below(&s, 7);
    g->n = sm_below(&s, 10) < 3 ? g->m : 1 + sm_below(&s, 70);
    g->a_transposed = sm_below(&s, 4) == 0;
    g->nan_in = sm_below(&s, 10) == 0;
    const int in_cls[NIN] = {C_FULL, C_FULL, C_ROW, C_COL, C_SCALAR, C_WIDE};
    const double in_bound[NIN] = {2, 2, 3, 3, 1, 2};
    for (int i = 0; i < NIN; i++) {
        g->cls[i] = in_cls[i];
        g->bound[i] = in_bound[i];
    }
    int nops = 10 + sm_below(&s, 21);
    int nvals = NIN;
    for (int k = 0; k < nops; k++) {
        gop o = {0};
        bool ok = false;
        for (int tries = 0; tries < 60 && !ok; tries++) {
            int r = sm_below(&s, 100);
            o.kind = r < 35   ? sm_below(&s, 10)
                     : r < 72 ? B_ADD + sm_below(&s, 8)
                     : r < 84 ? R_SUM + sm_below(&s, 3)
                              : M_TRANSPOSE + sm_below(&s, 3);
            o.a = pick_val(&s, nvals);
            o.b = pick_val(&s, nvals);
            o.c = pick_val(&s, nvals);
            o.sub = sm_below(&s, 4);
            if (o.kind == M_SLICE && sm_below(&s, 2)) {
                o.a = 5; /* W itself, most of the time */
            }
            ok = plan(g, &o, nvals);
        }
        if (!ok) {
            o = (gop){U_TANH, nvals - 1, 0, 0, 0};
            plan(g, &o, nvals);
        }
        g->ops[g->nops++] = o;
        nvals++;
    }
    g->outs[g->nout++] = nvals - 1;
    for (int k = sm_below(&s, 3); k > 0; k--) {
        g->outs[g->nout++] = NIN + sm_below(&s, g->nops);
    }
    g->int_out = g->bool_a = g->bool_b = -1;
    int v = NIN + sm_below(&s, g->nops);
    if (!g->nan_in && g->err[v] == 0 && g->bound[v] < 1e6 &&
        sm_below(&s, 3) == 0) {
        g->int_out = v;
    }
    int w = NIN + sm_below(&s, g->nops);
    if (g->err[v] == 0 && g->err[w] == 0 &&
        combine(g->cls[v], g->cls[w]) >= 0 && sm_below(&s, 3) == 0) {
        g->bool_a = v;
        g->bool_b = w;
    }
}

static void print_graph(const graph *g)
{
    fprintf(stderr, "  graph seed %llu: m %lld n %lld%s%s\n",
            (unsigned long long)g->seed, (long long)g->m, (long long)g->n,
            g->a_transposed ? ", A transposed" : "",
            g->nan_in ? ", NaN in A" : "");
    for (int k = 0; k < g->nops; k++) {
        const gop *o = &g->ops[k];
        int v = NIN + k;
        fprintf(stderr, "    v%d = %s(v%d", v, kind_name[o->kind], o->a);
        if (o->kind >= B_ADD && o->kind <= B_HALFCHAIN) {
            fprintf(stderr, ", v%d", o->b);
        }
        if (o->kind == B_WHERE_GT) {
            fprintf(stderr, ", v%d", o->c);
        }
        if (o->kind >= M_TRANSPOSE) {
            fprintf(stderr, "; variant %d", o->sub);
        }
        fprintf(stderr, ")  %s bound %.3g err %.3g\n", cls_name[g->cls[v]],
                g->bound[v], g->err[v]);
    }
    fprintf(stderr, "    outputs:");
    for (int i = 0; i < g->nout; i++) {
        fprintf(stderr, " v%d", g->outs[i]);
    }
    if (g->int_out >= 0) {
        fprintf(stderr, " int32(floor(v%d))", g->int_out);
    }
    if (g->bool_a >= 0) {
        fprintf(stderr, " v%d > v%d", g->bool_a, g->bool_b);
    }
    fprintf(stderr, "\n");
}

static kiln_array *apply(const graph *g, const gop *o, kiln_array **v)
{
    kiln_array *a = v[o->a], *b = v[o->b];
    int last = -1;
    int64_t m = g->m, n = g->n;
    switch (o->kind) {
    case U_EXP:
        return kiln_exp(a);
    case U_LOG1ABS:
        return kiln_log(kiln_add(kiln_abs(a), kiln_weak_f64(1.0)));
    case U_TANH:
        return kiln_tanh(a);
    case U_SQRTABS:
        return kiln_sqrt(kiln_abs(a));
    case U_NEG:
        return kiln_negative(a);
    case U_SQUARE:
        return kiln_square(a);
    case U_SIGMOID:
        return kiln_sigmoid(a);
    case U_FLOOR:
        return kiln_floor(a);
    case U_ERF:
        return kiln_erf(a);
    case U_HALF:
        return kiln_astype(kiln_astype(a, KILN_DTYPE_FLOAT16), F32);
    case B_ADD:
        return kiln_add(a, b);
    case B_SUB:
        return kiln_subtract(a, b);
    case B_MUL:
        return kiln_multiply(a, b);
    case B_DIVAWAY:
        return kiln_divide(a, kiln_add(kiln_abs(b), kiln_weak_f64(0.5)));
    case B_MAX:
        return kiln_maximum(a, b);
    case B_MIN:
        return kiln_minimum(a, b);
    case B_WHERE_GT:
        return kiln_where(kiln_greater(a, b), a, v[o->c]);
    case B_HALFCHAIN: {
        /* float16 values read by float16 ops: rounded in blocks in the
         * kernels (codegen_loop.c plan_round) */
        kiln_array *ha = kiln_astype(a, KILN_DTYPE_FLOAT16);
        kiln_array *hb = kiln_astype(b, KILN_DTYPE_FLOAT16);
        return kiln_astype(
            kiln_multiply(kiln_add(kiln_multiply(ha, hb), ha), hb), F32);
    }
    case R_SUM:
    case R_MAX:
    case R_MEAN: {
        bool keep = g->cls[o->a] != C_ROW;
        return o->kind == R_SUM   ? kiln_sum(a, &last, 1, keep)
               : o->kind == R_MAX ? kiln_max(a, &last, 1, keep)
                                  : kiln_mean(a, &last, 1, keep);
    }
    case M_TRANSPOSE:
        return kiln_transpose(a, NULL, 0);
    case M_SLICE: {
        int64_t start[4][2] = {{0, 0}, {1, n}, {0, 0}, {m, 2 * n - 1}};
        int64_t stop[4][2] = {{m, n}, {m + 1, 2 * n}, {m, 2 * n},
                              {0, KILN_SLICE_END}};
        int64_t step[4][2] = {{1, 1}, {1, 1}, {1, 2}, {-1, -2}};
        return kiln_slice(a, start[o->sub], stop[o->sub], step[o->sub]);
    }
    default: {
        int64_t nm[2] = {n, m}, mn[2] = {m, n}, flat = m * n;
        if (o->sub < 2) {
            return kiln_transpose(kiln_reshape(a, nm, 2), NULL, 0);
        }
        return kiln_reshape(kiln_negative(kiln_reshape(a, &flat, 1)), mn, 2);
    }
    }
}

static kiln_status graph_body(void *ctx, const kiln_list *args,
                              kiln_list *res)
{
    const graph *g = ctx;
    kiln_array *v[MAX_VALS];
    kiln_status s = KILN_OK;
    kiln_scope_begin();
    for (int i = 0; i < NIN; i++) {
        v[i] = kiln_list_get(args, (size_t)i);
    }
    for (int k = 0; k < g->nops; k++) {
        v[NIN + k] = apply(g, &g->ops[k], v);
    }
    for (int i = 0; i < g->nout && s == KILN_OK; i++) {
        s = kiln_list_push(res, v[g->outs[i]]);
    }
    if (g->int_out >= 0 && s == KILN_OK) {
        s = kiln_list_push(res, kiln_astype(kiln_floor(v[g->int_out]),
                                            KILN_DTYPE_INT32));
    }
    if (g->bool_a >= 0 && s == KILN_OK) {
        s = kiln_list_push(res, kiln_greater(v[g->bool_a], v[g->bool_b]));
    }
    kiln_scope_end(NULL);
    return s;
}

/* The six inputs, values from seed (kept in the open scope). */
static void make_inputs(const graph *g, uint64_t seed, kiln_array **in)
{
    uint64_t s = seed;
    int64_t m = g->m, n = g->n;
    const int64_t shp[NIN][2] = {{m, n}, {m, n}, {n, 0}, {m, 1}, {0, 0},
                                 {m + 1, 2 * n}};
    const int nd[NIN] = {2, 2, 1, 2, 0, 2};
    const double lo[NIN] = {-2, -2, -3, -3, -1, -2};
    for (int i = 0; i < NIN; i++) {
        int64_t shape[2] = {shp[i][0], shp[i][1]};
        bool t = i == 0 && g->a_transposed;
        if (t) {
            shape[0] = n;
            shape[1] = m;
        }
        int64_t cnt = nd[i] == 0 ? 1 : shape[0] * (nd[i] == 2 ? shape[1] : 1);
        float *d = malloc((size_t)cnt * sizeof *d);
        for (int64_t j = 0; j < cnt; j++) {
            d[j] = (float)(lo[i] + -2 * lo[i] * sm_unit(&s));
        }
        if (i == 0 && g->nan_in) {
            d[sm_below(&s, (int)cnt)] = NAN;
        }
        in[i] = kiln_array_from_data(d, shape, nd[i], F32);
        free(d);
        if (t) {
            in[i] = kiln_transpose(in[i], NULL, 0);
        }
    }
    kiln_eval(in, NIN);
}

static kiln_list *run(kiln_fn *f, kiln_array **in)
{
    kiln_list *l = kiln_list_new();
    for (int i = 0; i < NIN; i++) {
        kiln_list_push(l, in[i]);
    }
    kiln_list *r = kiln_fn_call(f, l);
    kiln_list_free(l);
    return r;
}

/* Compares every output; on a mismatch writes why. */
static bool same_results(const graph *g, kiln_list *got, kiln_list *want,
                         char *why, size_t cap)
{
    if (!got || !want) {
        snprintf(why, cap, "call failed: %s", kiln_errmsg());
        return false;
    }
    if (kiln_list_size(got) != kiln_list_size(want)) {
        snprintf(why, cap, "%zu results, want %zu", kiln_list_size(got),
                 kiln_list_size(want));
        return false;
    }
    for (size_t k = 0; k < kiln_list_size(want); k++) {
        kiln_array *a = kiln_list_get(got, k), *b = kiln_list_get(want, k);
        kiln_dtype dt = kiln_array_dtype(b);
        bool shape_ok = kiln_array_dtype(a) == dt &&
                        kiln_array_ndim(a) == kiln_array_ndim(b);
        for (int d = 0; shape_ok && d < kiln_array_ndim(b); d++) {
            shape_ok = kiln_array_dim(a, d) == kiln_array_dim(b, d);
        }
        if (!shape_ok) {
            snprintf(why, cap, "result %zu: dtype or shape differs", k);
            return false;
        }
        size_t nb = kiln_array_nbytes(b);
        unsigned char *pa = malloc(nb + 1), *pb = malloc(nb + 1);
        bool ok = kiln_array_read(a, pa, nb) == KILN_OK &&
                  kiln_array_read(b, pb, nb) == KILN_OK;
        if (!ok) {
            snprintf(why, cap, "result %zu: read failed: %s", k,
                     kiln_errmsg());
        } else if (dt != F32) {
            ok = memcmp(pa, pb, nb) == 0;
            if (!ok) {
                snprintf(why, cap, "result %zu (%s) differs", k,
                         kiln_dtype_name(dt));
            }
        } else {
            double err = k < (size_t)g->nout ? g->err[g->outs[k]] : 0;
            const float *x = (const float *)pa, *y = (const float *)pb;
            for (int64_t i = 0; ok && i < kiln_array_size(b); i++) {
                double xi = x[i], yi = y[i];
                ok = (isnan(xi) && isnan(yi)) || xi == yi ||
                     fabs(xi - yi) <= 1e-4 * fabs(yi) + 4 * err;
                if (!ok) {
                    snprintf(why, cap,
                             "result %zu element %lld: %.9g, want %.9g "
                             "(error bound %.3g)",
                             k, (long long)i, xi, yi, err);
                }
            }
        }
        free(pa);
        free(pb);
        if (!ok) {
            return false;
        }
    }
    return true;
}

static int env_count(const char *name, int dflt)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : dflt;
}

static int reported;

static void report(const graph *g, kiln_fn *cf, const char *path,
                   const char *why)
{
    if (reported++ >= 3) {
        return;
    }
    fprintf(stderr, "  %s disagrees with eager: %s\n", path, why);
    print_graph(g);
    char *d = cf ? kiln_compile_dump(cf, getenv("KILN_FUZZ_FUSED") ? KILN_DUMP_FUSED : KILN_DUMP_TRACED) : NULL;
    if (d) {
        fprintf(stderr, "  traced:\n%s\n", d);
    }
    kiln_free(d);
}

TEST(compile_diff_random_graphs)
{
    int n = env_count("KILN_FUZZ_N", 200);
    int njit = env_count("KILN_FUZZ_JIT_N",
                         getenv("KILN_FUZZ_N") ? n : 60);
    uint64_t base = (uint64_t)env_count("KILN_FUZZ_SEED", 1) * 1000003u;
    const char *only = getenv("KILN_FUZZ_ONLY");
    if (only && *only) {
        base = strtoull(only, NULL, 10);
        n = njit = 1;
    }
    const char *jit0 = getenv("KILN_JIT");
    char *jit_saved = jit0 ? strdup(jit0) : NULL;
    graph *g = malloc(sizeof *g);
    int bad = 0;
    reported = 0;
    for (int i = 0; i < n; i++) {
        build(g, base + (uint64_t)i);
        kiln_scope_begin();
        kiln_array *in1[NIN], *in2[NIN];
        make_inputs(g, g->seed * 7 + 1, in1);
        make_inputs(g, g->seed * 7 + 2, in2);
        kiln_fn *f = kiln_fn_new(graph_body, g, NULL, "fuzz");
        kiln_fn *cf = kiln_compile(f, NULL);
        kiln_list *e1 = run(f, in1), *e2 = run(f, in2);
        char why[256];
        bool ok = true;
        if (!e1 || !e2) {
            snprintf(why, sizeof why, "eager failed: %s", kiln_errmsg());
            report(g, NULL, "eager", why);
            ok = false;
        }
        if (ok && i < njit) {
            kiln_list *c1 = run(cf, in1), *c2 = run(cf, in2);
            if (!same_results(g, c1, e1, why, sizeof why) ||
                !same_results(g, c2, e2, why, sizeof why)) {
                report(g, cf, "JIT", why);
                ok = false;
            }
            kiln_compile_stats st;
            memset(&st, 0, sizeof st);
            kiln_compile_stats_get(cf, &st);
            if (ok && (st.traces != 1 || st.cache_hits != 1)) {
                snprintf(why, sizeof why, "traces %lld hits %lld",
                         (long long)st.traces, (long long)st.cache_hits);
                report(g, cf, "JIT cache", why);
                ok = false;
            }
            kiln_list_free(c1);
            kiln_list_free(c2);
            kiln_compile_clear_cache(cf);
        }
        if (ok) {
            setenv("KILN_JIT", "0", 1);
            kiln_list *c2 = run(cf, in2);
            if (!same_results(g, c2, e2, why, sizeof why)) {
                report(g, cf, "interpreter", why);
                ok = false;
            }
            kiln_list_free(c2);
            kiln_compile_clear_cache(cf);
            if (jit_saved) {
                setenv("KILN_JIT", jit_saved, 1);
            } else {
                unsetenv("KILN_JIT");
            }
        }
        bad += !ok;
        kiln_list_free(e1);
        kiln_list_free(e2);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
    CHECK_MSG(bad == 0, "%d of %d graphs disagree (base seed %llu)", bad, n,
              (unsigned long long)base);
    free(g);
    free(jit_saved);
}

/* Saves, sets and restores the environment variables the JIT reads. */
static const char *const jit_vars[3] = {"KILN_CC", "KILN_CACHE_DIR",
                                        "KILN_JIT"};

static void env_save(char **saved)
{
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(jit_vars[i]);
        saved[i] = v ? strdup(v) : NULL;
    }
}

static void env_back(char **saved)
{
    for (int i = 0; i < 3; i++) {
        if (saved[i]) {
            setenv(jit_vars[i], saved[i], 1);
        } else {
            unsetenv(jit_vars[i]);
        }
        free(saved[i]);
        saved[i] = NULL;
    }
}

/* Removes a folder and what it holds (two levels at most). */
static void rm_tree(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p) != 0 && depth > 0) {
                rm_tree(p, depth - 1);
            }
        }
    }
    if (d) {
        closedir(d);
    }
    rmdir(dir);
}

/* Graphs seed..seed+count-1, compiled under the current environment: each
 * must match eager or, when may_fail, fail with a message. Adds the
 * interpreted regions and kernel builds to *interp, *built; returns how
 * many calls failed. */
static int fallback_graphs(uint64_t seed, int count, bool may_fail,
                           const char *path, int64_t *interp, int64_t *built)
{
    graph *g = malloc(sizeof *g);
    int failed = 0;
    for (int i = 0; i < count; i++) {
        build(g, seed + (uint64_t)i);
        kiln_scope_begin();
        kiln_array *in[NIN];
        make_inputs(g, g->seed * 7 + 3, in);
        kiln_fn *f = kiln_fn_new(graph_body, g, NULL, "fallback");
        kiln_fn *cf = kiln_compile(f, NULL);
        kiln_list *e = run(f, in);
        kiln_errclear();
        kiln_list *c = run(cf, in);
        kiln_status st = c ? KILN_OK : kiln_errcode();
        for (size_t k = 0; c && k < kiln_list_size(c) && !st; k++) {
            st = kiln_array_eval(kiln_list_get(c, k));
        }
        char why[256];
        if (st != KILN_OK && may_fail) {
            CHECK(strlen(kiln_errmsg()) > 0);
            failed++;
            kiln_errclear();
        } else if (!same_results(g, c, e, why, sizeof why)) {
            report(g, cf, path, why);
            CHECK_MSG(false, "%s: seed %llu disagrees", path,
                      (unsigned long long)g->seed);
        }
        kiln_compile_stats cs;
        memset(&cs, 0, sizeof cs);
        kiln_compile_stats_get(cf, &cs);
        *interp += cs.interpreted;
        *built += cs.kernels_built;
        kiln_list_free(e);
        kiln_list_free(c);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
    free(g);
    return failed;
}

TEST(compile_diff_without_compiler)
{
    char dir[] = "/tmp/kiln_test_cc_XXXXXX", *saved[3];
    CHECK(mkdtemp(dir) != NULL);
    env_save(saved);
    reported = 0;
    uint64_t base = 777000001u;
    int64_t interp = 0, built = 0;
    /* no compiler: the interpreter runs every region */
    setenv("KILN_CC", "false", 1);
    setenv("KILN_CACHE_DIR", dir, 1);
    unsetenv("KILN_JIT");
    kiln_compile_clear_cache(NULL);
    fallback_graphs(base, 8, false, "no compiler", &interp, &built);
    CHECK_MSG(interp > 0 && built == 0, "no compiler: interpreted %lld "
              "built %lld", (long long)interp, (long long)built);
    /* KILN_JIT=require without a compiler: an error (a graph whose
     * kernels all happen to be loaded already may still run) */
    setenv("KILN_JIT", "require", 1);
    CHECK(fallback_graphs(base + 100, 3, true, "require", &interp,
                          &built) >= 2);
    /* KILN_JIT=0 with the compiler back: the interpreter again */
    env_back(saved);
    env_save(saved);
    setenv("KILN_JIT", "0", 1);
    interp = built = 0;
    fallback_graphs(base + 200, 8, false, "KILN_JIT=0", &interp, &built);
    CHECK_MSG(interp > 0 && built == 0, "KILN_JIT=0: interpreted %lld "
              "built %lld", (long long)interp, (long long)built);
    env_back(saved);
    kiln_compile_clear_cache(NULL);
    rm_tree(dir, 2);
}


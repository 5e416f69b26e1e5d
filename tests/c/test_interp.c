/*
 * test_interp.c - the fused-region interpreter (backend/cpu/interp_cpu.c):
 * regions built by hand, run through the kernel ABI of compile/region.h on
 * buffers the test owns, compared with kiln's eager ops on the same data.
 * Elementwise chains must match eager bit for bit; reductions fold in
 * another order and match within rounding.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/interp_cpu.h"
#include "core/dtype.h"
#include "harness.h"
#include "kiln.h"
#include "prim/reduce.h"
#include "ref.h"

/* ------------------------------------------------------------------------ */
/* A small region builder                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    kiln_dtype dtype;
} test_astype_params;

typedef struct rb {
    kiln_region r;
    kiln_rval vals[64];
    kiln_dtype in_dt[KILN_REGION_MAX_OPERANDS];
    int in_nd[KILN_REGION_MAX_OPERANDS];
    bool in_outer[KILN_REGION_MAX_OPERANDS];
    int out_val[KILN_REGION_MAX_OPERANDS];
    int out_nd[KILN_REGION_MAX_OPERANDS];
    test_astype_params ap[16];
    int nap;
    kiln_reduce_params rp;
} rb;

static void rb_init(rb *b, int ndim, int nreduce)
{
    memset(b, 0, sizeof *b);
    b->r.ndim = ndim;
    b->r.nreduce = nreduce;
    b->r.vals = b->vals;
    b->r.in_dtype = b->in_dt;
    b->r.in_ndim = b->in_nd;
    b->r.in_outer = b->in_outer;
    b->r.out_val = b->out_val;
    b->r.out_ndim = b->out_nd;
    b->rp.axes = nreduce > 0 ? (1u << ndim) - (1u << (ndim - nreduce)) : 0;
    b->rp.keepdims = 1;
}

static int rb_add(rb *b, kiln_rval v)
{
    b->vals[b->r.nvals] = v;
    return b->r.nvals++;
}

/* outer: size 1 along the reduced dims (only meaningful with nreduce) */
static int rb_input(rb *b, kiln_dtype dt, int ndim, bool outer)
{
    kiln_rval v = {0};
    int i = b->r.ninputs++;
    b->in_dt[i] = dt;
    b->in_nd[i] = ndim;
    b->in_outer[i] = outer;
    v.kind = KILN_RVAL_INPUT;
    v.dtype = dt;
    v.inner = b->r.nreduce == 0 || !outer;
    v.input = i;
    return rb_add(b, v);
}

static int rb_const(rb *b, kiln_dtype dt, double x)
{
    kiln_rval v = {0};
    v.kind = KILN_RVAL_CONST;
    v.dtype = dt;
    v.inner = b->r.nreduce == 0;
    kiln__dtype_store_f64(v.value, dt, x);
    return rb_add(b, v);
}

static int rb_op(rb *b, const kiln_prim *p, kiln_dtype dt, int x, int y,
                 int z)
{
    kiln_rval v = {0};
    int args[3] = {x, y, z};
    v.kind = KILN_RVAL_OP;
    v.dtype = dt;
    v.prim = p;
    v.nargs = p->nin;
    for (int k = 0; k < p->nin; k++) {
        const kiln_rval *a = &b->vals[args[k]];
        v.args[k] = args[k];
        v.inner = v.inner || a->inner;
        v.level = a->level > v.level ? a->level : v.level;
    }
    return rb_add(b, v);
}

static int rb_un(rb *b, const kiln_prim *p, int x)
{
    return rb_op(b, p, b->vals[x].dtype, x, 0, 0);
}

static int rb_bin(rb *b, const kiln_prim *p, int x, int y)
{
    return rb_op(b, p, b->vals[x].dtype, x, y, 0);
}

static int rb_astype(rb *b, int x, kiln_dtype dt)
{
    int v = rb_op(b, &kiln__prim_astype, dt, x, 0, 0);
    b->ap[b->nap].dtype = dt;
    b->vals[v].params = &b->ap[b->nap++];
    return v;
}

static int rb_reduce(rb *b, const kiln_prim *p, kiln_dtype dt, int x)
{
    kiln_rval v = {0};
    v.kind = KILN_RVAL_REDUCE;
    v.dtype = dt;
    v.prim = p;
    v.params = &b->rp;
    v.nargs = 1;
    v.args[0] = x;
    v.level = b->vals[x].level + 1;
    return rb_add(b, v);
}

static void rb_output(rb *b, int v, int ndim)
{
    int j = b->r.noutputs++;
    b->out_val[j] = v;
    b->out_nd[j] = ndim;
}

/* Runs an elementwise region over n elements, operands contiguous except
 * where s says otherwise. */
static void run_ew(rb *b, char **p, const int64_t *s, int64_t n)
{
    kiln_interp_ctx c = {&b->r, NULL};
    kiln__interp_run(&c, p, s, n);
}

static float frand(double lo, double hi)
{
    return (float)(lo + (hi - lo) * (double)(rnd() % 1000003) / 1000003.0);
}

static kiln_array *arr2(const void *data, int64_t r, int64_t c,
                        kiln_dtype dt)
{
    int64_t sh[2] = {r, c};
    return kiln_array_from_data(data, sh, 2, dt);
}

/* ------------------------------------------------------------------------ */
/* Elementwise regions                                                      */
/* ------------------------------------------------------------------------ */

/* y = 0.5 * x * (1 + erf(x * 0.70710678)), float32, n spans several
 * blocks and a tail; run in three calls over half-open ranges. */
TEST(interp_gelu_f32_bitexact)
{
    enum { N = 2500 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    rb b;
    rb_init(&b, 1, 0);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT32, 1, false);
    int c1 = rb_const(&b, KILN_DTYPE_FLOAT32, 0.70710678);
    int c2 = rb_const(&b, KILN_DTYPE_FLOAT32, 1.0);
    int c3 = rb_const(&b, KILN_DTYPE_FLOAT32, 0.5);
    int t = rb_bin(&b, &kiln__prim_multiply, xi, c1);
    t = rb_un(&b, &kiln__prim_erf, t);
    t = rb_bin(&b, &kiln__prim_add, c2, t);
    t = rb_bin(&b, &kiln__prim_multiply, xi, t);
    t = rb_bin(&b, &kiln__prim_multiply, c3, t);
    rb_output(&b, t, 1);
    for (int i = 0; i < N; i++) {
        x[i] = frand(-6, 6);
    }
    int64_t s[2] = {4, 4};
    int64_t cuts[4] = {0, 7, 1800, N};
    for (int k = 0; k < 3; k++) {
        char *p[2] = {(char *)(y + cuts[k]), (char *)(x + cuts[k])};
        run_ew(&b, p, s, cuts[k + 1] - cuts[k]);
    }
    kiln_scope_begin();
    kiln_array *a = vec(x, N, KILN_DTYPE_FLOAT32);
    kiln_array *e = kiln_multiply(
        kiln_scalar_f64(0.5, KILN_DTYPE_FLOAT32),
        kiln_multiply(
            a, kiln_add(kiln_scalar_f64(1.0, KILN_DTYPE_FLOAT32),
                        kiln_erf(kiln_multiply(
                            a, kiln_scalar_f64(0.70710678,
                                               KILN_DTYPE_FLOAT32))))));
    float *w = fetch(e);
    CHECK(w && memcmp(w, y, N * sizeof *y) == 0);
    free(w);
    kiln_scope_end(NULL);
    free(x);
    free(y);
}

/* float16: exp(x * y + 0.25) and tanh(x) - y, two outputs; the second
 * written with a stride of two elements. */
TEST(interp_f16_chain_bitexact)
{
    enum { N = 1100 };
    uint16_t x[N], y[N], o1[N], o2[2 * N];
    rb b;
    rb_init(&b, 1, 0);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT16, 1, false);
    int yi = rb_input(&b, KILN_DTYPE_FLOAT16, 1, false);
    int c = rb_const(&b, KILN_DTYPE_FLOAT16, 0.25);
    int t = rb_bin(&b, &kiln__prim_multiply, xi, yi);
    t = rb_bin(&b, &kiln__prim_add, t, c);
    t = rb_un(&b, &kiln__prim_exp, t);
    int u = rb_un(&b, &kiln__prim_tanh, xi);
    u = rb_bin(&b, &kiln__prim_subtract, u, yi);
    rb_output(&b, t, 1);
    rb_output(&b, u, 1);
    for (int i = 0; i < N; i++) {
        x[i] = nearest_half(frand(-2, 2), false);
        y[i] = nearest_half(frand(-2, 2), false);
    }
    memset(o2, 0xff, sizeof o2);
    char *p[4] = {(char *)o1, (char *)o2, (char *)x, (char *)y};
    int64_t s[4] = {2, 4, 2, 2};
    run_ew(&b, p, s, N);
    kiln_scope_begin();
    kiln_array *a = vec(x, N, KILN_DTYPE_FLOAT16);
    kiln_array *bb = vec(y, N, KILN_DTYPE_FLOAT16);
    kiln_array *e1 = kiln_exp(kiln_add(
        kiln_multiply(a, bb), kiln_scalar_f64(0.25, KILN_DTYPE_FLOAT16)));
    kiln_array *e2 = kiln_subtract(kiln_tanh(a), bb);
    uint16_t *w1 = fetch(e1), *w2 = fetch(e2);
    CHECK(w1 && memcmp(w1, o1, sizeof o1) == 0);
    int bad = 0;
    for (int i = 0; w2 && i < N; i++) {
        bad += o2[2 * i] != w2[i] || o2[2 * i + 1] != 0xffff;
    }
    CHECK(w2 && bad == 0);
    free(w1);
    free(w2);
    kiln_scope_end(NULL);
}

/* int32: where(a > b, a - b, b * 3) + 1 and (a == b) as bool; b read
 * with a negative stride, a from every third element. */
TEST(interp_int_where_compare)
{
    enum { N = 700 };
    int32_t abuf[3 * N], bv[N], y[N];
    uint8_t eq[N];
    for (int i = 0; i < 3 * N; i++) {
        abuf[i] = (int32_t)(rnd() % 41) - 20;
    }
    for (int i = 0; i < N; i++) {
        bv[i] = (int32_t)(rnd() % 41) - 20;
    }
    rb b;
    rb_init(&b, 1, 0);
    int ai = rb_input(&b, KILN_DTYPE_INT32, 1, false);
    int bi = rb_input(&b, KILN_DTYPE_INT32, 1, false);
    int c3 = rb_const(&b, KILN_DTYPE_INT32, 3);
    int c1 = rb_const(&b, KILN_DTYPE_INT32, 1);
    int g = rb_op(&b, &kiln__prim_greater, KILN_DTYPE_BOOL, ai, bi, 0);
    int d = rb_bin(&b, &kiln__prim_subtract, ai, bi);
    int m = rb_bin(&b, &kiln__prim_multiply, bi, c3);
    int w = rb_op(&b, &kiln__prim_where, KILN_DTYPE_INT32, g, d, m);
    w = rb_bin(&b, &kiln__prim_add, w, c1);
    int e = rb_op(&b, &kiln__prim_equal, KILN_DTYPE_BOOL, ai, bi, 0);
    rb_output(&b, w, 1);
    rb_output(&b, e, 1);
    char *p[4] = {(char *)y, (char *)eq, (char *)abuf,
                  (char *)(bv + N - 1)};
    int64_t s[4] = {4, 1, 12, -4};
    run_ew(&b, p, s, N);
    int32_t av[N], brev[N];
    for (int i = 0; i < N; i++) {
        av[i] = abuf[3 * i];
        brev[i] = bv[N - 1 - i];
    }
    kiln_scope_begin();
    kiln_array *a = vec(av, N, KILN_DTYPE_INT32);
    kiln_array *bb = vec(brev, N, KILN_DTYPE_INT32);
    kiln_array *r = kiln_add(
        kiln_where(kiln_greater(a, bb), kiln_subtract(a, bb),
                   kiln_multiply(bb, kiln_scalar_i64(3, KILN_DTYPE_INT32))),
        kiln_scalar_i64(1, KILN_DTYPE_INT32));
    int32_t *wr = fetch(r);
    uint8_t *we = fetch(kiln_equal(a, bb));
    CHECK(wr && memcmp(wr, y, sizeof y) == 0);
    CHECK(we && memcmp(we, eq, sizeof eq) == 0);
    free(wr);
    free(we);
    kiln_scope_end(NULL);
}

/* A broadcast operand (stride 0, rank 1), a rank-0 input (its stride is
 * ignored), astype to float64, and a chain where every operand is
 * uniform (computed once). */
TEST(interp_broadcast_rank0_astype)
{
    enum { N = 600 };
    float x[N];
    float bc = 1.5f, sc = -0.25f;
    double y[N], z[N];
    for (int i = 0; i < N; i++) {
        x[i] = frand(-3, 3);
    }
    rb b;
    rb_init(&b, 1, 0);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT32, 1, false);
    int bi = rb_input(&b, KILN_DTYPE_FLOAT32, 1, false);
    int si = rb_input(&b, KILN_DTYPE_FLOAT32, 0, false);
    int t = rb_bin(&b, &kiln__prim_multiply, xi, bi);
    t = rb_bin(&b, &kiln__prim_add, t, si);
    t = rb_un(&b, &kiln__prim_sin, t);
    t = rb_astype(&b, t, KILN_DTYPE_FLOAT64);
    int u = rb_bin(&b, &kiln__prim_subtract, bi, si);
    u = rb_un(&b, &kiln__prim_exp, u);
    u = rb_astype(&b, u, KILN_DTYPE_FLOAT64);
    rb_output(&b, t, 1);
    rb_output(&b, u, 1);
    char *p[5] = {(char *)y, (char *)z, (char *)x, (char *)&bc,
                  (char *)&sc};
    int64_t s[5] = {8, 8, 4, 0, 4}; /* the rank-0 stride is ignored */
    run_ew(&b, p, s, N);
    kiln_scope_begin();
    kiln_array *a = vec(x, N, KILN_DTYPE_FLOAT32);
    kiln_array *bb = kiln_full(&(int64_t){N}, 1, 1.5, KILN_DTYPE_FLOAT32);
    kiln_array *ss = kiln_scalar_f64(-0.25, KILN_DTYPE_FLOAT32);
    double *w = fetch(kiln_astype(
        kiln_sin(kiln_add(kiln_multiply(a, bb), ss)), KILN_DTYPE_FLOAT64));
    CHECK(w && memcmp(w, y, sizeof y) == 0);
    double *wz = fetch(kiln_astype(kiln_exp(kiln_subtract(bb, ss)),
                                   KILN_DTYPE_FLOAT64));
    CHECK(wz && memcmp(wz, z, sizeof z) == 0);
    free(w);
    free(wz);
    kiln_scope_end(NULL);
}

/* A region too large for the stack: many values (the plan goes to the
 * heap) and many live at once (so does the scratch): y = sum over
 * k = 1..100 of (x + k), in that order, then 300 negations. */
TEST(interp_large_region)
{
    enum { N = 1500, K = 100, NEG = 300 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    kiln_rval *vals = malloc(sizeof(kiln_rval) * (3 * K + NEG + 4));
    int t[K];
    rb b;
    rb_init(&b, 1, 0);
    b.r.vals = vals;
    for (int i = 0; i < N; i++) {
        x[i] = frand(-100, 100);
    }
    /* rb_add writes b.vals: build into the heap array instead */
    kiln_rval v = {0};
    v.kind = KILN_RVAL_INPUT;
    v.dtype = KILN_DTYPE_FLOAT32;
    v.inner = true;
    b.in_dt[0] = KILN_DTYPE_FLOAT32;
    b.in_nd[0] = 1;
    b.r.ninputs = 1;
    vals[b.r.nvals++] = v;
    for (int k = 0; k < K; k++) {
        memset(&v, 0, sizeof v);
        v.kind = KILN_RVAL_CONST;
        v.dtype = KILN_DTYPE_FLOAT32;
        v.inner = true;
        kiln__dtype_store_f64(v.value, KILN_DTYPE_FLOAT32, k + 1);
        vals[b.r.nvals++] = v;
        memset(&v, 0, sizeof v);
        v.kind = KILN_RVAL_OP;
        v.dtype = KILN_DTYPE_FLOAT32;
        v.inner = true;
        v.prim = &kiln__prim_add;
        v.nargs = 2;
        v.args[0] = 0;
        v.args[1] = b.r.nvals - 1;
        t[k] = b.r.nvals;
        vals[b.r.nvals++] = v;
    }
    int acc = t[0];
    for (int k = 1; k < K + NEG; k++) {
        memset(&v, 0, sizeof v);
        v.kind = KILN_RVAL_OP;
        v.dtype = KILN_DTYPE_FLOAT32;
        v.inner = true;
        v.prim = k < K ? &kiln__prim_add : &kiln__prim_negative;
        v.nargs = k < K ? 2 : 1;
        v.args[0] = acc;
        v.args[1] = k < K ? t[k] : 0;
        acc = b.r.nvals;
        vals[b.r.nvals++] = v;
    }
    rb_output(&b, acc, 1);
    char *p[2] = {(char *)y, (char *)x};
    int64_t s[2] = {4, 4};
    run_ew(&b, p, s, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = x[i] + 1.0f;
        for (int k = 1; k < K; k++) {
            want = want + (x[i] + (float)(k + 1));
        }
        bad += y[i] != want; /* NEG is even */
    }
    CHECK_MSG(bad == 0, "large region: %d bad", bad);
    free(x);
    free(y);
    free(vals);
}

/* n = 0 writes nothing; an output that is an input (passthrough) and one
 * that is a constant. */
TEST(interp_empty_and_trivial)
{
    int16_t x[5] = {1, -2, 3, -4, 5}, y[5], z[5];
    rb b;
    rb_init(&b, 1, 0);
    int xi = rb_input(&b, KILN_DTYPE_INT16, 1, false);
    int c = rb_const(&b, KILN_DTYPE_INT16, 7);
    rb_output(&b, xi, 1);
    rb_output(&b, c, 1);
    memset(y, 0x5a, sizeof y);
    memset(z, 0x5a, sizeof z);
    char *p[3] = {(char *)y, (char *)z, (char *)x};
    int64_t s[3] = {2, 2, 2};
    run_ew(&b, p, s, 0);
    CHECK(y[0] == 0x5a5a && z[4] == 0x5a5a);
    run_ew(&b, p, s, 5);
    CHECK(memcmp(x, y, sizeof x) == 0);
    CHECK(z[0] == 7 && z[4] == 7);
}

/* ------------------------------------------------------------------------ */
/* Reduction regions                                                        */
/* ------------------------------------------------------------------------ */

/* Runs a reduction region over rows x len (row-major, contiguous), with
 * row strides rs and inner strides is per operand. */
static void run_red(rb *b, char **p, const int64_t *rs, const int64_t *is,
                    int64_t rows, int64_t len)
{
    kiln_region_inner in;
    memset(&in, 0, sizeof in);
    in.len = len;
    for (int o = 0; o < b->r.noutputs + b->r.ninputs; o++) {
        in.stride[o] = is[o];
    }
    kiln_interp_ctx c = {&b->r, &in};
    kiln__interp_run(&c, p, rs, rows);
}

/* softmax over the last axis (three passes) plus logsumexp as an outer
 * output; rows long enough for several blocks, and short rows. */
static void check_softmax(int64_t rows, int64_t len)
{
    int64_t nel = rows * len;
    float *x = malloc((size_t)nel * 4), *y = malloc((size_t)nel * 4);
    float *lse = malloc((size_t)rows * 4), *ex = malloc((size_t)nel * 4);
    for (int64_t i = 0; i < nel; i++) {
        x[i] = frand(-8, 8);
    }
    rb b;
    rb_init(&b, 2, 1);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT32, 2, false);
    int m = rb_reduce(&b, &kiln__prim_max, KILN_DTYPE_FLOAT32, xi);
    int d = rb_bin(&b, &kiln__prim_subtract, xi, m);
    int e = rb_un(&b, &kiln__prim_exp, d);
    int s = rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT32, e);
    int q = rb_bin(&b, &kiln__prim_divide, e, s);
    int l = rb_un(&b, &kiln__prim_log, s);
    l = rb_bin(&b, &kiln__prim_add, l, m);
    rb_output(&b, q, 2);
    rb_output(&b, l, 1);
    rb_output(&b, e, 2); /* level 1: stored in the second pass */
    char *p[4] = {(char *)y, (char *)lse, (char *)ex, (char *)x};
    int64_t rs[4] = {len * 4, 4, len * 4, len * 4}, is[4] = {4, 0, 4, 4};
    run_red(&b, p, rs, is, rows, len);
    kiln_scope_begin();
    kiln_array *a = arr2(x, rows, len, KILN_DTYPE_FLOAT32);
    int ax = -1;
    float *w = fetch(kiln_softmax(a, &ax, 1, false));
    float *wl = fetch(kiln_logsumexp(a, &ax, 1, false));
    /* exp(x - max) is elementwise given the max: bit for bit */
    float *we = fetch(kiln_exp(kiln_subtract(a, kiln_max(a, &ax, 1, true))));
    CHECK(we && memcmp(we, ex, (size_t)nel * 4) == 0);
    free(we);
    int bad = 0;
    for (int64_t i = 0; w && i < nel; i++) {
        bad += fabsf(w[i] - y[i]) > 1e-6f + 1e-5f * fabsf(w[i]);
    }
    for (int64_t i = 0; wl && i < rows; i++) {
        bad += fabsf(wl[i] - lse[i]) > 1e-5f * (1 + fabsf(wl[i]));
    }
    CHECK_MSG(w && wl && bad == 0, "softmax %lld x %lld: %d bad",
              (long long)rows, (long long)len, bad);
    free(w);
    free(wl);
    kiln_scope_end(NULL);
    free(x);
    free(y);
    free(lse);
    free(ex);
}

TEST(interp_softmax_rows)
{
    check_softmax(5, 1300);
    check_softmax(9, 7);
    check_softmax(3, 1);
}

/* layer norm over the last axis: mean, centred variance, rsqrt, then
 * gamma and beta (inner inputs broadcast over rows: row stride 0). */
TEST(interp_layernorm_rows)
{
    enum { R = 4, L = 777 };
    float *x = malloc(R * L * 4), *y = malloc(R * L * 4);
    float *y2 = malloc(R * L * 4);
    float g[L], be[L];
    for (int i = 0; i < R * L; i++) {
        x[i] = frand(-3, 5);
    }
    for (int i = 0; i < L; i++) {
        g[i] = frand(0.5, 1.5);
        be[i] = frand(-1, 1);
    }
    rb b;
    rb_init(&b, 2, 1);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT32, 2, false);
    int gi = rb_input(&b, KILN_DTYPE_FLOAT32, 1, false);
    int bi = rb_input(&b, KILN_DTYPE_FLOAT32, 1, false);
    int inv = rb_const(&b, KILN_DTYPE_FLOAT32, 1.0 / L);
    int eps = rb_const(&b, KILN_DTYPE_FLOAT32, 1e-5);
    int s = rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT32, xi);
    int mean = rb_bin(&b, &kiln__prim_multiply, s, inv);
    int xc = rb_bin(&b, &kiln__prim_subtract, xi, mean);
    int sq = rb_bin(&b, &kiln__prim_multiply, xc, xc);
    int v = rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT32, sq);
    v = rb_bin(&b, &kiln__prim_multiply, v, inv);
    v = rb_bin(&b, &kiln__prim_add, v, eps);
    v = rb_un(&b, &kiln__prim_rsqrt, v);
    int t = rb_bin(&b, &kiln__prim_multiply, xc, v);
    t = rb_bin(&b, &kiln__prim_multiply, t, gi);
    t = rb_bin(&b, &kiln__prim_add, t, bi);
    int x2 = rb_bin(&b, &kiln__prim_multiply, xi, xi);
    rb_output(&b, t, 2);
    rb_output(&b, x2, 2); /* level 0: stored in the first pass */
    CHECK(b.vals[t].level == 2 && b.vals[t].inner);
    char *p[5] = {(char *)y, (char *)y2, (char *)x, (char *)g, (char *)be};
    int64_t rs[5] = {L * 4, L * 4, L * 4, 0, 0}, is[5] = {4, 4, 4, 4, 4};
    run_red(&b, p, rs, is, R, L);
    int bad = 0;
    for (int i = 0; i < R * L; i++) {
        bad += y2[i] != x[i] * x[i];
    }
    for (int r = 0; r < R; r++) {
        double mu = 0, var = 0;
        for (int i = 0; i < L; i++) {
            mu += x[r * L + i];
        }
        mu /= L;
        for (int i = 0; i < L; i++) {
            var += (x[r * L + i] - mu) * (x[r * L + i] - mu);
        }
        var /= L;
        for (int i = 0; i < L; i++) {
            double want = (x[r * L + i] - mu) / sqrt(var + 1e-5) * g[i] + be[i];
            bad += fabs(want - y[r * L + i]) > 1e-5 * (1 + fabs(want));
        }
    }
    CHECK_MSG(bad == 0, "layernorm: %d bad", bad);
    free(x);
    free(y);
    free(y2);
}

/* Integer max (identity INT_MIN for an empty row), prod of int8 input in
 * int32 (converted first), float sum of a row-broadcast operand (uniform
 * blocks) with the rows in a transposed layout. */
TEST(interp_int_reductions)
{
    enum { R = 6, L = 1030 };
    int32_t *x = malloc(R * L * 4);
    int8_t *x8 = malloc(R * L);
    int32_t mx[R], pr[R], mx0[R];
    for (int i = 0; i < R * L; i++) {
        x[i] = (int32_t)(rnd() % 2000001) - 1000000 - (i / L) * 1000000;
        x8[i] = (int8_t)((int)(rnd() % 5) - 2);
        if (x8[i] == 0) {
            x8[i] = 1;
        }
    }
    rb b;
    rb_init(&b, 2, 1);
    int xi = rb_input(&b, KILN_DTYPE_INT32, 2, false);
    int x8i = rb_input(&b, KILN_DTYPE_INT8, 2, false);
    int m = rb_reduce(&b, &kiln__prim_max, KILN_DTYPE_INT32, xi);
    int p8 = rb_reduce(&b, &kiln__prim_prod, KILN_DTYPE_INT32, x8i);
    rb_output(&b, m, 1);
    rb_output(&b, p8, 1);
    char *p[4] = {(char *)mx, (char *)pr, (char *)x, (char *)x8};
    int64_t rs[4] = {4, 4, L * 4, L}, is[4] = {0, 0, 4, 1};
    run_red(&b, p, rs, is, R, L);
    kiln_scope_begin();
    int ax = 1;
    int32_t *wm = fetch(kiln_max(arr2(x, R, L, KILN_DTYPE_INT32), &ax, 1,
                                 false));
    kiln_array *pa = kiln_prod(arr2(x8, R, L, KILN_DTYPE_INT8), &ax, 1,
                               false);
    CHECK(kiln_array_dtype(pa) == KILN_DTYPE_INT32);
    int32_t *wp = fetch(pa);
    CHECK(wm && memcmp(wm, mx, sizeof mx) == 0);
    CHECK(wp && memcmp(wp, pr, sizeof pr) == 0);
    free(wm);
    free(wp);
    kiln_scope_end(NULL);
    /* empty rows: max gives INT32_MIN, prod 1 */
    memset(mx0, 0, sizeof mx0);
    p[0] = (char *)mx0;
    run_red(&b, p, rs, is, R, 0);
    CHECK(mx0[0] == INT32_MIN && mx0[R - 1] == INT32_MIN);
    CHECK(pr[0] == 1 && pr[R - 1] == 1);
    free(x);
    free(x8);
}

/* sum over a transposed layout (rows are columns of a matrix: the inner
 * stride is the row length) and of an operand broadcast along the row
 * (inner stride 0), float32 and float16. */
TEST(interp_sum_strided_broadcast)
{
    enum { R = 3, L = 1500 };
    float *x = malloc(L * R * 4);
    float v[R] = {0.5f, -2.0f, 3.25f}, s1[R], s2[R];
    uint16_t h[R] = {0x3c00, 0x3800, 0xbc00}, s3[R]; /* 1, 0.5, -1 */
    for (int i = 0; i < L * R; i++) {
        x[i] = frand(-1, 1);
    }
    rb b;
    rb_init(&b, 2, 1);
    int xi = rb_input(&b, KILN_DTYPE_FLOAT32, 2, false);
    int vi = rb_input(&b, KILN_DTYPE_FLOAT32, 2, false);
    int hi = rb_input(&b, KILN_DTYPE_FLOAT16, 2, false);
    rb_output(&b, rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT32, xi), 1);
    rb_output(&b, rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT32, vi), 1);
    rb_output(&b, rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_FLOAT16, hi), 1);
    char *p[6] = {(char *)s1, (char *)s2, (char *)s3,
                  (char *)x,  (char *)v,  (char *)h};
    int64_t rs[6] = {4, 4, 2, 4, 4, 2}, is[6] = {0, 0, 0, R * 4, 0, 0};
    run_red(&b, p, rs, is, R, L);
    for (int r = 0; r < R; r++) {
        double want = 0;
        for (int i = 0; i < L; i++) {
            want += x[i * R + r];
        }
        CHECK_NEAR(s1[r], want, 1e-4);
        CHECK(s2[r] == v[r] * L);
        CHECK(s3[r] == nearest_half(half_value(h[r], false) * L, false));
    }
    free(x);
}

/* all/any over bool rows, including all-true, all-false and empty rows;
 * the argument is a comparison computed in the pass. */
TEST(interp_all_any)
{
    enum { R = 4, L = 900 };
    int16_t *x = malloc(R * L * 2);
    uint8_t al[R], an[R];
    for (int i = 0; i < R * L; i++) {
        int r = i / L;
        x[i] = r == 0 ? 5 : r == 1 ? -5 : (int16_t)(rnd() % 11) - 5;
    }
    x[3 * L + 500] = 100;
    rb b;
    rb_init(&b, 2, 1);
    int xi = rb_input(&b, KILN_DTYPE_INT16, 2, false);
    int z = rb_const(&b, KILN_DTYPE_INT16, 0);
    int gt = rb_op(&b, &kiln__prim_greater, KILN_DTYPE_BOOL, xi, z, 0);
    int c = rb_const(&b, KILN_DTYPE_INT16, 50);
    int big = rb_op(&b, &kiln__prim_greater, KILN_DTYPE_BOOL, xi, c, 0);
    rb_output(&b, rb_reduce(&b, &kiln__prim_all, KILN_DTYPE_BOOL, gt), 1);
    rb_output(&b, rb_reduce(&b, &kiln__prim_any, KILN_DTYPE_BOOL, big), 1);
    char *p[3] = {(char *)al, (char *)an, (char *)x};
    int64_t rs[3] = {1, 1, L * 2}, is[3] = {0, 0, 2};
    run_red(&b, p, rs, is, R, L);
    kiln_scope_begin();
    int ax = -1;
    kiln_array *a = arr2(x, R, L, KILN_DTYPE_INT16);
    uint8_t *wa = fetch(kiln_all(kiln_greater(a, kiln_scalar_i64(
                                                     0, KILN_DTYPE_INT16)),
                                 &ax, 1, false));
    uint8_t *wn = fetch(kiln_any(kiln_greater(a, kiln_scalar_i64(
                                                     50, KILN_DTYPE_INT16)),
                                 &ax, 1, false));
    CHECK(wa && memcmp(wa, al, sizeof al) == 0);
    CHECK(wn && memcmp(wn, an, sizeof an) == 0);
    CHECK(al[0] == 1 && al[1] == 0 && an[3] == 1 && an[0] == 0);
    free(wa);
    free(wn);
    kiln_scope_end(NULL);
    run_red(&b, p, rs, is, R, 0);
    CHECK(al[0] == 1 && al[3] == 1 && an[0] == 0 && an[3] == 0);
    free(x);
}

/*
 * test_compile.c - what kiln_compile does, seen through the public API only.
 *
 * Covered: compiled results equal eager ones (gelu bit for bit; every dtype
 * class; contiguous, transposed, sliced, broadcast, 0-d and size-0 inputs;
 * fused reductions); the cache by its counters (hits, every retrace trigger
 * and every non-trigger); shapeless replay; evaluation inside a trace;
 * closure constants; captured state (inputs/outputs, a training step, the
 * random state); nesting; errors; clearing and bounds; dumps; threads. The
 * fallbacks without a C compiler are in test_compile_diff.c.
 *
 * "Eager" is the same body called through its plain kiln_fn. Every test
 * builds its own kiln_fn, so its counters start at zero, and restores the
 * global switches it changed before it returns.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "kiln.h"
#include "ref.h"

#define F32 KILN_DTYPE_FLOAT32
#define END KILN_SLICE_END

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static double elem(const void *p, int64_t i, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
        return half_value(((const uint16_t *)p)[i], false);
    case KILN_DTYPE_BFLOAT16:
        return half_value(((const uint16_t *)p)[i], true);
    case KILN_DTYPE_FLOAT32:
        return ((const float *)p)[i];
    case KILN_DTYPE_FLOAT64:
        return ((const double *)p)[i];
    default:
        if (is_uint(dt)) {
            return (double)get_bits(p, i, dt);
        }
        return (double)(int64_t)get_bits(p, i, dt);
    }
}

/* An evaluated array of `shape` in dt (owned by the open scope): values
 * lo + k * step (step > 0) or uniform in [lo, hi) (step 0); integers are
 * floored; bool is true half of the time. */
static kiln_array *rand_arr(const int64_t *shape, int ndim, kiln_dtype dt,
                            double lo, double hi, double step)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(rnd() >> 11) * 0x1p-53;
        v[i] = lo + (hi - lo) * u;
        if (step > 0) {
            v[i] = lo + floor((v[i] - lo) / step) * step;
        }
        if (!kiln_dtype_is_float(dt)) {
            v[i] = floor(v[i]);
        }
        if (dt == KILN_DTYPE_BOOL) {
            v[i] = (double)(rnd() & 1);
        }
    }
    kiln_array *a = kiln_astype(
        kiln_array_from_data(v, shape, ndim, KILN_DTYPE_FLOAT64), dt);
    free(v);
    kiln_array_eval(a);
    return a;
}

static kiln_array *rand2(int64_t m, int64_t n, double lo, double hi)
{
    int64_t s[2] = {m, n};
    return rand_arr(s, 2, F32, lo, hi, 0);
}

/* The (m, n) transpose of an evaluated (n, m) array: a strided view. */
static kiln_array *rand2_t(int64_t m, int64_t n, double lo, double hi)
{
    kiln_array *t = kiln_transpose(rand2(n, m, lo, hi), NULL, 0);
    kiln_array_eval(t);
    return t;
}

/* a and b agree: same dtype and shape; integer and bool data identical;
 * float elements the same value (NaN with NaN, zeros with their sign) or,
 * when rtol > 0, |a - b| <= rtol * |b| + ascale * max|b|. */
static bool agree(kiln_array *a, kiln_array *b, double rtol, double ascale,
                  char *why, size_t cap)
{
    if (!a || !b) {
        snprintf(why, cap, "NULL array (%s)", kiln_errmsg());
        return false;
    }
    kiln_dtype dt = kiln_array_dtype(a);
    if (dt != kiln_array_dtype(b) || kiln_array_ndim(a) != kiln_array_ndim(b)) {
        snprintf(why, cap, "dtype %s/%s ndim %d/%d", kiln_dtype_name(dt),
                 kiln_dtype_name(kiln_array_dtype(b)), kiln_array_ndim(a),
                 kiln_array_ndim(b));
        return false;
    }
    for (int i = 0; i < kiln_array_ndim(a); i++) {
        if (kiln_array_dim(a, i) != kiln_array_dim(b, i)) {
            snprintf(why, cap, "dim %d: %lld vs %lld", i,
                     (long long)kiln_array_dim(a, i),
                     (long long)kiln_array_dim(b, i));
            return false;
        }
    }
    void *pa = fetch(a), *pb = fetch(b);
    bool ok = pa && pb;
    if (!ok) {
        snprintf(why, cap, "read failed: %s", kiln_errmsg());
    }
    int64_t n = kiln_array_size(a);
    double big = 0;
    for (int64_t i = 0; ok && i < n; i++) {
        double y = fabs(elem(pb, i, dt));
        big = isfinite(y) && y > big ? y : big;
    }
    for (int64_t i = 0; ok && i < n; i++) {
        double x = elem(pa, i, dt), y = elem(pb, i, dt);
        bool same = kiln_dtype_is_float(dt)
                        ? same_f64(x, y) ||
                              (rtol > 0 && isfinite(x) && isfinite(y) &&
                               fabs(x - y) <= rtol * fabs(y) + ascale * big)
                        : x == y;
        if (!same) {
            snprintf(why, cap, "%s element %lld: %.9g vs %.9g",
                     kiln_dtype_name(dt), (long long)i, x, y);
            ok = false;
        }
    }
    free(pa);
    free(pb);
    return ok;
}

#define CHECK_AGREE(a, b, rtol, ascale, what)                              \
    do {                                                                  \
        char kt_why[256];                                                 \
        if (!agree((a), (b), (rtol), (ascale), kt_why, sizeof kt_why)) {  \
            kt_fail(__FILE__, __LINE__, "%s: %s", (what), kt_why);        \
        }                                                                 \
    } while (0)

/* a's elements equal want[] within rtol (and shape size n). */
static bool vals_ok(kiln_array *a, const double *want, int64_t n,
                    double rtol)
{
    if (!a || kiln_array_size(a) != n) {
        return false;
    }
    void *p = fetch(a);
    bool ok = p != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        double x = elem(p, i, kiln_array_dtype(a));
        ok = same_f64(x, want[i]) ||
             fabs(x - want[i]) <= rtol * fabs(want[i]) + 1e-12;
    }
    free(p);
    return ok;
}

static kiln_list *list_of(int n, kiln_array *const *xs)
{
    kiln_list *l = kiln_list_new();
    for (int i = 0; i < n; i++) {
        kiln_list_push(l, xs[i]);
    }
    return l;
}

static kiln_list *call_n(kiln_fn *f, int n, kiln_array *const *xs)
{
    kiln_list *l = list_of(n, xs);
    kiln_list *r = kiln_fn_call(f, l);
    kiln_list_free(l);
    return r;
}

static kiln_list *call_keyed(kiln_fn *f, kiln_array *x, const char *key)
{
    kiln_list *l = list_of(1, &x);
    kiln_list *r = kiln_fn_call_keyed(f, l, key, key ? strlen(key) : 0);
    kiln_list_free(l);
    return r;
}

/* The first result of f(x) evaluated, kept in the open scope; NULL on
 * error (the message stays pending). */
static kiln_array *call1(kiln_fn *f, kiln_array *x)
{
    kiln_list *r = call_n(f, x ? 1 : 0, &x);
    kiln_array *y = r ? kiln_list_get(r, 0) : NULL;
    if (y) {
        /* hand y to the open scope: an inner scope's end keeps it there */
        kiln_scope_begin();
        kiln_scope_end(y);
        kiln_array_eval(y);
    }
    kiln_list_free(r);
    return y;
}

/* Calls the plain f and the compiled cf on xs; every result pair agrees
 * (rtol[i] for result i, 0 past nr). */
static void check_same(kiln_fn *f, kiln_fn *cf, int n, kiln_array *const *xs,
                       const double *rtol, int nr, double ascale,
                       const char *what)
{
    kiln_list *e = call_n(f, n, xs);
    CHECK_MSG(e != NULL, "%s: eager failed: %s", what, kiln_errmsg());
    kiln_list *c = call_n(cf, n, xs);
    CHECK_MSG(c != NULL, "%s: compiled failed: %s", what, kiln_errmsg());
    if (e && c) {
        CHECK_MSG(kiln_list_size(e) == kiln_list_size(c),
                  "%s: %zu vs %zu results", what, kiln_list_size(c),
                  kiln_list_size(e));
        for (size_t i = 0; i < kiln_list_size(e); i++) {
            char label[160];
            snprintf(label, sizeof label, "%s, result %zu", what, i);
            double t = (int)i < nr ? rtol[i] : 0;
            CHECK_AGREE(kiln_list_get(c, i), kiln_list_get(e, i), t,
                        t > 0 ? ascale : 0, label);
        }
    }
    kiln_list_free(e);
    kiln_list_free(c);
}

static kiln_compile_stats stats_of(const kiln_fn *f)
{
    kiln_compile_stats s;
    memset(&s, 0, sizeof s);
    CHECK(kiln_compile_stats_get(f, &s) == KILN_OK);
    return s;
}

static bool has_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               (hay[i] | 0x20) == (needle[i] | 0x20)) {
            i++;
        }
        if (i == n) {
            return true;
        }
    }
    return false;
}

/* Pushes ys, failing on the first NULL (its error is pending). */
static kiln_status push_all(kiln_list *res, int n, kiln_array *const *ys)
{
    for (int i = 0; i < n; i++) {
        if (!ys[i]) {
            return kiln_errcode() != KILN_OK ? kiln_errcode()
                                              : KILN_ERR_VALUE;
        }
        kiln_status s = kiln_list_push(res, ys[i]);
        if (s != KILN_OK) {
            return s;
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* bodies                                                             */
/* ------------------------------------------------------------------ */

static kiln_array *gelu(kiln_array *x)
{
    kiln_array *t = kiln_erf(kiln_divide(x, kiln_weak_f64(sqrt(2.0))));
    return kiln_divide(kiln_multiply(x, kiln_add(kiln_weak_f64(1.0), t)),
                       kiln_weak_f64(2.0));
}

static kiln_status gelu_body(void *ctx, const kiln_list *args,
                             kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    kiln_array *y = gelu(kiln_list_get(args, 0));
    kiln_status s = push_all(res, 1, &y);
    kiln_scope_end(NULL);
    return s;
}

/* Elementwise ops of every class over args a, b: where, comparisons,
 * arithmetic, astype; for floats also tanh and exp (result 5). */
static kiln_status mix_body(void *ctx, const kiln_list *args,
                            kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    kiln_array *a = kiln_list_get(args, 0), *b = kiln_list_get(args, 1);
    kiln_dtype dt = kiln_array_dtype(a);
    kiln_array *y[6];
    int n = 0;
    if (dt == KILN_DTYPE_BOOL) {
        y[n++] = kiln_where(a, b, kiln_logical_not(b));
        y[n++] = kiln_logical_and(a, kiln_logical_or(b, kiln_equal(a, b)));
        y[n++] = kiln_add(kiln_astype(a, KILN_DTYPE_INT32),
                          kiln_multiply(kiln_astype(b, KILN_DTYPE_INT32),
                                        kiln_weak_i64(3)));
        y[n++] = kiln_astype(kiln_not_equal(a, b), F32);
    } else {
        kiln_array *c = kiln_greater(a, b);
        y[n++] = kiln_where(c, kiln_multiply(a, b), kiln_subtract(a, b));
        y[n++] = kiln_maximum(a, kiln_add(b, kiln_weak_i64(1)));
        y[n++] = kiln_less_equal(a, b);
        y[n++] = kiln_multiply(kiln_astype(a, F32), kiln_weak_f64(0.5));
        y[n++] = kiln_add(kiln_astype(c, dt), a);
        if (kiln_dtype_is_float(dt)) {
            y[n++] = kiln_add(kiln_tanh(a), kiln_exp(kiln_multiply(
                                                b, kiln_weak_f64(0.25))));
        }
    }
    kiln_status s = push_all(res, n, y);
    kiln_scope_end(NULL);
    return s;
}

/* Reductions, by *(int *)ctx, over x (args 0) with y, w, b (args 1-3). */
static kiln_status red_body(void *ctx, const kiln_list *args,
                            kiln_list *res)
{
    int which = *(const int *)ctx, last = -1, first = 0, n = 1;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0), *y2 = kiln_list_get(args, 1);
    kiln_array *r[2] = {NULL, NULL};
    switch (which) {
    case 0:
        r[0] = kiln_sum(kiln_multiply(x, y2), NULL, 0, false);
        break;
    case 1:
        r[0] = kiln_sum(kiln_multiply(x, y2), &last, 1, false);
        break;
    case 2:
        r[0] = kiln_softmax(x, &last, 1, false);
        break;
    case 3:
        r[0] = kiln_logsumexp(x, &last, 1, false);
        break;
    case 4:
        r[0] = kiln_mean(x, &last, 1, false);
        r[1] = kiln_var(x, &last, 1, false, 0);
        n = 2;
        break;
    case 5: {
        kiln_array *mu = kiln_mean(x, &last, 1, true);
        kiln_array *v = kiln_var(x, &last, 1, true, 0);
        kiln_array *z = kiln_multiply(
            kiln_subtract(x, mu), kiln_rsqrt(kiln_add(v, kiln_weak_f64(1e-5))));
        r[0] = kiln_add(kiln_multiply(z, kiln_list_get(args, 2)),
                        kiln_list_get(args, 3));
        break;
    }
    default:
        r[0] = kiln_sum(kiln_multiply(kiln_exp(x), y2), &first, 1, false);
        r[1] = kiln_subtract(kiln_max(x, &first, 1, true), x);
        n = 2;
        break;
    }
    kiln_status s = push_all(res, n, r);
    kiln_scope_end(NULL);
    return s;
}

enum {
    P_PLAIN,
    P_FAIL,    /* an op fails: the body returns its error */
    P_EMPTY,   /* returns KILN_OK and no results */
    P_NULL,    /* pushes a NULL result, returns KILN_OK */
    P_READ,    /* reads its argument's data */
    P_EVAL,    /* evaluates its argument */
    P_RESHAPE, /* reshapes the result to (20) */
    P_FLAT,    /* reshapes the result to (-1) */
    P_COUNTER, /* state[0] += 1, returns the new value */
    P_OUTPUT   /* outputs[0] = 2 x (pushed when empty) */
};

/* y = x * x + 1 (+ the other arguments, + c, + every state array),
 * times the call's first key byte when there is one. */
typedef struct probe {
    int runs; /* times the body ran */
    int mode;
    kiln_array *c;    /* a constant reached through the context */
    kiln_list *state; /* captured state */
} probe;

static kiln_status probe_body(void *ctx, const kiln_list *args,
                              kiln_list *res)
{
    probe *p = ctx;
    p->runs++;
    if (p->mode == P_EMPTY) {
        return KILN_OK;
    }
    if (p->mode == P_NULL) {
        kiln_list_push(res, NULL);
        return KILN_OK;
    }
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0), *y = NULL;
    kiln_status s = KILN_OK;
    if (p->mode == P_COUNTER) {
        y = kiln_add(kiln_list_get(p->state, 0), kiln_weak_i64(1));
        s = y ? kiln_list_set(p->state, 0, y) : kiln_errcode();
        s = s == KILN_OK ? push_all(res, 1, &y) : s;
        kiln_scope_end(NULL);
        return s;
    }
    if (p->mode == P_READ && !kiln_array_data(x)) {
        s = kiln_errcode();
    }
    if (p->mode == P_EVAL && s == KILN_OK) {
        s = kiln_array_eval(x);
    }
    if (s == KILN_OK) {
        y = kiln_add(kiln_multiply(x, x), kiln_weak_f64(1.0));
        for (size_t i = 1; i < kiln_list_size(args); i++) {
            y = kiln_add(y, kiln_list_get(args, i));
        }
        if (p->c) {
            y = kiln_add(y, p->c);
        }
        for (size_t i = 0; p->mode != P_OUTPUT && p->state &&
                           i < kiln_list_size(p->state);
             i++) {
            y = kiln_add(y, kiln_list_get(p->state, i));
        }
        size_t kl = 0;
        const unsigned char *key = kiln_fn_call_key(&kl);
        if (key && kl > 0) {
            y = kiln_multiply(y, kiln_weak_f64(key[0]));
        }
        if (p->mode == P_FAIL) {
            int64_t bad = 7;
            y = kiln_reshape(y, &bad, 1);
        }
        if (p->mode == P_RESHAPE || p->mode == P_FLAT) {
            int64_t sh = p->mode == P_RESHAPE ? 20 : -1;
            y = kiln_reshape(y, &sh, 1);
        }
        if (p->mode == P_OUTPUT && y) {
            kiln_array *o = kiln_multiply(x, kiln_weak_f64(2.0));
            s = kiln_list_size(p->state) ? kiln_list_set(p->state, 0, o)
                                         : kiln_list_push(p->state, o);
        }
        s = s == KILN_OK ? push_all(res, 1, &y) : s;
    }
    kiln_scope_end(NULL);
    return s;
}

/* x (float32) -> x * x + 1 + add, the expected values */
static void sq1(kiln_array *x, double add, double *out)
{
    float *p = fetch(x);
    for (int64_t i = 0; p && i < kiln_array_size(x); i++) {
        out[i] = (double)(p[i] * p[i] + 1.0f) + add;
    }
    free(p);
}

/* probe's result on x is x * x + 1 + add */
#define CHECK_SQ1(y, x, add)                                              \
    do {                                                                  \
        double kt_w[64];                                                  \
        sq1((x), (add), kt_w);                                            \
        CHECK_MSG(vals_ok((y), kt_w, kiln_array_size(x), 1e-6),           \
                  "probe result wrong: %s", kiln_errmsg());               \
    } while (0)

/* ------------------------------------------------------------------ */
/* compiled equals eager                                              */
/* ------------------------------------------------------------------ */

TEST(compile_gelu_equals_eager_bitwise)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = kiln_compile(f, NULL);
    CHECK(f && cf);
    int64_t sh[2] = {3, 1031};
    double lo = -6, hi = 6;
    for (int round = 0; round < 3; round++) {
        kiln_array *x = rand_arr(sh, 2, F32, lo, hi, 0);
        if (round == 0) {
            float sp[6] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-40f};
            kiln_array *s = kiln_array_from_data(sp, (int64_t[]){6}, 1, F32);
            int64_t st[2] = {0, 0}, sp2[2] = {1, 6};
            x = kiln_slice_update(x, kiln_reshape(s, sp2, 2), st, sp2, NULL);
            kiln_array_eval(x);
        }
        check_same(f, cf, 1, &x, NULL, 0, 0, "gelu");
        lo *= 3;
        hi *= 3;
    }
    kiln_compile_stats st = stats_of(cf);
    CHECK(st.traces == 1 && st.calls == 3 && st.cache_hits == 2);
    /* a large input (split across threads) and a strided one */
    int64_t big[1] = {200003};
    kiln_array *xb = rand_arr(big, 1, F32, -5, 5, 0);
    check_same(f, cf, 1, &xb, NULL, 0, 0, "gelu large");
    kiln_array *xt = rand2_t(3, 1031, -5, 5);
    check_same(f, cf, 1, &xt, NULL, 0, 0, "gelu transposed");
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(compile_dtype_classes_and_layouts)
{
    kiln_errclear();
    const kiln_dtype dts[7] = {KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16,
                               F32, KILN_DTYPE_FLOAT64, KILN_DTYPE_INT32,
                               KILN_DTYPE_UINT8, KILN_DTYPE_BOOL};
    /* tolerance of the tanh/exp result, by dtype (same math: exact) */
    const double ttol[7] = {2e-3, 1.6e-2, 1e-6, 1e-14, 0, 0, 0};
    for (int d = 0; d < 7; d++) {
        kiln_dtype dt = dts[d];
        double lo = kiln_dtype_is_float(dt) ? -3 : (dt == KILN_DTYPE_UINT8
                                                         ? 0 : -60);
        double hi = kiln_dtype_is_float(dt) ? 3 : (dt == KILN_DTYPE_UINT8
                                                       ? 256 : 60);
        double step = kiln_dtype_is_float(dt) ? 0.25 : 0;
        double tol[6] = {0, 0, 0, 0, 0, ttol[d]};
        kiln_scope_begin();
        kiln_fn *f = kiln_fn_new(mix_body, NULL, NULL, "mix");
        kiln_fn *cf = kiln_compile(f, NULL);
        char what[96];
        int64_t s2[2] = {5, 19}, sw[2] = {5, 38}, st[2] = {19, 5};
        int64_t s7[2] = {7, 19}, r1[2] = {1, 19}, c1[2] = {5, 1};
        int64_t s0[2] = {0, 19};
        kiln_array *xs[8][2];
        xs[0][0] = rand_arr(s2, 2, dt, lo, hi, step);
        xs[0][1] = rand_arr(s2, 2, dt, lo, hi, step);
        xs[1][0] = kiln_transpose(rand_arr(st, 2, dt, lo, hi, step), NULL, 0);
        xs[1][1] = xs[0][1];
        xs[2][0] = xs[0][0];
        xs[2][1] = kiln_slice(rand_arr(sw, 2, dt, lo, hi, step),
                              (int64_t[]){0, 1}, (int64_t[]){END, END},
                              (int64_t[]){1, 2});
        xs[3][0] = kiln_slice(rand_arr(s7, 2, dt, lo, hi, step),
                              (int64_t[]){2, 0}, (int64_t[]){END, END}, NULL);
        xs[3][1] = xs[1][0];
        xs[4][0] = rand_arr(r1, 2, dt, lo, hi, step);
        xs[4][1] = rand_arr(c1, 2, dt, lo, hi, step);
        xs[5][0] = rand_arr(NULL, 0, dt, lo, hi, step);
        xs[5][1] = rand_arr(NULL, 0, dt, lo, hi, step);
        xs[6][0] = xs[5][0];
        xs[6][1] = xs[0][1];
        xs[7][0] = rand_arr(s0, 2, dt, lo, hi, step);
        xs[7][1] = rand_arr(s0, 2, dt, lo, hi, step);
        const char *names[8] = {"contiguous", "transposed", "sliced",
                                "offset slice", "broadcast (1,n)(m,1)",
                                "0-d", "0-d with (m,n)", "size 0"};
        for (int k = 0; k < 8; k++) {
            kiln_eval(xs[k], 2);
            snprintf(what, sizeof what, "%s %s", kiln_dtype_name(dt),
                     names[k]);
            check_same(f, cf, 2, xs[k], tol, 6, 0, what);
        }
        kiln_compile_stats s = stats_of(cf);
        CHECK_MSG(s.traces == 5, "%s: %lld traces (want 5: strides do not "
                  "retrace)", kiln_dtype_name(dt), (long long)s.traces);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
}

TEST(compile_fused_reductions)
{
    kiln_errclear();
    const char *names[7] = {"sum(x*y)", "sum(x*y, -1)", "softmax",
                            "logsumexp", "mean/var", "layer norm",
                            "axis 0"};
    for (int which = 0; which < 7; which++) {
        kiln_scope_begin();
        kiln_fn *f = kiln_fn_new(red_body, &which, NULL, names[which]);
        kiln_fn *cf = kiln_compile(f, NULL);
        int64_t m = which == 0 ? 33 : 37, n = which == 0 ? 64 : 257;
        int64_t sn[1] = {n};
        double lo = which == 0 ? 0.5 : -2, hi = which == 0 ? 1.5 : 4;
        kiln_array *in[4] = {rand2(m, n, lo, hi), rand2(m, n, lo, hi),
                             rand_arr(sn, 1, F32, 0.5, 2, 0),
                             rand_arr(sn, 1, F32, -1, 1, 0)};
        double tol[2] = {1e-5, 1e-5};
        check_same(f, cf, 4, in, tol, 2, 1e-6, names[which]);
        /* the same shape with other values, then a transposed x */
        in[0] = rand2(m, n, lo, hi);
        check_same(f, cf, 4, in, tol, 2, 1e-6, names[which]);
        in[0] = rand2_t(m, n, lo, hi);
        check_same(f, cf, 4, in, tol, 2, 1e-6, names[which]);
        CHECK(stats_of(cf).traces == 1);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
}

/* Sibling regions (fuse.c merge_siblings), by *(int *)ctx: 0 independent
 * row reductions of x: sum(exp(x)) and sum(x * y) merge into one region
 * (max(x), one step, stays a plain reduction); 1 the second reads the
 * first's result through a step that cannot fuse (a cumsum over the kept
 * axis), so they must stay apart; 2 sum(x * u) and sum(x * y), which
 * share x but whose own shapes may differ on a shapeless replay. */
static kiln_status sibling_body(void *ctx, const kiln_list *args,
                                kiln_list *res)
{
    int last = -1;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0), *y = kiln_list_get(args, 1);
    kiln_array *r[3];
    int n = 3;
    if (*(const int *)ctx == 2) {
        r[0] = kiln_sum(kiln_multiply(x, kiln_list_get(args, 2)), &last, 1,
                        true);
        r[1] = kiln_sum(kiln_multiply(x, y), &last, 1, true);
        kiln_status st = push_all(res, 2, r);
        kiln_scope_end(NULL);
        return st;
    }
    r[0] = kiln_sum(kiln_exp(x), &last, 1, true);
    if (*(const int *)ctx == 0) {
        r[1] = kiln_sum(kiln_multiply(x, y), &last, 1, false);
        r[2] = kiln_max(x, &last, 1, false);
    } else {
        kiln_array *u = kiln_cumsum(r[0], -1, false, false, true);
        r[1] = kiln_sum(kiln_multiply(x, u), &last, 1, false);
        n = 2;
    }
    kiln_status st = push_all(res, n, r);
    kiln_scope_end(NULL);
    return st;
}

/* t = x * u and s = t + y, both results: compiled shapeless, t is not
 * stored from inside s's region (fuse.c), so a replay where x and u
 * shrink gives t its own shape. */
static kiln_status stored_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    kiln_array *r[2];
    r[0] = kiln_multiply(kiln_list_get(args, 0), kiln_list_get(args, 1));
    r[1] = kiln_add(r[0], kiln_list_get(args, 2));
    kiln_status st = push_all(res, 2, r);
    kiln_scope_end(NULL);
    return st;
}

TEST(compile_shapeless_stored_values)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(stored_body, NULL, NULL, "stored");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *a[3] = {rand2(4, 8, -2, 2), rand2(4, 8, -2, 2),
                        rand2(4, 8, -2, 2)};
    double tol[2] = {0, 0};
    check_same(f, cf, 3, a, tol, 2, 0, "shapeless stored, traced");
    kiln_array *b[3] = {rand2(1, 8, -2, 2), rand2(1, 8, -2, 2),
                        rand2(4, 8, -2, 2)};
    check_same(f, cf, 3, b, tol, 2, 0, "shapeless stored, replayed");
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* The number of fused steps in cf's fused graph. */
static int fused_steps(const kiln_fn *cf)
{
    char *d = kiln_compile_dump(cf, KILN_DUMP_FUSED);
    int n = 0;
    for (const char *p = d; p && (p = strstr(p, " = fused(")) != NULL; p++) {
        n++;
    }
    kiln_free(d);
    return n;
}

TEST(compile_sibling_regions)
{
    kiln_errclear();
    for (int which = 0; which < 2; which++) {
        kiln_scope_begin();
        kiln_fn *f = kiln_fn_new(sibling_body, &which, NULL, "siblings");
        kiln_fn *cf = kiln_compile(f, NULL);
        kiln_array *in[2] = {rand2(37, 300, -2, 2), rand2(37, 300, -2, 2)};
        double tol[3] = {1e-5, 1e-5, 1e-6};
        check_same(f, cf, 2, in, tol, 3, 1e-6,
                   which ? "dependent siblings" : "siblings");
        in[0] = rand2_t(37, 300, -2, 2); /* strided x */
        check_same(f, cf, 2, in, tol, 3, 1e-6,
                   which ? "dependent siblings" : "siblings");
        int nf = fused_steps(cf);
        CHECK_MSG(nf == (which ? 2 : 1), "%s: %d fused steps",
                  which ? "dependent siblings" : "siblings", nf);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
    /* shapeless: no merge, so each result keeps its own shape on replay
     * (traced with x, u, y all (4, 8); replayed with x and u (1, 8): the
     * first result is (1, 1), the second (4, 1)) */
    kiln_scope_begin();
    int two = 2;
    kiln_fn *f = kiln_fn_new(sibling_body, &two, NULL, "siblings shapeless");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *a[3] = {rand2(4, 8, -2, 2), rand2(4, 8, -2, 2),
                        rand2(4, 8, -2, 2)};
    double tol[2] = {1e-5, 1e-5};
    check_same(f, cf, 3, a, tol, 2, 1e-6, "shapeless siblings, traced");
    CHECK(fused_steps(cf) == 2);
    kiln_array *b[3] = {rand2(1, 8, -2, 2), rand2(4, 8, -2, 2),
                        rand2(1, 8, -2, 2)};
    check_same(f, cf, 3, b, tol, 2, 1e-6, "shapeless siblings, replayed");
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* Inputs broadcast along the row (a (m, 1) column, a stride-0
 * broadcast_to view) and strided rows, with rows longer than the kernels'
 * blocks: elementwise regions replicate such an input into a block, row
 * regions copy it to unit stride first; both must still equal eager. */
TEST(compile_broadcast_and_strided_rows)
{
    kiln_errclear();
    const kiln_dtype dts[3] = {F32, KILN_DTYPE_FLOAT16, KILN_DTYPE_INT32};
    for (int d = 0; d < 3; d++) {
        kiln_dtype dt = dts[d];
        double tol[6] = {0, 0, 0, 0, 0, dt == F32 ? 1e-6 : 2e-3};
        kiln_scope_begin();
        kiln_fn *f = kiln_fn_new(mix_body, NULL, NULL, "mix");
        kiln_fn *cf = kiln_compile(f, NULL);
        int64_t full[2] = {3, 1100}, col[2] = {3, 1}, one[2] = {1, 1};
        kiln_array *xs[3][2];
        xs[0][0] = rand_arr(full, 2, dt, -3, 3, 0.25);
        xs[0][1] = rand_arr(col, 2, dt, -3, 3, 0.25);
        xs[1][0] = kiln_broadcast_to(rand_arr(one, 2, dt, -3, 3, 0.25),
                                     full, 2);
        xs[1][1] = xs[0][0];
        xs[2][0] = xs[0][1];
        xs[2][1] = xs[1][0];
        const char *names[3] = {"(m,n) with (m,1)", "stride-0 (m,n)",
                                "(m,1) with stride-0 (m,n)"};
        for (int k = 0; k < 3; k++) {
            char what[96];
            kiln_eval(xs[k], 2);
            snprintf(what, sizeof what, "%s %s", kiln_dtype_name(dt),
                     names[k]);
            check_same(f, cf, 2, xs[k], tol, 6, 0, what);
        }
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
    }
    /* layer norm with a stride-0 weight and a strided (every other) bias */
    int which = 5;
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(red_body, &which, NULL, "layer norm");
    kiln_fn *cf = kiln_compile(f, NULL);
    int64_t n = 1100, sn[1] = {n}, s2[1] = {2 * n}, one[1] = {1};
    kiln_array *in[4] = {rand2(5, n, -2, 4), rand2(5, n, -2, 4),
                         kiln_broadcast_to(rand_arr(one, 1, F32, 0.5, 2, 0),
                                           sn, 1),
                         kiln_slice(rand_arr(s2, 1, F32, -1, 1, 0),
                                    (int64_t[]){0}, (int64_t[]){END},
                                    (int64_t[]){2})};
    double tol[2] = {1e-5, 1e-5};
    kiln_eval(in, 4);
    check_same(f, cf, 4, in, tol, 2, 1e-6, "layer norm, broadcast w");
    in[0] = rand2_t(5, n, -2, 4);
    check_same(f, cf, 4, in, tol, 2, 1e-6, "layer norm, transposed x");
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* y = x * 2 + 1 (float32) and z = float16(x) * 3: outputs big enough
 * (54 MB) for streaming stores, from an offset slice (unaligned). */
static kiln_status stream_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0);
    kiln_array *y[2] = {
        kiln_add(kiln_multiply(x, kiln_weak_f64(2)), kiln_weak_f64(1)),
        kiln_multiply(kiln_astype(x, KILN_DTYPE_FLOAT16), kiln_weak_f64(3))};
    kiln_status s = push_all(res, 2, y);
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_streaming_outputs)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(stream_body, NULL, NULL, "stream");
    kiln_fn *cf = kiln_compile(f, NULL);
    int64_t n = (int64_t)9 << 20, s1[1] = {n + 3};
    kiln_array *x = kiln_slice(rand_arr(s1, 1, F32, -4, 4, 0),
                               (int64_t[]){3}, (int64_t[]){END}, NULL);
    kiln_eval(&x, 1);
    double tol[2] = {0, 0};
    check_same(f, cf, 1, &x, tol, 2, 0, "streamed outputs");
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* the cache                                                          */
/* ------------------------------------------------------------------ */

/* Half dtypes at their edges, by *(int *)ctx: 0 elementwise, with args
 * x16, y16, xb, yb (bfloat16), x32 and a bool c; 1 rows of x16 (arg 0):
 * sums, layer norm in float32 and back, scaled by the float16 rows w and b
 * (args 1 and 2, broadcast over the rows); 2 float16 x and q, float32 z,
 * one float16 output row in a reduction region, which may take the row
 * of x or q (whichever first has rows that move: codegen_plan.c
 * plan_share). */
static kiln_status half_body(void *ctx, const kiln_list *args,
                             kiln_list *res)
{
    const kiln_dtype f16 = KILN_DTYPE_FLOAT16, bf = KILN_DTYPE_BFLOAT16;
    int last = -1;
    kiln_scope_begin();
    kiln_array *x16 = kiln_list_get(args, 0);
    kiln_array *r[14];
    int n;
    if (*(const int *)ctx == 2) {
        /* x16 and q staged, either broadcast over the rows of float32 z:
         * the output row may not take the row of one converted once */
        kiln_array *xf = kiln_astype(x16, F32);
        kiln_array *qf = kiln_astype(kiln_list_get(args, 1), F32);
        kiln_array *z = kiln_list_get(args, 2);
        kiln_array *m = kiln_mean(kiln_add(qf, z), &last, 1, true);
        /* a bool value is never in a vector loop: the rows stay staged
         * (plan_vhalf) */
        kiln_array *az = kiln_where(kiln_greater(z, kiln_weak_f64(0.0)), z,
                                    kiln_negative(z));
        r[0] = kiln_astype(kiln_add(kiln_multiply(xf, kiln_subtract(qf, m)),
                                    az),
                           f16);
        n = 1;
    } else if (*(const int *)ctx == 0) {
        /* each value also feeds a second op, so that it is stored from
         * inside a fused region, not by a lone eager step */
        kiln_array *y16 = kiln_list_get(args, 1), *xb = kiln_list_get(args, 2);
        kiln_array *yb = kiln_list_get(args, 3), *x32 = kiln_list_get(args, 4);
        kiln_array *c = kiln_list_get(args, 5);
        r[0] = kiln_astype(x16, F32);
        r[1] = kiln_multiply(r[0], kiln_astype(y16, F32));
        r[2] = kiln_multiply(x16, y16);
        r[3] = kiln_add(r[2], y16);
        r[4] = kiln_astype(x32, f16);
        r[5] = kiln_multiply(r[4], y16);
        /* not where(c, x16, y16): eager's where copies a signalling
         * NaN's bits, compiled code widens and narrows it (quiet) */
        r[6] = kiln_where(c, y16, r[2]);
        r[7] = kiln_add(r[6], y16);
        r[8] = kiln_astype(xb, F32);
        r[9] = kiln_multiply(r[8], kiln_astype(yb, F32));
        r[10] = kiln_astype(x32, bf);
        r[11] = kiln_multiply(r[10], yb);
        r[12] = kiln_add(kiln_astype(kiln_multiply(x32, x32), f16), y16);
        /* a rounded float16 value widened for a float32 output: a NaN
         * must come out as eager's (rounding clears its low payload) */
        r[13] = kiln_astype(kiln_multiply(r[6], x16), F32);
        n = 14;
    } else {
        kiln_array *xf = kiln_astype(x16, F32);
        kiln_array *mu = kiln_mean(xf, &last, 1, true);
        kiln_array *v = kiln_var(xf, &last, 1, true, 0);
        kiln_array *rs = kiln_rsqrt(kiln_add(v, kiln_weak_f64(1e-5)));
        kiln_array *z = kiln_multiply(kiln_subtract(xf, mu), rs);
        r[0] = kiln_sum(xf, &last, 1, false);
        r[1] = kiln_astype(kiln_add(kiln_multiply(z, kiln_list_get(args, 1)),
                                    kiln_list_get(args, 2)),
                           f16);
        r[2] = kiln_sum(x16, &last, 1, false);
        n = 3;
    }
    kiln_status s = push_all(res, n, r);
    kiln_scope_end(NULL);
    return s;
}

/* Whether the JIT builds kernels here: a compiled gelu got one
 * (false with KILN_JIT=0 or without a working C compiler). */
static bool jit_works(void)
{
    kiln_compile_stats cs;
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "jit probe");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_list *r = NULL;
    kiln_scope_begin();
    kiln_array *x = kiln_arange(0, 8, 1, F32);
    r = call_n(cf, 1, &x);
    bool ok = r && kiln_list_size(r) == 1 &&
              kiln_array_eval(kiln_list_get(r, 0)) == KILN_OK &&
              kiln_compile_stats_get(cf, &cs) == KILN_OK &&
              cs.kernels_built + cs.kernels_loaded > 0;
    kiln_scope_end(NULL);
    kiln_list_free(r);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_errclear();
    return ok;
}

/* e's and c's results have the same bytes; with nan_any, two NaNs of
 * a float dtype agree whatever their payloads. */
static bool both_nan(const unsigned char *a, const unsigned char *b,
                     kiln_dtype dt)
{
    uint64_t u = 0, v = 0;
    memcpy(&u, a, kiln_dtype_size(dt));
    memcpy(&v, b, kiln_dtype_size(dt));
    return kiln_dtype_is_float(dt) && isnan(elem(&u, 0, dt)) &&
           isnan(elem(&v, 0, dt));
}

static void check_bits(kiln_fn *f, kiln_fn *cf, int n, kiln_array *const *xs,
                       bool nan_any, const char *what)
{
    kiln_list *e = call_n(f, n, xs);
    kiln_list *c = call_n(cf, n, xs);
    CHECK_MSG(e && c && kiln_list_size(e) == kiln_list_size(c),
              "%s: %s", what, kiln_errmsg());
    for (size_t i = 0; e && c && i < kiln_list_size(e); i++) {
        kiln_array *a = kiln_list_get(c, i), *b = kiln_list_get(e, i);
        size_t nb = kiln_array_nbytes(b), es = kiln_dtype_size(
                                              kiln_array_dtype(b));
        unsigned char *pa = fetch(a), *pb = fetch(b);
        CHECK_MSG(pa && pb && kiln_array_nbytes(a) == nb &&
                      kiln_array_dtype(a) == kiln_array_dtype(b),
                  "%s, result %zu: %s", what, i, kiln_errmsg());
        for (size_t k = 0; pa && pb && k < nb; k += es) {
            if (memcmp(pa + k, pb + k, es) != 0 &&
                !(nan_any && both_nan(pa + k, pb + k, kiln_array_dtype(b)))) {
                uint64_t u = 0, v = 0;
                memcpy(&u, pa + k, es);
                memcpy(&v, pb + k, es);
                CHECK_MSG(false,
                          "%s, result %zu, element %zu: compiled %llx, "
                          "eager %llx", what, i, k / es,
                          (unsigned long long)u, (unsigned long long)v);
                break;
            }
        }
        free(pa);
        free(pb);
    }
    kiln_list_free(e);
    kiln_list_free(c);
}

/* Every float16 and bfloat16 bit pattern (NaNs with payloads, signalling
 * ones, infinities, subnormals, signed zeros) and float32 values at the
 * edges of both formats go through loads, ops, stores and fused row
 * reductions: compiled equals eager bit for bit, NaN payloads and signs
 * included, where an op meets at most one NaN. (Where two NaNs meet, x86
 * returns the first operand's, and gcc may swap the operands of a
 * commutative op in either path: only NaN-ness is compared there, in the
 * row sums.) Rows of 2579 (elementwise: several conversion blocks, tails)
 * and 2011 (reductions: below the fold block, so the order is eager's). */
TEST(compile_half_edges_bitwise)
{
    kiln_errclear();
    kiln_scope_begin();
    enum { R = 26, C = 2579, RR = 33, CR = 2011 };
    static uint16_t h[R * C], g[R * C], hr[RR * CR];
    static float f[R * C];
    static uint8_t cb[R * C];
    const uint32_t fs[] = {
        0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, 0x7fc02000u,
        0xffe01000u, 0x7f802000u, 0x7f800000u, 0xff800000u, 0x00000000u,
        0x80000000u, 0x00000001u, 0x807fffffu, 0x33000000u, 0x33000001u,
        0x33800000u, 0x387fe000u, 0x387ff000u, 0x38800000u, 0x477fe000u,
        0x477fefffu, 0x477ff000u, 0xc77ff000u, 0x3f801000u, 0x3f803000u,
        0x3f801001u, 0x7f7fffffu, 0x3f808000u, 0x3f818000u, 0x3f808001u};
    for (int64_t i = 0; i < R * C; i++) {
        h[i] = (uint16_t)i;
        g[i] = (uint16_t)(i * 40503u + 17u);
        if ((g[i] & 0x7f80u) == 0x7f80u || (g[i] & 0x7c00u) == 0x7c00u) {
            g[i] &= 0x83ffu; /* finite in both formats: one NaN per op */
        }
        uint32_t u = (uint32_t)(rnd() >> 32);
        int64_t k = i % 97;
        u = k < (int64_t)(sizeof fs / sizeof fs[0]) ? fs[k] : u;
        memcpy(&f[i], &u, sizeof u);
        cb[i] = (uint8_t)(rnd() & 1);
    }
    for (int64_t i = 0; i < RR * CR; i++) {
        hr[i] = (uint16_t)(i * 3u);
    }
    int64_t sh[2] = {R, C}, shr[2] = {RR, CR};
    kiln_array *in[6] = {
        kiln_array_from_data(h, sh, 2, KILN_DTYPE_FLOAT16),
        kiln_array_from_data(g, sh, 2, KILN_DTYPE_FLOAT16),
        kiln_array_from_data(h, sh, 2, KILN_DTYPE_BFLOAT16),
        kiln_array_from_data(g, sh, 2, KILN_DTYPE_BFLOAT16),
        kiln_array_from_data(f, sh, 2, F32),
        kiln_array_from_data(cb, sh, 2, KILN_DTYPE_BOOL)};
    int which[2] = {0, 1};
    kiln_fn *fe = kiln_fn_new(half_body, &which[0], NULL, "half ew");
    kiln_fn *ce = kiln_compile(fe, NULL);
    check_bits(fe, ce, 6, in, false, "half elementwise");
    if (jit_works()) {
        /* the kernel compiled (generated code the compiler rejects would
         * fall back to the interpreter and still give eager's bits), and
         * its float16 values read by other ops are rounded in blocks */
        kiln_compile_stats cs;
        char *src = kiln_compile_dump(ce, KILN_DUMP_SOURCE);
        CHECK(kiln_compile_stats_get(ce, &cs) == KILN_OK &&
              cs.interpreted == 0);
        CHECK_MSG(src && strstr(src, "kiln_f16_round_n(h"), "%s",
                  src ? src : kiln_errmsg());
        kiln_free(src);
    }
    {
        /* every op ran inside a fused region (siblings merge, so there
         * are fewer regions than values): the fused graph's steps are
         * inputs and fused steps only */
        char *d = kiln_compile_dump(ce, KILN_DUMP_FUSED);
        int lone = 0, regions = 0;
        for (char *l = d; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1
                                                       : l + strlen(l)) {
            char *eq = l[0] == 'v' ? strstr(l, " = ") : NULL;
            char *nl = strchr(l, '\n');
            if (!eq || (nl && eq > nl)) {
                continue;
            }
            regions += strncmp(eq + 3, "fused(", 6) == 0;
            lone += strncmp(eq + 3, "fused(", 6) != 0 &&
                    strncmp(eq + 3, "input", 5) != 0;
        }
        CHECK_MSG(d && lone == 0 && regions >= 1, "%d lone steps in:\n%s",
                  lone, d ? d : kiln_errmsg());
        kiln_free(d);
    }
    /* rows: every pattern in x; w and b finite (one NaN per op) */
    kiln_array *rin[3] = {
        kiln_array_from_data(hr, shr, 2, KILN_DTYPE_FLOAT16),
        kiln_array_from_data(g, (int64_t[]){CR}, 1, KILN_DTYPE_FLOAT16),
        kiln_array_from_data(g + CR, (int64_t[]){CR}, 1, KILN_DTYPE_FLOAT16)};
    kiln_fn *fr = kiln_fn_new(half_body, &which[1], NULL, "half rows");
    kiln_fn *cr = kiln_compile(fr, NULL);
    check_bits(fr, cr, 3, rin, true, "half rows");
    /* transposed (the strided variant) */
    rin[0] = kiln_transpose(kiln_array_from_data(hr, (int64_t[]){CR, RR}, 2,
                                                 KILN_DTYPE_FLOAT16),
                            NULL, 0);
    check_bits(fr, cr, 3, rin, true, "half rows transposed");
    /* finite rows (small integers, every sum exact): longer than a fold
     * block (any order gives eager's bits), and short ones (these rows
     * are float16 in registers, plan_vhalf; the staged rows, on the stack
     * or from malloc, are codegen_run_reductions' and the shared-row case
     * below) */
    const int64_t lens[2] = {5000, 37};
    for (int k = 0; k < 2; k++) {
        int64_t shl[2] = {3, lens[k]};
        rin[0] = rand_arr(shl, 2, KILN_DTYPE_FLOAT16, -8, 8, 1);
        rin[1] = rand_arr(shl + 1, 1, KILN_DTYPE_FLOAT16, -2, 2, 0.25);
        rin[2] = rand_arr(shl + 1, 1, KILN_DTYPE_FLOAT16, -2, 2, 0.25);
        check_bits(fr, cr, 3, rin, false, "half finite rows");
    }
    /* the output row shares the row of the first staged input whose rows
     * move: x, q, or neither */
    int which2 = 2;
    kiln_fn *fsh = kiln_fn_new(half_body, &which2, NULL, "half shared rows");
    kiln_fn *csh = kiln_compile(fsh, NULL);
    for (int k = 0; k < 3; k++) {
        int64_t shx[2] = {k ? 1 : 5, 300}, shq[2] = {k > 1 ? 1 : 5, 300};
        int64_t shz[2] = {5, 300};
        kiln_array *bin[3] = {rand_arr(shx, 2, KILN_DTYPE_FLOAT16, -8, 8, 1),
                              rand_arr(shq, 2, KILN_DTYPE_FLOAT16, -8, 8, 1),
                              rand_arr(shz, 2, F32, -8, 8, 1)};
        check_bits(fsh, csh, 3, bin, false, "half shared rows");
        char *src = kiln_compile_dump(csh, KILN_DUMP_SOURCE);
        CHECK_MSG(src && strstr(src, "= s[1] != 0 ? c1 : s[2] != 0 ? c2 :"),
                  "%s", src ? "no shared row in the source" : kiln_errmsg());
        kiln_free(src);
    }
    kiln_fn_release(csh);
    kiln_fn_release(fsh);
    kiln_fn_release(ce);
    kiln_fn_release(fe);
    kiln_fn_release(cr);
    kiln_fn_release(fr);
    kiln_scope_end(NULL);
}

/* Loops written over vectors (codegen_loop.c vec_ok): every op with a
 * vector form, float16 values rounded in registers and read again,
 * bfloat16 ones beside them. ctx 0: elementwise; 1: MLX's float16 layer
 * norm (rows); 2: rows folding a float16 max and a float16 sum, the sum's
 * pass also storing a row (every pass a vector loop: plan_vhalf); 3: a
 * fold of rounded float16 values over vectors while the rows stay staged
 * (floor has no vector form). */
static kiln_status vec_body(void *ctx, const kiln_list *args, kiln_list *res)
{
    const kiln_dtype f16 = KILN_DTYPE_FLOAT16, bf = KILN_DTYPE_BFLOAT16;
    int last = -1;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0), *y = kiln_list_get(args, 1);
    kiln_array *z = kiln_list_get(args, 2);
    kiln_array *r[6];
    int n;
    if (*(const int *)ctx == 0) {
        /* each output its own chain, so that the rounded values are
         * read inside the loop; float32 outputs show NaN payloads */
        kiln_array *zb = kiln_astype(z, bf);
        kiln_array *ny = kiln_astype(kiln_negative(y), F32);
        r[0] = kiln_maximum(kiln_multiply(x, y), y);
        r[1] = kiln_astype(kiln_divide(kiln_multiply(x, x), y), F32);
        /* minimum(+0, -0) is -0 (x and y are 0 together) */
        r[2] = kiln_multiply(kiln_minimum(kiln_abs(x), kiln_negative(y)),
                             kiln_square(y));
        r[3] = kiln_multiply(kiln_astype(kiln_multiply(zb, zb), F32),
                             kiln_astype(kiln_multiply(y, y), F32));
        r[4] = kiln_maximum(kiln_abs(z), ny);
        /* an output repeating one value, stored by the vector loop */
        kiln_array *s = kiln_list_get(args, 3);
        r[5] = kiln_broadcast_to(kiln_astype(kiln_add(s, s), f16),
                                 kiln_array_shape(x), kiln_array_ndim(x));
        n = 6;
    } else if (*(const int *)ctx == 2) {
        kiln_array *m = kiln_max(x, &last, 1, true);
        r[0] = kiln_multiply(kiln_subtract(x, m), y);
        r[1] = kiln_sum(r[0], &last, 1, true);
        r[2] = kiln_divide(r[0], kiln_add(kiln_abs(r[1]), z));
        r[3] = kiln_min(kiln_astype(kiln_abs(r[0]), F32), &last, 1, false);
        n = 4;
    } else if (*(const int *)ctx == 3) {
        kiln_array *m = kiln_sum(kiln_multiply(kiln_multiply(x, y), y),
                                 &last, 1, true);
        r[0] = kiln_floor(kiln_subtract(x, m));
        r[1] = m;
        n = 2;
    } else {
        kiln_array *xf = kiln_astype(x, F32);
        kiln_array *mu = kiln_mean(xf, &last, 1, true);
        kiln_array *v = kiln_var(xf, &last, 1, true, 0);
        kiln_array *rs = kiln_rsqrt(kiln_add(v, kiln_weak_f64(1e-4)));
        kiln_array *t = kiln_astype(kiln_multiply(kiln_subtract(xf, mu), rs),
                                    f16);
        r[0] = kiln_add(kiln_multiply(y, t), z);
        n = 1;
    }
    kiln_status s = push_all(res, n, r);
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_vector_loops_bitwise)
{
    kiln_errclear();
    kiln_scope_begin();
    enum { N = 7 * 1000 };
    static uint16_t h[N], g[N];
    static float f[N];
    /* the edges of float16 (both signs: infinities, NaNs signalling and
     * quiet, the largest finite, subnormals), then patterns spread over
     * all 2^16 */
    const uint16_t edge[] = {0x7c00u, 0xfc00u, 0x7c01u, 0xfc01u, 0x7e00u,
                             0xfe00u, 0x7fffu, 0xffffu, 0x7bffu, 0xfbffu,
                             0x0001u, 0x8001u, 0x03ffu, 0x83ffu, 0x7d55u};
    for (int64_t i = 0; i < N; i++) {
        int64_t k = i % 97;
        h[i] = k < (int64_t)(sizeof edge / sizeof edge[0])
                   ? edge[k]
                   : (uint16_t)(i * 9363u);
        g[i] = (uint16_t)(i * 40503u + 17u);
        if ((g[i] & 0x7c00u) == 0x7c00u) {
            g[i] &= 0x83ffu; /* finite: one NaN per op */
        }
        f[i] = (float)((double)(rnd() >> 11) * 0x1p-53 * 2e5 - 1e5);
        if (i % 101 == 5) {
            g[i] = 0;
            h[i] = i % 202 == 5 ? 0 : 0x8000u;
        } else if (i % 101 == 7) {
            uint32_t u = i % 202 == 7 ? 0x7fa00001u : 0xffc00123u;
            memcpy(&f[i], &u, sizeof u); /* NaN in z, y finite */
        }
    }
    int ctx[4] = {0, 1, 2, 3};
    kiln_fn *fe = kiln_fn_new(vec_body, &ctx[0], NULL, "vector ew");
    kiln_fn *ce = kiln_compile(fe, NULL);
    kiln_fn *fr = kiln_fn_new(vec_body, &ctx[1], NULL, "vector rows");
    kiln_fn *cr = kiln_compile(fr, NULL);
    kiln_fn *ff = kiln_fn_new(vec_body, &ctx[2], NULL, "vector folds");
    kiln_fn *cf = kiln_compile(ff, NULL);
    kiln_fn *fs = kiln_fn_new(vec_body, &ctx[3], NULL, "staged folds");
    kiln_fn *cs3 = kiln_compile(fs, NULL);
    /* lengths: tails of 8 and 11, exactly one vector, under one, and
     * over a fold block (5000: the finite rows' sums are exact, so any
     * order gives eager's bits) */
    const int64_t cols[5] = {1000, 2011, 16, 5, 5000};
    for (int k = 0; k < 5; k++) {
        int64_t sh[2] = {N / cols[k] > 9 ? 9 : N / cols[k], cols[k]};
        const float s0 = 0.3f;
        kiln_array *in[4] = {
            kiln_array_from_data(h, sh, 2, KILN_DTYPE_FLOAT16),
            kiln_array_from_data(g, sh, 2, KILN_DTYPE_FLOAT16),
            kiln_array_from_data(f, sh, 2, F32),
            kiln_array_from_data(&s0, NULL, 0, F32)};
        check_bits(fe, ce, 4, in, false, "vector elementwise");
        int64_t shf[2] = {3, cols[k]};
        if (cols[k] <= 2048) {
            /* rows: w and b of one row each; a row holding a NaN is NaN,
             * and where two NaNs meet (its mean and its NaN elements) the
             * payload is either one's, so only NaN-ness is compared */
            kiln_array *rin[3] = {
                in[0], kiln_array_from_data(g, sh + 1, 1, KILN_DTYPE_FLOAT16),
                kiln_array_from_data(g + cols[k], sh + 1, 1,
                                     KILN_DTYPE_FLOAT16)};
            check_bits(fr, cr, 3, rin, true, "vector rows");
            kiln_array *ein[3] = {in[0], in[1], in[2]};
            check_bits(ff, cf, 3, ein, true, "vector folds");
            check_bits(fs, cs3, 3, ein, true, "staged vector folds");
            rin[0] = rand_arr(shf, 2, KILN_DTYPE_FLOAT16, -8, 8, 0);
            check_bits(fr, cr, 3, rin, false, "vector finite rows");
        }
        /* small integers: every sum exact, over a fold block too */
        kiln_array *fin[3] = {
            rand_arr(shf, 2, KILN_DTYPE_FLOAT16, -8, 8, 1),
            rand_arr(shf, 2, KILN_DTYPE_FLOAT16, -2, 2, 1),
            rand_arr(shf, 2, F32, 1, 4, 0)};
        check_bits(ff, cf, 3, fin, false, "vector finite folds");
        check_bits(fs, cs3, 3, fin, false, "staged finite folds");
    }
    if (jit_works()) {
        /* both compiled, and their loops are the vector ones */
        kiln_fn *cs[4] = {ce, cr, cf, cs3};
        for (int k = 0; k < 4; k++) {
            kiln_compile_stats st;
            char *src = kiln_compile_dump(cs[k], KILN_DUMP_SOURCE);
            CHECK(kiln_compile_stats_get(cs[k], &st) == KILN_OK &&
                  st.interpreted == 0);
            CHECK_MSG(src && strstr(src, "kiln_vround_f16(") &&
                          (k == 3 || !strstr(src, "kiln_f16_round_n(")),
                      "%s", src ? src : kiln_errmsg());
            CHECK_MSG(k != 0 || strstr(src, "kiln_vround_bf16("), "%s", src);
            /* float16 read and written in registers, nothing staged;
             * rows: folds over vectors; 3: folds over vectors, rows
             * staged */
            CHECK_MSG(k == 3 || (strstr(src, "kiln_vload_h(") &&
                                 strstr(src, "kiln_vstore_h(") &&
                                 (k == 0 || strstr(src, "kiln_vf q")) &&
                                 !strstr(src, "kiln_f16_to_f32_n(")),
                      "%s", src);
            CHECK_MSG(k != 3 || (strstr(src, "kiln_vf q") &&
                                 strstr(src, "kiln_f16_to_f32_n(")),
                      "%s", src);
            kiln_free(src);
        }
    }
    kiln_fn_release(ce);
    kiln_fn_release(fe);
    kiln_fn_release(cr);
    kiln_fn_release(fr);
    kiln_fn_release(cf);
    kiln_fn_release(ff);
    kiln_fn_release(cs3);
    kiln_fn_release(fs);
    kiln_scope_end(NULL);
}

TEST(compile_cache_hits_without_retrace)
{
    kiln_errclear();
    kiln_scope_begin();
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "probe");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand2(4, 5, -2, 2);
    kiln_array *y = call1(cf, x);
    CHECK_SQ1(y, x, 0);
    kiln_compile_stats s = stats_of(cf);
    CHECK(p.runs == 1 && s.calls == 1 && s.traces == 1 && s.cache_hits == 0);
    CHECK(s.entries == 1);
    /* new values */
    x = rand2(4, 5, -2, 2);
    y = call1(cf, x);
    CHECK_SQ1(y, x, 0);
    s = stats_of(cf);
    CHECK(p.runs == 1 && s.traces == 1 && s.cache_hits == 1 && s.calls == 2);
    /* new strides, same shape */
    x = rand2_t(4, 5, -2, 2);
    y = call1(cf, x);
    CHECK_SQ1(y, x, 0);
    x = kiln_slice(rand2(4, 10, -2, 2), (int64_t[]){0, 1},
                   (int64_t[]){END, END}, (int64_t[]){1, 2});
    y = call1(cf, x);
    CHECK_SQ1(y, x, 0);
    s = stats_of(cf);
    CHECK(p.runs == 1 && s.traces == 1 && s.cache_hits == 3);
    /* a second kiln_compile of the same function shares the cache */
    kiln_fn *cf2 = kiln_compile(f, NULL);
    x = rand2(4, 5, -2, 2);
    y = call1(cf2, x);
    CHECK_SQ1(y, x, 0);
    CHECK(p.runs == 1);
    CHECK(stats_of(cf).traces == 1 && stats_of(cf2).traces == 1);
    /* a compiled function compiled again works too */
    kiln_fn *ccf = kiln_compile(cf, NULL);
    y = call1(ccf, x);
    CHECK_SQ1(y, x, 0);
    kiln_fn_release(ccf);
    kiln_fn_release(cf2);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(compile_retrace_triggers)
{
    kiln_errclear();
    kiln_scope_begin();
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "probe");
    kiln_fn *cf = kiln_compile(f, NULL);
    int64_t s20[1] = {20};
    kiln_array *x = rand2(4, 5, -2, 2), *y;
    CHECK_SQ1(call1(cf, x), x, 0);
    int want = 1;
    /* shape */
    kiln_array *x46 = rand2(4, 6, -2, 2);
    CHECK_SQ1(call1(cf, x46), x46, 0);
    CHECK_MSG(p.runs == ++want, "shape: runs %d", p.runs);
    /* ndim */
    kiln_array *x20 = rand_arr(s20, 1, F32, -2, 2, 0);
    CHECK_SQ1(call1(cf, x20), x20, 0);
    CHECK_MSG(p.runs == ++want, "ndim: runs %d", p.runs);
    /* dtype */
    kiln_array *x64 = kiln_astype(x, KILN_DTYPE_FLOAT64);
    y = call1(cf, x64);
    CHECK(y && kiln_array_dtype(y) == KILN_DTYPE_FLOAT64);
    CHECK_MSG(p.runs == ++want, "dtype: runs %d", p.runs);
    /* input count */
    kiln_array *two[2] = {x, x};
    kiln_list *r = call_n(cf, 2, two);
    double w2[20];
    float *xv = fetch(x);
    for (int i = 0; xv && i < 20; i++) {
        w2[i] = (double)((xv[i] * xv[i] + 1.0f) + xv[i]);
    }
    CHECK(r && xv && vals_ok(kiln_list_get(r, 0), w2, 20, 1e-6));
    free(xv);
    kiln_list_free(r);
    CHECK_MSG(p.runs == ++want, "input count: runs %d", p.runs);
    /* key bytes: a new key retraces, the same key hits */
    const char *keys[4] = {"\x02", "\x02", "\x03", NULL};
    const int retr[4] = {1, 0, 1, 0};
    for (int k = 0; k < 4; k++) {
        r = call_keyed(cf, x, keys[k]);
        y = r ? kiln_list_get(r, 0) : NULL;
        double w[20];
        sq1(x, 0, w);
        for (int i = 0; i < 20; i++) {
            w[i] *= keys[k] ? (double)keys[k][0] : 1.0;
        }
        CHECK_MSG(vals_ok(y, w, 20, 1e-6), "key %d: %s", k, kiln_errmsg());
        kiln_list_free(r);
        want += retr[k];
        CHECK_MSG(p.runs == want, "key %d: runs %d, want %d", k, p.runs,
                  want);
    }
    /* options: shapeless is another signature */
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *sf = kiln_compile(f, &o);
    CHECK_SQ1(call1(sf, x), x, 0);
    CHECK_MSG(p.runs == ++want, "options: runs %d", p.runs);
    /* and every earlier signature is still cached */
    CHECK_SQ1(call1(cf, x46), x46, 0);
    CHECK_SQ1(call1(cf, x20), x20, 0);
    CHECK(p.runs == want);
    kiln_compile_stats s = stats_of(cf);
    CHECK(s.traces == want && s.entries == want);
    kiln_fn_release(sf);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(compile_captured_input_count_retraces)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_list *st = kiln_list_new();
    kiln_list_push(st, kiln_full((int64_t[]){3}, 1, 10.0, F32));
    probe p = {.state = st};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "state");
    kiln_compile_opts o = {0};
    o.inputs = st;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *x = rand_arr((int64_t[]){3}, 1, F32, -2, 2, 0);
    CHECK_SQ1(call1(cf, x), x, 10);
    /* new state values are read at the call: no retrace */
    kiln_list_set(st, 0, kiln_full((int64_t[]){3}, 1, 20.0, F32));
    CHECK_SQ1(call1(cf, x), x, 20);
    CHECK(p.runs == 1);
    /* one more captured array: retrace */
    kiln_list_push(st, kiln_full((int64_t[]){3}, 1, 300.0, F32));
    CHECK_SQ1(call1(cf, x), x, 320);
    CHECK(p.runs == 2);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_list_free(st);
    kiln_scope_end(NULL);
}

TEST(compile_shapeless)
{
    kiln_errclear();
    kiln_scope_begin();
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "probe");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    const int64_t shapes[5][2] = {{4, 5}, {7, 3}, {1, 1}, {0, 3}, {2, 9}};
    for (int i = 0; i < 5; i++) {
        kiln_array *x = rand2(shapes[i][0], shapes[i][1], -2, 2);
        kiln_array *y = call1(cf, x);
        CHECK(y && kiln_array_dim(y, 0) == shapes[i][0] &&
              kiln_array_dim(y, 1) == shapes[i][1]);
        CHECK_SQ1(y, x, 0);
    }
    CHECK(p.runs == 1 && stats_of(cf).traces == 1);
    kiln_array *x1 = rand_arr((int64_t[]){6}, 1, F32, -2, 2, 0);
    CHECK_SQ1(call1(cf, x1), x1, 0);
    CHECK_MSG(p.runs == 2, "ndim must retrace: runs %d", p.runs);
    kiln_array *x64 = kiln_astype(rand2(3, 3, -2, 2), KILN_DTYPE_FLOAT64);
    CHECK(call1(cf, x64) != NULL);
    CHECK_MSG(p.runs == 3, "dtype must retrace: runs %d", p.runs);
    kiln_fn_release(cf);
    kiln_fn_release(f);

    /* a reshape to a baked size: fits (5,4), fails clearly on (4,6) */
    probe q = {.mode = P_RESHAPE};
    f = kiln_fn_new(probe_body, &q, NULL, "reshape20");
    cf = kiln_compile(f, &o);
    kiln_array *x = rand2(4, 5, -2, 2);
    kiln_array *y = call1(cf, x);
    CHECK(y && kiln_array_ndim(y) == 1 && kiln_array_dim(y, 0) == 20);
    x = rand2(5, 4, -2, 2);
    CHECK_SQ1(call1(cf, x), x, 0);
    kiln_errclear();
    kiln_list *r = call_n(cf, 1, (kiln_array *[]){rand2(4, 6, -2, 2)});
    CHECK(r == NULL);
    CHECK(kiln_errcode() != KILN_OK);
    CHECK_MSG(has_ci(kiln_errmsg(), "reshape"), "message: '%s'",
              kiln_errmsg());
    kiln_list_free(r);
    kiln_errclear();
    kiln_fn_release(cf);
    kiln_fn_release(f);

    /* reshape(-1) replays on every size */
    probe fl = {.mode = P_FLAT};
    f = kiln_fn_new(probe_body, &fl, NULL, "flat");
    cf = kiln_compile(f, &o);
    for (int i = 0; i < 3; i++) {
        x = rand2(4, 5 + i, -2, 2);
        y = call1(cf, x);
        CHECK(y && kiln_array_ndim(y) == 1 &&
              kiln_array_dim(y, 0) == 4 * (5 + i));
        CHECK_SQ1(y, x, 0);
    }
    CHECK(fl.runs == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* [mean(x), var(x, -1, keepdims), std(x, ddof=1), x - mean(x, 0, keep)]:
 * each divides by a count that follows x's shape. */
static kiln_array *counted(kiln_array *x, int k)
{
    const int last = -1, first = 0;
    switch (k) {
    case 0:
        return kiln_mean(x, NULL, 0, false);
    case 1:
        return kiln_var(x, &last, 1, true, 0);
    case 2:
        return kiln_std(x, NULL, 0, false, 1);
    default:
        return kiln_subtract(x, kiln_mean(x, &first, 1, true));
    }
}

static kiln_status counted_body(void *ctx, const kiln_list *args,
                                kiln_list *res)
{
    int *runs = ctx;
    kiln_status s = KILN_OK;
    (*runs)++;
    kiln_scope_begin();
    for (int k = 0; k < 4 && s == KILN_OK; k++) {
        kiln_array *y = counted(kiln_list_get(args, 0), k);
        s = y ? kiln_list_push(res, y) : kiln_errcode();
    }
    kiln_scope_end(NULL);
    return s;
}

/* mean, var and std replayed shapeless divide by the new shape's count
 * (a count baked at the first trace gave silently wrong values) */
TEST(compile_shapeless_counts)
{
    kiln_errclear();
    kiln_scope_begin();
    int runs = 0;
    kiln_fn *f = kiln_fn_new(counted_body, &runs, NULL, "counted");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    const int64_t shapes[3][2] = {{2, 3}, {5, 7}, {3, 1}};
    for (int i = 0; i < 3; i++) {
        kiln_array *x = rand2(shapes[i][0], shapes[i][1], -2, 2);
        kiln_list *r = call_n(cf, 1, &x);
        CHECK_MSG(r && kiln_list_size(r) == 4, "call %d: %s", i,
                  kiln_errmsg());
        for (int k = 0; r && k < 4; k++) {
            kiln_array *want = counted(x, k);
            int64_t eq = 0;
            CHECK_MSG(kiln_array_item_i64(
                          kiln_array_equal(kiln_list_get(r, (size_t)k),
                                           want, false),
                          &eq) == KILN_OK &&
                          eq == 1,
                      "shape %d output %d differs from eager", i, k);
        }
        kiln_list_free(r);
    }
    CHECK_MSG(runs == 1, "shapeless must not retrace: runs %d", runs);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* [split(x, 2)[1], x[1:] - x[:-1]] along axis 0 */
static kiln_status halves_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    bool split = ctx != NULL;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0);
    kiln_list *parts = kiln_split(x, 2, NULL, 0, 0);
    kiln_array *h = parts ? kiln_list_get(parts, 1) : NULL;
    kiln_status s = KILN_OK;
    if (split) {
        s = h ? kiln_list_push(res, h) : kiln_errcode();
    }
    kiln_list_free(parts);
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    kiln_array *d = kiln_subtract(
        kiln_slice(x, (int64_t[]){1}, (int64_t[]){E}, NULL),
        kiln_slice(x, (int64_t[]){B}, (int64_t[]){-1}, NULL));
    if (s == KILN_OK) {
        s = d ? kiln_list_push(res, d) : kiln_errcode();
    }
    kiln_scope_end(NULL);
    return s;
}

/* Shapeless slices: bounds as written follow a new length; bounds split
 * computed from the traced length fail clearly on another length (they
 * cut the old place: silently wrong values before). */
TEST(compile_shapeless_slices)
{
    kiln_errclear();
    kiln_scope_begin();
    int on = 1;
    kiln_fn *f = kiln_fn_new(halves_body, &on, NULL, "halves");
    kiln_fn *fd = kiln_fn_new(halves_body, NULL, NULL, "diff");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o), *cd = kiln_compile(fd, &o);
    for (int i = 0; i < 3; i++) {
        int64_t n = i == 2 ? 9 : 4;
        kiln_array *x = rand_arr((int64_t[]){n}, 1, F32, -2, 2, i);
        kiln_list *r = i < 2 ? call_n(cf, 1, &x) : NULL;
        kiln_list *d = call_n(cd, 1, &x);
        CHECK_MSG(d && (r || i == 2), "n %lld: %s", (long long)n,
                  kiln_errmsg());
        if (r) {
            kiln_list *want = kiln_split(x, 2, NULL, 0, 0);
            int64_t eq = 0;
            CHECK(kiln_array_item_i64(
                      kiln_array_equal(kiln_list_get(r, 0),
                                       kiln_list_get(want, 1), false),
                      &eq) == KILN_OK &&
                  eq == 1);
            kiln_list_free(want);
        }
        /* x[1:] - x[:-1] on the new length */
        CHECK(d && kiln_array_dim(kiln_list_get(d, 0), 0) == n - 1);
        kiln_list_free(d);
        kiln_list_free(r);
    }
    CHECK(stats_of(cd).traces == 1);
    kiln_errclear();
    kiln_array *x6 = rand_arr((int64_t[]){6}, 1, F32, -2, 2, 6);
    kiln_list *r = call_n(cf, 1, &x6);
    CHECK(r == NULL && kiln_errcode() == KILN_ERR_VALUE);
    CHECK_MSG(has_ci(kiln_errmsg(), "split"), "message: '%s'",
              kiln_errmsg());
    kiln_list_free(r);
    kiln_errclear();
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_fn_release(cd);
    kiln_fn_release(fd);
    kiln_scope_end(NULL);
}

/* kiln_slice_sized(x, whole, axis 0) + 1: a guard on x's length */
static kiln_status guarded_body(void *ctx, const kiln_list *args,
                                kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    kiln_array *g = kiln_slice_sized(kiln_list_get(args, 0),
                                     (int64_t[]){B, B}, (int64_t[]){E, E},
                                     NULL, 1u);
    kiln_array *y = kiln_add(g, kiln_weak_f64(1.0));
    kiln_status s = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return s;
}

/* kiln_slice_sized: even whole bounds make a node that a shapeless
 * replay checks (axis 0 sized, axis 1 free); a mask beyond the axes is
 * an index error. */
TEST(compile_shapeless_sized_slice)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(guarded_body, NULL, NULL, "guarded");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *a = rand2(3, 4, -2, 2), *b = rand2(3, 7, -2, 2);
    kiln_array *ya = call1(cf, a), *yb = call1(cf, b);
    CHECK(ya && kiln_array_dim(ya, 1) == 4);
    CHECK(yb && kiln_array_dim(yb, 1) == 7);
    kiln_errclear();
    kiln_list *r = call_n(cf, 1, (kiln_array *[]){rand2(5, 4, -2, 2)});
    CHECK(r == NULL && kiln_errcode() == KILN_ERR_VALUE);
    kiln_list_free(r);
    kiln_errclear();
    const int64_t B = KILN_SLICE_BEGIN, E = KILN_SLICE_END;
    CHECK(kiln_slice_sized(a, (int64_t[]){B, B}, (int64_t[]){E, E}, NULL,
                           4u) == NULL &&
          kiln_errcode() == KILN_ERR_INDEX);
    kiln_errclear();
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* flatten(x, 0, 1) */
static kiln_status flatten01_body(void *ctx, const kiln_list *args,
                                  kiln_list *res)
{
    int *runs = ctx;
    (*runs)++;
    kiln_scope_begin();
    kiln_array *y = kiln_flatten(kiln_list_get(args, 0), 0, 1);
    kiln_status s = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return s;
}

/* MLX's shapeless example: flatten keeps following the input's dims
 * (where a reshape to x.shape[0] * x.shape[1] would fail) */
TEST(compile_shapeless_flatten)
{
    kiln_errclear();
    kiln_scope_begin();
    int runs = 0;
    kiln_fn *f = kiln_fn_new(flatten01_body, &runs, NULL, "flatten01");
    kiln_compile_opts o = {0};
    o.shapeless = true;
    kiln_fn *cf = kiln_compile(f, &o);
    const int64_t shapes[3][3] = {{2, 3, 4}, {5, 5, 3}, {1, 7, 2}};
    for (int i = 0; i < 3; i++) {
        kiln_array *x = rand_arr(shapes[i], 3, F32, -2, 2, i);
        kiln_array *y = call1(cf, x);
        CHECK(y && kiln_array_ndim(y) == 2 &&
              kiln_array_dim(y, 0) == shapes[i][0] * shapes[i][1] &&
              kiln_array_dim(y, 1) == shapes[i][2]);
        int64_t eq = 0;
        CHECK(kiln_array_item_i64(kiln_array_equal(y, kiln_flatten(x, 0, 1),
                                                   false),
                                  &eq) == KILN_OK &&
              eq == 1);
    }
    CHECK_MSG(runs == 1, "flatten must not retrace: runs %d", runs);
    /* an empty array still flattens eagerly */
    kiln_array *e = kiln_zeros((int64_t[]){0, 3, 2}, 3, F32);
    kiln_array *fe = kiln_flatten(e, 1, 2);
    CHECK(fe && kiln_array_dim(fe, 0) == 0 && kiln_array_dim(fe, 1) == 6);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(compile_body_runs_once_per_trace)
{
    kiln_errclear();
    kiln_scope_begin();
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "probe");
    kiln_fn *cf = kiln_compile(f, NULL);
    for (int i = 0; i < 5; i++) {
        kiln_array *x = rand2(2, 3, -1, 1);
        CHECK_SQ1(call1(cf, x), x, 0);
    }
    CHECK(p.runs == 1);
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 2; i++) {
            kiln_array *x = rand2(3, 1 + k, -1, 1);
            CHECK_SQ1(call1(cf, x), x, 0);
        }
    }
    kiln_compile_stats s = stats_of(cf);
    CHECK(p.runs == 4 && s.traces == 4 && s.calls == 11);
    CHECK(s.cache_hits == 7 && s.bypassed == 0);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* tracing rules                                                      */
/* ------------------------------------------------------------------ */

static void check_trace_eval_error(kiln_fn *cf, kiln_array *x)
{
    kiln_errclear();
    kiln_list *r = call_n(cf, 1, &x);
    CHECK(r == NULL && kiln_errcode() != KILN_OK);
    CHECK_MSG(has_ci(kiln_errmsg(), "compile") &&
                  has_ci(kiln_errmsg(), "disable_compile"),
              "message should explain and name kiln_disable_compile: '%s'",
              kiln_errmsg());
    kiln_list_free(r);
    kiln_errclear();
}

TEST(compile_eval_inside_trace_fails_until_disabled)
{
    kiln_errclear();
    kiln_scope_begin();
    for (int mode = P_READ; mode <= P_EVAL; mode++) {
        probe p = {.mode = mode};
        kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "reads");
        kiln_fn *cf = kiln_compile(f, NULL);
        kiln_array *x = rand2(2, 3, -1, 1);
        check_trace_eval_error(cf, x);
        kiln_disable_compile();
        CHECK_SQ1(call1(cf, x), x, 0);
        CHECK_SQ1(call1(cf, x), x, 0);
        kiln_compile_stats s = stats_of(cf);
        CHECK(s.bypassed == 2 && s.traces <= 1);
        kiln_enable_compile();
        check_trace_eval_error(cf, x);
        setenv("KILN_DISABLE_COMPILE", "1", 1);
        CHECK_SQ1(call1(cf, x), x, 0);
        unsetenv("KILN_DISABLE_COMPILE");
        check_trace_eval_error(cf, x);
        kiln_fn_release(cf);
        kiln_fn_release(f);
    }
    kiln_scope_end(NULL);
}

TEST(compile_closure_constant_frozen_at_trace)
{
    kiln_errclear();
    kiln_array *one = kiln_scalar_f64(1.0, F32);
    kiln_scope_begin();
    probe p = {.c = one};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "closure");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand_arr((int64_t[]){3}, 1, F32, -1, 1, 0);
    CHECK_SQ1(call1(cf, x), x, 1);
    /* the context now points at another array: the trace keeps the old
     * one (and owns it: the caller's reference goes) */
    p.c = kiln_scalar_f64(100.0, F32);
    kiln_array_release(one);
    x = rand_arr((int64_t[]){3}, 1, F32, -1, 1, 0);
    CHECK_SQ1(call1(cf, x), x, 1);
    CHECK(p.runs == 1);
    /* a retrace sees the new constant */
    kiln_array *x4 = rand_arr((int64_t[]){4}, 1, F32, -1, 1, 0);
    CHECK_SQ1(call1(cf, x4), x4, 100);
    CHECK_SQ1(call1(cf, x), x, 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(compile_closure_reaching_an_input_fails)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_array *x = rand_arr((int64_t[]){3}, 1, F32, -1, 1, 0);
    probe p = {.c = x};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "leak");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_errclear();
    kiln_list *r = call_n(cf, 1, &x);
    CHECK(r == NULL && kiln_errcode() != KILN_OK);
    CHECK(strlen(kiln_errmsg()) > 0);
    kiln_list_free(r);
    kiln_errclear();
    /* the same closure with another argument: x is a constant, fine */
    float *xv = fetch(x);
    kiln_array *x2 = rand_arr((int64_t[]){3}, 1, F32, -1, 1, 0);
    kiln_array *y = call1(cf, x2);
    float *x2v = fetch(x2);
    double w[3];
    for (int i = 0; xv && x2v && i < 3; i++) {
        w[i] = (double)(x2v[i] * x2v[i] + 1.0f + xv[i]);
    }
    CHECK(xv && x2v && vals_ok(y, w, 3, 1e-6));
    free(xv);
    free(x2v);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* captured state and random state                                    */
/* ------------------------------------------------------------------ */

TEST(compile_captured_state_counter)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_list *st = kiln_list_new();
    kiln_list_push(st, kiln_scalar_i64(0, KILN_DTYPE_INT32));
    probe p = {.mode = P_COUNTER, .state = st};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "counter");
    kiln_compile_opts o = {0};
    o.inputs = st;
    o.outputs = st;
    kiln_fn *cf = kiln_compile(f, &o);
    for (int i = 1; i <= 5; i++) {
        kiln_list *r = kiln_fn_call(cf, NULL);
        int64_t got = -1, held = -1;
        CHECK(r && kiln_array_item_i64(kiln_list_get(r, 0), &got) ==
                       KILN_OK);
        CHECK(kiln_list_size(st) == 1 &&
              kiln_array_item_i64(kiln_list_get(st, 0), &held) == KILN_OK);
        CHECK_MSG(got == i && held == i, "call %d: result %lld state %lld",
                  i, (long long)got, (long long)held);
        kiln_list_free(r);
    }
    CHECK(p.runs == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);

    /* an outputs entry added during the trace is kept and updated; the
     * body branches on the list's size, so the second call may trace once
     * more (the captured layout changed), never later ones */
    kiln_list *out = kiln_list_new();
    probe q = {.mode = P_OUTPUT, .state = out};
    f = kiln_fn_new(probe_body, &q, NULL, "outputs");
    memset(&o, 0, sizeof o);
    o.outputs = out;
    cf = kiln_compile(f, &o);
    for (int i = 0; i < 4; i++) {
        kiln_array *x = rand_arr((int64_t[]){4}, 1, F32, -1, 1, 0);
        CHECK_SQ1(call1(cf, x), x, 0);
        CHECK(kiln_list_size(out) == 1);
        CHECK_AGREE(kiln_list_get(out, 0),
                    kiln_multiply(x, kiln_weak_f64(2.0)), 0, 0, "outputs");
    }
    CHECK_MSG(q.runs <= 2, "outputs: %d traces in 4 calls", q.runs);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_list_free(out);
    kiln_list_free(st);
    kiln_scope_end(NULL);
}

typedef struct train {
    kiln_list *state; /* [w] */
    double lr;
} train;

/* one step of least squares: w -= lr * X^T (X w - y) / n; returns the
 * mean squared residual before the step */
static kiln_status train_body(void *ctx, const kiln_list *args,
                              kiln_list *res)
{
    train *t = ctx;
    kiln_scope_begin();
    kiln_array *X = kiln_list_get(args, 0), *yv = kiln_list_get(args, 1);
    kiln_array *w = kiln_list_get(t->state, 0);
    kiln_array *r = kiln_subtract(kiln_matmul(X, w), yv);
    kiln_array *g = kiln_divide(kiln_matmul(kiln_transpose(X, NULL, 0), r),
                                kiln_weak_f64((double)kiln_array_dim(X, 0)));
    kiln_array *w2 = kiln_subtract(w, kiln_multiply(g, kiln_weak_f64(t->lr)));
    kiln_array *loss = kiln_mean(kiln_square(r), NULL, 0, false);
    kiln_status s = w2 ? kiln_list_set(t->state, 0, w2) : kiln_errcode();
    s = s == KILN_OK ? push_all(res, 1, &loss) : s;
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_captured_state_training_step)
{
    kiln_errclear();
    kiln_scope_begin();
    int64_t sx[2] = {64, 3}, sw[1] = {3};
    kiln_array *X = rand_arr(sx, 2, F32, -1, 1, 0);
    kiln_array *wt = kiln_array_from_data((float[]){1.5f, -2.0f, 0.5f}, sw, 1,
                                          F32);
    kiln_array *yv = kiln_add(kiln_matmul(X, wt),
                              rand_arr((int64_t[]){64}, 1, F32, -0.01, 0.01,
                                       0));
    kiln_array_eval(yv);
    kiln_list *sc = kiln_list_new(), *se = kiln_list_new();
    kiln_list_push(sc, kiln_zeros(sw, 1, F32));
    kiln_list_push(se, kiln_zeros(sw, 1, F32));
    train tc = {sc, 1.0}, te = {se, 1.0};
    kiln_fn *fc = kiln_fn_new(train_body, &tc, NULL, "train");
    kiln_fn *fe = kiln_fn_new(train_body, &te, NULL, "train eager");
    kiln_compile_opts o = {0};
    o.inputs = sc;
    o.outputs = sc;
    kiln_fn *cf = kiln_compile(fc, &o);
    kiln_array *args[2] = {X, yv};
    double first = -1, last = -1;
    for (int step = 0; step < 20; step++) {
        kiln_list *rc = call_n(cf, 2, args), *re = call_n(fe, 2, args);
        double lc = -1, le = -2;
        CHECK(rc && kiln_array_item_f64(kiln_list_get(rc, 0), &lc) == KILN_OK);
        CHECK(re && kiln_array_item_f64(kiln_list_get(re, 0), &le) == KILN_OK);
        CHECK_MSG(fabs(lc - le) <= 1e-5 * fabs(le) + 1e-9,
                  "step %d: loss %.9g vs eager %.9g", step, lc, le);
        CHECK_AGREE(kiln_list_get(sc, 0), kiln_list_get(se, 0), 1e-5, 1e-6,
                    "w");
        first = step == 0 ? lc : first;
        last = lc;
        kiln_list_free(rc);
        kiln_list_free(re);
    }
    CHECK_MSG(last < 0.05 * first, "loss %.6g -> %.6g", first, last);
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(fc);
    kiln_fn_release(fe);
    kiln_list_free(sc);
    kiln_list_free(se);
    kiln_scope_end(NULL);
}

static kiln_status rand_body(void *ctx, const kiln_list *args,
                             kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    int64_t n = 8;
    kiln_array *u = kiln_random_uniform(NULL, NULL, &n, 1, F32, NULL);
    kiln_array *y = kiln_add(kiln_list_get(args, 0), u);
    kiln_status s = push_all(res, 1, &y);
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_random_state)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(rand_body, NULL, NULL, "uniform");
    kiln_compile_opts o = {0};
    o.random_state = true;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *x = kiln_zeros((int64_t[]){8}, 1, F32);
    kiln_array *c[3], *e[3];
    kiln_random_seed(1234);
    for (int i = 0; i < 3; i++) {
        c[i] = call1(cf, x);
    }
    kiln_random_seed(1234);
    for (int i = 0; i < 3; i++) {
        e[i] = call1(f, x);
    }
    for (int i = 0; i < 3; i++) {
        CHECK_AGREE(c[i], e[i], 0, 0, "compiled vs eager random");
    }
    float *a = fetch(c[0]), *b = fetch(c[1]);
    CHECK(a && b && memcmp(a, b, 8 * sizeof *a) != 0);
    free(a);
    free(b);
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* composition, errors, bounds, dumps                                 */
/* ------------------------------------------------------------------ */

/* 2 * g(x) + 1 where g is the kiln_fn in ctx */
static kiln_status outer_body(void *ctx, const kiln_list *args,
                              kiln_list *res)
{
    kiln_list *r = kiln_fn_call(ctx, args);
    if (!r) {
        return kiln_errcode();
    }
    kiln_scope_begin();
    kiln_array *y = kiln_add(kiln_multiply(kiln_list_get(r, 0),
                                           kiln_weak_f64(2.0)),
                             kiln_weak_f64(1.0));
    kiln_status s = push_all(res, 1, &y);
    kiln_scope_end(NULL);
    kiln_list_free(r);
    return s;
}

TEST(compile_nested_is_inlined)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *g = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cg = kiln_compile(g, NULL);
    kiln_fn *f = kiln_fn_new(outer_body, cg, NULL, "outer");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand2(3, 17, -3, 3);
    kiln_array *want = kiln_add(kiln_multiply(gelu(x), kiln_weak_f64(2.0)),
                                kiln_weak_f64(1.0));
    CHECK_AGREE(call1(cf, x), want, 1e-6, 0, "nested");
    kiln_compile_stats s = stats_of(cg);
    CHECK_MSG(s.bypassed == 1 && s.traces == 0,
              "inner: bypassed %lld traces %lld", (long long)s.bypassed,
              (long long)s.traces);
    x = rand2(3, 17, -3, 3);
    want = kiln_add(kiln_multiply(gelu(x), kiln_weak_f64(2.0)),
                    kiln_weak_f64(1.0));
    CHECK_AGREE(call1(cf, x), want, 1e-6, 0, "nested replay");
    CHECK(stats_of(cg).calls == s.calls);
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_fn_release(cg);
    kiln_fn_release(g);
    kiln_scope_end(NULL);
}

TEST(compile_errors)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_errclear();
    CHECK(kiln_compile(NULL, NULL) == NULL);
    CHECK(kiln_errcode() != KILN_OK && strlen(kiln_errmsg()) > 0);
    kiln_errclear();
    CHECK(kiln_fn_call(NULL, NULL) == NULL && kiln_errcode() != KILN_OK);
    kiln_compile_stats s;
    CHECK(kiln_compile_stats_get(NULL, &s) != KILN_OK);
    CHECK(kiln_compile_dump(NULL, KILN_DUMP_TRACED) == NULL);
    kiln_errclear();

    /* a failing body: its error comes back, the trace is not kept */
    probe p = {.mode = P_FAIL};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "fails");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand2(2, 3, -1, 1);
    kiln_errclear();
    kiln_list *r = call_n(cf, 1, &x);
    CHECK(r == NULL && kiln_errcode() != KILN_OK);
    CHECK_MSG(has_ci(kiln_errmsg(), "reshape"), "message: '%s'",
              kiln_errmsg());
    kiln_list_free(r);
    kiln_errclear();
    CHECK(stats_of(cf).entries == 0);
    p.mode = P_PLAIN;
    CHECK_SQ1(call1(cf, x), x, 0);
    CHECK_MSG(p.runs == 2, "the good call must trace again: runs %d",
              p.runs);
    CHECK_SQ1(call1(cf, x), x, 0);
    CHECK(p.runs == 2 && stats_of(cf).entries == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);

    /* no results, or a NULL result */
    for (int mode = P_EMPTY; mode <= P_NULL; mode++) {
        probe q = {.mode = mode};
        f = kiln_fn_new(probe_body, &q, NULL, "empty");
        cf = kiln_compile(f, NULL);
        kiln_errclear();
        r = call_n(cf, 1, &x);
        CHECK_MSG(r == NULL && kiln_errcode() != KILN_OK,
                  "mode %d: a body without results must fail", mode);
        kiln_list_free(r);
        kiln_errclear();
        kiln_fn_release(cf);
        kiln_fn_release(f);
    }
    kiln_scope_end(NULL);
}

static int dtor_runs;

static void count_dtor(void *ctx)
{
    (void)ctx;
    dtor_runs++;
}

TEST(compile_fn_lifetime)
{
    kiln_errclear();
    kiln_scope_begin();
    char name[8] = "life";
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, count_dtor, name);
    name[0] = 'X';
    CHECK(f && strcmp(kiln_fn_name(f), "life") == 0);
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand2(2, 2, -1, 1);
    CHECK_SQ1(call1(cf, x), x, 0);
    dtor_runs = 0;
    kiln_fn_release(f);
    CHECK_SQ1(call1(cf, x), x, 0);
    kiln_fn_release(cf);
    CHECK(dtor_runs == 1);
    /* a new function (maybe at the same address) has its own cache */
    for (int i = 0; i < 4; i++) {
        kiln_fn *g = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
        kiln_fn *cg = kiln_compile(g, NULL);
        CHECK_AGREE(call1(cg, x), gelu(x), 1e-6, 0, "fresh function");
        kiln_fn_release(cg);
        kiln_fn_release(g);
        probe q = {0};
        f = kiln_fn_new(probe_body, &q, NULL, "again");
        cf = kiln_compile(f, NULL);
        CHECK_SQ1(call1(cf, x), x, 0);
        CHECK(q.runs == 1);
        kiln_fn_release(cf);
        kiln_fn_release(f);
    }
    kiln_scope_end(NULL);
}

TEST(compile_clear_cache_and_limits)
{
    kiln_errclear();
    kiln_scope_begin();
    probe p = {0};
    kiln_fn *f = kiln_fn_new(probe_body, &p, NULL, "probe");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_array *x = rand2(2, 3, -1, 1);
    CHECK_SQ1(call1(cf, x), x, 0);
    kiln_compile_clear_cache(cf);
    CHECK(stats_of(cf).entries == 0);
    CHECK_SQ1(call1(cf, x), x, 0);
    CHECK(p.runs == 2);
    kiln_compile_clear_cache(NULL);
    CHECK_SQ1(call1(cf, x), x, 0);
    CHECK(p.runs == 3);
    kiln_compile_set_limits(2, 0, 0);
    for (int i = 0; i < 5; i++) {
        kiln_array *xi = rand2(2, 4 + i, -1, 1);
        CHECK_SQ1(call1(cf, xi), xi, 0);
        kiln_compile_stats s = stats_of(cf);
        CHECK_MSG(s.entries <= 2, "entries %lld", (long long)s.entries);
    }
    CHECK(p.runs == 8);
    /* the least recently used went first; the last one stays */
    CHECK_SQ1(call1(cf, x), x, 0);
    CHECK(p.runs == 9);
    kiln_array *x8 = rand2(2, 8, -1, 1);
    CHECK_SQ1(call1(cf, x8), x8, 0);
    CHECK(p.runs == 9);
    kiln_compile_set_limits(64, 1024, (int64_t)1 << 30);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

static void check_dump(kiln_fn *cf, kiln_dump_kind k, const char *needle)
{
    char *d = kiln_compile_dump(cf, k);
    CHECK_MSG(d && strlen(d) > 0, "dump %d missing", (int)k);
    CHECK_MSG(!needle || (d && strstr(d, needle)),
              "dump %d lacks '%s':\n%s", (int)k, needle, d ? d : "");
    kiln_free(d);
}

TEST(compile_dumps)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = kiln_compile(f, NULL);
    CHECK(kiln_compile_dump(cf, KILN_DUMP_TRACED) == NULL);
    kiln_array *x = rand2(4, 9, -2, 2);
    CHECK(call1(cf, x) != NULL);
    check_dump(cf, KILN_DUMP_TRACED, "erf");
    check_dump(cf, KILN_DUMP_FUSED, NULL);
    check_dump(cf, KILN_DUMP_DOT, "digraph");
    kiln_compile_stats s = stats_of(cf);
    if (s.kernels_built + s.kernels_loaded > 0) {
        check_dump(cf, KILN_DUMP_SOURCE, "void");
    }
    kiln_array *y = kiln_add(kiln_exp(x), x);
    char *d = kiln_graph_dot(&y, 1);
    CHECK(d && strstr(d, "digraph") && strstr(d, "exp"));
    kiln_free(d);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* threads                                                            */
/* ------------------------------------------------------------------ */

typedef struct worker {
    kiln_fn *shared, *plain;
    int id;
    int bad;
} worker;

static kiln_status scaled_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0);
    kiln_array *y = kiln_add(kiln_multiply(kiln_tanh(x),
                                           kiln_weak_f64(*(double *)ctx)),
                             x);
    kiln_status s = push_all(res, 1, &y);
    kiln_scope_end(NULL);
    return s;
}

static bool thread_check(kiln_fn *f, kiln_fn *cf, kiln_array *x)
{
    kiln_list *e = call_n(f, 1, &x), *c = call_n(cf, 1, &x);
    char why[256];
    bool ok = e && c &&
              agree(kiln_list_get(c, 0), kiln_list_get(e, 0), 1e-6, 0, why,
                    sizeof why);
    kiln_list_free(e);
    kiln_list_free(c);
    return ok;
}

static void *work(void *arg)
{
    worker *w = arg;
    double k = 1.0 + w->id;
    kiln_fn *own = kiln_fn_new(scaled_body, &k, NULL, "own");
    kiln_fn *cown = kiln_compile(own, NULL);
    for (int i = 0; i < 50; i++) {
        kiln_scope_begin();
        int64_t s[2] = {3 + w->id, 7 + (i % 3)};
        kiln_array *x = kiln_multiply(
            kiln_arange(0, (double)(s[0] * s[1]), 1, F32),
            kiln_weak_f64(0.01 * (i + 1) * (w->id + 1)));
        x = kiln_reshape(x, s, 2);
        kiln_array_eval(x);
        w->bad += !thread_check(w->plain, w->shared, x);
        if (i % 10 == 0) {
            w->bad += !thread_check(own, cown, x);
        }
        kiln_scope_end(NULL);
    }
    kiln_fn_release(cown);
    kiln_fn_release(own);
    return NULL;
}

TEST(compile_threads)
{
    kiln_errclear();
    double k = 0.5;
    kiln_fn *f = kiln_fn_new(scaled_body, &k, NULL, "shared");
    kiln_fn *cf = kiln_compile(f, NULL);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){cf, f, i, 0};
        CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(w[i].bad == 0, "thread %d: %d wrong results", i,
                  w[i].bad);
    }
    kiln_compile_stats s = stats_of(cf);
    CHECK(s.calls == 200 && s.traces >= 1 && s.traces <= 12);
    kiln_fn_release(cf);
    kiln_fn_release(f);
}


/* 40,000 uses of one scalar value (each a separate weak array, merged by
 * simplify): the trace, simplify and fuse stay linear; the chain is longer
 * than one kernel source should be, so the regions run in the
 * interpreter. Results equal eager's. */
static kiln_status long_chain_body(void *ctx, const kiln_list *args,
                                   kiln_list *res)
{
    (void)ctx;
    kiln_scope_begin();
    kiln_array *y = kiln_list_get(args, 0);
    for (int i = 0; i < 40000 && y; i++) {
        y = kiln_multiply(y, kiln_weak_f64(i % 2 ? 2.0 : 0.5));
    }
    kiln_status s = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_long_chain_of_one_scalar)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(long_chain_body, NULL, NULL, "long_chain");
    kiln_fn *cf = kiln_compile(f, NULL);
    float data[5] = {1, -2, 3.5f, 0, 1e-3f};
    int64_t n = 5;
    kiln_array *x = kiln_array_from_data(data, &n, 1, F32);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kiln_array *c = call1(cf, x);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_MSG(c != NULL, "compiled failed: %s", kiln_errmsg());
    kiln_array *e = call1(f, x);
    CHECK_AGREE(c, e, 0, 0, "long chain");
    CHECK_AGREE(c, x, 0, 0, "long chain is the identity");
    kiln_compile_stats s = stats_of(cf);
    CHECK(s.traces == 1);
    char *d = kiln_compile_dump(cf, KILN_DUMP_FUSED);
    int consts = 0;
    for (const char *q = d; q && (q = strstr(q, "= const")); q++) {
        consts++;
    }
    kiln_free(d);
    /* two distinct scalars, 0.5 and 2.0, once each in every region */
    CHECK_MSG(consts <= 2 * (40000 / 90 + 2), "%d constants", consts);
    if (getenv("KILN_TEST_VERBOSE")) {
        fprintf(stderr, "  40000-op trace+compile+call: %.1f ms\n",
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6);
    }
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* Layers repeated: y = gelu(y @ w) four times, then three layer norms
 * in a row. The gelu regions have the same code and share one
 * kernel (one _strided function in the source); a region grows to at
 * most three chained reductions (fuse.c MAX_DEPTH), so the layer norms
 * (six) make two regions, not one huge one. Results agree with eager. */
static kiln_status layers_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    (void)ctx;
    int last = -1;
    kiln_scope_begin();
    kiln_array *y = kiln_list_get(args, 0), *w = kiln_list_get(args, 1);
    for (int i = 0; i < 4; i++) {
        y = gelu(kiln_matmul(y, w));
    }
    for (int i = 0; i < 3; i++) {
        kiln_array *mu = kiln_mean(y, &last, 1, true);
        kiln_array *v = kiln_var(y, &last, 1, true, 0);
        y = kiln_multiply(kiln_subtract(y, mu),
                          kiln_rsqrt(kiln_add(v, kiln_weak_f64(1e-5))));
    }
    kiln_status s = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return s;
}

TEST(compile_repeated_layers)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_fn *f = kiln_fn_new(layers_body, NULL, NULL, "layers");
    kiln_fn *cf = kiln_compile(f, NULL);
    int64_t sh[2] = {16, 64}, sw[2] = {64, 64};
    kiln_array *xs[2] = {rand_arr(sh, 2, F32, -1, 1, 0),
                         rand_arr(sw, 2, F32, -0.2, 0.2, 0)};
    kiln_list *c = call_n(cf, 2, xs), *e = call_n(f, 2, xs);
    CHECK_MSG(c && e, "%s", kiln_errmsg());
    if (c && e) {
        CHECK_AGREE(kiln_list_get(c, 0), kiln_list_get(e, 0), 1e-5, 1e-6,
                    "repeated layers");
    }
    char *d = kiln_compile_dump(cf, KILN_DUMP_FUSED);
    int regions = 0;
    for (const char *q = d; q && (q = strstr(q, "= fused(")); q++) {
        regions++;
    }
    CHECK_MSG(d && regions >= 5, "%d regions in:\n%s", regions,
              d ? d : kiln_errmsg());
    kiln_free(d);
    if (jit_works()) {
        char *src = kiln_compile_dump(cf, KILN_DUMP_SOURCE);
        int kernels = 0;
        for (const char *q = src; q && (q = strstr(q, "_strided(void")); q++) {
            kernels++;
        }
        /* the first three gelus once (the fourth joins the first layer
         * norm's region); the layer norm regions differ from each other */
        CHECK_MSG(src && kernels >= 2 && kernels <= regions - 2,
                  "%d kernels for %d regions", kernels, regions);
        kiln_free(src);
    }
    kiln_list_free(c);
    kiln_list_free(e);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* One list as both captured inputs and outputs (MLX's usual
 * `state = [...]; compile(f, inputs=state, outputs=state)`): the caller's
 * arrays stay alive through the trace, and each call advances the state. */
static kiln_status shared_state_body(void *ctx, const kiln_list *args,
                                     kiln_list *res)
{
    kiln_list *state = ctx;
    kiln_scope_begin();
    kiln_array *s = kiln_add(kiln_list_get(state, 0), kiln_weak_f64(1.0));
    kiln_status st = s ? kiln_list_set(state, 0, s) : kiln_errcode();
    kiln_array *y = st == KILN_OK
                        ? kiln_multiply(s, kiln_list_get(args, 0))
                        : NULL;
    st = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return st;
}

TEST(compile_shared_state_list)
{
    kiln_errclear();
    kiln_scope_begin();
    kiln_list *state = kiln_list_new();
    kiln_array *zero = kiln_scalar_f64(0.0, F32);
    kiln_list_push(state, zero);
    kiln_fn *f = kiln_fn_new(shared_state_body, state, NULL, "shared");
    kiln_compile_opts o = {0};
    o.inputs = state;
    o.outputs = state;
    kiln_fn *cf = kiln_compile(f, &o);
    kiln_array *x = kiln_scalar_f64(2.0, F32);
    for (int i = 1; i <= 3; i++) {
        kiln_array *y = call1(cf, x);
        double v = -1, s = -1;
        CHECK_MSG(y != NULL, "call %d: %s", i, kiln_errmsg());
        CHECK(y && kiln_array_item_f64(y, &v) == KILN_OK && v == 2.0 * i);
        CHECK(kiln_array_item_f64(kiln_list_get(state, 0), &s) == KILN_OK &&
              s == (double)i);
    }
    CHECK(stats_of(cf).traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_list_free(state);
    kiln_scope_end(NULL);
}

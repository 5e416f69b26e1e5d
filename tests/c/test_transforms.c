/*
 * test_transforms.c - the function transforms (vjp, jvp, grad,
 * value_and_grad, vmap) and their composition with compile.
 *
 * Covered: gradients against derivatives worked by hand or by reference
 * loops (sum(x*x), a matmul loss, repeated inputs, integer inputs, unused
 * arguments, outputs that are inputs, auxiliary outputs); vjp against jvp
 * (<g, J t> = <J^T g, t>); vmap of elementwise work and reductions with
 * in_axes (-1 included) and out_axes, unbatched outputs, and the loop
 * fallback for a primitive without a batching rule; every error path;
 * compile(grad(f)) = grad(compile(f)) = grad(f), shapeless gradients on new
 * shapes, vmap with compile in both orders, nested grad, the captured
 * random key inside a compiled value_and_grad; the fused region
 * primitive's own rules.
 *
 * The per-primitive rules live in the primitive families; these tests use
 * only common primitives (add, multiply, exp, sin, sum, matmul, ...).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "harness.h"
#include "kiln.h"
#include "prim/prim.h"
#include "transforms/eval.h"

#define F32 KILN_DTYPE_FLOAT32
#define F64 KILN_DTYPE_FLOAT64
#define I32 KILN_DTYPE_INT32

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

/* A body as a C function: reads nx arguments, writes its outputs to y and
 * returns how many (-1 on error); runs inside a scope. */
typedef int (*body_fn)(kiln_array *const *x, int nx, kiln_array **y);

typedef struct wrap {
    body_fn f;
} wrap;

static kiln_status wrap_body(void *ctx, const kiln_list *args,
                             kiln_list *res)
{
    const wrap *w = ctx;
    kiln_array *x[16], *y[16] = {0};
    int nx = (int)kiln_list_size(args);
    kiln_status st = KILN_OK;
    for (int i = 0; i < nx && i < 16; i++) {
        x[i] = kiln_list_get(args, (size_t)i);
    }
    kiln_scope_begin();
    int ny = w->f(x, nx, y);
    if (ny < 0) {
        st = kiln_errcode() != KILN_OK ? kiln_errcode() : KILN_ERR_VALUE;
    }
    for (int i = 0; i < ny && st == KILN_OK; i++) {
        st = y[i] ? kiln_list_push(res, y[i]) : kiln_errcode();
    }
    kiln_scope_end(NULL);
    return st;
}

static kiln_fn *mkfn(wrap *w, const char *name)
{
    return kiln_fn_new(wrap_body, w, NULL, name);
}

/* f(args...) with n array arguments; the results list (NULL on error). */
static kiln_list *call(kiln_fn *f, int n, ...)
{
    kiln_list *args = kiln_list_new();
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        kiln_list_push(args, va_arg(ap, kiln_array *));
    }
    va_end(ap);
    kiln_list *r = kiln_fn_call(f, args);
    kiln_list_free(args);
    return r;
}

/* An array of dtype dt from doubles (owned by the open scope). */
static kiln_array *mk(const double *v, const int64_t *shape, int ndim,
                      kiln_dtype dt)
{
    return kiln_astype(kiln_array_from_data(v, shape, ndim, F64), dt);
}

/* Deterministic values in [-1, 1). */
static void fill(double *v, int64_t n, unsigned seed)
{
    uint64_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (double)(s >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
    }
}

/* The values of a as doubles (n must be its size). */
static bool readd(kiln_array *a, double *out, int64_t n)
{
    if (!a || kiln_array_size(a) != n) {
        return false;
    }
    kiln_scope_begin();
    kiln_array *d = kiln_astype(a, F64);
    kiln_status st = d ? kiln_array_read(d, out, (size_t)n * sizeof(double))
                       : kiln_errcode();
    kiln_scope_end(NULL);
    return st == KILN_OK;
}

static bool has_shape(const kiln_array *a, const int64_t *shape, int ndim)
{
    if (!a || kiln_array_ndim(a) != ndim) {
        return false;
    }
    for (int d = 0; d < ndim; d++) {
        if (kiln_array_shape(a)[d] != shape[d]) {
            return false;
        }
    }
    return true;
}

/* a's values equal ref[0..n) to within tol (relative for large ones). */
#define CHECK_VALUES(a, ref, n, tol)                                      \
    do {                                                                  \
        double *kv_ = malloc(sizeof(double) * (size_t)((n) + 1));         \
        bool kv_ok_ = readd((a), kv_, (n));                               \
        CHECK_MSG(kv_ok_, "could not read %s: %s", #a, kiln_errmsg());    \
        for (int64_t kv_i = 0; kv_ok_ && kv_i < (n); kv_i++) {            \
            double kv_r = (ref)[kv_i];                                    \
            CHECK_NEAR(kv_[kv_i], kv_r, (tol) * (1.0 + fabs(kv_r)));      \
        }                                                                 \
        free(kv_);                                                        \
    } while (0)

/* Two arrays have the same shape and values to within tol. */
static void check_same(kiln_array *a, kiln_array *b, double tol)
{
    CHECK(a && b);
    if (!a || !b) {
        return;
    }
    CHECK(has_shape(a, kiln_array_shape(b), kiln_array_ndim(b)));
    int64_t n = kiln_array_size(b);
    double *vb = malloc(sizeof(double) * (size_t)(n + 1));
    if (readd(b, vb, n)) {
        CHECK_VALUES(a, vb, n, tol);
    } else {
        CHECK_MSG(false, "could not read: %s", kiln_errmsg());
    }
    free(vb);
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* The call fails with a message containing `want`. */
#define CHECK_FAILS(listexpr, want)                                       \
    do {                                                                  \
        kiln_errclear();                                                  \
        kiln_list *kf_ = (listexpr);                                      \
        CHECK_MSG(!kf_, "expected an error containing '%s'", (want));     \
        CHECK_MSG(contains(kiln_errmsg(), (want)),                        \
                  "error '%s' lacks '%s'", kiln_errmsg(), (want));        \
        kiln_list_free(kf_);                                              \
        kiln_errclear();                                                  \
    } while (0)

#define OUT(l, i) kiln_list_get((l), (i))

/* ------------------------------------------------------------------ */
/* bodies                                                             */
/* ------------------------------------------------------------------ */

/* sum(x * x) */
static int b_sumsq(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sum(kiln_multiply(x[0], x[0]), NULL, 0, false);
    return 1;
}
static wrap W_sumsq = {b_sumsq};

/* x * x (not a scalar) */
static int b_square(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_multiply(x[0], x[0]);
    return 1;
}
static wrap W_square = {b_square};

/* sum((X @ W - Y)^2) */
static int b_mmloss(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_array *d = kiln_subtract(kiln_matmul(x[0], x[1]), x[2]);
    y[0] = kiln_sum(kiln_multiply(d, d), NULL, 0, false);
    return 1;
}
static wrap W_mmloss = {b_mmloss};

/* (sum(x * x), x + 1) */
static int b_aux(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sum(kiln_multiply(x[0], x[0]), NULL, 0, false);
    y[1] = kiln_add(x[0], kiln_weak_f64(1.0));
    return 2;
}
static wrap W_aux = {b_aux};

/* (sin(x) * y + exp(x) * x, sum(x * y)) */
static int b_two(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_add(kiln_multiply(kiln_sin(x[0]), x[1]),
                    kiln_multiply(kiln_exp(x[0]), x[0]));
    y[1] = kiln_sum(kiln_multiply(x[0], x[1]), NULL, 0, false);
    return 2;
}
static wrap W_two = {b_two};

/* x * y + 1 */
static int b_axpy(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_add(kiln_multiply(x[0], x[1]), kiln_weak_f64(1.0));
    return 1;
}
static wrap W_axpy = {b_axpy};

/* sum(x, axis 1) */
static int b_sum1(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    int ax = 1;
    y[0] = kiln_sum(x[0], &ax, 1, false);
    return 1;
}
static wrap W_sum1 = {b_sum1};

/* (x * 2, sum(x)) */
static int b_pair(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_multiply(x[0], kiln_weak_f64(2.0));
    y[1] = kiln_sum(x[0], NULL, 0, false);
    return 2;
}
static wrap W_pair = {b_pair};

/* (x + c, c * 2): the second output does not vary over x's batch */
static int b_const_out(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_add(x[0], x[1]);
    y[1] = kiln_multiply(x[1], kiln_weak_f64(2.0));
    return 2;
}
static wrap W_const_out = {b_const_out};

/* sum(exp(x * w) * x) */
static int b_ew(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_array *e = kiln_exp(kiln_multiply(x[0], x[1]));
    y[0] = kiln_sum(kiln_multiply(e, x[0]), NULL, 0, false);
    return 1;
}
static wrap W_ew = {b_ew};

/* x * x * x */
static int b_cube(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_multiply(kiln_multiply(x[0], x[0]), x[0]);
    return 1;
}
static wrap W_cube = {b_cube};

/* sum(x * x * x) */
static int b_sumcube(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sum(kiln_multiply(kiln_multiply(x[0], x[0]), x[0]), NULL,
                    0, false);
    return 1;
}
static wrap W_sumcube = {b_sumcube};

/* x (the output is the input) */
static int b_ident(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = x[0];
    return 1;
}
static wrap W_ident = {b_ident};

/* (sum(x), x): the auxiliary output is the input */
static int b_sum_self(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sum(x[0], NULL, 0, false);
    y[1] = x[0];
    return 2;
}
static wrap W_sum_self = {b_sum_self};

/* sum(x * n) with n an integer array */
static int b_xn(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sum(kiln_multiply(x[0], x[1]), NULL, 0, false);
    return 1;
}
static wrap W_xn = {b_xn};

/* a constant loss: sum of 3 ones, whatever x is */
static int b_const(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    (void)x;
    int64_t s = 3;
    y[0] = kiln_sum(kiln_ones(&s, 1, F32), NULL, 0, false);
    return 1;
}
static wrap W_const = {b_const};

/* sin(x) */
static int b_sin(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_sin(x[0]);
    return 1;
}
static wrap W_sin = {b_sin};

/* ------------------------------------------------------------------ */
/* grad, value_and_grad, vjp, jvp                                     */
/* ------------------------------------------------------------------ */

TEST(grad_sum_of_squares)
{
    kiln_scope_begin();
    double v[6];
    fill(v, 6, 1);
    int64_t sh[2] = {2, 3};
    kiln_array *x = mk(v, sh, 2, F32);
    kiln_fn *f = mkfn(&W_sumsq, "sumsq");
    kiln_fn *g = kiln_grad(f, NULL, 0);
    CHECK(g && contains(kiln_fn_name(g), "grad"));
    kiln_list *r = call(g, 1, x);
    CHECK_MSG(r, "grad failed: %s", kiln_errmsg());
    if (r) {
        double ref[6];
        for (int i = 0; i < 6; i++) {
            ref[i] = 2.0 * (float)v[i];
        }
        CHECK(kiln_list_size(r) == 1);
        CHECK(has_shape(OUT(r, 0), sh, 2));
        CHECK(kiln_array_dtype(OUT(r, 0)) == F32);
        CHECK_VALUES(OUT(r, 0), ref, 6, 1e-6);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(grad_matmul_loss)
{
    kiln_scope_begin();
    enum { N = 4, K = 3, M = 2 };
    double X[N * K], W[K * M], Y[N * M], D[N * M];
    fill(X, N * K, 2);
    fill(W, K * M, 3);
    fill(Y, N * M, 4);
    int64_t sx[2] = {N, K}, sw[2] = {K, M}, sy[2] = {N, M};
    kiln_fn *f = mkfn(&W_mmloss, "mmloss");
    int argnums[2] = {0, 1};
    kiln_fn *g = kiln_grad(f, argnums, 2);
    kiln_list *r = call(g, 3, mk(X, sx, 2, F64), mk(W, sw, 2, F64),
                        mk(Y, sy, 2, F64));
    CHECK_MSG(r, "grad failed: %s", kiln_errmsg());
    if (r) {
        double dX[N * K] = {0}, dW[K * M] = {0};
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < M; j++) {
                double s = -Y[i * M + j];
                for (int k = 0; k < K; k++) {
                    s += X[i * K + k] * W[k * M + j];
                }
                D[i * M + j] = s;
            }
        }
        for (int i = 0; i < N; i++) {
            for (int k = 0; k < K; k++) {
                for (int j = 0; j < M; j++) {
                    dX[i * K + k] += 2 * D[i * M + j] * W[k * M + j];
                    dW[k * M + j] += 2 * X[i * K + k] * D[i * M + j];
                }
            }
        }
        CHECK(kiln_list_size(r) == 2);
        CHECK(has_shape(OUT(r, 0), sx, 2));
        CHECK(has_shape(OUT(r, 1), sw, 2));
        CHECK_VALUES(OUT(r, 0), dX, N * K, 1e-12);
        CHECK_VALUES(OUT(r, 1), dW, K * M, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(value_and_grad_with_aux)
{
    kiln_scope_begin();
    double v[4] = {1, -2, 3, 0.5};
    int64_t sh[1] = {4};
    kiln_fn *f = mkfn(&W_aux, "aux");
    kiln_fn *g = kiln_value_and_grad(f, NULL, 0);
    kiln_list *r = call(g, 1, mk(v, sh, 1, F64));
    CHECK_MSG(r, "value_and_grad failed: %s", kiln_errmsg());
    if (r) {
        double loss = 1 + 4 + 9 + 0.25;
        double aux[4] = {2, -1, 4, 1.5}, gr[4] = {2, -4, 6, 1};
        CHECK(kiln_list_size(r) == 3);
        CHECK(kiln_array_ndim(OUT(r, 0)) == 0);
        CHECK_VALUES(OUT(r, 0), &loss, 1, 1e-12);
        CHECK_VALUES(OUT(r, 1), aux, 4, 1e-12);
        CHECK_VALUES(OUT(r, 2), gr, 4, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(vjp_matches_jvp)
{
    kiln_scope_begin();
    enum { N = 5 };
    double x[N], y[N], gx[N], tx[N], ty[N], g2 = 0.7;
    fill(x, N, 5);
    fill(y, N, 6);
    fill(gx, N, 7);
    fill(tx, N, 8);
    fill(ty, N, 9);
    int64_t sh[1] = {N};
    kiln_array *X = mk(x, sh, 1, F64), *Y = mk(y, sh, 1, F64);
    kiln_fn *f = mkfn(&W_two, "two");
    kiln_fn *vjp = kiln_vjp(f, 2), *jvp = kiln_jvp(f, 2);
    kiln_list *rv = call(vjp, 4, X, Y, mk(gx, sh, 1, F64),
                         kiln_scalar_f64(g2, F64));
    kiln_list *rj = call(jvp, 4, X, Y, mk(tx, sh, 1, F64),
                         mk(ty, sh, 1, F64));
    CHECK_MSG(rv && rj, "vjp/jvp failed: %s", kiln_errmsg());
    if (rv && rj) {
        CHECK(kiln_list_size(rv) == 4 && kiln_list_size(rj) == 4);
        /* the primal outputs come first, equal in both */
        double o0[N], o1, vx[N], vy[N], j0[N], j1;
        for (int i = 0; i < N; i++) {
            o0[i] = sin(x[i]) * y[i] + exp(x[i]) * x[i];
        }
        o1 = 0;
        for (int i = 0; i < N; i++) {
            o1 += x[i] * y[i];
        }
        CHECK_VALUES(OUT(rv, 0), o0, N, 1e-12);
        CHECK_VALUES(OUT(rv, 1), &o1, 1, 1e-12);
        CHECK_VALUES(OUT(rj, 0), o0, N, 1e-12);
        /* analytic vjp */
        for (int i = 0; i < N; i++) {
            vx[i] = gx[i] * (cos(x[i]) * y[i] + exp(x[i]) * (1 + x[i])) +
                    g2 * y[i];
            vy[i] = gx[i] * sin(x[i]) + g2 * x[i];
        }
        CHECK_VALUES(OUT(rv, 2), vx, N, 1e-12);
        CHECK_VALUES(OUT(rv, 3), vy, N, 1e-12);
        /* <g, J t> = <J^T g, t> */
        double lhs = 0, rhs = 0;
        if (readd(OUT(rj, 2), j0, N) && readd(OUT(rj, 3), &j1, 1)) {
            for (int i = 0; i < N; i++) {
                lhs += gx[i] * j0[i];
                rhs += vx[i] * tx[i] + vy[i] * ty[i];
            }
            lhs += g2 * j1;
            CHECK_NEAR(lhs, rhs, 1e-10);
        } else {
            CHECK_MSG(false, "jvp outputs unreadable: %s", kiln_errmsg());
        }
    }
    kiln_list_free(rv);
    kiln_list_free(rj);
    kiln_fn_release(vjp);
    kiln_fn_release(jvp);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(jvp_of_sin)
{
    kiln_scope_begin();
    double x[3] = {0.1, 1.0, -2.0}, t[3] = {1, 2, 3}, ref[3], out[3];
    int64_t sh[1] = {3};
    kiln_fn *f = mkfn(&W_sin, "sin");
    kiln_fn *j = kiln_jvp(f, 1);
    kiln_list *r = call(j, 2, mk(x, sh, 1, F64), mk(t, sh, 1, F32));
    CHECK_MSG(r, "jvp failed: %s", kiln_errmsg());
    if (r) {
        for (int i = 0; i < 3; i++) {
            out[i] = sin(x[i]);
            ref[i] = cos(x[i]) * t[i];
        }
        CHECK_VALUES(OUT(r, 0), out, 3, 1e-12);
        CHECK_VALUES(OUT(r, 1), ref, 3, 1e-12);
        CHECK(kiln_array_dtype(OUT(r, 1)) == F64);
    }
    kiln_list_free(r);
    kiln_fn_release(j);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* edge cases                                                         */
/* ------------------------------------------------------------------ */

TEST(grad_edge_cases)
{
    kiln_scope_begin();
    double v[3] = {1.5, -2, 0.25}, w[5] = {1, 2, 3, 4, 5};
    int64_t s3[1] = {3}, s5[1] = {5};
    kiln_array *x = mk(v, s3, 1, F32), *y = mk(w, s5, 1, F64);

    /* an argument that does not affect the output: zeros of its shape
     * and dtype */
    kiln_fn *f = mkfn(&W_sumsq, "sumsq");
    int a01[2] = {0, 1};
    kiln_fn *g = kiln_grad(f, a01, 2);
    kiln_list *r = call(g, 2, x, y);
    CHECK_MSG(r, "grad failed: %s", kiln_errmsg());
    if (r) {
        double zero[5] = {0}, two[3] = {3, -4, 0.5};
        CHECK(has_shape(OUT(r, 1), s5, 1));
        CHECK(kiln_array_dtype(OUT(r, 1)) == F64);
        CHECK_VALUES(OUT(r, 1), zero, 5, 0);
        CHECK_VALUES(OUT(r, 0), two, 3, 1e-6);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    /* repeated use of one input: d/dx sum(x^3) = 3x^2 */
    f = mkfn(&W_sumcube, "sumcube");
    g = kiln_grad(f, NULL, 0);
    r = call(g, 1, x);
    CHECK_MSG(r, "grad failed: %s", kiln_errmsg());
    if (r) {
        double ref[3];
        for (int i = 0; i < 3; i++) {
            ref[i] = 3 * v[i] * v[i];
        }
        CHECK_VALUES(OUT(r, 0), ref, 3, 1e-6);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    /* integer inputs carry gradients, as in MLX: the float argument's
     * gradient is n, the integer's x cast to its dtype (truncated) */
    double nv[3] = {2, -1, 7};
    kiln_array *n = mk(nv, s3, 1, I32);
    f = mkfn(&W_xn, "xn");
    g = kiln_grad(f, a01, 2);
    r = call(g, 2, x, n);
    CHECK_MSG(r, "grad failed: %s", kiln_errmsg());
    if (r) {
        double xt[3] = {1, -2, 0};
        CHECK(kiln_array_dtype(OUT(r, 0)) == F32);
        CHECK_VALUES(OUT(r, 0), nv, 3, 0);
        CHECK(kiln_array_dtype(OUT(r, 1)) == I32);
        CHECK(has_shape(OUT(r, 1), s3, 1));
        CHECK_VALUES(OUT(r, 1), xt, 3, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);

    /* grad with respect to the integer argument only */
    int a1 = 1;
    g = kiln_grad(f, &a1, 1);
    r = call(g, 2, x, n);
    CHECK_MSG(r && kiln_array_dtype(OUT(r, 0)) == I32, "%s",
              kiln_errmsg());
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    /* a loss that ignores its argument entirely */
    f = mkfn(&W_const, "const");
    g = kiln_value_and_grad(f, NULL, 0);
    r = call(g, 1, x);
    CHECK_MSG(r, "value_and_grad failed: %s", kiln_errmsg());
    if (r) {
        double three = 3, zero[3] = {0};
        CHECK_VALUES(OUT(r, 0), &three, 1, 0);
        CHECK(has_shape(OUT(r, 1), s3, 1));
        CHECK_VALUES(OUT(r, 1), zero, 3, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    /* the output is the input: vjp passes the cotangent through */
    f = mkfn(&W_ident, "ident");
    g = kiln_vjp(f, 1);
    double c[3] = {4, 5, 6};
    r = call(g, 2, x, mk(c, s3, 1, F32));
    CHECK_MSG(r, "vjp failed: %s", kiln_errmsg());
    if (r) {
        CHECK(OUT(r, 0) == x);
        CHECK_VALUES(OUT(r, 1), c, 3, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    /* jvp of the identity: the tangent */
    g = kiln_jvp(f, 1);
    r = call(g, 2, x, mk(c, s3, 1, F32));
    CHECK_MSG(r, "jvp failed: %s", kiln_errmsg());
    if (r) {
        CHECK_VALUES(OUT(r, 1), c, 3, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    /* an auxiliary output that is the input; a (1,1) loss */
    f = mkfn(&W_sum_self, "sum_self");
    g = kiln_value_and_grad(f, NULL, 0);
    r = call(g, 1, x);
    CHECK_MSG(r, "value_and_grad failed: %s", kiln_errmsg());
    if (r) {
        double ones[3] = {1, 1, 1}, s = 1.5 - 2 + 0.25;
        CHECK_VALUES(OUT(r, 0), &s, 1, 1e-6);
        CHECK(OUT(r, 1) == x);
        CHECK_VALUES(OUT(r, 2), ones, 3, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);

    f = mkfn(&W_sumsq, "sumsq");
    g = kiln_grad(f, NULL, 0);
    int64_t s11[2] = {1, 1};
    double one = 3;
    r = call(g, 1, mk(&one, s11, 2, F32));
    CHECK_MSG(r, "grad of a (1,1) input failed: %s", kiln_errmsg());
    if (r) {
        double six = 6;
        CHECK(has_shape(OUT(r, 0), s11, 2));
        CHECK_VALUES(OUT(r, 0), &six, 1, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* vmap                                                               */
/* ------------------------------------------------------------------ */

TEST(vmap_elementwise)
{
    kiln_scope_begin();
    enum { B = 4, N = 3 };
    double x[B * N], y[N], yt[N * B];
    fill(x, B * N, 10);
    fill(y, N, 11);
    fill(yt, N * B, 12);
    int64_t sx[2] = {B, N}, sy[1] = {N}, syt[2] = {N, B};
    kiln_fn *f = mkfn(&W_axpy, "axpy");
    int ia[2] = {0, -1};
    kiln_fn *v = kiln_vmap(f, ia, 2, NULL, 0);
    kiln_list *r = call(v, 2, mk(x, sx, 2, F64), mk(y, sy, 1, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double ref[B * N];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                ref[b * N + i] = x[b * N + i] * y[i] + 1;
            }
        }
        CHECK(has_shape(OUT(r, 0), sx, 2));
        CHECK_VALUES(OUT(r, 0), ref, B * N, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(v);

    /* both batched, y along its axis 1 */
    int ib[2] = {0, 1};
    v = kiln_vmap(f, ib, 2, NULL, 0);
    r = call(v, 2, mk(x, sx, 2, F64), mk(yt, syt, 2, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double ref[B * N];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                ref[b * N + i] = x[b * N + i] * yt[i * B + b] + 1;
            }
        }
        CHECK(has_shape(OUT(r, 0), sx, 2));
        CHECK_VALUES(OUT(r, 0), ref, B * N, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(vmap_sum_over_axis)
{
    kiln_scope_begin();
    enum { P = 3, B = 2, Q = 5 };
    double x[P * B * Q];
    fill(x, P * B * Q, 13);
    int64_t sx[3] = {P, B, Q};
    kiln_fn *f = mkfn(&W_sum1, "sum1");
    int ia = 1;
    kiln_fn *v = kiln_vmap(f, &ia, 1, NULL, 0);
    kiln_list *r = call(v, 1, mk(x, sx, 3, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        /* example b is x[:, b, :] of shape (P, Q); its sum over axis 1 */
        double ref[B * P] = {0};
        for (int b = 0; b < B; b++) {
            for (int p = 0; p < P; p++) {
                for (int q = 0; q < Q; q++) {
                    ref[b * P + p] += x[(p * B + b) * Q + q];
                }
            }
        }
        int64_t so[2] = {B, P};
        CHECK(has_shape(OUT(r, 0), so, 2));
        CHECK_VALUES(OUT(r, 0), ref, B * P, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(vmap_out_axes)
{
    kiln_scope_begin();
    enum { B = 4, N = 3 };
    double x[B * N], c[N];
    fill(x, B * N, 14);
    fill(c, N, 15);
    int64_t sx[2] = {B, N}, sc[1] = {N};
    kiln_fn *f = mkfn(&W_pair, "pair");
    int oa[2] = {1, 0};
    kiln_fn *v = kiln_vmap(f, NULL, 0, oa, 2);
    kiln_list *r = call(v, 1, mk(x, sx, 2, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double r0[N * B], r1[B] = {0};
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                r0[i * B + b] = 2 * x[b * N + i];
                r1[b] += x[b * N + i];
            }
        }
        int64_t s0[2] = {N, B}, s1[1] = {B};
        CHECK(has_shape(OUT(r, 0), s0, 2));
        CHECK(has_shape(OUT(r, 1), s1, 1));
        CHECK_VALUES(OUT(r, 0), r0, N * B, 1e-12);
        CHECK_VALUES(OUT(r, 1), r1, B, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);

    /* an output that does not vary over the batch: broadcast along a new
     * batch axis (out_axes 1), or left as it is (out_axes -1) */
    f = mkfn(&W_const_out, "const_out");
    int ia[2] = {0, -1}, ob[2] = {0, 1}, oc[2] = {0, -1};
    v = kiln_vmap(f, ia, 2, ob, 2);
    r = call(v, 2, mk(x, sx, 2, F64), mk(c, sc, 1, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double r1[N * B];
        for (int i = 0; i < N; i++) {
            for (int b = 0; b < B; b++) {
                r1[i * B + b] = 2 * c[i];
            }
        }
        int64_t s1[2] = {N, B};
        CHECK(has_shape(OUT(r, 1), s1, 2));
        CHECK_VALUES(OUT(r, 1), r1, N * B, 0);
    }
    kiln_list_free(r);
    kiln_fn_release(v);
    v = kiln_vmap(f, ia, 2, oc, 2);
    r = call(v, 2, mk(x, sx, 2, F64), mk(c, sc, 1, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double r1[N];
        for (int i = 0; i < N; i++) {
            r1[i] = 2 * c[i];
        }
        CHECK(has_shape(OUT(r, 1), sc, 1));
        CHECK_VALUES(OUT(r, 1), r1, N, 0);
        CHECK(has_shape(OUT(r, 0), sx, 2));
    }
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* A registered primitive's twin without transform rules, for the error
 * paths and the vmap fallback. Nodes of it are evaluated only with the
 * registry observer (test_zz_registry.c) off, since it is not in the
 * registry. */
static kiln_prim norules;

static int b_norules(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_array *o = NULL;
    int no = 0;
    if (kiln__node_make(&norules, NULL, x, 1, &o, &no, "norules") !=
        KILN_OK) {
        return -1;
    }
    y[0] = kiln_multiply(o, kiln_weak_f64(2.0));
    kiln_array_release(o);
    return 1;
}
static wrap W_norules = {b_norules};

static void init_norules(void)
{
    norules = kiln__prim_negative;
    norules.name = "test_norules";
    norules.vjp = NULL;
    norules.jvp = NULL;
    norules.vmap = NULL;
}

TEST(vmap_fallback_loop)
{
    init_norules();
    kiln_scope_begin();
    enum { B = 3, N = 2 };
    double x[B * N];
    fill(x, B * N, 16);
    int64_t sx[2] = {N, B};
    kiln_fn *f = mkfn(&W_norules, "norules");
    int ia = 1;
    kiln_fn *v = kiln_vmap(f, &ia, 1, NULL, 0);
    kiln_list *r = call(v, 1, mk(x, sx, 2, F64));
    CHECK_MSG(r, "vmap failed: %s", kiln_errmsg());
    if (r) {
        double ref[B * N];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                ref[b * N + i] = -2 * x[i * B + b];
            }
        }
        int64_t so[2] = {B, N};
        CHECK(has_shape(OUT(r, 0), so, 2));
        kiln_eval_observer saved = kiln__eval_observer;
        kiln__eval_observer = NULL;
        CHECK_VALUES(OUT(r, 0), ref, B * N, 0);
        kiln__eval_observer = saved;
    }
    kiln_list_free(r);

    /* an empty batch: the loop makes no example, the result is empty */
    int64_t s0[2] = {N, 0}, so0[2] = {0, N};
    r = call(v, 1, kiln_zeros(s0, 2, F64));
    CHECK_MSG(r, "vmap of an empty batch failed: %s", kiln_errmsg());
    CHECK(r && has_shape(OUT(r, 0), so0, 2));
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);

    /* an empty batch through batching rules */
    f = mkfn(&W_sum1, "sum1");
    v = kiln_vmap(f, NULL, 0, NULL, 0);
    int64_t se[3] = {0, 2, 3}, soe[2] = {0, 2};
    r = call(v, 1, kiln_zeros(se, 3, F32));
    CHECK_MSG(r, "vmap of an empty batch failed: %s", kiln_errmsg());
    CHECK(r && has_shape(OUT(r, 0), soe, 2));
    kiln_list_free(r);
    kiln_fn_release(v);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* errors                                                             */
/* ------------------------------------------------------------------ */

TEST(transform_errors)
{
    init_norules();
    kiln_scope_begin();
    double d6[6] = {1, 2, 3, 4, 5, 6};
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s4[1] = {4}, s32[2] = {3, 2};
    kiln_array *x = mk(d6, s23, 2, F32);
    kiln_array *y3 = mk(d6, s3, 1, F32), *y4 = mk(d6, s4, 1, F32);

    CHECK(!kiln_grad(NULL, NULL, 0));
    CHECK(!kiln_vmap(NULL, NULL, 0, NULL, 0));
    CHECK(!kiln_jvp(NULL, 1));
    CHECK(!kiln_vjp(NULL, 1));
    kiln_errclear();

    kiln_fn *sq = mkfn(&W_square, "square");
    kiln_fn *g = kiln_grad(sq, NULL, 0);
    CHECK_FAILS(call(g, 1, x),
                "[grad] the function must return a scalar, got shape "
                "(2,3)");
    kiln_fn_release(g);

    /* a primitive without vjp/jvp on the gradient's path */
    kiln_fn *nr = mkfn(&W_norules, "norules");
    kiln_fn *sumnr = nr;
    kiln_fn *gv = kiln_vjp(sumnr, 1);
    CHECK_FAILS(call(gv, 2, x, x),
                "primitive test_norules is not differentiable");
    kiln_fn_release(gv);
    kiln_fn *jv = kiln_jvp(sumnr, 1);
    CHECK_FAILS(call(jv, 2, x, x),
                "primitive test_norules is not differentiable");
    kiln_fn_release(jv);
    /* but with respect to an argument it does not read, no error */
    int a1 = 1;
    kiln_fn *ss = mkfn(&W_sumsq, "sumsq");
    g = kiln_grad(ss, &a1, 1);
    kiln_list *r = call(g, 2, x, x);
    CHECK_MSG(r, "%s", kiln_errmsg());
    kiln_list_free(r);
    kiln_fn_release(g);

    /* argnums */
    int a3 = 3, am = -1;
    g = kiln_grad(ss, &a3, 1);
    CHECK_FAILS(call(g, 1, x), "argnums[0] = 3 is out of range");
    kiln_fn_release(g);
    kiln_errclear();
    CHECK(!kiln_grad(ss, &am, 1));
    CHECK(contains(kiln_errmsg(), "negative"));
    CHECK(!kiln_vjp(ss, -1));
    CHECK(!kiln_jvp(ss, -1));
    kiln_errclear();

    /* vjp and jvp argument counts and shapes */
    gv = kiln_vjp(sq, 1);
    CHECK_FAILS(call(gv, 1, x), "returns 1 output");
    CHECK_FAILS(call(gv, 2, x, y3), "cotangent 0 has shape (3)");
    kiln_fn_release(gv);
    jv = kiln_jvp(sq, 1);
    CHECK_FAILS(call(jv, 1, x), "expected 1 primals and 1 tangents");
    CHECK_FAILS(call(jv, 2, x, y3), "tangent 0 has shape (3)");
    kiln_fn_release(jv);
    gv = kiln_vjp(sq, 2);
    CHECK_FAILS(call(gv, 1, x), "expected 2 primals");
    kiln_fn_release(gv);

    /* vmap */
    kiln_fn *ax = mkfn(&W_axpy, "axpy");
    int bad[2] = {2, 0};
    kiln_fn *v = kiln_vmap(ax, bad, 2, NULL, 0);
    CHECK_FAILS(call(v, 2, x, x), "in_axes[0] = 2 is out of range");
    kiln_fn_release(v);
    int bad2[2] = {-2, 0};
    v = kiln_vmap(ax, bad2, 2, NULL, 0);
    CHECK_FAILS(call(v, 2, x, x), "in_axes[0] = -2 is out of range");
    kiln_fn_release(v);
    int zz[2] = {0, 0};
    v = kiln_vmap(ax, zz, 2, NULL, 0);
    CHECK_FAILS(call(v, 2, x, mk(d6, s32, 2, F32)), "different sizes");
    CHECK_FAILS(call(v, 1, x), "in_axes has 2 entries");
    kiln_fn_release(v);
    int none[2] = {-1, -1};
    v = kiln_vmap(ax, none, 2, NULL, 0);
    CHECK_FAILS(call(v, 2, y3, y3), "no argument is batched");
    kiln_fn_release(v);
    v = kiln_vmap(ax, NULL, 0, NULL, 0);
    CHECK_FAILS(call(v, 2, y3, y4), "different sizes");
    CHECK_FAILS(call(v, 2, kiln_scalar_f64(1, F32), y4), "out of range");
    kiln_fn_release(v);
    int oa3 = 3, oam = -1;
    v = kiln_vmap(ax, NULL, 0, &oa3, 1);
    CHECK_FAILS(call(v, 2, x, x), "out_axes[0] = 3 is out of range");
    kiln_fn_release(v);
    v = kiln_vmap(ax, NULL, 0, &oam, 1);
    CHECK_FAILS(call(v, 2, x, x), "varies over the batch");
    kiln_fn_release(v);
    int oa2[2] = {0, 0};
    v = kiln_vmap(ax, NULL, 0, oa2, 2);
    CHECK_FAILS(call(v, 2, x, x), "out_axes has 2 entries");
    kiln_fn_release(v);

    kiln_fn_release(ax);
    kiln_fn_release(ss);
    kiln_fn_release(nr);
    kiln_fn_release(sq);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* composition with compile                                           */
/* ------------------------------------------------------------------ */

TEST(grad_composes_with_compile)
{
    kiln_scope_begin();
    double xv[6], wv[6];
    fill(xv, 6, 20);
    fill(wv, 6, 21);
    int64_t sh[2] = {2, 3};
    kiln_array *x = mk(xv, sh, 2, F32), *w = mk(wv, sh, 2, F32);
    kiln_fn *f = mkfn(&W_ew, "ew");
    int a01[2] = {0, 1};
    kiln_fn *g = kiln_grad(f, a01, 2);
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_fn *gc = kiln_grad(cf, a01, 2);
    kiln_fn *cg = kiln_compile(g, NULL);
    kiln_list *r0 = call(g, 2, x, w);
    kiln_list *r1 = call(gc, 2, x, w);
    kiln_list *r2 = call(cg, 2, x, w);
    kiln_list *r3 = call(cg, 2, x, w); /* replayed */
    CHECK_MSG(r0 && r1 && r2 && r3, "%s", kiln_errmsg());
    if (r0 && r1 && r2 && r3) {
        double dx[6], dw[6];
        for (int i = 0; i < 6; i++) {
            double e = exp((double)(float)xv[i] * (float)wv[i]);
            dx[i] = e * (1 + (float)xv[i] * (float)wv[i]);
            dw[i] = e * (float)xv[i] * (float)xv[i];
        }
        CHECK_VALUES(OUT(r0, 0), dx, 6, 1e-5);
        CHECK_VALUES(OUT(r0, 1), dw, 6, 1e-5);
        for (int k = 0; k < 2; k++) {
            check_same(OUT(r1, (size_t)k), OUT(r0, (size_t)k), 1e-6);
            check_same(OUT(r2, (size_t)k), OUT(r0, (size_t)k), 1e-6);
            check_same(OUT(r3, (size_t)k), OUT(r0, (size_t)k), 1e-6);
        }
        kiln_compile_stats st;
        CHECK(kiln_compile_stats_get(cg, &st) == KILN_OK);
        CHECK(st.traces == 1 && st.cache_hits == 1);
    }
    kiln_list_free(r0);
    kiln_list_free(r1);
    kiln_list_free(r2);
    kiln_list_free(r3);
    kiln_fn_release(cg);
    kiln_fn_release(gc);
    kiln_fn_release(cf);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(grad_compiled_shapeless)
{
    kiln_scope_begin();
    kiln_fn *f = mkfn(&W_ew, "ew");
    int a01[2] = {0, 1};
    kiln_fn *g = kiln_grad(f, a01, 2);
    kiln_compile_opts o = {.shapeless = true};
    kiln_fn *cg = kiln_compile(g, &o);
    int64_t shapes[3][2] = {{2, 3}, {4, 5}, {1, 7}};
    for (int t = 0; t < 3; t++) {
        int64_t n = shapes[t][0] * shapes[t][1];
        double xv[35], wv[35];
        fill(xv, n, 30 + (unsigned)t);
        fill(wv, n, 40 + (unsigned)t);
        kiln_array *x = mk(xv, shapes[t], 2, F32);
        kiln_array *w = mk(wv, shapes[t], 2, F32);
        kiln_list *rc = call(cg, 2, x, w);
        kiln_list *re = call(g, 2, x, w);
        CHECK_MSG(rc && re, "shape %d: %s", t, kiln_errmsg());
        if (rc && re) {
            CHECK(has_shape(OUT(rc, 0), shapes[t], 2));
            CHECK(has_shape(OUT(rc, 1), shapes[t], 2));
            check_same(OUT(rc, 0), OUT(re, 0), 1e-6);
            check_same(OUT(rc, 1), OUT(re, 1), 1e-6);
        }
        kiln_list_free(rc);
        kiln_list_free(re);
    }
    kiln_compile_stats st;
    CHECK(kiln_compile_stats_get(cg, &st) == KILN_OK);
    CHECK_MSG(st.traces == 1, "traces %lld", (long long)st.traces);

    /* an argument that does not reach the output: zeros shaped like the
     * new input */
    kiln_fn *f2 = mkfn(&W_sumsq, "sumsq");
    kiln_fn *g2 = kiln_grad(f2, a01, 2);
    kiln_fn *cg2 = kiln_compile(g2, &o);
    for (int t = 0; t < 2; t++) {
        int64_t n = shapes[t][0] * shapes[t][1];
        double xv[35];
        fill(xv, n, 50 + (unsigned)t);
        kiln_array *x = mk(xv, shapes[t], 2, F32);
        kiln_list *rc = call(cg2, 2, x, x);
        CHECK_MSG(rc, "%s", kiln_errmsg());
        if (rc) {
            double zero[35] = {0};
            CHECK(has_shape(OUT(rc, 1), shapes[t], 2));
            CHECK_VALUES(OUT(rc, 1), zero, n, 0);
        }
        kiln_list_free(rc);
    }
    kiln_fn_release(cg2);
    kiln_fn_release(g2);
    kiln_fn_release(f2);
    kiln_fn_release(cg);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(vmap_composes_with_compile)
{
    kiln_scope_begin();
    enum { B = 5, N = 4 };
    double xv[B * N], yv[N];
    fill(xv, B * N, 60);
    fill(yv, N, 61);
    int64_t sx[2] = {B, N}, sy[1] = {N};
    kiln_array *x = mk(xv, sx, 2, F32), *y = mk(yv, sy, 1, F32);
    kiln_fn *f = mkfn(&W_axpy, "axpy");
    int ia[2] = {0, -1};
    kiln_fn *v = kiln_vmap(f, ia, 2, NULL, 0);
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_fn *vc = kiln_vmap(cf, ia, 2, NULL, 0);
    kiln_fn *cv = kiln_compile(v, NULL);
    kiln_list *r0 = call(v, 2, x, y);
    kiln_list *r1 = call(vc, 2, x, y);
    kiln_list *r2 = call(cv, 2, x, y);
    kiln_list *r3 = call(cv, 2, x, y);
    CHECK_MSG(r0 && r1 && r2 && r3, "%s", kiln_errmsg());
    if (r0 && r1 && r2 && r3) {
        double ref[B * N];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < N; i++) {
                ref[b * N + i] = (float)xv[b * N + i] * (float)yv[i] + 1;
            }
        }
        CHECK_VALUES(OUT(r0, 0), ref, B * N, 1e-6);
        check_same(OUT(r1, 0), OUT(r0, 0), 0);
        check_same(OUT(r2, 0), OUT(r0, 0), 0);
        check_same(OUT(r3, 0), OUT(r0, 0), 0);
    }
    kiln_list_free(r0);
    kiln_list_free(r1);
    kiln_list_free(r2);
    kiln_list_free(r3);

    /* per-example gradients: compile(vmap(grad(f))) */
    kiln_fn *fs = mkfn(&W_sumsq, "sumsq");
    kiln_fn *gs = kiln_grad(fs, NULL, 0);
    kiln_fn *vg = kiln_vmap(gs, NULL, 0, NULL, 0);
    kiln_fn *cvg = kiln_compile(vg, NULL);
    kiln_list *r4 = call(cvg, 1, x);
    CHECK_MSG(r4, "%s", kiln_errmsg());
    if (r4) {
        double ref[B * N];
        for (int i = 0; i < B * N; i++) {
            ref[i] = 2 * (double)(float)xv[i];
        }
        CHECK(has_shape(OUT(r4, 0), sx, 2));
        CHECK_VALUES(OUT(r4, 0), ref, B * N, 1e-6);
    }
    kiln_list_free(r4);
    kiln_fn_release(cvg);
    kiln_fn_release(vg);
    kiln_fn_release(gs);
    kiln_fn_release(fs);
    kiln_fn_release(cv);
    kiln_fn_release(vc);
    kiln_fn_release(cf);
    kiln_fn_release(v);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

TEST(grad_of_grad)
{
    kiln_scope_begin();
    kiln_fn *f = mkfn(&W_cube, "cube");
    kiln_fn *g = kiln_grad(f, NULL, 0);
    kiln_fn *gg = kiln_grad(g, NULL, 0);
    kiln_fn *cgg = kiln_compile(gg, NULL);
    kiln_array *x = kiln_scalar_f64(1.5, F64);
    kiln_list *r1 = call(g, 1, x);
    kiln_list *r2 = call(gg, 1, x);
    kiln_list *r3 = call(cgg, 1, x);
    CHECK_MSG(r1 && r2 && r3, "%s", kiln_errmsg());
    if (r1 && r2 && r3) {
        double d1 = 3 * 1.5 * 1.5, d2 = 6 * 1.5;
        CHECK_VALUES(OUT(r1, 0), &d1, 1, 1e-12);
        CHECK_VALUES(OUT(r2, 0), &d2, 1, 1e-12);
        CHECK_VALUES(OUT(r3, 0), &d2, 1, 1e-12);
    }
    kiln_list_free(r1);
    kiln_list_free(r2);
    kiln_list_free(r3);
    kiln_fn_release(cgg);
    kiln_fn_release(gg);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* value_and_grad of sum(w * u), u uniform from the global key, inside a
 * compiled step that captures the key: the gradient is u. */
static int b_noisy(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_array *u = kiln_random_uniform(NULL, NULL, kiln_array_shape(x[0]),
                                        kiln_array_ndim(x[0]), F32, NULL);
    y[0] = kiln_sum(kiln_multiply(x[0], u), NULL, 0, false);
    return 1;
}
static wrap W_noisy = {b_noisy};

static kiln_fn *noisy_vag;

static int b_step(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_list *args = kiln_list_new();
    kiln_list_push(args, x[0]);
    kiln_list *r = kiln_fn_call(noisy_vag, args);
    kiln_list_free(args);
    if (!r) {
        return -1;
    }
    y[0] = kiln__ret(kiln_array_retain(OUT(r, 0)));
    y[1] = kiln__ret(kiln_array_retain(OUT(r, 1)));
    kiln_list_free(r);
    return 2;
}
static wrap W_step = {b_step};

TEST(value_and_grad_random_key_in_compile)
{
    kiln_scope_begin();
    kiln_random_seed(7);
    kiln_fn *f = mkfn(&W_noisy, "noisy");
    noisy_vag = kiln_value_and_grad(f, NULL, 0);
    kiln_fn *step = mkfn(&W_step, "step");
    kiln_compile_opts o = {.random_state = true};
    kiln_fn *cs = kiln_compile(step, &o);
    int64_t sh[1] = {6};
    kiln_array *w = kiln_ones(sh, 1, F32);
    double g1[6], g2[6], l1, l2;
    kiln_errclear();
    kiln_list *r1 = call(cs, 1, w);
    CHECK_MSG(r1, "compiled: %s", kiln_errmsg());
    kiln_list *r2 = call(cs, 1, w);
    kiln_list *r3 = call(step, 1, w); /* uncompiled */
    CHECK_MSG(r3, "uncompiled: %s", kiln_errmsg());
    if (r1 && r2 && r3 && readd(OUT(r1, 1), g1, 6) &&
        readd(OUT(r2, 1), g2, 6) && readd(OUT(r1, 0), &l1, 1) &&
        readd(OUT(r2, 0), &l2, 1)) {
        double s1 = 0, s2 = 0;
        bool differ = false;
        for (int i = 0; i < 6; i++) {
            CHECK(g1[i] >= 0 && g1[i] < 1);
            s1 += g1[i];
            s2 += g2[i];
            differ = differ || g1[i] != g2[i];
        }
        CHECK_NEAR(l1, s1, 1e-5);
        CHECK_NEAR(l2, s2, 1e-5);
        CHECK_MSG(differ, "the key did not advance between calls");
        double g3[6], l3, s3 = 0;
        CHECK(readd(OUT(r3, 1), g3, 6) && readd(OUT(r3, 0), &l3, 1));
        for (int i = 0; i < 6; i++) {
            s3 += g3[i];
        }
        CHECK_NEAR(l3, s3, 1e-5);
    }
    kiln_list_free(r1);
    kiln_list_free(r2);
    kiln_list_free(r3);
    kiln_fn_release(cs);
    kiln_fn_release(step);
    kiln_fn_release(noisy_vag);
    noisy_vag = NULL;
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* the fused region primitive's rules                                 */
/* ------------------------------------------------------------------ */

/* exp(x) * x + 1, compiled into one fused region */
static int b_region(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    y[0] = kiln_add(kiln_multiply(kiln_exp(x[0]), x[0]),
                    kiln_weak_f64(1.0));
    return 1;
}
static wrap W_region = {b_region};

static kiln_array *fused_out; /* a pending output of a fused node */

/* sum(fused(x)): the fused node of fused_out applied to x */
static int b_use_fused(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_node *n = fused_out->node;
    kiln_array *o[KILN_MAX_OUTPUTS];
    int no = 0;
    if (kiln__node_make(n->prim, n->params, x, 1, o, &no, "use_fused") !=
        KILN_OK) {
        return -1;
    }
    for (int k = 1; k < no; k++) {
        kiln_array_release(o[k]);
    }
    y[1] = kiln__ret(o[0]);
    y[0] = kiln_sum(y[1], NULL, 0, false);
    return 2;
}
static wrap W_use_fused = {b_use_fused};

TEST(fused_primitive_rules)
{
    kiln_scope_begin();
    double xv[6];
    fill(xv, 6, 70);
    int64_t sh[2] = {2, 3};
    kiln_array *x = mk(xv, sh, 2, F64);
    kiln_fn *f = mkfn(&W_region, "region");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_list *r = call(cf, 1, x);
    CHECK_MSG(r, "%s", kiln_errmsg());
    kiln_array *y = r ? OUT(r, 0) : NULL;
    if (!y || !y->node || y->node->prim != &kiln__prim_fused ||
        y->node->nin != 1) {
        CHECK_MSG(false, "compile did not give one fused node on x");
        kiln_list_free(r);
        kiln_fn_release(cf);
        kiln_fn_release(f);
        kiln_scope_end(NULL);
        return;
    }
    fused_out = y;
    kiln_fn *h = mkfn(&W_use_fused, "use_fused");
    kiln_fn *g = kiln_value_and_grad(h, NULL, 0);
    kiln_fn *j = kiln_jvp(h, 1);
    kiln_fn *v = kiln_vmap(h, NULL, 0, NULL, 0);
    double tv[6], ref_g[6], ref_y[6], ref_t[6], ref_s = 0;
    fill(tv, 6, 71);
    for (int i = 0; i < 6; i++) {
        ref_y[i] = exp(xv[i]) * xv[i] + 1;
        ref_g[i] = exp(xv[i]) * (1 + xv[i]);
        ref_t[i] = ref_g[i] * tv[i];
        ref_s += ref_y[i];
    }
    kiln_list *rg = call(g, 1, x);
    kiln_list *rj = call(j, 2, x, mk(tv, sh, 2, F64));
    CHECK_MSG(rg, "value_and_grad: %s", kiln_errmsg());
    CHECK_MSG(rj, "jvp: %s", kiln_errmsg());
    if (rg) {
        CHECK_VALUES(OUT(rg, 0), &ref_s, 1, 1e-12);
        CHECK_VALUES(OUT(rg, 1), ref_y, 6, 1e-12);
        CHECK_VALUES(OUT(rg, 2), ref_g, 6, 1e-12);
    }
    if (rj) {
        CHECK_VALUES(OUT(rj, 1), ref_y, 6, 1e-12);
        CHECK_VALUES(OUT(rj, 3), ref_t, 6, 1e-12);
    }
    /* vmap: a batch of two examples of the traced shape (2,3) */
    double xb[12], ref_b[12], ref_bs[2] = {0};
    int64_t sb[3] = {2, 2, 3};
    fill(xb, 12, 72);
    for (int i = 0; i < 12; i++) {
        ref_b[i] = exp(xb[i]) * xb[i] + 1;
        ref_bs[i / 6] += ref_b[i];
    }
    kiln_list *rv = call(v, 1, mk(xb, sb, 3, F64));
    CHECK_MSG(rv, "vmap: %s", kiln_errmsg());
    if (rv) {
        CHECK_VALUES(OUT(rv, 0), ref_bs, 2, 1e-12);
        CHECK(has_shape(OUT(rv, 1), sb, 3));
        CHECK_VALUES(OUT(rv, 1), ref_b, 12, 1e-12);
    }
    kiln_list_free(rg);
    kiln_list_free(rj);
    kiln_list_free(rv);
    kiln_fn_release(v);
    kiln_fn_release(j);
    kiln_fn_release(g);
    kiln_fn_release(h);
    fused_out = NULL;
    kiln_list_free(r);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* more composition: vjp/jvp with compile, captured training state    */
/* ------------------------------------------------------------------ */

TEST(vjp_jvp_compose_with_compile)
{
    kiln_scope_begin();
    enum { N = 6 };
    double x[N], y[N], gx[N], tx[N], ty[N];
    fill(x, N, 80);
    fill(y, N, 81);
    fill(gx, N, 82);
    fill(tx, N, 83);
    fill(ty, N, 84);
    int64_t sh[1] = {N};
    kiln_array *X = mk(x, sh, 1, F64), *Y = mk(y, sh, 1, F64);
    kiln_array *G = mk(gx, sh, 1, F64), *G2 = kiln_scalar_f64(0.3, F64);
    kiln_array *TX = mk(tx, sh, 1, F64), *TY = mk(ty, sh, 1, F64);
    kiln_fn *f = mkfn(&W_two, "two");
    kiln_fn *cf = kiln_compile(f, NULL);
    kiln_fn *vjp = kiln_vjp(f, 2), *jvp = kiln_jvp(f, 2);
    kiln_fn *vjp_c = kiln_vjp(cf, 2), *jvp_c = kiln_jvp(cf, 2);
    kiln_fn *c_vjp = kiln_compile(vjp, NULL), *c_jvp = kiln_compile(jvp,
                                                                   NULL);
    kiln_list *rv[3] = {call(vjp, 4, X, Y, G, G2), call(vjp_c, 4, X, Y, G, G2),
                        call(c_vjp, 4, X, Y, G, G2)};
    kiln_list *rj[3] = {call(jvp, 4, X, Y, TX, TY),
                        call(jvp_c, 4, X, Y, TX, TY),
                        call(c_jvp, 4, X, Y, TX, TY)};
    for (int k = 0; k < 3; k++) {
        CHECK_MSG(rv[k] && rj[k], "variant %d: %s", k, kiln_errmsg());
    }
    for (int k = 1; k < 3; k++) {
        for (size_t i = 0; rv[0] && rv[k] && i < 4; i++) {
            check_same(OUT(rv[k], i), OUT(rv[0], i), 1e-12);
        }
        for (size_t i = 0; rj[0] && rj[k] && i < 4; i++) {
            check_same(OUT(rj[k], i), OUT(rj[0], i), 1e-12);
        }
    }
    for (int k = 0; k < 3; k++) {
        kiln_list_free(rv[k]);
        kiln_list_free(rj[k]);
    }
    kiln_fn_release(c_vjp);
    kiln_fn_release(c_jvp);
    kiln_fn_release(vjp_c);
    kiln_fn_release(jvp_c);
    kiln_fn_release(vjp);
    kiln_fn_release(jvp);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/* A training step with its weights as captured state: loss(w, X, y) =
 * sum((X w - y)^2) / n; w -= lr * grad. */
typedef struct sgd {
    kiln_list *state; /* [w] */
    kiln_fn *vag;     /* value_and_grad(loss) */
} sgd;

static int b_lsq(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_array *r = kiln_subtract(kiln_matmul(x[1], x[0]), x[2]);
    y[0] = kiln_divide(kiln_sum(kiln_multiply(r, r), NULL, 0, false),
                       kiln_weak_f64((double)kiln_array_dim(x[1], 0)));
    return 1;
}
static wrap W_lsq = {b_lsq};

static kiln_status sgd_body(void *ctx, const kiln_list *args,
                            kiln_list *res)
{
    sgd *t = ctx;
    kiln_list *a = kiln_list_new();
    kiln_list_push(a, kiln_list_get(t->state, 0));
    kiln_list_push(a, kiln_list_get(args, 0));
    kiln_list_push(a, kiln_list_get(args, 1));
    kiln_list *r = kiln_fn_call(t->vag, a);
    kiln_list_free(a);
    if (!r) {
        return kiln_errcode();
    }
    kiln_scope_begin();
    kiln_array *w2 = kiln_subtract(kiln_list_get(t->state, 0),
                                   kiln_multiply(OUT(r, 1),
                                                 kiln_weak_f64(0.3)));
    kiln_status s = w2 ? kiln_list_set(t->state, 0, w2) : kiln_errcode();
    if (s == KILN_OK) {
        s = kiln_list_push(res, OUT(r, 0));
    }
    kiln_scope_end(NULL);
    kiln_list_free(r);
    return s;
}

TEST(grad_training_step_with_captured_state)
{
    kiln_scope_begin();
    enum { N = 32, K = 3 };
    double xv[N * K], wt[K] = {1.5, -2, 0.5}, yv[N];
    fill(xv, N * K, 90);
    for (int i = 0; i < N; i++) {
        yv[i] = 0;
        for (int k = 0; k < K; k++) {
            yv[i] += xv[i * K + k] * wt[k];
        }
    }
    int64_t sx[2] = {N, K}, sw[1] = {K}, sy[1] = {N};
    kiln_array *X = mk(xv, sx, 2, F32), *Y = mk(yv, sy, 1, F32);
    kiln_fn *loss = mkfn(&W_lsq, "lsq");
    kiln_fn *vag = kiln_value_and_grad(loss, NULL, 0);
    kiln_list *sc = kiln_list_new(), *se = kiln_list_new();
    kiln_list_push(sc, kiln_zeros(sw, 1, F32));
    kiln_list_push(se, kiln_zeros(sw, 1, F32));
    sgd tc = {sc, vag}, te = {se, vag};
    kiln_fn *fc = kiln_fn_new(sgd_body, &tc, NULL, "sgd");
    kiln_fn *fe = kiln_fn_new(sgd_body, &te, NULL, "sgd eager");
    kiln_compile_opts o = {0};
    o.inputs = sc;
    o.outputs = sc;
    kiln_fn *cf = kiln_compile(fc, &o);
    double first = -1, last = -1;
    for (int step = 0; step < 30; step++) {
        kiln_list *rc = call(cf, 2, X, Y), *re = call(fe, 2, X, Y);
        double lc = -1, le = -2;
        CHECK_MSG(rc && re, "step %d: %s", step, kiln_errmsg());
        if (!rc || !re) {
            kiln_list_free(rc);
            kiln_list_free(re);
            break;
        }
        CHECK(kiln_array_item_f64(OUT(rc, 0), &lc) == KILN_OK);
        CHECK(kiln_array_item_f64(OUT(re, 0), &le) == KILN_OK);
        CHECK_MSG(fabs(lc - le) <= 1e-5 * fabs(le) + 1e-7,
                  "step %d: loss %.9g vs eager %.9g", step, lc, le);
        check_same(kiln_list_get(sc, 0), kiln_list_get(se, 0), 1e-5);
        first = step == 0 ? lc : first;
        last = lc;
        kiln_list_free(rc);
        kiln_list_free(re);
    }
    CHECK_MSG(last < 0.01 * first, "loss %.6g -> %.6g", first, last);
    kiln_compile_stats st;
    CHECK(kiln_compile_stats_get(cf, &st) == KILN_OK && st.traces == 1);
    kiln_fn_release(cf);
    kiln_fn_release(fc);
    kiln_fn_release(fe);
    kiln_fn_release(vag);
    kiln_fn_release(loss);
    kiln_list_free(sc);
    kiln_list_free(se);
    kiln_scope_end(NULL);
}

/* sum(vmap(sin)(x)) */
static kiln_fn *vmapped_sin;

static int b_sum_vsin(kiln_array *const *x, int nx, kiln_array **y)
{
    (void)nx;
    kiln_list *a = kiln_list_new();
    kiln_list_push(a, x[0]);
    kiln_list *r = kiln_fn_call(vmapped_sin, a);
    kiln_list_free(a);
    if (!r) {
        return -1;
    }
    y[0] = kiln_sum(OUT(r, 0), NULL, 0, false);
    kiln_list_free(r);
    return 1;
}
static wrap W_sum_vsin = {b_sum_vsin};

TEST(nested_transforms)
{
    kiln_scope_begin();
    enum { B1 = 2, B2 = 3, N = 4 };
    double xv[B1 * B2 * N], yv[N * B1];
    fill(xv, B1 * B2 * N, 100);
    fill(yv, N * B1, 101);
    int64_t sx[3] = {B1, B2, N}, sy[2] = {N, B1};
    kiln_array *X = mk(xv, sx, 3, F64), *Y = mk(yv, sy, 2, F64);

    /* vmap(vmap(axpy)): the outer maps x's axis 0 and y's axis 1, the
     * inner x's (remaining) axis 0 with y shared */
    kiln_fn *f = mkfn(&W_axpy, "axpy");
    int inner_ax[2] = {0, -1}, outer_ax[2] = {0, 1};
    kiln_fn *vi = kiln_vmap(f, inner_ax, 2, NULL, 0);
    kiln_fn *vo = kiln_vmap(vi, outer_ax, 2, NULL, 0);
    kiln_list *r = call(vo, 2, X, Y);
    CHECK_MSG(r, "vmap(vmap): %s", kiln_errmsg());
    if (r) {
        double ref[B1 * B2 * N];
        for (int a = 0; a < B1; a++) {
            for (int b = 0; b < B2; b++) {
                for (int i = 0; i < N; i++) {
                    int k = (a * B2 + b) * N + i;
                    ref[k] = xv[k] * yv[i * B1 + a] + 1;
                }
            }
        }
        CHECK(has_shape(OUT(r, 0), sx, 3));
        CHECK_VALUES(OUT(r, 0), ref, B1 * B2 * N, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(vo);
    kiln_fn_release(vi);
    kiln_fn_release(f);

    /* grad through a vmapped function: d/dx sum(vmap(sin)(x)) = cos x */
    kiln_fn *fs = mkfn(&W_sin, "sin");
    vmapped_sin = kiln_vmap(fs, NULL, 0, NULL, 0);
    kiln_fn *h = mkfn(&W_sum_vsin, "sum_vsin");
    kiln_fn *g = kiln_grad(h, NULL, 0);
    r = call(g, 1, X);
    CHECK_MSG(r, "grad(vmap): %s", kiln_errmsg());
    if (r) {
        double ref[B1 * B2 * N];
        for (int i = 0; i < B1 * B2 * N; i++) {
            ref[i] = cos(xv[i]);
        }
        CHECK_VALUES(OUT(r, 0), ref, B1 * B2 * N, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(g);
    kiln_fn_release(h);
    kiln_fn_release(vmapped_sin);
    vmapped_sin = NULL;
    kiln_fn_release(fs);

    /* jvp(grad(f)): a Hessian-vector product, 6 x t for sum(x^3) */
    f = mkfn(&W_sumcube, "sumcube");
    g = kiln_grad(f, NULL, 0);
    kiln_fn *hvp = kiln_jvp(g, 1);
    double t[N];
    fill(t, N, 102);
    int64_t sn[1] = {N};
    r = call(hvp, 2, mk(xv, sn, 1, F64), mk(t, sn, 1, F64));
    CHECK_MSG(r, "jvp(grad): %s", kiln_errmsg());
    if (r) {
        double ref[N], g1[N];
        for (int i = 0; i < N; i++) {
            g1[i] = 3 * xv[i] * xv[i];
            ref[i] = 6 * xv[i] * t[i];
        }
        CHECK_VALUES(OUT(r, 0), g1, N, 1e-12);
        CHECK_VALUES(OUT(r, 1), ref, N, 1e-12);
    }
    kiln_list_free(r);
    kiln_fn_release(hvp);
    kiln_fn_release(g);
    kiln_fn_release(f);
    kiln_scope_end(NULL);
}

/*
 * test_autodiff_struct.c - the transform rules (vjp, jvp, vmap) of the
 * non-elementwise primitives, called directly (not through the
 * transforms), against independent expectations:
 *
 * - vjp: central finite differences in float64 of <g, prim(x)> with
 *   respect to every element of every float input;
 * - jvp: central differences of prim(x + eps t) along a random t;
 * - <vjp(g), t> == <g, jvp(t)>;
 * - vmap: the rule on stacked inputs (batch axis first, last, or absent)
 *   against a loop of single applications.
 *
 * Each case builds the op with its public function on float64 inputs and
 * reads the primitive, params and inputs off the result's node, so the
 * rules see exactly what the transforms will give them. A final test
 * checks that every non-elementwise primitive with a vjp was exercised.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/array.h"
#include "../../src/prim/prim.h"
#include "../../src/prim/random.h"
#include "harness.h"
#include "kiln.h"

static uint64_t seed_ = 0x243f6a8885a308d3ull;
static const kiln_prim *seen_[256];
static int nseen_;

/* uniform in [-1, 1) */
static double rnd(void)
{
    seed_ = seed_ * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed_ >> 11) * 0x1p-52 - 1.0;
}

/* A random float64 array (owned by the current scope). */
static kiln_array *rand_f64(const int64_t *shape, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        n *= shape[i];
    }
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        v[i] = rnd() * 2.0;
    }
    kiln_array *a = kiln_array_from_data(v, shape, nd, KILN_DTYPE_FLOAT64);
    free(v);
    return a;
}

/* a's values as doubles (malloc'd). */
static double *values(kiln_array *a)
{
    kiln_array *d = kiln_astype(a, KILN_DTYPE_FLOAT64);
    int64_t n = kiln_array_size(d);
    double *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    if (kiln_array_read(d, v, sizeof *v * (size_t)n) != KILN_OK) {
        memset(v, 0, sizeof *v * (size_t)n);
        CHECK_MSG(0, "read failed: %s", kiln_errmsg());
    }
    return v;
}

/* <a, b> (a NULL a is zero). */
static double dot(kiln_array *a, kiln_array *b)
{
    if (!a || !b) {
        return 0.0;
    }
    double *va = values(a), *vb = values(b), s = 0.0;
    for (int64_t i = 0; i < kiln_array_size(a); i++) {
        s += va[i] * vb[i];
    }
    free(va);
    free(vb);
    return s;
}

/* A fresh contiguous copy of a with its own data (float inputs become
 * float64 leaves). */
static kiln_array *leaf(kiln_array *a)
{
    kiln_dtype dt = kiln_array_dtype(a);
    if (!kiln_dtype_is_float(dt)) {
        kiln_array_eval(a);
        return a;
    }
    double *v = values(a);
    kiln_array *r = kiln_array_from_data(v, kiln_array_shape(a),
                                         kiln_array_ndim(a),
                                         KILN_DTYPE_FLOAT64);
    free(v);
    return r;
}

static kiln_array *apply(const kiln_prim *p, const void *params,
                         kiln_array *const *in, int nin)
{
    return kiln__ret(kiln__node_make1(p, params, in, nin, "test"));
}

/* x + s * d (d may be NULL: x). */
static kiln_array *axpy(kiln_array *x, double s, kiln_array *d)
{
    if (!d) {
        return x;
    }
    return leaf(kiln_add(x, kiln_multiply(d, kiln_scalar_f64(
                                                 s, KILN_DTYPE_FLOAT64))));
}

/* a - b, 0 where they are equal (so infinities an exclusive scan starts
 * with do not make NaN). */
static kiln_array *diff(kiln_array *a, kiln_array *b)
{
    kiln_array *zero = kiln_scalar_f64(0.0, KILN_DTYPE_FLOAT64);
    return kiln_where(kiln_equal(a, b), zero, kiln_subtract(a, b));
}

typedef struct prim_case {
    const kiln_prim *p;
    void *params;
    int nin;
    kiln_array *in[8];
    bool fl[8]; /* float input: perturbed, differentiated */
} prim_case;

/* x with element k moved by h. */
static kiln_array *bump(kiln_array *x, int64_t k, double h)
{
    double *v = values(x);
    v[k] += h;
    kiln_array *r = kiln_array_from_data(v, kiln_array_shape(x),
                                         kiln_array_ndim(x),
                                         KILN_DTYPE_FLOAT64);
    free(v);
    return r;
}

static double fd_tol(double ref)
{
    return 1e-6 * (1.0 + fabs(ref));
}

/* vjp and jvp of one application against central differences, and
 * against each other. */
static void check_derivatives(const prim_case *c, const char *label)
{
    const double h = 1e-6;
    kiln_array *y = apply(c->p, c->params, c->in, c->nin);
    CHECK_MSG(y != NULL, "%s: apply failed: %s", label, kiln_errmsg());
    if (!y) {
        return;
    }
    kiln_array *g = rand_f64(kiln_array_shape(y), kiln_array_ndim(y));
    bool out_float = kiln_dtype_is_float(kiln_array_dtype(y));
    kiln_array *cot[8] = {NULL}, *tan[8] = {NULL}, *tout = NULL;
    bool need[8];
    for (int i = 0; i < c->nin; i++) {
        need[i] = true;
        tan[i] = c->fl[i] ? rand_f64(kiln_array_shape(c->in[i]),
                                     kiln_array_ndim(c->in[i]))
                          : NULL;
    }
    kiln_scope_begin();
    kiln_status st = c->p->vjp(c->p, c->params, c->in, c->nin, &y, 1, &g,
                               need, cot);
    for (int i = 0; i < c->nin; i++) {
        kiln_scope_keep(cot[i]);
    }
    kiln_scope_end(NULL);
    CHECK_MSG(st == KILN_OK, "%s: vjp failed: %s", label, kiln_errmsg());
    if (c->p->jvp) {
        kiln_scope_begin();
        st = c->p->jvp(c->p, c->params, c->in, c->nin, &y, 1, tan, &tout);
        kiln_scope_end(tout);
        CHECK_MSG(st == KILN_OK, "%s: jvp failed: %s", label,
                  kiln_errmsg());
    }
    double gt_vjp = 0.0;
    for (int i = 0; i < c->nin; i++) {
        if (!c->fl[i]) {
            CHECK_MSG(cot[i] == NULL, "%s: index input %d got a "
                      "cotangent", label, i);
            continue;
        }
        if (cot[i]) {
            CHECK_MSG(kiln_array_ndim(cot[i]) == kiln_array_ndim(c->in[i]) &&
                          kiln_array_size(cot[i]) ==
                              kiln_array_size(c->in[i]) &&
                          kiln_array_dtype(cot[i]) == KILN_DTYPE_FLOAT64,
                      "%s: cotangent %d has the wrong shape or dtype", label,
                      i);
        }
        double *cv = cot[i] ? values(cot[i]) : NULL;
        int64_t n = kiln_array_size(c->in[i]);
        for (int64_t k = 0; k < n; k++) {
            kiln_array *a[8], *b[8];
            memcpy(a, c->in, sizeof a);
            memcpy(b, c->in, sizeof b);
            a[i] = bump(c->in[i], k, h);
            b[i] = bump(c->in[i], k, -h);
            double fd = out_float
                            ? dot(g, diff(apply(c->p, c->params, a, c->nin),
                                          apply(c->p, c->params, b,
                                                c->nin))) /
                                  (2 * h)
                            : 0.0;
            double got = cv ? cv[k] : 0.0;
            CHECK_MSG(fabs(got - fd) <= fd_tol(fd),
                      "%s: vjp of input %d at %lld: %.10g, differences "
                      "say %.10g", label, i, (long long)k, got, fd);
        }
        free(cv);
        gt_vjp += dot(cot[i], tan[i]);
    }
    if (!c->p->jvp) {
        return;
    }
    /* jvp against the directional difference */
    kiln_array *a[8], *b[8];
    for (int i = 0; i < c->nin; i++) {
        a[i] = axpy(c->in[i], h, tan[i]);
        b[i] = axpy(c->in[i], -h, tan[i]);
    }
    if (!out_float) {
        CHECK_MSG(tout == NULL, "%s: an index output got a tangent", label);
        return;
    }
    kiln_array *d = kiln_divide(
        diff(apply(c->p, c->params, a, c->nin),
             apply(c->p, c->params, b, c->nin)),
        kiln_scalar_f64(2 * h, KILN_DTYPE_FLOAT64));
    double *dv = values(d), *tv = tout ? values(tout) : NULL;
    for (int64_t k = 0; k < kiln_array_size(y); k++) {
        double got = tv ? tv[k] : 0.0;
        CHECK_MSG(fabs(got - dv[k]) <= fd_tol(dv[k]),
                  "%s: jvp at %lld: %.10g, differences say %.10g", label,
                  (long long)k, got, dv[k]);
    }
    free(dv);
    free(tv);
    double g_jvp = dot(g, tout);
    CHECK_MSG(fabs(gt_vjp - g_jvp) <= 1e-9 * (1.0 + fabs(g_jvp)),
              "%s: <vjp(g), t> = %.12g but <g, jvp(t)> = %.12g", label,
              gt_vjp, g_jvp);
}

/* vmap with input i batched at axis where[i] (-1: unbatched), batch of 3,
 * against single applications. */
static void check_vmap_with(const prim_case *c, const int *where,
                            const char *label)
{
    enum { B = 3 };
    kiln_array *items[8][B], *bin[8], *out[KILN_MAX_OUTPUTS] = {NULL};
    int bdim[8], obd[KILN_MAX_OUTPUTS] = {0}, nout = 0;
    for (int i = 0; i < c->nin; i++) {
        bdim[i] = where[i];
        bin[i] = c->in[i];
        if (where[i] < 0) {
            continue;
        }
        for (int b = 0; b < B; b++) {
            items[i][b] = c->fl[i]
                              ? axpy(c->in[i], 0.5 * b,
                                     rand_f64(kiln_array_shape(c->in[i]),
                                              kiln_array_ndim(c->in[i])))
                              : c->in[i];
        }
        int ax = where[i] > kiln_array_ndim(c->in[i])
                     ? kiln_array_ndim(c->in[i])
                     : where[i];
        bdim[i] = ax;
        bin[i] = kiln_stack(items[i], B, ax);
    }
    kiln_scope_begin();
    kiln_status st = c->p->vmap(c->p, c->params, bin, bdim, c->nin, out, obd,
                                &nout);
    kiln_scope_end(out[0]);
    CHECK_MSG(st == KILN_OK && nout == 1 && out[0],
              "%s: vmap failed: %s", label, kiln_errmsg());
    if (st != KILN_OK || !out[0]) {
        return;
    }
    kiln_array *o = obd[0] >= 0 ? kiln_moveaxis(out[0], obd[0], 0) : NULL;
    for (int b = 0; b < B; b++) {
        kiln_array *one[8];
        for (int i = 0; i < c->nin; i++) {
            one[i] = where[i] < 0 ? c->in[i] : items[i][b];
        }
        kiln_array *want = apply(c->p, c->params, one, c->nin);
        kiln_array *got = out[0];
        if (o) {
            int64_t start[KILN_MAX_NDIM] = {b}, stop[KILN_MAX_NDIM] = {b + 1};
            for (int k = 1; k < kiln_array_ndim(o); k++) {
                start[k] = 0;
                stop[k] = kiln_array_shape(o)[k];
            }
            got = kiln_squeeze(kiln_slice(o, start, stop, NULL), (int[]){0},
                               1);
        }
        CHECK_MSG(got && want &&
                      kiln_array_ndim(got) == kiln_array_ndim(want) &&
                      kiln_array_size(got) == kiln_array_size(want),
                  "%s: vmap item %d has the wrong shape", label, b);
        if (!got || !want || kiln_array_size(got) != kiln_array_size(want)) {
            return;
        }
        for (int k = 0; k < kiln_array_ndim(got); k++) {
            CHECK_MSG(kiln_array_shape(got)[k] == kiln_array_shape(want)[k],
                      "%s: vmap item %d shape differs at axis %d", label, b,
                      k);
        }
        double *gv = values(got), *wv = values(want);
        for (int64_t k = 0; k < kiln_array_size(got); k++) {
            CHECK_MSG(gv[k] == wv[k] ||
                          fabs(gv[k] - wv[k]) <= 1e-12 * (1 + fabs(wv[k])),
                      "%s: vmap item %d at %lld: %.12g vs %.12g", label, b,
                      (long long)k, gv[k], wv[k]);
        }
        free(gv);
        free(wv);
    }
}

/* Every check on the application that made y. */
static void check_op(kiln_array *y, const char *label)
{
    CHECK_MSG(y && y->node, "%s: no node (%s)", label, kiln_errmsg());
    if (!y || !y->node) {
        return;
    }
    prim_case c;
    memset(&c, 0, sizeof c);
    c.p = y->node->prim;
    c.params = y->node->params;
    c.nin = y->node->nin;
    for (int i = 0; i < c.nin; i++) {
        c.in[i] = leaf(y->node->in[i]);
        c.fl[i] = kiln_dtype_is_float(kiln_array_dtype(c.in[i]));
    }
    if (nseen_ < 256) {
        seen_[nseen_++] = c.p;
    }
    if (c.p->vjp) {
        check_derivatives(&c, label);
    }
    if (!c.p->vmap) {
        return;
    }
    int w[8];
    for (int i = 0; i < c.nin; i++) {
        w[i] = 0;
    }
    check_vmap_with(&c, w, label); /* all batched in front */
    for (int i = 0; i < c.nin; i++) {
        w[i] = i == 0 ? 99 : -1; /* first at its last axis, rest not */
    }
    check_vmap_with(&c, w, label);
    if (c.nin > 1) {
        for (int i = 0; i < c.nin; i++) {
            w[i] = i == 0 ? -1 : 1; /* first unbatched, rest at axis 1 */
        }
        check_vmap_with(&c, w, label);
    }
}

#define S(...) ((int64_t[]){__VA_ARGS__})
#define A(...) ((int[]){__VA_ARGS__})

TEST(autodiff_struct_reductions)
{
    kiln_scope_begin();
    kiln_array *x = rand_f64(S(2, 3, 4), 3);
    kiln_array *z = rand_f64(S(5), 1);
    check_op(kiln_sum(x, A(1), 1, false), "sum axis 1");
    check_op(kiln_sum(x, A(0, 2), 2, true), "sum keepdims");
    check_op(kiln_sum(z, NULL, 0, false), "sum all");
    check_op(kiln_prod(x, A(-1), 1, false), "prod last");
    check_op(kiln_prod(x, A(0, 2), 2, true), "prod two axes");
    /* a zero in the group: the product of the others is exact */
    double zd[6] = {1.5, 0.0, -2.0, 0.7, 0.3, 1.1};
    kiln_array *zx = kiln_array_from_data(zd, S(2, 3), 2, KILN_DTYPE_FLOAT64);
    check_op(kiln_prod(zx, A(1), 1, false), "prod with zero");
    check_op(kiln_max(x, A(1), 1, false), "max axis 1");
    check_op(kiln_max(x, NULL, 0, true), "max all keepdims");
    check_op(kiln_min(x, A(0, 2), 2, false), "min two axes");
    check_op(kiln_all(x, A(1), 1, false), "all");
    check_op(kiln_any(x, A(1), 1, true), "any");
    check_op(kiln_argmax(x, 2, false, false), "argmax");
    check_op(kiln_argmin(x, 0, true, true), "argmin flat");
    /* the count a mean divides by: mean = divide(sum, number_of_elements)
     * for float64 (no cast around it) */
    kiln_array *m = kiln_mean(x, A(0, 2), 2, false);
    CHECK_MSG(m && m->node && m->node->nin == 2 &&
                  m->node->in[1]->node &&
                  m->node->in[1]->node->prim ==
                      &kiln__prim_number_of_elements,
              "mean divides by a number_of_elements node");
    if (m && m->node && m->node->nin == 2) {
        check_op(m->node->in[1], "number_of_elements");
    }
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_max_ties)
{
    /* ties share the cotangent evenly (as MLX) */
    kiln_scope_begin();
    double d[4] = {1.0, 3.0, 3.0, 2.0};
    kiln_array *x = kiln_array_from_data(d, S(4), 1, KILN_DTYPE_FLOAT64);
    kiln_array *y = kiln_max(x, NULL, 0, false);
    kiln_array *g = kiln_scalar_f64(1.0, KILN_DTYPE_FLOAT64), *cot = NULL;
    bool need = true;
    CHECK(y->node->prim->vjp(y->node->prim, y->node->params, &x, 1, &y, 1,
                             &g, &need, &cot) == KILN_OK);
    double *v = values(cot);
    CHECK_NEAR(v[0], 0.0, 0);
    CHECK_NEAR(v[1], 0.5, 0);
    CHECK_NEAR(v[2], 0.5, 0);
    CHECK_NEAR(v[3], 0.0, 0);
    free(v);
    /* integer input: a gradient too, as in MLX (the transform casts it
     * to the input's dtype) */
    kiln_array *xi = kiln_astype(x, KILN_DTYPE_INT32);
    kiln_array *yi = kiln_max(xi, NULL, 0, false);
    kiln_array *gi = kiln_scalar_f64(2.0, KILN_DTYPE_INT32);
    cot = NULL;
    CHECK(yi->node->prim->vjp(yi->node->prim, yi->node->params, &xi, 1, &yi,
                              1, &gi, &need, &cot) == KILN_OK);
    v = cot ? values(cot) : NULL;
    CHECK(v != NULL);
    if (v) {
        CHECK_NEAR(v[0], 0.0, 0);
        CHECK_NEAR(v[1], 1.0, 0);
        CHECK_NEAR(v[2], 1.0, 0);
        CHECK_NEAR(v[3], 0.0, 0);
    }
    free(v);
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_scans)
{
    kiln_scope_begin();
    kiln_array *x = rand_f64(S(3, 5), 2);
    for (int rev = 0; rev < 2; rev++) {
        for (int inc = 0; inc < 2; inc++) {
            char lab[64];
            snprintf(lab, sizeof lab, "cumsum r%d i%d", rev, inc);
            check_op(kiln_cumsum(x, 1, false, rev, inc), lab);
            snprintf(lab, sizeof lab, "cumprod r%d i%d", rev, inc);
            check_op(kiln_cumprod(x, 0, false, rev, inc), lab);
            snprintf(lab, sizeof lab, "cummax r%d i%d", rev, inc);
            check_op(kiln_cummax(x, 1, false, rev, inc), lab);
            snprintf(lab, sizeof lab, "cummin r%d i%d", rev, inc);
            check_op(kiln_cummin(x, 0, false, rev, inc), lab);
        }
    }
    check_op(kiln_cumsum(x, 0, true, false, true), "cumsum flat");
    check_op(kiln_cummax(x, 0, true, true, true), "cummax flat");
    double zd[8] = {1.5, 0.0, -2.0, 0.7, 0.0, 1.1, 0.9, -1.3};
    kiln_array *zx = kiln_array_from_data(zd, S(8), 1, KILN_DTYPE_FLOAT64);
    check_op(kiln_cumprod(zx, 0, false, false, true), "cumprod zeros");
    check_op(kiln_cumprod(zx, 0, false, true, false), "cumprod zeros rx");
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_movement)
{
    kiln_scope_begin();
    kiln_array *x = rand_f64(S(2, 3, 4), 3);
    check_op(kiln_reshape(x, S(4, -1), 2), "reshape");
    check_op(kiln_reshape(kiln_transpose(x, NULL, 0), S(6, 4), 2),
             "reshape strided");
    check_op(kiln_transpose(x, A(2, 0, 1), 3), "transpose");
    check_op(kiln_expand_dims(x, A(0, 3), 2), "expand_dims");
    check_op(kiln_squeeze(rand_f64(S(2, 1, 3, 1), 4), A(1, 3), 2),
             "squeeze");
    check_op(kiln_slice(x, S(0, 2, 1), S(2, KILN_SLICE_BEGIN, 4),
                        S(1, -1, 2)),
             "slice negative step");
    check_op(kiln_slice(x, S(1, 0, -1), S(2, 3, KILN_SLICE_BEGIN),
                        S(1, 2, -3)),
             "slice strided");
    check_op(kiln_broadcast_to(rand_f64(S(3, 1), 2), S(2, 3, 4), 3),
             "broadcast_to");
    check_op(kiln_slice_update(x, rand_f64(S(2, 2, 2), 3), S(0, 0, 3),
                               S(2, 3, KILN_SLICE_BEGIN), S(1, 2, -2)),
             "slice_update");
    kiln_array *parts[3] = {x, rand_f64(S(2, 1, 4), 3),
                            rand_f64(S(2, 2, 4), 3)};
    check_op(kiln_concatenate(parts, 3, 1), "concatenate");
    check_op(kiln_pad(x, S(1, 0, 0, 2, 2, 1), 0.5), "pad");
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_index)
{
    kiln_scope_begin();
    kiln_array *x = rand_f64(S(3, 4), 2);
    int32_t id[5] = {2, -1, 0, 2, 7};
    kiln_array *idx = kiln_array_from_data(id, S(5), 1, KILN_DTYPE_INT32);
    check_op(kiln_take(x, idx, 1, false), "take axis 1");
    check_op(kiln_take(x, kiln_reshape(idx, S(5, 1), 2), 0, false),
             "take axis 0 2-d indices");
    check_op(kiln_take(x, idx, 0, true), "take flat");
    int32_t ta[6] = {0, 3, 1, 1, 2, 2};
    kiln_array *tix = kiln_array_from_data(ta, S(3, 2), 2, KILN_DTYPE_INT32);
    check_op(kiln_take_along_axis(x, tix, 1, false), "take_along_axis");
    check_op(kiln_take_along_axis(rand_f64(S(1, 4), 2), tix, 1, false),
             "take_along_axis broadcast x");
    check_op(kiln_take_along_axis(x, kiln_reshape(idx, S(5), 1), 0, true),
             "take_along_axis flat");
    check_op(kiln_sort(x, 1, false), "sort");
    check_op(kiln_sort(x, 0, true), "sort flat");
    check_op(kiln_argsort(x, 0, false), "argsort");
    check_op(kiln_topk(x, 2, 1, false), "topk");
    check_op(kiln_topk(x, 3, 0, true), "topk flat");
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_matmul)
{
    kiln_scope_begin();
    check_op(kiln_matmul(rand_f64(S(3, 4), 2), rand_f64(S(4, 2), 2)), "mm");
    check_op(kiln_matmul(rand_f64(S(2, 3, 4), 3), rand_f64(S(4, 2), 2)),
             "mm batch a");
    check_op(kiln_matmul(rand_f64(S(2, 1, 3, 4), 4),
                         rand_f64(S(3, 4, 2), 3)),
             "mm broadcast batch");
    check_op(kiln_matmul(rand_f64(S(4), 1), rand_f64(S(2, 4, 3), 3)),
             "mm 1-d a");
    check_op(kiln_matmul(rand_f64(S(2, 3, 4), 3), rand_f64(S(4), 1)),
             "mm 1-d b");
    check_op(kiln_matmul(rand_f64(S(4), 1), rand_f64(S(4), 1)), "mm dot");
    check_op(kiln_addmm(rand_f64(S(2), 1), rand_f64(S(3, 4), 2),
                        rand_f64(S(4, 2), 2), 0.5, 2.0),
             "addmm");
    check_op(kiln_addmm(rand_f64(S(3, 1), 2), rand_f64(S(2, 3, 4), 3),
                        rand_f64(S(4, 2), 2), -1.5, 0.0),
             "addmm beta 0");
    kiln_scope_end(NULL);
}

TEST(autodiff_struct_no_gradient)
{
    kiln_scope_begin();
    kiln_array *k = kiln_random_key(7);
    kiln_array *bits = kiln_random_uniform(NULL, NULL, S(3), 1,
                                           KILN_DTYPE_FLOAT32, k);
    CHECK_MSG(bits != NULL, "uniform: %s", kiln_errmsg());
    const kiln_prim *none[] = {&kiln__prim_random_bits, &kiln__prim_arange,
                               &kiln__prim_linspace, &kiln__prim_eye,
                               &kiln__prim_argsort, &kiln__prim_argmax};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        CHECK_MSG(none[i]->vjp && none[i]->jvp, "%s has no zero rules",
                  none[i]->name);
    }
    /* vmap of random_bits over a batch of keys: row b is key b's bits */
    kiln_random_bits_params bp;
    memset(&bp, 0, sizeof bp);
    bp.ndim = 2;
    bp.width = 4;
    bp.shape[0] = 2;
    bp.shape[1] = 3;
    kiln_array *keys = kiln_random_split(k, 3);
    kiln_array *out = NULL;
    int bd = 1, obd = -1, nout = 0;
    kiln_array *kt = kiln_transpose(keys, NULL, 0); /* batch at axis 1 */
    CHECK(kiln__prim_random_bits.vmap(&kiln__prim_random_bits, &bp, &kt,
                                      &bd, 1, &out, &obd, &nout) ==
          KILN_OK);
    CHECK(nout == 1 && obd == 0 && kiln_array_ndim(out) == 3);
    for (int b = 0; b < 3; b++) {
        kiln_array *kb = kiln_take(keys, kiln_scalar_i64(b, KILN_DTYPE_INT32),
                                   0, false);
        kiln_array *want = apply(&kiln__prim_random_bits, &bp, &kb, 1);
        kiln_array *got = kiln_take(out, kiln_scalar_i64(b, KILN_DTYPE_INT32),
                                    0, false);
        kiln_array *eq = kiln_array_equal(got, want, false);
        bool ok = false;
        kiln_array_read(eq, &ok, 1);
        CHECK_MSG(ok, "random_bits vmap row %d", b);
    }
    /* the zero rules give NULL cotangents and tangents */
    kiln_array *cot = (kiln_array *)1, *tan = (kiln_array *)1;
    bool need = true;
    CHECK(kiln__prim_random_bits.vjp(&kiln__prim_random_bits, &bp, &k, 1,
                                     &out, 1, &out, &need, &cot) == KILN_OK);
    CHECK(cot == NULL);
    CHECK(kiln__prim_argsort.jvp(&kiln__prim_argsort, &bp, &k, 1, &out, 1,
                                 &k, &tan) == KILN_OK);
    CHECK(tan == NULL);
    kiln_scope_end(NULL);
}

/* Every non-elementwise primitive with a vjp was checked above. */
TEST(autodiff_struct_zz_coverage)
{
    for (int i = 0; i < kiln__nprims; i++) {
        const kiln_prim *p = kiln__prims[i];
        if ((p->flags & KILN_PRIM_ELEMENTWISE) || !p->vjp || p->nin == 0 ||
            (p->flags & KILN_PRIM_RANDOM) || p == &kiln__prim_fused) {
            continue;
        }
        if (nseen_ == 0) {
            return; /* run alone: the case tests did not run */
        }
        bool found = false;
        for (int k = 0; k < nseen_ && !found; k++) {
            found = seen_[k] == p;
        }
        CHECK_MSG(found, "primitive %s has a vjp but no test", p->name);
    }
}

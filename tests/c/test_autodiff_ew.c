/*
 * test_autodiff_ew.c - the transform rules (vjp, jvp, vmap) of the
 * elementwise primitives (prim/unary.c, prim/binary.c), called directly.
 *
 * Every primitive of the family (kiln.h's unary and binary op lists,
 * round, where, astype; found in the registry by name) is checked at
 * random float64 points inside its domain (the table below), at shapes
 * (3,4), 0-d, and broadcasting (3,1) + (4):
 * - vjp(g) against central finite differences of <g, f(x)>, computed with
 *   the eager primitive (kiln__node_make1, then evaluated);
 * - jvp(t) against the finite-difference directional derivative;
 * - <vjp(g), t> == <g, jvp(t)>;
 * - ops with integer or bool results (and stop_gradient) give NULL.
 * Every primitive of the family is checked against a loop of single
 * applications stacked, with batch axes in several places and unbatched
 * inputs of lower rank. The rules are called inside a scope, as the
 * transforms call them. Every ELEMENTWISE primitive of the registry has
 * all three rules.
 */
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/error.h"
#include "harness.h"
#include "kiln.h"
#include "prim/autodiff.h"
#include "prim/prim.h"

#define MAXIN 3
#define MAXN 64

/* ------------------------------------------------------------------ */
/* domains                                                            */
/* ------------------------------------------------------------------ */

/* Where each input of an op is sampled (uniform in [lo, hi]); ops not
 * listed use [-2, 2]. */
typedef struct {
    const char *name;
    double lo[MAXIN], hi[MAXIN];
} domain;

static const domain domains[] = {
    {"sqrt", {0.5}, {2}},
    {"rsqrt", {0.5}, {2}},
    {"reciprocal", {0.5}, {2}},
    {"log", {0.5}, {2}},
    {"log2", {0.5}, {2}},
    {"log10", {0.5}, {2}},
    {"log1p", {-0.5}, {2}},
    {"arcsin", {-0.9}, {0.9}},
    {"arccos", {-0.9}, {0.9}},
    {"arctanh", {-0.9}, {0.9}},
    {"erfinv", {-0.9}, {0.9}},
    {"arccosh", {1.1}, {3}},
    {"tan", {-1.2}, {1.2}},
    {"abs", {0.2}, {2}},
    {"divide", {-2, 0.5}, {2, 2}},
    {"remainder", {2.2, 1.0}, {2.8, 1.05}},
    {"power", {0.5, -1.5}, {2, 1.5}},
    {"arctan2", {0.5, 0.5}, {2, 2}},
};

static void get_domain(const char *name, int i, double *lo, double *hi)
{
    *lo = -2;
    *hi = 2;
    for (size_t k = 0; k < sizeof(domains) / sizeof(domains[0]); k++) {
        if (strcmp(domains[k].name, name) == 0) {
            *lo = domains[k].lo[i];
            *hi = domains[k].hi[i];
        }
    }
}

static uint64_t rng_state = 12345;

static double urand(double lo, double hi)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(rng_state >> 11) / 9007199254740992.0;
    return lo + (hi - lo) * u;
}

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    int ndim;
    int64_t shape[2];
} shp;

static int64_t shp_size(shp s)
{
    int64_t n = 1;
    for (int i = 0; i < s.ndim; i++) {
        n *= s.shape[i];
    }
    return n;
}

static kiln_array *f64(const double *v, shp s)
{
    return kiln_array_from_data(v, s.shape, s.ndim, KILN_DTYPE_FLOAT64);
}

/* Reads any array as float64 (n values); false on failure. */
static bool read_f64(kiln_array *a, double *dst, int64_t n)
{
    kiln_scope_begin();
    kiln_array *d = kiln_astype(a, KILN_DTYPE_FLOAT64);
    bool ok = d && kiln_array_size(d) == n &&
              kiln_array_read(d, dst, (size_t)n * 8) == KILN_OK;
    kiln_scope_end(NULL);
    return ok;
}

/* The eager primitive applied to inputs of float64 values (the first of
 * three, where's condition, cast to bool). */
static bool apply(const kiln_prim *p, const void *params, double **x,
                  const shp *s, int nin, double *y, int64_t ny)
{
    kiln_array *in[MAXIN];
    kiln_scope_begin();
    for (int i = 0; i < nin; i++) {
        in[i] = f64(x[i], s[i]);
    }
    if (nin == 3) {
        in[0] = kiln_astype(in[0], KILN_DTYPE_BOOL);
    }
    kiln_array *out = kiln__ret(kiln__node_make1(p, params, in, nin,
                                                 p->name));
    bool ok = out && read_f64(out, y, ny);
    kiln_scope_end(NULL);
    return ok;
}

static bool is_where(const kiln_prim *p)
{
    return p->nin == 3;
}

/* Output shape of a broadcast of the inputs' shapes (test shapes only). */
static shp out_shape(const shp *s, int nin)
{
    shp o = {0, {1, 1}};
    for (int i = 0; i < nin; i++) {
        o.ndim = s[i].ndim > o.ndim ? s[i].ndim : o.ndim;
    }
    for (int d = 0; d < o.ndim; d++) {
        for (int i = 0; i < nin; i++) {
            int k = d - (o.ndim - s[i].ndim);
            if (k >= 0 && s[i].shape[k] != 1) {
                o.shape[d] = s[i].shape[k];
            }
        }
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* vjp / jvp against finite differences                              */
/* ------------------------------------------------------------------ */

/* One check of p at shapes s (nin inputs). */
static void check_rules(const kiln_prim *p, const void *params, const shp *s,
                        int nin)
{
    const double h = 1e-6;
    double xs[MAXIN][MAXN], ts[MAXIN][MAXN], g[MAXN], y[MAXN];
    double yp[MAXN], ym[MAXN];
    double *x[MAXIN] = {xs[0], xs[1], xs[2]};
    shp o = out_shape(s, nin);
    int64_t ny = shp_size(o);
    int first = is_where(p) ? 1 : 0;
    for (int i = 0; i < nin; i++) {
        double lo, hi;
        get_domain(p->name, i - first, &lo, &hi);
        for (int64_t k = 0; k < shp_size(s[i]); k++) {
            xs[i][k] = i < first ? (double)(urand(0, 1) < 0.5)
                                 : urand(lo, hi);
            ts[i][k] = urand(-1, 1);
        }
    }
    for (int64_t k = 0; k < ny; k++) {
        g[k] = urand(-1, 1);
    }
    CHECK_MSG(apply(p, params, x, s, nin, y, ny), "%s: eager failed: %s",
              p->name, kiln_errmsg());

    kiln_scope_begin();
    kiln_array *in[MAXIN], *tan[MAXIN], *cot[MAXIN] = {0};
    bool need[MAXIN];
    for (int i = 0; i < nin; i++) {
        in[i] = f64(x[i], s[i]);
        tan[i] = i < first ? NULL : f64(ts[i], s[i]);
        need[i] = true;
    }
    if (first) {
        in[0] = kiln_astype(in[0], KILN_DTYPE_BOOL);
    }
    kiln_array *out = kiln__ret(kiln__node_make1(p, params, in, nin,
                                                 p->name));
    kiln_array *gy = f64(g, o);
    kiln_array *jv = NULL;
    CHECK(out != NULL);
    kiln_status st = p->vjp(p, params, in, nin, &out, 1, &gy, need, cot);
    CHECK_MSG(st == KILN_OK, "%s vjp: %s", p->name, kiln_errmsg());
    st = p->jvp(p, params, in, nin, &out, 1, tan, &jv);
    CHECK_MSG(st == KILN_OK, "%s jvp: %s", p->name, kiln_errmsg());

    /* vjp vs finite differences of L(x) = <g, f(x)> */
    double vjp_dot_t = 0;
    for (int i = first; i < nin; i++) {
        int64_t n = shp_size(s[i]);
        double c[MAXN];
        CHECK_MSG(cot[i] != NULL, "%s: no cotangent for input %d", p->name,
                  i);
        if (!cot[i]) {
            continue;
        }
        CHECK(kiln_array_dtype(cot[i]) == KILN_DTYPE_FLOAT64);
        CHECK_MSG(kiln_array_ndim(cot[i]) == s[i].ndim &&
                      kiln_array_size(cot[i]) == n,
                  "%s: cotangent %d has the wrong shape", p->name, i);
        CHECK(read_f64(cot[i], c, n));
        for (int64_t k = 0; k < n; k++) {
            double save = x[i][k], lp = 0, lm = 0;
            x[i][k] = save + h;
            CHECK(apply(p, params, x, s, nin, yp, ny));
            x[i][k] = save - h;
            CHECK(apply(p, params, x, s, nin, ym, ny));
            x[i][k] = save;
            for (int64_t j = 0; j < ny; j++) {
                lp += g[j] * yp[j];
                lm += g[j] * ym[j];
            }
            double fd = (lp - lm) / (2 * h);
            CHECK_MSG(fabs(fd - c[k]) <= 1e-5 * (1 + fabs(fd)),
                      "%s vjp input %d [%lld] at %g: %.10g vs fd %.10g",
                      p->name, i, (long long)k, save, c[k], fd);
            vjp_dot_t += c[k] * ts[i][k];
        }
    }

    /* jvp vs the directional finite difference, and the dot test */
    double j[MAXN], xp[MAXIN][MAXN], xm[MAXIN][MAXN];
    double *xpp[MAXIN] = {xp[0], xp[1], xp[2]};
    double *xmp[MAXIN] = {xm[0], xm[1], xm[2]};
    CHECK_MSG(jv != NULL, "%s: no tangent", p->name);
    if (jv) {
        CHECK(kiln_array_dtype(jv) == KILN_DTYPE_FLOAT64);
        CHECK_MSG(kiln_array_ndim(jv) == o.ndim &&
                      kiln_array_size(jv) == ny,
                  "%s: tangent has the wrong shape", p->name);
        CHECK(read_f64(jv, j, ny));
        for (int i = 0; i < nin; i++) {
            for (int64_t k = 0; k < shp_size(s[i]); k++) {
                double d = i < first ? 0 : h * ts[i][k];
                xp[i][k] = x[i][k] + d;
                xm[i][k] = x[i][k] - d;
            }
        }
        CHECK(apply(p, params, xpp, s, nin, yp, ny));
        CHECK(apply(p, params, xmp, s, nin, ym, ny));
        double g_dot_jvp = 0;
        for (int64_t k = 0; k < ny; k++) {
            double fd = (yp[k] - ym[k]) / (2 * h);
            CHECK_MSG(fabs(fd - j[k]) <= 1e-5 * (1 + fabs(fd)),
                      "%s jvp [%lld]: %.10g vs fd %.10g", p->name,
                      (long long)k, j[k], fd);
            g_dot_jvp += g[k] * j[k];
        }
        CHECK_MSG(fabs(g_dot_jvp - vjp_dot_t) <=
                      1e-9 * (1 + fabs(g_dot_jvp)),
                  "%s: <vjp(g), t> %.15g != <g, jvp(t)> %.15g", p->name,
                  vjp_dot_t, g_dot_jvp);
    }
    kiln_scope_end(NULL);
}

/* A primitive whose derivative is zero: the rules succeed and give
 * NULL. */
static void check_null_rules(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin)
{
    kiln_scope_begin();
    kiln_array *out = kiln__ret(kiln__node_make1(p, params, in, nin,
                                                 p->name));
    CHECK_MSG(out != NULL, "%s: %s", p->name, kiln_errmsg());
    if (out) {
        kiln_array *g = kiln_ones_like(out);
        kiln_array *tan[MAXIN], *cot[MAXIN], *jv = g;
        bool need[MAXIN];
        for (int i = 0; i < nin; i++) {
            tan[i] = kiln_ones_like(in[i]);
            cot[i] = g; /* must be overwritten */
            need[i] = true;
        }
        CHECK(p->vjp(p, params, in, nin, &out, 1, &g, need, cot) ==
              KILN_OK);
        CHECK(p->jvp(p, params, in, nin, &out, 1, tan, &jv) == KILN_OK);
        for (int i = 0; i < nin; i++) {
            CHECK_MSG(cot[i] == NULL, "%s: cotangent %d not NULL", p->name,
                      i);
        }
        CHECK_MSG(jv == NULL, "%s: tangent not NULL", p->name);
    }
    kiln_scope_end(NULL);
}

/* The rules of p on integer inputs in_i (int32 values, where's condition
 * bool) against its rules on the same values as float64 (in_f): as in MLX,
 * integers carry gradients, computed by the op's own rule, so each
 * cotangent is the float one cast to int32 (truncated), and NULL exactly
 * where the float one is. The tangents are all ones. */
static void check_int_rules(const kiln_prim *p, kiln_array *const *in_i,
                            kiln_array *const *in_f, int nin)
{
    kiln_scope_begin();
    kiln_array *yi = kiln__ret(kiln__node_make1(p, NULL, in_i, nin,
                                                p->name));
    kiln_array *yf = kiln__ret(kiln__node_make1(p, NULL, in_f, nin,
                                                p->name));
    CHECK_MSG(yi && yf, "%s: %s", p->name, kiln_errmsg());
    if (yi && yf) {
        kiln_array *gi = kiln_ones_like(yi), *gf = kiln_ones_like(yf);
        kiln_array *ci[MAXIN], *cf[MAXIN], *ti[MAXIN], *tf[MAXIN];
        kiln_array *ji = NULL, *jf = NULL;
        bool need[MAXIN];
        for (int i = 0; i < nin; i++) {
            need[i] = true;
            ti[i] = kiln_ones_like(in_i[i]);
            tf[i] = kiln_ones_like(in_f[i]);
        }
        CHECK(p->vjp(p, NULL, in_i, nin, &yi, 1, &gi, need, ci) == KILN_OK);
        CHECK(p->vjp(p, NULL, in_f, nin, &yf, 1, &gf, need, cf) == KILN_OK);
        CHECK(p->jvp(p, NULL, in_i, nin, &yi, 1, ti, &ji) == KILN_OK);
        CHECK(p->jvp(p, NULL, in_f, nin, &yf, 1, tf, &jf) == KILN_OK);
        for (int i = 0; i <= nin; i++) {
            kiln_array *a = i < nin ? ci[i] : ji, *b = i < nin ? cf[i] : jf;
            double va[6], vb[6];
            CHECK_MSG((a == NULL) == (b == NULL), "%s: rule %d NULL for "
                      "one dtype only", p->name, i);
            if (!a || !b) {
                continue;
            }
            kiln_array *bi = kiln_astype(b, kiln_array_dtype(a));
            CHECK(read_f64(a, va, 6) && read_f64(bi, vb, 6));
            for (int e = 0; e < 6; e++) {
                CHECK_MSG(va[e] == vb[e], "%s: rule %d element %d: %g on "
                          "integers, %g from floats", p->name, i, e, va[e],
                          vb[e]);
            }
        }
    }
    kiln_scope_end(NULL);
}

/* Inputs for an op of p's dtype rule: float64, int32 or bool. */
static kiln_dtype rule_input_dtype(const kiln_prim *p)
{
    switch (p->rule) {
    case KILN_RULE_INTEGER:
        return KILN_DTYPE_INT32;
    case KILN_RULE_BOOL:
        return KILN_DTYPE_BOOL;
    default:
        return KILN_DTYPE_FLOAT64;
    }
}

static bool has_float_result(const kiln_prim *p)
{
    return p->rule != KILN_RULE_TO_BOOL && p->rule != KILN_RULE_BOOL &&
           p->rule != KILN_RULE_INTEGER;
}

static const kiln_prim *find_prim(const char *name)
{
    for (int i = 0; i < kiln__nprims; i++) {
        if (strcmp(kiln__prims[i]->name, name) == 0) {
            return kiln__prims[i];
        }
    }
    return NULL;
}

/* The elementwise family (prim/unary.c, prim/binary.c): the public
 * lists of kiln.h and round, where, astype. */
static const char *const family[] = {
#define KILN_X_(name) #name,
    KILN_UNARY_OP_LIST(KILN_X_) KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
    "round", "where", "astype"};
#define NFAMILY ((int)(sizeof(family) / sizeof(family[0])))

/* Member k of the family (checked to be in the registry, elementwise,
 * with all three rules); NULL if not. */
static const kiln_prim *member(int k)
{
    const kiln_prim *p = find_prim(family[k]);
    CHECK_MSG(p != NULL, "%s not registered", family[k]);
    if (p) {
        CHECK_MSG((p->flags & KILN_PRIM_ELEMENTWISE) && p->vjp && p->jvp &&
                      p->vmap,
                  "%s: not elementwise or a rule missing", p->name);
    }
    return p && p->vjp && p->jvp && p->vmap ? p : NULL;
}

/* astype's params (a dtype), as unary.c lays them out. */
typedef struct {
    kiln_dtype dtype;
} astype_params;

/* Ops whose derivative MLX defines as zero although they return floats. */
static bool zero_derivative(const kiln_prim *p)
{
    static const char *const flat[] = {"sign", "floor", "ceil", "round",
                                       "floor_divide", "stop_gradient"};
    for (size_t k = 0; k < sizeof(flat) / sizeof(flat[0]); k++) {
        if (strcmp(p->name, flat[k]) == 0) {
            return true;
        }
    }
    return false;
}

TEST(autodiff_ew_vjp_jvp_fd)
{
    int nchecked = 0;
    for (int k = 0; k < NFAMILY; k++) {
        const kiln_prim *p = member(k);
        if (!p || p->params_size || !has_float_result(p) ||
            zero_derivative(p)) {
            continue;
        }
        for (int rep = 0; rep < 2; rep++) {
            if (p->nin == 1) {
                shp s[1] = {{2, {3, 4}}};
                if (rep == 1) {
                    s[0] = (shp){0, {1, 1}}; /* 0-d */
                }
                check_rules(p, NULL, s, 1);
            } else if (p->nin == 2) {
                shp s[2] = {{2, {3, 4}}, {2, {3, 4}}};
                if (rep == 1) {
                    s[0] = (shp){2, {3, 1}};
                    s[1] = (shp){1, {4, 1}};
                }
                check_rules(p, NULL, s, 2);
                if (rep == 1) {
                    shp r[2] = {{1, {4, 1}}, {2, {3, 1}}};
                    check_rules(p, NULL, r, 2);
                }
            } else if (p->nin == 3) {
                shp s[3] = {{2, {3, 4}}, {2, {3, 4}}, {2, {3, 4}}};
                if (rep == 1) {
                    s[0] = (shp){1, {4, 1}};
                    s[1] = (shp){2, {3, 1}};
                    s[2] = (shp){0, {1, 1}};
                }
                check_rules(p, NULL, s, 3);
            }
        }
        nchecked++;
    }
    /* 24 differentiable unary + 10 binary + where */
    CHECK_MSG(nchecked >= 35, "only %d primitives checked", nchecked);
}

TEST(autodiff_ew_registry_has_rules)
{
    for (int i = 0; i < kiln__nprims; i++) {
        const kiln_prim *p = kiln__prims[i];
        if (p->flags & KILN_PRIM_ELEMENTWISE) {
            CHECK_MSG(p->vjp && p->jvp && p->vmap, "%s: a rule missing",
                      p->name);
        }
    }
}

TEST(autodiff_ew_zero_and_integer)
{
    const int64_t sh[2] = {2, 3};
    const double v[6] = {0.5, -1.5, 2.0, 3.25, -0.75, 1.0};
    int nflat = 0, nint = 0;
    for (int k = 0; k < NFAMILY; k++) {
        const kiln_prim *p = member(k);
        if (!p || p->params_size) {
            continue;
        }
        kiln_scope_begin();
        kiln_dtype dt = rule_input_dtype(p);
        kiln_array *x = kiln_array_from_data(v, sh, 2, KILN_DTYPE_FLOAT64);
        kiln_array *xi = kiln_astype(kiln_abs(x), dt);
        kiln_array *in[3] = {xi, xi, xi};
        if (is_where(p)) {
            in[0] = kiln_astype(x, KILN_DTYPE_BOOL);
        }
        if (!has_float_result(p) || zero_derivative(p)) {
            check_null_rules(p, NULL, in, p->nin);
            nflat++;
        }
        /* integer inputs: the float rule's values, truncated */
        if (p->rule == KILN_RULE_SAME || p->rule == KILN_RULE_NUMERIC ||
            is_where(p)) {
            kiln_array *xn = kiln_astype(x, KILN_DTYPE_INT32);
            kiln_array *xf = kiln_astype(xn, KILN_DTYPE_FLOAT64);
            kiln_array *inn[3] = {in[0], xn, xn}, *inf[3] = {in[0], xf, xf};
            int f = is_where(p) ? 0 : 1;
            check_int_rules(p, inn + f, inf + f, p->nin);
            nint++;
        }
        kiln_scope_end(NULL);
    }
    CHECK_MSG(nflat >= 5 + 5 + 14 + 2, "only %d zero-derivative ops", nflat);
    CHECK_MSG(nint >= 10, "only %d ops on integers", nint);
}

TEST(autodiff_ew_maximum_minimum_ties)
{
    /* MLX: maximum sends ties to b, and so does minimum */
    const kiln_prim *pmax = find_prim("maximum");
    const kiln_prim *pmin = find_prim("minimum");
    const int64_t n[1] = {3};
    const double av[3] = {1, 2, 3}, bv[3] = {2, 2, 2};
    double c0[3], c1[3];
    CHECK(pmax && pmin);
    if (!pmax || !pmin) {
        return;
    }
    kiln_scope_begin();
    kiln_array *in[2] = {kiln_array_from_data(av, n, 1, KILN_DTYPE_FLOAT64),
                         kiln_array_from_data(bv, n, 1, KILN_DTYPE_FLOAT64)};
    kiln_array *g = kiln_ones(n, 1, KILN_DTYPE_FLOAT64);
    bool need[2] = {true, true};
    kiln_array *cot[2] = {0}, *out = kiln_maximum(in[0], in[1]);
    CHECK(pmax->vjp(pmax, NULL, in, 2, &out, 1, &g, need, cot) == KILN_OK);
    CHECK(read_f64(cot[0], c0, 3) && read_f64(cot[1], c1, 3));
    CHECK(c0[0] == 0 && c0[1] == 0 && c0[2] == 1);
    CHECK(c1[0] == 1 && c1[1] == 1 && c1[2] == 0);
    out = kiln_minimum(in[0], in[1]);
    CHECK(pmin->vjp(pmin, NULL, in, 2, &out, 1, &g, need, cot) == KILN_OK);
    CHECK(read_f64(cot[0], c0, 3) && read_f64(cot[1], c1, 3));
    CHECK(c0[0] == 1 && c0[1] == 0 && c0[2] == 0);
    CHECK(c1[0] == 0 && c1[1] == 1 && c1[2] == 1);
    /* only the needed input gets a cotangent; a NULL cotangent gives
     * none */
    need[0] = false;
    cot[0] = cot[1] = NULL;
    CHECK(pmax->vjp(pmax, NULL, in, 2, &out, 1, &g, need, cot) == KILN_OK);
    CHECK(cot[0] == NULL && cot[1] != NULL);
    kiln_array *none = NULL;
    need[0] = true;
    CHECK(pmax->vjp(pmax, NULL, in, 2, &out, 1, &none, need, cot) ==
          KILN_OK);
    CHECK(cot[0] == NULL && cot[1] == NULL);
    kiln_scope_end(NULL);
}

TEST(autodiff_ew_power_zero_base)
{
    /* d/db a^b at a = 0 is 0 where the output is 0 (MLX), not NaN */
    const kiln_prim *p = find_prim("power");
    const int64_t n[1] = {2};
    const double av[2] = {0, 2}, bv[2] = {2, 3};
    double c1[2];
    CHECK(p != NULL);
    if (!p) {
        return;
    }
    kiln_scope_begin();
    kiln_array *in[2] = {kiln_array_from_data(av, n, 1, KILN_DTYPE_FLOAT64),
                         kiln_array_from_data(bv, n, 1, KILN_DTYPE_FLOAT64)};
    kiln_array *g = kiln_ones(n, 1, KILN_DTYPE_FLOAT64);
    bool need[2] = {true, true};
    kiln_array *cot[2] = {0}, *out = kiln_power(in[0], in[1]);
    CHECK(p->vjp(p, NULL, in, 2, &out, 1, &g, need, cot) == KILN_OK);
    CHECK(read_f64(cot[1], c1, 2));
    CHECK(c1[0] == 0);
    CHECK_NEAR(c1[1], log(2.0) * 8, 1e-12);
    kiln_scope_end(NULL);
}

TEST(autodiff_ew_astype)
{
    const kiln_prim *p = find_prim("astype");
    const int64_t n[1] = {3};
    const double v[3] = {0.5, -1.25, 3};
    double c[3];
    CHECK(p != NULL && p->vjp && p->jvp && p->vmap);
    if (!p || !p->vjp || !p->jvp) {
        return;
    }
    CHECK(p->params_size == sizeof(astype_params));
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(v, n, 1, KILN_DTYPE_FLOAT64);
    bool need[1] = {true};
    astype_params ap;
    memset(&ap, 0, sizeof(ap));
    ap.dtype = KILN_DTYPE_FLOAT32;
    kiln_array *y = kiln_astype(x, KILN_DTYPE_FLOAT32);
    kiln_array *g = kiln_astype(x, KILN_DTYPE_FLOAT32), *cot = NULL;
    kiln_array *jv = NULL;
    CHECK(p->vjp(p, &ap, &x, 1, &y, 1, &g, need, &cot) == KILN_OK);
    CHECK(cot && kiln_array_dtype(cot) == KILN_DTYPE_FLOAT64);
    CHECK(read_f64(cot, c, 3) && c[0] == 0.5 && c[1] == -1.25 && c[2] == 3);
    CHECK(p->jvp(p, &ap, &x, 1, &y, 1, &x, &jv) == KILN_OK);
    CHECK(jv && kiln_array_dtype(jv) == KILN_DTYPE_FLOAT32);
    /* to or from an integer dtype, as MLX: the cotangent passes straight
     * through, cast to the input's dtype (truncated), the tangent cast to
     * the output's */
    ap.dtype = KILN_DTYPE_INT32;
    y = kiln_astype(x, KILN_DTYPE_INT32);
    g = kiln_astype(kiln_multiply(x, kiln_scalar_f64(2, KILN_DTYPE_FLOAT64)),
                    KILN_DTYPE_INT32);
    cot = NULL;
    jv = NULL;
    CHECK(p->vjp(p, &ap, &x, 1, &y, 1, &g, need, &cot) == KILN_OK);
    CHECK(cot && kiln_array_dtype(cot) == KILN_DTYPE_FLOAT64);
    CHECK(read_f64(cot, c, 3) && c[0] == 1 && c[1] == -2 && c[2] == 6);
    CHECK(p->jvp(p, &ap, &x, 1, &y, 1, &x, &jv) == KILN_OK);
    CHECK(jv && kiln_array_dtype(jv) == KILN_DTYPE_INT32);
    CHECK(read_f64(jv, c, 3) && c[0] == 0 && c[1] == -1 && c[2] == 3);
    ap.dtype = KILN_DTYPE_FLOAT64;
    kiln_array *xi = kiln_astype(x, KILN_DTYPE_INT32);
    y = kiln_astype(xi, KILN_DTYPE_FLOAT64);
    cot = NULL;
    CHECK(p->vjp(p, &ap, &xi, 1, &y, 1, &x, need, &cot) == KILN_OK);
    CHECK(cot && kiln_array_dtype(cot) == KILN_DTYPE_INT32);
    CHECK(read_f64(cot, c, 3) && c[0] == 0 && c[1] == -1 && c[2] == 3);
    kiln_scope_end(NULL);
}

TEST(autodiff_ew_unbroadcast)
{
    const int64_t gs[3] = {2, 3, 4}, l1[2] = {3, 1}, l2[1] = {1};
    double out[3];
    kiln_scope_begin();
    kiln_array *g = kiln_ones(gs, 3, KILN_DTYPE_FLOAT32);
    kiln_array *like1 = kiln_zeros(l1, 2, KILN_DTYPE_FLOAT32);
    kiln_array *like2 = kiln_zeros(l2, 1, KILN_DTYPE_FLOAT32);
    kiln_array *like0 = kiln_scalar_f64(0, KILN_DTYPE_FLOAT32);
    kiln_array *r = kiln__autodiff_unbroadcast(g, like1);
    CHECK(r && kiln_array_ndim(r) == 2 && kiln_array_dim(r, 0) == 3 &&
          kiln_array_dim(r, 1) == 1);
    CHECK(kiln_array_dtype(r) == KILN_DTYPE_FLOAT32);
    CHECK(read_f64(r, out, 3) && out[0] == 8 && out[2] == 8);
    r = kiln__autodiff_unbroadcast(g, like2);
    CHECK(r && kiln_array_ndim(r) == 1 && read_f64(r, out, 1) &&
          out[0] == 24);
    r = kiln__autodiff_unbroadcast(g, like0);
    CHECK(r && kiln_array_ndim(r) == 0 && read_f64(r, out, 1) &&
          out[0] == 24);
    CHECK(kiln__autodiff_unbroadcast(g, g) == g);
    CHECK(kiln__autodiff_unbroadcast(NULL, g) == NULL);
    CHECK(kiln__autodiff_broadcast(like1, gs, 3) != NULL);
    CHECK(kiln_array_ndim(kiln__autodiff_broadcast(like1, gs, 3)) == 3);
    CHECK(kiln__autodiff_broadcast(g, gs, 3) == g);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* vmap                                                               */
/* ------------------------------------------------------------------ */

#define B 3

/* in[i] with batch axis bdim[i] (-1: unbatched); the rule's result with
 * its batch axis moved to 0 against the stacked single applications. */
static void check_vmap(const kiln_prim *p, const void *params,
                       kiln_array *const *in, const int *bdim, int nin)
{
    kiln_scope_begin();
    kiln_array *out = NULL;
    int out_bdim = -2, nout = 0;
    bool batched = false;
    kiln_status st = p->vmap(p, params, in, bdim, nin, &out, &out_bdim,
                             &nout);
    CHECK_MSG(st == KILN_OK, "%s vmap: %s", p->name, kiln_errmsg());
    for (int i = 0; i < nin; i++) {
        batched = batched || bdim[i] >= 0;
    }
    CHECK(nout == 1);
    CHECK_MSG(out_bdim == (batched ? 0 : -1), "%s: out_bdim %d", p->name,
              out_bdim);
    kiln_array *ex[B];
    kiln_array *want = NULL;
    if (batched) {
        for (int b = 0; b < B; b++) {
            kiln_array *xi[MAXIN];
            kiln_array *idx = kiln_scalar_i64(b, KILN_DTYPE_INT32);
            for (int i = 0; i < nin; i++) {
                xi[i] = bdim[i] < 0 ? in[i]
                                    : kiln_take(in[i], idx, bdim[i], false);
            }
            ex[b] = kiln__ret(kiln__node_make1(p, params, xi, nin, p->name));
        }
        want = kiln_stack(ex, B, 0);
    } else {
        want = kiln__ret(kiln__node_make1(p, params, in, nin, p->name));
    }
    CHECK(want != NULL && out != NULL);
    if (want && out) {
        int nd = kiln_array_ndim(want);
        CHECK_MSG(kiln_array_ndim(out) == nd &&
                      kiln_array_dtype(out) == kiln_array_dtype(want),
                  "%s: vmap result ndim %d dtype %s", p->name,
                  kiln_array_ndim(out), kiln_dtype_name(kiln_array_dtype(out)));
        for (int d = 0; d < nd && d < kiln_array_ndim(out); d++) {
            CHECK_MSG(kiln_array_dim(out, d) == kiln_array_dim(want, d),
                      "%s: vmap dim %d: %lld vs %lld", p->name, d,
                      (long long)kiln_array_dim(out, d),
                      (long long)kiln_array_dim(want, d));
        }
        int64_t n = kiln_array_size(want);
        double a[MAXN * 4], w[MAXN * 4];
        CHECK(n <= MAXN * 4);
        if (n <= MAXN * 4 && kiln_array_size(out) == n) {
            CHECK(read_f64(out, a, n) && read_f64(want, w, n));
            for (int64_t k = 0; k < n; k++) {
                CHECK_NEAR(a[k], w[k], 0);
            }
        }
    }
    kiln_scope_end(NULL);
}

/* A random array of `dt` (values in (0.5, 2); for integers 0..3). */
static kiln_array *rand_arr(const int64_t *shape, int ndim, kiln_dtype dt)
{
    double v[MAXN];
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    for (int64_t k = 0; k < n; k++) {
        v[k] = dt == KILN_DTYPE_INT32 ? (double)(int)urand(0, 3.99)
               : dt == KILN_DTYPE_BOOL ? (double)(urand(0, 1) < 0.5)
                                       : urand(0.5, 2);
    }
    kiln_array *x = kiln_array_from_data(v, shape, ndim, KILN_DTYPE_FLOAT64);
    return kiln_astype(x, dt);
}

TEST(autodiff_ew_vmap)
{
    const int64_t s_2b[2] = {2, B}, s_b4[2] = {B, 4}, s_21[2] = {2, 1};
    const int64_t s_b21[3] = {B, 2, 1}, s_4b[2] = {4, B}, s_b[1] = {B};
    const int64_t s_21b[3] = {2, 1, B}, s_4[1] = {4};
    int nchecked = 0;
    for (int k = 0; k < NFAMILY; k++) {
        const kiln_prim *p = member(k);
        if (!p) {
            continue;
        }
        astype_params ap;
        memset(&ap, 0, sizeof(ap));
        ap.dtype = KILN_DTYPE_INT16;
        const void *params = p->params_size ? &ap : NULL;
        if (p->params_size && p->params_size != sizeof(ap)) {
            continue;
        }
        kiln_dtype dt = rule_input_dtype(p);
        kiln_scope_begin();
        if (p->nin == 1) {
            kiln_array *x = rand_arr(s_2b, 2, dt);
            int bd[1] = {1};
            check_vmap(p, params, &x, bd, 1);
            kiln_array *xt = rand_arr(s_b4, 2, dt);
            bd[0] = 0;
            check_vmap(p, params, &xt, bd, 1);
            bd[0] = -1;
            check_vmap(p, params, &x, bd, 1);
        } else if (p->nin == 2) {
            /* batched at different axes, per-example (2,1) and (4) */
            kiln_array *x[2] = {rand_arr(s_b21, 3, dt),
                                rand_arr(s_4b, 2, dt)};
            int bd[2] = {0, 1};
            check_vmap(p, params, x, bd, 2);
            /* batched (4) per example against unbatched (2,1): the
             * batched one needs a singleton axis after its batch axis */
            kiln_array *y[2] = {rand_arr(s_b4, 2, dt),
                                rand_arr(s_21, 2, dt)};
            int bd2[2] = {0, -1};
            check_vmap(p, params, y, bd2, 2);
            kiln_array *z[2] = {y[1], y[0]};
            int bd3[2] = {-1, 0};
            check_vmap(p, params, z, bd3, 2);
            /* batched scalar per example */
            kiln_array *u[2] = {rand_arr(s_b, 1, dt), y[1]};
            check_vmap(p, params, u, bd2, 2);
            int bd4[2] = {-1, -1};
            check_vmap(p, params, u, bd4, 2);
        } else if (p->nin == 3) {
            kiln_array *x[3] = {rand_arr(s_4, 1, KILN_DTYPE_BOOL),
                                rand_arr(s_21b, 3, dt),
                                rand_arr(s_b, 1, dt)};
            int bd[3] = {-1, 2, 0};
            check_vmap(p, params, x, bd, 3);
            kiln_array *c = rand_arr(s_4b, 2, KILN_DTYPE_BOOL);
            kiln_array *y[3] = {c, rand_arr(s_21, 2, dt), rand_arr(s_4, 1, dt)};
            int bd2[3] = {1, -1, -1};
            check_vmap(p, params, y, bd2, 3);
        }
        kiln_scope_end(NULL);
        nchecked++;
    }
    CHECK_MSG(nchecked == NFAMILY, "only %d primitives checked", nchecked);
}

TEST(autodiff_ew_vmap_errors)
{
    const kiln_prim *p = find_prim("add");
    const int64_t s[2] = {2, 3}, s2[2] = {4, 3};
    CHECK(p != NULL);
    if (!p) {
        return;
    }
    kiln_scope_begin();
    kiln_array *x[2] = {kiln_ones(s, 2, KILN_DTYPE_FLOAT32),
                        kiln_ones(s2, 2, KILN_DTYPE_FLOAT32)};
    kiln_array *out = NULL;
    int ob = 0, nout = 0;
    int bd[2] = {2, -1};
    CHECK(p->vmap(p, NULL, x, bd, 2, &out, &ob, &nout) == KILN_ERR_INDEX);
    CHECK(strstr(kiln_errmsg(), "add") != NULL);
    /* batch sizes 2 and 4 cannot broadcast */
    int bd2[2] = {0, 0};
    CHECK(p->vmap(p, NULL, x, bd2, 2, &out, &ob, &nout) == KILN_ERR_VALUE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

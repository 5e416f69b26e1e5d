/*
 * vjp.c - reverse-mode differentiation: kiln_vjp, kiln_grad and
 * kiln_value_and_grad, and the reverse pass over a traced graph
 * (kiln__vjp_graph) that the fused primitive's rule reuses.
 *
 * A call traces the function on placeholders shaped like its primals,
 * replays the steps on the real primals (the forward values, lazy), then
 * walks the steps backwards: a step is differentiated when one of its
 * inputs needs a gradient (it depends on a primal that asked for one,
 * through no primitive with a zero rule: kiln__autodiff_zero_rule) and
 * one of its outputs received a cotangent. Cotangents of one value
 * are summed. Values of every dtype carry cotangents, as in MLX: each is
 * cast to its value's dtype (an integer primal's gradient is integer,
 * fractions truncated); piecewise-constant primitives (comparisons,
 * floor, bitwise ops, argmax) have zero rules, and a primal no cotangent
 * reaches gets zeros.
 *
 * Invariants: each primitive's vjp runs inside a scope opened here, one
 * per step, so its temporaries go when the step is done; what is kept
 * (the accumulated cotangents) is retained before the scope ends. A
 * rule's cotangent must have its input's shape (an error names the
 * primitive otherwise); a dtype that differs is cast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../prim/autodiff.h"
#include "transform.h"

/* ------------------------------------------------------------------ */
/* the reverse pass                                                   */
/* ------------------------------------------------------------------ */

/* Adds c (borrowed) into *acc (owned or NULL), cast to dt. Inside a
 * scope. */
static kiln_status accumulate(kiln_array **acc, kiln_array *c, kiln_dtype dt)
{
    kiln_array *x = kiln_astype(c, dt);
    if (x && *acc) {
        x = kiln_add(*acc, x);
    }
    if (!x) {
        return kiln_errcode();
    }
    kiln_array_release(*acc);
    *acc = kiln_array_retain(x);
    return KILN_OK;
}

/* Runs the vjp rule of step s; inside a scope. */
static kiln_status step_vjp(const kiln_gstep *s,
                            kiln_array *const *vals, const bool *need,
                            kiln_array **cot, kiln_array **ins,
                            bool *in_need, kiln_array **cot_in,
                            const char *fn)
{
    const kiln_prim *p = s->prim;
    if (!p->vjp) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] primitive %s is not differentiable", fn,
                         p->name);
    }
    for (int j = 0; j < s->nin; j++) {
        ins[j] = vals[s->in[j]];
        in_need[j] = need[s->in[j]];
        cot_in[j] = NULL;
    }
    kiln_status st = p->vjp(p, s->params, ins, s->nin, vals + s->out0,
                            s->nout, cot + s->out0, in_need, cot_in);
    if (st != KILN_OK) {
        return kiln_errcode() != KILN_OK ? kiln_errcode() : st;
    }
    for (int j = 0; j < s->nin && st == KILN_OK; j++) {
        kiln_array *x = vals[s->in[j]];
        if (!in_need[j] || !cot_in[j]) {
            continue;
        }
        if (!kiln__transform_same_shape(cot_in[j], x)) {
            char a[128], b[128];
            return kiln__err(KILN_ERR_RUNTIME,
                             "[%s] the vjp rule of %s gave input %d a "
                             "cotangent of shape %s for an input of shape "
                             "%s", fn, p->name, j,
                             kiln__transform_shape_str(cot_in[j], a,
                                                       sizeof a),
                             kiln__transform_shape_str(x, b, sizeof b));
        }
        st = accumulate(&cot[s->in[j]], cot_in[j], x->dtype);
    }
    return st;
}

kiln_status kiln__vjp_graph(const kiln_graph *g, kiln_array *const *vals,
                            const bool *need_in, kiln_array **cot,
                            const char *fn)
{
    bool *need = calloc((size_t)g->nvals + 1, sizeof *need);
    int maxin = 1;
    for (int i = 0; i < g->nsteps; i++) {
        maxin = g->steps[i].nin > maxin ? g->steps[i].nin : maxin;
    }
    kiln_array **ins = calloc((size_t)maxin, sizeof *ins);
    kiln_array **cot_in = calloc((size_t)maxin, sizeof *cot_in);
    bool *in_need = calloc((size_t)maxin, sizeof *in_need);
    kiln_status st = KILN_OK;
    if (!need || !ins || !cot_in || !in_need) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    /* which values depend on a primal that wants a gradient, through no
     * primitive with a zero derivative */
    for (int i = 0; i < g->ninputs; i++) {
        need[i] = need_in[i];
    }
    for (int i = 0; i < g->nsteps; i++) {
        const kiln_gstep *s = &g->steps[i];
        bool any = false;
        for (int j = 0; j < s->nin && !any; j++) {
            any = need[s->in[j]];
        }
        any = any && !kiln__autodiff_zero_rule(s->prim);
        for (int k = 0; k < s->nout; k++) {
            need[s->out0 + k] = any;
        }
    }
    /* seeds on values that cannot carry a gradient are dropped */
    for (int v = 0; v < g->nvals; v++) {
        if (cot[v] && !need[v]) {
            kiln_array_release(cot[v]);
            cot[v] = NULL;
        }
    }
    for (int i = g->nsteps - 1; i >= 0 && st == KILN_OK; i--) {
        const kiln_gstep *s = &g->steps[i];
        bool has_cot = false, any_need = false;
        for (int k = 0; k < s->nout; k++) {
            has_cot = has_cot || cot[s->out0 + k];
        }
        for (int j = 0; j < s->nin; j++) {
            any_need = any_need || need[s->in[j]];
        }
        if (has_cot && any_need) {
            kiln_scope_begin();
            st = step_vjp(s, vals, need, cot, ins, in_need, cot_in, fn);
            kiln_scope_end(NULL);
        }
        for (int k = 0; k < s->nout; k++) {
            kiln_array_release(cot[s->out0 + k]);
            cot[s->out0 + k] = NULL;
        }
    }
done:
    for (int v = 0; v < g->nvals; v++) {
        if (st != KILN_OK || v >= g->ninputs || !need_in[v]) {
            kiln_array_release(cot[v]);
            cot[v] = NULL;
        }
    }
    free(need);
    free(ins);
    free(cot_in);
    free(in_need);
    return st;
}

/* ------------------------------------------------------------------ */
/* vjp, grad, value_and_grad                                          */
/* ------------------------------------------------------------------ */

typedef enum mode { MODE_VJP, MODE_GRAD, MODE_VALUE_AND_GRAD } mode;

typedef struct vjp_ctx {
    kiln_fn *inner; /* retained */
    mode mode;
    int nprimals;   /* vjp */
    int nargnums;   /* grad, value_and_grad */
    int *argnums;
} vjp_ctx;

static const char *mode_name(mode m)
{
    return m == MODE_VJP ? "vjp" : m == MODE_GRAD ? "grad"
                                                  : "value_and_grad";
}

/* The gradient of input i (cot[i], or zeros shaped like the primal),
 * pushed onto results. */
static kiln_status push_grad(kiln_list *results, kiln_array *const *vals,
                             kiln_array *const *cot, int i, const char *fn)
{
    if (cot[i]) {
        return kiln_list_push(results, cot[i]);
    }
    kiln_array *z = kiln__transform_zeros_like(vals[i], fn);
    kiln_status st = z ? kiln_list_push(results, z) : kiln_errcode();
    kiln_array_release(z);
    return st;
}

/* The cotangent arguments of vjp, checked against the outputs and cast
 * to their dtypes, as seeds. */
static kiln_status seed_vjp(const vjp_ctx *c, const kiln_graph *g,
                            const kiln_list *args, kiln_array **vals,
                            kiln_array **cot, const char *fn)
{
    int np = c->nprimals;
    int nargs = (int)kiln_list_size(args);
    if (nargs != np + g->noutputs) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] %s returns %d output%s, so its vjp takes %d "
                         "primal%s and %d cotangent%s; got %d arguments",
                         fn, c->inner->name, g->noutputs,
                         g->noutputs == 1 ? "" : "s", np,
                         np == 1 ? "" : "s", g->noutputs,
                         g->noutputs == 1 ? "" : "s", nargs);
    }
    kiln_status st = KILN_OK;
    kiln_scope_begin();
    for (int k = 0; k < g->noutputs && st == KILN_OK; k++) {
        kiln_array *t = kiln_list_get(args, (size_t)(np + k));
        kiln_array *y = vals[g->outputs[k]];
        if (!kiln__transform_same_shape(t, y)) {
            char a[128], b[128];
            st = kiln__err(KILN_ERR_VALUE,
                           "[%s] cotangent %d has shape %s but output %d "
                           "of %s has shape %s", fn, k,
                           kiln__transform_shape_str(t, a, sizeof a), k,
                           c->inner->name,
                           kiln__transform_shape_str(y, b, sizeof b));
            break;
        }
        st = accumulate(&cot[g->outputs[k]], t, y->dtype);
    }
    kiln_scope_end(NULL);
    return st;
}

static kiln_status seed_grad(const vjp_ctx *c, const kiln_graph *g,
                             kiln_array **vals, kiln_array **cot,
                             const char *fn)
{
    if (g->noutputs < 1) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] %s returned no outputs; the function must "
                         "return a scalar (then any auxiliary outputs)", fn,
                         c->inner->name);
    }
    kiln_array *y = vals[g->outputs[0]];
    if (kiln_array_size(y) != 1) {
        char a[128];
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] the function must return a scalar, got "
                         "shape %s", fn,
                         kiln__transform_shape_str(y, a, sizeof a));
    }
    cot[g->outputs[0]] = kiln__transform_ones_like(y, fn);
    return cot[g->outputs[0]] ? KILN_OK : kiln_errcode();
}

static kiln_status body(void *ctx, const kiln_list *args, kiln_list *results)
{
    const vjp_ctx *c = ctx;
    const char *fn = mode_name(c->mode);
    int nargs = (int)kiln_list_size(args);
    int np = c->mode == MODE_VJP ? c->nprimals : nargs;
    if (np > nargs) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] expected %d primals (then one cotangent per "
                         "output), got %d arguments", fn, np, nargs);
    }
    for (int i = 0; c->mode != MODE_VJP && i < c->nargnums; i++) {
        if (c->argnums[i] >= nargs) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] argnums[%d] = %d is out of range for a "
                             "call with %d argument%s", fn, i,
                             c->argnums[i], nargs, nargs == 1 ? "" : "s");
        }
    }
    kiln_meta *metas = calloc((size_t)np + 1, sizeof *metas);
    kiln_array **primals = calloc((size_t)np + 1, sizeof *primals);
    bool *need = calloc((size_t)np + 1, sizeof *need);
    kiln_graph *g = NULL;
    kiln_array **vals = NULL, **cot = NULL;
    kiln_status st = KILN_OK;
    if (!metas || !primals || !need) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    for (int i = 0; i < np; i++) {
        primals[i] = kiln_list_get(args, (size_t)i);
        kiln__array_meta(primals[i], &metas[i]);
        need[i] = c->mode == MODE_VJP;
    }
    for (int i = 0; c->mode != MODE_VJP && i < c->nargnums; i++) {
        need[c->argnums[i]] = true;
    }
    g = kiln__transform_trace(c->inner, metas, np, fn);
    vals = g ? kiln__transform_vals(g, fn) : NULL;
    cot = g ? kiln__transform_vals(g, fn) : NULL;
    if (!vals || !cot) {
        st = kiln_errcode();
        goto done;
    }
    st = kiln__transform_replay(g, primals, vals, fn);
    if (st == KILN_OK) {
        st = c->mode == MODE_VJP ? seed_vjp(c, g, args, vals, cot, fn)
                                 : seed_grad(c, g, vals, cot, fn);
    }
    if (st == KILN_OK) {
        st = kiln__vjp_graph(g, vals, need, cot, fn);
    }
    for (int k = 0; k < g->noutputs && st == KILN_OK && c->mode != MODE_GRAD;
         k++) {
        st = kiln_list_push(results, vals[g->outputs[k]]);
    }
    if (c->mode == MODE_VJP) {
        for (int i = 0; i < np && st == KILN_OK; i++) {
            st = push_grad(results, vals, cot, i, fn);
        }
    } else {
        for (int i = 0; i < c->nargnums && st == KILN_OK; i++) {
            st = push_grad(results, vals, cot, c->argnums[i], fn);
        }
    }
done:
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
        kiln__transform_vals_free(cot, g->nvals);
    }
    kiln__graph_free(g);
    free(metas);
    free(primals);
    free(need);
    return st;
}

static void ctx_free(void *ctx)
{
    vjp_ctx *c = ctx;
    kiln_fn_release(c->inner);
    free(c->argnums);
    free(c);
}

static kiln_fn *make(kiln_fn *f, mode m, int nprimals, const int *argnums,
                     int nargnums)
{
    const char *fn = mode_name(m);
    if (!f) {
        kiln__err_null(fn);
        return NULL;
    }
    if (m == MODE_VJP && nprimals < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] nprimals is negative (%d)", fn,
                  nprimals);
        return NULL;
    }
    if (nargnums < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] nargnums is negative (%d)", fn,
                  nargnums);
        return NULL;
    }
    if (!argnums) {
        nargnums = 0;
    }
    for (int i = 0; i < nargnums; i++) {
        if (argnums[i] < 0) {
            kiln__err(KILN_ERR_VALUE, "[%s] argnums[%d] = %d is negative",
                      fn, i, argnums[i]);
            return NULL;
        }
    }
    vjp_ctx *c = calloc(1, sizeof *c);
    int n = m == MODE_VJP ? 0 : nargnums > 0 ? nargnums : 1;
    int *nums = calloc((size_t)n + 1, sizeof *nums);
    size_t len = strlen(fn) + strlen(f->name) + 3;
    char *name = malloc(len);
    if (!c || !nums || !name) {
        free(c);
        free(nums);
        free(name);
        kiln__err_oom(fn, 0);
        return NULL;
    }
    for (int i = 0; i < nargnums; i++) {
        nums[i] = argnums[i];
    }
    c->inner = kiln_fn_retain(f);
    c->mode = m;
    c->nprimals = nprimals;
    c->nargnums = n;
    c->argnums = nums;
    snprintf(name, len, "%s(%s)", fn, f->name);
    kiln_fn *r = kiln_fn_new(body, c, ctx_free, name);
    free(name);
    if (!r) {
        ctx_free(c);
    }
    return r;
}

kiln_fn *kiln_vjp(kiln_fn *f, int nprimals)
{
    return make(f, MODE_VJP, nprimals, NULL, 0);
}

kiln_fn *kiln_grad(kiln_fn *f, const int *argnums, int nargnums)
{
    return make(f, MODE_GRAD, 0, argnums, nargnums);
}

kiln_fn *kiln_value_and_grad(kiln_fn *f, const int *argnums, int nargnums)
{
    return make(f, MODE_VALUE_AND_GRAD, 0, argnums, nargnums);
}

/*
 * jvp.c - forward-mode differentiation: kiln_jvp, and the forward
 * tangent pass over a traced graph (kiln__jvp_graph) that the fused
 * primitive's rule reuses.
 *
 * A call traces the function on placeholders shaped like its primals,
 * replays the steps on the real primals, then walks the steps forward
 * with each value's tangent: a step whose inputs all have zero tangents
 * has zero tangents; otherwise its primitive's jvp rule gives them.
 * Tangents of every dtype flow, as in MLX, each cast to its value's
 * dtype.
 *
 * Invariants: each rule runs inside a scope opened here (one per step);
 * the tangents kept are retained before it ends. A rule's tangent must
 * have its output's shape (an error names the primitive otherwise); a
 * dtype that differs is cast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "transform.h"

/* Runs the jvp rule of step s and stores its outputs' tangents; inside a
 * scope. */
static kiln_status step_jvp(const kiln_gstep *s, kiln_array *const *vals,
                            kiln_array **tan, kiln_array **ins,
                            kiln_array **tan_in, const char *fn)
{
    const kiln_prim *p = s->prim;
    kiln_array *tan_out[KILN_MAX_OUTPUTS] = {0};
    if (!p->jvp) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] primitive %s is not differentiable", fn,
                         p->name);
    }
    for (int j = 0; j < s->nin; j++) {
        ins[j] = vals[s->in[j]];
        tan_in[j] = tan[s->in[j]];
    }
    kiln_status st = p->jvp(p, s->params, ins, s->nin, vals + s->out0,
                            s->nout, tan_in, tan_out);
    if (st != KILN_OK) {
        return kiln_errcode() != KILN_OK ? kiln_errcode() : st;
    }
    for (int k = 0; k < s->nout; k++) {
        kiln_array *y = vals[s->out0 + k];
        kiln_array *t = tan_out[k];
        if (!t) {
            continue;
        }
        if (!kiln__transform_same_shape(t, y)) {
            char a[128], b[128];
            return kiln__err(KILN_ERR_RUNTIME,
                             "[%s] the jvp rule of %s gave output %d a "
                             "tangent of shape %s for an output of shape %s",
                             fn, p->name, k,
                             kiln__transform_shape_str(t, a, sizeof a),
                             kiln__transform_shape_str(y, b, sizeof b));
        }
        t = kiln_astype(t, y->dtype);
        if (!t) {
            return kiln_errcode();
        }
        tan[s->out0 + k] = kiln_array_retain(t);
    }
    return KILN_OK;
}

kiln_status kiln__jvp_graph(const kiln_graph *g, kiln_array *const *vals,
                            kiln_array **tan, const char *fn)
{
    int maxin = 1;
    for (int i = 0; i < g->nsteps; i++) {
        maxin = g->steps[i].nin > maxin ? g->steps[i].nin : maxin;
    }
    kiln_array **ins = calloc((size_t)maxin, sizeof *ins);
    kiln_array **tan_in = calloc((size_t)maxin, sizeof *tan_in);
    kiln_status st = KILN_OK;
    if (!ins || !tan_in) {
        st = kiln__err_oom(fn, 0);
    }
    for (int i = 0; i < g->nsteps && st == KILN_OK; i++) {
        const kiln_gstep *s = &g->steps[i];
        bool any = false;
        for (int j = 0; j < s->nin && !any; j++) {
            any = tan[s->in[j]] != NULL;
        }
        if (!any) {
            continue;
        }
        kiln_scope_begin();
        st = step_jvp(s, vals, tan, ins, tan_in, fn);
        kiln_scope_end(NULL);
    }
    free(ins);
    free(tan_in);
    return st;
}

typedef struct jvp_ctx {
    kiln_fn *inner; /* retained */
    int nprimals;
} jvp_ctx;

/* The tangent arguments, checked against the primals and cast to their
 * dtypes, into tan[0..np). */
static kiln_status seed(const jvp_ctx *c, const kiln_list *args,
                        kiln_array **tan, const char *fn)
{
    int np = c->nprimals;
    kiln_status st = KILN_OK;
    kiln_scope_begin();
    for (int i = 0; i < np && st == KILN_OK; i++) {
        kiln_array *x = kiln_list_get(args, (size_t)i);
        kiln_array *t = kiln_list_get(args, (size_t)(np + i));
        if (!kiln__transform_same_shape(t, x)) {
            char a[128], b[128];
            st = kiln__err(KILN_ERR_VALUE,
                           "[%s] tangent %d has shape %s but primal %d has "
                           "shape %s", fn, i,
                           kiln__transform_shape_str(t, a, sizeof a), i,
                           kiln__transform_shape_str(x, b, sizeof b));
            break;
        }
        t = kiln_astype(t, x->dtype);
        if (!t) {
            st = kiln_errcode();
            break;
        }
        tan[i] = kiln_array_retain(t);
    }
    kiln_scope_end(NULL);
    return st;
}

static kiln_status body(void *ctx, const kiln_list *args, kiln_list *results)
{
    const jvp_ctx *c = ctx;
    const char *fn = "jvp";
    int np = c->nprimals;
    int nargs = (int)kiln_list_size(args);
    if (nargs != 2 * np) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] expected %d primals and %d tangents, got %d "
                         "arguments", fn, np, np, nargs);
    }
    kiln_meta *metas = calloc((size_t)np + 1, sizeof *metas);
    kiln_array **primals = calloc((size_t)np + 1, sizeof *primals);
    kiln_graph *g = NULL;
    kiln_array **vals = NULL, **tan = NULL;
    kiln_status st = KILN_OK;
    if (!metas || !primals) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    for (int i = 0; i < np; i++) {
        primals[i] = kiln_list_get(args, (size_t)i);
        kiln__array_meta(primals[i], &metas[i]);
    }
    g = kiln__transform_trace(c->inner, metas, np, fn);
    vals = g ? kiln__transform_vals(g, fn) : NULL;
    tan = g ? kiln__transform_vals(g, fn) : NULL;
    if (!vals || !tan) {
        st = kiln_errcode();
        goto done;
    }
    st = kiln__transform_replay(g, primals, vals, fn);
    if (st == KILN_OK) {
        st = seed(c, args, tan, fn);
    }
    if (st == KILN_OK) {
        st = kiln__jvp_graph(g, vals, tan, fn);
    }
    for (int k = 0; k < g->noutputs && st == KILN_OK; k++) {
        st = kiln_list_push(results, vals[g->outputs[k]]);
    }
    for (int k = 0; k < g->noutputs && st == KILN_OK; k++) {
        kiln_array *t = tan[g->outputs[k]];
        if (t) {
            st = kiln_list_push(results, t);
            continue;
        }
        t = kiln__transform_zeros_like(vals[g->outputs[k]], fn);
        st = t ? kiln_list_push(results, t) : kiln_errcode();
        kiln_array_release(t);
    }
done:
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
        kiln__transform_vals_free(tan, g->nvals);
    }
    kiln__graph_free(g);
    free(metas);
    free(primals);
    return st;
}

static void ctx_free(void *ctx)
{
    jvp_ctx *c = ctx;
    kiln_fn_release(c->inner);
    free(c);
}

kiln_fn *kiln_jvp(kiln_fn *f, int nprimals)
{
    const char *fn = "jvp";
    if (!f) {
        kiln__err_null(fn);
        return NULL;
    }
    if (nprimals < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] nprimals is negative (%d)", fn,
                  nprimals);
        return NULL;
    }
    jvp_ctx *c = calloc(1, sizeof *c);
    size_t len = strlen(f->name) + 6;
    char *name = malloc(len);
    if (!c || !name) {
        free(c);
        free(name);
        kiln__err_oom(fn, 0);
        return NULL;
    }
    c->inner = kiln_fn_retain(f);
    c->nprimals = nprimals;
    snprintf(name, len, "jvp(%s)", f->name);
    kiln_fn *r = kiln_fn_new(body, c, ctx_free, name);
    free(name);
    if (!r) {
        ctx_free(c);
    }
    return r;
}

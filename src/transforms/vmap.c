/*
 * vmap.c - batching: kiln_vmap, and the batching pass over a traced graph
 * (kiln__vmap_graph) that the fused primitive's rule reuses.
 *
 * A call traces the function on placeholders of one example's shapes
 * (each batched argument without its in_axes axis), then replays the
 * steps on the real arguments, each value carrying its batch axis (-1:
 * the same for every example). A step none of whose inputs is batched is
 * replayed as it is; otherwise its primitive's vmap rule batches it, or,
 * when it has none, a loop over the examples does (take example b of each
 * batched input, apply the primitive, stack the results), with a one-time
 * notice naming the primitive. Finally each output's batch axis moves to
 * out_axes[k]; an output that does not vary over the batch is broadcast
 * along a new batch axis, as MLX does.
 *
 * Invariants: rules run inside a scope opened here, one per step; the
 * arrays kept are retained before it ends. A rule's output must be the
 * example's shape with the batch inserted at the axis it reports (an
 * error names the primitive otherwise).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/shape.h"
#include "transform.h"

/* ------------------------------------------------------------------ */
/* the batching pass                                                  */
/* ------------------------------------------------------------------ */

static pthread_mutex_t notice_lock = PTHREAD_MUTEX_INITIALIZER;
static const kiln_prim *noticed[256];
static int nnoticed;

/* Prints once per primitive that its batching runs as a loop. */
static void notice(const kiln_prim *p)
{
    bool seen = false;
    pthread_mutex_lock(&notice_lock);
    for (int i = 0; i < nnoticed && !seen; i++) {
        seen = noticed[i] == p;
    }
    if (!seen && nnoticed < 256) {
        noticed[nnoticed++] = p;
    }
    pthread_mutex_unlock(&notice_lock);
    if (!seen) {
        fprintf(stderr,
                "kiln: vmap: primitive %s has no batching rule; it runs as "
                "a loop over the batch (correct, but slower)\n", p->name);
    }
}

/* Whether y has the example shape m with B inserted at axis bd (bd -1:
 * exactly m). */
static bool batched_shape(const kiln_array *y, const kiln_meta *m, int bd,
                          int64_t B)
{
    if (bd < 0) {
        return kiln__shape_equal(y->shape, y->ndim, m->shape, m->ndim);
    }
    if (y->ndim != m->ndim + 1 || bd > m->ndim || y->shape[bd] != B) {
        return false;
    }
    for (int d = 0, e = 0; d < y->ndim; d++) {
        if (d != bd && y->shape[d] != m->shape[e++]) {
            return false;
        }
    }
    return true;
}

static kiln_status check_out(const kiln_graph *g, const kiln_gstep *s, int k,
                             kiln_array *y, int bd, int64_t B,
                             const char *fn)
{
    const kiln_meta *m = &g->vals[s->out0 + k].meta;
    if (y && bd >= -1 && y->dtype == m->dtype &&
        batched_shape(y, m, bd, B)) {
        return KILN_OK;
    }
    char a[128], b[128];
    return kiln__err(KILN_ERR_RUNTIME,
                     "[%s] the batching rule of %s gave output %d of shape "
                     "%s, dtype %s, batch axis %d, for an example of shape "
                     "%s, dtype %s and a batch of %lld", fn, s->prim->name,
                     k,
                     y ? kiln__transform_shape_str(y, a, sizeof a) : "NULL",
                     y ? kiln_dtype_name(y->dtype) : "-", bd,
                     kiln__shape_str(m->shape, m->ndim, b, sizeof b),
                     kiln_dtype_name(m->dtype), (long long)B);
}

/* The rule of step s; inside a scope. */
static kiln_status step_rule(const kiln_graph *g, const kiln_gstep *s,
                             kiln_array **vals, int *bdim, int64_t B,
                             kiln_array **ins, int *bins, const char *fn)
{
    const kiln_prim *p = s->prim;
    kiln_array *out[KILN_MAX_OUTPUTS] = {0};
    int obd[KILN_MAX_OUTPUTS] = {0};
    int no = 0;
    for (int j = 0; j < s->nin; j++) {
        ins[j] = vals[s->in[j]];
        bins[j] = bdim[s->in[j]];
    }
    kiln_status st = p->vmap(p, s->params, ins, bins, s->nin, out, obd, &no);
    if (st != KILN_OK) {
        return kiln_errcode() != KILN_OK ? kiln_errcode() : st;
    }
    if (no != s->nout) {
        return kiln__err(KILN_ERR_RUNTIME,
                         "[%s] the batching rule of %s gave %d outputs, "
                         "expected %d", fn, p->name, no, s->nout);
    }
    for (int k = 0; k < no; k++) {
        st = check_out(g, s, k, out[k], obd[k], B, fn);
        if (st != KILN_OK) {
            return st;
        }
    }
    for (int k = 0; k < no; k++) {
        vals[s->out0 + k] = kiln_array_retain(out[k]);
        bdim[s->out0 + k] = obd[k];
    }
    return KILN_OK;
}

/* The loop over the batch for a primitive without a rule; inside a
 * scope. */
static kiln_status step_loop(const kiln_graph *g, const kiln_gstep *s,
                             kiln_array **vals, int *bdim, int64_t B,
                             kiln_array **ins, const char *fn)
{
    const kiln_prim *p = s->prim;
    int nout = s->nout;
    kiln_array **res = calloc((size_t)(B > 0 ? B : 1) * (size_t)nout,
                              sizeof *res);
    kiln_status st = KILN_OK;
    notice(p);
    if (!res) {
        return kiln__err_oom(fn, 0);
    }
    for (int64_t b = 0; b < B && st == KILN_OK; b++) {
        kiln_array *idx = kiln_scalar_i64(b, KILN_DTYPE_INT64);
        for (int j = 0; j < s->nin && st == KILN_OK; j++) {
            kiln_array *x = vals[s->in[j]];
            ins[j] = bdim[s->in[j]] < 0
                         ? x
                         : kiln_take(x, idx, bdim[s->in[j]], false);
            if (!ins[j]) {
                st = kiln_errcode();
            }
        }
        kiln_array *o[KILN_MAX_OUTPUTS];
        int no = 0;
        if (st == KILN_OK) {
            st = kiln__node_make(p, s->params, ins, s->nin, o, &no, fn);
        }
        for (int k = 0; k < no; k++) {
            res[b * nout + k] = o[k];
        }
    }
    for (int k = 0; k < nout && st == KILN_OK; k++) {
        kiln_array *y;
        if (B == 0) {
            const kiln_meta *m = &g->vals[s->out0 + k].meta;
            int64_t shape[KILN_MAX_NDIM + 1] = {0};
            memcpy(shape + 1, m->shape, sizeof(int64_t) * (size_t)m->ndim);
            y = kiln_zeros(shape, m->ndim + 1, m->dtype);
        } else {
            kiln_array **col = malloc(sizeof *col * (size_t)B);
            if (!col) {
                st = kiln__err_oom(fn, 0);
                break;
            }
            for (int64_t b = 0; b < B; b++) {
                col[b] = res[b * nout + k];
            }
            y = kiln_stack(col, (int)B, 0);
            free(col);
        }
        if (!y) {
            st = kiln_errcode();
            break;
        }
        vals[s->out0 + k] = kiln_array_retain(y);
        bdim[s->out0 + k] = 0;
    }
    for (int64_t i = 0; i < B * nout; i++) {
        kiln_array_release(res[i]);
    }
    free(res);
    return st;
}

kiln_status kiln__vmap_graph(const kiln_graph *g, kiln_array **vals,
                             int *bdim, int64_t B, const char *fn)
{
    int maxin = 1;
    for (int i = 0; i < g->nsteps; i++) {
        maxin = g->steps[i].nin > maxin ? g->steps[i].nin : maxin;
    }
    kiln_array **ins = calloc((size_t)maxin, sizeof *ins);
    int *bins = calloc((size_t)maxin, sizeof *bins);
    kiln_status st = KILN_OK;
    if (!ins || !bins) {
        st = kiln__err_oom(fn, 0);
    }
    if (B > INT32_MAX && st == KILN_OK) {
        st = kiln__err(KILN_ERR_VALUE, "[%s] batch of %lld is too large",
                       fn, (long long)B);
    }
    for (int v = g->ninputs; v < g->nvals; v++) {
        if (g->vals[v].constant && !vals[v]) {
            vals[v] = kiln_array_retain(g->vals[v].constant);
            bdim[v] = -1;
        }
    }
    for (int i = 0; i < g->nsteps && st == KILN_OK; i++) {
        const kiln_gstep *s = &g->steps[i];
        bool batched = false;
        for (int j = 0; j < s->nin; j++) {
            batched = batched || bdim[s->in[j]] >= 0;
            ins[j] = vals[s->in[j]];
        }
        if (!batched) {
            kiln_array *o[KILN_MAX_OUTPUTS];
            int no = 0;
            st = kiln__node_make(s->prim, s->params, ins, s->nin, o, &no, fn);
            for (int k = 0; k < no && st == KILN_OK; k++) {
                vals[s->out0 + k] = o[k];
                bdim[s->out0 + k] = -1;
            }
            continue;
        }
        kiln_scope_begin();
        st = s->prim->vmap ? step_rule(g, s, vals, bdim, B, ins, bins, fn)
                           : step_loop(g, s, vals, bdim, B, ins, fn);
        kiln_scope_end(NULL);
    }
    free(ins);
    free(bins);
    return st;
}

/* ------------------------------------------------------------------ */
/* kiln_vmap                                                          */
/* ------------------------------------------------------------------ */

typedef struct vmap_ctx {
    kiln_fn *inner;  /* retained */
    int nin_axes;    /* -1: every argument batched along 0 */
    int *in_axes;
    int nout_axes;   /* -1: every output's batch axis at 0 */
    int *out_axes;
} vmap_ctx;

/* The batch axes of the arguments, checked, and the batch size. */
static kiln_status axes_of(const vmap_ctx *c, const kiln_list *args,
                           int *axes, int64_t *B, const char *fn)
{
    int nargs = (int)kiln_list_size(args);
    int first = -1;
    if (c->nin_axes >= 0 && c->nin_axes != nargs) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] in_axes has %d entries but %s was called "
                         "with %d arguments", fn, c->nin_axes,
                         c->inner->name, nargs);
    }
    for (int i = 0; i < nargs; i++) {
        kiln_array *x = kiln_list_get(args, (size_t)i);
        int ax = c->nin_axes >= 0 ? c->in_axes[i] : 0;
        if (ax < -1 || ax >= x->ndim) {
            char a[128];
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] in_axes[%d] = %d is out of range for "
                             "argument %d of shape %s (use -1 for an "
                             "argument that is not batched)", fn, i, ax, i,
                             kiln__transform_shape_str(x, a, sizeof a));
        }
        axes[i] = ax;
        if (ax < 0) {
            continue;
        }
        if (first < 0) {
            first = i;
            *B = x->shape[ax];
        } else if (x->shape[ax] != *B) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] batched arguments have different sizes "
                             "along their in_axes: argument %d has %lld, "
                             "argument %d has %lld", fn, first,
                             (long long)*B, i, (long long)x->shape[ax]);
        }
    }
    if (first < 0) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] no argument is batched (every in_axes entry "
                         "is -1, or there are no arguments)", fn);
    }
    return KILN_OK;
}

/* Output k (array y, batch axis bd, example rank r) with its batch axis
 * at `to`, pushed onto results; inside a scope. */
static kiln_status place(kiln_list *results, kiln_array *y, int bd, int r,
                         int k, int to, int64_t B, const char *fn)
{
    if (to < -1 || to > r) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] out_axes[%d] = %d is out of range for an "
                         "output of rank %d per example (use 0..%d, or -1 "
                         "for an output that is not batched)", fn, k, to, r,
                         r);
    }
    if (to == -1) {
        if (bd >= 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] out_axes[%d] is -1 but output %d varies "
                             "over the batch", fn, k, k);
        }
        return kiln_list_push(results, y);
    }
    if (bd < 0) {
        int64_t shape[KILN_MAX_NDIM + 1];
        kiln_array *e = kiln_expand_dims(y, &to, 1);
        if (!e) {
            return kiln_errcode();
        }
        memcpy(shape, e->shape, sizeof(int64_t) * (size_t)e->ndim);
        shape[to] = B;
        y = kiln_broadcast_to(e, shape, e->ndim);
    } else if (bd != to) {
        y = kiln_moveaxis(y, bd, to);
    }
    return y ? kiln_list_push(results, y) : kiln_errcode();
}

static kiln_status body(void *ctx, const kiln_list *args, kiln_list *results)
{
    const vmap_ctx *c = ctx;
    const char *fn = "vmap";
    int nargs = (int)kiln_list_size(args);
    int64_t B = 0;
    int *axes = calloc((size_t)nargs + 1, sizeof *axes);
    kiln_meta *metas = calloc((size_t)nargs + 1, sizeof *metas);
    kiln_graph *g = NULL;
    kiln_array **vals = NULL;
    int *bdim = NULL;
    kiln_status st = KILN_OK;
    if (!axes || !metas) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    st = axes_of(c, args, axes, &B, fn);
    if (st != KILN_OK) {
        goto done;
    }
    for (int i = 0; i < nargs; i++) {
        kiln_array *x = kiln_list_get(args, (size_t)i);
        kiln_meta *m = &metas[i];
        m->dtype = x->dtype;
        m->ndim = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (d != axes[i]) {
                m->shape[m->ndim++] = x->shape[d];
            }
        }
    }
    g = kiln__transform_trace(c->inner, metas, nargs, fn);
    vals = g ? kiln__transform_vals(g, fn) : NULL;
    bdim = g ? calloc((size_t)g->nvals + 1, sizeof *bdim) : NULL;
    if (!vals || !bdim) {
        st = vals || !g ? kiln_errcode() : kiln__err_oom(fn, 0);
        goto done;
    }
    if (c->nout_axes >= 0 && c->nout_axes != g->noutputs) {
        st = kiln__err(KILN_ERR_VALUE,
                       "[%s] out_axes has %d entries but %s returned %d "
                       "outputs", fn, c->nout_axes, c->inner->name,
                       g->noutputs);
        goto done;
    }
    for (int i = 0; i < nargs; i++) {
        vals[i] = kiln_array_retain(kiln_list_get(args, (size_t)i));
        bdim[i] = axes[i];
    }
    st = kiln__vmap_graph(g, vals, bdim, B, fn);
    kiln_scope_begin();
    for (int k = 0; k < g->noutputs && st == KILN_OK; k++) {
        int o = g->outputs[k];
        int to = c->nout_axes >= 0 ? c->out_axes[k] : 0;
        st = place(results, vals[o], bdim[o], g->vals[o].meta.ndim, k, to,
                   B, fn);
    }
    kiln_scope_end(NULL);
done:
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
    }
    kiln__graph_free(g);
    free(bdim);
    free(axes);
    free(metas);
    return st;
}

static void ctx_free(void *ctx)
{
    vmap_ctx *c = ctx;
    kiln_fn_release(c->inner);
    free(c->in_axes);
    free(c->out_axes);
    free(c);
}

kiln_fn *kiln_vmap(kiln_fn *f, const int *in_axes, int nin_axes,
                   const int *out_axes, int nout_axes)
{
    const char *fn = "vmap";
    if (!f) {
        kiln__err_null(fn);
        return NULL;
    }
    if ((in_axes && nin_axes < 0) || (out_axes && nout_axes < 0)) {
        kiln__err(KILN_ERR_VALUE, "[%s] a negative number of axes", fn);
        return NULL;
    }
    vmap_ctx *c = calloc(1, sizeof *c);
    int ni = in_axes ? nin_axes : 0, no = out_axes ? nout_axes : 0;
    int *ia = calloc((size_t)ni + 1, sizeof *ia);
    int *oa = calloc((size_t)no + 1, sizeof *oa);
    size_t len = strlen(f->name) + 7;
    char *name = malloc(len);
    if (!c || !ia || !oa || !name) {
        free(c);
        free(ia);
        free(oa);
        free(name);
        kiln__err_oom(fn, 0);
        return NULL;
    }
    if (ni > 0) {
        memcpy(ia, in_axes, sizeof *ia * (size_t)ni);
    }
    if (no > 0) {
        memcpy(oa, out_axes, sizeof *oa * (size_t)no);
    }
    c->inner = kiln_fn_retain(f);
    c->nin_axes = in_axes ? nin_axes : -1;
    c->in_axes = ia;
    c->nout_axes = out_axes ? nout_axes : -1;
    c->out_axes = oa;
    snprintf(name, len, "vmap(%s)", f->name);
    kiln_fn *r = kiln_fn_new(body, c, ctx_free, name);
    free(name);
    if (!r) {
        ctx_free(c);
    }
    return r;
}

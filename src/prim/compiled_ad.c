/*
 * compiled_ad.c - the transform rules of the fused region primitive
 * (prim/compiled.c): vjp, jvp and vmap built from the region itself.
 *
 * A region is a small graph of elementwise primitives and reductions
 * (compile/region.h). Each rule turns it into a graph of steps on the
 * actual inputs (the same primitives and params, so the same shapes as
 * the nodes fuse.c absorbed), replays it as ordinary nodes, and runs the
 * transforms' own pass over that graph (transforms/transform.h), which
 * calls the inner primitives' rules. The fused node's outputs stand in for
 * the region values they hold, so a vjp that reads an output (exp's) does
 * not recompute it.
 *
 * Note on layering: like compiled.c, this reads the region IR of
 * compile/region.h; it reuses the transforms' passes rather than a second
 * copy of them.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../transforms/transform.h"
#include "compiled.h"
#include "prim.h"

/* The region behind params as a graph on inputs of metadata m[0..nin).
 * NULL with an error on failure. */
static kiln_graph *region_graph(const void *params, const kiln_meta *m,
                                int nin, const char *fn)
{
    const kiln_region *r = ((const kiln_fused_params *)params)->fused->region;
    if (nin != r->ninputs) {
        kiln__err(KILN_ERR_VALUE, "[%s] a fused region expects %d inputs, "
                  "got %d", fn, r->ninputs, nin);
        return NULL;
    }
    kiln_graph *g = kiln__graph_new(nin);
    int *id = calloc((size_t)r->nvals + 1, sizeof *id);
    kiln_status st = KILN_OK;
    if (!g || !id) {
        st = kiln__err_oom(fn, 0);
    }
    for (int i = 0; i < nin && st == KILN_OK; i++) {
        g->vals[i].meta = m[i];
    }
    kiln_scope_begin();
    for (int v = 0; v < r->nvals && st == KILN_OK; v++) {
        const kiln_rval *x = &r->vals[v];
        if (x->kind == KILN_RVAL_INPUT) {
            id[v] = x->input;
            continue;
        }
        if (x->kind == KILN_RVAL_CONST) {
            int64_t none = 0;
            kiln_array *c = kiln_array_from_data(x->value, &none, 0,
                                                 x->dtype);
            id[v] = c ? kiln__graph_add_const(g, c) : -1;
            st = !c ? kiln_errcode()
                    : id[v] < 0 ? kiln__err_oom(fn, 0) : KILN_OK;
            continue;
        }
        int ins[3];
        kiln_meta im[3], om[KILN_MAX_OUTPUTS];
        int no = 0;
        for (int j = 0; j < x->nargs && j < 3; j++) {
            ins[j] = id[x->args[j]];
            im[j] = g->vals[ins[j]].meta;
        }
        st = x->prim->infer(x->prim, x->params, im, x->nargs, om, &no);
        if (st == KILN_OK) {
            id[v] = kiln__graph_add_step(g, x->prim, x->params, ins,
                                         x->nargs, om, no);
            if (id[v] < 0) {
                st = kiln__err_oom(fn, 0);
            }
        }
    }
    kiln_scope_end(NULL);
    if (st == KILN_OK) {
        g->outputs = malloc(sizeof(int) * (size_t)(r->noutputs + 1));
        g->noutputs = r->noutputs;
        if (!g->outputs) {
            st = kiln__err_oom(fn, 0);
        }
    }
    for (int j = 0; j < r->noutputs && st == KILN_OK; j++) {
        g->outputs[j] = id[r->out_val[j]];
    }
    free(id);
    if (st != KILN_OK) {
        kiln__graph_free(g);
        return NULL;
    }
    return g;
}

static void metas_of(kiln_array *const *in, int nin, kiln_meta *m)
{
    for (int i = 0; i < nin; i++) {
        kiln__array_meta(in[i], &m[i]);
    }
}

/* The region's values on the inputs, the fused node's outputs standing
 * in for the values they hold. */
static kiln_array **forward(const kiln_graph *g, kiln_array *const *in,
                            kiln_array *const *out, int nout, const char *fn)
{
    kiln_array **vals = kiln__transform_vals(g, fn);
    if (!vals) {
        return NULL;
    }
    for (int j = 0; j < nout && j < g->noutputs; j++) {
        int o = g->outputs[j];
        if (!vals[o] && o >= g->ninputs) {
            vals[o] = kiln_array_retain(out[j]);
        }
    }
    if (kiln__transform_replay(g, in, vals, fn) != KILN_OK) {
        kiln__transform_vals_free(vals, g->nvals);
        return NULL;
    }
    return vals;
}

kiln_status kiln__compiled_ad_vjp(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, int nin,
                                  kiln_array *const *out, int nout,
                                  kiln_array *const *cot_out,
                                  const bool *need, kiln_array **cot_in)
{
    const char *fn = "vjp";
    kiln_meta m[KILN_REGION_MAX_OPERANDS + 1] = {{0}};
    (void)p;
    if (nin > KILN_REGION_MAX_OPERANDS) {
        return kiln__err(KILN_ERR_VALUE, "[%s] too many fused inputs", fn);
    }
    metas_of(in, nin, m);
    kiln_graph *g = region_graph(params, m, nin, fn);
    kiln_array **vals = g ? forward(g, in, out, nout, fn) : NULL;
    kiln_array **cot = vals ? kiln__transform_vals(g, fn) : NULL;
    kiln_status st = cot ? KILN_OK : kiln_errcode();
    for (int j = 0; st == KILN_OK && j < nout && j < g->noutputs; j++) {
        int o = g->outputs[j];
        kiln_array *c = cot_out[j];
        if (c && cot[o]) {
            c = kiln_add(cot[o], c);
        }
        if (c) {
            kiln_array_release(cot[o]);
            cot[o] = kiln_array_retain(c);
        } else if (kiln_errcode() != KILN_OK) {
            st = kiln_errcode();
        }
    }
    if (st == KILN_OK) {
        st = kiln__vjp_graph(g, vals, need, cot, fn);
    }
    for (int i = 0; i < nin && st == KILN_OK; i++) {
        cot_in[i] = need[i] && cot[i] ? kiln__ret(cot[i]) : NULL;
        if (need[i]) {
            cot[i] = NULL;
        }
    }
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
        kiln__transform_vals_free(cot, g->nvals);
    }
    kiln__graph_free(g);
    return st;
}

kiln_status kiln__compiled_ad_jvp(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, int nin,
                                  kiln_array *const *out, int nout,
                                  kiln_array *const *tan_in,
                                  kiln_array **tan_out)
{
    const char *fn = "jvp";
    kiln_meta m[KILN_REGION_MAX_OPERANDS + 1] = {{0}};
    (void)p;
    if (nin > KILN_REGION_MAX_OPERANDS) {
        return kiln__err(KILN_ERR_VALUE, "[%s] too many fused inputs", fn);
    }
    metas_of(in, nin, m);
    kiln_graph *g = region_graph(params, m, nin, fn);
    kiln_array **vals = g ? forward(g, in, out, nout, fn) : NULL;
    kiln_array **tan = vals ? kiln__transform_vals(g, fn) : NULL;
    kiln_status st = tan ? KILN_OK : kiln_errcode();
    for (int i = 0; i < nin && st == KILN_OK; i++) {
        tan[i] = kiln_array_retain(tan_in[i]);
    }
    if (st == KILN_OK) {
        st = kiln__jvp_graph(g, vals, tan, fn);
    }
    for (int j = 0; j < nout && st == KILN_OK; j++) {
        kiln_array *t = j < g->noutputs ? tan[g->outputs[j]] : NULL;
        tan_out[j] = t ? kiln__ret(kiln_array_retain(t)) : NULL;
    }
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
        kiln__transform_vals_free(tan, g->nvals);
    }
    kiln__graph_free(g);
    return st;
}

kiln_status kiln__compiled_ad_vmap(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, const int *bdim,
                                   int nin, kiln_array **out, int *out_bdim,
                                   int *nout)
{
    const char *fn = "vmap";
    kiln_meta m[KILN_REGION_MAX_OPERANDS + 1] = {{0}};
    int64_t B = -1;
    (void)p;
    if (nin > KILN_REGION_MAX_OPERANDS) {
        return kiln__err(KILN_ERR_VALUE, "[%s] too many fused inputs", fn);
    }
    for (int i = 0; i < nin; i++) {
        kiln_meta *x = &m[i];
        x->dtype = in[i]->dtype;
        x->ndim = 0;
        for (int d = 0; d < in[i]->ndim; d++) {
            if (d != bdim[i]) {
                x->shape[x->ndim++] = in[i]->shape[d];
            } else {
                B = in[i]->shape[d];
            }
        }
    }
    kiln_graph *g = region_graph(params, m, nin, fn);
    kiln_array **vals = g ? kiln__transform_vals(g, fn) : NULL;
    int *bd = vals ? calloc((size_t)g->nvals + 1, sizeof *bd) : NULL;
    kiln_status st = bd ? KILN_OK
                        : vals ? kiln__err_oom(fn, 0) : kiln_errcode();
    for (int i = 0; i < nin && st == KILN_OK; i++) {
        vals[i] = kiln_array_retain(in[i]);
        bd[i] = bdim[i];
    }
    if (st == KILN_OK) {
        st = kiln__vmap_graph(g, vals, bd, B < 0 ? 1 : B, fn);
    }
    for (int j = 0; st == KILN_OK && j < g->noutputs; j++) {
        int o = g->outputs[j];
        out[j] = kiln__ret(kiln_array_retain(vals[o]));
        out_bdim[j] = bd[o];
    }
    if (st == KILN_OK) {
        *nout = g->noutputs;
    }
    if (g) {
        kiln__transform_vals_free(vals, g->nvals);
    }
    free(bd);
    kiln__graph_free(g);
    return st;
}

/*
 * transform.c - the trace-and-replay helper every function transform
 * uses (transform.h): trace the inner function on placeholders into a
 * graph of steps, replay the steps on the real arguments.
 *
 * The recording follows compile/trace.c with one difference: work that
 * does not depend on this trace's placeholders becomes a constant AS IT
 * IS, lazy or not, and is never evaluated here. Such work may depend on
 * an enclosing compile's placeholders (compile(grad(f)) where f reads the
 * captured random key), which cannot be evaluated, and the transform's
 * replay only needs the arrays, not their values.
 *
 * Invariants: a trace never keeps a reference to a placeholder after it
 * returns; the depth raised around the body makes a compiled function
 * called inside inline its body (compile.c), so the graph never holds a
 * step of a compiled graph that the trace itself produced.
 */
#include "transform.h"

#include <stdlib.h>
#include <string.h>

#include "../compile/ptrmap.h"
#include "../compile/trace.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../ops/ops.h"

static kiln_node *pending_node(const kiln_array *x)
{
    return x->buf ? NULL : x->node;
}

/* The value id of x: a placeholder's or a step output's id, else a new
 * constant holding x as it is. -1 when out of memory. */
static int value_of(kiln_graph *g, kiln_ptrmap *ids, kiln_array *x,
                    const char *fn)
{
    int id = kiln__ptrmap_get(ids, (uint64_t)(uintptr_t)x);
    if (id >= 0) {
        return id;
    }
    id = kiln__graph_add_const(g, x);
    if (id < 0 || !kiln__ptrmap_put(ids, (uint64_t)(uintptr_t)x, id)) {
        kiln__err_oom(fn, 0);
        return -1;
    }
    return id;
}

/* Whether node n reads a placeholder of this trace or a dependent node. */
static bool depends(kiln_node *n, int nph, const kiln_ptrmap *ids,
                    const kiln_ptrmap *dep)
{
    for (int j = 0; j < n->nin; j++) {
        kiln_array *x = n->in[j];
        kiln_node *m = pending_node(x);
        if (m) {
            if (kiln__ptrmap_get(dep, (uint64_t)(uintptr_t)m) > 0) {
                return true;
            }
        } else if (!x->buf) {
            int id = kiln__ptrmap_get(ids, (uint64_t)(uintptr_t)x);
            if (id >= 0 && id < nph) {
                return true;
            }
        }
    }
    return false;
}

static kiln_status add_step(kiln_graph *g, kiln_ptrmap *ids, kiln_node *n,
                            const char *fn)
{
    int in[64], *inp = in;
    kiln_status st = KILN_OK;
    if (n->nin > 64) {
        inp = malloc(sizeof(int) * (size_t)n->nin);
        if (!inp) {
            return kiln__err_oom(fn, 0);
        }
    }
    for (int j = 0; j < n->nin && st == KILN_OK; j++) {
        inp[j] = value_of(g, ids, n->in[j], fn);
        if (inp[j] < 0) {
            st = kiln_errcode();
        }
    }
    kiln_meta outm[KILN_MAX_OUTPUTS];
    int no = 0;
    if (st == KILN_OK) {
        st = kiln__node_infer(n->prim, n->params, n->in, n->nin, outm, &no,
                              fn);
    }
    if (st == KILN_OK) {
        int out0 = kiln__graph_add_step(g, n->prim, n->params, inp, n->nin,
                                        outm, no);
        if (out0 < 0) {
            st = kiln__err_oom(fn, 0);
        }
        for (int k = 0; k < no && st == KILN_OK; k++) {
            if (n->out[k] &&
                !kiln__ptrmap_put(ids, (uint64_t)(uintptr_t)n->out[k],
                                  out0 + k)) {
                st = kiln__err_oom(fn, 0);
            }
        }
    }
    if (inp != in) {
        free(inp);
    }
    return st;
}

/* The graph from ph[0..nph) to outs (see the file comment). */
static kiln_graph *record(kiln_array *const *ph, int nph,
                          kiln_array *const *outs, int nout, const char *fn)
{
    kiln_trace_walk w = {0};
    kiln_ptrmap ids = {0}; /* array -> value id */
    kiln_ptrmap dep = {0}; /* node -> 1 when it depends on a placeholder */
    kiln_graph *g = kiln__graph_new(nph);
    kiln_status st = KILN_OK;
    if (!g) {
        kiln__err_oom(fn, sizeof *g);
        return NULL;
    }
    for (int i = 0; i < nph && st == KILN_OK; i++) {
        kiln__array_meta(ph[i], &g->vals[i].meta);
        if (!kiln__ptrmap_put(&ids, (uint64_t)(uintptr_t)ph[i], i)) {
            st = kiln__err_oom(fn, 0);
        }
    }
    for (int i = 0; i < nout && st == KILN_OK; i++) {
        kiln_node *m = pending_node(outs[i]);
        if (m) {
            st = kiln__trace_collect(&w, m, fn);
        }
    }
    for (int i = 0; i < w.n && st == KILN_OK; i++) {
        kiln_node *n = w.order[i];
        bool d = depends(n, nph, &ids, &dep);
        if (!kiln__ptrmap_put(&dep, (uint64_t)(uintptr_t)n, d ? 1 : 0)) {
            st = kiln__err_oom(fn, 0);
        } else if (d) {
            st = add_step(g, &ids, n, fn);
        }
    }
    if (st == KILN_OK) {
        g->outputs = malloc(sizeof(int) * (size_t)(nout > 0 ? nout : 1));
        g->noutputs = nout;
        if (!g->outputs) {
            st = kiln__err_oom(fn, 0);
        }
    }
    for (int i = 0; i < nout && st == KILN_OK; i++) {
        g->outputs[i] = value_of(g, &ids, outs[i], fn);
        if (g->outputs[i] < 0) {
            st = kiln_errcode();
        }
    }
    kiln__trace_walk_free(&w);
    kiln__ptrmap_free(&ids);
    kiln__ptrmap_free(&dep);
    if (st != KILN_OK) {
        kiln__graph_free(g);
        return NULL;
    }
    return g;
}

kiln_graph *kiln__transform_trace(kiln_fn *f, const kiln_meta *metas, int n,
                                  const char *fn)
{
    kiln_array **ph = calloc((size_t)n + 1, sizeof *ph);
    kiln_list *args = kiln_list_new(), *results = NULL;
    kiln_array **outs = NULL;
    kiln_graph *g = NULL;
    kiln_status st = KILN_OK;
    int nres = 0;
    if (!ph || !args) {
        st = kiln__err_oom(fn, 0);
    }
    for (int i = 0; i < n && st == KILN_OK; i++) {
        ph[i] = kiln__array_new(metas[i].dtype, metas[i].ndim,
                                metas[i].shape, fn);
        st = ph[i] ? kiln_list_push(args, ph[i]) : kiln_errcode();
    }
    if (st == KILN_OK) {
        kiln__trace_enter();
        results = kiln__fn_run(f, args);
        kiln__trace_leave();
        if (!results) {
            st = kiln_errcode();
        }
    }
    if (st == KILN_OK) {
        nres = (int)kiln_list_size(results);
        outs = calloc((size_t)nres + 1, sizeof *outs);
        if (!outs) {
            st = kiln__err_oom(fn, 0);
        }
    }
    if (st == KILN_OK) {
        for (int i = 0; i < nres; i++) {
            outs[i] = kiln_list_get(results, (size_t)i);
        }
        g = record(ph, n, outs, nres, fn);
    }
    free(outs);
    kiln_list_free(results);
    kiln_list_free(args);
    for (int i = 0; ph && i < n; i++) {
        kiln_array_release(ph[i]);
    }
    free(ph);
    return g;
}

kiln_array **kiln__transform_vals(const kiln_graph *g, const char *fn)
{
    kiln_array **v = calloc((size_t)g->nvals + 1, sizeof *v);
    if (!v) {
        kiln__err_oom(fn, sizeof *v * (size_t)g->nvals);
    }
    return v;
}

void kiln__transform_vals_free(kiln_array **vals, int n)
{
    if (!vals) {
        return;
    }
    for (int i = 0; i < n; i++) {
        kiln_array_release(vals[i]);
    }
    free(vals);
}

kiln_status kiln__transform_replay(const kiln_graph *g,
                                   kiln_array *const *inputs,
                                   kiln_array **vals, const char *fn)
{
    for (int v = 0; v < g->nvals; v++) {
        if (vals[v]) {
            continue;
        }
        if (v < g->ninputs) {
            vals[v] = kiln_array_retain(inputs[v]);
        } else if (g->vals[v].constant) {
            vals[v] = kiln_array_retain(g->vals[v].constant);
        }
    }
    for (int i = 0; i < g->nsteps; i++) {
        const kiln_gstep *s = &g->steps[i];
        bool all = true;
        for (int k = 0; k < s->nout; k++) {
            all = all && vals[s->out0 + k];
        }
        if (all) {
            continue;
        }
        kiln_array *ins_local[16];
        kiln_array **ins = s->nin <= 16
                               ? ins_local
                               : malloc(sizeof *ins * (size_t)s->nin);
        kiln_array *outs[KILN_MAX_OUTPUTS];
        int no = 0;
        if (!ins) {
            return kiln__err_oom(fn, 0);
        }
        for (int j = 0; j < s->nin; j++) {
            ins[j] = vals[s->in[j]];
        }
        kiln_status st = kiln__node_make(s->prim, s->params, ins, s->nin,
                                         outs, &no, fn);
        if (ins != ins_local) {
            free(ins);
        }
        if (st != KILN_OK) {
            return st;
        }
        for (int k = 0; k < no; k++) {
            if (k < s->nout && !vals[s->out0 + k]) {
                vals[s->out0 + k] = outs[k];
            } else {
                kiln_array_release(outs[k]);
            }
        }
    }
    return KILN_OK;
}

/* x > x is false everywhere, NaN included: a zero computed from x. */
static kiln_array *false_like(kiln_array *x, const char *fn)
{
    return kiln__op_binary(&kiln__prim_greater, x, x, fn);
}

kiln_array *kiln__transform_zeros_like(kiln_array *x, const char *fn)
{
    if (kiln__trace_depth() == 0) {
        kiln_array *s = kiln__scalar(0.0, x->dtype, false);
        kiln_array *y = s ? kiln__op_broadcast(s, x->shape, x->ndim, fn)
                          : NULL;
        kiln_array_release(s);
        return y;
    }
    kiln_array *b = false_like(x, fn);
    kiln_array *y = b ? kiln__op_astype(b, x->dtype, fn) : NULL;
    kiln_array_release(b);
    return y;
}

kiln_array *kiln__transform_ones_like(kiln_array *x, const char *fn)
{
    if (kiln__trace_depth() == 0) {
        kiln_array *s = kiln__scalar(1.0, x->dtype, false);
        kiln_array *y = s ? kiln__op_broadcast(s, x->shape, x->ndim, fn)
                          : NULL;
        kiln_array_release(s);
        return y;
    }
    kiln_array *b = false_like(x, fn);
    kiln_array *t = b ? kiln__op_unary(&kiln__prim_logical_not, b, fn)
                      : NULL;
    kiln_array *y = t ? kiln__op_astype(t, x->dtype, fn) : NULL;
    kiln_array_release(b);
    kiln_array_release(t);
    return y;
}

const char *kiln__transform_shape_str(const kiln_array *x, char *buf,
                                      size_t cap)
{
    return kiln__shape_str(x->shape, x->ndim, buf, cap);
}

bool kiln__transform_same_shape(const kiln_array *a, const kiln_array *b)
{
    return kiln__shape_equal(a->shape, a->ndim, b->shape, b->ndim);
}

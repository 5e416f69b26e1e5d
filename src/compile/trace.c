/*
 * trace.c - runs a body on placeholders and records the graph it built
 * (DESIGN.md 5.2 step 1).
 *
 * A placeholder is an array with neither data nor a node: ops accept it
 * (they read only its dtype and shape) and evaluating it fails with a
 * message that says why (eval.c). The tape is collected from the results
 * back to the placeholders, so work whose results are unused falls away.
 * Work that does not depend on any placeholder (a closure's lazy arrays)
 * is evaluated here, once: its results become constants, as MLX freezes
 * closure arrays at the first trace.
 *
 * Invariants: tracing is per thread (kiln__trace_depth); a trace never
 * keeps a reference to a placeholder or a traced node after it returns.
 */
#include "trace.h"

#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "ptrmap.h"

static _Thread_local int trace_depth;

int kiln__trace_depth(void)
{
    return trace_depth;
}

void kiln__trace_enter(void)
{
    trace_depth++;
}

void kiln__trace_leave(void)
{
    trace_depth--;
}

void kiln__trace_walk_free(kiln_trace_walk *w)
{
    free(w->order);
    kiln__ptrmap_free(&w->seen);
    w->order = NULL;
    w->n = w->cap = 0;
}

kiln_array *kiln__trace_placeholder(const kiln_meta *m)
{
    return kiln__array_new(m->dtype, m->ndim, m->shape, "compile");
}

typedef struct frame {
    kiln_node *node;
    int next;
} frame;

static bool order_push(kiln_trace_walk *w, kiln_node *n)
{
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        kiln_node **o = realloc(w->order, (size_t)cap * sizeof *o);
        if (!o) {
            return false;
        }
        w->order = o;
        w->cap = cap;
    }
    w->order[w->n++] = n;
    return true;
}

kiln_status kiln__trace_collect(kiln_trace_walk *w, kiln_node *root,
                                const char *fn)
{
    if (kiln__ptrmap_get(&w->seen, (uint64_t)(uintptr_t)root) >= 0) {
        return KILN_OK;
    }
    size_t depth = 0, cap = 64;
    frame *stack = malloc(cap * sizeof *stack);
    if (!stack || !kiln__ptrmap_put(&w->seen, (uint64_t)(uintptr_t)root, 1)) {
        free(stack);
        return kiln__err_oom(fn, cap * sizeof *stack);
    }
    stack[depth++] = (frame){root, 0};
    while (depth > 0) {
        frame *f = &stack[depth - 1];
        if (f->next < f->node->nin) {
            kiln_array *x = f->node->in[f->next++];
            kiln_node *m = x->buf ? NULL : x->node;
            if (!m || kiln__ptrmap_get(&w->seen, (uint64_t)(uintptr_t)m) >= 0) {
                continue;
            }
            if (depth == cap) {
                frame *s = realloc(stack, 2 * cap * sizeof *s);
                if (!s) {
                    free(stack);
                    return kiln__err_oom(fn, 2 * cap * sizeof *s);
                }
                stack = s;
                cap *= 2;
            }
            if (!kiln__ptrmap_put(&w->seen, (uint64_t)(uintptr_t)m, 1)) {
                free(stack);
                return kiln__err_oom(fn, 0);
            }
            stack[depth++] = (frame){m, 0};
        } else {
            if (!order_push(w, f->node)) {
                free(stack);
                return kiln__err_oom(fn, 0);
            }
            depth--;
        }
    }
    free(stack);
    return KILN_OK;
}

/* The value id of array x in g: a placeholder's input id, a node output's
 * id, or a new constant (evaluated arrays; x must have data). -1 with an
 * error when x is a placeholder of another trace. */
static int value_of(kiln_graph *g, kiln_ptrmap *ids, kiln_array *x,
                    const char *fn)
{
    int id = kiln__ptrmap_get(ids, (uint64_t)(uintptr_t)x);
    if (id >= 0) {
        return id;
    }
    if (!x->buf) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] the function uses an array being traced by another "
                  "compile (a placeholder that escaped its trace)", fn);
        return -1;
    }
    id = kiln__graph_add_const(g, x);
    if (id < 0 || !kiln__ptrmap_put(ids, (uint64_t)(uintptr_t)x, id)) {
        kiln__err_oom(fn, 0);
        return -1;
    }
    return id;
}

kiln_graph *kiln__trace_record(kiln_array *const *ph, int nph,
                               kiln_array *const *outs, int nout,
                               const char *fn)
{
    kiln_trace_walk w = {0};
    kiln_ptrmap ids = {0};   /* array -> value id */
    kiln_ptrmap dep = {0};   /* node -> 1 when it depends on a placeholder */
    kiln_graph *g = kiln__graph_new(nph);
    kiln_status st = KILN_OK;
    if (!g) {
        kiln__err_oom(fn, sizeof *g);
        return NULL;
    }
    for (int i = 0; i < nph && st == KILN_OK; i++) {
        g->vals[i].meta.dtype = ph[i]->dtype;
        g->vals[i].meta.ndim = ph[i]->ndim;
        memcpy(g->vals[i].meta.shape, ph[i]->shape,
               sizeof(int64_t) * (size_t)ph[i]->ndim);
        if (!kiln__ptrmap_put(&ids, (uint64_t)(uintptr_t)ph[i], i)) {
            st = kiln__err_oom(fn, 0);
        }
    }
    for (int i = 0; i < nout && st == KILN_OK; i++) {
        if (!outs[i]->buf && outs[i]->node) {
            st = kiln__trace_collect(&w, outs[i]->node, fn);
        }
    }
    /* Which nodes depend on a placeholder; the others are constants. */
    for (int i = 0; i < w.n && st == KILN_OK; i++) {
        kiln_node *n = w.order[i];
        bool d = false;
        for (int j = 0; j < n->nin && !d; j++) {
            kiln_array *x = n->in[j];
            d = (!x->buf && !x->node) ||
                (!x->buf &&
                 kiln__ptrmap_get(&dep, (uint64_t)(uintptr_t)x->node) > 0);
        }
        if (!kiln__ptrmap_put(&dep, (uint64_t)(uintptr_t)n, d ? 1 : 0)) {
            st = kiln__err_oom(fn, 0);
        }
    }
    /* Evaluate the constant work that dependent nodes or results use. */
    for (int i = 0; i < w.n && st == KILN_OK; i++) {
        kiln_node *n = w.order[i];
        if (kiln__ptrmap_get(&dep, (uint64_t)(uintptr_t)n) <= 0) {
            continue;
        }
        for (int j = 0; j < n->nin && st == KILN_OK; j++) {
            kiln_array *x = n->in[j];
            if (!x->buf && x->node &&
                kiln__ptrmap_get(&dep, (uint64_t)(uintptr_t)x->node) == 0) {
                st = kiln_array_eval(x);
            }
        }
    }
    for (int i = 0; i < nout && st == KILN_OK; i++) {
        kiln_array *x = outs[i];
        if (!x->buf && x->node &&
            kiln__ptrmap_get(&dep, (uint64_t)(uintptr_t)x->node) == 0) {
            st = kiln_array_eval(x);
        }
    }
    /* Steps, in topological order, for the dependent nodes. */
    for (int i = 0; i < w.n && st == KILN_OK; i++) {
        kiln_node *n = w.order[i];
        if (kiln__ptrmap_get(&dep, (uint64_t)(uintptr_t)n) <= 0) {
            continue;
        }
        int in[64], *inp = in;
        if (n->nin > 64) {
            inp = malloc(sizeof(int) * (size_t)n->nin);
            if (!inp) {
                st = kiln__err_oom(fn, 0);
                break;
            }
        }
        for (int j = 0; j < n->nin && st == KILN_OK; j++) {
            inp[j] = value_of(g, &ids, n->in[j], fn);
            if (inp[j] < 0) {
                st = kiln_errcode();
            }
        }
        kiln_meta outm[KILN_MAX_OUTPUTS];
        int no = 0;
        if (st == KILN_OK) {
            st = kiln__node_infer(n->prim, n->params, n->in, n->nin, outm,
                                  &no, fn);
        }
        if (st == KILN_OK) {
            int out0 = kiln__graph_add_step(g, n->prim, n->params, inp,
                                            n->nin, outm, no);
            if (out0 < 0) {
                st = kiln__err_oom(fn, 0);
            }
            for (int k = 0; k < no && st == KILN_OK; k++) {
                if (n->out[k] &&
                    !kiln__ptrmap_put(&ids, (uint64_t)(uintptr_t)n->out[k],
                                      out0 + k)) {
                    st = kiln__err_oom(fn, 0);
                }
            }
        }
        if (inp != in) {
            free(inp);
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

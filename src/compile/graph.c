/*
 * graph.c - building and freeing the compiled graph of graph.h.
 */
#include "graph.h"

#include <stdlib.h>
#include <string.h>

kiln_graph *kiln__graph_new(int ninputs)
{
    kiln_graph *g = calloc(1, sizeof *g);
    if (!g) {
        return NULL;
    }
    g->ninputs = ninputs;
    for (int i = 0; i < ninputs; i++) {
        kiln_meta m = {0};
        if (kiln__graph_add_val(g, &m) < 0) {
            kiln__graph_free(g);
            return NULL;
        }
    }
    return g;
}

void kiln__graph_free(kiln_graph *g)
{
    if (!g) {
        return;
    }
    for (int i = 0; i < g->nvals; i++) {
        kiln_array_release(g->vals[i].constant);
    }
    for (int i = 0; i < g->nsteps; i++) {
        kiln_gstep *s = &g->steps[i];
        if (s->params && s->prim->params_release) {
            s->prim->params_release(s->params);
        }
        free(s->params);
        free(s->in);
    }
    free(g->vals);
    free(g->steps);
    free(g->outputs);
    free(g);
}

int kiln__graph_add_val(kiln_graph *g, const kiln_meta *m)
{
    if (g->nvals == g->capvals) {
        int cap = g->capvals ? 2 * g->capvals : 16;
        kiln_gval *v = realloc(g->vals, (size_t)cap * sizeof *v);
        if (!v) {
            return -1;
        }
        g->vals = v;
        g->capvals = cap;
    }
    kiln_gval *v = &g->vals[g->nvals];
    memset(v, 0, sizeof *v);
    v->meta = *m;
    v->step = -1;
    return g->nvals++;
}

int kiln__graph_add_const(kiln_graph *g, kiln_array *a)
{
    kiln_meta m;
    kiln__array_meta(a, &m);
    int id = kiln__graph_add_val(g, &m);
    if (id >= 0) {
        g->vals[id].constant = kiln_array_retain(a);
    }
    return id;
}

int kiln__graph_add_step(kiln_graph *g, const kiln_prim *p,
                         const void *params, const int *in, int nin,
                         const kiln_meta *outm, int nout)
{
    if (g->nsteps == g->capsteps) {
        int cap = g->capsteps ? 2 * g->capsteps : 16;
        kiln_gstep *s = realloc(g->steps, (size_t)cap * sizeof *s);
        if (!s) {
            return -1;
        }
        g->steps = s;
        g->capsteps = cap;
    }
    kiln_gstep st = {.prim = p, .nin = nin, .nout = nout};
    st.in = malloc((size_t)(nin > 0 ? nin : 1) * sizeof *st.in);
    if (!st.in) {
        return -1;
    }
    if (nin > 0) {
        memcpy(st.in, in, (size_t)nin * sizeof *in);
    }
    if (p->params_size) {
        st.params = malloc(p->params_size);
        if (!st.params) {
            free(st.in);
            return -1;
        }
        memcpy(st.params, params, p->params_size);
        if (p->params_retain) {
            p->params_retain(st.params);
        }
    }
    st.out0 = g->nvals;
    for (int i = 0; i < nout; i++) {
        int id = kiln__graph_add_val(g, &outm[i]);
        if (id < 0) {
            g->nvals = st.out0;
            if (st.params && p->params_release) {
                p->params_release(st.params);
            }
            free(st.params);
            free(st.in);
            return -1;
        }
        g->vals[id].step = g->nsteps;
        g->vals[id].index = i;
    }
    g->steps[g->nsteps++] = st;
    return st.out0;
}

int64_t kiln__graph_bytes(const kiln_graph *g)
{
    int64_t bytes = (int64_t)sizeof *g +
                    (int64_t)g->capvals * (int64_t)sizeof(kiln_gval) +
                    (int64_t)g->capsteps * (int64_t)sizeof(kiln_gstep);
    for (int i = 0; i < g->nvals; i++) {
        if (g->vals[i].constant) {
            bytes += (int64_t)kiln_array_nbytes(g->vals[i].constant);
        }
    }
    for (int i = 0; i < g->nsteps; i++) {
        bytes += (int64_t)g->steps[i].prim->params_size +
                 (int64_t)g->steps[i].nin * (int64_t)sizeof(int);
    }
    return bytes;
}

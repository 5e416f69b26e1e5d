/*
 * graph.h - the compiled graph: what trace.c records, simplify.c and
 * fuse.c rewrite, cache.c stores and compile.c replays.
 *
 * A graph is a list of values and a list of steps. Values are numbered:
 * inputs first (0 .. ninputs-1, the placeholders of the trace: call
 * arguments, then captured inputs, then the random key when captured),
 * then constants and step outputs in any order. Each step applies one
 * primitive (possibly the fused region primitive of prim/compiled.c) to
 * earlier values and defines `nout` consecutive values starting at
 * `out0`. Steps are in topological order.
 *
 * Invariants: a constant value holds a retained, evaluated array; a
 * step's params are an owned copy (the prim's params_retain was called on
 * it); every value but the inputs is a constant or defined by exactly one
 * step; `meta` is each value's trace-time dtype and shape.
 */
#ifndef KILN_COMPILE_GRAPH_H
#define KILN_COMPILE_GRAPH_H

#include "../core/array.h"

typedef struct kiln_gval {
    kiln_meta meta;
    int step;             /* defining step, -1 for inputs and constants */
    int index;            /* which output of that step */
    kiln_array *constant; /* constants only */
} kiln_gval;

typedef struct kiln_gstep {
    const kiln_prim *prim;
    void *params;         /* owned, prim->params_size bytes, or NULL */
    int nin;
    int *in;              /* value ids */
    int nout;
    int out0;             /* first output value id */
} kiln_gstep;

typedef struct kiln_graph {
    int ninputs;
    int nvals, capvals;
    kiln_gval *vals;
    int nsteps, capsteps;
    kiln_gstep *steps;
    int noutputs;
    int *outputs;         /* value ids */
} kiln_graph;

kiln_graph *kiln__graph_new(int ninputs);
void kiln__graph_free(kiln_graph *g);
/* Adds a value; its id, or -1 when out of memory. */
int kiln__graph_add_val(kiln_graph *g, const kiln_meta *m);
/* Adds a constant value holding a new reference to a (evaluated). */
int kiln__graph_add_const(kiln_graph *g, kiln_array *a);
/* Adds a step (copies params and in[]) defining nout new values of the
 * given metadata; the first value id, or -1 when out of memory. */
int kiln__graph_add_step(kiln_graph *g, const kiln_prim *p,
                         const void *params, const int *in, int nin,
                         const kiln_meta *outm, int nout);
/* Bytes the graph keeps alive (constants, steps), for cache bounds. */
int64_t kiln__graph_bytes(const kiln_graph *g);

#endif

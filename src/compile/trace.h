/*
 * trace.h - placeholders and the recorded graph (trace.c).
 */
#ifndef KILN_COMPILE_TRACE_H
#define KILN_COMPILE_TRACE_H

#include "graph.h"
#include "ptrmap.h"

/* How many traces this thread is inside (compile, and later grad/vmap):
 * a compiled function called while tracing runs its body (inlined). */
int kiln__trace_depth(void);
void kiln__trace_enter(void);
void kiln__trace_leave(void);

/* A walk over a lazy graph: the pending nodes reachable from some roots,
 * inputs first, each once (transforms' recorder walks the same way). */
typedef struct kiln_trace_walk {
    kiln_node **order; /* topological, inputs first */
    int n, cap;
    kiln_ptrmap seen;  /* node -> 1 */
} kiln_trace_walk;

/* Appends every unvisited pending node reachable from root (iterative:
 * chains may be long). */
kiln_status kiln__trace_collect(kiln_trace_walk *w, kiln_node *root,
                                const char *fn);
void kiln__trace_walk_free(kiln_trace_walk *w);

/* A placeholder of the given dtype and shape (new reference). */
kiln_array *kiln__trace_placeholder(const kiln_meta *m);

/* The graph from placeholders ph[0..nph) (value ids 0..nph-1) to outs:
 * steps for the nodes that depend on a placeholder, constants for
 * evaluated leaves (work independent of the placeholders is evaluated
 * now). NULL with an error named after fn on failure. */
kiln_graph *kiln__trace_record(kiln_array *const *ph, int nph,
                               kiln_array *const *outs, int nout,
                               const char *fn);

#endif

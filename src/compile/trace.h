/*
 * trace.h - placeholders and the recorded graph (trace.c).
 */
#ifndef KILN_COMPILE_TRACE_H
#define KILN_COMPILE_TRACE_H

#include "graph.h"

/* How many traces this thread is inside (compile, and later grad/vmap):
 * a compiled function called while tracing runs its body (inlined). */
int kiln__trace_depth(void);
void kiln__trace_enter(void);
void kiln__trace_leave(void);

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

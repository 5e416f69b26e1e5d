/*
 * simplify.h - constant merging, no-op removal, CSE and dead code removal
 * over a traced graph (simplify.c).
 */
#ifndef KILN_COMPILE_SIMPLIFY_H
#define KILN_COMPILE_SIMPLIFY_H

#include "graph.h"

/* A simplified copy of g (g is unchanged); shapeless keeps steps that are
 * no-ops only at the traced shapes. NULL with an error on failure. */
kiln_graph *kiln__simplify(const kiln_graph *g, bool shapeless,
                           const char *fn);

#endif

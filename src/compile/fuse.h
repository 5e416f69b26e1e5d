/*
 * fuse.h - fused regions over a simplified graph (fuse.c).
 */
#ifndef KILN_COMPILE_FUSE_H
#define KILN_COMPILE_FUSE_H

#include "../prim/compiled.h"
#include "graph.h"

/* A copy of g whose fusable chains are replaced by fused steps. The fused
 * objects made are returned in *fused (malloc'd array of *nfused, each
 * with one reference owned by the caller, who attaches kernels to them
 * and then releases them). NULL with an error on failure. */
kiln_graph *kiln__fuse(const kiln_graph *g, bool shapeless,
                       kiln_fused ***fused,
                       int *nfused, const char *fn);

#endif

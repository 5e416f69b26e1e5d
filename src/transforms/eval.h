/*
 * eval.h - the scheduler's internal hooks (kiln_eval itself is public).
 */
#ifndef KILN_TRANSFORMS_EVAL_H
#define KILN_TRANSFORMS_EVAL_H

#include "../core/array.h"

/* Called after each node's eval_cpu succeeds, with the node and its
 * outputs (evaluated, still attached). NULL (the default) in normal use;
 * the registry-driven tests set it to check each primitive's infer against
 * what eval_cpu produced. Not thread-safe to change while evaluating. */
typedef void (*kiln_eval_observer)(const kiln_node *n,
                                   kiln_array *const *outs);
extern kiln_eval_observer kiln__eval_observer;

#endif

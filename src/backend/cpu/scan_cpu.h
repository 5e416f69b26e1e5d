/*
 * scan_cpu.h - eager CPU loops for scans, the tables the scan kinds
 * (prim/reduce.c) point at, and the one driver.
 *
 * A scan primitive's `kernels` field points at a kiln_scan_kind
 * (prim/reduce.h), whose `cpu` is a table defined here: per input dtype,
 * the two loops below. The driver (kiln__cpu_eval_scan) never asks which
 * kind it runs.
 */
#ifndef KILN_CPU_SCAN_CPU_H
#define KILN_CPU_SCAN_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/array.h"
#include "../../prim/reduce.h"

/* Loops of one (scan kind, input dtype); strides in bytes, negative for
 * reverse scans; x and y may be the same memory (each loop reads an element
 * before it writes its result).
 *   line: y[i] = x[0] op ... op x[i] (inclusive) or op over i' < i
 *         (exclusive: the identity first), for i < n.
 *   cols: the same down nrows rows of n <= 256 contiguous columns, row r
 *         at x + r * sxr and y + r * syr, one accumulator per column. */
typedef struct kiln_scan_fns {
    void (*line)(const char *x, int64_t sx, char *y, int64_t sy, int64_t n,
                 bool inclusive);
    void (*cols)(const char *x, int64_t sxr, char *y, int64_t syr,
                 int64_t n, int64_t nrows, bool inclusive);
} kiln_scan_fns;

/* kiln__cpu_scan_<kind>[input dtype] for every scan kind. */
#define KILN_X_(k)                                                        \
    extern const kiln_scan_fns kiln__cpu_scan_##k[KILN_DTYPE_COUNT];
KILN_SCAN_KIND_LIST(KILN_X_)
#undef KILN_X_

/* eval_cpu of every scan (params kiln_scan_params); the kind comes from
 * n->prim->kernels. */
kiln_status kiln__cpu_eval_scan(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out);

#endif

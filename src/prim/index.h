/*
 * index.h - params of the index family (prim/index.c: take,
 * take_along_axis, sort, argsort, topk), shared with the ops that build
 * their nodes (ops/gather.c) and the kernels (backend/cpu/index_cpu.c).
 *
 * Plain bytes, zero-initialised before filling: CSE and the compile cache
 * compare and hash params as bytes.
 */
#ifndef KILN_PRIM_INDEX_H
#define KILN_PRIM_INDEX_H

#include <stdint.h>

typedef struct kiln_index_params {
    int32_t axis; /* normalised axis; 0 when flat */
    int32_t flat; /* 1: x is read as its row-major flattened 1-D form */
    int64_t k;    /* topk: how many; 0 for the other primitives */
} kiln_index_params;

#endif

/*
 * random.h - params of random_bits (prim/random.c), shared with the ops
 * that build its nodes (ops/sampling.c) and the kernel
 * (backend/cpu/random_cpu.c).
 */
#ifndef KILN_PRIM_RANDOM_H
#define KILN_PRIM_RANDOM_H

#include <stdint.h>

#include "kiln.h"

/* The output shape and the bytes per element (1, 2, 4 or 8, giving uint8,
 * uint16, uint32 or uint64). Zero-initialised before filling (dims past
 * ndim stay 0): CSE compares params bytes. The shape is absolute, so the
 * primitive is KILN_PRIM_NO_SHAPELESS. */
typedef struct kiln_random_bits_params {
    int ndim;
    int width;
    int64_t shape[KILN_MAX_NDIM];
} kiln_random_bits_params;

#endif

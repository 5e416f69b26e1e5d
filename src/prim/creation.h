/*
 * creation.h - params of the creation primitives (prim/creation.c), shared
 * with the ops that build their nodes (ops/construct.c) and the fills
 * (backend/cpu/creation_cpu.c). Plain data, zero-initialised before filling
 * (CSE compares params bytes).
 */
#ifndef KILN_PRIM_CREATION_H
#define KILN_PRIM_CREATION_H

#include <stdint.h>

#include "kiln.h"

/* arange: size values start + i * step (integer dtypes: see creation.c);
 * linspace: size values from start to stop inclusive (step unused) */
typedef struct kiln_range_params {
    double start;
    double stop;
    double step;
    int64_t size;
    kiln_dtype dtype;
} kiln_range_params;

/* eye: n x m, ones on diagonal k */
typedef struct kiln_eye_params {
    int64_t n;
    int64_t m;
    int64_t k;
    kiln_dtype dtype;
} kiln_eye_params;

#endif

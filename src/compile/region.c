/*
 * region.c - names of dtypes in generated code, and freeing regions.
 */
#include "region.h"

#include <stdlib.h>

#define NAMES(X)                                                          \
    X(BOOL, "b", "kiln_b", "kiln_b")                                      \
    X(UINT8, "u8", "uint8_t", "uint8_t")                                  \
    X(UINT16, "u16", "uint16_t", "uint16_t")                              \
    X(UINT32, "u32", "uint32_t", "uint32_t")                              \
    X(UINT64, "u64", "uint64_t", "uint64_t")                              \
    X(INT8, "i8", "int8_t", "int8_t")                                     \
    X(INT16, "i16", "int16_t", "int16_t")                                 \
    X(INT32, "i32", "int32_t", "int32_t")                                 \
    X(INT64, "i64", "int64_t", "int64_t")                                 \
    X(FLOAT16, "f32", "float", "kiln_f16")                                \
    X(BFLOAT16, "f32", "float", "kiln_bf16")                              \
    X(FLOAT32, "f32", "float", "float")                                   \
    X(FLOAT64, "f64", "double", "double")

#define SUFFIX(D, s, c, st) [KILN_DTYPE_##D] = s,
#define CTYPE(D, s, c, st) [KILN_DTYPE_##D] = c,
#define STYPE(D, s, c, st) [KILN_DTYPE_##D] = st,
static const char *const suffixes[KILN_DTYPE_COUNT] = {NAMES(SUFFIX)};
static const char *const ctypes[KILN_DTYPE_COUNT] = {NAMES(CTYPE)};
static const char *const stypes[KILN_DTYPE_COUNT] = {NAMES(STYPE)};

const char *kiln__region_tsuffix(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DTYPE_COUNT ? suffixes[dt] : "?";
}

const char *kiln__region_ctype(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DTYPE_COUNT ? ctypes[dt] : "?";
}

const char *kiln__region_stype(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DTYPE_COUNT ? stypes[dt] : "?";
}

void kiln__region_free(kiln_region *r)
{
    if (!r) {
        return;
    }
    for (int i = 0; i < r->nvals; i++) {
        free((void *)r->vals[i].params);
    }
    free(r->vals);
    free(r->in_dtype);
    free(r->in_ndim);
    free(r->in_outer);
    free(r->out_val);
    free(r->out_ndim);
    free(r->dom);
    free(r);
}

/*
 * dtype.c - dtype tables, promotion and single-value conversion.
 *
 * Invariant: every table here is generated from KILN_DTYPE_LIST, so adding a
 * dtype is one line there plus its storage type in the backend.
 */
#include "dtype.h"

#include <math.h>
#include <string.h>

#include "half.h"

static const char *const dtype_names[] = {
#define X(N, n, s) #n,
    KILN_DTYPE_LIST(X)
#undef X
};

static const size_t dtype_sizes[] = {
#define X(N, n, s) s,
    KILN_DTYPE_LIST(X)
#undef X
};

bool kiln__dtype_valid(kiln_dtype dt)
{
    return (unsigned)dt < KILN_DTYPE_COUNT;
}

const char *kiln_dtype_name(kiln_dtype dt)
{
    return kiln__dtype_valid(dt) ? dtype_names[dt] : "invalid dtype";
}

size_t kiln_dtype_size(kiln_dtype dt)
{
    return kiln__dtype_valid(dt) ? dtype_sizes[dt] : 0;
}

bool kiln_dtype_is_float(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16 ||
           dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT64;
}

static bool is_unsigned(kiln_dtype dt)
{
    return dt >= KILN_DTYPE_UINT8 && dt <= KILN_DTYPE_UINT64;
}

static bool is_sint(kiln_dtype dt)
{
    return dt >= KILN_DTYPE_INT8 && dt <= KILN_DTYPE_INT64;
}

bool kiln_dtype_is_integer(kiln_dtype dt)
{
    return is_unsigned(dt) || is_sint(dt);
}

bool kiln_dtype_is_signed(kiln_dtype dt)
{
    return is_sint(dt) || kiln_dtype_is_float(dt);
}

static kiln_dtype sint_of_size(size_t s)
{
    switch (s) {
    case 1:
        return KILN_DTYPE_INT8;
    case 2:
        return KILN_DTYPE_INT16;
    case 4:
        return KILN_DTYPE_INT32;
    default:
        return KILN_DTYPE_INT64;
    }
}

kiln_dtype kiln_promote_types(kiln_dtype a, kiln_dtype b)
{
    if (!kiln__dtype_valid(a) || !kiln__dtype_valid(b)) {
        return KILN_DTYPE_FLOAT32;
    }
    if (a == b || b == KILN_DTYPE_BOOL) {
        return a;
    }
    if (a == KILN_DTYPE_BOOL) {
        return b;
    }
    if (kiln_dtype_is_float(a) && kiln_dtype_is_float(b)) {
        if (a == KILN_DTYPE_FLOAT64 || b == KILN_DTYPE_FLOAT64) {
            return KILN_DTYPE_FLOAT64;
        }
        /* f16 with bf16 (the only remaining unequal pair of 2-byte
         * floats) or anything with f32 */
        return KILN_DTYPE_FLOAT32;
    }
    if (kiln_dtype_is_float(a)) {
        return a;
    }
    if (kiln_dtype_is_float(b)) {
        return b;
    }
    if (is_unsigned(a) == is_unsigned(b)) {
        return dtype_sizes[a] >= dtype_sizes[b] ? a : b;
    }
    /* one unsigned u, one signed s */
    kiln_dtype u = is_unsigned(a) ? a : b;
    kiln_dtype s = is_unsigned(a) ? b : a;
    if (dtype_sizes[u] < dtype_sizes[s]) {
        return s;
    }
    if (dtype_sizes[u] == 8) {
        return KILN_DTYPE_FLOAT32;
    }
    return sint_of_size(2 * dtype_sizes[u]);
}

kiln_dtype kiln__dtype_promote_weak(kiln_dtype a, bool a_weak, kiln_dtype b,
                                    bool b_weak, bool *weak_out)
{
    *weak_out = a_weak && b_weak;
    if (a_weak == b_weak) {
        return kiln_promote_types(a, b);
    }
    kiln_dtype strong = a_weak ? b : a;
    kiln_dtype weak = a_weak ? a : b;
    if (kiln_dtype_is_float(weak)) {
        return kiln_dtype_is_float(strong) ? strong : weak;
    }
    if (strong == KILN_DTYPE_BOOL) {
        return weak;
    }
    return strong;
}

kiln_dtype kiln__dtype_to_float(kiln_dtype dt)
{
    return kiln_dtype_is_float(dt) ? dt : KILN_DTYPE_FLOAT32;
}

double kiln__dtype_load_f64(const void *p, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        return *(const uint8_t *)p ? 1.0 : 0.0;
    case KILN_DTYPE_UINT8:
        return *(const uint8_t *)p;
    case KILN_DTYPE_UINT16:
        return *(const uint16_t *)p;
    case KILN_DTYPE_UINT32:
        return *(const uint32_t *)p;
    case KILN_DTYPE_UINT64:
        return (double)*(const uint64_t *)p;
    case KILN_DTYPE_INT8:
        return *(const int8_t *)p;
    case KILN_DTYPE_INT16:
        return *(const int16_t *)p;
    case KILN_DTYPE_INT32:
        return *(const int32_t *)p;
    case KILN_DTYPE_INT64:
        return (double)*(const int64_t *)p;
    case KILN_DTYPE_FLOAT16:
        return kiln_f16_to_f32(*(const kiln_f16 *)p);
    case KILN_DTYPE_BFLOAT16:
        return kiln_bf16_to_f32(*(const kiln_bf16 *)p);
    case KILN_DTYPE_FLOAT32:
        return *(const float *)p;
    case KILN_DTYPE_FLOAT64:
        return *(const double *)p;
    default:
        return 0.0;
    }
}

int64_t kiln__dtype_load_i64(const void *p, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_UINT64:
        return (int64_t)*(const uint64_t *)p;
    case KILN_DTYPE_INT64:
        return *(const int64_t *)p;
    case KILN_DTYPE_UINT32:
        return *(const uint32_t *)p;
    case KILN_DTYPE_INT32:
        return *(const int32_t *)p;
    default: {
        double v = kiln__dtype_load_f64(p, dt);
        if (isnan(v)) {
            return 0;
        }
        if (v >= 9223372036854775807.0) {
            return INT64_MAX;
        }
        if (v <= -9223372036854775808.0) {
            return INT64_MIN;
        }
        return (int64_t)v;
    }
    }
}

/* Saturating float-to-integer conversion, the same rule as the astype
 * kernels (kiln_cvt_* in scalar.h): C leaves out-of-range conversions
 * undefined; we truncate, clamp to [lo, hi] and send NaN to 0. hi_excl is
 * the power of two just above hi (exact in double, unlike hi itself for
 * 64-bit types). */
static int64_t sat_int(double v, int64_t lo, int64_t hi, double hi_excl)
{
    if (isnan(v)) {
        return 0;
    }
    if (v <= (double)lo) {
        return lo;
    }
    return v >= hi_excl ? hi : (int64_t)v;
}

static uint64_t sat_uint(double v, uint64_t hi, double hi_excl)
{
    if (isnan(v) || v <= 0.0) {
        return 0;
    }
    return v >= hi_excl ? hi : (uint64_t)v;
}

void kiln__dtype_store_f64(void *p, kiln_dtype dt, double v)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        *(uint8_t *)p = v != 0.0;
        break;
    case KILN_DTYPE_UINT8:
        *(uint8_t *)p = (uint8_t)sat_uint(v, UINT8_MAX, 256.0);
        break;
    case KILN_DTYPE_UINT16:
        *(uint16_t *)p = (uint16_t)sat_uint(v, UINT16_MAX, 65536.0);
        break;
    case KILN_DTYPE_UINT32:
        *(uint32_t *)p = (uint32_t)sat_uint(v, UINT32_MAX, 4294967296.0);
        break;
    case KILN_DTYPE_UINT64:
        *(uint64_t *)p = sat_uint(v, UINT64_MAX, 18446744073709551616.0);
        break;
    case KILN_DTYPE_INT8:
        *(int8_t *)p = (int8_t)sat_int(v, INT8_MIN, INT8_MAX, 128.0);
        break;
    case KILN_DTYPE_INT16:
        *(int16_t *)p = (int16_t)sat_int(v, INT16_MIN, INT16_MAX, 32768.0);
        break;
    case KILN_DTYPE_INT32:
        *(int32_t *)p =
            (int32_t)sat_int(v, INT32_MIN, INT32_MAX, 2147483648.0);
        break;
    case KILN_DTYPE_INT64:
        *(int64_t *)p =
            sat_int(v, INT64_MIN, INT64_MAX, 9223372036854775808.0);
        break;
    case KILN_DTYPE_FLOAT16:
        *(kiln_f16 *)p = kiln_f64_to_f16(v);
        break;
    case KILN_DTYPE_BFLOAT16:
        *(kiln_bf16 *)p = kiln_f64_to_bf16(v);
        break;
    case KILN_DTYPE_FLOAT32:
        *(float *)p = (float)v;
        break;
    case KILN_DTYPE_FLOAT64:
        *(double *)p = v;
        break;
    default:
        break;
    }
}

void kiln__dtype_store_i64(void *p, kiln_dtype dt, int64_t v)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        *(uint8_t *)p = v != 0;
        break;
    case KILN_DTYPE_UINT8:
        *(uint8_t *)p = (uint8_t)v;
        break;
    case KILN_DTYPE_UINT16:
        *(uint16_t *)p = (uint16_t)v;
        break;
    case KILN_DTYPE_UINT32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case KILN_DTYPE_UINT64:
        *(uint64_t *)p = (uint64_t)v;
        break;
    case KILN_DTYPE_INT8:
        *(int8_t *)p = (int8_t)v;
        break;
    case KILN_DTYPE_INT16:
        *(int16_t *)p = (int16_t)v;
        break;
    case KILN_DTYPE_INT32:
        *(int32_t *)p = (int32_t)v;
        break;
    case KILN_DTYPE_INT64:
        *(int64_t *)p = v;
        break;
    default:
        kiln__dtype_store_f64(p, dt, (double)v);
        break;
    }
}

void kiln__dtype_store_u64(void *p, kiln_dtype dt, uint64_t v)
{
    if (dt == KILN_DTYPE_UINT64) {
        *(uint64_t *)p = v;
    } else if (kiln_dtype_is_float(dt)) {
        kiln__dtype_store_f64(p, dt, (double)v);
    } else {
        kiln__dtype_store_i64(p, dt, (int64_t)v);
    }
}

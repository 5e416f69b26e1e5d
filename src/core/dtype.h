/*
 * dtype.h - dtype facts and promotion (the public part is in kiln.h).
 *
 * The dtype list in kiln.h generates every table here. Promotion follows MLX:
 * bool < integers < floats; mixing signed and unsigned integers widens to a
 * signed type (uint64 with a signed type gives float32); float16 with
 * bfloat16 gives float32. "Weak" scalars (Python numbers) defer to the other
 * operand's dtype where it can hold their kind.
 */
#ifndef KILN_CORE_DTYPE_H
#define KILN_CORE_DTYPE_H

#include "kiln.h"

/* true when dt is a valid enumerator */
bool kiln__dtype_valid(kiln_dtype dt);
/* Promotion of two operands, taking weak (Python scalar) operands into
 * account. *weak_out is set when both operands were weak. */
kiln_dtype kiln__dtype_promote_weak(kiln_dtype a, bool a_weak, kiln_dtype b,
                                    bool b_weak, bool *weak_out);
/* The float dtype an op on transcendental math computes in: dt itself when
 * it is a float, else float32. */
kiln_dtype kiln__dtype_to_float(kiln_dtype dt);

/* Converts one value between dtypes (used for scalars and items, not in
 * hot loops). */
double kiln__dtype_load_f64(const void *p, kiln_dtype dt);
int64_t kiln__dtype_load_i64(const void *p, kiln_dtype dt);
void kiln__dtype_store_f64(void *p, kiln_dtype dt, double v);
void kiln__dtype_store_i64(void *p, kiln_dtype dt, int64_t v);
void kiln__dtype_store_u64(void *p, kiln_dtype dt, uint64_t v);

#endif

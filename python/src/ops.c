/*
 * ops.c - the math functions of the kiln module with mlx.core's
 * signatures: every elementwise op of kiln.h's KILN_UNARY_OP_LIST and
 * KILN_BINARY_OP_LIST (method tables stamped from those lists), round,
 * where, clip, degrees, radians, divmod, nan_to_num, the whole-array
 * comparisons (array_equal, isclose, allclose) and linear algebra
 * (matmul, addmm, inner, outer). Reductions and scans live in
 * ops_reduce.c; pk_init_ops registers both.
 *
 * Operands follow MLX's Python binding: a function taking one array turns
 * a Python scalar into a plain (strong) array, bool -> bool, int -> int32,
 * float -> float32; a function pairing two operands (add, where's x and y,
 * clip's bounds against a) makes a Python scalar weak when the other side
 * is not a Python scalar, so float16_array + 2.0 stays float16, while two
 * Python scalars both become strong arrays (add(1, 2.5) is float32).
 * Positional parameters are positional-only where MLX's are; every
 * function takes a keyword-only `stream` and ignores it (one CPU device).
 *
 * Invariants: nothing here evaluates (every op only builds the lazy
 * graph), so the GIL is held throughout; every kiln array a function makes
 * or converts is released on every path before it returns.
 */
#include "pykiln.h"

#include <float.h>

/* ------------------------------------------------------------------ */
/* operands                                                           */
/* ------------------------------------------------------------------ */

static int is_py_scalar(PyObject *o)
{
    return PyBool_Check(o) || PyLong_Check(o) || PyFloat_Check(o);
}

/* Converts a pair of operands with MLX's weak-scalar rule (file comment).
 * 0, or -1 with an exception and nothing to release. */
static int pair_operands(PyObject *ao, PyObject *bo, kiln_array **a,
                         kiln_array **b)
{
    int sa = is_py_scalar(ao), sb = is_py_scalar(bo);
    if (sa && sb) {
        *a = pk_to_array(ao, -1);
        *b = *a ? pk_to_array(bo, -1) : NULL;
    } else if (sa) {
        /* the scalar must fit the array's dtype (MLX raises) */
        *b = pk_operand(bo);
        *a = *b ? pk_convert_operand(ao, kiln_array_dtype(*b)) : NULL;
    } else {
        *a = pk_operand(ao);
        *b = *a ? pk_convert_operand(bo, kiln_array_dtype(*a)) : NULL;
    }
    if (!*a || !*b) {
        kiln_array_release(*a);
        kiln_array_release(*b);
        return -1;
    }
    return 0;
}

/* Two plain array arguments (matmul and friends). 0 or -1. */
static int two_arrays(PyObject *ao, PyObject *bo, kiln_array **a,
                      kiln_array **b)
{
    *a = pk_to_array(ao, -1);
    if (!*a) {
        return -1;
    }
    *b = pk_to_array(bo, -1);
    if (!*b) {
        kiln_array_release(*a);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* elementwise ops from kiln.h's lists                                */
/* ------------------------------------------------------------------ */

typedef kiln_array *(*unary_fn)(kiln_array *);
typedef kiln_array *(*binary_fn)(kiln_array *, kiln_array *);

static PyObject *call_unary(PyObject *args, PyObject *kw, unary_fn f,
                            const char *format)
{
    static char *kwlist[] = {"", "stream", NULL};
    PyObject *ao, *stream = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao,
                                     &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = f(a);
    kiln_array_release(a);
    return pk_wrap(y);
}

/* f(a, b) on two operands converted by `convert` (pair_operands: weak
 * Python scalars; two_arrays: plain arrays, for linear algebra). */
static PyObject *call_binary_with(PyObject *args, PyObject *kw, binary_fn f,
                                  const char *format,
                                  int (*convert)(PyObject *, PyObject *,
                                                 kiln_array **,
                                                 kiln_array **))
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    kiln_array *a, *b;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &bo,
                                     &stream)) {
        return NULL;
    }
    if (convert(ao, bo, &a, &b) < 0) {
        return NULL;
    }
    kiln_array *y = f(a, b);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_wrap(y);
}

/* One wrapper per op, e.g. for exp:
 *   static PyObject *unary_exp(PyObject *self, PyObject *args,
 *                              PyObject *kw)
 *   { (void)self; return call_unary(args, kw, kiln_exp, "O|$O:exp"); }
 */
#define UNARY_WRAPPER(name)                                               \
    static PyObject *unary_##name(PyObject *self, PyObject *args,         \
                                  PyObject *kw)                           \
    {                                                                     \
        (void)self;                                                       \
        return call_unary(args, kw, kiln_##name, "O|$O:" #name);          \
    }
KILN_UNARY_OP_LIST(UNARY_WRAPPER)
#undef UNARY_WRAPPER

#define BINARY_WRAPPER(name)                                              \
    static PyObject *binary_##name(PyObject *self, PyObject *args,        \
                                   PyObject *kw)                          \
    {                                                                     \
        (void)self;                                                       \
        return call_binary_with(args, kw, kiln_##name, "OO|$O:" #name,    \
                                pair_operands);                           \
    }
KILN_BINARY_OP_LIST(BINARY_WRAPPER)
#undef BINARY_WRAPPER

/* ------------------------------------------------------------------ */
/* other elementwise functions                                        */
/* ------------------------------------------------------------------ */

static PyObject *py_round(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "decimals", "stream", NULL};
    PyObject *ao, *stream = NULL;
    int decimals = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i$O:round", kwlist, &ao,
                                     &decimals, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *y = kiln_round(a, decimals);
    kiln_array_release(a);
    return pk_wrap(y);
}

static PyObject *py_where(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "", "stream", NULL};
    PyObject *co, *xo, *yo, *stream = NULL;
    kiln_array *x, *y;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$O:where", kwlist, &co,
                                     &xo, &yo, &stream)) {
        return NULL;
    }
    kiln_array *c = pk_to_array(co, -1);
    if (!c) {
        return NULL;
    }
    if (pair_operands(xo, yo, &x, &y) < 0) {
        kiln_array_release(c);
        return NULL;
    }
    kiln_array *r = kiln_where(c, x, y);
    kiln_array_release(c);
    kiln_array_release(x);
    kiln_array_release(y);
    return pk_wrap(r);
}

static PyObject *py_clip(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "a_min", "a_max", "stream", NULL};
    PyObject *ao, *lo_o, *hi_o, *stream = NULL;
    kiln_array *lo = NULL, *hi = NULL, *y = NULL;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|$O:clip", kwlist, &ao,
                                     &lo_o, &hi_o, &stream)) {
        return NULL;
    }
    if (lo_o == Py_None && hi_o == Py_None) {
        PyErr_SetString(PyExc_ValueError,
                        "[clip] a_min and a_max cannot both be None");
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_dtype dt = kiln_array_dtype(a);
    if (lo_o != Py_None && !(lo = pk_convert_operand(lo_o, dt))) {
        goto release_a;
    }
    if (hi_o != Py_None && !(hi = pk_convert_operand(hi_o, dt))) {
        goto release_lo;
    }
    y = kiln_clip(a, lo, hi);
    kiln_array_release(hi);
    kiln_array_release(lo);
    kiln_array_release(a);
    return pk_wrap(y);
release_lo:
    kiln_array_release(lo);
release_a:
    kiln_array_release(a);
    return NULL;
}

/* a * factor in a's float dtype (MLX's degrees and radians). */
static PyObject *scale_angle(PyObject *args, PyObject *kw, double factor,
                             const char *format)
{
    static char *kwlist[] = {"", "stream", NULL};
    PyObject *ao, *stream = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao,
                                     &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_array *f =
        kiln_scalar_f64(factor, pk_float_dtype(kiln_array_dtype(a)));
    kiln_array *y = kiln_multiply(a, f);
    kiln_array_release(f);
    kiln_array_release(a);
    return pk_wrap(y);
}

static PyObject *py_degrees(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return scale_angle(args, kw, 57.295779513082320876798, "O|$O:degrees");
}

static PyObject *py_radians(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return scale_angle(args, kw, 0.017453292519943295769237,
                       "O|$O:radians");
}

static PyObject *py_divmod(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    kiln_array *a, *b;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:divmod", kwlist, &ao,
                                     &bo, &stream)) {
        return NULL;
    }
    if (pair_operands(ao, bo, &a, &b) < 0) {
        return NULL;
    }
    PyObject *q = pk_wrap(kiln_floor_divide(a, b));
    PyObject *r = q ? pk_wrap(kiln_remainder(a, b)) : NULL;
    kiln_array_release(a);
    kiln_array_release(b);
    if (!r) {
        Py_XDECREF(q);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, q, r);
    Py_DECREF(q);
    Py_DECREF(r);
    return t;
}

/* The largest finite value of a float dtype. */
static double dtype_max(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
        return 65504.0;
    case KILN_DTYPE_BFLOAT16:
        return 3.3895313892515355e38;
    case KILN_DTYPE_FLOAT64:
        return DBL_MAX;
    default:
        return FLT_MAX;
    }
}

/* An optional float argument: None keeps *out. 0 or -1. */
static int opt_double(PyObject *o, double *out)
{
    if (o == Py_None) {
        return 0;
    }
    double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
        return -1;
    }
    *out = v;
    return 0;
}

/* where(mask_fn(x), value, y), consuming y; NULL on error. */
static kiln_array *replace_where(kiln_array *x, kiln_array *y,
                                 unary_fn mask_fn, double value)
{
    kiln_array *m = mask_fn(x);
    kiln_array *v = kiln_scalar_f64(value, kiln_array_dtype(x));
    kiln_array *r = (m && v && y) ? kiln_where(m, v, y) : NULL;
    kiln_array_release(m);
    kiln_array_release(v);
    kiln_array_release(y);
    return r;
}

static PyObject *py_nan_to_num(PyObject *self, PyObject *args,
                               PyObject *kw)
{
    static char *kwlist[] = {"", "nan", "posinf", "neginf", "stream", NULL};
    PyObject *ao, *pos_o = Py_None, *neg_o = Py_None, *stream = NULL;
    double nan = 0.0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|dOO$O:nan_to_num", kwlist,
                                     &ao, &nan, &pos_o, &neg_o, &stream)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    kiln_dtype dt = kiln_array_dtype(a);
    if (!kiln_dtype_is_float(dt)) {
        return pk_wrap(a); /* nothing to replace, as MLX */
    }
    double posinf = dtype_max(dt), neginf = -dtype_max(dt);
    if (opt_double(pos_o, &posinf) < 0 || opt_double(neg_o, &neginf) < 0) {
        kiln_array_release(a);
        return NULL;
    }
    kiln_array *y = replace_where(a, kiln_array_retain(a), kiln_isnan, nan);
    y = replace_where(a, y, kiln_isposinf, posinf);
    y = replace_where(a, y, kiln_isneginf, neginf);
    kiln_array_release(a);
    return pk_wrap(y);
}

/* ------------------------------------------------------------------ */
/* whole-array comparisons                                            */
/* ------------------------------------------------------------------ */

static PyObject *py_array_equal(PyObject *self, PyObject *args,
                                PyObject *kw)
{
    static char *kwlist[] = {"", "", "equal_nan", "stream", NULL};
    PyObject *ao, *bo, *stream = NULL;
    int equal_nan = 0;
    kiln_array *a, *b;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$pO:array_equal", kwlist,
                                     &ao, &bo, &equal_nan, &stream)) {
        return NULL;
    }
    if (pair_operands(ao, bo, &a, &b) < 0) {
        return NULL;
    }
    kiln_array *y = kiln_array_equal(a, b, equal_nan != 0);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_wrap(y);
}

typedef kiln_array *(*close_fn)(kiln_array *, kiln_array *, double, double,
                                bool);

static PyObject *call_close(PyObject *args, PyObject *kw, close_fn f,
                            const char *format)
{
    static char *kwlist[] = {"", "", "rtol", "atol", "equal_nan", "stream",
                             NULL};
    PyObject *ao, *bo, *stream = NULL;
    double rtol = 1e-5, atol = 1e-8;
    int equal_nan = 0;
    kiln_array *a, *b;
    if (!PyArg_ParseTupleAndKeywords(args, kw, format, kwlist, &ao, &bo,
                                     &rtol, &atol, &equal_nan, &stream)) {
        return NULL;
    }
    if (two_arrays(ao, bo, &a, &b) < 0) {
        return NULL;
    }
    kiln_array *y = f(a, b, rtol, atol, equal_nan != 0);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_wrap(y);
}

static PyObject *py_isclose(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_close(args, kw, kiln_isclose, "OO|dd$pO:isclose");
}

static PyObject *py_allclose(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_close(args, kw, kiln_allclose, "OO|dd$pO:allclose");
}

/* ------------------------------------------------------------------ */
/* linear algebra                                                     */
/* ------------------------------------------------------------------ */

static PyObject *py_matmul(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_binary_with(args, kw, kiln_matmul, "OO|$O:matmul",
                            two_arrays);
}

static PyObject *py_inner(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_binary_with(args, kw, kiln_inner, "OO|$O:inner",
                            two_arrays);
}

static PyObject *py_outer(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return call_binary_with(args, kw, kiln_outer, "OO|$O:outer",
                            two_arrays);
}

static PyObject *py_addmm(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"", "", "", "alpha", "beta", "stream", NULL};
    PyObject *co, *ao, *bo, *stream = NULL;
    double alpha = 1.0, beta = 1.0;
    kiln_array *a, *b;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|dd$O:addmm", kwlist, &co,
                                     &ao, &bo, &alpha, &beta, &stream)) {
        return NULL;
    }
    kiln_array *c = pk_to_array(co, -1);
    if (!c) {
        return NULL;
    }
    if (two_arrays(ao, bo, &a, &b) < 0) {
        kiln_array_release(c);
        return NULL;
    }
    kiln_array *y = kiln_addmm(c, a, b, alpha, beta);
    kiln_array_release(c);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_wrap(y);
}

/* ------------------------------------------------------------------ */
/* method table                                                       */
/* ------------------------------------------------------------------ */

#define UNARY_ENTRY(name)                                                 \
    {#name, PK_FN(unary_##name), PK_KW,                                   \
     #name "(a, /, *, stream=None)\n--\n\nElement-wise " #name " of a."},
#define BINARY_ENTRY(name)                                                \
    {#name, PK_FN(binary_##name), PK_KW,                                  \
     #name "(a, b, /, *, stream=None)\n--\n\nElement-wise " #name         \
     " of a and b (arrays or scalars), broadcast."},

static PyMethodDef ops_methods[] = {
    KILN_UNARY_OP_LIST(UNARY_ENTRY)
    KILN_BINARY_OP_LIST(BINARY_ENTRY)
    {"round", PK_FN(py_round), PK_KW,
     "round(a, /, decimals=0, *, stream=None)\n--\n\n"
     "Rounds half to even to the given number of decimals."},
    {"where", PK_FN(py_where), PK_KW,
     "where(condition, x, y, /, *, stream=None)\n--\n\n"
     "x where condition is true, else y (broadcast)."},
    {"clip", PK_FN(py_clip), PK_KW,
     "clip(a, /, a_min, a_max, *, stream=None)\n--\n\n"
     "a clipped to [a_min, a_max]; one bound may be None."},
    {"degrees", PK_FN(py_degrees), PK_KW,
     "degrees(a, /, *, stream=None)\n--\n\nRadians to degrees."},
    {"radians", PK_FN(py_radians), PK_KW,
     "radians(a, /, *, stream=None)\n--\n\nDegrees to radians."},
    {"divmod", PK_FN(py_divmod), PK_KW,
     "divmod(a, b, /, *, stream=None)\n--\n\n"
     "The tuple (a // b, a % b)."},
    {"nan_to_num", PK_FN(py_nan_to_num), PK_KW,
     "nan_to_num(a, /, nan=0.0, posinf=None, neginf=None, *, "
     "stream=None)\n--\n\n"
     "Replaces NaN and infinities by finite numbers (None: the dtype's "
     "largest finite value)."},
    {"array_equal", PK_FN(py_array_equal), PK_KW,
     "array_equal(a, b, /, *, equal_nan=False, stream=None)\n--\n\n"
     "A bool scalar array: same shape and equal values."},
    {"isclose", PK_FN(py_isclose), PK_KW,
     "isclose(a, b, /, rtol=1e-05, atol=1e-08, *, equal_nan=False, "
     "stream=None)\n--\n\n"
     "Element-wise abs(a - b) <= atol + rtol * abs(b)."},
    {"allclose", PK_FN(py_allclose), PK_KW,
     "allclose(a, b, /, rtol=1e-05, atol=1e-08, *, equal_nan=False, "
     "stream=None)\n--\n\n"
     "A bool scalar array: all(isclose(a, b))."},
    {"matmul", PK_FN(py_matmul), PK_KW,
     "matmul(a, b, /, *, stream=None)\n--\n\n"
     "Matrix product with numpy's rules (1-D operands, batch "
     "broadcasting)."},
    {"addmm", PK_FN(py_addmm), PK_KW,
     "addmm(c, a, b, /, alpha=1.0, beta=1.0, *, stream=None)\n--\n\n"
     "alpha * (a @ b) + beta * c."},
    {"inner", PK_FN(py_inner), PK_KW,
     "inner(a, b, /, *, stream=None)\n--\n\n"
     "Sum product over the last axes."},
    {"outer", PK_FN(py_outer), PK_KW,
     "outer(a, b, /, *, stream=None)\n--\n\n"
     "Outer product of a and b, flattened first."},
    {NULL, NULL, 0, NULL},
};

/* NumPy-style names MLX also has, bound to the same functions (messages
 * name the original). */
static int add_aliases(PyObject *m)
{
    static const char *const alias[][2] = {
        {"acos", "arccos"},         {"acosh", "arccosh"},
        {"asin", "arcsin"},         {"asinh", "arcsinh"},
        {"atan", "arctan"},         {"atanh", "arctanh"},
        {"atan2", "arctan2"},       {"pow", "power"},
        {"bitwise_left_shift", "left_shift"},
        {"bitwise_right_shift", "right_shift"},
        {"asarray", "array"},       {"empty", "zeros"},
        {"empty_like", "zeros_like"}, {"cumulative_sum", "cumsum"},
        {"cumulative_prod", "cumprod"}, {"conjugate", "conj"}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++) {
        PyObject *f = PyObject_GetAttrString(m, alias[i][1]);
        if (!f || PyModule_AddObject(m, alias[i][0], f) < 0) {
            Py_XDECREF(f);
            return -1;
        }
    }
    return 0;
}

int pk_init_ops(PyObject *m)
{
    if (PyModule_AddFunctions(m, ops_methods) < 0) {
        return -1;
    }
    return pk_init_ops_reduce(m);
}

int pk_init_aliases(PyObject *m)
{
    return add_aliases(m);
}

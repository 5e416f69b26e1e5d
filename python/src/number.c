/*
 * number.c - the operators of kiln.array: arithmetic, bitwise and
 * comparison operators with their reflected and in-place forms, unary
 * -, +, ~, abs(), and the conversions bool(), int(), float() and
 * operator.index().
 *
 * Operands follow mlx.core.array: the other operand may be a kiln.array,
 * a Python bool/int/float (a weak scalar, so float16_array * 2.0 stays
 * float16), or anything kiln.array() accepts (lists, numpy arrays). A
 * Python int that does not fit a narrow integer array's dtype raises
 * ValueError, as MLX does. An operand that cannot become an array gives
 * NotImplemented, so Python raises TypeError (or, for == and !=, falls
 * back to identity: x == None is False, as in MLX).
 *
 * In-place forms (x += y) compute the result and make the wrapper hold it
 * (MLX overwrites the array's descriptor the same way), so every Python
 * reference to that object sees the new value; the result may promote
 * (int32 += 1.5 gives float32), except /= which needs a float array.
 *
 * Invariants: each binary operator converts exactly its two operands and
 * releases both on every path; a wrapper's array is swapped only after
 * the new value was built, so a failed in-place op leaves it unchanged.
 */
#include "pykiln.h"

typedef kiln_array *(*binary_fn)(kiln_array *, kiln_array *);

/* What an operator's operands must satisfy beyond converting. */
enum { ANY_DTYPE, NO_FLOAT };

/* ------------------------------------------------------------------ */
/* operands                                                           */
/* ------------------------------------------------------------------ */

/* Converts the pair (o1, o2), one of which is a kiln.array. 1 with both
 * set, 0 for NotImplemented (nothing set, no exception), -1 with an
 * exception. */
static int operands(PyObject *o1, PyObject *o2, kiln_array **a,
                    kiln_array **b)
{
    int left = PkArray_Check(o1);
    if (!left && !PkArray_Check(o2)) {
        return 0;
    }
    /* held first: converting the other operand may run Python code
     * (__array__) that assigns into this array, replacing its value */
    kiln_array *mine = kiln_array_retain(((PkArray *)(left ? o1 : o2))->a);
    PyObject *other = left ? o2 : o1;
    kiln_array *theirs = pk_convert_operand(other, kiln_array_dtype(mine));
    if (!theirs) {
        kiln_array_release(mine);
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    *a = left ? mine : theirs;
    *b = left ? theirs : mine;
    return 1;
}

static int check_dtypes(kiln_array *a, kiln_array *b, int rule,
                        const char *what)
{
    if (rule == NO_FLOAT &&
        (kiln_dtype_is_float(kiln_array_dtype(a)) ||
         kiln_dtype_is_float(kiln_array_dtype(b)))) {
        PyErr_Format(PyExc_ValueError, "floating point types are not "
                     "allowed with %s", what);
        return -1;
    }
    return 0;
}

/* The result of f on (o1, o2) as a new kiln array; *notimpl is set (and
 * NULL returned without an exception) when an operand does not convert.
 */
static kiln_array *apply(PyObject *o1, PyObject *o2, binary_fn f,
                         int rule, const char *what, int *notimpl)
{
    kiln_array *a, *b;
    *notimpl = 0;
    int st = operands(o1, o2, &a, &b);
    if (st <= 0) {
        *notimpl = st == 0;
        return NULL;
    }
    kiln_array *y = NULL;
    if (check_dtypes(a, b, rule, what) == 0) {
        y = f(a, b);
        if (!y) {
            pk_raise();
        }
    }
    kiln_array_release(a);
    kiln_array_release(b);
    return y;
}

static PyObject *binary(PyObject *o1, PyObject *o2, binary_fn f, int rule,
                        const char *what)
{
    int notimpl;
    kiln_array *y = apply(o1, o2, f, rule, what, &notimpl);
    if (notimpl) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return y ? pk_wrap(y) : NULL;
}

/* self op= o: the wrapper takes the result; returns self. */
static PyObject *inplace(PyObject *self, PyObject *o, binary_fn f,
                         int rule, const char *what)
{
    if (!PkArray_Check(self)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    int notimpl;
    kiln_array *y = apply(self, o, f, rule, what, &notimpl);
    if (notimpl) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    if (!y) {
        return NULL;
    }
    PkArray *s = (PkArray *)self;
    kiln_array *old = s->a;
    s->a = y;
    kiln_array_release(old);
    return Py_NewRef(self);
}

/* ------------------------------------------------------------------ */
/* binary operators                                                   */
/* ------------------------------------------------------------------ */

/* One pair of slot functions per operator; e.g. OPERATOR(add, add,
 * ANY_DTYPE, "addition") defines num_add(a, b), which is
 * binary(a, b, kiln_add, ANY_DTYPE, "addition"), and num_iadd. */
#define OPERATOR(slot, fn, rule, what)                                    \
    static PyObject *num_##slot(PyObject *a, PyObject *b)                 \
    {                                                                     \
        return binary(a, b, kiln_##fn, rule, what);                       \
    }                                                                     \
    static PyObject *num_i##slot(PyObject *a, PyObject *b)                \
    {                                                                     \
        return inplace(a, b, kiln_##fn, rule, what);                      \
    }

OPERATOR(add, add, ANY_DTYPE, "addition")
OPERATOR(sub, subtract, ANY_DTYPE, "subtraction")
OPERATOR(mul, multiply, ANY_DTYPE, "multiplication")
OPERATOR(floordiv, floor_divide, ANY_DTYPE, "floor division")
OPERATOR(mod, remainder, ANY_DTYPE, "modulus")
OPERATOR(matmul, matmul, ANY_DTYPE, "matmul")
OPERATOR(and, bitwise_and, NO_FLOAT, "bitwise and")
OPERATOR(or, bitwise_or, NO_FLOAT, "bitwise or")
OPERATOR(xor, bitwise_xor, NO_FLOAT, "bitwise xor")
OPERATOR(lshift, left_shift, NO_FLOAT, "left shift")
OPERATOR(rshift, right_shift, NO_FLOAT, "right shift")

#undef OPERATOR

static PyObject *num_truediv(PyObject *a, PyObject *b)
{
    return binary(a, b, kiln_divide, ANY_DTYPE, "division");
}

static PyObject *num_itruediv(PyObject *a, PyObject *b)
{
    if (PkArray_Check(a) &&
        !kiln_dtype_is_float(kiln_array_dtype(((PkArray *)a)->a))) {
        PyErr_SetString(PyExc_ValueError, "in-place division cannot cast "
                        "to a non-floating point type");
        return NULL;
    }
    return inplace(a, b, kiln_divide, ANY_DTYPE, "division");
}

static PyObject *num_pow(PyObject *a, PyObject *b, PyObject *mod)
{
    if (mod != Py_None) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return binary(a, b, kiln_power, ANY_DTYPE, "power");
}

static PyObject *num_ipow(PyObject *a, PyObject *b, PyObject *mod)
{
    if (mod != Py_None) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return inplace(a, b, kiln_power, ANY_DTYPE, "power");
}

/* ------------------------------------------------------------------ */
/* unary operators and conversions                                    */
/* ------------------------------------------------------------------ */

static PyObject *num_neg(PyObject *o)
{
    return pk_wrap(kiln_negative(((PkArray *)o)->a));
}

static PyObject *num_pos(PyObject *o)
{
    return Py_NewRef(o); /* arrays are immutable values */
}

static PyObject *num_abs(PyObject *o)
{
    return pk_wrap(kiln_abs(((PkArray *)o)->a));
}

/* ~x: logical not for bool (as MLX), bitwise invert for integers. */
static PyObject *num_invert(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    kiln_dtype dt = kiln_array_dtype(a);
    if (kiln_dtype_is_float(dt)) {
        PyErr_SetString(PyExc_ValueError, "floating point types are not "
                        "allowed with bitwise inversion");
        return NULL;
    }
    return pk_wrap(dt == KILN_DTYPE_BOOL ? kiln_logical_not(a)
                                         : kiln_bitwise_invert(a));
}

static int num_bool(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    if (kiln_array_size(a) != 1) {
        PyErr_Format(PyExc_ValueError, "the truth value of an array with "
                     "%lld elements is ambiguous; use .any() or .all()",
                     (long long)kiln_array_size(a));
        return -1;
    }
    PyObject *v = pk_item(a);
    if (!v) {
        return -1;
    }
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

static PyObject *num_int(PyObject *o)
{
    PyObject *v = pk_item(((PkArray *)o)->a);
    if (!v) {
        return NULL;
    }
    PyObject *r = PyNumber_Long(v);
    Py_DECREF(v);
    return r;
}

static PyObject *num_float(PyObject *o)
{
    PyObject *v = pk_item(((PkArray *)o)->a);
    if (!v) {
        return NULL;
    }
    PyObject *r = PyNumber_Float(v);
    Py_DECREF(v);
    return r;
}

/* operator.index(x): 0-d integer arrays only, as numpy. */
static PyObject *num_index(PyObject *o)
{
    kiln_array *a = ((PkArray *)o)->a;
    if (kiln_array_ndim(a) != 0 ||
        !kiln_dtype_is_integer(kiln_array_dtype(a))) {
        PyErr_SetString(PyExc_TypeError, "only integer scalar arrays can "
                        "be converted to a scalar index");
        return NULL;
    }
    return pk_item(a);
}

PyNumberMethods pk_number_methods = {
    .nb_add = num_add,
    .nb_subtract = num_sub,
    .nb_multiply = num_mul,
    .nb_remainder = num_mod,
    .nb_power = num_pow,
    .nb_negative = num_neg,
    .nb_positive = num_pos,
    .nb_absolute = num_abs,
    .nb_bool = num_bool,
    .nb_invert = num_invert,
    .nb_lshift = num_lshift,
    .nb_rshift = num_rshift,
    .nb_and = num_and,
    .nb_xor = num_xor,
    .nb_or = num_or,
    .nb_int = num_int,
    .nb_float = num_float,
    .nb_inplace_add = num_iadd,
    .nb_inplace_subtract = num_isub,
    .nb_inplace_multiply = num_imul,
    .nb_inplace_remainder = num_imod,
    .nb_inplace_power = num_ipow,
    .nb_inplace_lshift = num_ilshift,
    .nb_inplace_rshift = num_irshift,
    .nb_inplace_and = num_iand,
    .nb_inplace_xor = num_ixor,
    .nb_inplace_or = num_ior,
    .nb_floor_divide = num_floordiv,
    .nb_true_divide = num_truediv,
    .nb_inplace_floor_divide = num_ifloordiv,
    .nb_inplace_true_divide = num_itruediv,
    .nb_index = num_index,
    .nb_matrix_multiply = num_matmul,
    .nb_inplace_matrix_multiply = num_imatmul,
};

/* ------------------------------------------------------------------ */
/* comparisons                                                        */
/* ------------------------------------------------------------------ */

/* Python calls this with a kiln.array first (the reflected comparison
 * arrives with the operator swapped). */
PyObject *pk_number_richcompare(PyObject *a, PyObject *b, int op)
{
    static const binary_fn fns[] = {
        [Py_LT] = kiln_less,    [Py_LE] = kiln_less_equal,
        [Py_EQ] = kiln_equal,   [Py_NE] = kiln_not_equal,
        [Py_GT] = kiln_greater, [Py_GE] = kiln_greater_equal,
    };
    if (op < Py_LT || op > Py_GE) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return binary(a, b, fns[op], ANY_DTYPE, "comparison");
}

Py_hash_t pk_number_hash(PyObject *o)
{
    /* Identity, as MLX arrays hash: == builds an array, so a value hash
     * could never agree with it. */
    Py_hash_t h = (Py_hash_t)((uintptr_t)o >> 4);
    return h == -1 ? -2 : h;
}

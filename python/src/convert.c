/*
 * convert.c - Python values to kiln arrays and back: scalars, nested
 * lists, the buffer protocol (numpy), operands of ops (weak Python
 * scalars), tolist(), item() and the repr text of an array.
 *
 * Dtype inference follows MLX: Python bool -> bool, int -> int32 (int64
 * when a value does not fit), float -> float32; a buffer keeps its element
 * type except float64, which becomes float32 unless a dtype is given.
 * Invariants: nested lists are checked to be rectangular before any data
 * is written; every path releases what it made on failure; the repr
 * reads only the elements it shows.
 */
#include "pykiln.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* buffers                                                            */
/* ------------------------------------------------------------------ */

/* The kiln dtype of a struct-module format string, -1 if none. */
static int format_dtype(const char *f, Py_ssize_t itemsize)
{
    if (!f) {
        return KILN_DTYPE_UINT8;
    }
    if (*f == '<' || *f == '=' || *f == '@' || *f == '|') {
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0') {
        return -1;
    }
    switch (f[0]) {
    case '?':
        return itemsize == 1 ? KILN_DTYPE_BOOL : -1;
    case 'e':
        return itemsize == 2 ? KILN_DTYPE_FLOAT16 : -1;
    case 'f':
        return itemsize == 4 ? KILN_DTYPE_FLOAT32 : -1;
    case 'd':
        return itemsize == 8 ? KILN_DTYPE_FLOAT64 : -1;
    case 'b': case 'h': case 'i': case 'l': case 'q':
        switch (itemsize) {
        case 1: return KILN_DTYPE_INT8;
        case 2: return KILN_DTYPE_INT16;
        case 4: return KILN_DTYPE_INT32;
        case 8: return KILN_DTYPE_INT64;
        default: return -1;
        }
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'c':
        switch (itemsize) {
        case 1: return KILN_DTYPE_UINT8;
        case 2: return KILN_DTYPE_UINT16;
        case 4: return KILN_DTYPE_UINT32;
        case 8: return KILN_DTYPE_UINT64;
        default: return -1;
        }
    default:
        return -1;
    }
}

/* Copies a strided buffer into dst in row-major order. */
static void copy_strided(char *dst, const char *src, const Py_buffer *v,
                         int d, size_t *off)
{
    if (d == v->ndim) {
        memcpy(dst + *off, src, (size_t)v->itemsize);
        *off += (size_t)v->itemsize;
        return;
    }
    for (Py_ssize_t i = 0; i < v->shape[d]; i++) {
        copy_strided(dst, src + i * v->strides[d], v, d + 1, off);
    }
}

static kiln_array *from_buffer(PyObject *o, int dt)
{
    Py_buffer v;
    if (PyObject_GetBuffer(o, &v, PyBUF_RECORDS_RO) < 0) {
        return NULL;
    }
    kiln_array *a = NULL;
    int bdt = format_dtype(v.format, v.itemsize);
    if (bdt < 0) {
        PyErr_Format(PyExc_TypeError, "cannot make a kiln array from a "
                     "buffer of format '%s'", v.format ? v.format : "?");
        goto release_view;
    }
    if (v.ndim > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "%d dimensions; kiln supports at "
                     "most %d", v.ndim, KILN_MAX_NDIM);
        goto release_view;
    }
    int64_t shape[KILN_MAX_NDIM];
    for (int i = 0; i < v.ndim; i++) {
        shape[i] = (int64_t)v.shape[i];
    }
    if (PyBuffer_IsContiguous(&v, 'C')) {
        a = kiln_array_from_data(v.buf, shape, v.ndim, (kiln_dtype)bdt);
    } else {
        char *tmp = PyMem_Malloc(v.len ? (size_t)v.len : 1);
        if (!tmp) {
            PyErr_NoMemory();
            goto release_view;
        }
        size_t off = 0;
        copy_strided(tmp, v.buf, &v, 0, &off);
        a = kiln_array_from_data(tmp, shape, v.ndim, (kiln_dtype)bdt);
        PyMem_Free(tmp);
    }
    if (!a) {
        pk_raise();
        goto release_view;
    }
    if (dt < 0 && bdt == KILN_DTYPE_FLOAT64) {
        dt = KILN_DTYPE_FLOAT32;
    }
    if (dt >= 0 && dt != bdt) {
        kiln_array *c = kiln_astype(a, (kiln_dtype)dt);
        kiln_array_release(a);
        a = c;
        if (!a) {
            pk_raise();
        }
    }
release_view:
    PyBuffer_Release(&v);
    return a;
}

/* ------------------------------------------------------------------ */
/* nested lists                                                       */
/* ------------------------------------------------------------------ */

enum { K_BOOL, K_INT, K_FLOAT, K_OTHER };

typedef struct nest {
    int ndim;
    int64_t shape[KILN_MAX_NDIM];
    int kind;       /* the widest scalar kind seen */
    int wide;       /* an int that does not fit int32 */
    int huge;       /* an int above INT64_MAX: the list is read as uint64 */
    int64_t count;  /* leaves */
} nest;

/* The shape of a nested list, read down its first elements. */
static int first_shape(PyObject *o, nest *n)
{
    n->ndim = 0;
    while (PyList_Check(o) || PyTuple_Check(o)) {
        if (n->ndim >= KILN_MAX_NDIM) {
            PyErr_SetString(PyExc_ValueError, "list nested too deeply");
            return -1;
        }
        Py_ssize_t len = PySequence_Fast_GET_SIZE(o);
        n->shape[n->ndim++] = len;
        if (len == 0) {
            break;
        }
        o = PySequence_Fast_GET_ITEM(o, 0);
    }
    return 0;
}

/* Checks that the list is rectangular with n's shape and finds the
 * widest kind of its leaves; K_OTHER when a leaf is not a Python scalar
 * (arrays inside lists: stacked instead). */
static int scan(PyObject *o, int d, nest *n)
{
    int seq = PyList_Check(o) || PyTuple_Check(o);
    if (d < n->ndim) {
        if (!seq || PySequence_Fast_GET_SIZE(o) != n->shape[d]) {
            PyErr_SetString(PyExc_ValueError, "initialization list is not "
                            "rectangular (its lists differ in length)");
            return -1;
        }
        Py_ssize_t len = PySequence_Fast_GET_SIZE(o);
        for (Py_ssize_t i = 0; i < len && n->kind != K_OTHER; i++) {
            if (scan(PySequence_Fast_GET_ITEM(o, i), d + 1, n) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (seq) {
        PyErr_SetString(PyExc_ValueError, "initialization list is not "
                        "rectangular (its lists differ in depth)");
        return -1;
    }
    n->count++;
    if (PyBool_Check(o)) {
        return 0;
    }
    if (PyLong_Check(o)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow || v < INT32_MIN || v > INT32_MAX) {
            n->wide = 1;
        }
        if (overflow > 0) {
            n->huge = 1;
        }
        if (n->kind < K_INT) {
            n->kind = K_INT;
        }
        return 0;
    }
    if (PyFloat_Check(o)) {
        n->kind = K_FLOAT;
        return 0;
    }
    n->kind = K_OTHER;
    return 0;
}

/* Writes the leaves into out (double for floats, int64 otherwise). */
static int fill(PyObject *o, int kind, int huge, char **p)
{
    if (PyList_Check(o) || PyTuple_Check(o)) {
        Py_ssize_t len = PySequence_Fast_GET_SIZE(o);
        for (Py_ssize_t i = 0; i < len; i++) {
            if (fill(PySequence_Fast_GET_ITEM(o, i), kind, huge, p) < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (kind == K_FLOAT) {
        /* no __float__ of an int subclass: Python code run here could
         * change the lists scan() measured */
        double v = PyFloat_Check(o) ? PyFloat_AS_DOUBLE(o)
                                    : PyLong_AsDouble(o);
        if (v == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        memcpy(*p, &v, sizeof v);
        *p += sizeof v;
        return 0;
    }
    if (kind == K_INT && huge) {
        /* negative values beside one above INT64_MAX fit no dtype:
         * OverflowError from here */
        unsigned long long u = PyLong_AsUnsignedLongLong(o);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            return -1;
        }
        uint64_t w = (uint64_t)u;
        memcpy(*p, &w, sizeof w);
        *p += sizeof w;
        return 0;
    }
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (kind == K_BOOL) {
        **p = (char)(v != 0);
        *p += 1;
        return 0;
    }
    int64_t w = (int64_t)v;
    memcpy(*p, &w, sizeof w);
    *p += sizeof w;
    return 0;
}

/* The items of a list holding arrays (or other non-scalars), converted
 * and stacked. The items are read from a tuple copy: converting one may
 * run Python code (__array__) that changes the list. A list holding
 * itself recurses until Python's recursion limit raises. */
static kiln_array *stack_items(PyObject *o, int dt)
{
    PyObject *items = PySequence_Tuple(o);
    if (!items) {
        return NULL;
    }
    Py_ssize_t len = PyTuple_GET_SIZE(items);
    kiln_array *r = NULL;
    if (len == 0) {
        r = kiln_zeros((int64_t[]){0}, 1,
                       dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt);
        if (!r) {
            pk_raise();
        }
        goto release_tuple;
    }
    kiln_array **xs = PyMem_Calloc((size_t)len, sizeof *xs);
    if (!xs) {
        PyErr_NoMemory();
        goto release_tuple;
    }
    if (Py_EnterRecursiveCall(" while converting a nested list")) {
        goto free_xs;
    }
    Py_ssize_t i;
    for (i = 0; i < len; i++) {
        xs[i] = pk_to_array(PyTuple_GET_ITEM(items, i), dt);
        if (!xs[i]) {
            break;
        }
    }
    Py_LeaveRecursiveCall();
    if (i == len) {
        r = kiln_stack(xs, (int)len, 0);
        if (!r) {
            pk_raise();
        }
    }
    for (Py_ssize_t j = 0; j < i; j++) {
        kiln_array_release(xs[j]);
    }
free_xs:
    PyMem_Free(xs);
release_tuple:
    Py_DECREF(items);
    return r;
}

static kiln_array *from_list(PyObject *o, int dt)
{
    nest n = {0};
    n.kind = K_BOOL;
    if (first_shape(o, &n) < 0 || scan(o, 0, &n) < 0) {
        return NULL;
    }
    if (n.kind == K_OTHER) {
        if (PySequence_Fast_GET_SIZE(o) > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "list too long");
            return NULL;
        }
        return stack_items(o, dt);
    }
    int64_t size = 1;
    for (int i = 0; i < n.ndim; i++) {
        size *= n.shape[i];
    }
    int kind = size == 0 ? K_FLOAT : n.kind;
    size_t esz = kind == K_BOOL ? 1 : 8;
    char *buf = PyMem_Malloc(size ? (size_t)size * esz : 1);
    if (!buf) {
        PyErr_NoMemory();
        return NULL;
    }
    char *p = buf;
    kiln_array *a = NULL;
    if (fill(o, kind, n.huge, &p) < 0) {
        goto free_buf;
    }
    kiln_dtype src = kind == K_FLOAT  ? KILN_DTYPE_FLOAT64
                     : kind == K_BOOL ? KILN_DTYPE_BOOL
                     : n.huge         ? KILN_DTYPE_UINT64
                                      : KILN_DTYPE_INT64;
    a = kiln_array_from_data(buf, n.shape, n.ndim, src);
    if (!a) {
        pk_raise();
        goto free_buf;
    }
    int want = dt;
    if (want < 0) {
        want = kind == K_FLOAT  ? KILN_DTYPE_FLOAT32
               : kind == K_BOOL ? KILN_DTYPE_BOOL
               : n.huge         ? KILN_DTYPE_UINT64
               : n.wide         ? KILN_DTYPE_INT64
                                : KILN_DTYPE_INT32;
    }
    if ((kiln_dtype)want != src) {
        kiln_array *c = kiln_astype(a, (kiln_dtype)want);
        kiln_array_release(a);
        a = c;
        if (!a) {
            pk_raise();
        }
    }
free_buf:
    PyMem_Free(buf);
    return a;
}

/* ------------------------------------------------------------------ */
/* scalars and dispatch                                               */
/* ------------------------------------------------------------------ */

static kiln_array *from_int(PyObject *o, int dt)
{
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(o);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_SetString(PyExc_OverflowError, "int too large for any "
                            "kiln dtype");
            return NULL;
        }
        return kiln_scalar_u64(u, dt < 0 ? KILN_DTYPE_UINT64
                                         : (kiln_dtype)dt);
    }
    if (overflow < 0 || (v == -1 && PyErr_Occurred())) {
        PyErr_SetString(PyExc_OverflowError, "int too small for any kiln "
                        "dtype");
        return NULL;
    }
    if (dt < 0) {
        dt = v < INT32_MIN || v > INT32_MAX ? KILN_DTYPE_INT64
                                            : KILN_DTYPE_INT32;
    }
    return kiln_scalar_i64((int64_t)v, (kiln_dtype)dt);
}

kiln_array *pk_to_array(PyObject *o, int dt)
{
    kiln_array *a;
    if (PkArray_Check(o)) {
        kiln_array *x = ((PkArray *)o)->a;
        a = dt < 0 || kiln_array_dtype(x) == (kiln_dtype)dt
                ? kiln_array_retain(x)
                : kiln_astype(x, (kiln_dtype)dt);
    } else if (PyBool_Check(o)) {
        a = kiln_scalar_bool(o == Py_True);
        if (a && dt >= 0 && dt != KILN_DTYPE_BOOL) {
            kiln_array *c = kiln_astype(a, (kiln_dtype)dt);
            kiln_array_release(a);
            a = c;
        }
    } else if (PyLong_Check(o)) {
        a = from_int(o, dt);
        if (!a && PyErr_Occurred()) {
            return NULL;
        }
    } else if (PyFloat_Check(o)) {
        a = kiln_scalar_f64(PyFloat_AS_DOUBLE(o),
                            dt < 0 ? KILN_DTYPE_FLOAT32 : (kiln_dtype)dt);
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
        return from_list(o, dt);
    } else if (PyObject_CheckBuffer(o)) {
        return from_buffer(o, dt);
    } else if (PyComplex_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "kiln has no complex dtype");
        return NULL;
    } else if (PyObject_HasAttrString(o, "__array__")) {
        PyObject *arr = PyObject_CallMethod(o, "__array__", NULL);
        if (!arr) {
            return NULL;
        }
        a = PyObject_CheckBuffer(arr) ? from_buffer(arr, dt) : NULL;
        if (!a && !PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "%.100s.__array__() gave no "
                         "buffer", Py_TYPE(o)->tp_name);
        }
        Py_DECREF(arr);
        return a;
    } else {
        PyErr_Format(PyExc_TypeError, "cannot make a kiln array from "
                     "%.100s", Py_TYPE(o)->tp_name);
        return NULL;
    }
    if (!a) {
        pk_raise();
    }
    return a;
}

static PyObject *numpy_scalar(PyObject *o);

kiln_array *pk_operand(PyObject *o)
{
    kiln_array *a;
    if (PkArray_Check(o)) {
        return kiln_array_retain(((PkArray *)o)->a);
    }
    PyObject *np = numpy_scalar(o);
    if (np) {
        a = pk_operand(np);
        Py_DECREF(np);
        return a;
    }
    if (PyBool_Check(o)) {
        a = kiln_scalar_bool(o == Py_True);
    } else if (PyLong_Check(o)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow) {
            return pk_to_array(o, -1);
        }
        a = kiln_weak_i64((int64_t)v);
    } else if (PyFloat_Check(o)) {
        a = kiln_weak_f64(PyFloat_AS_DOUBLE(o));
    } else {
        return pk_to_array(o, -1);
    }
    if (!a) {
        pk_raise();
    }
    return a;
}

/* ------------------------------------------------------------------ */
/* back to Python                                                     */
/* ------------------------------------------------------------------ */

/* One element at p of dtype dt (bool, int64, uint64 or float64). */
static PyObject *scalar_at(const char *p, kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_BOOL:
        return PyBool_FromLong(*p != 0);
    case KILN_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return PyLong_FromUnsignedLongLong(v);
    }
    case KILN_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        return PyLong_FromLongLong(v);
    }
    default: {
        double v;
        memcpy(&v, p, sizeof v);
        return PyFloat_FromDouble(v);
    }
    }
}

/* The dtype a value is read back in: bool, int64, uint64 or float64. */
static kiln_dtype read_dtype(kiln_dtype dt)
{
    if (dt == KILN_DTYPE_BOOL) {
        return dt;
    }
    if (dt == KILN_DTYPE_UINT64) {
        return dt;
    }
    return kiln_dtype_is_integer(dt) ? KILN_DTYPE_INT64 : KILN_DTYPE_FLOAT64;
}

static PyObject *build(const char **p, const int64_t *shape, int nd,
                       kiln_dtype dt)
{
    if (nd == 0) {
        PyObject *v = scalar_at(*p, dt);
        *p += kiln_dtype_size(dt);
        return v;
    }
    PyObject *l = PyList_New((Py_ssize_t)shape[0]);
    if (!l) {
        return NULL;
    }
    for (int64_t i = 0; i < shape[0]; i++) {
        PyObject *v = build(p, shape + 1, nd - 1, dt);
        if (!v) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

/* a in its read dtype (new reference) and its data; NULL on error. */
static kiln_array *readable(kiln_array *a, const void **data)
{
    kiln_dtype rd = read_dtype(kiln_array_dtype(a));
    kiln_array *r = rd == kiln_array_dtype(a) ? kiln_array_retain(a)
                                              : kiln_astype(a, rd);
    if (!r) {
        pk_raise();
        return NULL;
    }
    const void *d = kiln_array_data(r);
    if (!d) {
        kiln_array_release(r);
        pk_raise();
        return NULL;
    }
    *data = d;
    return r;
}

PyObject *pk_tolist(kiln_array *a)
{
    const void *data;
    kiln_array *r = readable(a, &data);
    if (!r) {
        return NULL;
    }
    const char *p = data;
    PyObject *l = build(&p, kiln_array_shape(r), kiln_array_ndim(r),
                        kiln_array_dtype(r));
    kiln_array_release(r);
    return l;
}

PyObject *pk_item(kiln_array *a)
{
    if (kiln_array_size(a) != 1) {
        PyErr_Format(PyExc_ValueError, "item() needs an array of one "
                     "element; this one has %lld",
                     (long long)kiln_array_size(a));
        return NULL;
    }
    const void *data;
    kiln_array *r = readable(a, &data);
    if (!r) {
        return NULL;
    }
    PyObject *v = scalar_at(data, kiln_array_dtype(r));
    kiln_array_release(r);
    return v;
}

/* A NumPy scalar (np.float32(3), np.int64(2), np.bool_) or 0-d ndarray
 * as the Python bool/int/float of its value (a new reference), since
 * MLX takes those as weak scalars like Python's own; NULL (no exception)
 * for anything else, and for NumPy values of other kinds (complex). */
static PyObject *numpy_scalar(PyObject *o)
{
    const char *tn = Py_TYPE(o)->tp_name;
    if (strncmp(tn, "numpy.", 6) != 0) {
        return NULL;
    }
    if (strcmp(tn, "numpy.ndarray") == 0) {
        PyObject *nd = PyObject_GetAttrString(o, "ndim");
        long n = nd ? PyLong_AsLong(nd) : -1;
        Py_XDECREF(nd);
        if (n != 0) {
            PyErr_Clear();
            return NULL;
        }
    }
    PyObject *dt = PyObject_GetAttrString(o, "dtype");
    PyObject *kind = dt ? PyObject_GetAttrString(dt, "kind") : NULL;
    const char *k = kind ? PyUnicode_AsUTF8(kind) : NULL;
    PyObject *v = NULL;
    if (k && k[0] == 'b') {
        int t = PyObject_IsTrue(o);
        v = t < 0 ? NULL : PyBool_FromLong(t);
    } else if (k && (k[0] == 'i' || k[0] == 'u')) {
        v = PyNumber_Long(o);
    } else if (k && k[0] == 'f') {
        v = PyNumber_Float(o);
    }
    Py_XDECREF(kind);
    Py_XDECREF(dt);
    if (!v) {
        PyErr_Clear();
    }
    return v;
}

kiln_array *pk_convert_operand(PyObject *o, kiln_dtype like)
{
    PyObject *np = numpy_scalar(o);
    if (np) {
        kiln_array *a = pk_convert_operand(np, like);
        Py_DECREF(np);
        return a;
    }
    if (PyLong_Check(o) && !PyBool_Check(o) &&
        kiln_dtype_is_integer(like) && kiln_dtype_size(like) < 8) {
        int bits = 8 * (int)kiln_dtype_size(like);
        int is_signed = kiln_dtype_is_signed(like);
        long long lo = is_signed ? -(1LL << (bits - 1)) : 0;
        long long hi = is_signed ? (1LL << (bits - 1)) - 1
                                 : (1LL << bits) - 1;
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow || v < lo || v > hi) {
            PyErr_Format(PyExc_ValueError, "converting %R to %s would "
                         "overflow", o, kiln_dtype_name(like));
            return NULL;
        }
    }
    return pk_operand(o);
}

/* ------------------------------------------------------------------ */
/* repr                                                               */
/* ------------------------------------------------------------------ */

/* repr follows MLX's printer: elements of the last axis joined by ", ",
 * rows by ",\n" and an indent of 7 + depth spaces, floats as C's %g
 * (what a C++ stream prints), bools as True/False; an axis longer than
 * 2 * EDGE shows its first and last EDGE entries around "...". Only those
 * entries are read: the array is cut down to them before evaluating. */
enum { EDGE = 3 };

typedef struct text {
    char *p;
    size_t n, cap;
} text;

static int put(text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->n + n + 1) {
            cap *= 2;
        }
        char *p = PyMem_Realloc(t->p, cap);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    return 0;
}

static int put_str(text *t, const char *s)
{
    return put(t, s, strlen(s));
}

static int put_elem(text *t, const char *p, kiln_dtype dt)
{
    char buf[64];
    switch (dt) {
    case KILN_DTYPE_BOOL:
        return put_str(t, *p ? "True" : "False");
    case KILN_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
        break;
    }
    case KILN_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, p, sizeof v);
        snprintf(buf, sizeof buf, "%lld", (long long)v);
        break;
    }
    default: {
        double v;
        memcpy(&v, p, sizeof v);
        snprintf(buf, sizeof buf, "%g", v);
        break;
    }
    }
    return put_str(t, buf);
}

/* a with every axis longer than 2 * EDGE cut to its EDGE first and last
 * entries. New reference, NULL with an exception. */
static kiln_array *edges(kiln_array *a)
{
    kiln_array *r = kiln_array_retain(a);
    int nd = kiln_array_ndim(a);
    for (int d = 0; d < nd && r; d++) {
        int64_t n = kiln_array_dim(r, d);
        if (n <= 2 * EDGE) {
            continue;
        }
        int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM];
        for (int i = 0; i < nd; i++) {
            start[i] = KILN_SLICE_BEGIN;
            stop[i] = KILN_SLICE_END;
        }
        stop[d] = EDGE;
        kiln_array *parts[2];
        parts[0] = kiln_slice(r, start, stop, NULL);
        start[d] = n - EDGE;
        stop[d] = KILN_SLICE_END;
        parts[1] = kiln_slice(r, start, stop, NULL);
        kiln_array *c = parts[0] && parts[1]
                            ? kiln_concatenate(parts, 2, d)
                            : NULL;
        kiln_array_release(parts[0]);
        kiln_array_release(parts[1]);
        kiln_array_release(r);
        r = c;
    }
    if (!r) {
        pk_raise();
    }
    return r;
}

/* Prints the sub-array at axis `dim` whose first element is at data +
 * off * esz (offsets counted in the cut array, of shape cut). */
static int put_sub(text *t, const char *data, const int64_t *full,
                   const int64_t *cut, int nd, int dim, int64_t off,
                   kiln_dtype dt)
{
    int64_t n = full[dim];
    int64_t stride = 1;
    for (int d = dim + 1; d < nd; d++) {
        stride *= cut[d];
    }
    int last = dim == nd - 1;
    char indent[KILN_MAX_NDIM + 8];
    memset(indent, ' ', (size_t)(7 + dim));
    indent[7 + dim] = '\0';
    if (put_str(t, "[") < 0) {
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && !last && put_str(t, indent) < 0) {
            return -1;
        }
        int64_t ci = n > 2 * EDGE && i >= EDGE ? i - (n - 2 * EDGE) : i;
        int st;
        if (n > 2 * EDGE && i == EDGE) {
            st = put_str(t, "...");
            i = n - EDGE - 1;
        } else if (last) {
            st = put_elem(t, data + (off + ci) * (int64_t)kiln_dtype_size(dt),
                          dt);
        } else {
            st = put_sub(t, data, full, cut, nd, dim + 1,
                         off + ci * stride, dt);
        }
        if (st < 0 || (i != n - 1 && put_str(t, last ? ", " : ",\n") < 0)) {
            return -1;
        }
    }
    return put_str(t, "]");
}

PyObject *pk_convert_repr(kiln_array *a)
{
    kiln_array *c = edges(a);
    if (!c) {
        return NULL;
    }
    const void *data;
    kiln_array *r = readable(c, &data);
    kiln_array_release(c);
    if (!r) {
        return NULL;
    }
    text t = {0};
    PyObject *s = NULL;
    kiln_dtype rd = kiln_array_dtype(r);
    int nd = kiln_array_ndim(a);
    int st = put_str(&t, "array(");
    if (st == 0) {
        st = nd == 0 ? put_elem(&t, data, rd)
                     : put_sub(&t, data, kiln_array_shape(a),
                               kiln_array_shape(r), nd, 0, 0, rd);
    }
    if (st == 0 && put_str(&t, ", dtype=") == 0 &&
        put_str(&t, kiln_dtype_name(kiln_array_dtype(a))) == 0 &&
        put_str(&t, ")") == 0) {
        s = PyUnicode_FromStringAndSize(t.p, (Py_ssize_t)t.n);
    }
    PyMem_Free(t.p);
    kiln_array_release(r);
    return s;
}

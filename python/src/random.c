/*
 * random.c - the kiln.random submodule: keys, the global key sequence
 * (kiln.random.state), and samplers with mlx.core.random's signatures.
 *
 * As in MLX, the global state is a plain Python list holding one key (a
 * uint32 kiln.array of shape (2,)), kiln.random.state. A sampler called
 * with key=None splits state[0] into (next, sub), stores next back into
 * state[0] and samples with sub; the core's own global key is never used.
 * So compile captures the random state like any other state:
 * kiln.compile(f, inputs=[kiln.random.state], outputs=[kiln.random.state])
 * puts a traced key in state[0] while tracing, and the splits become part
 * of the compiled graph.
 *
 * Invariants: the state list is created once at import and held here for
 * the life of the process (rebinding the module attribute does not change
 * it, as in MLX). When state[0] is evaluated, the split is evaluated on the
 * spot with the GIL held (a four-word kernel): reading, splitting and
 * storing the key is then atomic with respect to other Python threads, and
 * the state never holds a pending graph that two threads could evaluate
 * at once. When state[0] is pending (a trace), the split stays lazy.
 */
#include "pykiln.h"

#include <math.h>
#include <time.h>

static PyObject *state; /* list of one key; owned for the process */

/* ------------------------------------------------------------------ */
/* keys                                                               */
/* ------------------------------------------------------------------ */

/* A seed: a Python int in [0, 2^64). 0 or -1 with an exception. */
static int seed_arg(PyObject *o, uint64_t *out)
{
    if (PyBool_Check(o) || !PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "seed must be an int, got %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "seed must be between 0 and "
                        "2**64 - 1");
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Row r of a (2, 2) array of keys, as shape (2). New reference or NULL
 * (kiln error pending). */
static kiln_array *key_row(kiln_array *keys, int64_t r)
{
    int64_t start[2] = {r, 0}, stop[2] = {r + 1, 2}, two = 2;
    kiln_array *s = kiln_slice(keys, start, stop, NULL);
    kiln_array *y = kiln_reshape(s, &two, 1);
    kiln_array_release(s);
    return y;
}

/* The next subkey of the global state (new reference), advancing
 * state[0]. NULL with an exception. */
static kiln_array *next_key(void)
{
    if (!PyList_Check(state) || PyList_GET_SIZE(state) < 1 ||
        !PkArray_Check(PyList_GET_ITEM(state, 0))) {
        PyErr_SetString(PyExc_ValueError, "kiln.random.state must be a "
                        "list holding one key array");
        return NULL;
    }
    kiln_array *cur = ((PkArray *)PyList_GET_ITEM(state, 0))->a;
    kiln_array *pair = kiln_random_split(cur, 2);
    kiln_array *next = pair ? key_row(pair, 0) : NULL;
    kiln_array *sub = next ? key_row(pair, 1) : NULL;
    kiln_array_release(pair);
    if (!sub) {
        kiln_array_release(next);
        pk_raise();
        return NULL;
    }
    if (kiln_array_is_evaluated(cur)) {
        /* GIL held on purpose: see the file comment */
        kiln_array *both[2] = {next, sub};
        if (pk_check(kiln_eval(both, 2)) < 0) {
            kiln_array_release(next);
            kiln_array_release(sub);
            return NULL;
        }
    }
    PyObject *wrapped = pk_wrap(next);
    if (!wrapped || PyList_SetItem(state, 0, wrapped) < 0) {
        kiln_array_release(sub);
        return NULL;
    }
    return sub;
}

/* The key a sampler uses: the key argument (a new reference to its
 * array) or, for None, the global state's next subkey. NULL with an
 * exception. */
static kiln_array *use_key(PyObject *key)
{
    if (!key || key == Py_None) {
        return next_key();
    }
    return pk_to_array(key, -1);
}

static PyObject *seed(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"seed", NULL};
    PyObject *o;
    uint64_t s;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:seed", kwlist, &o) ||
        seed_arg(o, &s) < 0) {
        return NULL;
    }
    PyObject *k = pk_wrap(kiln_random_key(s));
    if (!k || PyList_SetItem(state, 0, k) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *key(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"seed", NULL};
    PyObject *o;
    uint64_t s;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:key", kwlist, &o) ||
        seed_arg(o, &s) < 0) {
        return NULL;
    }
    return pk_wrap(kiln_random_key(s));
}

static PyObject *split(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "num", "stream", NULL};
    PyObject *ko, *stream = Py_None;
    int num = 2;
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iO:split", kwlist, &ko,
                                     &num, &stream)) {
        return NULL;
    }
    kiln_array *k = pk_to_array(ko, -1);
    if (!k) {
        return NULL;
    }
    kiln_array *y = kiln_random_split(k, num);
    kiln_array_release(k);
    return pk_wrap(y);
}

/* ------------------------------------------------------------------ */
/* argument helpers                                                   */
/* ------------------------------------------------------------------ */

/* A shape argument; o NULL or None leaves *given 0 (the sampler's
 * default). 0 or -1 with an exception. */
static int shape_arg(PyObject *o, int64_t *shape, int *ndim, int *given)
{
    *given = 0;
    *ndim = 0;
    if (!o || o == Py_None) {
        return 0;
    }
    if (pk_shape(o, shape, ndim, 0) < 0) {
        return -1;
    }
    *given = 1;
    return 0;
}

/* dt, or the default when dt < 0 (None or not given); -1 with ValueError
 * unless it is a floating type (MLX's check and exception). */
static int float_dtype(int dt, const char *fn)
{
    if (dt < 0) {
        return KILN_DTYPE_FLOAT32;
    }
    if (!kiln_dtype_is_float((kiln_dtype)dt)) {
        PyErr_Format(PyExc_ValueError, "[%s] Can only generate %s numbers "
                     "with real floating point type, got %s", fn, fn,
                     kiln_dtype_name((kiln_dtype)dt));
        return -1;
    }
    return dt;
}

/* Optional operand: NULL when o is NULL, else pk_operand(o). *failed is
 * set when the conversion raised; once it is, nothing more is converted
 * (no Python code may run over the pending exception). */
static kiln_array *opt_operand(PyObject *o, int *failed)
{
    if (!o || *failed) {
        return NULL;
    }
    kiln_array *a = pk_operand(o);
    *failed = *failed || !a;
    return a;
}

/* Releases a sampler's operands after a Python error; returns NULL. */
static PyObject *drop(kiln_array *a, kiln_array *b)
{
    kiln_array_release(a);
    kiln_array_release(b);
    return NULL;
}

/* Wraps y after releasing the inputs a sampler took. */
static PyObject *finish(kiln_array *y, kiln_array *k, kiln_array *a,
                        kiln_array *b)
{
    kiln_array_release(k);
    kiln_array_release(a);
    kiln_array_release(b);
    return pk_wrap(y);
}

/* ------------------------------------------------------------------ */
/* samplers                                                           */
/* ------------------------------------------------------------------ */

static PyObject *uniform(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"low", "high", "shape", "dtype", "key",
                             "stream", NULL};
    PyObject *lo = NULL, *hi = NULL, *sh = NULL, *ko = Py_None;
    PyObject *stream = Py_None;
    int dt = -1, ndim, given, failed = 0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO&OO:uniform", kwlist,
                                     &lo, &hi, &sh, pk_conv_dtype, &dt, &ko,
                                     &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0 ||
        (dt = float_dtype(dt, "uniform")) < 0) {
        return NULL;
    }
    kiln_array *a = opt_operand(lo, &failed);
    kiln_array *b = opt_operand(hi, &failed);
    kiln_array *k = failed ? NULL : use_key(ko);
    if (!k) {
        return drop(a, b);
    }
    kiln_array *y = kiln_random_uniform(a, b, shape, ndim, (kiln_dtype)dt,
                                        k);
    return finish(y, k, a, b);
}

/* A loc or scale argument: a Python number (bools included, as ints)
 * into *v (1), absent (1, *v kept), or an array-like (0); -1 with an
 * exception when the number does not convert. */
static int number_arg(PyObject *o, double *v)
{
    if (!o) {
        return 1;
    }
    if (PyLong_Check(o) || PyFloat_Check(o)) {
        *v = PyFloat_AsDouble(o);
        return *v == -1.0 && PyErr_Occurred() ? -1 : 1;
    }
    return 0;
}

/* o (an array-like) as dtype dt; NULL with an exception. */
static kiln_array *as_dtype(PyObject *o, double v, int dt)
{
    if (!o || PyLong_Check(o) || PyFloat_Check(o)) {
        kiln_array *a = kiln_scalar_f64(v, (kiln_dtype)dt);
        if (!a) {
            pk_raise();
        }
        return a;
    }
    kiln_array *a = pk_to_array(o, -1);
    kiln_array *c = a ? kiln_astype(a, (kiln_dtype)dt) : NULL;
    kiln_array_release(a);
    if (a && !c) {
        pk_raise();
    }
    return c;
}

static PyObject *normal(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"shape", "dtype", "loc", "scale", "key",
                             "stream", NULL};
    PyObject *sh = NULL, *ko = Py_None, *stream = Py_None;
    PyObject *loc_o = NULL, *scale_o = NULL;
    int dt = -1, ndim, given;
    double loc = 0.0, scale = 1.0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO&OOOO:normal", kwlist,
                                     &sh, pk_conv_dtype, &dt, &loc_o,
                                     &scale_o, &ko, &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0 ||
        (dt = float_dtype(dt, "normal")) < 0) {
        return NULL;
    }
    int nl = number_arg(loc_o, &loc), ns = number_arg(scale_o, &scale);
    if (nl < 0 || ns < 0) {
        return NULL;
    }
    kiln_array *k = use_key(ko);
    if (!k) {
        return NULL;
    }
    if (nl && ns) {
        kiln_array *y = kiln_random_normal(shape, ndim, (kiln_dtype)dt, loc,
                                           scale, k);
        return finish(y, k, NULL, NULL);
    }
    /* array loc or scale (as MLX): standard samples of `shape`, times
     * scale plus loc, broadcasting */
    kiln_array *z = kiln_random_normal(shape, ndim, (kiln_dtype)dt, 0.0,
                                       1.0, k);
    if (!z) {
        pk_raise();
        return finish(NULL, k, NULL, NULL);
    }
    kiln_array *sa = as_dtype(scale_o, scale, dt);
    kiln_array *la = sa ? as_dtype(loc_o, loc, dt) : NULL;
    kiln_array *m = la ? kiln_multiply(sa, z) : NULL;
    kiln_array *y = m ? kiln_add(la, m) : NULL;
    if (la && !y) {
        pk_raise();
    }
    kiln_array_release(z);
    kiln_array_release(m);
    return finish(y, k, sa, la);
}

static PyObject *randint(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"low", "high", "shape", "dtype", "key",
                             "stream", NULL};
    PyObject *lo, *hi, *sh = NULL, *ko = Py_None, *stream = Py_None;
    int dt = -1, ndim, given, failed = 0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO&OO:randint", kwlist,
                                     &lo, &hi, &sh, pk_conv_dtype, &dt, &ko,
                                     &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0) {
        return NULL;
    }
    if (dt < 0) {
        dt = KILN_DTYPE_INT32;
    } else if (kiln_dtype_is_float((kiln_dtype)dt)) {
        PyErr_Format(PyExc_ValueError, "[randint] randint only accepts "
                     "integer dtypes and bool, got %s",
                     kiln_dtype_name((kiln_dtype)dt));
        return NULL;
    }
    kiln_array *a = opt_operand(lo, &failed);
    kiln_array *b = opt_operand(hi, &failed);
    kiln_array *k = failed ? NULL : use_key(ko);
    if (!k) {
        return drop(a, b);
    }
    kiln_array *y = kiln_random_randint(a, b, shape, ndim, (kiln_dtype)dt,
                                        k);
    return finish(y, k, a, b);
}

static PyObject *bernoulli(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"p", "shape", "key", "stream", NULL};
    PyObject *po = NULL, *sh = NULL, *ko = Py_None, *stream = Py_None;
    int ndim, given, failed = 0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOO:bernoulli", kwlist,
                                     &po, &sh, &ko, &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0) {
        return NULL;
    }
    kiln_array *p = opt_operand(po, &failed);
    kiln_array *k = failed ? NULL : use_key(ko);
    if (!k) {
        return drop(p, NULL);
    }
    kiln_array *y = kiln_random_bernoulli(p, given ? shape : NULL, ndim, k);
    return finish(y, k, p, NULL);
}

static PyObject *truncated_normal(PyObject *self, PyObject *args,
                                  PyObject *kw)
{
    static char *kwlist[] = {"lower", "upper", "shape", "dtype", "key",
                             "stream", NULL};
    PyObject *lo, *hi, *sh = NULL, *ko = Py_None, *stream = Py_None;
    int dt = -1, ndim, given, failed = 0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OO&OO:truncated_normal",
                                     kwlist, &lo, &hi, &sh, pk_conv_dtype,
                                     &dt, &ko, &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0 ||
        (dt = float_dtype(dt, "truncated_normal")) < 0) {
        return NULL;
    }
    kiln_array *a = opt_operand(lo, &failed);
    kiln_array *b = opt_operand(hi, &failed);
    kiln_array *k = failed ? NULL : use_key(ko);
    if (!k) {
        return drop(a, b);
    }
    kiln_array *y = kiln_random_truncated_normal(
        a, b, given ? shape : NULL, ndim, (kiln_dtype)dt, k);
    return finish(y, k, a, b);
}

static PyObject *categorical(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"logits", "axis", "shape", "num_samples",
                             "key", "stream", NULL};
    PyObject *lo, *sh = NULL, *ns = Py_None, *ko = Py_None;
    PyObject *stream = Py_None;
    int axis = -1, ndim, given, num = 0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iOOOO:categorical",
                                     kwlist, &lo, &axis, &sh, &ns, &ko,
                                     &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0) {
        return NULL;
    }
    if (ns != Py_None) {
        if (given) {
            PyErr_SetString(PyExc_ValueError, "[categorical] At most one "
                            "of shape or num_samples can be specified.");
            return NULL;
        }
        if (pk_int(ns, &num) < 0) {
            return NULL;
        }
        if (num < 0) {
            PyErr_Format(PyExc_ValueError, "[categorical] num_samples must "
                         "be >= 0, got %d", num);
            return NULL;
        }
    }
    kiln_array *logits = pk_to_array(lo, -1);
    if (!logits) {
        return NULL;
    }
    int nd = kiln_array_ndim(logits);
    if (axis < -nd || axis >= nd) {
        kiln_array_release(logits);
        PyErr_Format(PyExc_ValueError, "[categorical] axis %d is out of "
                     "bounds for logits with %d dimensions", axis, nd);
        return NULL;
    }
    axis = axis < 0 ? axis + nd : axis;
    if (ns != Py_None) {
        /* the logits gain a trailing axis of 1 that broadcasts against
         * the samples: shape is the batch shape plus num_samples */
        if (nd >= KILN_MAX_NDIM) {
            kiln_array_release(logits);
            PyErr_Format(PyExc_ValueError, "[categorical] logits have too "
                         "many dimensions for num_samples (%d)", nd);
            return NULL;
        }
        const int64_t *ls = kiln_array_shape(logits);
        ndim = 0;
        for (int i = 0; i < nd; i++) {
            if (i != axis) {
                shape[ndim++] = ls[i];
            }
        }
        shape[ndim++] = num;
        given = 1;
        int last = -1;
        kiln_array *ext = kiln_expand_dims(logits, &last, 1);
        kiln_array_release(logits);
        logits = ext;
        if (!logits) {
            return pk_raise();
        }
    }
    kiln_array *k = use_key(ko);
    if (!k) {
        kiln_array_release(logits);
        return NULL;
    }
    kiln_array *y = kiln_random_categorical(logits, axis,
                                            given ? shape : NULL, ndim, k);
    return finish(y, k, logits, NULL);
}

/* The dtype samplers built here compute in: float64 stays, the other
 * floats use float32 (float16 cannot hold the bounds that keep the logs
 * finite). */
static kiln_dtype work_dtype(int dt)
{
    return dt == KILN_DTYPE_FLOAT64 ? KILN_DTYPE_FLOAT64 : KILN_DTYPE_FLOAT32;
}

static PyObject *gumbel(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"shape", "dtype", "key", "stream", NULL};
    PyObject *sh = NULL, *ko = Py_None, *stream = Py_None;
    int dt = -1, ndim, given;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO&OO:gumbel", kwlist, &sh,
                                     pk_conv_dtype, &dt, &ko, &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0 ||
        (dt = float_dtype(dt, "gumbel")) < 0) {
        return NULL;
    }
    kiln_dtype wt = work_dtype(dt);
    kiln_array *k = use_key(ko);
    if (!k) {
        return NULL;
    }
    /* -log(-log(u)), u uniform in [tiny, 1): both logs stay finite */
    double tiny = wt == KILN_DTYPE_FLOAT64 ? 0x1p-1022 : 0x1p-126;
    kiln_array *lo = kiln_scalar_f64(tiny, wt);
    kiln_array *u = kiln_random_uniform(lo, NULL, shape, ndim, wt, k);
    kiln_array *l1 = kiln_log(u);
    kiln_array *n1 = kiln_negative(l1);
    kiln_array *l2 = kiln_log(n1);
    kiln_array *g = kiln_negative(l2);
    kiln_array *y = kiln_astype(g, (kiln_dtype)dt);
    kiln_array *tmp[] = {lo, u, l1, n1, l2, g};
    for (int i = 0; i < 6; i++) {
        kiln_array_release(tmp[i]);
    }
    return finish(y, k, NULL, NULL);
}

static PyObject *laplace(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"shape", "dtype", "loc", "scale", "key",
                             "stream", NULL};
    PyObject *sh = NULL, *ko = Py_None, *stream = Py_None;
    int dt = -1, ndim, given;
    double loc = 0.0, scale = 1.0;
    int64_t shape[KILN_MAX_NDIM];
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO&ddOO:laplace", kwlist,
                                     &sh, pk_conv_dtype, &dt, &loc, &scale,
                                     &ko, &stream) ||
        shape_arg(sh, shape, &ndim, &given) < 0 ||
        (dt = float_dtype(dt, "laplace")) < 0) {
        return NULL;
    }
    kiln_dtype wt = work_dtype(dt);
    kiln_array *k = use_key(ko);
    if (!k) {
        return NULL;
    }
    /* u uniform in (-1, 1): the low end is -1 plus one step of the
     * uniform grid; x = sign(u) log1p(-|u|) * scale + loc, MLX's
     * formula, so a key gives MLX's samples */
    double eps = wt == KILN_DTYPE_FLOAT64 ? 0x1p-53 : 0x1p-24;
    kiln_array *lo = kiln_scalar_f64(-1.0 + eps, wt);
    kiln_array *hi = kiln_scalar_f64(1.0, wt);
    kiln_array *u = kiln_random_uniform(lo, hi, shape, ndim, wt, k);
    kiln_array *s = kiln_sign(u);
    kiln_array *au = kiln_abs(u);
    kiln_array *nau = kiln_negative(au);
    kiln_array *lp = kiln_log1p(nau);
    kiln_array *m = kiln_multiply(s, lp);
    kiln_array *c = kiln_scalar_f64(scale, wt);
    kiln_array *z = kiln_multiply(m, c);
    kiln_array *l = kiln_scalar_f64(loc, wt);
    kiln_array *x = kiln_add(z, l);
    kiln_array *y = kiln_astype(x, (kiln_dtype)dt);
    kiln_array *tmp[] = {lo, hi, u, s, au, nau, lp, m, c, z, l, x};
    for (int i = 0; i < 12; i++) {
        kiln_array_release(tmp[i]);
    }
    return finish(y, k, NULL, NULL);
}

static PyObject *permutation(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"x", "axis", "key", "stream", NULL};
    PyObject *xo, *ko = Py_None, *stream = Py_None;
    int axis = 0;
    kiln_array *x;
    (void)self, (void)stream;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iOO:permutation", kwlist,
                                     &xo, &axis, &ko, &stream)) {
        return NULL;
    }
    if (PyLong_Check(xo) && !PyBool_Check(xo)) {
        long long n = PyLong_AsLongLong(xo);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (n < 0 || n > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "[permutation] x must be between "
                         "0 and 2**31 - 1, got %lld", n);
            return NULL;
        }
        x = kiln_arange(0.0, (double)n, 1.0, KILN_DTYPE_INT32);
        axis = 0;
        if (!x) {
            return pk_raise();
        }
    } else if (!(x = pk_to_array(xo, -1))) {
        return NULL;
    }
    int nd = kiln_array_ndim(x);
    if (axis < -nd || axis >= nd) {
        kiln_array_release(x);
        PyErr_Format(PyExc_ValueError, "[permutation] axis %d is out of "
                     "bounds for an array with %d dimensions", axis, nd);
        return NULL;
    }
    int64_t n = kiln_array_dim(x, axis < 0 ? axis + nd : axis);
    kiln_array *k = use_key(ko);
    if (!k) {
        kiln_array_release(x);
        return NULL;
    }
    /* sort 62 random bits per entry: ties, which argsort breaks by
     * position, are about n^2 / 2^63 likely */
    kiln_array *lo = kiln_scalar_i64(0, KILN_DTYPE_INT64);
    kiln_array *hi = kiln_scalar_i64(INT64_C(1) << 62, KILN_DTYPE_INT64);
    kiln_array *r = kiln_random_randint(lo, hi, &n, 1, KILN_DTYPE_INT64, k);
    kiln_array *perm = kiln_argsort(r, 0, false);
    kiln_array *y = kiln_take(x, perm, axis, false);
    kiln_array *tmp[] = {lo, hi, r, perm};
    for (int i = 0; i < 4; i++) {
        kiln_array_release(tmp[i]);
    }
    return finish(y, k, x, NULL);
}

/* ------------------------------------------------------------------ */
/* module                                                             */
/* ------------------------------------------------------------------ */

static PyMethodDef random_functions[] = {
    {"seed", PK_KWFN(seed),
     "seed(seed) -> None\n\nSeeds the global PRNG: state[0] = key(seed)."},
    {"key", PK_KWFN(key),
     "key(seed) -> array\n\nA PRNG key (uint32, shape (2,)) from a seed in "
     "[0, 2**64)."},
    {"split", PK_KWFN(split),
     "split(key, num=2, stream=None) -> array\n\nSplits a PRNG key into num "
     "subkeys, an array of shape (num, 2)."},
    {"uniform", PK_KWFN(uniform),
     "uniform(low=0, high=1, shape=[], dtype=float32, key=None, "
     "stream=None) -> array\n\nUniform samples in [low, high); low and "
     "high (scalars or arrays) must broadcast to shape."},
    {"normal", PK_KWFN(normal),
     "normal(shape=[], dtype=float32, loc=0.0, scale=1.0, key=None, "
     "stream=None) -> array\n\nNormal samples with mean loc and standard "
     "deviation scale."},
    {"randint", PK_KWFN(randint),
     "randint(low, high, shape=[], dtype=int32, key=None, stream=None) -> "
     "array\n\nRandom integers in [low, high); low and high must broadcast "
     "to shape."},
    {"bernoulli", PK_KWFN(bernoulli),
     "bernoulli(p=0.5, shape=None, key=None, stream=None) -> array\n\n"
     "Booleans, True with probability p (a float or float array that "
     "broadcasts to shape; shape defaults to p's)."},
    {"truncated_normal", PK_KWFN(truncated_normal),
     "truncated_normal(lower, upper, shape=None, dtype=float32, key=None, "
     "stream=None) -> array\n\nStandard normal samples truncated to "
     "[lower, upper]; shape defaults to the bounds' broadcast shape."},
    {"categorical", PK_KWFN(categorical),
     "categorical(logits, axis=-1, shape=None, num_samples=None, key=None, "
     "stream=None) -> array\n\nSamples (uint32 indices) from the "
     "categorical distributions of unnormalised log-probabilities logits "
     "along axis. At most one of shape and num_samples; by default one "
     "sample per distribution; num_samples adds a last axis."},
    {"gumbel", PK_KWFN(gumbel),
     "gumbel(shape=[], dtype=float32, key=None, stream=None) -> array\n\n"
     "Samples of the standard Gumbel distribution (CDF exp(-exp(-x)))."},
    {"laplace", PK_KWFN(laplace),
     "laplace(shape=[], dtype=float32, loc=0.0, scale=1.0, key=None, "
     "stream=None) -> array\n\nSamples of the Laplace distribution with "
     "mean loc and scale b = scale."},
    {"permutation", PK_KWFN(permutation),
     "permutation(x, axis=0, key=None, stream=None) -> array\n\nA random "
     "permutation of arange(x) (x an int) or of x's entries along axis."},
    {NULL, NULL, 0, NULL},
};

#undef PK_KW

static struct PyModuleDef random_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln.random",
    .m_doc = "kiln.random: random number generation with counter-based, "
             "splittable keys (mlx.core.random's API). The global key "
             "sequence is kiln.random.state, a list holding one key; pass "
             "it to compile's inputs and outputs to capture it.",
    .m_size = -1,
    .m_methods = random_functions,
};

int pk_init_random(PyObject *m)
{
    PyObject *sub = PyModule_Create(&random_module);
    if (!sub) {
        return -1;
    }
    /* seeded from the clock in milliseconds, as MLX does */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    state = PyList_New(1);
    PyObject *k = state ? pk_wrap(kiln_random_key(ms)) : NULL;
    if (!k) {
        Py_CLEAR(state);
        Py_DECREF(sub);
        return -1;
    }
    PyList_SET_ITEM(state, 0, k);
    if (PyModule_AddObjectRef(sub, "state", state) < 0 ||
        PyModule_AddObjectRef(m, "random", sub) < 0) {
        Py_DECREF(sub);
        return -1;
    }
    Py_DECREF(sub);
    return 0;
}

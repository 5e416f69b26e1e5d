/*
 * conv.c - conv1d and conv2d of mlx.core, channels last, written from
 * kiln's ops as im2col: the padded input is cut into one strided slice
 * per kernel offset, the slices stack into columns (N*Ho*Wo, KH*KW*Cg)
 * and each group is one matmul with its weights (Cout/G, KH*KW*Cg).
 *
 * Shapes (as MLX): input (N, H, W, Cin) (conv1d: (N, L, Cin)), weight
 * (Cout, KH, KW, Cin / groups) (conv1d: (Cout, K, Cin / groups)),
 * result (N, Ho, Wo, Cout) with Ho = (H + 2 ph - dh (KH - 1) - 1) / sh
 * + 1. Floating-point inputs only, as MLX.
 *
 * Invariants: lazy, so grad, vmap and compile see slices, a stack and
 * matmuls (their rules give the convolution's); the columns cost KH*KW
 * times the input's memory, the price of one matmul per group; bounds
 * computed from the lengths are sized (kiln_slice_sized), so a shapeless
 * replay on other spatial lengths fails clearly.
 */
#include "pykiln.h"

#include <string.h>

/* An int or a tuple of nd ints, each >= lo, into v; -1 with an
 * exception naming what. */
static int int_pair(PyObject *o, int nd, int lo, int64_t *v,
                    const char *what)
{
    if (!o) {
        return 0;
    }
    if (PyLong_Check(o)) {
        int64_t x;
        if (pk_ops_shape_i64(o, &x) < 0) {
            return -1;
        }
        for (int i = 0; i < nd; i++) {
            v[i] = x;
        }
    } else if (PyTuple_Check(o) || PyList_Check(o)) {
        if (PySequence_Size(o) != nd) {
            PyErr_Format(PyExc_ValueError, "[conv] %s needs %d values", what,
                         nd);
            return -1;
        }
        for (int i = 0; i < nd; i++) {
            PyObject *e = PySequence_GetItem(o, i);
            int st = e ? pk_ops_shape_i64(e, &v[i]) : -1;
            Py_XDECREF(e);
            if (st < 0) {
                return -1;
            }
        }
    } else {
        PyErr_Format(PyExc_TypeError, "[conv] %s must be an int or a "
                     "tuple of ints", what);
        return -1;
    }
    for (int i = 0; i < nd; i++) {
        if (v[i] < lo || v[i] > (1 << 24)) {
            PyErr_Format(PyExc_ValueError, "[conv] %s %lld out of range",
                         what, (long long)v[i]);
            return -1;
        }
    }
    return 0;
}

/* The 2-d convolution of x (N, H, W, C) by w (O, KH, KW, C / g): a new
 * reference, or NULL with an exception. */
static kiln_array *conv2(kiln_array *x, kiln_array *w, const int64_t *st,
                         const int64_t *pad, const int64_t *dil, int64_t g)
{
    const int64_t *xs = kiln_array_shape(x), *ws = kiln_array_shape(w);
    int64_t n = xs[0], c = xs[3], o = ws[0], kh = ws[1], kw = ws[2];
    if (!kiln_dtype_is_float(kiln_array_dtype(x)) ||
        !kiln_dtype_is_float(kiln_array_dtype(w))) {
        PyErr_SetString(PyExc_ValueError, "[conv] only floating-point "
                        "inputs are supported (as MLX)");
        return NULL;
    }
    if (g < 1 || c % g != 0 || o % g != 0 || ws[3] * g != c) {
        PyErr_Format(PyExc_ValueError, "[conv] %lld input channels, %lld "
                     "output channels and a weight of %lld channels do "
                     "not fit %lld groups", (long long)c, (long long)o,
                     (long long)ws[3], (long long)g);
        return NULL;
    }
    int64_t hp = xs[1] + 2 * pad[0], wp = xs[2] + 2 * pad[1];
    int64_t ekh = dil[0] * (kh - 1) + 1, ekw = dil[1] * (kw - 1) + 1;
    if (hp < ekh || wp < ekw) {
        PyErr_SetString(PyExc_ValueError, "[conv] the kernel is larger than "
                        "the padded input");
        return NULL;
    }
    int64_t ho = (hp - ekh) / st[0] + 1, wo = (wp - ekw) / st[1] + 1;
    int64_t cg = c / g, og = o / g, k = kh * kw * cg;
    kiln_scope_begin();
    const int64_t pw[8] = {0, 0, pad[0], pad[0], pad[1], pad[1], 0, 0};
    kiln_array *xp = pad[0] || pad[1] ? kiln_pad(x, pw, 0.0) : x;
    /* one strided slice per kernel offset, each (N, Ho, Wo, C) */
    kiln_array **cols = PyMem_Calloc((size_t)(kh * kw), sizeof *cols);
    if (!cols) {
        kiln_scope_end(NULL);
        PyErr_NoMemory();
        return NULL;
    }
    for (int64_t i = 0; i < kh; i++) {
        for (int64_t j = 0; j < kw; j++) {
            int64_t a[4] = {KILN_SLICE_BEGIN, i * dil[0], j * dil[1],
                            KILN_SLICE_BEGIN};
            int64_t b[4] = {KILN_SLICE_END, i * dil[0] + (ho - 1) * st[0] + 1,
                            j * dil[1] + (wo - 1) * st[1] + 1,
                            KILN_SLICE_END};
            int64_t s[4] = {1, st[0], st[1], 1};
            cols[i * kw + j] = kiln_slice_sized(xp, a, b, s, 6u);
        }
    }
    /* (N, Ho, Wo, KH*KW, C) -> per group (N*Ho*Wo, KH*KW*Cg) */
    kiln_array *stk = kiln_stack(cols, (int)(kh * kw), 3);
    PyMem_Free(cols);
    kiln_array *y = NULL;
    kiln_array **outs = PyMem_Calloc((size_t)g, sizeof *outs);
    if (!outs) {
        kiln_scope_end(NULL);
        PyErr_NoMemory();
        return NULL;
    }
    for (int64_t q = 0; q < g && stk; q++) {
        kiln_array *xg = stk, *wg = w;
        if (g > 1) {
            int64_t a5[5] = {KILN_SLICE_BEGIN, KILN_SLICE_BEGIN,
                             KILN_SLICE_BEGIN, KILN_SLICE_BEGIN, q * cg};
            int64_t b5[5] = {KILN_SLICE_END, KILN_SLICE_END, KILN_SLICE_END,
                             KILN_SLICE_END, (q + 1) * cg};
            xg = kiln_slice_sized(stk, a5, b5, NULL, 16u);
            int64_t a4[4] = {q * og, KILN_SLICE_BEGIN, KILN_SLICE_BEGIN,
                             KILN_SLICE_BEGIN};
            int64_t b4[4] = {(q + 1) * og, KILN_SLICE_END, KILN_SLICE_END,
                             KILN_SLICE_END};
            wg = kiln_slice_sized(w, a4, b4, NULL, 1u);
        }
        kiln_array *xm = kiln_reshape(xg, (int64_t[]){n * ho * wo, k}, 2);
        kiln_array *wm = kiln_reshape(wg, (int64_t[]){og, k}, 2);
        outs[q] = kiln_matmul(xm, kiln_swapaxes(wm, 0, 1));
    }
    kiln_array *cat = g > 1 ? kiln_concatenate(outs, (int)g, 1) : outs[0];
    PyMem_Free(outs);
    y = kiln_reshape(cat, (int64_t[]){n, ho, wo, o}, 4);
    y = kiln_scope_end(y);
    if (!y) {
        pk_ops_shape_fail();
    }
    return y;
}

/* conv1d / conv2d: parse, check ranks, run conv2 (conv1d as a 2-d
 * convolution of height 1). */
static PyObject *conv_call(PyObject *args, PyObject *kw, int nd,
                           const char *fmt)
{
    static char *kwlist[] = {"", "", "stride", "padding", "dilation",
                             "groups", "stream", NULL};
    PyObject *xo, *wo, *so = NULL, *po = NULL, *dio = NULL, *stream = NULL;
    int groups = 1;
    int64_t st[2] = {1, 1}, pad[2] = {0, 0}, dil[2] = {1, 1};
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &xo, &wo, &so,
                                     &po, &dio, &groups, &stream)) {
        return NULL;
    }
    /* conv1d's values go to the width; the height stays 1 */
    int off = 2 - nd;
    if (int_pair(so, nd, 1, st + off, "stride") < 0 ||
        int_pair(po, nd, 0, pad + off, "padding") < 0 ||
        int_pair(dio, nd, 1, dil + off, "dilation") < 0) {
        return NULL;
    }
    kiln_array *x = pk_to_array(xo, -1);
    kiln_array *w = x ? pk_to_array(wo, -1) : NULL;
    if (!w) {
        kiln_array_release(x);
        return NULL;
    }
    kiln_array *y = NULL;
    if (kiln_array_ndim(x) != nd + 2 || kiln_array_ndim(w) != nd + 2) {
        PyErr_Format(PyExc_ValueError, "[conv%dd] input and weight must "
                     "have %d dimensions (channels last), got %d and %d",
                     nd, nd + 2, kiln_array_ndim(x), kiln_array_ndim(w));
    } else if (nd == 1) {
        int one = 1;
        kiln_array *x2 = kiln_expand_dims(x, &one, 1);
        kiln_array *w2 = kiln_expand_dims(w, &one, 1);
        kiln_array *y2 = x2 && w2 ? conv2(x2, w2, st, pad, dil, groups)
                                  : NULL;
        if (x2 && w2 && y2) {
            y = kiln_squeeze(y2, &one, 1);
        } else if (!PyErr_Occurred()) {
            pk_ops_shape_fail();
        }
        kiln_array_release(x2);
        kiln_array_release(w2);
        kiln_array_release(y2);
    } else {
        y = conv2(x, w, st, pad, dil, groups);
    }
    kiln_array_release(x);
    kiln_array_release(w);
    if (!y) {
        return PyErr_Occurred() ? NULL : pk_ops_shape_fail();
    }
    return pk_wrap(y);
}

static PyObject *py_conv1d(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return conv_call(args, kw, 1, "OO|OOOi$O:conv1d");
}

static PyObject *py_conv2d(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return conv_call(args, kw, 2, "OO|OOOi$O:conv2d");
}

static PyMethodDef conv_methods[] = {
    {"conv1d", PK_FN(py_conv1d), PK_KW,
     "conv1d(input, weight, /, stride=1, padding=0, dilation=1, groups=1, "
     "*, stream=None)\n--\n\n1-d convolution, channels last: input (N, L, "
     "C), weight (C_out, K, C / groups)."},
    {"conv2d", PK_FN(py_conv2d), PK_KW,
     "conv2d(input, weight, /, stride=1, padding=0, dilation=1, groups=1, "
     "*, stream=None)\n--\n\n2-d convolution, channels last: input (N, H, "
     "W, C), weight (C_out, KH, KW, C / groups)."},
    {NULL, NULL, 0, NULL}};

int pk_init_conv(PyObject *m)
{
    return PyModule_AddFunctions(m, conv_methods);
}

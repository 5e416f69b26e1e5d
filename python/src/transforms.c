/*
 * transforms.c - kiln.grad, kiln.value_and_grad, kiln.vjp, kiln.jvp and
 * kiln.vmap: mlx.core's function transforms over Python callables. This
 * file holds a Python function as a kiln_fn, the transformed-function
 * type, vjp and jvp; grad and vmap live in transforms_grad.c and
 * transforms_vmap.c.
 *
 * Every call of a transformed function wraps the Python callable in a
 * fresh kiln_fn whose context (a `call`) holds the structure of this
 * call's arguments and, once the body ran, of its results; it applies the
 * C transform (kiln_grad, kiln_vmap, ...) to that kiln_fn and calls the
 * result on the flattened argument arrays. The body runs synchronously
 * inside that kiln_fn_call, on the caller's thread: it rebuilds the
 * argument trees around the arrays it is given (placeholders or tracers
 * while a transform traces), calls the Python function and flattens what
 * it returns into the results. Composition with kiln.compile and with
 * the transforms themselves follows: the C core inlines a compiled
 * function called while a transform traces, and a transformed function
 * called inside a compiled one just builds graph on compile's
 * placeholders.
 *
 * Invariants:
 * - A call context belongs to one Python-level call (never shared by
 *   threads or re-entrant calls); its kiln_fn owns it and frees it
 *   holding the GIL.
 * - A Python exception raised by the function is left pending and the
 *   body fails, so pk_raise keeps it: it comes out of the transformed
 *   call unchanged. The body never runs Python with an exception pending.
 * - Array leaves are ordered as tree.c flattens them (depth first, dicts
 *   in insertion order); the axis walks of vmap visit them in that order.
 */
#include "transforms.h"

#include <string.h>

const char *const pk_transforms_kinds[] = {"grad", "value_and_grad",
                                           "vmap", "vjp", "jvp"};

/* ------------------------------------------------------------------ */
/* the Python function as a kiln_fn                                   */
/* ------------------------------------------------------------------ */

static void call_free(void *ctx)
{
    call *c = ctx;
    PyGILState_STATE gs = PyGILState_Ensure();
    Py_XDECREF(c->fun);
    Py_XDECREF(c->pos_tds);
    Py_XDECREF(c->kw_names);
    Py_XDECREF(c->kw_tds);
    Py_XDECREF(c->out_td);
    PyMem_RawFree(c);
    PyGILState_Release(gs);
}

/* kiln.arrays wrapping the arrays of l (a new list). */
PyObject *pk_transforms_wrap_list(const kiln_list *l, size_t from, size_t to)
{
    PyObject *out = PyList_New((Py_ssize_t)(to - from));
    if (!out) {
        return NULL;
    }
    for (size_t i = from; i < to; i++) {
        PyObject *w = pk_wrap(kiln_array_retain(kiln_list_get(l, i)));
        if (!w) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)(i - from), w);
    }
    return out;
}

/* The treedef td rebuilt around leaves[*off, *off + count). */
static PyObject *unflatten_at(PyObject *td, PyObject *leaves,
                              Py_ssize_t *off)
{
    Py_ssize_t n = pk_tree_count(td);
    if (n < 0) {
        return NULL;
    }
    PyObject *part = PyList_GetSlice(leaves, *off, *off + n);
    if (!part) {
        return NULL;
    }
    *off += n;
    PyObject *t = pk_tree_unflatten(td, part);
    Py_DECREF(part);
    return t;
}

/* The positional arguments (new tuple) and keyword arguments (new dict,
 * or NULL) of the call around `leaves`. */
static PyObject *build_args(const call *c, PyObject *leaves,
                            PyObject **kwargs)
{
    *kwargs = NULL;
    if (!c->pos_tds) {
        return PyList_AsTuple(leaves);
    }
    Py_ssize_t npos = PyTuple_GET_SIZE(c->pos_tds), off = 0;
    PyObject *pos = PyTuple_New(npos);
    if (!pos) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < npos; i++) {
        PyObject *t = unflatten_at(PyTuple_GET_ITEM(c->pos_tds, i), leaves,
                                   &off);
        if (!t) {
            Py_DECREF(pos);
            return NULL;
        }
        PyTuple_SET_ITEM(pos, i, t);
    }
    if (!c->kw_names) {
        return pos;
    }
    PyObject *kw = PyDict_New();
    if (!kw) {
        Py_DECREF(pos);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(c->kw_names); i++) {
        PyObject *t = unflatten_at(PyTuple_GET_ITEM(c->kw_tds, i), leaves,
                                   &off);
        if (!t || PyDict_SetItem(kw, PyTuple_GET_ITEM(c->kw_names, i),
                                 t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(kw);
            Py_DECREF(pos);
            return NULL;
        }
        Py_DECREF(t);
    }
    *kwargs = kw;
    return pos;
}

/* 1 when every leaf of tree is a kiln.array (lists, tuples and dicts are
 * containers), 0 when one is not, -1 on error. */
int pk_transforms_only_arrays(PyObject *tree)
{
    if (PkArray_Check(tree)) {
        return 1;
    }
    int ok = 1;
    if (PyList_Check(tree) || PyTuple_Check(tree) || PyDict_Check(tree)) {
        if (Py_EnterRecursiveCall(" in a tree")) {
            return -1;
        }
        if (PyDict_Check(tree)) {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (ok == 1 && PyDict_Next(tree, &pos, &k, &v)) {
                ok = pk_transforms_only_arrays(v);
            }
        } else {
            PyObject *seq = PySequence_Fast(tree, "");
            if (!seq) {
                Py_LeaveRecursiveCall();
                return -1;
            }
            for (Py_ssize_t i = 0; ok == 1 && i < PySequence_Fast_GET_SIZE(
                                                      seq); i++) {
                ok = pk_transforms_only_arrays(
                    PySequence_Fast_GET_ITEM(seq, i));
            }
            Py_DECREF(seq);
        }
        Py_LeaveRecursiveCall();
        return ok;
    }
    return 0;
}

/* Checks what the function returned against what the transform needs;
 * 0 or -1 with ValueError/TypeError. */
static int check_result(const call *c, PyObject *out)
{
    const char *tag = pk_transforms_kinds[c->kind];
    int ok;
    switch (c->kind) {
    case K_GRAD:
        if (!PkArray_Check(out)) {
            PyErr_Format(PyExc_ValueError, "[grad] The return value of the "
                         "function whose gradient we want to compute "
                         "should be a scalar array; but %.100s was "
                         "returned.", Py_TYPE(out)->tp_name);
            return -1;
        }
        return 0;
    case K_VALUE_AND_GRAD:
        if (PkArray_Check(out)) {
            return 0;
        }
        if (!PyTuple_Check(out) || PyTuple_GET_SIZE(out) == 0 ||
            !PkArray_Check(PyTuple_GET_ITEM(out, 0))) {
            PyErr_Format(PyExc_ValueError, "[value_and_grad] The return "
                         "value of the function whose gradient we want to "
                         "compute should be either a scalar array or a "
                         "non-empty tuple whose first value is a scalar "
                         "array; but %.100s was returned.",
                         PyTuple_Check(out) && PyTuple_GET_SIZE(out) > 0
                             ? "a tuple starting with something else"
                             : Py_TYPE(out)->tp_name);
            return -1;
        }
        return 0;
    case K_VMAP:
        ok = pk_transforms_only_arrays(out);
        if (ok == 0) {
            PyErr_SetString(PyExc_ValueError, "[vmap] The function must "
                            "return arrays or trees (lists, tuples, dicts) "
                            "of arrays.");
        }
        return ok == 1 ? 0 : -1;
    default:
        if (PkArray_Check(out)) {
            return 0;
        }
        if (PyList_Check(out) || PyTuple_Check(out)) {
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(out); i++) {
                if (!PkArray_Check(PySequence_Fast_GET_ITEM(out, i))) {
                    goto bad;
                }
            }
            return 0;
        }
    bad:
        PyErr_Format(PyExc_TypeError, "[%s] The function must return an "
                     "array or a list of arrays, got %.100s", tag,
                     Py_TYPE(out)->tp_name);
        return -1;
    }
}

/* Flattens out into results and records its structure in c. */
static int push_result(call *c, PyObject *out, kiln_list *results)
{
    PyObject *leaves;
    if (c->pos_tds) {
        leaves = PyList_New(0);
        if (!leaves) {
            return -1;
        }
        PyObject *td = pk_tree_flatten(out, leaves, 0,
                                       pk_transforms_kinds[c->kind]);
        if (!td) {
            Py_DECREF(leaves);
            return -1;
        }
        Py_XSETREF(c->out_td, td);
    } else {
        c->out_single = PkArray_Check(out);
        leaves = c->out_single ? PyList_New(0) : PySequence_List(out);
        if (!leaves || (c->out_single && PyList_Append(leaves, out) < 0)) {
            Py_XDECREF(leaves);
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(leaves); i++) {
        PyObject *x = PyList_GET_ITEM(leaves, i);
        if (!PkArray_Check(x)) {
            PyErr_SetString(PyExc_RuntimeError, "internal error: a "
                            "flattened leaf is not an array");
            Py_DECREF(leaves);
            return -1;
        }
        if (kiln_list_push(results, ((PkArray *)x)->a) != KILN_OK) {
            Py_DECREF(leaves);
            pk_raise();
            return -1;
        }
    }
    Py_DECREF(leaves);
    return 0;
}

/* The kiln_fn body: fun on the arrays of args, flattened into results. */
static kiln_status call_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    call *c = ctx;
    kiln_status st = KILN_ERR_RUNTIME;
    PyGILState_STATE gs = PyGILState_Ensure();
    if (PyErr_Occurred()) {
        goto done; /* never run Python over a pending exception */
    }
    PyObject *leaves = pk_transforms_wrap_list(args, 0, kiln_list_size(args));
    if (!leaves) {
        goto done;
    }
    PyObject *kwargs;
    PyObject *pos = build_args(c, leaves, &kwargs);
    Py_DECREF(leaves);
    if (!pos) {
        goto done;
    }
    PyObject *out = NULL;
    if (pk_nest_enter() == 0) {
        out = PyObject_Call(c->fun, pos, kwargs);
        pk_nest_leave();
    }
    Py_DECREF(pos);
    Py_XDECREF(kwargs);
    if (!out) {
        goto done;
    }
    if (check_result(c, out) == 0 && push_result(c, out, results) == 0) {
        st = KILN_OK;
    }
    Py_DECREF(out);
done:
    PyGILState_Release(gs);
    return st;
}

/* A new kiln_fn calling fun as `kind` with the given argument structure
 * (stolen references, may be NULL). *out is its context, owned by it.
 * NULL with an exception. */
kiln_fn *pk_transforms_call_new(int kind, PyObject *fun, PyObject *name,
                                PyObject *pos_tds, PyObject *kw_names,
                                PyObject *kw_tds, call **out)
{
    call *c = PyMem_RawCalloc(1, sizeof *c);
    if (!c) {
        Py_XDECREF(pos_tds);
        Py_XDECREF(kw_names);
        Py_XDECREF(kw_tds);
        PyErr_NoMemory();
        return NULL;
    }
    c->kind = kind;
    c->fun = Py_NewRef(fun);
    c->pos_tds = pos_tds;
    c->kw_names = kw_names;
    c->kw_tds = kw_tds;
    const char *s = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!s) {
        PyErr_Clear();
        s = "function";
    }
    kiln_fn *f = kiln_fn_new(call_body, c, call_free, s);
    if (!f) {
        call_free(c);
        pk_raise();
        return NULL;
    }
    *out = c;
    return f;
}

/* Calls the transformed function t on args; the results, or NULL with
 * the function's own exception or the kiln error as one. */
kiln_list *pk_transforms_call_run(kiln_fn *t, const kiln_list *args)
{
    kiln_list *r = kiln_fn_call(t, args);
    if (!r) {
        pk_raise();
        return NULL;
    }
    if (PyErr_Occurred()) {
        /* A body failed and the core carried on: the error still wins. */
        kiln_list_free(r);
        kiln_errclear();
        return NULL;
    }
    return r;
}

/* Appends every kiln.array leaf of leaves (a Python list) to l. */
static int push_leaves(kiln_list *l, PyObject *leaves)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(leaves); i++) {
        PyObject *x = PyList_GET_ITEM(leaves, i);
        if (kiln_list_push(l, ((PkArray *)x)->a) != KILN_OK) {
            pk_raise();
            return -1;
        }
    }
    return 0;
}

/* The name of fun for messages (new reference; "function" if none). */
static PyObject *fun_name(PyObject *fun)
{
    PyObject *n = PyObject_GetAttrString(fun, "__name__");
    if (!n || !PyUnicode_Check(n)) {
        PyErr_Clear();
        Py_XDECREF(n);
        n = PyUnicode_FromString("function");
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* argument trees                                                     */
/* ------------------------------------------------------------------ */

void pk_transforms_flat_args_clear(flat_args *a)
{
    Py_CLEAR(a->leaves);
    Py_CLEAR(a->pos_tds);
    Py_CLEAR(a->kw_names);
    Py_CLEAR(a->kw_tds);
    PyMem_Free(a->off);
    a->off = NULL;
}

int pk_transforms_flatten_args(PyObject *args, PyObject *kwargs,
                               const char *what, flat_args *a)
{
    Py_ssize_t npos = PyTuple_GET_SIZE(args);
    Py_ssize_t nkw = kwargs ? PyDict_GET_SIZE(kwargs) : 0;
    memset(a, 0, sizeof *a);
    a->leaves = PyList_New(0);
    a->pos_tds = PyTuple_New(npos);
    a->off = PyMem_Calloc((size_t)(npos + nkw + 1), sizeof *a->off);
    if (!a->leaves || !a->pos_tds || !a->off) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < npos; i++) {
        a->off[i] = PyList_GET_SIZE(a->leaves);
        PyObject *td = pk_tree_flatten(PyTuple_GET_ITEM(args, i), a->leaves,
                                       0, what);
        if (!td) {
            goto fail;
        }
        PyTuple_SET_ITEM(a->pos_tds, i, td);
    }
    if (nkw > 0) {
        a->kw_names = PyTuple_New(nkw);
        a->kw_tds = PyTuple_New(nkw);
        if (!a->kw_names || !a->kw_tds) {
            goto fail;
        }
        Py_ssize_t pos = 0, i = 0;
        PyObject *k, *v;
        while (PyDict_Next(kwargs, &pos, &k, &v)) {
            a->off[npos + i] = PyList_GET_SIZE(a->leaves);
            PyObject *td = pk_tree_flatten(v, a->leaves, 0, what);
            if (!td) {
                goto fail;
            }
            PyTuple_SET_ITEM(a->kw_names, i, Py_NewRef(k));
            PyTuple_SET_ITEM(a->kw_tds, i, td);
            i++;
        }
    }
    a->off[npos + nkw] = PyList_GET_SIZE(a->leaves);
    return 0;
fail:
    pk_transforms_flat_args_clear(a);
    return -1;
}

/* A kiln_list of the leaves; NULL with an exception. */
kiln_list *pk_transforms_leaves_list(PyObject *leaves, PyObject *more)
{
    kiln_list *l = kiln_list_new();
    if (!l) {
        pk_raise();
        return NULL;
    }
    if (push_leaves(l, leaves) < 0 || (more && push_leaves(l, more) < 0)) {
        kiln_list_free(l);
        return NULL;
    }
    return l;
}

/* ------------------------------------------------------------------ */
/* the transformed-function type                                      */
/* ------------------------------------------------------------------ */

static int transform_traverse(PyObject *o, visitproc visit, void *arg)
{
    PkTransform *t = (PkTransform *)o;
    Py_VISIT(t->fun);
    Py_VISIT(t->name);
    Py_VISIT(t->argnames);
    Py_VISIT(t->in_axes);
    Py_VISIT(t->out_axes);
    Py_VISIT(t->dict);
    return 0;
}

static int transform_clear(PyObject *o)
{
    PkTransform *t = (PkTransform *)o;
    Py_CLEAR(t->fun);
    Py_CLEAR(t->name);
    Py_CLEAR(t->argnames);
    Py_CLEAR(t->in_axes);
    Py_CLEAR(t->out_axes);
    Py_CLEAR(t->dict);
    return 0;
}

static void transform_dealloc(PyObject *o)
{
    PkTransform *t = (PkTransform *)o;
    PyObject_GC_UnTrack(o);
    if (t->weakrefs) {
        PyObject_ClearWeakRefs(o);
    }
    transform_clear(o);
    PyMem_Free(t->argnums);
    Py_TYPE(o)->tp_free(o);
}

static PyTypeObject PkTransform_Type;

/* A new transformed function of fun with fun's __module__, __name__,
 * __qualname__ and __doc__, and __wrapped__ = fun. */
PkTransform *pk_transforms_new(int kind, PyObject *fun)
{
    if (!PyCallable_Check(fun)) {
        PyErr_Format(PyExc_TypeError, "[%s] fun must be callable, got "
                     "%.100s", pk_transforms_kinds[kind],
                     Py_TYPE(fun)->tp_name);
        return NULL;
    }
    PkTransform *t = PyObject_GC_New(PkTransform, &PkTransform_Type);
    if (!t) {
        return NULL;
    }
    t->kind = kind;
    t->fun = Py_NewRef(fun);
    t->name = NULL;
    t->argnums = NULL;
    t->nargnums = 0;
    t->argnames = NULL;
    t->in_axes = NULL;
    t->out_axes = NULL;
    t->weakrefs = NULL;
    t->dict = PyDict_New();
    PyObject_GC_Track((PyObject *)t);
    t->name = fun_name(fun);
    if (!t->dict || !t->name) {
        Py_DECREF(t);
        return NULL;
    }
    static const char *attrs[] = {"__module__", "__name__", "__qualname__",
                                  "__doc__"};
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        PyObject *v = PyObject_GetAttrString(fun, attrs[i]);
        if (!v) {
            PyErr_Clear();
            continue;
        }
        int r = PyDict_SetItemString(t->dict, attrs[i], v);
        Py_DECREF(v);
        if (r < 0) {
            Py_DECREF(t);
            return NULL;
        }
    }
    if (PyDict_SetItemString(t->dict, "__wrapped__", fun) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

static PyObject *transform_repr(PyObject *o)
{
    PkTransform *t = (PkTransform *)o;
    if (!t->fun) {
        return PyUnicode_FromFormat("<kiln.%s (cleared)>",
                                    pk_transforms_kinds[t->kind]);
    }
    return PyUnicode_FromFormat("<kiln.%s of %R>", pk_transforms_kinds[t->kind],
                                t->fun);
}

/* ------------------------------------------------------------------ */
/* vjp and jvp                                                        */
/* ------------------------------------------------------------------ */

/* A list of kiln.arrays from a list or tuple (new reference). */
static PyObject *array_list(PyObject *o, const char *tag, const char *what)
{
    if (!PyList_Check(o) && !PyTuple_Check(o)) {
        PyErr_Format(PyExc_TypeError, "[%s] %s must be a list of arrays, "
                     "got %.100s", tag, what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    PyObject *l = PySequence_List(o);
    for (Py_ssize_t i = 0; l && i < PyList_GET_SIZE(l); i++) {
        if (!PkArray_Check(PyList_GET_ITEM(l, i))) {
            PyErr_Format(PyExc_TypeError, "[%s] %s must be a list of "
                         "arrays; entry %zd is %.100s", tag, what, i,
                         Py_TYPE(PyList_GET_ITEM(l, i))->tp_name);
            Py_CLEAR(l);
        }
    }
    return l;
}

static PyObject *flat_transform(int kind, PyObject *args, PyObject *kwds)
{
    static char *vjp_kw[] = {"fun", "primals", "cotangents", NULL};
    static char *jvp_kw[] = {"fun", "primals", "tangents", NULL};
    const char *tag = pk_transforms_kinds[kind];
    PyObject *fun, *p, *s;
    if (!PyArg_ParseTupleAndKeywords(args, kwds,
                                     kind == K_VJP ? "OOO:vjp" : "OOO:jvp",
                                     kind == K_VJP ? vjp_kw : jvp_kw, &fun,
                                     &p, &s)) {
        return NULL;
    }
    if (!PyCallable_Check(fun)) {
        PyErr_Format(PyExc_TypeError, "[%s] fun must be callable, got "
                     "%.100s", tag, Py_TYPE(fun)->tp_name);
        return NULL;
    }
    PyObject *primals = array_list(p, tag, "primals");
    PyObject *seeds = primals ? array_list(s, tag, kind == K_VJP
                                                      ? "cotangents"
                                                      : "tangents")
                              : NULL;
    PyObject *name = seeds ? fun_name(fun) : NULL;
    PyObject *result = NULL;
    kiln_list *in = NULL, *res = NULL;
    kiln_fn *f = NULL, *tf = NULL;
    call *c = NULL;
    if (!name) {
        goto done;
    }
    int np = (int)PyList_GET_SIZE(primals);
    in = pk_transforms_leaves_list(primals, seeds);
    f = in ? pk_transforms_call_new(kind, fun, name, NULL, NULL, NULL, &c)
           : NULL;
    if (!f) {
        goto done;
    }
    tf = kind == K_VJP ? kiln_vjp(f, np) : kiln_jvp(f, np);
    if (!tf) {
        pk_raise();
        goto done;
    }
    res = pk_transforms_call_run(tf, in);
    if (!res) {
        goto done;
    }
    size_t total = kiln_list_size(res);
    size_t nout = kind == K_VJP ? total - (size_t)np : total / 2;
    PyObject *outs = pk_transforms_wrap_list(res, 0, nout);
    PyObject *grads = outs ? pk_transforms_wrap_list(res, nout, total) : NULL;
    if (grads) {
        result = PyTuple_Pack(2, outs, grads);
    }
    Py_XDECREF(outs);
    Py_XDECREF(grads);
done:
    kiln_list_free(res);
    kiln_fn_release(tf);
    kiln_fn_release(f);
    kiln_list_free(in);
    Py_XDECREF(name);
    Py_XDECREF(seeds);
    Py_XDECREF(primals);
    return result;
}

static PyObject *py_vjp(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    return flat_transform(K_VJP, args, kwds);
}

static PyObject *py_jvp(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    return flat_transform(K_JVP, args, kwds);
}

/* ------------------------------------------------------------------ */
/* calling a transformed function; the module                          */
/* ------------------------------------------------------------------ */

static PyObject *py_grad(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    return pk_transforms_grad_make(K_GRAD, args, kwds);
}

static PyObject *py_value_and_grad(PyObject *m, PyObject *args,
                                   PyObject *kwds)
{
    (void)m;
    return pk_transforms_grad_make(K_VALUE_AND_GRAD, args, kwds);
}

static PyObject *py_vmap(PyObject *m, PyObject *args, PyObject *kwds)
{
    (void)m;
    return pk_transforms_vmap_make(args, kwds);
}

static PyObject *transform_call(PyObject *o, PyObject *args,
                                PyObject *kwargs)
{
    PkTransform *t = (PkTransform *)o;
    if (!t->fun) {
        PyErr_SetString(PyExc_RuntimeError, "the transformed function was "
                        "cleared");
        return NULL;
    }
    return t->kind == K_VMAP ? pk_transforms_vmap_call(t, args, kwargs)
                             : pk_transforms_grad_call(t, args, kwargs);
}

static PyTypeObject PkTransform_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.transformed_function",
    .tp_basicsize = sizeof(PkTransform),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A function transformed by kiln.grad, kiln.value_and_grad "
              "or kiln.vmap.",
    .tp_dealloc = transform_dealloc,
    .tp_traverse = transform_traverse,
    .tp_clear = transform_clear,
    .tp_call = transform_call,
    .tp_repr = transform_repr,
    .tp_getattro = PyObject_GenericGetAttr,
    .tp_setattro = PyObject_GenericSetAttr,
    .tp_dictoffset = offsetof(PkTransform, dict),
    .tp_weaklistoffset = offsetof(PkTransform, weakrefs),
};

static PyMethodDef transforms_methods[] = {
    {"grad", (PyCFunction)(void (*)(void))py_grad,
     METH_VARARGS | METH_KEYWORDS,
     "grad(fun, argnums=None, argnames=[]) -> Callable\n\n"
     "A function computing the gradient of fun (which returns a scalar "
     "array) with respect to the arguments argnums (default 0) and the "
     "keyword arguments argnames. Arguments may be trees of arrays; "
     "their gradients have the same structure."},
    {"value_and_grad", (PyCFunction)(void (*)(void))py_value_and_grad,
     METH_VARARGS | METH_KEYWORDS,
     "value_and_grad(fun, argnums=None, argnames=[]) -> Callable\n\n"
     "A function returning (fun(...), gradients). fun returns a scalar "
     "array or a tuple whose first value is one (the loss) and whose "
     "other values are carried along."},
    {"vjp", (PyCFunction)(void (*)(void))py_vjp,
     METH_VARARGS | METH_KEYWORDS,
     "vjp(fun, primals, cotangents) -> (list[array], list[array])\n\n"
     "The outputs of fun(*primals) and the vector-Jacobian products of "
     "the cotangents (one per output) with respect to each primal."},
    {"jvp", (PyCFunction)(void (*)(void))py_jvp,
     METH_VARARGS | METH_KEYWORDS,
     "jvp(fun, primals, tangents) -> (list[array], list[array])\n\n"
     "The outputs of fun(*primals) and the Jacobian-vector products of "
     "the tangents (one per primal), one per output."},
    {"vmap", (PyCFunction)(void (*)(void))py_vmap,
     METH_VARARGS | METH_KEYWORDS,
     "vmap(fun, in_axes=0, out_axes=0) -> Callable\n\n"
     "fun vectorized over a batch axis. in_axes and out_axes are an int, "
     "None (not batched) or a prefix tree of the arguments or outputs "
     "whose leaves are ints or None."},
    {NULL, NULL, 0, NULL},
};

int pk_init_transforms(PyObject *m)
{
    if (PyType_Ready(&PkTransform_Type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, transforms_methods);
}


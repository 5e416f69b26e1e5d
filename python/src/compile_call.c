/*
 * compile_call.c - one call of a compiled Python function (compile.c has
 * the picture): the arguments flattened into arrays and key bytes, the
 * kiln call, the body that runs the Python function while the core traces
 * (or bypasses), the captured inputs and outputs, the result rebuilt.
 *
 * The body finds its call through a thread-local record: the core runs it
 * synchronously inside kiln_fn_call_keyed on the calling thread, with the
 * GIL held; nested compiled calls stack their records.
 *
 * Invariants: the inputs tree's arrays hold placeholders only while the
 * body runs and are restored whatever fun does; a Python exception raised
 * by fun is what the call raises; a cache hit rebuilds its result from
 * the structure remembered at the trace of the same signature (computed
 * from the same parts as the core's: counts, options, dtypes, ndims,
 * shapes unless shapeless, key bytes), and a forgotten one clears the
 * function's cache and traces again.
 */
#include "compile.h"

#include <string.h>

/* What one call of a compiled object tells its body. */
typedef struct call_rec {
    PkHandle *handle;
    PyObject *fun;
    PyObject *bound;
    PyObject *argdef;   /* treedef of (args, kwargs or None) */
    const kiln_list *in;/* the call's real arguments */
    PyObject *capobjs;  /* kiln.array leaves of the inputs tree, or NULL */
    kiln_list *inl;     /* their arrays: the core's captured inputs */
    PyObject *outputs;  /* the outputs tree, or NULL */
    kiln_list *outl;    /* the core's captured outputs (fresh) */
    PyObject *outdef;   /* set by the body: the result's treedef */
    int ran, traced;
    struct call_rec *prev;
} call_rec;

static _Thread_local call_rec *current;

/* ------------------------------------------------------------------ */
/* the body                                                           */
/* ------------------------------------------------------------------ */

/* Puts the core's captured inputs (placeholders while tracing) into the
 * inputs tree's kiln.array objects; saved[] keeps what they held. */
static void swap_in(call_rec *c, kiln_array **saved, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PkArray *p = (PkArray *)PyList_GET_ITEM(c->capobjs, i);
        kiln_array *x = kiln_list_get(c->inl, (size_t)i);
        saved[i] = NULL;
        if (x && x != p->a) {
            saved[i] = p->a;
            p->a = kiln_array_retain(x);
            c->traced = 1;
        }
    }
}

static void swap_back(call_rec *c, kiln_array **saved, Py_ssize_t n)
{
    for (Py_ssize_t i = n - 1; i >= 0; i--) {
        if (saved[i]) {
            PkArray *p = (PkArray *)PyList_GET_ITEM(c->capobjs, i);
            kiln_array_release(p->a);
            p->a = saved[i];
        }
    }
}

/* fun(*args, **kwargs) rebuilt around the arrays the core gave. */
static PyObject *call_fun(call_rec *c, const kiln_list *args)
{
    size_t n = kiln_list_size(args);
    PyObject *wl = PyList_New((Py_ssize_t)n), *tree = NULL, *out = NULL;
    for (size_t i = 0; wl && i < n; i++) {
        kiln_array *x = kiln_list_get(args, i);
        if (x != kiln_list_get(c->in, i)) {
            c->traced = 1;
        }
        PyObject *w = pk_wrap(kiln_array_retain(x));
        if (!w) {
            goto done;
        }
        PyList_SET_ITEM(wl, (Py_ssize_t)i, w);
    }
    tree = wl ? pk_tree_unflatten(c->argdef, wl) : NULL;
    if (!tree) {
        goto done;
    }
    PyObject *a = PyTuple_GET_ITEM(tree, 0);
    PyObject *kw = PyTuple_GET_ITEM(tree, 1);
    if (pk_nest_enter() < 0) {
        goto done;
    }
    if (c->bound) {
        Py_ssize_t na = PyTuple_GET_SIZE(a);
        PyObject *full = PyTuple_New(na + 1);
        if (!full) {
            goto done;
        }
        PyTuple_SET_ITEM(full, 0, Py_NewRef(c->bound));
        for (Py_ssize_t i = 0; i < na; i++) {
            PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(a, i)));
        }
        out = PyObject_Call(c->fun, full, kw == Py_None ? NULL : kw);
        Py_DECREF(full);
    } else {
        out = PyObject_Call(c->fun, a, kw == Py_None ? NULL : kw);
    }
    pk_nest_leave();
done:
    Py_XDECREF(wl);
    Py_XDECREF(tree);
    return out;
}

/* Pushes the arrays of a list of kiln.arrays onto l. */
static int push_all(kiln_list *l, PyObject *objs)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PkArray *p = (PkArray *)PyList_GET_ITEM(objs, i);
        if (pk_check(kiln_list_push(l, p->a)) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The result's arrays onto results (one placeholder result when it has
 * none: the core wants one), the outputs tree's arrays onto the captured
 * output list, the result's treedef into the record. */
static int collect_results(call_rec *c, PyObject *ret, kiln_list *results)
{
    PyObject *leaves = PyList_New(0), *outobjs = NULL;
    int r = -1;
    if (!leaves) {
        return -1;
    }
    PyObject *def = pk_tree_flatten(ret, leaves, 0, NULL);
    if (!def || push_all(results, leaves) < 0) {
        goto done;
    }
    if (PyList_GET_SIZE(leaves) == 0) {
        kiln_array *dummy = kiln_scalar_bool(false);
        kiln_status st = dummy ? kiln_list_push(results, dummy)
                               : kiln_errcode();
        kiln_array_release(dummy);
        if (pk_check(st) < 0) {
            goto done;
        }
    }
    if (c->outputs) {
        outobjs = PyList_New(0);
        if (!outobjs || pk_tree_arrays(c->outputs, outobjs) < 0 ||
            push_all(c->outl, outobjs) < 0) {
            goto done;
        }
    }
    Py_XSETREF(c->outdef, Py_NewRef(def));
    r = 0;
done:
    Py_XDECREF(def);
    Py_XDECREF(leaves);
    Py_XDECREF(outobjs);
    return r;
}

kiln_status pk_compile_call_body(void *ctx, const kiln_list *args,
                                 kiln_list *results)
{
    call_rec *c = current;
    if (!c || (void *)c->handle != ctx) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] a compiled Python function was called "
                        "outside its compiled object");
        return KILN_ERR_RUNTIME;
    }
    c->ran = 1;
    Py_ssize_t ncap = c->capobjs ? PyList_GET_SIZE(c->capobjs) : 0;
    kiln_array *local[16];
    kiln_array **saved = ncap <= 16 ? local
                                    : PyMem_Malloc(sizeof *saved *
                                                   (size_t)ncap);
    if (!saved) {
        PyErr_NoMemory();
        return KILN_ERR_MEMORY;
    }
    swap_in(c, saved, ncap);
    PyObject *ret = call_fun(c, args);
    int ok = ret && collect_results(c, ret, results) == 0;
    swap_back(c, saved, ncap);
    Py_XDECREF(ret);
    if (saved != local) {
        PyMem_Free(saved);
    }
    return ok ? KILN_OK : KILN_ERR_RUNTIME;
}

/* ------------------------------------------------------------------ */
/* captured outputs after a call                                      */
/* ------------------------------------------------------------------ */

static PyObject *new_leaf(kiln_array *x)
{
    return pk_wrap(kiln_array_retain(x));
}

/* Gives the outputs tree's array leaves the values in l, in the order
 * pk_tree_arrays walks them: new objects in list and dict slots, in place
 * for a bare array or arrays inside tuples. */
static int fill(PyObject *o, const kiln_list *l, size_t *next)
{
    if (PkArray_Check(o)) {
        PkArray *p = (PkArray *)o;
        kiln_array *x = kiln_list_get(l, (*next)++);
        if (x && x != p->a) {
            kiln_array_release(p->a);
            p->a = kiln_array_retain(x);
        }
        return 0;
    }
    if (!PyList_Check(o) && !PyTuple_Check(o) && !PyDict_Check(o)) {
        return 0;
    }
    if (Py_EnterRecursiveCall(" while updating captured outputs")) {
        return -1;
    }
    int r = 0;
    if (PyList_Check(o)) {
        for (Py_ssize_t i = 0; r == 0 && i < PyList_GET_SIZE(o); i++) {
            PyObject *v = PyList_GET_ITEM(o, i);
            if (!PkArray_Check(v)) {
                Py_INCREF(v);
                r = fill(v, l, next);
                Py_DECREF(v);
                continue;
            }
            kiln_array *x = kiln_list_get(l, (*next)++);
            if (x && x != ((PkArray *)v)->a) {
                PyObject *w = new_leaf(x);
                r = w ? PyList_SetItem(o, i, w) : -1;
            }
        }
    } else if (PyTuple_Check(o)) {
        for (Py_ssize_t i = 0; r == 0 && i < PyTuple_GET_SIZE(o); i++) {
            r = fill(PyTuple_GET_ITEM(o, i), l, next);
        }
    } else {
        PyObject *items = PyDict_Items(o);
        for (Py_ssize_t i = 0; items && r == 0 && i < PyList_GET_SIZE(items);
             i++) {
            PyObject *kv = PyList_GET_ITEM(items, i);
            PyObject *k = PyTuple_GET_ITEM(kv, 0);
            PyObject *v = PyTuple_GET_ITEM(kv, 1);
            if (!PkArray_Check(v)) {
                r = fill(v, l, next);
                continue;
            }
            kiln_array *x = kiln_list_get(l, (*next)++);
            if (x && x != ((PkArray *)v)->a) {
                PyObject *w = new_leaf(x);
                r = w ? PyDict_SetItem(o, k, w) : -1;
                Py_XDECREF(w);
            }
        }
        if (!items) {
            r = -1;
        }
        Py_XDECREF(items);
    }
    Py_LeaveRecursiveCall();
    return r;
}

static int update_outputs(PyObject *tree, const kiln_list *l)
{
    PyObject *now = PyList_New(0);
    if (!now || pk_tree_arrays(tree, now) < 0) {
        Py_XDECREF(now);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(now);
    Py_DECREF(now);
    if ((size_t)n != kiln_list_size(l)) {
        PyErr_Format(PyExc_ValueError,
                     "[compile] the captured outputs hold %zd arrays but the "
                     "compiled function's trace assigned %zu; a tree "
                     "captured as outputs must keep its structure between "
                     "calls",
                     n, kiln_list_size(l));
        return -1;
    }
    size_t next = 0;
    return fill(tree, l, &next);
}

/* ------------------------------------------------------------------ */
/* calls                                                              */
/* ------------------------------------------------------------------ */

static int lock_enter(PkCompiled *w)
{
    unsigned long me = PyThread_get_thread_ident();
    if (!w->lock) {
        return 0;
    }
    if (w->depth > 0 && w->owner == me) {
        w->depth++;
        return 0;
    }
    if (!PyThread_acquire_lock(w->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(w->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
    w->owner = me;
    w->depth = 1;
    return 0;
}

static void lock_leave(PkCompiled *w)
{
    if (w->lock && --w->depth == 0) {
        w->owner = 0;
        PyThread_release_lock(w->lock);
    }
}

static int put_bytes(PyObject *ba, const void *p, size_t n)
{
    Py_ssize_t at = PyByteArray_GET_SIZE(ba);
    if (PyByteArray_Resize(ba, at + (Py_ssize_t)n) < 0) {
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(ba) + at, p, n);
    return 0;
}

static int put_metas(PyObject *ba, const kiln_list *l, int shapeless)
{
    for (size_t i = 0; l && i < kiln_list_size(l); i++) {
        kiln_array *x = kiln_list_get(l, i);
        unsigned char dn[2] = {(unsigned char)kiln_array_dtype(x),
                               (unsigned char)kiln_array_ndim(x)};
        if (put_bytes(ba, dn, 2) < 0) {
            return -1;
        }
        if (!shapeless &&
            put_bytes(ba, kiln_array_shape(x),
                      sizeof(int64_t) * (size_t)kiln_array_ndim(x)) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The signature of a call as the core sees it (same parts: counts,
 * options, each array's dtype, ndim and shape, the key bytes), as the
 * key of the map of result structures. */
static PyObject *signature(PkCompiled *w, PyObject *key, const kiln_list *in,
                           const kiln_list *inl)
{
    int64_t head[4] = {(int64_t)kiln_list_size(in),
                       inl ? (int64_t)kiln_list_size(inl) : -1,
                       w->shapeless, w->outputs != NULL};
    PyObject *ba = PyByteArray_FromObject(key);
    if (!ba || put_bytes(ba, head, sizeof head) < 0 ||
        put_metas(ba, in, w->shapeless) < 0 ||
        put_metas(ba, inl, w->shapeless) < 0) {
        Py_XDECREF(ba);
        return NULL;
    }
    PyObject *sig = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(ba),
                                              PyByteArray_GET_SIZE(ba));
    Py_DECREF(ba);
    return sig;
}

static int remember(PkHandle *h, PyObject *sig, PyObject *def)
{
    if (PyDict_GET_SIZE(h->outdefs) >= PK_OUTDEF_MAX) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        if (PyDict_Next(h->outdefs, &pos, &k, &v)) {
            Py_INCREF(k);
            int r = PyDict_DelItem(h->outdefs, k);
            Py_DECREF(k);
            if (r < 0) {
                return -1;
            }
        }
    }
    return PyDict_SetItem(h->outdefs, sig, def);
}

static int64_t traces_of(PkHandle *h)
{
    kiln_compile_stats s;
    if (kiln_compile_stats_get(h->inner, &s) != KILN_OK) {
        kiln_errclear();
        return -1;
    }
    return s.traces;
}

/* One kiln call: the results list (NULL with an exception) and, in rec,
 * the result's treedef when the body ran. */
static kiln_list *call_once(PkCompiled *w, call_rec *rec, PyObject *key)
{
    kiln_fn *cfn;
    if (w->inputs || w->outputs) {
        rec->outl = w->outputs ? kiln_list_new() : NULL;
        kiln_compile_opts opts = {.shapeless = w->shapeless != 0,
                                  .inputs = rec->inl,
                                  .outputs = rec->outl,
                                  .random_state = false};
        if (w->outputs && !rec->outl) {
            return (kiln_list *)pk_raise();
        }
        cfn = kiln_compile(w->handle->inner, &opts);
        if (!cfn) {
            return (kiln_list *)pk_raise();
        }
    } else {
        cfn = kiln_fn_retain(w->cfn);
    }
    int64_t before = -1;
    if (kiln_list_size(rec->in) == 0 && !rec->inl) {
        before = traces_of(w->handle);
    }
    rec->ran = rec->traced = 0;
    rec->prev = current;
    current = rec;
    kiln_list *res = kiln_fn_call_keyed(cfn, rec->in,
                                        PyByteArray_AS_STRING(key),
                                        (size_t)PyByteArray_GET_SIZE(key));
    current = rec->prev;
    kiln_fn_release(cfn);
    if (before >= 0 && rec->ran) {
        rec->traced = traces_of(w->handle) > before;
    }
    if (!res) {
        pk_raise();
    }
    return res;
}

/* Flattens the call's trees, runs it (retrying once after clearing the
 * cache if a hit finds no remembered result structure) and rebuilds the
 * result. */
static PyObject *call_impl(PkCompiled *w, PyObject *args, PyObject *kwargs)
{
    call_rec rec = {0};
    PyObject *leaves = PyList_New(0), *tree = NULL, *key = NULL;
    PyObject *sig = NULL, *out = NULL, *def = NULL, *wl = NULL;
    kiln_list *in = kiln_list_new(), *res = NULL;
    if (!leaves || !in) {
        if (!in) {
            pk_raise();
        }
        goto done;
    }
    int has_kw = kwargs && PyDict_GET_SIZE(kwargs) > 0;
    tree = PyTuple_Pack(2, args, has_kw ? kwargs : Py_None);
    rec.argdef = tree ? pk_tree_flatten(tree, leaves, 1,
                                        "[compile] Function arguments")
                      : NULL;
    key = PyByteArray_FromStringAndSize(NULL, 0);
    if (!rec.argdef || !key || pk_tree_key(rec.argdef, key) < 0 ||
        push_all(in, leaves) < 0) {
        goto done;
    }
    if (w->inputs || w->outputs) {
        /* another captured tree is another trace */
        uintptr_t ids[2] = {(uintptr_t)w->inputs, (uintptr_t)w->outputs};
        if (put_bytes(key, ids, sizeof ids) < 0) {
            goto done;
        }
    }
    rec.handle = w->handle;
    rec.fun = w->fun;
    rec.bound = w->bound;
    rec.in = in;
    rec.outputs = w->outputs;
    if (w->inputs) {
        rec.capobjs = PyList_New(0);
        rec.inl = kiln_list_new();
        if (!rec.capobjs || pk_tree_arrays(w->inputs, rec.capobjs) < 0) {
            goto done;
        }
        if (!rec.inl || push_all(rec.inl, rec.capobjs) < 0) {
            if (!rec.inl) {
                pk_raise();
            }
            goto done;
        }
    }
    sig = signature(w, key, in, rec.inl);
    if (!sig) {
        goto done;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        kiln_list_free(rec.outl);
        rec.outl = NULL;
        kiln_list_free(res);
        res = call_once(w, &rec, key);
        if (!res) {
            goto done;
        }
        if (rec.ran && rec.outdef) {
            def = Py_NewRef(rec.outdef);
            if (rec.traced && remember(w->handle, sig, def) < 0) {
                goto done;
            }
            break;
        }
        def = Py_XNewRef(PyDict_GetItemWithError(w->handle->outdefs, sig));
        if (def || PyErr_Occurred()) {
            break;
        }
        /* a hit on a graph whose result structure was forgotten */
        kiln_compile_clear_cache(w->handle->inner);
    }
    if (!def) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError,
                            "[compile] the result structure of a cached "
                            "trace is unknown");
        }
        goto done;
    }
    Py_ssize_t nres = pk_tree_count(def);
    if (nres < 0 || (size_t)nres > kiln_list_size(res)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] the trace returned fewer arrays than its "
                        "result holds");
        goto done;
    }
    wl = PyList_New(nres);
    for (Py_ssize_t i = 0; wl && i < nres; i++) {
        PyObject *x = new_leaf(kiln_list_get(res, (size_t)i));
        if (!x) {
            goto done;
        }
        PyList_SET_ITEM(wl, i, x);
    }
    if (!wl) {
        goto done;
    }
    if (w->outputs && update_outputs(w->outputs, rec.outl) < 0) {
        goto done;
    }
    out = pk_tree_unflatten(def, wl);
done:
    Py_XDECREF(leaves);
    Py_XDECREF(tree);
    Py_XDECREF(key);
    Py_XDECREF(sig);
    Py_XDECREF(def);
    Py_XDECREF(wl);
    Py_XDECREF(rec.argdef);
    Py_XDECREF(rec.capobjs);
    Py_XDECREF(rec.outdef);
    kiln_list_free(rec.inl);
    kiln_list_free(rec.outl);
    kiln_list_free(res);
    kiln_list_free(in);
    return out;
}

PyObject *pk_compile_call_run(PkCompiled *w, PyObject *args,
                              PyObject *kwargs)
{
    Py_INCREF(w); /* fun may drop the last other reference */
    lock_enter(w);
    PyObject *out = call_impl(w, args, kwargs);
    lock_leave(w);
    Py_DECREF(w);
    return out;
}

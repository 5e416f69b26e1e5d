/*
 * compile.c - kiln.compile: Python functions over trees of arrays,
 * compiled by the C core (kiln_compile), with MLX's semantics; also
 * disable_compile/enable_compile, the compile counters and dumps.
 *
 * The pieces:
 *   - a handle (one per Python callable, shared by every kiln.compile of
 *     it, so compile(fun) twice shares one cache, as MLX documents): the
 *     callable, the kiln_fn whose body calls it, and the map from a call's
 *     signature to the tree structure of its result, learnt at the trace
 *     (the body is not called on a cache hit). Handles are found through
 *     a registry keyed by id(fun); a handle holds fun, so the id cannot be
 *     reused while it lives. When the last compiled object of fun dies,
 *     the handle dies and releases its kiln_fn: the cache entries go too.
 *   - the compiled object (its own type): calls flatten args and kwargs
 *     into arrays (the kiln call's arguments) and a tree definition whose
 *     key bytes (structure, constants, kwargs names) go with the call
 *     (kiln_fn_call_keyed), so a new constant or structure retraces.
 *   - the body: runs synchronously inside the compiled object's call (the
 *     GIL is held throughout), finds that call's record in a thread-local
 *     pointer, rebuilds the trees around the arrays it is given
 *     (placeholders while tracing), calls the Python function and
 *     flattens the result.
 *
 * Captured state (inputs=/outputs=, MLX): trees of arrays. At each call
 * the inputs tree's arrays are the core's captured inputs; while tracing,
 * each kiln.array leaf of the inputs tree holds the core's placeholder in
 * place (restored afterwards), so every path to it sees the placeholder.
 * The outputs tree is flattened after fun returns during a trace; after
 * every call its array leaves take the new values, by position, as in MLX:
 * list and dict slots get new kiln.array objects, arrays held in tuples
 * (immutable) are updated in place. Each call hands the core a fresh,
 * empty output list, so what is captured is exactly the flattened outputs
 * tree of the trace (as in MLX) and appending to it in fun does not
 * retrace forever.
 *
 * Invariants: a Python exception raised by fun comes out of the compiled
 * call unchanged; the inputs tree's arrays are restored whatever fun
 * does; calls of one compiled object with captured state are serialised
 * (a lock, released while waiting), so another thread never sees its
 * placeholders.
 */
#include "pykiln.h"

#include <pythread.h>
#include <string.h>

#define OUTDEF_MAX 1024 /* signatures remembered per function */

/* ------------------------------------------------------------------ */
/* handles                                                            */
/* ------------------------------------------------------------------ */

typedef struct PkHandle {
    PyObject_HEAD
    PyObject *fun;
    PyObject *regkey;  /* key in the registry, or NULL when unregistered */
    kiln_fn *inner;    /* body = run_body, ctx = this handle (a tag only) */
    PyObject *outdefs; /* dict: signature bytes -> result treedef */
} PkHandle;

static PyTypeObject PkHandle_Type;
static PyObject *registry; /* regkey -> PyLong(address of the handle) */

static kiln_status run_body(void *ctx, const kiln_list *args,
                            kiln_list *results);

static int handle_traverse(PyObject *o, visitproc visit, void *arg)
{
    PkHandle *h = (PkHandle *)o;
    Py_VISIT(h->fun);
    Py_VISIT(h->outdefs);
    return 0;
}

static int handle_clear(PyObject *o)
{
    PkHandle *h = (PkHandle *)o;
    Py_CLEAR(h->fun);
    Py_CLEAR(h->outdefs);
    return 0;
}

static void unregister(PkHandle *h)
{
    if (!h->regkey || !registry) {
        return;
    }
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *v = PyDict_GetItemWithError(registry, h->regkey);
    if (v && PyLong_AsVoidPtr(v) == (void *)h) {
        PyDict_DelItem(registry, h->regkey);
    }
    PyErr_Clear();
    PyErr_Restore(et, ev, tb);
    Py_CLEAR(h->regkey);
}

static void handle_dealloc(PyObject *o)
{
    PkHandle *h = (PkHandle *)o;
    PyObject_GC_UnTrack(o);
    unregister(h);
    kiln_fn_release(h->inner);
    handle_clear(o);
    PyObject_GC_Del(o);
}

static PyTypeObject PkHandle_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln._compile_handle",
    .tp_basicsize = sizeof(PkHandle),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = handle_traverse,
    .tp_clear = handle_clear,
    .tp_dealloc = handle_dealloc,
};

/* A name for logs and dumps: fun.__qualname__, __name__ or its type. */
static PyObject *fun_name(PyObject *fun)
{
    PyObject *n = PyObject_GetAttrString(fun, "__qualname__");
    if (!n || !PyUnicode_Check(n)) {
        Py_XDECREF(n);
        PyErr_Clear();
        n = PyObject_GetAttrString(fun, "__name__");
    }
    if (!n || !PyUnicode_Check(n)) {
        Py_XDECREF(n);
        PyErr_Clear();
        n = PyUnicode_FromString(Py_TYPE(fun)->tp_name);
    }
    return n;
}

static PkHandle *handle_new(PyObject *fun, PyObject *regkey)
{
    PkHandle *h = PyObject_GC_New(PkHandle, &PkHandle_Type);
    if (!h) {
        return NULL;
    }
    h->fun = Py_NewRef(fun);
    h->regkey = NULL;
    h->inner = NULL;
    h->outdefs = PyDict_New();
    PyObject_GC_Track((PyObject *)h);
    PyObject *name = fun_name(fun);
    const char *s = name ? PyUnicode_AsUTF8(name) : NULL;
    if (!h->outdefs || !s) {
        Py_XDECREF(name);
        Py_DECREF(h);
        return NULL;
    }
    h->inner = kiln_fn_new(run_body, h, NULL, s);
    Py_DECREF(name);
    if (!h->inner) {
        Py_DECREF(h);
        return (PkHandle *)pk_raise();
    }
    if (regkey) {
        PyObject *addr = PyLong_FromVoidPtr(h);
        if (!addr || PyDict_SetItem(registry, regkey, addr) < 0) {
            Py_XDECREF(addr);
            Py_DECREF(h);
            return NULL;
        }
        Py_DECREF(addr);
        h->regkey = Py_NewRef(regkey);
    }
    return h;
}

/* The handle of fun (shared), made when none lives. New reference. */
static PkHandle *handle_of(PyObject *fun)
{
    PyObject *regkey = PyLong_FromVoidPtr(fun);
    if (!regkey) {
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(registry, regkey);
    PkHandle *h = NULL;
    if (v) {
        h = PyLong_AsVoidPtr(v);
        Py_INCREF(h);
    } else if (!PyErr_Occurred()) {
        h = handle_new(fun, regkey);
    }
    Py_DECREF(regkey);
    return h;
}

/* ------------------------------------------------------------------ */
/* the compiled object                                                */
/* ------------------------------------------------------------------ */

typedef struct PkCompiled {
    PyObject_HEAD
    PkHandle *handle;
    PyObject *fun;
    PyObject *inputs;  /* tree or NULL */
    PyObject *outputs; /* tree or NULL */
    PyObject *bound;   /* the instance of a bound compiled method */
    PyObject *dict;
    PyObject *weakrefs;
    kiln_fn *cfn;      /* compiled, for calls without captured state */
    int shapeless;
    PyThread_type_lock lock; /* calls with captured state */
    unsigned long owner;
    int depth;
} PkCompiled;

static PyTypeObject PkCompiled_Type;

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

static kiln_status run_body(void *ctx, const kiln_list *args,
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
    if (PyDict_GET_SIZE(h->outdefs) >= OUTDEF_MAX) {
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
        if (rec.ran) {
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

static PyObject *compiled_call(PyObject *self, PyObject *args,
                               PyObject *kwargs)
{
    PkCompiled *w = (PkCompiled *)self;
    if (!w->handle || !w->cfn || !w->fun) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] this compiled function was cleared");
        return NULL;
    }
    Py_INCREF(self); /* fun may drop the last other reference */
    lock_enter(w);
    PyObject *out = call_impl(w, args, kwargs);
    lock_leave(w);
    Py_DECREF(self);
    return out;
}

/* ------------------------------------------------------------------ */
/* the compiled object's type                                         */
/* ------------------------------------------------------------------ */

static int compiled_traverse(PyObject *o, visitproc visit, void *arg)
{
    PkCompiled *w = (PkCompiled *)o;
    Py_VISIT(w->handle);
    Py_VISIT(w->fun);
    Py_VISIT(w->inputs);
    Py_VISIT(w->outputs);
    Py_VISIT(w->bound);
    Py_VISIT(w->dict);
    return 0;
}

static int compiled_clear(PyObject *o)
{
    PkCompiled *w = (PkCompiled *)o;
    Py_CLEAR(w->handle);
    Py_CLEAR(w->fun);
    Py_CLEAR(w->inputs);
    Py_CLEAR(w->outputs);
    Py_CLEAR(w->bound);
    Py_CLEAR(w->dict);
    return 0;
}

static void compiled_dealloc(PyObject *o)
{
    PkCompiled *w = (PkCompiled *)o;
    PyObject_GC_UnTrack(o);
    if (w->weakrefs) {
        PyObject_ClearWeakRefs(o);
    }
    compiled_clear(o);
    kiln_fn_release(w->cfn);
    if (w->lock) {
        PyThread_free_lock(w->lock);
    }
    PyObject_GC_Del(o);
}

static PyObject *compiled_repr(PyObject *o)
{
    PkCompiled *w = (PkCompiled *)o;
    PyObject *name = w->fun ? fun_name(w->fun) : NULL;
    PyObject *r = PyUnicode_FromFormat("<kiln.compile of %U at %p>",
                                       name ? name : Py_None, o);
    Py_XDECREF(name);
    return r;
}

/* A compiled object for fun; bound is the instance of a bound method. */
static PyObject *compiled_new(PyObject *fun, PyObject *inputs,
                              PyObject *outputs, int shapeless,
                              PkHandle *h, PyObject *bound)
{
    PkCompiled *w = PyObject_GC_New(PkCompiled, &PkCompiled_Type);
    if (!w) {
        return NULL;
    }
    w->handle = h;
    Py_INCREF(h);
    w->fun = Py_NewRef(fun);
    w->inputs = Py_XNewRef(inputs);
    w->outputs = Py_XNewRef(outputs);
    w->bound = Py_XNewRef(bound);
    w->dict = NULL;
    w->weakrefs = NULL;
    w->cfn = NULL;
    w->shapeless = shapeless;
    w->lock = NULL;
    w->owner = 0;
    w->depth = 0;
    PyObject_GC_Track((PyObject *)w);
    w->dict = PyDict_New();
    if (!w->dict) {
        Py_DECREF(w);
        return NULL;
    }
    if (inputs || outputs) {
        w->lock = PyThread_allocate_lock();
        if (!w->lock) {
            Py_DECREF(w);
            return PyErr_NoMemory();
        }
    }
    kiln_compile_opts opts = {.shapeless = shapeless != 0};
    w->cfn = kiln_compile(h->inner, &opts);
    if (!w->cfn) {
        Py_DECREF(w);
        return pk_raise();
    }
    return (PyObject *)w;
}

/* functools.update_wrapper(w, fun): __module__, __name__, __qualname__,
 * __doc__, __dict__ and __wrapped__, as MLX's compiled functions show. */
static int wrap_like(PyObject *w, PyObject *fun)
{
    PyObject *ft = PyImport_ImportModule("functools");
    PyObject *r = ft ? PyObject_CallMethod(ft, "update_wrapper", "OO", w,
                                           fun)
                     : NULL;
    Py_XDECREF(ft);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *bound_handle(PyObject *fun, PyObject *obj);

/* Binding a compiled function to an instance (a compiled method): a
 * compiled object calling fun(obj, ...). obj is not an argument of the
 * trace (it is not a tree of arrays): its arrays are constants of the
 * trace, as a closure's are. Each instance has its own cache (while it
 * lives, when it takes weak references). */
static PyObject *compiled_get(PyObject *self, PyObject *obj, PyObject *type)
{
    PkCompiled *w = (PkCompiled *)self;
    (void)type;
    if (!obj || obj == Py_None || w->bound) {
        return Py_NewRef(self);
    }
    if (!w->fun) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] this compiled function was cleared");
        return NULL;
    }
    PkHandle *h = (PkHandle *)bound_handle(w->fun, obj);
    if (!h) {
        return NULL;
    }
    PyObject *b = compiled_new(w->fun, w->inputs, w->outputs, w->shapeless,
                               h, obj);
    Py_DECREF(h);
    if (!b) {
        return NULL;
    }
    PkCompiled *bw = (PkCompiled *)b;
    if (w->dict && PyDict_Update(bw->dict, w->dict) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    if (PyDict_SetItemString(bw->dict, "__self__", obj) < 0) {
        Py_DECREF(b);
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------------ */
/* handles of bound methods                                           */
/* ------------------------------------------------------------------ */

static PyObject *bound_keep; /* regkey -> (handle, weakref to obj) */

static PyObject *forget_bound(PyObject *regkey, PyObject *ref)
{
    (void)ref;
    if (bound_keep && PyDict_DelItem(bound_keep, regkey) < 0) {
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyMethodDef forget_def = {"_forget", forget_bound, METH_O, NULL};

/* The handle of fun bound to obj: kept while obj lives when obj takes
 * weak references, else one per bound object. New reference. */
static PyObject *bound_handle(PyObject *fun, PyObject *obj)
{
    PyObject *regkey = Py_BuildValue("(NN)", PyLong_FromVoidPtr(fun),
                                     PyLong_FromVoidPtr(obj));
    PyObject *cb = NULL, *ref = NULL, *pair = NULL;
    PkHandle *h = NULL;
    if (!regkey) {
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(registry, regkey);
    if (v) {
        h = PyLong_AsVoidPtr(v);
        Py_INCREF(h);
        goto done;
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    cb = PyCFunction_New(&forget_def, regkey);
    ref = cb ? PyWeakref_NewRef(obj, cb) : NULL;
    if (!ref) {
        /* no weak references: a handle of its own, unregistered */
        PyErr_Clear();
        h = handle_new(fun, NULL);
        goto done;
    }
    h = handle_new(fun, regkey);
    if (!h) {
        goto done;
    }
    /* the handle holds obj weakly (through ref); the bound object holds
     * it strongly while it lives */
    pair = PyTuple_Pack(2, (PyObject *)h, ref);
    if (!pair || PyDict_SetItem(bound_keep, regkey, pair) < 0) {
        Py_CLEAR(h);
    }
done:
    Py_XDECREF(pair);
    Py_XDECREF(ref);
    Py_XDECREF(cb);
    Py_DECREF(regkey);
    return (PyObject *)h;
}

/* ------------------------------------------------------------------ */
/* methods: stats, dump, clear_cache                                  */
/* ------------------------------------------------------------------ */

static PyObject *stats_dict(PkHandle *h)
{
    kiln_compile_stats s;
    if (pk_check(kiln_compile_stats_get(h->inner, &s)) < 0) {
        return NULL;
    }
    return Py_BuildValue("{sLsLsLsLsLsLsLsLsd}", "calls", (long long)s.calls,
                         "traces", (long long)s.traces, "cache_hits",
                         (long long)s.cache_hits, "bypassed",
                         (long long)s.bypassed, "kernels_built",
                         (long long)s.kernels_built, "kernels_loaded",
                         (long long)s.kernels_loaded, "interpreted",
                         (long long)s.interpreted, "entries",
                         (long long)s.entries, "compile_ms", s.compile_ms);
}

static PkHandle *live_handle(PyObject *o)
{
    if (!PyObject_TypeCheck(o, &PkCompiled_Type)) {
        PyErr_Format(PyExc_TypeError,
                     "expected a function returned by kiln.compile, got %s",
                     Py_TYPE(o)->tp_name);
        return NULL;
    }
    PkCompiled *w = (PkCompiled *)o;
    if (!w->handle) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] this compiled function was cleared");
    }
    return w->handle;
}

static PyObject *compiled_stats(PyObject *self, PyObject *unused)
{
    (void)unused;
    PkHandle *h = live_handle(self);
    return h ? stats_dict(h) : NULL;
}

static PyObject *compiled_dump(PyObject *self, PyObject *args,
                               PyObject *kwargs)
{
    static char *kwlist[] = {"kind", NULL};
    const char *kind = "fused";
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|s:dump", kwlist,
                                     &kind)) {
        return NULL;
    }
    PkHandle *h = live_handle(self);
    if (!h) {
        return NULL;
    }
    static const struct {
        const char *name;
        kiln_dump_kind kind;
    } kinds[] = {{"traced", KILN_DUMP_TRACED},
                 {"fused", KILN_DUMP_FUSED},
                 {"dot", KILN_DUMP_DOT},
                 {"source", KILN_DUMP_SOURCE}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i].name) != 0) {
            continue;
        }
        char *s = kiln_compile_dump(h->inner, kinds[i].kind);
        if (!s) {
            /* not traced yet */
            kiln_errclear();
            Py_RETURN_NONE;
        }
        PyObject *r = PyUnicode_FromString(s);
        kiln_free(s);
        return r;
    }
    PyErr_Format(PyExc_ValueError,
                 "[compile] dump kind must be 'traced', 'fused', 'dot' or "
                 "'source', not '%s'", kind);
    return NULL;
}

static PyObject *compiled_clear_cache(PyObject *self, PyObject *unused)
{
    (void)unused;
    PkHandle *h = live_handle(self);
    if (!h) {
        return NULL;
    }
    kiln_compile_clear_cache(h->inner);
    PyDict_Clear(h->outdefs);
    Py_RETURN_NONE;
}

static PyMethodDef compiled_methods[] = {
    {"stats", compiled_stats, METH_NOARGS,
     "stats() -> dict\n\nThe compile counters of this function (summed "
     "over every kiln.compile of it): calls, traces, cache_hits, bypassed, "
     "kernels_built, kernels_loaded, interpreted, entries, compile_ms."},
    {"dump", (PyCFunction)(void (*)(void))compiled_dump,
     METH_VARARGS | METH_KEYWORDS,
     "dump(kind='fused') -> str | None\n\nThe most recently used graph: "
     "'traced', 'fused', 'dot' (Graphviz) or 'source' (generated C). None "
     "before the first trace."},
    {"clear_cache", compiled_clear_cache, METH_NOARGS,
     "clear_cache() -> None\n\nDrops this function's cached graphs."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef compiled_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL,
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PkCompiled_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.CompiledFunction",
    .tp_basicsize = sizeof(PkCompiled),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A function compiled by kiln.compile.",
    .tp_traverse = compiled_traverse,
    .tp_clear = compiled_clear,
    .tp_dealloc = compiled_dealloc,
    .tp_repr = compiled_repr,
    .tp_call = compiled_call,
    .tp_descr_get = compiled_get,
    .tp_methods = compiled_methods,
    .tp_getset = compiled_getset,
    .tp_dictoffset = offsetof(PkCompiled, dict),
    .tp_weaklistoffset = offsetof(PkCompiled, weakrefs),
};

/* ------------------------------------------------------------------ */
/* module functions                                                   */
/* ------------------------------------------------------------------ */

static int check_state_tree(PyObject *o, const char *what)
{
    if (o == Py_None || PyList_Check(o) || PyTuple_Check(o) ||
        PyDict_Check(o) || PkArray_Check(o)) {
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "[compile] %s must be a list, tuple or dict (a tree of "
                 "arrays), not %s", what, Py_TYPE(o)->tp_name);
    return -1;
}

static PyObject *compile_py(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fun", "inputs", "outputs", "shapeless", NULL};
    PyObject *fun, *inputs = Py_None, *outputs = Py_None;
    int shapeless = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OOp:compile", kwlist,
                                     &fun, &inputs, &outputs, &shapeless)) {
        return NULL;
    }
    if (!PyCallable_Check(fun)) {
        PyErr_Format(PyExc_TypeError,
                     "[compile] fun must be callable, not %s",
                     Py_TYPE(fun)->tp_name);
        return NULL;
    }
    if (check_state_tree(inputs, "inputs") < 0 ||
        check_state_tree(outputs, "outputs") < 0) {
        return NULL;
    }
    PkHandle *h = handle_of(fun);
    if (!h) {
        return NULL;
    }
    PyObject *w = compiled_new(fun, inputs == Py_None ? NULL : inputs,
                               outputs == Py_None ? NULL : outputs,
                               shapeless, h, NULL);
    Py_DECREF(h);
    if (w && wrap_like(w, fun) < 0) {
        Py_CLEAR(w);
    }
    return w;
}

static PyObject *disable_compile_py(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    kiln_disable_compile();
    Py_RETURN_NONE;
}

static PyObject *enable_compile_py(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    kiln_enable_compile();
    Py_RETURN_NONE;
}

static PyObject *compile_stats_py(PyObject *self, PyObject *f)
{
    (void)self;
    PkHandle *h = live_handle(f);
    return h ? stats_dict(h) : NULL;
}

static PyObject *clear_compile_cache_py(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    kiln_compile_clear_cache(NULL);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ */
/* private tree helpers (for tests of tree.c)                         */
/* ------------------------------------------------------------------ */

static PyObject *tree_flatten_py(PyObject *self, PyObject *args)
{
    PyObject *tree;
    int strict = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|p:_tree_flatten", &tree, &strict)) {
        return NULL;
    }
    PyObject *leaves = PyList_New(0);
    if (!leaves) {
        return NULL;
    }
    PyObject *def = pk_tree_flatten(tree, leaves, strict,
                                    "[compile] Function arguments");
    if (!def) {
        Py_DECREF(leaves);
        return NULL;
    }
    return Py_BuildValue("(NN)", leaves, def);
}

static PyObject *tree_unflatten_py(PyObject *self, PyObject *args)
{
    PyObject *def, *leaves;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:_tree_unflatten", &def, &leaves)) {
        return NULL;
    }
    return pk_tree_unflatten(def, leaves);
}

static PyObject *tree_key_py(PyObject *self, PyObject *def)
{
    (void)self;
    PyObject *key = PyByteArray_FromStringAndSize(NULL, 0);
    if (!key || pk_tree_key(def, key) < 0) {
        Py_XDECREF(key);
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(key),
                                            PyByteArray_GET_SIZE(key));
    Py_DECREF(key);
    return b;
}

static PyObject *tree_arrays_py(PyObject *self, PyObject *tree)
{
    (void)self;
    PyObject *out = PyList_New(0);
    if (!out || pk_tree_arrays(tree, out) < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

static PyMethodDef compile_methods[] = {
    {"compile", (PyCFunction)(void (*)(void))compile_py,
     METH_VARARGS | METH_KEYWORDS,
     "compile(fun: Callable, inputs: list | dict | None = None, outputs: "
     "list | dict | None = None, shapeless: bool = False) -> Callable\n\n"
     "Returns a compiled function which produces the same output as fun.\n"
     "Arguments and results are trees (lists, tuples, dicts) of arrays\n"
     "and constants (int, float, bool, str, None). inputs and outputs are\n"
     "trees of arrays captured as implicit inputs and outputs (e.g.\n"
     "[model.state, optimizer.state, kiln.random.state]). With shapeless\n"
     "one trace serves every shape of the same ndim and dtypes."},
    {"disable_compile", disable_compile_py, METH_NOARGS,
     "disable_compile() -> None\n\nCompiled functions run their Python "
     "function directly (also KILN_DISABLE_COMPILE=1)."},
    {"enable_compile", enable_compile_py, METH_NOARGS,
     "enable_compile() -> None\n\nUndoes disable_compile()."},
    {"compile_stats", compile_stats_py, METH_O,
     "compile_stats(f) -> dict\n\nThe compile counters of a function "
     "returned by kiln.compile (f.stats())."},
    {"clear_compile_cache", clear_compile_cache_py, METH_NOARGS,
     "clear_compile_cache() -> None\n\nDrops every compiled function's "
     "cached graphs."},
    {"_tree_flatten", tree_flatten_py, METH_VARARGS, NULL},
    {"_tree_unflatten", tree_unflatten_py, METH_VARARGS, NULL},
    {"_tree_key", tree_key_py, METH_O, NULL},
    {"_tree_arrays", tree_arrays_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int pk_init_compile(PyObject *m)
{
    if (PyType_Ready(&PkHandle_Type) < 0 ||
        PyType_Ready(&PkCompiled_Type) < 0) {
        return -1;
    }
    registry = PyDict_New();
    bound_keep = PyDict_New();
    if (!registry || !bound_keep) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "CompiledFunction",
                              (PyObject *)&PkCompiled_Type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, compile_methods);
}

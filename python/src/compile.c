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
 *   - compiled methods: the type is a descriptor; obj.method binds a
 *     compiled object calling fun(obj, ...). obj is no argument of the
 *     trace (its arrays are constants, as a closure's), so each instance
 *     gets its own handle, kept while the instance lives (through a weak
 *     reference; an instance without weak references gets one per
 *     binding).
 *   - the body (compile_call.c, with the rest of a call): runs
 *     synchronously inside the compiled object's call (the GIL is held
 *     throughout), finds that call's record in a thread-local pointer,
 *     rebuilds the trees around the arrays it is given (placeholders
 *     while tracing), calls the Python function and flattens the result.
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
#include "compile.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* handles                                                            */
/* ------------------------------------------------------------------ */


static PyTypeObject PkHandle_Type;
static PyObject *registry; /* regkey -> PyLong(address of the handle) */

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
    h->inner = kiln_fn_new(pk_compile_call_body, h, NULL, s);
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
/* the compiled object's type                                         */
/* ------------------------------------------------------------------ */

static PyTypeObject PkCompiled_Type;

static PyObject *compiled_call(PyObject *self, PyObject *args,
                               PyObject *kwargs)
{
    PkCompiled *w = (PkCompiled *)self;
    if (!w->handle || !w->cfn || !w->fun) {
        PyErr_SetString(PyExc_RuntimeError,
                        "[compile] this compiled function was cleared");
        return NULL;
    }
    return pk_compile_call_run(w, args, kwargs);
}

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

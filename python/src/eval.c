/*
 * eval.c - evaluation and what it costs: kiln.eval, kiln.async_eval,
 * kiln.export_to_dot, and the memory figures of the buffer pool
 * (get_active_memory, get_peak_memory, get_cache_memory, clear_cache,
 * set_cache_limit, set_memory_limit, set_wired_limit, ...).
 *
 * eval and export_to_dot take trees (pk_tree_arrays): every kiln.array
 * leaf of every argument is evaluated together, so shared work runs once;
 * other leaves are ignored, as in MLX. The GIL stays held while the core
 * evaluates (see pykiln.h: evaluation).
 *
 * Invariants: the memory and wired limits are plain statics guarded by the
 * GIL; the core has no memory cap, so the memory limit is recorded and
 * reported (MLX calls it a guideline) and enforces nothing.
 */
#include "pykiln.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* gathering arrays from trees                                        */
/* ------------------------------------------------------------------ */

/* The kiln.array leaves of the trees in args[start:] and of kw's values
 * (kw may be NULL), as a new list. NULL with an exception. */
static PyObject *gather(PyObject *args, Py_ssize_t start, PyObject *kw)
{
    PyObject *leaves = PyList_New(0);
    if (!leaves) {
        return NULL;
    }
    for (Py_ssize_t i = start; i < PyTuple_GET_SIZE(args); i++) {
        if (pk_tree_arrays(PyTuple_GET_ITEM(args, i), leaves) < 0) {
            goto fail;
        }
    }
    if (kw) {
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(kw, &pos, &key, &value)) {
            if (pk_tree_arrays(value, leaves) < 0) {
                goto fail;
            }
        }
    }
    if (PyList_GET_SIZE(leaves) > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many arrays");
        goto fail;
    }
    return leaves;
fail:
    Py_DECREF(leaves);
    return NULL;
}

/* The kiln arrays of a list of kiln.arrays (borrowed from the list), in a
 * PyMem buffer the caller frees. NULL with an exception (also for an
 * empty list: *n is then 0 and no exception is set). */
static kiln_array **handles(PyObject *leaves, int *n)
{
    *n = (int)PyList_GET_SIZE(leaves);
    if (*n == 0) {
        return NULL;
    }
    kiln_array **xs = PyMem_Malloc(sizeof *xs * (size_t)*n);
    if (!xs) {
        PyErr_NoMemory();
        return NULL;
    }
    for (int i = 0; i < *n; i++) {
        xs[i] = ((PkArray *)PyList_GET_ITEM(leaves, i))->a;
    }
    return xs;
}

static PyObject *eval_trees(PyObject *args)
{
    int n;
    PyObject *leaves = gather(args, 0, NULL);
    if (!leaves) {
        return NULL;
    }
    kiln_array **xs = handles(leaves, &n);
    if (!xs) {
        Py_DECREF(leaves);
        return n == 0 ? Py_NewRef(Py_None) : NULL;
    }
    kiln_status st = kiln_eval(xs, n);
    PyMem_Free(xs);
    Py_DECREF(leaves);
    if (pk_check(st) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *eval_fn(PyObject *self, PyObject *args)
{
    (void)self;
    return eval_trees(args);
}

static PyObject *async_eval_fn(PyObject *self, PyObject *args)
{
    (void)self;
    return eval_trees(args);
}

/* ------------------------------------------------------------------ */
/* export_to_dot                                                      */
/* ------------------------------------------------------------------ */

/* Writes text to the path o (str or os.PathLike). 0 or -1. */
static int write_path(PyObject *o, const char *text)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_FSConverter(o, &bytes)) {
        return -1;
    }
    const char *path = PyBytes_AS_STRING(bytes);
    int ok;
    Py_BEGIN_ALLOW_THREADS
    FILE *f = fopen(path, "w");
    ok = f != NULL;
    if (f) {
        ok = fputs(text, f) >= 0;
        ok = fclose(f) == 0 && ok;
    }
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, o);
    }
    Py_DECREF(bytes);
    return ok ? 0 : -1;
}

static PyObject *export_to_dot(PyObject *self, PyObject *args, PyObject *kw)
{
    PyObject *file = NULL, *rest_kw = NULL, *leaves = NULL, *r = NULL;
    kiln_array **xs = NULL;
    char *text = NULL;
    int n;
    (void)self;
    if (PyTuple_GET_SIZE(args) > 0) {
        file = Py_NewRef(PyTuple_GET_ITEM(args, 0));
        rest_kw = kw ? PyDict_Copy(kw) : NULL;
    } else if (kw && (file = PyDict_GetItemString(kw, "file")) != NULL) {
        Py_INCREF(file);
        rest_kw = PyDict_Copy(kw);
        if (rest_kw && PyDict_DelItemString(rest_kw, "file") < 0) {
            goto done;
        }
    } else {
        PyErr_SetString(PyExc_TypeError, "export_to_dot() missing required "
                        "argument 'file' (pos 1)");
        return NULL;
    }
    if (kw && !rest_kw) {
        goto done;
    }
    int is_path = PyUnicode_Check(file) || PyBytes_Check(file) ||
                  PyObject_HasAttrString(file, "__fspath__");
    if (!is_path && !PyObject_HasAttrString(file, "write")) {
        PyErr_SetString(PyExc_ValueError, "[export_to_dot] Accepts "
                        "file-like objects or strings to be used as "
                        "filenames.");
        goto done;
    }
    leaves = gather(args, 1, rest_kw);
    if (!leaves) {
        goto done;
    }
    xs = handles(leaves, &n);
    if (!xs && n > 0) {
        goto done;
    }
    text = kiln_graph_dot(xs, n);
    if (!text) {
        pk_raise();
        goto done;
    }
    if (is_path) {
        if (write_path(file, text) == 0) {
            r = Py_NewRef(Py_None);
        }
    } else {
        PyObject *w = PyObject_CallMethod(file, "write", "s", text);
        if (w) {
            Py_DECREF(w);
            r = Py_NewRef(Py_None);
        }
    }
done:
    kiln_free(text);
    PyMem_Free(xs);
    Py_XDECREF(leaves);
    Py_XDECREF(rest_kw);
    Py_XDECREF(file);
    return r;
}

/* ------------------------------------------------------------------ */
/* memory                                                             */
/* ------------------------------------------------------------------ */

static size_t memory_limit; /* 0 until first asked: the machine's RAM */
static size_t wired_limit;

static size_t ram_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0) {
        return SIZE_MAX;
    }
    return (size_t)pages * (size_t)psize;
}

/* One byte-count argument named "limit". 0 or -1 with TypeError or
 * ValueError. */
static int limit_arg(PyObject *args, PyObject *kw, const char *fmt,
                     size_t *out)
{
    static char *kwlist[] = {"limit", NULL};
    PyObject *o;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &o)) {
        return -1;
    }
    if (PyBool_Check(o) || !PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "limit must be an int, got %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    size_t v = PyLong_AsSize_t(o);
    if (v == (size_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "limit must be a byte count "
                        "between 0 and the largest size_t");
        return -1;
    }
    *out = v;
    return 0;
}

static PyObject *get_active_memory(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(kiln_memory_active());
}

static PyObject *get_peak_memory(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(kiln_memory_peak());
}

static PyObject *reset_peak_memory(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    kiln_memory_reset_peak();
    Py_RETURN_NONE;
}

static PyObject *get_cache_memory(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromSize_t(kiln_memory_cache());
}

static PyObject *clear_cache(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    kiln_memory_clear_cache();
    Py_RETURN_NONE;
}

static PyObject *set_cache_limit(PyObject *self, PyObject *args,
                                 PyObject *kw)
{
    size_t limit;
    (void)self;
    if (limit_arg(args, kw, "O:set_cache_limit", &limit) < 0) {
        return NULL;
    }
    return PyLong_FromSize_t(kiln_memory_set_cache_limit(limit));
}

static PyObject *get_memory_limit(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    if (memory_limit == 0) {
        memory_limit = ram_bytes();
    }
    return PyLong_FromSize_t(memory_limit);
}

static PyObject *set_memory_limit(PyObject *self, PyObject *args,
                                  PyObject *kw)
{
    size_t limit;
    (void)self;
    if (limit_arg(args, kw, "O:set_memory_limit", &limit) < 0) {
        return NULL;
    }
    size_t old = memory_limit ? memory_limit : ram_bytes();
    memory_limit = limit ? limit : ram_bytes();
    return PyLong_FromSize_t(old);
}

static PyObject *set_wired_limit(PyObject *self, PyObject *args,
                                 PyObject *kw)
{
    size_t limit;
    (void)self;
    if (limit_arg(args, kw, "O:set_wired_limit", &limit) < 0) {
        return NULL;
    }
    size_t old = wired_limit;
    wired_limit = limit;
    return PyLong_FromSize_t(old);
}

/* ------------------------------------------------------------------ */
/* init                                                               */
/* ------------------------------------------------------------------ */

static PyMethodDef eval_functions[] = {
    {"eval", eval_fn, METH_VARARGS,
     "eval(*args) -> None\n\nEvaluates every array in args. Each argument "
     "is an array or a tree (nested list, tuple, dict) of arrays; leaves "
     "that are not arrays are ignored. The arrays are evaluated together, "
     "so work they share runs once."},
    {"async_eval", async_eval_fn, METH_VARARGS,
     "async_eval(*args) -> None\n\nAs eval. kiln evaluates on the CPU "
     "synchronously, so the arrays are evaluated when this returns (MLX "
     "may return before they are)."},
    {"export_to_dot", PK_KWFN(export_to_dot),
     "export_to_dot(file, *args, **kwargs) -> None\n\nWrites the lazy graph "
     "behind the arrays in args (and in kwargs' values), arrays or trees of "
     "arrays, in Graphviz DOT to file: a path (str or os.PathLike) or an "
     "object with a write(str) method."},
    {"get_active_memory", get_active_memory, METH_NOARGS,
     "get_active_memory() -> int\n\nBytes held by live array buffers (not "
     "counting the cache)."},
    {"get_peak_memory", get_peak_memory, METH_NOARGS,
     "get_peak_memory() -> int\n\nThe most bytes live buffers have held "
     "since the program started or reset_peak_memory()."},
    {"reset_peak_memory", reset_peak_memory, METH_NOARGS,
     "reset_peak_memory() -> None\n\nResets the peak to the bytes held "
     "now (MLX resets it to zero; live buffers are still held)."},
    {"get_cache_memory", get_cache_memory, METH_NOARGS,
     "get_cache_memory() -> int\n\nBytes of freed buffers kept in the "
     "recycling pool and not yet given back to the system."},
    {"clear_cache", clear_cache, METH_NOARGS,
     "clear_cache() -> None\n\nGives the pool's cached buffers back to the "
     "system; get_cache_memory() is 0 afterwards."},
    {"set_cache_limit", PK_KWFN(set_cache_limit),
     "set_cache_limit(limit) -> int\n\nCaps the recycling pool at limit "
     "bytes (0 disables caching) and returns the previous cap. The default "
     "is a quarter of RAM (or KILN_POOL_LIMIT)."},
    {"set_memory_limit", PK_KWFN(set_memory_limit),
     "set_memory_limit(limit) -> int\n\nRecords a memory limit in bytes and "
     "returns the previous one (0 restores the default, the machine's "
     "RAM). MLX treats the limit as a guideline; kiln's CPU evaluator does "
     "not enforce it: allocations beyond RAM raise MemoryError."},
    {"get_memory_limit", get_memory_limit, METH_NOARGS,
     "get_memory_limit() -> int\n\nThe limit set_memory_limit recorded "
     "(default: the machine's RAM)."},
    {"set_wired_limit", PK_KWFN(set_wired_limit),
     "set_wired_limit(limit) -> int\n\nRecords a wired-memory limit and "
     "returns the previous one (default 0). It only matters to Metal on "
     "macOS; on kiln's CPU it changes nothing."},
    {NULL, NULL, 0, NULL},
};

#undef PK_KW

int pk_init_eval(PyObject *m)
{
    return PyModule_AddFunctions(m, eval_functions);
}

/*
 * tree.c - trees of arrays: nests of lists, tuples (namedtuples keep their
 * type) and dicts whose leaves are kiln.arrays or other values. Compile
 * and the transforms flatten their arguments and results with these
 * functions, hash the structure into cache keys and rebuild the trees.
 *
 * A treedef is a 2-tuple (count, node): count is the number of array
 * leaves, node describes the tree:
 *   - the private `array_leaf` object: an array leaf;
 *   - a tuple (LIST, None, children...), (TUPLE, type or None,
 *     children...) or (DICT, keys, children...): a container;
 *   - anything else: a non-array leaf, kept as it was.
 * A non-array leaf is never a tuple (tuples are containers), so the three
 * cases cannot be confused. Lists and dicts come back as plain lists and
 * dicts (subclasses included, as in MLX); tuple subclasses keep their
 * type. Dicts keep insertion order.
 *
 * Invariants: every function leaves either a result or a Python exception;
 * self-referencing trees raise RecursionError instead of overflowing the
 * C stack (Py_EnterRecursiveCall).
 */
#include "pykiln.h"

#include <string.h>

enum { NODE_LIST, NODE_TUPLE, NODE_DICT };

static PyObject *array_leaf; /* the marker of an array leaf; immortal */

static int ensure_marker(void)
{
    if (!array_leaf) {
        array_leaf = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type);
    }
    return array_leaf ? 0 : -1;
}

static int is_constant(PyObject *o)
{
    return o == Py_None || PyBool_Check(o) || PyLong_Check(o) ||
           PyFloat_Check(o) || PyUnicode_Check(o);
}

/* ------------------------------------------------------------------ */
/* flatten                                                            */
/* ------------------------------------------------------------------ */

typedef struct flat {
    PyObject *leaves;
    Py_ssize_t count;
    int strict;
    const char *what;
} flat;

static PyObject *flatten_node(PyObject *o, flat *f);

/* (tag, meta, children of the n items of seq) */
static PyObject *flatten_items(int tag, PyObject *meta, PyObject *const *items,
                               Py_ssize_t n, flat *f)
{
    PyObject *node = PyTuple_New(n + 2);
    if (!node) {
        return NULL;
    }
    PyObject *t = PyLong_FromLong(tag);
    if (!t) {
        Py_DECREF(node);
        return NULL;
    }
    PyTuple_SET_ITEM(node, 0, t);
    Py_INCREF(meta);
    PyTuple_SET_ITEM(node, 1, meta);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *child = flatten_node(items[i], f);
        if (!child) {
            Py_DECREF(node);
            return NULL;
        }
        PyTuple_SET_ITEM(node, i + 2, child);
    }
    return node;
}

static PyObject *flatten_seq(int tag, PyObject *meta, PyObject *seq, flat *f)
{
    /* a copy of the items: the list may change under a callback */
    PyObject *fast = PySequence_Tuple(seq);
    if (!fast) {
        return NULL;
    }
    PyObject *node = flatten_items(tag, meta, &PyTuple_GET_ITEM(fast, 0),
                                   PyTuple_GET_SIZE(fast), f);
    Py_DECREF(fast);
    return node;
}

static PyObject *flatten_dict(PyObject *d, flat *f)
{
    Py_ssize_t n = PyDict_Size(d), pos = 0, i = 0;
    PyObject *keys = PyTuple_New(n);
    PyObject *vals = PyTuple_New(n);
    PyObject *k, *v, *node = NULL;
    if (!keys || !vals) {
        goto done;
    }
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (i >= n) {
            PyErr_SetString(PyExc_RuntimeError,
                            "dictionary changed size during iteration");
            goto done;
        }
        Py_INCREF(k);
        PyTuple_SET_ITEM(keys, i, k);
        Py_INCREF(v);
        PyTuple_SET_ITEM(vals, i, v);
        i++;
    }
    if (i != n) {
        PyErr_SetString(PyExc_RuntimeError,
                        "dictionary changed size during iteration");
        goto done;
    }
    node = flatten_items(NODE_DICT, keys, &PyTuple_GET_ITEM(vals, 0), n, f);
done:
    Py_XDECREF(keys);
    Py_XDECREF(vals);
    return node;
}

static PyObject *flatten_node(PyObject *o, flat *f)
{
    if (PkArray_Check(o)) {
        if (PyList_Append(f->leaves, o) < 0) {
            return NULL;
        }
        f->count++;
        Py_INCREF(array_leaf);
        return array_leaf;
    }
    if (!PyList_Check(o) && !PyTuple_Check(o) && !PyDict_Check(o)) {
        if (f->strict && !is_constant(o)) {
            PyErr_Format(PyExc_ValueError,
                         "%s must be trees of arrays or constants (int, "
                         "float, bool, str or None), but received type %s.",
                         f->what ? f->what : "Tree leaves",
                         Py_TYPE(o)->tp_name);
            return NULL;
        }
        Py_INCREF(o);
        return o;
    }
    if (Py_EnterRecursiveCall(" while flattening a tree")) {
        return NULL;
    }
    PyObject *node;
    if (PyList_Check(o)) {
        node = flatten_seq(NODE_LIST, Py_None, o, f);
    } else if (PyTuple_Check(o)) {
        PyObject *type = PyTuple_CheckExact(o) ? Py_None
                                               : (PyObject *)Py_TYPE(o);
        node = flatten_seq(NODE_TUPLE, type, o, f);
    } else {
        node = flatten_dict(o, f);
    }
    Py_LeaveRecursiveCall();
    return node;
}

PyObject *pk_tree_flatten(PyObject *tree, PyObject *leaves, int strict,
                          const char *what)
{
    if (!PyList_Check(leaves)) {
        PyErr_SetString(PyExc_TypeError, "tree leaves must go to a list");
        return NULL;
    }
    if (ensure_marker() < 0) {
        return NULL;
    }
    flat f = {leaves, 0, strict, what};
    PyObject *node = flatten_node(tree, &f);
    if (!node) {
        return NULL;
    }
    PyObject *def = Py_BuildValue("(nN)", f.count, node);
    return def;
}

/* ------------------------------------------------------------------ */
/* unflatten                                                          */
/* ------------------------------------------------------------------ */

static PyObject *unflatten_node(PyObject *node, PyObject *leaves,
                                Py_ssize_t *next);

/* The tag and child count of a container node (a tuple). Treedefs reach
 * Python (kiln._tree_flatten) and may come back changed: 0, or -1 with
 * TypeError when node is not a well-formed container. */
static int node_parts(PyObject *node, long *tag, Py_ssize_t *n)
{
    Py_ssize_t size = PyTuple_GET_SIZE(node);
    PyObject *t = size >= 2 ? PyTuple_GET_ITEM(node, 0) : NULL;
    PyObject *meta = size >= 2 ? PyTuple_GET_ITEM(node, 1) : NULL;
    int overflow = 0;
    long v = t && PyLong_CheckExact(t) ? PyLong_AsLongAndOverflow(t,
                                                                  &overflow)
                                       : -1;
    int ok = !overflow && v >= NODE_LIST && v <= NODE_DICT;
    if (ok && v == NODE_LIST) {
        ok = meta == Py_None;
    } else if (ok && v == NODE_TUPLE) {
        ok = meta == Py_None ||
             (PyType_Check(meta) &&
              PyType_IsSubtype((PyTypeObject *)meta, &PyTuple_Type));
    } else if (ok) {
        ok = PyTuple_Check(meta) && PyTuple_GET_SIZE(meta) == size - 2;
    }
    if (!ok) {
        PyErr_SetString(PyExc_TypeError, "[tree] not a tree definition");
        return -1;
    }
    *tag = v;
    *n = size - 2;
    return 0;
}

static PyObject *build_container(PyObject *node, PyObject *leaves,
                                 Py_ssize_t *next)
{
    long tag;
    Py_ssize_t n;
    if (node_parts(node, &tag, &n) < 0) {
        return NULL;
    }
    PyObject *meta = PyTuple_GET_ITEM(node, 1);
    PyObject *items = PyTuple_New(n), *out = NULL;
    if (!items) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *c = unflatten_node(PyTuple_GET_ITEM(node, i + 2), leaves,
                                     next);
        if (!c) {
            goto done;
        }
        PyTuple_SET_ITEM(items, i, c);
    }
    if (tag == NODE_LIST) {
        out = PySequence_List(items);
    } else if (tag == NODE_TUPLE) {
        if (meta == Py_None) {
            Py_INCREF(items);
            out = items;
        } else if (PyObject_HasAttrString(meta, "_fields")) {
            out = PyObject_Call(meta, items, NULL); /* namedtuple */
        } else {
            out = PyObject_CallOneArg(meta, items);
        }
    } else {
        out = PyDict_New();
        for (Py_ssize_t i = 0; out && i < n; i++) {
            if (PyDict_SetItem(out, PyTuple_GET_ITEM(meta, i),
                               PyTuple_GET_ITEM(items, i)) < 0) {
                Py_CLEAR(out);
            }
        }
    }
done:
    Py_DECREF(items);
    return out;
}

static PyObject *unflatten_node(PyObject *node, PyObject *leaves,
                                Py_ssize_t *next)
{
    if (node == array_leaf) {
        if (*next >= PySequence_Fast_GET_SIZE(leaves)) {
            PyErr_SetString(PyExc_ValueError,
                            "[tree] fewer leaves than the tree holds");
            return NULL;
        }
        PyObject *x = PySequence_Fast_GET_ITEM(leaves, *next);
        (*next)++;
        Py_INCREF(x);
        return x;
    }
    if (!PyTuple_Check(node)) {
        Py_INCREF(node);
        return node;
    }
    if (Py_EnterRecursiveCall(" while rebuilding a tree")) {
        return NULL;
    }
    PyObject *out = build_container(node, leaves, next);
    Py_LeaveRecursiveCall();
    return out;
}

static int check_def(PyObject *treedef)
{
    if (!PyTuple_Check(treedef) || PyTuple_GET_SIZE(treedef) != 2 ||
        !PyLong_Check(PyTuple_GET_ITEM(treedef, 0)) ||
        pk_tree_count(treedef) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "[tree] not a tree definition");
        return -1;
    }
    return ensure_marker();
}

PyObject *pk_tree_unflatten(PyObject *treedef, PyObject *leaves)
{
    if (check_def(treedef) < 0) {
        return NULL;
    }
    PyObject *fast = PySequence_Fast(leaves, "[tree] leaves must be a "
                                             "sequence");
    if (!fast) {
        return NULL;
    }
    Py_ssize_t count = pk_tree_count(treedef);
    if (PySequence_Fast_GET_SIZE(fast) != count) {
        PyErr_Format(PyExc_ValueError,
                     "[tree] the tree holds %zd arrays but %zd leaves were "
                     "given", count, PySequence_Fast_GET_SIZE(fast));
        Py_DECREF(fast);
        return NULL;
    }
    Py_ssize_t next = 0;
    PyObject *out = unflatten_node(PyTuple_GET_ITEM(treedef, 1), fast,
                                   &next);
    Py_DECREF(fast);
    return out;
}

Py_ssize_t pk_tree_count(PyObject *treedef)
{
    if (!PyTuple_Check(treedef) || PyTuple_GET_SIZE(treedef) != 2) {
        return 0;
    }
    return PyLong_AsSsize_t(PyTuple_GET_ITEM(treedef, 0));
}

/* ------------------------------------------------------------------ */
/* key bytes                                                          */
/* ------------------------------------------------------------------ */

static int put(PyObject *key, const void *p, size_t n)
{
    Py_ssize_t at = PyByteArray_GET_SIZE(key);
    if (PyByteArray_Resize(key, at + (Py_ssize_t)n) < 0) {
        return -1;
    }
    memcpy(PyByteArray_AS_STRING(key) + at, p, n);
    return 0;
}

static int put_tag(PyObject *key, char tag, uint64_t v)
{
    unsigned char b[9];
    b[0] = (unsigned char)tag;
    memcpy(b + 1, &v, 8);
    return put(key, b, sizeof b);
}

/* A subclass of a constant type adds its type, so 1 and an IntEnum 1 (or
 * True and 1) key differently. */
static int put_type(PyObject *key, PyObject *o, PyTypeObject *base)
{
    if (Py_TYPE(o) == base) {
        return 0;
    }
    return put_tag(key, 'T', (uint64_t)(uintptr_t)Py_TYPE(o));
}

static int put_str(PyObject *key, PyObject *s)
{
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    PyObject *enc = NULL;
    if (!u) {
        /* lone surrogates: encode them as they are */
        PyErr_Clear();
        enc = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
        if (!enc) {
            return -1;
        }
        u = PyBytes_AS_STRING(enc);
        n = PyBytes_GET_SIZE(enc);
    }
    int r = put_tag(key, 's', (uint64_t)n);
    if (r == 0) {
        r = put(key, u, (size_t)n);
    }
    Py_XDECREF(enc);
    return r;
}

/* The bytes of a non-array leaf (or a dict key): its type and value for
 * the constant types, its hash for other hashable keys, else identity. */
static int put_leaf(PyObject *key, PyObject *o, int hashed)
{
    if (o == Py_None) {
        return put_tag(key, 'N', 0);
    }
    if (PyBool_Check(o)) {
        return put_tag(key, 'b', o == Py_True);
    }
    if (PyLong_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (put_type(key, o, &PyLong_Type) < 0) {
            return -1;
        }
        if (!overflow) {
            return put_tag(key, 'i', (uint64_t)v);
        }
        PyObject *s = PyObject_Str(o);
        if (!s) {
            return -1;
        }
        int r = put_tag(key, 'I', 0) < 0 ? -1 : put_str(key, s);
        Py_DECREF(s);
        return r;
    }
    if (PyFloat_Check(o)) {
        double d = PyFloat_AS_DOUBLE(o);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        if (put_type(key, o, &PyFloat_Type) < 0) {
            return -1;
        }
        return put_tag(key, 'f', bits);
    }
    if (PyUnicode_Check(o)) {
        if (put_type(key, o, &PyUnicode_Type) < 0) {
            return -1;
        }
        return put_str(key, o);
    }
    if (hashed) {
        Py_hash_t h = PyObject_Hash(o);
        if (h == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (put_tag(key, 'h', (uint64_t)(uintptr_t)Py_TYPE(o)) < 0) {
            return -1;
        }
        return put_tag(key, 'H', (uint64_t)h);
    }
    return put_tag(key, 'o', (uint64_t)(uintptr_t)o);
}

static int key_node(PyObject *node, PyObject *key)
{
    if (node == array_leaf) {
        return put_tag(key, 'a', 0);
    }
    if (!PyTuple_Check(node)) {
        return put_leaf(key, node, 0);
    }
    long tag;
    Py_ssize_t n;
    if (node_parts(node, &tag, &n) < 0) {
        return -1;
    }
    PyObject *meta = PyTuple_GET_ITEM(node, 1);
    int r = 0;
    if (tag == NODE_LIST) {
        r = put_tag(key, 'l', (uint64_t)n);
    } else if (tag == NODE_TUPLE) {
        r = put_tag(key, 't', (uint64_t)n);
        if (r == 0 && meta != Py_None) {
            r = put_tag(key, 'T', (uint64_t)(uintptr_t)meta);
        }
    } else {
        r = put_tag(key, 'd', (uint64_t)n);
        for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
            r = put_leaf(key, PyTuple_GET_ITEM(meta, i), 1);
        }
    }
    if (r < 0 || Py_EnterRecursiveCall(" while hashing a tree")) {
        return -1;
    }
    for (Py_ssize_t i = 0; r == 0 && i < n; i++) {
        r = key_node(PyTuple_GET_ITEM(node, i + 2), key);
    }
    Py_LeaveRecursiveCall();
    if (r == 0) {
        r = put_tag(key, ')', 0);
    }
    return r;
}

int pk_tree_key(PyObject *treedef, PyObject *key)
{
    if (check_def(treedef) < 0) {
        return -1;
    }
    if (!PyByteArray_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "[tree] key must be a bytearray");
        return -1;
    }
    return key_node(PyTuple_GET_ITEM(treedef, 1), key);
}

/* ------------------------------------------------------------------ */
/* arrays of a live tree                                              */
/* ------------------------------------------------------------------ */

static int collect(PyObject *o, PyObject *out)
{
    if (PkArray_Check(o)) {
        return PyList_Append(out, o);
    }
    if (!PyList_Check(o) && !PyTuple_Check(o) && !PyDict_Check(o)) {
        return 0;
    }
    if (Py_EnterRecursiveCall(" while walking a tree")) {
        return -1;
    }
    PyObject *items = PyDict_Check(o) ? PyDict_Values(o)
                                      : PySequence_Tuple(o);
    int r = items ? 0 : -1;
    PyObject *fast = items ? PySequence_Fast(items, "") : NULL;
    if (items && !fast) {
        r = -1;
    }
    for (Py_ssize_t i = 0; fast && r == 0 &&
                           i < PySequence_Fast_GET_SIZE(fast); i++) {
        r = collect(PySequence_Fast_GET_ITEM(fast, i), out);
    }
    Py_XDECREF(fast);
    Py_XDECREF(items);
    Py_LeaveRecursiveCall();
    return r;
}

int pk_tree_arrays(PyObject *tree, PyObject *out)
{
    if (!PyList_Check(out)) {
        PyErr_SetString(PyExc_TypeError, "tree arrays must go to a list");
        return -1;
    }
    return collect(tree, out);
}

/*
 * index.c - x[key], x[key] = v and x.at[key].add(v) etc. for kiln.array,
 * with numpy's indexing rules.
 *
 * A key is an entry or a tuple of entries: ints (negative wrap; out of
 * range raises IndexError), slices (any step), None (a new axis of
 * length 1), one Ellipsis, and integer arrays (kiln.array, numpy arrays,
 * lists of ints). Reading through a boolean mask raises ValueError, as
 * in MLX (its shape would depend on the values); so does a bool key (MLX
 * reads x[True] as x[1], numpy as a new axis: too surprising either way
 * to copy). Assigning through one, x[mask] = v, works as in MLX: a where
 * (mask_set, below).
 *
 * How a key is resolved (a `plan`):
 *  1. Ellipsis expands to full slices, and missing trailing entries are
 *     full slices, so there is one entry per axis, plus the Nones.
 *  2. Each None becomes a length-1 axis inserted into x (x1), and then a
 *     full slice of it: numpy places a None's axis exactly where a slice
 *     of that axis would go, advanced indexing included.
 *  3. One kiln_slice cuts every axis (an int i as i:i+1, -1 as -1:END,
 *     an array axis whole), bounds as written so that a shapeless replay
 *     follows new lengths: the block y.
 *  4. No arrays: the int axes are squeezed away. With arrays,
 *     every int and array entry is "advanced": their indices broadcast
 *     to a shape B, and combine into one flat index over the advanced
 *     axes (ints index 0 of their length-1 axis). When the advanced
 *     entries are adjacent, those axes merge into one and a kiln_take
 *     along it puts B in their place; otherwise they move to the front
 *     first, and B leads the result (numpy's rule, in which even an
 *     Ellipsis standing for no axes separates advanced entries).
 * Assignment builds the new block and writes it back with
 * kiln_slice_update (for a pending x the value is aligned to the block by
 * expand_dims and broadcast against it, so shapeless replays follow new
 * lengths: combine_pending). Through arrays, the block's advanced axes flatten to
 * P positions and the K = size(B) updates are matched to them by a
 * (P, K) one-hot table (O(P * K) memory and time): for `=` the last
 * update of a position wins (as numpy), for x.at[...] ops every update
 * of a position is applied (add and subtract as a matmul with the table,
 * the others as a reduction over a (P, K, ...) where, O(P * K * R) for
 * R elements per position). Updates are cast
 * to x's dtype first, and results keep it.
 *
 * Array indices from Python data (lists, numpy) are bounds-checked
 * (IndexError); kiln.array indices are not read (that would evaluate
 * them): as kiln_take, they wrap once and are clamped into the axis.
 *
 * Invariants: every kiln array made while working on a key goes into a
 * pool released on return, so each path releases everything; the
 * wrapper's array is replaced only once the new value exists.
 */
#include "pykiln.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* a pool of temporaries                                              */
/* ------------------------------------------------------------------ */

/* kiln ops given a NULL argument return NULL and keep the first error,
 * so a chain of ops over pooled results is checked once at its end. */
typedef struct pool {
    kiln_array **a;
    int n, cap;
} pool;

/* Records a (may be NULL) for release by drain(); returns a. */
static kiln_array *keep(pool *p, kiln_array *a)
{
    if (!a) {
        return NULL;
    }
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 32;
        kiln_array **g = PyMem_Realloc(p->a, sizeof *g * (size_t)cap);
        if (!g) {
            kiln_array_release(a);
            PyErr_NoMemory();
            return NULL;
        }
        p->a = g;
        p->cap = cap;
    }
    p->a[p->n++] = a;
    return a;
}

static void drain(pool *p)
{
    for (int i = 0; i < p->n; i++) {
        kiln_array_release(p->a[i]);
    }
    PyMem_Free(p->a);
    p->a = NULL;
    p->n = p->cap = 0;
}

static kiln_array *i64(pool *p, int64_t v)
{
    return keep(p, kiln_scalar_i64(v, KILN_DTYPE_INT64));
}

static kiln_array *reshape(pool *p, kiln_array *x, const int64_t *shape,
                           int nd)
{
    return keep(p, kiln_reshape(x, shape, nd));
}

/* ------------------------------------------------------------------ */
/* parsing a key                                                      */
/* ------------------------------------------------------------------ */

enum { IX_INT, IX_SLICE, IX_NONE, IX_ELLIPSIS, IX_ARRAY };
enum { MAX_ENTRIES = 2 * KILN_MAX_NDIM + 1 };

typedef struct entry {
    int kind;
    Py_ssize_t i;     /* IX_INT */
    PyObject *slice;  /* IX_SLICE (borrowed from the key); NULL: whole */
    kiln_array *arr;  /* IX_ARRAY, pooled */
    int host;         /* IX_ARRAY made from Python data */
} entry;

/* An integer index array from a Python value (list, numpy array). */
static kiln_array *host_array(pool *p, PyObject *o)
{
    kiln_array *a = keep(p, pk_to_array(o, -1));
    if (a && kiln_array_size(a) == 0 &&
        !kiln_dtype_is_integer(kiln_array_dtype(a))) {
        /* [] is an empty list of indices */
        a = keep(p, kiln_astype(a, KILN_DTYPE_INT32));
        if (!a) {
            pk_raise();
        }
    }
    return a;
}

static int check_index_dtype(kiln_array *a)
{
    kiln_dtype dt = kiln_array_dtype(a);
    if (dt == KILN_DTYPE_BOOL) {
        PyErr_SetString(PyExc_ValueError, "boolean indices are not "
                        "supported (as in MLX); use kiln.where or integer "
                        "indices");
        return -1;
    }
    if (!kiln_dtype_is_integer(dt)) {
        PyErr_Format(PyExc_IndexError, "arrays used as indices must be of "
                     "integer type, not %s", kiln_dtype_name(dt));
        return -1;
    }
    return 0;
}

static int parse_entry(pool *p, PyObject *o, entry *e)
{
    memset(e, 0, sizeof *e);
    if (o == Py_None) {
        e->kind = IX_NONE;
        return 0;
    }
    if (o == Py_Ellipsis) {
        e->kind = IX_ELLIPSIS;
        return 0;
    }
    if (PySlice_Check(o)) {
        e->kind = IX_SLICE;
        e->slice = o;
        return 0;
    }
    if (PyBool_Check(o)) {
        PyErr_SetString(PyExc_ValueError, "boolean indices are not "
                        "supported (as in MLX); use integer indices");
        return -1;
    }
    if (PkArray_Check(o)) {
        e->kind = IX_ARRAY;
        e->arr = keep(p, kiln_array_retain(((PkArray *)o)->a));
        return e->arr ? check_index_dtype(e->arr) : -1;
    }
    if (PyLong_Check(o) ||
        (PyIndex_Check(o) && !PyList_Check(o) && !PyTuple_Check(o))) {
        e->i = PyNumber_AsSsize_t(o, PyExc_IndexError);
        if (!(e->i == -1 && PyErr_Occurred())) {
            e->kind = IX_INT;
            return 0;
        }
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return -1;
        }
        PyErr_Clear(); /* a numpy array that is not a scalar index */
    }
    if (PyList_Check(o) || PyTuple_Check(o) || PyObject_CheckBuffer(o) ||
        PyObject_HasAttrString(o, "__array__")) {
        e->kind = IX_ARRAY;
        e->host = 1;
        e->arr = host_array(p, o);
        return e->arr ? check_index_dtype(e->arr) : -1;
    }
    PyErr_Format(PyExc_IndexError, "only integers, slices (`:`), "
                 "ellipsis (`...`), None and integer arrays are valid "
                 "indices, not %.100s", Py_TYPE(o)->tp_name);
    return -1;
}

/* The entries of a key; their count, or -1 with an exception. */
static int parse_key(pool *p, PyObject *key, entry *e)
{
    if (!PyTuple_Check(key)) {
        return parse_entry(p, key, &e[0]) < 0 ? -1 : 1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(key);
    if (n > MAX_ENTRIES) {
        PyErr_Format(PyExc_IndexError, "too many indices (%zd)", n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (parse_entry(p, PyTuple_GET_ITEM(key, i), &e[i]) < 0) {
            return -1;
        }
    }
    return (int)n;
}

/* ------------------------------------------------------------------ */
/* resolving a key against an array                                   */
/* ------------------------------------------------------------------ */

typedef struct plan {
    kiln_array *x1;  /* x with the None axes inserted (pooled) */
    int nd;          /* x1's ndim, one entry per axis */
    int any_none;
    int nones[KILN_MAX_NDIM], nn;   /* x1's axes that None inserted */
    int kind[KILN_MAX_NDIM];        /* IX_INT, IX_SLICE or IX_ARRAY */
    kiln_array *arr[KILN_MAX_NDIM]; /* IX_ARRAY (pooled) */
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM], step[KILN_MAX_NDIM];
    int64_t len[KILN_MAX_NDIM];     /* the axis length after slicing */
    int sliced;                     /* some axis is not taken whole */
    int nadv;                       /* advanced axes (see file comment) */
    int adv[KILN_MAX_NDIM];
    int adjacent;
} plan;

/* A Python slice of an axis of n, in kiln_slice's terms: the bounds as
 * written (omitted ones as KILN_SLICE_BEGIN/END, negative ones counting
 * from the end), since kiln_slice applies Python's rules itself, so a
 * shapeless compiled replay cuts a new length as Python would (x[1:],
 * x[:-1], x[::-1]); len is the length at n. */
static int resolve_slice(PyObject *sl, int64_t n, plan *p, int j)
{
    Py_ssize_t s0 = 0, s1 = (Py_ssize_t)n, st = 1;
    p->start[j] = KILN_SLICE_BEGIN;
    p->stop[j] = KILN_SLICE_END;
    p->step[j] = 1;
    p->len[j] = n;
    if (!sl) {
        return 0;
    }
    if (PySlice_Unpack(sl, &s0, &s1, &st) < 0) {
        return -1;
    }
    PySliceObject *o = (PySliceObject *)sl;
    /* PySlice_Unpack clamps huge bounds to the Py_ssize_t range, whose
     * ends are the omitted-bound sentinels: an explicit one moves one in
     * (any bound that far out clamps to the same end of the axis) */
    if (s0 == KILN_SLICE_BEGIN) {
        s0++;
    }
    if (s1 == KILN_SLICE_END) {
        s1--;
    }
    p->start[j] = o->start == Py_None ? KILN_SLICE_BEGIN : (int64_t)s0;
    p->stop[j] = o->stop == Py_None ? KILN_SLICE_END : (int64_t)s1;
    p->step[j] = st;
    p->len[j] = PySlice_AdjustIndices((Py_ssize_t)n, &s0, &s1, st);
    return 0;
}

/* Host index arrays must lie in [-n, n). */
static int check_bounds(kiln_array *a, int64_t n, int axis)
{
    kiln_array *r = kiln_astype(a, KILN_DTYPE_INT64);
    if (!r) {
        pk_raise();
        return -1;
    }
    const int64_t *v = kiln_array_data(r);
    if (!v) {
        kiln_array_release(r);
        pk_raise();
        return -1;
    }
    int st = 0;
    for (int64_t i = 0; i < kiln_array_size(r); i++) {
        if (v[i] < -n || v[i] >= n) {
            PyErr_Format(PyExc_IndexError, "index %lld is out of bounds "
                         "for axis %d with size %lld", (long long)v[i],
                         axis, (long long)n);
            st = -1;
            break;
        }
    }
    kiln_array_release(r);
    return st;
}

/* One entry per axis of x1; 0 or -1 with an exception. */
static int make_plan(pool *pl, kiln_array *x, PyObject *key, plan *p)
{
    entry e[MAX_ENTRIES];
    memset(p, 0, sizeof *p);
    int ne = parse_key(pl, key, e);
    if (ne < 0) {
        return -1;
    }
    int nd = kiln_array_ndim(x);
    int used = 0, nell = 0;
    for (int i = 0; i < ne; i++) {
        used += e[i].kind == IX_INT || e[i].kind == IX_SLICE ||
                e[i].kind == IX_ARRAY;
        nell += e[i].kind == IX_ELLIPSIS;
    }
    if (nell > 1) {
        PyErr_SetString(PyExc_IndexError, "an index can only have a "
                        "single ellipsis ('...')");
        return -1;
    }
    if (used > nd) {
        PyErr_Format(PyExc_IndexError, "too many indices for array: array "
                     "is %d-dimensional, but %d were indexed", nd, used);
        return -1;
    }
    /* the entries with the Ellipsis (or the end) filled by whole axes */
    entry full[MAX_ENTRIES + KILN_MAX_NDIM];
    int ord[MAX_ENTRIES + KILN_MAX_NDIM]; /* positions for adjacency */
    int nf = 0, gap = 0;
    for (int i = 0; i <= ne; i++) {
        if (i == ne ? nell == 0 : e[i].kind == IX_ELLIPSIS) {
            for (int k = 0; k < nd - used; k++) {
                memset(&full[nf], 0, sizeof full[nf]);
                full[nf].kind = IX_SLICE;
                ord[nf] = nf + gap;
                nf++;
            }
            /* numpy: even an Ellipsis of no axes separates advanced
             * entries (x[:, [0], ..., [1]] puts B first) */
            gap += i < ne && nd == used;
        } else if (i < ne) {
            ord[nf] = nf + gap;
            full[nf++] = e[i];
        }
    }
    if (nf > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_IndexError, "the result would have more than "
                     "%d dimensions", KILN_MAX_NDIM);
        return -1;
    }
    int64_t shape[KILN_MAX_NDIM];
    const int64_t *xs = kiln_array_shape(x);
    int xaxis[KILN_MAX_NDIM];
    for (int j = 0, k = 0; j < nf; j++) {
        xaxis[j] = k;
        if (full[j].kind == IX_NONE) {
            shape[j] = 1;
            p->any_none = 1;
        } else {
            shape[j] = xs[k++];
        }
    }
    p->nd = nf;
    p->nn = 0;
    for (int j = 0; j < nf; j++) {
        if (full[j].kind == IX_NONE) {
            p->nones[p->nn++] = j;
        }
    }
    /* expand_dims, not a reshape to this shape: a shapeless replay
     * follows the new lengths */
    p->x1 = keep(pl, p->any_none ? kiln_expand_dims(x, p->nones, p->nn)
                                 : kiln_array_retain(x));
    if (!p->x1) {
        pk_raise();
        return -1;
    }
    int any_array = 0;
    for (int j = 0; j < nf; j++) {
        any_array |= full[j].kind == IX_ARRAY;
    }
    for (int j = 0; j < nf; j++) {
        int64_t n = shape[j];
        entry *f = &full[j];
        if (f->kind == IX_INT) {
            int64_t i = f->i < 0 ? f->i + n : f->i;
            if (i < 0 || i >= n) {
                PyErr_Format(PyExc_IndexError, "index %zd is out of bounds "
                             "for axis %d with size %lld", f->i, xaxis[j],
                             (long long)n);
                return -1;
            }
            p->kind[j] = IX_INT;
            /* as written: -1 stays the last item at any length */
            p->start[j] = f->i;
            p->stop[j] = f->i == -1 ? KILN_SLICE_END : f->i + 1;
            p->step[j] = 1;
            p->len[j] = 1;
        } else if (f->kind == IX_ARRAY) {
            if (f->host && check_bounds(f->arr, n, xaxis[j]) < 0) {
                return -1;
            }
            p->kind[j] = IX_ARRAY;
            p->arr[j] = f->arr;
            p->start[j] = KILN_SLICE_BEGIN;
            p->stop[j] = KILN_SLICE_END;
            p->step[j] = 1;
            p->len[j] = n;
        } else {
            p->kind[j] = IX_SLICE;
            if (resolve_slice(f->kind == IX_SLICE ? f->slice : NULL, n, p,
                              j) < 0) {
                return -1;
            }
        }
        p->sliced |= !(p->start[j] == KILN_SLICE_BEGIN &&
                       p->stop[j] == KILN_SLICE_END && p->step[j] == 1);
        if (any_array && p->kind[j] != IX_SLICE) {
            p->adv[p->nadv++] = j;
        }
    }
    p->adjacent = p->nadv > 0 && ord[p->adv[p->nadv - 1]] -
                                         ord[p->adv[0]] == p->nadv - 1;
    return 0;
}

/* x1 cut by the plan's slices (int axes kept with length 1). */
static kiln_array *block(pool *pl, const plan *p)
{
    if (!p->sliced) {
        return p->x1;
    }
    return keep(pl, kiln_slice(p->x1, p->start, p->stop, p->step));
}

/* ------------------------------------------------------------------ */
/* advanced indices                                                   */
/* ------------------------------------------------------------------ */

/* The axis order with the advanced axes first (perm) and the lengths of
 * the others (rest). */
static int advanced_first(const plan *p, int *perm, int64_t *rest)
{
    int k = 0, nr = 0;
    for (int i = 0; i < p->nadv; i++) {
        perm[k++] = p->adv[i];
    }
    for (int j = 0; j < p->nd; j++) {
        if (p->kind[j] == IX_SLICE) {
            perm[k++] = j;
            rest[nr++] = p->len[j];
        }
    }
    return nr;
}

/* The flat index into the advanced axes of the block, broadcast to the
 * indices' shape B (pooled); *npos is the number of positions P. Each
 * index is wrapped and clamped into its axis, except (for_take) a lone
 * array, which kiln_take wraps and clamps itself. */
static kiln_array *flat_index(pool *pl, const plan *p, int64_t *npos,
                              int for_take)
{
    if (p->nadv == 1 && for_take) {
        /* one array: kiln_take wraps and clamps it the same way */
        *npos = p->len[p->adv[0]];
        return p->arr[p->adv[0]];
    }
    kiln_array *flat = i64(pl, 0);
    int64_t stride = 1;
    for (int i = p->nadv - 1; i >= 0; i--) {
        int j = p->adv[i];
        int64_t n = p->len[j];
        if (p->kind[j] == IX_ARRAY && n > 0) {
            kiln_array *idx = keep(pl, kiln_astype(p->arr[j],
                                                   KILN_DTYPE_INT64));
            kiln_array *neg = keep(pl, kiln_less(idx, i64(pl, 0)));
            kiln_array *w = keep(pl, kiln_where(
                neg, keep(pl, kiln_add(idx, i64(pl, n))), idx));
            w = keep(pl, kiln_clip(w, i64(pl, 0), i64(pl, n - 1)));
            w = keep(pl, kiln_multiply(w, i64(pl, stride)));
            flat = keep(pl, kiln_add(flat, w));
        } else if (p->kind[j] == IX_ARRAY) {
            /* an empty axis: only the shape of the indices matters */
            flat = keep(pl, kiln_add(
                flat, keep(pl, kiln_astype(p->arr[j], KILN_DTYPE_INT64))));
        }
        stride *= n;
    }
    *npos = stride;
    if (!flat && !PyErr_Occurred()) {
        pk_raise();
    }
    return flat;
}

static int empty_axis_error(void)
{
    PyErr_SetString(PyExc_IndexError, "index 0 is out of bounds for an "
                    "axis of size 0");
    return -1;
}

/* y[advanced indices] for the block y; pooled. */
static kiln_array *gather(pool *pl, const plan *p, kiln_array *y)
{
    int64_t npos;
    kiln_array *f = flat_index(pl, p, &npos, 1);
    if (!f) {
        return NULL;
    }
    int bnd = kiln_array_ndim(f);
    const int64_t *bs = kiln_array_shape(f);
    int perm[KILN_MAX_NDIM];
    int64_t rest[KILN_MAX_NDIM], shape[KILN_MAX_NDIM];
    int nr = advanced_first(p, perm, rest);
    if (bnd + nr > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_IndexError, "the result would have more than "
                     "%d dimensions", KILN_MAX_NDIM);
        return NULL;
    }
    /* the result's shape: B in place of the advanced axes, or first */
    int at = p->adjacent ? p->adv[0] : 0, nd = 0;
    for (int i = 0; i < at; i++) {
        shape[nd++] = rest[i];
    }
    for (int i = 0; i < bnd; i++) {
        shape[nd++] = bs[i];
    }
    for (int i = at; i < nr; i++) {
        shape[nd++] = rest[i];
    }
    if (npos == 0) {
        if (kiln_array_size(f) > 0) {
            empty_axis_error();
            return NULL;
        }
        return keep(pl, kiln_zeros(shape, nd, kiln_array_dtype(y)));
    }
    /* y with the advanced axes merged into one axis of P positions */
    int64_t merged[KILN_MAX_NDIM];
    int nm = 0;
    if (p->adjacent) {
        const int64_t *ys = kiln_array_shape(y);
        for (int j = 0; j < p->nd;) {
            if (j == p->adv[0]) {
                merged[nm++] = npos;
                j += p->nadv;
            } else {
                merged[nm++] = ys[j++];
            }
        }
    } else {
        y = keep(pl, kiln_transpose(y, perm, p->nd));
        merged[nm++] = npos;
        for (int i = 0; i < nr; i++) {
            merged[nm++] = rest[i];
        }
    }
    y = reshape(pl, y, merged, nm);
    return keep(pl, kiln_take(y, f, at, false));
}

/* ------------------------------------------------------------------ */
/* x[key]                                                             */
/* ------------------------------------------------------------------ */

static kiln_array *get(pool *pl, kiln_array *x, PyObject *key)
{
    plan p;
    if (make_plan(pl, x, key, &p) < 0) {
        return NULL;
    }
    kiln_array *y = block(pl, &p);
    if (y && p.nadv > 0) {
        return gather(pl, &p, y);
    }
    /* squeezed rather than reshaped, so a shapeless replay follows the
     * other axes' new lengths */
    int axes[KILN_MAX_NDIM], nax = 0;
    for (int j = 0; j < p.nd; j++) {
        if (p.kind[j] == IX_INT) {
            axes[nax++] = j;
        }
    }
    return y && nax ? keep(pl, kiln_squeeze(y, axes, nax)) : y;
}

PyObject *pk_index_get(PkArray *self, PyObject *key)
{
    pool pl = {0};
    /* held: the key's __index__ may assign into self, replacing self->a */
    kiln_array *x = keep(&pl, kiln_array_retain(self->a));
    kiln_array *y = x ? get(&pl, x, key) : NULL;
    PyObject *r = NULL;
    if (y) {
        r = pk_wrap(kiln_array_retain(y));
    } else {
        pk_raise(); /* keeps a Python error; clears a kiln one */
    }
    drain(&pl);
    return r;
}

/* ------------------------------------------------------------------ */
/* assignment                                                         */
/* ------------------------------------------------------------------ */

enum { OP_SET, OP_ADD, OP_SUBTRACT, OP_MULTIPLY, OP_DIVIDE, OP_MAXIMUM,
       OP_MINIMUM };

/* u with extra leading length-1 axes dropped, broadcast to shape (as
 * numpy assigns); pooled. */
static kiln_array *fit(pool *pl, kiln_array *u, const int64_t *shape,
                       int nd)
{
    int un = kiln_array_ndim(u), s = 0;
    const int64_t *us = kiln_array_shape(u);
    while (un - s > nd && us[s] == 1) {
        s++;
    }
    if (s > 0) {
        u = reshape(pl, u, us + s, un - s);
    }
    return keep(pl, kiln_broadcast_to(u, shape, nd));
}

/* op(y, u) elementwise in y's dtype; pooled. */
static kiln_array *combine(pool *pl, int op, kiln_array *y, kiln_array *u)
{
    kiln_array *r;
    switch (op) {
    case OP_ADD: r = kiln_add(y, u); break;
    case OP_SUBTRACT: r = kiln_subtract(y, u); break;
    case OP_MULTIPLY: r = kiln_multiply(y, u); break;
    case OP_DIVIDE: r = kiln_divide(y, u); break;
    case OP_MAXIMUM: r = kiln_maximum(y, u); break;
    case OP_MINIMUM: r = kiln_minimum(y, u); break;
    default: return u;
    }
    r = keep(pl, r);
    return keep(pl, kiln_astype(r, kiln_array_dtype(y)));
}

/* The new values of the P positions yr (shape (P, R...)) given K updates
 * u (shape (K, R...)) at the flat positions f (shape (K)); pooled. */
static kiln_array *scatter_rows(pool *pl, int op, kiln_array *yr,
                                kiln_array *u, kiln_array *f, int64_t npos,
                                int64_t nupd)
{
    int nd = kiln_array_ndim(yr);
    const int64_t *ys = kiln_array_shape(yr);
    int64_t inner = 1, shape[KILN_MAX_NDIM + 1];
    for (int i = 1; i < nd; i++) {
        inner *= ys[i];
    }
    kiln_array *pos = keep(pl, kiln_arange(0, (double)npos, 1,
                                           KILN_DTYPE_INT64));
    pos = reshape(pl, pos, (int64_t[]){npos, 1}, 2);
    kiln_array *fr = reshape(pl, f, (int64_t[]){1, nupd}, 2);
    kiln_array *match = keep(pl, kiln_equal(pos, fr)); /* (P, K) */
    kiln_dtype dt = kiln_array_dtype(yr);
    if (op == OP_SET) {
        kiln_array *k = keep(pl, kiln_arange(0, (double)nupd, 1,
                                             KILN_DTYPE_INT64));
        kiln_array *cand = keep(pl, kiln_where(match, k, i64(pl, -1)));
        int ax = 1;
        kiln_array *last = keep(pl, kiln_max(cand, &ax, 1, false));
        kiln_array *has = keep(pl, kiln_greater_equal(last, i64(pl, 0)));
        kiln_array *g = keep(pl, kiln_take(
            u, keep(pl, kiln_maximum(last, i64(pl, 0))), 0, false));
        shape[0] = npos;
        for (int i = 1; i < nd; i++) {
            shape[i] = 1;
        }
        has = reshape(pl, has, shape, nd);
        return keep(pl, kiln_where(has, g, yr));
    }
    if (op == OP_ADD || op == OP_SUBTRACT) {
        kiln_array *m = keep(pl, kiln_astype(match, dt));
        kiln_array *u2 = reshape(pl, u, (int64_t[]){nupd, inner}, 2);
        kiln_array *s = keep(pl, kiln_matmul(m, u2));
        s = reshape(pl, s, ys, nd);
        return combine(pl, op, yr, s);
    }
    /* (P, K, R...) candidates reduced over K */
    shape[0] = npos;
    shape[1] = nupd;
    for (int i = 1; i < nd; i++) {
        shape[i + 1] = 1;
    }
    kiln_array *mr = reshape(pl, match, shape, nd + 1);
    shape[0] = 1;
    for (int i = 1; i < nd; i++) {
        shape[i + 1] = ys[i];
    }
    kiln_array *ur = reshape(pl, u, shape, nd + 1);
    int ax = 1;
    if (op == OP_MULTIPLY || op == OP_DIVIDE) {
        kiln_array *one = keep(pl, kiln_scalar_i64(1, dt));
        kiln_array *e = keep(pl, kiln_where(mr, ur, one));
        kiln_array *pr = keep(pl, kiln_prod(e, &ax, 1, false));
        return combine(pl, op, yr, pr);
    }
    shape[0] = npos;
    shape[1] = 1;
    kiln_array *own = reshape(pl, yr, shape, nd + 1);
    /* unmatched candidates are the old value, which always takes part
     * (a position every update matches has no unmatched candidate) */
    kiln_array *e = keep(pl, kiln_where(mr, ur, own));
    e = keep(pl, op == OP_MAXIMUM ? kiln_max(e, &ax, 1, false)
                                  : kiln_min(e, &ax, 1, false));
    return combine(pl, op, yr, e);
}

/* The new block for an assignment through advanced indices; pooled. */
static kiln_array *scatter(pool *pl, int op, const plan *p, kiln_array *y,
                           kiln_array *u)
{
    int64_t npos;
    kiln_array *f = flat_index(pl, p, &npos, 0);
    if (!f) {
        return NULL;
    }
    int bnd = kiln_array_ndim(f);
    int64_t nupd = kiln_array_size(f);
    int64_t bs[KILN_MAX_NDIM];
    memcpy(bs, kiln_array_shape(f), sizeof *bs * (size_t)bnd);
    int perm[KILN_MAX_NDIM];
    int64_t rest[KILN_MAX_NDIM], shape[KILN_MAX_NDIM];
    int nr = advanced_first(p, perm, rest);
    if (bnd + nr > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_IndexError, "the indexed view would have more "
                     "than %d dimensions", KILN_MAX_NDIM);
        return NULL;
    }
    /* u fits the view x[key] (B in place or first), then B goes first */
    int at = p->adjacent ? p->adv[0] : 0, nd = 0;
    for (int i = 0; i < at; i++) {
        shape[nd++] = rest[i];
    }
    for (int i = 0; i < bnd; i++) {
        shape[nd++] = bs[i];
    }
    for (int i = at; i < nr; i++) {
        shape[nd++] = rest[i];
    }
    u = fit(pl, u, shape, nd);
    if (!u) {
        return NULL;
    }
    if (nupd == 0) {
        return y;
    }
    if (npos == 0) {
        empty_axis_error();
        return NULL;
    }
    if (at > 0 && bnd > 0) {
        int up[KILN_MAX_NDIM], k = 0;
        for (int i = 0; i < bnd; i++) {
            up[k++] = at + i;
        }
        for (int i = 0; i < nd; i++) {
            if (i < at || i >= at + bnd) {
                up[k++] = i;
            }
        }
        u = keep(pl, kiln_transpose(u, up, nd));
    }
    shape[0] = nupd;
    memcpy(shape + 1, rest, sizeof *rest * (size_t)nr);
    u = reshape(pl, u, shape, nr + 1);
    kiln_array *fk = reshape(pl, f, &nupd, 1);
    /* the block with its advanced axes first, merged to P positions */
    kiln_array *yt = keep(pl, kiln_transpose(y, perm, p->nd));
    shape[0] = npos;
    kiln_array *yr = reshape(pl, yt, shape, nr + 1);
    kiln_array *nr_ = scatter_rows(pl, op, yr, u, fk, npos, nupd);
    /* back to the block's shape and axis order */
    int64_t tshape[KILN_MAX_NDIM];
    int inv[KILN_MAX_NDIM];
    for (int i = 0; i < p->nd; i++) {
        tshape[i] = p->len[perm[i]];
        inv[perm[i]] = i;
    }
    kiln_array *bt = reshape(pl, nr_, tshape, p->nd);
    return keep(pl, kiln_transpose(bt, inv, p->nd));
}

/* The block of a pending x (inside a trace, or lazy work) with u
 * combined into it: u's axes are aligned to the block's by expand_dims
 * (leading size-1 axes beyond the block's dropped, missing leading axes
 * and the int axes added) and broadcast against the block itself, never
 * to its traced lengths, so a shapeless replay follows new lengths.
 * nd: the block's axes that are not int axes. Pooled; NULL on error. */
static kiln_array *combine_pending(pool *pl, int op, const plan *p,
                                   kiln_array *y, kiln_array *u, int nd)
{
    int un = kiln_array_ndim(u), s = 0;
    const int64_t *us = kiln_array_shape(u);
    while (un - s > nd && us[s] == 1) {
        s++;
    }
    if (un - s > nd) {
        PyErr_Format(PyExc_ValueError, "cannot assign an array of %d "
                     "dimensions to %d", un - s, nd);
        return NULL;
    }
    if (s > 0) {
        u = reshape(pl, u, us + s, un - s);
        un -= s;
    }
    int ax[KILN_MAX_NDIM], na = 0;
    for (int i = 0; i < nd - un; i++) {
        ax[na++] = i;
    }
    u = u && na ? keep(pl, kiln_expand_dims(u, ax, na)) : u;
    na = 0;
    for (int j = 0; j < p->nd; j++) {
        if (p->kind[j] == IX_INT) {
            ax[na++] = j;
        }
    }
    u = u && na ? keep(pl, kiln_expand_dims(u, ax, na)) : u;
    if (!u) {
        return NULL;
    }
    if (op != OP_SET) {
        return combine(pl, op, y, u);
    }
    /* u in the block's shape: where(true in y's shape, u, u) */
    kiln_array *t = keep(pl, kiln_astype(keep(pl, kiln_ones_like(y)),
                                         KILN_DTYPE_BOOL));
    return t ? keep(pl, kiln_where(t, u, u)) : NULL;
}

/* x with x[key] op= v; pooled. */
static kiln_array *update(pool *pl, kiln_array *x, PyObject *key,
                          PyObject *v, int op)
{
    plan p;
    if (make_plan(pl, x, key, &p) < 0) {
        return NULL;
    }
    kiln_dtype dt = kiln_array_dtype(x);
    kiln_array *u = keep(pl, pk_convert_operand(v, dt));
    if (!u) {
        return NULL;
    }
    u = keep(pl, kiln_astype(u, dt));
    kiln_array *y = block(pl, &p);
    kiln_array *blk;
    if (p.nadv > 0) {
        blk = scatter(pl, op, &p, y, u);
    } else {
        int64_t shape[KILN_MAX_NDIM];
        int nd = 0;
        for (int j = 0; j < p.nd; j++) {
            if (p.kind[j] != IX_INT) {
                shape[nd++] = p.len[j];
            }
        }
        if (kiln_array_is_evaluated(x)) {
            u = fit(pl, u, shape, nd);
            u = reshape(pl, u, p.len, p.nd);
            blk = u ? combine(pl, op, y, u) : NULL;
        } else {
            blk = combine_pending(pl, op, &p, y, u, nd);
        }
    }
    if (!blk) {
        return NULL;
    }
    kiln_array *x1 = p.sliced
                         ? keep(pl, kiln_slice_update(p.x1, blk, p.start,
                                                      p.stop, p.step))
                         : blk;
    if (p.any_none) {
        x1 = keep(pl, kiln_squeeze(x1, p.nones, p.nn));
    }
    return x1;
}

/* ------------------------------------------------------------------ */
/* x[mask] = v                                                        */
/* ------------------------------------------------------------------ */

/* key as a boolean mask (pooled): a bool kiln.array or NumPy array of at
 * least one axis; NULL (no exception) for any other key. */
static kiln_array *bool_mask(pool *pl, PyObject *key)
{
    if (PkArray_Check(key)) {
        kiln_array *a = ((PkArray *)key)->a;
        if (kiln_array_dtype(a) != KILN_DTYPE_BOOL ||
            kiln_array_ndim(a) == 0) {
            return NULL;
        }
    } else if (strcmp(Py_TYPE(key)->tp_name, "numpy.ndarray") == 0) {
        /* only a bool array is converted here (dtype.kind 'b') */
        PyObject *dt = PyObject_GetAttrString(key, "dtype");
        PyObject *k = dt ? PyObject_GetAttrString(dt, "kind") : NULL;
        int is_bool = k && PyUnicode_Check(k) &&
                      PyUnicode_CompareWithASCIIString(k, "b") == 0;
        Py_XDECREF(k);
        Py_XDECREF(dt);
        PyErr_Clear();
        if (!is_bool) {
            return NULL;
        }
    } else {
        return NULL;
    }
    kiln_array *m = keep(pl, pk_to_array(key, -1));
    if (!m) {
        PyErr_Clear();
        return NULL;
    }
    if (kiln_array_dtype(m) != KILN_DTYPE_BOOL || kiln_array_ndim(m) == 0) {
        return NULL;
    }
    return m;
}

/* x with v written where the mask m (x's leading axes) holds, as MLX:
 * v broadcast to x's shape, or else one value (a row of x's trailing
 * axes) per true element of m, in order, which reads m's count. */
static kiln_array *mask_set(pool *pl, kiln_array *x, kiln_array *m,
                            PyObject *v)
{
    int nd = kiln_array_ndim(x), k = kiln_array_ndim(m);
    const int64_t *xs = kiln_array_shape(x), *ms = kiln_array_shape(m);
    bool fits = k <= nd;
    for (int i = 0; fits && i < k; i++) {
        fits = ms[i] == xs[i];
    }
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "boolean index does not match "
                        "the leading dimensions of the array");
        return NULL;
    }
    kiln_dtype dt = kiln_array_dtype(x);
    kiln_array *u = keep(pl, pk_convert_operand(v, dt));
    u = u ? keep(pl, kiln_astype(u, dt)) : NULL;
    if (!u) {
        return NULL;
    }
    int trail[KILN_MAX_NDIM];
    for (int i = k; i < nd; i++) {
        trail[i - k] = i;
    }
    kiln_array *me = nd > k ? keep(pl, kiln_expand_dims(m, trail, nd - k))
                            : m;
    /* As numpy: v broadcasts to (count,) + x.shape[k:]. Without a count
     * axis of its own (or with one of length 1) every position gets the
     * same row: a where, no count needed. */
    int un = kiln_array_ndim(u);
    const int64_t *us = kiln_array_shape(u);
    if (un <= nd - k || (un == nd - k + 1 && us[0] == 1)) {
        return me ? keep(pl, kiln_where(me, u, x)) : NULL;
    }
    /* one row per true element, in order: v's first axis is the count */
    int64_t count = 0;
    kiln_array *c = keep(pl, kiln_sum(m, NULL, 0, false));
    if (!c || kiln_array_item_i64(c, &count) != KILN_OK) {
        return NULL;
    }
    if (count == 0 && un == nd - k + 1 && us[0] == 0) {
        return x; /* nothing masked, nothing to write */
    }
    int64_t ts[KILN_MAX_NDIM];
    ts[0] = count;
    for (int i = k; i < nd; i++) {
        ts[i - k + 1] = xs[i];
    }
    if (un != nd - k + 1 || us[0] != count) {
        PyErr_Format(PyExc_ValueError, "cannot assign values of %d "
                     "dimensions with %lld rows to %lld masked positions",
                     un, (long long)us[0], (long long)count);
        return NULL;
    }
    u = keep(pl, kiln_broadcast_to(u, ts, nd - k + 1));
    if (!u) {
        return NULL;
    }
    /* row index of each position: the number of true elements before */
    int64_t msz = kiln_array_size(m);
    kiln_array *flat = keep(pl, kiln_reshape(m, &msz, 1));
    kiln_array *cs = flat ? keep(pl, kiln_cumsum(keep(pl, kiln_astype(
                                               flat, KILN_DTYPE_INT64)),
                                           0, false, false, false))
                          : NULL;
    kiln_array *g = cs ? keep(pl, kiln_take(u, cs, 0, false)) : NULL;
    int64_t gs[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        gs[i] = xs[i];
    }
    g = g ? keep(pl, kiln_reshape(g, gs, nd)) : NULL;
    return g && me ? keep(pl, kiln_where(me, g, x)) : NULL;
}

int pk_index_set(PkArray *self, PyObject *key, PyObject *v)
{
    if (!v) {
        PyErr_SetString(PyExc_TypeError, "kiln arrays do not support item "
                        "deletion");
        return -1;
    }
    pool pl = {0};
    /* held: the key's __index__ or v's __array__ may assign into self */
    kiln_array *x = keep(&pl, kiln_array_retain(self->a));
    kiln_array *m = x ? bool_mask(&pl, key) : NULL;
    kiln_array *y = m    ? mask_set(&pl, x, m, v)
                    : x ? update(&pl, x, key, v, OP_SET)
                        : NULL;
    int st = -1;
    if (y) {
        kiln_array *old = self->a;
        self->a = kiln_array_retain(y);
        kiln_array_release(old);
        st = 0;
    } else {
        pk_raise(); /* keeps a Python error; clears a kiln one */
    }
    drain(&pl);
    return st;
}

/* ------------------------------------------------------------------ */
/* x.at[key].add(v) and friends                                       */
/* ------------------------------------------------------------------ */

typedef struct ArrayAt {
    PyObject_HEAD
    kiln_array *a;  /* the array's value when .at was read (owned) */
    PyObject *key;  /* NULL until indexed */
} ArrayAt;

static PyTypeObject ArrayAt_Type;

static PyObject *at_new(kiln_array *a, PyObject *key)
{
    ArrayAt *at = PyObject_New(ArrayAt, &ArrayAt_Type);
    if (!at) {
        return NULL;
    }
    at->a = kiln_array_retain(a);
    at->key = Py_XNewRef(key);
    return (PyObject *)at;
}

PyObject *pk_index_at(PkArray *self)
{
    return at_new(self->a, NULL);
}

static void at_dealloc(PyObject *o)
{
    ArrayAt *at = (ArrayAt *)o;
    kiln_array_release(at->a);
    Py_XDECREF(at->key);
    PyObject_Free(o);
}

static PyObject *at_getitem(PyObject *o, PyObject *key)
{
    return at_new(((ArrayAt *)o)->a, key);
}

static PyObject *at_apply(PyObject *o, PyObject *v, int op)
{
    ArrayAt *at = (ArrayAt *)o;
    if (!at->key) {
        PyErr_SetString(PyExc_IndexError, "x.at needs an index first: "
                        "x.at[idx].add(y)");
        return NULL;
    }
    pool pl = {0};
    kiln_array *y = update(&pl, at->a, at->key, v, op);
    PyObject *r = NULL;
    if (y) {
        r = pk_wrap(kiln_array_retain(y));
    } else {
        pk_raise(); /* keeps a Python error; clears a kiln one */
    }
    drain(&pl);
    return r;
}

/* One method per op, e.g. AT_METHOD(add, OP_ADD) defines at_add(self, v)
 * as at_apply(self, v, OP_ADD). */
#define AT_METHOD(name, op)                                               \
    static PyObject *at_##name(PyObject *o, PyObject *v)                  \
    {                                                                     \
        return at_apply(o, v, op);                                        \
    }
AT_METHOD(add, OP_ADD)
AT_METHOD(subtract, OP_SUBTRACT)
AT_METHOD(multiply, OP_MULTIPLY)
AT_METHOD(divide, OP_DIVIDE)
AT_METHOD(maximum, OP_MAXIMUM)
AT_METHOD(minimum, OP_MINIMUM)
#undef AT_METHOD

static PyMethodDef at_methods[] = {
    {"add", at_add, METH_O, "x with y added at the indices (repeated "
     "indices accumulate)"},
    {"subtract", at_subtract, METH_O, "x with y subtracted at the indices"},
    {"multiply", at_multiply, METH_O, "x multiplied by y at the indices"},
    {"divide", at_divide, METH_O, "x divided by y at the indices"},
    {"maximum", at_maximum, METH_O, "the maximum of x and y at the "
     "indices"},
    {"minimum", at_minimum, METH_O, "the minimum of x and y at the "
     "indices"},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods at_as_mapping = {
    .mp_subscript = at_getitem,
};

static PyTypeObject ArrayAt_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.ArrayAt",
    .tp_basicsize = sizeof(ArrayAt),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "x.at[idx]: updates of x at indices, as new arrays.",
    .tp_dealloc = at_dealloc,
    .tp_as_mapping = &at_as_mapping,
    .tp_methods = at_methods,
};

int pk_index_init(PyObject *m)
{
    if (PyType_Ready(&ArrayAt_Type) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "ArrayAt", (PyObject *)&ArrayAt_Type);
}

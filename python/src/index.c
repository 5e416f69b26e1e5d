/*
 * index.c - x[key] for kiln.array, with numpy's indexing rules, and the
 * resolution of a key that assignment (index_set.c) shares.
 *
 * A key is an entry or a tuple of entries: ints (negative wrap; out of
 * range raises IndexError), slices (any step), None (a new axis of
 * length 1), one Ellipsis, and integer arrays (kiln.array, numpy arrays,
 * lists of ints). Reading through a boolean mask raises ValueError, as
 * in MLX (its shape would depend on the values); so does a bool key (MLX
 * reads x[True] as x[1], numpy as a new axis: too surprising either way
 * to copy). Assigning through one, x[mask] = v, works as in MLX: a where
 * (mask_set, index_set.c).
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
 *
 * Array indices from Python data (lists, numpy) are bounds-checked
 * (IndexError); kiln.array indices are not read (that would evaluate
 * them): as kiln_take, they wrap once and are clamped into the axis.
 *
 * Invariants: every kiln array made while working on a key goes into a
 * pool released on return, so each path releases everything.
 */
#include "index.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* a pool of temporaries                                              */
/* ------------------------------------------------------------------ */

/* Records a (may be NULL) for release by pk_index_drain(); returns a. */
kiln_array *pk_index_keep(pool *p, kiln_array *a)
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

void pk_index_drain(pool *p)
{
    for (int i = 0; i < p->n; i++) {
        kiln_array_release(p->a[i]);
    }
    PyMem_Free(p->a);
    p->a = NULL;
    p->n = p->cap = 0;
}

PyObject *pk_index_finish(pool *p, kiln_array *y)
{
    PyObject *r = NULL;
    if (y) {
        r = pk_wrap(kiln_array_retain(y));
    } else {
        pk_raise(); /* keeps a Python error; clears a kiln one */
    }
    pk_index_drain(p);
    return r;
}

kiln_array *pk_index_i64(pool *p, int64_t v)
{
    return pk_index_keep(p, kiln_scalar_i64(v, KILN_DTYPE_INT64));
}

kiln_array *pk_index_reshape(pool *p, kiln_array *x, const int64_t *shape,
                             int nd)
{
    return pk_index_keep(p, kiln_reshape(x, shape, nd));
}

/* ------------------------------------------------------------------ */
/* parsing a key                                                      */
/* ------------------------------------------------------------------ */

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
    kiln_array *a = pk_index_keep(p, pk_to_array(o, -1));
    if (a && kiln_array_size(a) == 0 &&
        !kiln_dtype_is_integer(kiln_array_dtype(a))) {
        /* [] is an empty list of indices */
        a = pk_index_keep(p, kiln_astype(a, KILN_DTYPE_INT32));
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
        e->arr = pk_index_keep(p, kiln_array_retain(((PkArray *)o)->a));
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
int pk_index_make_plan(pool *pl, kiln_array *x, PyObject *key, plan *p)
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
    p->x1 = pk_index_keep(pl, p->any_none ? kiln_expand_dims(x, p->nones, p->nn)
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
kiln_array *pk_index_block(pool *pl, const plan *p)
{
    if (!p->sliced) {
        return p->x1;
    }
    return pk_index_keep(pl, kiln_slice(p->x1, p->start, p->stop, p->step));
}

/* ------------------------------------------------------------------ */
/* advanced indices                                                   */
/* ------------------------------------------------------------------ */

/* The axis order with the advanced axes first (perm) and the lengths of
 * the others (rest). */
int pk_index_advanced_first(const plan *p, int *perm, int64_t *rest)
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

int pk_index_view_shape(const plan *p, const int64_t *bs, int bnd, int *perm,
                     int64_t *rest, int *nr, int *at, int64_t *shape)
{
    *nr = pk_index_advanced_first(p, perm, rest);
    if (bnd + *nr > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_IndexError, "the result would have more than "
                     "%d dimensions", KILN_MAX_NDIM);
        return -1;
    }
    /* B in place of the advanced axes, or first */
    int nd = 0;
    *at = p->adjacent ? p->adv[0] : 0;
    for (int i = 0; i < *at; i++) {
        shape[nd++] = rest[i];
    }
    for (int i = 0; i < bnd; i++) {
        shape[nd++] = bs[i];
    }
    for (int i = *at; i < *nr; i++) {
        shape[nd++] = rest[i];
    }
    return nd;
}

/* The flat index into the advanced axes of the block, broadcast to the
 * indices' shape B (pooled); *npos is the number of positions P. Each
 * index is wrapped and clamped into its axis, except (for_take) a lone
 * array, which kiln_take wraps and clamps itself. */
kiln_array *pk_index_flat_index(pool *pl, const plan *p, int64_t *npos,
                             int for_take)
{
    if (p->nadv == 1 && for_take) {
        /* one array: kiln_take wraps and clamps it the same way */
        *npos = p->len[p->adv[0]];
        return p->arr[p->adv[0]];
    }
    kiln_array *flat = pk_index_i64(pl, 0);
    int64_t stride = 1;
    for (int i = p->nadv - 1; i >= 0; i--) {
        int j = p->adv[i];
        int64_t n = p->len[j];
        if (p->kind[j] == IX_ARRAY && n > 0) {
            kiln_array *idx =
                pk_index_keep(pl, kiln_astype(p->arr[j], KILN_DTYPE_INT64));
            kiln_array *neg =
                pk_index_keep(pl, kiln_less(idx, pk_index_i64(pl, 0)));
            kiln_array *w = pk_index_keep(
                pl,
                kiln_where(
                    neg, pk_index_keep(pl, kiln_add(idx, pk_index_i64(pl, n))),
                    idx));
            w = pk_index_keep(
                pl, kiln_clip(w, pk_index_i64(pl, 0), pk_index_i64(pl, n - 1)));
            w = pk_index_keep(pl, kiln_multiply(w, pk_index_i64(pl, stride)));
            flat = pk_index_keep(pl, kiln_add(flat, w));
        } else if (p->kind[j] == IX_ARRAY) {
            /* an empty axis: only the shape of the indices matters */
            flat = pk_index_keep(
                pl,
                kiln_add(flat, pk_index_keep(pl, kiln_astype(p->arr[j],
                                                          KILN_DTYPE_INT64))));
        }
        stride *= n;
    }
    *npos = stride;
    if (!flat && !PyErr_Occurred()) {
        pk_raise();
    }
    return flat;
}

int pk_index_empty_axis_error(void)
{
    PyErr_SetString(PyExc_IndexError, "index 0 is out of bounds for an "
                    "axis of size 0");
    return -1;
}

/* y[advanced indices] for the block y; pooled. */
static kiln_array *gather(pool *pl, const plan *p, kiln_array *y)
{
    int64_t npos;
    kiln_array *f = pk_index_flat_index(pl, p, &npos, 1);
    if (!f) {
        return NULL;
    }
    int bnd = kiln_array_ndim(f);
    const int64_t *bs = kiln_array_shape(f);
    int perm[KILN_MAX_NDIM], nr, at;
    int64_t rest[KILN_MAX_NDIM], shape[KILN_MAX_NDIM];
    int nd = pk_index_view_shape(p, bs, bnd, perm, rest, &nr, &at, shape);
    if (nd < 0) {
        return NULL;
    }
    if (npos == 0) {
        if (kiln_array_size(f) > 0) {
            pk_index_empty_axis_error();
            return NULL;
        }
        return pk_index_keep(pl, kiln_zeros(shape, nd, kiln_array_dtype(y)));
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
        y = pk_index_keep(pl, kiln_transpose(y, perm, p->nd));
        merged[nm++] = npos;
        for (int i = 0; i < nr; i++) {
            merged[nm++] = rest[i];
        }
    }
    y = pk_index_reshape(pl, y, merged, nm);
    return pk_index_keep(pl, kiln_take(y, f, at, false));
}

/* ------------------------------------------------------------------ */
/* x[key]                                                             */
/* ------------------------------------------------------------------ */

static kiln_array *get(pool *pl, kiln_array *x, PyObject *key)
{
    plan p;
    if (pk_index_make_plan(pl, x, key, &p) < 0) {
        return NULL;
    }
    kiln_array *y = pk_index_block(pl, &p);
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
    return y && nax ? pk_index_keep(pl, kiln_squeeze(y, axes, nax)) : y;
}

PyObject *pk_index_get(PkArray *self, PyObject *key)
{
    pool pl = {0};
    /* held: the key's __index__ may assign into self, replacing self->a */
    kiln_array *x = pk_index_keep(&pl, kiln_array_retain(self->a));
    return pk_index_finish(&pl, x ? get(&pl, x, key) : NULL);
}

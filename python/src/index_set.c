/*
 * index_set.c - x[key] = v, x[mask] = v and x.at[key].add(v) etc. for
 * kiln.array, with numpy's rules; keys resolve as for x[key] (index.c,
 * through index.h).
 *
 * Assignment builds the new block and writes it back with kiln_slice_update
 * (for a pending x the value is aligned to the block by expand_dims and
 * broadcast against it, so shapeless replays follow new lengths:
 * combine_pending). Through arrays, the block's advanced axes flatten to P
 * positions and the K = size(B) updates are matched to them by a (P, K)
 * one-hot table (O(P * K) memory and time): for `=` the last update of a
 * position wins (as numpy), for x.at[...] ops every update of a position is
 * applied (add and subtract as a matmul with the table, the others as a
 * reduction over a (P, K, ...) where, O(P * K * R) for R elements per
 * position). Updates are cast to x's dtype first, and results keep it.
 *
 * Invariants: every kiln array made while working on a key goes into a
 * pool released on return, so each path releases everything; the
 * wrapper's array is replaced only once the new value exists.
 */
#include "index.h"

#include <math.h>
#include <string.h>

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
        u = pk_index_reshape(pl, u, us + s, un - s);
    }
    return pk_index_keep(pl, kiln_broadcast_to(u, shape, nd));
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
    r = pk_index_keep(pl, r);
    return pk_index_keep(pl, kiln_astype(r, kiln_array_dtype(y)));
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
    kiln_array *pos =
        pk_index_keep(pl, kiln_arange(0, (double)npos, 1, KILN_DTYPE_INT64));
    pos = pk_index_reshape(pl, pos, (int64_t[]){npos, 1}, 2);
    kiln_array *fr = pk_index_reshape(pl, f, (int64_t[]){1, nupd}, 2);
    kiln_array *match = pk_index_keep(pl, kiln_equal(pos, fr)); /* (P, K) */
    kiln_dtype dt = kiln_array_dtype(yr);
    if (op == OP_SET) {
        kiln_array *k = pk_index_keep(
            pl, kiln_arange(0, (double)nupd, 1, KILN_DTYPE_INT64));
        kiln_array *cand =
            pk_index_keep(pl, kiln_where(match, k, pk_index_i64(pl, -1)));
        int ax = 1;
        kiln_array *last = pk_index_keep(pl, kiln_max(cand, &ax, 1, false));
        kiln_array *has =
            pk_index_keep(pl, kiln_greater_equal(last, pk_index_i64(pl, 0)));
        kiln_array *g = pk_index_keep(
            pl,
            kiln_take(
                u, pk_index_keep(pl, kiln_maximum(last, pk_index_i64(pl, 0))),
                0, false));
        shape[0] = npos;
        for (int i = 1; i < nd; i++) {
            shape[i] = 1;
        }
        has = pk_index_reshape(pl, has, shape, nd);
        return pk_index_keep(pl, kiln_where(has, g, yr));
    }
    if (op == OP_ADD || op == OP_SUBTRACT) {
        kiln_array *m = pk_index_keep(pl, kiln_astype(match, dt));
        kiln_array *u2 = pk_index_reshape(pl, u, (int64_t[]){nupd, inner}, 2);
        kiln_array *s = pk_index_keep(pl, kiln_matmul(m, u2));
        s = pk_index_reshape(pl, s, ys, nd);
        return combine(pl, op, yr, s);
    }
    /* (P, K, R...) candidates reduced over K */
    shape[0] = npos;
    shape[1] = nupd;
    for (int i = 1; i < nd; i++) {
        shape[i + 1] = 1;
    }
    kiln_array *mr = pk_index_reshape(pl, match, shape, nd + 1);
    shape[0] = 1;
    for (int i = 1; i < nd; i++) {
        shape[i + 1] = ys[i];
    }
    kiln_array *ur = pk_index_reshape(pl, u, shape, nd + 1);
    int ax = 1;
    if (op == OP_MULTIPLY || op == OP_DIVIDE) {
        kiln_array *one = pk_index_keep(pl, kiln_scalar_i64(1, dt));
        kiln_array *e = pk_index_keep(pl, kiln_where(mr, ur, one));
        kiln_array *pr = pk_index_keep(pl, kiln_prod(e, &ax, 1, false));
        return combine(pl, op, yr, pr);
    }
    /* unmatched candidates are the reduction's identity (the dtype's
     * lowest value for max, its highest for min: infinities saturate to
     * them), so the old value takes part once, in combine; as the
     * unmatched candidates it tied with itself K times and had its
     * gradient split K ways (truncated to 0 for integers) */
    bool mx = op == OP_MAXIMUM;
    kiln_array *id =
        dt == KILN_DTYPE_BOOL
            ? kiln_scalar_f64(mx ? 0.0 : 1.0, KILN_DTYPE_BOOL)
            : kiln_astype(pk_index_keep(pl, kiln_scalar_f64(
                                                mx ? -INFINITY : INFINITY,
                                                KILN_DTYPE_FLOAT64)),
                          dt);
    kiln_array *e = pk_index_keep(
        pl, kiln_where(mr, ur, pk_index_keep(pl, id)));
    e = pk_index_keep(pl, op == OP_MAXIMUM ? kiln_max(e, &ax, 1, false)
                                        : kiln_min(e, &ax, 1, false));
    return combine(pl, op, yr, e);
}

/* The new block for an assignment through advanced indices; pooled. */
static kiln_array *scatter(pool *pl, int op, const plan *p, kiln_array *y,
                           kiln_array *u)
{
    int64_t npos;
    kiln_array *f = pk_index_flat_index(pl, p, &npos, 0);
    if (!f) {
        return NULL;
    }
    int bnd = kiln_array_ndim(f);
    int64_t nupd = kiln_array_size(f);
    int64_t bs[KILN_MAX_NDIM];
    memcpy(bs, kiln_array_shape(f), sizeof *bs * (size_t)bnd);
    int perm[KILN_MAX_NDIM], nr, at;
    int64_t rest[KILN_MAX_NDIM], shape[KILN_MAX_NDIM];
    /* u fits the view x[key] (B in place or first), then B goes first */
    int nd = pk_index_view_shape(p, bs, bnd, perm, rest, &nr, &at, shape);
    if (nd < 0) {
        return NULL;
    }
    u = fit(pl, u, shape, nd);
    if (!u) {
        return NULL;
    }
    if (nupd == 0) {
        return y;
    }
    if (npos == 0) {
        pk_index_empty_axis_error();
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
        u = pk_index_keep(pl, kiln_transpose(u, up, nd));
    }
    shape[0] = nupd;
    memcpy(shape + 1, rest, sizeof *rest * (size_t)nr);
    u = pk_index_reshape(pl, u, shape, nr + 1);
    kiln_array *fk = pk_index_reshape(pl, f, &nupd, 1);
    /* the block with its advanced axes first, merged to P positions */
    kiln_array *yt = pk_index_keep(pl, kiln_transpose(y, perm, p->nd));
    shape[0] = npos;
    kiln_array *yr = pk_index_reshape(pl, yt, shape, nr + 1);
    kiln_array *nr_ = scatter_rows(pl, op, yr, u, fk, npos, nupd);
    /* back to the block's shape and axis order */
    int64_t tshape[KILN_MAX_NDIM];
    int inv[KILN_MAX_NDIM];
    for (int i = 0; i < p->nd; i++) {
        tshape[i] = p->len[perm[i]];
        inv[perm[i]] = i;
    }
    kiln_array *bt = pk_index_reshape(pl, nr_, tshape, p->nd);
    return pk_index_keep(pl, kiln_transpose(bt, inv, p->nd));
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
        u = pk_index_reshape(pl, u, us + s, un - s);
        un -= s;
    }
    int ax[KILN_MAX_NDIM], na = 0;
    for (int i = 0; i < nd - un; i++) {
        ax[na++] = i;
    }
    u = u && na ? pk_index_keep(pl, kiln_expand_dims(u, ax, na)) : u;
    na = 0;
    for (int j = 0; j < p->nd; j++) {
        if (p->kind[j] == IX_INT) {
            ax[na++] = j;
        }
    }
    u = u && na ? pk_index_keep(pl, kiln_expand_dims(u, ax, na)) : u;
    if (!u) {
        return NULL;
    }
    if (op != OP_SET) {
        return combine(pl, op, y, u);
    }
    /* u in the block's shape: where(true in y's shape, u, u) */
    kiln_array *t = pk_index_keep(
        pl, kiln_astype(pk_index_keep(pl, kiln_ones_like(y)), KILN_DTYPE_BOOL));
    return t ? pk_index_keep(pl, kiln_where(t, u, u)) : NULL;
}

/* x with x[key] op= v; pooled. */
static kiln_array *update(pool *pl, kiln_array *x, PyObject *key,
                          PyObject *v, int op)
{
    plan p;
    if (pk_index_make_plan(pl, x, key, &p) < 0) {
        return NULL;
    }
    kiln_dtype dt = kiln_array_dtype(x);
    kiln_array *u = pk_index_keep(pl, pk_convert_operand(v, dt));
    if (!u) {
        return NULL;
    }
    u = pk_index_keep(pl, kiln_astype(u, dt));
    kiln_array *y = pk_index_block(pl, &p);
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
            u = pk_index_reshape(pl, u, p.len, p.nd);
            blk = u ? combine(pl, op, y, u) : NULL;
        } else {
            blk = combine_pending(pl, op, &p, y, u, nd);
        }
    }
    if (!blk) {
        return NULL;
    }
    kiln_array *x1 =
        p.sliced ? pk_index_keep(pl, kiln_slice_update(p.x1, blk, p.start,
                                                       p.stop, p.step))
                 : blk;
    if (p.any_none) {
        x1 = pk_index_keep(pl, kiln_squeeze(x1, p.nones, p.nn));
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
    kiln_array *m = pk_index_keep(pl, pk_to_array(key, -1));
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
    kiln_array *u = pk_index_keep(pl, pk_convert_operand(v, dt));
    u = u ? pk_index_keep(pl, kiln_astype(u, dt)) : NULL;
    if (!u) {
        return NULL;
    }
    int trail[KILN_MAX_NDIM];
    for (int i = k; i < nd; i++) {
        trail[i - k] = i;
    }
    kiln_array *me =
        nd > k ? pk_index_keep(pl, kiln_expand_dims(m, trail, nd - k)) : m;
    /* As numpy: v broadcasts to (count,) + x.shape[k:]. Without a count
     * axis of its own (or with one of length 1) every position gets the
     * same row: a where, no count needed. */
    int un = kiln_array_ndim(u);
    const int64_t *us = kiln_array_shape(u);
    if (un <= nd - k || (un == nd - k + 1 && us[0] == 1)) {
        return me ? pk_index_keep(pl, kiln_where(me, u, x)) : NULL;
    }
    /* one row per true element, in order: v's first axis is the count */
    int64_t count = 0;
    kiln_array *c = pk_index_keep(pl, kiln_sum(m, NULL, 0, false));
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
    u = pk_index_keep(pl, kiln_broadcast_to(u, ts, nd - k + 1));
    if (!u) {
        return NULL;
    }
    /* row index of each position: the number of true elements before */
    int64_t msz = kiln_array_size(m);
    kiln_array *flat = pk_index_keep(pl, kiln_reshape(m, &msz, 1));
    kiln_array *cs =
        flat ? pk_index_keep(
                   pl, kiln_cumsum(pk_index_keep(
                                       pl, kiln_astype(flat, KILN_DTYPE_INT64)),
                                   0, false, false, false))
             : NULL;
    kiln_array *g = cs ? pk_index_keep(pl, kiln_take(u, cs, 0, false)) : NULL;
    int64_t gs[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        gs[i] = xs[i];
    }
    g = g ? pk_index_keep(pl, kiln_reshape(g, gs, nd)) : NULL;
    return g && me ? pk_index_keep(pl, kiln_where(me, g, x)) : NULL;
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
    kiln_array *x = pk_index_keep(&pl, kiln_array_retain(self->a));
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
    pk_index_drain(&pl);
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
    return pk_index_finish(&pl, update(&pl, at->a, at->key, v, op));
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

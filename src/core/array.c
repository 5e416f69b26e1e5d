/*
 * array.c - array handles, graph nodes, teardown, scopes and lists.
 *
 * See array.h for the ownership rules. The one subtle part is release:
 * dropping the last reference to an array may drop the last reference to
 * its node, which drops its inputs, and so on down a chain of any length.
 * kiln_array_release walks that with an explicit worklist, never recursion.
 */
#include "array.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "error.h"
#include "shape.h"

/* ------------------------------------------------------------------ */
/* arrays                                                             */
/* ------------------------------------------------------------------ */

kiln_array *kiln__array_new(kiln_dtype dt, int ndim, const int64_t *shape,
                            const char *fn)
{
    int64_t size;
    if (!kiln__dtype_valid(dt)) {
        kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", fn, (int)dt);
        return NULL;
    }
    if (kiln__shape_size(shape, ndim, kiln_dtype_size(dt), &size, fn)) {
        return NULL;
    }
    kiln_array *a = calloc(1, sizeof *a);
    if (!a) {
        kiln__err_oom(fn, sizeof *a);
        return NULL;
    }
    atomic_init(&a->rc, 1);
    a->dtype = dt;
    a->ndim = ndim;
    a->size = size;
    if (ndim > 0) {
        memcpy(a->shape, shape, sizeof *shape * (size_t)ndim);
    }
    return a;
}

kiln_status kiln__array_alloc(kiln_array *a, const char *fn)
{
    size_t nbytes = (size_t)a->size * kiln_dtype_size(a->dtype);
    kiln_buffer *b = kiln__buffer_new(nbytes);
    if (!b) {
        return kiln__err_oom(fn, nbytes);
    }
    kiln__buffer_release(a->buf);
    a->buf = b;
    a->offset = 0;
    kiln__shape_strides(a->shape, a->ndim, a->strides);
    return KILN_OK;
}

void kiln__array_set_view(kiln_array *a, const kiln_array *src,
                          int64_t offset, const int64_t *strides)
{
    kiln_buffer *b = kiln__buffer_retain(src->buf);
    kiln__buffer_release(a->buf);
    a->buf = b;
    a->offset = offset;
    if (a->ndim > 0) {
        memcpy(a->strides, strides, sizeof *strides * (size_t)a->ndim);
    }
}

bool kiln__array_is_contiguous(const kiln_array *a)
{
    int64_t s = 1;
    for (int i = a->ndim - 1; i >= 0; i--) {
        if (a->shape[i] != 1 && a->strides[i] != s) {
            return false;
        }
        s *= a->shape[i];
    }
    return true;
}

bool kiln__array_donate(kiln_array *out, kiln_array *in)
{
    if (!in->buf || atomic_load(&in->rc) != 1 ||
        atomic_load(&in->buf->rc) != 1 || in->offset != 0 ||
        kiln_dtype_size(in->dtype) != kiln_dtype_size(out->dtype) ||
        in->size != out->size || !kiln__array_is_contiguous(in)) {
        return false;
    }
    kiln__buffer_release(out->buf);
    out->buf = kiln__buffer_retain(in->buf);
    out->offset = 0;
    kiln__shape_strides(out->shape, out->ndim, out->strides);
    return true;
}

char *kiln__array_ptr(const kiln_array *a)
{
    return (char *)a->buf->data +
           a->offset * (int64_t)kiln_dtype_size(a->dtype);
}

void kiln__array_byte_strides(const kiln_array *a, int64_t *out)
{
    int64_t isz = (int64_t)kiln_dtype_size(a->dtype);
    for (int i = 0; i < a->ndim; i++) {
        out[i] = a->strides[i] * isz;
    }
}

void kiln__array_meta(const kiln_array *a, kiln_meta *m)
{
    m->dtype = a->dtype;
    m->ndim = a->ndim;
    if (a->ndim > 0) {
        memcpy(m->shape, a->shape, sizeof *a->shape * (size_t)a->ndim);
    }
}

kiln_array *kiln_array_retain(kiln_array *a)
{
    if (a) {
        atomic_fetch_add_explicit(&a->rc, 1, memory_order_relaxed);
    }
    return a;
}

/* A growable stack of arrays whose refcount reached zero. */
typedef struct {
    kiln_array **items;
    size_t n, cap;
    kiln_array *local[64];
} dead_stack;

static void dead_push(dead_stack *s, kiln_array *a)
{
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        kiln_array **items = s->items == s->local
                                 ? malloc(cap * sizeof *items)
                                 : realloc(s->items, cap * sizeof *items);
        if (!items) {
            /* Cannot grow: leak this subgraph rather than crash or
             * recurse. Only reachable when malloc fails during teardown. */
            return;
        }
        if (s->items == s->local) {
            memcpy(items, s->local, sizeof s->local);
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n++] = a;
}

static bool unref(atomic_int *rc)
{
    return atomic_fetch_sub_explicit(rc, 1, memory_order_acq_rel) == 1;
}

/* Frees a node whose refcount reached zero, pushing inputs that die. */
static void destroy_node(kiln_node *n, dead_stack *s)
{
    for (int i = 0; i < n->nin; i++) {
        if (n->in[i] && unref(&n->in[i]->rc)) {
            dead_push(s, n->in[i]);
        }
    }
    if (n->params && n->prim->params_release) {
        n->prim->params_release(n->params);
    }
    free(n);
}

/* Frees every dead array on s and whatever dies with it (their nodes, and
 * those nodes' inputs), then the stack's own storage. */
static void drain(dead_stack *s)
{
    while (s->n > 0) {
        kiln_array *x = s->items[--s->n];
        kiln_node *n = x->node;
        kiln__buffer_release(x->buf);
        if (n) {
            n->out[x->out_index] = NULL;
            if (unref(&n->rc)) {
                destroy_node(n, s);
            }
        }
        free(x);
    }
    if (s->items != s->local) {
        free(s->items);
    }
}

void kiln_array_release(kiln_array *a)
{
    if (!a || !unref(&a->rc)) {
        return;
    }
    dead_stack s = {.items = NULL, .n = 0, .cap = 64};
    s.items = s.local;
    dead_push(&s, a);
    drain(&s);
}

kiln_node *kiln__node_retain(kiln_node *n)
{
    if (n) {
        atomic_fetch_add_explicit(&n->rc, 1, memory_order_relaxed);
    }
    return n;
}

void kiln__node_release(kiln_node *n)
{
    if (!n || !unref(&n->rc)) {
        return;
    }
    dead_stack s = {.items = NULL, .n = 0, .cap = 64};
    s.items = s.local;
    destroy_node(n, &s);
    drain(&s);
}

/* ------------------------------------------------------------------ */
/* nodes                                                              */
/* ------------------------------------------------------------------ */

/* infer names its primitive; the user called `fn` (kiln_clip reaching
 * maximum, say): make the message name the entry point. */
static void rename_entry_point(const char *prim, const char *fn)
{
    char msg[1024];
    size_t np = strlen(prim);
    const char *m = kiln_errmsg();
    if (!fn || strcmp(prim, fn) == 0 || m[0] != '[' ||
        strncmp(m + 1, prim, np) != 0 || m[np + 1] != ']') {
        return;
    }
    snprintf(msg, sizeof msg, "%s", m + np + 2);
    kiln__err(kiln_errcode(), "[%s]%s", fn, msg);
}

kiln_status kiln__node_infer(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin, kiln_meta *outm,
                             int *nout, const char *fn)
{
    kiln_meta inm_local[4] = {{0}};
    kiln_meta *inm = inm_local;
    kiln_status st = KILN_OK;
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            return kiln__err_null(fn);
        }
    }
    if (nin > 4) {
        inm = malloc(sizeof *inm * (size_t)nin);
        if (!inm) {
            return kiln__err_oom(fn, sizeof *inm * (size_t)nin);
        }
    }
    for (int i = 0; i < nin; i++) {
        kiln__array_meta(in[i], &inm[i]);
    }
    st = p->infer(p, params, inm, nin, outm, nout);
    if (inm != inm_local) {
        free(inm);
    }
    if (st != KILN_OK) {
        rename_entry_point(p->name, fn);
    }
    return st;
}

kiln_status kiln__node_make(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin, kiln_array **outs,
                            int *nout, const char *fn)
{
    kiln_meta outm[KILN_MAX_OUTPUTS];
    int no = 0;
    kiln_status st = kiln__node_infer(p, params, in, nin, outm, &no, fn);
    if (st != KILN_OK) {
        return st;
    }
    size_t psz = p->params_size;
    size_t sz = sizeof(kiln_node) + sizeof(kiln_array *) * (size_t)nin;
    kiln_node *n = calloc(1, sz + psz);
    if (!n) {
        return kiln__err_oom(fn, sz + psz);
    }
    n->in = (kiln_array **)(n + 1);
    n->params = psz ? (char *)n + sz : NULL;
    if (psz) {
        memcpy(n->params, params, psz);
        if (p->params_retain) {
            p->params_retain(n->params);
        }
    }
    n->prim = p;
    n->nin = nin;
    n->nout = no;
    atomic_init(&n->rc, 0);
    for (int i = 0; i < no; i++) {
        kiln_array *o = kiln__array_new(outm[i].dtype, outm[i].ndim,
                                        outm[i].shape, fn);
        if (!o) {
            for (int j = 0; j < i; j++) {
                n->out[j]->node = NULL;
                kiln_array_release(n->out[j]);
            }
            if (psz && p->params_release) {
                p->params_release(n->params);
            }
            free(n);
            return kiln_errcode();
        }
        o->node = n;
        o->out_index = i;
        n->out[i] = o;
    }
    atomic_store(&n->rc, no);
    for (int i = 0; i < nin; i++) {
        n->in[i] = kiln_array_retain(in[i]);
    }
    for (int i = 0; i < no; i++) {
        outs[i] = n->out[i];
    }
    *nout = no;
    return KILN_OK;
}

kiln_array *kiln__node_make1(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin, const char *fn)
{
    kiln_array *outs[KILN_MAX_OUTPUTS];
    int no = 0;
    if (kiln__node_make(p, params, in, nin, outs, &no, fn) != KILN_OK) {
        return NULL;
    }
    for (int i = 1; i < no; i++) {
        kiln_array_release(outs[i]);
    }
    return outs[0];
}

/* ------------------------------------------------------------------ */
/* scopes                                                             */
/* ------------------------------------------------------------------ */

typedef struct scope {
    kiln_array **items;
    size_t n, cap;
} scope;

static _Thread_local scope *scopes;
static _Thread_local size_t nscopes, scopes_cap;
/* scopes that could not be opened (out of memory): their arrays went to
 * the enclosing scope, and their kiln_scope_end must not close it */
static _Thread_local size_t unopened_scopes;

static bool scope_push_item(scope *s, kiln_array *a)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        kiln_array **items = realloc(s->items, cap * sizeof *items);
        if (!items) {
            return false;
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n++] = a;
    return true;
}

kiln_array *kiln__ret(kiln_array *a)
{
    if (a && nscopes > 0 && !scope_push_item(&scopes[nscopes - 1], a)) {
        /* Could not record it: the caller of a scoped API does not
         * release, so report out of memory rather than leak silently. */
        kiln_array_release(a);
        kiln__err_oom("scope", sizeof a);
        return NULL;
    }
    return a;
}

void kiln_scope_begin(void)
{
    if (nscopes == scopes_cap) {
        size_t cap = scopes_cap ? scopes_cap * 2 : 8;
        scope *s = realloc(scopes, cap * sizeof *s);
        if (!s) {
            /* Out of memory: the new scope is not opened; its arrays go
             * to the enclosing one. Recorded so the caller can see it. */
            if (kiln_errcode() == KILN_OK) {
                kiln__err_oom("scope_begin", cap * sizeof *s);
            }
            unopened_scopes++;
            return;
        }
        scopes = s;
        scopes_cap = cap;
    }
    scopes[nscopes].items = NULL;
    scopes[nscopes].n = 0;
    scopes[nscopes].cap = 0;
    nscopes++;
}

kiln_array *kiln_scope_keep(kiln_array *a)
{
    if (a && nscopes > 0) {
        /* one extra reference, handed on when the scope ends */
        kiln_array_retain(a);
        if (nscopes > 1 && !scope_push_item(&scopes[nscopes - 2], a)) {
            /* the enclosing scope cannot own it: drop the extra
             * reference rather than leak it, and say so */
            kiln_array_release(a);
            if (kiln_errcode() == KILN_OK) {
                kiln__err_oom("scope_keep", sizeof a);
            }
        }
    }
    return a;
}

kiln_array *kiln_scope_end(kiln_array *keep)
{
    if (unopened_scopes > 0) {
        /* what was returned inside, keep included, is already owned by
         * the enclosing scope (or, with none, by the caller) */
        unopened_scopes--;
        return keep;
    }
    if (nscopes == 0) {
        return keep;
    }
    kiln_scope_keep(keep);
    scope *s = &scopes[--nscopes];
    for (size_t i = 0; i < s->n; i++) {
        kiln_array_release(s->items[i]);
    }
    free(s->items);
    if (nscopes == 0) {
        free(scopes);
        scopes = NULL;
        scopes_cap = 0;
    }
    return keep;
}

/* ------------------------------------------------------------------ */
/* creation from host values and accessors                            */
/* ------------------------------------------------------------------ */

kiln_array *kiln_array_from_data(const void *data, const int64_t *shape,
                                 int ndim, kiln_dtype dt)
{
    const char *fn = "array_from_data";
    kiln_array *a = kiln__array_new(dt, ndim, shape, fn);
    if (!a) {
        return NULL;
    }
    if (!data && a->size > 0) {
        kiln_array_release(a);
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__array_alloc(a, fn) != KILN_OK) {
        kiln_array_release(a);
        return NULL;
    }
    if (a->size > 0) {
        memcpy(a->buf->data, data, (size_t)a->size * kiln_dtype_size(dt));
    }
    return kiln__ret(a);
}

static kiln_array *scalar_new(kiln_dtype dt, const char *fn)
{
    kiln_array *a = kiln__array_new(dt, 0, NULL, fn);
    if (a && kiln__array_alloc(a, fn) != KILN_OK) {
        kiln_array_release(a);
        return NULL;
    }
    return a;
}

kiln_array *kiln_scalar_f64(double v, kiln_dtype dt)
{
    kiln_array *a = scalar_new(dt, "scalar");
    if (a) {
        kiln__dtype_store_f64(a->buf->data, dt, v);
    }
    return kiln__ret(a);
}

kiln_array *kiln_scalar_i64(int64_t v, kiln_dtype dt)
{
    kiln_array *a = scalar_new(dt, "scalar");
    if (a) {
        kiln__dtype_store_i64(a->buf->data, dt, v);
    }
    return kiln__ret(a);
}

kiln_array *kiln_scalar_u64(uint64_t v, kiln_dtype dt)
{
    kiln_array *a = scalar_new(dt, "scalar");
    if (a) {
        kiln__dtype_store_u64(a->buf->data, dt, v);
    }
    return kiln__ret(a);
}

kiln_array *kiln_scalar_bool(bool v)
{
    kiln_array *a = scalar_new(KILN_DTYPE_BOOL, "scalar");
    if (a) {
        *(uint8_t *)a->buf->data = v;
    }
    return kiln__ret(a);
}

kiln_array *kiln__scalar(double v, kiln_dtype dt, bool weak)
{
    kiln_array *a = scalar_new(dt, "scalar");
    if (a) {
        kiln__dtype_store_f64(a->buf->data, dt, v);
        a->weak = weak;
        a->weak_exact = weak;
        a->wfloat = v;
    }
    return a;
}

kiln_array *kiln_weak_f64(double v)
{
    return kiln__ret(kiln__scalar(v, KILN_DTYPE_FLOAT32, true));
}

kiln_array *kiln_weak_i64(int64_t v)
{
    /* int32 like MLX's Python ints, int64 when the value needs it */
    bool small = v >= INT32_MIN && v <= INT32_MAX;
    kiln_dtype dt = small ? KILN_DTYPE_INT32 : KILN_DTYPE_INT64;
    kiln_array *a = scalar_new(dt, "weak_i64");
    if (a) {
        kiln__dtype_store_i64(a->buf->data, dt, v);
        a->weak = true;
        a->weak_exact = true;
        a->weak_is_int = true;
        a->wint = v;
    }
    return kiln__ret(a);
}

bool kiln_array_is_weak(const kiln_array *a)
{
    return a && a->weak;
}

int kiln_array_ndim(const kiln_array *a)
{
    return a ? a->ndim : 0;
}

const int64_t *kiln_array_shape(const kiln_array *a)
{
    return a ? a->shape : NULL;
}

int64_t kiln_array_dim(const kiln_array *a, int axis)
{
    int ax = 0;
    if (!a) {
        kiln__err_null("array_dim");
        return -1;
    }
    if (kiln__shape_axis(axis, a->ndim, &ax, "array_dim") != KILN_OK) {
        return -1;
    }
    return a->shape[ax];
}

int64_t kiln_array_size(const kiln_array *a)
{
    return a ? a->size : 0;
}

kiln_dtype kiln_array_dtype(const kiln_array *a)
{
    return a ? a->dtype : KILN_DTYPE_FLOAT32;
}

size_t kiln_array_itemsize(const kiln_array *a)
{
    return a ? kiln_dtype_size(a->dtype) : 0;
}

size_t kiln_array_nbytes(const kiln_array *a)
{
    return a ? (size_t)a->size * kiln_dtype_size(a->dtype) : 0;
}

bool kiln_array_is_evaluated(const kiln_array *a)
{
    return a && a->buf != NULL;
}

/* ------------------------------------------------------------------ */
/* lists                                                              */
/* ------------------------------------------------------------------ */

struct kiln_list {
    kiln_array **items;
    size_t n, cap;
};

kiln_list *kiln_list_new(void)
{
    kiln_list *l = calloc(1, sizeof *l);
    if (!l) {
        kiln__err_oom("list_new", sizeof *l);
    }
    return l;
}

void kiln_list_free(kiln_list *l)
{
    if (!l) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        kiln_array_release(l->items[i]);
    }
    free(l->items);
    free(l);
}

size_t kiln_list_size(const kiln_list *l)
{
    return l ? l->n : 0;
}

kiln_array *kiln_list_get(const kiln_list *l, size_t i)
{
    if (!l) {
        kiln__err_null("list_get");
        return NULL;
    }
    if (i >= l->n) {
        kiln__err(KILN_ERR_INDEX, "[list_get] index %zu out of range", i);
        return NULL;
    }
    return l->items[i];
}

kiln_status kiln_list_push(kiln_list *l, kiln_array *a)
{
    if (!l || !a) {
        return kiln__err_null("list_push");
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        kiln_array **items = realloc(l->items, cap * sizeof *items);
        if (!items) {
            return kiln__err_oom("list_push", cap * sizeof *items);
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = kiln_array_retain(a);
    return KILN_OK;
}

kiln_status kiln_list_set(kiln_list *l, size_t i, kiln_array *a)
{
    if (!l || !a) {
        return kiln__err_null("list_set");
    }
    if (i >= l->n) {
        return kiln__err(KILN_ERR_INDEX, "[list_set] index %zu out of range",
                         i);
    }
    kiln_array_retain(a);
    kiln_array_release(l->items[i]);
    l->items[i] = a;
    return KILN_OK;
}

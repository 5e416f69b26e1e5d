/*
 * eval.c - the scheduler: evaluates pending arrays, and data access.
 *
 * kiln_eval collects the nodes reachable from the requested arrays in
 * topological order (iterative depth-first search; a node is visited once
 * per call, so shared work runs once), then runs each node's eval_cpu and
 * detaches its outputs from the graph. The order list holds one reference
 * per node; it is dropped right after the node runs, so an intermediate's
 * buffer returns to the pool as soon as its last consumer has run, and a
 * consumer can reuse (donate) the buffer of an input nothing else holds.
 *
 * On failure the nodes already run stay evaluated; the rest stay pending,
 * and the error names the primitive that failed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/copy_cpu.h"
#include "../core/array.h"
#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "eval.h"

static atomic_uint_fast64_t eval_epoch;

/* Test observer: called after every node runs (see eval.h). */
kiln_eval_observer kiln__eval_observer;

typedef struct {
    kiln_node **items;
    size_t n, cap;
} node_vec;

static bool vec_push(node_vec *v, kiln_node *n)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        kiln_node **items = realloc(v->items, cap * sizeof *items);
        if (!items) {
            return false;
        }
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = n;
    return true;
}

typedef struct {
    kiln_node *node;
    int next; /* next input to visit */
} frame;

/* An array with neither data nor a node is a placeholder of compile's
 * trace: it has a shape and dtype, no values. */
static kiln_status placeholder_error(void)
{
    /* a value error, as MLX's (Python: ValueError) */
    return kiln__err(KILN_ERR_VALUE,
                     "[eval] cannot evaluate an array while a function is "
                     "being traced (kiln_compile, kiln_grad, kiln_vjp, "
                     "kiln_jvp, kiln_vmap): its arguments are placeholders "
                     "with a shape and dtype but no values. Return the array "
                     "from the function instead of evaluating or reading "
                     "it; to debug a compiled function with real values, "
                     "call kiln_disable_compile() (kiln.disable_compile() "
                     "in Python) or set KILN_DISABLE_COMPILE=1");
}

/* Appends to `order` (retained) every unvisited node reachable from n,
 * inputs before consumers. */
static kiln_status collect(kiln_node *root, uint64_t epoch, node_vec *order)
{
    frame *stack = NULL;
    size_t depth = 0, cap = 0;
    kiln_status st = KILN_OK;
    if (root->mark == epoch) {
        return KILN_OK;
    }
    root->mark = epoch;
    cap = 64;
    stack = malloc(cap * sizeof *stack);
    if (!stack) {
        return kiln__err_oom("eval", cap * sizeof *stack);
    }
    stack[depth++] = (frame){root, 0};
    while (depth > 0) {
        frame *f = &stack[depth - 1];
        if (f->next < f->node->nin) {
            kiln_array *x = f->node->in[f->next++];
            kiln_node *m = x->node;
            if (!x->buf && m && m->mark != epoch) {
                m->mark = epoch;
                if (depth == cap) {
                    frame *s = realloc(stack, 2 * cap * sizeof *s);
                    if (!s) {
                        st = kiln__err_oom("eval", 2 * cap * sizeof *s);
                        break;
                    }
                    stack = s;
                    cap *= 2;
                }
                stack[depth++] = (frame){m, 0};
            } else if (!x->buf && !m) {
                st = placeholder_error();
                break;
            }
        } else {
            if (!vec_push(order, kiln__node_retain(f->node))) {
                kiln__node_release(f->node);
                st = kiln__err_oom("eval", order->cap);
                break;
            }
            depth--;
        }
    }
    free(stack);
    return st;
}

/* Runs one node and detaches its outputs. */
static kiln_status run_node(kiln_node *n)
{
    kiln_array *outs[KILN_MAX_OUTPUTS];
    kiln_array *temps[KILN_MAX_OUTPUTS] = {NULL};
    kiln_status st = KILN_OK;
    kiln_meta outm[KILN_MAX_OUTPUTS];
    bool inferred = false;
    for (int i = 0; i < n->nout; i++) {
        outs[i] = n->out[i];
        if (!outs[i]) {
            /* an output nobody holds: recreate its metadata to run into */
            int no = 0;
            if (!inferred &&
                (st = kiln__node_infer(n->prim, n->params, n->in, n->nin,
                                       outm, &no, n->prim->name)) !=
                    KILN_OK) {
                goto cleanup;
            }
            inferred = true;
            temps[i] = kiln__array_new(outm[i].dtype, outm[i].ndim,
                                       outm[i].shape, n->prim->name);
            if (!temps[i]) {
                st = kiln_errcode();
                goto cleanup;
            }
            outs[i] = temps[i];
        }
    }
    st = n->prim->eval_cpu(n, n->in, outs);
    if (st != KILN_OK) {
        /* a kernel may have given outputs buffers before failing: drop
         * them, so the outputs stay pending and a later eval reruns */
        for (int i = 0; i < n->nout; i++) {
            kiln__buffer_release(outs[i]->buf);
            outs[i]->buf = NULL;
        }
        goto cleanup;
    }
    for (int i = 0; i < n->nout; i++) {
        /* eval_cpu must give every output a buffer; anything else is a
         * bug in the primitive, reported rather than crashed on */
        if (!outs[i]->buf) {
            st = kiln__err(KILN_ERR_RUNTIME,
                           "[%s] internal error: output %d has no buffer",
                           n->prim->name, i);
            goto cleanup;
        }
    }
    if (kiln__eval_observer) {
        kiln__eval_observer(n, outs);
    }
    /* detach: each live output drops its node reference */
    for (int i = 0; i < n->nout; i++) {
        kiln_array *o = n->out[i];
        if (o) {
            o->node = NULL;
            n->out[i] = NULL;
            kiln__node_release(n);
        }
    }
cleanup:
    for (int i = 0; i < n->nout; i++) {
        kiln_array_release(temps[i]);
    }
    return st;
}

kiln_status kiln_eval(kiln_array *const *xs, int n)
{
    node_vec order = {0};
    kiln_status st = KILN_OK;
    if (n < 0 || (n > 0 && !xs)) {
        return kiln__err(KILN_ERR_VALUE, "[eval] bad array list");
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            return kiln__err_null("eval");
        }
    }
    uint64_t epoch = atomic_fetch_add(&eval_epoch, 1) + 1;
    for (int i = 0; i < n && st == KILN_OK; i++) {
        if (!xs[i]->buf && xs[i]->node) {
            st = collect(xs[i]->node, epoch, &order);
        } else if (!xs[i]->buf) {
            st = placeholder_error();
        }
    }
    size_t i = 0;
    for (; i < order.n && st == KILN_OK; i++) {
        st = run_node(order.items[i]);
        kiln__node_release(order.items[i]);
    }
    for (; i < order.n; i++) {
        kiln__node_release(order.items[i]);
    }
    free(order.items);
    return st;
}

kiln_status kiln_array_eval(kiln_array *a)
{
    return kiln_eval(&a, 1);
}

/* ------------------------------------------------------------------ */
/* data access                                                        */
/* ------------------------------------------------------------------ */

/* Evaluates a and, when it is a strided view, gives it its own contiguous
 * buffer (same values, so other holders see no change). */
static kiln_status make_contiguous(kiln_array *a, const char *fn)
{
    if (!a) {
        return kiln__err_null(fn);
    }
    if (!a->buf && kiln_array_eval(a) != KILN_OK) {
        return kiln_errcode();
    }
    if (kiln__array_is_contiguous(a)) {
        return KILN_OK;
    }
    size_t nbytes = (size_t)a->size * kiln_dtype_size(a->dtype);
    kiln_buffer *b = kiln__buffer_new(nbytes);
    if (!b) {
        return kiln__err_oom(fn, nbytes);
    }
    kiln__cpu_copy_contig(a, b->data);
    kiln__buffer_release(a->buf);
    a->buf = b;
    a->offset = 0;
    kiln__shape_strides(a->shape, a->ndim, a->strides);
    return KILN_OK;
}

const void *kiln_array_data(kiln_array *a)
{
    if (make_contiguous(a, "array_data") != KILN_OK) {
        return NULL;
    }
    return kiln__array_ptr(a);
}

kiln_status kiln_array_read(kiln_array *a, void *dst, size_t nbytes)
{
    const char *fn = "array_read";
    if (!a || (!dst && nbytes)) {
        return kiln__err_null(fn);
    }
    if (nbytes != kiln_array_nbytes(a)) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] destination holds %zu bytes, array has %zu",
                         fn, nbytes, kiln_array_nbytes(a));
    }
    if (make_contiguous(a, fn) != KILN_OK) {
        return kiln_errcode();
    }
    if (nbytes) {
        memcpy(dst, kiln__array_ptr(a), nbytes);
    }
    return KILN_OK;
}

/* The address of a's one element (evaluating a first), for the item
 * accessors; out is where the caller will store it (checked for NULL). */
static kiln_status item_ptr(kiln_array *a, const void *out, const char **p)
{
    const char *fn = "array_item";
    if (!a || !out) {
        return kiln__err_null(fn);
    }
    if (a->size != 1) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] only one-element arrays have an item (size "
                         "%lld)", fn, (long long)a->size);
    }
    if (!a->buf && kiln_array_eval(a) != KILN_OK) {
        return kiln_errcode();
    }
    *p = kiln__array_ptr(a);
    return KILN_OK;
}

kiln_status kiln_array_item_f64(kiln_array *a, double *out)
{
    const char *p = NULL;
    if (item_ptr(a, out, &p) != KILN_OK) {
        return kiln_errcode();
    }
    *out = kiln__dtype_load_f64(p, a->dtype);
    return KILN_OK;
}

kiln_status kiln_array_item_i64(kiln_array *a, int64_t *out)
{
    const char *p = NULL;
    if (item_ptr(a, out, &p) != KILN_OK) {
        return kiln_errcode();
    }
    *out = kiln__dtype_load_i64(p, a->dtype);
    return KILN_OK;
}

size_t kiln_array_format(kiln_array *a, char *buf, size_t cap)
{
    char tmp[64];
    size_t len = 0;
#define PUT(...)                                                          \
    do {                                                                  \
        int k_ = snprintf(tmp, sizeof tmp, __VA_ARGS__);                  \
        if (k_ > 0) {                                                     \
            if (cap > 0 && len < cap - 1) {                               \
                size_t room = cap - 1 - len;                              \
                size_t m_ = (size_t)k_ < room ? (size_t)k_ : room;        \
                memcpy(buf + len, tmp, m_);                               \
                buf[len + m_] = '\0';                                     \
            }                                                             \
            len += (size_t)k_;                                            \
        }                                                                 \
    } while (0)
    if (cap > 0 && buf) {
        buf[0] = '\0';
    } else {
        cap = 0;
    }
    if (!a || make_contiguous(a, "array_format") != KILN_OK) {
        PUT("array(<error>)");
        return len;
    }
    const char *p = kiln__array_ptr(a);
    size_t isz = kiln_dtype_size(a->dtype);
    int64_t show = a->size > 32 ? 32 : a->size;
    PUT("array(");
    for (int d = 0; d < a->ndim; d++) {
        PUT("[");
    }
    for (int64_t i = 0; i < show; i++) {
        if (i > 0) {
            /* close and reopen one bracket per trailing dim that wraps */
            int wraps = 0;
            int64_t span = 1;
            for (int d = a->ndim - 1; d > 0; d--) {
                span *= a->shape[d];
                if (i % span != 0) {
                    break;
                }
                wraps++;
            }
            for (int d = 0; d < wraps; d++) {
                PUT("]");
            }
            PUT(", ");
            for (int d = 0; d < wraps; d++) {
                PUT("[");
            }
        }
        if (kiln_dtype_is_float(a->dtype)) {
            PUT("%g", kiln__dtype_load_f64(p + (size_t)i * isz, a->dtype));
        } else if (a->dtype == KILN_DTYPE_BOOL) {
            PUT("%s", p[i] ? "true" : "false");
        } else if (a->dtype == KILN_DTYPE_UINT64) {
            PUT("%llu", (unsigned long long)*(const uint64_t *)(const void *)(
                            p + (size_t)i * isz));
        } else {
            PUT("%lld", (long long)kiln__dtype_load_i64(p + (size_t)i * isz,
                                                        a->dtype));
        }
    }
    if (show < a->size) {
        PUT(", ...");
    }
    for (int d = 0; d < a->ndim; d++) {
        PUT("]");
    }
    PUT(", shape=");
    char sb[256];
    PUT("%s", kiln__shape_str(a->shape, a->ndim, sb, sizeof sb));
    PUT(", dtype=%s)", kiln_dtype_name(a->dtype));
#undef PUT
    return len;
}

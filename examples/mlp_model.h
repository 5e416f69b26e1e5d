/*
 * mlp_model.h - the 2-layer MLP, its loss, its compiled-able training step
 * (value_and_grad + Adam + dropout from the global key) and its synthetic
 * data, shared by examples/train_mlp.c and bench/mlp_bench.c so the
 * example and the benchmark measure the same step. Static functions: each
 * includer gets its own copy. Needs <math.h>, <stdint.h>, <stdlib.h> and
 * kiln.h first.
 */
#ifndef KILN_EXAMPLE_MLP_MODEL_H
#define KILN_EXAMPLE_MLP_MODEL_H

#define NB 4            /* fixed batches, used in turn */
#define NPARAM 4        /* W1 b1 W2 b2 */
#define NSTATE 13       /* params, m, v, t */
#define KEEP 0.9        /* dropout keep probability */
#define LR 1e-3
#define BETA1 0.9
#define BETA2 0.999
#define EPS 1e-8

typedef struct {
    int64_t in, hidden, classes, batch;
    int steps;
} sizes;

/* The status a body returns when an op failed (the error kiln set). */
static kiln_status fail_status(void)
{
    kiln_status s = kiln_errcode();
    return s != KILN_OK ? s : KILN_ERR_RUNTIME;
}

/* ------------------------------------------------------------------ */
/* the model and its step                                             */
/* ------------------------------------------------------------------ */

/* loss_fn(W1, b1, W2, b2, x, labels) -> [loss]. labels are int32 (B). */
static kiln_status loss_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    kiln_array *w1 = kiln_list_get(args, 0), *b1 = kiln_list_get(args, 1);
    kiln_array *w2 = kiln_list_get(args, 2), *b2 = kiln_list_get(args, 3);
    kiln_array *x = kiln_list_get(args, 4), *lab = kiln_list_get(args, 5);
    const int last = -1;
    kiln_status st;
    (void)ctx;
    kiln_scope_begin();
    kiln_array *h = kiln_maximum(kiln_add(kiln_matmul(x, w1), b1),
                                 kiln_weak_f64(0.0));
    kiln_array *keep = kiln_random_bernoulli(
        kiln_scalar_f64(KEEP, KILN_DTYPE_FLOAT32), h ? kiln_array_shape(h)
                                                     : NULL,
        h ? kiln_array_ndim(h) : 0, NULL);
    kiln_array *hd = kiln_where(keep,
                                kiln_multiply(h, kiln_weak_f64(1.0 / KEEP)),
                                kiln_weak_f64(0.0));
    kiln_array *logits = kiln_add(kiln_matmul(hd, w2), b2);
    kiln_array *lse = kiln_logsumexp(logits, &last, 1, false);
    kiln_array *picked = kiln_squeeze(
        kiln_take_along_axis(logits, kiln_expand_dims(lab, &last, 1), -1,
                             false),
        &last, 1);
    kiln_array *loss = kiln_mean(kiln_subtract(lse, picked), NULL, 0,
                                 false);
    st = loss ? kiln_list_push(results, loss) : fail_status();
    kiln_scope_end(NULL);
    return st;
}

typedef struct {
    kiln_list *state; /* [W1 b1 W2 b2, m x 4, v x 4, t]: read, replaced */
    kiln_fn *vg;      /* value_and_grad(loss_fn) over arguments 0..3 */
} step_ctx;

/* step(x, labels) -> [loss]; stores the new parameters and Adam state
 * in c->state. */
static kiln_status step_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    step_ctx *c = ctx;
    kiln_list *vargs = kiln_list_new(), *r = NULL;
    kiln_array *next[NSTATE] = {NULL};
    kiln_status st = vargs ? KILN_OK : fail_status();
    for (int i = 0; i < NPARAM && st == KILN_OK; i++) {
        st = kiln_list_push(vargs, kiln_list_get(c->state, (size_t)i));
    }
    for (int i = 0; i < 2 && st == KILN_OK; i++) {
        st = kiln_list_push(vargs, kiln_list_get(args, (size_t)i));
    }
    if (st == KILN_OK) {
        r = kiln_fn_call(c->vg, vargs); /* [loss, g1 .. g4] */
        st = r && kiln_list_size(r) == 1 + NPARAM ? KILN_OK : fail_status();
    }
    kiln_scope_begin();
    if (st == KILN_OK) {
        kiln_array *t = kiln_add(kiln_list_get(c->state, NSTATE - 1),
                                 kiln_weak_f64(1.0));
        /* bias corrections 1 - beta^t, as float32 0-d arrays */
        kiln_array *c1 = kiln_subtract(kiln_weak_f64(1.0),
                                       kiln_power(kiln_weak_f64(BETA1), t));
        kiln_array *c2 = kiln_subtract(kiln_weak_f64(1.0),
                                       kiln_power(kiln_weak_f64(BETA2), t));
        for (int i = 0; i < NPARAM; i++) {
            kiln_array *p = kiln_list_get(c->state, (size_t)i);
            kiln_array *m = kiln_list_get(c->state, (size_t)(NPARAM + i));
            kiln_array *v = kiln_list_get(c->state,
                                          (size_t)(2 * NPARAM + i));
            kiln_array *g = kiln_list_get(r, (size_t)(1 + i));
            kiln_array *m1 = kiln_add(
                kiln_multiply(kiln_weak_f64(BETA1), m),
                kiln_multiply(kiln_weak_f64(1.0 - BETA1), g));
            kiln_array *v1 = kiln_add(
                kiln_multiply(kiln_weak_f64(BETA2), v),
                kiln_multiply(kiln_weak_f64(1.0 - BETA2), kiln_square(g)));
            kiln_array *upd = kiln_divide(
                kiln_divide(m1, c1),
                kiln_add(kiln_sqrt(kiln_divide(v1, c2)),
                         kiln_weak_f64(EPS)));
            next[i] = kiln_subtract(p, kiln_multiply(kiln_weak_f64(LR),
                                                     upd));
            next[NPARAM + i] = m1;
            next[2 * NPARAM + i] = v1;
        }
        next[NSTATE - 1] = t;
        for (int i = 0; i < NSTATE && st == KILN_OK; i++) {
            st = next[i] ? kiln_list_set(c->state, (size_t)i, next[i])
                         : fail_status();
        }
        if (st == KILN_OK) {
            st = kiln_list_push(results, kiln_list_get(r, 0));
        }
    }
    kiln_scope_end(NULL);
    kiln_list_free(r);
    kiln_list_free(vargs);
    return st;
}

/* ------------------------------------------------------------------ */
/* data and state                                                     */
/* ------------------------------------------------------------------ */

/* NB batches [x0 y0 x1 y1 ...] from a fixed teacher, explicit keys (the
 * global key is left alone). */
static kiln_list *make_data(const sizes *z)
{
    kiln_list *d = kiln_list_new();
    const int64_t ts[2] = {z->in, z->classes}, xs[2] = {z->batch, z->in};
    bool ok = d != NULL;
    kiln_scope_begin();
    kiln_array *teacher = kiln_random_normal(ts, 2, KILN_DTYPE_FLOAT32,
                                             0.0, 1.0,
                                             kiln_random_key(7));
    for (int b = 0; b < NB && ok; b++) {
        kiln_array *x = kiln_random_normal(xs, 2, KILN_DTYPE_FLOAT32, 0.0,
                                           1.0,
                                           kiln_random_key(100 + b));
        kiln_array *y = kiln_astype(
            kiln_argmax(kiln_matmul(x, teacher), -1, false, false),
            KILN_DTYPE_INT32);
        ok = y && kiln_array_eval(x) == KILN_OK &&
             kiln_array_eval(y) == KILN_OK &&
             kiln_list_push(d, x) == KILN_OK &&
             kiln_list_push(d, y) == KILN_OK;
    }
    kiln_scope_end(NULL);
    if (!ok) {
        kiln_list_free(d);
        return NULL;
    }
    return d;
}

/* The initial state: He-initialised weights, zero biases, zero moments,
 * t = 0. Explicit keys; evaluated. */
static kiln_list *make_state(const sizes *z)
{
    const int64_t s1[2] = {z->in, z->hidden}, s2[2] = {z->hidden, z->classes};
    const int64_t sb1[1] = {z->hidden}, sb2[1] = {z->classes};
    kiln_list *s = kiln_list_new();
    bool ok = s != NULL;
    kiln_scope_begin();
    kiln_array *p[NPARAM] = {
        kiln_random_normal(s1, 2, KILN_DTYPE_FLOAT32, 0.0,
                           sqrt(2.0 / (double)z->in), kiln_random_key(1)),
        kiln_zeros(sb1, 1, KILN_DTYPE_FLOAT32),
        kiln_random_normal(s2, 2, KILN_DTYPE_FLOAT32, 0.0,
                           sqrt(2.0 / (double)z->hidden),
                           kiln_random_key(2)),
        kiln_zeros(sb2, 1, KILN_DTYPE_FLOAT32)};
    for (int k = 0; k < 3 && ok; k++) { /* params, m, v */
        for (int i = 0; i < NPARAM && ok; i++) {
            kiln_array *a = k == 0 ? p[i] : kiln_zeros_like(p[i]);
            ok = a && kiln_array_eval(a) == KILN_OK &&
                 kiln_list_push(s, a) == KILN_OK;
        }
    }
    kiln_array *t = kiln_scalar_f64(0.0, KILN_DTYPE_FLOAT32);
    ok = ok && t && kiln_list_push(s, t) == KILN_OK;
    kiln_scope_end(NULL);
    if (!ok) {
        kiln_list_free(s);
        return NULL;
    }
    return s;
}

#endif

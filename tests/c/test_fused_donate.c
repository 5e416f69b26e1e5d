/*
 * test_fused_donate.c - fused regions write in place (donation): an
 * elementwise region's output takes over the buffer of an input of its
 * shape and dtype that nothing else holds (an optimiser step's captured
 * state), in generated kernels and in the interpreter; an input someone
 * still holds keeps its buffer and values; reduction regions never
 * donate. Values are checked against a loop over the values read before
 * the call.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kiln.h"

#define ROWS 64
#define COLS 33
#define N (ROWS * COLS)

/* state [w, m], argument g: m' = 0.9 m + g, w' = w - 0.1 m' (one
 * elementwise region with two outputs); returns 2 g, which is a region of
 * its own, so the state region is elementwise with only the state as
 * outputs (a reduction of w' as the result would join it). */
static kiln_status sgd_body(void *ctx, const kiln_list *args,
                            kiln_list *res)
{
    kiln_list *st = ctx;
    kiln_status s;
    kiln_scope_begin();
    kiln_array *w = kiln_list_get(st, 0), *m = kiln_list_get(st, 1);
    kiln_array *g = kiln_list_get(args, 0);
    kiln_array *m1 = kiln_add(kiln_multiply(m, kiln_weak_f64(0.9)), g);
    kiln_array *w1 = kiln_subtract(w, kiln_multiply(m1, kiln_weak_f64(0.1)));
    s = w1 ? kiln_list_set(st, 0, w1) : kiln_errcode();
    s = s == KILN_OK ? kiln_list_set(st, 1, m1) : s;
    s = s == KILN_OK ? kiln_list_push(res,
                                      kiln_multiply(g, kiln_weak_f64(2.0)))
                     : s;
    kiln_scope_end(NULL);
    return s;
}

/* state [x]: x' = x - max(x, rows) (a reduction region). */
static kiln_status center_body(void *ctx, const kiln_list *args,
                               kiln_list *res)
{
    kiln_list *st = ctx;
    const int last = -1;
    kiln_status s;
    (void)args;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(st, 0);
    kiln_array *y = kiln_subtract(x, kiln_max(x, &last, 1, true));
    s = y ? kiln_list_set(st, 0, y) : kiln_errcode();
    s = s == KILN_OK ? kiln_list_push(res, kiln_sum(y, NULL, 0, false)) : s;
    kiln_scope_end(NULL);
    return s;
}

static kiln_array *filled(float base, float step)
{
    float v[N];
    const int64_t shape[2] = {ROWS, COLS};
    for (int i = 0; i < N; i++) {
        v[i] = base + step * (float)(i % 97) - 0.25f * (float)(i % 5);
    }
    return kiln_array_from_data(v, shape, 2, KILN_DTYPE_FLOAT32);
}

/* Pushes a, handing the list the reference the caller had. */
static void push_new(kiln_list *l, kiln_array *a)
{
    kiln_list_push(l, a);
    kiln_array_release(a);
}

static const float *data_of(kiln_array *a)
{
    return kiln_array_data(a);
}

/* Runs `calls` compiled SGD steps; checks values each step and whether
 * the state's buffers were reused (want_inplace) when the old state is
 * not held, and that a held old state keeps its buffer and values. */
static void sgd_steps(bool jit_off)
{
    kiln_list *st = kiln_list_new();
    kiln_list *args = kiln_list_new();
    push_new(st, filled(1.0f, 0.01f));
    push_new(st, filled(0.0f, 0.0f));
    push_new(args, filled(-0.5f, 0.02f));
    kiln_fn *f = kiln_fn_new(sgd_body, st, NULL,
                             jit_off ? "sgd_interp" : "sgd_jit");
    kiln_compile_opts o = {0};
    o.inputs = st;
    o.outputs = st;
    kiln_fn *cf = kiln_compile(f, &o);
    float w[N], m[N], g[N];
    memcpy(g, data_of(kiln_list_get(args, 0)), sizeof g);
    for (int step = 0; step < 4; step++) {
        bool hold = step == 3; /* the last call keeps the old w alive */
        kiln_array *w0 = kiln_list_get(st, 0), *m0 = kiln_list_get(st, 1);
        const float *pw = data_of(w0), *pm = data_of(m0);
        CHECK(pw && pm);
        if (!pw || !pm) {
            break;
        }
        memcpy(w, pw, sizeof w);
        memcpy(m, pm, sizeof m);
        kiln_array *held = hold ? kiln_array_retain(w0) : NULL;
        kiln_list *r = kiln_fn_call(cf, args);
        CHECK_MSG(r != NULL, "step %d: %s", step, kiln_errmsg());
        kiln_array *xs[2] = {kiln_list_get(st, 0), kiln_list_get(st, 1)};
        CHECK(kiln_eval(xs, 2) == KILN_OK);
        const float *nw = data_of(xs[0]), *nm = data_of(xs[1]);
        for (int i = 0; nw && nm && i < N; i++) {
            float m1 = m[i] * 0.9f + g[i];
            float w1 = w[i] - m1 * 0.1f;
            if (nm[i] != m1 || nw[i] != w1) {
                kt_fail(__FILE__, __LINE__,
                        "step %d element %d: w %.9g vs %.9g, m %.9g vs "
                        "%.9g", step, i, nw[i], w1, nm[i], m1);
                break;
            }
        }
        /* step 0 traces; later ones replay: each new state array takes
         * over one old buffer (which one is not specified) unless held */
        if (step > 0 && !hold) {
            CHECK_MSG((nw == pw || nw == pm) && (nm == pw || nm == pm) &&
                          nw != nm,
                      "step %d: not written in place", step);
        }
        if (hold) {
            CHECK(nw != pw && nm != pw);
            CHECK(data_of(held) == pw);
            CHECK(memcmp(data_of(held), w, sizeof w) == 0);
            kiln_array_release(held);
        }
        kiln_list_free(r);
    }
    /* which path ran: the kernels (vectorised, ivdep) when a compiler
     * works, the interpreter under KILN_JIT=0 */
    kiln_compile_stats cs;
    memset(&cs, 0, sizeof cs);
    kiln_compile_stats_get(cf, &cs);
    if (jit_off) {
        CHECK(cs.interpreted > 0 && cs.kernels_built + cs.kernels_loaded == 0);
    } else if (cs.interpreted > 0) {
        printf("  (no working C compiler: the kernel path was not run)\n");
    } else {
        CHECK(cs.kernels_built + cs.kernels_loaded > 0);
    }
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_list_free(args);
    kiln_list_free(st);
}

TEST(fused_donate_sgd_in_place)
{
    kiln_errclear();
    sgd_steps(false);
}

TEST(fused_donate_interpreter)
{
    kiln_errclear();
    setenv("KILN_JIT", "0", 1);
    sgd_steps(true);
    unsetenv("KILN_JIT");
}

TEST(fused_donate_not_in_reductions)
{
    kiln_errclear();
    kiln_list *st = kiln_list_new();
    push_new(st, filled(2.0f, 0.5f));
    kiln_fn *f = kiln_fn_new(center_body, st, NULL, "center");
    kiln_compile_opts o = {0};
    o.inputs = st;
    o.outputs = st;
    kiln_fn *cf = kiln_compile(f, &o);
    float x[N];
    for (int step = 0; step < 3; step++) {
        const float *px = data_of(kiln_list_get(st, 0));
        CHECK(px != NULL);
        if (!px) {
            break;
        }
        memcpy(x, px, sizeof x);
        kiln_list *r = kiln_fn_call(cf, NULL);
        CHECK_MSG(r != NULL, "%s", kiln_errmsg());
        const float *ny = data_of(kiln_list_get(st, 0));
        CHECK(ny != NULL && ny != px);
        for (int i = 0; ny && i < ROWS; i++) {
            float mx = x[i * COLS];
            for (int j = 1; j < COLS; j++) {
                mx = x[i * COLS + j] > mx ? x[i * COLS + j] : mx;
            }
            for (int j = 0; j < COLS; j++) {
                CHECK(ny[i * COLS + j] == x[i * COLS + j] - mx);
            }
        }
        kiln_list_free(r);
    }
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_list_free(st);
}

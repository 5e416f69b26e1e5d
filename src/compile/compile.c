/*
 * compile.c - kiln_compile, reading as the pipeline (DESIGN.md 5.2):
 *
 *   call -> signature -> cache hit? -> replay
 *                     \-> trace -> simplify -> fuse -> codegen -> jit
 *                         (interpreter when no compiler) -> cache -> replay
 *
 * A compiled function is a kiln_fn whose context is a `compiled` record:
 * the function it compiles (whose identity keys the shared cache), the
 * options and the caller's captured state lists. Its body is call().
 *
 * Invariants: nothing is traced or compiled under the cache lock; a failed
 * trace leaves no entry; the caller's captured lists are restored if a
 * trace fails, and hold this call's results after it succeeds; a call made
 * while compile is disabled, or while this thread is tracing (an outer
 * compile, later grad and vmap), runs the body itself, so it is inlined.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../ops/ops.h"
#include "../runtime/clock.h"
#include "../runtime/env.h"
#include "cache.h"
#include "codegen.h"
#include "fuse.h"
#include "jit.h"
#include "jobs.h"
#include "ptrmap.h"
#include "simplify.h"
#include "text.h"
#include "trace.h"

typedef struct compiled {
    kiln_fn *inner;
    bool shapeless;
    bool random_state;
    kiln_list *inputs;
    kiln_list *outputs;
} compiled;

static atomic_int disabled;

void kiln_disable_compile(void)
{
    atomic_store(&disabled, 1);
}

void kiln_enable_compile(void)
{
    atomic_store(&disabled, 0);
}

static bool compile_off(void)
{
    return atomic_load(&disabled) ||
           kiln__env_int(KILN_ENV_DISABLE_COMPILE, 0) != 0;
}

static bool log_on(void)
{
    return strstr(kiln__env_str(KILN_ENV_LOG), "compile") != NULL;
}

/* ------------------------------------------------------------------ */
/* signature                                                          */
/* ------------------------------------------------------------------ */

typedef struct sigbuf {
    uint8_t local[512];
    uint8_t *p;
    size_t len, cap;
    bool oom;
} sigbuf;

static void sig_put(sigbuf *s, const void *data, size_t n)
{
    if (s->oom) {
        return;
    }
    if (s->len + n > s->cap) {
        size_t cap = s->cap * 2 > s->len + n ? s->cap * 2 : s->len + n;
        uint8_t *p = s->p == s->local ? malloc(cap) : realloc(s->p, cap);
        if (!p) {
            s->oom = true;
            return;
        }
        if (s->p == s->local) {
            memcpy(p, s->local, s->len);
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
}

static uint64_t sig_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return kiln__hash_mix(h, n);
}

/* The signature of a call on the real inputs (DESIGN.md 5.1): counts and
 * options, each input's dtype, ndim and (unless shapeless) shape, the
 * captured outputs' layout and the binding's key bytes. */
static void signature(const compiled *c, kiln_array *const *real, int nreal,
                      int nargs, sigbuf *s)
{
    size_t keylen = 0;
    const void *key = kiln_fn_call_key(&keylen);
    int32_t head[5] = {nargs, nreal, c->shapeless, c->random_state,
                       c->outputs ? (int32_t)kiln_list_size(c->outputs)
                                  : -1};
    sig_put(s, head, sizeof head);
    for (int i = 0; i < nreal; i++) {
        uint8_t dn[2] = {(uint8_t)real[i]->dtype, (uint8_t)real[i]->ndim};
        sig_put(s, dn, 2);
        if (!c->shapeless) {
            sig_put(s, real[i]->shape,
                    sizeof(int64_t) * (size_t)real[i]->ndim);
        }
    }
    uint64_t kl = keylen;
    sig_put(s, &kl, sizeof kl);
    if (keylen) {
        sig_put(s, key, keylen);
    }
}

/* ------------------------------------------------------------------ */
/* why a trace happened                                               */
/* ------------------------------------------------------------------ */

static void shape_text(const kiln_meta *m, char *buf, size_t cap)
{
    kiln__shape_str(m->shape, m->ndim, buf, cap);
}

/* One line naming the first difference from the last signature used. */
static void reason(const compiled *c, const kiln_meta *metas, int n,
                   char *buf, size_t cap)
{
    kiln_centry *last = kiln__cache_last(c->inner);
    if (!last) {
        snprintf(buf, cap, "first call");
        return;
    }
    if (last->nmetas != n) {
        snprintf(buf, cap, "input count %d -> %d", last->nmetas, n);
    } else {
        snprintf(buf, cap, "constants, key bytes or options changed");
        for (int i = 0; i < n; i++) {
            const kiln_meta *a = &last->metas[i], *b = &metas[i];
            char sa[96], sb[96];
            if (a->dtype != b->dtype) {
                snprintf(buf, cap, "input %d dtype %s -> %s", i,
                         kiln_dtype_name(a->dtype), kiln_dtype_name(b->dtype));
                break;
            }
            if (a->ndim != b->ndim) {
                snprintf(buf, cap, "input %d ndim %d -> %d", i, a->ndim,
                         b->ndim);
                break;
            }
            if (!c->shapeless &&
                memcmp(a->shape, b->shape,
                       sizeof(int64_t) * (size_t)a->ndim) != 0) {
                shape_text(a, sa, sizeof sa);
                shape_text(b, sb, sizeof sb);
                snprintf(buf, cap, "input %d shape %s -> %s", i, sa, sb);
                break;
            }
        }
    }
    kiln__centry_release(last);
}

/* ------------------------------------------------------------------ */
/* codegen and jit                                                    */
/* ------------------------------------------------------------------ */

/* How long a trace waits for its background build: enough for a kernel
 * found in memory or on disk (0.3-2 ms), far less than a compile. */
#define ASYNC_WAIT_MS 5

/* Gives each fused region a kernel: generated C compiled by the JIT (in
 * the background when jobs.h allows it), or the interpreter when no
 * compiler works (a one-time notice) or KILN_JIT=0. Fails only under
 * KILN_JIT=require. */
static kiln_status build_kernels(kiln_fn *inner, kiln_fused **fl, int n,
                                 char **source, double *waited)
{
    kiln_text src = {0};
    const char *syms[KILN_JOBS_MAX_KERNELS];
    char names[KILN_JOBS_MAX_KERNELS][KILN_JOBS_SYM_CAP];
    kiln_status st = KILN_OK;
    if (n == 0) {
        return KILN_OK;
    }
    if (kiln__jit_mode() == KILN_JIT_MODE_OFF || n > KILN_JOBS_MAX_KERNELS) {
        kiln__cache_count(inner, KILN_CC_INTERPRETED, n);
        return KILN_OK;
    }
    /* Regions whose code is the same (a model's repeated layers) share
     * one kernel: each is generated under a neutral name first and
     * compared with the kernels kept so far (text[], the first nuniq
     * entries of which hold the kept ones' code, their region indices in
     * uniq[]). */
    kiln_text text[KILN_JOBS_MAX_KERNELS];
    int uniq[KILN_JOBS_MAX_KERNELS], nuniq = 0;
    memset(text, 0, sizeof text);
    for (int i = 0; i < n && st == KILN_OK; i++) {
        int same = -1;
        snprintf(names[i], sizeof names[i], "kiln_region_%d", i);
        syms[i] = names[i];
        st = kiln__codegen_region(fl[i]->region, "kiln_region",
                                  &text[nuniq]);
        if (st == KILN_OK && !kiln__text_ok(&text[nuniq], "compile")) {
            st = kiln_errcode();
        }
        for (int u = 0; u < nuniq && st == KILN_OK && same < 0; u++) {
            if (text[u].len == text[nuniq].len &&
                memcmp(text[u].s, text[nuniq].s, text[u].len) == 0) {
                same = uniq[u];
            }
        }
        if (st == KILN_OK && same >= 0) {
            syms[i] = names[same];
            kiln__text_free(&text[nuniq]);
            memset(&text[nuniq], 0, sizeof text[nuniq]);
        } else if (st == KILN_OK) {
            uniq[nuniq++] = i;
            st = kiln__codegen_region(fl[i]->region, names[i], &src);
            kiln__text_puts(&src, "\n");
        }
    }
    for (int u = 0; u <= nuniq && u < KILN_JOBS_MAX_KERNELS; u++) {
        kiln__text_free(&text[u]);
    }
    if (st == KILN_OK && !kiln__text_ok(&src, "compile")) {
        st = kiln_errcode();
    }
    if (st != KILN_OK) {
        kiln__text_free(&src);
        if (kiln__jit_mode() == KILN_JIT_MODE_REQUIRE) {
            return st;
        }
        kiln_errclear();
        kiln__cache_count(inner, KILN_CC_INTERPRETED, n);
        return KILN_OK;
    }
    *source = src.s;
    if (kiln__jobs_is_enabled(fl, n) &&
        kiln__jobs_start(inner, fl, n, src.s, src.len, syms,
                         ASYNC_WAIT_MS, waited) == KILN_OK) {
        return KILN_OK;
    }
    kiln_errclear();
    st = kiln__jobs_build(inner, fl, n, src.s, src.len, syms);
    if (st != KILN_OK) {
        *source = NULL;
        kiln__text_free(&src);
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* trace                                                              */
/* ------------------------------------------------------------------ */

/* The entry for a new signature: traces the body on placeholders, then
 * simplify, fuse, kernels. NULL with an error on failure (the captured
 * lists and the random key are as they were). */
static kiln_centry *trace(compiled *c, kiln_array **real, int nreal,
                          int nargs, const char *why)
{
    const char *fn = "compile";
    double t0 = kiln__clock_ms(), waited = 0.0;
    int ncap = c->inputs ? (int)kiln_list_size(c->inputs) : 0;
    kiln_array **ph = calloc((size_t)nreal + 1, sizeof *ph);
    kiln_array **saved_in = calloc((size_t)ncap + 1, sizeof *saved_in);
    kiln_array **before = NULL, **orig = NULL;
    size_t nbefore = 0, norig = 0;
    kiln_list *args = kiln_list_new(), *results = NULL;
    kiln_array *saved_key = NULL;
    kiln_array **outs = NULL;
    int nouts = 0, nres = 0, ncap_out = 0;
    int *cap_slot = NULL;
    bool random_out = false;
    kiln_graph *traced = NULL, *simple = NULL, *fused = NULL;
    kiln_fused **fl = NULL;
    int nfl = 0;
    char *source = NULL;
    kiln_centry *e = NULL;
    kiln_status st = KILN_OK;

    if (!ph || !saved_in || !args) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    for (int i = 0; i < nreal && st == KILN_OK; i++) {
        kiln_meta m;
        kiln__array_meta(real[i], &m);
        ph[i] = kiln__trace_placeholder(&m);
        if (!ph[i]) {
            st = kiln_errcode();
        } else if (i < nargs) {
            st = kiln_list_push(args, ph[i]);
        }
    }
    if (st != KILN_OK) {
        goto done;
    }
    /* The caller's output list as it was (restored afterwards), then the
     * captured inputs swapped for placeholders, then the output list as
     * the body finds it (entries the body changes from that are its
     * outputs). The two snapshots differ when one list serves as both
     * inputs and outputs. */
    if (c->outputs) {
        norig = kiln_list_size(c->outputs);
        orig = calloc(norig + 1, sizeof *orig);
        if (!orig) {
            st = kiln__err_oom(fn, 0);
            goto done;
        }
        for (size_t j = 0; j < norig; j++) {
            orig[j] = kiln_array_retain(kiln_list_get(c->outputs, j));
        }
    }
    for (int j = 0; j < ncap; j++) {
        saved_in[j] = kiln_array_retain(kiln_list_get(c->inputs, j));
        kiln_list_set(c->inputs, (size_t)j, ph[nargs + j]);
    }
    if (c->outputs) {
        nbefore = kiln_list_size(c->outputs);
        before = calloc(nbefore + 1, sizeof *before);
        if (!before) {
            st = kiln__err_oom(fn, 0);
            goto restore;
        }
        for (size_t j = 0; j < nbefore; j++) {
            before[j] = kiln_array_retain(kiln_list_get(c->outputs, j));
        }
    }
    if (c->random_state) {
        saved_key = kiln__random_state_get();
        kiln_random_set_state(ph[nreal - 1]);
    }
    kiln__trace_enter();
    results = kiln__fn_run(c->inner, args);
    kiln__trace_leave();
    if (!results) {
        st = kiln_errcode();
    } else if (kiln_list_size(results) == 0) {
        st = kiln__err(KILN_ERR_VALUE,
                       "[compile] %s returned no arrays; a compiled "
                       "function must return at least one",
                       c->inner->name);
    }
    /* gather what the trace produced: results, assigned captured
     * outputs, the next random key */
    size_t nout_list = c->outputs ? kiln_list_size(c->outputs) : 0;
    nres = results ? (int)kiln_list_size(results) : 0;
    outs = calloc((size_t)nres + nout_list + 2, sizeof *outs);
    cap_slot = calloc(nout_list + 1, sizeof *cap_slot);
    if (!outs || !cap_slot) {
        st = st != KILN_OK ? st : kiln__err_oom(fn, 0);
    }
    for (int i = 0; i < nres && outs; i++) {
        outs[nouts++] = kiln_array_retain(kiln_list_get(results, i));
    }
    for (size_t j = 0; j < nout_list && outs && cap_slot; j++) {
        kiln_array *a = kiln_list_get(c->outputs, j);
        if (a && (j >= nbefore || a != before[j])) {
            cap_slot[ncap_out++] = (int)j;
            outs[nouts++] = kiln_array_retain(a);
        }
    }
    if (c->random_state) {
        kiln_array *k = kiln__random_state_get();
        if (k != ph[nreal - 1] && outs) {
            outs[nouts++] = k;
            random_out = true;
        } else {
            kiln_array_release(k);
        }
    }
restore:
    for (int j = 0; j < ncap; j++) {
        kiln_list_set(c->inputs, (size_t)j, saved_in[j]);
    }
    for (size_t j = 0; orig && j < norig; j++) {
        if (kiln_list_get(c->outputs, j) != orig[j]) {
            kiln_list_set(c->outputs, j, orig[j]);
        }
    }
    if (saved_key) {
        kiln_random_set_state(saved_key);
    }
    if (st != KILN_OK) {
        goto done;
    }
    traced = kiln__trace_record(ph, nreal, outs, nouts, fn);
    if (!traced) {
        st = kiln_errcode();
        goto done;
    }
    for (int v = traced->ninputs; v < traced->nvals; v++) {
        for (int i = 0; i < nreal; i++) {
            if (traced->vals[v].constant == real[i]) {
                st = kiln__err(KILN_ERR_VALUE,
                               "[compile] %s reads its %s %d through its "
                               "context instead of through the call: "
                               "it would be frozen as a constant; pass it "
                               "as an argument (or as captured inputs)",
                               c->inner->name,
                               i < nargs ? "argument" : "captured input",
                               i < nargs ? i : i - nargs);
                goto done;
            }
        }
    }
    simple = kiln__simplify(traced, c->shapeless, fn);
    if (!simple) {
        st = kiln_errcode();
        goto done;
    }
    if (c->shapeless) {
        for (int i = 0; i < simple->nsteps; i++) {
            const kiln_prim *p = simple->steps[i].prim;
            if (p->flags & KILN_PRIM_NO_SHAPELESS) {
                st = kiln__err(KILN_ERR_VALUE,
                               "[compile] %s uses %s, which bakes a shape "
                               "and cannot be replayed shapeless; compile "
                               "without shapeless", c->inner->name,
                               p->name);
                goto done;
            }
        }
    }
    fused = kiln__fuse(simple, c->shapeless, &fl, &nfl, fn);
    if (!fused) {
        st = kiln_errcode();
        goto done;
    }
    st = build_kernels(c->inner, fl, nfl, &source, &waited);
    if (st != KILN_OK) {
        goto done;
    }
    e = kiln__centry_new();
    if (!e) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    e->nmetas = nreal;
    e->metas = calloc((size_t)nreal + 1, sizeof *e->metas);
    if (!e->metas) {
        st = kiln__err_oom(fn, 0);
        goto done;
    }
    for (int i = 0; i < nreal; i++) {
        kiln__array_meta(real[i], &e->metas[i]);
    }
    e->traced = traced;
    e->fused = fused;
    e->source = source;
    e->nresults = nres;
    e->ncap = ncap_out;
    e->cap_slot = cap_slot;
    e->random_out = random_out;
    e->bytes = kiln__graph_bytes(fused) + kiln__graph_bytes(traced) +
               (source ? (int64_t)strlen(source) : 0);
    traced = fused = NULL;
    source = NULL;
    cap_slot = NULL;
    if (log_on()) {
        fprintf(stderr,
                "kiln: compile %s: trace %lld (%s): %d steps, %d after "
                "simplify, %d fused regions, %.1f ms\n",
                c->inner->name, (long long)kiln__cache_traces(c->inner) + 1,
                why, e->traced->nsteps, simple->nsteps, nfl,
                kiln__clock_ms() - t0);
    }
done:
    /* a background build counts its own time (jobs.c): not the wait */
    kiln__cache_add_ms(c->inner, kiln__clock_ms() - t0 - waited);
    for (int i = 0; i < nfl; i++) {
        kiln__fused_release(fl[i]);
    }
    free(fl);
    kiln__graph_free(traced);
    kiln__graph_free(simple);
    kiln__graph_free(fused);
    free(source);
    free(cap_slot);
    for (int i = 0; i < nouts; i++) {
        kiln_array_release(outs[i]);
    }
    free(outs);
    kiln_list_free(results);
    kiln_list_free(args);
    for (int i = 0; ph && i < nreal; i++) {
        kiln_array_release(ph[i]);
    }
    free(ph);
    for (int j = 0; saved_in && j < ncap; j++) {
        kiln_array_release(saved_in[j]);
    }
    free(saved_in);
    for (size_t j = 0; before && j < nbefore; j++) {
        kiln_array_release(before[j]);
    }
    free(before);
    for (size_t j = 0; orig && j < norig; j++) {
        kiln_array_release(orig[j]);
    }
    free(orig);
    kiln_array_release(saved_key);
    if (st != KILN_OK) {
        kiln__centry_release(e);
        return NULL;
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* replay                                                             */
/* ------------------------------------------------------------------ */

/* Rebuilds e's fused graph on the real inputs (lazy arrays: shapes come
 * from each step's infer, so a shapeless entry serves new shapes), pushes
 * the results and updates the captured outputs and random key. */
static kiln_status replay(const compiled *c, const kiln_centry *e,
                          kiln_array **real, kiln_list *results)
{
    const kiln_graph *g = e->fused;
    kiln_array *local[64];
    kiln_array **vals = g->nvals <= 64 ? local
                                       : calloc((size_t)g->nvals,
                                                sizeof *vals);
    kiln_status st = KILN_OK;
    if (!vals) {
        return kiln__err_oom("compile", 0);
    }
    for (int v = 0; v < g->nvals; v++) {
        vals[v] = v < g->ninputs ? real[v] : g->vals[v].constant;
    }
    int done_steps = 0;
    for (int i = 0; i < g->nsteps && st == KILN_OK; i++) {
        const kiln_gstep *s = &g->steps[i];
        kiln_array *ins_local[16];
        kiln_array **ins = s->nin <= 16 ? ins_local
                                        : malloc(sizeof *ins *
                                                 (size_t)s->nin);
        kiln_array *outs[KILN_MAX_OUTPUTS];
        int no = 0;
        if (!ins) {
            st = kiln__err_oom("compile", 0);
            break;
        }
        for (int j = 0; j < s->nin; j++) {
            ins[j] = vals[s->in[j]];
        }
        st = kiln__node_make(s->prim, s->params, ins, s->nin, outs, &no,
                             c->inner->name);
        if (ins != ins_local) {
            free(ins);
        }
        if (st == KILN_OK) {
            for (int k = 0; k < no; k++) {
                vals[s->out0 + k] = outs[k];
            }
            done_steps = i + 1;
        }
    }
    for (int i = 0; i < e->nresults && st == KILN_OK; i++) {
        st = kiln_list_push(results, vals[g->outputs[i]]);
    }
    for (int j = 0; j < e->ncap && st == KILN_OK; j++) {
        kiln_array *a = vals[g->outputs[e->nresults + j]];
        size_t slot = (size_t)e->cap_slot[j];
        st = slot < kiln_list_size(c->outputs)
                 ? kiln_list_set(c->outputs, slot, a)
                 : kiln_list_push(c->outputs, a);
    }
    if (e->random_out && st == KILN_OK) {
        st = kiln_random_set_state(vals[g->outputs[g->noutputs - 1]]);
    }
    for (int i = 0; i < done_steps; i++) {
        const kiln_gstep *s = &g->steps[i];
        for (int k = 0; k < s->nout; k++) {
            kiln_array_release(vals[s->out0 + k]);
        }
    }
    if (vals != local) {
        free(vals);
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* the compiled function's body                                       */
/* ------------------------------------------------------------------ */

static kiln_status call(void *ctx, const kiln_list *args, kiln_list *results)
{
    compiled *c = ctx;
    kiln__cache_count(c->inner, KILN_CC_CALL, 1);
    if (compile_off() || kiln__trace_depth() > 0) {
        kiln__cache_count(c->inner, KILN_CC_BYPASS, 1);
        kiln_list *r = kiln__fn_run(c->inner, args);
        if (!r) {
            return kiln_errcode();
        }
        kiln_status st = KILN_OK;
        for (size_t i = 0; i < kiln_list_size(r) && st == KILN_OK; i++) {
            st = kiln_list_push(results, kiln_list_get(r, i));
        }
        kiln_list_free(r);
        return st;
    }
    int nargs = (int)kiln_list_size(args);
    int ncap = c->inputs ? (int)kiln_list_size(c->inputs) : 0;
    int nreal = nargs + ncap + (c->random_state ? 1 : 0);
    kiln_array *local[32];
    kiln_array **real = nreal <= 32 ? local
                                    : malloc(sizeof *real * (size_t)nreal);
    kiln_array *key = NULL;
    kiln_status st = KILN_OK;
    if (!real) {
        return kiln__err_oom("compile", 0);
    }
    for (int i = 0; i < nargs; i++) {
        real[i] = kiln_list_get(args, (size_t)i);
    }
    for (int j = 0; j < ncap; j++) {
        real[nargs + j] = kiln_list_get(c->inputs, (size_t)j);
        if (!real[nargs + j]) {
            st = kiln__err(KILN_ERR_VALUE,
                           "[compile] captured input %d is NULL", j);
        }
    }
    if (c->random_state) {
        key = kiln__random_state_get();
        real[nreal - 1] = key;
        if (!key) {
            st = kiln_errcode();
        }
    }
    sigbuf s = {.p = NULL, .len = 0, .cap = sizeof s.local};
    s.p = s.local;
    if (st == KILN_OK) {
        signature(c, real, nreal, nargs, &s);
        if (s.oom) {
            st = kiln__err_oom("compile", s.len);
        }
    }
    kiln_centry *e = NULL;
    uint64_t h = 0;
    if (st == KILN_OK) {
        h = sig_hash(s.p, s.len);
        e = kiln__cache_find(c->inner, h, s.p, s.len);
    }
    if (st == KILN_OK && !e) {
        char why[256];
        kiln_meta *metas = calloc((size_t)nreal + 1, sizeof *metas);
        if (!metas) {
            st = kiln__err_oom("compile", 0);
        } else {
            for (int i = 0; i < nreal; i++) {
                kiln__array_meta(real[i], &metas[i]);
            }
            reason(c, metas, nreal, why, sizeof why);
            free(metas);
            e = trace(c, real, nreal, nargs, why);
        }
        if (!e) {
            st = kiln_errcode();
        } else {
            kiln__cache_count(c->inner, KILN_CC_TRACE, 1);
            e->hash = h;
            e->sig = malloc(s.len);
            if (!e->sig) {
                kiln__centry_release(e);
                e = NULL;
                st = kiln__err_oom("compile", s.len);
            } else {
                memcpy(e->sig, s.p, s.len);
                e->siglen = s.len;
                e = kiln__cache_insert(c->inner, e);
                if (!e) {
                    st = kiln_errcode();
                }
            }
        }
    }
    if (st == KILN_OK) {
        st = replay(c, e, real, results);
    }
    kiln__centry_release(e);
    kiln_array_release(key);
    if (s.p != s.local) {
        free(s.p);
    }
    if (real != local) {
        free(real);
    }
    return st;
}

static void compiled_free(void *ctx)
{
    compiled *c = ctx;
    kiln_fn_release(c->inner);
    free(c);
}

/* The compiled record behind f, or NULL when f is not compiled. */
static const compiled *as_compiled(const kiln_fn *f)
{
    return f && f->body == call ? f->ctx : NULL;
}

kiln_fn *kiln_compile(kiln_fn *f, const kiln_compile_opts *opts)
{
    if (!f) {
        kiln__err_null("compile");
        return NULL;
    }
    /* compiling a compiled function compiles what it compiles */
    const compiled *prev = as_compiled(f);
    kiln_fn *target = prev ? prev->inner : f;
    compiled *c = calloc(1, sizeof *c);
    if (!c) {
        kiln__err_oom("compile", sizeof *c);
        return NULL;
    }
    c->inner = kiln_fn_retain(target);
    if (opts) {
        c->shapeless = opts->shapeless;
        c->random_state = opts->random_state;
        c->inputs = opts->inputs;
        c->outputs = opts->outputs;
    }
    kiln_fn *w = kiln_fn_new(call, c, compiled_free, target->name);
    if (!w) {
        compiled_free(c);
    }
    return w;
}

/* ------------------------------------------------------------------ */
/* counters, clearing, dumps                                          */
/* ------------------------------------------------------------------ */

kiln_status kiln_compile_stats_get(const kiln_fn *f, kiln_compile_stats *out)
{
    if (!f || !out) {
        return kiln__err_null("compile_stats_get");
    }
    const compiled *c = as_compiled(f);
    return kiln__cache_stats(c ? c->inner : f, out);
}

void kiln_compile_clear_cache(kiln_fn *f)
{
    const compiled *c = as_compiled(f);
    kiln__cache_clear(c ? c->inner : f);
}

kiln_centry *kiln__compile_last_entry(const kiln_fn *f)
{
    const compiled *c = as_compiled(f);
    return f ? kiln__cache_last(c ? c->inner : f) : NULL;
}

/*
 * test_zz_registry.c - registry-driven property tests over every
 * primitive.
 *
 * A constructor installs an eval observer (transforms/eval.h) before main
 * runs, so every node that any test of the run evaluates is checked: infer,
 * re-run on the evaluated inputs' metadata, must agree with the dtype, ndim
 * and shape eval_cpu produced; every output's buffer must hold each
 * element its offset and strides address; the primitive must be one of the
 * registry. The file is named zz so that it links last and its tests run
 * after all others: the last one adds a workload that reaches every
 * primitive through the public ops, then checks that every registered
 * primitive was evaluated at least once and always agreed, and that equal
 * params (over every params value seen) hash equally.
 *
 * Ops of families outside elementwise are referenced weakly: a family not
 * linked yet skips its workload step, and the primitives only that step
 * reaches are listed as skipped instead of failing.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/array.h"
#include "core/error.h"
#include "harness.h"
#include "kiln.h"
#include "prim/prim.h"
#include "transforms/eval.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_PRIMS 512
#define MAX_SAMPLES 16
#define WHY_CAP 512

/* ------------------------------------------------------------------ */
/* the observer                                                       */
/* ------------------------------------------------------------------ */

typedef struct {
    long seen;
    long bad;
    char why[WHY_CAP];          /* the first disagreement */
    int nsamples;
    void *samples[MAX_SAMPLES]; /* distinct params values seen */
} prim_record;

static pthread_mutex_t obs_lock = PTHREAD_MUTEX_INITIALIZER;
static prim_record records[MAX_PRIMS];
static long unregistered;
static char unregistered_name[64];

static int prim_index(const kiln_prim *p)
{
    for (int i = 0; i < kiln__nprims && i < MAX_PRIMS; i++) {
        if (kiln__prims[i] == p) {
            return i;
        }
    }
    return -1;
}

static void shape_text(const int64_t *shape, int nd, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < nd && len < cap; i++) {
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld",
                                (long long)shape[i]);
    }
    if (len < cap) {
        snprintf(buf + len, cap - len, ")");
    }
}

/* Checks output i against infer's answer; writes why on failure. */
static bool check_output(const kiln_array *o, const kiln_meta *m, int i,
                         char *why)
{
    char s1[128], s2[128];
    if (o->dtype != m->dtype || o->ndim != m->ndim ||
        (o->ndim > 0 &&
         memcmp(o->shape, m->shape, sizeof *o->shape * (size_t)o->ndim))) {
        shape_text(o->shape, o->ndim, s1, sizeof s1);
        shape_text(m->shape, m->ndim, s2, sizeof s2);
        snprintf(why, WHY_CAP,
                 "output %d: eval gave %s %s, infer says %s %s", i,
                 kiln_dtype_name(o->dtype), s1, kiln_dtype_name(m->dtype),
                 s2);
        return false;
    }
    int64_t size = 1;
    for (int d = 0; d < o->ndim; d++) {
        size *= o->shape[d];
    }
    if (size != o->size) {
        snprintf(why, WHY_CAP, "output %d: size %lld but shape holds %lld",
                 i, (long long)o->size, (long long)size);
        return false;
    }
    if (!o->buf) {
        snprintf(why, WHY_CAP, "output %d has no buffer", i);
        return false;
    }
    if (size == 0) {
        return true;
    }
    /* the lowest and highest element the view addresses */
    int64_t lo = o->offset, hi = o->offset;
    for (int d = 0; d < o->ndim; d++) {
        int64_t ext = (o->shape[d] - 1) * o->strides[d];
        if (ext < 0) {
            lo += ext;
        } else {
            hi += ext;
        }
    }
    int64_t isz = (int64_t)kiln_dtype_size(o->dtype);
    if (lo < 0 || (size_t)((hi + 1) * isz) > o->buf->nbytes ||
        o->buf->nbytes > o->buf->cap) {
        snprintf(why, WHY_CAP,
                 "output %d addresses bytes [%lld, %lld) of a buffer of "
                 "%zu (capacity %zu)",
                 i, (long long)(lo * isz), (long long)((hi + 1) * isz),
                 o->buf->nbytes, o->buf->cap);
        return false;
    }
    return true;
}

static void record_params(prim_record *r, const kiln_prim *p,
                          const void *params)
{
    if (p->params_size == 0 || !params || r->nsamples >= MAX_SAMPLES) {
        return;
    }
    for (int i = 0; i < r->nsamples; i++) {
        if (memcmp(r->samples[i], params, p->params_size) == 0) {
            return;
        }
    }
    void *copy = malloc(p->params_size);
    if (copy) {
        memcpy(copy, params, p->params_size);
        r->samples[r->nsamples++] = copy;
    }
}

static void observe(const kiln_node *n, kiln_array *const *outs)
{
    /* the test being run may be inspecting its error state: keep it */
    kiln_status saved = kiln_errcode();
    char saved_msg[1024];
    snprintf(saved_msg, sizeof saved_msg, "%s", kiln_errmsg());

    char why[WHY_CAP] = "";
    const kiln_prim *p = n->prim;
    int k = prim_index(p);
    kiln_meta local[16], outm[KILN_MAX_OUTPUTS];
    kiln_meta *inm = n->nin > 16 ? malloc(sizeof *inm * (size_t)n->nin)
                                 : local;
    int no = -1;
    if (k < 0) {
        snprintf(why, sizeof why, "not in the registry");
    } else if (!inm) {
        snprintf(why, sizeof why, "(observer out of memory)");
    } else if (p->nin >= 0 && n->nin != p->nin) {
        snprintf(why, sizeof why, "node has %d inputs, primitive %d", n->nin,
                 p->nin);
    } else {
        for (int i = 0; i < n->nin; i++) {
            kiln__array_meta(n->in[i], &inm[i]);
        }
        kiln_errclear();
        kiln_status st = p->infer(p, n->params, inm, n->nin, outm, &no);
        if (st != KILN_OK) {
            snprintf(why, sizeof why,
                     "infer fails on the evaluated inputs: %s",
                     kiln_errmsg());
        } else if (no != n->nout) {
            snprintf(why, sizeof why, "infer gives %d outputs, node has %d",
                     no, n->nout);
        } else {
            for (int i = 0; i < no; i++) {
                if (!check_output(outs[i], &outm[i], i, why)) {
                    break;
                }
            }
        }
    }
    if (inm != local) {
        free(inm);
    }
    if (saved == KILN_OK) {
        kiln_errclear();
    } else {
        kiln__err(saved, "%s", saved_msg);
    }

    pthread_mutex_lock(&obs_lock);
    if (k < 0) {
        unregistered++;
        snprintf(unregistered_name, sizeof unregistered_name, "%s",
                 p->name ? p->name : "(unnamed)");
    } else {
        prim_record *r = &records[k];
        r->seen++;
        if (why[0]) {
            if (r->bad++ == 0) {
                snprintf(r->why, sizeof r->why, "%s", why);
            }
        }
        record_params(r, p, n->params);
    }
    pthread_mutex_unlock(&obs_lock);
}

__attribute__((constructor)) static void install_observer(void)
{
    kiln__eval_observer = observe;
}

/* ------------------------------------------------------------------ */
/* registry invariants                                                */
/* ------------------------------------------------------------------ */

static const kiln_prim *find_prim(const char *name)
{
    for (int i = 0; i < kiln__nprims; i++) {
        if (kiln__prims[i] && strcmp(kiln__prims[i]->name, name) == 0) {
            return kiln__prims[i];
        }
    }
    return NULL;
}

/* The input dtypes a dtype rule lets through the ops layer, which the
 * primitive's kernel table must therefore cover. */
static bool rule_admits(kiln_dtype_rule rule, kiln_dtype dt)
{
    bool fl = kiln_dtype_is_float(dt), in = kiln_dtype_is_integer(dt);
    switch (rule) {
    case KILN_RULE_FLOAT:
        return fl;
    case KILN_RULE_BOOL:
        return dt == KILN_DTYPE_BOOL;
    case KILN_RULE_INTEGER:
        return in;
    case KILN_RULE_TO_BOOL:
        return true;
    default: /* SAME, NUMERIC: bool is optional */
        return fl || in;
    }
}

TEST(registry_invariants)
{
    const unsigned known = KILN_PRIM_ELEMENTWISE | KILN_PRIM_FUSABLE |
                           KILN_PRIM_REDUCTION | KILN_PRIM_VIEW |
                           KILN_PRIM_RANDOM | KILN_PRIM_NO_SHAPELESS;
    CHECK(kiln__nprims > 0 && kiln__nprims <= MAX_PRIMS);
    for (int i = 0; i < kiln__nprims; i++) {
        const kiln_prim *p = kiln__prims[i];
        CHECK_MSG(p != NULL, "registry entry %d is NULL", i);
        if (!p) {
            continue;
        }
        CHECK_MSG(p->name && p->name[0], "entry %d has no name", i);
        if (!p->name) {
            continue;
        }
        for (int j = 0; j < i; j++) {
            CHECK_MSG(!kiln__prims[j] || kiln__prims[j] == p ||
                          strcmp(kiln__prims[j]->name, p->name) != 0,
                      "primitive name %s registered twice", p->name);
            CHECK_MSG(kiln__prims[j] != p, "%s listed twice", p->name);
        }
        CHECK_MSG(p->infer != NULL, "%s has no infer", p->name);
        CHECK_MSG(p->eval_cpu != NULL, "%s has no eval_cpu", p->name);
        CHECK_MSG(p->nin >= -1, "%s: nin %d", p->name, p->nin);
        CHECK_MSG((p->flags & ~known) == 0, "%s: unknown flags %#x", p->name,
                  p->flags);
        CHECK_MSG(!(p->flags & KILN_PRIM_FUSABLE) ||
                      (p->flags & KILN_PRIM_ELEMENTWISE) ||
                      (p->flags & KILN_PRIM_REDUCTION),
                  "%s: fusable but neither elementwise nor a reduction",
                  p->name);
        /* elementwise ops the ops layer drives by rule carry a kernel
         * table covering every dtype the rule admits */
        if ((p->flags & KILN_PRIM_ELEMENTWISE) &&
            (p->flags & KILN_PRIM_FUSABLE) && p->params_size == 0 &&
            (p->nin == 1 || p->nin == 2)) {
            CHECK_MSG(p->kernels != NULL, "%s: elementwise without kernels",
                      p->name);
            const void *const *table = p->kernels;
            for (int d = 0; table && d < KILN_DTYPE_COUNT; d++) {
                CHECK_MSG(!rule_admits(p->rule, (kiln_dtype)d) || table[d],
                          "%s: rule admits %s but its table has no kernel",
                          p->name, kiln_dtype_name((kiln_dtype)d));
            }
        }
        /* default params: equal to itself, hashes stably */
        if (p->params_size > 0) {
            void *z = calloc(1, p->params_size);
            CHECK(z && kiln__prim_params_equal(p, z, z));
            CHECK(z && kiln__prim_params_hash(p, z) ==
                           kiln__prim_params_hash(p, z));
            free(z);
        } else if (!p->equal && !p->hash) {
            CHECK(kiln__prim_params_equal(p, NULL, NULL));
        }
    }
    /* every elementwise op of the public lists has its primitive */
    static const char *const names[] = {
#define KILN_X_(name) #name,
        KILN_UNARY_OP_LIST(KILN_X_) KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
            "round", "astype", "where"};
    for (int i = 0; i < NELEM(names); i++) {
        const kiln_prim *p = find_prim(names[i]);
        CHECK_MSG(p != NULL, "no primitive named %s", names[i]);
        CHECK_MSG(!p || (p->flags & KILN_PRIM_ELEMENTWISE),
                  "%s is not flagged elementwise", names[i]);
    }
    CHECK(find_prim("no such primitive") == NULL);
}

/* Every public elementwise op on every dtype: either a TypeError when the
 * node is made, or an evaluation that succeeds (the observer checks that
 * infer and eval_cpu agree on each). */
TEST(registry_elementwise_every_dtype)
{
    double vals[6] = {0, 1, -2, 3.5, 100, -0.25};
    int64_t shape[2] = {2, 3};
    kiln_scope_begin();
    kiln_array *base =
        kiln_array_from_data(vals, shape, 2, KILN_DTYPE_FLOAT64);
    for (int d = 0; d < KILN_DTYPE_COUNT; d++) {
        kiln_dtype dt = (kiln_dtype)d;
        kiln_array *x = kiln_astype(base, dt);
        kiln_array *y[64];
        const char *yn[64];
        int ny = 0;
#define KILN_X_(name)                                                     \
    kiln_errclear();                                                      \
    y[ny] = kiln_##name(x);                                               \
    yn[ny] = #name;                                                       \
    CHECK_MSG(y[ny] || kiln_errcode() == KILN_ERR_TYPE,                   \
              "%s(%s) failed with %s", #name, kiln_dtype_name(dt),        \
              kiln_errmsg());                                             \
    ny += y[ny] != NULL;
        KILN_UNARY_OP_LIST(KILN_X_)
#undef KILN_X_
#define KILN_X_(name)                                                     \
    kiln_errclear();                                                      \
    y[ny] = kiln_##name(x, x);                                            \
    yn[ny] = #name;                                                       \
    CHECK_MSG(y[ny] || kiln_errcode() == KILN_ERR_TYPE,                   \
              "%s(%s) failed with %s", #name, kiln_dtype_name(dt),        \
              kiln_errmsg());                                             \
    ny += y[ny] != NULL;
        KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
        kiln_errclear();
        for (int i = 0; i < ny; i++) {
            CHECK_MSG(kiln_array_eval(y[i]) == KILN_OK,
                      "%s(%s) accepted but failed to evaluate: %s", yn[i],
                      kiln_dtype_name(dt), kiln_errmsg());
            kiln_errclear();
        }
    }
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* vector forms                                                       */
/* ------------------------------------------------------------------ */

/* f(x, y) = op(x * y, y) or op(x * y), float16 (x * y rounded and read
 * again), the result widened to float32 (which shows NaN payloads), and
 * the sum of each row of that: a row region whose every pass is a vector
 * loop where op has a vexpr (codegen_loop.c plan_vhalf), whatever op
 * costs. */
static kiln_status vexpr_body(void *ctx, const kiln_list *args,
                              kiln_list *res)
{
    const kiln_prim *p = ctx;
    kiln_array *x = kiln_list_get(args, 0), *y = kiln_list_get(args, 1);
    kiln_scope_begin();
    kiln_array *in[2] = {kiln_multiply(x, y), y};
    kiln_array *o =
        kiln__ret(kiln__node_make1(p, NULL, in, p->nin, p->name));
    kiln_status st = o ? kiln_list_push(res, o) : kiln_errcode();
    kiln_array *w = kiln_astype(o, KILN_DTYPE_FLOAT32);
    int last = -1;
    if (st == KILN_OK) {
        st = kiln_list_push(res, w);
    }
    if (st == KILN_OK) {
        st = kiln_list_push(res, kiln_sum(w, &last, 1, false));
    }
    kiln_scope_end(NULL);
    return st;
}

/* Every elementwise primitive with a vector form (prim.h vexpr) and no
 * params, compiled, gives eager's bits on every float16 edge and tails
 * (rows of 37: two vectors and a tail of 5 with AVX-512), so a wrong
 * vexpr fails here whichever test uses the primitive. The row sums hold
 * NaNs that meet, whose payloads may differ (docs/internals.md): they
 * are compared by NaN-ness. */
TEST(registry_vexpr_bits)
{
    enum { R = 5, C = 37 };
    static uint16_t xh[R * C], yh[R * C];
    const uint16_t edge[] = {0x7c00u, 0xfc00u, 0x7c01u, 0xfc01u, 0x7e00u,
                             0xfe00u, 0x7fffu, 0x7bffu, 0xfbffu, 0x0001u,
                             0x8001u, 0x0000u, 0x8000u, 0x3c00u, 0xbc00u};
    for (int i = 0; i < R * C; i++) {
        xh[i] = i < NELEM(edge) ? edge[i] : (uint16_t)(i * 9363u);
        yh[i] = (uint16_t)(i * 40503u + 17u);
        if ((yh[i] & 0x7c00u) == 0x7c00u) {
            yh[i] &= 0x83ffu; /* finite: one NaN per op */
        }
    }
    kiln_scope_begin();
    int64_t sh[2] = {R, C};
    kiln_list *args = kiln_list_new();
    kiln_dtype f16 = KILN_DTYPE_FLOAT16;
    kiln_list_push(args, kiln_array_from_data(xh, sh, 2, f16));
    kiln_list_push(args, kiln_array_from_data(yh, sh, 2, f16));
    int tested = 0;
    for (int i = 0; i < kiln__nprims; i++) {
        const kiln_prim *p = kiln__prims[i];
        if (!p->emit || !p->emit->vexpr || p->params_size ||
            !(p->flags & KILN_PRIM_ELEMENTWISE) || p->nin < 1 ||
            p->nin > 2) {
            continue;
        }
        tested++;
        kiln_fn *f = kiln_fn_new(vexpr_body, (void *)p, NULL, p->name);
        kiln_fn *cf = kiln_compile(f, NULL);
        kiln_list *e = kiln_fn_call(f, args), *c = kiln_fn_call(cf, args);
        CHECK_MSG(e && c, "%s: %s", p->name, kiln_errmsg());
        for (size_t k = 0; e && c && k < kiln_list_size(e); k++) {
            kiln_array *a = kiln_list_get(c, k), *b = kiln_list_get(e, k);
            const void *pa = kiln_array_data(a), *pb = kiln_array_data(b);
            size_t nb = kiln_array_nbytes(b);
            bool same = pa && pb && kiln_array_nbytes(a) == nb;
            if (same && k < 2) {
                same = memcmp(pa, pb, nb) == 0;
            }
            for (size_t j = 0; same && k == 2 && j < nb / 4; j++) {
                float u = ((const float *)pa)[j], v = ((const float *)pb)[j];
                same = memcmp(&u, &v, 4) == 0 || (isnan(u) && isnan(v));
            }
            CHECK_MSG(same, "%s: compiled and eager differ (result %zu)",
                      p->name, k);
        }
        kiln_compile_stats cs;
        char *src = kiln_compile_dump(cf, KILN_DUMP_SOURCE);
        CHECK_MSG(kiln_compile_stats_get(cf, &cs) == KILN_OK &&
                      (cs.interpreted > 0 ||
                       (src && strstr(src, "kiln_vround_f16(") &&
                        strstr(src, "kiln_vload_h("))),
                  "%s: no vector loop in\n%s", p->name, src ? src : "");
        kiln_free(src);
        kiln_list_free(e);
        kiln_list_free(c);
        kiln_fn_release(cf);
        kiln_fn_release(f);
    }
    CHECK_MSG(tested >= 9, "%d primitives with a vexpr", tested);
    kiln_list_free(args);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* the workload                                                       */
/* ------------------------------------------------------------------ */

/* Ops of other families, referenced weakly (NULL when not linked). */
#pragma weak kiln_sum
#pragma weak kiln_prod
#pragma weak kiln_mean
#pragma weak kiln_min
#pragma weak kiln_max
#pragma weak kiln_all
#pragma weak kiln_any
#pragma weak kiln_logsumexp
#pragma weak kiln_var
#pragma weak kiln_std
#pragma weak kiln_argmin
#pragma weak kiln_argmax
#pragma weak kiln_softmax
#pragma weak kiln_cumsum
#pragma weak kiln_cumprod
#pragma weak kiln_cummax
#pragma weak kiln_cummin
#pragma weak kiln_matmul
#pragma weak kiln_addmm
#pragma weak kiln_inner
#pragma weak kiln_outer
#pragma weak kiln_reshape
#pragma weak kiln_flatten
#pragma weak kiln_transpose
#pragma weak kiln_swapaxes
#pragma weak kiln_moveaxis
#pragma weak kiln_expand_dims
#pragma weak kiln_squeeze
#pragma weak kiln_broadcast_to
#pragma weak kiln_slice
#pragma weak kiln_slice_update
#pragma weak kiln_concatenate
#pragma weak kiln_stack
#pragma weak kiln_pad
#pragma weak kiln_tile
#pragma weak kiln_repeat
#pragma weak kiln_take
#pragma weak kiln_take_along_axis
#pragma weak kiln_sort
#pragma weak kiln_argsort
#pragma weak kiln_topk
#pragma weak kiln_random_key
#pragma weak kiln_random_split
#pragma weak kiln_random_uniform
#pragma weak kiln_random_normal
#pragma weak kiln_random_randint
#pragma weak kiln_random_bernoulli
#pragma weak kiln_arange
#pragma weak kiln_linspace
#pragma weak kiln_eye
#pragma weak kiln_zeros
#pragma weak kiln_full
#pragma weak kiln_array_equal
#pragma weak kiln_isclose

typedef void (*any_fn)(void);

/* results of one step, evaluated together */
typedef struct {
    kiln_array *ys[256];
    int n;
    const char *step;
} work;

static void keep(work *w, kiln_array *y, const char *what)
{
    CHECK_MSG(y != NULL, "workload %s: %s failed: %s", w->step, what,
              kiln_errmsg());
    kiln_errclear();
    if (y && w->n < NELEM(w->ys)) {
        w->ys[w->n++] = y;
    }
}

#define KEEP(w, expr) keep((w), (expr), #expr)

static kiln_array *f32_array(const int64_t *shape, int nd, double scale)
{
    float v[256];
    int64_t size = 1;
    for (int i = 0; i < nd; i++) {
        size *= shape[i];
    }
    for (int64_t i = 0; i < size && i < 256; i++) {
        v[i] = (float)(((i * 7) % 11) - 5) * (float)scale + 0.25f;
    }
    return kiln_array_from_data(v, shape, nd, KILN_DTYPE_FLOAT32);
}

static void step_elementwise(work *w)
{
    int64_t s23[2] = {2, 3};
    kiln_array *x = f32_array(s23, 2, 0.1); /* within (-1, 1) */
    kiln_array *xi = kiln_astype(kiln_multiply(x, kiln_weak_f64(10)),
                                 KILN_DTYPE_INT32);
    kiln_array *xb = kiln_greater(x, kiln_weak_f64(0));
#define KILN_X_(name)                                                     \
    if (strcmp(#name, "bitwise_invert") != 0) {                           \
        KEEP(w, kiln_##name(x));                                          \
    }
    KILN_UNARY_OP_LIST(KILN_X_)
#undef KILN_X_
#define KILN_X_(name) KEEP(w, kiln_##name(xi, xi));
    KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
    KEEP(w, kiln_bitwise_invert(xi));
    KEEP(w, kiln_logical_not(xb));
    KEEP(w, kiln_round(x, 0));
    KEEP(w, kiln_round(x, 2));
    KEEP(w, kiln_astype(x, KILN_DTYPE_FLOAT16));
    KEEP(w, kiln_where(xb, x, kiln_weak_f64(0)));
    KEEP(w, kiln_clip(x, kiln_weak_f64(-0.2), kiln_weak_f64(0.2)));
    KEEP(w, kiln_logaddexp(x, x));
    KEEP(w, kiln_arctan2(x, kiln_add(x, kiln_weak_f64(1))));
}

static void step_reduce(work *w)
{
    int64_t s34[2] = {3, 4};
    kiln_array *x = f32_array(s34, 2, 0.5);
    int ax1 = 1, ax0 = 0;
    KEEP(w, kiln_sum(x, &ax1, 1, false));
    KEEP(w, kiln_prod(x, NULL, 0, true));
    KEEP(w, kiln_mean(x, &ax0, 1, false));
    KEEP(w, kiln_min(x, &ax1, 1, true));
    KEEP(w, kiln_max(x, NULL, 0, false));
    KEEP(w, kiln_all(kiln_greater(x, kiln_weak_f64(0)), &ax1, 1, false));
    KEEP(w, kiln_any(kiln_greater(x, kiln_weak_f64(0)), NULL, 0, false));
    KEEP(w, kiln_logsumexp(x, &ax1, 1, false));
    KEEP(w, kiln_var(x, &ax0, 1, false, 1));
    KEEP(w, kiln_std(x, NULL, 0, false, 0));
    KEEP(w, kiln_argmin(x, 1, false, false));
    KEEP(w, kiln_argmax(x, 0, true, false));
    KEEP(w, kiln_softmax(x, &ax1, 1, false));
    KEEP(w, kiln_cumsum(x, 1, false, false, true));
    KEEP(w, kiln_cumprod(x, 0, false, true, true));
    KEEP(w, kiln_cummax(x, 1, false, false, false));
    KEEP(w, kiln_cummin(x, 0, true, false, true));
}

static void step_movement(work *w)
{
    int64_t s234[3] = {2, 3, 4}, r[2] = {6, 4}, b[4] = {2, 2, 3, 4};
    kiln_array *x = f32_array(s234, 3, 1.0);
    int perm[3] = {2, 0, 1}, ax[1] = {1};
    kiln_array *t = kiln_transpose(x, perm, 3);
    KEEP(w, t);
    KEEP(w, kiln_reshape(x, r, 2));
    KEEP(w, kiln_reshape(t, r, 2)); /* needs a copy */
    KEEP(w, kiln_flatten(x, 0, -1));
    KEEP(w, kiln_swapaxes(x, 0, 2));
    KEEP(w, kiln_moveaxis(x, 0, -1));
    kiln_array *e = kiln_expand_dims(x, ax, 1);
    KEEP(w, e);
    KEEP(w, kiln_squeeze(e, ax, 1));
    KEEP(w, kiln_broadcast_to(x, b, 4));
    int64_t st[3] = {0, 1, KILN_SLICE_BEGIN};
    int64_t sp[3] = {2, 3, KILN_SLICE_END}, step[3] = {1, 1, -2};
    KEEP(w, kiln_slice(x, st, sp, step));
    KEEP(w, kiln_slice_update(x, kiln_weak_f64(7), st, sp, step));
    kiln_array *xs[2] = {x, x};
    KEEP(w, kiln_concatenate(xs, 2, 1));
    KEEP(w, kiln_stack(xs, 2, 0));
    int64_t pw[6] = {0, 1, 1, 0, 2, 2};
    KEEP(w, kiln_pad(x, pw, 0.5));
    int64_t reps[2] = {2, 1};
    KEEP(w, kiln_tile(x, reps, 2));
    KEEP(w, kiln_repeat(x, 2, 1, false));
}

static void step_index(work *w)
{
    int64_t s34[2] = {3, 4}, n2 = 2;
    kiln_array *x = f32_array(s34, 2, 1.0);
    int32_t idx[2] = {2, -1};
    kiln_array *ix = kiln_array_from_data(idx, &n2, 1, KILN_DTYPE_INT32);
    KEEP(w, kiln_take(x, ix, 1, false));
    KEEP(w, kiln_take(x, ix, 0, true));
    KEEP(w, kiln_take_along_axis(x, kiln_argsort(x, 1, false), 1, false));
    KEEP(w, kiln_sort(x, 1, false));
    KEEP(w, kiln_sort(x, 0, true));
    KEEP(w, kiln_argsort(x, 0, false));
    KEEP(w, kiln_topk(x, 2, 1, false));
}

static void step_matmul(work *w)
{
    int64_t s23[2] = {2, 3}, s34[2] = {3, 4}, s24[2] = {2, 4}, n3 = 3;
    kiln_array *a = f32_array(s23, 2, 1.0), *b = f32_array(s34, 2, 0.5);
    kiln_array *c = f32_array(s24, 2, 0.1), *v = f32_array(&n3, 1, 1.0);
    KEEP(w, kiln_matmul(a, b));
    KEEP(w, kiln_matmul(kiln_astype(a, KILN_DTYPE_INT32),
                        kiln_astype(b, KILN_DTYPE_INT32)));
    KEEP(w, kiln_addmm(c, a, b, 2.0, 0.5));
    KEEP(w, kiln_inner(v, v));
    KEEP(w, kiln_outer(v, v));
}

static void step_random(work *w)
{
    int64_t s[2] = {3, 5};
    kiln_array *key = kiln_random_key(42);
    KEEP(w, key);
    KEEP(w, kiln_random_split(key, 3));
    KEEP(w, kiln_random_uniform(kiln_weak_f64(0), kiln_weak_f64(1), s, 2,
                                KILN_DTYPE_FLOAT32, key));
    KEEP(w, kiln_random_normal(s, 2, KILN_DTYPE_FLOAT32, 0.0, 1.0, key));
    KEEP(w, kiln_random_randint(kiln_weak_i64(0), kiln_weak_i64(10), s, 2,
                                KILN_DTYPE_INT32, key));
    KEEP(w, kiln_random_bernoulli(kiln_weak_f64(0.5), s, 2, key));
}

static void step_creation(work *w)
{
    int64_t s[2] = {2, 3};
    KEEP(w, kiln_arange(0, 10, 3, KILN_DTYPE_INT32));
    KEEP(w, kiln_arange(-1, 1, 0.25, KILN_DTYPE_FLOAT32));
    KEEP(w, kiln_linspace(0, 1, 5, KILN_DTYPE_FLOAT64));
    KEEP(w, kiln_eye(3, 4, 1, KILN_DTYPE_FLOAT32));
    KEEP(w, kiln_zeros(s, 2, KILN_DTYPE_INT8));
    KEEP(w, kiln_full(s, 2, 2.5, KILN_DTYPE_FLOAT16));
}

static void step_compare(work *w)
{
    int64_t s[2] = {2, 3};
    kiln_array *x = f32_array(s, 2, 1.0);
    KEEP(w, kiln_array_equal(x, x, false));
    KEEP(w, kiln_isclose(x, kiln_add(x, kiln_weak_f64(1e-9)), 1e-5, 1e-8,
                         true));
}

/* A step runs when every op it names is linked; `prims` lists the
 * primitives it exists to reach. */
typedef struct {
    const char *name;
    void (*run)(work *w);
    const char *prims;
    int nneed;
    any_fn need[8];
    const char *need_names;
} step;

static const step steps[] = {
    {"elementwise", step_elementwise, "", 0, {NULL}, ""},
    {"reduce", step_reduce,
     " sum prod max min all any argmax argmin cumsum cumprod cummax cummin ",
     8,
     {(any_fn)kiln_sum, (any_fn)kiln_prod, (any_fn)kiln_argmax,
      (any_fn)kiln_cumsum, (any_fn)kiln_softmax, (any_fn)kiln_var,
      (any_fn)kiln_logsumexp, (any_fn)kiln_cummin},
     "kiln_sum kiln_prod kiln_argmax kiln_cumsum kiln_softmax kiln_var "
     "kiln_logsumexp kiln_cummin"},
    {"movement", step_movement,
     " reshape transpose expand_dims squeeze slice broadcast_to "
     "slice_update concatenate pad ",
     8,
     {(any_fn)kiln_transpose, (any_fn)kiln_reshape, (any_fn)kiln_slice,
      (any_fn)kiln_slice_update, (any_fn)kiln_concatenate, (any_fn)kiln_pad,
      (any_fn)kiln_tile, (any_fn)kiln_repeat},
     "kiln_transpose kiln_reshape kiln_slice kiln_slice_update "
     "kiln_concatenate kiln_pad kiln_tile kiln_repeat"},
    {"index", step_index, " take take_along_axis sort argsort topk ",
     5,
     {(any_fn)kiln_take, (any_fn)kiln_take_along_axis, (any_fn)kiln_sort,
      (any_fn)kiln_argsort, (any_fn)kiln_topk},
     "kiln_take kiln_take_along_axis kiln_sort kiln_argsort kiln_topk"},
    {"matmul", step_matmul, " matmul addmm ",
     4,
     {(any_fn)kiln_matmul, (any_fn)kiln_addmm, (any_fn)kiln_inner,
      (any_fn)kiln_outer},
     "kiln_matmul kiln_addmm kiln_inner kiln_outer"},
    {"random", step_random, " random_bits ",
     6,
     {(any_fn)kiln_random_key, (any_fn)kiln_random_split,
      (any_fn)kiln_random_uniform, (any_fn)kiln_random_normal,
      (any_fn)kiln_random_randint, (any_fn)kiln_random_bernoulli},
     "kiln_random_key kiln_random_split kiln_random_uniform "
     "kiln_random_normal kiln_random_randint kiln_random_bernoulli"},
    {"creation", step_creation, " arange linspace eye ",
     5,
     {(any_fn)kiln_arange, (any_fn)kiln_linspace, (any_fn)kiln_eye,
      (any_fn)kiln_zeros, (any_fn)kiln_full},
     "kiln_arange kiln_linspace kiln_eye kiln_zeros kiln_full"},
    {"compare", step_compare, "", 2,
     {(any_fn)kiln_array_equal, (any_fn)kiln_isclose},
     "kiln_array_equal kiln_isclose"},
};

static bool step_linked(const step *s)
{
    for (int i = 0; i < s->nneed; i++) {
        if (!s->need[i]) {
            return false;
        }
    }
    return true;
}

/* " name " occurs in a space-delimited list */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *c = strstr(list, name); c; c = strstr(c + 1, name)) {
        if (c > list && c[-1] == ' ' && c[n] == ' ') {
            return true;
        }
    }
    return false;
}

TEST(registry_zz_every_primitive_observed)
{
    CHECK_MSG(kiln__eval_observer == observe,
              "the registry observer is not installed");
    char skipped[1024] = "";
    for (int s = 0; s < NELEM(steps); s++) {
        if (!step_linked(&steps[s])) {
            fprintf(stderr,
                    "  registry: step '%s' skipped: not all of %s are "
                    "linked\n",
                    steps[s].name, steps[s].need_names);
            strncat(skipped, steps[s].prims,
                    sizeof skipped - strlen(skipped) - 1);
            continue;
        }
        work w = {.n = 0, .step = steps[s].name};
        kiln_scope_begin();
        steps[s].run(&w);
        CHECK_MSG(kiln_eval(w.ys, w.n) == KILN_OK, "workload %s: %s",
                  steps[s].name, kiln_errmsg());
        kiln_errclear();
        kiln_scope_end(NULL);
    }

    pthread_mutex_lock(&obs_lock);
    int nskipped = 0;
    for (int i = 0; i < kiln__nprims && i < MAX_PRIMS; i++) {
        const kiln_prim *p = kiln__prims[i];
        prim_record *r = &records[i];
        if (r->seen == 0 && listed(skipped, p->name)) {
            fprintf(stderr, "  registry: %s not evaluated (family skipped)\n",
                    p->name);
            nskipped++;
            continue;
        }
        CHECK_MSG(r->seen > 0,
                  "primitive %s was never evaluated: add it to the "
                  "registry workload",
                  p->name);
        CHECK_MSG(r->bad == 0, "primitive %s disagreed %ld of %ld times: %s",
                  p->name, r->bad, r->seen, r->why);
        /* equal params hash equally (over every distinct value seen, and
         * a copy of each) */
        for (int a = 0; a < r->nsamples; a++) {
            void *copy = malloc(p->params_size);
            if (copy) {
                memcpy(copy, r->samples[a], p->params_size);
                CHECK_MSG(kiln__prim_params_equal(p, r->samples[a], copy) &&
                              kiln__prim_params_hash(p, r->samples[a]) ==
                                  kiln__prim_params_hash(p, copy),
                          "%s: params not equal to their copy", p->name);
            }
            free(copy);
            for (int b = 0; b < r->nsamples; b++) {
                if (kiln__prim_params_equal(p, r->samples[a],
                                            r->samples[b])) {
                    CHECK_MSG(kiln__prim_params_hash(p, r->samples[a]) ==
                                  kiln__prim_params_hash(p, r->samples[b]),
                              "%s: equal params, different hashes", p->name);
                }
            }
        }
    }
    CHECK_MSG(unregistered == 0,
              "%ld evaluated nodes ran a primitive outside the registry "
              "(last: %s)",
              unregistered, unregistered_name);
    pthread_mutex_unlock(&obs_lock);
    (void)nskipped;
}

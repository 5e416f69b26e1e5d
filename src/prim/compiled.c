/*
 * compiled.c - the fused region primitive: one node of a compiled graph
 * that runs a whole region (compile/region.h) in one kernel.
 *
 * Shape rule (the region's domain, recomputed from the actual inputs so a
 * shapeless replay serves new shapes): the domain is the broadcast of
 * every input's shape right-aligned to the region's rank D; an output is
 * the domain (an inner value) or the domain with the trailing k reduced
 * dims set to 1 (an outer value), dropped when the output's rank is D - k.
 * An input that was traced with size 1 on every reduced dim must still
 * have it (it is read once per row); otherwise the region no longer fits
 * and the error says to call again without shapeless.
 *
 * Note on layering: the params reach the region IR of compile/region.h, a
 * plain data header shared by compile (which builds it) and the backend
 * (which runs it); no code of the compile layer is called from here.
 */
#include "compiled.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/fused_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../transforms/transform.h"
#include "prim.h"

kiln_fused *kiln__fused_new(kiln_region *r)
{
    kiln_fused *f = calloc(1, sizeof *f);
    if (!f) {
        kiln__region_free(r);
        return NULL;
    }
    atomic_init(&f->rc, 1);
    atomic_init(&f->kernel, NULL);
    atomic_init(&f->pending, 0);
    f->region = r;
    return f;
}

/* Waiters on any pending kernel: builds are rare and short, so one pair
 * serves every kiln_fused. */
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t published = PTHREAD_COND_INITIALIZER;

kiln_region_kernel kiln__fused_kernel(kiln_fused *f, bool wait)
{
    kiln_region_kernel k =
        atomic_load_explicit(&f->kernel, memory_order_acquire);
    if (k || !wait) {
        return k;
    }
    if (!atomic_load_explicit(&f->pending, memory_order_acquire)) {
        /* published between the two loads, or never coming */
        return atomic_load_explicit(&f->kernel, memory_order_acquire);
    }
    pthread_mutex_lock(&wait_lock);
    while (atomic_load_explicit(&f->pending, memory_order_acquire)) {
        pthread_cond_wait(&published, &wait_lock);
    }
    pthread_mutex_unlock(&wait_lock);
    return atomic_load_explicit(&f->kernel, memory_order_acquire);
}

void kiln__fused_after_fork(void)
{
    pthread_mutex_init(&wait_lock, NULL);
    pthread_cond_init(&published, NULL);
}

void kiln__fused_expect(kiln_fused *f)
{
    atomic_store_explicit(&f->pending, 1, memory_order_relaxed);
}

void kiln__fused_publish(kiln_fused *f, kiln_region_kernel k, void *owner,
                         void (*owner_release)(void *owner))
{
    if (k) {
        f->owner = owner;
        f->owner_release = owner_release;
        atomic_store_explicit(&f->kernel, k, memory_order_release);
    }
    pthread_mutex_lock(&wait_lock);
    atomic_store_explicit(&f->pending, 0, memory_order_release);
    pthread_cond_broadcast(&published);
    pthread_mutex_unlock(&wait_lock);
}

void kiln__fused_retain(kiln_fused *f)
{
    atomic_fetch_add_explicit(&f->rc, 1, memory_order_relaxed);
}

void kiln__fused_release(kiln_fused *f)
{
    if (!f ||
        atomic_fetch_sub_explicit(&f->rc, 1, memory_order_acq_rel) != 1) {
        return;
    }
    kiln__region_free(f->region);
    if (f->owner_release) {
        f->owner_release(f->owner);
    }
    free(f);
}

static void retain_params(const void *params)
{
    kiln__fused_retain(((const kiln_fused_params *)params)->fused);
}

static void release_params(const void *params)
{
    kiln__fused_release(((const kiln_fused_params *)params)->fused);
}

static kiln_status infer_fused(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_region *r = ((const kiln_fused_params *)params)->fused->region;
    int D = r->ndim, k = r->nreduce;
    int64_t dom[KILN_MAX_NDIM];
    if (nin != r->ninputs) {
        return kiln__err(KILN_ERR_VALUE, "[%s] expects %d inputs, got %d",
                         p->name, r->ninputs, nin);
    }
    for (int d = 0; d < D; d++) {
        dom[d] = 1;
    }
    for (int i = 0; i < nin; i++) {
        int off = D - in[i].ndim;
        if (in[i].dtype != r->in_dtype[i] || off < 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[compile] input %d of a fused region changed "
                             "rank or dtype; the function must be traced "
                             "again", i);
        }
        for (int d = 0; d < in[i].ndim; d++) {
            int64_t s = in[i].shape[d];
            bool inner = off + d >= D - k;
            if (r->in_outer[i] && inner && s != 1) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[compile] a fused reduction was traced with "
                                 "input %d of size 1 along the reduced axes "
                                 "and is now called with %lld; compile "
                                 "without shapeless for such inputs",
                                 i, (long long)s);
            }
            if (s == 1) {
                continue;
            }
            if (dom[off + d] != 1 && dom[off + d] != s) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[compile] the inputs of a fused region no "
                                 "longer broadcast together (size %lld vs "
                                 "%lld on axis %d)", (long long)dom[off + d],
                                 (long long)s, off + d);
            }
            dom[off + d] = s;
        }
    }
    kiln__region_domain_fill(r, dom);
    int64_t len = 1;
    for (int d = D - k; d < D; d++) {
        len *= dom[d];
    }
    for (int i = 0; k > 0 && len == 0 && i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (v->kind == KILN_RVAL_REDUCE && v->prim->emit->nonempty) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] cannot reduce over an empty axis: the "
                             "reduction has no identity", v->prim->name);
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        const kiln_rval *v = &r->vals[r->out_val[j]];
        out[j].dtype = v->dtype;
        out[j].ndim = r->out_ndim[j];
        for (int d = 0; d < r->out_ndim[j]; d++) {
            out[j].shape[d] = (!v->inner && d >= D - k) ? 1 : dom[d];
        }
    }
    *nout = r->noutputs;
    return KILN_OK;
}

/* Two fused steps are equal only when they run the same region object. */
const kiln_prim kiln__prim_fused = {
    .name = "fused",
    .flags = 0,
    .nin = -1,
    .params_size = sizeof(kiln_fused_params),
    .infer = infer_fused,
    .eval_cpu = kiln__cpu_eval_fused,
    .params_retain = retain_params,
    .params_release = release_params,
    .vjp = kiln__compiled_ad_vjp,
    .jvp = kiln__compiled_ad_jvp,
    .vmap = kiln__compiled_ad_vmap,
};

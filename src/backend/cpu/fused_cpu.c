/*
 * fused_cpu.c - runs a fused region: lays out its operands over the
 * region's domain and drives its kernel (generated C, or the interpreter
 * when no compiler worked) through the shared iterator and the pool.
 *
 * Elementwise regions walk the whole domain: the iterator collapses and
 * splits it, the kernel sees rows. Reduction regions walk the outer dims
 * only; each operand's reduced (inner) dims must collapse to one stride,
 * and an input that varies along them whose do not collapse to its
 * element size (a strided or broadcast view) is first copied to
 * contiguous memory of its own outer shape and the inner extent.
 *
 * Outputs are contiguous. An output of an elementwise region takes over
 * (kiln__array_donate) the buffer of an input of its own shape and dtype
 * that nothing else references: an optimiser's update then writes its
 * parameters and moments in place, and memory sees no fresh buffers to
 * fill (their first write reads each line in first). That is safe because
 * such a region reads and writes only element e at element e, and every
 * kernel reads an element's inputs before it stores its outputs: the
 * generated loops (plain pointers under `#pragma GCC ivdep`, never
 * restrict, since the aliasing is at the same index only) and the
 * interpreter (which stores a block after computing it). Reduction regions read their inputs again in later passes, after
 * storing outputs of earlier ones: their outputs are always fresh.
 *
 * Invariants: operand order is outputs then inputs (compile/region.h); a
 * donated input is read by no other operand (it has one reference, from
 * this node, and its buffer one, from it).
 */
#include "fused_cpu.h"

#include <string.h>

#include "../../core/dtype.h"
#include "../../core/error.h"
#include "../../core/shape.h"
#include "../../prim/compiled.h"
#include "copy_cpu.h"
#include "interp_cpu.h"
#include "iter.h"

/* Byte strides of x over the domain (rank D), right-aligned, 0 where x
 * is broadcast. */
static void domain_strides(const kiln_array *x, int D, const int64_t *dom,
                           int64_t *st)
{
    int off = D - x->ndim;
    int64_t es = (int64_t)kiln_dtype_size(x->dtype);
    for (int d = 0; d < D; d++) {
        int xd = d - off;
        st[d] = (xd < 0 || x->shape[xd] == 1 || dom[d] == 1)
                    ? 0
                    : x->strides[xd] * es;
    }
}

/* Whether the inner dims [D-k, D) of strides st collapse to one stride
 * (written to *one). */
static bool inner_collapses(const int64_t *st, const int64_t *dom, int D,
                            int k, int64_t *one)
{
    int64_t s = 0;
    bool any = false;
    for (int d = D - 1; d >= D - k; d--) {
        if (dom[d] == 1) {
            continue;
        }
        if (!any) {
            s = st[d];
            any = true;
            continue;
        }
        /* the next outer inner dim must continue the walk */
        int64_t want = 0;
        int64_t extent = 1;
        for (int e = d + 1; e < D; e++) {
            extent *= dom[e];
        }
        want = s * extent;
        if (st[d] != want) {
            return false;
        }
    }
    *one = s;
    return true;
}

/* Whether input i (i < 0: an output), read along the rows (traced with
 * inner extent), has a collapsed row stride `one` other than its element
 * size: a strided view, or a broadcast like a stride-0 `ones`. The
 * kernel's vectorised variant needs unit-stride rows, so such an input is
 * copied to its own rows first (far cheaper than the scalar strided
 * variant), except a broadcast row that differs from row to row (stride
 * 0 along the row, not across rows: a (m, 1) column broadcast to (m, n)),
 * whose copy would be as big as the domain; that one stays strided. st:
 * its domain strides, dom: the domain, D - k outer dims. */
static bool strided_row(const kiln_region *r, int i, int64_t one,
                        kiln_array *const *in, int64_t len,
                        const int64_t *st, const int64_t *dom, int outer)
{
    if (i < 0 || len <= 1 || r->in_outer[i] || r->in_ndim[i] == 0 ||
        one == (int64_t)kiln_dtype_size(in[i]->dtype)) {
        return false;
    }
    for (int d = 0; one == 0 && d < outer; d++) {
        if (st[d] != 0 && dom[d] > 1) {
            return false;
        }
    }
    return true;
}

/* Whether a call should wait for a kernel still being built rather than
 * run in the interpreter: when its work (elements times region values)
 * would keep the interpreter busy for a good part of a build (it does
 * about 4e9 value-elements a second on two cores, so WAIT_WORK is ~15 ms;
 * a build takes 50-200 ms, and the kernel is 1.5-3x faster). */
#define WAIT_WORK ((int64_t)1 << 26)

/* Outputs of at least this many bytes in all are written with streaming
 * stores (backend/cpu/ntstore.h): far past the caches a plain store reads
 * each line first (measured here: +25-40% from 32 MB, nothing at 16 MB). */
#define STREAM_BYTES ((int64_t)32 << 20)

/* kiln__iter_grain_for_cost over the region's ops: gelu on 40K elements runs on
 * every thread (25 -> 14 us a call on 2) where an add would not pay for
 * waking them. */
int64_t kiln__fused_grain(const kiln_region *r, int64_t grain)
{
    int64_t cost = 0;
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (v->kind == KILN_RVAL_OP || v->kind == KILN_RVAL_REDUCE) {
            const kiln_emit *e = v->prim ? v->prim->emit : NULL;
            cost += e && e->cost ? e->cost : 1;
        }
    }
    return kiln__iter_grain_for_cost(grain, cost);
}

static bool worth_waiting(const kiln_region *r, const int64_t *dom)
{
    int64_t work = r->nvals;
    for (int d = 0; d < r->ndim; d++) {
        if (dom[d] > 0 && work > WAIT_WORK / dom[d]) {
            return true;
        }
        work *= dom[d];
    }
    return work > WAIT_WORK;
}

kiln_status kiln__cpu_eval_fused(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out)
{
    kiln_fused *f = ((const kiln_fused_params *)n->params)->fused;
    const kiln_region *r = f->region;
    int D = r->ndim, k = r->nreduce;
    int nout = r->noutputs, nin = r->ninputs, nops = nout + nin;
    int64_t dom[KILN_MAX_NDIM];
    int64_t st[KILN_REGION_MAX_OPERANDS][KILN_MAX_NDIM];
    const int64_t *stp[KILN_REGION_MAX_OPERANDS];
    char *base[KILN_REGION_MAX_OPERANDS];
    kiln_buffer *temps[KILN_REGION_MAX_OPERANDS] = {NULL};
    kiln_status status = KILN_OK;

    for (int d = 0; d < D; d++) {
        dom[d] = 1;
    }
    for (int i = 0; i < nin; i++) {
        int off = D - in[i]->ndim;
        for (int d = 0; d < in[i]->ndim; d++) {
            if (in[i]->shape[d] != 1) {
                dom[off + d] = in[i]->shape[d];
            }
        }
    }
    kiln__region_domain_fill(r, dom);
    bool donor_used[KILN_REGION_MAX_OPERANDS] = {false};
    for (int j = 0; j < nout; j++) {
        bool donated = false;
        for (int i = 0; k == 0 && i < nin && !donated; i++) {
            donated = !donor_used[i] && in[i]->dtype == out[j]->dtype &&
                      kiln__shape_equal(in[i]->shape, in[i]->ndim,
                                        out[j]->shape, out[j]->ndim) &&
                      kiln__array_donate(out[j], in[i]);
            if (donated) {
                donor_used[i] = true;
            }
        }
        if (!donated &&
            kiln__array_alloc(out[j], n->prim->name) != KILN_OK) {
            return kiln_errcode();
        }
        const kiln_rval *v = &r->vals[r->out_val[j]];
        int64_t es = (int64_t)kiln_dtype_size(out[j]->dtype);
        for (int d = 0; d < D; d++) {
            bool reduced = !v->inner && d >= D - k;
            st[j][d] = (reduced || d >= out[j]->ndim || dom[d] == 1)
                           ? 0
                           : out[j]->strides[d] * es;
        }
        base[j] = kiln__array_ptr(out[j]);
    }
    for (int i = 0; i < nin; i++) {
        domain_strides(in[i], D, dom, st[nout + i]);
        base[nout + i] = kiln__array_ptr(in[i]);
    }
    for (int o = 0; o < nops; o++) {
        stp[o] = st[o];
    }
    int64_t out_bytes = 0;
    for (int j = 0; j < nout; j++) {
        out_bytes += (int64_t)out[j]->size *
                     (int64_t)kiln_dtype_size(out[j]->dtype);
    }
    kiln_region_kernel kern = kiln__fused_kernel(f,
                                                 worth_waiting(r, dom));
    if (k == 0) {
        kiln_iter it;
        kiln_interp_ctx ictx = {r, NULL};
        kiln__iter_init(&it, D, dom, nops, base, stp);
        if (kern) {
            /* a non-NULL ctx: stream the outputs (codegen.c put_ew_call) */
            static const int64_t stream = 1;
            kiln__iter_run(&it, kiln__fused_grain(r, KILN_GRAIN_ELEMENTWISE),
                           kern,
                           out_bytes >= STREAM_BYTES ? (void *)&stream
                                                     : NULL);
        } else {
            kiln__iter_run(&it, kiln__fused_grain(r, KILN_GRAIN_ELEMENTWISE),
                           kiln__interp_run, &ictx);
        }
        return KILN_OK;
    }
    kiln_region_inner inner;
    inner.len = 1;
    inner.stream = out_bytes >= STREAM_BYTES;
    for (int d = D - k; d < D; d++) {
        inner.len *= dom[d];
    }
    for (int o = 0; o < nops && status == KILN_OK; o++) {
        int64_t one = 0;
        if (inner_collapses(st[o], dom, D, k, &one) &&
            !strided_row(r, o - nout, one, in, inner.len, st[o], dom,
                         D - k)) {
            inner.stride[o] = one;
            continue;
        }
        /* an input whose inner dims do not collapse, or whose rows are
         * strided or broadcast: copy it to the layout [its outer dims...,
         * the inner extent] */
        const kiln_array *x = in[o - nout];
        int64_t es = (int64_t)kiln_dtype_size(x->dtype);
        int64_t shape[KILN_MAX_NDIM], dst[KILN_MAX_NDIM];
        int64_t total = 1;
        for (int d = 0; d < D; d++) {
            bool outer_b = d < D - k && st[o][d] == 0;
            shape[d] = outer_b ? 1 : dom[d];
            total *= shape[d];
        }
        temps[o] = kiln__buffer_new((size_t)(total * es));
        if (!temps[o]) {
            status = kiln__err_oom(n->prim->name, (size_t)(total * es));
            break;
        }
        int64_t acc = es;
        for (int d = D - 1; d >= 0; d--) {
            dst[d] = shape[d] == 1 ? 0 : acc;
            acc *= shape[d];
        }
        kiln__cpu_copy(D, shape, (size_t)es, temps[o]->data, dst, base[o],
                       st[o]);
        base[o] = temps[o]->data;
        for (int d = 0; d < D; d++) {
            st[o][d] = dst[d];
        }
        inner.stride[o] = es;
    }
    if (status == KILN_OK) {
        kiln_iter it;
        kiln_interp_ctx ictx = {r, &inner};
        int64_t grain = kiln__fused_grain(
            r, inner.len > 0 ? KILN_GRAIN_ELEMENTWISE / inner.len : 1);
        kiln__iter_init(&it, D - k, dom, nops, base, stp);
        if (grain < 1) {
            grain = 1;
        }
        if (kern) {
            kiln__iter_run(&it, grain, kern, &inner);
        } else {
            kiln__iter_run(&it, grain, kiln__interp_run, &ictx);
        }
    }
    for (int o = 0; o < nops; o++) {
        kiln__buffer_release(temps[o]);
    }
    return status;
}

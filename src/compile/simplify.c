/*
 * simplify.c - the traced graph made smaller without changing a result
 * (DESIGN.md 5.2 step 2), in linear time:
 *
 * 1. equal scalar constants (same dtype, same bytes) become one value;
 * 2. no-op steps (the descriptor's `noop` says so for these params and
 *    input, e.g. a transpose by the identity) are replaced by their input;
 * 3. common subexpressions: a step equal to an earlier one (same
 *    primitive, equal params, same input values) is replaced by it, found
 *    by hash-consing in one pass (log and log2 differ in primitive; two
 *    sums over different axes differ in params);
 * 4. dead code: only steps that a result needs are kept;
 * 5. with fixed shapes, a step whose value depends only on its inputs'
 *    shapes (the descriptor's `shape_value`, number_of_elements) becomes
 *    a 0-d constant; shapeless, it stays, to be computed at each replay.
 *
 * Random primitives are never merged: two draws are two draws.
 */
#include "simplify.h"

#include <stdlib.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "ptrmap.h"

/* Inputs a folded shape_value step may have. */
#define FOLD_MAX_IN 4

/* Hash of a 0-d constant's dtype and bytes; 0 for anything larger. */
static uint64_t scalar_key(const kiln_array *a)
{
    if (a->ndim != 0 || !a->buf) {
        return 0;
    }
    uint64_t bits = 0;
    memcpy(&bits, kiln__array_ptr(a), kiln_dtype_size(a->dtype));
    return kiln__hash_mix(kiln__hash_mix(0x5ca1a4, (uint64_t)a->dtype),
                          bits) | 1u;
}

static bool same_scalar(const kiln_array *a, const kiln_array *b)
{
    return a->ndim == 0 && b->ndim == 0 && a->dtype == b->dtype &&
           memcmp(kiln__array_ptr(a), kiln__array_ptr(b),
                  kiln_dtype_size(a->dtype)) == 0;
}

static uint64_t step_hash(const kiln_gstep *s, const int *in)
{
    uint64_t h = kiln__hash_mix(0xc5e, (uint64_t)(uintptr_t)s->prim);
    h = kiln__hash_mix(h, kiln__prim_params_hash(s->prim, s->params));
    for (int i = 0; i < s->nin; i++) {
        h = kiln__hash_mix(h, (uint64_t)in[i]);
    }
    return h | 1u;
}

static bool same_step(const kiln_gstep *a, const int *ain,
                      const kiln_gstep *b, const int *bin)
{
    if (a->prim != b->prim || a->nin != b->nin || a->nout != b->nout) {
        return false;
    }
    for (int i = 0; i < a->nin; i++) {
        if (ain[i] != bin[i]) {
            return false;
        }
    }
    return kiln__prim_params_equal(a->prim, a->params, b->params);
}

kiln_graph *kiln__simplify(const kiln_graph *g, bool shapeless,
                           const char *fn)
{
    int nv = g->nvals, ns = g->nsteps;
    size_t nvz = (size_t)(nv > 0 ? nv : 1), nsz = (size_t)(ns > 0 ? ns : 1);
    int *rep = malloc(sizeof(int) * nvz);   /* value -> its stand-in */
    int *map = malloc(sizeof(int) * nvz);   /* value -> id in the result */
    bool *live = calloc(nvz, sizeof(bool));
    bool *gone = calloc(nsz, sizeof(bool)); /* step replaced */
    int *off = malloc(sizeof(int) * nsz);   /* step -> its rewritten ins */
    int *newin = NULL;
    kiln_ptrmap consts = {0}, steps = {0};
    kiln_graph *out = NULL;
    int total_in = 0;
    for (int i = 0; i < ns; i++) {
        total_in += g->steps[i].nin;
    }
    newin = malloc(sizeof(int) * (size_t)(total_in > 0 ? total_in : 1));
    if (!rep || !map || !live || !gone || !off || !newin) {
        kiln__err_oom(fn, 0);
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        rep[v] = v;
        map[v] = -1;
    }
    /* 1. scalar constants */
    for (int v = 0; v < nv; v++) {
        const kiln_array *c = g->vals[v].constant;
        uint64_t key = c ? scalar_key(c) : 0;
        while (key) {
            int w = kiln__ptrmap_get(&consts, key);
            if (w < 0) {
                if (!kiln__ptrmap_put(&consts, key, v)) {
                    kiln__err_oom(fn, 0);
                    goto done;
                }
                break;
            }
            if (same_scalar(g->vals[w].constant, c)) {
                rep[v] = w;
                break;
            }
            key = kiln__hash_mix(key, 1) | 1u; /* collision: probe on */
        }
    }
    /* 2 and 3 in one forward pass: a step's inputs are rewritten before
     * it is looked up, so chains of duplicates collapse. */
    for (int i = 0, o = 0; i < ns; i++) {
        const kiln_gstep *s = &g->steps[i];
        int *ins = newin + o;
        off[i] = o;
        o += s->nin;
        for (int j = 0; j < s->nin; j++) {
            ins[j] = rep[s->in[j]];
        }
        if (s->prim->noop && s->nin == 1 && s->nout == 1) {
            int k = s->prim->noop(s->params, &g->vals[ins[0]].meta,
                                  &g->vals[s->out0].meta);
            if (k == KILN_NOOP_ALWAYS ||
                (k == KILN_NOOP_THIS_SHAPE && !shapeless)) {
                rep[s->out0] = ins[0];
                gone[i] = true;
                continue;
            }
        }
        if (s->prim->flags & KILN_PRIM_RANDOM) {
            continue;
        }
        uint64_t key = step_hash(s, ins);
        for (;;) {
            int j = kiln__ptrmap_get(&steps, key);
            if (j < 0) {
                if (!kiln__ptrmap_put(&steps, key, i)) {
                    kiln__err_oom(fn, 0);
                    goto done;
                }
                break;
            }
            const kiln_gstep *t = &g->steps[j];
            if (same_step(s, ins, t, newin + off[j])) {
                for (int k = 0; k < s->nout; k++) {
                    rep[s->out0 + k] = t->out0 + k;
                }
                gone[i] = true;
                break;
            }
            key = kiln__hash_mix(key, 1) | 1u;
        }
    }
    /* 4. liveness, backwards from the results */
    for (int i = 0; i < g->noutputs; i++) {
        live[rep[g->outputs[i]]] = true;
    }
    for (int i = ns - 1; i >= 0; i--) {
        const kiln_gstep *s = &g->steps[i];
        bool used = false;
        for (int k = 0; k < s->nout && !used; k++) {
            used = live[s->out0 + k];
        }
        if (gone[i] || !used) {
            gone[i] = true;
            continue;
        }
        for (int j = 0; j < s->nin; j++) {
            live[newin[off[i] + j]] = true;
        }
    }
    /* the result graph */
    out = kiln__graph_new(g->ninputs);
    if (!out) {
        kiln__err_oom(fn, 0);
        goto done;
    }
    for (int v = 0; v < g->ninputs; v++) {
        out->vals[v].meta = g->vals[v].meta;
        map[v] = v;
    }
    for (int v = g->ninputs; v < nv; v++) {
        if (g->vals[v].constant && live[v] && rep[v] == v) {
            map[v] = kiln__graph_add_const(out, g->vals[v].constant);
            if (map[v] < 0) {
                goto oom;
            }
        }
    }
    for (int i = 0; i < ns; i++) {
        const kiln_gstep *s = &g->steps[i];
        int local[16], *ins = s->nin <= 16 ? local
                                           : malloc(sizeof(int) * (size_t)s->nin);
        kiln_meta outm[KILN_MAX_OUTPUTS];
        if (gone[i]) {
            continue;
        }
        if (!ins) {
            goto oom;
        }
        for (int j = 0; j < s->nin; j++) {
            ins[j] = map[newin[off[i] + j]];
        }
        for (int k = 0; k < s->nout; k++) {
            outm[k] = g->vals[s->out0 + k].meta;
        }
        int o0;
        if (s->prim->shape_value && !shapeless && s->nout == 1 &&
            s->nin <= FOLD_MAX_IN) {
            kiln_meta inm[FOLD_MAX_IN];
            for (int j = 0; j < s->nin; j++) {
                inm[j] = out->vals[ins[j]].meta;
            }
            kiln_array *c = kiln__scalar(s->prim->shape_value(s->params, inm),
                                         outm[0].dtype, false);
            o0 = c ? kiln__graph_add_const(out, c) : -1;
            kiln_array_release(c);
        } else {
            o0 = kiln__graph_add_step(out, s->prim, s->params, ins, s->nin,
                                      outm, s->nout);
        }
        if (ins != local) {
            free(ins);
        }
        if (o0 < 0) {
            goto oom;
        }
        for (int k = 0; k < s->nout; k++) {
            map[s->out0 + k] = o0 + k;
        }
    }
    out->outputs = malloc(sizeof(int) * (size_t)(g->noutputs > 0
                                                      ? g->noutputs : 1));
    if (!out->outputs) {
        goto oom;
    }
    out->noutputs = g->noutputs;
    for (int i = 0; i < g->noutputs; i++) {
        out->outputs[i] = map[rep[g->outputs[i]]];
    }
    goto done;
oom:
    kiln__err_oom(fn, 0);
    kiln__graph_free(out);
    out = NULL;
done:
    free(rep);
    free(map);
    free(live);
    free(gone);
    free(off);
    free(newin);
    kiln__ptrmap_free(&consts);
    kiln__ptrmap_free(&steps);
    return out;
}

/*
 * codegen_plan.c - what the code generator decides about a region before
 * it writes any text (the generator's map: codegen.c): the invariants it
 * relies on (check), each value's class, level and liveness (analyse),
 * each operand's role, the inner values a pass computes (plan_pass), and
 * the plans the emitters follow (all but the last, codegen_loop.c's
 * plan_vhalf, which depends on which loops are vector loops). The plans
 * only fill fields of gen
 * (codegen_impl.h); none appends text.
 *
 * Levels and uniformity are recomputed here from the region's structure;
 * `inner` flags come from the region (a broadcast_to of a row value is
 * inner with outer arguments).
 *
 * Half stores and staging (plan_half). A stored half OP result keeps its
 * unrounded float w<i> for the store (narrowing it gives the same half
 * as narrowing the rounded v<i>), so a value that is only stored is
 * rounded once, not three times. In the fast variant, float16 operands
 * that move along the loop are staged through float arrays c<o>, filled
 * by kiln_f16_to_f32_n and narrowed by kiln_f32_to_f16_n (half.h:
 * hardware conversions where the CPU has them, the scalar functions'
 * bits): elementwise regions convert every STAGE elements around the
 * loop body; reduction regions convert whole rows in the kernel (once
 * for an input whose rows repeat, e.g. a weight) and hand them to the
 * helper as float rows, which every pass then reads as float32 code
 * does; the first staged output of a last pass that does not fold takes
 * the row of the first staged input whose rows move (plan_share: that
 * pass reads each element before writing it, and no later pass exists).
 * A reduction region whose every pass can be a vector loop is not staged
 * after all: codegen_loop.c plan_vhalf, the last plan, clears stage and
 * share, and the loops then convert in registers. bfloat16 converts with
 * a shift and integer ops that gcc vectorises inline, so it is not
 * staged.
 */
#include <string.h>

#include "../core/error.h"
#include "codegen_impl.h"

/* ------------------------------------------------------------------ */
/* validity and classes                                               */
/* ------------------------------------------------------------------ */

/* Checks the invariants codegen relies on. */
kiln_status kiln__codegen_plan_check(const kiln_region *r)
{
    if (r->nvals <= 0 || !r->vals || r->noutputs <= 0 || !r->out_val ||
        r->ninputs < 0 || r->ndim < 0 || r->nreduce < 0 ||
        r->nreduce > r->ndim ||
        r->noutputs + r->ninputs > KILN_REGION_MAX_OPERANDS ||
        (r->ninputs > 0 && (!r->in_dtype || !r->in_ndim || !r->in_outer))) {
        return kiln__err(KILN_ERR_VALUE, "[%s] malformed region", FN);
    }
    for (int i = 0; i < r->ninputs; i++) {
        if ((unsigned)r->in_dtype[i] >= KILN_DTYPE_COUNT) {
            return kiln__err(KILN_ERR_VALUE, "[%s] input %d: bad dtype",
                             FN, i);
        }
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if ((unsigned)v->dtype >= KILN_DTYPE_COUNT) {
            return kiln__err(KILN_ERR_VALUE, "[%s] value %d: bad dtype", FN,
                             i);
        }
        switch (v->kind) {
        case KILN_RVAL_INPUT:
            if (v->input < 0 || v->input >= r->ninputs ||
                r->in_dtype[v->input] != v->dtype) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d: bad input index", FN, i);
            }
            break;
        case KILN_RVAL_CONST:
            break;
        case KILN_RVAL_OP:
        case KILN_RVAL_REDUCE: {
            bool op = v->kind == KILN_RVAL_OP;
            if (!v->prim) {
                return kiln__err(KILN_ERR_VALUE, "[%s] value %d: no prim",
                                 FN, i);
            }
            const kiln_emit *e = v->prim->emit;
            if (!e || (op && !e->expr) ||
                (!op && (!e->combine || !e->combine->emit ||
                         !e->combine->emit->expr))) {
                return kiln__err(KILN_ERR_UNSUPPORTED,
                                 "[%s] primitive %s cannot be emitted", FN,
                                 v->prim->name);
            }
            if (v->nargs < 1 || v->nargs > 3 || (!op && v->nargs != 1) ||
                (!op && r->nreduce == 0)) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d (%s): bad arguments", FN, i,
                                 v->prim->name);
            }
            for (int k = 0; k < v->nargs; k++) {
                if (v->args[k] < 0 || v->args[k] >= i) {
                    return kiln__err(KILN_ERR_VALUE,
                                     "[%s] value %d (%s): argument %d is "
                                     "not an earlier value",
                                     FN, i, v->prim->name, k);
                }
            }
            break;
        }
        default:
            return kiln__err(KILN_ERR_VALUE, "[%s] value %d: bad kind", FN,
                             i);
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        if (r->out_val[j] < 0 || r->out_val[j] >= r->nvals) {
            return kiln__err(KILN_ERR_VALUE, "[%s] output %d: bad value",
                             FN, j);
        }
    }
    return KILN_OK;
}

/* Fills cls, lev, live, wide, in_val and last. */
kiln_status kiln__codegen_plan_analyse(gen *g)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->ninputs; i++) {
        g->in_val[i] = -1;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        int cls = CLS_UNIFORM, lev = 0;
        g->wide[i] = false;
        if (v->kind == KILN_RVAL_INPUT) {
            if (g->in_val[v->input] >= 0) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] input %d appears twice", FN,
                                 v->input);
            }
            g->in_val[v->input] = i;
            cls = r->in_ndim[v->input] == 0 ? CLS_UNIFORM
                  : g->reduce && r->in_outer[v->input] ? CLS_OUTER
                                                       : CLS_INNER;
        } else if (v->kind == KILN_RVAL_OP) {
            for (int k = 0; k < v->nargs; k++) {
                int a = v->args[k];
                lev = g->lev[a] > lev ? g->lev[a] : lev;
                cls = g->cls[a] > cls ? g->cls[a] : cls;
            }
            if (cls == CLS_OUTER && v->inner) {
                cls = CLS_INNER; /* a row value broadcast along the row */
            } else if (cls == CLS_INNER && g->reduce && !v->inner) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] value %d (%s): outer value of an "
                                 "inner argument", FN, i, v->prim->name);
            }
            kiln_dtype last = r->vals[v->args[v->nargs - 1]].dtype;
            g->wide[i] = is_half(v->dtype) &&
                         strcmp(ctype(last), "float") != 0;
        } else if (v->kind == KILN_RVAL_REDUCE) {
            cls = CLS_OUTER;
            lev = g->lev[v->args[0]] + 1;
        }
        if (!g->reduce && cls == CLS_OUTER) {
            cls = CLS_INNER;
        }
        g->cls[i] = (unsigned char)cls;
        g->lev[i] = lev;
        g->live[i] = false;
    }
    for (int j = 0; j < r->noutputs; j++) {
        g->live[r->out_val[j]] = true;
    }
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind >= KILN_RVAL_OP) {
            for (int k = 0; k < v->nargs; k++) {
                g->live[v->args[k]] = true;
            }
        }
    }
    g->last = -1;
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && r->vals[i].kind == KILN_RVAL_REDUCE) {
            int l = g->lev[r->vals[i].args[0]];
            g->last = l > g->last ? l : g->last;
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        int v = r->out_val[j];
        if (r->vals[v].inner && g->lev[v] > g->last) {
            g->last = g->lev[v];
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* operand roles                                                      */
/* ------------------------------------------------------------------ */

/* How operand o takes part: moving along the loop (inner), once per row
 * (outer), or not at all (unused, or a rank-0 input read at entry). */
int kiln__codegen_plan_role(const gen *g, int o)
{
    const kiln_region *r = g->r;
    if (o < r->noutputs) {
        return !g->reduce || r->vals[r->out_val[o]].inner ? ROLE_MOVING
                                                          : ROLE_OUTER;
    }
    int v = g->in_val[o - r->noutputs];
    if (v < 0 || !g->live[v] || g->cls[v] == CLS_UNIFORM) {
        return ROLE_NONE;
    }
    return g->cls[v] == CLS_INNER ? ROLE_MOVING : ROLE_OUTER;
}

/* ------------------------------------------------------------------ */
/* passes                                                             */
/* ------------------------------------------------------------------ */

/* Marks the inner values pass l computes; returns whether it folds or
 * stores anything. */
bool kiln__codegen_plan_pass(gen *g, int l, bool *folds)
{
    const kiln_region *r = g->r;
    bool any = false;
    *folds = false;
    for (int i = 0; i < r->nvals; i++) {
        g->need[i] = false;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind == KILN_RVAL_REDUCE &&
            g->lev[v->args[0]] == l) {
            *folds = any = true;
            g->need[v->args[0]] = g->cls[v->args[0]] == CLS_INNER;
        }
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (r->vals[v].inner && g->lev[v] == l) {
            any = true;
            g->need[v] = g->need[v] || g->cls[v] == CLS_INNER;
        }
    }
    g->pass = l;
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        if (g->need[i] && v->kind == KILN_RVAL_OP && !cached_here(g, i)) {
            for (int k = 0; k < v->nargs; k++) {
                int a = v->args[k];
                g->need[a] = g->need[a] || g->cls[a] == CLS_INNER;
            }
        }
    }
    return any;
}

/* The first pass after pass 0 that folds reads its row from cache and
 * spends its time computing, with no memory traffic of its own: it asks
 * for the next row of every moving input (the hardware prefetcher does
 * not cross to it while the core computes), so that row's pass 0 finds it
 * near. A region of one pass has nothing to overlap. */
void kiln__codegen_plan_prefetch(gen *g)
{
    bool folds = false;
    g->pf = 0;
    for (int l = 1; g->reduce && l <= g->last && g->pf == 0; l++) {
        if (kiln__codegen_plan_pass(g, l, &folds) && folds) {
            g->pf = l;
        }
    }
}

/* Whether operand o's next row is prefetched (as f<o>) by pass g->pf. */
bool kiln__codegen_plan_prefetched(const gen *g, int o)
{
    return g->pf > 0 && o >= g->r->noutputs &&
           kiln__codegen_plan_role(g, o) == ROLE_MOVING && !g->stage[o];
}

/* ------------------------------------------------------------------ */
/* output rows as caches, half staging, shared rows                   */
/* ------------------------------------------------------------------ */

/*
 * Output rows as caches (fast variant of reduction regions): an inner
 * output stored in pass L > 0 has its row free until then, so an OP value
 * computed in an earlier pass l (for a fold) and needed again in pass L
 * is written to that row in pass l and read back in pass L instead of
 * recomputed: softmax's exp runs once, not twice. Same value, same bits.
 * Only for outputs whose storage is the value's compute type (no
 * rounding), one value per output, the latest-defined candidate (it holds
 * the most work).
 */
void kiln__codegen_plan_cache(gen *g)
{
    const kiln_region *r = g->r;
    bool folds;
    for (int i = 0; i < r->nvals; i++) {
        g->cache[i] = -1;
    }
    if (!g->reduce) {
        return;
    }
    for (int o = 0; o < r->noutputs; o++) {
        int ov = r->out_val[o];
        kiln_dtype dt = out_dtype(g, o);
        int L = g->lev[ov];
        if (!r->vals[ov].inner || L == 0 || is_half(dt) ||
            dt == KILN_DTYPE_BOOL) {
            continue;
        }
        g->fast = false; /* plan without caches */
        kiln__codegen_plan_pass(g, L, &folds);
        int best = -1;
        for (int i = 0; i < r->nvals; i++) {
            const kiln_rval *v = &r->vals[i];
            if (g->need[i] && v->kind == KILN_RVAL_OP &&
                g->cls[i] == CLS_INNER && g->lev[i] < L &&
                v->dtype == dt && g->cache[i] < 0 && i != ov) {
                best = i;
            }
        }
        if (best < 0) {
            continue;
        }
        /* it must be computed over the whole row in its own pass */
        kiln__codegen_plan_pass(g, g->lev[best], &folds);
        if (g->need[best]) {
            bool taken = false;
            for (int i = 0; i < r->nvals; i++) {
                taken = taken || g->cache[i] == o;
            }
            if (!taken) {
                g->cache[best] = o;
            }
        }
    }
}

/*
 * Half-precision plans (file comment). sw: a float16/bfloat16 OP result
 * stored as an inner output, which keeps its unrounded w<i> for the store
 * (kiln__codegen_value_put). stage: a moving float16 operand of the fast
 * variant, read or written through a float block (put_flat_loop) or row
 * (put_row_stage).
 */
void kiln__codegen_plan_half(gen *g)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        g->sw[i] = false;
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        g->sw[v] = g->sw[v] ||
                   (r->vals[v].kind == KILN_RVAL_OP &&
                    is_half(r->vals[v].dtype) && !g->wide[v] &&
                    g->cls[v] == CLS_INNER);
    }
    for (int o = 0; o < noperands(g); o++) {
        g->stage[o] = kiln__codegen_plan_role(g, o) == ROLE_MOVING &&
                      op_dtype(g, o) == KILN_DTYPE_FLOAT16;
    }
}

/*
 * Shared rows (fast variant of reduction regions with staged rows): the
 * first staged output stored in the last pass, when that pass does not
 * fold, is written into the row of a staged input instead of a row of its
 * own. Every earlier pass has read that input by then, and the last pass
 * reads element i before it writes element i (the loop runs under ivdep,
 * the staged operands without restrict), so the row is still right where
 * it is read; the rows then fit the L1 cache where they would not (layer
 * norm's float16 rows of 4096: 48 KB instead of 64, 10% faster). Which
 * input is picked at run time (put_row_stage): the first whose rows move,
 * since one whose rows repeat (row stride 0) is converted once for all
 * rows and must keep its row; with none, the output has its own row.
 */
void kiln__codegen_plan_share(gen *g)
{
    const kiln_region *r = g->r;
    bool folds = true, any = false;
    g->share = -1;
    for (int q = r->noutputs; q < noperands(g); q++) {
        any = any || g->stage[q];
    }
    if (!g->reduce || !any || !kiln__codegen_plan_pass(g, g->last, &folds) ||
        folds) {
        return;
    }
    for (int o = 0; o < r->noutputs && g->share < 0; o++) {
        int ov = r->out_val[o];
        if (g->stage[o] && r->vals[ov].inner && g->lev[ov] == g->last) {
            g->share = o;
        }
    }
}

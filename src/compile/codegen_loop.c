/*
 * codegen_loop.c - the loops of a region's two variants: the elementwise
 * loop, and the passes of a reduction row with their folds (the
 * generator's map: codegen.c).
 *
 * Elementwise regions (nreduce 0) are one loop over n elements. Reduction
 * regions loop over n rows (codegen.c); a row runs passes 0..L over its
 * len elements (region.h): outer values of level l are computed before
 * pass l (after the last pass when l > L), pass l recomputes the inner
 * values it needs, stores the inner outputs of level l and folds the
 * reductions whose argument has level l. A fold keeps LANES independent
 * accumulators (a loop kept rolled so gcc holds them in vector
 * registers), refilled every BLOCK elements, so it vectorises without
 * -ffast-math and a float sum adds at most BLOCK / LANES values in
 * sequence per lane; blocks fold in sequence into the row's accumulator,
 * the tail into a second one, combined last. Up to BLOCK elements this is
 * eager's order (reduce_cpu.c), so such sums equal eager's bit for bit;
 * both variants fold in the same order, so a result never depends on the
 * memory layout.
 *
 * In the fast variant of an elementwise region, the staged float16
 * operands (plan_half) are converted every STAGE elements around the loop
 * body (put_stage). A loop that does not fold and reads float16 values
 * it rounds is written over vectors when its ops have vector forms
 * (vec_ok), which round in registers; otherwise such values are rounded
 * a block at a time through the hardware (plan_round, below). Where every
 * loop of the fast variant is written over vectors (plan_vhalf: the one
 * loop of an elementwise region, or every pass of a reduction row, folds
 * included: put_vec_block), float16 operands are read and written in
 * registers instead of staged.
 */
#include <stdio.h>

#include "../core/error.h"
#include "codegen_impl.h"

/* ------------------------------------------------------------------ */
/* loop bodies and staged blocks                                      */
/* ------------------------------------------------------------------ */

/* The loop body at element index j: inner values, then the stores of
 * pass `pass`; with vec, over KILN_VW elements (a vector loop: the values
 * as kiln_vf). */
static kiln_status put_body(gen *g, const char *j, int pass, bool vec)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        if (g->need[i] &&
            (vec ? kiln__codegen_value_put_vec(g, i, j)
                 : kiln__codegen_value_put(g, i, j)) != KILN_OK) {
            return kiln_errcode();
        }
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (!g->reduce || (r->vals[v].inner && g->lev[v] == pass)) {
            if (vec) {
                kiln__codegen_value_put_vstore(g, o, v, j);
            } else {
                kiln__codegen_value_put_store(g, o, v, j, true);
            }
        }
    }
    return KILN_OK;
}

/* Whether staged operand o is converted block by block in the loop of an
 * elementwise region (reductions convert rows: put_row_stage): an input
 * whose value the loop reads, or an output. */
static bool stage_used(const gen *g, int o)
{
    const kiln_region *r = g->r;
    if (!g->fast || !g->stage[o] || g->reduce) {
        return false;
    }
    if (o < r->noutputs) {
        return true;
    }
    int v = g->in_val[o - r->noutputs];
    return v >= 0 && g->need[v];
}

static bool stage_any(const gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (stage_used(g, o)) {
            return true;
        }
    }
    return false;
}

/* The block conversions of the staged operands over the elements kb ..
 * kb + cnt - 1: inputs into c<o> before the block's loop (load), c<o>
 * into the outputs after it. */
static void put_stage(gen *g, bool load, const char *cnt)
{
    for (int o = 0; o < noperands(g); o++) {
        if (stage_used(g, o) && (o >= g->r->noutputs) == load) {
            ind(g);
            if (load) {
                kiln__text_printf(g->t,
                                  "kiln_f16_to_f32_n(x%d + kb, c%d, %s);\n",
                                  o, o, cnt);
            } else {
                kiln__text_printf(g->t,
                                  "kiln_f32_to_f16_n(c%d, y%d + kb, %s);\n",
                                  o, o, cnt);
            }
        }
    }
}

/* Fast elementwise loops, and the last pass of a row whose output may
 * share an input's row (plan_share): their pointers are not restrict,
 * since an output may share an input's memory (fused_cpu.c donates
 * buffers), always at the same index; KILN_IVDEP promises the compiler
 * that no iteration depends on another, so it vectorises without alias
 * checks (which an exact overlap would fail, sending every in-place call
 * to the scalar loop). */
static void put_ivdep(gen *g)
{
    if (g->fast && (!g->reduce || (g->pass == g->last && g->share >= 0))) {
        kiln__text_puts(g->t, "KILN_IVDEP\n");
    }
}

/* ------------------------------------------------------------------ */
/* float16 rounding in blocks                                         */
/* ------------------------------------------------------------------ */

/* Whether value a is a float16 OP result the loop (g->need) computes and
 * rounds, so that a value reading it reads the rounded float16. */
static bool rounded_f16(const gen *g, int a)
{
    const kiln_rval *v = &g->r->vals[a];
    return g->need[a] && v->kind == KILN_RVAL_OP &&
           v->dtype == KILN_DTYPE_FLOAT16 && !g->wide[a] &&
           !cached_here(g, a);
}

/*
 * Rounding in blocks (fast variant, loops that do not fold). A float16 OP
 * result that another value of the loop reads must be rounded to float16
 * (kiln_f16_round, 11 vector instructions on the two FP ports); a block of
 * them goes through the hardware conversion and back (kiln_f16_round_n:
 * 4, plus a load and a store). So the loop is cut into segments over a
 * block of STAGE elements: segment s computes, unrounded, into h<i>[], the
 * rounded values of segment s (seg[i] == s), which kiln_f16_round_n then
 * rounds in place; a later segment reads them back and recomputes any
 * other value it needs (its inputs are loads, constants and rounded
 * values, all still at hand). The last segment S computes the stores.
 * seg[i] is the first segment in which all of value i's arguments exist:
 * the largest of seg[a] + rnd[a] over its loop arguments, so a rounded
 * value's readers come strictly after it. Same bits as the plain loop:
 * every value is the same expression of the same rounded values. A loop
 * with more than MAX_ROUNDED such values is not cut (each block is 2 KB
 * of stack: at most 32 KB, on top of the staging blocks, whatever the
 * region; beyond that they round inline, the same bits).
 * Returns S (0: one segment, nothing to cut).
 */
#define MAX_ROUNDED 16

static int plan_round(gen *g)
{
    const kiln_region *r = g->r;
    int last = 0;
    if (!g->fast) {
        return 0;
    }
    for (int i = 0; i < r->nvals; i++) {
        g->rnd[i] = false;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        g->seg[i] = 0;
        if (!g->need[i] || v->kind != KILN_RVAL_OP || cached_here(g, i)) {
            continue;
        }
        for (int k = 0; k < v->nargs; k++) {
            int a = v->args[k];
            if (g->need[a]) {
                g->rnd[a] = g->rnd[a] || rounded_f16(g, a);
                int sa = g->seg[a] + (g->rnd[a] ? 1 : 0);
                g->seg[i] = sa > g->seg[i] ? sa : g->seg[i];
            }
        }
        last = g->seg[i] > last ? g->seg[i] : last;
    }
    int nrnd = 0;
    for (int i = 0; i < r->nvals; i++) {
        nrnd += g->rnd[i];
    }
    if (nrnd > MAX_ROUNDED) {
        for (int i = 0; i < r->nvals; i++) {
            g->rnd[i] = false;
        }
        return 0; /* rounded inline: the stack stays bounded */
    }
    return last;
}

/* Whether value vi is stored by the loop of pass `pass`. */
static bool stored_here(const gen *g, int vi, int pass)
{
    const kiln_region *r = g->r;
    for (int o = 0; o < r->noutputs; o++) {
        if (r->out_val[o] == vi &&
            (!g->reduce || (r->vals[vi].inner && g->lev[vi] == pass))) {
            return true;
        }
    }
    return false;
}

/* Segment s of a cut loop at element index i (plan_round): marks what it
 * computes (back from its targets: the rounded values of segment s, or
 * the stores in the last one), then emits those values in order. */
static kiln_status put_segment(gen *g, int s, int last, int pass)
{
    const kiln_region *r = g->r;
    for (int i = r->nvals - 1; i >= 0; i--) {
        g->mark[i] = g->need[i] &&
                     (s == last ? stored_here(g, i, pass)
                                : g->rnd[i] && g->seg[i] == s);
    }
    for (int i = r->nvals - 1; i >= 0; i--) {
        const kiln_rval *v = &r->vals[i];
        bool back = g->rnd[i] && g->seg[i] < s; /* read from h<i> */
        if (g->mark[i] && !back && v->kind == KILN_RVAL_OP &&
            !cached_here(g, i)) {
            for (int k = 0; k < v->nargs; k++) {
                g->mark[v->args[k]] = g->need[v->args[k]];
            }
        }
    }
    for (int i = 0; i < r->nvals; i++) {
        if (!g->mark[i]) {
            continue;
        }
        if (g->rnd[i] && g->seg[i] < s) {
            ind(g);
            kiln__text_printf(g->t, "const float v%d = h%d[i - kb];\n", i,
                              i);
            if (g->sw[i]) {
                /* narrowing the rounded value gives the same half */
                ind(g);
                kiln__text_printf(g->t, "const float w%d = v%d;\n", i, i);
            }
        } else if (g->rnd[i]) {
            ind(g);
            kiln__text_printf(g->t, "h%d[i - kb] = ", i);
            if (kiln__codegen_value_put_op_expr(g, i, false) != KILN_OK) {
                return kiln_errcode();
            }
            kiln__text_puts(g->t, ";\n");
        } else if (kiln__codegen_value_put(g, i, "i") != KILN_OK) {
            return kiln_errcode();
        }
    }
    if (s == last) {
        for (int o = 0; o < r->noutputs; o++) {
            int v = r->out_val[o];
            if (stored_here(g, v, pass)) {
                kiln__codegen_value_put_store(g, o, v, "i", true);
            }
        }
    }
    return KILN_OK;
}

/* Opens `for (kb < count)` over blocks of STAGE elements, the block
 * being [kb, ke). */
static void open_blocks(gen *g, const char *count)
{
    char head[96];
    snprintf(head, sizeof head, "for (int64_t kb = 0; kb < %s; kb += %d) ",
             count, STAGE);
    open_block(g, head);
    ind(g);
    kiln__text_printf(g->t,
                      "const int64_t ke = %s - kb < %d ? %s : kb + %d;\n",
                      count, STAGE, count, STAGE);
}

/* A loop cut into segments over blocks of STAGE elements (plan_round). */
static kiln_status put_cut_loop(gen *g, const char *count, int pass,
                                int last)
{
    const kiln_region *r = g->r;
    open_blocks(g, count);
    for (int i = 0; i < r->nvals; i++) {
        if (g->rnd[i]) {
            ind(g);
            kiln__text_printf(g->t, "float h%d[%d];\n", i, STAGE);
        }
    }
    put_stage(g, true, "ke - kb");
    for (int s = 0; s <= last; s++) {
        put_ivdep(g);
        open_block(g, "for (int64_t i = kb; i < ke; i++) ");
        if (put_segment(g, s, last, pass) != KILN_OK) {
            return kiln_errcode();
        }
        close_block(g);
        for (int i = 0; i < r->nvals && s < last; i++) {
            if (g->rnd[i] && g->seg[i] == s) {
                ind(g);
                kiln__text_printf(g->t, "kiln_f16_round_n(h%d, ke - kb);\n",
                                  i);
            }
        }
    }
    put_stage(g, false, "ke - kb");
    close_block(g);
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* vector loops                                                       */
/* ------------------------------------------------------------------ */

/*
 * Vector loops (fast variant). Where every value of the loop computes in
 * float32 (float32, float16 and bfloat16 values) and every op has a
 * vector form (its descriptor's vexpr), and every row it reads or writes
 * is a float row (float32, a staged float16 operand, or under vhalf a
 * float16 row converted in registers), the loop is written over kiln_vf
 * (backend/cpu/vecf.h): KILN_VW elements per iteration, float16 results
 * rounded by the hardware inline (2 instructions per vector), then the
 * scalar loop for the last len % KILN_VW elements. A loop, folding or
 * not, takes it where it pays, when it rounds a float16 value that it
 * reads again (a value only stored is narrowed with the row; gcc
 * vectorises the other loops as well as this; a folding pass then reads
 * staged rows unless vhalf), and under vhalf, where every pass is such a
 * loop (plan_vhalf). Same bits:
 * every lane computes the scalar expression of its element. MLX's
 * float16 layer norm (1000, 4096) ran 1.10-1.18x faster than with its
 * last pass cut into segments (plan_round), and 1.26x faster again with
 * its rows unstaged (vhalf).
 */

/* Whether value i computes in float32, the one compute type of kiln_vf. */
static bool vec_float(const gen *g, int i)
{
    kiln_dtype dt = g->r->vals[i].dtype;
    return !g->wide[i] && (dt == KILN_DTYPE_FLOAT32 || is_half(dt));
}

/* Whether operand o is a float row in the fast variant: float32, staged
 * float16, or float16 read and written in registers (vhalf). */
static bool vec_row(const gen *g, int o)
{
    kiln_dtype dt = op_dtype(g, o);
    return dt == KILN_DTYPE_FLOAT32 || g->stage[o] ||
           (g->vhalf && dt == KILN_DTYPE_FLOAT16);
}

/* Ops costing more than this (the descriptor's cost: vmath's polynomials,
 * 8 and up) make a loop latency-bound when it is written over vectors:
 * one long chain an iteration, where the blocks of plan_round run short
 * loops whose iterations overlap. float16 chains on (1000, 4096), both
 * ways: exp 0.79x, sigmoid 0.94x, erf (gelu) 0.86-0.94x, tanh 0.84x as
 * vectors; sqrt 1.45x, rsqrt 1.39x. */
#define VEC_OP_COST 4

/* Whether the loop of pass `pass` (g->need) can be written over vectors:
 * every value computes in float32 with a vector form, every row it reads
 * or stores is a float row, no value is kept in a cache row here, and
 * each fold's combine has a vector form; *rounds: whether it rounds a
 * float16 value that it reads again; *heavy: whether an op costs more
 * than VEC_OP_COST. */
static bool vec_can(const gen *g, int pass, bool *rounds, bool *heavy)
{
    const kiln_region *r = g->r;
    *rounds = false;
    *heavy = false;
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (v->kind == KILN_RVAL_REDUCE && g->live[i] &&
            g->lev[v->args[0]] == pass &&
            (!vec_float(g, i) || !vec_float(g, v->args[0]) ||
             !g->need[v->args[0]] || !v->prim->emit->combine->emit->vexpr)) {
            return false;
        }
        if (!g->need[i]) {
            continue;
        }
        if (!vec_float(g, i)) {
            return false;
        }
        if (cached_here(g, i)) {
            continue; /* its row has its dtype (plan_cache): float32 */
        }
        if (v->kind == KILN_RVAL_INPUT) {
            if (!vec_row(g, r->noutputs + v->input)) {
                return false;
            }
            continue;
        }
        if (v->kind != KILN_RVAL_OP || !v->prim->emit->vexpr ||
            (g->reduce && g->cache[i] >= 0 && pass == g->lev[i])) {
            return false;
        }
        *heavy = *heavy || v->prim->emit->cost > VEC_OP_COST;
        for (int k = 0; k < v->nargs; k++) {
            int a = v->args[k];
            if (!vec_float(g, a)) {
                return false;
            }
            *rounds = *rounds || rounded_f16(g, a);
        }
    }
    for (int o = 0; o < r->noutputs; o++) {
        if (stored_here(g, r->out_val[o], pass) && !vec_row(g, o)) {
            return false;
        }
    }
    return true;
}

/* Whether the loop of pass `pass` (g->need) is written over vectors: in
 * the fast variant, where it can be and rounds a float16 value it reads
 * again with no op costing more than VEC_OP_COST, or always under vhalf
 * (there the alternative is staging, and vectors won even with exp:
 * float16 softmax 1.21-1.23x, log-softmax 1.08-1.11x). */
static bool vec_ok(const gen *g, int pass)
{
    bool rounds, heavy;
    return g->fast && vec_can(g, pass, &rounds, &heavy) &&
           (g->vhalf || (rounds && !heavy));
}

void kiln__codegen_loop_plan_vhalf(gen *g)
{
    const kiln_region *r = g->r;
    bool any = false, cached = false, folds, rounds, heavy;
    g->vhalf = false;
    for (int o = 0; o < noperands(g); o++) {
        any = any || g->stage[o];
    }
    for (int i = 0; i < r->nvals; i++) {
        cached = cached || g->cache[i] >= 0;
    }
    if (!any || cached) {
        return;
    }
    g->vhalf = true; /* as vec_row will see the float16 rows */
    if (!g->reduce) {
        /* the one loop (g->need: every inner value), as vec_ok takes it */
        g->vhalf = vec_can(g, 0, &rounds, &heavy) && rounds && !heavy;
    }
    for (int l = 0; g->reduce && l <= g->last && g->vhalf; l++) {
        if (kiln__codegen_plan_pass(g, l, &folds)) {
            g->vhalf = vec_can(g, l, &rounds, &heavy);
        }
    }
    if (g->vhalf) {
        for (int o = 0; o < noperands(g); o++) {
            g->stage[o] = false;
        }
        g->share = -1;
    }
}

/* `const kiln_vf s<a> = kiln_vsplat(v<a>);` once for each argument of the
 * loop's ops that is computed outside it (uses g->mark). */
static void put_splats(gen *g)
{
    const kiln_region *r = g->r;
    for (int i = 0; i < r->nvals; i++) {
        g->mark[i] = false;
    }
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (!g->need[i] || v->kind != KILN_RVAL_OP || cached_here(g, i)) {
            continue;
        }
        for (int k = 0; k < v->nargs; k++) {
            int a = v->args[k];
            if (!g->need[a] && !g->mark[a]) {
                g->mark[a] = true;
                ind(g);
                kiln__text_printf(g->t,
                                  "const kiln_vf s%d = kiln_vsplat(v%d);\n",
                                  a, a);
            }
        }
    }
}

/* The loop of pass `pass` over [lo, hi) as a vector loop and its scalar
 * tail; within blocks of STAGE elements where operands are staged. */
static kiln_status put_vec_loop(gen *g, const char *count, int pass)
{
    bool blocks = stage_any(g);
    const char *lo = blocks ? "kb" : "0", *hi = blocks ? "ke" : count;
    char head[96];
    open_block(g, "");
    put_splats(g);
    if (blocks) {
        open_blocks(g, count);
        put_stage(g, true, "ke - kb");
    }
    ind(g);
    kiln__text_printf(g->t, "int64_t i = %s;\n", lo);
    snprintf(head, sizeof head, "for (; i + KILN_VW <= %s; i += KILN_VW) ",
             hi);
    open_block(g, head);
    if (put_body(g, "i", pass, true) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    snprintf(head, sizeof head, "for (; i < %s; i++) ", hi);
    put_ivdep(g);
    open_block(g, head);
    if (put_body(g, "i", pass, false) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    if (blocks) {
        put_stage(g, false, "ke - kb");
        close_block(g);
    }
    close_block(g);
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* flat loops                                                         */
/* ------------------------------------------------------------------ */

/* `for (i < count) body` of pass `pass`; with staged operands, in blocks
 * of STAGE elements between their conversions; over vectors where that
 * rounds float16 values in registers (vec_ok), else cut into segments
 * where float16 values are rounded (plan_round). */
static kiln_status put_flat_loop(gen *g, const char *count, int pass)
{
    if (vec_ok(g, pass)) {
        return put_vec_loop(g, count, pass);
    }
    int last = plan_round(g);
    if (last > 0) {
        return put_cut_loop(g, count, pass, last);
    }
    if (!stage_any(g)) {
        char head[64];
        snprintf(head, sizeof head, "for (int64_t i = 0; i < %s; i++) ",
                 count);
        put_ivdep(g);
        open_block(g, head);
        if (put_body(g, "i", pass, false) != KILN_OK) {
            return kiln_errcode();
        }
        close_block(g);
        return KILN_OK;
    }
    open_blocks(g, count);
    put_stage(g, true, "ke - kb");
    put_ivdep(g);
    open_block(g, "for (int64_t i = kb; i < ke; i++) ");
    if (put_body(g, "i", pass, false) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    put_stage(g, false, "ke - kb");
    close_block(g);
    return KILN_OK;
}

kiln_status kiln__codegen_loop_put_ew(gen *g)
{
    return put_flat_loop(g, "n", 0);
}

/* ------------------------------------------------------------------ */
/* reduction rows                                                     */
/* ------------------------------------------------------------------ */

/* The reductions pass l folds, into g->folds; returns their count. */
static int pass_folds(gen *g, int l)
{
    const kiln_region *r = g->r;
    int nf = 0;
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        if (g->live[i] && v->kind == KILN_RVAL_REDUCE &&
            g->lev[v->args[0]] == l) {
            g->folds[nf++] = i;
        }
    }
    return nf;
}

/* `acc = combine(acc, x)` for every fold k, acc and x formats over the
 * value index. */
static kiln_status put_combines(gen *g, int nf, const char *afmt,
                                const char *bfmt)
{
    char acc[32], x[32];
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        snprintf(acc, sizeof acc, afmt, i);
        snprintf(x, sizeof x, bfmt, i);
        if (kiln__codegen_value_put_fold(g, i, acc, x) != KILN_OK) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

/* Body of pass l at index j: values, stores, then each element folded
 * into the accumulator accfmt (over the value index). */
static kiln_status put_pass_body(gen *g, int l, const char *j,
                                 const char *accfmt, int nf)
{
    char acc[32];
    if (put_body(g, j, l, false) != KILN_OK) {
        return kiln_errcode();
    }
    for (int k = 0; k < nf; k++) {
        snprintf(acc, sizeof acc, accfmt, g->folds[k]);
        if (kiln__codegen_value_put_fold_elem(g, g->folds[k], acc) != KILN_OK) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

/* One prefetch per cache line of the LANES elements at i of each
 * prefetched operand's next row. */
static void put_prefetch(gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (!kiln__codegen_plan_prefetched(g, o)) {
            continue;
        }
        size_t bytes = LANES * kiln_dtype_size(op_dtype(g, o));
        for (size_t at = 0; at < bytes; at += 64) {
            ind(g);
            kiln__text_printf(g->t, "KILN_PREFETCH(f%d + i * %zu + %zu);\n",
                              o, bytes / LANES, at);
        }
    }
}

/*
 * A block of pass l over vectors (vec_ok): the LANES lanes held as
 * LANES / KILN_VW vectors q<i>[], lane l of vector m folding elements
 * b + k * LANES + m * KILN_VW + l, then stored into a<i>[] for the tree:
 * the order of the scalar form below, so the same bits.
 */
static kiln_status put_vec_block(gen *g, int l, int nf)
{
    char lanes[64], head[96], acc[32];
    snprintf(lanes, sizeof lanes, "for (int l = 0; l < %d / KILN_VW; l++) ",
             LANES);
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        ind(g);
        kiln__text_printf(g->t, "kiln_vf q%d[%d / KILN_VW];\n", i, LANES);
    }
    open_block(g, lanes);
    for (int k = 0; k < nf; k++) {
        ind(g);
        kiln__text_printf(g->t, "q%d[l] = kiln_vsplat(id%d);\n",
                          g->folds[k], g->folds[k]);
    }
    close_block(g);
    snprintf(head, sizeof head, "for (int64_t i = b; i < be; i += %d) ",
             LANES);
    open_block(g, head);
    if (l == g->pf) {
        put_prefetch(g);
    }
    kiln__text_printf(g->t, "#pragma GCC unroll %d\n", LANES);
    open_block(g, lanes);
    ind(g);
    kiln__text_puts(g->t, "const int64_t k = i + l * KILN_VW;\n");
    if (put_body(g, "k", l, true) != KILN_OK) {
        return kiln_errcode();
    }
    for (int k = 0; k < nf; k++) {
        snprintf(acc, sizeof acc, "q%d[l]", g->folds[k]);
        if (kiln__codegen_value_put_vfold(g, g->folds[k], acc) != KILN_OK) {
            return kiln_errcode();
        }
    }
    close_block(g);
    close_block(g);
    open_block(g, lanes);
    for (int k = 0; k < nf; k++) {
        ind(g);
        kiln__text_printf(g->t, "kiln_vstore(a%d + l * KILN_VW, q%d[l]);\n",
                          g->folds[k], g->folds[k]);
    }
    close_block(g);
    return KILN_OK;
}

/*
 * Pass l. With folds:
 *     T v; { T t = id, u = id, a[LANES];   blocks, tail, lanes
 *     for each block of BLOCK elements (whole lanes only):
 *         a[LANES] = id; a[l] folds elements b + k*LANES + l;
 *         tree over the lanes; t = t (+) a[0]
 *     tail elements fold into u;  v = t (+) u, rounded }
 * For len <= BLOCK this is the order of eager's contiguous loops
 * (reduce_cpu.c run_c_*: lanes, tree, then the tail), so such results
 * equal eager's bit for bit.
 */
static kiln_status put_pass(gen *g, int l)
{
    bool folds;
    char head[96];
    if (!kiln__codegen_plan_pass(g, l, &folds)) {
        return KILN_OK;
    }
    ind(g);
    kiln__text_printf(g->t, "/* pass %d */\n", l);
    if (!folds) {
        return put_flat_loop(g, "len", l);
    }
    int nf = pass_folds(g, l);
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        ind(g);
        kiln__text_printf(g->t, "%s v%d;\n", ctype(g->r->vals[i].dtype), i);
    }
    bool vec = vec_ok(g, l);
    open_block(g, "");
    if (vec) {
        put_splats(g);
    }
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        const char *ct = ctype(g->r->vals[i].dtype);
        ind(g);
        kiln__text_printf(g->t, "const %s id%d = ", ct, i);
        kiln__codegen_value_put_id(g, i);
        kiln__text_puts(g->t, ";\n");
        ind(g);
        kiln__text_printf(g->t, "%s t%d = id%d, u%d = id%d, a%d[%d];\n", ct,
                          i, i, i, i, i, LANES);
    }
    ind(g);
    kiln__text_printf(g->t, "const int64_t nb = len / %d * %d;\n", LANES,
                      LANES);
    snprintf(head, sizeof head, "for (int64_t b = 0; b < nb; b += %d) ",
             BLOCK);
    open_block(g, head);
    ind(g);
    kiln__text_printf(g->t,
                      "const int64_t be = nb - b < %d ? nb : b + %d;\n",
                      BLOCK, BLOCK);
    if (vec) {
        if (put_vec_block(g, l, nf) != KILN_OK) {
            return kiln_errcode();
        }
    } else {
        snprintf(head, sizeof head, "for (int l = 0; l < %d; l++) ",
                 LANES);
        open_block(g, head);
        for (int k = 0; k < nf; k++) {
            ind(g);
            kiln__text_printf(g->t, "a%d[l] = id%d;\n", g->folds[k],
                              g->folds[k]);
        }
        close_block(g);
        snprintf(head, sizeof head, "for (int64_t i = b; i < be; i += %d) ",
                 LANES);
        open_block(g, head);
        if (g->fast && l == g->pf) {
            put_prefetch(g);
        }
        /* kept a loop (not unrolled): gcc then vectorises it with the
         * lanes held in registers */
        kiln__text_puts(g->t, "#pragma GCC unroll 1\n");
        snprintf(head, sizeof head, "for (int l = 0; l < %d; l++) ",
                 LANES);
        open_block(g, head);
        if (put_pass_body(g, l, "i + l", "a%d[l]", nf) != KILN_OK) {
            return kiln_errcode();
        }
        close_block(g);
        close_block(g);
    }
    snprintf(head, sizeof head, "for (int w = %d; w > 0; w /= 2) ",
             LANES / 2);
    open_block(g, head);
    open_block(g, "for (int l = 0; l < w; l++) ");
    if (put_combines(g, nf, "a%d[l]", "a%d[l + w]") != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    close_block(g);
    if (put_combines(g, nf, "t%d", "a%d[0]") != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    open_block(g, "for (int64_t i = nb; i < len; i++) ");
    if (put_pass_body(g, l, "i", "u%d", nf) != KILN_OK) {
        return kiln_errcode();
    }
    close_block(g);
    if (put_combines(g, nf, "t%d", "u%d") != KILN_OK) {
        return kiln_errcode();
    }
    /* results, rounded to storage precision for half dtypes */
    for (int k = 0; k < nf; k++) {
        int i = g->folds[k];
        kiln_dtype dt = g->r->vals[i].dtype;
        ind(g);
        if (is_half(dt)) {
            bool f16 = dt == KILN_DTYPE_FLOAT16;
            kiln__text_printf(g->t, "v%d = %s(t%d);\n", i,
                              f16 ? "kiln_f16_round" : "kiln_bf16_round", i);
        } else {
            kiln__text_printf(g->t, "v%d = t%d;\n", i, i);
        }
    }
    close_block(g);
    return KILN_OK;
}

/* One row: outer values by level, the passes, the outer stores. */
kiln_status kiln__codegen_loop_put_row(gen *g)
{
    const kiln_region *r = g->r;
    for (int l = 0; l <= g->last; l++) {
        if (kiln__codegen_value_put_all(g, CLS_OUTER, l, l) != KILN_OK ||
            put_pass(g, l) != KILN_OK) {
            return kiln_errcode();
        }
    }
    if (kiln__codegen_value_put_all(g, CLS_OUTER, g->last + 1, 1 << 30) !=
        KILN_OK) {
        return kiln_errcode();
    }
    for (int o = 0; o < r->noutputs; o++) {
        int v = r->out_val[o];
        if (!r->vals[v].inner) {
            kiln__codegen_value_put_store(g, o, v, "", false);
        }
    }
    return KILN_OK;
}

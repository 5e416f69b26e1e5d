/*
 * interp_cpu.c - the fused-region interpreter (DESIGN.md 5.2 step 6): runs
 * a kiln_region, numexpr-style, when no C compiler works, so fusion still
 * saves memory traffic. It implements the kernel ABI of compile/region.h
 * (the backend includes that header: it is plain data, the region IR and
 * the ABI, not compiler code).
 *
 * How it runs. A call covers one row (elementwise region: n elements) or n
 * rows (reduction region: inner->len elements each). Per row, pass
 * l = 0..L walks the row's inner elements in blocks of at most BLOCK; for
 * each block it evaluates, in topological order, the inner values that
 * pass needs (those reachable from the pass's roots: the arguments of the
 * reductions whose argument has level l and the inner outputs of level l),
 * each through its primitive's emit->chunk into a scratch slot. Before pass
 * l the outer values of level l are computed once per row (blocks of one
 * element); after pass l the reductions it fed are finalised. A value
 * that is the same for every element of a block (a constant, a rank-0 or
 * stride-0 operand, an outer value, or an op of such values) is computed
 * once (n = 1) and read with stride 0, which is how chunk functions take a
 * broadcast scalar.
 *
 * Reductions fold with emit->combine's chunk function: the first block
 * is copied (converted) into a block-long accumulator, later blocks fold
 * into it lane by lane, and at the end of the pass the lanes are folded
 * pairwise into one value. Inputs are converted to the reduction's dtype
 * first (as eager does); float16/bfloat16 accumulate in float32 (the
 * compute type of the generated code) and round once at the end. An empty
 * row gives emit->identity stored with saturation (-inf: INT_MIN).
 *
 * Invariants:
 * - elementwise values go through the same row kernels as eager, so every
 *   element equals eager's bit for bit, whatever the blocking;
 * - outputs are stored after every value of their block was computed, so
 *   an output that shares memory with an input (donation) is read before
 *   it is overwritten within a pass;
 * - no shared mutable state: the plan and scratch live on the stack of the
 *   call (or in memory malloc'ed by the call when a region is large);
 * - nothing here names a primitive: what differs per primitive is read
 *   from its emit facet. The one conversion helper used by name,
 *   kiln__cpu_chunk_astype, is a backend function, not a primitive.
 */
#include "interp_cpu.h"

#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/dtype.h"
#include "elementwise_cpu.h"

/* Elements per block: eight bytes each in a slot, so a slot is 4 KiB and
 * a typical chain's live slots stay in L1/L2. */
#define BLOCK 512
/* A block smaller than this is not worth the per-block calls; the scratch
 * then goes to the heap. */
#define MIN_BLOCK 64
/* Bytes of scratch and of plan kept on the stack. */
#define STACK_SCRATCH (48 * 1024)
#define STACK_PLAN (8 * 1024)
#define SLOT_ALIGN 64

/* Per-call plan: which values each pass computes, in which slot, plus the
 * per-block and per-row state of every value. */
typedef struct plan {
    const kiln_region *r;
    int nv;       /* values */
    int npass;    /* L + 1 */
    int nops;     /* operands: outputs then inputs */
    bool reduce;  /* nreduce > 0 */
    int64_t blk;  /* elements per block */
    /* per value */
    uint8_t *inner;   /* 1: varies along the row */
    uint8_t *needed;  /* reachable from an output */
    int *level;
    const char **ptr; /* current data: block, or outer value */
    int64_t *str;     /* its stride: element size or 0 */
    uint64_t *outv;   /* outer values (one element each) */
    int *acc;         /* REDUCE: its accumulator slot */
    /* per pass: seq[seq_at[l] .. seq_at[l+1]) the inner values computed,
     * slot[l * nv + v] the scratch slot of v in pass l (-1: none) */
    int *seq_at;
    int *seq;
    int *slot;
    int nslots;       /* total, accumulators and 2 temporaries included */
    int tmp;          /* first of the 2 temporaries */
    char *scratch;    /* nslots slots of blk * 8 bytes */
    /* per operand: base of the current row, stride along the row */
    char *base[KILN_REGION_MAX_OPERANDS];
    int64_t istr[KILN_REGION_MAX_OPERANDS];
} plan;

/* Element sizes, inlined from the dtype list (read per value per block). */
static size_t esize(kiln_dtype dt)
{
#define KILN_X_(NAME, name, size) [KILN_DTYPE_##NAME] = size,
    static const unsigned char sizes[KILN_DTYPE_COUNT] = {
        KILN_DTYPE_LIST(KILN_X_)};
#undef KILN_X_
    return sizes[dt];
}

static char *slot_ptr(const plan *pl, int k)
{
    return pl->scratch + (size_t)k * (size_t)pl->blk * 8;
}

/* Copies n elements of es bytes between strided places (any strides). */
static void copy_elems(char *dst, int64_t ds, const char *src, int64_t ss,
                       int64_t n, size_t es)
{
    if (ds == (int64_t)es && ss == (int64_t)es) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1:
        for (int64_t i = 0; i < n; i++) {
            dst[i * ds] = src[i * ss];
        }
        break;
    case 2:
        for (int64_t i = 0; i < n; i++) {
            memcpy(dst + i * ds, src + i * ss, 2);
        }
        break;
    case 4:
        for (int64_t i = 0; i < n; i++) {
            memcpy(dst + i * ds, src + i * ss, 4);
        }
        break;
    default:
        for (int64_t i = 0; i < n; i++) {
            memcpy(dst + i * ds, src + i * ss, es);
        }
        break;
    }
}

/* The dtype a chunk function reads its inputs in: every argument's for
 * unary and binary primitives, the last two's for a three-input select
 * (whose first is the bool condition). */
static kiln_dtype arg_dtype(const plan *pl, const kiln_rval *v)
{
    return pl->r->vals[v->args[v->nargs - 1]].dtype;
}

/* Accumulator dtype of a reduction: its own, but float32 for the half
 * types (their compute type). */
static kiln_dtype acc_dtype(kiln_dtype dt)
{
    if (dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16) {
        return KILN_DTYPE_FLOAT32;
    }
    return dt;
}

/* Converts n elements (stride 0 or element size) to dt into y. */
static void convert(kiln_dtype from, kiln_dtype to, int64_t n,
                    const char *x, int64_t sx, char *y)
{
    const char *in[1] = {x};
    int64_t st[1] = {sx};
    kiln__cpu_chunk_astype(NULL, NULL, from, to, n, in, st, y);
}

/* ------------------------------------------------------------------------ */
/* Planning                                                                 */
/* ------------------------------------------------------------------------ */

/* Whether an INPUT value must be gathered into a slot (its stride is
 * neither 0 nor its element size). */
static bool needs_gather(const plan *pl, const kiln_rval *v)
{
    int64_t st = pl->istr[pl->r->noutputs + v->input];
    return st != 0 && st != (int64_t)esize(v->dtype);
}

/* Marks the values reachable from the outputs, and levels/inner flags as
 * this call sees them (an elementwise region: all inner, level 0). */
static void mark_needed(plan *pl)
{
    const kiln_region *r = pl->r;
    int top = 0;
    memset(pl->needed, 0, (size_t)pl->nv);
    for (int j = 0; j < r->noutputs; j++) {
        pl->needed[r->out_val[j]] = 1;
    }
    for (int v = pl->nv - 1; v >= 0; v--) {
        const kiln_rval *x = &r->vals[v];
        pl->inner[v] = pl->reduce ? x->inner : 1;
        pl->level[v] = pl->reduce ? x->level : 0;
        if (!pl->needed[v]) {
            continue;
        }
        if (x->kind == KILN_RVAL_OP || x->kind == KILN_RVAL_REDUCE) {
            for (int k = 0; k < x->nargs; k++) {
                pl->needed[x->args[k]] = 1;
            }
        }
    }
    for (int v = 0; v < pl->nv; v++) {
        if (pl->needed[v] && pl->level[v] > top) {
            top = pl->level[v];
        }
    }
    pl->npass = top + 1;
}

/* Builds pass l's sequence and assigns its slots by liveness, starting at
 * slot `first`; returns the number of slots the pass uses. `mark` and
 * `last` are scratch arrays of nv entries. */
static int plan_pass(plan *pl, int l, int *at, int first, uint8_t *mark,
                     int *last)
{
    const kiln_region *r = pl->r;
    const kiln_rval *vals = r->vals;
    int nv = pl->nv, n0 = *at;
    int *slot = pl->slot + (size_t)l * (size_t)nv;
    /* free slots as a stack of indices; at most nv live at once */
    int *freel = last + nv;
    int nfree = 0, next = first;

    memset(mark, 0, (size_t)nv);
    for (int v = 0; v < nv; v++) {
        const kiln_rval *x = &vals[v];
        if (!pl->needed[v]) {
            continue;
        }
        if (x->kind == KILN_RVAL_REDUCE && pl->level[x->args[0]] == l) {
            mark[x->args[0]] = 2; /* pinned: read after the block */
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        int v = r->out_val[j];
        if (pl->inner[v] && pl->level[v] == l) {
            mark[v] = 2;
        }
    }
    for (int v = nv - 1; v >= 0; v--) {
        const kiln_rval *x = &vals[v];
        if (!mark[v] || x->kind != KILN_RVAL_OP) {
            continue;
        }
        for (int k = 0; k < x->nargs; k++) {
            int a = x->args[k];
            if (pl->inner[a] && !mark[a]) {
                mark[a] = 1;
            }
        }
    }
    for (int v = 0; v < nv; v++) {
        slot[v] = -1;
        last[v] = -1;
        if (mark[v]) {
            pl->seq[(*at)++] = v;
        }
    }
    /* last use of each value, by position in the sequence */
    for (int k = n0; k < *at; k++) {
        const kiln_rval *x = &vals[pl->seq[k]];
        if (mark[pl->seq[k]] == 2) {
            last[pl->seq[k]] = INT_MAX;
        }
        if (x->kind != KILN_RVAL_OP) {
            continue;
        }
        for (int a = 0; a < x->nargs; a++) {
            int v = x->args[a];
            if (pl->inner[v] && last[v] < k) {
                last[v] = k;
            }
        }
    }
    for (int k = n0; k < *at; k++) {
        int v = pl->seq[k];
        const kiln_rval *x = &vals[v];
        bool want = x->kind == KILN_RVAL_OP ||
                    (x->kind == KILN_RVAL_INPUT && needs_gather(pl, x));
        if (want) {
            slot[v] = nfree > 0 ? freel[--nfree] : next++;
        }
        if (x->kind != KILN_RVAL_OP) {
            continue;
        }
        /* free the arguments read for the last time (after the value got
         * its own slot, so a chunk never writes over its input) */
        for (int a = 0; a < x->nargs; a++) {
            int u = x->args[a];
            bool dup = false;
            for (int b = 0; b < a; b++) {
                dup = dup || x->args[b] == u;
            }
            if (!dup && pl->inner[u] && last[u] == k && slot[u] >= 0) {
                freel[nfree++] = slot[u];
            }
        }
    }
    return next - first;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

/* Evaluates OP value v from its arguments' current data into y; n is the
 * block's element count, reduced to 1 when every argument is uniform.
 * Sets ptr/str of v. */
static void eval_op(plan *pl, int v, int64_t n, char *y)
{
    const kiln_rval *x = &pl->r->vals[v];
    const char *in[3];
    int64_t st[3];
    bool uniform = true;
    for (int k = 0; k < x->nargs; k++) {
        in[k] = pl->ptr[x->args[k]];
        st[k] = pl->str[x->args[k]];
        uniform = uniform && st[k] == 0;
    }
    if (uniform) {
        n = 1;
    }
    x->prim->emit->chunk(x->prim, x->params, arg_dtype(pl, x), x->dtype, n,
                         in, st, y);
    pl->ptr[v] = y;
    pl->str[v] = uniform ? 0 : (int64_t)esize(x->dtype);
}

/* Sets the current data of inner value v for the block at element i0 of
 * the row, cnt elements long. */
static void eval_inner(plan *pl, int l, int v, int64_t i0, int64_t cnt)
{
    const kiln_rval *x = &pl->r->vals[v];
    int k = pl->slot[(size_t)l * (size_t)pl->nv + (size_t)v];
    switch (x->kind) {
    case KILN_RVAL_INPUT: {
        int o = pl->r->noutputs + x->input;
        int64_t st = pl->istr[o];
        size_t es = esize(x->dtype);
        const char *src = pl->base[o] + i0 * st;
        if (k >= 0) {
            copy_elems(slot_ptr(pl, k), (int64_t)es, src, st, cnt, es);
            pl->ptr[v] = slot_ptr(pl, k);
            pl->str[v] = (int64_t)es;
        } else {
            pl->ptr[v] = src;
            pl->str[v] = st;
        }
        break;
    }
    case KILN_RVAL_CONST:
        pl->ptr[v] = (const char *)x->value;
        pl->str[v] = 0;
        break;
    case KILN_RVAL_OP:
        eval_op(pl, v, cnt, slot_ptr(pl, k));
        break;
    case KILN_RVAL_REDUCE:
        break; /* never inner */
    }
}

/* Folds the block's values of reduction v's argument into its
 * accumulator; `first` is the row's first block. */
static void fold(plan *pl, int v, int64_t cnt, bool first)
{
    const kiln_rval *x = &pl->r->vals[v];
    const kiln_rval *a = &pl->r->vals[x->args[0]];
    kiln_dtype adt = acc_dtype(x->dtype);
    char *acc = slot_ptr(pl, pl->acc[v]);
    const char *src = pl->ptr[x->args[0]];
    int64_t ss = pl->str[x->args[0]];
    kiln_dtype sdt = a->dtype;
    const kiln_prim *comb = x->prim->emit->combine;
    const char *in[2];
    int64_t st[2];

    if (sdt != x->dtype && x->dtype != adt) {
        char *t = slot_ptr(pl, pl->tmp);
        int64_t m = ss == 0 ? 1 : cnt;
        convert(sdt, x->dtype, m, src, ss, t);
        src = t;
        ss = ss == 0 ? 0 : (int64_t)esize(x->dtype);
        sdt = x->dtype;
    }
    if (first || sdt != adt) {
        char *t = first ? acc : slot_ptr(pl, pl->tmp + 1);
        /* a uniform block is spread over the lanes on its first fold so
         * every lane is set; later, converting one element is enough */
        int64_t m = (ss == 0 && !first) ? 1 : cnt;
        convert(sdt, adt, m, src, ss, t);
        if (first) {
            return;
        }
        src = t;
        ss = ss == 0 ? 0 : (int64_t)esize(adt);
    }
    in[0] = acc;
    in[1] = src;
    st[0] = (int64_t)esize(adt);
    st[1] = ss;
    comb->emit->chunk(comb, NULL, adt, adt, cnt, in, st, acc);
}

/* Folds the `lanes` lanes of v's accumulator into one value, stored as
 * v's outer value in its own dtype. */
static void finish(plan *pl, int v, int64_t lanes)
{
    const kiln_rval *x = &pl->r->vals[v];
    kiln_dtype adt = acc_dtype(x->dtype);
    const kiln_prim *comb = x->prim->emit->combine;
    char *acc = slot_ptr(pl, pl->acc[v]);
    size_t es = esize(adt);
    char *y = (char *)&pl->outv[v];

    if (lanes == 0) {
        double id = x->prim->emit->identity;
        /* bool clamps: max's -inf start is false, not "nonzero" */
        kiln__dtype_store_f64(y, x->dtype,
                              x->dtype == KILN_DTYPE_BOOL ? (double)(id > 0)
                                                          : id);
    } else {
        while (lanes > 1) {
            int64_t h = lanes / 2, keep = lanes - h;
            const char *in[2] = {acc, acc + (size_t)keep * es};
            int64_t st[2] = {(int64_t)es, (int64_t)es};
            comb->emit->chunk(comb, NULL, adt, adt, h, in, st, acc);
            lanes = keep;
        }
        convert(adt, x->dtype, 1, acc, 0, y);
    }
    pl->ptr[v] = y;
    pl->str[v] = 0;
}

/* Computes the outer values of level l for the current row. */
static void run_outer(plan *pl, int l)
{
    const kiln_region *r = pl->r;
    for (int v = 0; v < pl->nv; v++) {
        const kiln_rval *x = &r->vals[v];
        char *y = (char *)&pl->outv[v];
        if (!pl->needed[v] || pl->inner[v] || pl->level[v] != l) {
            continue;
        }
        switch (x->kind) {
        case KILN_RVAL_INPUT:
            memcpy(y, pl->base[r->noutputs + x->input], esize(x->dtype));
            pl->ptr[v] = y;
            pl->str[v] = 0;
            break;
        case KILN_RVAL_CONST:
            memcpy(y, x->value, esize(x->dtype));
            pl->ptr[v] = y;
            pl->str[v] = 0;
            break;
        case KILN_RVAL_OP:
            eval_op(pl, v, 1, y);
            break;
        case KILN_RVAL_REDUCE:
            break; /* finished at the end of the pass before */
        }
    }
}

/* Runs pass l over the current row of len elements. */
static void run_pass(plan *pl, int l, int64_t len)
{
    const kiln_region *r = pl->r;
    const int *seq = pl->seq + pl->seq_at[l];
    int nseq = pl->seq_at[l + 1] - pl->seq_at[l];
    if (nseq == 0) {
        return;
    }
    for (int64_t i0 = 0; i0 < len; i0 += pl->blk) {
        int64_t cnt = len - i0 < pl->blk ? len - i0 : pl->blk;
        for (int k = 0; k < nseq; k++) {
            eval_inner(pl, l, seq[k], i0, cnt);
        }
        for (int v = 0; v < pl->nv; v++) {
            const kiln_rval *x = &r->vals[v];
            if (pl->needed[v] && x->kind == KILN_RVAL_REDUCE &&
                pl->level[x->args[0]] == l) {
                fold(pl, v, cnt, i0 == 0);
            }
        }
        for (int j = 0; j < r->noutputs; j++) {
            int v = r->out_val[j];
            size_t es = esize(r->vals[v].dtype);
            if (pl->inner[v] && pl->level[v] == l) {
                copy_elems(pl->base[j] + i0 * pl->istr[j], pl->istr[j],
                           pl->ptr[v], pl->str[v], cnt, es);
            }
        }
    }
}

/* Runs every pass over the current row, then stores the outer outputs. */
static void run_row(plan *pl, int64_t len)
{
    const kiln_region *r = pl->r;
    int64_t lanes = len < pl->blk ? len : pl->blk;
    for (int l = 0; l < pl->npass; l++) {
        run_outer(pl, l);
        run_pass(pl, l, len);
        for (int v = 0; v < pl->nv; v++) {
            const kiln_rval *x = &r->vals[v];
            if (pl->needed[v] && x->kind == KILN_RVAL_REDUCE &&
                pl->level[x->args[0]] == l) {
                finish(pl, v, lanes);
            }
        }
    }
    for (int j = 0; j < r->noutputs; j++) {
        int v = r->out_val[j];
        if (!pl->inner[v]) {
            memcpy(pl->base[j], pl->ptr[v], esize(r->vals[v].dtype));
        }
    }
}

/* Bytes of the plan's arrays for nv values and np passes. */
static size_t plan_bytes(int nv, int np)
{
    size_t v = (size_t)nv, p = (size_t)np;
    /* per value: outv, ptr, str, level, acc, last and free list, inner,
     * needed, mark; then seq_at, seq and slot; 8 bytes of rounding per
     * array */
    return v * (8 + sizeof(const char *) + 8 + 4 + 4 + 8 + 3) +
           (v + 2) * 4 + 2 * p * v * 4 + 12 * 8;
}

void kiln__interp_run(void *ctx, char *const *p, const int64_t *s,
                      int64_t n)
{
    const kiln_interp_ctx *c = ctx;
    const kiln_region *r = c->region;
    alignas(SLOT_ALIGN) char stack_plan[STACK_PLAN];
    alignas(SLOT_ALIGN) char stack_scratch[STACK_SCRATCH];
    char *plan_mem, *heap = NULL, *m;
    int64_t rs[KILN_REGION_MAX_OPERANDS];
    int64_t len, rows;
    int *last, nacc = 0, peak = 0, at = 0, top = 0;
    uint8_t *mark;
    size_t need;
    plan pl;

    if (n <= 0) {
        return;
    }
    memset(&pl, 0, sizeof pl);
    pl.r = r;
    pl.nv = r->nvals;
    pl.reduce = r->nreduce > 0;
    pl.nops = r->noutputs + r->ninputs;
    len = pl.reduce ? c->inner->len : n;
    rows = pl.reduce ? n : 1;
    for (int o = 0; o < pl.nops; o++) {
        bool scalar = o >= r->noutputs && r->in_ndim[o - r->noutputs] == 0;
        pl.base[o] = p[o];
        pl.istr[o] = scalar ? 0 : pl.reduce ? c->inner->stride[o] : s[o];
        rs[o] = scalar ? 0 : s[o];
    }
    for (int v = 0; pl.reduce && v < pl.nv; v++) {
        top = r->vals[v].level > top ? r->vals[v].level : top;
    }

    need = plan_bytes(pl.nv, top + 1);
    plan_mem = need <= sizeof stack_plan ? stack_plan : malloc(need);
    if (!plan_mem) {
        return;
    }
    m = plan_mem;
#define TAKE(field, count)                                                \
    do {                                                                  \
        field = (void *)m;                                                \
        m += (sizeof(*field) * (size_t)(count) + 7) & ~(size_t)7;         \
    } while (0)
    TAKE(pl.outv, pl.nv);
    TAKE(pl.ptr, pl.nv);
    TAKE(pl.str, pl.nv);
    TAKE(pl.level, pl.nv);
    TAKE(pl.acc, pl.nv);
    TAKE(last, 2 * (size_t)pl.nv);
    TAKE(pl.seq_at, pl.nv + 2);
    TAKE(pl.inner, pl.nv);
    TAKE(pl.needed, pl.nv);
    TAKE(mark, pl.nv);
    mark_needed(&pl);
    TAKE(pl.seq, (size_t)pl.npass * (size_t)pl.nv);
    TAKE(pl.slot, (size_t)pl.npass * (size_t)pl.nv);
#undef TAKE

    for (int v = 0; v < pl.nv; v++) {
        pl.acc[v] = -1;
        if (pl.needed[v] && r->vals[v].kind == KILN_RVAL_REDUCE) {
            pl.acc[v] = nacc++;
        }
    }
    for (int l = 0; l < pl.npass; l++) {
        int k;
        pl.seq_at[l] = at;
        k = plan_pass(&pl, l, &at, nacc + 2, mark, last);
        peak = k > peak ? k : peak;
    }
    pl.seq_at[pl.npass] = at;
    pl.tmp = nacc;
    pl.nslots = nacc + 2 + peak;

    /* scratch: BLOCK elements per slot (fewer for a short row) on the
     * stack; when the slots do not fit, smaller blocks on the stack down
     * to MIN_BLOCK, else the heap, else (out of memory) whatever block
     * the stack holds */
    pl.blk = len < BLOCK ? (len > 0 ? len : 1) : BLOCK;
    pl.blk = (pl.blk + 7) & ~(int64_t)7;
    need = (size_t)pl.nslots * (size_t)pl.blk * 8;
    if (need <= sizeof stack_scratch) {
        pl.scratch = stack_scratch;
    } else {
        int64_t fit = (int64_t)(sizeof stack_scratch /
                                ((size_t)pl.nslots * 8)) & ~(int64_t)7;
        heap = fit >= MIN_BLOCK ? NULL : malloc(need);
        if (heap) {
            pl.scratch = heap;
        } else if (fit >= 8) {
            pl.blk = fit;
            pl.scratch = stack_scratch;
        } else {
            goto free_plan;
        }
    }

    for (int64_t row = 0; row < rows; row++) {
        run_row(&pl, len);
        for (int o = 0; o < pl.nops; o++) {
            pl.base[o] += rs[o];
        }
    }

    free(heap);
free_plan:
    if (plan_mem != stack_plan) {
        free(plan_mem);
    }
}

/*
 * codegen_impl.h - private to the region code generator: codegen.c (entry,
 * variants, kernel), codegen_plan.c (checks, classes, plans),
 * codegen_value.c (one value, store or fold) and codegen_loop.c (loops,
 * passes). It holds the state of one kiln__codegen_region call, the
 * generator's constants and the functions the four files share; nothing
 * else includes it.
 *
 * Invariants: a gen lives on kiln__codegen_region's stack for one call
 * and owns its [nvals] / [ninputs] arrays (one int block, one byte
 * block). analyse fills cls, lev, live, wide, in_val and last, then the
 * plans fill sw, stage, share, pf and cache, and last vhalf (which may
 * clear stage and share), all before any text; need, folds, pass, seg,
 * rnd and mark describe the loop being written and change as it is.
 * The emitters only append to g->t at indentation g->depth: an append
 * that fails sets the text's oom flag, which the entry checks once at
 * the end, so they fail only on a bad emit template (KILN_ERR_VALUE,
 * through kiln__err).
 */
#ifndef KILN_COMPILE_CODEGEN_IMPL_H
#define KILN_COMPILE_CODEGEN_IMPL_H

#include <stdbool.h>

#include "kiln.h"
#include "region.h"
#include "text.h"

#define FN "codegen"
#define LANES 32   /* accumulators per reduction (eager: NL) */
#define BLOCK 2048 /* elements folded into fresh lanes (multiple of LANES) */
#define STAGE 512  /* float16 block converted at once (elementwise) */
#define ROW_STAGE 2048 /* floats of staged rows kept on the stack */

enum { CLS_UNIFORM, CLS_OUTER, CLS_INNER };

/* An operand's part in the loop (kiln__codegen_plan_role). */
enum { ROLE_NONE, ROLE_MOVING, ROLE_OUTER };

typedef struct gen {
    const kiln_region *r;
    kiln_text *t;
    int depth;          /* indentation level */
    bool fast;          /* variant being emitted */
    bool reduce;        /* nreduce > 0 */
    int last;           /* L, the last pass (reductions) */
    unsigned char *cls; /* [nvals] CLS_* */
    int *lev;           /* [nvals] */
    bool *live;         /* [nvals] */
    bool *need;         /* [nvals] inner values of the current pass */
    bool *wide;         /* [nvals] half OP computed in double */
    int *in_val;        /* [ninputs] the INPUT value of each input, or -1 */
    int *folds;         /* [nvals] reductions of the current pass */
    int *cache;         /* [nvals] output row caching the value, or -1 */
    bool *sw;           /* [nvals] half OP result stored unrounded (w<i>) */
    bool stage[KILN_REGION_MAX_OPERANDS]; /* operand staged (fast variant) */
    int share;          /* staged output writing into an input's row, or -1 */
    bool vhalf;         /* fast loops all vector, float16 not staged */
    int *seg;           /* [nvals] segment computing the value (plan_round) */
    bool *rnd;          /* [nvals] float16 value rounded a block at a time */
    bool *mark;         /* [nvals] scratch: values of the segment emitted */
    int pass;           /* the pass being emitted */
    int pf;             /* pass prefetching the next row, or 0: none */
} gen;

/* ------------------------------------------------------------------ */
/* small helpers                                                      */
/* ------------------------------------------------------------------ */

static inline bool is_half(kiln_dtype dt)
{
    return dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
}

static inline const char *ctype(kiln_dtype dt)
{
    return kiln__region_ctype(dt);
}

static inline const char *stype(kiln_dtype dt)
{
    return kiln__region_stype(dt);
}

static inline void ind(gen *g)
{
    for (int i = 0; i < g->depth; i++) {
        kiln__text_puts(g->t, "    ");
    }
}

static inline void open_block(gen *g, const char *head)
{
    ind(g);
    kiln__text_printf(g->t, "%s{\n", head);
    g->depth++;
}

static inline void close_block(gen *g)
{
    g->depth--;
    ind(g);
    kiln__text_puts(g->t, "}\n");
}

/* Operands: outputs 0..noutputs-1, then the inputs; their dtypes. */
static inline kiln_dtype out_dtype(const gen *g, int j)
{
    return g->r->vals[g->r->out_val[j]].dtype;
}

static inline int noperands(const gen *g)
{
    return g->r->noutputs + g->r->ninputs;
}

static inline kiln_dtype op_dtype(const gen *g, int o)
{
    return o < g->r->noutputs ? out_dtype(g, o)
                              : g->r->in_dtype[o - g->r->noutputs];
}

/* Whether value vi is read back from its caching output row in the
 * current pass instead of being computed again. */
static inline bool cached_here(const gen *g, int vi)
{
    return g->fast && g->reduce && g->cache[vi] >= 0 &&
           g->pass > g->lev[vi];
}

/* ------------------------------------------------------------------ */
/* codegen_plan.c                                                     */
/* ------------------------------------------------------------------ */

/* KILN_OK when r keeps the invariants codegen relies on; else
 * KILN_ERR_VALUE (naming the value, input or output), or
 * KILN_ERR_UNSUPPORTED for a primitive without an emit facet. */
kiln_status kiln__codegen_plan_check(const kiln_region *r);

/* Fills g's cls, lev, live, wide, in_val and last from a checked region;
 * KILN_ERR_VALUE when an input appears twice or an outer value reads an
 * inner one. */
kiln_status kiln__codegen_plan_analyse(gen *g);

/* Operand o's ROLE_* (needs analyse). */
int kiln__codegen_plan_role(const gen *g, int o);

/* Sets g->need to the inner values pass l computes and g->pass to l;
 * returns whether the pass folds or stores anything, *folds whether it
 * folds. */
bool kiln__codegen_plan_pass(gen *g, int l, bool *folds);

/* The plans (codegen_plan.c's file comment); each fills fields of g and
 * cannot fail. plan_half: sw and stage; plan_share: share; plan_prefetch:
 * pf; plan_cache: cache (for the fast variant; it leaves g->fast false). */
void kiln__codegen_plan_half(gen *g);
void kiln__codegen_plan_share(gen *g);
void kiln__codegen_plan_prefetch(gen *g);
void kiln__codegen_plan_cache(gen *g);

/* Whether operand o's next row is prefetched (as f<o>) by pass g->pf. */
bool kiln__codegen_plan_prefetched(const gen *g, int o);

/* ------------------------------------------------------------------ */
/* codegen_value.c                                                    */
/* ------------------------------------------------------------------ */

/* Each appends to g->t and returns KILN_OK, or KILN_ERR_VALUE when a
 * primitive's emit template is malformed (the text is then partial). */

/* The expression of OP value vi, rounded to its half dtype if `round`. */
kiln_status kiln__codegen_value_put_op_expr(gen *g, int vi, bool round);
/* The register v<i> (and w<i>) of value vi at element index text j. */
kiln_status kiln__codegen_value_put(gen *g, int vi, const char *j);
/* `<acc> = combine(<acc>, <x>);` for REDUCE value vi. */
kiln_status kiln__codegen_value_put_fold(gen *g, int vi, const char *acc,
                              const char *x);
/* Folds the element just computed into REDUCE value vi's accumulator. */
kiln_status kiln__codegen_value_put_fold_elem(gen *g, int vi, const char *acc);
/* The uniform or outer values of class cls with levels in lo..hi. */
kiln_status kiln__codegen_value_put_all(gen *g, int cls, int lev_lo,
                                        int lev_hi);
/* The identity of REDUCE value i in its compute type (cannot fail). */
void kiln__codegen_value_put_id(gen *g, int i);
/* Store of value vi into output `out` (cannot fail). */
void kiln__codegen_value_put_store(gen *g, int out, int vi, const char *j,
                                   bool inner);
/* The same two over KILN_VW elements, in a vector loop (codegen_loop.c
 * vec_ok holds): `const kiln_vf v<i>`, and its store. */
kiln_status kiln__codegen_value_put_vec(gen *g, int vi, const char *j);
void kiln__codegen_value_put_vstore(gen *g, int out, int vi, const char *j);
/* `<acc> = combine(<acc>, v<a>);` over vectors: the fold of REDUCE value
 * vi's argument a into the kiln_vf accumulator acc. */
kiln_status kiln__codegen_value_put_vfold(gen *g, int vi, const char *acc);

/* ------------------------------------------------------------------ */
/* codegen_loop.c                                                     */
/* ------------------------------------------------------------------ */

/* The elementwise loop over n elements, and one row of a reduction
 * region, in the variant g->fast; KILN_OK or KILN_ERR_VALUE as above. */
kiln_status kiln__codegen_loop_put_ew(gen *g);
kiln_status kiln__codegen_loop_put_row(gen *g);
/* The last plan (after the others; it depends on which loops can be
 * vector loops, which this file decides): sets g->vhalf when a float16
 * operand moves along the loops of the fast variant and every one of
 * them is a vector loop (an elementwise region's loop where vec_ok would
 * take it; every pass of a reduction row, whatever its ops cost); such
 * operands are then read and written in registers (kiln_vload_h /
 * kiln_vstore_h), not staged, so stage is cleared and share is -1.
 * Cannot fail. */
void kiln__codegen_loop_plan_vhalf(gen *g);

#endif

/*
 * fuse.c - grows fused regions over a simplified graph (DESIGN.md 5.2
 * step 3) and replaces each by one step of the fused primitive.
 *
 * Regions are seeded from the last step backwards. A seed is a fusable
 * step: elementwise with an emit template, or a reduction with a combine
 * rule over the trailing axes. A region then absorbs producers of its
 * inputs while they fit (see absorb()):
 * - the producer is fusable and not yet in a region;
 * - its output broadcasts into the region's domain (region.h);
 * - a reduction must fold exactly the domain's trailing k axes (the
 *   region's k; a region still elementwise takes on the reduction's input
 *   shape as its domain when the reduction keeps its dims);
 * - every consumer of the producer is in the region, or comes after the
 *   seed (then the value is also an output of the region, which needs the
 *   domain or the reduced shape): so the fused step, placed where the seed
 *   was, precedes every outside consumer and no cycle can form. Not when
 *   compiled shapeless: a replay gives every output of a fused step the
 *   shape of its inputs broadcast together (prim/compiled.c), which only
 *   the seed, which depends on them all, is sure to have (t = x * u
 *   stored beside t + y would come back y's shape when x and u shrink);
 * - the limits hold: at most KILN_REGION_MAX_OPERANDS operands,
 *   KILN_MAX_OUTPUTS outputs, MAX_MEMBERS steps and MAX_DEPTH chained
 *   reductions.
 * A region of one step stays that step (eager kernels already run single
 * ops at full speed).
 *
 * Then siblings merge (merge_siblings): two regions over the same domain
 * and reduced axes that read a common array become one, placed at the
 * later seed, so that array is read once (cross-entropy's logsumexp and
 * its sum(logits * onehot) share one pass over the logits: on (2048, 8192)
 * float32, 11.3-11.9 -> 9.4-10.3 ms). Only when no step outside the two
 * reads an output of the earlier one before the later seed (counting a
 * region's member where its region is emitted): then nothing between them
 * depends on it, so no cycle forms. Not when compiled shapeless: a
 * fused step's replayed shapes come from its inputs broadcast together
 * (prim/compiled.c), and two independent results that share only the
 * trace's shapes must not be tied to one domain on replay.
 *
 * Nothing here names a primitive: fusability, templates and combine rules
 * are descriptor data (prim->emit, prim->flags).
 */
#include "fuse.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/compiled.h"
#include "../prim/reduce.h"
#include "ptrmap.h"

#define MAX_MEMBERS 96
/* Chained reductions a region grows to hold (fold_depth): log-softmax
 * with its NLL sum needs 3. Unbounded, ten chained float16 layer norms
 * (1000, 4096) compiled as one function grew two regions of ~20 passes:
 * gcc took 8-10 s and stopped inlining the helpers (scalar code), 190 ms
 * a call (a Python script compiling the ten as one function and timing
 * ten calls, KILN_LOG=compile for the build time; 2-core Sapphire Rapids
 * VM); with this limit 7 regions, 3.5-4.4 s and 22-25 ms. A limit on the
 * count of reductions instead (2: 3.5 s, 23 ms) split log-softmax + NLL
 * and left its max an eager pass over x. Merged siblings fold in the
 * same pass, so they add no depth. */
#define MAX_DEPTH 3

typedef struct region_b {
    int id;                   /* index in the fuser's regions */
    int seed;
    int D, k;
    int64_t dom[KILN_MAX_NDIM];
    int n;
    int nred;                 /* reductions among the members */
    int members[MAX_MEMBERS]; /* step ids */
} region_b;

typedef struct fuser {
    const kiln_graph *g;
    bool shapeless;           /* compiled shapeless: only seeds are stored */
    int *cons_off, *cons;     /* CSR: consumers of each value */
    bool *is_out;             /* value is a graph result */
    int *region_of;           /* step -> region id, -1 none */
} fuser;

static bool is_ew(const kiln_gstep *s)
{
    const kiln_prim *p = s->prim;
    return (p->flags & KILN_PRIM_ELEMENTWISE) && p->emit && p->emit->expr &&
           p->emit->chunk && p->nin >= 1 && s->nout == 1;
}

/* A reduction over the trailing axes of its input (the count in *k). */
static bool is_red(const kiln_graph *g, const kiln_gstep *s, int *k,
                   bool *keep)
{
    const kiln_prim *p = s->prim;
    if (!(p->flags & KILN_PRIM_REDUCTION) || !p->emit || !p->emit->combine ||
        s->nin != 1 || s->nout != 1 ||
        p->params_size != sizeof(kiln_reduce_params)) {
        return false;
    }
    const kiln_reduce_params *rp = s->params;
    int nd = g->vals[s->in[0]].meta.ndim;
    int cnt = 0;
    for (int d = 0; d < nd; d++) {
        cnt += (rp->axes >> d) & 1u;
    }
    if (cnt == 0 || nd == 0) {
        return false;
    }
    /* Reducing axes that are all of size 1 is a copy; fusing it would
     * fold values that do not vary along the reduced axes, which the
     * region model (a reduction reads an inner value) does not cover. */
    int64_t extent = 1;
    for (int d = nd - cnt; d < nd; d++) {
        extent *= g->vals[s->in[0]].meta.shape[d];
    }
    if (extent == 1) {
        return false;
    }
    for (int d = nd - cnt; d < nd; d++) {
        if (!((rp->axes >> d) & 1u)) {
            return false;
        }
    }
    *k = cnt;
    *keep = rp->keepdims != 0;
    return true;
}

/* m's shape right-aligned broadcasts into the domain. */
static bool fits(const kiln_meta *m, const region_b *r)
{
    int off = r->D - m->ndim;
    if (off < 0) {
        return false;
    }
    for (int d = 0; d < m->ndim; d++) {
        if (m->shape[d] != 1 && m->shape[d] != r->dom[off + d]) {
            return false;
        }
    }
    return true;
}

/* m is exactly the domain (an inner output) or the reduced domain (an
 * outer output, rank D with 1s on the reduced axes, or rank D - k). */
static bool storable(const kiln_meta *m, const region_b *r, bool outer)
{
    if (!outer) {
        if (m->ndim != r->D) {
            return false;
        }
        for (int d = 0; d < r->D; d++) {
            if (m->shape[d] != r->dom[d]) {
                return false;
            }
        }
        return true;
    }
    int nd = m->ndim;
    if (nd != r->D && nd != r->D - r->k) {
        return false;
    }
    for (int d = 0; d < nd; d++) {
        int64_t want = d >= r->D - r->k ? 1 : r->dom[d];
        if (m->shape[d] != want) {
            return false;
        }
    }
    return true;
}

/* Whether step belongs to r, or is the step `joining` being tried. */
static bool member(const fuser *f, const region_b *r, int step, int joining)
{
    return step == joining || f->region_of[step] == r->id;
}

/* Operand and output counts of r with step `joining` in it (linear in
 * the members' inputs: membership is the fuser's region_of). */
static void count(const fuser *f, const region_b *r, int joining, int *nin,
                  int *nout)
{
    const kiln_graph *g = f->g;
    int ins[KILN_REGION_MAX_OPERANDS * 4];
    int ni = 0, no = 0;
    for (int i = 0; i < r->n; i++) {
        const kiln_gstep *s = &g->steps[r->members[i]];
        for (int j = 0; j < s->nin; j++) {
            int v = s->in[j];
            int p = g->vals[v].step;
            const kiln_array *c = g->vals[v].constant;
            if ((p >= 0 && member(f, r, p, joining)) ||
                (c && c->ndim == 0)) {
                continue;
            }
            bool seen = false;
            for (int q = 0; q < ni; q++) {
                seen = seen || ins[q] == v;
            }
            if (!seen && ni < (int)(sizeof ins / sizeof *ins)) {
                ins[ni++] = v;
            }
        }
        int v = s->out0;
        bool outside = f->is_out[v];
        for (int c = f->cons_off[v]; c < f->cons_off[v + 1] && !outside;
             c++) {
            outside = !member(f, r, f->cons[c], joining);
        }
        no += outside;
    }
    *nin = ni;
    *nout = no;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The longest chain of reductions among r's members, each reading the
 * one before through members: the passes a row takes, less one
 * (softmax 2, layer norm 2, log-softmax with its NLL sum 3). Steps are
 * in topological order by id, so one sweep over the sorted members
 * settles each level: a member's level is the highest among the members
 * it reads, plus one past a reduction. */
static int fold_depth(const fuser *f, const region_b *r)
{
    int ids[MAX_MEMBERS], lev[MAX_MEMBERS], depth = 0;
    memcpy(ids, r->members, sizeof *ids * (size_t)r->n);
    qsort(ids, (size_t)r->n, sizeof *ids, cmp_int);
    for (int i = 0; i < r->n; i++) {
        const kiln_gstep *s = &f->g->steps[ids[i]];
        int k = 0;
        bool keep = false;
        lev[i] = 0;
        for (int j = 0; j < s->nin; j++) {
            int ps = f->g->vals[s->in[j]].step;
            for (int q = 0; q < i && ps >= 0; q++) {
                if (ids[q] == ps && lev[q] > lev[i]) {
                    lev[i] = lev[q];
                }
            }
        }
        lev[i] += is_red(f->g, s, &k, &keep);
        depth = lev[i] > depth ? lev[i] : depth;
    }
    return depth;
}

static bool absorb(fuser *f, region_b *r, int p)
{
    const kiln_graph *g = f->g;
    const kiln_gstep *s = &g->steps[p];
    int k = 0;
    bool keep = false;
    bool ew = is_ew(s), red = !ew && is_red(g, s, &k, &keep);
    if ((!ew && !red) || r->n >= MAX_MEMBERS) {
        return false;
    }
    const kiln_meta *om = &g->vals[s->out0].meta;
    region_b trial = *r;
    if (red) {
        const kiln_meta *im = &g->vals[s->in[0]].meta;
        if (!keep) {
            return false; /* its rank-dropped result cannot feed members */
        }
        if (trial.k == 0) {
            /* the region takes the reduction's input as its domain; its
             * current domain must be the reduction's output (the region
             * so far is an epilogue) or its input (softmax's divide) */
            bool as_out = om->ndim == trial.D, as_in = im->ndim == trial.D;
            for (int d = 0; d < trial.D; d++) {
                as_out = as_out && om->shape[d] == trial.dom[d];
                as_in = as_in && im->shape[d] == trial.dom[d];
            }
            if (!as_out && !as_in) {
                return false;
            }
            trial.k = k;
            for (int d = 0; d < im->ndim; d++) {
                trial.dom[d] = im->shape[d];
            }
        } else if (k != trial.k || im->ndim != trial.D) {
            return false;
        }
        for (int d = trial.D - trial.k; d < trial.D; d++) {
            if (im->shape[d] != trial.dom[d]) {
                return false;
            }
        }
        if (!fits(im, &trial)) {
            return false;
        }
    } else if (!fits(om, &trial)) {
        return false;
    }
    /* consumers: inside, or after the seed (then stored) */
    bool stored = f->is_out[s->out0];
    int v = s->out0;
    for (int c = f->cons_off[v]; c < f->cons_off[v + 1]; c++) {
        int q = f->cons[c];
        if (!member(f, &trial, q, p)) {
            if (q < trial.seed) {
                return false;
            }
            stored = true;
        }
    }
    if (stored && (f->shapeless || !storable(om, &trial, red))) {
        return false;
    }
    int nin, nout;
    trial.members[trial.n++] = p;
    trial.nred += red;
    count(f, &trial, p, &nin, &nout);
    /* any member can lengthen a chain (an elementwise step may join two
     * reductions already in the region); only a region with more
     * reductions than MAX_DEPTH can exceed it */
    if (nin + nout > KILN_REGION_MAX_OPERANDS || nout > KILN_MAX_OUTPUTS ||
        (trial.nred > MAX_DEPTH && fold_depth(f, &trial) > MAX_DEPTH)) {
        return false;
    }
    *r = trial;
    return true;
}

/* Whether the fused graph still needs constant v: a result, an input of
 * a step left alone, or a non-scalar input of a region (scalars are baked
 * into the region's code). */
static bool used_outside(const fuser *f, int v)
{
    if (f->is_out[v] || f->g->vals[v].constant->ndim > 0) {
        return true;
    }
    for (int c = f->cons_off[v]; c < f->cons_off[v + 1]; c++) {
        if (f->region_of[f->cons[c]] < 0) {
            return true;
        }
    }
    return false;
}

/* Whether regions a and b read a common array of the whole domain (a
 * shared scalar or broadcast row saves no traffic worth a merge). */
static bool share_input(const fuser *f, const region_b *a, const region_b *b)
{
    const kiln_graph *g = f->g;
    for (int i = 0; i < a->n; i++) {
        const kiln_gstep *s = &g->steps[a->members[i]];
        for (int j = 0; j < s->nin; j++) {
            int v = s->in[j];
            int p = g->vals[v].step;
            const kiln_meta *m = &g->vals[v].meta;
            if ((p >= 0 && f->region_of[p] == a->id) || m->ndim != a->D ||
                memcmp(m->shape, a->dom, sizeof(int64_t) * (size_t)a->D)) {
                continue;
            }
            for (int k = 0; k < b->n; k++) {
                const kiln_gstep *t = &g->steps[b->members[k]];
                for (int q = 0; q < t->nin; q++) {
                    if (t->in[q] == v) {
                        return true;
                    }
                }
            }
        }
    }
    return false;
}

/* Merges region a into the later sibling b when they may share a pass
 * (file comment); true when it did. The caller guarantees that b's seed
 * comes before the first reader of a's outputs (first_reader): so b reads
 * nothing of a, and every step outside that reads a runs after b. */
static bool merge_into(fuser *f, region_b *a, region_b *b)
{
    if (a->D != b->D || a->k != b->k || a->n + b->n > MAX_MEMBERS ||
        memcmp(a->dom, b->dom, sizeof(int64_t) * (size_t)a->D) != 0 ||
        !share_input(f, a, b)) {
        return false;
    }
    region_b trial = *b;
    trial.nred += a->nred;
    for (int i = 0; i < a->n; i++) {
        trial.members[trial.n++] = a->members[i];
        f->region_of[a->members[i]] = b->id;
    }
    int nin, nout;
    count(f, &trial, -1, &nin, &nout);
    if (nin + nout > KILN_REGION_MAX_OPERANDS || nout > KILN_MAX_OUTPUTS) {
        for (int i = 0; i < a->n; i++) {
            f->region_of[a->members[i]] = a->id;
        }
        return false;
    }
    qsort(trial.members, (size_t)trial.n, sizeof(int), cmp_int);
    *b = trial;
    a->n = 0; /* no step names it any more */
    return true;
}

/* Where the first step outside a that reads a's outputs is emitted (a
 * plain step where it is, another region's member at that region's seed,
 * so a region that reads a is at or past this); INT_MAX when none. */
static int first_reader(const fuser *f, const region_b *regions,
                        const region_b *a)
{
    int first = INT_MAX;
    for (int i = 0; i < a->n; i++) {
        int v = f->g->steps[a->members[i]].out0;
        for (int c = f->cons_off[v]; c < f->cons_off[v + 1]; c++) {
            int q = f->cons[c];
            int rq = f->region_of[q];
            int at = rq >= 0 ? regions[rq].seed : q;
            if (rq != a->id && at < first) {
                first = at;
            }
        }
    }
    return first;
}

/* regions[] is in order of decreasing seed: each region tries to merge
 * into the later-seeded ones, nearest first, up to the first reader of its
 * outputs: past it a merged step would be emitted after a step that reads
 * it. Stopping there also keeps the pass near linear in long graphs. */
static void merge_siblings(fuser *f, region_b *regions, int nregions)
{
    for (int ia = 0; ia < nregions; ia++) {
        int limit = regions[ia].n > 0 ? first_reader(f, regions, &regions[ia])
                                      : INT_MIN;
        for (int ib = ia - 1; ib >= 0 && regions[ib].seed < limit; ib--) {
            if (regions[ib].n > 0 &&
                merge_into(f, &regions[ia], &regions[ib])) {
                break;
            }
        }
    }
}

/* Whether a value of meta m (aligned to the domain's trailing dims) has
 * an extent other than 1 along one of r's reduced axes. */
static bool spans_reduced(const region_b *r, const kiln_meta *m)
{
    for (int d = 0; r->k > 0 && d < m->ndim; d++) {
        if (r->D - m->ndim + d >= r->D - r->k && m->shape[d] != 1) {
            return true;
        }
    }
    return false;
}

/* The region IR of r (members sorted). NULL with an error on failure. */
static kiln_region *build(const fuser *f, const region_b *r, int **in_vals,
                          int **out_vals, const char *fn)
{
    const kiln_graph *g = f->g;
    kiln_region *R = calloc(1, sizeof *R);
    kiln_ptrmap rv = {0}; /* graph value -> rval index + 1 */
    int maxv = 0, nin = 0, nout = 0;
    for (int i = 0; i < r->n; i++) {
        maxv += g->steps[r->members[i]].nin + 1;
    }
    int *ins = malloc(sizeof(int) * KILN_REGION_MAX_OPERANDS);
    int *outs = malloc(sizeof(int) * KILN_MAX_OUTPUTS);
    if (!R || !ins || !outs) {
        goto oom;
    }
    R->ndim = r->D;
    R->nreduce = r->k;
    R->vals = calloc((size_t)maxv, sizeof *R->vals);
    R->in_dtype = calloc(KILN_REGION_MAX_OPERANDS, sizeof *R->in_dtype);
    R->in_ndim = calloc(KILN_REGION_MAX_OPERANDS, sizeof *R->in_ndim);
    R->in_outer = calloc(KILN_REGION_MAX_OPERANDS, sizeof *R->in_outer);
    R->out_val = calloc(KILN_MAX_OUTPUTS, sizeof *R->out_val);
    R->out_ndim = calloc(KILN_MAX_OUTPUTS, sizeof *R->out_ndim);
    if (!R->vals || !R->in_dtype || !R->in_ndim || !R->in_outer ||
        !R->out_val || !R->out_ndim) {
        goto oom;
    }
    int64_t inner_extent = 1;
    for (int d = r->D - r->k; d < r->D; d++) {
        inner_extent *= r->dom[d];
    }
    for (int i = 0; i < r->n; i++) {
        const kiln_gstep *s = &g->steps[r->members[i]];
        int args[3] = {0, 0, 0};
        for (int j = 0; j < s->nin && j < 3; j++) {
            int v = s->in[j];
            int id = kiln__ptrmap_get(&rv, (uint64_t)v + 1);
            if (id >= 0) {
                args[j] = id;
                continue;
            }
            kiln_rval *x = &R->vals[R->nvals];
            const kiln_meta *m = &g->vals[v].meta;
            const kiln_array *c = g->vals[v].constant;
            x->dtype = m->dtype;
            if (c && c->ndim == 0) {
                x->kind = KILN_RVAL_CONST;
                memcpy(x->value, kiln__array_ptr(c),
                       kiln_dtype_size(m->dtype));
            } else {
                bool outer = r->k > 0 && inner_extent > 1 &&
                             !spans_reduced(r, m);
                x->kind = KILN_RVAL_INPUT;
                x->input = nin;
                x->inner = !outer;
                R->in_dtype[nin] = m->dtype;
                R->in_ndim[nin] = m->ndim;
                R->in_outer[nin] = outer;
                ins[nin++] = v;
            }
            args[j] = R->nvals;
            if (!kiln__ptrmap_put(&rv, (uint64_t)v + 1, R->nvals++)) {
                goto oom;
            }
        }
        kiln_rval *x = &R->vals[R->nvals];
        x->dtype = g->vals[s->out0].meta.dtype;
        x->prim = s->prim;
        x->nargs = s->nin;
        memcpy(x->args, args, sizeof args);
        if (s->prim->params_size) {
            void *pp = malloc(s->prim->params_size);
            if (!pp) {
                goto oom;
            }
            memcpy(pp, s->params, s->prim->params_size);
            x->params = pp;
        }
        if (s->prim->flags & KILN_PRIM_REDUCTION) {
            x->kind = KILN_RVAL_REDUCE;
            x->inner = false;
            x->level = R->vals[args[0]].level + 1;
        } else {
            x->kind = KILN_RVAL_OP;
            for (int j = 0; j < s->nin; j++) {
                const kiln_rval *a = &R->vals[args[j]];
                x->inner = x->inner || a->inner;
                x->level = a->level > x->level ? a->level : x->level;
            }
            /* a step whose result spans a reduced axis is inner whatever
             * its arguments (broadcast_to of a row's value) */
            x->inner = x->inner || spans_reduced(r, &g->vals[s->out0].meta);
        }
        int id = R->nvals++;
        if (!kiln__ptrmap_put(&rv, (uint64_t)s->out0 + 1, id)) {
            goto oom;
        }
        /* stored when a step outside or the graph's results read it */
        int v = s->out0;
        bool outside = f->is_out[v];
        for (int c = f->cons_off[v]; c < f->cons_off[v + 1] && !outside;
             c++) {
            outside = !member(f, r, f->cons[c], -1);
        }
        if (outside) {
            R->out_val[nout] = id;
            R->out_ndim[nout] = g->vals[v].meta.ndim;
            outs[nout++] = v;
        }
    }
    R->ninputs = nin;
    R->noutputs = nout;
    /* inputs that do not span the domain (a broadcast_to inside): the
     * region keeps its domain (region.h kiln__region_domain_fill) */
    int64_t span[KILN_MAX_NDIM];
    int nspan = r->D;
    bool spans = true;
    for (int d = 0; d < r->D; d++) {
        span[d] = 1;
    }
    for (int i = 0; i < nin && spans; i++) {
        const kiln_meta *m = &g->vals[ins[i]].meta;
        spans = kiln__shape_broadcast(span, nspan, m->shape, m->ndim, span,
                                      &nspan, fn) == KILN_OK;
    }
    for (int d = 0; d < r->D; d++) {
        spans = spans && nspan == r->D && span[d] == r->dom[d];
    }
    if (!spans) {
        R->dom = malloc(sizeof(int64_t) * (size_t)(r->D ? r->D : 1));
        if (!R->dom) {
            goto oom;
        }
        memcpy(R->dom, r->dom, sizeof(int64_t) * (size_t)r->D);
    }
    kiln__ptrmap_free(&rv);
    *in_vals = ins;
    *out_vals = outs;
    return R;
oom:
    kiln__err_oom(fn, 0);
    kiln__ptrmap_free(&rv);
    kiln__region_free(R);
    free(ins);
    free(outs);
    return NULL;
}

kiln_graph *kiln__fuse(const kiln_graph *g, bool shapeless,
                       kiln_fused ***fused,
                       int *nfused, const char *fn)
{
    fuser f = {.g = g, .shapeless = shapeless};
    int nv = g->nvals, ns = g->nsteps;
    region_b *regions = NULL;
    int nregions = 0;
    int *map = NULL;
    kiln_graph *out = NULL;
    kiln_fused **fl = NULL;
    int nfl = 0;
    f.cons_off = calloc((size_t)nv + 1, sizeof(int));
    f.is_out = calloc((size_t)nv + 1, sizeof(bool));
    f.region_of = malloc(sizeof(int) * (size_t)(ns + 1));
    map = malloc(sizeof(int) * (size_t)(nv + 1));
    regions = malloc(sizeof *regions * (size_t)(ns + 1));
    int total = 0;
    for (int i = 0; i < ns; i++) {
        total += g->steps[i].nin;
    }
    f.cons = malloc(sizeof(int) * (size_t)(total + 1));
    fl = malloc(sizeof *fl * (size_t)(ns + 1));
    if (!f.cons_off || !f.is_out || !f.region_of || !map || !regions ||
        !f.cons || !fl) {
        kiln__err_oom(fn, 0);
        goto done;
    }
    for (int i = 0; i < g->noutputs; i++) {
        f.is_out[g->outputs[i]] = true;
    }
    for (int i = 0; i < ns; i++) {
        for (int j = 0; j < g->steps[i].nin; j++) {
            f.cons_off[g->steps[i].in[j] + 1]++;
        }
    }
    for (int v = 0; v < nv; v++) {
        f.cons_off[v + 1] += f.cons_off[v];
    }
    {
        int *fill = calloc((size_t)nv + 1, sizeof(int));
        if (!fill) {
            kiln__err_oom(fn, 0);
            goto done;
        }
        for (int i = 0; i < ns; i++) {
            for (int j = 0; j < g->steps[i].nin; j++) {
                int v = g->steps[i].in[j];
                f.cons[f.cons_off[v] + fill[v]++] = i;
            }
        }
        free(fill);
    }
    for (int i = 0; i < ns; i++) {
        f.region_of[i] = -1;
    }
    /* grow regions from the last step backwards */
    for (int i = ns - 1; i >= 0; i--) {
        const kiln_gstep *s = &g->steps[i];
        region_b *r = &regions[nregions];
        int k = 0;
        bool keep = false;
        if (f.region_of[i] != -1) {
            continue;
        }
        memset(r, 0, sizeof *r);
        r->id = nregions;
        r->seed = i;
        if (is_ew(s)) {
            const kiln_meta *m = &g->vals[s->out0].meta;
            r->D = m->ndim;
            memcpy(r->dom, m->shape, sizeof(int64_t) * (size_t)m->ndim);
        } else if (is_red(g, s, &k, &keep)) {
            const kiln_meta *m = &g->vals[s->in[0]].meta;
            r->D = m->ndim;
            r->k = k;
            r->nred = 1;
            memcpy(r->dom, m->shape, sizeof(int64_t) * (size_t)m->ndim);
        } else {
            continue;
        }
        r->members[r->n++] = i;
        f.region_of[i] = nregions;
        bool changed = true;
        while (changed) {
            changed = false;
            for (int mi = 0; mi < r->n; mi++) {
                const kiln_gstep *m = &g->steps[r->members[mi]];
                for (int j = 0; j < m->nin; j++) {
                    int p = g->vals[m->in[j]].step;
                    if (p < 0 || f.region_of[p] != -1) {
                        continue;
                    }
                    if (absorb(&f, r, p)) {
                        f.region_of[p] = nregions;
                        changed = true;
                    }
                }
            }
        }
        if (r->n == 1) {
            f.region_of[i] = -2; /* stays a plain step */
            continue;
        }
        qsort(r->members, (size_t)r->n, sizeof(int), cmp_int);
        nregions++;
    }
    if (!shapeless) {
        merge_siblings(&f, regions, nregions);
    }
    /* the fused graph */
    out = kiln__graph_new(g->ninputs);
    if (!out) {
        kiln__err_oom(fn, 0);
        goto done;
    }
    for (int v = 0; v < nv; v++) {
        map[v] = v < g->ninputs ? v : -1;
        if (v < g->ninputs) {
            out->vals[v].meta = g->vals[v].meta;
        } else if (g->vals[v].constant && used_outside(&f, v)) {
            map[v] = kiln__graph_add_const(out, g->vals[v].constant);
            if (map[v] < 0) {
                goto oom;
            }
        }
    }
    for (int i = 0; i < ns; i++) {
        const kiln_gstep *s = &g->steps[i];
        int rid = f.region_of[i];
        if (rid >= 0 && regions[rid].seed != i) {
            continue; /* a member: emitted with its region's seed */
        }
        if (rid < 0) {
            int local[16], *ins = s->nin <= 16
                                      ? local
                                      : malloc(sizeof(int) * (size_t)s->nin);
            kiln_meta outm[KILN_MAX_OUTPUTS];
            if (!ins) {
                goto oom;
            }
            for (int j = 0; j < s->nin; j++) {
                ins[j] = map[s->in[j]];
            }
            for (int q = 0; q < s->nout; q++) {
                outm[q] = g->vals[s->out0 + q].meta;
            }
            int o0 = kiln__graph_add_step(out, s->prim, s->params, ins,
                                          s->nin, outm, s->nout);
            if (ins != local) {
                free(ins);
            }
            if (o0 < 0) {
                goto oom;
            }
            for (int q = 0; q < s->nout; q++) {
                map[s->out0 + q] = o0 + q;
            }
            continue;
        }
        int *in_vals = NULL, *out_vals = NULL;
        kiln_region *R = build(&f, &regions[rid], &in_vals, &out_vals, fn);
        if (!R) {
            goto fail;
        }
        kiln_fused *fu = kiln__fused_new(R);
        if (!fu) {
            free(in_vals);
            free(out_vals);
            goto oom;
        }
        int ins[KILN_REGION_MAX_OPERANDS];
        kiln_meta outm[KILN_MAX_OUTPUTS];
        for (int j = 0; j < R->ninputs; j++) {
            ins[j] = map[in_vals[j]];
        }
        for (int q = 0; q < R->noutputs; q++) {
            outm[q] = g->vals[out_vals[q]].meta;
        }
        kiln_fused_params fp = {fu};
        int o0 = kiln__graph_add_step(out, &kiln__prim_fused, &fp, ins,
                                      R->ninputs, outm, R->noutputs);
        if (o0 >= 0) {
            for (int q = 0; q < R->noutputs; q++) {
                map[out_vals[q]] = o0 + q;
            }
            fl[nfl++] = fu; /* the graph's step holds its own reference */
        }
        free(in_vals);
        free(out_vals);
        if (o0 < 0) {
            kiln__fused_release(fu);
            goto oom;
        }
    }
    out->outputs = malloc(sizeof(int) * (size_t)(g->noutputs + 1));
    if (!out->outputs) {
        goto oom;
    }
    out->noutputs = g->noutputs;
    for (int i = 0; i < g->noutputs; i++) {
        out->outputs[i] = map[g->outputs[i]];
    }
    goto done;
oom:
    kiln__err_oom(fn, 0);
fail:
    for (int i = 0; i < nfl; i++) {
        kiln__fused_release(fl[i]);
    }
    nfl = 0;
    kiln__graph_free(out);
    out = NULL;
done:
    free(f.cons_off);
    free(f.cons);
    free(f.is_out);
    free(f.region_of);
    free(map);
    free(regions);
    if (out) {
        *fused = fl;
        *nfused = nfl;
    } else {
        free(fl);
    }
    return out;
}

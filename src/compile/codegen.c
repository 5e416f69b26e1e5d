/*
 * codegen.c - C source for a fused region (see codegen.h, region.h): the
 * entry point, and the kernel's variants and the calls between them.
 *
 * The generator is four files over one private state (codegen_impl.h):
 * codegen_plan.c checks the region, classes its values and plans what the
 * emitters do (half staging, shared rows, output rows as caches,
 * prefetches); codegen_value.c writes one value, store or fold;
 * codegen_loop.c writes the loops (elementwise loops, float16 rounding in
 * blocks, the passes of a reduction row); this file writes the helper's
 * signature and call, the two variants and the exported kernel. Nothing
 * here names a primitive: every operation comes from an emit template.
 *
 * Placement. A value is *uniform* when it depends only on constants and
 * rank-0 inputs: computed once per call. Every kernel has two variants:
 * <sym>_fast, a static always_inline helper taking the moving operands as
 * typed parameters and indexing them plainly, so gcc -O3 vectorises it
 * without alias checks: restrict parameters in row regions (gcc honours
 * restrict on parameters, not on local pointers) except the staged rows
 * that may share a row (plan_share), KILN_IVDEP (gcc's ivdep, clang's
 * assume_safety) on elementwise loops, whose output may share an input's
 * buffer at the same index, and on a last pass whose output may share an
 * input's row (put_ivdep, codegen_loop.c); and <sym>_strided, byte
 * offsets, not vectorised (scalar anyway; halves the compile time). The
 * kernel takes the fast one when every moving operand's stride is its
 * element size. Reduction regions call the helper once per row; in the
 * fast variant the kernel converts staged float16 rows to float before
 * the call and narrows the output rows after it (put_row_stage; what is
 * staged is plan_half's choice, codegen_plan.c).
 *
 * No a*b+c contraction: kernels carry optimize("fp-contract=off") (gcc),
 * since eager rounds after every op and gcc contracts across inlined
 * calls by default (gnu modes); the JIT should also pass -ffp-contract=off
 * so that out-of-line preamble functions are covered too.
 */
#include "codegen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "codegen_impl.h"

/* ------------------------------------------------------------------ */
/* operands and the fast variant's helper                             */
/* ------------------------------------------------------------------ */

/* Whether moving operand o of an elementwise region may also take the
 * fast path with stride 0 (an input broadcast along the row: a (n, 1)
 * column, a stride-0 array): put_ew_call replicates it into a block. */
static bool bcast_ok(const gen *g, int o)
{
    return !g->reduce && o >= g->r->noutputs &&
           kiln__codegen_plan_role(g, o) == ROLE_MOVING;
}

/* The fast-path condition: every moving operand's stride (array sname) is
 * its element size (or 0 where bcast_ok). */
static void put_fast_cond(gen *g, const char *sname)
{
    int nterms = 0;
    ind(g);
    kiln__text_puts(g->t, "if (");
    for (int o = 0; o < noperands(g); o++) {
        if (kiln__codegen_plan_role(g, o) != ROLE_MOVING) {
            continue;
        }
        size_t es = kiln_dtype_size(op_dtype(g, o));
        if (bcast_ok(g, o)) {
            kiln__text_printf(g->t, "%s(%s[%d] == %zu || %s[%d] == 0)",
                              nterms ? " && " : "", sname, o, es, sname, o);
        } else {
            kiln__text_printf(g->t, "%s%s[%d] == %zu", nterms ? " && " : "",
                              sname, o, es);
        }
        nterms++;
    }
    kiln__text_printf(g->t, "%s) {\n", nterms ? "" : "1");
}

/* Whether operand o's staged row may be shared (plan_share): it is then
 * no restrict parameter. */
static bool row_may_alias(const gen *g, int o)
{
    return g->share >= 0 &&
           (o == g->share || (o >= g->r->noutputs && g->stage[o]));
}

/* The helper's parameters: the uniform values, then typed pointers
 * (moving operands; restrict in row regions, which is what lets gcc
 * vectorise them without alias checks, except rows that may be shared)
 * and row pointers (outer operands). */
static void put_params(gen *g)
{
    const kiln_region *r = g->r;
    kiln__text_puts(g->t, g->reduce ? "int64_t len" : "int64_t n");
    for (int i = 0; i < r->nvals; i++) {
        if (g->live[i] && g->cls[i] == CLS_UNIFORM) {
            kiln__text_printf(g->t, ", const %s v%d",
                              ctype(r->vals[i].dtype), i);
        }
    }
    for (int o = 0; o < noperands(g); o++) {
        int ro = kiln__codegen_plan_role(g, o);
        bool out = o < r->noutputs;
        const char *st = g->reduce && g->stage[o] ? "float"
                                                  : stype(op_dtype(g, o));
        if (ro == ROLE_MOVING) {
            kiln__text_printf(g->t, ", %s%s *%s%c%d",
                              out ? "" : "const ", st,
                              g->reduce && !row_may_alias(g, o) ? "restrict "
                                                          : "",
                              out ? 'y' : 'x', o);
            if (kiln__codegen_plan_prefetched(g, o)) {
                kiln__text_printf(g->t, ", const char *f%d", o);
            }
        } else if (ro == ROLE_OUTER) {
            kiln__text_printf(g->t, ", %schar *r%d", out ? "" : "const ",
                              o);
        }
    }
}

/* `, v<i>` for every uniform value: the helper's leading arguments. */
static void put_uniform_args(gen *g)
{
    for (int i = 0; i < g->r->nvals; i++) {
        if (g->live[i] && g->cls[i] == CLS_UNIFORM) {
            kiln__text_printf(g->t, ", v%d", i);
        }
    }
}

/*
 * Streaming rows (reduction regions). When the caller asks for streaming
 * stores (kiln_region_inner.stream: outputs far bigger than the caches,
 * fused_cpu.c) and the rows fit NT_ROW bytes together, each inner output
 * row is computed into a stack row and streamed to memory after the row
 * (kiln_nt_copy), so its lines are not read first. Only where no operand
 * is staged (a staged output is narrowed from its float row instead).
 * Returns the bytes one element of every streamed output takes, 0: none.
 */
#define NT_ROW 32768

static int64_t nt_row_bytes(const gen *g)
{
    int64_t es = 0;
    for (int o = 0; o < noperands(g); o++) {
        if (g->stage[o]) {
            return 0;
        }
    }
    for (int o = 0; o < g->r->noutputs; o++) {
        if (kiln__codegen_plan_role(g, o) == ROLE_MOVING) {
            es += (int64_t)kiln_dtype_size(op_dtype(g, o));
        }
    }
    return es;
}

/* Byte offset of output o's row in the stack row, per element of len:
 * the rows go by decreasing element size, so each starts at a multiple of
 * its element size (sizes are powers of two) whatever len is. */
static int64_t nt_row_at(const gen *g, int o)
{
    int64_t at = 0, es = (int64_t)kiln_dtype_size(op_dtype(g, o));
    for (int q = 0; q < g->r->noutputs; q++) {
        int64_t eq = (int64_t)kiln_dtype_size(op_dtype(g, q));
        if (kiln__codegen_plan_role(g, q) == ROLE_MOVING &&
            (eq > es || (eq == es && q < o))) {
            at += eq;
        }
    }
    return at;
}

/* The row helper's call for row `row` of a reduction region (its moving
 * outputs into the stack row when nt: nt_row_bytes). */
static void put_row_call(gen *g, const char *fn)
{
    const kiln_region *r = g->r;
    ind(g);
    kiln__text_printf(g->t, "%s(len", fn);
    put_uniform_args(g);
    for (int o = 0; o < noperands(g); o++) {
        int ro = kiln__codegen_plan_role(g, o);
        bool out = o < r->noutputs;
        if (ro == ROLE_MOVING && g->stage[o]) {
            kiln__text_printf(g->t, ", c%d", o);
        } else if (ro == ROLE_MOVING) {
            const char *st = stype(op_dtype(g, o));
            kiln__text_printf(g->t, ",\n");
            ind(g);
            if (out && nt_row_bytes(g) > 0) {
                kiln__text_printf(g->t, "    nt ? (%s *)(void *)(ntrow + "
                                  "len * %lld) :",
                                  st, (long long)nt_row_at(g, o));
            }
            kiln__text_printf(g->t,
                              "    (%s%s *)(%svoid *)(p[%d] + row * s[%d])",
                              out ? "" : "const ", st, out ? "" : "const ",
                              o, o);
            if (kiln__codegen_plan_prefetched(g, o)) {
                /* the next row of this chunk (the last row: itself) */
                kiln__text_printf(g->t,
                                  ",\n%*s    p[%d] + (row + 1 < n ? row + 1 "
                                  ": row) * s[%d]",
                                  4 * g->depth, "", o, o);
            }
        } else if (ro == ROLE_OUTER) {
            kiln__text_printf(g->t, ", (p[%d] + row * s[%d])", o, o);
        }
    }
    kiln__text_puts(g->t, ");\n");
}

/* The elementwise fast call. An input of stride 0 is replicated into a
 * stack block b<o> of STAGE elements and the helper then runs block by
 * block (one call site: the helper is inlined once), so a broadcast
 * operand keeps the vectorised variant. A non-NULL ctx asks for streaming
 * stores (fused_cpu.c decides, for outputs far bigger than the caches):
 * the helper then writes each output's block into a stack block o<o>,
 * which kiln_nt_copy (ntstore.h) streams to memory. */
static void put_ew_call(gen *g, const char *fn)
{
    const kiln_region *r = g->r;
    char head[96];
    ind(g);
    kiln__text_puts(g->t, "const int nt = ctx != NULL;\n");
    ind(g);
    kiln__text_printf(g->t, "int64_t step = nt ? %d : n;\n", STAGE);
    for (int o = 0; o < r->noutputs; o++) {
        if (kiln__codegen_plan_role(g, o) == ROLE_MOVING) {
            ind(g);
            kiln__text_printf(g->t, "%s o%d[%d];\n", stype(op_dtype(g, o)),
                              o, STAGE);
        }
    }
    for (int o = 0; o < noperands(g); o++) {
        if (!bcast_ok(g, o)) {
            continue;
        }
        const char *st = stype(op_dtype(g, o));
        ind(g);
        kiln__text_printf(g->t, "%s b%d[%d];\n", st, o, STAGE);
        snprintf(head, sizeof head, "if (s[%d] == 0) ", o);
        open_block(g, head);
        ind(g);
        kiln__text_printf(g->t, "step = %d;\n", STAGE);
        snprintf(head, sizeof head,
                 "for (int64_t k = 0; k < n && k < %d; k++) ", STAGE);
        open_block(g, head);
        ind(g);
        kiln__text_printf(g->t, "b%d[k] = *(const %s *)(const void *)p[%d];\n",
                          o, st, o);
        close_block(g);
        close_block(g);
    }
    open_block(g, "for (int64_t off = 0; off < n; off += step) ");
    ind(g);
    kiln__text_puts(g->t,
                    "const int64_t m = n - off < step ? n - off : step;\n");
    ind(g);
    kiln__text_printf(g->t, "%s(m", fn);
    put_uniform_args(g);
    for (int o = 0; o < noperands(g); o++) {
        if (kiln__codegen_plan_role(g, o) != ROLE_MOVING) {
            continue;
        }
        bool out = o < r->noutputs;
        const char *st = stype(op_dtype(g, o));
        kiln__text_puts(g->t, ",\n");
        ind(g);
        if (bcast_ok(g, o)) {
            kiln__text_printf(g->t, "    s[%d] == 0 ? b%d : ", o, o);
        } else if (out) {
            kiln__text_printf(g->t, "    nt ? o%d : ", o);
        } else {
            kiln__text_puts(g->t, "    ");
        }
        kiln__text_printf(g->t, "(%s%s *)(%svoid *)p[%d] + off",
                          out ? "" : "const ", st, out ? "" : "const ", o);
    }
    kiln__text_puts(g->t, ");\n");
    open_block(g, "if (nt) ");
    for (int o = 0; o < r->noutputs; o++) {
        if (kiln__codegen_plan_role(g, o) == ROLE_MOVING) {
            size_t es = kiln_dtype_size(op_dtype(g, o));
            ind(g);
            kiln__text_printf(g->t,
                              "kiln_nt_copy(p[%d] + off * %zu, o%d, "
                              "(size_t)m * %zu);\n",
                              o, es, o, es);
        }
    }
    close_block(g);
    close_block(g);
    open_block(g, "if (nt) ");
    ind(g);
    kiln__text_puts(g->t, "kiln_nt_fence();\n");
    close_block(g);
}

/* Row pointers r<o> of the strided variant. */
static void put_row_pointers(gen *g)
{
    for (int o = 0; o < noperands(g); o++) {
        if (kiln__codegen_plan_role(g, o) != ROLE_NONE) {
            ind(g);
            kiln__text_printf(g->t, "%schar *r%d = p[%d] + row * s[%d];\n",
                              o < g->r->noutputs ? "" : "const ", o, o, o);
        }
    }
}

/* ------------------------------------------------------------------ */
/* entry                                                              */
/* ------------------------------------------------------------------ */

/* Emitted before every kernel (guarded, so once per source). Kernels
 * never contract a*b+c across ops, whatever the compiler flags (gcc
 * contracts by default outside -std=c11), since eager rounds after every
 * op; the strided variant, scalar anyway, is not vectorised (which halves
 * the compile time). */
static const char attr_text[] =
    "#ifndef KILN_KERNEL_ATTR\n"
    "#if defined(__GNUC__) && !defined(__clang__)\n"
    "#define KILN_KERNEL_ATTR __attribute__((optimize(\"fp-contract=off\")))"
    "\n"
    "#define KILN_STRIDED_ATTR \\\n"
    "    __attribute__((noinline, optimize(\"fp-contract=off\", "
    "\"no-tree-vectorize\")))\n"
    "#else\n"
    "#define KILN_KERNEL_ATTR\n"
    "#define KILN_STRIDED_ATTR __attribute__((noinline))\n"
    "#endif\n"
    "#if defined(__GNUC__)\n"
    "#define KILN_PREFETCH(a) __builtin_prefetch(a)\n"
    "#else\n"
    "#define KILN_PREFETCH(a) ((void)(a))\n"
    "#endif\n"
    "#if defined(__clang__)\n"
    "#define KILN_IVDEP _Pragma(\"clang loop vectorize(assume_safety)\")\n"
    "#elif defined(__GNUC__)\n"
    "#define KILN_IVDEP _Pragma(\"GCC ivdep\")\n"
    "#else\n"
    "#define KILN_IVDEP\n"
    "#endif\n"
    "#endif\n";

/* `const int64_t len, *st` from ctx (reductions). */
static void put_ctx(gen *g)
{
    ind(g);
    kiln__text_puts(g->t,
                    "/* ctx: kiln_region_inner {len; stride[16]} */\n");
    ind(g);
    kiln__text_puts(g->t,
                    "const int64_t len = ((const int64_t *)ctx)[0];\n");
    ind(g);
    kiln__text_puts(g->t, "const int64_t *st = (const int64_t *)ctx + 1;\n");
}

/* The fast variant: a static helper whose typed parameters are the
 * moving operands (one row of a reduction, or the n elements). */
static kiln_status put_fast(gen *g, const char *symbol)
{
    kiln__text_printf(g->t,
                      "static inline __attribute__((always_inline)) "
                      "KILN_KERNEL_ATTR void\n%s_fast(",
                      symbol);
    put_params(g);
    kiln__text_puts(g->t, ")\n{\n");
    g->depth = 1;
    g->fast = true;
    for (int o = 0; o < noperands(g) && !g->reduce; o++) {
        if (g->stage[o]) {
            ind(g);
            kiln__text_printf(g->t, "float c%d[%d];\n", o, STAGE);
        }
    }
    kiln_status st = g->reduce ? kiln__codegen_loop_put_row(g)
                               : kiln__codegen_loop_put_ew(g);
    kiln__text_puts(g->t, "}\n");
    return st;
}

/* The strided variant: byte offsets, the kernel's own signature. */
static kiln_status put_strided(gen *g, const char *symbol)
{
    kiln__text_printf(g->t,
                      "static KILN_STRIDED_ATTR void\n%s_strided(void *ctx, "
                      "char *const *p, const int64_t *s, int64_t n)\n{\n",
                      symbol);
    g->depth = 1;
    g->fast = false;
    if (g->reduce) {
        put_ctx(g);
    } else {
        ind(g);
        kiln__text_puts(g->t, "(void)ctx;\n");
    }
    if (kiln__codegen_value_put_all(g, CLS_UNIFORM, 0, 1 << 30) != KILN_OK) {
        return kiln_errcode();
    }
    kiln_status st;
    if (g->reduce) {
        open_block(g, "for (int64_t row = 0; row < n; row++) ");
        put_row_pointers(g);
        st = kiln__codegen_loop_put_row(g);
        close_block(g);
    } else {
        st = kiln__codegen_loop_put_ew(g);
    }
    kiln__text_puts(g->t, "}\n");
    return st;
}

/*
 * Row staging (reductions with staged operands): each float16 row is
 * converted once into a float row c<o> that every pass reads, and the
 * output rows are narrowed after the row; an input whose rows repeat
 * (row stride 0: a weight broadcast over the rows) is converted once.
 * The rows come from a stack buffer when they fit, else from malloc;
 * without memory the strided variant runs. Returns the number of rows.
 */
static int put_row_stage(gen *g, const char *symbol)
{
    int ns = 0;
    for (int o = 0; o < noperands(g); o++) {
        ns += g->stage[o];
    }
    if (ns == 0) {
        return 0;
    }
    ind(g);
    kiln__text_printf(g->t, "float sbuf[%d];\n", ROW_STAGE);
    ind(g);
    kiln__text_printf(g->t,
                      "float *stage = len <= %d ? sbuf : "
                      "(float *)malloc((size_t)len * %d * sizeof(float));\n",
                      ROW_STAGE / ns, ns);
    open_block(g, "if (!stage) ");
    ind(g);
    kiln__text_printf(g->t, "%s_strided(ctx, p, s, n);\n", symbol);
    ind(g);
    kiln__text_puts(g->t, "return;\n");
    close_block(g);
    int k = 0;
    for (int o = 0; o < noperands(g); o++) {
        if (g->stage[o] && o != g->share) {
            ind(g);
            kiln__text_printf(g->t, "float *c%d = stage + %d * len;\n", o,
                              k++);
        }
    }
    if (g->share >= 0) {
        /* the first input whose rows move; one converted once for all
         * rows keeps its row */
        ind(g);
        kiln__text_printf(g->t, "float *c%d = ", g->share);
        for (int q = g->r->noutputs; q < noperands(g); q++) {
            if (g->stage[q]) {
                kiln__text_printf(g->t, "s[%d] != 0 ? c%d : ", q, q);
            }
        }
        kiln__text_printf(g->t, "stage + %d * len;\n", k);
    }
    return ns;
}

/* The conversions of row `row`: staged inputs before the helper (load),
 * staged outputs after it. */
static void put_row_convert(gen *g, bool load)
{
    for (int o = 0; o < noperands(g); o++) {
        bool in = o >= g->r->noutputs;
        if (!g->stage[o] || in != load) {
            continue;
        }
        ind(g);
        if (load) {
            kiln__text_printf(g->t,
                              "if (row == 0 || s[%d] != 0) {\n", o);
            ind(g);
            kiln__text_printf(g->t,
                              "    kiln_f16_to_f32_n((const kiln_f16 *)"
                              "(const void *)(p[%d] + row * s[%d]), c%d, "
                              "len);\n",
                              o, o, o);
            ind(g);
            kiln__text_puts(g->t, "}\n");
        } else {
            kiln__text_printf(g->t,
                              "kiln_f32_to_f16_n(c%d, (kiln_f16 *)(void *)"
                              "(p[%d] + row * s[%d]), len);\n",
                              o, o, o);
        }
    }
}

/* The exported kernel: picks the variant. */
static kiln_status put_kernel(gen *g, const char *symbol)
{
    char fn[160];
    snprintf(fn, sizeof fn, "%s_fast", symbol);
    kiln__text_printf(g->t,
                      "KILN_KERNEL_ATTR __attribute__((visibility("
                      "\"default\"))) void\n%s(void *ctx, char *const *p, "
                      "const int64_t *s, int64_t n)\n{\n",
                      symbol);
    g->depth = 1;
    g->fast = true;
    open_block(g, "if (n <= 0) ");
    ind(g);
    kiln__text_puts(g->t, "return;\n");
    close_block(g);
    if (g->reduce) {
        put_ctx(g);
    }
    put_fast_cond(g, g->reduce ? "st" : "s");
    g->depth++;
    if (kiln__codegen_value_put_all(g, CLS_UNIFORM, 0, 1 << 30) != KILN_OK) {
        return kiln_errcode();
    }
    if (g->reduce) {
        int ns = put_row_stage(g, symbol);
        int64_t nb = nt_row_bytes(g);
        if (nb > 0) {
            ind(g);
            kiln__text_printf(g->t,
                              "const int nt = ((const int64_t *)ctx)[%d] "
                              "!= 0 && len <= %lld;\n",
                              KILN_REGION_MAX_OPERANDS + 1,
                              (long long)(NT_ROW / nb));
            ind(g);
            kiln__text_printf(g->t, "_Alignas(64) char ntrow[%d];\n",
                              NT_ROW);
        }
        open_block(g, "for (int64_t row = 0; row < n; row++) ");
        put_row_convert(g, true);
        put_row_call(g, fn);
        put_row_convert(g, false);
        for (int o = 0; nb > 0 && o < g->r->noutputs; o++) {
            if (kiln__codegen_plan_role(g, o) == ROLE_MOVING) {
                size_t es = kiln_dtype_size(op_dtype(g, o));
                open_block(g, "if (nt) ");
                ind(g);
                kiln__text_printf(g->t,
                                  "kiln_nt_copy(p[%d] + row * s[%d], ntrow + "
                                  "len * %lld, (size_t)len * %zu);\n",
                                  o, o, (long long)nt_row_at(g, o), es);
                close_block(g);
            }
        }
        close_block(g);
        if (nb > 0) {
            open_block(g, "if (nt) ");
            ind(g);
            kiln__text_puts(g->t, "kiln_nt_fence();\n");
            close_block(g);
        }
        if (ns > 0) {
            ind(g);
            kiln__text_puts(g->t, "if (stage != sbuf) {\n");
            ind(g);
            kiln__text_puts(g->t, "    free(stage);\n");
            ind(g);
            kiln__text_puts(g->t, "}\n");
        }
    } else {
        put_ew_call(g, fn);
    }
    g->depth--;
    ind(g);
    kiln__text_puts(g->t, "} else {\n");
    g->depth++;
    ind(g);
    kiln__text_printf(g->t, "%s_strided(ctx, p, s, n);\n", symbol);
    close_block(g);
    kiln__text_puts(g->t, "}\n");
    return KILN_OK;
}

/* Whether s is a C identifier. */
static bool is_ident(const char *s)
{
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') ||
                (*s >= 'A' && *s <= 'Z'))) {
        return false;
    }
    for (; *s; s++) {
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) {
            return false;
        }
    }
    return true;
}

kiln_status kiln__codegen_region(const kiln_region *r, const char *symbol,
                                 kiln_text *out)
{
    if (!r || !out) {
        return kiln__err_null(FN);
    }
    if (!is_ident(symbol) || strlen(symbol) > 100) {
        return kiln__err(KILN_ERR_VALUE, "[%s] bad symbol name", FN);
    }
    if (kiln__codegen_plan_check(r) != KILN_OK) {
        return kiln_errcode();
    }
    size_t nv = (size_t)r->nvals;
    size_t ni = (size_t)(r->ninputs > 0 ? r->ninputs : 1);
    gen g = {0};
    g.r = r;
    g.t = out;
    g.reduce = r->nreduce > 0;
    int *ints = malloc((4 * nv + ni) * sizeof *ints);
    unsigned char *bytes = malloc(nv * (1 + 6 * sizeof(bool)));
    if (!ints || !bytes) {
        free(ints);
        free(bytes);
        return kiln__err_oom(FN, nv * 16);
    }
    g.lev = ints;
    g.folds = ints + nv;
    g.in_val = ints + 2 * nv;
    g.cache = ints + 2 * nv + ni;
    g.seg = ints + 3 * nv + ni;
    for (size_t i = 0; i < nv; i++) {
        g.cache[i] = -1;
    }
    g.cls = bytes;
    g.live = (bool *)(void *)(bytes + nv);
    g.need = g.live + nv;
    g.wide = g.need + nv;
    g.sw = g.wide + nv;
    g.rnd = g.sw + nv;
    g.mark = g.rnd + nv;
    kiln_status st = kiln__codegen_plan_analyse(&g);
    if (st == KILN_OK && !g.reduce) {
        for (int i = 0; i < r->nvals; i++) {
            g.need[i] = g.live[i] && g.cls[i] == CLS_INNER;
        }
    }
    if (st == KILN_OK) {
        kiln__codegen_plan_half(&g);
        kiln__codegen_plan_share(&g);
        kiln__codegen_plan_prefetch(&g);
        kiln__codegen_plan_cache(&g);
        kiln__codegen_loop_plan_vhalf(&g);
    }
    if (st == KILN_OK) {
        bool rows = false;
        for (int o = 0; o < noperands(&g); o++) {
            rows = rows || (g.reduce && g.stage[o]);
        }
        kiln__text_puts(out, attr_text);
        if (rows) {
            kiln__text_puts(out, "#include <stdlib.h>\n"); /* malloc */
        }
        st = put_fast(&g, symbol);
    }
    if (st == KILN_OK) {
        st = put_strided(&g, symbol);
    }
    if (st == KILN_OK) {
        st = put_kernel(&g, symbol);
    }
    if (st == KILN_OK && !kiln__text_ok(out, FN)) {
        st = kiln_errcode();
    }
    free(ints);
    free(bytes);
    return st;
}

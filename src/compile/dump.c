/*
 * dump.c - graphs as text and DOT, and the generated C, for telling why a
 * compiled function does what it does (DESIGN.md 5.1 "Telling why").
 *
 * Text: one line per step, "v7 = exp(v6) : float32 (8,128)"; constants
 * as "v3 = const float32 ()"; fused steps list their region's values
 * indented underneath. DOT: one node per value-producing step, edges from
 * inputs, fused steps drawn as boxes labelled with their ops.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/compiled.h"
#include "cache.h"
#include "ptrmap.h"
#include "text.h"

static void meta_text(kiln_text *t, const kiln_meta *m)
{
    char buf[160];
    kiln__shape_str(m->shape, m->ndim, buf, sizeof buf);
    kiln__text_printf(t, "%s %s", kiln_dtype_name(m->dtype), buf);
}

/* The region's values, one per line, indented. */
static void region_text(kiln_text *t, const kiln_region *r)
{
    kiln__text_printf(t, "    region: rank %d, %d reduced, %d inputs, %d "
                         "outputs\n", r->ndim, r->nreduce, r->ninputs,
                      r->noutputs);
    for (int i = 0; i < r->nvals; i++) {
        const kiln_rval *v = &r->vals[i];
        kiln__text_printf(t, "    r%d = ", i);
        switch (v->kind) {
        case KILN_RVAL_INPUT:
            kiln__text_printf(t, "input %d", v->input);
            break;
        case KILN_RVAL_CONST:
            kiln__text_puts(t, "const");
            break;
        default:
            kiln__text_printf(t, "%s(", v->prim->name);
            for (int j = 0; j < v->nargs; j++) {
                kiln__text_printf(t, "%sr%d", j ? ", " : "", v->args[j]);
            }
            kiln__text_puts(t, ")");
        }
        kiln__text_printf(t, " : %s%s level %d\n", kiln_dtype_name(v->dtype),
                          v->inner ? "" : " per-row", v->level);
    }
}

static bool is_fused(const kiln_gstep *s)
{
    return s->prim == &kiln__prim_fused;
}

static void graph_text(kiln_text *t, const kiln_graph *g)
{
    for (int i = 0; i < g->ninputs; i++) {
        kiln__text_printf(t, "v%d = input %d : ", i, i);
        meta_text(t, &g->vals[i].meta);
        kiln__text_puts(t, "\n");
    }
    for (int v = g->ninputs; v < g->nvals; v++) {
        if (g->vals[v].constant) {
            kiln__text_printf(t, "v%d = const : ", v);
            meta_text(t, &g->vals[v].meta);
            kiln__text_puts(t, "\n");
        }
    }
    for (int i = 0; i < g->nsteps; i++) {
        const kiln_gstep *s = &g->steps[i];
        for (int k = 0; k < s->nout; k++) {
            kiln__text_printf(t, "%sv%d", k ? ", " : "", s->out0 + k);
        }
        kiln__text_printf(t, " = %s(", s->prim->name);
        for (int j = 0; j < s->nin; j++) {
            kiln__text_printf(t, "%sv%d", j ? ", " : "", s->in[j]);
        }
        kiln__text_puts(t, ") : ");
        meta_text(t, &g->vals[s->out0].meta);
        kiln__text_puts(t, "\n");
        if (is_fused(s)) {
            region_text(t, ((const kiln_fused_params *)s->params)
                               ->fused->region);
        }
    }
    kiln__text_puts(t, "results:");
    for (int i = 0; i < g->noutputs; i++) {
        kiln__text_printf(t, " v%d", g->outputs[i]);
    }
    kiln__text_puts(t, "\n");
}

static void graph_dot(kiln_text *t, const kiln_graph *g)
{
    kiln__text_puts(t, "digraph kiln {\n  rankdir=TB;\n");
    for (int i = 0; i < g->ninputs; i++) {
        kiln__text_printf(t, "  v%d [label=\"input %d\", shape=oval];\n", i,
                          i);
    }
    for (int v = g->ninputs; v < g->nvals; v++) {
        if (g->vals[v].constant) {
            kiln__text_printf(t, "  v%d [label=\"const\", shape=plain];\n",
                              v);
        }
    }
    for (int i = 0; i < g->nsteps; i++) {
        const kiln_gstep *s = &g->steps[i];
        kiln__text_printf(t, "  s%d [label=\"%s", i, s->prim->name);
        if (is_fused(s)) {
            const kiln_region *r =
                ((const kiln_fused_params *)s->params)->fused->region;
            for (int j = 0; j < r->nvals; j++) {
                if (r->vals[j].prim) {
                    kiln__text_printf(t, "\\n%s", r->vals[j].prim->name);
                }
            }
        }
        kiln__text_printf(t, "\", shape=%s];\n",
                          is_fused(s) ? "box" : "ellipse");
        for (int j = 0; j < s->nin; j++) {
            int v = s->in[j];
            const kiln_gval *x = &g->vals[v];
            if (x->step >= 0) {
                kiln__text_printf(t, "  s%d -> s%d;\n", x->step, i);
            } else {
                kiln__text_printf(t, "  v%d -> s%d;\n", v, i);
            }
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        const kiln_gval *x = &g->vals[g->outputs[i]];
        kiln__text_printf(t, "  out%d [label=\"result %d\", shape=oval];\n",
                          i, i);
        if (x->step >= 0) {
            kiln__text_printf(t, "  s%d -> out%d;\n", x->step, i);
        } else {
            kiln__text_printf(t, "  v%d -> out%d;\n", g->outputs[i], i);
        }
    }
    kiln__text_puts(t, "}\n");
}

char *kiln_compile_dump(const kiln_fn *f, kiln_dump_kind kind)
{
    const char *fn = "compile_dump";
    kiln_centry *e = kiln__compile_last_entry(f);
    kiln_text t = {0};
    if (!f) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!e) {
        kiln__err(KILN_ERR_VALUE, "[%s] %s has not been traced yet", fn,
                  kiln_fn_name(f));
        return NULL;
    }
    switch (kind) {
    case KILN_DUMP_TRACED:
        graph_text(&t, e->traced);
        break;
    case KILN_DUMP_FUSED:
        graph_text(&t, e->fused);
        break;
    case KILN_DUMP_DOT:
        graph_dot(&t, e->fused);
        break;
    case KILN_DUMP_SOURCE:
        kiln__text_puts(&t, e->source ? e->source
                                      : "/* no generated kernels */\n");
        break;
    default:
        kiln__centry_release(e);
        kiln__err(KILN_ERR_VALUE, "[%s] unknown dump kind %d", fn,
                  (int)kind);
        return NULL;
    }
    kiln__centry_release(e);
    if (!kiln__text_ok(&t, fn)) {
        kiln__text_free(&t);
        return NULL;
    }
    return t.s;
}

/* The lazy graph behind xs: pending nodes as ellipses, evaluated leaves
 * as boxes (iterative walk; shared nodes once). */
char *kiln_graph_dot(kiln_array *const *xs, int n)
{
    const char *fn = "graph_dot";
    kiln_text t = {0};
    kiln_ptrmap seen = {0};
    kiln_node **stack = NULL;
    int depth = 0, cap = 0, ids = 0;
    if (n < 0 || (n > 0 && !xs)) {
        kiln__err(KILN_ERR_VALUE, "[%s] bad array list", fn);
        return NULL;
    }
    kiln__text_puts(&t, "digraph kiln {\n  rankdir=TB;\n");
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            kiln__err_null(fn);
            goto fail;
        }
        kiln__text_printf(&t, "  out%d [label=\"result %d\", shape=oval];\n",
                          i, i);
        if (xs[i]->node) {
            kiln__text_printf(&t, "  n%p -> out%d;\n", (void *)xs[i]->node,
                              i);
            if (depth == cap) {
                cap = cap ? 2 * cap : 64;
                kiln_node **s = realloc(stack, sizeof *s * (size_t)cap);
                if (!s) {
                    goto oom;
                }
                stack = s;
            }
            stack[depth++] = xs[i]->node;
        } else {
            kiln__text_printf(&t, "  a%p [label=\"array\", shape=box];\n"
                                  "  a%p -> out%d;\n",
                              (void *)xs[i], (void *)xs[i], i);
        }
    }
    while (depth > 0) {
        kiln_node *nd = stack[--depth];
        if (kiln__ptrmap_get(&seen, (uint64_t)(uintptr_t)nd) >= 0) {
            continue;
        }
        if (!kiln__ptrmap_put(&seen, (uint64_t)(uintptr_t)nd, ids++)) {
            goto oom;
        }
        kiln__text_printf(&t, "  n%p [label=\"%s\"];\n", (void *)nd,
                          nd->prim->name);
        for (int j = 0; j < nd->nin; j++) {
            kiln_array *x = nd->in[j];
            if (x->node && !x->buf) {
                kiln__text_printf(&t, "  n%p -> n%p;\n", (void *)x->node,
                                  (void *)nd);
                if (depth == cap) {
                    cap = cap ? 2 * cap : 64;
                    kiln_node **s = realloc(stack, sizeof *s * (size_t)cap);
                    if (!s) {
                        goto oom;
                    }
                    stack = s;
                }
                stack[depth++] = x->node;
            } else {
                char buf[160];
                kiln__shape_str(x->shape, x->ndim, buf, sizeof buf);
                kiln__text_printf(&t,
                                  "  a%p [label=\"%s %s\", shape=box];\n"
                                  "  a%p -> n%p;\n",
                                  (void *)x, kiln_dtype_name(x->dtype), buf,
                                  (void *)x, (void *)nd);
            }
        }
    }
    kiln__text_puts(&t, "}\n");
    free(stack);
    kiln__ptrmap_free(&seen);
    if (!kiln__text_ok(&t, fn)) {
        kiln__text_free(&t);
        return NULL;
    }
    return t.s;
oom:
    kiln__err_oom(fn, 0);
fail:
    free(stack);
    kiln__ptrmap_free(&seen);
    kiln__text_free(&t);
    return NULL;
}

void kiln_free(void *p)
{
    free(p);
}

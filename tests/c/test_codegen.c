/*
 * test_codegen.c - the region code generator (compile/codegen.c).
 *
 * Regions are built by hand here, as fuse.c would build them: a gelu-like
 * float32 chain, a where/compare/astype chain over int32, float16 and
 * float64, softmax and layernorm rows, and a region of assorted
 * reductions. The generated text of three of them is compared with golden
 * files (tests/golden/codegen_<name>.c; KILN_GOLDEN_UPDATE=1 rewrites
 * them). The
 * kernels are then compiled by the JIT (compile/jit.c) and run on small
 * arrays: elementwise results must equal kiln's eager
 * ops bit for bit, reductions must match eager within a few ulp (exactly
 * where the data makes sums exact), and the strided variant must give the
 * fast variant's bits. With KILN_CC=false or KILN_JIT=0 (no compiler)
 * the execution tests are skipped with a note.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/fused_cpu.h"
#include "backend/cpu/iter.h"
#include "compile/codegen.h"
#include "compile/jit.h"
#include "core/half.h"
#include "harness.h"
#include "kiln.h"

/* ------------------------------------------------------------------ */
/* region builder                                                     */
/* ------------------------------------------------------------------ */

typedef struct rb {
    kiln_region r;
    kiln_rval vals[40];
    kiln_dtype in_dtype[16];
    int in_ndim[16];
    bool in_outer[16];
    int out_val[16];
    int out_ndim[16];
} rb;

static void rb_init(rb *b, int ndim, int nreduce)
{
    memset(b, 0, sizeof *b);
    b->r.ndim = ndim;
    b->r.nreduce = nreduce;
    b->r.vals = b->vals;
    b->r.in_dtype = b->in_dtype;
    b->r.in_ndim = b->in_ndim;
    b->r.in_outer = b->in_outer;
    b->r.out_val = b->out_val;
    b->r.out_ndim = b->out_ndim;
}

static int rb_add(rb *b, kiln_rval v)
{
    int i = b->r.nvals++;
    b->vals[i] = v;
    return i;
}

/* An input of rank ndim (0: scalar); outer: size 1 on the inner dims. */
static int rb_input(rb *b, kiln_dtype dt, int ndim, bool outer)
{
    int k = b->r.ninputs++;
    b->in_dtype[k] = dt;
    b->in_ndim[k] = ndim;
    b->in_outer[k] = outer;
    kiln_rval v = {0};
    v.kind = KILN_RVAL_INPUT;
    v.dtype = dt;
    v.input = k;
    v.inner = ndim > 0 && !outer;
    return rb_add(b, v);
}

static int rb_const(rb *b, kiln_dtype dt, const void *bytes, size_t n)
{
    kiln_rval v = {0};
    v.kind = KILN_RVAL_CONST;
    v.dtype = dt;
    memcpy(v.value, bytes, n);
    return rb_add(b, v);
}

static int rb_f32(rb *b, float f)
{
    return rb_const(b, KILN_DTYPE_FLOAT32, &f, sizeof f);
}

static int rb_op(rb *b, const kiln_prim *p, kiln_dtype dt, int a0, int a1,
                 int a2)
{
    kiln_rval v = {0};
    int args[3] = {a0, a1, a2};
    v.kind = KILN_RVAL_OP;
    v.dtype = dt;
    v.prim = p;
    v.nargs = p->nin;
    for (int k = 0; k < v.nargs; k++) {
        v.args[k] = args[k];
        v.inner = v.inner || b->vals[args[k]].inner;
        if (b->vals[args[k]].level > v.level) {
            v.level = b->vals[args[k]].level;
        }
    }
    if (b->r.nreduce == 0) {
        v.inner = true;
    }
    return rb_add(b, v);
}

static int rb_reduce(rb *b, const kiln_prim *p, kiln_dtype dt, int a)
{
    kiln_rval v = {0};
    v.kind = KILN_RVAL_REDUCE;
    v.dtype = dt;
    v.prim = p;
    v.nargs = 1;
    v.args[0] = a;
    v.level = b->vals[a].level + 1;
    return rb_add(b, v);
}

static void rb_output(rb *b, int v)
{
    int j = b->r.noutputs++;
    b->out_val[j] = v;
    b->out_ndim[j] = b->vals[v].inner ? b->r.ndim
                                      : b->r.ndim - b->r.nreduce;
}

/* Generates r's kernel as `symbol`, appended to t; with
 * KILN_CODEGEN_DUMP=<file> also appends it to that file (for reading the
 * code or checking what gcc vectorises). */
static bool gen(const kiln_region *r, const char *symbol, kiln_text *t)
{
    size_t start = t->len;
    kiln_status st = kiln__codegen_region(r, symbol, t);
    CHECK_MSG(st == KILN_OK, "codegen %s: %s", symbol, kiln_errmsg());
    const char *dump = getenv("KILN_CODEGEN_DUMP");
    if (st == KILN_OK && dump && *dump) {
        FILE *fp = fopen(dump, "a");
        if (fp) {
            fputs(t->s + start, fp);
            fclose(fp);
        }
    }
    return st == KILN_OK;
}

/* ------------------------------------------------------------------ */
/* the regions                                                        */
/* ------------------------------------------------------------------ */

#define F32 KILN_DTYPE_FLOAT32
#define F16 KILN_DTYPE_FLOAT16

/* y = half * x * (1 + tanh(c1 * (x + c0 * x^3))), with half a rank-0
 * input; outputs y and the tanh. */
static void build_gelu(rb *b)
{
    rb_init(b, 1, 0);
    int x = rb_input(b, F32, 1, false);
    int half = rb_input(b, F32, 0, false);
    int c0 = rb_f32(b, 0.044715f);
    int c1 = rb_f32(b, 0.7978845608f);
    int one = rb_f32(b, 1.0f);
    int x2 = rb_op(b, &kiln__prim_multiply, F32, x, x, 0);
    int x3 = rb_op(b, &kiln__prim_multiply, F32, x2, x, 0);
    int t = rb_op(b, &kiln__prim_multiply, F32, c0, x3, 0);
    t = rb_op(b, &kiln__prim_add, F32, x, t, 0);
    t = rb_op(b, &kiln__prim_multiply, F32, c1, t, 0);
    int th = rb_op(b, &kiln__prim_tanh, F32, t, 0, 0);
    t = rb_op(b, &kiln__prim_add, F32, one, th, 0);
    int hx = rb_op(b, &kiln__prim_multiply, F32, half, x, 0);
    int y = rb_op(b, &kiln__prim_multiply, F32, hx, t, 0);
    rb_output(b, y);
    rb_output(b, th);
}

/* a int32, h float16, d float64:
 *   c = a < 3; w = where(c, h, f16(a)); y = (w + h) * f16(d);
 *   outputs y (f16), int8(y), c (bool) */
static void build_where(rb *b)
{
    rb_init(b, 1, 0);
    int a = rb_input(b, KILN_DTYPE_INT32, 1, false);
    int h = rb_input(b, F16, 1, false);
    int d = rb_input(b, KILN_DTYPE_FLOAT64, 1, false);
    int32_t three = 3;
    int k3 = rb_const(b, KILN_DTYPE_INT32, &three, sizeof three);
    int c = rb_op(b, &kiln__prim_less, KILN_DTYPE_BOOL, a, k3, 0);
    int af = rb_op(b, &kiln__prim_astype, F16, a, 0, 0);
    int w = rb_op(b, &kiln__prim_where, F16, c, h, af);
    int s = rb_op(b, &kiln__prim_add, F16, w, h, 0);
    int df = rb_op(b, &kiln__prim_astype, F16, d, 0, 0);
    int y = rb_op(b, &kiln__prim_multiply, F16, s, df, 0);
    int yi = rb_op(b, &kiln__prim_astype, KILN_DTYPE_INT8, y, 0, 0);
    rb_output(b, y);
    rb_output(b, yi);
    rb_output(b, c);
}

/* softmax over the last axis of a (rows, len) float32 array */
static void build_softmax(rb *b)
{
    rb_init(b, 2, 1);
    int x = rb_input(b, F32, 2, false);
    int m = rb_reduce(b, &kiln__prim_max, F32, x);
    int d = rb_op(b, &kiln__prim_subtract, F32, x, m, 0);
    int e = rb_op(b, &kiln__prim_exp, F32, d, 0, 0);
    int s = rb_reduce(b, &kiln__prim_sum, F32, e);
    int y = rb_op(b, &kiln__prim_divide, F32, e, s, 0);
    rb_output(b, y);
}

/* MLX's compile-benchmark layer norm: float16 x (rows, len) to float32,
 * mean and variance, normalised, rounded to float16, then w * x + b in
 * float16 (w, b (len,) float16): staged rows, the output sharing x's row
 * (plan_share), float16 rounding of the op results */
static void build_layernorm_f16(rb *b)
{
    rb_init(b, 2, 1);
    int x = rb_input(b, F16, 2, false);
    int w = rb_input(b, F16, 1, false);
    int bias = rb_input(b, F16, 1, false);
    int xf = rb_op(b, &kiln__prim_astype, F32, x, 0, 0);
    int s1 = rb_reduce(b, &kiln__prim_sum, F32, xf);
    int n = rb_f32(b, 4096.0f);
    int mean = rb_op(b, &kiln__prim_divide, F32, s1, n, 0);
    int xc = rb_op(b, &kiln__prim_subtract, F32, xf, mean, 0);
    int s2 = rb_reduce(b, &kiln__prim_sum, F32,
                       rb_op(b, &kiln__prim_square, F32, xc, 0, 0));
    int var = rb_op(b, &kiln__prim_divide, F32, s2, n, 0);
    int rstd = rb_op(b, &kiln__prim_rsqrt, F32,
                     rb_op(b, &kiln__prim_add, F32, var,
                           rb_f32(b, 1e-4f), 0),
                     0, 0);
    int yh = rb_op(b, &kiln__prim_astype, F16,
                   rb_op(b, &kiln__prim_multiply, F32, xc, rstd, 0), 0, 0);
    int y = rb_op(b, &kiln__prim_add, F16,
                  rb_op(b, &kiln__prim_multiply, F16, w, yh, 0), bias, 0);
    rb_output(b, y);
}

/* layernorm of x (rows, len) with weight w and bias b (len,), a rank-0
 * 1/len, and a per-row scale g (rows, 1):
 *   mean = sum(x) * inv; xc = x - mean; var = sum(xc^2) * inv;
 *   rstd = rsqrt(var + eps); y = (xc * rstd * w + b) * g
 * outputs y, mean, rstd */
static void build_layernorm(rb *b)
{
    rb_init(b, 2, 1);
    int x = rb_input(b, F32, 2, false);
    int w = rb_input(b, F32, 1, false);
    int bias = rb_input(b, F32, 1, false);
    int inv = rb_input(b, F32, 0, false);
    int g = rb_input(b, F32, 2, true);
    int eps = rb_f32(b, 1e-5f);
    int s1 = rb_reduce(b, &kiln__prim_sum, F32, x);
    int mean = rb_op(b, &kiln__prim_multiply, F32, s1, inv, 0);
    int xc = rb_op(b, &kiln__prim_subtract, F32, x, mean, 0);
    int sq = rb_op(b, &kiln__prim_square, F32, xc, 0, 0);
    int s2 = rb_reduce(b, &kiln__prim_sum, F32, sq);
    int var = rb_op(b, &kiln__prim_multiply, F32, s2, inv, 0);
    int ve = rb_op(b, &kiln__prim_add, F32, var, eps, 0);
    int rstd = rb_op(b, &kiln__prim_rsqrt, F32, ve, 0, 0);
    int y = rb_op(b, &kiln__prim_multiply, F32, xc, rstd, 0);
    y = rb_op(b, &kiln__prim_multiply, F32, y, w, 0);
    y = rb_op(b, &kiln__prim_add, F32, y, bias, 0);
    y = rb_op(b, &kiln__prim_multiply, F32, y, g, 0);
    rb_output(b, y);
    rb_output(b, mean);
    rb_output(b, rstd);
}

/* Reductions over (rows, len) inputs of several dtypes, all outer
 * outputs. */
enum { R_SUMH, R_SUMC, R_PRODC, R_ALLF, R_MAXF, R_MAXQ, R_MINQ, R_MAXU,
       R_MINZ, R_SUMB, R_NRED };
static void build_reductions(rb *b)
{
    rb_init(b, 2, 1);
    int h = rb_input(b, F16, 2, false);
    int c = rb_input(b, KILN_DTYPE_INT8, 2, false);
    int f = rb_input(b, F32, 2, false);
    int q = rb_input(b, KILN_DTYPE_BOOL, 2, false);
    int u = rb_input(b, KILN_DTYPE_UINT8, 2, false);
    int z = rb_input(b, KILN_DTYPE_INT64, 2, false);
    rb_output(b, rb_reduce(b, &kiln__prim_sum, F16, h));
    rb_output(b, rb_reduce(b, &kiln__prim_sum, KILN_DTYPE_INT32, c));
    rb_output(b, rb_reduce(b, &kiln__prim_prod, KILN_DTYPE_INT32, c));
    rb_output(b, rb_reduce(b, &kiln__prim_all, KILN_DTYPE_BOOL, f));
    rb_output(b, rb_reduce(b, &kiln__prim_max, F32, f));
    rb_output(b, rb_reduce(b, &kiln__prim_max, KILN_DTYPE_BOOL, q));
    rb_output(b, rb_reduce(b, &kiln__prim_min, KILN_DTYPE_BOOL, q));
    rb_output(b, rb_reduce(b, &kiln__prim_max, KILN_DTYPE_UINT8, u));
    rb_output(b, rb_reduce(b, &kiln__prim_min, KILN_DTYPE_INT64, z));
    rb_output(b, rb_reduce(b, &kiln__prim_sum, KILN_DTYPE_INT32, q));
}

/* ------------------------------------------------------------------ */
/* golden files                                                       */
/* ------------------------------------------------------------------ */

/* tests/golden/<name>.c, found next to this file's folder. */
static void golden_path(char *buf, size_t n, const char *name)
{
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    size_t dir = slash ? (size_t)(slash - f) : 0; /* .../tests/c */
    const char *up = dir ? f : ".";
    size_t updir = dir;
    while (updir > 0 && f[updir - 1] != '/') {
        updir--;
    }
    snprintf(buf, n, "%.*sgolden/%s.c", (int)updir, up, name);
}

static void check_golden(const char *name, const char *text)
{
    char path[512];
    golden_path(path, sizeof path, name);
    const char *upd = getenv("KILN_GOLDEN_UPDATE");
    if (upd && strcmp(upd, "1") == 0) {
        FILE *fp = fopen(path, "w");
        CHECK_MSG(fp != NULL, "cannot write %s", path);
        if (fp) {
            fputs(text, fp);
            fclose(fp);
            printf("  rewrote %s\n", path);
        }
        return;
    }
    FILE *fp = fopen(path, "r");
    CHECK_MSG(fp != NULL,
              "golden %s missing (run from the repo root; regenerate with "
              "KILN_GOLDEN_UPDATE=1)", path);
    if (!fp) {
        return;
    }
    char *want = NULL;
    size_t len = 0;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long sz = ftell(fp);
        rewind(fp);
        want = malloc((size_t)(sz > 0 ? sz : 0) + 1);
        len = want ? fread(want, 1, (size_t)(sz > 0 ? sz : 0), fp) : 0;
    }
    fclose(fp);
    if (!want) {
        CHECK_MSG(false, "cannot read %s", path);
        return;
    }
    want[len] = '\0';
    if (strcmp(want, text) != 0) {
        size_t i = 0;
        int line = 1;
        while (want[i] && want[i] == text[i]) {
            line += want[i] == '\n';
            i++;
        }
        char got[128];
        snprintf(got, sizeof got, "%.60s", text + i);
        CHECK_MSG(false,
                  "generated text differs from %s at line %d: \"%.40s\" "
                  "vs \"%.40s\" (diff the output of KILN_GOLDEN_UPDATE=1 "
                  "against git to review)",
                  path, line, want + i, got);
    }
    free(want);
}

TEST(codegen_golden)
{
    static const struct {
        const char *name;
        void (*build)(rb *);
    } cases[] = {{"codegen_gelu", build_gelu},
                 {"codegen_where", build_where},
                 {"codegen_softmax", build_softmax},
                 {"codegen_layernorm_f16", build_layernorm_f16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rb b;
        kiln_text t = {0};
        cases[c].build(&b);
        if (gen(&b.r, cases[c].name, &t)) {
            check_golden(cases[c].name, t.s);
        }
        kiln__text_free(&t);
    }
}

/* ------------------------------------------------------------------ */
/* half blocks                                                        */
/* ------------------------------------------------------------------ */

/*
 * kiln_f16_to_f32_n / kiln_f32_to_f16_n (half.h; staged float16 operands
 * of generated kernels) give the scalar conversions' bits: every float16
 * pattern; float32 values on both sides of every float16 rounding tie and
 * of the subnormal, overflow and NaN boundaries, every NaN kind, and a
 * sample of all 2^32 patterns; at odd offsets and counts (tails). Also
 * the identity codegen's stores of unrounded values rest on: narrowing a
 * float16 value (or the NaN narrowing makes) converted back to float32
 * gives it back. Where the target has F16C the block functions are the
 * hardware with no NaN test, so this checks that the scalar functions
 * give NaNs the hardware's bits (tools/check_half_round.c: all floats).
 */
TEST(codegen_half_blocks)
{
    enum { NH = 65536, NF = 6 * 65536 + 4 * 1048576 };
    uint16_t *h = malloc(NH * sizeof *h), *hb = malloc(NF * sizeof *hb);
    float *f = malloc((size_t)NF * sizeof *f), *fb = malloc(NH * sizeof *fb);
    CHECK(h && hb && f && fb);
    if (!h || !hb || !f || !fb) {
        goto done;
    }
    for (int i = 0; i < NH; i++) {
        h[i] = (uint16_t)i;
    }
    int64_t bad = 0;
    for (int off = 0; off < 3; off++) {
        int64_t n = NH - off - (off ? 5 : 0);
        kiln_f16_to_f32_n(h + off, fb, n);
        for (int64_t i = 0; i < n; i++) {
            bad += kiln_f32_bits(fb[i]) !=
                   kiln_f32_bits(kiln_f16_to_f32(h[off + i]));
        }
    }
    CHECK_MSG(bad == 0, "kiln_f16_to_f32_n: %lld mismatches", (long long)bad);
    /* float32 inputs: each float16's value, the ties below it (exact
     * midpoint, one float32 ulp either side), then a sample of all */
    int64_t m = 0;
    for (int i = 0; i < NH; i++) {
        uint32_t u = kiln_f32_bits(kiln_f16_to_f32((uint16_t)i));
        uint32_t lo = kiln_f32_bits(
            kiln_f16_to_f32((uint16_t)(i & 0x7fff ? i - 1 : i)));
        float mid = (kiln_bits_f32(u) + kiln_bits_f32(lo)) * 0.5f;
        uint32_t t = kiln_f32_bits(mid);
        uint32_t w[6] = {u, u + 1, u - 1, t, t + 1, t - 1};
        for (int k = 0; k < 6; k++) {
            f[m++] = kiln_bits_f32(w[k]);
        }
    }
    for (uint32_t k = 0; m < NF; k++) {
        f[m++] = kiln_bits_f32(k * 4093u);
    }
    for (int off = 0; off < 3; off++) {
        int64_t n = NF - off - (off ? 7 : 0);
        kiln_f32_to_f16_n(f + off, hb, n);
        for (int64_t i = 0; i < n; i++) {
            uint16_t want = kiln_f32_to_f16(f[off + i]);
            bad += hb[i] != want ||
                   kiln_f32_to_f16(kiln_f16_to_f32(want)) != want;
        }
    }
    CHECK_MSG(bad == 0, "kiln_f32_to_f16_n: %lld mismatches", (long long)bad);
    /* kiln_f16_round_n in place on the same values (NaNs of every kind
     * among the sample) */
    for (int off = 0; off < 3; off++) {
        int64_t n = NF - off - (off ? 7 : 0);
        float *t = malloc((size_t)n * sizeof *t);
        CHECK(t != NULL);
        if (!t) {
            break;
        }
        memcpy(t, f + off, (size_t)n * sizeof *t);
        kiln_f16_round_n(t, n);
        for (int64_t i = 0; i < n; i++) {
            bad += kiln_f32_bits(t[i]) !=
                   kiln_f32_bits(kiln_f16_round(f[off + i]));
        }
        free(t);
    }
    CHECK_MSG(bad == 0, "kiln_f16_round_n: %lld mismatches", (long long)bad);
done:
    free(h);
    free(hb);
    free(f);
    free(fb);
}

/* ------------------------------------------------------------------ */
/* errors                                                             */
/* ------------------------------------------------------------------ */

TEST(codegen_errors)
{
    rb b;
    kiln_text t = {0};
    build_gelu(&b);
    CHECK(kiln__codegen_region(NULL, "k", &t) != KILN_OK);
    CHECK(kiln__codegen_region(&b.r, NULL, &t) == KILN_ERR_VALUE);
    CHECK(kiln__codegen_region(&b.r, "9k", &t) == KILN_ERR_VALUE);
    CHECK(kiln__codegen_region(&b.r, "k-1", &t) == KILN_ERR_VALUE);
    /* an argument that is not an earlier value */
    build_gelu(&b);
    b.vals[5].args[1] = 7;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    CHECK(strstr(kiln_errmsg(), "value 5") != NULL);
    /* a reduction in an elementwise region */
    build_gelu(&b);
    rb_output(&b, rb_reduce(&b, &kiln__prim_sum, F32, 0));
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    /* a primitive without an emit facet */
    build_softmax(&b);
    b.vals[1].prim = &kiln__prim_argmax;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_UNSUPPORTED);
    CHECK(strstr(kiln_errmsg(), "argmax") != NULL);
    /* bad output and input indices, too many operands */
    build_softmax(&b);
    b.out_val[0] = 99;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    build_softmax(&b);
    b.vals[0].input = 3;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    build_softmax(&b);
    b.r.noutputs = 0;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    /* an outer value computed from an inner one */
    build_softmax(&b);
    b.vals[2].inner = false;
    CHECK(kiln__codegen_region(&b.r, "k", &t) == KILN_ERR_VALUE);
    kiln__text_free(&t);
}

/* ------------------------------------------------------------------ */
/* compiling and running                                              */
/* ------------------------------------------------------------------ */

static bool can_compile(void)
{
    const char *cc = getenv("KILN_CC");
    if (cc && (strcmp(cc, "false") == 0 || !*cc)) {
        printf("  note: no compiler (KILN_CC=%s), codegen execution tests "
               "skipped\n", cc);
        return false;
    }
    return true;
}

/* Compiles src through the JIT and resolves syms into fns. Returns the
 * library (kiln__jit_release it), NULL when it failed (reported) or when
 * the JIT is off or finds no compiler (a note, no failure). */
static kiln_jit_lib *build(const kiln_text *src, int nsyms,
                           const char *const *syms, kiln_region_kernel *fns)
{
    void *f[4] = {NULL};
    if (nsyms > 4) {
        CHECK(false);
        return NULL;
    }
    kiln_jit_lib *lib = kiln__jit_load(src->s, src->len, nsyms, syms, f,
                                       NULL, "test_codegen");
    if (!lib && kiln_errcode() == KILN_ERR_UNSUPPORTED) {
        printf("  note: %s; codegen execution test skipped\n",
               kiln_errmsg());
        return NULL;
    }
    CHECK_MSG(lib != NULL, "jit: %s", kiln_errmsg());
    for (int i = 0; lib && i < nsyms; i++) {
        CHECK_MSG(f[i] != NULL, "missing symbol %s", syms[i]);
        memcpy(&fns[i], &f[i], sizeof f[i]); /* POSIX: object -> function */
    }
    return lib;
}

/* Runs an elementwise kernel with contiguous operands. */
static void run_ew(kiln_region_kernel k, int nop, void *const *ptr,
                   const int64_t *sizes, int64_t n)
{
    char *p[16];
    int64_t s[16];
    for (int o = 0; o < nop; o++) {
        p[o] = ptr[o];
        s[o] = sizes[o];
    }
    k(NULL, p, s, n);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

/* uniform in [lo, hi) */
static float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(rng() >> 11) * 0x1p-53);
}

static kiln_array *arr(const void *data, kiln_dtype dt, int ndim,
                       int64_t d0, int64_t d1)
{
    int64_t shape[2] = {d0, d1};
    return kiln_array_from_data(data, shape, ndim, dt);
}

/* ------------------------------------------------------------------ */
/* elementwise execution                                              */
/* ------------------------------------------------------------------ */

TEST(codegen_run_gelu)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    kiln_text t = {0};
    build_gelu(&b);
    if (!gen(&b.r, "k_gelu", &t)) {
        return;
    }
    const char *sym = "k_gelu";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    kiln_region_kernel k = fn;
    enum { N = 203 };
    float x[N], y[N], th[N], half = 0.5f;
    for (int i = 0; i < N; i++) {
        x[i] = frand(-6, 6);
    }
    x[0] = NAN;
    x[1] = INFINITY;
    x[2] = -INFINITY;
    x[3] = -0.0f;
    /* operands: y, th, x, half */
    void *ptr[4] = {y, th, x, &half};
    int64_t sz[4] = {4, 4, 4, 12345}; /* a rank-0 stride is ignored */
    run_ew(k, 4, ptr, sz, N);

    /* eager: the same ops, op by op */
    kiln_scope_begin();
    kiln_array *ax = arr(x, F32, 1, N, 0);
    kiln_array *c0 = kiln_scalar_f64(0.044715f, F32);
    kiln_array *c1 = kiln_scalar_f64(0.7978845608f, F32);
    kiln_array *one = kiln_scalar_f64(1.0, F32);
    kiln_array *h = kiln_scalar_f64(0.5, F32);
    kiln_array *x3 = kiln_multiply(kiln_multiply(ax, ax), ax);
    kiln_array *in = kiln_multiply(c1, kiln_add(ax, kiln_multiply(c0, x3)));
    kiln_array *eth = kiln_tanh(in);
    kiln_array *ey =
        kiln_multiply(kiln_multiply(h, ax), kiln_add(one, eth));
    const float *pe = kiln_array_data(ey);
    const float *pt = kiln_array_data(eth);
    CHECK(pe && pt);
    for (int i = 0; pe && pt && i < N; i++) {
        CHECK_MSG(memcmp(&y[i], &pe[i], 4) == 0 &&
                      memcmp(&th[i], &pt[i], 4) == 0,
                  "gelu x=%a: got %a %a, eager %a %a", x[i], y[i], th[i],
                  pe[i], pt[i]);
        if (i > 3) {
            double r = 0.5 * x[i] *
                       (1 + tanh(0.7978845608 *
                                 (x[i] + 0.044715 * x[i] * x[i] * x[i])));
            CHECK_NEAR(y[i], r, 1e-5 * (1 + fabs(r)));
        }
    }
    kiln_scope_end(NULL);

    /* strided variant: every other x, outputs at stride 3; x broadcast
     * (stride 0) */
    float xs[2 * N], ys[3 * N], ts[3 * N];
    for (int i = 0; i < N; i++) {
        xs[2 * i] = x[i];
        xs[2 * i + 1] = 99;
    }
    char *p[4] = {(char *)ys, (char *)ts, (char *)xs, (char *)&half};
    int64_t s[4] = {12, 12, 8, 0};
    k(NULL, p, s, N);
    for (int i = 0; i < N; i++) {
        CHECK(memcmp(&ys[3 * i], &y[i], 4) == 0);
        CHECK(memcmp(&ts[3 * i], &th[i], 4) == 0);
    }
    int64_t s0[4] = {4, 4, 0, 0};
    p[2] = (char *)&x[7];
    k(NULL, p, s0, 5);
    for (int i = 0; i < 5; i++) {
        CHECK(memcmp(&ys[i], &y[7], 4) == 0);
    }
    /* negative strides: reversed x and y */
    p[0] = (char *)&ys[N - 1];
    p[1] = (char *)&ts[N - 1];
    p[2] = (char *)&x[N - 1];
    int64_t sn[4] = {-4, -4, -4, 0};
    k(NULL, p, sn, N);
    for (int i = 0; i < N; i++) {
        CHECK(memcmp(&ys[i], &y[i], 4) == 0);
    }
    /* n = 0 touches nothing */
    k(NULL, p, sn, 0);
    kiln__jit_release(dl);
}

static uint16_t f16(float f)
{
    return kiln_f32_to_f16(f);
}

TEST(codegen_run_where_astype)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    kiln_text t = {0};
    build_where(&b);
    if (!gen(&b.r, "k_where", &t)) {
        return;
    }
    const char *sym = "k_where";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    kiln_region_kernel k = fn;
    enum { N = 64 };
    int32_t a[N];
    uint16_t h[N], y[N];
    double d[N];
    int8_t yi[N];
    uint8_t c[N];
    for (int i = 0; i < N; i++) {
        a[i] = (int32_t)(rng() % 200) - 100;
        h[i] = f16(frand(-4, 4));
        d[i] = (double)frand(-3, 3);
    }
    /* int -> f16 rounding and overflow; f64 -> f16 must round once:
     * 1 + 2^-11 + 2^-40 rounds up (through float32 it would tie to 1) */
    a[0] = 2049;
    a[1] = 70000;
    a[2] = -70000;
    a[3] = 2;
    d[0] = 1.0 + 0x1p-11 + 0x1p-40;
    d[1] = 1e300;
    d[2] = NAN;
    d[3] = 1.0 + 0x1p-11 + 0x1p-40;
    h[0] = f16(1.0f);
    h[3] = 0x7e00; /* NaN */
    h[4] = 0x7c00; /* inf */
    void *ptr[6] = {y, yi, c, a, h, d};
    int64_t sz[6] = {2, 1, 1, 4, 2, 8};
    run_ew(k, 6, ptr, sz, N);

    kiln_scope_begin();
    kiln_array *ea = arr(a, KILN_DTYPE_INT32, 1, N, 0);
    kiln_array *eh = arr(h, F16, 1, N, 0);
    kiln_array *ed = arr(d, KILN_DTYPE_FLOAT64, 1, N, 0);
    kiln_array *ec = kiln_less(ea, kiln_scalar_i64(3, KILN_DTYPE_INT32));
    kiln_array *ew = kiln_where(ec, eh, kiln_astype(ea, F16));
    kiln_array *ey = kiln_multiply(kiln_add(ew, eh), kiln_astype(ed, F16));
    kiln_array *eyi = kiln_astype(ey, KILN_DTYPE_INT8);
    const uint16_t *py = kiln_array_data(ey);
    const int8_t *pyi = kiln_array_data(eyi);
    const uint8_t *pc = kiln_array_data(ec);
    CHECK(py && pyi && pc && kiln_array_dtype(ey) == F16);
    for (int i = 0; py && pyi && pc && i < N; i++) {
        CHECK_MSG(y[i] == py[i] && yi[i] == pyi[i] && c[i] == pc[i],
                  "where i=%d: got %04x %d %d, eager %04x %d %d", i, y[i],
                  yi[i], c[i], py[i], pyi[i], pc[i]);
    }
    kiln_scope_end(NULL);
    /* the single rounding of float64 -> float16 (a[3] = 2 < 3 picks h) */
    CHECK((y[3] & 0x7fff) > 0x7c00); /* NaN */
    {
        /* direct check: h = 1, a = 2049: where picks f16(2049) = 2048,
         * + 1 rounds back to 2048, times f16(d) = 1 + 2^-10 */
        float s0 = kiln_f16_to_f32(f16(2048.0f + 1.0f));
        uint16_t want = f16(s0 * kiln_f16_to_f32(0x3c01));
        CHECK(want == f16(2050.0f));
        CHECK(y[0] == want);
        CHECK(kiln_f64_to_f16(d[0]) == 0x3c01);
    }
    kiln__jit_release(dl);
}

/* Constants of every kind, stored straight to outputs. */
TEST(codegen_run_constants)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    rb_init(&b, 1, 0);
    uint32_t fnan = 0x7fc12345u, fninf = 0xff800000u;
    uint64_t dnan = 0xfff8000000000123ull, u64max = UINT64_MAX;
    int64_t i64min = INT64_MIN;
    int8_t i8min = -128;
    int32_t i32min = INT32_MIN;
    uint16_t h = 0x3c01, bf = 0xc0a0, hsub = 0x0001, hneg0 = 0x8000;
    uint8_t one = 1;
    double dtiny = 0x1p-1074, dm = -1.0 / 3.0;
    float ftiny = 0x1p-149f;
    struct {
        kiln_dtype dt;
        const void *v;
        size_t n;
    } cs[] = {{F32, &fnan, 4},
              {F32, &fninf, 4},
              {KILN_DTYPE_FLOAT64, &dnan, 8},
              {KILN_DTYPE_UINT64, &u64max, 8},
              {KILN_DTYPE_INT64, &i64min, 8},
              {KILN_DTYPE_INT8, &i8min, 1},
              {KILN_DTYPE_INT32, &i32min, 4},
              {F16, &h, 2},
              {KILN_DTYPE_BFLOAT16, &bf, 2},
              {F16, &hsub, 2},
              {F16, &hneg0, 2},
              {KILN_DTYPE_BOOL, &one, 1},
              {KILN_DTYPE_FLOAT64, &dtiny, 8},
              {KILN_DTYPE_FLOAT64, &dm, 8},
              {F32, &ftiny, 4}};
    enum { NC = sizeof cs / sizeof cs[0] };
    for (int i = 0; i < NC; i++) {
        rb_output(&b, rb_const(&b, cs[i].dt, cs[i].v, cs[i].n));
        b.vals[i].inner = true;
    }
    kiln_text t = {0};
    if (!gen(&b.r, "k_consts", &t)) {
        return;
    }
    const char *sym = "k_consts";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    uint64_t out[NC][3];
    char *p[NC];
    int64_t s[NC];
    memset(out, 0, sizeof out);
    for (int i = 0; i < NC; i++) {
        p[i] = (char *)out[i];
        s[i] = (int64_t)cs[i].n;
    }
    fn(NULL, p, s, 3);
    for (int i = 0; i < NC; i++) {
        for (int e = 0; e < 3; e++) {
            CHECK_MSG(memcmp((char *)out[i] + e * cs[i].n, cs[i].v,
                             cs[i].n) == 0,
                      "constant %d element %d", i, e);
        }
    }
    kiln__jit_release(dl);
}

/* ------------------------------------------------------------------ */
/* reductions                                                         */
/* ------------------------------------------------------------------ */

static int ulps(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) {
        ia = INT32_MIN - ia;
    }
    if (ib < 0) {
        ib = INT32_MIN - ib;
    }
    int64_t d = (int64_t)ia - ib;
    return (int)(d < 0 ? -d : d);
}

/* kiln_region_inner.stream of the next run_rows calls */
static int64_t run_stream;

/* Runs a reduction kernel over `rows` rows; p/rs are row pointers and
 * strides, st the inner strides. */
static void run_rows(kiln_region_kernel k, int nop, char *const *p,
                     const int64_t *rs, const int64_t *st, int64_t rows,
                     int64_t len)
{
    kiln_region_inner in;
    memset(&in, 0, sizeof in);
    in.len = len;
    in.stream = run_stream;
    for (int o = 0; o < nop; o++) {
        in.stride[o] = st[o];
    }
    k(&in, p, rs, rows);
}

TEST(codegen_run_softmax)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    kiln_text t = {0};
    build_softmax(&b);
    if (!gen(&b.r, "k_softmax", &t)) {
        return;
    }
    const char *sym = "k_softmax";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    kiln_region_kernel k = fn;
    static const int64_t lens[] = {1, 7, 16, 17, 100, 2048, 2061, 5000};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t len = lens[li], rows = 3, n = rows * len;
        float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
        float *xt = malloc((size_t)n * 4), *yt = malloc((size_t)n * 4);
        if (!x || !y || !xt || !yt) {
            CHECK(false);
            free(x), free(y), free(xt), free(yt);
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            x[i] = frand(-10, 10);
        }
        char *p[2] = {(char *)y, (char *)x};
        int64_t rs[2] = {len * 4, len * 4}, st[2] = {4, 4};
        /* streamed rows (codegen.c nt_row_bytes) first, the same bits */
        run_stream = 1;
        run_rows(k, 2, p, rs, st, rows, len);
        memcpy(yt, y, (size_t)n * 4);
        run_stream = 0;
        run_rows(k, 2, p, rs, st, rows, len);
        CHECK_MSG(memcmp(yt, y, (size_t)n * 4) == 0,
                  "streamed rows differ, len %lld", (long long)len);
        /* the strided variant: x and y transposed (len, rows) */
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < len; i++) {
                xt[i * rows + r] = x[r * len + i];
            }
        }
        char *pt[2] = {(char *)yt, (char *)xt};
        int64_t rst[2] = {4, 4}, stt[2] = {rows * 4, rows * 4};
        run_rows(k, 2, pt, rst, stt, rows, len);
        kiln_scope_begin();
        int ax = -1;
        kiln_array *ex = arr(x, F32, 2, rows, len);
        kiln_array *m = kiln_max(ex, &ax, 1, true);
        kiln_array *e = kiln_exp(kiln_subtract(ex, m));
        kiln_array *ey = kiln_divide(e, kiln_sum(e, &ax, 1, true));
        const float *pe = kiln_array_data(ey);
        CHECK(pe != NULL);
        int worst = 0;
        for (int64_t r = 0; pe && r < rows; r++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t i = 0; i < len; i++) {
                mx = x[r * len + i] > mx ? x[r * len + i] : mx;
            }
            for (int64_t i = 0; i < len; i++) {
                sum += exp((double)x[r * len + i] - mx);
            }
            for (int64_t i = 0; i < len; i++) {
                int64_t j = r * len + i;
                int u = ulps(y[j], pe[j]);
                worst = u > worst ? u : worst;
                CHECK(memcmp(&yt[i * rows + r], &y[j], 4) == 0);
                double want = exp((double)x[j] - mx) / sum;
                CHECK_NEAR(y[j], want, 1e-5 * want + 1e-30);
            }
        }
        /* up to one block the sums fold in eager's order: same bits */
        CHECK_MSG(worst <= (len <= 2048 ? 0 : 4),
                  "softmax len %lld: %d ulp from eager", (long long)len,
                  worst);
        kiln_scope_end(NULL);
        free(x), free(y), free(xt), free(yt);
    }
    /* len 0 and n 0: nothing to do, no crash */
    float dummy = 0;
    char *p[2] = {(char *)&dummy, (char *)&dummy};
    int64_t rs[2] = {0, 0}, st[2] = {4, 4};
    run_rows(k, 2, p, rs, st, 2, 0);
    run_rows(k, 2, p, rs, st, 0, 5);
    kiln__jit_release(dl);
}

TEST(codegen_run_layernorm)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    kiln_text t = {0};
    build_layernorm(&b);
    if (!gen(&b.r, "k_layernorm", &t)) {
        return;
    }
    const char *sym = "k_layernorm";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    kiln_region_kernel k = fn;
    enum { ROWS = 4, LEN = 301 };
    static float x[ROWS * LEN], y[ROWS * LEN], w[LEN], bias[LEN], g[ROWS];
    float mean[ROWS], rstd[ROWS], inv = 1.0f / LEN;
    for (int i = 0; i < ROWS * LEN; i++) {
        x[i] = frand(-2, 5);
    }
    for (int i = 0; i < LEN; i++) {
        w[i] = frand(0.5f, 1.5f);
        bias[i] = frand(-1, 1);
    }
    for (int r = 0; r < ROWS; r++) {
        g[r] = (float)(r + 1);
    }
    /* operands: y, mean, rstd, x, w, bias, inv, g */
    char *p[8] = {(char *)y,    (char *)mean,    (char *)rstd,
                  (char *)x,    (char *)w,       (char *)bias,
                  (char *)&inv, (char *)g};
    int64_t rs[8] = {LEN * 4, 4, 4, LEN * 4, 0, 0, 0, 4};
    int64_t st[8] = {4, 0, 0, 4, 4, 4, 0, 0};
    run_rows(k, 8, p, rs, st, ROWS, LEN);
    for (int r = 0; r < ROWS; r++) {
        double m = 0, v = 0;
        for (int i = 0; i < LEN; i++) {
            m += x[r * LEN + i];
        }
        m /= LEN;
        for (int i = 0; i < LEN; i++) {
            v += (x[r * LEN + i] - m) * (x[r * LEN + i] - m);
        }
        v /= LEN;
        double rsd = 1 / sqrt(v + 1e-5);
        CHECK_NEAR(mean[r], m, 1e-5 * fabs(m) + 1e-6);
        CHECK_NEAR(rstd[r], rsd, 1e-5 * rsd);
        for (int i = 0; i < LEN; i++) {
            double want = ((x[r * LEN + i] - m) * rsd * w[i] + bias[i]) *
                          g[r];
            CHECK_NEAR(y[r * LEN + i], want, 1e-4 * (1 + fabs(want)));
        }
    }
    kiln__jit_release(dl);
}

/* Fills row r of a (rows, len) buffer of dtype dt with small values. */
static void fill_red(void *buf, kiln_dtype dt, int64_t n, int64_t len)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)(rng() % 7) - 3;
        switch (dt) {
        case F16: ((uint16_t *)buf)[i] = f16((float)v); break;
        case KILN_DTYPE_INT8: ((int8_t *)buf)[i] = (int8_t)(v * 40); break;
        case F32:
            ((float *)buf)[i] = (float)v * 0.37f;
            break;
        case KILN_DTYPE_BOOL: ((uint8_t *)buf)[i] = v > 1; break;
        case KILN_DTYPE_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(v + 3); break;
        default: ((int64_t *)buf)[i] = v * 1000000000000ll; break;
        }
    }
    (void)len;
}

TEST(codegen_run_reductions)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    kiln_text t = {0};
    build_reductions(&b);
    if (!gen(&b.r, "k_red", &t)) {
        return;
    }
    const char *sym = "k_red";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    kiln_region_kernel k = fn;
    static const kiln_dtype in_dt[6] = {F16, KILN_DTYPE_INT8, F32,
                                        KILN_DTYPE_BOOL, KILN_DTYPE_UINT8,
                                        KILN_DTYPE_INT64};
    static const int64_t lens[] = {1, 5, 16, 37, 3000};
    enum { ROWS = 4 };
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int64_t len = lens[li];
        void *in[6];
        uint64_t outs[R_NRED][ROWS];
        char *p[R_NRED + 6];
        int64_t rs[R_NRED + 6], st[R_NRED + 6];
        for (int o = 0; o < R_NRED; o++) {
            kiln_dtype dt = b.vals[b.out_val[o]].dtype;
            p[o] = (char *)outs[o];
            rs[o] = (int64_t)kiln_dtype_size(dt);
            st[o] = 0;
        }
        for (int i = 0; i < 6; i++) {
            size_t es = kiln_dtype_size(in_dt[i]);
            in[i] = malloc(es * (size_t)(ROWS * len));
            if (!in[i]) {
                CHECK(false);
                return;
            }
            fill_red(in[i], in_dt[i], ROWS * len, len);
            p[R_NRED + i] = in[i];
            rs[R_NRED + i] = (int64_t)es * len;
            st[R_NRED + i] = (int64_t)es;
        }
        /* NaN in row 1 of f; row 2 of q all false, row 3 all true */
        ((float *)in[2])[1 * len + len / 2] = NAN;
        for (int64_t i = 0; i < len; i++) {
            ((uint8_t *)in[3])[2 * len + i] = 0;
            ((uint8_t *)in[3])[3 * len + i] = 1;
        }
        run_rows(k, R_NRED + 6, p, rs, st, ROWS, len);
        kiln_scope_begin();
        int ax = -1;
        kiln_array *e[6];
        for (int i = 0; i < 6; i++) {
            e[i] = arr(in[i], in_dt[i], 2, ROWS, len);
        }
        kiln_array *want[R_NRED] = {
            kiln_sum(e[0], &ax, 1, false), kiln_sum(e[1], &ax, 1, false),
            kiln_prod(e[1], &ax, 1, false), kiln_all(e[2], &ax, 1, false),
            kiln_max(e[2], &ax, 1, false), kiln_max(e[3], &ax, 1, false),
            kiln_min(e[3], &ax, 1, false), kiln_max(e[4], &ax, 1, false),
            kiln_min(e[5], &ax, 1, false),
            kiln_sum(e[3], &ax, 1, false)};
        for (int o = 0; o < R_NRED; o++) {
            kiln_dtype dt = b.vals[b.out_val[o]].dtype;
            const char *pw = kiln_array_data(want[o]);
            CHECK_MSG(pw && kiln_array_dtype(want[o]) == dt,
                      "reduction %d dtype", o);
            size_t es = kiln_dtype_size(dt);
            for (int r = 0; pw && r < ROWS; r++) {
                CHECK_MSG(memcmp((char *)outs[o] + r * es, pw + r * es,
                                 es) == 0,
                          "reduction %d row %d len %lld differs from eager",
                          o, r, (long long)len);
            }
        }
        kiln_scope_end(NULL);
        /* len 0: identities (max/min of empty never reach a kernel) */
        if (li == 0) {
            run_rows(k, R_NRED + 6, p, rs, st, ROWS, 0);
            uint16_t h0;
            int32_t i0;
            uint8_t b0[4];
            int64_t z0;
            float f0;
            memcpy(&h0, outs[R_SUMH], 2);
            memcpy(&i0, outs[R_PRODC], 4);
            memcpy(&b0[0], outs[R_ALLF], 1);
            memcpy(&b0[1], outs[R_MAXQ], 1);
            memcpy(&b0[2], outs[R_MINQ], 1);
            memcpy(&b0[3], outs[R_MAXU], 1);
            memcpy(&z0, outs[R_MINZ], 8);
            memcpy(&f0, outs[R_MAXF], 4);
            CHECK(h0 == 0 && i0 == 1);
            CHECK(b0[0] == 1 && b0[1] == 0 && b0[2] == 1 && b0[3] == 0);
            CHECK(z0 == INT64_MAX && f0 == -INFINITY);
        }
        for (int i = 0; i < 6; i++) {
            free(in[i]);
        }
    }
    kiln__jit_release(dl);
}

/* A row value broadcast back along the row (an inner value of outer
 * arguments, as broadcast_to makes it), stored in the pass of its level;
 * and a bfloat16 sum of squares, the squares an output too (first: when
 * the rows are streamed, the float32 row must still start aligned, with
 * rows of odd length: codegen.c nt_row_at). */
TEST(codegen_run_broadcast_row)
{
    if (!can_compile()) {
        return;
    }
    rb b;
    rb_init(&b, 2, 1);
    int x = rb_input(&b, F32, 2, false);
    int hb = rb_input(&b, KILN_DTYPE_BFLOAT16, 2, false);
    int m = rb_reduce(&b, &kiln__prim_max, F32, x);
    int bm = rb_op(&b, &kiln__prim_broadcast_to, F32, m, 0, 0);
    b.vals[bm].inner = true;
    int sq = rb_op(&b, &kiln__prim_square, KILN_DTYPE_BFLOAT16, hb, 0, 0);
    int ss = rb_reduce(&b, &kiln__prim_sum, KILN_DTYPE_BFLOAT16, sq);
    rb_output(&b, sq);
    rb_output(&b, bm);
    rb_output(&b, m);
    rb_output(&b, ss);
    kiln_text t = {0};
    if (!gen(&b.r, "k_bcast", &t)) {
        return;
    }
    const char *sym = "k_bcast";
    kiln_region_kernel fn = NULL;
    kiln_jit_lib *dl = build(&t, 1, &sym, &fn);
    kiln__text_free(&t);
    if (!dl || !fn) {
        return;
    }
    enum { ROWS = 3, LEN = 45 };
    float xs[ROWS * LEN], y[ROWS * LEN], mx[ROWS];
    uint16_t h[ROWS * LEN], s16[ROWS], q16[ROWS * LEN];
    for (int i = 0; i < ROWS * LEN; i++) {
        xs[i] = frand(-5, 5);
        h[i] = kiln_f32_to_bf16(frand(-2, 2));
    }
    char *p[6] = {(char *)q16, (char *)y, (char *)mx, (char *)s16,
                  (char *)xs, (char *)h};
    int64_t rs[6] = {LEN * 2, LEN * 4, 4, 2, LEN * 4, LEN * 2};
    int64_t st[6] = {2, 4, 0, 0, 4, 2};
    run_stream = 1; /* the inner outputs streamed, the outer ones not */
    run_rows(fn, 6, p, rs, st, ROWS, LEN);
    run_stream = 0;
    kiln_scope_begin();
    int ax = -1;
    kiln_array *eh = arr(h, KILN_DTYPE_BFLOAT16, 2, ROWS, LEN);
    kiln_array *es = kiln_sum(kiln_square(eh), &ax, 1, false);
    const uint16_t *pe = kiln_array_data(es);
    const uint16_t *pq = kiln_array_data(kiln_square(eh));
    CHECK(pe != NULL && pq != NULL);
    CHECK(pq && memcmp(pq, q16, sizeof q16) == 0);
    for (int r = 0; r < ROWS; r++) {
        float want = -INFINITY;
        for (int i = 0; i < LEN; i++) {
            want = xs[r * LEN + i] > want ? xs[r * LEN + i] : want;
        }
        CHECK(mx[r] == want);
        for (int i = 0; i < LEN; i++) {
            CHECK(y[r * LEN + i] == want);
        }
        CHECK_MSG(pe && s16[r] == pe[r], "bf16 sum row %d: %04x vs %04x",
                  r, s16[r], pe ? pe[r] : 0);
    }
    kiln_scope_end(NULL);
    kiln__jit_release(dl);
}

/* The pool's grain follows the work per element (kiln_emit.cost): one add
 * keeps the plain grain, gelu's ops cut it finer, a reduction of rows too,
 * and it never drops below 1. */
TEST(codegen_region_grain)
{
    const kiln_dtype F = KILN_DTYPE_FLOAT32;
    const int64_t G = KILN_GRAIN_ELEMENTWISE;
    rb add1, gelu, rows;
    rb_init(&add1, 2, 0);
    rb_output(&add1, rb_op(&add1, &kiln__prim_add, F,
                           rb_input(&add1, F, 2, false), rb_f32(&add1, 1),
                           0));
    rb_init(&gelu, 2, 0);
    int x = rb_input(&gelu, F, 2, false);
    int e = rb_op(&gelu, &kiln__prim_erf, F,
                  rb_op(&gelu, &kiln__prim_divide, F, x,
                        rb_f32(&gelu, 1.4142135f), 0),
                  0, 0);
    int t = rb_op(&gelu, &kiln__prim_multiply, F, x,
                  rb_op(&gelu, &kiln__prim_add, F, rb_f32(&gelu, 1), e, 0),
                  0);
    rb_output(&gelu, rb_op(&gelu, &kiln__prim_divide, F, t,
                           rb_f32(&gelu, 2), 0));
    rb_init(&rows, 2, 1);
    int s = rb_reduce(&rows, &kiln__prim_sum, F,
                      rb_op(&rows, &kiln__prim_exp, F,
                            rb_input(&rows, F, 2, false), 0, 0));
    rb_output(&rows, s);
    int64_t ga = kiln__fused_grain(&add1.r, G);
    int64_t gg = kiln__fused_grain(&gelu.r, G);
    CHECK_MSG(ga == G, "one add: grain %lld, want %lld", (long long)ga,
              (long long)G);
    CHECK_MSG(gg >= 1 && gg <= G / 4, "gelu: grain %lld", (long long)gg);
    CHECK(kiln__fused_grain(&rows.r, 8) < 8);
    CHECK(kiln__fused_grain(&rows.r, 1) == 1);
    CHECK(kiln__prim_erf.emit->cost > kiln__prim_add.emit->cost);
}

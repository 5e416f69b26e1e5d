/*
 * einsum.c - mlx.core's einsum: NumPy's Einstein summation notation,
 * explicit ("ij,jk->ik") or implicit (output = the labels seen once,
 * sorted), with "..." for broadcast axes, built from kiln's ops.
 *
 * Operands contract left to right, each pair as one batched matmul after
 * summing the labels no later term needs; size-1 axes broadcast. A label
 * repeated within one operand (a diagonal) is refused.
 *
 * Invariants: the subscripts and operands are parsed and converted before
 * the kiln scope opens (no Python code runs inside it); lazy, so grad,
 * vmap and compile see transposes, reshapes, sums and matmuls.
 */
#include "pykiln.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* einsum                                                             */
/* ------------------------------------------------------------------ */

/* Labels: letters a-z A-Z are 0..51; the axes an ellipsis stands for get
 * 52.. (right-aligned across operands, as they broadcast). */
#define EIN_MAX_OPS 32
#define EIN_LABELS (52 + KILN_MAX_NDIM)

typedef struct ein_term {
    kiln_array *x;  /* the operand as it is contracted (scope-owned) */
    int n;          /* its axes */
    int lab[KILN_MAX_NDIM];
} ein_term;

static int ein_letter(char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a'
           : c >= 'A' && c <= 'Z' ? 26 + c - 'A' : -1;
}

/* One term's labels from s[0..len), its operand having nd axes; the
 * ellipsis takes the axes the letters leave. -1 with ValueError. */
static int ein_parse(const char *s, size_t len, int nd, int *lab, int *n,
                     int *ell)
{
    int nl = 0, at = -1;
    *ell = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (at >= 0 || i + 2 >= len + 0 || s[i + 1] != '.' ||
                s[i + 2] != '.') {
                PyErr_SetString(PyExc_ValueError, "[einsum] malformed "
                                "ellipsis");
                return -1;
            }
            at = nl;
            i += 2;
        } else if (ein_letter(s[i]) >= 0) {
            if (nl == KILN_MAX_NDIM) {
                PyErr_SetString(PyExc_ValueError, "[einsum] too many axes");
                return -1;
            }
            lab[nl++] = ein_letter(s[i]);
        } else if (s[i] != ' ') {
            PyErr_Format(PyExc_ValueError, "[einsum] bad character '%c' in "
                         "the subscripts", s[i]);
            return -1;
        }
    }
    if (nd >= 0) {
        int ne = nd - nl;
        if (ne < 0 || (ne > 0 && at < 0)) {
            PyErr_Format(PyExc_ValueError, "[einsum] %d subscripts for an "
                         "operand of %d dimensions", nl, nd);
            return -1;
        }
        if (at >= 0) {
            memmove(lab + at + ne, lab + at, sizeof *lab * (size_t)(nl - at));
            for (int k = 0; k < ne; k++) {
                lab[at + k] = 52 + (KILN_MAX_NDIM - ne) + k;
            }
        }
        *ell = ne;
        nl = nd;
    } else if (at >= 0) {
        *ell = -1 - at; /* the output: where the ellipsis goes */
    }
    *n = nl;
    return 0;
}

/* The term t with every axis not in keep[] summed away. */
static void ein_reduce(ein_term *t, const bool *keep)
{
    int ax[KILN_MAX_NDIM], na = 0, m = 0;
    for (int i = 0; i < t->n; i++) {
        if (!keep[t->lab[i]]) {
            ax[na++] = i;
        } else {
            t->lab[m++] = t->lab[i];
        }
    }
    if (na) {
        t->x = kiln_sum(t->x, ax, na, false);
        t->n = m;
    }
}

/* a and b contracted over their shared labels not in keep[], as one
 * batched matmul: (batch, a-only) x (batch, b-only). */
static ein_term ein_pair(const ein_term *a, const ein_term *b,
                         const bool *keep, const int64_t *size)
{
    int pa[KILN_MAX_NDIM], pb[KILN_MAX_NDIM], lab[KILN_MAX_NDIM];
    int nbat = 0, nfa = 0, nfb = 0, nk = 0;
    int inb[EIN_LABELS], ina[EIN_LABELS];
    int64_t bsz = 1, m = 1, n = 1, k = 1;
    ein_term r = {NULL, 0, {0}};
    for (int i = 0; i < EIN_LABELS; i++) {
        inb[i] = ina[i] = -1;
    }
    for (int i = 0; i < a->n; i++) {
        ina[a->lab[i]] = i;
    }
    for (int i = 0; i < b->n; i++) {
        inb[b->lab[i]] = i;
    }
    int bat[KILN_MAX_NDIM], fa[KILN_MAX_NDIM], fb[KILN_MAX_NDIM];
    int con[KILN_MAX_NDIM];
    for (int i = 0; i < a->n; i++) {
        int l = a->lab[i];
        if (inb[l] >= 0) {
            if (keep[l]) {
                bat[nbat++] = l;
            } else {
                con[nk++] = l;
            }
        } else {
            fa[nfa++] = l;
        }
    }
    for (int i = 0; i < b->n; i++) {
        if (ina[b->lab[i]] < 0) {
            fb[nfb++] = b->lab[i];
        }
    }
    if (nbat + nfa + nfb > KILN_MAX_NDIM) {
        kiln_errclear();
        PyErr_SetString(PyExc_ValueError, "[einsum] the result would have "
                        "too many dimensions");
        return r;
    }
    int q = 0;
    for (int i = 0; i < nbat; i++) {
        pa[q++] = ina[bat[i]];
        bsz *= size[bat[i]];
    }
    for (int i = 0; i < nfa; i++) {
        pa[q++] = ina[fa[i]];
        m *= size[fa[i]];
    }
    for (int i = 0; i < nk; i++) {
        pa[q++] = ina[con[i]];
        k *= size[con[i]];
    }
    q = 0;
    for (int i = 0; i < nbat; i++) {
        pb[q++] = inb[bat[i]];
    }
    for (int i = 0; i < nk; i++) {
        pb[q++] = inb[con[i]];
    }
    for (int i = 0; i < nfb; i++) {
        pb[q++] = inb[fb[i]];
        n *= size[fb[i]];
    }
    kiln_array *am = kiln_reshape(kiln_transpose(a->x, pa, a->n),
                                  (int64_t[]){bsz, m, k}, 3);
    kiln_array *bm = kiln_reshape(kiln_transpose(b->x, pb, b->n),
                                  (int64_t[]){bsz, k, n}, 3);
    int64_t shape[KILN_MAX_NDIM];
    for (int i = 0; i < nbat; i++) {
        lab[r.n] = bat[i];
        shape[r.n++] = size[bat[i]];
    }
    for (int i = 0; i < nfa; i++) {
        lab[r.n] = fa[i];
        shape[r.n++] = size[fa[i]];
    }
    for (int i = 0; i < nfb; i++) {
        lab[r.n] = fb[i];
        shape[r.n++] = size[fb[i]];
    }
    r.x = kiln_reshape(kiln_matmul(am, bm), shape, r.n);
    memcpy(r.lab, lab, sizeof lab[0] * (size_t)r.n);
    return r;
}

/* einsum(subscripts, *operands): NumPy's Einstein summation, explicit
 * ("ij,jk->ik") or implicit (output = the labels seen once, sorted),
 * with "..." for broadcast axes. Operands contract left to right, each
 * pair as one batched matmul, after summing the labels no later term
 * needs; a label repeated within one operand (a diagonal) is not
 * supported. */
static PyObject *py_einsum(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    if (kw && PyDict_GET_SIZE(kw) > 0 &&
        !(PyDict_GET_SIZE(kw) == 1 && PyDict_GetItemString(kw, "stream"))) {
        PyErr_SetString(PyExc_TypeError, "[einsum] takes the subscripts "
                        "and the operands (and stream)");
        return NULL;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs < 2 || !PyUnicode_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "[einsum] needs a subscripts "
                        "string and at least one operand");
        return NULL;
    }
    int nop = (int)(nargs - 1);
    if (nop > EIN_MAX_OPS) {
        PyErr_SetString(PyExc_ValueError, "[einsum] too many operands");
        return NULL;
    }
    const char *sub = PyUnicode_AsUTF8(PyTuple_GET_ITEM(args, 0));
    if (!sub) {
        return NULL;
    }
    kiln_array *xs[EIN_MAX_OPS] = {NULL};
    for (int i = 0; i < nop; i++) {
        xs[i] = pk_to_array(PyTuple_GET_ITEM(args, i + 1), -1);
        if (!xs[i]) {
            for (int j = 0; j < i; j++) {
                kiln_array_release(xs[j]);
            }
            return NULL;
        }
    }
    PyObject *result = NULL;
    ein_term t[EIN_MAX_OPS];
    int out[KILN_MAX_NDIM], nout = 0, oell = 0, maxell = 0;
    int count[EIN_LABELS] = {0};
    int64_t size[EIN_LABELS];
    const char *arrow = strstr(sub, "->");
    const char *lhs_end = arrow ? arrow : sub + strlen(sub);
    const char *p = sub;
    for (int i = 0; i < nop; i++) {
        const char *e = memchr(p, ',', (size_t)(lhs_end - p));
        if ((i < nop - 1) != (e != NULL)) {
            PyErr_Format(PyExc_ValueError, "[einsum] %d operands for the "
                         "subscripts '%s'", nop, sub);
            goto done;
        }
        if (!e) {
            e = lhs_end;
        }
        int ell;
        t[i].x = xs[i];
        if (ein_parse(p, (size_t)(e - p), kiln_array_ndim(xs[i]), t[i].lab,
                      &t[i].n, &ell) < 0) {
            goto done;
        }
        maxell = ell > maxell ? ell : maxell;
        for (int a = 0; a < t[i].n; a++) {
            for (int b = 0; b < a; b++) {
                if (t[i].lab[a] == t[i].lab[b]) {
                    PyErr_SetString(PyExc_ValueError, "[einsum] a label "
                                    "repeated within one operand (a "
                                    "diagonal) is not supported");
                    goto done;
                }
            }
        }
        p = e + 1;
    }
    /* sizes: equal, or 1 broadcasting */
    for (int l = 0; l < EIN_LABELS; l++) {
        size[l] = 1;
    }
    for (int i = 0; i < nop; i++) {
        const int64_t *sh = kiln_array_shape(xs[i]);
        for (int a = 0; a < t[i].n; a++) {
            int l = t[i].lab[a];
            count[l]++;
            if (sh[a] != 1 && size[l] != 1 && sh[a] != size[l]) {
                PyErr_Format(PyExc_ValueError, "[einsum] sizes %lld and "
                             "%lld for one subscript", (long long)size[l],
                             (long long)sh[a]);
                goto done;
            }
            if (sh[a] != 1) {
                size[l] = sh[a];
            }
        }
    }
    if (arrow) {
        const char *o = arrow + 2;
        if (ein_parse(o, strlen(o), -1, out, &nout, &oell) < 0) {
            goto done;
        }
        if (oell < 0) { /* the ellipsis axes where it was written */
            int at = -1 - oell;
            if (nout + maxell > KILN_MAX_NDIM) {
                PyErr_SetString(PyExc_ValueError, "[einsum] too many axes");
                goto done;
            }
            memmove(out + at + maxell, out + at,
                    sizeof *out * (size_t)(nout - at));
            for (int k = 0; k < maxell; k++) {
                out[at + k] = 52 + (KILN_MAX_NDIM - maxell) + k;
            }
            nout += maxell;
        }
        for (int a = 0; a < nout; a++) {
            if (out[a] < 52 && count[out[a]] == 0) {
                PyErr_Format(PyExc_ValueError, "[einsum] output subscript "
                             "'%c' is in no operand",
                             out[a] < 26 ? 'a' + out[a] : 'A' + out[a] - 26);
                goto done;
            }
            for (int b = 0; b < a; b++) {
                if (out[a] == out[b]) {
                    PyErr_SetString(PyExc_ValueError, "[einsum] repeated "
                                    "output subscript");
                    goto done;
                }
            }
        }
    } else {
        /* implicit: the ellipsis axes, then the labels seen once, in
         * alphabetical order (upper case after lower, as NumPy) */
        for (int k = 0; k < maxell; k++) {
            out[nout++] = 52 + (KILN_MAX_NDIM - maxell) + k;
        }
        static const int order[52] = {
            26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
            42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 0,  1,  2,  3,  4,  5,
            6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
            22, 23, 24, 25};
        for (int j = 0; j < 52; j++) {
            if (count[order[j]] == 1 && nout < KILN_MAX_NDIM) {
                out[nout++] = order[j];
            }
        }
    }
    kiln_scope_begin();
    /* broadcast size-1 axes, then contract left to right */
    for (int i = 0; i < nop; i++) {
        int64_t want[KILN_MAX_NDIM];
        for (int a = 0; a < t[i].n; a++) {
            want[a] = size[t[i].lab[a]];
        }
        t[i].x = kiln_broadcast_to(t[i].x, want, t[i].n);
    }
    ein_term acc = t[0];
    for (int i = 0; i < nop && acc.x; i++) {
        /* labels needed later: the output's and those of the terms
         * still to come */
        bool keep[EIN_LABELS] = {false};
        for (int a = 0; a < nout; a++) {
            keep[out[a]] = true;
        }
        for (int j = i + 1; j < nop; j++) {
            for (int a = 0; a < t[j].n; a++) {
                keep[t[j].lab[a]] = true;
            }
        }
        if (i == 0) {
            ein_reduce(&acc, keep);
            continue;
        }
        ein_term b = t[i];
        bool keep_b[EIN_LABELS];
        memcpy(keep_b, keep, sizeof keep);
        for (int a = 0; a < acc.n; a++) {
            keep_b[acc.lab[a]] = true; /* shared labels stay for the pair */
        }
        ein_reduce(&b, keep_b);
        bool keep_a[EIN_LABELS];
        memcpy(keep_a, keep, sizeof keep);
        for (int a = 0; a < b.n; a++) {
            keep_a[b.lab[a]] = true;
        }
        ein_reduce(&acc, keep_a);
        if (!acc.x || !b.x) {
            acc.x = NULL;
            break;
        }
        acc = ein_pair(&acc, &b, keep, size);
        if (PyErr_Occurred()) {
            acc.x = NULL;
        }
    }
    kiln_array *y = NULL;
    if (acc.x) {
        int perm[KILN_MAX_NDIM];
        for (int a = 0; a < nout; a++) {
            perm[a] = -1;
            for (int b = 0; b < acc.n; b++) {
                if (acc.lab[b] == out[a]) {
                    perm[a] = b;
                }
            }
        }
        y = nout == acc.n ? kiln_transpose(acc.x, perm, nout) : NULL;
    }
    y = kiln_scope_end(y);
    result = PyErr_Occurred() ? NULL : pk_ops_shape_wrap(y);
    if (PyErr_Occurred() && y) {
        kiln_array_release(y);
    }
done:
    for (int i = 0; i < nop; i++) {
        kiln_array_release(xs[i]);
    }
    return result;
}

static PyMethodDef einsum_methods[] = {
    {"einsum", PK_FN(py_einsum), PK_KW,
     "einsum(subscripts, *operands, stream=None)\n--\n\nEinstein "
     "summation (NumPy's notation; no repeated label within one "
     "operand)."},
    {NULL, NULL, 0, NULL}};

int pk_init_einsum(PyObject *m)
{
    return PyModule_AddFunctions(m, einsum_methods);
}

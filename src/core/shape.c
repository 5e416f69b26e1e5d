/*
 * shape.c - shapes, strides, axes and broadcasting (see shape.h).
 */
#include "shape.h"

#include <stdio.h>
#include <string.h>

#include "error.h"

kiln_status kiln__shape_size(const int64_t *shape, int ndim, size_t itemsize,
                             int64_t *size, const char *fn)
{
    char buf[256];
    if (ndim < 0 || ndim > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] ndim %d is out of range [0, %d]", fn, ndim,
                         KILN_MAX_NDIM);
    }
    if (ndim > 0 && !shape) {
        return kiln__err_null(fn);
    }
    int64_t n = 1;
    bool zero = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            return kiln__err(KILN_ERR_VALUE, "[%s] negative dimension in %s",
                             fn, kiln__shape_str(shape, ndim, buf, sizeof buf));
        }
        zero |= shape[i] == 0;
    }
    for (int i = 0; i < ndim && !zero; i++) {
        if (shape[i] > INT64_MAX / n) {
            return kiln__err(KILN_ERR_VALUE, "[%s] shape %s is too large", fn,
                             kiln__shape_str(shape, ndim, buf, sizeof buf));
        }
        n *= shape[i];
    }
    if (zero) {
        n = 0;
    }
    if (itemsize > 0 && (uint64_t)n > (uint64_t)(INT64_MAX / 2) / itemsize) {
        return kiln__err(KILN_ERR_VALUE, "[%s] shape %s is too large", fn,
                         kiln__shape_str(shape, ndim, buf, sizeof buf));
    }
    *size = n;
    return KILN_OK;
}

void kiln__shape_strides(const int64_t *shape, int ndim, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

kiln_status kiln__shape_broadcast(const int64_t *a, int na, const int64_t *b,
                                  int nb, int64_t *out, int *nout,
                                  const char *fn)
{
    int n = na > nb ? na : nb;
    for (int i = 0; i < n; i++) {
        int64_t da = i < n - na ? 1 : a[i - (n - na)];
        int64_t db = i < n - nb ? 1 : b[i - (n - nb)];
        if (da != db && da != 1 && db != 1) {
            char sa[256], sb[256];
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] shapes %s and %s cannot be broadcast", fn,
                             kiln__shape_str(a, na, sa, sizeof sa),
                             kiln__shape_str(b, nb, sb, sizeof sb));
        }
        out[i] = da == 1 ? db : da;
    }
    *nout = n;
    return KILN_OK;
}

kiln_status kiln__shape_axis(int axis, int ndim, int *out, const char *fn)
{
    if (axis < -ndim || axis >= ndim) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] axis %d is out of bounds for array of ndim %d",
                         fn, axis, ndim);
    }
    *out = axis < 0 ? axis + ndim : axis;
    return KILN_OK;
}

kiln_status kiln__shape_axes(const int *axes, int naxes, int ndim,
                             bool *mask, const char *fn)
{
    for (int i = 0; i < ndim; i++) {
        mask[i] = axes == NULL;
    }
    if (!axes) {
        return KILN_OK;
    }
    if (naxes < 0) {
        return kiln__err(KILN_ERR_VALUE, "[%s] negative number of axes", fn);
    }
    for (int i = 0; i < naxes; i++) {
        int ax = 0;
        if (kiln__shape_axis(axes[i], ndim, &ax, fn) != KILN_OK) {
            return KILN_ERR_INDEX;
        }
        if (mask[ax]) {
            return kiln__err(KILN_ERR_VALUE, "[%s] duplicate axis %d", fn,
                             axes[i]);
        }
        mask[ax] = true;
    }
    return KILN_OK;
}

void kiln__shape_bcast_strides(const int64_t *in, const int64_t *in_strides,
                               int nin, int nout, const int64_t *out,
                               int64_t *strides)
{
    int lead = nout - nin;
    for (int i = 0; i < nout; i++) {
        if (i < lead) {
            strides[i] = 0;
        } else {
            int j = i - lead;
            strides[i] = (in[j] == 1 && out[i] != 1) ? 0 : in_strides[j];
        }
    }
}

bool kiln__shape_equal(const int64_t *a, int na, const int64_t *b, int nb)
{
    return na == nb && (na == 0 || memcmp(a, b, sizeof *a * (size_t)na) == 0);
}

char *kiln__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t len = 0;
    if (cap == 0) {
        return buf;
    }
    buf[0] = '\0';
    len += (size_t)snprintf(buf + len, cap - len, "(");
    for (int i = 0; i < ndim && len < cap; i++) {
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld",
                                (long long)shape[i]);
    }
    if (len < cap) {
        snprintf(buf + len, cap - len, ")");
    }
    return buf;
}

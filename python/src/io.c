/*
 * io.c - save, load, savez and savez_compressed: arrays to and from
 * NumPy's .npy files and .npz archives, as mlx.core.
 *
 * .npy (format 1.0, or 2.0 when the header outgrows 65535 bytes): the
 * magic "\x93NUMPY", the version, the header length, a Python dict
 * literal {'descr', 'fortran_order', 'shape'} padded with spaces to a
 * multiple of 64 bytes and ended by a newline, then the data in C order.
 * Written here; read back with the header parsed by ast.literal_eval.
 * Little-endian descrs only ('<', '|' or '='; x86 and arm are), every
 * kiln dtype but bfloat16 (NumPy has none). Fortran-order files load
 * through a transpose. .npz is a zip of .npy members, made and read with
 * Python's zipfile (stored, or deflated for savez_compressed), which is
 * the standard library's, not a new dependency.
 *
 * A file is a path (str or os.PathLike: save adds ".npy", savez ".npz"
 * when missing, as MLX) or a binary file object (write / read). load
 * reads the format from the path's extension or the file's first bytes;
 * other formats (safetensors, gguf) raise ValueError.
 *
 * Invariants: every array saved is evaluated in C order first
 * (kiln_array_data); a file (an .npz too: built in memory) is written
 * from one bytes object, after every array converted, so an array that
 * cannot be saved leaves no file behind.
 */
#include "pykiln.h"

#include <string.h>

/* NumPy's descr of dt; NULL for bfloat16. */
static const char *descr_of(kiln_dtype dt)
{
    switch (dt) {
    case KILN_DTYPE_BOOL: return "|b1";
    case KILN_DTYPE_UINT8: return "|u1";
    case KILN_DTYPE_UINT16: return "<u2";
    case KILN_DTYPE_UINT32: return "<u4";
    case KILN_DTYPE_UINT64: return "<u8";
    case KILN_DTYPE_INT8: return "|i1";
    case KILN_DTYPE_INT16: return "<i2";
    case KILN_DTYPE_INT32: return "<i4";
    case KILN_DTYPE_INT64: return "<i8";
    case KILN_DTYPE_FLOAT16: return "<f2";
    case KILN_DTYPE_FLOAT32: return "<f4";
    case KILN_DTYPE_FLOAT64: return "<f8";
    default: return NULL;
    }
}

/* The kiln dtype of a descr (byte order '<', '|' or '='); -1 if none. */
static int dtype_of(const char *d)
{
    if (!d[0] || (d[0] != '<' && d[0] != '|' && d[0] != '=')) {
        return -1;
    }
    for (int i = 0; i < KILN_DTYPE_COUNT; i++) {
        const char *e = descr_of((kiln_dtype)i);
        if (e && strcmp(e + 1, d + 1) == 0) {
            return i;
        }
    }
    return -1;
}

/* The .npy file of a as a bytes object; NULL with an exception. */
static PyObject *npy_bytes(kiln_array *a)
{
    kiln_dtype dt = kiln_array_dtype(a);
    const char *descr = descr_of(dt);
    if (!descr) {
        PyErr_Format(PyExc_ValueError, "[save] %s cannot be saved as .npy "
                     "(NumPy has no such dtype)", kiln_dtype_name(dt));
        return NULL;
    }
    const void *data = kiln_array_data(a);
    if (!data) {
        return pk_raise();
    }
    char dict[64 + 24 * KILN_MAX_NDIM];
    int nd = kiln_array_ndim(a);
    const int64_t *sh = kiln_array_shape(a);
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
                     "False, 'shape': (", descr);
    for (int i = 0; i < nd; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%lld",
                      i ? ", " : "", (long long)sh[i]);
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }",
                  nd == 1 ? "," : "");
    /* magic (6) + version (2) + length (2 or 4) + header, 64-aligned */
    size_t pre = n + 1 + 10 <= 65535 ? 10 : 12;
    size_t hlen = ((pre + (size_t)n + 1 + 63) / 64) * 64 - pre;
    size_t nbytes = kiln_array_nbytes(a);
    PyObject *out = PyBytes_FromStringAndSize(NULL,
                                              (Py_ssize_t)(pre + hlen +
                                                           nbytes));
    if (!out) {
        return NULL;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    memcpy(p, "\x93NUMPY", 6);
    p[6] = pre == 10 ? 1 : 2;
    p[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) {
        p[8 + i] = (unsigned char)(hlen >> (8 * i));
    }
    memset(p + pre, ' ', hlen);
    memcpy(p + pre, dict, (size_t)n);
    p[pre + hlen - 1] = '\n';
    memcpy(p + pre + hlen, data, nbytes);
    return out;
}

/* The array of a .npy file's bytes; NULL with an exception. */
static kiln_array *npy_parse(const unsigned char *p, size_t size)
{
    if (size < 10 || memcmp(p, "\x93NUMPY", 6) != 0) {
        PyErr_SetString(PyExc_ValueError, "[load] not a .npy file");
        return NULL;
    }
    size_t pre = p[6] == 1 ? 10 : 12;
    if ((p[6] != 1 && p[6] != 2 && p[6] != 3) || size < pre) {
        PyErr_Format(PyExc_ValueError, "[load] unsupported .npy version "
                     "%d", p[6]);
        return NULL;
    }
    size_t hlen = 0;
    for (size_t i = 0; i < pre - 8; i++) {
        hlen |= (size_t)p[8 + i] << (8 * i);
    }
    if (hlen > size - pre) {
        PyErr_SetString(PyExc_ValueError, "[load] truncated .npy header");
        return NULL;
    }
    PyObject *ast = PyImport_ImportModule("ast");
    PyObject *text = PyUnicode_DecodeLatin1((const char *)p + pre,
                                            (Py_ssize_t)hlen, NULL);
    PyObject *d = ast && text ? PyObject_CallMethod(ast, "literal_eval",
                                                    "O", text)
                              : NULL;
    Py_XDECREF(ast);
    Py_XDECREF(text);
    if (!d) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "[load] bad .npy header");
        return NULL;
    }
    kiln_array *y = NULL;
    PyObject *descr = PyDict_Check(d) ? PyDict_GetItemString(d, "descr")
                                      : NULL;
    PyObject *fo = PyDict_Check(d) ? PyDict_GetItemString(d,
                                                          "fortran_order")
                                   : NULL;
    PyObject *shape = PyDict_Check(d) ? PyDict_GetItemString(d, "shape")
                                      : NULL;
    const char *ds = descr && PyUnicode_Check(descr)
                         ? PyUnicode_AsUTF8(descr) : NULL;
    int dt = ds ? dtype_of(ds) : -1;
    int64_t sh[KILN_MAX_NDIM];
    int nd = 0;
    if (dt < 0 || !fo || !shape || !PyTuple_Check(shape) ||
        PyTuple_GET_SIZE(shape) > KILN_MAX_NDIM) {
        PyErr_Format(PyExc_ValueError, "[load] unsupported .npy header %R",
                     d);
        goto done;
    }
    nd = (int)PyTuple_GET_SIZE(shape);
    int64_t count = 1;
    int fortran = PyObject_IsTrue(fo);
    for (int i = 0; i < nd; i++) {
        long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i));
        if (v < 0 || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "[load] bad .npy shape");
            goto done;
        }
        /* Fortran order is C order of the reversed shape */
        sh[fortran ? nd - 1 - i : i] = v;
        if (v && count > INT64_MAX / v) {
            PyErr_SetString(PyExc_ValueError, "[load] .npy too large");
            goto done;
        }
        count *= v;
    }
    size_t isz = kiln_dtype_size((kiln_dtype)dt);
    if ((uint64_t)count > (size - pre - hlen) / isz) {
        PyErr_SetString(PyExc_ValueError, "[load] truncated .npy data");
        goto done;
    }
    y = kiln_array_from_data(p + pre + hlen, sh, nd, (kiln_dtype)dt);
    if (y && fortran && nd > 1) {
        int perm[KILN_MAX_NDIM];
        for (int i = 0; i < nd; i++) {
            perm[i] = nd - 1 - i;
        }
        kiln_array *t = kiln_transpose(y, perm, nd);
        kiln_array_release(y);
        y = t;
    }
    if (!y) {
        pk_raise();
    }
done:
    Py_DECREF(d);
    return y;
}

/* o as a path string (new reference) with `ext` added when missing, or
 * NULL without an exception when o is not a path. */
static PyObject *path_of(PyObject *o, const char *ext)
{
    if (!PyUnicode_Check(o) && !PyObject_HasAttrString(o, "__fspath__")) {
        return NULL;
    }
    PyObject *s = PyOS_FSPath(o);
    if (!s || !PyUnicode_Check(s)) {
        Py_XDECREF(s);
        PyErr_Clear();
        return NULL;
    }
    if (ext) {
        PyObject *e = PyUnicode_FromString(ext);
        Py_ssize_t m = e ? PyUnicode_Tailmatch(s, e, 0, PY_SSIZE_T_MAX, 1)
                         : -1;
        Py_XDECREF(e);
        if (m < 0) {
            Py_DECREF(s);
            return NULL;
        }
        if (m == 0) {
            PyObject *t = PyUnicode_FromFormat("%U%s", s, ext);
            Py_DECREF(s);
            return t;
        }
    }
    return s;
}

/* Writes bytes b to path or file object f (ext added to a path); 0 or
 * -1 with an exception. */
static int write_to(PyObject *f, const char *ext, PyObject *b)
{
    PyObject *path = path_of(f, ext);
    if (PyErr_Occurred()) {
        return -1;
    }
    PyObject *r;
    if (path) {
        PyObject *io = PyImport_ImportModule("io");
        PyObject *fh = io ? PyObject_CallMethod(io, "open", "Os", path, "wb")
                          : NULL;
        Py_XDECREF(io);
        Py_DECREF(path);
        if (!fh) {
            return -1;
        }
        r = PyObject_CallMethod(fh, "write", "O", b);
        PyObject *c = PyObject_CallMethod(fh, "close", NULL);
        Py_DECREF(fh);
        if (!c) {
            Py_XDECREF(r);
            return -1;
        }
        Py_DECREF(c);
    } else if (PyObject_HasAttrString(f, "write")) {
        r = PyObject_CallMethod(f, "write", "O", b);
    } else {
        PyErr_SetString(PyExc_TypeError, "[save] file must be a path or a "
                        "binary file object");
        return -1;
    }
    if (!r) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static PyObject *py_save(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"file", "arr", NULL};
    PyObject *fo, *ao;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:save", kwlist, &fo,
                                     &ao)) {
        return NULL;
    }
    kiln_array *a = pk_to_array(ao, -1);
    if (!a) {
        return NULL;
    }
    PyObject *b = npy_bytes(a);
    kiln_array_release(a);
    int st = b ? write_to(fo, ".npy", b) : -1;
    Py_XDECREF(b);
    return st < 0 ? NULL : Py_NewRef(Py_None);
}

/* savez: positional arrays as arr_0, arr_1, ..., keyword arrays by
 * name, each a .npy member of a zip (deflated when compress). */
static PyObject *savez_with(PyObject *args, PyObject *kw, int compress)
{
    if (PyTuple_GET_SIZE(args) < 1) {
        PyErr_SetString(PyExc_TypeError, "[savez] missing file");
        return NULL;
    }
    PyObject *f = PyTuple_GET_ITEM(args, 0);
    /* the archive is built in memory and written once, so an array that
     * cannot be saved leaves no partial file */
    PyObject *iom = PyImport_ImportModule("io");
    PyObject *target = iom ? PyObject_CallMethod(iom, "BytesIO", NULL)
                           : NULL;
    Py_XDECREF(iom);
    if (!target) {
        return NULL;
    }
    PyObject *seen = PySet_New(NULL);
    if (!seen) {
        Py_DECREF(target);
        return NULL;
    }
    PyObject *zf = PyImport_ImportModule("zipfile");
    PyObject *mode = zf ? PyObject_GetAttrString(
                              zf, compress ? "ZIP_DEFLATED" : "ZIP_STORED")
                        : NULL;
    PyObject *z = mode ? PyObject_CallMethod(zf, "ZipFile", "OsO", target,
                                             "w", mode)
                       : NULL;
    Py_XDECREF(mode);
    Py_XDECREF(zf);
    if (!z) {
        Py_DECREF(target);
        Py_DECREF(seen);
        return NULL;
    }
    int ok = 1;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *items = kw ? PyDict_Items(kw) : PyList_New(0);
    ok = items != NULL;
    for (Py_ssize_t i = 1; ok && i < n + (items ? PyList_GET_SIZE(items)
                                                : 0);
         i++) {
        PyObject *name, *v;
        if (i < n) {
            name = PyUnicode_FromFormat("arr_%zd.npy", i - 1);
            v = PyTuple_GET_ITEM(args, i);
        } else {
            PyObject *it = PyList_GET_ITEM(items, i - n);
            name = PyUnicode_FromFormat("%U.npy", PyTuple_GET_ITEM(it, 0));
            v = PyTuple_GET_ITEM(it, 1);
        }
        int dup = name ? PySet_Contains(seen, name) : -1;
        if (dup != 0 || PySet_Add(seen, name) < 0) {
            if (dup > 0) {
                PyErr_Format(PyExc_ValueError, "[savez] two arrays named "
                             "%U", name);
            }
            Py_XDECREF(name);
            ok = 0;
            break;
        }
        kiln_array *a = pk_to_array(v, -1);
        PyObject *b = a ? npy_bytes(a) : NULL;
        kiln_array_release(a);
        PyObject *r = b ? PyObject_CallMethod(z, "writestr", "OO", name, b)
                        : NULL;
        ok = r != NULL;
        Py_XDECREF(r);
        Py_XDECREF(b);
        Py_XDECREF(name);
    }
    Py_XDECREF(items);
    Py_DECREF(seen);
    PyObject *err_type, *err_val, *err_tb;
    PyErr_Fetch(&err_type, &err_val, &err_tb);
    PyObject *c = PyObject_CallMethod(z, "close", NULL);
    Py_DECREF(z);
    if (!ok) {
        Py_XDECREF(c);
        Py_DECREF(target);
        PyErr_Restore(err_type, err_val, err_tb);
        return NULL;
    }
    PyObject *b = c ? PyObject_CallMethod(target, "getvalue", NULL) : NULL;
    Py_XDECREF(c);
    Py_DECREF(target);
    int st = b ? write_to(f, ".npz", b) : -1;
    Py_XDECREF(b);
    return st < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *py_savez(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    return savez_with(args, kw, 0);
}

static PyObject *py_savez_compressed(PyObject *self, PyObject *args,
                                     PyObject *kw)
{
    (void)self;
    return savez_with(args, kw, 1);
}

/* A dict of the .npy members of a zip (a path or a file object). */
static PyObject *load_npz(PyObject *target)
{
    PyObject *zf = PyImport_ImportModule("zipfile");
    PyObject *z = zf ? PyObject_CallMethod(zf, "ZipFile", "Os", target, "r")
                     : NULL;
    Py_XDECREF(zf);
    if (!z) {
        return NULL;
    }
    PyObject *out = PyDict_New();
    PyObject *names = out ? PyObject_CallMethod(z, "namelist", NULL) : NULL;
    for (Py_ssize_t i = 0; names && i < PyList_GET_SIZE(names); i++) {
        PyObject *nm = PyList_GET_ITEM(names, i);
        PyObject *b = PyObject_CallMethod(z, "read", "O", nm);
        kiln_array *a = b ? npy_parse((const unsigned char *)
                                          PyBytes_AS_STRING(b),
                                      (size_t)PyBytes_GET_SIZE(b))
                          : NULL;
        Py_XDECREF(b);
        PyObject *key = NULL;
        if (a) {
            Py_ssize_t len = PyUnicode_GET_LENGTH(nm);
            PyObject *e = PyUnicode_FromString(".npy");
            Py_ssize_t m = e ? PyUnicode_Tailmatch(nm, e, 0, len, 1) : -1;
            Py_XDECREF(e);
            key = m > 0 ? PyUnicode_Substring(nm, 0, len - 4)
                        : Py_NewRef(nm);
        }
        PyObject *v = key ? pk_wrap(a) : NULL;
        if (!key) {
            kiln_array_release(a);
        }
        if (!v || PyDict_SetItem(out, key, v) < 0) {
            Py_XDECREF(v);
            Py_XDECREF(key);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(v);
        Py_DECREF(key);
    }
    if (!names) {
        Py_CLEAR(out);
    }
    Py_XDECREF(names);
    PyObject *c = PyObject_CallMethod(z, "close", NULL);
    Py_XDECREF(c);
    Py_DECREF(z);
    return out;
}

/* load(file, format=None, return_metadata=False): an array (.npy) or a
 * dict of arrays (.npz). */
static PyObject *py_load(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"file", "format", "return_metadata", "stream",
                             NULL};
    PyObject *fo, *fmt_o = Py_None, *stream = NULL;
    int meta = 0;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|Op$O:load", kwlist, &fo,
                                     &fmt_o, &meta, &stream)) {
        return NULL;
    }
    if (meta) {
        PyErr_SetString(PyExc_ValueError, "[load] metadata exists only in "
                        "safetensors and gguf files, which kiln does not "
                        "read");
        return NULL;
    }
    PyObject *path = path_of(fo, NULL);
    if (PyErr_Occurred()) {
        return NULL;
    }
    /* the format in a buffer of our own (path's text dies with path):
     * the extension of the path's last component, else sniffed */
    char fmt_buf[16] = "";
    const char *fmt = NULL;
    if (fmt_o != Py_None) {
        fmt = PyUnicode_Check(fmt_o) ? PyUnicode_AsUTF8(fmt_o) : NULL;
        if (!fmt) {
            Py_XDECREF(path);
            PyErr_SetString(PyExc_TypeError, "[load] format must be a str");
            return NULL;
        }
    } else if (path) {
        const char *s = PyUnicode_AsUTF8(path);
        const char *base = s ? strrchr(s, '/') : NULL;
        const char *dot = s ? strrchr(base ? base : s, '.') : NULL;
        if (dot && strlen(dot + 1) < sizeof fmt_buf) {
            strcpy(fmt_buf, dot + 1);
        }
        fmt = fmt_buf;
    }
    PyObject *data = NULL;
    if (path) {
        PyObject *io = PyImport_ImportModule("io");
        PyObject *fh = io ? PyObject_CallMethod(io, "open", "Os", path, "rb")
                          : NULL;
        Py_XDECREF(io);
        if (fh) {
            data = PyObject_CallMethod(fh, "read", NULL);
            PyObject *c = PyObject_CallMethod(fh, "close", NULL);
            Py_XDECREF(c);
            Py_DECREF(fh);
        }
    } else if (PyObject_HasAttrString(fo, "read")) {
        data = PyObject_CallMethod(fo, "read", NULL);
    } else {
        PyErr_SetString(PyExc_TypeError, "[load] file must be a path or a "
                        "binary file object");
    }
    Py_XDECREF(path);
    if (!data) {
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        Py_DECREF(data);
        PyErr_SetString(PyExc_TypeError, "[load] the file must be opened "
                        "in binary mode");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    size_t size = (size_t)PyBytes_GET_SIZE(data);
    if (!fmt || (fmt == fmt_buf && strcmp(fmt, "npy") != 0 &&
                 strcmp(fmt, "npz") != 0 && strcmp(fmt, "safetensors") != 0 &&
                 strcmp(fmt, "gguf") != 0)) {
        /* no format given and no known extension: the magic bytes */
        fmt = size >= 6 && memcmp(p, "\x93NUMPY", 6) == 0 ? "npy"
              : size >= 4 && memcmp(p, "PK\x03\x04", 4) == 0 ? "npz"
                                                              : "";
    }
    PyObject *out = NULL;
    if (strcmp(fmt, "npy") == 0) {
        kiln_array *a = npy_parse(p, size);
        out = a ? pk_wrap(a) : NULL;
    } else if (strcmp(fmt, "npz") == 0) {
        PyObject *io = PyImport_ImportModule("io");
        PyObject *buf = io ? PyObject_CallMethod(io, "BytesIO", "O", data)
                           : NULL;
        Py_XDECREF(io);
        out = buf ? load_npz(buf) : NULL;
        Py_XDECREF(buf);
    } else {
        PyErr_Format(PyExc_ValueError, "[load] unsupported format '%s': "
                     "kiln reads .npy and .npz", fmt);
    }
    Py_DECREF(data);
    return out;
}

static PyMethodDef io_methods[] = {
    {"save", PK_FN(py_save), PK_KW,
     "save(file, arr)\n--\n\nSaves arr as a .npy file (\".npy\" added to "
     "a path without it)."},
    {"savez", PK_FN(py_savez), PK_KW,
     "savez(file, *args, **kwargs)\n--\n\nSaves arrays in an uncompressed "
     ".npz archive: positional ones as arr_0, arr_1, ..., keyword ones by "
     "name."},
    {"savez_compressed", PK_FN(py_savez_compressed), PK_KW,
     "savez_compressed(file, *args, **kwargs)\n--\n\nAs savez, "
     "deflated."},
    {"load", PK_FN(py_load), PK_KW,
     "load(file, /, format=None, return_metadata=False, *, stream=None)\n"
     "--\n\nAn array from a .npy file, or a dict of arrays from a .npz "
     "archive."},
    {NULL, NULL, 0, NULL}};

int pk_init_io(PyObject *m)
{
    return PyModule_AddFunctions(m, io_methods);
}

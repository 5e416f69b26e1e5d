/*
 * device.c - honest CPU-only devices and streams, with mlx.core's names:
 * kiln.DeviceType (kiln.cpu, kiln.gpu), kiln.Device, kiln.Stream,
 * kiln.StreamContext and the module functions around them, the kiln.metal
 * and kiln.cuda submodules (nothing is available), and the thread count.
 *
 * kiln runs on the CPU only. MLX code that names the CPU runs unchanged:
 * set_default_device(kiln.cpu), with kiln.stream(kiln.cpu): ..., new
 * streams, synchronize. Anything that asks for the GPU raises ValueError,
 * as MLX does on a machine without a GPU backend. Streams are labels:
 * every op runs on the caller's thread when evaluated (with the core's
 * thread pool), so a stream orders nothing and synchronize has nothing to
 * wait for.
 *
 * Invariants: the two DeviceType objects are immortal singletons; the
 * default device is always Device(cpu, 0); the default stream and the
 * stream counter are plain statics guarded by the GIL.
 */
#include "pykiln.h"

#include <sys/utsname.h>
#include <unistd.h>

enum { DEV_CPU = 0, DEV_GPU = 1 };

static const char *const type_names[2] = {"cpu", "gpu"};

/* ------------------------------------------------------------------ */
/* DeviceType                                                         */
/* ------------------------------------------------------------------ */

typedef struct PkDeviceType {
    PyObject_HEAD
    int v;
} PkDeviceType;

typedef struct PkDevice {
    PyObject_HEAD
    int type;
    int index;
} PkDevice;

typedef struct PkStream {
    PyObject_HEAD
    int type;  /* of its device */
    int index; /* the stream's own index */
} PkStream;

static PyTypeObject PkDeviceType_Type;
static PyTypeObject PkDevice_Type;
static PyTypeObject PkStream_Type;
static PkDeviceType device_types[2];

/* A Device or DeviceType as (type, index); 0, or -1 with TypeError. */
static int device_parts(PyObject *o, int *type, int *index, const char *fn)
{
    if (PyObject_TypeCheck(o, &PkDeviceType_Type)) {
        *type = ((PkDeviceType *)o)->v;
        *index = 0;
        return 0;
    }
    if (PyObject_TypeCheck(o, &PkDevice_Type)) {
        *type = ((PkDevice *)o)->type;
        *index = ((PkDevice *)o)->index;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "[%s] expected a kiln.Device or "
                 "kiln.DeviceType, got %.100s", fn, Py_TYPE(o)->tp_name);
    return -1;
}

/* Raises ValueError unless (type, index) is the one device kiln has. */
static int check_cpu(int type, int index, const char *fn)
{
    if (type == DEV_GPU) {
        PyErr_Format(PyExc_ValueError, "[%s] kiln runs on the CPU only; "
                     "there is no gpu device", fn);
        return -1;
    }
    if (index != 0) {
        PyErr_Format(PyExc_ValueError, "[%s] kiln has one CPU device, "
                     "Device(cpu, 0); got index %d", fn, index);
        return -1;
    }
    return 0;
}

static PyObject *devtype_repr(PyObject *self)
{
    return PyUnicode_FromFormat("DeviceType.%s",
                                type_names[((PkDeviceType *)self)->v]);
}

static Py_hash_t devtype_hash(PyObject *self)
{
    return (Py_hash_t)((PkDeviceType *)self)->v + 1;
}

/* DeviceType == DeviceType, and == Device(type, 0) as in MLX (a type
 * converts to its device 0); anything else is unequal. */
static PyObject *devtype_richcompare(PyObject *a, PyObject *b, int op)
{
    int ta = 0, ia = 0, tb = 0, ib = 0;
    if ((op != Py_EQ && op != Py_NE) ||
        (!PyObject_TypeCheck(b, &PkDeviceType_Type) &&
         !PyObject_TypeCheck(b, &PkDevice_Type))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    device_parts(a, &ta, &ia, "DeviceType");
    device_parts(b, &tb, &ib, "DeviceType");
    int eq = ta == tb && ia == ib;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject *devtype_name(PyObject *self, void *unused)
{
    (void)unused;
    return PyUnicode_FromString(type_names[((PkDeviceType *)self)->v]);
}

static PyObject *devtype_value(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(((PkDeviceType *)self)->v);
}

static PyObject *devtype_reduce(PyObject *self, PyObject *unused)
{
    (void)unused;
    /* pickles as the module attribute of the same name */
    return PyUnicode_FromString(type_names[((PkDeviceType *)self)->v]);
}

static PyGetSetDef devtype_getset[] = {
    {"name", devtype_name, NULL, "'cpu' or 'gpu'", NULL},
    {"value", devtype_value, NULL, "0 (cpu) or 1 (gpu)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef devtype_methods[] = {
    {"__reduce__", devtype_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PkDeviceType_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.DeviceType",
    .tp_basicsize = sizeof(PkDeviceType),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A kind of device: kiln.cpu or kiln.gpu (kiln has no GPU).",
    .tp_repr = devtype_repr,
    .tp_hash = devtype_hash,
    .tp_richcompare = devtype_richcompare,
    .tp_getset = devtype_getset,
    .tp_methods = devtype_methods,
};

/* ------------------------------------------------------------------ */
/* Device                                                             */
/* ------------------------------------------------------------------ */

static PyObject *device_make(int type, int index)
{
    PkDevice *d = PyObject_New(PkDevice, &PkDevice_Type);
    if (d) {
        d->type = type;
        d->index = index;
    }
    return (PyObject *)d;
}

static PyObject *device_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"type", "index", NULL};
    PyObject *t;
    int index = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!|i:Device", kwlist,
                                     &PkDeviceType_Type, &t, &index)) {
        return NULL;
    }
    if (index < 0) {
        PyErr_Format(PyExc_ValueError, "[Device] index must be >= 0, got "
                     "%d", index);
        return NULL;
    }
    PkDevice *d = (PkDevice *)tp->tp_alloc(tp, 0);
    if (d) {
        d->type = ((PkDeviceType *)t)->v;
        d->index = index;
    }
    return (PyObject *)d;
}

static PyObject *device_repr(PyObject *self)
{
    PkDevice *d = (PkDevice *)self;
    return PyUnicode_FromFormat("Device(%s, %d)", type_names[d->type],
                                d->index);
}

static Py_hash_t device_hash(PyObject *self)
{
    PkDevice *d = (PkDevice *)self;
    /* equal to its DeviceType when index is 0, so hash alike */
    return (Py_hash_t)d->type + 1 + (Py_hash_t)d->index * 1000003;
}

static PyObject *device_type(PyObject *self, void *unused)
{
    (void)unused;
    return Py_NewRef((PyObject *)&device_types[((PkDevice *)self)->type]);
}

static PyObject *device_index(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(((PkDevice *)self)->index);
}

static PyGetSetDef device_getset[] = {
    {"type", device_type, NULL, "the DeviceType", NULL},
    {"index", device_index, NULL, "the device's index", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PkDevice_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Device",
    .tp_basicsize = sizeof(PkDevice),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Device(type, index=0): a device to run operations on. kiln "
              "has one, Device(cpu, 0).",
    .tp_new = device_new,
    .tp_repr = device_repr,
    .tp_hash = device_hash,
    .tp_richcompare = devtype_richcompare,
    .tp_getset = device_getset,
};

/* ------------------------------------------------------------------ */
/* Stream                                                             */
/* ------------------------------------------------------------------ */

static int default_stream_index;  /* of the CPU; GIL */
static int next_stream_index = 1; /* for new_stream; GIL */

static PyObject *stream_make(int type, int index)
{
    PkStream *s = PyObject_New(PkStream, &PkStream_Type);
    if (s) {
        s->type = type;
        s->index = index;
    }
    return (PyObject *)s;
}

static PyObject *stream_repr(PyObject *self)
{
    PkStream *s = (PkStream *)self;
    return PyUnicode_FromFormat("Stream(Device(%s, 0), %d)",
                                type_names[s->type], s->index);
}

static Py_hash_t stream_hash(PyObject *self)
{
    PkStream *s = (PkStream *)self;
    return (Py_hash_t)s->index * 2 + s->type + 7;
}

static PyObject *stream_richcompare(PyObject *a, PyObject *b, int op)
{
    if ((op != Py_EQ && op != Py_NE) ||
        !PyObject_TypeCheck(b, &PkStream_Type)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PkStream *x = (PkStream *)a, *y = (PkStream *)b;
    int eq = x->type == y->type && x->index == y->index;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject *stream_device(PyObject *self, void *unused)
{
    (void)unused;
    return device_make(((PkStream *)self)->type, 0);
}

static PyObject *stream_index(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(((PkStream *)self)->index);
}

static PyGetSetDef stream_getset[] = {
    {"device", stream_device, NULL, "the stream's Device", NULL},
    {"index", stream_index, NULL, "the stream's index", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PkStream_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.Stream",
    .tp_basicsize = sizeof(PkStream),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A stream for running operations on a device (made by "
              "default_stream and new_stream). On kiln's CPU every stream "
              "runs in order on the calling thread.",
    .tp_repr = stream_repr,
    .tp_hash = stream_hash,
    .tp_richcompare = stream_richcompare,
    .tp_getset = stream_getset,
};

/* ------------------------------------------------------------------ */
/* StreamContext                                                      */
/* ------------------------------------------------------------------ */

typedef struct PkStreamContext {
    PyObject_HEAD
    int index;      /* the stream to make the default; -1: keep (device) */
    int saved;      /* the default stream before __enter__ */
    int entered;
} PkStreamContext;

static PyTypeObject PkStreamContext_Type;

/* A StreamContext for s (a Stream, Device or DeviceType). */
static PyObject *context_make(PyTypeObject *tp, PyObject *s)
{
    int index = -1, type, dindex;
    if (s == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "[StreamContext] Invalid "
                        "argument, please specify a stream or device.");
        return NULL;
    }
    if (PyObject_TypeCheck(s, &PkStream_Type)) {
        type = ((PkStream *)s)->type;
        dindex = 0;
        index = ((PkStream *)s)->index;
    } else if (device_parts(s, &type, &dindex, "stream") < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "[stream] expected a kiln.Stream or "
                     "kiln.Device, got %.100s", Py_TYPE(s)->tp_name);
        return NULL;
    }
    if (check_cpu(type, dindex, "stream") < 0) {
        return NULL;
    }
    PkStreamContext *c = (PkStreamContext *)tp->tp_alloc(tp, 0);
    if (c) {
        c->index = index;
        c->saved = 0;
        c->entered = 0;
    }
    return (PyObject *)c;
}

static PyObject *context_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"s", NULL};
    PyObject *s;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:StreamContext", kwlist,
                                     &s)) {
        return NULL;
    }
    return context_make(tp, s);
}

static PyObject *context_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    PkStreamContext *c = (PkStreamContext *)self;
    c->saved = default_stream_index;
    c->entered = 1;
    if (c->index >= 0) {
        default_stream_index = c->index;
    }
    return Py_NewRef(self);
}

static PyObject *context_exit(PyObject *self, PyObject *args)
{
    (void)args;
    PkStreamContext *c = (PkStreamContext *)self;
    if (c->entered) {
        default_stream_index = c->saved;
        c->entered = 0;
    }
    Py_RETURN_FALSE;
}

static PyMethodDef context_methods[] = {
    {"__enter__", context_enter, METH_NOARGS, NULL},
    {"__exit__", context_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PkStreamContext_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "kiln.StreamContext",
    .tp_basicsize = sizeof(PkStreamContext),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "StreamContext(s): a context manager that makes the stream "
              "or device s the default while it is entered (see stream).",
    .tp_new = context_new,
    .tp_methods = context_methods,
};

/* ------------------------------------------------------------------ */
/* module functions                                                   */
/* ------------------------------------------------------------------ */

static PyObject *default_device(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return device_make(DEV_CPU, 0);
}

static PyObject *set_default_device(PyObject *self, PyObject *args,
                                    PyObject *kw)
{
    static char *kwlist[] = {"device", NULL};
    PyObject *d;
    int type, index;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:set_default_device",
                                     kwlist, &d) ||
        device_parts(d, &type, &index, "set_default_device") < 0 ||
        check_cpu(type, index, "set_default_device") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The device argument of default_stream and new_stream, checked. */
static int stream_device_arg(PyObject *args, PyObject *kw, const char *fmt,
                             const char *fn)
{
    static char *kwlist[] = {"device", NULL};
    PyObject *d;
    int type, index;
    if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, kwlist, &d) ||
        device_parts(d, &type, &index, fn) < 0 ||
        check_cpu(type, index, fn) < 0) {
        return -1;
    }
    return 0;
}

static PyObject *default_stream(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    if (stream_device_arg(args, kw, "O:default_stream",
                          "default_stream") < 0) {
        return NULL;
    }
    return stream_make(DEV_CPU, default_stream_index);
}

static PyObject *new_stream(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    if (stream_device_arg(args, kw, "O:new_stream", "new_stream") < 0) {
        return NULL;
    }
    if (next_stream_index == INT32_MAX) {
        PyErr_SetString(PyExc_RuntimeError, "[new_stream] too many streams");
        return NULL;
    }
    return stream_make(DEV_CPU, next_stream_index++);
}

static PyObject *set_default_stream(PyObject *self, PyObject *args,
                                    PyObject *kw)
{
    static char *kwlist[] = {"stream", NULL};
    PyObject *s;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!:set_default_stream",
                                     kwlist, &PkStream_Type, &s)) {
        return NULL;
    }
    default_stream_index = ((PkStream *)s)->index;
    Py_RETURN_NONE;
}

static PyObject *stream_fn(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"s", NULL};
    PyObject *s;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:stream", kwlist, &s)) {
        return NULL;
    }
    return context_make(&PkStreamContext_Type, s);
}

static PyObject *synchronize(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"stream", NULL};
    PyObject *s = Py_None;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:synchronize", kwlist,
                                     &s)) {
        return NULL;
    }
    if (s != Py_None && !PyObject_TypeCheck(s, &PkStream_Type)) {
        PyErr_Format(PyExc_TypeError, "[synchronize] expected a kiln.Stream "
                     "or None, got %.100s", Py_TYPE(s)->tp_name);
        return NULL;
    }
    /* evaluation is synchronous: nothing is ever in flight */
    Py_RETURN_NONE;
}

static PyObject *clear_streams(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    default_stream_index = 0;
    next_stream_index = 1;
    Py_RETURN_NONE;
}

static PyObject *is_available(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"device", NULL};
    PyObject *d;
    int type, index;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:is_available", kwlist,
                                     &d) ||
        device_parts(d, &type, &index, "is_available") < 0) {
        return NULL;
    }
    return PyBool_FromLong(type == DEV_CPU && index == 0);
}

static PyObject *device_count(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"device_type", NULL};
    PyObject *d;
    int type, index;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:device_count", kwlist,
                                     &d) ||
        device_parts(d, &type, &index, "device_count") < 0) {
        return NULL;
    }
    return PyLong_FromLong(type == DEV_CPU ? 1 : 0);
}

/* Adds key: value (stolen; NULL fails) to dict. 0 or -1. */
static int dict_put(PyObject *dict, const char *key, PyObject *value)
{
    if (!value) {
        return -1;
    }
    int rc = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return rc;
}

static PyObject *device_info(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"d", NULL};
    PyObject *d = NULL;
    int type = DEV_CPU, index = 0;
    struct utsname u;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:device_info", kwlist,
                                     &d)) {
        return NULL;
    }
    if (d && d != Py_None &&
        (device_parts(d, &type, &index, "device_info") < 0 ||
         check_cpu(type, index, "device_info") < 0)) {
        return NULL;
    }
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    unsigned long long mem = pages > 0 && psize > 0
                                 ? (unsigned long long)pages *
                                       (unsigned long long)psize
                                 : 0;
    const char *arch = uname(&u) == 0 ? u.machine : "unknown";
    PyObject *info = PyDict_New();
    if (!info ||
        dict_put(info, "device_name", PyUnicode_FromString("cpu")) < 0 ||
        dict_put(info, "architecture", PyUnicode_FromString(arch)) < 0 ||
        dict_put(info, "memory_size",
                 PyLong_FromUnsignedLongLong(mem)) < 0 ||
        dict_put(info, "num_threads",
                 PyLong_FromLong(kiln_num_threads())) < 0) {
        Py_XDECREF(info);
        return NULL;
    }
    return info;
}

static PyObject *num_threads(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    return PyLong_FromLong(kiln_num_threads());
}

static PyObject *set_num_threads(PyObject *self, PyObject *args,
                                 PyObject *kw)
{
    static char *kwlist[] = {"n", NULL};
    PyObject *o;
    int n;
    (void)self;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O:set_num_threads", kwlist,
                                     &o) ||
        pk_int(o, &n) < 0) {
        return NULL;
    }
    if (n < 1) {
        PyErr_Format(PyExc_ValueError, "[set_num_threads] n must be >= 1, "
                     "got %d", n);
        return NULL;
    }
    if (pk_check(kiln_set_num_threads(n)) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef device_functions[] = {
    {"default_device", default_device, METH_NOARGS,
     "default_device() -> Device\n\nThe default device: always "
     "Device(cpu, 0) in kiln."},
    {"set_default_device", (PyCFunction)(void (*)(void))set_default_device,
     METH_VARARGS | METH_KEYWORDS,
     "set_default_device(device) -> None\n\nSets the default device. kiln "
     "has one, the CPU: kiln.cpu or Device(cpu, 0) are accepted (and change "
     "nothing); a gpu device raises ValueError."},
    {"default_stream", (PyCFunction)(void (*)(void))default_stream,
     METH_VARARGS | METH_KEYWORDS,
     "default_stream(device) -> Stream\n\nThe device's default stream."},
    {"new_stream", (PyCFunction)(void (*)(void))new_stream,
     METH_VARARGS | METH_KEYWORDS,
     "new_stream(device) -> Stream\n\nMakes a new stream on the device. "
     "kiln's streams are labels: work on every stream runs in order on the "
     "thread that evaluates it."},
    {"set_default_stream", (PyCFunction)(void (*)(void))set_default_stream,
     METH_VARARGS | METH_KEYWORDS,
     "set_default_stream(stream) -> None\n\nMakes stream the default for "
     "its device."},
    {"stream", (PyCFunction)(void (*)(void))stream_fn,
     METH_VARARGS | METH_KEYWORDS,
     "stream(s) -> StreamContext\n\nA context manager that makes the Stream "
     "or Device s the default while it is entered:\n\n"
     "    with kiln.stream(kiln.cpu):\n        ..."},
    {"synchronize", (PyCFunction)(void (*)(void))synchronize,
     METH_VARARGS | METH_KEYWORDS,
     "synchronize(stream=None) -> None\n\nWaits for the stream's work. kiln "
     "evaluates synchronously, so there is never any to wait for."},
    {"clear_streams", clear_streams, METH_NOARGS,
     "clear_streams() -> None\n\nForgets the streams made by new_stream and "
     "restores the default stream."},
    {"is_available", (PyCFunction)(void (*)(void))is_available,
     METH_VARARGS | METH_KEYWORDS,
     "is_available(device) -> bool\n\nTrue for the CPU, False for the GPU."},
    {"device_count", (PyCFunction)(void (*)(void))device_count,
     METH_VARARGS | METH_KEYWORDS,
     "device_count(device_type) -> int\n\n1 for the CPU, 0 for the GPU."},
    {"device_info", (PyCFunction)(void (*)(void))device_info,
     METH_VARARGS | METH_KEYWORDS,
     "device_info(d=Device(cpu, 0)) -> dict\n\nInformation about the "
     "device: device_name, architecture, memory_size (bytes of RAM), "
     "num_threads. A gpu device raises ValueError."},
    {"num_threads", num_threads, METH_NOARGS,
     "num_threads() -> int\n\nThe number of threads kiln evaluates with "
     "(a kiln extension; MLX has no equivalent)."},
    {"set_num_threads", (PyCFunction)(void (*)(void))set_num_threads,
     METH_VARARGS | METH_KEYWORDS,
     "set_num_threads(n) -> None\n\nSets the number of threads kiln "
     "evaluates with (a kiln extension)."},
    {NULL, NULL, 0, NULL},
};

/* ------------------------------------------------------------------ */
/* kiln.metal and kiln.cuda                                           */
/* ------------------------------------------------------------------ */

static PyObject *not_available(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    Py_RETURN_FALSE;
}

static PyObject *metal_device_info(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    PyErr_SetString(PyExc_ValueError, "[metal.device_info] kiln runs on "
                    "the CPU only; there is no Metal device");
    return NULL;
}

/* mx.metal's deprecated memory functions forward to the module-level
 * ones (eval.c) after a DeprecationWarning, as MLX's do after a note. */
static PyObject *forward(const char *name, PyObject *args, PyObject *kw)
{
    char msg[160];
    PyOS_snprintf(msg, sizeof msg, "kiln.metal.%s is deprecated; use "
                  "kiln.%s instead", name, name);
    if (PyErr_WarnEx(PyExc_DeprecationWarning, msg, 1) < 0) {
        return NULL;
    }
    PyObject *f = PyObject_GetAttrString(pk_module, name);
    if (!f) {
        return NULL;
    }
    PyObject *r = PyObject_Call(f, args, kw);
    Py_DECREF(f);
    return r;
}

#define PK_METAL_FORWARD(name)                                            \
    static PyObject *metal_##name(PyObject *self, PyObject *args,         \
                                  PyObject *kw)                           \
    {                                                                     \
        (void)self;                                                       \
        return forward(#name, args, kw);                                  \
    }
PK_METAL_FORWARD(get_active_memory)
PK_METAL_FORWARD(get_peak_memory)
PK_METAL_FORWARD(reset_peak_memory)
PK_METAL_FORWARD(get_cache_memory)
PK_METAL_FORWARD(set_memory_limit)
PK_METAL_FORWARD(set_cache_limit)
PK_METAL_FORWARD(set_wired_limit)
PK_METAL_FORWARD(clear_cache)
#undef PK_METAL_FORWARD

#define PK_METAL_ENTRY(name)                                              \
    {#name, (PyCFunction)(void (*)(void))metal_##name,                    \
     METH_VARARGS | METH_KEYWORDS,                                        \
     "Deprecated: use kiln." #name "."},

static PyMethodDef metal_functions[] = {
    {"is_available", not_available, METH_NOARGS,
     "is_available() -> bool\n\nFalse: kiln has no Metal back-end."},
    {"device_info", metal_device_info, METH_NOARGS,
     "device_info() -> dict\n\nRaises ValueError: there is no Metal "
     "device."},
    PK_METAL_ENTRY(get_active_memory)
    PK_METAL_ENTRY(get_peak_memory)
    PK_METAL_ENTRY(reset_peak_memory)
    PK_METAL_ENTRY(get_cache_memory)
    PK_METAL_ENTRY(set_memory_limit)
    PK_METAL_ENTRY(set_cache_limit)
    PK_METAL_ENTRY(set_wired_limit)
    PK_METAL_ENTRY(clear_cache)
    {NULL, NULL, 0, NULL},
};
#undef PK_METAL_ENTRY

static PyMethodDef cuda_functions[] = {
    {"is_available", not_available, METH_NOARGS,
     "is_available() -> bool\n\nFalse: kiln has no CUDA back-end."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef metal_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln.metal",
    .m_doc = "kiln.metal: mlx.core.metal's names; kiln has no Metal "
             "back-end.",
    .m_size = -1,
    .m_methods = metal_functions,
};

static struct PyModuleDef cuda_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "kiln.cuda",
    .m_doc = "kiln.cuda: mlx.core.cuda's names; kiln has no CUDA back-end.",
    .m_size = -1,
    .m_methods = cuda_functions,
};

/* ------------------------------------------------------------------ */
/* init                                                               */
/* ------------------------------------------------------------------ */

static int add_submodule(PyObject *m, struct PyModuleDef *def,
                         const char *attr)
{
    PyObject *sub = PyModule_Create(def);
    if (!sub) {
        return -1;
    }
    int rc = PyModule_AddObjectRef(m, attr, sub);
    Py_DECREF(sub);
    return rc;
}

int pk_init_device(PyObject *m)
{
    PyTypeObject *types[] = {&PkDeviceType_Type, &PkDevice_Type,
                             &PkStream_Type, &PkStreamContext_Type};
    const char *names[] = {"DeviceType", "Device", "Stream",
                           "StreamContext"};
    for (int i = 0; i < 4; i++) {
        if (PyType_Ready(types[i]) < 0 ||
            PyModule_AddObjectRef(m, names[i], (PyObject *)types[i]) < 0) {
            return -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        PkDeviceType *t = &device_types[i];
        /* static singletons: one reference the module never gives up */
        Py_SET_TYPE(t, &PkDeviceType_Type);
        Py_SET_REFCNT(t, 1);
        t->v = i;
        if (PyModule_AddObjectRef(m, type_names[i], (PyObject *)t) < 0 ||
            PyDict_SetItemString(PkDeviceType_Type.tp_dict, type_names[i],
                                 (PyObject *)t) < 0) {
            return -1;
        }
    }
    PyType_Modified(&PkDeviceType_Type);
    if (PyModule_AddFunctions(m, device_functions) < 0) {
        return -1;
    }
    if (add_submodule(m, &metal_module, "metal") < 0 ||
        add_submodule(m, &cuda_module, "cuda") < 0) {
        return -1;
    }
    return 0;
}

/*
 * pykiln.h - what the files of the Python extension kiln._kiln share.
 *
 * The extension is written against include/kiln.h only (DESIGN.md 7): a
 * need for an internal header means the public API is missing something.
 *
 * Invariants:
 * - Every kiln_array a PkArray holds is its own reference (released in
 *   dealloc). The extension never opens kiln scopes: arrays returned by
 *   kiln functions are plain new references, owned by whoever wraps them.
 * - A kiln call that fails (NULL or a status) turns into a Python exception
 *   with pk_raise(), which maps the status to the exception type and
 *   clears the kiln error. Python errors are never left pending across a
 *   successful return, and kiln errors never outlive the call.
 * - No input from Python may crash the interpreter: every conversion
 *   checks types, ranges and overflow and raises instead.
 * - Evaluation (kiln_eval, kiln_array_eval, kiln_array_data) runs with
 *   the GIL held. The core lets one thread at a time build or evaluate a
 *   graph (src/core/array.h); were the GIL released, another Python
 *   thread could build on, or evaluate, an array that this evaluation is
 *   turning from pending into evaluated, and crash the process
 *   (tests/python/test_robustness.py, batch "threads"). kiln's thread
 *   pool still runs the kernels in parallel.
 */
#ifndef PYKILN_H
#define PYKILN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <kiln.h>

/* ------------------------------------------------------------------ */
/* arrays (array.c)                                                   */
/* ------------------------------------------------------------------ */

typedef struct PkArray {
    PyObject_HEAD
    kiln_array *a; /* owned; never NULL once constructed */
    PyObject *weakrefs;
} PkArray;

extern PyTypeObject PkArray_Type;

#define PkArray_Check(o) PyObject_TypeCheck((o), &PkArray_Type)

/* Wraps a new reference in a kiln.array (stealing it). a == NULL: raises
 * the pending kiln error and returns NULL. */
PyObject *pk_wrap(kiln_array *a);

/* ------------------------------------------------------------------ */
/* conversion (convert.c)                                             */
/* ------------------------------------------------------------------ */

/* A new kiln array from any Python value MLX's array() accepts: a
 * kiln.array (retained, cast when dt given), bool/int/float scalars,
 * nested lists and tuples, numpy arrays and numpy scalars, anything with
 * the buffer protocol. dt < 0 infers the dtype as MLX does (bool, int32,
 * float32; numpy dtypes kept except float64, which becomes float32).
 * NULL with a Python exception on failure. */
kiln_array *pk_to_array(PyObject *o, int dt);

/* An operand of an op: kiln.array (retained), Python bool/int/float and
 * NumPy scalars or 0-d arrays of those kinds as weak scalars (MLX's weak
 * typing), anything else as pk_to_array(o, -1).
 * NULL with a Python exception on failure. */
kiln_array *pk_operand(PyObject *o);

/* The nested-list form of a (tolist()); a Python scalar for 0-d. */
PyObject *pk_tolist(kiln_array *a);
/* The one element of a as a Python bool/int/float (item()). */
PyObject *pk_item(kiln_array *a);
/* pk_operand for an operand paired with an array of dtype `like`: a
 * Python int that does not fit a narrow integer `like` (int8 ... int32,
 * uint8 ... uint32) raises ValueError, as MLX does. */
kiln_array *pk_convert_operand(PyObject *o, kiln_dtype like);
/* repr(x) as MLX prints it: array([1, 2], dtype=int32). */
PyObject *pk_convert_repr(kiln_array *a);

/* The parts of the kiln.array type in number.c, index.c (x[key]) and
 * index_set.c (x[key] = v, x.at, the ArrayAt type). */
extern PyNumberMethods pk_number_methods;
PyObject *pk_number_richcompare(PyObject *a, PyObject *b, int op);
Py_hash_t pk_number_hash(PyObject *o);
PyObject *pk_index_get(PkArray *self, PyObject *key);     /* x[key] */
int pk_index_set(PkArray *self, PyObject *key, PyObject *v);
PyObject *pk_index_at(PkArray *self);                     /* x.at */
int pk_index_init(PyObject *m);

/* ------------------------------------------------------------------ */
/* errors, dtypes, argument helpers (module.c)                        */
/* ------------------------------------------------------------------ */

/* Sets the Python exception for the pending kiln error (ValueError,
 * TypeError, IndexError, MemoryError, RuntimeError; NotImplementedError
 * never) and clears it; returns NULL. With no kiln error pending it raises
 * RuntimeError("unknown error") so a NULL return always has a reason. */
PyObject *pk_raise(void);
/* Same for a status-returning call: 0 when st is KILN_OK, else -1 with
 * the exception set. */
int pk_check(kiln_status st);

/* Guards a call of a Python function from inside a kiln call (a compiled
 * or transformed function's body): each nesting level costs kiln several
 * kilobytes of C stack, so nesting is capped at PK_MAX_NEST whatever
 * Python's recursion limit is. pk_nest_enter is 0, or -1 with
 * RecursionError; every 0 is matched by one pk_nest_leave. Per thread. */
enum { PK_MAX_NEST = 200 };
int pk_nest_enter(void);
void pk_nest_leave(void);

/* kiln.Dtype objects: one per kiln_dtype, kiln.float32 etc. */
typedef struct PkDtype {
    PyObject_HEAD
    kiln_dtype dt;
} PkDtype;
extern PyTypeObject PkDtype_Type;
/* Borrowed reference to the singleton for dt. */
PyObject *pk_dtype_obj(kiln_dtype dt);
/* A kiln.Dtype (or None when allow_none: *out = -1) to a dtype; -1 with
 * TypeError otherwise. Usable as an "O&" converter via pk_conv_dtype. */
int pk_dtype_from(PyObject *o, int *out, int allow_none);
int pk_conv_dtype(PyObject *o, void *out);      /* int *; None -> -1 */

/* Axes: None (all, *naxes = -1), an int, or a sequence of ints; at most
 * KILN_MAX_NDIM. 0 / -1 with TypeError or ValueError. */
int pk_axes(PyObject *o, int *axes, int *naxes);
/* A shape: an int or a sequence of ints (each >= -1 when allow_neg1 for
 * reshape, else >= 0). 0 / -1 with an exception. */
int pk_shape(PyObject *o, int64_t *shape, int *ndim, int allow_neg1);
/* Whether o is a NumPy array with at least one axis (a sequence, though
 * it has __index__ too); no exception. */
bool pk_np_vector(PyObject *o);
/* A Python int that fits an int (axes, counts); -1 with an exception. */
int pk_int(PyObject *o, int *out);

/* The module object kiln._kiln (borrowed; set at import). Array methods
 * that mirror module functions (x.sum(...) is kiln.sum(x, ...)) look the
 * function up here when called. */
extern PyObject *pk_module;

/* ------------------------------------------------------------------ */
/* trees (tree.c)                                                     */
/* ------------------------------------------------------------------ */

/* A tree is a nest of lists, tuples (namedtuples keep their type) and
 * dicts (insertion order) whose leaves are kiln.arrays or other values.
 *
 * pk_tree_flatten appends the kiln.array leaves, in depth-first order, to
 * `leaves` (a Python list) and returns a new reference to a treedef: an
 * opaque Python object describing the structure with every non-array leaf
 * kept in it. With `strict`, a non-array leaf must be int, float, bool,
 * str or None, else ValueError naming its type and `what` (e.g.
 * "[compile] function arguments"). NULL with an exception on failure. */
PyObject *pk_tree_flatten(PyObject *tree, PyObject *leaves, int strict,
                          const char *what);
/* The tree of `treedef` with its array leaves taken in order from
 * `leaves` (a sequence of kiln.arrays or other objects; its length must
 * be pk_tree_count(treedef)). New reference, NULL with an exception. */
PyObject *pk_tree_unflatten(PyObject *treedef, PyObject *leaves);
/* The number of array leaves of a treedef. */
Py_ssize_t pk_tree_count(PyObject *treedef);
/* Appends to `key` (a bytearray) bytes that identify the treedef: its
 * structure, container types and the values of its non-array leaves;
 * equal bytes mean equal trees (for compile's cache key). 0 or -1. */
int pk_tree_key(PyObject *treedef, PyObject *key);
/* Appends every kiln.array leaf of a tree to `out` (a Python list); other
 * leaves are skipped. 0, or -1 with an exception. */
int pk_tree_arrays(PyObject *tree, PyObject *out);

/* ------------------------------------------------------------------ */
/* helpers of the shape ops (ops_shape.c)                             */
/* ------------------------------------------------------------------ */

/* Raises the pending kiln error (pk_raise: a bad axis is an IndexError,
 * as in MLX 0.32). NULL. */
PyObject *pk_ops_shape_fail(void);
/* x[lo:hi] along axis ax (Python bounds), every other axis whole; when
 * `sized`, the bounds came from the axis length (kiln_slice_sized). A new
 * reference, or NULL with a kiln error. */
kiln_array *pk_ops_shape_cut(kiln_array *x, int ax, int64_t lo, int64_t hi,
                             bool sized);
/* pk_wrap(y), or pk_ops_shape_fail() when y is NULL. */
PyObject *pk_ops_shape_wrap(kiln_array *y);
/* A new Python list of the arrays of l, which it frees; l == NULL:
 * pk_ops_shape_fail(). */
PyObject *pk_ops_shape_list(kiln_list *l);
/* pk_to_array(item, -1) of every item of a list or tuple, in a PyMem
 * buffer of *n new references (free with pk_ops_shape_free); NULL with
 * TypeError for other containers. */
kiln_array **pk_ops_shape_arrays(PyObject *seq, int *n);
void pk_ops_shape_free(kiln_array **xs, int n);
/* A Python int (not bool) as int64; -1 with an exception. */
int pk_ops_shape_i64(PyObject *o, int64_t *out);
/* axis normalised against nd (>= 0); -1 with IndexError naming fn. */
int pk_ops_shape_axis(int axis, int nd, const char *fn);
/* naxes axes of an nd-dim array normalised in place; -1 with IndexError
 * (out of range) or ValueError (repeated) naming fn. */
int pk_ops_shape_norm_axes(int *axes, int naxes, int nd, const char *fn);
/* The float dtype a float-valued op gives x's values (float32 for
 * integers and bool). */
static inline kiln_dtype pk_float_dtype(kiln_dtype dt)
{
    return kiln_dtype_is_float(dt) ? dt : KILN_DTYPE_FLOAT32;
}
/* An axis that may be None (*flat = true: the flattened array). */
int pk_ops_shape_opt_axis(PyObject *o, int *axis, bool *flat);

/* A PyMethodDef's function and flags for a (self, args, kwargs) C
 * function. */
#define PK_FN(f) (PyCFunction)(void (*)(void))(f)
#define PK_KW METH_VARARGS | METH_KEYWORDS
#define PK_KWFN(f) PK_FN(f), PK_KW

/* Module sections: each adds its functions and types to the module. */
int pk_init_array(PyObject *m);
int pk_init_ops(PyObject *m);
/* NumPy-style aliases (acos, pow, ...): after every other init. */
int pk_init_aliases(PyObject *m);
/* NumPy-style composites and kiln.linalg (ops_numpy.c). */
int pk_init_ops_numpy(PyObject *m);
/* einsum (einsum.c); kiln.linalg (linalg.c). */
int pk_init_einsum(PyObject *m);
int pk_init_linalg(PyObject *m);
/* save, load, savez, savez_compressed (io.c). */
int pk_init_io(PyObject *m);
/* conv1d, conv2d (conv.c). */
int pk_init_conv(PyObject *m);
int pk_init_ops_reduce(PyObject *m); /* called by pk_init_ops */
int pk_init_ops_shape(PyObject *m);
int pk_init_ops_layout(PyObject *m); /* called by pk_init_ops_shape */
int pk_init_ops_index(PyObject *m); /* called by pk_init_ops_shape */
int pk_init_dtype_info(PyObject *m); /* called by pk_init_ops_shape */
int pk_init_compile(PyObject *m);
int pk_init_transforms(PyObject *m);
int pk_init_random(PyObject *m);
int pk_init_device(PyObject *m);
int pk_init_eval(PyObject *m);

#endif

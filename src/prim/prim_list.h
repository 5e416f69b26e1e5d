/*
 * prim_list.h - every primitive, one line each: X(name) declares
 * `const kiln_prim kiln__prim_<name>`, defined in its family file. Included
 * with KILN_X_ defined; generates the registry (registry.c) and the
 * extern declarations (prim.h). Keep each family's lines in its section.
 */

/* unary.c */
KILN_X_(abs)
KILN_X_(negative)
KILN_X_(sign)
KILN_X_(square)
KILN_X_(sqrt)
KILN_X_(rsqrt)
KILN_X_(reciprocal)
KILN_X_(exp)
KILN_X_(expm1)
KILN_X_(log)
KILN_X_(log1p)
KILN_X_(log2)
KILN_X_(log10)
KILN_X_(sin)
KILN_X_(cos)
KILN_X_(tan)
KILN_X_(arcsin)
KILN_X_(arccos)
KILN_X_(arctan)
KILN_X_(sinh)
KILN_X_(cosh)
KILN_X_(tanh)
KILN_X_(arcsinh)
KILN_X_(arccosh)
KILN_X_(arctanh)
KILN_X_(sigmoid)
KILN_X_(erf)
KILN_X_(erfinv)
KILN_X_(floor)
KILN_X_(ceil)
KILN_X_(round)
KILN_X_(logical_not)
KILN_X_(bitwise_invert)
KILN_X_(isnan)
KILN_X_(isinf)
KILN_X_(isfinite)
KILN_X_(isposinf)
KILN_X_(isneginf)
KILN_X_(stop_gradient)
KILN_X_(astype)

/* binary.c */
KILN_X_(add)
KILN_X_(subtract)
KILN_X_(multiply)
KILN_X_(divide)
KILN_X_(floor_divide)
KILN_X_(remainder)
KILN_X_(power)
KILN_X_(maximum)
KILN_X_(minimum)
KILN_X_(equal)
KILN_X_(not_equal)
KILN_X_(less)
KILN_X_(less_equal)
KILN_X_(greater)
KILN_X_(greater_equal)
KILN_X_(logical_and)
KILN_X_(logical_or)
KILN_X_(bitwise_and)
KILN_X_(bitwise_or)
KILN_X_(bitwise_xor)
KILN_X_(left_shift)
KILN_X_(right_shift)
KILN_X_(arctan2)
KILN_X_(logaddexp)
KILN_X_(where)

/* reduce.c (reductions and scans) */
KILN_X_(sum)
KILN_X_(prod)
KILN_X_(max)
KILN_X_(min)
KILN_X_(all)
KILN_X_(any)
KILN_X_(argmax)
KILN_X_(argmin)
KILN_X_(cumsum)
KILN_X_(cumprod)
KILN_X_(cummax)
KILN_X_(cummin)
KILN_X_(number_of_elements)

/* movement.c (views) and movement_copy.c (copies) */
KILN_X_(reshape)
KILN_X_(transpose)
KILN_X_(expand_dims)
KILN_X_(squeeze)
KILN_X_(slice)
KILN_X_(broadcast_to)
KILN_X_(broadcast_like)
KILN_X_(slice_update)
KILN_X_(concatenate)
KILN_X_(pad)

/* index.c (gather, scatter, sort) */
KILN_X_(take)
KILN_X_(take_along_axis)
KILN_X_(sort)
KILN_X_(argsort)
KILN_X_(topk)

/* matmul.c */
KILN_X_(matmul)
KILN_X_(addmm)

/* random.c */
KILN_X_(random_bits)

/* creation.c (arange and friends) */
KILN_X_(arange)
KILN_X_(linspace)
KILN_X_(eye)

/* compiled.c (a fused region of a compiled graph) */
KILN_X_(fused)

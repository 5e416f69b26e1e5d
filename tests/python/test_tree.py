"""Trees (python/src/tree.c) through the private helpers kiln._kiln
exposes for tests: flatten, unflatten, key bytes and the array walk."""
import collections

import numpy as np
import pytest

import kiln
from kiln import _kiln

flatten = _kiln._tree_flatten
unflatten = _kiln._tree_unflatten
key = _kiln._tree_key
arrays = _kiln._tree_arrays

Point = collections.namedtuple("Point", ["x", "y"])


class Pair(tuple):
    pass


class MyDict(dict):
    pass


def arr(v):
    return kiln.array(v)


def test_flatten_order_and_count():
    a, b, c = arr(1.0), arr(2.0), arr(3.0)
    tree = [a, (b, 1, "s"), {"k": c, "n": None}]
    leaves, d = flatten(tree)
    assert [id(x) for x in leaves] == [id(a), id(b), id(c)]
    back = unflatten(d, leaves)
    assert isinstance(back, list) and isinstance(back[1], tuple)
    assert back[0] is a and back[1][0] is b and back[2]["k"] is c
    assert back[1][1:] == (1, "s") and back[2]["n"] is None


def test_unflatten_with_new_leaves():
    tree = {"w": arr(1.0), "b": [arr(2.0), 3]}
    leaves, d = flatten(tree)
    back = unflatten(d, ["X", "Y"])
    assert back == {"w": "X", "b": ["Y", 3]}
    assert list(back) == ["w", "b"]


def test_single_leaf_and_empty():
    a = arr([1, 2])
    leaves, d = flatten(a)
    assert len(leaves) == 1 and leaves[0] is a
    assert unflatten(d, [5]) == 5
    leaves, d = flatten([])
    assert leaves == [] and unflatten(d, []) == []
    leaves, d = flatten(7)
    assert leaves == [] and unflatten(d, []) == 7


def test_namedtuple_and_tuple_subclass_kept():
    p = Point(arr(1.0), 2)
    leaves, d = flatten([p, Pair((arr(3.0), 4))])
    back = unflatten(d, ["a", "b"])
    assert type(back[0]) is Point and back[0] == Point("a", 2)
    assert type(back[1]) is Pair and tuple(back[1]) == ("b", 4)


def test_subclasses_of_list_and_dict_become_plain():
    leaves, d = flatten(MyDict(a=arr(1.0)))
    back = unflatten(d, ["z"])
    assert type(back) is dict and back == {"a": "z"}


def test_strict_rejects_other_leaves():
    with pytest.raises(ValueError, match="received type object"):
        flatten([arr(1.0), object()], True)
    with pytest.raises(ValueError, match="numpy.ndarray"):
        flatten({"a": np.ones(2)}, True)
    for ok in (1, 2.5, True, "s", None, [1, (2, {"a": None})]):
        flatten(ok, True)
    # non-strict keeps any leaf
    o = object()
    leaves, d = flatten([o, arr(1.0)])
    assert unflatten(d, [0])[0] is o


def test_unflatten_count_mismatch():
    leaves, d = flatten([arr(1.0), arr(2.0)])
    with pytest.raises(ValueError):
        unflatten(d, [1])
    with pytest.raises(ValueError):
        unflatten(d, [1, 2, 3])
    with pytest.raises(TypeError):
        unflatten("nope", [])


def test_recursive_tree_raises():
    a = [arr(1.0)]
    a.append(a)
    with pytest.raises(RecursionError):
        flatten(a)
    with pytest.raises(RecursionError):
        arrays(a)


def k(tree):
    return key(flatten(tree)[1])


def test_key_equal_for_equal_structure():
    assert k([arr(1.0), 2, "s"]) == k([arr(5.0), 2, "s"])
    assert k({"a": arr(1.0)}) == k({"a": arr([1, 2])})
    assert k(Point(1, arr(1))) == k(Point(1, arr(2)))


@pytest.mark.parametrize("a,b", [
    ([arr(1.0)], (arr(1.0),)),
    ([arr(1.0), 1], [arr(1.0), 2]),
    ([1], [True]),
    ([1], [1.0]),
    ([0.0], [-0.0]),
    (["a"], ["b"]),
    ([None], [0]),
    ({"a": arr(1)}, {"b": arr(1)}),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ([[arr(1)], arr(1)], [arr(1), [arr(1)]]),
    ([arr(1), [arr(1)]], [arr(1), [arr(1)], []]),
    (Point(1, 2), (1, 2)),
    ([2 ** 70], [2 ** 70 + 1]),
    ([1], ["1"]),
    ({1: arr(1)}, {"1": arr(1)}),
])
def test_key_differs(a, b):
    assert k(a) != k(b)


def test_key_big_ints_and_surrogates():
    assert k([2 ** 80]) == k([2 ** 80])
    assert k(["\udcff"]) == k(["\udcff"])
    assert k(["\udcff"]) != k(["\udcfe"])


def test_arrays_walks_live_tree():
    a, b, c = arr(1.0), arr(2.0), arr(3.0)
    out = arrays([a, {"x": (b, 1)}, "s", None, [c]])
    assert [id(x) for x in out] == [id(a), id(b), id(c)]
    assert arrays(5) == []
    one = arrays(a)
    assert len(one) == 1 and one[0] is a

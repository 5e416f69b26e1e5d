"""conv1d and conv2d (conv.c) against a direct NumPy loop."""
import numpy as np
import pytest

import kiln as mx


def ref_conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
               groups=1):
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    xp = np.pad(x, [(0, 0), (padding[0],) * 2, (padding[1],) * 2, (0, 0)])
    ho = (xp.shape[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[2] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, ho, wo, o), np.float64)
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, i * dilation[0]:
                           i * dilation[0] + (ho - 1) * stride[0] + 1:
                           stride[0],
                           j * dilation[1]:
                           j * dilation[1] + (wo - 1) * stride[1] + 1:
                           stride[1], g * cg:(g + 1) * cg]
                y[..., oc] += patch @ w[oc, i, j].astype(np.float64)
    return y


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


CASES = [((1, 5, 5, 2), (4, 3, 3, 2), {}),
         ((2, 7, 6, 3), (5, 3, 2, 3), dict(stride=2, padding=1)),
         ((1, 8, 8, 4), (6, 3, 3, 2), dict(groups=2)),
         ((2, 9, 9, 2), (3, 3, 3, 2),
          dict(dilation=2, padding=(1, 2), stride=(2, 1))),
         ((1, 4, 4, 1), (1, 1, 1, 1), {})]


@pytest.mark.parametrize("xs,ws,kw", CASES)
def test_conv2d(xs, ws, kw):
    rng = np.random.default_rng(len(xs) + ws[0])
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    want = ref_conv2d(x, w, pair(kw.get("stride", 1)),
                      pair(kw.get("padding", 0)),
                      pair(kw.get("dilation", 1)), kw.get("groups", 1))
    got = mx.conv2d(mx.array(x), mx.array(w), **kw)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4)


def test_conv1d_grad_compile_and_errors():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3)).astype(np.float32)
    want = ref_conv2d(x[:, None], w[:, None], (1, 2), (0, 1), (1, 2))[:, 0]
    got = mx.conv1d(mx.array(x), mx.array(w), stride=2, padding=1,
                    dilation=2)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4)
    cf = mx.compile(lambda a, b: mx.conv1d(a, b, stride=2, padding=1,
                                           dilation=2))
    np.testing.assert_allclose(np.array(cf(mx.array(x), mx.array(w))),
                               want, rtol=1e-4, atol=1e-4)
    # the gradient of sum(conv) by the weight: each tap sums its inputs
    g = mx.grad(lambda b: mx.conv2d(mx.array(x[:, None]), b).sum())(
        mx.array(w[:, None]))
    xs = x.sum(0)  # (7, 3): sum over the batch
    tap = np.stack([xs[k:k + 5].sum(0) for k in range(3)])  # (3, 3)
    np.testing.assert_allclose(np.array(g), np.broadcast_to(
        tap[None, None], (5, 1, 3, 3)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError):
        mx.conv2d(mx.ones((1, 4, 4, 3)), mx.ones((2, 3, 3, 2)))  # channels
    with pytest.raises(ValueError):
        mx.conv2d(mx.ones((1, 4, 4, 4)), mx.ones((3, 3, 3, 2)), groups=2)
    with pytest.raises(ValueError):
        mx.conv2d(mx.ones((1, 2, 2, 1)), mx.ones((1, 3, 3, 1)))  # too big
    with pytest.raises(ValueError):
        mx.conv2d(mx.ones((1, 4, 4, 1), dtype=mx.int32),
                  mx.ones((1, 3, 3, 1), dtype=mx.int32))
    with pytest.raises(ValueError):
        mx.conv1d(mx.ones((4, 1)), mx.ones((1, 3, 1)))  # rank
    with pytest.raises(ValueError):
        mx.conv2d(mx.ones((1, 4, 4, 1)), mx.ones((1, 3, 3, 1)), stride=0)
    with pytest.raises(TypeError):
        mx.conv2d(mx.ones((1, 4, 4, 1)), mx.ones((1, 3, 3, 1)), stride="1")

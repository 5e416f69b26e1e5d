#!/usr/bin/env python3
"""
fit_erf.py - the coefficients of kiln_verff (src/backend/cpu/vmath.h).

erf(x) = x (1/4 + P(z)/Q(z)), z = x^2, |x| clamped to C = 3.92, P of
degree M, Q of degree N. Steps:
 1. Sanathanan-Koerner linearised least squares for a start, then rational
    Remez (equioscillation at M+N+2 points, the linear system solved in
    40-digit mpmath) for the minimax relative error of erf, i.e. of
    P/Q ~ erf(x)/x - 1/4 weighted by x/erf(x). Q(0) = 1.
 2. P and Q scaled together by the factor (of 8 tried) that gives the
    smallest float error, rounded to float.
 3. Coordinate descent: each coefficient moved by up to 3 ulps while the
    largest error of the float evaluation (simulated in numpy: fma as the
    double sum rounded to float, close enough to choose coefficients) on
    300k random floats in (1e-3, C) goes down.
Prints the C statements. The clamp and the final measure are separate:
the clamp is the first float from 3.92 on where the evaluation gives
exactly 1, and bench/vmath_err.c --stride 1 --only erff measures the
error over every float.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install numpy scipy mpmath
    /tmp/v/bin/python tools/fit_erf.py [M N]       # default 5 6, ~1 min
"""
import sys

import mpmath as mp
import numpy as np
from scipy.special import erf

mp.mp.dps = 40
F = np.float32
C, C1 = 3.92, 0.25


def g_np(s, zmax):
    """erf(a)/a at a = sqrt(s zmax), s in [0, 1]."""
    a = np.maximum(np.sqrt(s * zmax), 1e-300)
    return np.where(a > 1e-8, erf(a) / a, 2 / np.sqrt(np.pi))


def g_mp(s, zmax):
    a = mp.sqrt(mp.mpf(s) * zmax)
    return 2 / mp.sqrt(mp.pi) if a == 0 else mp.erf(a) / a


def ev(c, s):
    return np.polyval(np.asarray(c)[::-1], s)


def extrema(e, k):
    """Indices of k alternating extrema of e."""
    idx, start, sg = [], 0, np.sign(e)
    for i in range(1, len(e) + 1):
        if i == len(e) or sg[i] != sg[start]:
            idx.append(start + int(np.argmax(np.abs(e[start:i]))))
            start = i
    while len(idx) > k:
        v = [abs(e[j]) for j in idx]
        if len(idx) - k == 1:
            idx.pop(0 if v[0] < v[-1] else -1)
            continue
        i = int(np.argmin([min(v[i], v[i + 1]) for i in range(len(v) - 1)]))
        del idx[i:i + 2]
    return idx


def remez(m, n):
    """Minimax P/Q ~ h = g - C1 weighted by 1/g, in s = z/C^2."""
    zmax = C * C
    s = np.unique(np.concatenate([np.linspace(0, 1, 100000) ** 2,
                                  np.linspace(0, 1, 100000)]))
    g = g_np(s, zmax)
    h = g - C1
    vp, vq = np.vander(s, m + 1, True), np.vander(s, n + 1, True)
    qs = np.ones_like(s)
    for _ in range(30):  # Sanathanan-Koerner
        w = 1 / (g * qs)
        a = np.hstack([vp, -h[:, None] * vq[:, 1:]]) * w[:, None]
        cn = np.linalg.norm(a, axis=0)
        x = np.linalg.lstsq(a / cn, h * w, rcond=None)[0] / cn
        p, q = x[:m + 1], np.concatenate([[1.0], x[m + 1:]])
        qs = vq @ q
    k = m + n + 2
    last = None
    for _ in range(40):
        e = (ev(p, s) / ev(q, s) - h) / g
        emax = np.max(np.abs(e))
        idx = extrema(e, k)
        if len(idx) < k or (last and abs(emax - last) < 1e-5 * emax):
            break
        last = emax
        xs = [mp.mpf(float(s[j])) for j in idx]
        gs = [g_mp(v, zmax) for v in xs]
        qv, big_e = [mp.mpf(1)] * k, mp.mpf(0)
        for _ in range(40):  # P - hQ = (-1)^i E g Q, E's Q from last pass
            a, b = mp.matrix(k, k), mp.matrix(k, 1)
            for i, v in enumerate(xs):
                for j in range(m + 1):
                    a[i, j] = v ** j
                for j in range(1, n + 1):
                    a[i, m + j] = -(gs[i] - C1) * v ** j
                a[i, k - 1] = -(-1) ** i * gs[i] * qv[i]
                b[i] = gs[i] - C1
            x = mp.lu_solve(a, b)
            pm = [x[j] for j in range(m + 1)]
            qm = [mp.mpf(1)] + [x[m + j] for j in range(1, n + 1)]
            qv = [mp.polyval(qm[::-1], v) for v in xs]
            done = abs(x[k - 1] - big_e) < 1e-8 * abs(x[k - 1])
            big_e = x[k - 1]
            if done:
                break
        p = np.array([float(v) for v in pm])
        q = np.array([float(v) for v in qm])
    e = (ev(p, s) / ev(q, s) - h) / g
    sc = zmax ** np.arange(max(m, n) + 1)
    return np.max(np.abs(e)), p / sc[:m + 1], q / sc[:n + 1]


def fma(a, b, c):
    return (a.astype(np.float64) * b + c).astype(F)


def horner(cs, t):
    r = np.full_like(t, F(cs[-1]))
    for c in cs[-2::-1]:
        r = fma(r, t, np.float64(F(c)))
    return r


def err_ulp(pc, qc, x):
    """Largest error in ulps of the float evaluation over x."""
    z = (x * x).astype(F)
    r = (horner(pc, z) / horner(qc, z)).astype(F)
    y = fma(x, r, (x * F(C1)).astype(np.float64))
    ref = erf(x.astype(np.float64))
    ulp = np.ldexp(1.0, np.frexp(ref)[1] - 24)
    return np.max(np.abs(y - ref) / ulp)


def step(v, k):
    for _ in range(abs(k)):
        v = np.nextafter(v, F(np.inf) if k > 0 else F(-np.inf))
    return v


def main():
    m, n = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (5, 6)
    emax, pz, qz = remez(m, n)
    rng = np.random.default_rng(1)
    bits = rng.integers(F(1e-3).view(np.uint32), F(C).view(np.uint32), 300000)
    x = bits.astype(np.uint32).view(F)
    best = None
    for lam in [2.0 ** (i / 8) for i in range(8)]:
        cs = list((pz * lam).astype(F)) + list((qz * lam).astype(F))
        e = err_ulp(cs[:m + 1], cs[m + 1:], x)
        if best is None or e < best[0]:
            best = (e, cs)
    cur, cs = best
    print("/* fit error %.3g, rounded %.3f ulp */" % (emax, cur))
    for _ in range(10):
        better = False
        for i in range(len(cs)):
            for k in (-3, -2, -1, 1, 2, 3):
                t = list(cs)
                t[i] = step(t[i], k)
                e = err_ulp(t[:m + 1], t[m + 1:], x)
                if e < cur - 1e-4:
                    cur, cs, better = e, t, True
        if not better:
            break
    print("/* tuned: %.3f ulp on the sample */" % cur)

    def hx(v):
        return float(v).hex().replace("0000000p", "p") + "f"
    for name, c in (("p", cs[:m + 1]), ("q", cs[m + 1:])):
        print("    float %s = %s;" % (name, hx(c[-1])))
        for v in c[-2::-1]:
            print("    %s = kiln__vmath_fmaf(%s, z, %s);" % (name, name, hx(v)))


if __name__ == "__main__":
    main()

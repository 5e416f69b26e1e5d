/*
 * vmath.h - branch-free transcendental math for the CPU backend's
 * elementwise loops, float32 (suffix f) and float64 (suffix d).
 *
 * Every function here is a static inline scalar function written so that a
 * plain loop `for (i) y[i] = kiln_vexpf(x[i]);` vectorises under gcc 12 with
 * `-O3 -march=native -fno-math-errno` and without -ffast-math. The eager
 * loops and the JIT preamble both include this header, so an op computes the
 * same bits whichever path runs it.
 *
 * Invariants:
 * - No branches per element: range reduction uses arithmetic and bit
 *   manipulation through memcpy; cases are merged by selecting between
 *   values computed for every element, with the bit-blend select
 *   kiln__vmath_fsel/dsel rather than `?:` (see there why). No call into
 *   libm except sqrt (which gcc inlines as an instruction under
 *   -fno-math-errno) and, for the float64 functions listed as "libm" in
 *   docs/vmath.md, the libm function itself.
 * - No implicit FMA: under -std=c11 gcc does not contract a*b + c, so the
 *   scalar and vector code round identically. Where a fused multiply-add
 *   is wanted it is explicit, kiln__vmath_fmaf: the same single rounding
 *   with or without FMA hardware, so every build computes the same bits.
 * - NaN in gives NaN out. Infinities, signed zeros, overflow to inf and
 *   underflow follow C99 Annex F (libm) behaviour; subnormal results are
 *   produced (not flushed) with at most one extra rounding.
 * - Accuracy bounds and the domains where they hold are in docs/vmath.md and
 *   are checked by tests/c/test_vmath.c; bench/vmath_err.c remeasures them.
 * - Polynomial coefficients are our own minimax fits (Remez on a dense grid
 *   in 60-digit arithmetic), except erfinv (float32) which uses the published
 *   coefficients of M. Giles, "Approximating the erfinv function" (2010).
 *
 * Internal helpers are named kiln__vmath_*; nothing here has state.
 */
#ifndef KILN_VMATH_H
#define KILN_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * For the functions whose size makes gcc's inliner give up in a file of
 * many loops (unary_cpu.c): an out-of-line call stops the loop from
 * vectorising.
 */
#if defined(__GNUC__)
#define KILN__VMATH_INLINE static inline __attribute__((always_inline))
#else
#define KILN__VMATH_INLINE static inline
#endif

/* ------------------------------------------------------------------------ */
/* Bit access and exact scaling                                             */
/* ------------------------------------------------------------------------ */

static inline uint32_t kiln__vmath_fbits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float kiln__vmath_ffrom(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline uint64_t kiln__vmath_dbits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double kiln__vmath_dfrom(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/*
 * c ? a : b as a bit blend. A plain ?: whose arm is otherwise unused lets
 * gcc sink that arm's arithmetic under a branch, which if-conversion then
 * refuses to undo (the FP operations might trap without -ffast-math), and
 * the loop stays scalar. The blend keeps both arms live; gcc still emits a
 * single masked move or blend for it.
 */
static inline float kiln__vmath_fsel(int c, float a, float b)
{
    uint32_t m = (uint32_t)0 - (uint32_t)(c != 0);
    return kiln__vmath_ffrom((kiln__vmath_fbits(a) & m) |
                             (kiln__vmath_fbits(b) & ~m));
}

static inline double kiln__vmath_dsel(int c, double a, double b)
{
    uint64_t m = (uint64_t)0 - (uint64_t)(c != 0);
    return kiln__vmath_dfrom((kiln__vmath_dbits(a) & m) |
                             (kiln__vmath_dbits(b) & ~m));
}

static inline float kiln__vmath_fabs(float x)
{
    return kiln__vmath_ffrom(kiln__vmath_fbits(x) & 0x7fffffffu);
}

static inline double kiln__vmath_dabs(double x)
{
    return kiln__vmath_dfrom(kiln__vmath_dbits(x) & 0x7fffffffffffffffull);
}

/* |mag| with the sign of sgn. */
static inline float kiln__vmath_fcopysign(float mag, float sgn)
{
    return kiln__vmath_ffrom((kiln__vmath_fbits(mag) & 0x7fffffffu) |
                             (kiln__vmath_fbits(sgn) & 0x80000000u));
}

static inline double kiln__vmath_dcopysign(double mag, double sgn)
{
    return kiln__vmath_dfrom((kiln__vmath_dbits(mag) & 0x7fffffffffffffffull) |
                             (kiln__vmath_dbits(sgn) & 0x8000000000000000ull));
}

/*
 * a*b + c rounded once, as C's fmaf. Where the target has FMA (gcc
 * defines __FP_FAST_FMAF: x86 -mfma, which -march=native gives on any
 * machine since 2013, and aarch64) fmaf is one instruction that gcc
 * vectorises. Elsewhere fmaf is a libm call that stops vectorisation, so
 * the value is formed in double instead: a*b is exact there, the sum is
 * rounded to odd (its TwoSum error steps it toward zero when it was
 * rounded away, then sets the last bit when it was inexact), and rounding
 * that to float gives the correctly rounded a*b + c (53 >= 24 + 2 bits).
 * Infinite or NaN sums are returned as they are.
 */
KILN__VMATH_INLINE float kiln__vmath_fmaf_odd(float a, float b, float c)
{
    double p = (double)a * (double)b;
    double s = p + (double)c;
    double v = s - p;
    double e = (p - (s - v)) + ((double)c - v);
    uint64_t u = kiln__vmath_dbits(s);
    uint64_t away = (uint64_t)((e < 0.0) != (s < 0.0)) & (uint64_t)(e != 0.0);
    uint64_t odd = (u - away) | (uint64_t)(e != 0.0);
    u = kiln__vmath_dabs(s) < (double)INFINITY ? odd : u;
    return (float)kiln__vmath_dfrom(u);
}

KILN__VMATH_INLINE float kiln__vmath_fmaf(float a, float b, float c)
{
#ifdef __FP_FAST_FMAF
    return fmaf(a, b, c);
#else
    return kiln__vmath_fmaf_odd(a, b, c);
#endif
}

/* 2^n for n in [-126, 127]; other n give garbage, never a trap. */
static inline float kiln__vmath_fpow2(int32_t n)
{
    return kiln__vmath_ffrom((uint32_t)(n + 127) << 23);
}

/* 2^n for n in [-1022, 1023]. */
static inline double kiln__vmath_dpow2(int64_t n)
{
    return kiln__vmath_dfrom((uint64_t)(n + 1023) << 52);
}

/*
 * x * 2^n for n in [-252, 254] as two exact power-of-two factors, so that a
 * result that overflows becomes inf and one that lands in the subnormal
 * range is rounded once. floor(n/2) is taken with an unsigned shift (the
 * signed shift is implementation-defined and vectorises worse).
 */
static inline float kiln__vmath_fldexp(float x, int32_t n)
{
    int32_t h = (int32_t)((uint32_t)(n + 256) >> 1) - 128;
    return x * kiln__vmath_fpow2(h) * kiln__vmath_fpow2(n - h);
}

/* x * 2^n for n in [-2044, 2046]. */
static inline double kiln__vmath_dldexp(double x, int64_t n)
{
    int64_t h = (int64_t)((uint64_t)(n + 2048) >> 1) - 1024;
    return x * kiln__vmath_dpow2(h) * kiln__vmath_dpow2(n - h);
}

/* ------------------------------------------------------------------------ */
/* float32: exponentials                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Shared reduction: x = n*ln2 + r with |r| <= ln2/2 (plus rounding), and
 * returns p = expm1(r), so e^x = 2^n (1 + p). n = round(x/ln2) comes from
 * the 1.5*2^23 trick: its low mantissa bits are n + 2^22. ln2 is split
 * Cody-Waite style, ln2hi having 16 significant bits so n*ln2hi is exact
 * for |n| < 256 and x - n*ln2hi is exact (Sterbenz). Callers clamp x to
 * [-104, 90]. expm1(r) = r + r^2 q(r), q a degree-4 minimax fit for relative
 * error of expm1 on [-ln2/2, ln2/2] (fit error 1.3e-8).
 */
static inline float kiln__vmath_expm1f_red(float x, int32_t *n)
{
    const float shift = 0x1.8p23f;
    const float log2e = 0x1.715476p+0f;
    const float ln2hi = 0x1.62e4p-1f;
    const float ln2lo = 0x1.7f7d1cp-20f;
    float k = kiln__vmath_fmaf(x, log2e, shift);
    float kf = k - shift;
    float r = kiln__vmath_fmaf(kf, -ln2hi, x);
    r = kiln__vmath_fmaf(kf, -ln2lo, r);
    float q = 0x1.6bec08p-10f;
    q = kiln__vmath_fmaf(q, r, 0x1.122768p-7f);
    q = kiln__vmath_fmaf(q, r, 0x1.555674p-5f);
    q = kiln__vmath_fmaf(q, r, 0x1.5554b0p-3f);
    q = kiln__vmath_fmaf(q, r, 0x1.fffffep-2f);
    *n = (int32_t)(kiln__vmath_fbits(k) & 0x7fffffu) - 0x400000;
    return r + r * r * q;
}

/*
 * e^x. Max error 1 ulp (docs/vmath.md). x > 88.72 overflows to inf through
 * the scaling itself; x < -103.98 underflows to 0; subnormal results are
 * rounded once more by the scaling.
 */
static inline float kiln_vexpf(float x)
{
    int32_t n;
    float xc = kiln__vmath_fsel(x > 90.0f, 90.0f, x);
    xc = kiln__vmath_fsel(xc < -104.0f, -104.0f, xc);
    float p = kiln__vmath_expm1f_red(xc, &n);
    return kiln__vmath_fldexp(1.0f + p, n);
}

/*
 * e^x - 1, accurate to relative error near 0. For 2^n*(1+p) - 1 with small
 * n the sum t*p + (t - 1) adds two exact terms; for n > 24 the -1 is below
 * half an ulp of t*(1+p) anyway. x < -18 gives -1 (correctly rounded).
 */
static inline float kiln_vexpm1f(float x)
{
    int32_t n;
    float xc = kiln__vmath_fsel(x > 90.0f, 90.0f, x);
    xc = kiln__vmath_fsel(xc < -18.0f, -18.0f, xc);
    float p = kiln__vmath_expm1f_red(xc, &n);
    float t = kiln__vmath_fpow2(n);
    float ys = t * p + (t - 1.0f);
    float yb = kiln__vmath_fldexp(1.0f + p, n) - 1.0f;
    float y = kiln__vmath_fsel(n > 24, yb, ys);
    return kiln__vmath_fsel(x == 0.0f, x, y);
}

/*
 * sinh(x) = (E + E/(E+1))/2 with E = expm1(|x|): no cancellation at any x.
 * For |x| > 10, e^-|x| is below half an ulp and sinh = 2^(n-1) (1+p), which
 * stays finite up to the true overflow threshold 89.415.
 */
static inline float kiln_vsinhf(float x)
{
    int32_t n;
    float a = kiln__vmath_fabs(x);
    float ac = kiln__vmath_fsel(a > 90.0f, 90.0f, a);
    float p = kiln__vmath_expm1f_red(ac, &n);
    float t = kiln__vmath_fpow2(n);
    float em1 = t * p + (t - 1.0f);
    float ys = 0.5f * (em1 + em1 / (em1 + 1.0f));
    float yb = kiln__vmath_fldexp(1.0f + p, n - 1);
    float y = kiln__vmath_fsel(a > 10.0f, yb, ys);
    return kiln__vmath_fcopysign(y, x);
}

/* cosh(x) = E/2 + 1/(2E), E = e^|x|; for |x| > 10 just E/2. */
static inline float kiln_vcoshf(float x)
{
    int32_t n;
    float a = kiln__vmath_fabs(x);
    float ac = kiln__vmath_fsel(a > 90.0f, 90.0f, a);
    float p = kiln__vmath_expm1f_red(ac, &n);
    float e = kiln__vmath_fpow2(n) * (1.0f + p);
    float ys = 0.5f * e + 0.5f / e;
    float yb = kiln__vmath_fldexp(1.0f + p, n - 1);
    return kiln__vmath_fsel(a > 10.0f, yb, ys);
}

/*
 * tanh(x) = E/(E + 2), E = expm1(2|x|), for |x| >= 0.625; |x| is clamped to
 * 10, where tanh already rounds to 1, so inf gives +-1 and no inf/inf
 * appears. Below 0.625, where that quotient collects up to 3 ulp,
 * tanh = a + a z P(z), z = a^2, P a degree-4 minimax fit (relative fit error
 * 4.4e-9).
 */
static inline float kiln_vtanhf(float x)
{
    int32_t n;
    float a = kiln__vmath_fabs(x);
    float ac = kiln__vmath_fsel(a > 10.0f, 10.0f, a);
    float p = kiln__vmath_expm1f_red(2.0f * ac, &n);
    float t = kiln__vmath_fpow2(n);
    float em1 = t * p + (t - 1.0f);
    float yb = em1 / (em1 + 2.0f);
    float z = a * a;
    float q =
        -0x1.555532p-2f +
        z * (0x1.110726p-3f + z * (-0x1.b83c5ap-5f +
                                   z * (0x1.52269cp-6f + z * -0x1.75e1cep-8f)));
    float y = kiln__vmath_fsel(a < 0.625f, a + a * z * q, yb);
    return kiln__vmath_fcopysign(y, x);
}

/*
 * 1/(1 + e^-x), computed from E = e^-|x| (never overflows) as 1/(1+E) for
 * x >= 0 and E/(1+E) for x < 0, so large negative x keeps full relative
 * accuracy down to the subnormal range instead of rounding 1+E.
 */
static inline float kiln_vsigmoidf(float x)
{
    float e = kiln_vexpf(-kiln__vmath_fabs(x));
    float num = kiln__vmath_fsel(x < 0.0f, e, 1.0f);
    return num / (1.0f + e);
}

/* ------------------------------------------------------------------------ */
/* float32: logarithms                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Shared reduction for positive normal finite u: u = 2^e (1 + f) with
 * 1 + f in [sqrt(1/2), sqrt(2)) (f exact, Sterbenz). With s = f/(2+f),
 * log1p(f) = 2 atanh(s) = f - hfsq + s (hfsq + R(s^2)), hfsq = f^2/2; R is
 * a degree-3 minimax fit (fit error 8e-10) on s^2 <= 0.0295. Returns f; sets
 * e, *hfsq and *t = s (hfsq + R), so log1p(f) = f - (hfsq - t).
 */
static inline float kiln__vmath_logf_red(float u, int32_t *e, float *hfsq,
                                         float *t)
{
    uint32_t iu = kiln__vmath_fbits(u) + (0x3f800000u - 0x3f3504f3u);
    float m = kiln__vmath_ffrom((iu & 0x7fffffu) + 0x3f3504f3u);
    float f = m - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float r = z * (0x1.55557ap-1f + z * (0x1.995ebap-2f + z * 0x1.31e2f2p-2f));
    *e = (int32_t)(iu >> 23) - 127;
    *hfsq = 0.5f * f * f;
    *t = s * (*hfsq + r);
    return f;
}

/* log(u) + c + k*ln2 for u positive normal finite, c a small correction. */
static inline float kiln__vmath_logf_core(float u, float c, int32_t k)
{
    const float ln2hi = 0x1.62e4p-1f;
    const float ln2lo = 0x1.7f7d1cp-20f;
    int32_t e;
    float hfsq, t;
    float f = kiln__vmath_logf_red(u, &e, &hfsq, &t);
    float ef = (float)(e + k);
    return ef * ln2hi + (f - (hfsq - (t + (ef * ln2lo + c))));
}

/* log1p(a) = log(u) + c for u = 1 + a rounded: the exact rounding error of
 * the sum, divided by u. */
static inline float kiln__vmath_log1pf_corr(float a, float u)
{
    float c = kiln__vmath_fsel(a < 1.0f, a - (u - 1.0f), 1.0f - (u - a));
    return c / u;
}

/* Natural log. Subnormal x is scaled by 2^23 first. */
static inline float kiln_vlogf(float x)
{
    float xs = kiln__vmath_fsel(x < 0x1p-126f, x * 0x1p23f, x);
    float y = kiln__vmath_logf_core(xs, 0.0f, -23 * (x < 0x1p-126f));
    y = kiln__vmath_fsel(x < 0.0f, NAN, y);
    y = kiln__vmath_fsel(x == 0.0f, -INFINITY, y);
    return kiln__vmath_fsel(!(x < INFINITY), x + x, y);
}

/* log(1 + x) without losing the low bits of x to the rounding of 1 + x. */
static inline float kiln_vlog1pf(float x)
{
    float u = 1.0f + x;
    float y = kiln__vmath_logf_core(u, kiln__vmath_log1pf_corr(x, u), 0);
    y = kiln__vmath_fsel(x < -1.0f, NAN, y);
    y = kiln__vmath_fsel(x == -1.0f, -INFINITY, y);
    y = kiln__vmath_fsel(!(x < INFINITY), x + x, y);
    return kiln__vmath_fsel(x == 0.0f, x, y);
}

/*
 * log2 and log10: log1p(f) is split into hi (12 significant bits, so hi
 * times a 12-bit constant is exact) and lo, which keeps the error below 1
 * ulp where the result is small (x near 1); log2 is exact at powers of 2.
 */
static inline float kiln_vlog2f(float x)
{
    const float ivln2hi = 0x1.716p+0f;
    const float ivln2lo = -0x1.7135a8p-13f;
    int32_t e;
    float hfsq, t;
    float xs = kiln__vmath_fsel(x < 0x1p-126f, x * 0x1p23f, x);
    float f = kiln__vmath_logf_red(xs, &e, &hfsq, &t);
    float ef = (float)(e - 23 * (x < 0x1p-126f));
    float hi = kiln__vmath_ffrom(kiln__vmath_fbits(f - hfsq) & 0xfffff000u);
    float lo = (f - hi) - hfsq + t;
    float y = ((lo + hi) * ivln2lo + lo * ivln2hi) + hi * ivln2hi + ef;
    y = kiln__vmath_fsel(x < 0.0f, NAN, y);
    y = kiln__vmath_fsel(x == 0.0f, -INFINITY, y);
    return kiln__vmath_fsel(!(x < INFINITY), x + x, y);
}

static inline float kiln_vlog10f(float x)
{
    const float ivln10hi = 0x1.bccp-2f;
    const float ivln10lo = -0x1.09d5b2p-15f;
    const float lg2hi = 0x1.3442p-2f;
    const float lg2lo = -0x1.95ec1p-19f;
    int32_t e;
    float hfsq, t;
    float xs = kiln__vmath_fsel(x < 0x1p-126f, x * 0x1p23f, x);
    float f = kiln__vmath_logf_red(xs, &e, &hfsq, &t);
    float ef = (float)(e - 23 * (x < 0x1p-126f));
    float hi = kiln__vmath_ffrom(kiln__vmath_fbits(f - hfsq) & 0xfffff000u);
    float lo = (f - hi) - hfsq + t;
    float y = ef * lg2lo + (lo + hi) * ivln10lo + lo * ivln10hi +
              hi * ivln10hi + ef * lg2hi;
    y = kiln__vmath_fsel(x < 0.0f, NAN, y);
    y = kiln__vmath_fsel(x == 0.0f, -INFINITY, y);
    return kiln__vmath_fsel(!(x < INFINITY), x + x, y);
}

/* ------------------------------------------------------------------------ */
/* float32: trigonometric                                                   */
/* ------------------------------------------------------------------------ */

/*
 * x = q*pi/2 + r, |r| <= pi/4, done in double: pi/2 = P1 + P2 + P3 with P1
 * and P2 of 24 bits, so k*P1 and k*P2 are exact for |k| < 2^29 and the
 * subtractions are exact; the 101-bit pi/2 keeps r accurate for every float
 * |x| <= 2^28 (checked exhaustively; sampled, up to 2^30). Beyond that r
 * loses accuracy, and the clamp to [-pi/4, pi/4] keeps the result finite
 * (in [-1, 1] for sin and cos). Returns r as float; inf and NaN give NaN.
 */
static inline float kiln__vmath_trigf_red(float x, uint32_t *q)
{
    const double shift = 0x1.8p52;
    const double twoopi = 0x1.45f306dc9c883p-1;
    const double p1 = 0x1.921fb6p+0;
    const double p2 = -0x1.777a5cp-25;
    const double p3 = -0x1.ee59d9cceba40p-50;
    double xd = (double)x;
    double k = xd * twoopi + shift;
    double kf = k - shift;
    double r = ((xd - kf * p1) - kf * p2) - kf * p3;
    float rf = (float)r;
    *q = (uint32_t)kiln__vmath_dbits(k) & 3u;
    rf = kiln__vmath_fsel(rf > 0.7854f, 0.7854f, rf);
    return kiln__vmath_fsel(rf < -0.7854f, -0.7854f, rf);
}

/*
 * sin and cos of |r| <= pi/4: sin = r + r^3 S(r^2), cos = 1 - r^2/2 +
 * r^4 C(r^2), S and C degree-2 minimax fits (relative fit error 3.8e-9 and
 * 1.2e-10). cos adds the rounding error of 1 - r^2/2 back in.
 */
static inline float kiln__vmath_sinf_poly(float r)
{
    float z = r * r;
    float s = -0x1.555546p-3f + z * (0x1.11073ap-7f + z * -0x1.9943e0p-13f);
    return r + r * z * s;
}

static inline float kiln__vmath_cosf_poly(float r)
{
    float z = r * r;
    float c = 0x1.55554ap-5f + z * (-0x1.6c0c34p-10f + z * 0x1.99eb9cp-16f);
    float hz = 0.5f * z;
    float w = 1.0f - hz;
    return w + (((1.0f - w) - hz) + z * z * c);
}

static inline float kiln_vsinf(float x)
{
    uint32_t q;
    float r = kiln__vmath_trigf_red(x, &q);
    float s = kiln__vmath_sinf_poly(r);
    float c = kiln__vmath_cosf_poly(r);
    float y = kiln__vmath_fsel(q & 1u, c, s);
    y = kiln__vmath_ffrom(kiln__vmath_fbits(y) ^ ((q & 2u) << 30));
    return kiln__vmath_fsel(x == 0.0f, x, y);
}

static inline float kiln_vcosf(float x)
{
    uint32_t q;
    float r = kiln__vmath_trigf_red(x, &q);
    float s = kiln__vmath_sinf_poly(r);
    float c = kiln__vmath_cosf_poly(r);
    float y = kiln__vmath_fsel(q & 1u, s, c);
    return kiln__vmath_ffrom(kiln__vmath_fbits(y) ^ (((q + 1u) & 2u) << 30));
}

/* tan = sin/cos of the reduced argument, or -cos/sin in odd quadrants; the
 * double reduction keeps full relative accuracy next to the poles. */
static inline float kiln_vtanf(float x)
{
    uint32_t q;
    float r = kiln__vmath_trigf_red(x, &q);
    float s = kiln__vmath_sinf_poly(r);
    float c = kiln__vmath_cosf_poly(r);
    float num = kiln__vmath_fsel(q & 1u, -c, s);
    float den = kiln__vmath_fsel(q & 1u, s, c);
    float y = num / den;
    return kiln__vmath_fsel(x == 0.0f, x, y);
}

/*
 * asin(u) = u + u z P(z), z = u^2 <= 1/4, P a degree-4 minimax fit (relative
 * fit error 4.8e-9). Shared by asin and acos; for |x| > 1/2 the callers use
 * u = sqrt((1-|x|)/2), where 1 - |x| is exact. Returns u z P(z).
 */
static inline float kiln__vmath_asinf_tail(float u, float z)
{
    float p =
        0x1.5555c8p-3f +
        z * (0x1.3301e4p-4f +
             z * (0x1.747e4ap-5f + z * (0x1.8c283ep-6f + z * 0x1.596d28p-5f)));
    return u * z * p;
}

/* asin; |x| > 1 gives NaN through the sqrt of a negative number. */
static inline float kiln_vasinf(float x)
{
    const float pio2hi = 0x1.921fb6p+0f;
    const float pio2lo = -0x1.777a5cp-25f;
    float a = kiln__vmath_fabs(x);
    float zb = 0.5f * (1.0f - a);
    float s = sqrtf(zb);
    float z = kiln__vmath_fsel(a > 0.5f, zb, a * a);
    float u = kiln__vmath_fsel(a > 0.5f, s, a);
    float tail = kiln__vmath_asinf_tail(u, z);
    float yb = pio2hi - (2.0f * u + (2.0f * tail - pio2lo));
    float y = kiln__vmath_fsel(a > 0.5f, yb, u + tail);
    return kiln__vmath_fcopysign(y, x);
}

/* acos: pi/2 - asin(x) for |x| <= 1/2, 2 asin(s) or pi - 2 asin(s) above. */
static inline float kiln_vacosf(float x)
{
    const float pio2hi = 0x1.921fb6p+0f;
    const float pio2lo = -0x1.777a5cp-25f;
    const float pihi = 0x1.921fb6p+1f;
    const float pilo = -0x1.777a5cp-24f;
    float a = kiln__vmath_fabs(x);
    float zb = 0.5f * (1.0f - a);
    float s = sqrtf(zb);
    float z = kiln__vmath_fsel(a > 0.5f, zb, x * x);
    float u = kiln__vmath_fsel(a > 0.5f, s, x);
    float tail = kiln__vmath_asinf_tail(u, z);
    float ysmall = pio2hi - (u - (pio2lo - tail));
    float ypos = 2.0f * (u + tail);
    float yneg = pihi - (2.0f * (u + tail) - pilo);
    float y = kiln__vmath_fsel(x > 0.0f, ypos, yneg);
    return kiln__vmath_fsel(a > 0.5f, y, ysmall);
}

/*
 * atan(u) - u = u z P(z) for |u| <= tan(pi/8), z = u^2, P a degree-4 minimax
 * fit (relative fit error 6.7e-10).
 */
static inline float kiln__vmath_atanf_tail(float u)
{
    float z = u * u;
    float p =
        -0x1.55554ap-2f +
        z * (0x1.999196p-3f + z * (-0x1.23b522p-3f +
                                   z * (0x1.b1ec30p-4f + z * -0x1.f1ed8ep-5f)));
    return u * z * p;
}

/*
 * atan2(y, x), quadrants and signed zeros as C99 Annex F. With ax = |x| and
 * ay = |y|, atan(ay/ax) = b + atan(u) where one division picks the interval:
 * ay/ax < tan(pi/8): u = ay/ax, b = 0; ay/ax > tan(3pi/8): u = -ax/ay,
 * b = pi/2; otherwise u = (ay-ax)/(ay+ax), b = pi/4. For x < 0 (sign bit)
 * the result is pi - that, i.e. b' = pi - b and u' = -u. Both-zero and
 * both-inf pairs are selected explicitly. Huge pairs are scaled by 1/4 so
 * ay + ax cannot overflow, and tiny pairs by 2^64 so the interval tests
 * (tan(pi/8) * ax) do not underflow.
 */
static inline float kiln_vatan2f(float y, float x)
{
    const float tan3pio8 = 0x1.3504f4p+1f;
    const float tanpio8 = 0x1.a8279ap-2f;
    float ax = kiln__vmath_fabs(x);
    float ay = kiln__vmath_fabs(y);
    int huge = (ax > 0x1p126f) | (ay > 0x1p126f);
    int tiny = (ax < 0x1p-100f) & (ay < 0x1p-100f);
    float sc =
        kiln__vmath_fsel(huge, 0.25f, kiln__vmath_fsel(tiny, 0x1p64f, 1.0f));
    ax *= sc;
    ay *= sc;
    int lo = ay < tanpio8 * ax;
    int hi = ay > tan3pio8 * ax;
    int zz = (ax == 0.0f) & (ay == 0.0f);
    int ii = (ax == INFINITY) & (ay == INFINITY);
    int neg = (kiln__vmath_fbits(x) >> 31) != 0;
    float num = kiln__vmath_fsel(lo, ay, kiln__vmath_fsel(hi, -ax, ay - ax));
    float den = kiln__vmath_fsel(lo, ax, kiln__vmath_fsel(hi, ay, ay + ax));
    num = kiln__vmath_fsel(zz | ii, 0.0f, num);
    den = kiln__vmath_fsel(zz | ii, 1.0f, den);
    float u = num / den;
    u = kiln__vmath_fsel(neg, -u, u);
    /* b for x >= 0, pi - b for x < 0, each as a hi + lo pair */
    float bhi =
        kiln__vmath_fsel(hi, 0x1.921fb6p+0f,
                         kiln__vmath_fsel(neg, 0x1.2d97c8p+1f, 0x1.921fb6p-1f));
    float blo = kiln__vmath_fsel(
        hi, -0x1.777a5cp-25f,
        kiln__vmath_fsel(neg, -0x1.99bc5cp-28f, -0x1.777a5cp-26f));
    bhi = kiln__vmath_fsel(lo | zz, kiln__vmath_fsel(neg, 0x1.921fb6p+1f, 0.0f),
                           bhi);
    blo = kiln__vmath_fsel(lo | zz,
                           kiln__vmath_fsel(neg, -0x1.777a5cp-24f, 0.0f), blo);
    float r = bhi + (u + (blo + kiln__vmath_atanf_tail(u)));
    return kiln__vmath_fcopysign(r, y);
}

/* atan(x) = atan2(|x|, 1) with the sign of x, written out without the
 * quadrant logic. */
static inline float kiln_vatanf(float x)
{
    const float tan3pio8 = 0x1.3504f4p+1f;
    const float tanpio8 = 0x1.a8279ap-2f;
    float a = kiln__vmath_fabs(x);
    int lo = a < tanpio8;
    int hi = a > tan3pio8;
    float num = kiln__vmath_fsel(lo, a, kiln__vmath_fsel(hi, -1.0f, a - 1.0f));
    float den = kiln__vmath_fsel(lo, 1.0f, kiln__vmath_fsel(hi, a, a + 1.0f));
    float u = num / den;
    float bhi = kiln__vmath_fsel(
        lo, 0.0f, kiln__vmath_fsel(hi, 0x1.921fb6p+0f, 0x1.921fb6p-1f));
    float blo = kiln__vmath_fsel(
        lo, 0.0f, kiln__vmath_fsel(hi, -0x1.777a5cp-25f, -0x1.777a5cp-26f));
    float r = bhi + (u + (blo + kiln__vmath_atanf_tail(u)));
    return kiln__vmath_fcopysign(r, x);
}

/* ------------------------------------------------------------------------ */
/* float32: inverse hyperbolic                                              */
/* ------------------------------------------------------------------------ */

/*
 * asinh(a) = log1p(a + a^2/(1 + sqrt(1 + a^2))) for a = |x| <= 2^12, and
 * log(a) + ln2 above (the dropped 1/(4a^2) is below 2e-9 relative).
 */
static inline float kiln_vasinhf(float x)
{
    float a = kiln__vmath_fabs(x);
    int big = a > 0x1p12f;
    float z = a * a;
    float arg = a + z / (1.0f + sqrtf(1.0f + z));
    float u = 1.0f + arg;
    float c = kiln__vmath_log1pf_corr(arg, u);
    float y = kiln__vmath_logf_core(kiln__vmath_fsel(big, a, u),
                                    kiln__vmath_fsel(big, 0.0f, c), big);
    y = kiln__vmath_fsel(!(a < INFINITY), a, y);
    return kiln__vmath_fcopysign(y, x);
}

/*
 * acosh(x) = log1p(d + sqrt(d (d + 2))), d = x - 1 (exact for x <= 2), and
 * log(x) + ln2 for x > 2^12. x < 1 gives NaN.
 */
static inline float kiln_vacoshf(float x)
{
    int big = x > 0x1p12f;
    float d = x - 1.0f;
    float arg = d + sqrtf(d * (d + 2.0f));
    float u = 1.0f + arg;
    float c = kiln__vmath_log1pf_corr(arg, u);
    float y = kiln__vmath_logf_core(kiln__vmath_fsel(big, x, u),
                                    kiln__vmath_fsel(big, 0.0f, c), big);
    y = kiln__vmath_fsel(x < 1.0f, NAN, y);
    return kiln__vmath_fsel(!(x < INFINITY), x + x, y);
}

/*
 * atanh(a) = log1p(2a/(1-a))/2, a = |x|; for a < 1/2 the argument is formed
 * as 2a + 2a^2/(1-a) so the leading term is exact. |x| = 1 gives +-inf,
 * |x| > 1 NaN.
 */
static inline float kiln_vatanhf(float x)
{
    float a = kiln__vmath_fabs(x);
    float om = 1.0f - a;
    float arg =
        kiln__vmath_fsel(a < 0.5f, 2.0f * a + 2.0f * a * a / om, 2.0f * a / om);
    float u = 1.0f + arg;
    float c = kiln__vmath_log1pf_corr(arg, u);
    float y = 0.5f * kiln__vmath_logf_core(u, c, 0);
    y = kiln__vmath_fsel(a == 1.0f, INFINITY, y);
    y = kiln__vmath_fsel(a > 1.0f, NAN, y);
    y = kiln__vmath_fsel(a != a, x + x, y);
    y = kiln__vmath_fsel(a == 0.0f, 0.0f, y);
    return kiln__vmath_fcopysign(y, x);
}

/* ------------------------------------------------------------------------ */
/* float32: error function                                                  */
/* ------------------------------------------------------------------------ */

/* erf(a) - a = a Q(a^2) for 0 <= a < 1, Q a degree-6 minimax fit for the
 * relative error of erf (fit error 1.2e-9). Returns a Q(a^2). Only
 * erfinv's Halley step uses it now (its residual erf(y) - a without
 * cancellation); kiln_verff below is one rational function. */
static inline float kiln__vmath_erff_tail(float a)
{
    float z = a * a;
    float q =
        0x1.06eba8p-3f +
        z * (-0x1.81273ep-2f +
             z * (0x1.ce2cf8p-4f +
                  z * (-0x1.b7f90ep-6f +
                       z * (0x1.5405b2p-8f +
                            z * (-0x1.a3f700p-11f + z * 0x1.496a32p-14f)))));
    return a * q;
}

/*
 * erf as one rational function, no branches to merge: x is clamped to
 * [-c, c], c = 3.9200025 (erf rounds to 1 from 3.9192 on; c is the first
 * float from 3.92 on where this evaluation gives exactly 1), z = x^2 and
 * erf(x) = x (1/4 + P(z)/Q(z)), P of degree 5 and Q of degree 6, both
 * Horner chains of explicit fused multiply-adds (kiln__vmath_fmaf), then
 * one division and fma(x, P/Q, x/4) (x/4 exact). P/Q is our own minimax
 * fit (tools/fit_erf.py) of erf(x)/x - 1/4 for the relative error of erf
 * (fit error 1.7e-9), P and Q scaled together by the factor that rounds
 * best to float (one-ulp changes to single coefficients then gain nothing
 * in the float evaluation). The 1/4 taken out is erf(x)/x at the
 * clamp, so near it, where the Horner chains round most, P/Q is small and
 * its rounding hardly shows; below, the rounding of P, Q and P/Q accounts
 * for most of the error. Max error 2.40 ulp (2 in iulp), exhaustive over
 * all floats, at x = 2.0312; the result is never above 1.
 * Odd symmetry is exact (z and P/Q do not see the sign), erf(-0) = -0,
 * NaN stays NaN through the selects. 21 instructions per 16 elements
 * (AVX-512), one of them the division; was 42 without a division.
 */
KILN__VMATH_INLINE float kiln_verff(float x)
{
    const float c = 0x1.f5c2a4p+1f;
    float xc = kiln__vmath_fsel(x > c, c, x);
    xc = kiln__vmath_fsel(xc < -c, -c, xc);
    float z = xc * xc;
    float p = -0x1.1b1b64p-16f;
    p = kiln__vmath_fmaf(p, z, 0x1.486862p-14f);
    p = kiln__vmath_fmaf(p, z, -0x1.860ca0p-14f);
    p = kiln__vmath_fmaf(p, z, 0x1.440518p-5f);
    p = kiln__vmath_fmaf(p, z, 0x1.76a500p-4f);
    p = kiln__vmath_fmaf(p, z, 0x1.5aca12p+0f);
    float q = -0x1.ab435ap-24f;
    q = kiln__vmath_fmaf(q, z, 0x1.852650p-14f);
    q = kiln__vmath_fmaf(q, z, 0x1.019234p-9f);
    q = kiln__vmath_fmaf(q, z, 0x1.80c64ap-6f);
    q = kiln__vmath_fmaf(q, z, 0x1.64ee30p-3f);
    q = kiln__vmath_fmaf(q, z, 0x1.876e3ep-1f);
    q = kiln__vmath_fmaf(q, z, 0x1.8ace54p+0f);
    return kiln__vmath_fmaf(xc, p / q, 0.25f * xc);
}

/*
 * erfinv(x), Giles' single-precision approximation with his published
 * coefficients: w = -log((1-a)(1+a)), a = |x|; w < 5: a P1(w - 2.5), else
 * a P2(sqrt(w) - 3). Where the result y is below 1 one Halley step on
 * F(y) = erf(y) - a follows, y - F/(D + y F) with D = erf'(y), and F =
 * (y - a) + y Q(y^2) is exact up to the small tail term (y - a is exact by
 * Sterbenz). Above 1 the float erfc is not accurate enough in relative
 * terms to help, and Giles' tail stands. erfinv(+-1) = +-inf, |x| > 1 NaN.
 */
static inline float kiln_verfinvf(float x)
{
    float a = kiln__vmath_fabs(x);
    float w = -kiln_vlogf((1.0f - a) * (1.0f + a));
    float w1 = w - 2.5f;
    float p1 = 2.81022636e-08f;
    p1 = 3.43273939e-07f + p1 * w1;
    p1 = -3.5233877e-06f + p1 * w1;
    p1 = -4.39150654e-06f + p1 * w1;
    p1 = 0.00021858087f + p1 * w1;
    p1 = -0.00125372503f + p1 * w1;
    p1 = -0.00417768164f + p1 * w1;
    p1 = 0.246640727f + p1 * w1;
    p1 = 1.50140941f + p1 * w1;
    float w2 = sqrtf(w) - 3.0f;
    float p2 = -0.000200214257f;
    p2 = 0.000100950558f + p2 * w2;
    p2 = 0.00134934322f + p2 * w2;
    p2 = -0.00367342844f + p2 * w2;
    p2 = 0.00573950773f + p2 * w2;
    p2 = -0.0076224613f + p2 * w2;
    p2 = 0.00943887047f + p2 * w2;
    p2 = 1.00167406f + p2 * w2;
    p2 = 2.83297682f + p2 * w2;
    float y = kiln__vmath_fsel(w < 5.0f, p1, p2) * a;
    float f = (y - a) + kiln__vmath_erff_tail(y);
    float d = 0x1.20dd76p+0f * kiln_vexpf(-y * y);
    f = kiln__vmath_fsel(y < 1.0f, f, 0.0f);
    y = y - f / (d + y * f);
    y = kiln__vmath_fsel(a == 1.0f, INFINITY, y);
    y = kiln__vmath_fsel(a > 1.0f, NAN, y);
    return kiln__vmath_fcopysign(y, x);
}

/* ------------------------------------------------------------------------ */
/* float64: exponentials                                                    */
/* ------------------------------------------------------------------------ */

/*
 * As kiln__vmath_expm1f_red in double: x = n ln2 + r, returns expm1(r) =
 * r + r^2 q(r), q a degree-9 minimax fit (relative fit error 1.8e-17).
 * ln2hi has 42 bits, so n*ln2hi is exact for |n| < 2^11. Callers clamp x to
 * [-746, 711].
 */
static inline double kiln__vmath_expm1d_red(double x, int64_t *n)
{
    const double shift = 0x1.8p52;
    const double log2e = 0x1.71547652b82fep+0;
    const double ln2hi = 0x1.62e42fefa38p-1;
    const double ln2lo = 0x1.ef35793c7673p-45;
    double k = x * log2e + shift;
    double kf = k - shift;
    double r = (x - kf * ln2hi) - kf * ln2lo;
    double q = 0x1.71de87fc8a7c6p-19 +
               r * (0x1.28a1d64cfc38cp-22 + r * 0x1.ae6bab6acafaep-26);
    q = 0x1.a01a01751c5e3p-13 + r * (0x1.a019a7788396fp-16 + r * q);
    q = 0x1.1111111118f8ep-7 + r * (0x1.6c16c17ed8c7fp-10 + r * q);
    q = 0x1.5555555555539p-3 + r * (0x1.55555555522c2p-5 + r * q);
    q = 0x1.0000000000005p-1 + r * q;
    *n = (int64_t)(kiln__vmath_dbits(k) & 0xfffffffffffffull) - 0x8000000000000;
    return r + r * r * q;
}

static inline double kiln_vexpd(double x)
{
    int64_t n;
    double xc = kiln__vmath_dsel(x > 711.0, 711.0, x);
    xc = kiln__vmath_dsel(xc < -746.0, -746.0, xc);
    double p = kiln__vmath_expm1d_red(xc, &n);
    return kiln__vmath_dldexp(1.0 + p, n);
}

static inline double kiln_vexpm1d(double x)
{
    int64_t n;
    double xc = kiln__vmath_dsel(x > 711.0, 711.0, x);
    xc = kiln__vmath_dsel(xc < -40.0, -40.0, xc);
    double p = kiln__vmath_expm1d_red(xc, &n);
    double t = kiln__vmath_dpow2(n);
    double ys = t * p + (t - 1.0);
    double yb = kiln__vmath_dldexp(1.0 + p, n) - 1.0;
    double y = kiln__vmath_dsel(n > 53, yb, ys);
    return kiln__vmath_dsel(x == 0.0, x, y);
}

/* As kiln_vsinhf; e^-|x| drops below half an ulp past |x| = 22. */
static inline double kiln_vsinhd(double x)
{
    int64_t n;
    double a = kiln__vmath_dabs(x);
    double ac = kiln__vmath_dsel(a > 711.0, 711.0, a);
    double p = kiln__vmath_expm1d_red(ac, &n);
    double t = kiln__vmath_dpow2(n);
    double em1 = t * p + (t - 1.0);
    double ys = 0.5 * (em1 + em1 / (em1 + 1.0));
    double yb = kiln__vmath_dldexp(1.0 + p, n - 1);
    double y = kiln__vmath_dsel(a > 22.0, yb, ys);
    return kiln__vmath_dcopysign(y, x);
}

static inline double kiln_vcoshd(double x)
{
    int64_t n;
    double a = kiln__vmath_dabs(x);
    double ac = kiln__vmath_dsel(a > 711.0, 711.0, a);
    double p = kiln__vmath_expm1d_red(ac, &n);
    double e = kiln__vmath_dpow2(n) * (1.0 + p);
    double ys = 0.5 * e + 0.5 / e;
    double yb = kiln__vmath_dldexp(1.0 + p, n - 1);
    return kiln__vmath_dsel(a > 22.0, yb, ys);
}

/* As kiln_vtanhf; tanh rounds to 1 past |x| = 19.1, the clamp is 22. */
static inline double kiln_vtanhd(double x)
{
    int64_t n;
    double a = kiln__vmath_dabs(x);
    double ac = kiln__vmath_dsel(a > 22.0, 22.0, a);
    double p = kiln__vmath_expm1d_red(2.0 * ac, &n);
    double t = kiln__vmath_dpow2(n);
    double em1 = t * p + (t - 1.0);
    return kiln__vmath_dcopysign(em1 / (em1 + 2.0), x);
}

static inline double kiln_vsigmoidd(double x)
{
    double e = kiln_vexpd(-kiln__vmath_dabs(x));
    double num = kiln__vmath_dsel(x < 0.0, e, 1.0);
    return num / (1.0 + e);
}

/* ------------------------------------------------------------------------ */
/* float64: logarithms                                                      */
/* ------------------------------------------------------------------------ */

/*
 * log(u) + c + k ln2 for u positive normal finite, as kiln__vmath_logf_core
 * with R(s^2) a degree-6 minimax fit (fit error 1.2e-18). The exponent goes
 * to double through the 2^52 bit trick, not an int64 conversion, which
 * AVX2 lacks.
 */
static inline double kiln__vmath_logd_core(double u, double c, double k)
{
    const double ln2hi = 0x1.62e42fefa38p-1;
    const double ln2lo = 0x1.ef35793c7673p-45;
    uint64_t iu =
        kiln__vmath_dbits(u) + (0x3ff0000000000000ull - 0x3fe6a09e667f3bcdull);
    double m =
        kiln__vmath_dfrom((iu & 0xfffffffffffffull) + 0x3fe6a09e667f3bcdull);
    double ef = kiln__vmath_dfrom(0x4330000000000000ull | (iu >> 52)) -
                (0x1p52 + 1023.0) + k;
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double r = 0x1.39a1babc56671p-3 + z * 0x1.2f05635872de9p-3;
    r = 0x1.c71c52095e49ep-3 + z * (0x1.74663ee8361a8p-3 + z * r);
    r = 0x1.999999997fdb8p-2 + z * (0x1.24924941f1235p-2 + z * r);
    r = z * (0x1.5555555555592p-1 + z * r);
    double hfsq = 0.5 * f * f;
    double t = s * (hfsq + r);
    return ef * ln2hi + (f - (hfsq - (t + (ef * ln2lo + c))));
}

static inline double kiln__vmath_log1pd_corr(double a, double u)
{
    double c = kiln__vmath_dsel(a < 1.0, a - (u - 1.0), 1.0 - (u - a));
    return c / u;
}

static inline double kiln_vlogd(double x)
{
    double xs = kiln__vmath_dsel(x < 0x1p-1022, x * 0x1p54, x);
    double y = kiln__vmath_logd_core(xs, 0.0, -54.0 * (x < 0x1p-1022));
    y = kiln__vmath_dsel(x < 0.0, (double)NAN, y);
    y = kiln__vmath_dsel(x == 0.0, -(double)INFINITY, y);
    return kiln__vmath_dsel(!(x < (double)INFINITY), x + x, y);
}

static inline double kiln_vlog1pd(double x)
{
    double u = 1.0 + x;
    double y = kiln__vmath_logd_core(u, kiln__vmath_log1pd_corr(x, u), 0.0);
    y = kiln__vmath_dsel(x < -1.0, (double)NAN, y);
    y = kiln__vmath_dsel(x == -1.0, -(double)INFINITY, y);
    y = kiln__vmath_dsel(!(x < (double)INFINITY), x + x, y);
    return kiln__vmath_dsel(x == 0.0, x, y);
}

/* ------------------------------------------------------------------------ */
/* float64: error function                                                  */
/* ------------------------------------------------------------------------ */

/* erf(a) - a = a Q(a^2) for 0 <= a < 1, Q a degree-11 minimax fit for the
 * relative error of erf (fit error 7.3e-18). Returns a Q(a^2). */
static inline double kiln__vmath_erfd_tail(double a)
{
    double z = a * a;
    double q = -0x1.5c0726d58bb33p-23 +
               z * (0x1.d71b0e6499eefp-27 + z * -0x1.abae470346adap-31);
    q = -0x1.f4ca4d6ec9ce6p-17 + z * (0x1.b97fd3d524500p-20 + z * q);
    q = -0x1.c02db03dd6cbap-11 + z * (0x1.f9a2baa8f739cp-14 + z * q);
    q = -0x1.b82ce311fa93dp-6 + z * (0x1.565bccf92b2d8p-8 + z * q);
    q = -0x1.812746b0379bdp-2 + z * (0x1.ce2f21a040d16p-4 + z * q);
    q = 0x1.06eba8214db68p-3 + z * q;
    return a * q;
}

/*
 * erfc(a) for 1 <= a <= 6 as exp(M(a) - a^2), M(a) = log(erfc(a)) + a^2 a
 * degree-24 minimax fit in a - 3.5 for absolute error (fit error 1.9e-17),
 * i.e. erfc to about 1e-15 relative, which erfinv's Halley step needs.
 */
static inline double kiln__vmath_erfcd_big(double a)
{
    double t = a - 3.5;
    double m = -0x1.764015431a263p-58 + t * 0x1.6599ad3dbbb72p-61;
    m = 0x1.6efda29c181fdp-56 + t * (0x1.49e8bcac79a46p-57 + t * m);
    m = 0x1.31fc6042725d7p-51 + t * (-0x1.6dedcbaf7f6fdp-55 + t * m);
    m = 0x1.2eb5fbfc1de5ep-44 + t * (-0x1.3c895b80983e6p-47 + t * m);
    m = 0x1.211ff8a93ab54p-39 + t * (-0x1.bc310a46b6148p-42 + t * m);
    m = 0x1.0da6bc79ec61dp-35 + t * (-0x1.42eea445bea6bp-37 + t * m);
    m = -0x1.aa0223786a532p-31 + t * (-0x1.b466e6c3ec9b4p-36 + t * m);
    m = -0x1.5a92e9103fdb1p-24 + t * (0x1.478184411e7e4p-27 + t * m);
    m = -0x1.05061557c10a9p-18 + t * (0x1.3a66385cbe97bp-21 + t * m);
    m = -0x1.34e7e407a2feap-13 + t * (0x1.9922ad4686c70p-16 + t * m);
    m = -0x1.5677ff29cefa4p-8 + t * (0x1.ca1053db0a6fdp-11 + t * m);
    m = -0x1.107c691607bcdp-2 + t * (0x1.105be5d25e6acp-5 + t * m);
    m = -0x1.dcc8b29512d7ep+0 + t * m;
    return kiln_vexpd(m - a * a);
}

/* erf: a + a Q(a^2) below 1, 1 - erfc(a) above; erf rounds to 1 past 5.92,
 * so a is clamped to 5.95. */
static inline double kiln_verfd(double x)
{
    double a = kiln__vmath_dabs(x);
    double ys = a + kiln__vmath_erfd_tail(a);
    double ac = kiln__vmath_dsel(a > 5.95, 5.95, a);
    double yb = 1.0 - kiln__vmath_erfcd_big(ac);
    double y = kiln__vmath_dsel(a < 1.0, ys, yb);
    return kiln__vmath_dcopysign(y, x);
}

/*
 * erfinv(x): a first guess y0 = a P(t) (a = |x|) from our own minimax fits in
 * Giles' variables, w = -log((1-a)(1+a)): t = w - 3.125 for w <= 6.25 and
 * t = sqrt(w) - 4.25 above, both degree 10 (relative fit errors 5.4e-9 and
 * 6.8e-8), then one Halley step on F(y) = erf(y) - a, which triples the
 * number of correct digits: y1 = y - F/(D + y F), D = erf'(y). F is
 * formed without cancellation: (y - a) + a Q(y^2) below y = 1 and
 * (1 - a) - erfc(y) above (1 - a is exact there). +-1 gives +-inf, |x| > 1
 * gives NaN.
 */
static inline double kiln_verfinvd(double x)
{
    double a = kiln__vmath_dabs(x);
    double w = -kiln_vlogd((1.0 - a) * (1.0 + a));
    double t1 = w - 3.125;
    double p1 = -0x1.3ec39ca0cf0f9p-28 + t1 * 0x1.5e9e5e4f50f1ap-31;
    p1 = 0x1.c9bf27edf3a2fp-22 + t1 * (-0x1.9fe832e7c9af6p-26 + t1 * p1);
    p1 = -0x1.d21eb10de4e0ep-17 + t1 * (-0x1.75a6235f878c4p-20 + t1 * p1);
    p1 = -0x1.84556bbe2b3fcp-11 + t1 * (0x1.87bf4d4e55376p-13 + t1 * p1);
    p1 = 0x1.ebd80c80a0584p-3 + t1 * (-0x1.8b6d31331b2aep-8 + t1 * p1);
    p1 = 0x1.a755e7ee9f2f4p+0 + t1 * p1;
    double t2 = sqrt(w) - 4.25;
    double p2 = 0x1.d6323daf46bedp-17 +
                t2 * (-0x1.287877cd22774p-18 + t2 * 0x1.4205160ec10eep-23);
    p2 = 0x1.254e920267fdbp-18 + t2 * (-0x1.524883a54cc13p-17 + t2 * p2);
    p2 = 0x1.de8db895eefecp-13 + t2 * (-0x1.066704f1383d1p-14 + t2 * p2);
    p2 = 0x1.72f16dda0d6aap-11 + t2 * (-0x1.3f6465a41b302p-11 + t2 * p2);
    p2 = 0x1.05e6fe3c19285p+2 + t2 * (0x1.028df21fe1be4p+0 + t2 * p2);
    double y = kiln__vmath_dsel(w <= 6.25, p1, p2) * a;
    double fs = (y - a) + kiln__vmath_erfd_tail(y);
    double fb =
        (1.0 - a) - kiln__vmath_erfcd_big(kiln__vmath_dsel(y > 5.95, 5.95, y));
    double f = kiln__vmath_dsel(y < 1.0, fs, fb);
    double d = 0x1.20dd750429b6dp+0 * kiln_vexpd(-y * y);
    y = y - f / (d + y * f);
    y = kiln__vmath_dsel(a == 1.0, (double)INFINITY, y);
    y = kiln__vmath_dsel(a > 1.0, (double)NAN, y);
    return kiln__vmath_dcopysign(y, x);
}

/* ------------------------------------------------------------------------ */
/* float64: plain libm                                                      */
/* ------------------------------------------------------------------------ */

/*
 * These float64 functions call libm: correct, but the loops do not
 * vectorise (gcc only maps them to libmvec under -ffast-math).
 */
static inline double kiln_vlog2d(double x)
{
    return log2(x);
}

static inline double kiln_vlog10d(double x)
{
    return log10(x);
}

static inline double kiln_vsind(double x)
{
    return sin(x);
}

static inline double kiln_vcosd(double x)
{
    return cos(x);
}

static inline double kiln_vtand(double x)
{
    return tan(x);
}

static inline double kiln_vasind(double x)
{
    return asin(x);
}

static inline double kiln_vacosd(double x)
{
    return acos(x);
}

static inline double kiln_vatand(double x)
{
    return atan(x);
}

static inline double kiln_vatan2d(double y, double x)
{
    return atan2(y, x);
}

static inline double kiln_vasinhd(double x)
{
    return asinh(x);
}

static inline double kiln_vacoshd(double x)
{
    return acosh(x);
}

static inline double kiln_vatanhd(double x)
{
    return atanh(x);
}

#endif

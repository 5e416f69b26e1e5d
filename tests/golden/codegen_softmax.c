#ifndef KILN_KERNEL_ATTR
#if defined(__GNUC__) && !defined(__clang__)
#define KILN_KERNEL_ATTR __attribute__((optimize("fp-contract=off")))
#define KILN_STRIDED_ATTR \
    __attribute__((noinline, optimize("fp-contract=off", "no-tree-vectorize")))
#else
#define KILN_KERNEL_ATTR
#define KILN_STRIDED_ATTR __attribute__((noinline))
#endif
#if defined(__GNUC__)
#define KILN_PREFETCH(a) __builtin_prefetch(a)
#else
#define KILN_PREFETCH(a) ((void)(a))
#endif
#if defined(__clang__)
#define KILN_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define KILN_IVDEP _Pragma("GCC ivdep")
#else
#define KILN_IVDEP
#endif
#endif
static inline __attribute__((always_inline)) KILN_KERNEL_ATTR void
codegen_softmax_fast(int64_t len, float *restrict y0, const float *restrict x1, const char *f1)
{
    /* pass 0 */
    float v1;
    {
        const float id1 = kiln_cvt_f32((-__builtin_inf()));
        float t1 = id1, u1 = id1, a1[32];
        const int64_t nb = len / 32 * 32;
        for (int64_t b = 0; b < nb; b += 2048) {
            const int64_t be = nb - b < 2048 ? nb : b + 2048;
            for (int l = 0; l < 32; l++) {
                a1[l] = id1;
            }
            for (int64_t i = b; i < be; i += 32) {
#pragma GCC unroll 1
                for (int l = 0; l < 32; l++) {
                    const float v0 = x1[i + l];
                    a1[l] = kiln_s_maximum_f32(a1[l], v0);
                }
            }
            for (int w = 16; w > 0; w /= 2) {
                for (int l = 0; l < w; l++) {
                    a1[l] = kiln_s_maximum_f32(a1[l], a1[l + w]);
                }
            }
            t1 = kiln_s_maximum_f32(t1, a1[0]);
        }
        for (int64_t i = nb; i < len; i++) {
            const float v0 = x1[i];
            u1 = kiln_s_maximum_f32(u1, v0);
        }
        t1 = kiln_s_maximum_f32(t1, u1);
        v1 = t1;
    }
    /* pass 1 */
    float v4;
    {
        const float id4 = kiln_cvt_f32(0x0p+0);
        float t4 = id4, u4 = id4, a4[32];
        const int64_t nb = len / 32 * 32;
        for (int64_t b = 0; b < nb; b += 2048) {
            const int64_t be = nb - b < 2048 ? nb : b + 2048;
            for (int l = 0; l < 32; l++) {
                a4[l] = id4;
            }
            for (int64_t i = b; i < be; i += 32) {
                KILN_PREFETCH(f1 + i * 4 + 0);
                KILN_PREFETCH(f1 + i * 4 + 64);
#pragma GCC unroll 1
                for (int l = 0; l < 32; l++) {
                    const float v0 = x1[i + l];
                    const float v2 = kiln_s_subtract_f32(v0, v1);
                    const float v3 = kiln_s_exp_f32(v2);
                    y0[i + l] = v3;
                    a4[l] = kiln_s_add_f32(a4[l], v3);
                }
            }
            for (int w = 16; w > 0; w /= 2) {
                for (int l = 0; l < w; l++) {
                    a4[l] = kiln_s_add_f32(a4[l], a4[l + w]);
                }
            }
            t4 = kiln_s_add_f32(t4, a4[0]);
        }
        for (int64_t i = nb; i < len; i++) {
            const float v0 = x1[i];
            const float v2 = kiln_s_subtract_f32(v0, v1);
            const float v3 = kiln_s_exp_f32(v2);
            y0[i] = v3;
            u4 = kiln_s_add_f32(u4, v3);
        }
        t4 = kiln_s_add_f32(t4, u4);
        v4 = t4;
    }
    /* pass 2 */
    for (int64_t i = 0; i < len; i++) {
        const float v3 = y0[i];
        const float v5 = kiln_s_divide_f32(v3, v4);
        y0[i] = v5;
    }
}
static KILN_STRIDED_ATTR void
codegen_softmax_strided(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    /* ctx: kiln_region_inner {len; stride[16]} */
    const int64_t len = ((const int64_t *)ctx)[0];
    const int64_t *st = (const int64_t *)ctx + 1;
    for (int64_t row = 0; row < n; row++) {
        char *r0 = p[0] + row * s[0];
        const char *r1 = p[1] + row * s[1];
        /* pass 0 */
        float v1;
        {
            const float id1 = kiln_cvt_f32((-__builtin_inf()));
            float t1 = id1, u1 = id1, a1[32];
            const int64_t nb = len / 32 * 32;
            for (int64_t b = 0; b < nb; b += 2048) {
                const int64_t be = nb - b < 2048 ? nb : b + 2048;
                for (int l = 0; l < 32; l++) {
                    a1[l] = id1;
                }
                for (int64_t i = b; i < be; i += 32) {
#pragma GCC unroll 1
                    for (int l = 0; l < 32; l++) {
                        const float v0 = *(const float *)(const void *)(r1 + (i + l) * st[1]);
                        a1[l] = kiln_s_maximum_f32(a1[l], v0);
                    }
                }
                for (int w = 16; w > 0; w /= 2) {
                    for (int l = 0; l < w; l++) {
                        a1[l] = kiln_s_maximum_f32(a1[l], a1[l + w]);
                    }
                }
                t1 = kiln_s_maximum_f32(t1, a1[0]);
            }
            for (int64_t i = nb; i < len; i++) {
                const float v0 = *(const float *)(const void *)(r1 + (i) * st[1]);
                u1 = kiln_s_maximum_f32(u1, v0);
            }
            t1 = kiln_s_maximum_f32(t1, u1);
            v1 = t1;
        }
        /* pass 1 */
        float v4;
        {
            const float id4 = kiln_cvt_f32(0x0p+0);
            float t4 = id4, u4 = id4, a4[32];
            const int64_t nb = len / 32 * 32;
            for (int64_t b = 0; b < nb; b += 2048) {
                const int64_t be = nb - b < 2048 ? nb : b + 2048;
                for (int l = 0; l < 32; l++) {
                    a4[l] = id4;
                }
                for (int64_t i = b; i < be; i += 32) {
#pragma GCC unroll 1
                    for (int l = 0; l < 32; l++) {
                        const float v0 = *(const float *)(const void *)(r1 + (i + l) * st[1]);
                        const float v2 = kiln_s_subtract_f32(v0, v1);
                        const float v3 = kiln_s_exp_f32(v2);
                        a4[l] = kiln_s_add_f32(a4[l], v3);
                    }
                }
                for (int w = 16; w > 0; w /= 2) {
                    for (int l = 0; l < w; l++) {
                        a4[l] = kiln_s_add_f32(a4[l], a4[l + w]);
                    }
                }
                t4 = kiln_s_add_f32(t4, a4[0]);
            }
            for (int64_t i = nb; i < len; i++) {
                const float v0 = *(const float *)(const void *)(r1 + (i) * st[1]);
                const float v2 = kiln_s_subtract_f32(v0, v1);
                const float v3 = kiln_s_exp_f32(v2);
                u4 = kiln_s_add_f32(u4, v3);
            }
            t4 = kiln_s_add_f32(t4, u4);
            v4 = t4;
        }
        /* pass 2 */
        for (int64_t i = 0; i < len; i++) {
            const float v0 = *(const float *)(const void *)(r1 + (i) * st[1]);
            const float v2 = kiln_s_subtract_f32(v0, v1);
            const float v3 = kiln_s_exp_f32(v2);
            const float v5 = kiln_s_divide_f32(v3, v4);
            *(float *)(void *)(r0 + (i) * st[0]) = v5;
        }
    }
}
KILN_KERNEL_ATTR __attribute__((visibility("default"))) void
codegen_softmax(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    if (n <= 0) {
        return;
    }
    /* ctx: kiln_region_inner {len; stride[16]} */
    const int64_t len = ((const int64_t *)ctx)[0];
    const int64_t *st = (const int64_t *)ctx + 1;
    if (st[0] == 4 && st[1] == 4) {
        const int nt = ((const int64_t *)ctx)[17] != 0 && len <= 8192;
        _Alignas(64) char ntrow[32768];
        for (int64_t row = 0; row < n; row++) {
            codegen_softmax_fast(len,
                nt ? (float *)(void *)(ntrow + len * 0) :    (float *)(void *)(p[0] + row * s[0]),
                (const float *)(const void *)(p[1] + row * s[1]),
                p[1] + (row + 1 < n ? row + 1 : row) * s[1]);
            if (nt) {
                kiln_nt_copy(p[0] + row * s[0], ntrow + len * 0, (size_t)len * 4);
            }
        }
        if (nt) {
            kiln_nt_fence();
        }
    } else {
        codegen_softmax_strided(ctx, p, s, n);
    }
}

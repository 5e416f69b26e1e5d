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
codegen_layernorm_f16_fast(int64_t len, const float v5, const float v11, kiln_f16 *restrict y0, const kiln_f16 *restrict x1, const char *f1, const kiln_f16 *restrict x2, const char *f2, const kiln_f16 *restrict x3, const char *f3)
{
    /* pass 0 */
    float v4;
    {
        const float id4 = kiln_cvt_f32(0x0p+0);
        float t4 = id4, u4 = id4, a4[32];
        const int64_t nb = len / 32 * 32;
        for (int64_t b = 0; b < nb; b += 2048) {
            const int64_t be = nb - b < 2048 ? nb : b + 2048;
            kiln_vf q4[32 / KILN_VW];
            for (int l = 0; l < 32 / KILN_VW; l++) {
                q4[l] = kiln_vsplat(id4);
            }
            for (int64_t i = b; i < be; i += 32) {
#pragma GCC unroll 32
                for (int l = 0; l < 32 / KILN_VW; l++) {
                    const int64_t k = i + l * KILN_VW;
                    const kiln_vf v0 = kiln_vload_h(x1 + k);
                    const kiln_vf v3 = v0;
                    q4[l] = kiln_v_add_f32(q4[l], v3);
                }
            }
            for (int l = 0; l < 32 / KILN_VW; l++) {
                kiln_vstore(a4 + l * KILN_VW, q4[l]);
            }
            for (int w = 16; w > 0; w /= 2) {
                for (int l = 0; l < w; l++) {
                    a4[l] = kiln_s_add_f32(a4[l], a4[l + w]);
                }
            }
            t4 = kiln_s_add_f32(t4, a4[0]);
        }
        for (int64_t i = nb; i < len; i++) {
            const float v0 = kiln_f16_to_f32(x1[i]);
            const float v3 = kiln_cvt_f32(v0);
            u4 = kiln_s_add_f32(u4, v3);
        }
        t4 = kiln_s_add_f32(t4, u4);
        v4 = t4;
    }
    const float v6 = kiln_s_divide_f32(v4, v5);
    /* pass 1 */
    float v9;
    {
        const kiln_vf s6 = kiln_vsplat(v6);
        const float id9 = kiln_cvt_f32(0x0p+0);
        float t9 = id9, u9 = id9, a9[32];
        const int64_t nb = len / 32 * 32;
        for (int64_t b = 0; b < nb; b += 2048) {
            const int64_t be = nb - b < 2048 ? nb : b + 2048;
            kiln_vf q9[32 / KILN_VW];
            for (int l = 0; l < 32 / KILN_VW; l++) {
                q9[l] = kiln_vsplat(id9);
            }
            for (int64_t i = b; i < be; i += 32) {
                KILN_PREFETCH(f1 + i * 2 + 0);
                KILN_PREFETCH(f2 + i * 2 + 0);
                KILN_PREFETCH(f3 + i * 2 + 0);
#pragma GCC unroll 32
                for (int l = 0; l < 32 / KILN_VW; l++) {
                    const int64_t k = i + l * KILN_VW;
                    const kiln_vf v0 = kiln_vload_h(x1 + k);
                    const kiln_vf v3 = v0;
                    const kiln_vf v7 = kiln_v_subtract_f32(v3, s6);
                    const kiln_vf v8 = kiln_v_square_f32(v7);
                    q9[l] = kiln_v_add_f32(q9[l], v8);
                }
            }
            for (int l = 0; l < 32 / KILN_VW; l++) {
                kiln_vstore(a9 + l * KILN_VW, q9[l]);
            }
            for (int w = 16; w > 0; w /= 2) {
                for (int l = 0; l < w; l++) {
                    a9[l] = kiln_s_add_f32(a9[l], a9[l + w]);
                }
            }
            t9 = kiln_s_add_f32(t9, a9[0]);
        }
        for (int64_t i = nb; i < len; i++) {
            const float v0 = kiln_f16_to_f32(x1[i]);
            const float v3 = kiln_cvt_f32(v0);
            const float v7 = kiln_s_subtract_f32(v3, v6);
            const float v8 = kiln_s_square_f32(v7);
            u9 = kiln_s_add_f32(u9, v8);
        }
        t9 = kiln_s_add_f32(t9, u9);
        v9 = t9;
    }
    const float v10 = kiln_s_divide_f32(v9, v5);
    const float v12 = kiln_s_add_f32(v10, v11);
    const float v13 = kiln_s_rsqrt_f32(v12);
    /* pass 2 */
    {
        const kiln_vf s6 = kiln_vsplat(v6);
        const kiln_vf s13 = kiln_vsplat(v13);
        int64_t i = 0;
        for (; i + KILN_VW <= len; i += KILN_VW) {
            const kiln_vf v0 = kiln_vload_h(x1 + i);
            const kiln_vf v1 = kiln_vload_h(x2 + i);
            const kiln_vf v2 = kiln_vload_h(x3 + i);
            const kiln_vf v3 = v0;
            const kiln_vf v7 = kiln_v_subtract_f32(v3, s6);
            const kiln_vf v14 = kiln_v_multiply_f32(v7, s13);
            const kiln_vf v15 = kiln_vround_f16(v14);
            const kiln_vf v16 = kiln_vround_f16(kiln_v_multiply_f32(v1, v15));
            const kiln_vf w17 = kiln_v_add_f32(v16, v2);
            const kiln_vf v17 = kiln_vround_f16(w17);
            kiln_vstore_h(y0 + i, w17);
        }
        for (; i < len; i++) {
            const float v0 = kiln_f16_to_f32(x1[i]);
            const float v1 = kiln_f16_to_f32(x2[i]);
            const float v2 = kiln_f16_to_f32(x3[i]);
            const float v3 = kiln_cvt_f32(v0);
            const float v7 = kiln_s_subtract_f32(v3, v6);
            const float v14 = kiln_s_multiply_f32(v7, v13);
            const float v15 = kiln_f16_round((kiln_cvt_f32(v14)));
            const float v16 = kiln_f16_round((kiln_s_multiply_f32(v1, v15)));
            const float w17 = kiln_s_add_f32(v16, v2);
            const float v17 = kiln_f16_round(w17);
            y0[i] = kiln_f32_to_f16(w17);
        }
    }
}
static KILN_STRIDED_ATTR void
codegen_layernorm_f16_strided(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    /* ctx: kiln_region_inner {len; stride[16]} */
    const int64_t len = ((const int64_t *)ctx)[0];
    const int64_t *st = (const int64_t *)ctx + 1;
    const float v5 = 0x1p+12f;
    const float v11 = 0x1.a36e2ep-14f;
    for (int64_t row = 0; row < n; row++) {
        char *r0 = p[0] + row * s[0];
        const char *r1 = p[1] + row * s[1];
        const char *r2 = p[2] + row * s[2];
        const char *r3 = p[3] + row * s[3];
        /* pass 0 */
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
                        const float v0 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r1 + (i + l) * st[1]));
                        const float v3 = kiln_cvt_f32(v0);
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
                const float v0 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r1 + (i) * st[1]));
                const float v3 = kiln_cvt_f32(v0);
                u4 = kiln_s_add_f32(u4, v3);
            }
            t4 = kiln_s_add_f32(t4, u4);
            v4 = t4;
        }
        const float v6 = kiln_s_divide_f32(v4, v5);
        /* pass 1 */
        float v9;
        {
            const float id9 = kiln_cvt_f32(0x0p+0);
            float t9 = id9, u9 = id9, a9[32];
            const int64_t nb = len / 32 * 32;
            for (int64_t b = 0; b < nb; b += 2048) {
                const int64_t be = nb - b < 2048 ? nb : b + 2048;
                for (int l = 0; l < 32; l++) {
                    a9[l] = id9;
                }
                for (int64_t i = b; i < be; i += 32) {
#pragma GCC unroll 1
                    for (int l = 0; l < 32; l++) {
                        const float v0 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r1 + (i + l) * st[1]));
                        const float v3 = kiln_cvt_f32(v0);
                        const float v7 = kiln_s_subtract_f32(v3, v6);
                        const float v8 = kiln_s_square_f32(v7);
                        a9[l] = kiln_s_add_f32(a9[l], v8);
                    }
                }
                for (int w = 16; w > 0; w /= 2) {
                    for (int l = 0; l < w; l++) {
                        a9[l] = kiln_s_add_f32(a9[l], a9[l + w]);
                    }
                }
                t9 = kiln_s_add_f32(t9, a9[0]);
            }
            for (int64_t i = nb; i < len; i++) {
                const float v0 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r1 + (i) * st[1]));
                const float v3 = kiln_cvt_f32(v0);
                const float v7 = kiln_s_subtract_f32(v3, v6);
                const float v8 = kiln_s_square_f32(v7);
                u9 = kiln_s_add_f32(u9, v8);
            }
            t9 = kiln_s_add_f32(t9, u9);
            v9 = t9;
        }
        const float v10 = kiln_s_divide_f32(v9, v5);
        const float v12 = kiln_s_add_f32(v10, v11);
        const float v13 = kiln_s_rsqrt_f32(v12);
        /* pass 2 */
        for (int64_t i = 0; i < len; i++) {
            const float v0 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r1 + (i) * st[1]));
            const float v1 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r2 + (i) * st[2]));
            const float v2 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(r3 + (i) * st[3]));
            const float v3 = kiln_cvt_f32(v0);
            const float v7 = kiln_s_subtract_f32(v3, v6);
            const float v14 = kiln_s_multiply_f32(v7, v13);
            const float v15 = kiln_f16_round((kiln_cvt_f32(v14)));
            const float v16 = kiln_f16_round((kiln_s_multiply_f32(v1, v15)));
            const float w17 = kiln_s_add_f32(v16, v2);
            const float v17 = kiln_f16_round(w17);
            *(kiln_f16 *)(void *)(r0 + (i) * st[0]) = kiln_f32_to_f16(w17);
        }
    }
}
KILN_KERNEL_ATTR __attribute__((visibility("default"))) void
codegen_layernorm_f16(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    if (n <= 0) {
        return;
    }
    /* ctx: kiln_region_inner {len; stride[16]} */
    const int64_t len = ((const int64_t *)ctx)[0];
    const int64_t *st = (const int64_t *)ctx + 1;
    if (st[0] == 2 && st[1] == 2 && st[2] == 2 && st[3] == 2) {
        const float v5 = 0x1p+12f;
        const float v11 = 0x1.a36e2ep-14f;
        const int nt = ((const int64_t *)ctx)[17] != 0 && len <= 16384;
        _Alignas(64) char ntrow[32768];
        for (int64_t row = 0; row < n; row++) {
            codegen_layernorm_f16_fast(len, v5, v11,
                nt ? (kiln_f16 *)(void *)(ntrow + len * 0) :    (kiln_f16 *)(void *)(p[0] + row * s[0]),
                (const kiln_f16 *)(const void *)(p[1] + row * s[1]),
                p[1] + (row + 1 < n ? row + 1 : row) * s[1],
                (const kiln_f16 *)(const void *)(p[2] + row * s[2]),
                p[2] + (row + 1 < n ? row + 1 : row) * s[2],
                (const kiln_f16 *)(const void *)(p[3] + row * s[3]),
                p[3] + (row + 1 < n ? row + 1 : row) * s[3]);
            if (nt) {
                kiln_nt_copy(p[0] + row * s[0], ntrow + len * 0, (size_t)len * 2);
            }
        }
        if (nt) {
            kiln_nt_fence();
        }
    } else {
        codegen_layernorm_f16_strided(ctx, p, s, n);
    }
}

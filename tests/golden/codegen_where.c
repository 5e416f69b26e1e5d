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
codegen_where_fast(int64_t n, const int32_t v3, kiln_f16 *y0, int8_t *y1, kiln_b *y2, const int32_t *x3, const kiln_f16 *x4, const double *x5)
{
    float c0[512];
    float c4[512];
    for (int64_t kb = 0; kb < n; kb += 512) {
        const int64_t ke = n - kb < 512 ? n : kb + 512;
        float h6[512];
        float h7[512];
        float h9[512];
        kiln_f16_to_f32_n(x4 + kb, c4, ke - kb);
KILN_IVDEP
        for (int64_t i = kb; i < ke; i++) {
            const int32_t v0 = x3[i];
            const float v1 = c4[i - kb];
            const kiln_b v4 = kiln_s_less_i32(v0, v3);
            const float v5 = kiln_f16_to_f32(kiln_f64_to_f16(kiln_cvt_f64(v0)));
            h6[i - kb] = (v4 ? v1 : v5);
        }
        kiln_f16_round_n(h6, ke - kb);
KILN_IVDEP
        for (int64_t i = kb; i < ke; i++) {
            const float v1 = c4[i - kb];
            const float v6 = h6[i - kb];
            h7[i - kb] = kiln_s_add_f32(v6, v1);
        }
        kiln_f16_round_n(h7, ke - kb);
KILN_IVDEP
        for (int64_t i = kb; i < ke; i++) {
            const double v2 = x5[i];
            const float v7 = h7[i - kb];
            const float v8 = kiln_f16_to_f32(kiln_f64_to_f16(kiln_cvt_f64(v2)));
            h9[i - kb] = kiln_s_multiply_f32(v7, v8);
        }
        kiln_f16_round_n(h9, ke - kb);
KILN_IVDEP
        for (int64_t i = kb; i < ke; i++) {
            const int32_t v0 = x3[i];
            const kiln_b v4 = kiln_s_less_i32(v0, v3);
            const float v9 = h9[i - kb];
            const float w9 = v9;
            const int8_t v10 = kiln_cvt_i8(v9);
            c0[i - kb] = w9;
            y1[i] = v10;
            y2[i] = v4;
        }
        kiln_f32_to_f16_n(c0, y0 + kb, ke - kb);
    }
}
static KILN_STRIDED_ATTR void
codegen_where_strided(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    (void)ctx;
    const int32_t v3 = ((int32_t)3ll);
    for (int64_t i = 0; i < n; i++) {
        const int32_t v0 = *(const int32_t *)(const void *)(p[3] + i * s[3]);
        const float v1 = kiln_f16_to_f32(*(const kiln_f16 *)(const void *)(p[4] + i * s[4]));
        const double v2 = *(const double *)(const void *)(p[5] + i * s[5]);
        const kiln_b v4 = kiln_s_less_i32(v0, v3);
        const float v5 = kiln_f16_to_f32(kiln_f64_to_f16(kiln_cvt_f64(v0)));
        const float v6 = kiln_f16_round(((v4 ? v1 : v5)));
        const float v7 = kiln_f16_round((kiln_s_add_f32(v6, v1)));
        const float v8 = kiln_f16_to_f32(kiln_f64_to_f16(kiln_cvt_f64(v2)));
        const float w9 = kiln_s_multiply_f32(v7, v8);
        const float v9 = kiln_f16_round(w9);
        const int8_t v10 = kiln_cvt_i8(v9);
        *(kiln_f16 *)(void *)(p[0] + i * s[0]) = kiln_f32_to_f16(w9);
        *(int8_t *)(void *)(p[1] + i * s[1]) = v10;
        *(kiln_b *)(void *)(p[2] + i * s[2]) = v4;
    }
}
KILN_KERNEL_ATTR __attribute__((visibility("default"))) void
codegen_where(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    if (n <= 0) {
        return;
    }
    if (s[0] == 2 && s[1] == 1 && s[2] == 1 && (s[3] == 4 || s[3] == 0) && (s[4] == 2 || s[4] == 0) && (s[5] == 8 || s[5] == 0)) {
        const int32_t v3 = ((int32_t)3ll);
        const int nt = ctx != NULL;
        int64_t step = nt ? 512 : n;
        kiln_f16 o0[512];
        int8_t o1[512];
        kiln_b o2[512];
        int32_t b3[512];
        if (s[3] == 0) {
            step = 512;
            for (int64_t k = 0; k < n && k < 512; k++) {
                b3[k] = *(const int32_t *)(const void *)p[3];
            }
        }
        kiln_f16 b4[512];
        if (s[4] == 0) {
            step = 512;
            for (int64_t k = 0; k < n && k < 512; k++) {
                b4[k] = *(const kiln_f16 *)(const void *)p[4];
            }
        }
        double b5[512];
        if (s[5] == 0) {
            step = 512;
            for (int64_t k = 0; k < n && k < 512; k++) {
                b5[k] = *(const double *)(const void *)p[5];
            }
        }
        for (int64_t off = 0; off < n; off += step) {
            const int64_t m = n - off < step ? n - off : step;
            codegen_where_fast(m, v3,
                nt ? o0 : (kiln_f16 *)(void *)p[0] + off,
                nt ? o1 : (int8_t *)(void *)p[1] + off,
                nt ? o2 : (kiln_b *)(void *)p[2] + off,
                s[3] == 0 ? b3 : (const int32_t *)(const void *)p[3] + off,
                s[4] == 0 ? b4 : (const kiln_f16 *)(const void *)p[4] + off,
                s[5] == 0 ? b5 : (const double *)(const void *)p[5] + off);
            if (nt) {
                kiln_nt_copy(p[0] + off * 2, o0, (size_t)m * 2);
                kiln_nt_copy(p[1] + off * 1, o1, (size_t)m * 1);
                kiln_nt_copy(p[2] + off * 1, o2, (size_t)m * 1);
            }
        }
        if (nt) {
            kiln_nt_fence();
        }
    } else {
        codegen_where_strided(ctx, p, s, n);
    }
}

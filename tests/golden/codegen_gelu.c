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
codegen_gelu_fast(int64_t n, const float v1, const float v2, const float v3, const float v4, float *y0, float *y1, const float *x2)
{
KILN_IVDEP
    for (int64_t i = 0; i < n; i++) {
        const float v0 = x2[i];
        const float v5 = kiln_s_multiply_f32(v0, v0);
        const float v6 = kiln_s_multiply_f32(v5, v0);
        const float v7 = kiln_s_multiply_f32(v2, v6);
        const float v8 = kiln_s_add_f32(v0, v7);
        const float v9 = kiln_s_multiply_f32(v3, v8);
        const float v10 = kiln_s_tanh_f32(v9);
        const float v11 = kiln_s_add_f32(v4, v10);
        const float v12 = kiln_s_multiply_f32(v1, v0);
        const float v13 = kiln_s_multiply_f32(v12, v11);
        y0[i] = v13;
        y1[i] = v10;
    }
}
static KILN_STRIDED_ATTR void
codegen_gelu_strided(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    (void)ctx;
    const float v1 = *(const float *)(const void *)p[3];
    const float v2 = 0x1.6e4e26p-5f;
    const float v3 = 0x1.988454p-1f;
    const float v4 = 0x1p+0f;
    for (int64_t i = 0; i < n; i++) {
        const float v0 = *(const float *)(const void *)(p[2] + i * s[2]);
        const float v5 = kiln_s_multiply_f32(v0, v0);
        const float v6 = kiln_s_multiply_f32(v5, v0);
        const float v7 = kiln_s_multiply_f32(v2, v6);
        const float v8 = kiln_s_add_f32(v0, v7);
        const float v9 = kiln_s_multiply_f32(v3, v8);
        const float v10 = kiln_s_tanh_f32(v9);
        const float v11 = kiln_s_add_f32(v4, v10);
        const float v12 = kiln_s_multiply_f32(v1, v0);
        const float v13 = kiln_s_multiply_f32(v12, v11);
        *(float *)(void *)(p[0] + i * s[0]) = v13;
        *(float *)(void *)(p[1] + i * s[1]) = v10;
    }
}
KILN_KERNEL_ATTR __attribute__((visibility("default"))) void
codegen_gelu(void *ctx, char *const *p, const int64_t *s, int64_t n)
{
    if (n <= 0) {
        return;
    }
    if (s[0] == 4 && s[1] == 4 && (s[2] == 4 || s[2] == 0)) {
        const float v1 = *(const float *)(const void *)p[3];
        const float v2 = 0x1.6e4e26p-5f;
        const float v3 = 0x1.988454p-1f;
        const float v4 = 0x1p+0f;
        const int nt = ctx != NULL;
        int64_t step = nt ? 512 : n;
        float o0[512];
        float o1[512];
        float b2[512];
        if (s[2] == 0) {
            step = 512;
            for (int64_t k = 0; k < n && k < 512; k++) {
                b2[k] = *(const float *)(const void *)p[2];
            }
        }
        for (int64_t off = 0; off < n; off += step) {
            const int64_t m = n - off < step ? n - off : step;
            codegen_gelu_fast(m, v1, v2, v3, v4,
                nt ? o0 : (float *)(void *)p[0] + off,
                nt ? o1 : (float *)(void *)p[1] + off,
                s[2] == 0 ? b2 : (const float *)(const void *)p[2] + off);
            if (nt) {
                kiln_nt_copy(p[0] + off * 4, o0, (size_t)m * 4);
                kiln_nt_copy(p[1] + off * 4, o1, (size_t)m * 4);
            }
        }
        if (nt) {
            kiln_nt_fence();
        }
    } else {
        codegen_gelu_strided(ctx, p, s, n);
    }
}

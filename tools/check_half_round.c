/*
 * check_half_round.c - kiln_f16_round and kiln_bf16_round (src/core/half.h)
 * against the round trip through kiln_f32_to_f16/kiln_f32_to_bf16 for all
 * 2^32 float bit patterns, and the block functions (the hardware, where
 * the target has F16C) against the scalar ones: kiln_f32_to_f16_n and
 * kiln_f16_round_n on all 2^32 floats, kiln_f16_to_f32_n on all 2^16
 * halves, NaNs included. Exit status 0 when every one agrees bit for bit.
 * About a minute (the scalar round trip); `make check-half-round`
 * builds it with the JIT's math flags, so the fast loop vectorises as in
 * the kernels that use these functions.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/half.h"

#define N 4096

static float in[N], got[N], want[N];
static kiln_f16 hgot[N], hwant[N];

__attribute__((noinline)) static void fast(int bf)
{
    for (int i = 0; i < N; i++) {
        got[i] = bf ? kiln_bf16_round(in[i]) : kiln_f16_round(in[i]);
    }
}

__attribute__((noinline)) static void slow(int bf)
{
    for (int i = 0; i < N; i++) {
        want[i] = bf ? kiln_bf16_to_f32(kiln_f32_to_bf16(in[i]))
                     : kiln_f16_to_f32(kiln_f32_to_f16(in[i]));
    }
}

/* The block functions against the scalar ones on in[]; returns the
 * number of elements that differ. */
static uint64_t blocks(void)
{
    static uint64_t shown; /* lines printed, over all calls */
    uint64_t bad = 0;
    kiln_f32_to_f16_n(in, hgot, N);
    memcpy(got, in, sizeof got);
    kiln_f16_round_n(got, N);
    for (int i = 0; i < N; i++) {
        hwant[i] = kiln_f32_to_f16(in[i]);
        want[i] = kiln_f16_round(in[i]);
    }
    for (int i = 0; i < N; i++) {
        uint32_t x, g, w;
        memcpy(&x, &in[i], 4);
        memcpy(&g, &got[i], 4);
        memcpy(&w, &want[i], 4);
        bool differ = hgot[i] != hwant[i] || g != w;
        bad += differ;
        if (differ && shown++ < 8) {
            printf("blocks: x %08x: narrow %04x / %04x, round %08x / %08x\n",
                   x, hgot[i], hwant[i], g, w);
        }
    }
    return bad;
}

int main(void)
{
    uint64_t bad[3] = {0, 0, 0};
    for (uint32_t h = 0; h < 65536; h += N) {
        for (int i = 0; i < N; i++) {
            hwant[i] = (kiln_f16)(h + (uint32_t)i);
        }
        kiln_f16_to_f32_n(hwant, got, N);
        for (int i = 0; i < N; i++) {
            float w = kiln_f16_to_f32(hwant[i]);
            if (memcmp(&got[i], &w, 4) != 0 && bad[2]++ < 8) {
                printf("widen: %04x differs\n", hwant[i]);
            }
        }
    }
    for (uint64_t base = 0; base < (1ull << 32); base += N) {
        for (int i = 0; i < N; i++) {
            uint32_t u = (uint32_t)(base + (uint64_t)i);
            memcpy(&in[i], &u, 4);
        }
        bad[2] += blocks();
        for (int bf = 0; bf < 2; bf++) {
            fast(bf);
            slow(bf);
            if (memcmp(got, want, sizeof got) == 0) {
                continue;
            }
            for (int i = 0; i < N; i++) {
                uint32_t x, g, w;
                memcpy(&x, &in[i], 4);
                memcpy(&g, &got[i], 4);
                memcpy(&w, &want[i], 4);
                if (g != w && bad[bf]++ < 8) {
                    printf("%s: x %08x: round %08x, round trip %08x\n",
                           bf ? "bfloat16" : "float16", x, g, w);
                }
            }
        }
    }
    printf("float16: %llu differ, bfloat16: %llu differ (of 2^32 each); "
           "blocks: %llu differ\n",
           (unsigned long long)bad[0], (unsigned long long)bad[1],
           (unsigned long long)bad[2]);
    return bad[0] || bad[1] || bad[2];
}

/* half.c — float32 <-> IEEE 754 binary16 in memory, declared in io/archive.h. Rounds to nearest,
 * ties to even, overflow to +-inf, subnormals kept, as numpy's astype(float16) (the reference
 * the archive tests compare with). HDF5's own conversion is not used: it rounds ties away from
 * zero and clamps overflow (PLATFORM.md). Per element the reference is kernels/ops_math.h; on
 * x86-64 CPUs with F16C the conversion instructions (vcvtps2ph with round-to-nearest-even,
 * vcvtph2ps) do the same 8 values at a time (STRATA_NO_F16C=1 forces the reference; the tests
 * run both). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_PATH 1
#endif

#include "io/archive.h"
#include "kernels/ops_math.h"

/* The reference path, element by element (kernels/ops_math.h, shared with the backends). */
static int64_t to_f16_c(const float *in, uint16_t *out, int64_t n)
{
    int64_t overflow = 0;
    for (int64_t i = 0; i < n; i++) {
        out[i] = strata_math_f32_to_f16(in[i]);
        overflow += isfinite(in[i]) && (out[i] & 0x7fffu) == 0x7c00u;
    }
    return overflow;
}

static void to_f32_c(const uint16_t *in, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = strata_math_f16_to_f32(in[i]);
}

#ifdef HAVE_F16C_PATH
__attribute__((target("avx,f16c,popcnt"))) static int64_t to_f16_f16c(const float *in,
                                                                       uint16_t *out, int64_t n)
{
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 limit = _mm256_set1_ps(65520.0f), inf = _mm256_set1_ps(INFINITY);
    int64_t overflow = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(in + i);
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256 ax = _mm256_and_ps(x, abs_mask); /* finite and >= 65520: becomes inf */
        __m256 over = _mm256_and_ps(_mm256_cmp_ps(ax, limit, _CMP_GE_OQ),
                                    _mm256_cmp_ps(ax, inf, _CMP_LT_OQ));
        overflow += __builtin_popcount((unsigned)_mm256_movemask_ps(over));
    }
    return overflow + to_f16_c(in + i, out + i, n - i);
}

__attribute__((target("avx,f16c"))) static void to_f32_f16c(const uint16_t *in, float *out,
                                                            int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    to_f32_c(in + i, out + i, n - i);
}
#endif

#ifdef HAVE_F16C_PATH
/* CPUID leaf 1: AVX (ecx bit 28), F16C (bit 29), OSXSAVE (bit 27), and the OS saving the
 * YMM state (XCR0 bits 1-2). (clang 14 does not know __builtin_cpu_supports("f16c").) */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!((c >> 27) & 1) || !((c >> 28) & 1) || !((c >> 29) & 1)) return 0;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6u) == 6u;
}
#endif

/* 1 when the F16C path is used: decided once (CPU support, STRATA_NO_F16C unset). */
static int use_f16c(void)
{
#ifdef HAVE_F16C_PATH
    static int decided = -1;
    if (decided < 0) {
        const char *off = getenv("STRATA_NO_F16C");
        decided = cpu_has_f16c() &&
                  !(off && *off && strcmp(off, "0") != 0);
    }
    return decided;
#else
    return 0;
#endif
}

int64_t strata_f32_to_f16_array(const float *in, uint16_t *out, int64_t n)
{
#ifdef HAVE_F16C_PATH
    if (use_f16c()) return to_f16_f16c(in, out, n);
#endif
    return to_f16_c(in, out, n);
}

void strata_f16_to_f32_array(const uint16_t *in, float *out, int64_t n)
{
#ifdef HAVE_F16C_PATH
    if (use_f16c()) {
        to_f32_f16c(in, out, n);
        return;
    }
#endif
    to_f32_c(in, out, n);
}

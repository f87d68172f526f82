/* ops_math.h — per-element math shared by the CPU backend and (later) the CUDA backend: each
 * function is `static inline` and marked STRATA_HD, which is `__host__ __device__` under nvcc.
 * Definitions follow PyTorch's (torch.nn.functional.gelu, silu; CLIP's quick_gelu) and IEEE 754
 * binary16 / bfloat16 with round-to-nearest-even (as numpy and torch convert). */
#ifndef STRATA_OPS_MATH_H
#define STRATA_OPS_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define STRATA_HD __host__ __device__
#else
#define STRATA_HD
#endif

STRATA_HD static inline float strata_math_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
STRATA_HD static inline float strata_math_silu(float x) { return x / (1.0f + expf(-x)); }
STRATA_HD static inline float strata_math_gelu_erf(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}
STRATA_HD static inline float strata_math_gelu_tanh(float x)
{
    const float k = 0.79788456080286536f; /* sqrt(2 / pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}
STRATA_HD static inline float strata_math_quick_gelu(float x) { return x * strata_math_sigmoid(1.702f * x); }

/* kind: a strata_activation value (backend.h) */
STRATA_HD static inline float strata_math_activation(int kind, float x)
{
    switch (kind) {
    case 0: return strata_math_gelu_erf(x);
    case 1: return strata_math_gelu_tanh(x);
    case 2: return strata_math_quick_gelu(x);
    default: return strata_math_silu(x);
    }
}

STRATA_HD static inline uint32_t strata_math_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
STRATA_HD static inline float strata_math_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

STRATA_HD static inline float strata_math_bf16_to_f32(uint16_t h) { return strata_math_bits_f32((uint32_t)h << 16); }
STRATA_HD static inline uint16_t strata_math_f32_to_bf16(float f)
{
    uint32_t u = strata_math_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

STRATA_HD static inline float strata_math_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return strata_math_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return strata_math_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}
STRATA_HD static inline uint16_t strata_math_f32_to_f16(float f)
{
    uint32_t u = strata_math_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;          /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;         /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                               /* below 2^-14: subnormal or zero */
        float v = strata_math_bits_f32(a) * 16777216.0f; /* in units of 2^-24, exact */
        float r = rintf(v);                              /* ties to even (default mode) */
        return sign | (uint16_t)r;
    }
    uint32_t m = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23); /* rebias, round to even */
    return sign | (uint16_t)(m >> 13);
}

#endif

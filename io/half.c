/* half.c — float32 <-> IEEE 754 binary16 in memory, declared in io/archive.h. Rounds to nearest,
 * ties to even, overflow to +-inf, subnormals kept, as numpy's astype(float16) (the reference
 * the archive tests compare with). HDF5's own conversion is not used: it rounds ties away from
 * zero and clamps overflow (PLATFORM.md). */
#include <math.h>
#include <string.h>

#include "io/archive.h"

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int64_t strata_f32_to_f16(const float *in, uint16_t *out, int64_t n)
{
    int64_t overflow = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t x = float_bits(in[i]);
        uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
        uint32_t ax = x & 0x7fffffffu;
        if (ax >= 0x7f800000u) {                  /* inf or NaN (NaN stays a quiet NaN) */
            out[i] = sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u);
        } else if (ax >= 0x477ff000u) {           /* >= 65520 rounds past 65504: inf */
            out[i] = sign | 0x7c00u;
            overflow++;
        } else if (ax < 0x38800000u) {            /* below 2^-14: half subnormal or zero */
            /* the half's integer mantissa is |x| * 2^24 (exact in float), rounded to even;
             * 1024 becomes the smallest normal's bit pattern by itself */
            out[i] = sign | (uint16_t)rintf(bits_float(ax) * 16777216.0f);
        } else {                                  /* normal: rebias the exponent, round */
            uint32_t lsb = (ax >> 13) & 1u;
            out[i] = sign | (uint16_t)((ax - 0x38000000u + 0xfffu + lsb) >> 13);
        }
    }
    return overflow;
}

void strata_f16_to_f32(const uint16_t *in, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = in[i];
        uint32_t sign = (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
        if (exponent == 0x1f) {
            out[i] = bits_float(sign | 0x7f800000u | (mantissa << 13));
        } else if (exponent == 0) {               /* zero or subnormal: mantissa * 2^-24 */
            float v = (float)mantissa * (1.0f / 16777216.0f);
            out[i] = sign ? -v : v;
        } else {
            out[i] = bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
        }
    }
}

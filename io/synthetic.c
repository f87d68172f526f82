/* synthetic.c — see synthetic.h. An integer hash (multiply-xorshift, all arithmetic mod 2^32)
 * of the coordinates gives a 24-bit integer, scaled by a power of two so that the f32 value is
 * exact and numpy recomputes it bit for bit; two columns reach the half range's edges (overflow
 * to inf, subnormals) so that f16 archives exercise them. */
#include "io/synthetic.h"

#include <math.h>

const char strata_synthetic_formula[] =
    "  content (all integer arithmetic mod 2^32; i = sample, j = token (0 when pooled),\n"
    "  l = layer index, c = column, t = stream position in --streams, s = seed):\n"
    "    k = i*0x9E3779B1 + j*0x27D4EB2F + l*0x85EBCA77 + c*0xC2B2AE3D + t*0x165667B1\n"
    "        + s*0xD3A2646C + 1\n"
    "    k ^= k >> 15; k *= 0x2C1B3C6D; k ^= k >> 12; k *= 0x297A2D39; k ^= k >> 15\n"
    "    m = (k >> 8) - 8388608                       (an integer in [-2^23, 2^23))\n"
    "    value = m * 2^-4    if c == 0 and i % 5 == 4  (beyond the half range: inf in f16)\n"
    "            m * 2^-37   if c == 1                 (half subnormals)\n"
    "            m * 2^-19   otherwise                 (|value| < 16)\n"
    "  computed exactly in float32; f16 archives hold it rounded to nearest even (numpy's\n"
    "  astype(float16)). Ragged streams (--ragged): sample i has 1 + (i + s) % 4 rows (tokens\n"
    "  j = 0..), rows at /index/<stream>/row_offset. With --fail-every K, sample i fails when\n"
    "  i % K == K-1: status 2, error \"synthetic failure of sample i\", rows all zero.\n"
    "  Sample ids: \"sample-%06d\" of i. Layers kept: 0..L (L+1 of them).\n";

float strata_synthetic_value(uint32_t seed, int stream, int64_t sample, int64_t token, int layer,
                             int column)
{
    uint32_t k = (uint32_t)sample * 0x9E3779B1u + (uint32_t)token * 0x27D4EB2Fu +
                 (uint32_t)layer * 0x85EBCA77u + (uint32_t)column * 0xC2B2AE3Du +
                 (uint32_t)stream * 0x165667B1u + seed * 0xD3A2646Cu + 1u;
    k ^= k >> 15;
    k *= 0x2C1B3C6Du;
    k ^= k >> 12;
    k *= 0x297A2D39u;
    k ^= k >> 15;
    int32_t m = (int32_t)(k >> 8) - 8388608;
    int exponent = column == 0 && sample % 5 == 4 ? -4 : column == 1 ? -37 : -19;
    return ldexpf((float)m, exponent);
}

int64_t strata_synthetic_tokens(uint32_t seed, int64_t sample)
{
    return 1 + (sample + (int64_t)seed) % 4;
}

int strata_synthetic_failed(int64_t sample, int fail_every)
{
    return fail_every > 0 && sample % fail_every == fail_every - 1;
}

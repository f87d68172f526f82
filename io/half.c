/* half.c — float32 <-> IEEE 754 binary16 arrays for the archive, declared in io/archive.h.
 * Per element this is kernels/ops_math.h (round to nearest, ties to even, overflow to +-inf,
 * subnormals kept: numpy's astype(float16), the reference the archive tests compare with);
 * here we add the overflow count. HDF5's own conversion is not used: it rounds ties away from
 * zero and clamps overflow (PLATFORM.md). */
#include <math.h>

#include "io/archive.h"
#include "kernels/ops_math.h"

int64_t strata_f32_to_f16_array(const float *in, uint16_t *out, int64_t n)
{
    int64_t overflow = 0;
    for (int64_t i = 0; i < n; i++) {
        out[i] = strata_math_f32_to_f16(in[i]);
        overflow += isfinite(in[i]) && (out[i] & 0x7fffu) == 0x7c00u;
    }
    return overflow;
}

void strata_f16_to_f32_array(const uint16_t *in, float *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) out[i] = strata_math_f16_to_f32(in[i]);
}

/* backend.c — choosing a backend by name, and the dtype helpers of kernels/backend.h.
 * The CUDA backend registers itself here when it exists (strata_backend_cuda_init); until then
 * "cuda" is refused with the reason and "auto" means the CPU. */
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/ops_math.h"
#include "strata.h"

int strata_cuda_device_count(char *why, int why_len); /* kernels/cuda/ (or its stub) */

size_t strata_tensor_dtype_size(strata_tensor_dtype t) { return t == STRATA_TENSOR_F32 ? 4 : 2; }

const char *strata_tensor_dtype_name(strata_tensor_dtype t)
{
    return t == STRATA_TENSOR_F32 ? "f32" : t == STRATA_TENSOR_F16 ? "f16" : "bf16";
}

float strata_f16_to_f32(uint16_t h) { return strata_math_f16_to_f32(h); }
uint16_t strata_f32_to_f16(float f) { return strata_math_f32_to_f16(f); }
float strata_bf16_to_f32(uint16_t h) { return strata_math_bf16_to_f32(h); }
uint16_t strata_f32_to_bf16(float f) { return strata_math_f32_to_bf16(f); }

strata_backend *strata_backend_init(const char *name, int device, int threads)
{
    if (!name || !strcmp(name, "cpu") || !strcmp(name, "auto")) return strata_backend_cpu_init(threads);
    if (!strcmp(name, "cuda")) {
        char why[256] = "";
        if (strata_cuda_device_count(why, sizeof why) <= 0) {
            strata_error_set("backend 'cuda': no usable device (%s)", why);
            return NULL;
        }
        strata_error_set("backend 'cuda': the CUDA backend is not built in this version");
        return NULL;
    }
    strata_error_set("unknown backend '%s' (expected cpu, cuda or auto)", name);
    return NULL;
}

void strata_backend_free(strata_backend *b)
{
    if (!b) return;
    b->ops->destroy(b->ctx);
    free(b);
}

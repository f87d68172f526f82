/* backend.c — choosing a backend by name, and the dtype helpers of kernels/backend.h.
 * "auto" is the CUDA backend when a GPU is usable, else the CPU with a one-line notice saying
 * why; "cuda" fails with the reason when no GPU is usable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/ops_math.h"
#include "strata.h"

int strata_cuda_device_count(char *why, int why_len); /* kernels/cuda/ (or its stub) */
strata_backend *strata_backend_cuda_init(int device);   /* kernels/cuda/ (or its stub) */

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
    if (!name) name = "auto";
    if (!strcmp(name, "cpu")) return strata_backend_cpu_init(threads);
    if (!strcmp(name, "cuda") || !strcmp(name, "auto")) {
        char why[256] = "";
        strata_backend *b = NULL;
        if (strata_cuda_device_count(why, sizeof why) > 0) {
            b = strata_backend_cuda_init(device);
            if (!b) snprintf(why, sizeof why, "%s", strata_error_get());
        }
        if (b) return b;
        if (!strcmp(name, "cuda")) {
            strata_error_set("backend 'cuda': no usable GPU (%s); use --backend cpu or auto", why);
            return NULL;
        }
        static int told = 0;
        if (!told++) strata_log0("no usable GPU (%s): using the CPU backend", why);
        return strata_backend_cpu_init(threads);
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

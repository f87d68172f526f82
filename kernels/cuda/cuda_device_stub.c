/* cuda_device_stub.c — built instead of the kernels/cuda .cu files when strata is configured
 * without CUDA: no device can be used, and the reason says so. */
#include <stdio.h>

#include "kernels/backend.h"
#include "strata.h"

int strata_cuda_device_count(char *why, int why_len);
strata_backend *strata_backend_cuda_init(int device);

int strata_cuda_device_count(char *why, int why_len)
{
    if (why) snprintf(why, (size_t)why_len, "strata was built without CUDA (STRATA_CUDA=OFF)");
    return 0;
}

strata_backend *strata_backend_cuda_init(int device)
{
    (void)device;
    strata_error_set("strata was built without CUDA (STRATA_CUDA=OFF)");
    return NULL;
}

// cuda_device.cu — how many CUDA devices this process can use, without failing where there is
// no GPU or no driver (the same binary must fall back to the CPU with a clear message).
#include <cuda_runtime.h>

#include <stdio.h>

extern "C" int strata_cuda_device_count(char *why, int why_len)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        if (why) snprintf(why, (size_t)why_len, "%s", cudaGetErrorString(err));
        return 0;
    }
    if (n == 0 && why) snprintf(why, (size_t)why_len, "no CUDA device visible");
    return n;
}

// cuda_memory.cu — the free memory of one GPU (cudaMemGetInfo), for the extract driver's check
// that a batch fits before any work (pipeline/model/memory.h has the per-rank plan).
#include <cuda_runtime.h>

extern "C" int strata_cuda_free_memory(int device, double *free_bytes)
{
    size_t free_b = 0, total_b = 0;
    if (cudaSetDevice(device) != cudaSuccess || cudaMemGetInfo(&free_b, &total_b) != cudaSuccess)
        return -1;
    *free_bytes = (double)free_b;
    return 0;
}

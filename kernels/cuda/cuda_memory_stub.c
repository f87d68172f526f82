/* cuda_memory_stub.c — built instead of cuda_memory.cu without CUDA: no device memory to query. */
int strata_cuda_free_memory(int device, double *free_bytes);

int strata_cuda_free_memory(int device, double *free_bytes)
{
    (void)device;
    *free_bytes = 0;
    return -1;
}

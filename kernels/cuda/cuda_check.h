// cuda_check.h — check macros for the CUDA runtime and cuBLAS: a failed call prints the call,
// file:line, the rank, the GPU and the decoded error, then aborts the whole job (strata_fatal).
#ifndef STRATA_CUDA_CHECK_H
#define STRATA_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "strata.h"
}

static inline const char *strata_cublas_status_name(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "unknown cuBLAS status";
    }
}

#define STRATA_CHECK_CUDA(call)                                                                 \
    do {                                                                                        \
        cudaError_t strata_cuda_err_ = (call);                                                  \
        if (strata_cuda_err_ != cudaSuccess) {                                                  \
            int strata_dev_ = -1;                                                               \
            cudaGetDevice(&strata_dev_);                                                        \
            strata_fatal("CUDA call failed: %s at %s:%d (GPU %d): %s", #call, __FILE__,         \
                         __LINE__, strata_dev_, cudaGetErrorString(strata_cuda_err_));          \
        }                                                                                       \
    } while (0)

#define STRATA_CHECK_CUBLAS(call)                                                               \
    do {                                                                                        \
        cublasStatus_t strata_cublas_st_ = (call);                                              \
        if (strata_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                       \
            int strata_dev_ = -1;                                                               \
            cudaGetDevice(&strata_dev_);                                                        \
            strata_fatal("cuBLAS call failed: %s at %s:%d (GPU %d): %s", #call, __FILE__,       \
                         __LINE__, strata_dev_, strata_cublas_status_name(strata_cublas_st_));  \
        }                                                                                       \
    } while (0)

// After a kernel launch: launch errors are reported at the launch site.
#define STRATA_CHECK_LAUNCH() STRATA_CHECK_CUDA(cudaGetLastError())

#endif

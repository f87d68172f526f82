/* cuda_device_stub.c — built instead of the CUDA backend when strata is configured without
 * CUDA: reports that no device can be used and why. */
#include <stdio.h>

int strata_cuda_device_count(char *why, int why_len);

int strata_cuda_device_count(char *why, int why_len)
{
    if (why) snprintf(why, (size_t)why_len, "strata was built without CUDA (STRATA_CUDA=OFF)");
    return 0;
}

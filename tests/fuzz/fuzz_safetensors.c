/* fuzz_safetensors.c — libFuzzer target for the safetensors header checks (io/safetensors.c):
 * any bytes must give a handle whose tensors lie inside the buffer without overlapping, or an
 * error message, never a crash or an out-of-bounds read. Also reads every tensor's bytes so
 * ASan sees a bad span. Built only with -DSTRATA_FUZZ=ON and clang (tests/fuzz.cmake). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "strata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy of exactly size bytes: reads past it are caught */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    strata_safetensors *st = strata_safetensors_open_memory(copy, size, "fuzz.safetensors");
    if (st) {
        unsigned sum = 0;
        for (int i = 0; i < strata_safetensors_count(st); i++) {
            const strata_st_tensor *t = strata_safetensors_at(st, i);
            const uint8_t *p = t->data;
            if (p < copy || p + t->nbytes > copy + size) abort(); /* the checks failed */
            for (size_t j = 0; j < t->nbytes; j++) sum += p[j];
            if (strata_safetensors_find(st, t->name) != t) abort();
        }
        (void)sum;
        strata_safetensors_close(st);
    } else if (!strata_error_get()[0]) {
        abort(); /* a refusal must say why */
    }
    free(copy);
    return 0;
}

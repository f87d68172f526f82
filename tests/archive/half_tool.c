/* half_tool.c — exposes strata's f32 <-> f16 conversion (io/half.c) to test_archive_half.py,
 * which compares it with numpy: `half_tool to16 IN OUT` reads float32s, writes halves and prints
 * the overflow count; `half_tool to32 IN OUT` reads halves, writes float32s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/archive.h"
#include "strata.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: half_tool to16|to32 IN OUT\n");
        return 2;
    }
    size_t len;
    char *in = strata_read_file(argv[2], &len);
    if (!in) {
        fprintf(stderr, "%s\n", strata_error_get());
        return 1;
    }
    int to16 = strcmp(argv[1], "to16") == 0;
    int64_t n = (int64_t)(len / (to16 ? 4 : 2));
    void *out = strata_malloc((size_t)n * (to16 ? 2 : 4));
    if (to16) printf("%lld\n", (long long)strata_f32_to_f16_array((const float *)in, out, n));
    else strata_f16_to_f32_array((const uint16_t *)in, out, n);
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(out, to16 ? 2 : 4, (size_t)n, f) != (size_t)n || fclose(f) != 0) return 1;
    free(out);
    free(in);
    return 0;
}

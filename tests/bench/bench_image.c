/* bench_image.c — images/s of strata's decode + preprocess on a list of files, one thread:
 *   bench_image MODEL_DIR RUNS FILE...
 * Prints, per run, the CPU seconds of this process for decode alone and for decode + preprocess of
 * every file (CPU time, not wall time: the machines are shared, and both sides run one thread),
 * and a checksum of the pixel values (so the work cannot be skipped). Driven by bench_image.py. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "io/image.h"
#include "io/preprocess.h"
#include "strata.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_image MODEL_DIR RUNS FILE...\n");
        return 2;
    }
    strata_preprocess_config *cfg = strata_preprocess_config_load(argv[1]);
    if (!cfg) {
        fprintf(stderr, "%s\n", strata_error_get());
        return 1;
    }
    int runs = atoi(argv[2]), n = argc - 3;
    for (int r = 0; r < runs; r++) {
        double t0 = cpu_seconds(), decode = 0, checksum = 0;
        for (int i = 0; i < n; i++) {
            double d0 = cpu_seconds();
            strata_image img;
            if (strata_image_load(argv[3 + i], &img)) {
                fprintf(stderr, "%s\n", strata_error_get());
                return 1;
            }
            decode += cpu_seconds() - d0;
            int h, w;
            strata_preprocess_output_size(cfg, img.height, img.width, &h, &w);
            float *pv = strata_malloc(sizeof(float) * 3 * h * w); /* [3][h][w] */
            strata_preprocess_run(cfg, &img, pv, NULL);
            checksum += pv[(h / 2) * w + w / 2];
            free(pv);
            strata_image_free(&img);
        }
        printf("run %d decode_s %.6f total_s %.6f checksum %.6f\n", r, decode, cpu_seconds() - t0, checksum);
    }
    strata_preprocess_config_free(cfg);
    return 0;
}

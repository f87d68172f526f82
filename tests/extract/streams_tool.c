/* streams_tool.c — a command-line face of pipeline/streams.c for tests/extract/test_streams.py,
 * which holds its answers against Python's slices and numpy:
 *   streams_tool layers SPEC N_TOTAL            -> kept indices, one line, space-separated
 *   streams_tool streams LIST DEFAULT_POOL      -> "name site pool ragged" per stream
 *   streams_tool pool POOL IN.f32 T D POSITIONS SEED OUT.f32
 *        IN: [T][D] float32; POSITIONS: comma-separated (or "-" for none); OUT: [rows][D]
 *   streams_tool sample K N SEED                -> the positions sample:K keeps
 * Errors: "error: <message>" on stdout, exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "streams.h"
#include "strata.h"

static int fail(void)
{
    printf("error: %s\n", strata_error_get());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "layers") == 0) {
        int *layers = NULL, n = 0;
        if (strata_layers_parse(argv[2], atoi(argv[3]), &layers, &n) < 0) return fail();
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", layers[i]);
        printf("\n");
        free(layers);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "streams") == 0) {
        strata_stream_request *req = NULL;
        int n = 0;
        if (strata_streams_parse(argv[2], argv[3], &req, &n) < 0) return fail();
        for (int i = 0; i < n; i++) {
            char pool[32];
            strata_pool_format(req[i].pool, pool, sizeof pool);
            printf("%s %s %s %d\n", req[i].name, strata_stream_site(req[i].kind), pool,
                   strata_pool_is_ragged(req[i].pool));
        }
        free(req);
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "sample") == 0) {
        int k = atoi(argv[2]), n = atoi(argv[3]);
        int *out = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
        int m = strata_pool_sample_positions(k, n, strtoull(argv[4], NULL, 10), out);
        for (int i = 0; i < m; i++) printf(i ? " %d" : "%d", out[i]);
        printf("\n");
        free(out);
        return 0;
    }
    if (argc >= 9 && strcmp(argv[1], "pool") == 0) {
        strata_pool pool;
        if (strata_pool_parse(argv[2], &pool) < 0) return fail();
        int T = atoi(argv[4]), D = atoi(argv[5]);
        size_t len = 0;
        char *raw = strata_read_file(argv[3], &len);
        if (!raw) return fail();
        if (len != (size_t)T * (size_t)D * sizeof(float)) {
            printf("error: %s holds %zu bytes, expected %d x %d floats\n", argv[3], len, T, D);
            return 1;
        }
        float *hidden = malloc(len); /* [T][D] */
        memcpy(hidden, raw, len);
        free(raw);
        int *pos = malloc(sizeof(int) * (size_t)(T + 1)), n_pos = 0;
        if (strcmp(argv[6], "-") != 0)
            for (char *s = strtok(argv[6], ","); s; s = strtok(NULL, ",")) pos[n_pos++] = atoi(s);
        int64_t rows = strata_pool_rows(pool, n_pos);
        float *out = calloc((size_t)(rows > 0 ? rows : 1) * (size_t)D, sizeof(float)); /* [rows][D] */
        strata_pool_apply(pool, hidden, D, D, pos, n_pos, strtoull(argv[7], NULL, 10), out);
        FILE *f = fopen(argv[8], "wb");
        if (!f || fwrite(out, sizeof(float), (size_t)(rows * D), f) != (size_t)(rows * D)) {
            printf("error: cannot write %s\n", argv[8]);
            return 1;
        }
        fclose(f);
        printf("%lld\n", (long long)rows);
        free(hidden);
        free(pos);
        free(out);
        return 0;
    }
    fprintf(stderr, "usage: streams_tool layers|streams|pool|sample ...\n");
    return 2;
}

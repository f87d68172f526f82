/* fuzz_config.c — libFuzzer target for config.json reading (io/config.c): any bytes give a
 * config with the fields strata relies on in range, or an error message; never a crash.
 * The reader takes a path, so each input is written to a private temporary file first.
 * Built only with -DSTRATA_FUZZ=ON and clang (tests/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "io/config.h"
#include "strata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/strata_fuzz_config_%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    strata_model_config cfg;
    if (strata_config_load(path, &cfg) == 0) {
        const strata_text_config *t = &cfg.text;
        if (t->n_layers <= 0 || t->n_heads <= 0 || t->n_kv_heads <= 0 || t->head_dim <= 0 ||
            t->n_heads % t->n_kv_heads || !t->sliding_window)
            abort(); /* accepted a config the engine cannot run */
        for (int l = 0; l < t->n_layers; l++)
            if (t->sliding_window[l] < 0) abort();
        if (cfg.has_vision)
            for (int i = 0; i < cfg.n_feature_layers; i++)
                if (cfg.feature_layers[i] < 0 || cfg.feature_layers[i] > cfg.vision.n_layers) abort();
        strata_config_free(&cfg);
    } else if (!strata_error_get()[0]) {
        abort();
    }
    return 0;
}

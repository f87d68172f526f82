/* fuzz_study.c — libFuzzer target for study specs (pipeline/study.c): any bytes as a YAML spec
 * must give a study or an error message, never a crash; when a study comes out, every script
 * it generates must also come out. Relative paths resolve against the repository, so the seeds
 * (corpus_study/) can name real folders (tests/fuzz as a "model" needs no config.json: those
 * specs stop at the model check; jobs/examples has none either). Built only with -DSTRATA_FUZZ=ON
 * and clang (tests/fuzz.cmake). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"
#include "study.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    strata_study *s = strata_study_load_string(text, "fuzz.yaml", STRATA_SOURCE_DIR);
    if (s) {
        for (int step = 0; step < STRATA_STUDY_N_STEPS; step++) {
            char *script = NULL;
            if (strata_study_script(s, (strata_study_step)step, step & 1, &script) == 0) free(script);
        }
        strata_study_free(s);
    } else if (!strata_error_get()[0]) {
        abort(); /* a refused spec always says why */
    }
    free(text);
    return 0;
}

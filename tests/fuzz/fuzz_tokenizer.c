/* fuzz_tokenizer.c — libFuzzer target for io/tokenizer encode/decode and io/template expand.
 * The first input byte picks a fixture tokenizer.json of tests/tokenizer/data/ (or the template
 * expander); the rest is the text, any bytes (invalid UTF-8 must give an error, never a crash).
 * Built only with -DSTRATA_FUZZ=ON and clang (tests/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/template.h"
#include "io/tokenizer.h"
#include "strata.h"

static const char *kinds[] = {"llama2", "llama2_meta", "qwen2", "llama3", "gpt2", "clip", "misc"};
enum { n_kinds = sizeof kinds / sizeof kinds[0] };
static strata_tokenizer *toks[n_kinds];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int which = data[0] % (n_kinds + 1);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (which == n_kinds) { /* the template expander: text as a template */
        char *t = malloc(len + 1);
        memcpy(t, text, len);
        t[len] = '\0';
        char *out = strata_template_expand(t, "prompt", "caption", (data[0] & 0x80) ? "<img>" : NULL);
        strata_template_check(t);
        free(out);
        free(t);
        return 0;
    }
    if (!toks[which]) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/tokenizer/data/%s.json", STRATA_SOURCE_DIR, kinds[which]);
        toks[which] = strata_tokenizer_load(path);
        if (!toks[which]) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", strata_error_get());
            abort();
        }
    }
    int32_t *ids = NULL;
    int n = 0;
    if (strata_tokenizer_encode_len(toks[which], text, len, data[0] & 0x80, &ids, &n) == 0) {
        for (int i = 0; i < n; i++)
            if (!strata_tokenizer_piece(toks[which], ids[i])) abort(); /* every id must exist */
        free(strata_tokenizer_decode(toks[which], ids, n, data[0] & 0x40));
    } else if (ids || n) {
        abort(); /* an error leaves no ids */
    }
    free(ids);
    return 0;
}

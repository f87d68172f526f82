/* fuzz_manifest.c — libFuzzer target for the manifest line parser (io/manifest.c): the input is
 * split at newlines and every line parsed as strata_manifest_open would; any outcome but a crash
 * or sanitizer report is fine. Also checks the invariant that a parsed sample has id, image,
 * caption and labels set, and an empty caption exactly when it carries an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t at = 0;
    long line = 0;
    while (at <= size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - text) : size;
        strata_sample s;
        int rc = strata_manifest_parse_line(text + at, end - at, "/data", ++line, &s);
        if (rc == 1) {
            if (!s.id || !s.image || !s.caption || !s.labels_json) abort();
            if (s.error && s.caption[0]) abort();
            strata_sample_clear(&s);
        }
        if (!nl) break;
        at = end + 1;
    }
    return 0;
}

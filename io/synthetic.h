/* synthetic.h — the deterministic content of synthetic archives (`strata mkarchive`), shared by
 * the command and by tests that recompute it. Every value depends only on (seed, stream index,
 * sample, token, layer, column), never on the number of ranks or rounds. The same formula is
 * printed by `strata mkarchive --help` so that Python tests can recompute it with numpy. */
#ifndef STRATA_SYNTHETIC_H
#define STRATA_SYNTHETIC_H

#include <stdint.h>

/* The value of column `column` of layer `layer` for token `token` of sample `sample` in stream
 * number `stream` (0-based position in --streams). token is 0 for pooled streams. */
float strata_synthetic_value(uint32_t seed, int stream, int64_t sample, int64_t token, int layer,
                             int column);
/* Rows of sample `sample` in a ragged synthetic stream: 1 + (sample + seed) % 4. */
int64_t strata_synthetic_tokens(uint32_t seed, int64_t sample);
/* Does sample fail (status 2, zero rows) with --fail-every k? (k > 0 and sample % k == k - 1) */
int strata_synthetic_failed(int64_t sample, int fail_every);

/* The formula, as printed in --help. */
extern const char strata_synthetic_formula[];

#endif

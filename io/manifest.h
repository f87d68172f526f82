/* manifest.h — dataset manifests: JSONL, one sample a line:
 *   {"id": "coco-123", "image": "images/123.jpg", "caption": "A dog on a sofa.", ...labels}
 * Image paths are relative to the manifest's folder unless absolute. Blank lines are skipped.
 * A line that is not a JSON object or lacks id/image/caption (or a duplicate id) makes the whole
 * manifest invalid: strata_manifest_open fails with "FILE:LINE: ..." (DESIGN.md: a bad manifest
 * stops the run before any work). A bad *sample* does not: an empty caption or one that is not
 * valid UTF-8 gives the sample an error at open; a missing or corrupt image gives an error when
 * strata_manifest_load_image is called. Extra fields are kept as a JSON object (labels, for
 * probes). Relies on jansson. Read-only after open: threads may share one manifest. */
#ifndef STRATA_MANIFEST_H
#define STRATA_MANIFEST_H

#include <stddef.h>

#include "io/image.h"

typedef struct {
    char *id;          /* the manifest id (numbers are turned into their decimal text) */
    char *image;       /* the image path, resolved against the manifest's folder */
    char *caption;     /* UTF-8 caption ("" when the sample is bad) */
    char *labels_json; /* the other fields as a compact JSON object ("{}" when none) */
    char *error;       /* NULL when fine at open time, else why the sample is bad */
    long line;         /* 1-based line number in the manifest */
} strata_sample;

typedef struct {
    char *path;         /* the manifest file as given */
    char *dir;          /* its folder, used to resolve image paths */
    strata_sample *samples; /* [n] in file order */
    size_t n;
    size_t n_bad;       /* samples with an error at open time */
} strata_manifest;

/* Parses a whole manifest. Returns NULL with strata_error "PATH:LINE: what was expected" for a
 * structurally bad file (or one that cannot be read or holds no sample). */
strata_manifest *strata_manifest_open(const char *path);
void strata_manifest_free(strata_manifest *m);

/* Parses one line (without its newline) into *out (all fields owned, free with
 * strata_sample_clear). Returns 1 for a sample (out->error may be set: a bad sample), 0 for a
 * blank line, -1 with strata_error set (without the line number, which strata_manifest_open
 * adds as "PATH:LINE: ") for a line that makes the manifest invalid. `dir` is the
 * folder used to resolve relative image paths ("" or NULL: keep them as written). */
int strata_manifest_parse_line(const char *line, size_t len, const char *dir, long line_no,
                               strata_sample *out);
void strata_sample_clear(strata_sample *s);

/* Decodes the sample's image. Returns 0, or -1 with strata_error set to a one-line message
 * that names the sample id and path (the caller records it as the sample's error). A sample
 * whose caption was already bad returns -1 with that error. */
int strata_manifest_load_image(const strata_manifest *m, size_t i, strata_image *out);

#endif

/* streams.h — what `strata extract` captures: stream, pool and layer specifications and the
 * pooling that reduces a layer's token states to a stream's rows (DESIGN.md, "Streams and
 * tokens"). Pure functions, no MPI; the extract driver (extract.c) calls them per batch. */
#ifndef STRATA_STREAMS_H
#define STRATA_STREAMS_H

#include <stddef.h>
#include <stdint.h>

/* How the token positions of one stream are reduced for one sample. */
typedef enum {
    STRATA_POOL_MEAN = 0, /* 1 row: mean over the positions */
    STRATA_POOL_FIRST,    /* 1 row: the first position */
    STRATA_POOL_LAST,     /* 1 row: the last position */
    STRATA_POOL_CLS,      /* 1 row: the vision tower's CLS token (vision stream only) */
    STRATA_POOL_ALL,      /* n rows: every position, in order (ragged) */
    STRATA_POOL_SAMPLE,   /* min(k, n) rows: k positions drawn without replacement, in order */
} strata_pool_kind;

typedef struct {
    strata_pool_kind kind;
    int k; /* STRATA_POOL_SAMPLE only */
} strata_pool;

/* The streams of DESIGN.md. */
typedef enum {
    STRATA_STREAM_IMAGE = 0, /* prompt with the image; positions = the image tokens */
    STRATA_STREAM_CAPTION,   /* caption alone; positions = the caption tokens (no BOS) */
    STRATA_STREAM_IMAGE_LAST,   /* prompt with the image; the last position of the input */
    STRATA_STREAM_CAPTION_LAST, /* caption alone; the last position of the input */
    STRATA_STREAM_VISION,    /* the vision tower's layers; positions = the patch tokens */
    STRATA_STREAM_CONNECTOR, /* the projector output (one "layer"); positions = image tokens */
} strata_stream_kind;

typedef struct {
    strata_stream_kind kind;
    char name[64]; /* the dataset name under /activations/ */
    strata_pool pool;
} strata_stream_request;

/* "mean" | "first" | "last" | "cls" | "all" | "sample:K" (K >= 1). Returns 0, or -1 with
 * strata_error naming the text and what was expected. */
int strata_pool_parse(const char *text, strata_pool *out);
/* The canonical text of a pool ("sample:8"), as stored in the archive's `pool` attribute. */
void strata_pool_format(strata_pool pool, char *buf, size_t size);
/* 1 when the number of rows per sample depends on the sample (all, sample:K). */
int strata_pool_is_ragged(strata_pool pool);
/* Rows that `pool` produces for a sample with n_positions positions (0 when n_positions is 0
 * for ragged pools; 1 for the reducing pools). */
int64_t strata_pool_rows(strata_pool pool, int64_t n_positions);
/* The positions that STRATA_POOL_SAMPLE keeps: min(k, n) distinct indices into [0, n), sorted
 * ascending, drawn by a partial Fisher-Yates shuffle driven by splitmix64 seeded with
 * `seed` (the extract driver uses the sample's manifest index, so the choice does not depend
 * on ranks or batches). out has room for min(k, n). Returns the count. */
int strata_pool_sample_positions(int k, int n, uint64_t seed, int *out);
/* Reduce one sample's states. hidden [n_tokens][dim] (row stride `stride` floats),
 * positions [n_positions] indices into hidden; out [strata_pool_rows()][dim]. Mean is
 * accumulated in double. STRATA_POOL_CLS reads hidden row 0 and ignores positions.
 * `seed` only matters for STRATA_POOL_SAMPLE. */
void strata_pool_apply(strata_pool pool, const float *hidden, int64_t stride, int dim,
                       const int *positions, int n_positions, uint64_t seed, float *out);

/* Stream list: comma-separated NAME[:POOL] with NAME one of image, caption, image_last,
 * caption_last, vision, connector; `default_pool` applies where no POOL is given (the _last
 * streams are always "last"; "cls" is for vision only). Duplicates and pools that make no
 * sense for a stream are errors. *out is allocated [*n]; free() it. */
int strata_streams_parse(const char *list, const char *default_pool,
                         strata_stream_request **out, int *n);
/* "llm", "vision" or "connector". */
const char *strata_stream_site(strata_stream_kind kind);
/* 1 when the stream runs the prompt with the image (needs a vision model). */
int strata_stream_needs_image(strata_stream_kind kind);

/* Layer selection over indices 0..n_total-1 (index 0 = embedding output): "all", or a
 * comma-separated list of indices and Python-style slices a:b[:s] (b exclusive, negative
 * values count from the end, empty a/b mean the ends, s > 0). Result sorted, duplicates
 * removed; *out allocated [*n]. Returns 0 or -1 with strata_error naming the bad item. */
int strata_layers_parse(const char *spec, int n_total, int **out, int *n);

#endif

/* loader.h — turns a run of manifest samples into model inputs: decode + preprocess the images
 * (io/image.h, io/preprocess.h), fill the prompt template and tokenize (io/template.h,
 * io/tokenizer.h), expand the image token, pad into batches. No MPI: the extract driver runs
 * strata_loader_load in a thread to prepare the next batch while the current one computes.
 * A bad sample (unreadable image, empty or invalid caption, text longer than the context) gets
 * status failed and a one-line error; the others form the batch. */
#ifndef STRATA_LOADER_H
#define STRATA_LOADER_H

#include <stdint.h>

#include "io/manifest.h"
#include "io/preprocess.h"
#include "io/tokenizer.h"
#include "model/model.h"

typedef struct {
    const strata_manifest *manifest;
    strata_tokenizer *tokenizer;          /* used by one thread at a time (the loader's) */
    const strata_preprocess_config *preprocess;
    const strata_model *model;            /* read-only use: strata_model_expand_image */
    strata_model_info info;               /* a copy */
    const char *template_text;            /* with "<image>", {prompt}, maybe {caption} */
    const char *prompt;
    int need_image;   /* build the image input (prompt + image) */
    int need_caption; /* build the caption input (caption alone) */
} strata_loader_config;

/* One batch of samples [begin, end) ready for the model. Only the samples with status ok are
 * in the inputs, in order: row b of the inputs is sample ok_sample[b] of the batch. */
typedef struct {
    int64_t begin, end;
    int n;                 /* end - begin */
    int8_t *status;        /* [n] STRATA_SAMPLE_OK or _FAILED */
    char **error;          /* [n] "" when ok (owned) */
    int n_ok;
    int *ok_sample;        /* [n_ok] index into [0, n) */
    /* image input: template with the image */
    int image_T;           /* padded length */
    int32_t *image_ids;    /* [n_ok][image_T], right padding */
    int32_t *image_len;    /* [n_ok] */
    int *image_begin;      /* [n_ok] position of the first image token */
    float *pixels;         /* [n_ok][3][image_size][image_size] */
    /* caption input: caption alone (with the tokenizer's special tokens) */
    int caption_T;
    int32_t *caption_ids;  /* [n_ok][caption_T] */
    int32_t *caption_len;  /* [n_ok] */
    int *caption_begin;    /* [n_ok] first caption token (after BOS) */
    int *caption_count;    /* [n_ok] caption tokens (special tokens excluded) */
    double seconds;        /* time spent loading */
} strata_batch;

/* Tokenizes a caption alone: ids (with special tokens, malloc'd), their count, and the span of
 * the caption's own tokens within them. A bad caption (empty, invalid UTF-8, longer than the
 * model's context) returns -1 with strata_error saying so. The extract driver uses it to size
 * ragged caption streams, the loader to build inputs, so both agree. */
int strata_loader_caption_tokens(const strata_loader_config *cfg, const char *caption,
                                 int32_t **ids, int *n, int *span_begin, int *span_count);

/* Loads samples [begin, end) into *out (zeroed first). Never fails as a whole: bad samples
 * are marked. */
void strata_loader_load(const strata_loader_config *cfg, int64_t begin, int64_t end,
                        strata_batch *out);
void strata_batch_free(strata_batch *b);

#endif

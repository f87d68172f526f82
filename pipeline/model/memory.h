/* memory.h — per-rank device memory of a forward pass, for refusing a batch that cannot fit
 * (with the largest that would) before any work. Bytes, as doubles. */
#ifndef STRATA_MODEL_MEMORY_H
#define STRATA_MODEL_MEMORY_H

#include "pipeline/model/model.h"

typedef struct {
    double weights;      /* every tensor of the checkpoint as stored (uploaded once) */
    double conversion;   /* f32 scratch for the largest non-f32 weight */
    double residual;     /* residual stream [B][T][D] + image features, live all the pass */
    double decoder;      /* decoder-phase buffers at [B][T] */
    double vision;       /* vision phase: pixels, tower and projector buffers at B images */
    double logits;       /* LM-head chunk (with log-probabilities), in the decoder phase */
    double activations;  /* peak: residual + max(vision, decoder + logits) */
    double host_capture; /* host memory for one captured layer [B][T][D] (not device) */
    double total;        /* device total: weights + conversion + activations */
} strata_memory_plan;

void strata_model_memory_plan(const strata_model *m, int batch, int seq_len, int with_logprobs,
                              strata_memory_plan *plan);
/* Largest batch whose plan fits in budget bytes (0 if not even 1). */
int strata_model_max_batch(const strata_model *m, int seq_len, int with_logprobs, double budget);
/* 0 if batch fits in budget, else -1 with strata_error saying the largest batch that would. */
int strata_model_check_fits(const strata_model *m, int batch, int seq_len, int with_logprobs,
                            double budget);

#endif

/* intervene_internal.h — what decoder.c calls to apply the interventions of intervene.h inside
 * its block loop (implemented in intervene.c): the image rows of the batch, whether block l
 * skips the attention / MLP update of those rows, the block's weights (transplant), saving and
 * restoring the rows around a residual add, and the ablation of the input of block l. */
#ifndef STRATA_INTERVENE_INTERNAL_H
#define STRATA_INTERVENE_INTERNAL_H

#include "model/intervene.h"
#include "model/model_internal.h"

/* The image rows of [B*T] as runs [start, start+len); total rows. Empty without interventions. */
typedef struct {
    int n;
    long *start, *len, total;
} intervene_rows;

/* -1 with strata_error when an intervention is not bound or out of this decoder's range */
int intervene_check(const strata_forward_args *a, int n_layers);
intervene_rows intervene_image_rows(const strata_model *m, const strata_forward_args *a);
void intervene_rows_free(intervene_rows *r);
/* 1 when block l skips the attention (attn 1) or MLP (attn 0) update of the image rows */
int intervene_skip(const strata_forward_args *a, int l, int attn);
/* block l's weights: a transplant donor's, or the model's own */
const decoder_layer *intervene_layer(const strata_model *m, const strata_forward_args *a, int l);
/* keep [total][D] <- the image rows of x (save 1), or back into x (save 0) */
void intervene_copy_rows(strata_model *m, const intervene_rows *r, float *x, float *keep, int D,
                         int save);
/* the image rows of x (the input of block l) become zeros or the mean vector */
void intervene_ablate(strata_model *m, const strata_forward_args *a, const intervene_rows *r,
                      float *x, int l, int D);

#endif

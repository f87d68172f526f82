/* intervene.h — causal interventions on the image tokens of a LLaVA forward (issue 10): skip the
 * FFN / attention update of image tokens in decoder blocks i..j, ablate (zero or mean) the image
 * states entering block k, inject the projector output at block k, run blocks i..j with the
 * weights of a second checkpoint of the same shape (transplant). Applied by decoder.c.
 *
 * Index convention: blocks are transformers' model.layers[i], i = 0..L-1; block i maps
 * hidden_states[i] to hidden_states[i+1] (hidden_states[0] is the embedding output after the
 * image splice, hidden_states[L] is after the final norm, as in model.h).
 *   skip-ffn:i-j   image rows do not receive the MLP residual update of blocks i..j (0<=i<=j<L);
 *                  every other row, and the image rows' own attention, run as usual.
 *   skip-attn:i-j  image rows do not receive the attention residual update of blocks i..j; their
 *                  keys/values are still computed, so text rows still attend to them.
 *   ablate:k:zero  the image rows of hidden_states[k] (the input of block k, 0<=k<L) are set
 *   ablate:k:mean:FILE  to zeros / to a mean vector (FILE: raw little-endian float32 [D]);
 *                  the captured layer k shows the ablated state.
 *   inject:k       image rows bypass blocks 0..k-1 (1<=k<=L): they get no attention or MLP update
 *                  there, so the projector output itself enters block k (text rows still attend
 *                  to the image rows at every block).
 *   transplant:i-j:DIR  blocks i..j run with the weights of checkpoint DIR for every token (not
 *                  only image tokens; its decoder must have the same shape: layers, hidden,
 *                  intermediate, heads, kv heads, head dim, vocabulary, biases).
 * Life cycle: strata_intervention_parse (syntax) -> strata_intervention_bind (ranges against the
 * model, loads the donor / the mean; all errors before any forward) -> forward -> _free. */
#ifndef STRATA_INTERVENE_H
#define STRATA_INTERVENE_H

#include "model/model.h"

typedef enum {
    STRATA_IV_SKIP_FFN = 0,
    STRATA_IV_SKIP_ATTN,
    STRATA_IV_ABLATE,
    STRATA_IV_INJECT,
    STRATA_IV_TRANSPLANT,
} strata_intervention_kind;

typedef struct strata_intervention {
    strata_intervention_kind kind;
    int first, last;      /* blocks first..last; ablate/inject: first = last = k */
    int use_mean;         /* ablate: 1 mean vector, 0 zeros */
    char path[1024];      /* transplant: donor checkpoint dir; ablate mean: float32 file */
    char spec[1200];      /* the spec as given */
    float *mean;          /* after bind, ablate mean: host [D] */
    strata_model *donor;  /* after bind, transplant */
} strata_intervention;

/* Syntax only: 0, or -1 with strata_error naming the spec and what was expected. */
int strata_intervention_parse(const char *spec, strata_intervention *iv);
/* Checks iv against m (layer ranges, a vision model, the donor's shape, the mean's length) and
 * loads the donor (on backend be) or the mean vector. 0 or -1 with strata_error. */
int strata_intervention_bind(strata_intervention *iv, strata_model *m, strata_backend *be);
void strata_intervention_free(strata_intervention *iv);
/* An estimate of the multiply-add FLOPs (2 per MAC) per forward that the interventions would
 * save in an implementation that skips the work (strata computes and discards it), for
 * n_image_rows image tokens in sequences of T tokens. Ablate and transplant save none. */
double strata_intervention_flops_saved(const strata_intervention *iv, int n, const strata_model *m,
                                       long n_image_rows, int T);
/* "spec1;spec2;..." into out (for archive attributes); "" for none. */
void strata_intervention_describe(const strata_intervention *iv, int n, char *out, size_t cap);

#endif

/* intervene.c — the interventions of intervene.h: parsing, checking against the model, cost
 * estimate, and the pieces decoder.c calls in its block loop (intervene_internal.h). Relies on
 * model_internal.h; the reference is tests/golden/make_interventions.py (transformers hooks). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/intervene_internal.h"
#include "strata.h"

static const char *usage = "expected skip-ffn:i-j, skip-attn:i-j, ablate:k:zero, "
                           "ablate:k:mean:FILE, inject:k or transplant:i-j:DIR";

/* a non-negative decimal integer ending at *end */
static int parse_int(const char *s, const char **end, int *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || errno || v < 0 || v > 1000000 || *s == '-' || *s == '+') return -1;
    *out = (int)v;
    *end = e;
    return 0;
}

/* "i-j" or "i" up to ':' or the end */
static int parse_range(const char *s, const char **end, int *first, int *last)
{
    if (parse_int(s, &s, first)) return -1;
    *last = *first;
    if (*s == '-' && parse_int(s + 1, &s, last)) return -1;
    *end = s;
    return 0;
}

int strata_intervention_parse(const char *spec, strata_intervention *iv)
{
    memset(iv, 0, sizeof *iv);
    if (!spec || strlen(spec) >= sizeof iv->spec)
        return strata_error_set("--intervene: spec missing or too long (%s)", usage);
    snprintf(iv->spec, sizeof iv->spec, "%s", spec);
    const char *colon = strchr(spec, ':');
    if (!colon) return strata_error_set("--intervene '%s': no ':' (%s)", spec, usage);
    size_t kl = (size_t)(colon - spec);
    const char *rest = colon + 1, *end = NULL;
#define KIND(name) (kl == strlen(name) && !strncmp(spec, name, kl))
    if (KIND("skip-ffn") || KIND("skip-attn") || KIND("transplant")) {
        iv->kind = KIND("skip-ffn") ? STRATA_IV_SKIP_FFN
                 : KIND("skip-attn") ? STRATA_IV_SKIP_ATTN : STRATA_IV_TRANSPLANT;
        if (parse_range(rest, &end, &iv->first, &iv->last) || iv->first > iv->last)
            return strata_error_set("--intervene '%s': bad block range (expected i-j with "
                                    "0 <= i <= j)", spec);
        if (iv->kind == STRATA_IV_TRANSPLANT) {
            if (*end != ':' || !end[1])
                return strata_error_set("--intervene '%s': expected transplant:i-j:DIR", spec);
            snprintf(iv->path, sizeof iv->path, "%s", end + 1);
            return 0;
        }
        if (*end) return strata_error_set("--intervene '%s': trailing '%s' after the range", spec, end);
        return 0;
    }
    if (KIND("ablate")) {
        iv->kind = STRATA_IV_ABLATE;
        if (parse_int(rest, &end, &iv->first) || *end != ':')
            return strata_error_set("--intervene '%s': expected ablate:k:zero or ablate:k:mean:FILE",
                                    spec);
        iv->last = iv->first;
        end++;
        if (!strcmp(end, "zero")) return 0;
        if (!strncmp(end, "mean:", 5) && end[5]) {
            iv->use_mean = 1;
            snprintf(iv->path, sizeof iv->path, "%s", end + 5);
            return 0;
        }
        return strata_error_set("--intervene '%s': ablation '%s' unknown (expected zero or "
                                "mean:FILE with a float32 [hidden_size] vector)", spec, end);
    }
    if (KIND("inject")) {
        iv->kind = STRATA_IV_INJECT;
        if (parse_int(rest, &end, &iv->first) || *end)
            return strata_error_set("--intervene '%s': expected inject:k", spec);
        iv->last = iv->first;
        return 0;
    }
#undef KIND
    return strata_error_set("--intervene '%s': unknown kind '%.*s' (%s)", spec, (int)kl, spec, usage);
}

static int same_shape(const strata_text_config *a, const strata_text_config *b, char *why,
                      size_t cap)
{
#define SAME(f)                                                                                 \
    if (a->f != b->f) {                                                                         \
        snprintf(why, cap, "%s %d vs %d", #f, b->f, a->f);                                      \
        return 0;                                                                               \
    }
    SAME(n_layers) SAME(hidden_size) SAME(intermediate_size) SAME(n_heads) SAME(n_kv_heads)
    SAME(head_dim) SAME(vocab_size) SAME(attention_bias) SAME(qkv_bias) SAME(mlp_bias)
#undef SAME
    return 1;
}

int strata_intervention_bind(strata_intervention *iv, strata_model *m, strata_backend *be)
{
    const strata_text_config *t = &m->cfg.text;
    int L = t->n_layers, D = t->hidden_size;
    if (!m->info.has_vision)
        return strata_error_set("--intervene '%s': the model has no vision tower (interventions act "
                                "on image tokens)", iv->spec);
    int lo = 0, hi = L - 1;
    if (iv->kind == STRATA_IV_INJECT) lo = 1, hi = L;
    if (iv->first < lo || iv->last > hi)
        return strata_error_set("--intervene '%s': block %d out of range (this model has %d decoder "
                                "blocks; allowed %d..%d)", iv->spec,
                                iv->first < lo ? iv->first : iv->last, L, lo, hi);
    if (iv->kind == STRATA_IV_ABLATE && iv->use_mean && !iv->mean) {
        size_t n = 0;
        char *buf = strata_read_file(iv->path, &n);
        if (!buf)
            return strata_error_set("--intervene '%s': cannot read the mean vector '%s'", iv->spec,
                                    iv->path);
        if (n != (size_t)D * sizeof(float)) {
            free(buf);
            return strata_error_set("--intervene '%s': %s has %zu bytes, expected %zu (float32 "
                                    "[hidden_size %d])", iv->spec, iv->path, n,
                                    (size_t)D * sizeof(float), D);
        }
        iv->mean = strata_malloc((size_t)D * sizeof(float));
        memcpy(iv->mean, buf, (size_t)D * sizeof(float));
        free(buf);
    }
    if (iv->kind == STRATA_IV_TRANSPLANT && !iv->donor) {
        strata_model *d = strata_model_load(iv->path, be, NULL);
        if (!d) {
            strata_error_prefix("--intervene '%s': donor checkpoint", iv->spec);
            return -1;
        }
        char why[128];
        if (!same_shape(t, &d->cfg.text, why, sizeof why)) {
            strata_model_free(d);
            return strata_error_set("--intervene '%s': %s has another decoder shape (%s)",
                                    iv->spec, iv->path, why);
        }
        iv->donor = d;
    }
    return 0;
}

void strata_intervention_free(strata_intervention *iv)
{
    if (!iv) return;
    free(iv->mean);
    if (iv->donor) strata_model_free(iv->donor);
    iv->mean = NULL;
    iv->donor = NULL;
}

double strata_intervention_flops_saved(const strata_intervention *iv, int n, const strata_model *m,
                                       long n_image_rows, int T)
{
    const strata_text_config *t = &m->cfg.text;
    double D = t->hidden_size, F = t->intermediate_size, qd = (double)t->n_heads * t->head_dim;
    double r = (double)n_image_rows;
    /* per block and image row: MLP 3 D F MACs; attention without k/v (still needed by text
     * rows): q and o projections 2 D qd, scores and weighted sum 2 T qd */
    double ffn = 2.0 * r * 3.0 * D * F, attn = 2.0 * r * (2.0 * D * qd + 2.0 * T * qd);
    int L = t->n_layers;
    uint8_t *sf = strata_calloc((size_t)L, 1), *sa = strata_calloc((size_t)L, 1);
    for (int i = 0; i < n; i++) {
        const strata_intervention *v = &iv[i];
        if (v->kind == STRATA_IV_SKIP_FFN || v->kind == STRATA_IV_SKIP_ATTN)
            for (int l = v->first; l <= v->last && l < L; l++)
                (v->kind == STRATA_IV_SKIP_FFN ? sf : sa)[l] = 1;
        if (v->kind == STRATA_IV_INJECT)
            for (int l = 0; l < v->first && l < L; l++) sf[l] = sa[l] = 1;
    }
    double saved = 0;
    for (int l = 0; l < L; l++) saved += sf[l] * ffn + sa[l] * attn;
    free(sf);
    free(sa);
    return saved;
}

void strata_intervention_describe(const strata_intervention *iv, int n, char *out, size_t cap)
{
    size_t at = 0;
    if (cap) out[0] = 0;
    for (int i = 0; i < n && at < cap; i++) {
        int w = snprintf(out + at, cap - at, "%s%s", i ? ";" : "", iv[i].spec);
        if (w < 0) break;
        at += (size_t)w;
    }
}

/* ---- applied by decoder.c (intervene_internal.h) ----------------------------------------- */
int intervene_check(const strata_forward_args *a, int L)
{
    for (int i = 0; i < a->n_intervene; i++) {
        const strata_intervention *v = &a->intervene[i];
        if ((v->kind == STRATA_IV_TRANSPLANT && !v->donor) ||
            (v->kind == STRATA_IV_ABLATE && v->use_mean && !v->mean) ||
            v->last > (v->kind == STRATA_IV_INJECT ? L : L - 1))
            return strata_error_set("forward: intervention '%s' is not bound to this model "
                                    "(strata_intervention_bind)", v->spec);
    }
    return 0;
}

void intervene_rows_free(intervene_rows *r)
{
    free(r->start);
    free(r->len);
    memset(r, 0, sizeof *r);
}

intervene_rows intervene_image_rows(const strata_model *m, const strata_forward_args *a)
{
    intervene_rows r = {0};
    int B = a->batch, T = a->seq_len, id = m->info.image_token_id;
    if (!a->n_intervene) return r;
    r.start = strata_malloc((size_t)B * T * sizeof(long));
    r.len = strata_malloc((size_t)B * T * sizeof(long));
    for (int b = 0; b < B; b++) {
        int len = a->lengths ? a->lengths[b] : T;
        for (int t = 0; t < len; t++) {
            if (a->input_ids[(long)b * T + t] != id) continue;
            if (r.n && r.start[r.n - 1] + r.len[r.n - 1] == (long)b * T + t) {
                r.len[r.n - 1]++;
            } else {
                r.start[r.n] = (long)b * T + t;
                r.len[r.n++] = 1;
            }
            r.total++;
        }
    }
    return r;
}

/* 1 when block l skips the attention (attn 1) or MLP (attn 0) update of image rows */
int intervene_skip(const strata_forward_args *a, int l, int attn)
{
    for (int i = 0; i < a->n_intervene; i++) {
        const strata_intervention *v = &a->intervene[i];
        if (v->kind == STRATA_IV_INJECT && l < v->first) return 1;
        if (v->kind == (attn ? STRATA_IV_SKIP_ATTN : STRATA_IV_SKIP_FFN) && l >= v->first &&
            l <= v->last)
            return 1;
    }
    return 0;
}

const decoder_layer *intervene_layer(const strata_model *m, const strata_forward_args *a, int l)
{
    for (int i = 0; i < a->n_intervene; i++) {
        const strata_intervention *v = &a->intervene[i];
        if (v->kind == STRATA_IV_TRANSPLANT && v->donor && l >= v->first && l <= v->last)
            return &v->donor->dec.layers[l];
    }
    return &m->dec.layers[l];
}

/* keep [total][D] <- image rows of x (save 1), or back (save 0) */
void intervene_copy_rows(strata_model *m, const intervene_rows *r, float *x, float *keep, int D, int save)
{
    long off = 0;
    for (int i = 0; i < r->n; i++) {
        float *row = x + r->start[i] * D, *k = keep + off * D;
        if (save) m->be->ops->copy2d(m->be->ctx, k, D, row, D, (int)r->len[i], D);
        else m->be->ops->copy2d(m->be->ctx, row, D, k, D, (int)r->len[i], D);
        off += r->len[i];
    }
}

/* the image rows of x (the input of block l) become zeros or the mean vector */
void intervene_ablate(strata_model *m, const strata_forward_args *a, const intervene_rows *r, float *x,
                      int l, int D)
{
    for (int i = 0; i < a->n_intervene; i++) {
        const strata_intervention *v = &a->intervene[i];
        if (v->kind != STRATA_IV_ABLATE || v->first != l) continue;
        float *zeros = v->use_mean ? NULL : strata_calloc((size_t)D, sizeof(float));
        for (int j = 0; j < r->n; j++)
            for (long t = 0; t < r->len[j]; t++)
                m->be->ops->upload(m->be->ctx, x + (r->start[j] + t) * D, v->use_mean ? v->mean : zeros,
                                   (size_t)D * sizeof(float));
        free(zeros);
    }
}

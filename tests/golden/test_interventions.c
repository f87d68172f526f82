/* test_interventions.c — strata's --intervene against transformers with hooks: for each case of
 * tests/golden/interventions/reference.h5 (made by make_interventions.py on the llava_clip_llama
 * checkpoint; versions in its attributes), run strata's CPU forward with the same interventions
 * and compare every LLM hidden state (||a-b||/||b|| <= 1e-4 per layer over real positions), the
 * log-probabilities and the per-row caption NLL (1e-4 relative). Then bad specs: each must be
 * refused, by parse or bind, with a message naming the reason.
 * Usage: test_interventions [cpu|cuda] (cuda: the same on the GPU backend; 77 without a GPU). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/intervene.h"
#include "model/model.h"
#include "strata.h"
#include "../testlib.h"

#define REL_BOUND 1e-4
#define MAX_IV 8

static double baseline_nll[16]; /* the first case's reference NLL per row */

static const char *cases[] = {"baseline",      "skip_ffn_0_1",  "skip_attn_1_1",
                              "skip_attn_0_ffn_1", "ablate_1_zero", "ablate_0_zero",
                              "ablate_1_mean", "inject_1",      "transplant_0_0"};

static void *read_ds(hid_t f, const char *path, hid_t type, size_t elem, hsize_t *dims)
{
    if (H5Lexists(f, path, H5P_DEFAULT) <= 0) return NULL;
    hid_t ds = H5Dopen2(f, path, H5P_DEFAULT), sp = H5Dget_space(ds);
    int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= dims[i];
    void *buf = malloc(n * elem + 8);
    if (H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return buf;
}

/* the spec attribute (h5py writes variable-length strings) */
static void read_spec(hid_t f, const char *group, char *out, size_t cap)
{
    out[0] = 0;
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT), at = H5Aopen(g, "spec", H5P_DEFAULT);
    hid_t ty = H5Aget_type(at), mt = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mt, H5Tget_cset(ty));
    if (H5Tis_variable_str(ty) > 0) {
        char *v = NULL;
        H5Tset_size(mt, H5T_VARIABLE);
        if (H5Aread(at, mt, &v) >= 0 && v) snprintf(out, cap, "%s", v);
        H5free_memory(v);
    } else {
        char buf[2048] = {0};
        H5Tset_size(mt, sizeof buf - 1);
        H5Aread(at, mt, buf);
        snprintf(out, cap, "%s", buf);
    }
    H5Tclose(mt), H5Tclose(ty), H5Aclose(at), H5Gclose(g);
}

typedef struct {
    const char *cas;
    const int32_t *lengths;
    const float *ref; /* [L+1][B][T][D] */
    int n;
    double worst;
} cmp_ctx;

static int on_capture(const strata_capture *c, void *user)
{
    cmp_ctx *g = user;
    if (c->site != STRATA_SITE_LLM) return 0;
    const float *ref = g->ref + (long)c->layer * c->batch * c->rows * c->dim;
    double num = 0, den = 0;
    for (int b = 0; b < c->batch; b++)
        for (long i = (long)b * c->rows * c->dim; i < ((long)b * c->rows + g->lengths[b]) * c->dim; i++) {
            double d = (double)c->data[i] - ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
        }
    double rel = sqrt(num / (den > 0 ? den : 1));
    if (rel > g->worst) g->worst = rel;
    T_CHECK(rel <= REL_BOUND, "%s: layer %d relative error %.3g > %g", g->cas, c->layer, rel,
            REL_BOUND);
    g->n++;
    return 0;
}

/* "{golden}" -> the golden folder */
static void expand(const char *in, const char *golden, char *out, size_t cap)
{
    const char *at = strstr(in, "{golden}");
    if (!at) snprintf(out, cap, "%s", in);
    else snprintf(out, cap, "%.*s%s%s", (int)(at - in), in, golden, at + 8);
}

static void run_case(strata_model *m, strata_backend *be, hid_t f, const char *cas,
                     const char *golden, const int32_t *ids, const int32_t *lengths,
                     const float *pixels, int B, int T)
{
    char p[256], spec[2048];
    hsize_t d[8];
    snprintf(p, sizeof p, "/%s", cas);
    read_spec(f, p, spec, sizeof spec);
    snprintf(p, sizeof p, "/%s/llm_hidden", cas);
    float *ref = read_ds(f, p, H5T_NATIVE_FLOAT, 4, d);
    snprintf(p, sizeof p, "/%s/logprobs", cas);
    float *ref_lp = read_ds(f, p, H5T_NATIVE_FLOAT, 4, d);
    snprintf(p, sizeof p, "/%s/nll", cas);
    double *ref_nll = read_ds(f, p, H5T_NATIVE_DOUBLE, 8, d);
    T_CHECK(ref && ref_lp && ref_nll, "%s: reference.h5 lacks datasets", cas);
    strata_intervention iv[MAX_IV];
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(spec, ";", &save); tok && n < MAX_IV; tok = strtok_r(NULL, ";", &save)) {
        char full[2048];
        expand(tok, golden, full, sizeof full);
        int rc = strata_intervention_parse(full, &iv[n]);
        if (rc == 0) rc = strata_intervention_bind(&iv[n], m, be);
        T_CHECK(rc == 0, "%s: '%s' refused: %s", cas, full, strata_error_get());
        if (rc == 0) n++;
    }
    cmp_ctx g = {.cas = cas, .lengths = lengths, .ref = ref};
    float *lp = calloc((size_t)B * T, sizeof(float));
    strata_forward_args a = {.batch = B, .seq_len = T, .input_ids = ids, .lengths = lengths,
                             .n_images = B, .pixel_values = pixels, .capture = on_capture,
                             .user = &g, .logprobs = lp, .intervene = iv, .n_intervene = n};
    int rc = ref && ref_lp && ref_nll ? strata_model_forward(m, &a) : -1;
    T_CHECK(rc == 0, "%s: forward failed: %s", cas, strata_error_get());
    const strata_model_info *info = strata_model_get_info(m);
    T_CHECK(rc != 0 || g.n == info->n_layers + 1, "%s: %d captures", cas, g.n);
    double num = 0, den = 0, worst_nll = 0, moved = 0;
    for (int b = 0; ref_nll && b < B && b < 16; b++) {
        if (n == 0) baseline_nll[b] = ref_nll[b];
        moved += fabs(ref_nll[b] - baseline_nll[b]);
    }
    /* the reference must show the intervention (else an inert one would pass) */
    T_CHECK(n == 0 || moved > 1e-3, "%s: reference NLL equals the baseline's", cas);
    for (int b = 0; rc == 0 && b < B; b++) {
        int last_img = 0;
        for (int t = 0; t < lengths[b]; t++)
            if (ids[b * T + t] == info->image_token_id) last_img = t;
        double nll = 0;
        for (int t = 0; t + 1 < lengths[b]; t++) {
            double e = lp[b * T + t] - ref_lp[b * T + t];
            num += e * e;
            den += (double)ref_lp[b * T + t] * ref_lp[b * T + t];
            if (t >= last_img) nll -= lp[b * T + t];
        }
        double rel = fabs(nll - ref_nll[b]) / fabs(ref_nll[b]);
        if (rel > worst_nll) worst_nll = rel;
        T_CHECK(rel <= REL_BOUND, "%s row %d: caption NLL %.8g vs transformers %.8g", cas, b, nll,
                ref_nll[b]);
    }
    double rel = sqrt(num / (den > 0 ? den : 1));
    T_CHECK(rc != 0 || rel <= REL_BOUND, "%s: logprobs relative error %.3g", cas, rel);
    double flops = strata_intervention_flops_saved(iv, n, m, (long)B * info->n_image_tokens, T);
    printf("%-18s %-40s worst layer %.2e  logprobs %.2e  NLL %.2e  FLOPs saved %.3g\n", cas,
           n ? iv[0].spec : "(none)", g.worst, rel, worst_nll, flops);
    for (int i = 0; i < n; i++) strata_intervention_free(&iv[i]);
    free(ref), free(ref_lp), free(ref_nll), free(lp);
}

/* a spec that must be refused, with `reason` in the message */
static void refused(strata_model *m, strata_backend *be, const char *spec, const char *reason)
{
    strata_intervention iv;
    int rc = strata_intervention_parse(spec, &iv);
    if (rc == 0) rc = strata_intervention_bind(&iv, m, be);
    T_CHECK(rc != 0, "'%s' was accepted", spec);
    if (rc == 0) strata_intervention_free(&iv);
    T_CHECK(rc == 0 || t_contains(strata_error_get(), reason), "'%s': message '%s' lacks '%s'",
            spec, strata_error_get(), reason);
    if (rc != 0) printf("refused %-32s %s\n", spec, strata_error_get());
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "cpu";
    const char *src = getenv("STRATA_SOURCE_DIR") ? getenv("STRATA_SOURCE_DIR") : STRATA_SOURCE_DIR;
    char golden[4096], dir[4200], ref[4200];
    snprintf(golden, sizeof golden, "%s/tests/golden", src);
    snprintf(dir, sizeof dir, "%s/llava_clip_llama", golden);
    snprintf(ref, sizeof ref, "%s/interventions/reference.h5", golden);
    strata_backend *be = strata_backend_init(which, 0, 0);
    if (!be) {
        printf("%s backend not run: %s\n", which, strata_error_get());
        return strcmp(which, "cpu") ? 77 : 1;
    }
    printf("backend: %s\n", be->ops->name);
    strata_model *m = strata_model_load(dir, be, NULL);
    T_CHECK(m != NULL, "%s: %s", dir, strata_error_get());
    hid_t f = m ? H5Fopen(ref, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    T_CHECK(!m || f >= 0, "cannot open %s", ref);
    if (f >= 0) {
        hsize_t d[8], dp[8];
        int32_t *ids = read_ds(f, "/input_ids", H5T_NATIVE_INT32, 4, d);
        int32_t *lengths = read_ds(f, "/lengths", H5T_NATIVE_INT32, 4, dp);
        float *pixels = read_ds(f, "/pixel_values", H5T_NATIVE_FLOAT, 4, dp);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            run_case(m, be, f, cases[i], golden, ids, lengths, pixels, (int)d[0], (int)d[1]);
        free(ids), free(lengths), free(pixels);
        H5Fclose(f);
    }
    if (m) {
        char bad[4300];
        refused(m, be, "skip-ffn:0-2", "out of range");
        refused(m, be, "skip-attn:2-2", "out of range");
        refused(m, be, "ablate:2:zero", "out of range");
        refused(m, be, "inject:0", "out of range");
        refused(m, be, "inject:3", "out of range");
        refused(m, be, "skip-ffn:1-0", "bad block range");
        refused(m, be, "skip-ffn:x", "bad block range");
        refused(m, be, "skip-ffn:0-1:x", "trailing");
        refused(m, be, "drop-ffn:0-1", "unknown kind");
        refused(m, be, "skip-ffn", "no ':'");
        refused(m, be, "ablate:1:half", "unknown");
        refused(m, be, "transplant:0-0", "expected transplant:i-j:DIR");
        snprintf(bad, sizeof bad, "transplant:0-1:%s/llava_siglip_qwen2_bf16", golden);
        refused(m, be, bad, "another decoder shape");
        snprintf(bad, sizeof bad, "transplant:0-0:%s/no_such_checkpoint", golden);
        refused(m, be, bad, "donor checkpoint");
        snprintf(bad, sizeof bad, "ablate:1:mean:%s/llava_clip_llama/config.json", golden);
        refused(m, be, bad, "expected 128");
        /* a forward refuses an intervention that was parsed but never bound */
        strata_intervention ub;
        snprintf(bad, sizeof bad, "transplant:0-0:%s/llava_clip_full_last", golden);
        T_CHECK(strata_intervention_parse(bad, &ub) == 0, "parse '%s': %s", bad, strata_error_get());
        int32_t one_id = 1;
        strata_forward_args fa = {.batch = 1, .seq_len = 1, .input_ids = &one_id, .intervene = &ub,
                                  .n_intervene = 1};
        T_CHECK(strata_model_forward(m, &fa) != 0 && t_contains(strata_error_get(), "not bound"),
                "an unbound transplant ran: %s", strata_error_get());
        /* a text-only model has no image tokens to act on */
        snprintf(bad, sizeof bad, "%s/mistral_sliding", golden);
        strata_model *t = strata_model_load(bad, be, NULL);
        T_CHECK(t != NULL, "%s: %s", bad, strata_error_get());
        if (t) refused(t, be, "skip-ffn:0-0", "no vision tower");
        strata_model_free(t);
        strata_model_free(m);
    }
    strata_backend_free(be);
    return t_finish("test_interventions");
}

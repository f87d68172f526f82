/* test_golden.c — the model engine against Hugging Face transformers: for each fixture in
 * tests/golden/<name>/ (made by make_fixtures.py, whose reference.h5 records the transformers and
 * torch versions and the seed), run strata's CPU forward on the stored inputs (batch 1, and a
 * batch of 3 with right padding) and compare every captured layer with transformers'
 * output_hidden_states: LLM layers 0..L, vision tower layers 0..Lv, the projector output, and
 * the teacher-forced log-probabilities. Bound: ||a-b|| / ||b|| <= 1e-4 per layer (issue 3),
 * over the real (unpadded) positions. Usage: test_golden [fixture | DIR/ ...] (default: all). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "strata.h"
#include "../testlib.h"

#define REL_BOUND 1e-4

static const char *all_fixtures[] = {"llava_clip_llama", "llava_siglip_qwen2_bf16",
                                     "llava_clip_full_last", "mistral_sliding", "llama3_rope",
                                     "llava_clip_multilayer"};

/* Reads a whole dataset as float or int32; dims out. NULL if absent. */
static void *read_ds(hid_t file, const char *path, hid_t memtype, int *ndim, hsize_t *dims)
{
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) return NULL;
    hid_t ds = H5Dopen2(file, path, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    *ndim = H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < *ndim; i++) n *= dims[i];
    void *buf = malloc(n * 4 + 4);
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        buf = NULL;
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return buf;
}

typedef struct {
    const char *fixture, *cas;
    const strata_model_info *info;
    int B, T;
    const int32_t *lengths;
    const float *llm, *vision, *connector; /* references */
    int n_llm, n_vision, n_connector;      /* captures seen */
    double worst;
} golden_ctx;

/* Relative error over the rows a capture and its reference share; for LLM layers only the
 * positions t < lengths[b] (padding rows are not defined by the spec). */
static int on_capture(const strata_capture *c, void *user)
{
    golden_ctx *g = user;
    const float *ref = NULL;
    const char *what = "";
    long per_layer = (long)c->batch * c->rows * c->dim;
    if (c->site == STRATA_SITE_LLM) {
        ref = g->llm + (long)c->layer * per_layer;
        what = "llm";
        g->n_llm++;
    } else if (c->site == STRATA_SITE_VISION) {
        ref = g->vision ? g->vision + (long)c->layer * per_layer : NULL;
        what = "vision";
        g->n_vision++;
    } else {
        ref = g->connector;
        what = "connector";
        g->n_connector++;
    }
    T_CHECK(ref != NULL, "%s %s: no reference for %s layer %d", g->fixture, g->cas, what, c->layer);
    if (!ref) return 0;
    double num = 0, den = 0;
    for (int b = 0; b < c->batch; b++) {
        int rows = c->site == STRATA_SITE_LLM && g->lengths ? g->lengths[b] : c->rows;
        for (long i = (long)b * c->rows * c->dim; i < ((long)b * c->rows + rows) * c->dim; i++) {
            double d = (double)c->data[i] - ref[i];
            num += d * d;
            den += (double)ref[i] * ref[i];
        }
    }
    double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (rel > g->worst) g->worst = rel;
    T_CHECK(rel <= REL_BOUND, "%s %s: %s layer %d: relative error %.3g > %g", g->fixture, g->cas,
            what, c->layer, rel, REL_BOUND);
    return 0;
}

static void run_case(strata_model *m, const char *fixture, hid_t f, const char *cas)
{
    const strata_model *m_for_expand = m;
    char p[256];
    int nd;
    hsize_t dims[8], d2[8];
    snprintf(p, sizeof p, "/%s/input_ids", cas);
    int32_t *ids = read_ds(f, p, H5T_NATIVE_INT32, &nd, dims);
    snprintf(p, sizeof p, "/%s/lengths", cas);
    int32_t *lengths = read_ds(f, p, H5T_NATIVE_INT32, &nd, d2);
    snprintf(p, sizeof p, "/%s/pixel_values", cas);
    hsize_t pd[8] = {0};
    float *pixels = read_ds(f, p, H5T_NATIVE_FLOAT, &nd, pd);
    golden_ctx g = {.fixture = fixture, .cas = cas, .info = strata_model_get_info(m)};
    snprintf(p, sizeof p, "/%s/llm_hidden", cas);
    g.llm = read_ds(f, p, H5T_NATIVE_FLOAT, &nd, d2);
    snprintf(p, sizeof p, "/%s/vision_hidden", cas);
    g.vision = read_ds(f, p, H5T_NATIVE_FLOAT, &nd, d2);
    snprintf(p, sizeof p, "/%s/connector", cas);
    g.connector = read_ds(f, p, H5T_NATIVE_FLOAT, &nd, d2);
    snprintf(p, sizeof p, "/%s/logprobs", cas);
    float *ref_lp = read_ds(f, p, H5T_NATIVE_FLOAT, &nd, d2);
    T_CHECK(ids && lengths && g.llm && ref_lp, "%s %s: reference.h5 lacks datasets", fixture, cas);
    if (!ids || !lengths || !g.llm || !ref_lp) return;
    g.B = (int)dims[0];
    g.T = (int)dims[1];
    g.lengths = lengths;
    if (g.info->has_vision) {
        /* the image-token expansion helper rebuilds what transformers accepted: collapse each
         * row's run of image tokens to one <image> and expand it again */
        for (int b = 0; b < g.B; b++) {
            const int32_t *row = ids + (long)b * g.T;
            int32_t *one = malloc((size_t)g.T * 4), *again = malloc((size_t)g.T * 4);
            int n = 0, first = -1;
            for (int t = 0; t < lengths[b]; t++) {
                if (row[t] == g.info->image_token_id && first >= 0 && t > first) continue;
                if (row[t] == g.info->image_token_id) first = t;
                one[n++] = row[t];
            }
            int begin = -1, m = strata_model_expand_image(m_for_expand, one, n, again, g.T, &begin);
            T_CHECK(m == lengths[b] && begin == first && !memcmp(again, row, (size_t)m * 4),
                    "%s %s row %d: expand_image gave %d tokens from %d (image at %d, expected %d)",
                    fixture, cas, b, m, n, begin, first);
            free(one);
            free(again);
        }
    }
    float *lp = calloc((size_t)g.B * g.T, sizeof(float));
    strata_forward_args a = {.batch = g.B, .seq_len = g.T, .input_ids = ids, .lengths = lengths,
                             .n_images = pixels ? (int)pd[0] : 0, .pixel_values = pixels,
                             .capture = on_capture, .user = &g, .capture_vision = 1,
                             .logprobs = lp};
    int rc = strata_model_forward(m, &a);
    T_CHECK(rc == 0, "%s %s: forward failed: %s", fixture, cas, strata_error_get());
    const strata_model_info *in = g.info;
    T_CHECK(g.n_llm == in->n_layers + 1, "%s %s: %d LLM captures, expected %d", fixture, cas,
            g.n_llm, in->n_layers + 1);
    if (in->has_vision) {
        T_CHECK(g.n_vision == in->vision_n_layers + 1 && g.n_connector == 1,
                "%s %s: %d vision / %d connector captures", fixture, cas, g.n_vision, g.n_connector);
    }
    /* a layer selection: only the chosen LLM layers are captured, still equal; no vision */
    uint8_t *sel = calloc((size_t)in->n_layers + 1, 1);
    sel[0] = sel[in->n_layers] = 1;
    golden_ctx g2 = g;
    g2.n_llm = g2.n_vision = g2.n_connector = 0;
    strata_forward_args a2 = a;
    a2.user = &g2, a2.llm_layers = sel, a2.capture_vision = 0, a2.logprobs = NULL;
    T_CHECK(strata_model_forward(m, &a2) == 0, "%s %s: forward with a layer selection failed: %s",
            fixture, cas, strata_error_get());
    T_CHECK(g2.n_llm == 2 && g2.n_vision == 0 && g2.n_connector == 0,
            "%s %s: layer selection gave %d LLM / %d vision / %d connector captures", fixture, cas,
            g2.n_llm, g2.n_vision, g2.n_connector);
    free(sel);
    /* log-probabilities of the real next tokens */
    double num = 0, den = 0;
    for (int b = 0; b < g.B; b++)
        for (int t = 0; t + 1 < lengths[b]; t++) {
            double d = lp[b * g.T + t] - ref_lp[b * g.T + t];
            num += d * d;
            den += (double)ref_lp[b * g.T + t] * ref_lp[b * g.T + t];
        }
    double rel = sqrt(num / (den > 0 ? den : 1));
    T_CHECK(rel <= REL_BOUND, "%s %s: logprobs relative error %.3g", fixture, cas, rel);
    printf("%-26s %s  B=%d T=%2d  worst layer rel error %.2e, logprobs %.2e\n", fixture, cas, g.B,
           g.T, g.worst, rel);
    free(ids);
    free(lengths);
    free(pixels);
    free((void *)g.llm);
    free((void *)g.vision);
    free((void *)g.connector);
    free(ref_lp);
    free(lp);
}

static void run_fixture(strata_backend *be, const char *name)
{
    char dir[4096], ref[4200];
    const char *src = getenv("STRATA_SOURCE_DIR") ? getenv("STRATA_SOURCE_DIR") : STRATA_SOURCE_DIR;
    if (strchr(name, '/')) /* a folder given by path (e.g. a checked `strata mkmodel` output) */
        snprintf(dir, sizeof dir, "%s", name);
    else
        snprintf(dir, sizeof dir, "%s/tests/golden/%s", src, name);
    snprintf(ref, sizeof ref, "%s/reference.h5", dir);
    strata_model *m = strata_model_load(dir, be, NULL);
    T_CHECK(m != NULL, "%s: load failed: %s", name, strata_error_get());
    if (!m) return;
    hid_t f = H5Fopen(ref, H5F_ACC_RDONLY, H5P_DEFAULT);
    T_CHECK(f >= 0, "%s: cannot open", ref);
    if (f >= 0) {
        /* say what made the reference (reference.h5 attributes written by make_fixtures.py) */
        char version[64] = "?";
        if (H5Aexists(f, "transformers_version") > 0) {
            hid_t at = H5Aopen(f, "transformers_version", H5P_DEFAULT), ty = H5Aget_type(at);
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, sizeof version - 1);
            H5Tset_cset(mt, H5Tget_cset(ty));
            if (H5Tis_variable_str(ty) > 0) { /* h5py's default */
                char *v = NULL;
                H5Tset_size(mt, H5T_VARIABLE);
                if (H5Aread(at, mt, &v) >= 0 && v) snprintf(version, sizeof version, "%s", v);
                H5free_memory(v);
            } else {
                memset(version, 0, sizeof version);
                H5Aread(at, mt, version);
            }
            H5Tclose(mt), H5Tclose(ty), H5Aclose(at);
        }
        printf("%s: reference by transformers %s\n", name, version);
        run_case(m, name, f, "b1");
        run_case(m, name, f, "b3");
        H5Fclose(f);
    }
    strata_model_free(m);
}

int main(int argc, char **argv)
{
    strata_backend *be = strata_backend_cpu_init(0);
    if (argc > 1)
        for (int i = 1; i < argc; i++) run_fixture(be, argv[i]);
    else
        for (size_t i = 0; i < sizeof all_fixtures / sizeof all_fixtures[0]; i++)
            run_fixture(be, all_fixtures[i]);
    strata_backend_free(be);
    return t_finish("test_golden");
}

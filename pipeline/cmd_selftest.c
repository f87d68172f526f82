/* cmd_selftest.c — `strata selftest [--backend auto|cuda|cpu] [--model DIR]`: how a user checks
 * a GPU node. Runs a tiny LLaVA checkpoint (made with `strata mkmodel`, or the one given) on the
 * chosen backend and on the CPU reference with the same padded batch, compares every captured
 * layer (LLM, vision tower, projector) by ||a - b|| / ||b||, then an analysis tile (Gram GEMM,
 * squared distances, per-row top-k), and prints PASS/FAIL with the worst layer and its error.
 * Exit 0 pass, 1 fail, 77 when the backend cannot run here (no GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "kernels/backend.h"
#include "pipeline/model/model.h"
#include "strata.h"

#define SELFTEST_BOUND 1e-4 /* per-layer relative error, as the golden tests vs transformers */

/* All captures of one forward pass, in call order. */
typedef struct {
    int n;
    strata_capture meta[256];
    float *data[256];
} capture_log;

static int record(const strata_capture *c, void *user)
{
    capture_log *log = user;
    if (log->n == 256) return strata_error_set("selftest: more than 256 captures");
    size_t n = (size_t)c->batch * c->rows * c->dim;
    log->meta[log->n] = *c;
    log->data[log->n] = strata_malloc(n * sizeof(float));
    memcpy(log->data[log->n], c->data, n * sizeof(float));
    log->meta[log->n].data = log->data[log->n];
    log->n++;
    return 0;
}

static void log_free(capture_log *log)
{
    for (int i = 0; i < log->n; i++) free(log->data[i]);
    log->n = 0;
}

static uint64_t rng_state = 0x5EEDull;
static double urand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* Relative error over the real (unpadded) rows of an LLM capture, all rows otherwise. */
static double capture_error(const strata_capture *a, const strata_capture *b, const int32_t *len)
{
    double num = 0, den = 0;
    for (int i = 0; i < a->batch; i++)
        for (int r = 0; r < a->rows; r++) {
            if (a->site == STRATA_SITE_LLM && len && r >= len[i]) continue;
            size_t o = ((size_t)i * a->rows + r) * a->dim;
            for (int d = 0; d < a->dim; d++) {
                double x = a->data[o + d], y = b->data[o + d];
                num += (x - y) * (x - y);
                den += y * y;
            }
        }
    return den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0);
}

static const char *site_name(strata_site s)
{
    return s == STRATA_SITE_LLM ? "llm" : s == STRATA_SITE_VISION ? "vision" : "connector";
}

/* Forward of the test batch on one backend, every capture recorded. */
static int run_model(const char *dir, strata_backend *be, capture_log *log, int32_t *len_out)
{
    strata_model *m = strata_model_load(dir, be, NULL);
    if (!m) return -1;
    const strata_model_info *info = strata_model_get_info(m);
    enum { B = 2, text = 6 };
    int T = text + (info->has_vision ? info->n_image_tokens : 0);
    int32_t *ids = strata_calloc((size_t)B * T, sizeof(int32_t)), len[B] = {T, T - 3};
    int n_img = 0;
    float *pixels = NULL;
    rng_state = 0x5EEDull;
    for (int b = 0; b < B; b++) {
        int32_t raw[text];
        for (int t = 0; t < text; t++) raw[t] = 3 + (int32_t)(urand() * (info->vocab_size - 8));
        if (info->has_vision) {
            raw[1] = info->image_token_id;
            int begin;
            if (strata_model_expand_image(m, raw, text, ids + (size_t)b * T, T, &begin) < 0) {
                strata_model_free(m);
                return -1;
            }
            n_img++;
        } else {
            memcpy(ids + (size_t)b * T, raw, sizeof raw);
        }
    }
    if (n_img) {
        size_t np = (size_t)n_img * 3 * info->image_size * info->image_size;
        pixels = strata_malloc(np * sizeof(float));
        for (size_t i = 0; i < np; i++) pixels[i] = (float)(4 * urand() - 2);
    }
    strata_forward_args args = {
        .batch = B, .seq_len = T, .input_ids = ids, .lengths = len, .n_images = n_img,
        .pixel_values = pixels, .capture = record, .user = log, .capture_vision = 1,
    };
    int rc = strata_model_forward(m, &args);
    memcpy(len_out, len, sizeof len);
    free(ids);
    free(pixels);
    strata_model_free(m);
    return rc;
}

/* Gram tile -> squared distances -> top-k on a backend; host results out. */
static void run_tile(strata_backend *be, const float *a, const float *b, int M, int N, int D,
                     int k, float *dist, float *val, int64_t *idx)
{
    const strata_backend_ops *o = be->ops;
    float *da = o->alloc(be->ctx, sizeof(float) * M * D), *db = o->alloc(be->ctx, sizeof(float) * N * D);
    float *dg = o->alloc(be->ctx, sizeof(float) * M * N);
    float *na = o->alloc(be->ctx, sizeof(float) * M), *nb = o->alloc(be->ctx, sizeof(float) * N);
    float *hn = strata_malloc(sizeof(float) * (M > N ? M : N));
    o->upload(be->ctx, da, a, sizeof(float) * M * D);
    o->upload(be->ctx, db, b, sizeof(float) * N * D);
    for (int i = 0; i < M; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)a[i * D + j] * a[i * D + j];
        hn[i] = (float)s;
    }
    o->upload(be->ctx, na, hn, sizeof(float) * M);
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)b[i * D + j] * b[i * D + j];
        hn[i] = (float)s;
    }
    o->upload(be->ctx, nb, hn, sizeof(float) * N);
    o->gemm(be->ctx, M, N, D, 1.0f, da, D, db, STRATA_TENSOR_F32, D, 1, NULL, 0.0f, dg, N);
    o->sqdist_from_gram(be->ctx, dg, dg, na, nb, M, N);
    for (long i = 0; i < (long)M * k; i++) {
        val[i] = INFINITY;
        idx[i] = -1;
    }
    o->topk_merge(be->ctx, val, idx, k, dg, M, N, 0, NULL);
    o->download(be->ctx, dist, dg, sizeof(float) * M * N);
    o->free(be->ctx, da);
    o->free(be->ctx, db);
    o->free(be->ctx, dg);
    o->free(be->ctx, na);
    o->free(be->ctx, nb);
    free(hn);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata selftest [--backend auto|cuda|cpu] [--model DIR] [--device N]\n"
            "Runs a tiny LLaVA checkpoint (made on the fly with `strata mkmodel`, or DIR) on the\n"
            "backend and on the CPU reference, compares every layer (relative error bound %g),\n"
            "then an analysis tile; prints PASS or FAIL with the worst layer.\n"
            "Exit: 0 pass, 1 fail, 77 the backend cannot run here (e.g. no GPU).\n",
            SELFTEST_BOUND);
}

int strata_cmd_selftest(int argc, char **argv)
{
    const char *backend_name = "auto", *model_dir = NULL;
    int device = 0;
    for (int i = 1; i < argc; i++) {
        if (strata_is_help(argv[i])) {
            usage(stdout);
            return STRATA_EXIT_OK;
        } else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            backend_name = argv[++i];
        } else if (!strcmp(argv[i], "--model") && i + 1 < argc) {
            model_dir = argv[++i];
        } else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = atoi(argv[++i]);
        } else {
            fprintf(stderr, "strata selftest: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        }
    }
    strata_backend *be = strata_backend_init(backend_name, device, 0);
    if (!be) {
        printf("selftest: SKIP: %s\n", strata_error_get());
        return 77;
    }
    strata_backend *cpu = strata_backend_cpu_init(0);
    char tmpdir[] = "/tmp/strata-selftest-XXXXXX";
    if (!model_dir) {
        if (!mkdtemp(tmpdir)) strata_fatal("selftest: cannot create a temporary folder");
        char *mk[] = {"mkmodel", "--arch", "llava", "--preset", "tiny", "--out", tmpdir, NULL};
        if (strata_cmd_mkmodel(7, mk) != 0) strata_fatal("selftest: mkmodel failed");
        model_dir = tmpdir;
    }
    printf("selftest: backend %s vs cpu, model %s\n", be->ops->name, model_dir);

    capture_log got = {0}, ref = {0};
    int32_t len[2];
    int fail = 0;
    if (run_model(model_dir, be, &got, len) != 0 || run_model(model_dir, cpu, &ref, len) != 0) {
        printf("selftest: FAIL: forward failed: %s\n", strata_error_get());
        fail = 1;
    }
    double worst = -1;
    char worst_name[64] = "none";
    if (!fail && got.n != ref.n) {
        printf("selftest: FAIL: %d captures on %s, %d on cpu\n", got.n, be->ops->name, ref.n);
        fail = 1;
    }
    for (int i = 0; !fail && i < got.n; i++) {
        const strata_capture *a = &got.meta[i], *b = &ref.meta[i];
        if (a->site != b->site || a->layer != b->layer || a->rows != b->rows || a->dim != b->dim) {
            printf("selftest: FAIL: capture %d differs in shape\n", i);
            fail = 1;
            break;
        }
        double e = capture_error(a, b, len);
        printf("  %-9s layer %2d  rel. error %.3e\n", site_name(a->site), a->layer, e);
        if (!(e <= worst)) {
            worst = e;
            snprintf(worst_name, sizeof worst_name, "%s layer %d", site_name(a->site), a->layer);
        }
    }
    if (!fail && !(worst <= SELFTEST_BOUND)) fail = 1;
    log_free(&got);
    log_free(&ref);

    /* analysis tile */
    enum { M = 37, N = 53, D = 24, K = 5 };
    float *a = strata_malloc(sizeof(float) * M * D), *b = strata_malloc(sizeof(float) * N * D);
    for (int i = 0; i < M * D; i++) a[i] = (float)urand();
    for (int i = 0; i < N * D; i++) b[i] = (float)urand();
    float d1[M * N], d2[M * N], v1[M * K], v2[M * K];
    int64_t i1[M * K], i2[M * K];
    run_tile(be, a, b, M, N, D, K, d1, v1, i1);
    run_tile(cpu, a, b, M, N, D, K, d2, v2, i2);
    double num = 0, den = 0;
    int idx_diff = 0;
    for (int i = 0; i < M * N; i++) {
        num += (d1[i] - d2[i]) * (double)(d1[i] - d2[i]);
        den += (double)d2[i] * d2[i];
    }
    for (int i = 0; i < M * K; i++) idx_diff += i1[i] != i2[i];
    double tile_err = sqrt(num / den);
    printf("  tile      distances rel. error %.3e, top-%d indices differing: %d of %d\n", tile_err,
           K, idx_diff, M * K);
    if (!(tile_err <= 1e-5) || idx_diff > 0) fail = 1;
    free(a);
    free(b);

    if (fail)
        printf("selftest: FAIL (%s): worst %s, rel. error %.3e (bound %g)\n", be->ops->name,
               worst_name, worst, SELFTEST_BOUND);
    else
        printf("selftest: PASS (%s): worst %s, rel. error %.3e (bound %g)\n", be->ops->name,
               worst_name, worst, SELFTEST_BOUND);
    strata_backend_free(be);
    strata_backend_free(cpu);
    if (model_dir == tmpdir) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) strata_log("selftest: could not remove %s", tmpdir);
    }
    return fail ? STRATA_EXIT_FAILURE : STRATA_EXIT_OK;
}

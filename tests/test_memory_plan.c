/* test_memory_plan.c — the memory plan against what a forward pass really allocates: a CPU
 * backend whose alloc/free are wrapped to track the peak of live backend bytes. The plan's
 * activation terms must cover the measured peak and not overstate it by more than 25%; its
 * weights must equal the safetensors payload (file size - 8 - header length, read here); and
 * a batch beyond the budget is refused naming the largest that fits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/backend.h"
#include "pipeline/model/memory.h"
#include "pipeline/model/model.h"
#include "strata.h"
#include "testlib.h"

int strata_cmd_mkmodel(int argc, char **argv);

static strata_backend_ops tracked;
static const strata_backend_ops *inner;
static double live, peak;
typedef struct { void *p; size_t n; } block;
static block blocks[4096];
static int n_blocks;

static void *t_alloc(void *ctx, size_t bytes)
{
    void *p = inner->alloc(ctx, bytes);
    if (p && n_blocks < 4096) {
        blocks[n_blocks++] = (block){p, bytes};
        live += (double)bytes;
        if (live > peak) peak = live;
    }
    return p;
}
static void t_free(void *ctx, void *buf)
{
    for (int i = 0; i < n_blocks; i++)
        if (blocks[i].p == buf) {
            live -= (double)blocks[i].n;
            blocks[i] = blocks[--n_blocks];
            break;
        }
    inner->free(ctx, buf);
}

static double payload_bytes(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t header = 0;
    if (fread(&header, 8, 1, f) != 1) header = 0;
    fclose(f);
    struct stat st;
    stat(path, &st);
    return (double)st.st_size - 8.0 - (double)header;
}

int main(void)
{
    const char *dir = t_tmp_path("memplan_model");
    char *mk[] = {"mkmodel", "--arch", "llava", "--preset", "tiny", "--dtype", "bf16", "--out",
                  (char *)dir, NULL};
    T_CHECK(strata_cmd_mkmodel(9, mk) == 0, "mkmodel: %s", strata_error_get());
    char dirbuf[4096], path[4200];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dirbuf);

    strata_backend *be = strata_backend_cpu_init(1);
    inner = be->ops;
    tracked = *be->ops;
    tracked.alloc = t_alloc;
    tracked.free = t_free;
    be->ops = &tracked;
    strata_model *m = strata_model_load(dirbuf, be, NULL);
    T_CHECK(m != NULL, "load: %s", strata_error_get());
    if (!m) return t_finish("test_memory_plan");
    const strata_model_info *info = strata_model_get_info(m);

    enum { B = 3, text = 5 };
    int T = text + info->n_image_tokens;
    int32_t *ids = calloc((size_t)B * T, sizeof(int32_t)), raw[text] = {1, 0, 7, 8, 9};
    raw[1] = info->image_token_id;
    int begin;
    for (int b = 0; b < B; b++) strata_model_expand_image(m, raw, text, ids + b * T, T, &begin);
    size_t np = (size_t)B * 3 * info->image_size * info->image_size;
    float *pixels = calloc(np, sizeof(float));
    float *logprobs = calloc((size_t)B * T, sizeof(float));
    strata_forward_args args = {.batch = B, .seq_len = T, .input_ids = ids, .n_images = B,
                                .pixel_values = pixels, .logprobs = logprobs};
    live = peak = 0;
    T_CHECK(strata_model_forward(m, &args) == 0, "forward: %s", strata_error_get());

    strata_memory_plan p;
    strata_model_memory_plan(m, B, T, 1, &p);
    double planned = p.activations;
    printf("measured peak %.0f bytes, planned activations %.0f (residual %.0f, decoder %.0f, "
           "vision %.0f, logits %.0f), weights %.0f\n", peak, planned, p.residual, p.decoder,
           p.vision, p.logits, p.weights);
    T_CHECK(planned >= peak, "plan %.0f below the measured peak %.0f", planned, peak);
    T_CHECK(planned <= 1.25 * peak, "plan %.0f overstates the peak %.0f by > 25%%", planned, peak);
    double payload = payload_bytes(path);
    T_CHECK(p.weights == payload, "weights %.0f != safetensors payload %.0f", p.weights, payload);

    double budget = 0;
    strata_memory_plan p4;
    strata_model_memory_plan(m, 4, T, 0, &p4);
    budget = p4.total + 1;
    T_CHECK(strata_model_max_batch(m, T, 0, budget) == 4, "max batch %d",
            strata_model_max_batch(m, T, 0, budget));
    T_CHECK(strata_model_check_fits(m, 4, T, 0, budget) == 0, "batch 4 fits");
    T_CHECK(strata_model_check_fits(m, 9, T, 0, budget) != 0, "batch 9 must be refused");
    T_CHECK(t_contains(strata_error_get(), "largest batch that fits is 4"), "message: %s",
            strata_error_get());
    printf("refusal: %s\n", strata_error_get());

    strata_model_free(m);
    be->ops = inner;
    strata_backend_free(be);
    free(ids);
    free(pixels);
    free(logprobs);
    return t_finish("test_memory_plan");
}

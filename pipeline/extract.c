/* extract.c — the MPI extract driver (extract.h): set up (backend by node-local rank, model,
 * tokenizer, manifest, streams), size ragged streams, create or resume the archive, then run
 * collective rounds: join the prefetched batch, forward it with capture callbacks that pool
 * into the round's buffers, write the round, agree on stop/progress. Relies on io/archive.h,
 * model/model.h, loader.h, streams.h. MPI is called from this (the main) thread only. */
#include "extract.h"
#include "commands.h"

#include <dirent.h>
#include <math.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/manifest.h"
#include "io/preprocess.h"
#include "io/safetensors.h"
#include "io/template.h"
#include "io/tokenizer.h"
#include "loader.h"
#include "model/intervene.h"
#include "model/memory.h"
#include "model/model.h"
#include "streams.h"
#include "strata.h"

int strata_cuda_device_count(char *why, int why_len); /* kernels/cuda/ */
int strata_cuda_free_memory(int device, double *free_bytes);

/* ---- signals: ask for a stop after the current round ------------------------------------- */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

void strata_extract_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* SA_RESTART: a read of an image interrupted by the signal must not fail that sample */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = SA_RESTART | SA_RESETHAND; /* a second Ctrl-C kills */
    sigaction(SIGINT, &sa, NULL);
}

int strata_extract_stop_requested(void) { return stop_signal != 0; }

void strata_extract_options_init(strata_extract_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->dtype = STRATA_DTYPE_F32;
    opt->batch = 8;
    opt->backend = "auto";
    opt->prefetch = 1;
    opt->progress = STRATA_PROGRESS_AUTO;
}

/* ---- the run's state ----------------------------------------------------------------------- */
enum { INPUT_IMAGE = 0, INPUT_CAPTION = 1 };

typedef struct {
    strata_stream_request req;
    strata_site site;
    int input;          /* INPUT_IMAGE | INPUT_CAPTION */
    int n_layers;       /* kept layers */
    int *layers;        /* [n_layers] */
    int *layer_pos;     /* [n_site_layers]: position in `layers`, -1 when not kept */
    int dim;
    int ragged;
    int64_t *row_offset; /* ragged: [n_samples + 1] */
} stream_state;

typedef struct {
    MPI_Comm comm;
    int rank, n_ranks;
    const strata_extract_options *opt;
    strata_backend *backend;
    strata_model *model;
    strata_model_info info;
    strata_tokenizer *tokenizer;
    strata_preprocess_config *preprocess;
    strata_manifest *manifest;
    int64_t n;
    int n_streams;
    stream_state *streams;     /* [n_streams] */
    int need_image, need_caption, capture_vision;
    uint8_t *llm_mask[2];      /* [L+1] layers to capture, per input */
    int has_cls;               /* vision tower has a class token at position 0 */
    double memory_budget;      /* bytes of device memory for this rank; 0: no check */
    int max_caption_tokens;    /* over the dataset (0 when not scanned) */
    strata_loader_config loader;
    strata_intervention *iv;   /* [n_iv] bound --intervene (issue 10) */
    int n_iv;
} run_state;

/* Every rank's `ok`, agreed: a failure anywhere fails everywhere. Rank 0 prints its message
 * when it failed (usually all ranks fail alike: one message, not P); otherwise each failing rank
 * prints its own, so the reason is never lost. */
static int agree(MPI_Comm comm, int ok)
{
    int all = 0, ok0 = ok;
    STRATA_CHECK_MPI(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
    STRATA_CHECK_MPI(MPI_Bcast(&ok0, 1, MPI_INT, 0, comm));
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    if (!ok && (rank == 0 || ok0)) strata_log("error: %s", strata_error_get());
    return all;
}

/* The weights' fingerprint recorded in the archive: sha256 of the safetensors headers
 * (io/safetensors.h). */
static int weights_sha256(const char *dir, char out[65])
{
    strata_safetensors *st = strata_safetensors_open_dir(dir);
    if (!st) return -1;
    snprintf(out, 65, "%s", strata_safetensors_headers_sha256(st));
    strata_safetensors_close(st);
    return 0;
}

static void run_free(run_state *r)
{
    for (int s = 0; s < r->n_streams; s++) {
        free(r->streams[s].layers);
        free(r->streams[s].layer_pos);
        free(r->streams[s].row_offset);
    }
    free(r->streams);
    free(r->llm_mask[0]);
    free(r->llm_mask[1]);
    for (int i = 0; i < r->n_iv; i++) strata_intervention_free(&r->iv[i]);
    free(r->iv);
    if (r->model) strata_model_free(r->model);
    if (r->backend) strata_backend_free(r->backend);
    if (r->tokenizer) strata_tokenizer_free(r->tokenizer);
    if (r->preprocess) strata_preprocess_config_free(r->preprocess);
    if (r->manifest) strata_manifest_free(r->manifest);
}

/* Backend: the GPU is the node-local rank modulo the visible GPUs; CPU threads are the cores
 * shared among the node's ranks unless OMP_NUM_THREADS or --threads says otherwise. */
static int setup_backend(run_state *r)
{
    MPI_Comm node;
    int local_rank = 0, local_size = 1;
    STRATA_CHECK_MPI(MPI_Comm_split_type(r->comm, MPI_COMM_TYPE_SHARED, r->rank, MPI_INFO_NULL,
                                         &node));
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_size(node, &local_size);
    MPI_Comm_free(&node);
    int threads = strata_threads_per_rank(r->comm, r->opt->threads);
    int n_gpus = strata_cuda_device_count(NULL, 0);
    int device = n_gpus > 0 ? local_rank % n_gpus : 0;
    r->backend = strata_backend_init(r->opt->backend, device, threads);
    if (!r->backend) {
        strata_error_prefix("--backend %s", r->opt->backend);
        return -1;
    }
    /* device memory for this rank, measured before the model is loaded: the GPU's free memory
     * shared by the node's ranks on that GPU (or --memory-budget) */
    double free_bytes = 0;
    if (r->opt->memory_budget_gib > 0)
        r->memory_budget = r->opt->memory_budget_gib * 1024.0 * 1024.0 * 1024.0;
    else if (!r->backend->host_memory && strata_cuda_free_memory(device, &free_bytes) == 0) {
        int sharing = n_gpus > 0 ? (local_size - device + n_gpus - 1) / n_gpus : 1;
        r->memory_budget = free_bytes / (sharing > 0 ? sharing : 1);
    }
    return 0;
}

static int setup_model_and_inputs(run_state *r)
{
    const strata_extract_options *opt = r->opt;
    char out_dir[4096];
    snprintf(out_dir, sizeof out_dir, "%s", opt->out);
    const char *dir = dirname(out_dir);
    if (access(dir, W_OK) != 0)
        return strata_error_set("--out %s: the folder %s does not exist or is not writable",
                                opt->out, dir);
    r->model = strata_model_load(opt->model_dir, r->backend, NULL);
    if (!r->model) return -1;
    r->info = *strata_model_get_info(r->model);
    r->tokenizer = strata_tokenizer_load_dir(opt->model_dir);
    if (!r->tokenizer) return -1;
    if (r->info.has_vision) {
        r->preprocess = strata_preprocess_config_load(opt->model_dir);
        if (!r->preprocess) return -1;
    }
    r->manifest = strata_manifest_open(opt->manifest);
    if (!r->manifest) return -1;
    r->n = (int64_t)r->manifest->n;
    return 0;
}

/* Streams, their layers and sites, from the options and the model. */
static int setup_streams(run_state *r)
{
    const strata_extract_options *opt = r->opt;
    const char *list = opt->streams ? opt->streams
                                    : r->info.has_vision ? "image,caption" : "caption";
    strata_stream_request *req = NULL;
    if (strata_streams_parse(list, opt->pool ? opt->pool : "mean", &req, &r->n_streams) < 0)
        return -1;
    r->streams = strata_calloc((size_t)r->n_streams, sizeof *r->streams);
    int L1 = r->info.n_layers + 1, V1 = r->info.vision_n_layers + 1;
    int n_patches = r->info.has_vision ? (r->info.image_size / r->info.patch_size) *
                                             (r->info.image_size / r->info.patch_size)
                                       : 0;
    r->has_cls = r->info.has_vision && r->info.vision_positions == n_patches + 1;
    r->llm_mask[0] = strata_calloc((size_t)L1, 1);
    r->llm_mask[1] = strata_calloc((size_t)L1, 1);
    int rc = 0;
    for (int s = 0; s < r->n_streams && rc == 0; s++) {
        stream_state *st = &r->streams[s];
        st->req = req[s];
        strata_stream_kind k = req[s].kind;
        if (strata_stream_needs_image(k) && !r->info.has_vision) {
            rc = strata_error_set("--streams: stream '%s' needs a vision model, but %s is a "
                                  "text-only %s (use caption, caption_last)", req[s].name,
                                  opt->model_dir, r->info.architecture);
            break;
        }
        if (req[s].pool.kind == STRATA_POOL_CLS && !r->has_cls) {
            rc = strata_error_set("--streams: vision:cls, but the vision tower (%s) has no "
                                  "class token", r->info.vision_model_type);
            break;
        }
        st->input = strata_stream_needs_image(k) ? INPUT_IMAGE : INPUT_CAPTION;
        int n_site_layers;
        if (k == STRATA_STREAM_VISION) {
            st->site = STRATA_SITE_VISION;
            st->dim = r->info.vision_hidden_size;
            n_site_layers = V1;
            rc = strata_layers_parse(opt->vision_layers ? opt->vision_layers : "all", V1,
                                     &st->layers, &st->n_layers);
            if (rc < 0) strata_error_prefix("--vision-layers");
        } else if (k == STRATA_STREAM_CONNECTOR) {
            st->site = STRATA_SITE_CONNECTOR;
            st->dim = r->info.hidden_size;
            n_site_layers = 1;
            rc = strata_layers_parse("0", 1, &st->layers, &st->n_layers);
        } else {
            st->site = STRATA_SITE_LLM;
            st->dim = r->info.hidden_size;
            n_site_layers = L1;
            rc = strata_layers_parse(opt->layers ? opt->layers : "all", L1, &st->layers,
                                     &st->n_layers);
            for (int i = 0; rc == 0 && i < st->n_layers; i++)
                r->llm_mask[st->input][st->layers[i]] = 1;
        }
        if (rc < 0) break;
        st->layer_pos = strata_malloc((size_t)n_site_layers * sizeof *st->layer_pos);
        for (int l = 0; l < n_site_layers; l++) st->layer_pos[l] = -1;
        for (int i = 0; i < st->n_layers; i++) st->layer_pos[st->layers[i]] = i;
        st->ragged = strata_pool_is_ragged(req[s].pool);
        if (st->input == INPUT_IMAGE) r->need_image = 1;
        else r->need_caption = 1;
        if (st->site != STRATA_SITE_LLM) r->capture_vision = 1;
    }
    free(req);
    return rc;
}

/* --intervene and --nll against the loaded model, before any work (issue 10) */
static int setup_interventions(run_state *r)
{
    const strata_extract_options *opt = r->opt;
    if (opt->nll && !r->info.has_vision)
        return strata_error_set("--nll: %s has no vision tower (the NLL is of the caption given "
                                "the image)", opt->model_dir);
    r->iv = strata_calloc((size_t)(opt->n_intervene > 0 ? opt->n_intervene : 1), sizeof *r->iv);
    for (int i = 0; i < opt->n_intervene; i++) {
        if (strata_intervention_parse(opt->intervene[i], &r->iv[i]) < 0) return -1;
        r->n_iv = i + 1;
        if (strata_intervention_bind(&r->iv[i], r->model, r->backend) < 0) return -1;
    }
    return 0;
}

/* Rows per sample of every ragged stream, as prefix sums. Caption streams need every caption's
 * token count: each rank tokenizes its share and the counts are gathered (with the longest
 * caption, which the memory check needs too). */
static int size_ragged_streams(run_state *r)
{
    int any_caption = 0, any = 0;
    for (int s = 0; s < r->n_streams; s++) {
        any |= r->streams[s].ragged;
        any_caption |= r->streams[s].ragged && r->streams[s].input == INPUT_CAPTION;
    }
    /* the memory check needs the longest caption (the caption input, or inside the prompt) */
    int need_max = r->memory_budget > 0 &&
                   (r->need_caption || (r->loader.template_text &&
                                        strstr(r->loader.template_text, "{caption}")));
    any_caption |= need_max;
    if (!any && !need_max) return 0;
    int64_t n = r->n;
    int32_t *count = strata_calloc((size_t)n, sizeof *count); /* [n] caption tokens, 0 if bad */
    if (any_caption) {
        int *recv_counts = strata_malloc((size_t)r->n_ranks * sizeof *recv_counts);
        int *displs = strata_malloc((size_t)r->n_ranks * sizeof *displs);
        for (int q = 0; q < r->n_ranks; q++) {
            displs[q] = (int)(n * q / r->n_ranks);
            recv_counts[q] = (int)(n * (q + 1) / r->n_ranks) - displs[q];
        }
        for (int64_t i = displs[r->rank]; i < displs[r->rank] + recv_counts[r->rank]; i++) {
            const strata_sample *sm = &r->manifest->samples[i];
            int32_t *ids = NULL;
            int len = 0, b0 = 0, nc = 0;
            if (!sm->error &&
                strata_loader_caption_tokens(&r->loader, sm->caption, &ids, &len, &b0, &nc) == 0) {
                count[i] = nc;
                if (len > r->max_caption_tokens) r->max_caption_tokens = len;
            }
            free(ids);
        }
        STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &r->max_caption_tokens, 1, MPI_INT, MPI_MAX,
                                       r->comm));
        STRATA_CHECK_MPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, count, recv_counts,
                                        displs, MPI_INT32_T, r->comm));
        free(recv_counts);
        free(displs);
    }
    int n_patches = r->info.vision_positions - r->has_cls;
    for (int s = 0; s < r->n_streams; s++) {
        stream_state *st = &r->streams[s];
        if (!st->ragged) continue;
        st->row_offset = strata_malloc((size_t)(n + 1) * sizeof *st->row_offset);
        st->row_offset[0] = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t positions = st->req.kind == STRATA_STREAM_CAPTION  ? count[i]
                                : st->req.kind == STRATA_STREAM_VISION ? n_patches
                                                                       : r->info.n_image_tokens;
            st->row_offset[i + 1] = st->row_offset[i] + strata_pool_rows(st->req.pool, positions);
        }
    }
    free(count);
    return 0;
}

/* ---- capture: pool a layer's states into the round's buffers --------------------------------- */
typedef struct {
    run_state *run;
    const strata_batch *batch;
    int input;
    float **out;      /* [n_streams] round buffers [n_layers][rows][dim] */
    int64_t *rows;    /* [n_streams] rows in this round */
    int *positions;   /* scratch */
} capture_ctx;

/* Row of sample `i` (manifest index) in stream s's round buffer. */
static int64_t round_row(const run_state *r, int s, const strata_batch *b, int64_t i)
{
    const stream_state *st = &r->streams[s];
    return st->ragged ? st->row_offset[i] - st->row_offset[b->begin] : i - b->begin;
}

static int fill_range(int *pos, int from, int count)
{
    for (int j = 0; j < count; j++) pos[j] = from + j;
    return count;
}

static int on_capture(const strata_capture *c, void *user)
{
    capture_ctx *cx = user;
    run_state *r = cx->run;
    const strata_batch *b = cx->batch;
    for (int s = 0; s < r->n_streams; s++) {
        stream_state *st = &r->streams[s];
        if (st->site != c->site || st->input != cx->input) continue;
        int n_site_layers = st->site == STRATA_SITE_LLM      ? r->info.n_layers + 1
                            : st->site == STRATA_SITE_VISION ? r->info.vision_n_layers + 1
                                                             : 1;
        if (c->layer < 0 || c->layer >= n_site_layers) continue;
        int lp = st->layer_pos[c->layer];
        if (lp < 0) continue;
        if (c->dim != st->dim || c->batch != b->n_ok)
            return strata_error_set("capture of %s layer %d: got [%d][%d][%d], expected batch "
                                    "%d and dim %d", st->req.name, c->layer, c->batch, c->rows,
                                    c->dim, b->n_ok, st->dim);
        for (int row = 0; row < b->n_ok; row++) {
            int k = b->ok_sample[row];
            int64_t i = b->begin + k;
            int n_pos = 0;
            switch (st->req.kind) {
            case STRATA_STREAM_IMAGE:
                n_pos = fill_range(cx->positions, b->image_begin[row], r->info.n_image_tokens);
                break;
            case STRATA_STREAM_IMAGE_LAST:
                n_pos = fill_range(cx->positions, b->image_len[row] - 1, 1);
                break;
            case STRATA_STREAM_CAPTION:
                n_pos = fill_range(cx->positions, b->caption_begin[row], b->caption_count[row]);
                break;
            case STRATA_STREAM_CAPTION_LAST:
                n_pos = fill_range(cx->positions, b->caption_len[row] - 1, 1);
                break;
            case STRATA_STREAM_VISION:
                n_pos = fill_range(cx->positions, r->has_cls, c->rows - r->has_cls);
                break;
            case STRATA_STREAM_CONNECTOR: n_pos = fill_range(cx->positions, 0, c->rows); break;
            }
            for (int p = 0; p < n_pos; p++)
                if (cx->positions[p] < 0 || cx->positions[p] >= c->rows)
                    return strata_error_set("capture of %s: position %d outside the %d rows",
                                            st->req.name, cx->positions[p], c->rows);
            int64_t out_row = round_row(r, s, b, i);
            int64_t want = strata_pool_rows(st->req.pool, n_pos);
            if (st->ragged && st->row_offset[i + 1] - st->row_offset[i] != want)
                return strata_error_set("sample %lld stream %s: %lld rows planned, %lld found",
                                        (long long)i, st->req.name,
                                        (long long)(st->row_offset[i + 1] - st->row_offset[i]),
                                        (long long)want);
            float *dst = cx->out[s] + ((int64_t)lp * cx->rows[s] + out_row) * st->dim;
            const float *src = c->data + (int64_t)row * c->rows * c->dim;
            strata_pool_apply(st->req.pool, src, c->dim, c->dim, cx->positions, n_pos,
                              (uint64_t)i, dst);
        }
    }
    return 0;
}

/* Teacher-forced caption NLL per sample of the batch (nll [b->n], NaN for failed samples and
 * for samples whose image input + caption exceed the context): each ok row is its image input
 * followed by its caption tokens; nll = -sum of log p(caption token t | tokens before t).
 * *seq_max: the longest sequence run. */
static int nll_batch(run_state *r, const strata_batch *b, double *nll, int *seq_max)
{
    int ctx = r->info.context_length, T = 0, n = 0;
    size_t px = (size_t)3 * r->info.image_size * r->info.image_size;
    for (int j = 0; j < b->n; j++) nll[j] = NAN;
    *seq_max = 0;
    int *rows = strata_malloc((size_t)(b->n_ok + 1) * sizeof(int)); /* [n] batch rows run */
    for (int k = 0; k < b->n_ok; k++) {
        int len = b->image_len[k] + b->caption_count[k];
        if (len > ctx || b->caption_count[k] < 1) {
            strata_log("sample %lld: no caption NLL (%d tokens with the caption, context %d)",
                       (long long)(b->begin + b->ok_sample[k]), len, ctx);
            continue;
        }
        rows[n++] = k;
        if (len > T) T = len;
    }
    int rc = 0;
    if (n > 0) {
        int32_t *ids = strata_calloc((size_t)n * T, sizeof *ids);   /* [n][T] */
        int32_t *lens = strata_malloc((size_t)n * sizeof *lens);    /* [n] */
        float *pix = strata_malloc((size_t)n * px * sizeof(float)); /* [n][3][S][S] */
        float *lp = strata_calloc((size_t)n * T, sizeof(float));    /* [n][T] */
        for (int i = 0; i < n; i++) {
            int k = rows[i], il = b->image_len[k], cc = b->caption_count[k];
            memcpy(ids + (size_t)i * T, b->image_ids + (size_t)k * b->image_T, (size_t)il * 4);
            memcpy(ids + (size_t)i * T + il,
                   b->caption_ids + (size_t)k * b->caption_T + b->caption_begin[k], (size_t)cc * 4);
            lens[i] = il + cc;
            memcpy(pix + i * px, b->pixels + (size_t)k * px, px * sizeof(float));
        }
        strata_forward_args a = {.batch = n, .seq_len = T, .input_ids = ids, .lengths = lens,
                                 .n_images = n, .pixel_values = pix, .logprobs = lp,
                                 .intervene = r->iv, .n_intervene = r->n_iv};
        rc = strata_model_forward(r->model, &a);
        for (int i = 0; i < n && rc == 0; i++) {
            int k = rows[i], il = b->image_len[k];
            double s = 0;
            for (int t = il - 1; t + 1 < lens[i]; t++) s -= lp[(size_t)i * T + t];
            nll[b->ok_sample[k]] = s;
        }
        free(ids), free(lens), free(pix), free(lp);
        *seq_max = T;
    }
    free(rows);
    return rc;
}

/* Runs the model over one batch, filling out[s] for every stream. */
static int compute_batch(run_state *r, const strata_batch *b, float **out, int64_t *rows)
{
    if (b->n_ok == 0) return 0;
    int max_rows = r->info.vision_positions;
    if (b->image_T > max_rows) max_rows = b->image_T;
    if (b->caption_T > max_rows) max_rows = b->caption_T;
    if (r->info.n_image_tokens > max_rows) max_rows = r->info.n_image_tokens;
    capture_ctx cx = {r, b, 0, out, rows, strata_malloc((size_t)(max_rows + 1) * sizeof(int))};
    int rc = 0;
    for (int input = 0; input < 2 && rc == 0; input++) {
        if ((input == INPUT_IMAGE && !r->need_image) || (input == INPUT_CAPTION && !r->need_caption))
            continue;
        cx.input = input;
        strata_forward_args a;
        memset(&a, 0, sizeof a);
        a.batch = b->n_ok;
        a.capture = on_capture;
        a.user = &cx;
        a.llm_layers = r->llm_mask[input];
        a.intervene = r->iv;
        a.n_intervene = r->n_iv;
        if (input == INPUT_IMAGE) {
            a.seq_len = b->image_T;
            a.input_ids = b->image_ids;
            a.lengths = b->image_len;
            a.n_images = b->n_ok;
            a.pixel_values = b->pixels;
            a.capture_vision = r->capture_vision;
        } else {
            a.seq_len = b->caption_T;
            a.input_ids = b->caption_ids;
            a.lengths = b->caption_len;
        }
        rc = strata_model_forward(r->model, &a);
    }
    free(cx.positions);
    return rc;
}

/* ---- the loader, in a thread or inline ------------------------------------------------------ */
typedef struct {
    const strata_loader_config *cfg;
    strata_sample_range work;
    strata_batch batch;
    pthread_t thread;
    int running;
} load_slot;

static void *load_main(void *arg)
{
    load_slot *slot = arg;
    strata_loader_load(slot->cfg, slot->work.begin, slot->work.end, &slot->batch);
    return NULL;
}

static void load_start(load_slot *slot, const strata_loader_config *cfg, strata_sample_range w,
                       int in_thread)
{
    slot->cfg = cfg;
    slot->work = w;
    if (in_thread && pthread_create(&slot->thread, NULL, load_main, slot) == 0) {
        slot->running = 1;
        return;
    }
    load_main(slot);
}

static void load_join(load_slot *slot)
{
    if (slot->running) pthread_join(slot->thread, NULL);
    slot->running = 0;
}

/* ---- the whole run --------------------------------------------------------------------------- */
static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* The prompt template of the image input: --template (a preset name or text) or the
 * architecture's; it must hold exactly one <image>. */
static int setup_template(run_state *r)
{
    const char *t = r->opt->template_text;
    const char *tmpl = t ? strata_template_resolve(t)
                         : strata_template_for_architecture(r->info.architecture);
    if (r->need_image || r->opt->nll) {
        if (!tmpl)
            return strata_error_set("no prompt template for %s: give --template",
                                    r->info.architecture);
        if (strata_template_check(tmpl) < 0) {
            strata_error_prefix("--template");
            return -1;
        }
        if (!strata_template_has_image(tmpl) || strstr(strstr(tmpl, "<image>") + 1, "<image>"))
            return strata_error_set("--template '%s': expected exactly one <image>", tmpl);
    }
    r->loader = (strata_loader_config){
        .manifest = r->manifest, .tokenizer = r->tokenizer, .preprocess = r->preprocess,
        .model = r->model, .info = r->info, .template_text = tmpl,
        .prompt = r->opt->prompt ? r->opt->prompt : "Describe the image.",
        .need_image = r->need_image || r->opt->nll,
        .need_caption = r->need_caption || r->opt->nll};
    return 0;
}

/* Refuses, before any work, a batch whose forward does not fit in the device memory budget
 * (pipeline/model/memory.h), saying the largest that would. The longest input: the prompt with
 * the image (plus the longest caption when the template holds {caption}) or the longest caption. */
static int check_memory(run_state *r)
{
    if (r->memory_budget <= 0) return 0;
    int seq_len = r->max_caption_tokens;
    if (r->need_image) {
        char *text = strata_template_expand(r->loader.template_text, r->loader.prompt, "", NULL);
        int32_t *ids = NULL;
        int n = 0;
        if (!text || strata_tokenizer_encode(r->tokenizer, text, 1, &ids, &n) < 0) {
            free(text);
            strata_error_prefix("prompt template");
            return -1;
        }
        free(text);
        free(ids);
        int image_T = n - 1 + r->info.n_image_tokens;
        if (strstr(r->loader.template_text, "{caption}")) image_T += r->max_caption_tokens;
        if (image_T > seq_len) seq_len = image_T;
    }
    if (strata_model_check_fits(r->model, r->opt->batch, seq_len, 0, r->memory_budget) < 0) {
        strata_error_prefix("--batch %d", r->opt->batch);
        return -1;
    }
    return 0;
}

/* Creates the archive, or reopens its .partial to resume; then plans what is still pending
 * (*plan) and counts what earlier runs finished (already[0] done, [1] ok, [2] failed).
 * Collective; NULL when the archive cannot be created (message printed). */
static strata_archive *open_archive(run_state *r, strata_extract_plan *plan, int64_t already[3])
{
    const strata_extract_options *opt = r->opt;
    char manifest_sha[65] = "", weights_sha[65] = "";
    int rc = strata_sha256_file(opt->manifest, manifest_sha);
    if (rc == 0) rc = weights_sha256(opt->model_dir, weights_sha);
    if (!agree(r->comm, rc == 0)) return NULL;
    const char **ids = strata_malloc((size_t)r->n * sizeof *ids); /* [n] */
    for (int64_t i = 0; i < r->n; i++) ids[i] = r->manifest->samples[i].id;
    strata_stream_info *infos = strata_calloc((size_t)r->n_streams, sizeof *infos);
    for (int s = 0; s < r->n_streams; s++) {
        stream_state *st = &r->streams[s];
        strata_stream_info *in = &infos[s];
        snprintf(in->name, sizeof in->name, "%s", st->req.name);
        snprintf(in->site, sizeof in->site, "%s", strata_stream_site(st->req.kind));
        strata_pool_format(st->req.pool, in->pool, sizeof in->pool);
        in->n_layers = st->n_layers;
        in->layers = st->layers;
        in->hidden_size = st->dim;
        in->dtype = opt->dtype;
        in->ragged = st->ragged;
        in->row_offset = st->row_offset;
        in->n_rows = st->ragged ? st->row_offset[r->n] : r->n;
    }
    char model_name[4096];
    snprintf(model_name, sizeof model_name, "%s", opt->model_dir);
    size_t ml = strlen(model_name);
    while (ml > 1 && model_name[ml - 1] == '/') model_name[--ml] = 0;
    strata_extract_plan_make(NULL, r->n, r->n_ranks, opt->batch, plan); /* a fresh run's */
    strata_archive_spec spec = {
        .command_line = opt->command_line,
        .model_name = basename(model_name),
        .architecture = r->info.architecture,
        .config_json = strata_model_config_json(r->model),
        .weights_sha256 = weights_sha,
        .dtype_on_disk = strata_tensor_dtype_name(r->info.weight_dtype),
        .compute_dtype = "f32",
        .backend = r->backend->ops->name,
        .manifest_path = opt->manifest,
        .manifest_sha256 = manifest_sha,
        .n_samples = r->n,
        .ids = ids,
        .n_streams = r->n_streams,
        .streams = infos,
        .n_rounds = plan->n_rounds,
    };
    strata_archive *a = strata_archive_create(r->comm, opt->out, &spec, opt->overwrite);
    free(ids);
    free(infos);
    if (!a) {
        strata_log0("error: %s", strata_error_get());
        return NULL;
    }
    const int8_t *status = strata_archive_status(a);
    already[0] = already[1] = already[2] = 0;
    for (int64_t i = 0; i < r->n; i++) {
        already[0] += status[i] != STRATA_SAMPLE_PENDING;
        already[1] += status[i] == STRATA_SAMPLE_OK;
        already[2] += status[i] == STRATA_SAMPLE_FAILED;
    }
    if (already[0] > 0) { /* resume: plan only what is still pending, on this run's ranks */
        strata_extract_plan_free(plan);
        strata_extract_plan_make(status, r->n, r->n_ranks, opt->batch, plan);
        if (strata_archive_set_rounds(a, plan->n_rounds) < 0)
            strata_fatal("%s: %s", opt->out, strata_error_get());
        strata_log0("resuming %s.partial: %lld of %lld samples already done, %lld to go",
                    opt->out, (long long)already[0], (long long)r->n, (long long)plan->n_pending);
    }
    return a;
}

/* One round on this rank: pool the batch's captures into the round buffers, write them
 * (collective), then agree with every rank on the counts and on stopping. Returns 1 when some
 * rank was asked to stop. */
static int run_round(run_state *r, strata_archive *a, int round, strata_batch *b,
                     strata_extract_summary *sum, int64_t counts[2])
{
    float **out = strata_calloc((size_t)r->n_streams, sizeof *out); /* [n_streams] */
    int64_t *rows = strata_calloc((size_t)r->n_streams, sizeof *rows);
    for (int s = 0; s < r->n_streams; s++) {
        const stream_state *st = &r->streams[s];
        rows[s] = st->ragged ? st->row_offset[b->end] - st->row_offset[b->begin]
                             : b->end - b->begin;
        /* [n_layers][rows][dim], zeros for failed samples */
        out[s] = strata_calloc((size_t)(st->n_layers * rows[s] * st->dim) + 1, sizeof(float));
    }
    double t0 = strata_now();
    if (compute_batch(r, b, out, rows) < 0)
        strata_fatal("forward of samples %lld..%lld: %s", (long long)b->begin,
                     (long long)b->end - 1, strata_error_get());
    if (r->opt->nll) {
        double *nll = strata_malloc((size_t)(b->n + 1) * sizeof(double)); /* [n] */
        int seq = 0, seq_max = 0;
        if (b->n_ok && nll_batch(r, b, nll, &seq) < 0)
            strata_fatal("caption NLL of samples %lld..%lld: %s", (long long)b->begin,
                         (long long)b->end - 1, strata_error_get());
        if (!b->n_ok)
            for (int j = 0; j < b->n; j++) nll[j] = NAN;
        STRATA_CHECK_MPI(MPI_Allreduce(&seq, &seq_max, 1, MPI_INT, MPI_MAX, r->comm));
        char spec[8192];
        strata_intervention_describe(r->iv, r->n_iv, spec, sizeof spec);
        double flops = strata_intervention_flops_saved(r->iv, r->n_iv, r->model,
                                                       r->info.n_image_tokens, seq_max);
        const char *names[] = {"interventions", "flops_saved_per_sample", "flops_seq_len"};
        const char *text[] = {spec, NULL, NULL};
        double num[] = {0, flops, seq_max};
        if (strata_archive_write_sample_f64(a, "/nll/caption", b->begin, b->end, nll, 3, names,
                                            text, num) < 0)
            strata_fatal("%s: /nll/caption: %s", r->opt->out, strata_error_get());
        free(nll);
    }
    double t1 = strata_now();
    int64_t local[3] = {0, 0, 0}, global[3];
    for (int j = 0; j < b->n; j++) {
        if (b->status[j] == STRATA_SAMPLE_OK) {
            local[0]++;
        } else {
            local[1]++;
            strata_log("sample %lld (%s) failed: %s", (long long)(b->begin + j),
                       r->manifest->samples[b->begin + j].id, b->error[j]);
        }
    }
    strata_archive_round wr = {b->begin, b->end, b->status, (const char *const *)b->error,
                               (const float *const *)out};
    if (strata_archive_write_round(a, round, &wr) < 0)
        strata_fatal("%s: round %d: %s", r->opt->out, round, strata_error_get());
    /* a signal may reach only some ranks: the sum tells all of them */
    local[2] = stop_signal != 0;
    STRATA_CHECK_MPI(MPI_Allreduce(local, global, 3, MPI_INT64_T, MPI_SUM, r->comm));
    sum->forward_seconds += t1 - t0;
    sum->write_seconds += strata_now() - t1;
    counts[0] = global[0];
    counts[1] = global[1];
    for (int s = 0; s < r->n_streams; s++) free(out[s]);
    free(out);
    free(rows);
    return global[2] > 0;
}

/* All rounds of the plan, the next batch loading in a thread while the current one runs.
 * Returns the number of rounds done (< n_rounds when stopped by a signal). */
static int run_rounds(run_state *r, strata_archive *a, const strata_extract_plan *plan,
                      strata_progress *progress, strata_extract_summary *sum, int64_t run[2])
{
    const int prefetch = r->opt->prefetch;
    load_slot slots[2];
    memset(slots, 0, sizeof slots);
    int cur = 0, announced = 0, k = 0;
    int64_t planned_done = progress->start_done;
    if (plan->n_rounds > 0 && prefetch)
        load_start(&slots[0], &r->loader, strata_extract_plan_work(plan, 0, r->rank), 1);
    while (k < plan->n_rounds) {
        double t0 = strata_now();
        if (prefetch) load_join(&slots[cur]);
        else load_start(&slots[cur], &r->loader, strata_extract_plan_work(plan, k, r->rank), 0);
        sum->load_wait_seconds += strata_now() - t0;
        if (prefetch && k + 1 < plan->n_rounds)
            load_start(&slots[1 - cur], &r->loader,
                       strata_extract_plan_work(plan, k + 1, r->rank), 1);
        if (stop_signal && !announced) {
            strata_log("received %s: finishing this round, then stopping",
                       stop_signal == SIGTERM ? "SIGTERM" : stop_signal == SIGUSR1 ? "SIGUSR1"
                                                                                  : "SIGINT");
            announced = 1;
        }
        int64_t counts[2];
        int stop = run_round(r, a, k, &slots[cur].batch, sum, counts);
        strata_batch_free(&slots[cur].batch);
        run[0] += counts[0];
        run[1] += counts[1];
        for (int q = 0; q < r->n_ranks; q++) {
            strata_sample_range w = strata_extract_plan_work(plan, k, q);
            planned_done += w.end - w.begin;
        }
        strata_progress_update(progress, planned_done, progress->failed + counts[1]);
        cur = 1 - cur;
        k++;
        if (stop) break;
    }
    load_join(&slots[cur]); /* a prefetched batch nobody will run (stopped) */
    if (slots[cur].batch.status) strata_batch_free(&slots[cur].batch);
    return k;
}

static void print_summary(const run_state *r, const strata_extract_summary *sum, int rounds_done,
                          int n_rounds, int exit_code)
{
    double rate = sum->rounds_seconds > 0 ? sum->run_samples / sum->rounds_seconds : 0;
    double t = sum->rounds_seconds > 0 ? sum->rounds_seconds : 1;
    char elapsed[32];
    strata_format_duration(sum->seconds, elapsed, sizeof elapsed);
    strata_log("extract %s: %lld samples: %lld ok, %lld failed%s; this run: %lld samples, %s "
               "(%.1f s, of which setup %.1f s), %.2f samples/s; archive %.1f MB%s",
               sum->stopped ? "stopped" : "done", (long long)sum->n_samples, (long long)sum->ok,
               (long long)sum->failed, sum->failed ? " (errors in /samples/error)" : "",
               (long long)sum->run_samples, elapsed, sum->seconds,
               sum->seconds - sum->rounds_seconds, rate, sum->archive_bytes / 1e6,
               sum->stopped ? " (partial)" : "");
    strata_log("rounds on rank 0: forward %.1f%%, waiting for the loader %.1f%%, writing and "
               "syncing %.1f%%, other %.1f%%",
               100 * sum->forward_seconds / t, 100 * sum->load_wait_seconds / t,
               100 * sum->write_seconds / t,
               100 * (t - sum->forward_seconds - sum->load_wait_seconds - sum->write_seconds) / t);
    if (r->n_ranks > 1)
        strata_log("forward time per rank: %.2f s .. %.2f s", sum->forward_min_seconds,
                   sum->forward_max_seconds);
    if (sum->stopped)
        strata_log("stopped by a signal after a clean flush of round %d of %d: run the same "
                   "command again to resume (exit code %d)", rounds_done, n_rounds,
                   STRATA_EXIT_REQUEUE);
    else
        strata_log("wrote %s", r->opt->out);
    if (exit_code == STRATA_EXIT_FAILURE)
        strata_log("error: %lld samples failed and --fail-on-bad is set", (long long)sum->failed);
}

int strata_extract_run(MPI_Comm comm, const strata_extract_options *opt,
                       strata_extract_summary *summary)
{
    strata_extract_summary sum;
    memset(&sum, 0, sizeof sum);
    double t_start = strata_now();
    run_state r;
    memset(&r, 0, sizeof r);
    r.comm = comm;
    r.opt = opt;
    MPI_Comm_rank(comm, &r.rank);
    MPI_Comm_size(comm, &r.n_ranks);
    strata_extract_install_signals();
    if (opt->batch < 1) {
        strata_log0("error: --batch must be at least 1");
        return STRATA_EXIT_USAGE;
    }

    int exit_code = STRATA_EXIT_FAILURE;
    strata_archive *archive = NULL;
    strata_extract_plan plan = {0};
    int64_t already[3]; /* done, ok, failed before this run */
    if (!agree(comm, setup_backend(&r) == 0) || !agree(comm, setup_model_and_inputs(&r) == 0) ||
        !agree(comm, setup_streams(&r) == 0) || !agree(comm, setup_interventions(&r) == 0) ||
        !agree(comm, setup_template(&r) == 0))
        goto done;
    size_ragged_streams(&r);
    if (!agree(comm, check_memory(&r) == 0)) goto done;
    archive = open_archive(&r, &plan, already);
    if (!archive) goto done;
    if (r.rank == 0)
        strata_log("extract: %lld samples, %d streams, %d ranks, batch %d, %d rounds, backend %s",
                   (long long)r.n, r.n_streams, r.n_ranks, opt->batch, plan.n_rounds,
                   r.backend->ops->name);

    strata_progress progress;
    strata_progress_init(&progress, stderr, r.rank == 0 ? opt->progress : STRATA_PROGRESS_NONE,
                         "extract", r.n, already[0], 0);
    progress.failed = already[2];
    int64_t run[2] = {0, 0}; /* ok, failed in this run */
    double t_rounds = strata_now();
    int rounds_done = run_rounds(&r, archive, &plan, &progress, &sum, run);
    strata_progress_end(&progress);

    sum.n_samples = r.n;
    sum.ok = already[1] + run[0];
    sum.failed = already[2] + run[1];
    sum.run_samples = run[0] + run[1];
    sum.stopped = rounds_done < plan.n_rounds;
    sum.rounds_seconds = strata_now() - t_rounds;
    sum.seconds = strata_now() - t_start;
    if (sum.stopped) {
        strata_archive_close(archive);
        archive = NULL;
        char partial[4096];
        snprintf(partial, sizeof partial, "%s.partial", opt->out);
        sum.archive_bytes = file_size(partial);
        exit_code = STRATA_EXIT_REQUEUE;
    } else {
        int rc = strata_archive_finish(archive);
        archive = NULL;
        if (rc < 0) {
            strata_log0("error: %s: %s", opt->out, strata_error_get());
            goto done;
        }
        sum.archive_bytes = file_size(opt->out);
        exit_code = opt->fail_on_bad && sum.failed > 0 ? STRATA_EXIT_FAILURE : STRATA_EXIT_OK;
    }
    /* the spread of forward time over ranks tells imbalance from I/O in the "writing and
     * syncing" share (a collective write waits for the slowest rank) */
    double fwd[2] = {sum.forward_seconds, -sum.forward_seconds}, fwd_ext[2];
    STRATA_CHECK_MPI(MPI_Reduce(fwd, fwd_ext, 2, MPI_DOUBLE, MPI_MAX, 0, comm));
    sum.forward_max_seconds = fwd_ext[0];
    sum.forward_min_seconds = -fwd_ext[1];
    if (r.rank == 0) print_summary(&r, &sum, rounds_done, plan.n_rounds, exit_code);
done:
    if (archive) strata_archive_close(archive);
    strata_extract_plan_free(&plan);
    run_free(&r);
    if (summary) *summary = sum;
    return exit_code;
}

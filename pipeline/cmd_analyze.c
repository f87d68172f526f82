/* cmd_analyze.c — `strata analyze A.h5 [B.h5 ...] --out R.h5`: reads a row block of every
 * analysed layer of every archive on each rank (io/archive.h), drops samples whose status is not
 * ok or whose rows hold NaN/Inf (counted), and runs the metrics of analysis/analysis.h, writing
 * results format v1 (io/results.h). Cross-model metrics need archives over the same manifest;
 * without them every archive is analysed on its own. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "analysis/analysis.h"
#include "analysis/nll.h"
#include "analysis/probe_run.h"
#include "commands.h"
#include "io/archive.h"
#include "io/config.h"
#include "io/results.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata analyze ARCHIVE.h5 [MORE.h5 ...] --out RESULTS.h5 [options]\n\n"
            "Computes the geometry of layer-wise representations over all ranks (run it under\n"
            "mpirun/srun for several): spectra (TSQR), intrinsic dimension (TwoNN, MLE, GRIDE),\n"
            "linear CKA (biased and unbiased HSIC), neighbourhood overlap, alignment between\n"
            "paired streams, and CKA/overlap between models over the same samples. Samples with\n"
            "status != ok, or with NaN/Inf in any analysed row, are excluded and counted.\n\n"
            "  --out FILE            results file (written as FILE.partial, then renamed)\n"
            "  --metrics LIST        spectrum,id,cka,overlap,alignment,cross or all (default all;\n"
            "                        cross needs >= 2 archives over the same manifest)\n"
            "  --streams LIST        streams to analyse (default: every pooled stream)\n"
            "  --layers LIST         layer indices, e.g. 0,4,8 or 0-16 (default: all kept)\n"
            "  --k N                 Levina-Bickel MLE neighbours (default 100)\n"
            "  --overlap-k N         neighbourhood overlap k (default 30)\n"
            "  --gride-n1 N          GRIDE scale read into id/gride (default 16; n2 = 2 n1)\n"
            "  --gride-range N       GRIDE scaling up to n2 = N (default 64)\n"
            "  --twonn-fraction F    fraction of mu kept by TwoNN (default 0.9)\n"
            "  --bootstrap B         bootstrap resamples for ID and NLL intervals (default 0: none)\n"
            "  --nll-baseline FILE   archive whose /nll/caption (strata extract --nll) is the\n"
            "                        baseline: /<model>/nll/delta_mean is the paired change of\n"
            "                        the mean caption NLL (archives with /nll/caption always get\n"
            "                        /<model>/nll/mean)\n"
            "  --probe LABELS        ridge probes (k-fold CV, alpha by inner CV) of these manifest\n"
            "                        labels at every analysed layer: strings are classified\n"
            "                        (accuracy), numbers regressed (R^2); /<model>/<stream>/probe/\n"
            "  --probe-manifest FILE manifest holding the labels (default: the archive's)\n"
            "  --probe-folds K       outer folds (default 5; 3 inner folds choose alpha)\n"
            "  --samples N           analyse a random subset of N usable samples\n"
            "  --seed S              seed of --samples and --bootstrap (default 1)\n"
            "  --allow-partial       analyse an incomplete archive (its ok samples)\n"
            "  --threads N           CPU threads per rank (default: OMP_NUM_THREADS, else the cores\n"
            "                        the rank may use (mpirun binding, Slurm allocation) shared\n"
            "                        with the node's ranks)\n"
            "  --verbose             per rank: bytes sent by the ring and TSQR, timings\n"
            "Duplicate rows (per layer) are removed before neighbour statistics and counted.\n");
}

typedef struct {
    char **archives;
    int n_archives;
    const char *out, *streams, *layers;
    const char *nll_baseline; /* --nll-baseline (analysis/nll.h) */
    const char *probe, *probe_manifest; /* --probe LABELS (analysis/probe_run.h) */
    int probe_folds;
    int64_t samples;
    int allow_partial;
    int threads;
    strata_analysis_options opt;
} options;

static int parse_int(const char *opt, const char *s, long long lo, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo) {
        strata_error_set("%s expects an integer >= %lld, got '%s'", opt, lo, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    strata_analysis_options_default(&o->opt);
    o->samples = -1;
    o->probe_folds = 5;
    o->archives = strata_calloc((size_t)argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strata_is_help(a)) {
            usage(stdout);
            return 1;
        }
        if (a[0] != '-' || a[1] != '-') {
            if (a[0] == '-') return strata_error_set("unknown option '%s'", a);
            o->archives[o->n_archives++] = argv[i];
            continue;
        }
        if (strcmp(a, "--allow-partial") == 0) {
            o->allow_partial = 1;
            continue;
        }
        if (strcmp(a, "--verbose") == 0) {
            o->opt.verbose = 1;
            continue;
        }
        if (i + 1 >= argc) return strata_error_set("%s needs a value", a);
        const char *val = argv[++i];
        if (strcmp(a, "--out") == 0) {
            o->out = val;
        } else if (strcmp(a, "--metrics") == 0) {
            if (strata_analysis_parse_metrics(val, &o->opt.metrics) < 0) return -1;
        } else if (strcmp(a, "--streams") == 0) {
            o->streams = val;
        } else if (strcmp(a, "--layers") == 0) {
            o->layers = val;
        } else if (strcmp(a, "--nll-baseline") == 0) {
            o->nll_baseline = val;
        } else if (strcmp(a, "--probe") == 0) {
            o->probe = val;
        } else if (strcmp(a, "--probe-manifest") == 0) {
            o->probe_manifest = val;
        } else if (strcmp(a, "--probe-folds") == 0) {
            if (parse_int(a, val, 2, &v) < 0) return -1;
            if (v > 100) return strata_error_set("--probe-folds expects 2..100, got %lld", v);
            o->probe_folds = (int)v;
        } else if (strcmp(a, "--twonn-fraction") == 0) {
            char *end;
            double f = strtod(val, &end);
            if (!*val || *end || !(f > 0 && f <= 1))
                return strata_error_set("--twonn-fraction expects a number in (0, 1], got '%s'", val);
            o->opt.twonn_fraction = f;
        } else {
            struct { const char *name; long long lo; } ints[] = {
                {"--k", 2}, {"--overlap-k", 1}, {"--gride-n1", 1}, {"--gride-range", 2},
                {"--bootstrap", 0}, {"--samples", 4}, {"--threads", 1}, {"--seed", 0}};
            int which = -1;
            for (int k = 0; k < 8; k++)
                if (strcmp(a, ints[k].name) == 0) which = k;
            if (which < 0) return strata_error_set("unknown option '%s'", a);
            if (parse_int(a, val, ints[which].lo, &v) < 0) return -1;
            switch (which) {
            case 0: o->opt.k_mle = (int)v; break;
            case 1: o->opt.k_overlap = (int)v; break;
            case 2: o->opt.gride_n1 = (int)v; break;
            case 3: o->opt.gride_range = (int)v; break;
            case 4: o->opt.bootstrap = (int)v; break;
            case 5: o->samples = v; break;
            case 6:
                if (v > 4096) return strata_error_set("--threads expects 1..4096, got %lld", v);
                o->threads = (int)v;
                break;
            default: o->opt.seed = (uint64_t)v; break;
            }
        }
    }
    if (o->n_archives == 0) return strata_error_set("no archive given");
    if (!o->out) return strata_error_set("--out RESULTS.h5 is required");
    if (o->opt.gride_n1 & (o->opt.gride_n1 - 1))
        return strata_error_set("--gride-n1 must be a power of two (1, 2, 4, ...), got %d", o->opt.gride_n1);
    if (2 * o->opt.gride_n1 > o->opt.gride_range)
        return strata_error_set("--gride-n1 %d needs --gride-range >= %d", o->opt.gride_n1, 2 * o->opt.gride_n1);
    return 0;
}

/* Is `name` in a comma list (NULL list: yes)? */
static int in_list(const char *list, const char *name)
{
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return 1;
        if (!c) break;
        p = c + 1;
    }
    return 0;
}

/* Is layer index l selected by "0,4,8-12" (NULL: all)? Returns -1 on a malformed list. */
static int layer_selected(const char *list, int l)
{
    if (!list || strcmp(list, "all") == 0) return 1;
    const char *p = list;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p) return -1;
        b = a;
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q) return -1;
        }
        if (l >= a && l <= b) return 1;
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return 0;
}

static void sanitize(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
    for (char *c = dst; *c; c++)
        if (*c == '/') *c = '_';
}

static void file_stem(char *dst, size_t n, const char *path)
{
    const char *b = strrchr(path, '/');
    snprintf(dst, n, "%s", b ? b + 1 : path);
    char *dot = strstr(dst, ".h5");
    if (dot) *dot = 0;
}

/* Streams are analysed (and named in <A>__<B> pairs) in the order image*, vision, connector,
 * caption*, then the others as the archive lists them, so that pairs read image__caption. */
static int stream_rank(const char *name)
{
    if (strncmp(name, "image", 5) == 0) return 0;
    if (strcmp(name, "vision") == 0) return 1;
    if (strcmp(name, "connector") == 0) return 2;
    if (strncmp(name, "caption", 7) == 0) return 3;
    return 4;
}

/* One analysis unit: archives analysed together over the same samples. */
typedef struct {
    int n;
    int *archive; /* indices into the reader array */
} unit;

static int same_manifest(strata_archive_reader *a, strata_archive_reader *b)
{
    if (a->n_samples != b->n_samples) return 0;
    if (strcmp(a->manifest_sha256 ? a->manifest_sha256 : "", b->manifest_sha256 ? b->manifest_sha256 : ""))
        return 0;
    for (int64_t i = 0; i < a->n_samples; i++)
        if (strcmp(a->ids[i], b->ids[i]) != 0) return 0;
    return 1;
}

/* --probe: labels from the manifest, probes of every analysed item (analysis/probe_run.h). */
static int run_probes(const options *o, strata_archive_reader *r, const strata_dataset *ds,
                      const int64_t *sample_of, strata_results *res)
{
    const char *manifest = o->probe_manifest ? o->probe_manifest : r->manifest_path;
    if (!manifest || !*manifest)
        return strata_error_set("%s: no manifest path recorded; give --probe-manifest", r->path);
    int n_labels = 0;
    strata_probe_label *labels =
        strata_probe_labels_load(manifest, o->probe, r->n_samples, r->ids, &n_labels);
    int bad = labels == NULL;
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (bad) {
        strata_probe_labels_free(labels, n_labels);
        return labels ? strata_error_set("--probe: reading the labels failed on another rank") : -1;
    }
    static const double alphas[] = {1e-2, 1e-1, 1, 10, 100, 1e3, 1e4};
    strata_probe_options popt = {.n_folds = o->probe_folds, .n_inner_folds = 3, .n_alphas = 7,
                                 .alphas = alphas, .seed = o->opt.seed};
    strata_log0("probing %d label(s) with %d-fold cross-validation", n_labels, o->probe_folds);
    int rc = strata_probe_analyze(MPI_COMM_WORLD, ds, sample_of, labels, n_labels, &popt, res);
    strata_probe_labels_free(labels, n_labels);
    return rc;
}

/* The layer counts of a model's towers (a stream's layer indices run 0 = embeddings ..
 * num_hidden_layers), from the archive's config.json read as the model engine reads it
 * (transformers' defaults for absent fields: LLaVA-1.5's text_config omits its 32 layers):
 * tower[0] the decoder, tower[1] the vision tower; 0 where unknown. */
static void tower_layers(const char *config_json, int64_t tower[2])
{
    tower[0] = tower[1] = 0;
    if (!config_json || !*config_json) return;
    strata_model_config cfg;
    if (strata_config_parse(config_json, "config_json", &cfg) == 0) {
        tower[0] = cfg.text.n_layers;
        tower[1] = cfg.has_vision ? cfg.vision.n_layers : 0;
    } else {
        strata_log0("analyze: the archive's model %s; figures will normalise depth by the last "
                    "layer analysed", strata_error_get());
    }
    strata_config_free(&cfg);
}

/* Load the rows of a unit on this rank and run the analysis. */
static int analyze_unit(const options *o, strata_archive_reader **readers, char (*names)[STRATA_NAME_MAX],
                        const unit *u, strata_results *res)
{
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    strata_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.n_models = u->n;
    ds.model_names = strata_calloc((size_t)u->n, STRATA_NAME_MAX);
    int max_streams = 0, max_items = 0;
    for (int m = 0; m < u->n; m++) {
        strata_archive_reader *r = readers[u->archive[m]];
        max_streams += r->n_streams;
        for (int s = 0; s < r->n_streams; s++) max_items += r->streams[s].n_layers;
        snprintf(ds.model_names[m], STRATA_NAME_MAX, "%s", names[u->archive[m]]);
    }
    ds.stream_names = strata_calloc((size_t)max_streams + 1, STRATA_NAME_MAX);
    ds.items = strata_calloc((size_t)max_items + 1, sizeof(strata_item));
    ds.col_offset = strata_calloc((size_t)max_items + 2, sizeof(int64_t));
    int *item_stream = strata_calloc((size_t)max_items + 1, sizeof(int));  /* archive stream */
    int *item_pos = strata_calloc((size_t)max_items + 1, sizeof(int));     /* layer position */
    for (int m = 0; m < u->n; m++) {
        strata_archive_reader *r = readers[u->archive[m]];
        int order[256], n_order = 0;
        for (int want = 0; want <= 4; want++)
            for (int s = 0; s < r->n_streams && n_order < 256; s++)
                if (stream_rank(r->streams[s].name) == want) order[n_order++] = s;
        for (int oi = 0; oi < n_order; oi++) {
            int s = order[oi];
            const strata_stream_info *si = &r->streams[s];
            if (!in_list(o->streams, si->name)) continue;
            if (si->ragged) {
                strata_log0("%s: stream %s has several rows per sample (pool=%s): skipped (only "
                            "pooled streams are analysed)", r->path, si->name, si->pool);
                continue;
            }
            int st = -1;
            for (int k = 0; k < ds.n_streams; k++)
                if (strcmp(ds.stream_names[k], si->name) == 0) st = k;
            if (st < 0) {
                st = ds.n_streams++;
                snprintf(ds.stream_names[st], STRATA_NAME_MAX, "%s", si->name);
            }
            for (int l = 0; l < si->n_layers; l++) {
                int sel = layer_selected(o->layers, si->layers[l]);
                if (sel < 0) return strata_error_set("--layers: cannot parse '%s' (expected e.g. 0,4,8-12)", o->layers);
                if (!sel) continue;
                strata_item *it = &ds.items[ds.n_items];
                it->model = m;
                it->stream = st;
                it->layer = si->layers[l];
                it->dim = si->hidden_size;
                item_stream[ds.n_items] = s;
                item_pos[ds.n_items] = l;
                ds.col_offset[ds.n_items + 1] = ds.col_offset[ds.n_items] + it->dim;
                ds.n_items++;
            }
        }
    }
    int rc = 0;
    if (ds.n_items == 0) {
        rc = strata_error_set("nothing to analyse in %s: no pooled stream/layer matches --streams/--layers",
                              readers[u->archive[0]]->path);
        goto done;
    }
    /* This rank's samples, all layers, then the exclusions. */
    strata_archive_reader *r0 = readers[u->archive[0]];
    int64_t N = r0->n_samples;
    int64_t b = N * rank / nranks, e = N * (rank + 1) / nranks, n = e - b;
    int64_t cols = ds.col_offset[ds.n_items];
    float *data = strata_malloc((size_t)(n * cols) * sizeof(float) + 4);
    uint8_t *keep = strata_malloc((size_t)n + 1);
    int64_t counts[3] = {0, 0, 0}; /* status, nonfinite, subsample */
    for (int64_t i = 0; i < n; i++) {
        keep[i] = 1;
        for (int m = 0; m < u->n; m++)
            if (readers[u->archive[m]]->status[b + i] != STRATA_SAMPLE_OK) keep[i] = 0;
        if (!keep[i]) counts[0]++;
    }
    for (int t = 0; t < ds.n_items && rc == 0; t++) {
        strata_archive_reader *r = readers[u->archive[ds.items[t].model]];
        float *dst = data + n * ds.col_offset[t];
        if (n > 0 && strata_archive_read_rows(r, item_stream[t], item_pos[t], b, e, dst, NULL) < 0) {
            strata_log("analyze: %s", strata_error_get()); /* this rank's failure, said once */
            rc = -1;
            break;
        }
        int dim = ds.items[t].dim;
        for (int64_t i = 0; i < n; i++) {
            if (!keep[i]) continue;
            for (int k = 0; k < dim; k++)
                if (!isfinite(dst[i * dim + k])) {
                    keep[i] = 2; /* marks non-finite */
                    break;
                }
        }
    }
    int bad = rc != 0;
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (bad) {
        if (rc == 0) rc = strata_error_set("reading an archive failed on another rank");
        free(data);
        free(keep);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (keep[i] == 2) {
            keep[i] = 0;
            counts[1]++;
        }
    /* --samples: a seeded choice among the usable samples, the same at any number of ranks */
    int64_t mine = 0, before = 0, total = 0;
    for (int64_t i = 0; i < n; i++) mine += keep[i];
    STRATA_CHECK_MPI(MPI_Exscan(&mine, &before, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (rank == 0) before = 0;
    STRATA_CHECK_MPI(MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (o->samples > 0 && o->samples < total) {
        uint8_t *chosen = strata_calloc((size_t)total, 1);
        uint64_t s = o->opt.seed * 0x9e3779b97f4a7c15ull + 12345;
        int64_t *perm = strata_malloc((size_t)total * sizeof(int64_t));
        for (int64_t i = 0; i < total; i++) perm[i] = i;
        for (int64_t i = 0; i < o->samples; i++) { /* partial Fisher-Yates */
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            int64_t j = i + (int64_t)(s % (uint64_t)(total - i));
            int64_t tmp = perm[i];
            perm[i] = perm[j];
            perm[j] = tmp;
            chosen[perm[i]] = 1;
        }
        int64_t g = before;
        for (int64_t i = 0; i < n; i++)
            if (keep[i]) {
                if (!chosen[g]) {
                    keep[i] = 0;
                    counts[2]++;
                }
                g++;
            }
        free(perm);
        free(chosen);
    }
    /* compact the kept rows in place, item by item */
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) kept += keep[i];
    int64_t *sample_of = strata_malloc(sizeof(int64_t) * (size_t)(kept + 1)); /* manifest index */
    for (int64_t i = 0, w = 0; i < n; i++)
        if (keep[i]) sample_of[w++] = b + i;
    for (int t = 0; t < ds.n_items; t++) {
        int dim = ds.items[t].dim;
        const float *src = data + n * ds.col_offset[t];
        float *dst = data + kept * ds.col_offset[t];
        int64_t w = 0;
        for (int64_t i = 0; i < n; i++)
            if (keep[i]) memmove(dst + (w++) * dim, src + i * dim, (size_t)dim * sizeof(float));
    }
    free(keep);
    ds.data = data;
    ds.n_local = kept;
    STRATA_CHECK_MPI(MPI_Exscan(&kept, &ds.row_begin, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    if (rank == 0) ds.row_begin = 0;
    STRATA_CHECK_MPI(MPI_Allreduce(&kept, &ds.n_total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, 3, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
    strata_log0("analyzing %lld samples (%lld excluded: status %lld, NaN/Inf %lld, subsample %lld), "
                "%d matrices, %d ranks x %d threads", (long long)ds.n_total,
                (long long)(counts[0] + counts[1] + counts[2]), (long long)counts[0],
                (long long)counts[1], (long long)counts[2], ds.n_items, nranks,
                omp_get_max_threads());

    /* model and stream attributes */
    if (rank == 0) {
        int64_t(*tower)[2] = strata_calloc((size_t)u->n, sizeof *tower);
        for (int m = 0; m < u->n && rc == 0; m++) {
            strata_archive_reader *r = readers[u->archive[m]];
            tower_layers(r->config_json, tower[m]);
            char obj[STRATA_NAME_MAX + 2];
            snprintf(obj, sizeof obj, "/%s", ds.model_names[m]);
            int64_t v[5] = {r->n_samples, ds.n_total, counts[0], counts[1], counts[2]};
            static const char *vn[5] = {"n_samples", "n_used", "n_excluded_status",
                                        "n_excluded_nonfinite", "n_excluded_subsample"};
            rc = strata_results_attr_string(res, obj, "model_name", r->model_name ? r->model_name : "");
            if (rc == 0) rc = strata_results_attr_string(res, obj, "archive", r->path);
            if (rc == 0) rc = strata_results_attr_string(res, obj, "manifest_sha256", r->manifest_sha256 ? r->manifest_sha256 : "");
            for (int k = 0; k < 5 && rc == 0; k++) rc = strata_results_attr_int(res, obj, vn[k], 1, &v[k]);
        }
        for (int t = 0; t < ds.n_items && rc == 0; t++) {
            if (t > 0 && ds.items[t].model == ds.items[t - 1].model && ds.items[t].stream == ds.items[t - 1].stream)
                continue;
            int64_t layers[4096];
            int L = 0;
            for (int q = t; q < ds.n_items && L < 4096 && ds.items[q].model == ds.items[t].model &&
                            ds.items[q].stream == ds.items[t].stream; q++)
                layers[L++] = ds.items[q].layer;
            char obj[2 * STRATA_NAME_MAX + 4];
            snprintf(obj, sizeof obj, "/%s/%s", ds.model_names[ds.items[t].model], ds.stream_names[ds.items[t].stream]);
            strata_archive_reader *r = readers[u->archive[ds.items[t].model]];
            int64_t hs = ds.items[t].dim;
            rc = strata_results_attr_int(res, obj, "layers", L, layers);
            if (rc == 0) rc = strata_results_attr_int(res, obj, "hidden_size", 1, &hs);
            if (rc == 0) rc = strata_results_attr_string(res, obj, "pool", r->streams[item_stream[t]].pool);
            /* the depth the figures normalise by: the tower's layers, not the last analysed
             * (a connector has no layer count of its own) */
            const char *site = r->streams[item_stream[t]].site;
            int64_t depth = strcmp(site, "connector") == 0 ? 0
                            : tower[ds.items[t].model][strcmp(site, "vision") == 0];
            int64_t last = 0;
            for (int q = 0; q < L; q++) last = layers[q] > last ? layers[q] : last;
            if (rc == 0 && depth >= last && depth > 0)
                rc = strata_results_attr_int(res, obj, "num_layers", 1, &depth);
        }
        free(tower);
    }
    STRATA_CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    if (rc == 0) {
        strata_comm_stats stats;
        rc = strata_analysis_run(MPI_COMM_WORLD, &ds, &o->opt, res, &stats);
    }
    if (rc == 0 && o->probe) rc = run_probes(o, r0, &ds, sample_of, res);
    free(sample_of);
    free(data);
done:
    free(ds.model_names);
    free(ds.stream_names);
    free(ds.items);
    free(ds.col_offset);
    free(item_stream);
    free(item_pos);
    return rc;
}

static int write_root_attrs(strata_results *res, const options *o, strata_archive_reader **readers,
                            int argc, char **argv)
{
    size_t cap = 256;
    for (int i = 0; i < argc; i++) cap += strlen(argv[i]) + 1;
    for (int a = 0; a < o->n_archives; a++) cap += strlen(o->archives[a]) + 160;
    char *cmd = strata_calloc(cap, 1), *inputs = strata_calloc(cap, 1);
    strcat(cmd, "strata");
    for (int i = 0; i < argc; i++) {
        strcat(cmd, " ");
        strcat(cmd, argv[i]);
    }
    int rc = 0;
    for (int a = 0; a < o->n_archives && rc == 0; a++) {
        char sha[65];
        if (strata_sha256_file(o->archives[a], sha) < 0) rc = -1;
        size_t len = strlen(inputs);
        snprintf(inputs + len, cap - len, "%s %s %s\n", o->archives[a], sha,
                 readers[a]->manifest_sha256 ? readers[a]->manifest_sha256 : "");
    }
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char metrics[128] = "";
    static const char *mn[6] = {"spectrum", "id", "cka", "overlap", "alignment", "cross"};
    for (int k = 0; k < 6; k++)
        if (o->opt.metrics & (1u << k)) {
            if (metrics[0]) strcat(metrics, ",");
            strcat(metrics, mn[k]);
        }
    int64_t nr = strata_nranks();
    if (rc == 0) rc = strata_results_attr_string(res, "/", "created_utc", when);
    if (rc == 0) rc = strata_results_attr_string(res, "/", "command_line", cmd);
    if (rc == 0) rc = strata_results_attr_string(res, "/", "inputs", inputs);
    if (rc == 0) rc = strata_results_attr_string(res, "/", "metrics", metrics);
    if (rc == 0) rc = strata_results_attr_int(res, "/", "n_ranks", 1, &nr);
    free(cmd);
    free(inputs);
    return rc;
}

/* Rank 0: /<model>/nll/... for every archive with /nll/caption (analysis/nll.h) */
static int analyze_nll(const options *o, char (*names)[STRATA_NAME_MAX], strata_results *res)
{
    strata_nll_data base = {0};
    int have_base = 0, rc = 0;
    if (o->nll_baseline) {
        have_base = strata_nll_read(o->nll_baseline, &base);
        if (have_base == 0)
            return strata_error_set("--nll-baseline %s: no /nll/caption (extract it with --nll)",
                                    o->nll_baseline);
        if (have_base < 0) return -1;
    }
    for (int a = 0; a < o->n_archives && rc == 0; a++) {
        strata_nll_data d;
        int have = strata_nll_read(o->archives[a], &d);
        if (have < 0) rc = -1;
        if (have > 0)
            rc = strata_nll_write(res, names[a], &d, have_base ? &base : NULL, o->nll_baseline,
                                  o->opt.bootstrap, o->opt.seed);
        if (have > 0) free(d.nll);
    }
    free(base.nll);
    return rc;
}

int strata_cmd_analyze(int argc, char **argv)
{
    options o;
    int prc = parse(argc, argv, &o);
    if (prc != 0) {
        free(o.archives);
        if (prc > 0) return STRATA_EXIT_OK;
        strata_log0("analyze: %s (see strata analyze --help)", strata_error_get());
        return STRATA_EXIT_USAGE;
    }
    int threads = strata_threads_per_rank(MPI_COMM_WORLD, o.threads);
    if (threads > 0) { /* OpenMP for the kernels, OpenBLAS for LAPACK (TSQR, probes) */
        omp_set_num_threads(threads);
        openblas_set_num_threads(threads);
    }
    int rank = strata_rank(), rc = 0;
    strata_archive_reader **readers = strata_calloc((size_t)o.n_archives, sizeof *readers);
    char (*names)[STRATA_NAME_MAX] = strata_calloc((size_t)o.n_archives, STRATA_NAME_MAX);
    strata_results *res = NULL;
    unit *units = NULL;
    int n_units = 0;
    for (int a = 0; a < o.n_archives && rc == 0; a++) {
        readers[a] = strata_archive_open(MPI_COMM_WORLD, o.archives[a]);
        if (!readers[a]) {
            rc = -1;
            break;
        }
        if (!readers[a]->complete && !o.allow_partial)
            rc = strata_error_set("%s: the archive is incomplete (complete=0: still being written or "
                                  "interrupted); resume it with strata extract, or pass "
                                  "--allow-partial to analyse its samples with status ok", o.archives[a]);
        const char *mn = readers[a]->model_name;
        if (mn && *mn) sanitize(names[a], STRATA_NAME_MAX, mn);
        else file_stem(names[a], STRATA_NAME_MAX, o.archives[a]);
        for (int b = 0; b < a; b++)
            if (strcmp(names[a], names[b]) == 0) {
                char stem[STRATA_NAME_MAX];
                file_stem(stem, sizeof stem, o.archives[a]);
                snprintf(names[a], STRATA_NAME_MAX, "%.60s_%.60s", names[b], stem);
            }
    }
    /* every stream named in --streams exists somewhere */
    for (const char *p = o.streams; rc == 0 && p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        int found = 0;
        for (int a = 0; a < o.n_archives && !found; a++)
            for (int s = 0; s < readers[a]->n_streams; s++)
                if (strlen(readers[a]->streams[s].name) == len &&
                    strncmp(readers[a]->streams[s].name, p, len) == 0)
                    found = 1;
        if (!found) {
            char have[512] = "";
            for (int s = 0; s < readers[0]->n_streams; s++) {
                if (s) strncat(have, ", ", sizeof have - strlen(have) - 1);
                strncat(have, readers[0]->streams[s].name, sizeof have - strlen(have) - 1);
            }
            rc = strata_error_set("--streams: no archive has a stream '%.*s' (%s has: %s)", (int)len, p,
                                  o.archives[0], have);
        }
        p = c ? c + 1 : p + len;
    }
    if (o.n_archives < 2) o.opt.metrics &= ~(unsigned)STRATA_METRIC_CROSS;
    if (rc == 0 && (o.opt.metrics & STRATA_METRIC_CROSS)) {
        for (int a = 1; a < o.n_archives && rc == 0; a++)
            if (!same_manifest(readers[0], readers[a]))
                rc = strata_error_set(
                    "cross-model metrics need archives over the same manifest: %s has manifest "
                    "sha256 %s (%lld samples), %s has %s (%lld samples) or different sample ids; "
                    "analyse them without 'cross' (--metrics spectrum,id,cka,overlap,alignment)",
                    o.archives[0], readers[0]->manifest_sha256 ? readers[0]->manifest_sha256 : "(none)",
                    (long long)readers[0]->n_samples, o.archives[a],
                    readers[a]->manifest_sha256 ? readers[a]->manifest_sha256 : "(none)",
                    (long long)readers[a]->n_samples);
        if (rc == 0) {
            units = strata_calloc(1, sizeof(unit));
            units[0].n = o.n_archives;
            units[0].archive = strata_calloc((size_t)o.n_archives, sizeof(int));
            for (int a = 0; a < o.n_archives; a++) units[0].archive[a] = a;
            n_units = 1;
        }
    } else if (rc == 0) {
        units = strata_calloc((size_t)o.n_archives, sizeof(unit));
        for (int a = 0; a < o.n_archives; a++) {
            units[a].n = 1;
            units[a].archive = strata_calloc(1, sizeof(int));
            units[a].archive[0] = a;
        }
        n_units = o.n_archives;
    }
    if (rc == 0 && rank == 0) {
        res = strata_results_create(o.out);
        if (!res) rc = -1;
        else rc = write_root_attrs(res, &o, readers, argc, argv);
        if (rc == 0) rc = analyze_nll(&o, names, res);
    }
    int bad = rc != 0;
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    for (int k = 0; k < n_units && !bad; k++) {
        rc = analyze_unit(&o, readers, names, &units[k], res);
        bad = rc != 0;
        STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    }
    if (res) {
        if (!bad) {
            if (strata_results_close(res) < 0) rc = -1;
        } else {
            strata_results_abort(res);
        }
    }
    if (!bad) {
        bad = rc != 0;
        STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    }
    if (bad) {
        /* collective failures leave the same message on every rank: rank 0 says it */
        strata_log0("analyze: %s", rc != 0 ? strata_error_get() : "failed on another rank");
    } else {
        strata_log0("wrote %s", o.out);
    }
    for (int k = 0; k < n_units; k++) free(units[k].archive);
    free(units);
    for (int a = 0; a < o.n_archives; a++)
        if (readers[a]) strata_archive_reader_close(readers[a]);
    free(readers);
    free(names);
    free(o.archives);
    return (rc != 0 || bad) ? STRATA_EXIT_FAILURE : STRATA_EXIT_OK;
}

/* cmd_mkarchive.c — `strata mkarchive`: a synthetic activation archive (format v1) with content
 * that depends only on (sample, token, layer, column, stream, seed) — io/synthetic.c — written by
 * any number of ranks through the real writer (io/archive.c). For the demo, tests, benchmarks
 * and other areas' test archives; --stop-after-round emulates a crash for resume tests. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "io/archive.h"
#include "io/synthetic.h"
#include "strata.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: strata mkarchive --out A.h5 --samples N --layers L --hidden D\n"
            "         [--streams image,caption] [--dtype f32|f16] [--ragged] [--rounds R]\n"
            "         [--fail-every K] [--seed S] [--overwrite] [--stop-after-round k]\n\n"
            "Writes a synthetic activation archive (format v1) with N samples, layers 0..L and\n"
            "hidden size D, through the same writer as `strata extract`; run it under mpirun for\n"
            "several ranks. Rank p writes samples [p*N/P, (p+1)*N/P) in R collective rounds\n"
            "(default 4); the content never depends on the number of ranks or rounds.\n\n"
            "  --streams LIST        stream names (default image); site is vision/connector for\n"
            "                        those names, llm otherwise; pool mean (all with --ragged)\n"
            "  --dtype f32|f16       type on disk (default f32)\n"
            "  --ragged              several rows per sample (pool=all)\n"
            "  --fail-every K        every K-th sample fails (status 2)\n"
            "  --seed S              content seed (default 0)\n"
            "  --overwrite           replace an existing archive (default: resume A.h5.partial)\n"
            "  --stop-after-round k  after round k (0-based) is flushed, every rank kills itself\n"
            "                        with SIGKILL (an emulated crash: A.h5.partial stays, complete=0;\n"
            "                        run again without it to resume)\n\n%s",
            strata_synthetic_formula);
}

typedef struct {
    const char *out;
    int64_t n_samples;
    int n_layers_arg, hidden, rounds, fail_every, stop_after;
    uint32_t seed;
    int ragged, overwrite;
    strata_dtype dtype;
    char **streams;
    int n_streams;
} options;

static int parse_int64(const char *opt, const char *s, int64_t lo, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo) {
        fprintf(stderr, "strata mkarchive: %s expects an integer >= %lld, got '%s'\n", opt,
                (long long)lo, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->n_samples = -1;
    o->n_layers_arg = -1;
    o->hidden = -1;
    o->rounds = 4;
    o->stop_after = -1;
    const char *streams = "image";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        if (strata_is_help(a)) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--ragged") == 0) {
            o->ragged = 1;
        } else if (strcmp(a, "--overwrite") == 0) {
            o->overwrite = 1;
        } else if (i + 1 >= argc) {
            fprintf(stderr, "strata mkarchive: unknown option or missing value: %s\n", a);
            return -1;
        } else if (strcmp(a, "--out") == 0) {
            o->out = argv[++i];
        } else if (strcmp(a, "--streams") == 0) {
            streams = argv[++i];
        } else if (strcmp(a, "--dtype") == 0) {
            const char *d = argv[++i];
            if (strcmp(d, "f32") == 0) o->dtype = STRATA_DTYPE_F32;
            else if (strcmp(d, "f16") == 0) o->dtype = STRATA_DTYPE_F16;
            else {
                fprintf(stderr, "strata mkarchive: --dtype expects f32 or f16, got '%s'\n", d);
                return -1;
            }
        } else {
            const char *opt = a, *val = argv[++i];
            if (strcmp(opt, "--samples") == 0) {
                if (parse_int64(opt, val, 0, &v) < 0) return -1;
                o->n_samples = v;
            } else if (strcmp(opt, "--layers") == 0) {
                if (parse_int64(opt, val, 0, &v) < 0 || v > 100000) return -1;
                o->n_layers_arg = (int)v;
            } else if (strcmp(opt, "--hidden") == 0) {
                if (parse_int64(opt, val, 1, &v) < 0 || v > (1 << 24)) return -1;
                o->hidden = (int)v;
            } else if (strcmp(opt, "--rounds") == 0) {
                if (parse_int64(opt, val, 1, &v) < 0 || v > (1 << 24)) return -1;
                o->rounds = (int)v;
            } else if (strcmp(opt, "--fail-every") == 0) {
                if (parse_int64(opt, val, 0, &v) < 0 || v > (1 << 30)) return -1;
                o->fail_every = (int)v;
            } else if (strcmp(opt, "--seed") == 0) {
                if (parse_int64(opt, val, 0, &v) < 0 || v > UINT32_MAX) return -1;
                o->seed = (uint32_t)v;
            } else if (strcmp(opt, "--stop-after-round") == 0) {
                if (parse_int64(opt, val, 0, &v) < 0 || v > (1 << 24)) return -1;
                o->stop_after = (int)v;
            } else {
                fprintf(stderr, "strata mkarchive: unknown option %s (see --help)\n", opt);
                return -1;
            }
        }
    }
    if (!o->out || o->n_samples < 0 || o->n_layers_arg < 0 || o->hidden < 0) {
        fprintf(stderr, "strata mkarchive: --out, --samples, --layers and --hidden are required "
                        "(see --help)\n");
        return -1;
    }
    /* split the comma-separated stream list */
    char *copy = strata_strdup(streams);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (strlen(tok) >= sizeof(((strata_stream_info *)0)->name)) {
            fprintf(stderr, "strata mkarchive: stream name too long: %s\n", tok);
            free(copy);
            return -1;
        }
        o->streams = strata_realloc(o->streams, (size_t)(o->n_streams + 1) * sizeof *o->streams);
        o->streams[o->n_streams++] = strata_strdup(tok);
    }
    free(copy);
    if (o->n_streams == 0) {
        fprintf(stderr, "strata mkarchive: --streams is empty\n");
        return -1;
    }
    return 0;
}

/* Fills one stream's round buffer [n_layers][rows][hidden] for samples [begin, end). */
static void fill_stream(const options *o, int t, const strata_stream_info *s, int64_t begin,
                        int64_t end, float *buf)
{
    int64_t row0 = s->ragged ? s->row_offset[begin] : begin;
    int64_t rows = (s->ragged ? s->row_offset[end] : end) - row0;
    for (int l = 0; l < s->n_layers; l++) {
        for (int64_t i = begin; i < end; i++) {
            int64_t first = s->ragged ? s->row_offset[i] : i;
            int64_t n_tok = s->ragged ? s->row_offset[i + 1] - s->row_offset[i] : 1;
            int failed = strata_synthetic_failed(i, o->fail_every);
            for (int64_t j = 0; j < n_tok; j++) {
                float *row = buf + ((size_t)l * (size_t)rows + (size_t)(first + j - row0)) *
                                       (size_t)s->hidden_size;
                for (int c = 0; c < s->hidden_size; c++)
                    row[c] = failed ? 0.0f
                                    : strata_synthetic_value(o->seed, t, i, j, s->layers[l], c);
            }
        }
    }
}

int strata_cmd_mkarchive(int argc, char **argv)
{
    options o;
    int prc = parse(argc, argv, &o);
    if (prc != 0) return prc > 0 ? STRATA_EXIT_OK : STRATA_EXIT_USAGE;
    int rank = strata_rank(), size = strata_nranks();
    int64_t n = o.n_samples;

    char **ids = strata_malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (int64_t i = 0; i < n; i++) {
        ids[i] = strata_malloc(32);
        snprintf(ids[i], 32, "sample-%06lld", (long long)i);
    }
    int *layers = strata_malloc((size_t)(o.n_layers_arg + 1) * sizeof *layers);
    for (int l = 0; l <= o.n_layers_arg; l++) layers[l] = l;
    int64_t *row_offset = NULL;
    if (o.ragged) {
        row_offset = strata_malloc((size_t)(n + 1) * sizeof *row_offset);
        row_offset[0] = 0;
        for (int64_t i = 0; i < n; i++)
            row_offset[i + 1] = row_offset[i] + strata_synthetic_tokens(o.seed, i);
    }
    strata_stream_info *streams = strata_calloc((size_t)o.n_streams, sizeof *streams);
    for (int t = 0; t < o.n_streams; t++) {
        strata_stream_info *s = &streams[t];
        snprintf(s->name, sizeof s->name, "%s", o.streams[t]);
        snprintf(s->site, sizeof s->site, "%s",
                 strcmp(s->name, "vision") == 0 || strcmp(s->name, "connector") == 0 ? s->name
                                                                                      : "llm");
        snprintf(s->pool, sizeof s->pool, "%s", o.ragged ? "all" : "mean");
        s->n_layers = o.n_layers_arg + 1;
        s->layers = layers;
        s->hidden_size = o.hidden;
        s->dtype = o.dtype;
        s->ragged = o.ragged;
        s->row_offset = row_offset;
    }
    /* the command line, for provenance */
    char command_line[2048] = "strata";
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(command_line);
        snprintf(command_line + len, sizeof command_line - len, " %s", argv[i]);
    }
    char config[128];
    snprintf(config, sizeof config, "{\"synthetic\": true, \"seed\": %u}", o.seed);
    strata_archive_spec spec = {
        .command_line = command_line, .model_name = "synthetic", .architecture = "synthetic",
        .config_json = config, .weights_sha256 = "", .backend = "none",
        .dtype_on_disk = o.dtype == STRATA_DTYPE_F16 ? "float16" : "float32",
        .compute_dtype = "float32", .manifest_path = "(synthetic)", .manifest_sha256 = "",
        .n_samples = n, .ids = (const char *const *)ids, .n_streams = o.n_streams,
        .streams = streams, .n_rounds = o.rounds};

    int rc = STRATA_EXIT_OK;
    double t_io = 0, t0 = strata_now();
    strata_archive *a = strata_archive_create(MPI_COMM_WORLD, o.out, &spec, o.overwrite);
    t_io += strata_now() - t0;
    if (!a) {
        if (rank == 0) fprintf(stderr, "strata mkarchive: %s\n", strata_error_get());
        rc = STRATA_EXIT_FAILURE;
        goto out;
    }
    int64_t pending = 0;
    for (int64_t i = 0; i < n; i++) pending += strata_archive_status(a)[i] == STRATA_SAMPLE_PENDING;
    if (pending < n)
        strata_log0("resuming %s.partial: %lld of %lld samples still pending", o.out,
                    (long long)pending, (long long)n);
    /* this rank's block of samples, cut into rounds */
    int64_t block0 = n * rank / size, block1 = n * (rank + 1) / size, nb = block1 - block0;
    int64_t bytes = 0;
    for (int r = 0; r < o.rounds; r++) {
        if (strata_archive_round_done(a, r)) {
            if (r == o.stop_after) break;
            continue;
        }
        int64_t begin = block0 + nb * r / o.rounds, end = block0 + nb * (r + 1) / o.rounds;
        int64_t m = end - begin;
        int8_t *status = strata_malloc((size_t)(m ? m : 1));
        char **errors = strata_malloc((size_t)(m ? m : 1) * sizeof *errors);
        for (int64_t i = 0; i < m; i++) {
            int failed = strata_synthetic_failed(begin + i, o.fail_every);
            status[i] = failed ? STRATA_SAMPLE_FAILED : STRATA_SAMPLE_OK;
            errors[i] = strata_malloc(64);
            snprintf(errors[i], 64, failed ? "synthetic failure of sample %lld" : "",
                     (long long)(begin + i));
        }
        float **data = strata_malloc((size_t)o.n_streams * sizeof *data);
        for (int t = 0; t < o.n_streams; t++) {
            strata_stream_info *s = &streams[t];
            int64_t rows = s->ragged ? row_offset[end] - row_offset[begin] : m;
            size_t count = (size_t)s->n_layers * (size_t)rows * (size_t)s->hidden_size;
            data[t] = strata_malloc(count * sizeof(float));
            fill_stream(&o, t, s, begin, end, data[t]);
            bytes += (int64_t)count * (s->dtype == STRATA_DTYPE_F16 ? 2 : 4);
        }
        strata_archive_round round = {begin, end, status, (const char *const *)errors,
                                      (const float *const *)data};
        /* the writer's time, not the wait for a rank still generating its content */
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = strata_now();
        int wrc = strata_archive_write_round(a, r, &round);
        t_io += strata_now() - t0;
        for (int t = 0; t < o.n_streams; t++) free(data[t]);
        free(data);
        for (int64_t i = 0; i < m; i++) free(errors[i]);
        free(errors);
        free(status);
        if (wrc < 0) {
            if (rank == 0) fprintf(stderr, "strata mkarchive: %s\n", strata_error_get());
            strata_archive_close(a);
            rc = STRATA_EXIT_FAILURE;
            goto out;
        }
        if (r == o.stop_after) {
            MPI_Barrier(MPI_COMM_WORLD);
            strata_log0("stopping after round %d of %d: killing myself (emulated crash)", r,
                        o.rounds);
            raise(SIGKILL);
        }
    }
    t0 = strata_now();
    if (strata_archive_finish(a) < 0) {
        if (rank == 0) fprintf(stderr, "strata mkarchive: %s\n", strata_error_get());
        rc = STRATA_EXIT_FAILURE;
        goto out;
    }
    t_io += strata_now() - t0;
    int64_t total = 0;
    MPI_Allreduce(&bytes, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &t_io, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("mkarchive: wrote %s: %lld activation bytes, %.3f s in the writer (%.1f MB/s) on "
               "%d ranks\n", o.out, (long long)total, t_io, t_io > 0 ? total / t_io / 1e6 : 0.0,
               size);
out:
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(layers);
    free(row_offset);
    free(streams);
    for (int t = 0; t < o.n_streams; t++) free(o.streams[t]);
    free(o.streams);
    return rc;
}

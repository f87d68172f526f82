/* test_archive_roundtrip.c — the archive writer and reader over MPI (run at 1, 2 and 3 ranks):
 * three streams (pooled f32, pooled f16, ragged f32) with failed samples, written in collective
 * rounds where some ranks have no rows, read back by every rank and compared with the synthetic
 * formula (io/synthetic.c); checks the transfers were collective (H5Pget_mpio_actual_io_mode),
 * statuses/errors/ids, the ok mask, a close-then-resume cycle and the writer's refusals. */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/archive.h"
#include "io/synthetic.h"
#include "strata.h"
#include "testlib.h"

enum { N = 23, L = 3, D = 7, ROUNDS = 3, FAIL_EVERY = 6 };
static const uint32_t seed = 5;

typedef struct {
    int layers[L];
    int64_t row_offset[N + 1];
    strata_stream_info streams[3];
    char *ids[N];
    strata_archive_spec spec;
} fixture;

static void make_fixture(fixture *f)
{
    memset(f, 0, sizeof *f);
    for (int l = 0; l < L; l++) f->layers[l] = 2 * l; /* kept layers 0, 2, 4 */
    f->row_offset[0] = 0;
    for (int i = 0; i < N; i++) f->row_offset[i + 1] = f->row_offset[i] + strata_synthetic_tokens(seed, i);
    const char *names[3] = {"image", "caption", "image_all"};
    for (int t = 0; t < 3; t++) {
        strata_stream_info *s = &f->streams[t];
        snprintf(s->name, sizeof s->name, "%s", names[t]);
        snprintf(s->site, sizeof s->site, "llm");
        snprintf(s->pool, sizeof s->pool, t == 2 ? "all" : "mean");
        s->n_layers = L;
        s->layers = f->layers;
        s->hidden_size = D;
        s->dtype = t == 1 ? STRATA_DTYPE_F16 : STRATA_DTYPE_F32;
        s->ragged = t == 2;
        s->row_offset = t == 2 ? f->row_offset : NULL;
    }
    for (int i = 0; i < N; i++) {
        f->ids[i] = malloc(32);
        snprintf(f->ids[i], 32, "id-%d", i);
    }
    f->spec = (strata_archive_spec){.command_line = "test", .model_name = "m",
                                    .n_samples = N, .ids = (const char *const *)f->ids,
                                    .n_streams = 3, .streams = f->streams, .n_rounds = ROUNDS};
}

/* The samples this rank writes in round r: rank p owns block p of N, cut into ROUNDS; the
 * last rank gets nothing in round 0 so that empty selections are exercised. */
static void round_range(int rank, int size, int r, int64_t *b, int64_t *e)
{
    int64_t b0 = (int64_t)N * rank / size, b1 = (int64_t)N * (rank + 1) / size, nb = b1 - b0;
    *b = b0 + nb * r / ROUNDS;
    *e = b0 + nb * (r + 1) / ROUNDS;
    if (size > 1 && rank == size - 1 && r == 0) *e = *b;
    if (size > 1 && rank == size - 1 && r == 1) *b = b0; /* take round 0's rows here */
}

static void write_one_round(strata_archive *a, fixture *f, int rank, int size, int r)
{
    int64_t b, e;
    round_range(rank, size, r, &b, &e);
    int64_t m = e - b;
    int8_t status[N];
    const char *errors[N];
    char messages[N][48];
    float *data[3];
    for (int64_t i = 0; i < m; i++) {
        int failed = strata_synthetic_failed(b + i, FAIL_EVERY);
        status[i] = failed ? STRATA_SAMPLE_FAILED : STRATA_SAMPLE_OK;
        snprintf(messages[i], sizeof messages[i], failed ? "broken jpeg %lld" : "",
                 (long long)(b + i));
        errors[i] = messages[i];
    }
    for (int t = 0; t < 3; t++) {
        strata_stream_info *s = &f->streams[t];
        int64_t r0 = s->ragged ? f->row_offset[b] : b, rows = (s->ragged ? f->row_offset[e] : e) - r0;
        data[t] = calloc((size_t)(L * rows * D + 1), sizeof(float));
        for (int l = 0; l < L; l++)
            for (int64_t i = b; i < e; i++) {
                int64_t first = s->ragged ? f->row_offset[i] : i;
                int64_t ntok = s->ragged ? f->row_offset[i + 1] - first : 1;
                if (strata_synthetic_failed(i, FAIL_EVERY)) continue;
                for (int64_t j = 0; j < ntok; j++)
                    for (int c = 0; c < D; c++)
                        data[t][((size_t)l * rows + (first + j - r0)) * D + c] =
                            strata_synthetic_value(seed, t, i, j, f->layers[l], c);
            }
    }
    strata_archive_round round = {b, e, status, errors, (const float *const *)data};
    T_CHECK(strata_archive_write_round(a, r, &round) == 0, "round %d: %s", r, strata_error_get());
    /* H5D_MPIO_CHUNK_COLLECTIVE or CONTIGUOUS_COLLECTIVE: never independent, never mixed */
    int mode = strata_archive_last_io_mode(a);
    T_CHECK(mode == H5D_MPIO_CHUNK_COLLECTIVE || mode == H5D_MPIO_CONTIGUOUS_COLLECTIVE,
            "round %d: actual io mode %d is not collective", r, mode);
    for (int t = 0; t < 3; t++) free(data[t]);
}

static void check_contents(const char *path, fixture *f)
{
    strata_archive_reader *rd = strata_archive_open(MPI_COMM_WORLD, path);
    T_CHECK(rd != NULL, "open %s: %s", path, strata_error_get());
    if (!rd) return;
    T_CHECK(rd->complete == 1, "complete flag is %d", rd->complete);
    T_CHECK(rd->n_samples == N && rd->n_streams == 3, "N %lld streams %d", (long long)rd->n_samples,
            rd->n_streams);
    for (int i = 0; i < N; i++) {
        int failed = strata_synthetic_failed(i, FAIL_EVERY);
        T_CHECK(strcmp(rd->ids[i], f->ids[i]) == 0, "id %d: %s", i, rd->ids[i]);
        T_CHECK(rd->status[i] == (failed ? 2 : 1), "status %d: %d", i, rd->status[i]);
        char want[48];
        snprintf(want, sizeof want, failed ? "broken jpeg %d" : "", i);
        T_CHECK(strcmp(rd->errors[i], want) == 0, "error %d: '%s'", i, rd->errors[i]);
    }
    for (int t = 0; t < 3; t++) {
        int k = strata_archive_find_stream(rd, f->streams[t].name);
        T_CHECK(k >= 0, "stream %s missing", f->streams[t].name);
        if (k < 0) continue;
        strata_stream_info *s = &rd->streams[k];
        T_CHECK(s->n_layers == L && s->hidden_size == D && s->dtype == f->streams[t].dtype &&
                    s->ragged == f->streams[t].ragged && s->layers[1] == 2 &&
                    strcmp(s->pool, f->streams[t].pool) == 0,
                "stream %s metadata", s->name);
        int64_t rows = s->n_rows;
        T_CHECK(rows == (s->ragged ? f->row_offset[N] : N), "stream %s rows %lld", s->name,
                (long long)rows);
        float *got = malloc((size_t)(rows * D) * sizeof(float));
        float *want = calloc((size_t)(rows * D), sizeof(float));
        uint8_t *ok = malloc((size_t)rows);
        for (int l = 0; l < L; l++) {
            /* every rank reads a different split: [0, cut) and [cut, rows) */
            int64_t cut = (strata_rank() * 5 + l) % (rows + 1);
            T_CHECK(strata_archive_read_rows(rd, k, l, 0, cut, got, ok) == 0, "%s", strata_error_get());
            T_CHECK(strata_archive_read_rows(rd, k, l, cut, rows, got + cut * D, ok + cut) == 0,
                    "%s", strata_error_get());
            for (int64_t i = 0; i < N; i++) {
                int64_t first = s->ragged ? f->row_offset[i] : i;
                int64_t ntok = s->ragged ? f->row_offset[i + 1] - first : 1;
                int failed = strata_synthetic_failed(i, FAIL_EVERY);
                for (int64_t j = 0; j < ntok; j++) {
                    T_CHECK(ok[first + j] == !failed, "ok mask row %lld", (long long)(first + j));
                    for (int c = 0; c < D; c++)
                        want[(first + j) * D + c] =
                            failed ? 0 : strata_synthetic_value(seed, t, i, j, f->layers[l], c);
                }
            }
            if (s->dtype == STRATA_DTYPE_F16) { /* the writer's rounding, checked against numpy
                                                   in test_archive_h5py.py */
                uint16_t *h = malloc((size_t)(rows * D) * 2);
                strata_f32_to_f16_array(want, h, rows * D);
                strata_f16_to_f32_array(h, want, rows * D);
                free(h);
            }
            /* exact: the archive must give back the very floats written (infs included) */
            long bad = 0;
            for (int64_t x = 0; x < rows * D; x++)
                if (!(got[x] == want[x]) && bad++ < 3)
                    fprintf(stderr, "  %s layer %d [%lld]: got %.9g want %.9g\n", s->name, l,
                            (long long)x, got[x], want[x]);
            T_CHECK(bad == 0, "%s layer %d: %ld of %lld values differ", s->name, l, bad,
                    (long long)(rows * D));
        }
        free(got);
        free(want);
        free(ok);
    }
    strata_archive_reader_close(rd);
}


int main(int argc, char **argv)
{
    t_mpi_init(&argc, &argv);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rank = strata_rank(), size = strata_nranks();
    fixture f;
    make_fixture(&f);
    char path[1024], partial[1100];
    snprintf(path, sizeof path, "%s", t_tmp_path("roundtrip.h5"));
    snprintf(partial, sizeof partial, "%s.partial", path);

    /* 1. uninterrupted: all rounds, finish */
    strata_archive *a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 1);
    T_CHECK(a != NULL, "create: %s", strata_error_get());
    if (!a) return t_finish("test_archive_roundtrip");
    for (int r = 0; r < ROUNDS; r++) write_one_round(a, &f, rank, size, r);
    T_CHECK(strata_archive_status(a)[FAIL_EVERY - 1] == STRATA_SAMPLE_FAILED, "global status");
    T_CHECK(strata_archive_finish(a) == 0, "finish: %s", strata_error_get());
    T_CHECK(access(path, F_OK) == 0 && access(partial, F_OK) != 0, "renamed .partial");
    check_contents(path, &f);

    /* 2. refuses to overwrite a complete archive without overwrite */
    a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 0);
    T_CHECK(a == NULL && t_contains(strata_error_get(), path) &&
                t_contains(strata_error_get(), "--overwrite"),
            "existing archive not refused: '%s'", strata_error_get());

    /* 3. interrupted after round 0 (closed, not finished), resumed, finished */
    a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 1);
    write_one_round(a, &f, rank, size, 0);
    strata_archive_close(a);
    strata_archive_reader *rd = strata_archive_open(MPI_COMM_WORLD, partial);
    T_CHECK(rd && rd->complete == 0, "partial should open with complete=0: %s", strata_error_get());
    if (rd) strata_archive_reader_close(rd);
    fixture other;
    make_fixture(&other);
    other.streams[0].hidden_size = D + 1;
    a = strata_archive_create(MPI_COMM_WORLD, path, &other.spec, 0);
    T_CHECK(a == NULL && t_contains(strata_error_get(), "cannot resume") &&
                t_contains(strata_error_get(), "image"),
            "mismatching resume not refused: '%s'", strata_error_get());
    a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 0);
    T_CHECK(a != NULL, "resume: %s", strata_error_get());
    if (a) {
        T_CHECK(strata_archive_round_done(a, 0) && !strata_archive_round_done(a, 1),
                "round bookkeeping after resume");
        int64_t b, e;
        round_range(0, size, 0, &b, &e);
        T_CHECK(b == e || strata_archive_status(a)[b] != STRATA_SAMPLE_PENDING,
                "status of round 0 on resume");
        T_CHECK(strata_archive_status(a)[N - 1] == STRATA_SAMPLE_PENDING, "last sample pending");
        /* finishing with pending samples is refused (and leaves the .partial) */
        T_CHECK(strata_archive_finish(a) < 0 && t_contains(strata_error_get(), "pending"),
                "finish with pending samples: '%s'", strata_error_get());
        a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 0);
        for (int r = 1; a && r < ROUNDS; r++) write_one_round(a, &f, rank, size, r);
        T_CHECK(a && strata_archive_finish(a) == 0, "finish after resume: %s", strata_error_get());
        check_contents(path, &f);
    }

    /* 4. a bad round is refused on every rank, with the same message */
    a = strata_archive_create(MPI_COMM_WORLD, path, &f.spec, 1);
    strata_archive_round bad = {0, 0, NULL, NULL, NULL};
    if (rank == size - 1) bad.sample_begin = bad.sample_end = N + 1;
    T_CHECK(strata_archive_write_round(a, 0, &bad) < 0 && t_contains(strata_error_get(), "outside"),
            "bad round accepted: '%s'", strata_error_get());
    T_CHECK(strata_archive_write_round(a, ROUNDS, &bad) < 0 &&
                t_contains(strata_error_get(), "out of range"),
            "bad round number accepted: '%s'", strata_error_get());
    strata_archive_close(a);

    for (int i = 0; i < N; i++) free(f.ids[i]), free(other.ids[i]);
    return t_finish("test_archive_roundtrip");
}

/* ring.c — the ring engine: every rank's row block visits every rank once (MPI_Isend/Irecv to
 * the right/left neighbour, overlapped with the compute on the block held); the held block and
 * the local rows are cut into sub-tiles whose centred Gram matrices (one GEMM per item) feed
 * every consumer in one pass. Per rank: the local rows, two block buffers and one sub-tile of
 * scratch — never an N x N matrix. Bytes sent per pass: the data less one block. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "strata.h"

enum { LOCAL_CHUNK = 256, MAX_REMOTE_CHUNK = 2048 };
#define SCRATCH_GRAM_BYTES (64u << 20)
#define MESSAGE_FLOATS ((int64_t)1 << 28)

/* Copy rows [r0, r0+n) of every item of a block (with rows_in_block rows) to out, centred:
 * item t at out + n * col_offset[t] as [n][dim]; squared norms to norm2 [n_items][n]. */
static void center_chunk(const strata_dataset *ds, const float *block, int64_t rows_in_block,
                         int64_t r0, int64_t n, const float *mean, float *out, double *norm2)
{
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        const float *src = block + rows_in_block * ds->col_offset[t] + r0 * dim;
        const float *mu = mean + ds->col_offset[t];
        float *dst = out + n * ds->col_offset[t];
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int k = 0; k < dim; k++) {
                float v = src[i * dim + k] - mu[k];
                dst[i * dim + k] = v;
                s += (double)v * v;
            }
            norm2[(int64_t)t * n + i] = s;
        }
    }
}

/* [n_items][ni][nj] -> [n_items][nj][ni] */
static void transpose_grams(const float *gram, float *out, int n_items, int64_t ni, int64_t nj)
{
#pragma omp parallel for schedule(static) collapse(2) if (n_items * ni * nj > (1 << 18))
    for (int t = 0; t < n_items; t++)
        for (int64_t j = 0; j < nj; j++)
            for (int64_t i = 0; i < ni; i++)
                out[(t * nj + j) * ni + i] = gram[(t * ni + i) * nj + j];
}

/* All sub-tiles of the local rows against one held block.
 * The own block (held == the local rows) is symmetric: a Gram tile of local chunk I against
 * held chunk J is, transposed, the tile of J against I. Held chunks are then whole multiples
 * of the local ones, so each local chunk lies in one held chunk; a tile whose local chunk lies
 * before its held chunk is computed once and also handed to the consumers transposed, and a
 * tile whose local chunk lies after it is skipped. The chunks on the diagonal are computed
 * whole. The consumers see every ordered pair of rows exactly once, as before, for about 60%
 * of the GEMMs (1/2 + the diagonal chunks). */
static void process_block(const strata_dataset *ds, const float *mean, const float *held,
                          int64_t held_n, int64_t held_begin, int n_consumers,
                          const strata_tile_fn *fns, void *const *states)
{
    if (ds->n_local == 0 || held_n == 0) return;
    int own = held == ds->data;
    int64_t cols = ds->col_offset[ds->n_items];
    int64_t ic = LOCAL_CHUNK, jc = -1;
    /* Tests set STRATA_RING_CHUNKS="IC,JC" to reach every tiling path on small data. */
    const char *env = getenv("STRATA_RING_CHUNKS");
    if (env && sscanf(env, "%" SCNd64 ",%" SCNd64, &ic, &jc) != 2) ic = LOCAL_CHUNK, jc = -1;
    if (ic < 1) ic = 1;
    if (ic > ds->n_local) ic = ds->n_local;
    if (jc < 1) {
        jc = SCRATCH_GRAM_BYTES / (4 * ic * ds->n_items);
        if (jc > MAX_REMOTE_CHUNK) jc = MAX_REMOTE_CHUNK;
        if (jc < 64) jc = 64;
    }
    if (own) jc = jc < ic ? ic : jc / ic * ic;
    if (jc > held_n) jc = held_n;
    float *lc = strata_malloc((size_t)(ic * cols) * sizeof(float));       /* [ic][cols] */
    float *rc = strata_malloc((size_t)(jc * cols) * sizeof(float));       /* [jc][cols] */
    float *gram = strata_malloc((size_t)(ds->n_items * ic * jc) * sizeof(float));
    float *gram_t = own ? strata_malloc((size_t)(ds->n_items * ic * jc) * sizeof(float)) : NULL;
    double *ln = strata_malloc((size_t)(ds->n_items * ic) * sizeof(double));
    double *rn = strata_malloc((size_t)(ds->n_items * jc) * sizeof(double));
    for (int64_t j0 = 0; j0 < held_n; j0 += jc) {
        int64_t nj = held_n - j0 < jc ? held_n - j0 : jc;
        center_chunk(ds, held, held_n, j0, nj, mean, rc, rn);
        for (int64_t i0 = 0; i0 < ds->n_local; i0 += ic) {
            if (own && i0 >= j0 + nj) break; /* seen transposed, from the tile (J, I) */
            int64_t ni = ds->n_local - i0 < ic ? ds->n_local - i0 : ic;
            center_chunk(ds, ds->data, ds->n_local, i0, ni, mean, lc, ln);
            for (int t = 0; t < ds->n_items; t++) {
                int dim = ds->items[t].dim;
                strata_tile_gemm((int)ni, (int)nj, dim, lc + ni * ds->col_offset[t], dim,
                                 rc + nj * ds->col_offset[t], dim, gram + t * ni * nj, (int)nj);
            }
            strata_tile tile = {.ds = ds, .remote = held, .remote_n = held_n,
                                .remote_begin = held_begin, .i0 = i0, .i1 = i0 + ni,
                                .j0 = j0, .j1 = j0 + nj, .gram = gram, .lnorm2 = ln,
                                .rnorm2 = rn};
            for (int c = 0; c < n_consumers; c++) fns[c](states[c], &tile);
            if (own && i0 + ni <= j0) { /* the mirror tile: rows of J against columns of I */
                transpose_grams(gram, gram_t, ds->n_items, ni, nj);
                strata_tile mirror = {.ds = ds, .remote = held, .remote_n = held_n,
                                      .remote_begin = held_begin, .i0 = j0, .i1 = j0 + nj,
                                      .j0 = i0, .j1 = i0 + ni, .gram = gram_t, .lnorm2 = rn,
                                      .rnorm2 = ln};
                for (int c = 0; c < n_consumers; c++) fns[c](states[c], &mirror);
            }
        }
    }
    free(lc);
    free(rc);
    free(gram);
    free(gram_t);
    free(ln);
    free(rn);
}

/* Post the sends/receives of one ring step, split into messages of at most MESSAGE_FLOATS. */
static int post_transfer(MPI_Comm comm, const float *send, int64_t send_n, int right, float *recv,
                         int64_t recv_n, int left, MPI_Request *req, strata_comm_stats *stats)
{
    int nreq = 0, tag = 0;
    for (int64_t off = 0; off < recv_n; off += MESSAGE_FLOATS, tag++) {
        int64_t c = recv_n - off < MESSAGE_FLOATS ? recv_n - off : MESSAGE_FLOATS;
        STRATA_CHECK_MPI(MPI_Irecv(recv + off, (int)c, MPI_FLOAT, left, 100 + tag, comm, &req[nreq++]));
    }
    tag = 0;
    for (int64_t off = 0; off < send_n; off += MESSAGE_FLOATS, tag++) {
        int64_t c = send_n - off < MESSAGE_FLOATS ? send_n - off : MESSAGE_FLOATS;
        STRATA_CHECK_MPI(MPI_Isend(send + off, (int)c, MPI_FLOAT, right, 100 + tag, comm, &req[nreq++]));
        stats->ring_bytes += c * (int64_t)sizeof(float);
        stats->ring_messages++;
    }
    return nreq;
}

void strata_ring_run(MPI_Comm comm, const strata_dataset *ds, const float *mean_f32,
                     int n_consumers, const strata_tile_fn *fns, void *const *states,
                     strata_comm_stats *stats)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    int64_t cols = ds->col_offset[ds->n_items];
    int64_t *counts = strata_malloc((size_t)nranks * sizeof(int64_t));
    int64_t *begins = strata_malloc((size_t)nranks * sizeof(int64_t));
    STRATA_CHECK_MPI(MPI_Allgather(&ds->n_local, 1, MPI_INT64_T, counts, 1, MPI_INT64_T, comm));
    int64_t maxn = 0, acc = 0;
    for (int r = 0; r < nranks; r++) {
        begins[r] = acc;
        acc += counts[r];
        if (counts[r] > maxn) maxn = counts[r];
    }
    float *buf[2] = {NULL, NULL};
    if (nranks > 1) {
        buf[0] = strata_malloc((size_t)(maxn * cols) * sizeof(float) + 1);
        buf[1] = strata_malloc((size_t)(maxn * cols) * sizeof(float) + 1);
    }
    int right = (rank + 1) % nranks, left = (rank - 1 + nranks) % nranks;
    int max_req = 2 * (int)((maxn * cols) / MESSAGE_FLOATS + 2);
    MPI_Request *req = strata_malloc((size_t)max_req * sizeof(MPI_Request));
    const float *held = ds->data;
    int64_t held_n = ds->n_local, held_begin = begins[rank];
    for (int step = 0; step < nranks; step++) {
        int nreq = 0;
        int next_origin = (rank - step - 1 + 2 * nranks) % nranks;
        float *incoming = buf[step % 2];
        if (step < nranks - 1)
            nreq = post_transfer(comm, held, held_n * cols, right, incoming,
                                 counts[next_origin] * cols, left, req, stats);
        process_block(ds, mean_f32, held, held_n, held_begin, n_consumers, fns, states);
        if (nreq) STRATA_CHECK_MPI(MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE));
        if (step < nranks - 1) {
            held = incoming;
            held_n = counts[next_origin];
            held_begin = begins[next_origin];
        }
    }
    free(req);
    free(buf[0]);
    free(buf[1]);
    free(counts);
    free(begins);
}

/* cka.c — linear CKA between items from the ring's centred Gram tiles, accumulated in double.
 * Biased HSIC: <K_c, L_c> with K_c the Gram of the globally centred rows (Kornblith et al.
 * 2019). Tiles are float64 GEMMs of the rows centred in double, so sums do not depend on the
 * tiling (float32 tiles round differently with their shape). Unbiased HSIC (Song et al. 2012, as used by Nguyen et al. 2021), with K~ = K with a
 * zero diagonal:  [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)).
 * tr(K~L~) = <K,L> - sum_i K_ii L_ii, and 1'K~L~1 = sum_i (K~1)_i (L~1)_i uses the row sums of
 * each item's Gram, kept per local row. A layer with zero variance gives CKA = 0. */
#include "analysis/cka.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

void strata_cka_init(strata_cka *c, const strata_dataset *ds, int n_pairs, const int (*pairs)[2],
                     const double *mean)
{
    memset(c, 0, sizeof *c);
    c->ds = ds;
    c->n_pairs = n_pairs;
    c->pairs = pairs;
    c->mean = mean;
    c->used = strata_calloc((size_t)ds->n_items + 1, sizeof(int));
    for (int p = 0; p < n_pairs; p++) c->used[pairs[p][0]] = c->used[pairs[p][1]] = 1;
    c->sum_kl = strata_calloc((size_t)n_pairs + 1, sizeof(double));
    size_t rows = (size_t)ds->n_items * (size_t)ds->n_local + 1;
    c->rowsum = strata_calloc(rows, sizeof(double));
    c->diag = strata_calloc(rows, sizeof(double));
}

void strata_cka_free(strata_cka *c)
{
    free(c->sum_kl);
    free(c->rowsum);
    free(c->diag);
    free(c->used);
    memset(c, 0, sizeof *c);
}

/* Rows [r0, r0 + n) of item `it` of a block, centred in double, to out [n][dim]. */
static void center_rows(const strata_cka *c, const float *block, int64_t block_n, int it,
                        int64_t r0, int64_t n, double *out)
{
    const strata_dataset *ds = c->ds;
    int dim = ds->items[it].dim;
    const float *x = block + block_n * ds->col_offset[it] + r0 * dim;
    const double *mu = c->mean + ds->col_offset[it];
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < dim; k++) out[i * dim + k] = (double)x[i * dim + k] - mu[k];
}

void strata_cka_tile(void *state, const strata_tile *t)
{
    strata_cka *c = state;
    const strata_dataset *ds = c->ds;
    int64_t ni = t->i1 - t->i0, nj = t->j1 - t->j0, nn = ni * nj;
    /* float64 Grams of the items in use: [n_items][ni][nj] (unused items left unset) */
    double *gram = strata_malloc((size_t)(ds->n_items * nn) * sizeof(double));
    int maxdim = 0;
    for (int it = 0; it < ds->n_items; it++)
        if (ds->items[it].dim > maxdim) maxdim = ds->items[it].dim;
    double *la = strata_malloc((size_t)(ni * maxdim) * sizeof(double));
    double *ra = strata_malloc((size_t)(nj * maxdim) * sizeof(double));
    for (int it = 0; it < ds->n_items; it++) {
        if (!c->used[it]) continue;
        int dim = ds->items[it].dim;
        center_rows(c, ds->data, ds->n_local, it, t->i0, ni, la);
        center_rows(c, t->remote, t->remote_n, it, t->j0, nj, ra);
        strata_tile_dgemm((int)ni, (int)nj, dim, la, dim, ra, dim, gram + it * nn, (int)nj);
    }
    free(la);
    free(ra);
#pragma omp parallel for schedule(dynamic, 1)
    for (int p = 0; p < c->n_pairs; p++) {
        const double *ga = gram + (int64_t)c->pairs[p][0] * nn;
        const double *gb = gram + (int64_t)c->pairs[p][1] * nn;
        double s = 0.0;
        for (int64_t e = 0; e < nn; e++) s += ga[e] * gb[e];
        c->sum_kl[p] += s;
    }
#pragma omp parallel for schedule(static)
    for (int it = 0; it < ds->n_items; it++) {
        if (!c->used[it]) continue;
        const double *g = gram + (int64_t)it * nn;
        for (int64_t i = 0; i < ni; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < nj; j++) s += g[i * nj + j];
            int64_t row = (int64_t)it * ds->n_local + t->i0 + i;
            c->rowsum[row] += s;
            int64_t gj = ds->row_begin + t->i0 + i - t->remote_begin; /* own column, if held */
            if (gj >= t->j0 && gj < t->j1) c->diag[row] = g[i * nj + (gj - t->j0)];
        }
    }
    free(gram);
}

void strata_cka_finish(MPI_Comm comm, const strata_cka *c, const int *self_pair, double *biased,
                       double *unbiased, int64_t *reduce_bytes)
{
    const strata_dataset *ds = c->ds;
    int np = c->n_pairs;
    /* per pair: <K,L>, sum diag_K diag_L, sum (K~1)(L~1); per item: 1'K~1 */
    int64_t nv = 3 * (int64_t)np + ds->n_items;
    double *v = strata_calloc((size_t)nv, sizeof(double));
    for (int p = 0; p < np; p++) {
        int a = c->pairs[p][0], b = c->pairs[p][1];
        double sd = 0.0, sr = 0.0;
        for (int64_t i = 0; i < ds->n_local; i++) {
            double da = c->diag[(int64_t)a * ds->n_local + i], db = c->diag[(int64_t)b * ds->n_local + i];
            double ra = c->rowsum[(int64_t)a * ds->n_local + i] - da;
            double rb = c->rowsum[(int64_t)b * ds->n_local + i] - db;
            sd += da * db;
            sr += ra * rb;
        }
        v[p] = c->sum_kl[p];
        v[np + p] = sd;
        v[2 * np + p] = sr;
    }
    for (int it = 0; it < ds->n_items; it++) {
        double s = 0.0;
        for (int64_t i = 0; i < ds->n_local; i++)
            s += c->rowsum[(int64_t)it * ds->n_local + i] - c->diag[(int64_t)it * ds->n_local + i];
        v[3 * np + it] = s;
    }
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, (int)nv, MPI_DOUBLE, MPI_SUM, comm));
    *reduce_bytes += nv * 8;
    double n = (double)ds->n_total;
    double *hb = strata_malloc((size_t)np * sizeof(double) + 1);
    double *hu = strata_malloc((size_t)np * sizeof(double) + 1);
    for (int p = 0; p < np; p++) {
        int a = c->pairs[p][0], b = c->pairs[p][1];
        hb[p] = v[p];
        hu[p] = (v[p] - v[np + p] + v[3 * np + a] * v[3 * np + b] / ((n - 1) * (n - 2)) -
                 2.0 / (n - 2) * v[2 * np + p]) / (n * (n - 3));
    }
    for (int p = 0; p < np; p++) {
        int a = c->pairs[p][0], b = c->pairs[p][1];
        int pa = self_pair[a], pb = self_pair[b];
        double db = hb[pa] * hb[pb], du = hu[pa] * hu[pb];
        biased[p] = (hb[pa] > 0 && hb[pb] > 0) ? hb[p] / sqrt(db) : 0.0;
        unbiased[p] = (hu[pa] > 0 && hu[pb] > 0) ? hu[p] / sqrt(du) : 0.0;
    }
    free(hb);
    free(hu);
    free(v);
}

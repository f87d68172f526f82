/* cka.c — linear CKA between items from the ring's centred Gram tiles, accumulated in double.
 * Biased HSIC: <K_c, L_c> with K_c the Gram of the globally centred rows (Kornblith et al.
 * 2019). Tiles are float64 GEMMs of the rows centred in double, so sums do not depend on the
 * tiling (float32 tiles round differently with their shape). Unbiased HSIC (Song et al. 2012, as used by Nguyen et al. 2021), with K~ = K with a
 * zero diagonal:  [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)).
 * tr(K~L~) = <K,L> - sum_i K_ii L_ii, and 1'K~L~1 = sum_i (K~1)_i (L~1)_i uses the row sums of
 * each item's Gram, kept per local row. A layer with zero variance gives CKA = 0.
 * When N exceeds the dimensions, the same sums come cheaper in feature space (strata_cka_feature):
 * <K_c, L_c> = ||Xa_c' Xb_c||_F^2 from an allreduced Da x Db cross product (float64). */
#include "analysis/cka.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/blas_omp.h"
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
        c->sum_kl[p] += strata_dot_f64(ga, gb, nn);
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

/* v: per pair <K,L> [np], sum diag_K diag_L [np], sum (K~1)(L~1) [np]; per item 1'K~1. */
static void hsic_to_cka(const double *v, int np, const int (*pairs)[2], const int *self_pair,
                        double n, double *biased, double *unbiased)
{
    double *hb = strata_malloc((size_t)np * sizeof(double) + 1);
    double *hu = strata_malloc((size_t)np * sizeof(double) + 1);
    for (int p = 0; p < np; p++) {
        int a = pairs[p][0], b = pairs[p][1];
        hb[p] = v[p];
        hu[p] = (v[p] - v[np + p] + v[3 * np + a] * v[3 * np + b] / ((n - 1) * (n - 2)) -
                 2.0 / (n - 2) * v[2 * np + p]) / (n * (n - 3));
    }
    for (int p = 0; p < np; p++) {
        int a = pairs[p][0], b = pairs[p][1];
        int pa = self_pair[a], pb = self_pair[b];
        biased[p] = (hb[pa] > 0 && hb[pb] > 0) ? hb[p] / sqrt(hb[pa] * hb[pb]) : 0.0;
        unbiased[p] = (hu[pa] > 0 && hu[pb] > 0) ? hu[p] / sqrt(hu[pa] * hu[pb]) : 0.0;
    }
    free(hb);
    free(hu);
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
    hsic_to_cka(v, np, c->pairs, self_pair, (double)ds->n_total, biased, unbiased);
    free(v);
}

/* Rows of item t centred in double: out [n_local][dim]. */
static void center_item(const strata_dataset *ds, const double *mean, int t, double *out)
{
    int dim = ds->items[t].dim;
    const float *x = ds->data + ds->n_local * ds->col_offset[t];
    const double *mu = mean + ds->col_offset[t];
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < ds->n_local; i++)
        for (int k = 0; k < dim; k++) out[i * dim + k] = (double)x[i * dim + k] - mu[k];
}

void strata_cka_feature(MPI_Comm comm, const strata_dataset *ds, const double *mean, int n_pairs,
                        const int (*pairs)[2], const int *self_pair, double *biased,
                        double *unbiased, int64_t *reduce_bytes)
{
    /* Per pair: ||Xa'Xb||^2 (from the reduced cross product), sum_i |a_i|^2 |b_i|^2 and
     * sum_i (a_i.Sa - |a_i|^2)(b_i.Sb - |b_i|^2); per item: |Sa|^2 - sum_i |a_i|^2, where
     * Sa = sum_i a_i over all ranks. Rows are centred, so Sa is ~0 but kept exact. */
    int64_t n = ds->n_local;
    int rank;
    MPI_Comm_rank(comm, &rank);
    int maxdim = 0;
    for (int t = 0; t < ds->n_items; t++)
        if (ds->items[t].dim > maxdim) maxdim = ds->items[t].dim;
    int64_t cols = ds->col_offset[ds->n_items];
    double *colsum = strata_calloc((size_t)cols + 1, sizeof(double));   /* S per item */
    double *rown2 = strata_calloc((size_t)(ds->n_items * n) + 1, sizeof(double));
    double *xa = strata_malloc((size_t)(n * maxdim) * sizeof(double) + 8);
    double *xb = strata_malloc((size_t)(n * maxdim) * sizeof(double) + 8);
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        center_item(ds, mean, t, xa);
        for (int64_t i = 0; i < n; i++) {
            double s = 0.0;
            for (int k = 0; k < dim; k++) {
                colsum[ds->col_offset[t] + k] += xa[i * dim + k];
                s += xa[i * dim + k] * xa[i * dim + k];
            }
            rown2[t * n + i] = s;
        }
    }
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, colsum, (int)cols, MPI_DOUBLE, MPI_SUM, comm));
    *reduce_bytes += cols * 8;
    /* (K~1)_i = a_i.S - |a_i|^2 per item and row */
    double *rk = strata_calloc((size_t)(ds->n_items * n) + 1, sizeof(double));
    double *v = strata_calloc((size_t)(3 * n_pairs + ds->n_items) + 1, sizeof(double));
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        center_item(ds, mean, t, xa);
        const double *S = colsum + ds->col_offset[t];
        double s2 = 0.0, r2 = 0.0;
        for (int k = 0; k < dim; k++) s2 += S[k] * S[k];
        for (int64_t i = 0; i < n; i++) {
            double d = 0.0;
            for (int k = 0; k < dim; k++) d += xa[i * dim + k] * S[k];
            rk[t * n + i] = d - rown2[t * n + i];
            r2 += rown2[t * n + i];
        }
        /* |S|^2 is global; the sum of |a_i|^2 is local: reduce (|S|^2/P-free form) below */
        v[3 * n_pairs + t] = -r2;
        if (rank == 0) v[3 * n_pairs + t] += s2;
    }
    double *cross = strata_malloc((size_t)maxdim * maxdim * sizeof(double) + 8);
    int centred_a = -1; /* item whose centred rows xa holds (pairs come grouped by a) */
    for (int p = 0; p < n_pairs; p++) {
        int a = pairs[p][0], b = pairs[p][1], da = ds->items[a].dim, db = ds->items[b].dim;
        if (centred_a != a) center_item(ds, mean, a, xa);
        centred_a = a;
        double f = 0.0;
        if (b == a) {
            /* Xa' Xa by SYRK (half the FLOPs): the upper triangle, counted twice off the
             * diagonal; the lower one is zeroed so that the reduced matrix is well defined */
            memset(cross, 0, (size_t)da * da * sizeof(double));
            strata_syrk_f64(da, (int)n, xa, da, cross, da);
            STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, cross, da * da, MPI_DOUBLE, MPI_SUM, comm));
            for (int i = 0; i < da; i++) {
                f += cross[(int64_t)i * da + i] * cross[(int64_t)i * da + i];
                for (int j = i + 1; j < da; j++) f += 2.0 * cross[(int64_t)i * da + j] * cross[(int64_t)i * da + j];
            }
        } else {
            center_item(ds, mean, b, xb);
            /* cross [da][db] = Xa' Xb */
            strata_gemm_f64(1, 0, da, db, (int)n, 1.0, xa, da, xb, db, 0.0, cross, db);
            STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, cross, da * db, MPI_DOUBLE, MPI_SUM, comm));
            for (int64_t e = 0; e < (int64_t)da * db; e++) f += cross[e] * cross[e];
        }
        *reduce_bytes += (int64_t)da * (b == a ? da : db) * 8;
        v[p] = rank == 0 ? f : 0.0; /* already global: count once */
        double sd = 0.0, sr = 0.0;
        for (int64_t i = 0; i < n; i++) {
            sd += rown2[a * n + i] * rown2[b * n + i];
            sr += rk[a * n + i] * rk[b * n + i];
        }
        v[n_pairs + p] = sd;
        v[2 * n_pairs + p] = sr;
    }
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 3 * n_pairs + ds->n_items, MPI_DOUBLE, MPI_SUM, comm));
    *reduce_bytes += (3 * (int64_t)n_pairs + ds->n_items) * 8;
    hsic_to_cka(v, n_pairs, pairs, self_pair, (double)ds->n_total, biased, unbiased);
    free(cross);
    free(v);
    free(rk);
    free(xa);
    free(xb);
    free(rown2);
    free(colsum);
}

/* alignment.c — retrieval@1 between paired streams (for each row of A, the row of B with the
 * largest cosine, found over ring tiles of raw rows with one GEMM per pair) and the cosine of
 * paired rows. Cosines use the raw (uncentred) rows, as the IMA score and retrieval do.
 * The float32 GEMM only preselects: a row's candidates within twice its rounding bound of the
 * best get their cosine recomputed in double (strata_row_cosine, a fixed summation order), so
 * near ties resolve the same whatever the tiling, the number of ranks or the BLAS. */
#include "analysis/alignment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

double strata_row_cosine(const float *a, const float *b, int dim)
{
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int k = 0; k < dim; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

void strata_retrieval_init(strata_retrieval *r, const strata_dataset *ds, int n_pairs,
                           const int (*pairs)[2])
{
    memset(r, 0, sizeof *r);
    r->ds = ds;
    r->n_pairs = n_pairs;
    r->pairs = pairs;
    r->norm = strata_malloc(((size_t)ds->n_items * ds->n_local + 1) * sizeof(double));
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        const float *x = ds->data + ds->n_local * ds->col_offset[t];
        for (int64_t i = 0; i < ds->n_local; i++) {
            double s = 0.0;
            for (int k = 0; k < dim; k++) s += (double)x[i * dim + k] * x[i * dim + k];
            r->norm[(int64_t)t * ds->n_local + i] = sqrt(s);
        }
    }
    size_t n = (size_t)n_pairs * ds->n_local + 1;
    r->best = strata_malloc(n * sizeof(double));
    r->best_idx = strata_malloc(n * sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        r->best[i] = -INFINITY;
        r->best_idx[i] = -1;
    }
}

void strata_retrieval_free(strata_retrieval *r)
{
    free(r->norm);
    free(r->best);
    free(r->best_idx);
    memset(r, 0, sizeof *r);
}

void strata_retrieval_tile(void *state, const strata_tile *t)
{
    strata_retrieval *r = state;
    const strata_dataset *ds = r->ds;
    int64_t ni = t->i1 - t->i0, nj = t->j1 - t->j0;
    float *g = strata_malloc((size_t)(ni * nj) * sizeof(float));
    double *rn = strata_malloc((size_t)nj * sizeof(double));
    for (int p = 0; p < r->n_pairs; p++) {
        int a = r->pairs[p][0], b = r->pairs[p][1], dim = ds->items[a].dim;
        const float *la = ds->data + ds->n_local * ds->col_offset[a] + t->i0 * dim;
        const float *rb = t->remote + t->remote_n * ds->col_offset[b] + t->j0 * dim;
        strata_tile_gemm((int)ni, (int)nj, dim, la, dim, rb, dim, g, (int)nj);
        for (int64_t j = 0; j < nj; j++) {
            double s = 0.0;
            for (int k = 0; k < dim; k++) s += (double)rb[j * dim + k] * rb[j * dim + k];
            rn[j] = sqrt(s);
        }
        /* |float cosine - exact| <= ~sqrt(D) u; 16x that is the band */
        double band = 16.0 * sqrt((double)dim) * ldexp(1.0, -24) + 1e-12;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < ni; i++) {
            int64_t row = (int64_t)p * ds->n_local + t->i0 + i;
            double na = r->norm[(int64_t)a * ds->n_local + t->i0 + i];
            const float *gi = g + i * nj;
            double top = -INFINITY;
            for (int64_t j = 0; j < nj; j++) {
                double c = na > 0 && rn[j] > 0 ? (double)gi[j] / (na * rn[j]) : 0.0;
                if (c > top) top = c;
            }
            double cut = fmax(top, r->best[row]) - 2.0 * band;
            for (int64_t j = 0; j < nj; j++) {
                double c = na > 0 && rn[j] > 0 ? (double)gi[j] / (na * rn[j]) : 0.0;
                if (c < cut) continue;
                c = strata_row_cosine(la + i * dim, rb + j * dim, dim);
                int64_t gj = t->remote_begin + t->j0 + j;
                if (c > r->best[row] || (c == r->best[row] && gj < r->best_idx[row])) {
                    r->best[row] = c;
                    r->best_idx[row] = gj;
                }
            }
        }
    }
    free(g);
    free(rn);
}

/* knn.c — exact k nearest neighbours per row and item, fed by the ring's Gram tiles.
 * A tile entry gives ||a||^2 + ||b||^2 - 2 a.b, which cancels badly for near neighbours, so it
 * only selects candidates: per tile row, those within a rounding bound of the current k-th exact
 * distance and of the row's k-th best approximate one; their distances are then recomputed
 * exactly (double, from the raw rows).
 * Each row keeps a max-heap of (squared distance, global index); ties break by lower index. */
#include "analysis/knn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

void strata_knn_init(strata_knn *knn, const strata_dataset *ds, int k, const uint8_t *dup)
{
    memset(knn, 0, sizeof *knn);
    knn->ds = ds;
    knn->k = k;
    knn->dup = dup;
    size_t rows = (size_t)ds->n_items * (size_t)ds->n_local;
    knn->d2 = strata_malloc(rows * (size_t)k * sizeof(double) + 1);
    knn->idx = strata_malloc(rows * (size_t)k * sizeof(int64_t) + 1);
    knn->count = strata_calloc(rows + 1, sizeof(int));
}

void strata_knn_free(strata_knn *knn)
{
    free(knn->d2);
    free(knn->idx);
    free(knn->count);
    memset(knn, 0, sizeof *knn);
}

static inline int entry_less(double da, int64_t ia, double db, int64_t ib)
{
    return da < db || (da == db && ia < ib);
}

/* Max-heap on (d2, idx) of n entries: insert or replace the top. */
static void heap_push(double *d, int64_t *x, int *n, int k, double dv, int64_t iv)
{
    int pos;
    if (*n < k) {
        pos = (*n)++;
        while (pos > 0) {
            int parent = (pos - 1) / 2;
            if (!entry_less(d[parent], x[parent], dv, iv)) break;
            d[pos] = d[parent];
            x[pos] = x[parent];
            pos = parent;
        }
        d[pos] = dv;
        x[pos] = iv;
        return;
    }
    if (!entry_less(dv, iv, d[0], x[0])) return;
    pos = 0;
    for (;;) {
        int c = 2 * pos + 1;
        if (c >= k) break;
        if (c + 1 < k && entry_less(d[c], x[c], d[c + 1], x[c + 1])) c++;
        if (!entry_less(dv, iv, d[c], x[c])) break;
        d[pos] = d[c];
        x[pos] = x[c];
        pos = c;
    }
    d[pos] = dv;
    x[pos] = iv;
}

/* Hoare selection: afterwards v[k] holds the k-th smallest value (0-based) of v [n]. */
static double select_kth(double *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                double tmp = v[i];
                v[i] = v[j];
                v[j] = tmp;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
    return v[k];
}

void strata_knn_tile(void *state, const strata_tile *t)
{
    strata_knn *knn = state;
    const strata_dataset *ds = knn->ds;
    int64_t ni = t->i1 - t->i0, nj = t->j1 - t->j0;
    int k = knn->k;
    for (int it = 0; it < ds->n_items; it++) {
        int dim = ds->items[it].dim;
        /* Rounding bound of the tile's squared distance relative to ||a||^2 + ||b||^2: float
         * dot products and centring err by ~sqrt(D) u; 16x that leaves a wide margin. */
        double slack = 16.0 * sqrt((double)dim) * ldexp(1.0, -24) + 1e-12;
        const uint8_t *dup = knn->dup + (int64_t)it * ds->n_total;
        const float *lraw = ds->data + ds->n_local * ds->col_offset[it];
        const float *rraw = t->remote + t->remote_n * ds->col_offset[it];
        const float *g = t->gram + (int64_t)it * ni * nj;
        const double *ln = t->lnorm2 + (int64_t)it * ni, *rn = t->rnorm2 + (int64_t)it * nj;
        double rn_max = 0.0;
        for (int64_t j = 0; j < nj; j++)
            if (rn[j] > rn_max) rn_max = rn[j];
#pragma omp parallel
        {
            /* per thread: candidates of one tile row (approx distance, column) */
            double *cand = strata_malloc((size_t)nj * sizeof(double) + 8);
            double *work = strata_malloc((size_t)nj * sizeof(double) + 8);
            int64_t *cj = strata_malloc((size_t)nj * sizeof(int64_t) + 8);
#pragma omp for schedule(dynamic, 8)
            for (int64_t i = t->i0; i < t->i1; i++) {
                int64_t gi = ds->row_begin + i;
                if (dup[gi]) continue;
                int64_t row = (int64_t)it * ds->n_local + i;
                double *hd = knn->d2 + row * k;
                int64_t *hx = knn->idx + row * k;
                int *cnt = knn->count + row;
                const float *grow = g + (i - t->i0) * nj;
                double lni = ln[i - t->i0];
                double band = slack * (lni + rn_max); /* bounds the error of any entry of the row */
                double thr = *cnt == k ? hd[0] + band : INFINITY;
                /* 1. candidates that could enter the heap, by the tile's approximate distance */
                int64_t nc = 0;
                for (int64_t j = t->j0; j < t->j1; j++) {
                    int64_t gj = t->remote_begin + j;
                    double approx = lni + rn[j - t->j0] - 2.0 * (double)grow[j - t->j0];
                    if (approx > thr || gj == gi || dup[gj]) continue;
                    cand[nc] = approx;
                    cj[nc++] = j;
                }
                /* 2. only the k best of them can enter, give or take the rounding band */
                if (nc > k) {
                    memcpy(work, cand, (size_t)nc * sizeof(double));
                    double cut = select_kth(work, nc, k - 1) + 2.0 * band;
                    int64_t w = 0;
                    for (int64_t c = 0; c < nc; c++)
                        if (cand[c] <= cut) {
                            cand[w] = cand[c];
                            cj[w++] = cj[c];
                        }
                    nc = w;
                }
                /* 3. exact distances of the survivors */
                for (int64_t c = 0; c < nc; c++) {
                    if (*cnt == k && cand[c] > hd[0] + band) continue;
                    int64_t j = cj[c];
                    double e = strata_dist2_exact(lraw + i * dim, rraw + j * dim, dim);
                    heap_push(hd, hx, cnt, k, e, t->remote_begin + j);
                }
            }
            free(cand);
            free(work);
            free(cj);
        }
    }
}

static int cmp_entry(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    int64_t ix, iy;
    memcpy(&ix, &x[1], sizeof ix);
    memcpy(&iy, &y[1], sizeof iy);
    return ix < iy ? -1 : ix > iy;
}

void strata_knn_sort(strata_knn *knn)
{
    const strata_dataset *ds = knn->ds;
    int k = knn->k;
    int64_t rows = (int64_t)ds->n_items * ds->n_local;
#pragma omp parallel
    {
        double *pairs = strata_malloc((size_t)k * 2 * sizeof(double));
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            int n = knn->count[r];
            double *d = knn->d2 + r * k;
            int64_t *x = knn->idx + r * k;
            for (int e = 0; e < n; e++) {
                pairs[2 * e] = d[e];
                memcpy(&pairs[2 * e + 1], &x[e], sizeof(int64_t));
            }
            qsort(pairs, (size_t)n, 2 * sizeof(double), cmp_entry);
            for (int e = 0; e < n; e++) {
                d[e] = pairs[2 * e];
                memcpy(&x[e], &pairs[2 * e + 1], sizeof(int64_t));
            }
        }
        free(pairs);
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void strata_knn_overlap_local(const strata_knn *knn, int item_a, int item_b, int k, double *sum,
                              int64_t *n_rows)
{
    const strata_dataset *ds = knn->ds;
    const uint8_t *dup_a = knn->dup + (int64_t)item_a * ds->n_total;
    const uint8_t *dup_b = knn->dup + (int64_t)item_b * ds->n_total;
    double s = 0.0;
    int64_t n = 0;
    int64_t *a = strata_malloc((size_t)k * sizeof(int64_t));
    int64_t *b = strata_malloc((size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < ds->n_local; i++) {
        int64_t gi = ds->row_begin + i;
        if (dup_a[gi] || dup_b[gi]) continue;
        const int64_t *xa = knn->idx + ((int64_t)item_a * ds->n_local + i) * knn->k;
        const int64_t *xb = knn->idx + ((int64_t)item_b * ds->n_local + i) * knn->k;
        memcpy(a, xa, (size_t)k * sizeof(int64_t));
        memcpy(b, xb, (size_t)k * sizeof(int64_t));
        qsort(a, (size_t)k, sizeof(int64_t), cmp_i64);
        qsort(b, (size_t)k, sizeof(int64_t), cmp_i64);
        int p = 0, q = 0, common = 0;
        while (p < k && q < k) {
            if (a[p] == b[q]) {
                common++;
                p++;
                q++;
            } else if (a[p] < b[q]) {
                p++;
            } else {
                q++;
            }
        }
        s += (double)common / k;
        n++;
    }
    free(a);
    free(b);
    *sum = s;
    *n_rows = n;
}

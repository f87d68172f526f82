/* analyze.c — runs the requested metrics over a distributed strata_dataset and writes them
 * (rank 0) in the results layout of io/results.h: global means, duplicate detection, one ring
 * pass feeding kNN, CKA and retrieval, then ID estimators, overlap, alignment statistics and
 * TSQR spectra. Relies on ring.c, knn.c, cka.c, alignment.c, intrinsic_dim.c, tsqr.c. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "analysis/alignment.h"
#include "analysis/analysis.h"
#include "analysis/cka.h"
#include "analysis/knn.h"
#include "strata.h"

void strata_analysis_options_default(strata_analysis_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->metrics = STRATA_METRIC_ALL;
    opt->k_mle = 100;
    opt->k_overlap = 30;
    opt->gride_n1 = 16;
    opt->gride_range = 64;
    opt->twonn_fraction = 0.9;
    opt->seed = 1;
}

int strata_analysis_parse_metrics(const char *list, unsigned *out)
{
    static const struct { const char *name; unsigned bit; } names[] = {
        {"spectrum", STRATA_METRIC_SPECTRUM}, {"id", STRATA_METRIC_ID},
        {"cka", STRATA_METRIC_CKA},           {"overlap", STRATA_METRIC_OVERLAP},
        {"alignment", STRATA_METRIC_ALIGNMENT}, {"cross", STRATA_METRIC_CROSS},
        {"all", STRATA_METRIC_ALL}};
    unsigned bits = 0;
    char *copy = strata_strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned found = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(tok, names[i].name) == 0) found = names[i].bit;
        if (!found) {
            strata_error_set("--metrics: unknown metric '%s' (expected spectrum, id, cka, "
                             "overlap, alignment, cross or all)", tok);
            free(copy);
            return -1;
        }
        bits |= found;
    }
    free(copy);
    *out = bits;
    return 0;
}

/* A (model, stream): its items are the contiguous range [first, first + n_layers). */
typedef struct {
    int model, stream, first, n_layers;
} group_t;

static int build_groups(const strata_dataset *ds, group_t *g)
{
    int n = 0;
    for (int t = 0; t < ds->n_items; t++) {
        if (n > 0 && g[n - 1].model == ds->items[t].model && g[n - 1].stream == ds->items[t].stream) {
            g[n - 1].n_layers++;
            continue;
        }
        g[n++] = (group_t){ds->items[t].model, ds->items[t].stream, t, 1};
    }
    return n;
}

static const char *mname(const strata_dataset *ds, const group_t *g)
{
    return ds->model_names[g->model];
}
static const char *sname(const strata_dataset *ds, const group_t *g)
{
    return ds->stream_names[g->stream];
}

/* ---- duplicates: rows with equal 128-bit content hashes (lower global index kept) ---------- */
static void row_hash(const float *x, int dim, uint64_t h[2])
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x9e3779b97f4a7c15ull;
    for (int k = 0; k < dim; k++) {
        float v = x[k] == 0.0f ? 0.0f : x[k]; /* -0 and +0 are the same number */
        uint32_t u;
        memcpy(&u, &v, 4);
        a = (a ^ u) * 0x100000001b3ull;
        b = (b + u) * 0xff51afd7ed558ccdull;
        b ^= b >> 33;
    }
    h[0] = a;
    h[1] = b;
}

static int cmp_hash(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y; /* h0, h1, index */
    for (int i = 0; i < 3; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static void find_duplicates(MPI_Comm comm, const strata_dataset *ds, uint8_t *dup, int64_t *n_dup)
{
    int nranks;
    MPI_Comm_size(comm, &nranks);
    int *counts = strata_malloc((size_t)nranks * sizeof(int));
    int *displs = strata_malloc((size_t)nranks * sizeof(int));
    int mine = (int)(ds->n_local * 3);
    STRATA_CHECK_MPI(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, comm));
    for (int r = 0, acc = 0; r < nranks; r++) {
        displs[r] = acc;
        acc += counts[r];
    }
    uint64_t *local = strata_malloc((size_t)ds->n_local * 3 * sizeof(uint64_t) + 8);
    uint64_t *all = strata_malloc((size_t)ds->n_total * 3 * sizeof(uint64_t) + 8);
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        const float *x = ds->data + ds->n_local * ds->col_offset[t];
        for (int64_t i = 0; i < ds->n_local; i++) {
            row_hash(x + i * dim, dim, &local[3 * i]);
            local[3 * i + 2] = (uint64_t)(ds->row_begin + i);
        }
        STRATA_CHECK_MPI(MPI_Allgatherv(local, mine, MPI_UINT64_T, all, counts, displs,
                                        MPI_UINT64_T, comm));
        qsort(all, (size_t)ds->n_total, 3 * sizeof(uint64_t), cmp_hash);
        uint8_t *d = dup + (int64_t)t * ds->n_total;
        memset(d, 0, (size_t)ds->n_total);
        n_dup[t] = 0;
        for (int64_t i = 1; i < ds->n_total; i++)
            if (all[3 * i] == all[3 * (i - 1)] && all[3 * i + 1] == all[3 * (i - 1) + 1]) {
                d[all[3 * i + 2]] = 1;
                n_dup[t]++;
            }
    }
    free(local);
    free(all);
    free(counts);
    free(displs);
}

/* Gather per-row values (ncol doubles per row, `count` rows here) to rank 0 in rank order,
 * which is global row order. Returns the total row count on rank 0. */
static int64_t gather_rows(MPI_Comm comm, const double *mine, int64_t count, int ncol, double **out)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    int n = (int)(count * ncol);
    int *counts = strata_malloc((size_t)nranks * sizeof(int));
    int *displs = strata_malloc((size_t)nranks * sizeof(int));
    STRATA_CHECK_MPI(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, comm));
    int64_t total = 0;
    if (rank == 0)
        for (int r = 0; r < nranks; r++) {
            displs[r] = (int)total;
            total += counts[r];
        }
    *out = rank == 0 ? strata_malloc((size_t)total * sizeof(double) + 8) : NULL;
    STRATA_CHECK_MPI(MPI_Gatherv(mine, n, MPI_DOUBLE, *out, counts, displs, MPI_DOUBLE, 0, comm));
    free(counts);
    free(displs);
    return total / ncol;
}

/* ---- small helpers for rank 0's writes -------------------------------------------------- */
static int write1(strata_results *res, const double *v, int64_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int write1(strata_results *res, const double *v, int64_t n, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return strata_results_write(res, path, 1, &n, v);
}
static int write2(strata_results *res, const double *v, int64_t n0, int64_t n1, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
static int write2(strata_results *res, const double *v, int64_t n0, int64_t n1, const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    int64_t dims[2] = {n0, n1};
    return strata_results_write(res, path, 2, dims, v);
}

/* ---- intrinsic dimension ---------------------------------------------------------------- */
typedef struct {
    double twonn, mle, mle_mean, gride;
    double *scaling, *scaling_r;     /* [n_scales] */
    double interval[4][2];           /* twonn, mle, mle_mean, gride */
    int64_t n_dup, n_zero;
} id_result;

/* Per-row columns gathered to rank 0: r at ranks 1, 2, 4, ..., 2^m, then the MLE inverse. */
static void id_item(MPI_Comm comm, const strata_knn *knn, int t, const strata_analysis_options *opt,
                    int n_ranks_col, id_result *out)
{
    const strata_dataset *ds = knn->ds;
    int ncol = n_ranks_col + 1, k = opt->k_mle;
    double *mine = strata_malloc((size_t)ds->n_local * ncol * sizeof(double) + 8);
    int64_t n = 0, n_zero = 0;
    for (int64_t i = 0; i < ds->n_local; i++) {
        int64_t row = (int64_t)t * ds->n_local + i;
        if (knn->count[row] < knn->k) continue; /* duplicate row */
        const double *d2 = knn->d2 + row * knn->k;
        if (d2[0] == 0.0) {
            n_zero++;
            continue;
        }
        double *c = mine + n * ncol;
        for (int j = 0; j < n_ranks_col; j++) c[j] = sqrt(d2[(1 << j) - 1]);
        double tk = sqrt(d2[k - 1]), s = 0.0;
        for (int j = 0; j < k - 1; j++) s += log(tk / sqrt(d2[j]));
        c[n_ranks_col] = s / (k - 1);
        n++;
    }
    int64_t zero_all = 0;
    STRATA_CHECK_MPI(MPI_Reduce(&n_zero, &zero_all, 1, MPI_INT64_T, MPI_SUM, 0, comm));
    double *all = NULL;
    int64_t total = gather_rows(comm, mine, n, ncol, &all);
    free(mine);
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank != 0) return;
    out->n_zero = zero_all;
    int n_scales = n_ranks_col - 1;
    double *mu = strata_malloc((size_t)total * sizeof(double) + 8);
    double *inv = strata_malloc((size_t)total * sizeof(double) + 8);
    out->scaling = strata_malloc((size_t)n_scales * sizeof(double) + 8);
    out->scaling_r = strata_malloc((size_t)n_scales * sizeof(double) + 8);
    for (int64_t i = 0; i < total; i++) {
        mu[i] = all[i * ncol + 1] / all[i * ncol];
        inv[i] = all[i * ncol + n_ranks_col];
    }
    out->twonn = strata_id_twonn(mu, total, opt->twonn_fraction);
    out->mle = strata_id_mle(inv, total, &out->mle_mean);
    out->gride = NAN;
    for (int s = 0; s < n_scales; s++) {
        double r_sum = 0.0;
        for (int64_t i = 0; i < total; i++) {
            mu[i] = all[i * ncol + s + 1] / all[i * ncol + s];
            r_sum += all[i * ncol + s] + all[i * ncol + s + 1];
        }
        out->scaling[s] = strata_id_gride(mu, total, 1 << s, 2 << s);
        out->scaling_r[s] = r_sum / (2.0 * (double)total);
        if ((1 << s) == opt->gride_n1) out->gride = out->scaling[s];
    }
    if (opt->bootstrap > 0) {
        int B = opt->bootstrap, gs = 0;
        while ((1 << gs) < opt->gride_n1) gs++;
        double *est[4];
        for (int e = 0; e < 4; e++) est[e] = strata_malloc((size_t)B * sizeof(double));
        double *inv_b = strata_malloc((size_t)total * sizeof(double) + 8);
        double *mu_b = strata_malloc((size_t)total * sizeof(double) + 8);
        uint64_t state = opt->seed;
        for (int b = 0; b < B; b++) {
            int64_t *pick = strata_malloc((size_t)total * sizeof(int64_t) + 8);
            for (int64_t i = 0; i < total; i++) pick[i] = (int64_t)(strata_splitmix64(&state) % (uint64_t)total);
            for (int64_t i = 0; i < total; i++) {
                const double *c = all + pick[i] * ncol;
                mu_b[i] = c[1] / c[0];
                inv_b[i] = c[n_ranks_col];
            }
            est[0][b] = strata_id_twonn(mu_b, total, opt->twonn_fraction);
            est[1][b] = strata_id_mle(inv_b, total, &est[2][b]);
            for (int64_t i = 0; i < total; i++) {
                const double *c = all + pick[i] * ncol;
                mu_b[i] = c[gs + 1] / c[gs];
            }
            est[3][b] = strata_id_gride(mu_b, total, 1 << gs, 2 << gs);
            free(pick);
        }
        for (int e = 0; e < 4; e++) {
            out->interval[e][0] = strata_percentile(est[e], B, 2.5);
            out->interval[e][1] = strata_percentile(est[e], B, 97.5);
            free(est[e]);
        }
        free(inv_b);
        free(mu_b);
    }
    free(mu);
    free(inv);
    free(all);
}

/* ---- pair lists ------------------------------------------------------------------------- */
typedef struct {
    int n, cap;
    int (*p)[2];
    int *index; /* [n_items * n_items] -> pair index or -1 */
    int n_items;
} pair_list;

static void pairs_init(pair_list *l, int n_items)
{
    memset(l, 0, sizeof *l);
    l->n_items = n_items;
    l->index = strata_malloc((size_t)n_items * n_items * sizeof(int) + 4);
    for (int64_t i = 0; i < (int64_t)n_items * n_items; i++) l->index[i] = -1;
}
static int pairs_add(pair_list *l, int a, int b)
{
    int *slot = &l->index[(int64_t)a * l->n_items + b];
    if (*slot >= 0) return *slot;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->p = strata_realloc(l->p, (size_t)l->cap * sizeof *l->p);
    }
    l->p[l->n][0] = a;
    l->p[l->n][1] = b;
    *slot = l->n;
    return l->n++;
}
static void pairs_free(pair_list *l)
{
    free(l->p);
    free(l->index);
}

/* Do two groups have the same layers (for per-layer pairing)? */
static int same_layers(const strata_dataset *ds, const group_t *a, const group_t *b)
{
    if (a->n_layers != b->n_layers) return 0;
    for (int l = 0; l < a->n_layers; l++)
        if (ds->items[a->first + l].layer != ds->items[b->first + l].layer) return 0;
    return 1;
}

/* Which group pairs get CKA/overlap matrices: within a model A <= B; across models the same
 * stream name (with CROSS). kind: 0 within model, 1 cross. */
static int group_pair_wanted(const strata_dataset *ds, const group_t *a, const group_t *b,
                             unsigned metrics, int *cross)
{
    *cross = a->model != b->model;
    if (!*cross) return 1;
    return (metrics & STRATA_METRIC_CROSS) && a->stream == b->stream;
}

int strata_analysis_run(MPI_Comm comm, const strata_dataset *ds,
                        const strata_analysis_options *opt, strata_results *res,
                        strata_comm_stats *stats)
{
    int rank, nranks;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    memset(stats, 0, sizeof *stats);
    unsigned metrics = opt->metrics;
    if (ds->n_models < 2) metrics &= ~(unsigned)STRATA_METRIC_CROSS;
    int64_t cols = ds->col_offset[ds->n_items];
    if (ds->n_total < 4)
        return strata_error_set("analysis needs at least 4 rows with status ok; found %lld",
                                (long long)ds->n_total);
    double t_start = strata_now();
    group_t *groups = strata_malloc((size_t)ds->n_items * sizeof(group_t));
    int n_groups = build_groups(ds, groups);

    /* Global column means (double sums; the float copy is what the ring subtracts). */
    double *mean = strata_calloc((size_t)cols + 1, sizeof(double));
    for (int t = 0; t < ds->n_items; t++) {
        int dim = ds->items[t].dim;
        const float *x = ds->data + ds->n_local * ds->col_offset[t];
        double *m = mean + ds->col_offset[t];
        for (int64_t i = 0; i < ds->n_local; i++)
            for (int k = 0; k < dim; k++) m[k] += x[i * dim + k];
    }
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, mean, (int)cols, MPI_DOUBLE, MPI_SUM, comm));
    stats->reduce_bytes += cols * 8;
    float *mean_f = strata_malloc((size_t)cols * sizeof(float) + 4);
    for (int64_t c = 0; c < cols; c++) {
        mean[c] /= (double)ds->n_total;
        mean_f[c] = (float)mean[c];
    }

    int need_knn = (metrics & (STRATA_METRIC_ID | STRATA_METRIC_OVERLAP)) != 0;
    uint8_t *dup = strata_calloc((size_t)ds->n_items * ds->n_total + 1, 1);
    int64_t *n_dup = strata_calloc((size_t)ds->n_items + 1, sizeof(int64_t));
    int K = 0;
    if (need_knn) {
        find_duplicates(comm, ds, dup, n_dup);
        if (metrics & STRATA_METRIC_ID) {
            K = opt->k_mle;
            if (opt->gride_range > K) K = opt->gride_range;
            if (2 > K) K = 2;
        }
        if ((metrics & STRATA_METRIC_OVERLAP) && opt->k_overlap > K) K = opt->k_overlap;
        for (int t = 0; t < ds->n_items; t++) {
            int64_t distinct = ds->n_total - n_dup[t];
            if (K >= distinct) {
                const strata_item *it = &ds->items[t];
                int rc = strata_error_set(
                    "k = %d neighbours need more than %d distinct rows, but %s/%s layer %d has "
                    "%lld distinct rows (%lld ok, %lld duplicates); lower --k/--gride-range/"
                    "--overlap-k or use more samples", K, K, ds->model_names[it->model],
                    ds->stream_names[it->stream], it->layer, (long long)distinct,
                    (long long)ds->n_total, (long long)n_dup[t]);
                free(dup);
                free(n_dup);
                free(mean);
                free(mean_f);
                free(groups);
                return rc;
            }
        }
    }

    /* Pair lists: CKA (with every self pair it needs) and retrieval. */
    pair_list cka_pairs, ret_pairs;
    pairs_init(&cka_pairs, ds->n_items);
    pairs_init(&ret_pairs, ds->n_items);
    int want_cka = (metrics & (STRATA_METRIC_CKA | STRATA_METRIC_CROSS)) != 0;
    for (int ga = 0; ga < n_groups && want_cka; ga++)
        for (int gb = ga; gb < n_groups; gb++) {
            int cross;
            if (!group_pair_wanted(ds, &groups[ga], &groups[gb], metrics, &cross)) continue;
            if (!cross && !(metrics & STRATA_METRIC_CKA)) continue;
            for (int la = 0; la < groups[ga].n_layers; la++)
                for (int lb = 0; lb < groups[gb].n_layers; lb++) {
                    int a = groups[ga].first + la, b = groups[gb].first + lb;
                    pairs_add(&cka_pairs, a, b);
                    pairs_add(&cka_pairs, a, a);
                    pairs_add(&cka_pairs, b, b);
                }
        }
    if (metrics & STRATA_METRIC_ALIGNMENT)
        for (int ga = 0; ga < n_groups; ga++)
            for (int gb = ga + 1; gb < n_groups; gb++) {
                if (groups[ga].model != groups[gb].model || !same_layers(ds, &groups[ga], &groups[gb]) ||
                    ds->items[groups[ga].first].dim != ds->items[groups[gb].first].dim)
                    continue;
                for (int l = 0; l < groups[ga].n_layers; l++) {
                    pairs_add(&ret_pairs, groups[ga].first + l, groups[gb].first + l);
                    pairs_add(&ret_pairs, groups[gb].first + l, groups[ga].first + l);
                }
            }

    /* CKA route: Gram tiles in the ring cost 2 N^2 D per item, feature-space cross products
     * 2 N Da Db per pair; take the cheaper unless told. */
    int cka_feature = 0;
    if (cka_pairs.n) {
        double gram = 0.0, feature = 0.0, n = (double)ds->n_total;
        uint8_t *used = strata_calloc((size_t)ds->n_items + 1, 1);
        for (int p = 0; p < cka_pairs.n; p++) {
            int a = cka_pairs.p[p][0], b = cka_pairs.p[p][1];
            used[a] = used[b] = 1;
            feature += 2.0 * n * ds->items[a].dim * (double)ds->items[b].dim;
        }
        for (int t = 0; t < ds->n_items; t++)
            if (used[t]) gram += 2.0 * n * n * ds->items[t].dim;
        free(used);
        cka_feature = opt->cka_route == STRATA_CKA_FEATURE ||
                      (opt->cka_route == STRATA_CKA_AUTO && feature < gram);
    }

    /* The ring pass. */
    strata_knn knn;
    strata_cka cka;
    strata_retrieval ret;
    strata_tile_fn fns[3];
    void *states[3];
    int nc = 0;
    if (need_knn) {
        strata_knn_init(&knn, ds, K, dup);
        fns[nc] = strata_knn_tile;
        states[nc++] = &knn;
    }
    if (cka_pairs.n && !cka_feature) {
        strata_cka_init(&cka, ds, cka_pairs.n, (const int(*)[2])cka_pairs.p, mean);
        fns[nc] = strata_cka_tile;
        states[nc++] = &cka;
    }
    if (ret_pairs.n) {
        strata_retrieval_init(&ret, ds, ret_pairs.n, (const int(*)[2])ret_pairs.p);
        fns[nc] = strata_retrieval_tile;
        states[nc++] = &ret;
    }
    double t_ring = strata_now();
    if (nc) strata_ring_run(comm, ds, mean_f, nc, fns, states, stats);
    t_ring = strata_now() - t_ring;
    int rc = 0;

    /* ---- intrinsic dimension ---- */
    if (need_knn) strata_knn_sort(&knn);
    if (metrics & STRATA_METRIC_ID) {
        int n_ranks_col = 0;
        while ((1 << n_ranks_col) <= opt->gride_range && (1 << n_ranks_col) <= K) n_ranks_col++;
        int n_scales = n_ranks_col - 1;
        for (int g = 0; g < n_groups; g++) {
            int L = groups[g].n_layers;
            double *v[6];
            for (int e = 0; e < 6; e++) v[e] = strata_calloc((size_t)L + 1, sizeof(double));
            double *sc = strata_calloc((size_t)L * n_scales + 1, sizeof(double));
            double *scr = strata_calloc((size_t)L * n_scales + 1, sizeof(double));
            double *iv = strata_calloc((size_t)L * 8 + 1, sizeof(double));
            for (int l = 0; l < L; l++) {
                id_result r;
                memset(&r, 0, sizeof r);
                int t = groups[g].first + l;
                id_item(comm, &knn, t, opt, n_ranks_col, &r);
                if (rank != 0) continue;
                v[0][l] = r.twonn;
                v[1][l] = r.mle;
                v[2][l] = r.mle_mean;
                v[3][l] = r.gride;
                v[4][l] = (double)n_dup[t];
                v[5][l] = (double)r.n_zero;
                memcpy(sc + (int64_t)l * n_scales, r.scaling, (size_t)n_scales * sizeof(double));
                memcpy(scr + (int64_t)l * n_scales, r.scaling_r, (size_t)n_scales * sizeof(double));
                for (int e = 0; e < 4; e++) {
                    iv[e * 2 * L + 2 * l] = r.interval[e][0];
                    iv[e * 2 * L + 2 * l + 1] = r.interval[e][1];
                }
                free(r.scaling);
                free(r.scaling_r);
            }
            if (rank == 0 && rc == 0) {
                const char *m = mname(ds, &groups[g]), *s = sname(ds, &groups[g]);
                static const char *names[6] = {"twonn", "mle", "mle_mean", "gride",
                                               "n_duplicates", "n_zero_distance"};
                for (int e = 0; e < 6 && rc == 0; e++) rc = write1(res, v[e], L, "/%s/%s/id/%s", m, s, names[e]);
                if (rc == 0) rc = write2(res, sc, L, n_scales, "/%s/%s/id/gride_scaling", m, s);
                if (rc == 0) rc = write2(res, scr, L, n_scales, "/%s/%s/id/gride_scaling_r", m, s);
                for (int e = 0; e < 4 && rc == 0 && opt->bootstrap > 0; e++)
                    rc = write2(res, iv + e * 2 * L, L, 2, "/%s/%s/id/%s_interval", m, s, names[e]);
                char obj[512];
                int64_t n1s[32];
                for (int i = 0; i < n_scales; i++) n1s[i] = 1 << i;
                int64_t kk = opt->k_mle, gn1 = opt->gride_n1;
                double frac = opt->twonn_fraction;
                snprintf(obj, sizeof obj, "/%s/%s/id/twonn", m, s);
                if (rc == 0) rc = strata_results_attr_double(res, obj, "fraction", 1, &frac);
                snprintf(obj, sizeof obj, "/%s/%s/id/mle", m, s);
                if (rc == 0) rc = strata_results_attr_int(res, obj, "k", 1, &kk);
                snprintf(obj, sizeof obj, "/%s/%s/id/mle_mean", m, s);
                if (rc == 0) rc = strata_results_attr_int(res, obj, "k", 1, &kk);
                snprintf(obj, sizeof obj, "/%s/%s/id/gride", m, s);
                if (rc == 0) rc = strata_results_attr_int(res, obj, "n1", 1, &gn1);
                snprintf(obj, sizeof obj, "/%s/%s/id/gride_scaling", m, s);
                if (rc == 0 && n_scales > 0) rc = strata_results_attr_int(res, obj, "n1", n_scales, n1s);
                if (opt->bootstrap > 0 && rc == 0) {
                    int64_t nb = opt->bootstrap, seed = (int64_t)opt->seed;
                    snprintf(obj, sizeof obj, "/%s/%s/id", m, s);
                    rc = strata_results_attr_int(res, obj, "n_bootstrap", 1, &nb);
                    if (rc == 0) rc = strata_results_attr_int(res, obj, "seed", 1, &seed);
                }
            }
            for (int e = 0; e < 6; e++) free(v[e]);
            free(sc);
            free(scr);
            free(iv);
        }
    }

    /* ---- neighbourhood overlap ---- */
    if (metrics & STRATA_METRIC_OVERLAP) {
        for (int ga = 0; ga < n_groups; ga++)
            for (int gb = ga; gb < n_groups; gb++) {
                int cross;
                if (!group_pair_wanted(ds, &groups[ga], &groups[gb], metrics, &cross)) continue;
                int La = groups[ga].n_layers, Lb = groups[gb].n_layers;
                double *v = strata_calloc((size_t)La * Lb * 2 + 1, sizeof(double));
                for (int la = 0; la < La; la++)
                    for (int lb = 0; lb < Lb; lb++) {
                        int64_t cnt;
                        strata_knn_overlap_local(&knn, groups[ga].first + la, groups[gb].first + lb,
                                                 opt->k_overlap, &v[2 * (la * Lb + lb)], &cnt);
                        v[2 * (la * Lb + lb) + 1] = (double)cnt;
                    }
                STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 2 * La * Lb, MPI_DOUBLE, MPI_SUM, comm));
                stats->reduce_bytes += 2 * La * Lb * 8;
                if (rank == 0 && rc == 0) {
                    double *o = strata_malloc((size_t)La * Lb * sizeof(double) + 8);
                    for (int e = 0; e < La * Lb; e++) o[e] = v[2 * e + 1] > 0 ? v[2 * e] / v[2 * e + 1] : NAN;
                    const group_t *A = &groups[ga], *B = &groups[gb];
                    char obj[512];
                    if (cross)
                        snprintf(obj, sizeof obj, "/cross/%s__%s/overlap/%s", mname(ds, A), mname(ds, B), sname(ds, A));
                    else
                        snprintf(obj, sizeof obj, "/%s/overlap_matrix/%s__%s", mname(ds, A), sname(ds, A), sname(ds, B));
                    rc = write2(res, o, La, Lb, "%s", obj);
                    int64_t kk = opt->k_overlap;
                    if (rc == 0) rc = strata_results_attr_int(res, obj, "k", 1, &kk);
                    if (rc == 0 && !cross && ga != gb && La == Lb) {
                        double *diag = strata_malloc((size_t)La * sizeof(double));
                        for (int l = 0; l < La; l++) diag[l] = o[l * Lb + l];
                        snprintf(obj, sizeof obj, "/%s/overlap/%s__%s", mname(ds, A), sname(ds, A), sname(ds, B));
                        rc = write1(res, diag, La, "%s", obj);
                        if (rc == 0) rc = strata_results_attr_int(res, obj, "k", 1, &kk);
                        free(diag);
                    }
                    free(o);
                }
                free(v);
            }
    }
    if (need_knn) strata_knn_free(&knn);

    /* ---- CKA ---- */
    if (cka_pairs.n) {
        int *self = strata_malloc((size_t)ds->n_items * sizeof(int));
        for (int t = 0; t < ds->n_items; t++) self[t] = cka_pairs.index[(int64_t)t * ds->n_items + t];
        double *cb = strata_malloc((size_t)cka_pairs.n * sizeof(double));
        double *cu = strata_malloc((size_t)cka_pairs.n * sizeof(double));
        if (cka_feature) {
            strata_cka_feature(comm, ds, mean, cka_pairs.n, (const int(*)[2])cka_pairs.p, self, cb, cu,
                               &stats->reduce_bytes);
        } else {
            strata_cka_finish(comm, &cka, self, cb, cu, &stats->reduce_bytes);
            strata_cka_free(&cka);
        }
        for (int ga = 0; ga < n_groups && rank == 0; ga++)
            for (int gb = ga; gb < n_groups && rc == 0; gb++) {
                int cross;
                if (!group_pair_wanted(ds, &groups[ga], &groups[gb], metrics, &cross)) continue;
                if (!cross && !(metrics & STRATA_METRIC_CKA)) continue;
                int La = groups[ga].n_layers, Lb = groups[gb].n_layers;
                double *mb = strata_malloc((size_t)La * Lb * sizeof(double));
                double *mu = strata_malloc((size_t)La * Lb * sizeof(double));
                for (int la = 0; la < La; la++)
                    for (int lb = 0; lb < Lb; lb++) {
                        int a = groups[ga].first + la, b = groups[gb].first + lb;
                        int p = cka_pairs.index[(int64_t)a * ds->n_items + b];
                        mb[la * Lb + lb] = cb[p];
                        mu[la * Lb + lb] = cu[p];
                    }
                const group_t *A = &groups[ga], *B = &groups[gb];
                char ob[512], ou[512];
                if (cross) {
                    snprintf(ob, sizeof ob, "/cross/%s__%s/cka/%s", mname(ds, A), mname(ds, B), sname(ds, A));
                    snprintf(ou, sizeof ou, "/cross/%s__%s/cka_unbiased/%s", mname(ds, A), mname(ds, B), sname(ds, A));
                } else {
                    snprintf(ob, sizeof ob, "/%s/cka/%s__%s", mname(ds, A), sname(ds, A), sname(ds, B));
                    snprintf(ou, sizeof ou, "/%s/cka_unbiased/%s__%s", mname(ds, A), sname(ds, A), sname(ds, B));
                }
                rc = write2(res, mb, La, Lb, "%s", ob);
                if (rc == 0) rc = strata_results_attr_string(res, ob, "hsic", "biased");
                if (rc == 0) rc = write2(res, mu, La, Lb, "%s", ou);
                if (rc == 0) rc = strata_results_attr_string(res, ou, "hsic", "unbiased (Song et al. 2012)");
                free(mb);
                free(mu);
            }
        free(self);
        free(cb);
        free(cu);
    }

    /* ---- alignment: retrieval, paired cosines, norms, cosine across layers ---- */
    if (metrics & STRATA_METRIC_ALIGNMENT) {
        for (int ga = 0; ga < n_groups; ga++)
            for (int gb = ga + 1; gb < n_groups; gb++) {
                const group_t *A = &groups[ga], *B = &groups[gb];
                if (A->model != B->model || !same_layers(ds, A, B) ||
                    ds->items[A->first].dim != ds->items[B->first].dim)
                    continue;
                int L = A->n_layers;
                double *out[4];
                for (int e = 0; e < 4; e++) out[e] = strata_calloc((size_t)L + 1, sizeof(double));
                double *cosv = strata_malloc((size_t)ds->n_local * sizeof(double) + 8);
                for (int l = 0; l < L; l++) {
                    int a = A->first + l, b = B->first + l, dim = ds->items[a].dim;
                    const float *xa = ds->data + ds->n_local * ds->col_offset[a];
                    const float *xb = ds->data + ds->n_local * ds->col_offset[b];
                    for (int64_t i = 0; i < ds->n_local; i++)
                        cosv[i] = strata_row_cosine(xa + i * dim, xb + i * dim, dim);
                    double *all = NULL;
                    int64_t n = gather_rows(comm, cosv, ds->n_local, 1, &all);
                    double hits[2] = {0, 0};
                    for (int dir = 0; dir < 2; dir++) {
                        int p = ret_pairs.index[(int64_t)(dir ? b : a) * ds->n_items + (dir ? a : b)];
                        for (int64_t i = 0; i < ds->n_local; i++)
                            hits[dir] += ret.best_idx[(int64_t)p * ds->n_local + i] == ds->row_begin + i;
                    }
                    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, hits, 2, MPI_DOUBLE, MPI_SUM, comm));
                    if (rank == 0) {
                        double s = 0.0;
                        for (int64_t i = 0; i < n; i++) s += all[i];
                        out[0][l] = s / (double)n;
                        out[1][l] = strata_percentile(all, n, 50);
                        out[2][l] = hits[0] / (double)ds->n_total;
                        out[3][l] = hits[1] / (double)ds->n_total;
                    }
                    free(all);
                }
                free(cosv);
                static const char *names[4] = {"cosine_mean", "cosine_median", "retrieval_at_1",
                                               "retrieval_at_1_reverse"};
                for (int e = 0; e < 4 && rank == 0 && rc == 0; e++)
                    rc = write1(res, out[e], L, "/%s/alignment/%s__%s/%s", mname(ds, A), sname(ds, A),
                                sname(ds, B), names[e]);
                for (int e = 0; e < 4; e++) free(out[e]);
            }
        /* norms and cosine between layers l and l + s of the same rows */
        static const int steps[4] = {1, 2, 4, 8};
        for (int g = 0; g < n_groups; g++) {
            const group_t *G = &groups[g];
            int L = G->n_layers, dim = ds->items[G->first].dim;
            double *v = strata_calloc((size_t)L * 5 + 1, sizeof(double)); /* norms, then [L][4] */
            for (int l = 0; l < L; l++) {
                const float *x = ds->data + ds->n_local * ds->col_offset[G->first + l];
                double s = 0.0;
                for (int64_t i = 0; i < ds->n_local; i++) {
                    double q = 0.0;
                    for (int k = 0; k < dim; k++) q += (double)x[i * dim + k] * x[i * dim + k];
                    s += sqrt(q);
                }
                v[l] = s;
                for (int si = 0; si < 4; si++) {
                    int target = -1;
                    for (int m = 0; m < L; m++)
                        if (ds->items[G->first + m].layer == ds->items[G->first + l].layer + steps[si]) target = m;
                    double *slot = &v[L + 4 * l + si];
                    if (target < 0) {
                        *slot = NAN;
                        continue;
                    }
                    const float *y = ds->data + ds->n_local * ds->col_offset[G->first + target];
                    double c = 0.0;
                    for (int64_t i = 0; i < ds->n_local; i++) c += strata_row_cosine(x + i * dim, y + i * dim, dim);
                    *slot = c;
                }
            }
            STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, v, 5 * L, MPI_DOUBLE, MPI_SUM, comm));
            stats->reduce_bytes += 5 * L * 8;
            if (rank == 0 && rc == 0) {
                for (int e = 0; e < 5 * L; e++) v[e] /= (double)ds->n_total;
                rc = write1(res, v, L, "/%s/%s/norms", mname(ds, G), sname(ds, G));
                if (rc == 0) rc = write2(res, v + L, L, 4, "/%s/%s/consecutive_cosine", mname(ds, G), sname(ds, G));
                char obj[512];
                int64_t st[4] = {1, 2, 4, 8};
                snprintf(obj, sizeof obj, "/%s/%s/consecutive_cosine", mname(ds, G), sname(ds, G));
                if (rc == 0) rc = strata_results_attr_int(res, obj, "steps", 4, st);
            }
            free(v);
        }
    }
    if (ret_pairs.n) strata_retrieval_free(&ret);

    /* ---- spectra by TSQR ---- */
    double t_tsqr = strata_now();
    if (metrics & STRATA_METRIC_SPECTRUM) {
        for (int g = 0; g < n_groups; g++) {
            const group_t *G = &groups[g];
            int L = G->n_layers, dim = ds->items[G->first].dim;
            int64_t K2 = ds->n_total < dim ? ds->n_total : dim;
            double *spec = strata_calloc((size_t)(L * K2) + 1, sizeof(double));
            double *ev = strata_calloc((size_t)(L * K2) + 1, sizeof(double));
            double *st = strata_calloc((size_t)L * 3 + 1, sizeof(double));
            double *sv = strata_calloc((size_t)dim + 1, sizeof(double));
            for (int l = 0; l < L; l++) {
                int t = G->first + l;
                const float *x = ds->data + ds->n_local * ds->col_offset[t];
                memset(sv, 0, (size_t)dim * sizeof(double));
                strata_tsqr_singular_values(comm, x, ds->n_local, dim, mean + ds->col_offset[t], sv, stats);
                if (rank != 0) continue;
                memcpy(spec + l * K2, sv, (size_t)K2 * sizeof(double));
                double s2 = 0.0;
                for (int64_t i = 0; i < K2; i++) s2 += sv[i] * sv[i];
                for (int64_t i = 0; i < K2; i++) ev[l * K2 + i] = s2 > 0 ? sv[i] * sv[i] / s2 : 0.0;
                strata_spectrum_stats(sv, (int)K2, &st[l], &st[L + l], &st[2 * L + l]);
            }
            if (rank == 0 && rc == 0) {
                const char *m = mname(ds, G), *s = sname(ds, G);
                rc = write2(res, spec, L, K2, "/%s/%s/spectrum", m, s);
                if (rc == 0) rc = write2(res, ev, L, K2, "/%s/%s/explained_variance", m, s);
                if (rc == 0) rc = write1(res, st, L, "/%s/%s/effective_rank", m, s);
                if (rc == 0) rc = write1(res, st + L, L, "/%s/%s/participation_ratio", m, s);
                if (rc == 0) rc = write1(res, st + 2 * L, L, "/%s/%s/pca_id_90", m, s);
            }
            free(spec);
            free(ev);
            free(st);
            free(sv);
        }
    }
    t_tsqr = strata_now() - t_tsqr;

    if (opt->verbose && cka_pairs.n)
        strata_log0("cka: %d pairs by %s", cka_pairs.n, cka_feature ? "feature-space cross products" : "ring Gram tiles");
    if (opt->verbose) {
        int64_t total_bytes = ds->n_total * cols * 4;
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        strata_log("ring: %lld bytes in %lld messages sent (data %lld bytes, (P-1)/P share %lld); "
                   "tsqr: %lld bytes in %lld messages; allreduce payload %lld bytes; ring %.2f s, "
                   "tsqr %.2f s, total %.2f s (CPU %.2f s); local rows %lld (%.1f MB); peak RSS %.1f MB",
                   (long long)stats->ring_bytes, (long long)stats->ring_messages,
                   (long long)total_bytes, (long long)(total_bytes * (nranks - 1) / nranks),
                   (long long)stats->tsqr_bytes, (long long)stats->tsqr_messages,
                   (long long)stats->reduce_bytes, t_ring, t_tsqr, strata_now() - t_start,
                   ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec),
                   (long long)ds->n_local, ds->n_local * cols * 4 / 1e6, ru.ru_maxrss / 1024.0);
    }
    pairs_free(&cka_pairs);
    pairs_free(&ret_pairs);
    free(dup);
    free(n_dup);
    free(mean);
    free(mean_f);
    free(groups);
    /* a write failure on rank 0 is reported on every rank */
    STRATA_CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, comm));
    if (rc != 0 && rank != 0) strata_error_set("writing the results file failed on rank 0");
    return rc;
}

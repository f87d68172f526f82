/* probe.c — cross-validated ridge probes from distributed normal equations (see probe.h).
 * Relies on MPI (Allreduce of the per-rank sums), OpenBLAS (dsyrk/dgemm on row chunks) and
 * LAPACKE (Cholesky). Reference: scikit-learn's Ridge / RidgeClassifier and GridSearchCV
 * semantics (centre on the training rows, {-1,+1} targets, first best alpha on ties). */
#include "analysis/probe.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strata.h"

/* ---- folds ------------------------------------------------------------------------------ */
/* Seeded Fisher-Yates over idx[0..n). */
static void shuffle(int64_t *idx, int64_t n, uint64_t seed)
{
    uint64_t state = seed;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(strata_splitmix64(&state) % (uint64_t)(i + 1));
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

void strata_probe_folds(const uint8_t *labelled, int64_t n_total, int n_folds, uint64_t seed,
                        int8_t *fold_out)
{
    int64_t *idx = strata_malloc(sizeof(int64_t) * (size_t)(n_total ? n_total : 1)), n = 0;
    for (int64_t i = 0; i < n_total; i++) {
        fold_out[i] = -1;
        if (labelled[i]) idx[n++] = i;
    }
    shuffle(idx, n, seed);
    for (int64_t p = 0; p < n; p++) fold_out[idx[p]] = (int8_t)(p % n_folds);
    free(idx);
}

void strata_probe_inner_folds(const int8_t *fold, int64_t n_total, int k, int n_inner,
                              uint64_t seed, int8_t *inner_out)
{
    int64_t *idx = strata_malloc(sizeof(int64_t) * (size_t)(n_total ? n_total : 1)), n = 0;
    for (int64_t i = 0; i < n_total; i++) {
        inner_out[i] = -1;
        if (fold[i] >= 0 && fold[i] != k) idx[n++] = i;
    }
    shuffle(idx, n, seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(k + 1)));
    for (int64_t p = 0; p < n; p++) inner_out[idx[p]] = (int8_t)(p % n_inner);
    free(idx);
}

/* ---- sufficient statistics of a row set --------------------------------------------------- */
/* For a set S of rows: n, per-class counts (classify), sum x [D], sum y [C], X^T X [D][D]
 * (upper triangle valid), X^T Y [D][C], with Y the raw targets: one-hot class indicators for
 * classification (turned into {-1,+1} targets later, once the classes present are known),
 * or the value for regression (C = 1). */
typedef struct {
    int dim, ncol;
    double *n;     /* [1] number of rows */
    double *count; /* [ncol] rows per class (classify) */
    double *sx;    /* [dim] */
    double *sy;    /* [ncol] */
    double *xx;    /* [dim][dim] */
    double *xy;    /* [dim][ncol] */
} stats;

static size_t stats_len(int dim, int ncol)
{
    return 1 + 2 * (size_t)ncol + (size_t)dim + (size_t)dim * dim + (size_t)dim * ncol;
}

static void stats_init(stats *s, int dim, int ncol, double *mem)
{
    s->dim = dim;
    s->ncol = ncol;
    memset(mem, 0, sizeof(double) * stats_len(dim, ncol));
    s->n = mem;
    s->count = mem + 1;
    s->sy = s->count + ncol;
    s->sx = s->sy + ncol;
    s->xx = s->sx + dim;
    s->xy = s->xx + (size_t)dim * dim;
}
static double *stats_mem(const stats *s) { return s->n; }

/* Row r's target columns (raw): one-hot class or the value. */
static void row_target(const strata_probe_data *d, strata_probe_kind kind, int64_t r, double *y)
{
    if (kind == STRATA_PROBE_REGRESS) {
        y[0] = d->value[r];
        return;
    }
    for (int c = 0; c < d->n_classes; c++) y[c] = 0;
    y[d->class_of[r]] = 1;
}

/* Accumulate the local rows whose global index passes `member`, then allreduce. */
static void stats_collect(MPI_Comm comm, const strata_probe_data *d, strata_probe_kind kind,
                          const int8_t *tag, int8_t want, int8_t exclude, stats *s)
{
    enum { chunk = 512 };
    const int D = d->dim, C = s->ncol;
    double *xb = strata_malloc(sizeof(double) * chunk * (size_t)D); /* [chunk][D] */
    double *yb = strata_malloc(sizeof(double) * chunk * (size_t)C); /* [chunk][C] */
    double *mem = stats_mem(s);
    int m = 0;
    for (int64_t r = 0; r <= d->n_local; r++) {
        int take = 0;
        if (r < d->n_local) {
            int8_t t = tag[d->row_begin + r];
            take = t >= 0 && (want >= 0 ? t == want : t != exclude);
        }
        if (take) {
            for (int j = 0; j < D; j++) xb[(size_t)m * D + j] = d->x[(size_t)r * D + j];
            row_target(d, kind, r, yb + (size_t)m * C);
            m++;
        }
        if (m == chunk || (r == d->n_local && m > 0)) {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, m, 1.0, xb, D, 1.0, s->xx, D);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, C, m, 1.0, xb, D, yb, C, 1.0,
                        s->xy, C);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < D; j++) s->sx[j] += xb[(size_t)i * D + j];
                for (int c = 0; c < C; c++) {
                    s->sy[c] += yb[(size_t)i * C + c];
                    if (kind == STRATA_PROBE_CLASSIFY) s->count[c] += yb[(size_t)i * C + c];
                }
            }
            mem[0] += m;
            m = 0;
        }
    }
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, mem, (int)stats_len(D, C), MPI_DOUBLE, MPI_SUM,
                                   comm));
    free(xb);
    free(yb);
}

/* out = a - b (all fields). */
static void stats_sub(const stats *a, const stats *b, stats *out)
{
    size_t n = stats_len(a->dim, a->ncol);
    const double *pa = stats_mem(a), *pb = stats_mem(b);
    double *po = stats_mem(out);
    for (size_t i = 0; i < n; i++) po[i] = pa[i] - pb[i];
}

/* ---- fitting ------------------------------------------------------------------------------ */
/* A fitted model: predictions are (x - mx) . W + my for the used target columns. */
typedef struct {
    int ncls;        /* classify: number of classes present in training; regress: 1 */
    int cls[128];    /* classify: class index of each present class, ascending */
    int nout;        /* columns of W: 1 for regression or two classes, else ncls */
    double *w;       /* [dim][nout] */
    double *mx;      /* [dim] */
    double my[128];  /* [nout] */
} fit;

static int fit_solve(const stats *tr, strata_probe_kind kind, double alpha, fit *f,
                     double *work /*[dim][dim]*/)
{
    const int D = tr->dim;
    const double n = *tr->n;
    if (n < 2) return strata_error_set("probe: a training set has %.0f labelled rows", n);
    f->ncls = 0;
    if (kind == STRATA_PROBE_CLASSIFY) {
        for (int c = 0; c < tr->ncol; c++)
            if (tr->count[c] > 0 && f->ncls < 128) f->cls[f->ncls++] = c;
        if (f->ncls < 2)
            return strata_error_set("probe: a training set holds a single class");
        f->nout = f->ncls == 2 ? 1 : f->ncls;
    } else {
        f->ncls = 1;
        f->nout = 1;
    }
    for (int j = 0; j < D; j++) f->mx[j] = tr->sx[j] / n;
    /* Targets t: regression y; classification +1 for the column's class, -1 otherwise, so
     * sum t = 2 count - n and X^T t = 2 X^T onehot - sum x. Column o of the output uses class
     * cls[o] (two classes: the second class, as sklearn's LabelBinarizer). */
    double *b = strata_malloc(sizeof(double) * (size_t)D * f->nout); /* [D][nout] */
    for (int o = 0; o < f->nout; o++) {
        int col = kind == STRATA_PROBE_REGRESS ? 0 : f->cls[f->nout == 1 ? 1 : o];
        double st;
        if (kind == STRATA_PROBE_REGRESS) {
            st = tr->sy[0];
        } else {
            st = 2 * tr->count[col] - n;
        }
        f->my[o] = st / n;
        for (int j = 0; j < D; j++) {
            double xtj = kind == STRATA_PROBE_REGRESS ? tr->xy[(size_t)j * tr->ncol]
                                                      : 2 * tr->xy[(size_t)j * tr->ncol + col] - tr->sx[j];
            /* centred: sum (x - mx)(t - mt) = X^T t - n mx mt */
            b[(size_t)j * f->nout + o] = xtj - n * f->mx[j] * f->my[o];
        }
    }
    /* A = X^T X - n mx mx^T + alpha I (upper triangle) */
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++)
            work[(size_t)i * D + j] = tr->xx[(size_t)i * D + j] - n * f->mx[i] * f->mx[j] +
                                      (i == j ? alpha : 0);
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', D, f->nout, work, D, b, f->nout);
    if (info != 0) {
        free(b);
        return strata_error_set("probe: ridge system not positive definite (alpha %g, info %d)",
                                alpha, (int)info);
    }
    memcpy(f->w, b, sizeof(double) * (size_t)D * f->nout);
    free(b);
    return 0;
}

/* Score of a fitted model on the rows tagged `want` (collective). */
static double fit_score(MPI_Comm comm, const strata_probe_data *d, strata_probe_kind kind,
                        const fit *f, const int8_t *tag, int8_t want)
{
    const int D = d->dim;
    double acc[4] = {0, 0, 0, 0}; /* classify: correct, n;  regress: n, sum y, sum y^2, sse */
    double *xc = strata_malloc(sizeof(double) * (size_t)D), out[128];
    for (int64_t r = 0; r < d->n_local; r++) {
        if (tag[d->row_begin + r] != want) continue;
        for (int j = 0; j < D; j++) xc[j] = (double)d->x[(size_t)r * D + j] - f->mx[j];
        for (int o = 0; o < f->nout; o++) {
            double s = f->my[o];
            for (int j = 0; j < D; j++) s += xc[j] * f->w[(size_t)j * f->nout + o];
            out[o] = s;
        }
        if (kind == STRATA_PROBE_CLASSIFY) {
            int pred;
            if (f->nout == 1) {
                pred = f->cls[out[0] > 0 ? 1 : 0];
            } else {
                int best = 0;
                for (int o = 1; o < f->nout; o++)
                    if (out[o] > out[best]) best = o;
                pred = f->cls[best];
            }
            acc[0] += pred == d->class_of[r];
            acc[1] += 1;
        } else {
            double y = d->value[r];
            acc[0] += 1;
            acc[1] += y;
            acc[2] += y * y;
            acc[3] += (y - out[0]) * (y - out[0]);
        }
    }
    free(xc);
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, acc, 4, MPI_DOUBLE, MPI_SUM, comm));
    if (kind == STRATA_PROBE_CLASSIFY) return acc[1] > 0 ? acc[0] / acc[1] : NAN;
    double n = acc[0];
    if (n < 1) return NAN;
    double ss_tot = acc[2] - acc[1] * acc[1] / n;
    /* sklearn's r2_score with force_finite: constant targets give 1 (perfect) or 0 */
    if (ss_tot <= 0) return acc[3] == 0 ? 1.0 : 0.0;
    return 1.0 - acc[3] / ss_tot;
}

int strata_probe_run(MPI_Comm comm, const strata_probe_data *d, const strata_probe_options *opt,
                     strata_probe_result *res)
{
    memset(res, 0, sizeof *res);
    const int K = opt->n_folds, KI = opt->n_inner_folds, D = d->dim;
    if (K < 2 || K > 100 || (opt->n_alphas > 1 && (KI < 2 || KI > 100)))
        return strata_error_set("probe: folds must be in 2..100 (got %d outer, %d inner)", K, KI);
    if (opt->n_alphas < 1) return strata_error_set("probe: empty alpha grid");
    for (int a = 0; a < opt->n_alphas; a++)
        if (!(opt->alphas[a] > 0))
            return strata_error_set("probe: alpha must be > 0 (got %g)", opt->alphas[a]);
    if (opt->kind == STRATA_PROBE_CLASSIFY && (d->n_classes < 2 || d->n_classes > 128))
        return strata_error_set("probe: %d classes (need 2..128)", d->n_classes);
    const int C = opt->kind == STRATA_PROBE_CLASSIFY ? d->n_classes : 1;

    /* Which rows have a label, globally (every rank builds the same folds). */
    int nranks;
    MPI_Comm_size(comm, &nranks);
    uint8_t *lab_local = strata_malloc((size_t)d->n_local + 1);
    for (int64_t r = 0; r < d->n_local; r++)
        lab_local[r] = opt->kind == STRATA_PROBE_CLASSIFY
                           ? (d->class_of[r] >= 0 && d->class_of[r] < d->n_classes)
                           : !isnan(d->value[r]);
    uint8_t *labelled = strata_calloc((size_t)d->n_total + 1, 1);
    memcpy(labelled + d->row_begin, lab_local, (size_t)d->n_local);
    STRATA_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, labelled, (int)d->n_total, MPI_UINT8_T, MPI_MAX,
                                   comm));
    int8_t *fold = strata_malloc((size_t)d->n_total + 1);
    int8_t *inner = strata_malloc((size_t)d->n_total + 1);
    strata_probe_folds(labelled, d->n_total, K, opt->seed, fold);
    for (int64_t i = 0; i < d->n_total; i++) res->n_used += labelled[i];
    free(lab_local);
    free(labelled);

    size_t slen = stats_len(D, C);
    double *mem = strata_malloc(sizeof(double) * slen * 4);
    stats all, held, train, sub;
    stats_init(&all, D, C, mem);
    stats_init(&held, D, C, mem + slen);
    stats_init(&train, D, C, mem + 2 * slen);
    stats_init(&sub, D, C, mem + 3 * slen);
    double *work = strata_malloc(sizeof(double) * (size_t)D * D);
    fit f = {.w = strata_malloc(sizeof(double) * (size_t)D * 128),
             .mx = strata_malloc(sizeof(double) * (size_t)D)};
    double *inner_score = strata_malloc(sizeof(double) * (size_t)opt->n_alphas);
    res->fold_score = strata_calloc((size_t)K, sizeof(double));
    res->fold_alpha = strata_calloc((size_t)K, sizeof(double));
    int rc = 0;

    stats_collect(comm, d, opt->kind, fold, -1, -1, &all); /* every labelled row */
    for (int k = 0; k < K && rc == 0; k++) {
        stats_init(&held, D, C, stats_mem(&held));
        stats_collect(comm, d, opt->kind, fold, (int8_t)k, -1, &held);
        stats_sub(&all, &held, &train);
        double alpha = opt->alphas[0];
        if (opt->n_alphas > 1) {
            /* inner CV on the training rows: mean score per alpha, first best wins */
            strata_probe_inner_folds(fold, d->n_total, k, KI, opt->seed, inner);
            for (int a = 0; a < opt->n_alphas; a++) inner_score[a] = 0;
            for (int j = 0; j < KI && rc == 0; j++) {
                stats_init(&held, D, C, stats_mem(&held));
                stats_collect(comm, d, opt->kind, inner, (int8_t)j, -1, &held);
                stats_sub(&train, &held, &sub);
                for (int a = 0; a < opt->n_alphas && rc == 0; a++) {
                    rc = fit_solve(&sub, opt->kind, opt->alphas[a], &f, work);
                    if (rc == 0)
                        inner_score[a] += fit_score(comm, d, opt->kind, &f, inner, (int8_t)j);
                }
            }
            int best = 0;
            for (int a = 0; a < opt->n_alphas; a++) {
                inner_score[a] /= KI;
                if (inner_score[a] > inner_score[best]) best = a;
            }
            alpha = opt->alphas[best];
        }
        if (rc == 0) rc = fit_solve(&train, opt->kind, alpha, &f, work);
        if (rc == 0) {
            res->fold_score[k] = fit_score(comm, d, opt->kind, &f, fold, (int8_t)k);
            res->fold_alpha[k] = alpha;
        }
    }
    if (rc == 0) {
        double m = 0, v = 0;
        for (int k = 0; k < K; k++) m += res->fold_score[k];
        m /= K;
        for (int k = 0; k < K; k++) v += (res->fold_score[k] - m) * (res->fold_score[k] - m);
        res->score_mean = m;
        res->score_std = sqrt(v / K);
    }
    free(mem);
    free(work);
    free(f.w);
    free(f.mx);
    free(inner_score);
    free(fold);
    free(inner);
    if (rc != 0) strata_probe_result_free(res);
    return rc;
}

void strata_probe_result_free(strata_probe_result *res)
{
    free(res->fold_score);
    free(res->fold_alpha);
    res->fold_score = res->fold_alpha = NULL;
}

/* figures_collect.c — which datasets of a results file make which figure (the layout of
 * io/results.h: /<model>/<stream>/..., /<model>/cka|cka_unbiased|overlap|overlap_matrix|
 * alignment/<A>__<B>, /cross/<mA>__<mB>/cka|cka_unbiased|overlap/<stream>).
 * Reads by walking the groups; a figure whose data is absent is skipped and listed, never drawn
 * empty. Colours follow models and dash types follow streams, the same in every figure. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/figures_model.h"
#include "strata.h"

char *fig_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = strata_malloc((size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Names from the file become file names: keep [A-Za-z0-9_.-]. (Labels are made printable
 * where they are written, in figures_write.c.) */
static char *safe_stem(const char *s)
{
    char *out = strata_strdup(s);
    for (char *p = out; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (!ok) *p = '-';
    }
    return out;
}

static void add_skip(struct fig_list *out, char *why /* owned */)
{
    out->skipped = strata_realloc(out->skipped, (size_t)(out->n_skipped + 1) * sizeof(char *));
    out->skipped[out->n_skipped++] = why; /* logged by the driver, for selected figures */
}

/* The pointer is valid until the next add_figure. */
static struct figure *add_figure(struct fig_list *out, char *name, char *title, char *shows,
                                 int kind)
{
    out->figs = strata_realloc(out->figs, (size_t)(out->n + 1) * sizeof(struct figure));
    struct figure *f = &out->figs[out->n++];
    memset(f, 0, sizeof *f);
    f->name = safe_stem(name);
    free(name);
    f->title = title;
    f->shows = shows;
    f->kind = kind;
    return f;
}

static struct fig_panel *add_panel(struct figure *f, const char *title, const char *ylabel)
{
    f->panels = strata_realloc(f->panels, (size_t)(f->n_panels + 1) * sizeof(struct fig_panel));
    struct fig_panel *p = &f->panels[f->n_panels++];
    memset(p, 0, sizeof *p);
    p->title = strata_strdup(title);
    p->ylabel = strata_strdup(ylabel);
    p->ymin = p->ymax = NAN;
    return p;
}

static void series_free(struct fig_series *s)
{
    free(s->label);
    free(s->layer);
    free(s->y);
    free(s->lo);
    free(s->hi);
    free(s->src_layer);
    free(s->src_y);
    free(s->src_lo);
    free(s->src_hi);
}

static void figure_free(struct figure *f)
{
    for (int p = 0; p < f->n_panels; p++) {
        for (int s = 0; s < f->panels[p].n_series; s++) series_free(&f->panels[p].series[s]);
        free(f->panels[p].series);
        free(f->panels[p].title);
        free(f->panels[p].ylabel);
    }
    free(f->panels);
    for (int p = 0; f->scaling && p < f->n_panels; p++) {
        free(f->scaling[p].value);
        free(f->scaling[p].x);
        free(f->scaling[p].layer);
        free(f->scaling[p].src);
        free(f->scaling[p].src_x);
        free(f->scaling[p].src_layer);
    }
    free(f->scaling);
    struct fig_heatmap *h = &f->heat;
    free(h->value);
    free(h->row_layer);
    free(h->col_layer);
    free(h->src);
    free(h->src_row_layer);
    free(h->src_col_layer);
    free(h->row_label);
    free(h->col_label);
    free(h->cb_label);
    free(f->name);
    free(f->title);
    free(f->shows);
}

void fig_list_free(struct fig_list *list)
{
    for (int i = 0; i < list->n; i++) figure_free(&list->figs[i]);
    free(list->figs);
    for (int i = 0; i < list->n_skipped; i++) free(list->skipped[i]);
    free(list->skipped);
    memset(list, 0, sizeof *list);
}

/* L of normalised depth (layer / L) for rows of `layers` [n] in the stream group `owner`: its
 * attribute num_layers (the tower's layer count, written by analyze from the model config),
 * else the largest layer drawn (at least 1). */
static double depth_of(hid_t file, const char *owner, const double *layers, size_t n)
{
    double l = 0;
    if (owner && fig_h5_attr_double(file, owner, "num_layers", &l) == 1 && l >= 1) return l;
    l = 0;
    for (size_t i = 0; i < n; i++) l = fmax(l, layers[i]);
    return l > 0 ? l : 1;
}

/* Layer indices of n rows: attribute "layers" on the dataset, else on owner (the stream group),
 * else the row index. Returns 1, or -1 when an attribute is there but does not fit. */
static int load_layers(hid_t file, const char *path, const char *owner, size_t n, double **layers,
                       char **src)
{
    const char *where[2] = {path, owner};
    *src = NULL;
    for (int w = 0; w < 2; w++) {
        if (!where[w]) continue;
        int rc = fig_h5_attr_array(file, where[w], "layers", n, layers);
        if (rc < 0) return -1;
        if (rc == 1) {
            *src = fig_printf("%s@layers", where[w]);
            return 1;
        }
    }
    *layers = strata_malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) (*layers)[i] = (double)i;
    return 1;
}

/* An interval [n, 2] beside an estimate (PATH_interval, id/<estimator>_interval in results.h),
 * when the results have one. */
static void add_interval(hid_t file, struct fig_list *out, const char *fig_name, const char *path,
                         struct fig_series *s)
{
    char ipath[1100];
    snprintf(ipath, sizeof ipath, "%s_interval", path);
    double *interval = NULL;
    size_t idims[2];
    int rc = fig_h5_read(file, ipath, 2, idims, &interval);
    if (rc == 1 && idims[0] == s->n && idims[1] == 2) {
        s->lo = strata_malloc(s->n * sizeof(double));
        s->hi = strata_malloc(s->n * sizeof(double));
        for (size_t i = 0; i < s->n; i++) {
            s->lo[i] = interval[2 * i];
            s->hi[i] = interval[2 * i + 1];
        }
        s->src_lo = fig_printf("%s[:,0]", ipath);
        s->src_hi = fig_printf("%s[:,1]", ipath);
    } else if (rc == 1 || rc < 0) {
        add_skip(out, fig_printf("%s: interval %s is not [%zu, 2]; drawn without it", fig_name,
                                 ipath, s->n));
    }
    free(interval);
}

/* Reads the first of the '|'-separated candidate paths (relative to base) that exists into a
 * new series of panel p: a 1-D dataset (column < 0) or one column of a 2-D one. Returns 1 added,
 * 0 absent, -1 unusable (skip noted). */
static int add_series(hid_t file, struct fig_list *out, struct fig_panel *p, const char *fig_name,
                      const char *base, const char *candidates, const char *owner,
                      char *label /* owned */, int colour, int dash, int column)
{
    char path[1024] = "";
    char list[256];
    snprintf(list, sizeof list, "%s", candidates);
    for (char *save = NULL, *tok = strtok_r(list, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
        snprintf(path, sizeof path, "%s/%s", base, tok);
        if (fig_h5_exists(file, path)) break;
        path[0] = '\0';
    }
    if (!path[0]) {
        free(label);
        return 0;
    }
    struct fig_series s = {0};
    size_t dims[2];
    int rc = fig_h5_read(file, path, column < 0 ? 1 : 2, dims, &s.y);
    if (rc == 1 && column >= 0 && (size_t)column >= dims[1])
        rc = strata_error_set("%s has %zu columns, expected at least %d", path, dims[1], column + 1);
    if (rc == 1 && column >= 0) { /* keep column `column` of [n, dims[1]] */
        for (size_t i = 0; i < dims[0]; i++) s.y[i] = s.y[i * dims[1] + (size_t)column];
    }
    if (rc == 1) rc = load_layers(file, path, owner, dims[0], &s.layer, &s.src_layer);
    size_t finite = 0;
    for (size_t i = 0; rc == 1 && i < dims[0]; i++) finite += isfinite(s.y[i]) != 0;
    if (rc == 1 && finite == 0) { /* e.g. cosine at l + s where l + s is never analysed */
        char where[32] = "";
        if (column >= 0) snprintf(where, sizeof where, "[:,%d]", column);
        rc = strata_error_set("%s%s has no finite value; line left out", path, where);
    }
    if (rc != 1) {
        add_skip(out, fig_printf("%s: %s", fig_name, strata_error_get()));
        free(label);
        series_free(&s);
        return -1;
    }
    s.n = dims[0];
    s.label = label;
    s.colour = colour;
    s.dash = dash;
    s.src_y = column < 0 ? strata_strdup(path) : fig_printf("%s[:,%d]", path, column);
    s.depth_l = depth_of(file, owner, s.layer, s.n);
    if (column < 0) add_interval(file, out, fig_name, path, &s);
    p->series = strata_realloc(p->series, (size_t)(p->n_series + 1) * sizeof(struct fig_series));
    p->series[p->n_series++] = s;
    return 1;
}

/* Drops empty panels, then the figure itself if nothing is left (noting why). */
static void prune_figure(struct fig_list *out, const char *why)
{
    struct figure *f = &out->figs[out->n - 1];
    int kept = 0;
    for (int p = 0; p < f->n_panels; p++) {
        if (f->panels[p].n_series > 0) {
            f->panels[kept++] = f->panels[p];
        } else {
            free(f->panels[p].series);
            free(f->panels[p].title);
            free(f->panels[p].ylabel);
        }
    }
    f->n_panels = kept;
    if (kept == 0) {
        char *note = fig_printf("%s: %s", f->name, why);
        figure_free(f);
        out->n--;
        add_skip(out, note);
    }
}


/* ---- what the file holds ----------------------------------------------------------------- */
struct catalog {
    char **models;  /* top-level groups except /cross (NULL-terminated) */
    char **labels;  /* [n_models] legend names: attribute model_name, else the group name */
    int n_models;
    char **streams; /* stream names over all models, image and caption first */
    int n_streams;
};

/* Groups under /<model> that are not a stream: pairs of streams, and the caption NLL. */
static int is_pair_group(const char *name)
{
    static const char *pair_groups[] = {"cka", "cka_unbiased", "overlap", "overlap_matrix",
                                        "alignment", "nll"};
    for (int i = 0; i < (int)(sizeof pair_groups / sizeof pair_groups[0]); i++)
        if (strcmp(name, pair_groups[i]) == 0) return 1;
    return 0;
}

static int stream_rank(const char *name)
{
    static const char *known[] = {"image", "caption", "image_last", "caption_last", "vision",
                                  "connector"};
    for (int i = 0; i < (int)(sizeof known / sizeof known[0]); i++)
        if (strcmp(name, known[i]) == 0) return i;
    return 100;
}

static int compare_streams(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = stream_rank(x), ry = stream_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

static void catalog_build(hid_t file, struct catalog *c)
{
    char **top = NULL;
    int n_top = fig_h5_children(file, "/", 1, &top);
    c->models = strata_calloc((size_t)n_top + 1, sizeof(char *));
    c->labels = strata_calloc((size_t)n_top + 1, sizeof(char *));
    c->streams = strata_calloc(1, sizeof(char *));
    for (int i = 0; i < n_top; i++) {
        if (strcmp(top[i], "cross") == 0) continue;
        char base[600], label[512];
        snprintf(base, sizeof base, "/%s", top[i]);
        if (fig_h5_attr_string(file, base, "model_name", label, sizeof label) != 1 || !label[0])
            snprintf(label, sizeof label, "%s", top[i]);
        c->labels[c->n_models] = strata_strdup(label);
        c->models[c->n_models++] = strata_strdup(top[i]);
        char **streams = NULL;
        int n = fig_h5_children(file, base, 1, &streams);
        for (int s = 0; s < n; s++) {
            if (is_pair_group(streams[s])) continue;
            int seen = 0;
            for (int k = 0; k < c->n_streams; k++) seen |= strcmp(c->streams[k], streams[s]) == 0;
            if (seen) continue;
            c->streams = strata_realloc(c->streams, (size_t)(c->n_streams + 2) * sizeof(char *));
            c->streams[c->n_streams++] = strata_strdup(streams[s]);
            c->streams[c->n_streams] = NULL;
        }
        fig_free_names(streams);
    }
    qsort(c->streams, (size_t)c->n_streams, sizeof(char *), compare_streams);
    fig_free_names(top);
    /* Two archives of the same model (analyze names the groups synthetic, synthetic_b): their
     * model_name is the same, so the legends use the (unique) group names. */
    for (int m = 0; m < c->n_models; m++)
        for (int k = 0; k < c->n_models; k++)
            if (k != m && strcmp(c->labels[m], c->labels[k]) == 0) {
                free(c->labels[m]);
                c->labels[m] = strata_strdup(c->models[m]);
                break;
            }
}

static void catalog_free(struct catalog *c)
{
    fig_free_names(c->models);
    fig_free_names(c->labels);
    fig_free_names(c->streams);
}

static int model_index(const struct catalog *c, const char *name)
{
    for (int m = 0; m < c->n_models; m++)
        if (strcmp(c->models[m], name) == 0) return m;
    return -1;
}

/* "A__B" -> A and B. Names may hold "__" themselves: prefer the split where both halves are
 * known models (want_models) or streams; else the first "__"; both A without one. */
static void split_pair(const struct catalog *c, int want_models, const char *pair, char *a,
                       char *b, size_t size)
{
    const char *split = NULL;
    for (const char *sep = strstr(pair, "__"); sep; sep = strstr(sep + 1, "__")) {
        if (!split) split = sep;
        char left[512];
        snprintf(left, sizeof left, "%.*s", (int)(sep - pair), pair);
        int known = 0;
        if (want_models) {
            known = model_index(c, left) >= 0 && model_index(c, sep + 2) >= 0;
        } else {
            for (int i = 0; i < c->n_streams; i++)
                for (int k = 0; k < c->n_streams; k++)
                    known |= strcmp(c->streams[i], left) == 0 && strcmp(c->streams[k], sep + 2) == 0;
        }
        if (known) {
            split = sep;
            break;
        }
    }
    if (!split) {
        snprintf(a, size, "%s", pair);
        snprintf(b, size, "%s", pair);
        return;
    }
    snprintf(a, size, "%.*s", (int)(split - pair), pair);
    snprintf(b, size, "%s", split + 2);
}

/* ---- line figures over normalised depth -------------------------------------------------- */
struct metric {
    const char *candidates; /* '|'-separated paths relative to /<model>/<stream> */
    const char *title, *ylabel;
    double ymin, ymax;
    int logy;
    int column;             /* column of a 2-D dataset, -1 for 1-D */
};

/* One panel per metric, one line per model and stream. Colour follows the model (the stream
 * when there is only one model, so that image and caption differ by more than a dash). */
static void stream_metric_figure(hid_t file, const struct catalog *c, struct fig_list *out,
                                 const char *name, const char *title, const char *shows,
                                 const struct metric *metrics, int n_metrics, const char *why)
{
    struct figure *f = add_figure(out, strata_strdup(name), strata_strdup(title),
                                  strata_strdup(shows), FIG_LINES);
    for (int k = 0; k < n_metrics; k++) {
        struct fig_panel *p = add_panel(f, metrics[k].title, metrics[k].ylabel);
        p->ymin = metrics[k].ymin;
        p->ymax = metrics[k].ymax;
        p->logy = metrics[k].logy;
        for (int m = 0; m < c->n_models; m++)
            for (int s = 0; s < c->n_streams; s++) {
                char base[1100];
                snprintf(base, sizeof base, "/%s/%s", c->models[m], c->streams[s]);
                add_series(file, out, p, f->name, base, metrics[k].candidates, base,
                           fig_printf("%s · %s", c->labels[m], c->streams[s]),
                           c->n_models > 1 ? m : s, s,
                           metrics[k].column);
            }
    }
    prune_figure(out, why);
}

/* Linear probes (strata analyze --probe): one panel per label, a line per model and stream. */
static void probe_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    char *labels[64];
    int n = 0;
    for (int m = 0; m < c->n_models; m++)
        for (int s = 0; s < c->n_streams; s++) {
            char base[1100];
            snprintf(base, sizeof base, "/%s/%s/probe", c->models[m], c->streams[s]);
            char **names = NULL;
            int k = fig_h5_children(file, base, 1, &names);
            for (int i = 0; i < k; i++) {
                int seen = 0;
                for (int j = 0; j < n; j++) seen |= strcmp(labels[j], names[i]) == 0;
                if (!seen && n < 64) labels[n++] = strata_strdup(names[i]);
            }
            fig_free_names(names);
        }
    struct metric metrics[64];
    for (int i = 0; i < n; i++)
        metrics[i] = (struct metric){fig_printf("probe/%s/score", labels[i]),
                                     fig_printf("probe: %s", labels[i]),
                                     "accuracy or R²", NAN, NAN, 0, -1};
    if (n > 0)
        stream_metric_figure(file, c, out, "probe", "Linear probes vs depth",
                             "cross-validated ridge probe score per layer for each manifest label "
                             "(accuracy for class labels, R² for numbers), one line per model and "
                             "stream",
                             metrics, n, "no /<model>/<stream>/probe/<label>/score dataset");
    else
        add_skip(out, strata_strdup("probe: no /<model>/<stream>/probe/<label>/score dataset "
                                    "(strata analyze --probe)"));
    for (int i = 0; i < n; i++) {
        free(labels[i]);
        free((char *)metrics[i].candidates);
        free((char *)metrics[i].title);
    }
}

/* ---- per-archive scalars: the caption NLL --------------------------------------------------- */
/* A [want] dataset (1 read, 0 absent, -1 another shape: noted as skipped). */
static int read_exact(hid_t file, struct fig_list *out, const char *path, size_t want,
                      double *values)
{
    double *data = NULL;
    size_t dims[2];
    int rc = fig_h5_read(file, path, 1, dims, &data);
    if (rc == 1 && dims[0] != want) rc = -1;
    if (rc == 1) memcpy(values, data, want * sizeof(double));
    if (rc < 0) add_skip(out, fig_printf("nll: %s is not a [%zu] dataset; left out", path, want));
    free(data);
    return rc;
}

/* A point at x = category on panel p: value from src (a [1] dataset, or "PATH@attr"), with the
 * interval [2] dataset iv_src when it is there. */
static void add_point(hid_t file, struct fig_list *out, struct fig_panel *p, const char *src,
                      const char *iv_src, const char *label, int colour, int category)
{
    double y, iv[2];
    const char *at = strchr(src, '@');
    int rc;
    if (at) {
        char obj[1100];
        snprintf(obj, sizeof obj, "%.*s", (int)(at - src), src);
        rc = fig_h5_attr_double(file, obj, at + 1, &y);
        if (rc < 0) add_skip(out, fig_printf("nll: attribute %s is not a number; left out", src));
    } else {
        rc = read_exact(file, out, src, 1, &y);
    }
    if (rc != 1) return;
    p->series = strata_realloc(p->series, (size_t)(p->n_series + 1) * sizeof(struct fig_series));
    struct fig_series *s = &p->series[p->n_series++];
    memset(s, 0, sizeof *s);
    s->label = strata_strdup(label);
    s->colour = colour;
    s->n = 1;
    s->layer = strata_malloc(sizeof(double));
    s->layer[0] = category;
    s->depth_l = 1;
    s->y = strata_malloc(sizeof(double));
    s->y[0] = y;
    s->src_y = strata_strdup(src);
    if (iv_src && read_exact(file, out, iv_src, 2, iv) == 1) {
        s->lo = strata_malloc(sizeof(double));
        s->hi = strata_malloc(sizeof(double));
        s->lo[0] = iv[0];
        s->hi[0] = iv[1];
        s->src_lo = fig_printf("%s[0]", iv_src);
        s->src_hi = fig_printf("%s[1]", iv_src);
    }
}

/* Caption NLL (strata analyze on archives of `extract --nll`, analysis/nll.h): one point per
 * archive (model group), labelled with its model and interventions; panels: the mean NLL, its
 * paired change from --nll-baseline, and the FLOPs per sample the interventions save
 * (extract's estimate). Intervals are the bootstrap ones, when analyze had --bootstrap. */
static void nll_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    struct figure *f = add_figure(out, strata_strdup("nll"),
                                  strata_strdup("Caption NLL under interventions"),
                                  strata_strdup("teacher-forced caption NLL given the image and "
                                                "prompt per archive (one point per model and "
                                                "intervention), its paired change from the "
                                                "baseline archive and the FLOPs per sample the "
                                                "intervention saves (an estimate); whiskers: "
                                                "bootstrap 95% intervals"),
                                  FIG_POINTS);
    add_panel(f, "mean caption NLL", "NLL (nats)");
    add_panel(f, "change from the baseline", "ΔNLL (nats)");
    add_panel(f, "FLOPs saved per sample (estimate)", "FLOPs");
    f->panels[1].zero_line = 1;
    f->panels[2].ymin = 0;
    int category = 0;
    for (int m = 0; m < c->n_models; m++) {
        char base[1100];
        snprintf(base, sizeof base, "/%s/nll", c->models[m]);
        if (!fig_h5_exists(file, base)) continue;
        char interventions[1024];
        if (fig_h5_attr_string(file, base, "interventions", interventions, sizeof interventions) != 1)
            interventions[0] = '\0';
        char *label = fig_printf("%s · %s", c->labels[m],
                                 interventions[0] ? interventions : "no intervention");
        char *src = fig_printf("%s/mean", base), *iv = fig_printf("%s/mean_interval", base);
        int before = f->panels[0].n_series;
        add_point(file, out, &f->panels[0], src, iv, label, m, category);
        free(src);
        free(iv);
        if (f->panels[0].n_series == before) { /* no mean: nothing else of this archive */
            free(label);
            continue;
        }
        /* absent ones add nothing (no --nll-baseline, an archive without the estimate) */
        src = fig_printf("%s/delta_mean", base);
        iv = fig_printf("%s/delta_interval", base);
        add_point(file, out, &f->panels[1], src, iv, label, m, category);
        free(src);
        free(iv);
        src = fig_printf("%s@flops_saved_per_sample", base);
        add_point(file, out, &f->panels[2], src, NULL, label, m, category);
        free(src);
        free(label);
        category++;
    }
    if (category > 0 && f->panels[1].n_series == 0)
        add_skip(out, strata_strdup("nll: no /<model>/nll/delta_mean (strata analyze "
                                    "--nll-baseline); the change panel is left out"));
    prune_figure(out, "no /<model>/nll/mean dataset (strata extract --nll, then strata analyze)");
}

static int estimator_rank(const char *est)
{
    static const char *order[] = {"twonn", "mle", "mle_mean", "gride"};
    for (int i = 0; i < 4; i++)
        if (strcmp(est, order[i]) == 0) return i;
    return 4;
}

static int compare_estimators(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int rx = estimator_rank(x), ry = estimator_rank(y);
    return rx != ry ? rx - ry : strcmp(x, y);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* An id/ dataset that is an estimate per layer: not an interval, a count or the GRIDE scaling. */
static int is_estimator(const char *name)
{
    return !ends_with(name, "_interval") && strncmp(name, "n_", 2) != 0 &&
           strncmp(name, "gride_scaling", 13) != 0;
}

/* Panel title with the estimator's parameter, read from the first dataset that has it. */
static char *estimator_title(hid_t file, const struct catalog *c, const char *est)
{
    for (int m = 0; m < c->n_models; m++)
        for (int s = 0; s < c->n_streams; s++) {
            char path[1100];
            double v;
            snprintf(path, sizeof path, "/%s/%s/id/%s", c->models[m], c->streams[s], est);
            if (strcmp(est, "twonn") == 0 && fig_h5_attr_double(file, path, "fraction", &v) == 1)
                return fig_printf("TwoNN (fraction %g)", v);
            if (strcmp(est, "mle") == 0 && fig_h5_attr_double(file, path, "k", &v) == 1)
                return fig_printf("MLE, Levina-Bickel (k = %g)", v);
            if (strcmp(est, "mle_mean") == 0 && fig_h5_attr_double(file, path, "k", &v) == 1)
                return fig_printf("MLE, arithmetic mean (k = %g)", v);
            if (strcmp(est, "gride") == 0 && fig_h5_attr_double(file, path, "n1", &v) == 1)
                return fig_printf("GRIDE (n1 = %g)", v);
        }
    if (strcmp(est, "twonn") == 0) return strata_strdup("TwoNN");
    if (strcmp(est, "mle") == 0) return strata_strdup("MLE, Levina-Bickel");
    if (strcmp(est, "gride") == 0) return strata_strdup("GRIDE");
    return strata_strdup(est);
}

static void intrinsic_dimension_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    /* Estimators: every estimate dataset under any /<model>/<stream>/id. */
    char **estimators = strata_calloc(1, sizeof(char *));
    int n_est = 0;
    for (int m = 0; m < c->n_models; m++)
        for (int s = 0; s < c->n_streams; s++) {
            char path[1100];
            snprintf(path, sizeof path, "/%s/%s/id", c->models[m], c->streams[s]);
            char **names = NULL;
            int n = fig_h5_children(file, path, 0, &names);
            for (int i = 0; i < n; i++) {
                if (!is_estimator(names[i])) continue;
                int seen = 0;
                for (int k = 0; k < n_est; k++) seen |= strcmp(estimators[k], names[i]) == 0;
                if (seen) continue;
                estimators = strata_realloc(estimators, (size_t)(n_est + 2) * sizeof(char *));
                estimators[n_est++] = strata_strdup(names[i]);
                estimators[n_est] = NULL;
            }
            fig_free_names(names);
        }
    qsort(estimators, (size_t)n_est, sizeof(char *), compare_estimators);
    struct metric *metrics = strata_calloc((size_t)n_est + 1, sizeof(struct metric));
    char **paths = strata_calloc((size_t)n_est + 1, sizeof(char *));
    char **titles = strata_calloc((size_t)n_est + 1, sizeof(char *));
    for (int k = 0; k < n_est; k++) {
        paths[k] = fig_printf("id/%s", estimators[k]);
        titles[k] = estimator_title(file, c, estimators[k]);
        metrics[k] = (struct metric){paths[k], titles[k], "intrinsic dimension", NAN, NAN, 0, -1};
    }
    stream_metric_figure(file, c, out, "intrinsic_dimension", "Intrinsic dimension vs depth",
                         "intrinsic dimension per layer over normalised depth, one panel per "
                         "estimator, one line per model and stream; shaded: bootstrap interval",
                         metrics, n_est, "no /<model>/<stream>/id/<estimator> dataset");
    fig_free_names(titles);
    fig_free_names(paths);
    fig_free_names(estimators);
    free(metrics);
}

static void overlap_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    struct figure *f = add_figure(out, strata_strdup("overlap"),
                                  strata_strdup("Neighbourhood overlap vs depth"),
                                  strata_strdup("fraction of the k nearest neighbours two streams "
                                                "share at the same layer, all models"),
                                  FIG_LINES);
    struct fig_panel *p = add_panel(f, "", "neighbourhood overlap");
    p->ymin = 0;
    p->ymax = 1;
    double k_neighbours = NAN;
    for (int m = 0; m < c->n_models; m++) {
        char base[600];
        snprintf(base, sizeof base, "/%s/overlap", c->models[m]);
        char **pairs = NULL;
        int n = fig_h5_children(file, base, 0, &pairs);
        for (int i = 0; i < n; i++) {
            char a[256], b[256], owner[1100], path[1100];
            split_pair(c, 0, pairs[i], a, b, sizeof a);
            snprintf(owner, sizeof owner, "/%s/%s", c->models[m], a);
            snprintf(path, sizeof path, "%s/%s", base, pairs[i]);
            double k;
            if (fig_h5_attr_double(file, path, "k", &k) == 1) k_neighbours = k;
            add_series(file, out, p, f->name, base, pairs[i], owner,
                       fig_printf("%s · %s vs %s", c->labels[m], a, b), m, i, -1);
        }
        fig_free_names(pairs);
    }
    if (isfinite(k_neighbours)) {
        free(p->ylabel);
        p->ylabel = fig_printf("neighbourhood overlap (k = %g)", k_neighbours);
    }
    prune_figure(out, "no /<model>/overlap/<A>__<B> dataset");
}

static void alignment_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    struct figure *f = add_figure(out, strata_strdup("alignment"),
                                  strata_strdup("Alignment of paired streams vs depth"),
                                  strata_strdup("cosine between the paired image and caption "
                                                "representations (mean solid, median dashed) and "
                                                "retrieval@1 per layer (image to caption solid, "
                                                "caption to image dashed)"),
                                  FIG_LINES);
    for (int panel = 0; panel < 2; panel++) {
        struct fig_panel *p =
            add_panel(f, panel == 0 ? "cosine (dashed: median)"
                                    : "retrieval@1 (A → B; dashed: B → A)",
                      panel == 0 ? "cosine similarity" : "retrieval@1");
        if (panel == 1) {
            p->ymin = 0;
            p->ymax = 1;
        }
        for (int m = 0; m < c->n_models; m++) {
            char group[600];
            snprintf(group, sizeof group, "/%s/alignment", c->models[m]);
            char **pairs = NULL;
            int n = fig_h5_children(file, group, 1, &pairs);
            for (int i = 0; i < n; i++) {
                char a[256], b[256], owner[1100], base[1100];
                split_pair(c, 0, pairs[i], a, b, sizeof a);
                snprintf(owner, sizeof owner, "/%s/%s", c->models[m], a);
                snprintf(base, sizeof base, "%s/%s", group, pairs[i]);
                /* Colour by model, dash by statistic (median, reverse retrieval: dashed, as
                 * the panel titles say; one legend entry per model and pair). Several pairs of
                 * a model cycle dashes. */
                if (panel == 0) {
                    add_series(file, out, p, f->name, base, "cosine_mean", owner,
                               fig_printf("%s · %s/%s", c->labels[m], a, b), m, 2 * i, -1);
                    add_series(file, out, p, f->name, base, "cosine_median", owner,
                               fig_printf("%s · %s/%s", c->labels[m], a, b), m, 2 * i + 1,
                               -1);
                } else {
                    add_series(file, out, p, f->name, base, "retrieval_at_1", owner,
                               fig_printf("%s · %s/%s", c->labels[m], a, b), m, 2 * i, -1);
                    add_series(file, out, p, f->name, base, "retrieval_at_1_reverse", owner,
                               fig_printf("%s · %s/%s", c->labels[m], a, b), m,
                               2 * i + 1, -1);
                }
            }
            fig_free_names(pairs);
        }
    }
    prune_figure(out, "no /<model>/alignment/<A>__<B> group with cosine or retrieval datasets");
}

/* Cosine between layers l and l+s: one panel per step s (columns of consecutive_cosine). */
static void consecutive_cosine_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    size_t n_steps = 0;
    double *steps = NULL;
    for (int m = 0; m < c->n_models && !n_steps; m++)
        for (int s = 0; s < c->n_streams && !n_steps; s++) {
            char path[1100];
            snprintf(path, sizeof path, "/%s/%s/consecutive_cosine", c->models[m], c->streams[s]);
            size_t dims[2];
            double *data = NULL;
            if (fig_h5_read(file, path, 2, dims, &data) == 1) {
                n_steps = dims[1] > 8 ? 8 : dims[1];
                if (fig_h5_attr_array(file, path, "steps", dims[1], &steps) != 1) steps = NULL;
            }
            free(data);
        }
    struct metric metrics[8];
    char *titles[8] = {0}, *ylabels[8] = {0};
    int n_metrics = 0;
    if (n_steps == 0) { /* none 2-D: try the 1-D form (one step) */
        metrics[n_metrics++] =
            (struct metric){"consecutive_cosine", "", "cosine(layer l, layer l+1)", NAN, NAN, 0, -1};
    }
    for (size_t k = 0; k < n_steps; k++) {
        double step = steps ? steps[k] : (double)(k + 1);
        titles[k] = fig_printf("s = %g", step);
        ylabels[k] = fig_printf("cosine(l, l+%g)", step);
        metrics[n_metrics++] =
            (struct metric){"consecutive_cosine", titles[k], ylabels[k], NAN, NAN, 0, (int)k};
    }
    stream_metric_figure(file, c, out, "consecutive_cosine",
                         "Cosine between layers l and l + s vs depth",
                         "mean cosine between a sample's states at layers l and l + s, one panel "
                         "per step s, over the depth of l",
                         metrics, n_metrics, "no /<model>/<stream>/consecutive_cosine dataset");
    for (int k = 0; k < 8; k++) {
        free(titles[k]);
        free(ylabels[k]);
    }
    free(steps);
}

/* GRIDE's ID against its scale n1, one panel per model and stream, one line per layer. */
static void gride_scaling_figure(hid_t file, const struct catalog *c, struct fig_list *out)
{
    struct figure *f = add_figure(out, strata_strdup("gride_scaling"),
                                  strata_strdup("GRIDE intrinsic dimension vs scale"),
                                  strata_strdup("GRIDE estimate at neighbourhood ranks n1 = 1, 2, "
                                                "4, ... (n2 = 2 n1), one line per layer coloured "
                                                "by depth, one panel per model and stream"),
                                  FIG_SCALING);
    for (int m = 0; m < c->n_models; m++)
        for (int s = 0; s < c->n_streams; s++) {
            char owner[1100], path[1200];
            snprintf(owner, sizeof owner, "/%s/%s", c->models[m], c->streams[s]);
            snprintf(path, sizeof path, "%s/id/gride_scaling", owner);
            struct fig_scaling sc = {0};
            size_t dims[2];
            int rc = fig_h5_read(file, path, 2, dims, &sc.value);
            if (rc == 0) continue;
            if (rc == 1) rc = load_layers(file, NULL, owner, dims[0], &sc.layer, &sc.src_layer);
            if (rc == 1) {
                rc = fig_h5_attr_array(file, path, "n1", dims[1], &sc.x);
                if (rc == 1) sc.src_x = fig_printf("%s@n1", path);
                if (rc == 0) { /* n1 = 1, 2, 4, ... as io/results.h says */
                    sc.x = strata_malloc(dims[1] * sizeof(double));
                    for (size_t j = 0; j < dims[1]; j++) sc.x[j] = ldexp(1.0, (int)j);
                    rc = 1;
                }
            }
            if (rc != 1) {
                add_skip(out, fig_printf("%s: %s", f->name, strata_error_get()));
                free(sc.value);
                free(sc.layer);
                free(sc.src_layer);
                free(sc.x);
                continue;
            }
            sc.rows = dims[0];
            sc.cols = dims[1];
            sc.src = strata_strdup(path);
            sc.depth_l = depth_of(file, owner, sc.layer, sc.rows);
            char *title = fig_printf("%s · %s", c->labels[m], c->streams[s]);
            add_panel(f, title, "intrinsic dimension");
            free(title);
            f->scaling = strata_realloc(f->scaling, (size_t)f->n_panels * sizeof(struct fig_scaling));
            f->scaling[f->n_panels - 1] = sc;
        }
    if (f->n_panels == 0) {
        char *note = fig_printf("%s: no /<model>/<stream>/id/gride_scaling dataset", f->name);
        figure_free(f);
        out->n--;
        add_skip(out, note);
    }
}

/* ---- heatmaps ------------------------------------------------------------------------------ */
static void heatmap_figure(hid_t file, struct fig_list *out, const char *path, char *name,
                           char *title, const char *row_owner, const char *col_owner,
                           char *row_label, char *col_label, const char *what)
{
    size_t dims[2];
    double *value = NULL, *row_layer = NULL, *col_layer = NULL;
    char *src_row = NULL, *src_col = NULL;
    int rc = fig_h5_read(file, path, 2, dims, &value);
    if (rc == 1 && (dims[0] < 2 || dims[1] < 2)) /* gnuplot's image needs a 2 x 2 grid */
        rc = strata_error_set("%s is %zu x %zu; a heatmap needs at least 2 x 2 layers", path,
                              dims[0], dims[1]);
    if (rc == 1) rc = load_layers(file, NULL, row_owner, dims[0], &row_layer, &src_row);
    if (rc == 1) rc = load_layers(file, NULL, col_owner, dims[1], &col_layer, &src_col);
    if (rc != 1) {
        add_skip(out, fig_printf("%s: %s", name, rc == 0 ? "absent" : strata_error_get()));
        free(value);
        free(row_layer);
        free(col_layer);
        free(src_row);
        free(src_col);
        free(name);
        free(title);
        free(row_label);
        free(col_label);
        return;
    }
    char *cb_label = strata_strdup(what);
    double k;
    if (strncmp(what, "neighbourhood", 13) == 0 && fig_h5_attr_double(file, path, "k", &k) == 1) {
        free(cb_label);
        cb_label = fig_printf("%s (k = %g)", what, k);
    }
    struct figure *f = add_figure(out, name, title,
                                  fig_printf("%s between every pair of layers (%s)", what, path),
                                  FIG_HEATMAP);
    struct fig_heatmap *h = &f->heat;
    h->rows = dims[0];
    h->cols = dims[1];
    h->value = value;
    h->row_layer = row_layer;
    h->col_layer = col_layer;
    h->src = strata_strdup(path);
    h->src_row_layer = src_row;
    h->src_col_layer = src_col;
    h->row_label = row_label;
    h->col_label = col_label;
    h->cb_label = cb_label;
}

/* The layer-by-layer matrices of io/results.h, per model and across models. */
static const struct {
    const char *group;  /* under /<model> or /cross/<mA>__<mB> */
    const char *prefix; /* figure names: <prefix>_<model>_<A>__<B>, <prefix>_cross_<mA>__<mB>_<s> */
    const char *what;   /* colour bar */
    const char *title;  /* title prefix */
    const char *cross_group; /* /cross/<mA>__<mB>/<cross_group>/<stream> */
} matrix_kinds[] = {
    {"cka", "cka", "linear CKA", "CKA", "cka"},
    {"cka_unbiased", "cka_unbiased", "linear CKA, unbiased HSIC", "CKA (unbiased)", "cka_unbiased"},
    {"overlap_matrix", "overlap_matrix", "neighbourhood overlap", "Neighbourhood overlap",
     "overlap"},
};

static void matrix_figures(hid_t file, const struct catalog *c, struct fig_list *out)
{
    char **cross_pairs = NULL;
    int n_cross = fig_h5_children(file, "/cross", 1, &cross_pairs);
    for (int kind = 0; kind < (int)(sizeof matrix_kinds / sizeof matrix_kinds[0]); kind++) {
        const char *group = matrix_kinds[kind].group, *prefix = matrix_kinds[kind].prefix;
        const char *what = matrix_kinds[kind].what;
        int before = out->n;
        for (int m = 0; m < c->n_models; m++) {
            char base[600];
            snprintf(base, sizeof base, "/%s/%s", c->models[m], group);
            char **pairs = NULL;
            int n = fig_h5_children(file, base, 0, &pairs);
            for (int i = 0; i < n; i++) {
                char a[256], b[256], path[1100], row_owner[1100], col_owner[1100];
                split_pair(c, 0, pairs[i], a, b, sizeof a);
                snprintf(path, sizeof path, "%s/%s", base, pairs[i]);
                snprintf(row_owner, sizeof row_owner, "/%s/%s", c->models[m], a);
                snprintf(col_owner, sizeof col_owner, "/%s/%s", c->models[m], b);
                heatmap_figure(file, out, path, fig_printf("%s_%s_%s", prefix, c->models[m], pairs[i]),
                               fig_printf("%s, %s: %s × %s", matrix_kinds[kind].title,
                                          c->labels[m], a, b),
                               row_owner, col_owner,
                               fig_printf("%s layer", a), fig_printf("%s layer", b), what);
            }
            fig_free_names(pairs);
        }
        if (out->n == before)
            add_skip(out, fig_printf("%s_<model>_<A>__<B>: no /<model>/%s/<A>__<B> dataset", prefix,
                                     group));
        before = out->n;
        for (int i = 0; i < n_cross; i++) {
            char a[256], b[256], base[1100];
            split_pair(c, 1, cross_pairs[i], a, b, sizeof a);
            int ma = model_index(c, a), mb = model_index(c, b);
            snprintf(base, sizeof base, "/cross/%s/%s", cross_pairs[i],
                     matrix_kinds[kind].cross_group);
            char **streams = NULL;
            int n_streams = fig_h5_children(file, base, 0, &streams);
            for (int s = 0; s < n_streams; s++) {
                char path[1400], row_owner[600], col_owner[600];
                snprintf(path, sizeof path, "%s/%s", base, streams[s]);
                snprintf(row_owner, sizeof row_owner, "/%s/%s", a, streams[s]);
                snprintf(col_owner, sizeof col_owner, "/%s/%s", b, streams[s]);
                const char *la = ma >= 0 ? c->labels[ma] : a, *lb = mb >= 0 ? c->labels[mb] : b;
                heatmap_figure(file, out, path,
                               fig_printf("%s_cross_%s_%s", prefix, cross_pairs[i], streams[s]),
                               fig_printf("%s, %s: %s × %s", matrix_kinds[kind].title, streams[s],
                                          la, lb),
                               row_owner,
                               col_owner, fig_printf("%s layer", la), fig_printf("%s layer", lb),
                               what);
            }
            fig_free_names(streams);
        }
        if (out->n == before)
            add_skip(out, fig_printf("%s_cross_<mA>__<mB>_<stream>: no /cross/<mA>__<mB>/%s/<stream> "
                                     "dataset", prefix, matrix_kinds[kind].cross_group));
    }
    fig_free_names(cross_pairs);
}

int fig_collect(hid_t file, struct fig_list *out)
{
    memset(out, 0, sizeof *out);
    struct catalog c = {0};
    catalog_build(file, &c);
    matrix_figures(file, &c, out);
    intrinsic_dimension_figure(file, &c, out);
    overlap_figure(file, &c, out);
    alignment_figure(file, &c, out);
    static const struct metric spectrum[] = {
        {"effective_rank", "effective rank", "effective rank", NAN, NAN, 0, -1},
        {"participation_ratio", "participation ratio", "participation ratio", NAN, NAN, 0, -1},
        {"pca_id_90", "PCA dimension at 90% variance", "components", NAN, NAN, 0, -1},
    };
    stream_metric_figure(file, &c, out, "spectrum", "Spectrum of the representations vs depth",
                         "effective rank (exponential of the entropy of the normalised singular "
                         "values), participation ratio and PCA-ID at 90% variance per layer, one "
                         "line per model and stream",
                         spectrum, 3, "no effective_rank / participation_ratio / pca_id_90 dataset");
    static const struct metric norms[] = {
        {"norms", "", "mean token norm", NAN, NAN, 1, -1},
    };
    stream_metric_figure(file, &c, out, "norms", "Token norms vs depth",
                         "mean L2 norm of the stream's (pooled) token states per layer (log axis "
                         "when they span more than a decade)",
                         norms, 1, "no /<model>/<stream>/norms dataset");
    consecutive_cosine_figure(file, &c, out);
    gride_scaling_figure(file, &c, out);
    probe_figure(file, &c, out);
    nll_figure(file, &c, out);
    catalog_free(&c);
    return 0;
}

/* probe_run.c — `strata analyze --probe`: labels from the manifest, probes of every analysed
 * layer, results (see probe_run.h). Relies on analysis/probe.c for the cross-validated ridge
 * fits, io/manifest.c for the labels, jansson for the label values. */
#include "analysis/probe_run.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/manifest.h"
#include "strata.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects one label over the samples; -1 with strata_error on a bad label. */
static int load_one(const strata_manifest *m, const int64_t *line_of, int64_t n, const char *name,
                    strata_probe_label *out)
{
    snprintf(out->name, sizeof out->name, "%s", name);
    int n_str = 0, n_num = 0;
    char **values = strata_calloc((size_t)n + 1, sizeof(char *)); /* class names per sample */
    out->value = strata_malloc(sizeof(double) * (size_t)(n + 1));
    for (int64_t i = 0; i < n; i++) {
        out->value[i] = NAN;
        if (line_of[i] < 0) continue;
        json_t *obj = json_loads(m->samples[line_of[i]].labels_json, 0, NULL);
        json_t *v = obj ? json_object_get(obj, name) : NULL;
        if (json_is_string(v)) {
            values[i] = strata_strdup(json_string_value(v));
            n_str++;
        } else if (json_is_boolean(v)) {
            values[i] = strata_strdup(json_is_true(v) ? "true" : "false");
            n_str++;
        } else if (json_is_number(v)) {
            out->value[i] = json_number_value(v);
            n_num++;
        } else if (v && !json_is_null(v)) {
            json_decref(obj);
            for (int64_t k = 0; k < n; k++) free(values[k]);
            free(values);
            return strata_error_set("%s:%ld: label '%s' must be a string, boolean or number",
                                    m->path, m->samples[line_of[i]].line, name);
        }
        json_decref(obj);
    }
    int rc = 0;
    if (n_str == 0 && n_num == 0) {
        rc = strata_error_set("%s: no sample has the label '%s'", m->path, name);
    } else if (n_str > 0 && n_num > 0) {
        rc = strata_error_set("%s: label '%s' mixes numbers (%d samples) and strings (%d)", m->path,
                              name, n_num, n_str);
    } else if (n_num > 0) {
        out->kind = STRATA_PROBE_REGRESS;
    } else {
        out->kind = STRATA_PROBE_CLASSIFY;
        char **sorted = strata_malloc(sizeof(char *) * (size_t)n_str);
        int k = 0;
        for (int64_t i = 0; i < n; i++)
            if (values[i]) sorted[k++] = values[i];
        qsort(sorted, (size_t)n_str, sizeof(char *), cmp_str);
        out->classes = strata_malloc(sizeof(char *) * (size_t)n_str);
        for (int i = 0; i < n_str; i++)
            if (out->n_classes == 0 || strcmp(sorted[i], out->classes[out->n_classes - 1]) != 0)
                out->classes[out->n_classes++] = strata_strdup(sorted[i]);
        free(sorted);
        if (out->n_classes < 2 || out->n_classes > 128)
            rc = strata_error_set("%s: label '%s' has %d classes (a probe needs 2..128)", m->path,
                                  name, out->n_classes);
        out->class_of = strata_malloc(sizeof(int32_t) * (size_t)(n + 1));
        for (int64_t i = 0; i < n; i++) {
            out->class_of[i] = -1;
            if (!values[i]) continue;
            char **hit = bsearch(&values[i], out->classes, (size_t)out->n_classes, sizeof(char *),
                                 cmp_str);
            out->class_of[i] = (int32_t)(hit - out->classes);
        }
    }
    for (int64_t i = 0; i < n; i++) free(values[i]);
    free(values);
    return rc;
}

strata_probe_label *strata_probe_labels_load(const char *path, const char *names, int64_t n,
                                             char *const *ids, int *n_labels)
{
    strata_manifest *m = strata_manifest_open(path);
    if (!m) return NULL;
    /* archive sample i -> manifest sample (same order when the archive came from it) */
    int64_t *line_of = strata_malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t missing = 0;
    for (int64_t i = 0; i < n; i++) {
        line_of[i] = -1;
        if ((size_t)i < m->n && strcmp(m->samples[i].id, ids[i]) == 0) {
            line_of[i] = i;
            continue;
        }
        for (size_t j = 0; j < m->n; j++)
            if (strcmp(m->samples[j].id, ids[i]) == 0) {
                line_of[i] = (int64_t)j;
                break;
            }
        missing += line_of[i] < 0;
    }
    if (missing == n) {
        strata_error_set("%s: none of the archive's sample ids is in this manifest", path);
        free(line_of);
        strata_manifest_free(m);
        return NULL;
    }
    char *list = strata_strdup(names), *save = NULL;
    strata_probe_label *labels = strata_calloc(64, sizeof *labels);
    int count = 0, rc = 0;
    for (char *tok = strtok_r(list, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        if (!*tok) continue;
        if (count == 64) {
            rc = strata_error_set("--probe: at most 64 labels");
            break;
        }
        rc = load_one(m, line_of, n, tok, &labels[count]);
        count++;
    }
    free(list);
    free(line_of);
    strata_manifest_free(m);
    if (rc != 0 || count == 0) {
        if (rc == 0) strata_error_set("--probe: no label named");
        strata_probe_labels_free(labels, count);
        return NULL;
    }
    *n_labels = count;
    return labels;
}

void strata_probe_labels_free(strata_probe_label *labels, int n_labels)
{
    if (!labels) return;
    for (int i = 0; i < n_labels; i++) {
        for (int c = 0; c < labels[i].n_classes; c++) free(labels[i].classes[c]);
        free(labels[i].classes);
        free(labels[i].class_of);
        free(labels[i].value);
    }
    free(labels);
}

/* Attributes of one label's group (rank 0). */
static int write_attrs(strata_results *res, const char *obj, const strata_probe_label *lab,
                       const strata_probe_options *opt, int64_t n_used)
{
    int rc = strata_results_attr_string(res, obj, "kind",
                                        lab->kind == STRATA_PROBE_CLASSIFY ? "classify" : "regress");
    if (rc == 0 && lab->kind == STRATA_PROBE_CLASSIFY) {
        size_t len = 1;
        for (int c = 0; c < lab->n_classes; c++) len += strlen(lab->classes[c]) + 1;
        char *joined = strata_calloc(len, 1);
        for (int c = 0; c < lab->n_classes; c++) {
            strcat(joined, lab->classes[c]);
            if (c + 1 < lab->n_classes) strcat(joined, "\n");
        }
        rc = strata_results_attr_string(res, obj, "classes", joined);
        free(joined);
    }
    int64_t ints[4] = {opt->n_folds, opt->n_inner_folds, (int64_t)opt->seed, n_used};
    if (rc == 0) rc = strata_results_attr_int(res, obj, "n_folds", 1, &ints[0]);
    if (rc == 0) rc = strata_results_attr_int(res, obj, "n_inner_folds", 1, &ints[1]);
    if (rc == 0) rc = strata_results_attr_int(res, obj, "seed", 1, &ints[2]);
    if (rc == 0) rc = strata_results_attr_int(res, obj, "n_used", 1, &ints[3]);
    if (rc == 0) rc = strata_results_attr_double(res, obj, "alphas", opt->n_alphas, opt->alphas);
    return rc;
}

int strata_probe_analyze(MPI_Comm comm, const strata_dataset *ds, const int64_t *sample_of,
                         const strata_probe_label *labels, int n_labels,
                         const strata_probe_options *opt_in, strata_results *res)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    const int64_t n = ds->n_local;
    int32_t *cls = strata_malloc(sizeof(int32_t) * (size_t)(n + 1));
    double *val = strata_malloc(sizeof(double) * (size_t)(n + 1));
    int rc = 0;
    for (int t0 = 0; t0 < ds->n_items && rc == 0;) {
        /* the items of one (model, stream): t0 .. t1-1 */
        int t1 = t0;
        while (t1 < ds->n_items && ds->items[t1].model == ds->items[t0].model &&
               ds->items[t1].stream == ds->items[t0].stream)
            t1++;
        int L = t1 - t0;
        for (int q = 0; q < n_labels && rc == 0; q++) {
            const strata_probe_label *lab = &labels[q];
            strata_probe_options opt = *opt_in;
            opt.kind = lab->kind;
            for (int64_t i = 0; i < n; i++) {
                cls[i] = lab->class_of ? lab->class_of[sample_of[i]] : -1;
                val[i] = lab->value[sample_of[i]];
            }
            int K = opt.n_folds;
            double *score = strata_malloc(sizeof(double) * (size_t)L);
            double *spread = strata_malloc(sizeof(double) * (size_t)L);
            double *fold = strata_malloc(sizeof(double) * (size_t)L * K);
            double *alpha = strata_malloc(sizeof(double) * (size_t)L * K);
            int64_t used = 0;
            for (int t = t0; t < t1 && rc == 0; t++) {
                strata_probe_data d = {
                    .n_total = ds->n_total, .row_begin = ds->row_begin, .n_local = n,
                    .dim = ds->items[t].dim, .x = ds->data + n * ds->col_offset[t],
                    .class_of = cls, .value = val, .n_classes = lab->n_classes,
                };
                strata_probe_result r;
                rc = strata_probe_run(comm, &d, &opt, &r);
                if (rc != 0) {
                    strata_error_prefix("probe of '%s' on %s/%s layer %d", lab->name,
                                        ds->model_names[ds->items[t].model],
                                        ds->stream_names[ds->items[t].stream], ds->items[t].layer);
                    break;
                }
                score[t - t0] = r.score_mean;
                spread[t - t0] = r.score_std;
                memcpy(fold + (size_t)(t - t0) * K, r.fold_score, sizeof(double) * K);
                memcpy(alpha + (size_t)(t - t0) * K, r.fold_alpha, sizeof(double) * K);
                used = r.n_used;
                strata_probe_result_free(&r);
            }
            if (rc == 0 && rank == 0) {
                char obj[512];
                snprintf(obj, sizeof obj, "/%s/%s/probe/%s", ds->model_names[ds->items[t0].model],
                         ds->stream_names[ds->items[t0].stream], lab->name);
                char path[600];
                int64_t d1[1] = {L}, d2[2] = {L, K};
                snprintf(path, sizeof path, "%s/score", obj);
                rc = strata_results_write(res, path, 1, d1, score);
                snprintf(path, sizeof path, "%s/score_std", obj);
                if (rc == 0) rc = strata_results_write(res, path, 1, d1, spread);
                snprintf(path, sizeof path, "%s/fold_score", obj);
                if (rc == 0) rc = strata_results_write(res, path, 2, d2, fold);
                snprintf(path, sizeof path, "%s/alpha", obj);
                if (rc == 0) rc = strata_results_write(res, path, 2, d2, alpha);
                if (rc == 0) rc = write_attrs(res, obj, lab, &opt, used);
            }
            STRATA_CHECK_MPI(MPI_Bcast(&rc, 1, MPI_INT, 0, comm));
            free(score);
            free(spread);
            free(fold);
            free(alpha);
        }
        t0 = t1;
    }
    free(cls);
    free(val);
    return rc;
}

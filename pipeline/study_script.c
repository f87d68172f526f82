/* study_script.c — what a study (study.h) becomes on disk: the paths under its output folder,
 * its batch scripts (the slurm/<step>.sbatch templates with their @NAME@ placeholders filled by
 * validated, shell-quoted values) and summaries of its archives read with the HDF5 C API.
 * Quoting follows bash: '...' keeps everything literal, $'...' carries control characters. */
#include <ctype.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata.h"
#include "study.h"

/* ---- paths -------------------------------------------------------------------------------- */
static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *out = strata_malloc(n);
    snprintf(out, n, "%s%s%s", a, b, c);
    return out;
}

char *strata_study_archive_path(const strata_study *s, int model)
{
    char *dir = join(s->output, "/archives/", s->models[model].name);
    char *out = join(dir, ".h5", "");
    free(dir);
    return out;
}

char *strata_study_results_path(const strata_study *s) { return join(s->output, "/results.h5", ""); }
char *strata_study_figures_dir(const strata_study *s) { return join(s->output, "/figures", ""); }

static const char *const step_names[STRATA_STUDY_N_STEPS] = {"extract", "analyze", "figures"};

char *strata_study_script_path(const strata_study *s, strata_study_step step, int local)
{
    char *base = join(s->output, local ? "/slurm/local-" : "/slurm/", step_names[step]);
    char *out = join(base, local ? ".sh" : ".sbatch", "");
    free(base);
    return out;
}

/* ---- shell quoting and script text -------------------------------------------------------- */
typedef struct {
    char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = strata_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3)))
static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = strata_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_add(b, big, (size_t)n);
    free(big);
}

char *strata_study_shell_quote(const char *text)
{
    buf b = {0};
    if (!strata_study_has_control(text)) {
        /* '...' keeps everything literal; a ' itself is closed, escaped and reopened. */
        buf_str(&b, "'");
        for (const char *p = text; *p; p++) {
            if (*p == '\'') buf_str(&b, "'\\''");
            else buf_add(&b, p, 1);
        }
        buf_str(&b, "'");
    } else {
        /* $'...' (bash ANSI-C quoting): backslash escapes for \ ' and control characters. */
        buf_str(&b, "$'");
        for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
            if (*p == '\\') buf_str(&b, "\\\\");
            else if (*p == '\'') buf_str(&b, "\\'");
            else if (*p == '\n') buf_str(&b, "\\n");
            else if (*p == '\t') buf_str(&b, "\\t");
            else if (*p < 0x20 || *p == 0x7f) buf_printf(&b, "\\%03o", *p);
            else buf_add(&b, (const char *)p, 1);
        }
        buf_str(&b, "'");
    }
    return b.p;
}

static void add_quoted(buf *b, const char *text)
{
    char *q = strata_study_shell_quote(text);
    buf_str(b, q);
    free(q);
}

static void add_quoted_list(buf *b, const strata_strlist *l)
{
    for (int i = 0; i < l->n; i++) {
        if (i) buf_str(b, " ");
        add_quoted(b, l->v[i]);
    }
}

static void add_option(strata_strlist *args, const char *flag, const char *value)
{
    if (!value) return;
    strata_strlist_add(args, flag);
    strata_strlist_add(args, value);
}

static char *joined_list(const strata_strlist *l, const char *sep)
{
    buf b = {0};
    buf_str(&b, "");
    for (int i = 0; i < l->n; i++) {
        if (i) buf_str(&b, sep);
        buf_str(&b, l->v[i]);
    }
    return b.p;
}

static void sbatch_lines(buf *b, const strata_study_resources *r)
{
    buf_str(b, "");
    if (r->partition) buf_printf(b, "#SBATCH --partition=%s\n", r->partition);
    if (r->account) buf_printf(b, "#SBATCH --account=%s\n", r->account);
    if (r->qos) buf_printf(b, "#SBATCH --qos=%s\n", r->qos);
    if (r->nodes) buf_printf(b, "#SBATCH --nodes=%d\n", r->nodes);
    if (r->ntasks_per_node) buf_printf(b, "#SBATCH --ntasks-per-node=%d\n", r->ntasks_per_node);
    if (r->gpus_per_node) buf_printf(b, "#SBATCH --gpus-per-node=%d\n", r->gpus_per_node);
    if (r->cpus_per_task) buf_printf(b, "#SBATCH --cpus-per-task=%d\n", r->cpus_per_task);
    if (r->mem) buf_printf(b, "#SBATCH --mem=%s\n", r->mem);
    if (r->time) buf_printf(b, "#SBATCH --time=%s\n", r->time);
    for (int i = 0; i < r->extra.n; i++) buf_printf(b, "#SBATCH %s\n", r->extra.v[i]);
    if (b->n > 0 && b->p[b->n - 1] == '\n') b->p[--b->n] = '\0';
}

/* The launcher words of a step: Slurm's (srun takes the shape from the allocation), or the
 * local one (default mpirun -np <nodes * ntasks-per-node>). */
static void launcher_words(const strata_study *s, strata_study_step step, int local, strata_strlist *out)
{
    const strata_strlist *from = local ? &s->local_launcher : &s->launcher;
    for (int i = 0; i < from->n; i++) strata_strlist_add(out, from->v[i]);
    if (local && from->n == 0) {
        const strata_study_resources *r = &s->resources[step];
        int ranks = (r->nodes ? r->nodes : 1) * (r->ntasks_per_node ? r->ntasks_per_node : 1);
        char n[32];
        snprintf(n, sizeof n, "%d", ranks);
        strata_strlist_add(out, "mpirun");
        strata_strlist_add(out, "-np");
        strata_strlist_add(out, n);
    }
}

/* The value of placeholder `name` for `step`, or NULL if it has none there. */
static char *placeholder(const strata_study *s, strata_study_step step, int local, const char *name)
{
    buf b = {0};
    buf_str(&b, "");
    strata_strlist words = {0};
    if (strcmp(name, "JOB_NAME") == 0) {
        buf_printf(&b, "%s-%s", s->name, step_names[step]);
    } else if (strcmp(name, "LOG_DIR") == 0) {
        buf_printf(&b, "%s/logs", s->output);
    } else if (strcmp(name, "OUTPUT") == 0) {
        buf_str(&b, s->output);
    } else if (strcmp(name, "SIGNAL_SECONDS") == 0) {
        buf_printf(&b, "%d", s->signal_seconds);
    } else if (strcmp(name, "SBATCH_LINES") == 0) {
        sbatch_lines(&b, &s->resources[step]);
    } else if (strcmp(name, "STRATA") == 0) {
        add_quoted(&b, s->strata);
    } else if (strcmp(name, "LAUNCHER") == 0) {
        launcher_words(s, step, local, &words);
        add_quoted_list(&b, &words);
    } else if (strcmp(name, "DATASET") == 0) {
        add_quoted(&b, s->dataset);
    } else if (strcmp(name, "ARCHIVE_DIR") == 0) {
        char *d = join(s->output, "/archives", "");
        add_quoted(&b, d);
        free(d);
    } else if (strcmp(name, "LINK_DIR") == 0) {
        char *d = join(s->output, "/models", "");
        add_quoted(&b, d);
        free(d);
    } else if (strcmp(name, "REQUEUE") == 0) {
        buf_str(&b, local ? "0" : "1");
    } else if (strcmp(name, "EXTRACT_ARGS") == 0) {
        char batch[32];
        snprintf(batch, sizeof batch, "%d", s->batch);
        add_option(&words, "--layers", s->layers);
        add_option(&words, "--pool", s->pool);
        add_option(&words, "--dtype", s->dtype);
        add_option(&words, "--batch", s->batch ? batch : NULL);
        add_option(&words, "--backend", s->backend);
        for (int i = 0; i < s->extract_args.n; i++) strata_strlist_add(&words, s->extract_args.v[i]);
        add_quoted_list(&b, &words);
    } else if (strcmp(name, "MODEL_CASES") == 0) {
        for (int i = 0; i < s->n_models; i++) {
            const strata_study_model *m = &s->models[i];
            char *streams = joined_list(&m->streams, ",");
            buf_printf(&b, "  %d) name=", i);
            add_quoted(&b, m->name);
            buf_str(&b, "\n     model=");
            add_quoted(&b, m->path);
            buf_str(&b, "\n     streams=");
            add_quoted(&b, streams);
            buf_str(&b, "\n     template=");
            add_quoted(&b, m->template_text ? m->template_text : "");
            buf_str(&b, "\n     model_args=(");
            add_quoted_list(&b, &m->args);
            buf_str(&b, ") ;;");
            if (i + 1 < s->n_models) buf_str(&b, "\n");
            free(streams);
        }
    } else if (strcmp(name, "ARCHIVES") == 0) {
        for (int i = 0; i < s->n_models; i++) {
            char *a = strata_study_archive_path(s, i);
            if (i) buf_str(&b, " ");
            add_quoted(&b, a);
            free(a);
        }
    } else if (strcmp(name, "RESULTS") == 0) {
        char *r = strata_study_results_path(s);
        add_quoted(&b, r);
        free(r);
    } else if (strcmp(name, "ANALYZE_ARGS") == 0) {
        char samples[32], seed[32];
        snprintf(samples, sizeof samples, "%ld", s->samples);
        snprintf(seed, sizeof seed, "%ld", s->seed);
        char *metrics = joined_list(&s->metrics, ",");
        add_option(&words, "--metrics", s->metrics.n ? metrics : NULL);
        add_option(&words, "--layers", s->analysis_layers);
        add_option(&words, "--samples", s->samples > 0 ? samples : NULL);
        add_option(&words, "--seed", s->seed >= 0 ? seed : NULL);
        for (int i = 0; i < s->analysis_args.n; i++) strata_strlist_add(&words, s->analysis_args.v[i]);
        add_quoted_list(&b, &words);
        free(metrics);
    } else if (strcmp(name, "FIGURES_DIR") == 0) {
        char *d = strata_study_figures_dir(s);
        add_quoted(&b, d);
        free(d);
    } else if (strcmp(name, "FIGURES_ARGS") == 0) {
        char *formats = joined_list(&s->formats, ",");
        add_option(&words, "--format", s->formats.n ? formats : NULL);
        if (s->only.n) {
            strata_strlist_add(&words, "--only");
            for (int i = 0; i < s->only.n; i++) strata_strlist_add(&words, s->only.v[i]);
        }
        for (int i = 0; i < s->figures_args.n; i++) strata_strlist_add(&words, s->figures_args.v[i]);
        add_quoted_list(&b, &words);
        free(formats);
    } else {
        free(b.p);
        b.p = NULL;
    }
    strata_strlist_free(&words);
    return b.p;
}

int strata_study_script(const strata_study *s, strata_study_step step, int local, char **out)
{
    char *tpath = join(s->templates, "/", step_names[step]);
    char *path = join(tpath, ".sbatch", "");
    free(tpath);
    size_t len = 0;
    char *text = strata_read_file(path, &len);
    if (!text) {
        strata_error_prefix("sbatch template (set STRATA_TEMPLATES or slurm.templates)");
        free(path);
        return -1;
    }
    buf b = {0};
    buf_str(&b, "");
    const char *p = text;
    int line = 1;
    while (*p) {
        if (*p == '\n') line++;
        /* @NAME@ with NAME in [A-Z0-9_]; any other '@' is literal (e.g. USR1@@SECONDS@). */
        if (*p == '@' && isupper((unsigned char)p[1])) {
            const char *q = p + 1;
            while (isupper((unsigned char)*q) || isdigit((unsigned char)*q) || *q == '_') q++;
            if (*q == '@') {
                char name[64];
                size_t n = (size_t)(q - p - 1);
                if (n >= sizeof name) n = sizeof name - 1;
                memcpy(name, p + 1, n);
                name[n] = '\0';
                char *value = placeholder(s, step, local, name);
                if (!value) {
                    strata_error_set("%s:%d: unknown placeholder @%s@", path, line, name);
                    free(b.p);
                    free(text);
                    free(path);
                    return -1;
                }
                buf_str(&b, value);
                free(value);
                p = q + 1;
                continue;
            }
        }
        buf_add(&b, p, 1);
        p++;
    }
    free(text);
    free(path);
    *out = b.p;
    return 0;
}

/* ---- archive summaries (HDF5 C API, read-only, no locking) -------------------------------- */
void strata_study_archive_summarise(const char *path, strata_study_archive_summary *out)
{
    memset(out, 0, sizeof *out);
    char *partial = join(path, ".partial", "");
    const char *file = path;
    out->state = STRATA_ARCHIVE_COMPLETE;
    if (access(path, F_OK) != 0) {
        file = partial;
        out->state = STRATA_ARCHIVE_PARTIAL;
        if (access(partial, F_OK) != 0) {
            out->state = STRATA_ARCHIVE_MISSING;
            free(partial);
            return;
        }
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* A .partial is open for writing by a running job: read it without taking the lock. */
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        out->state = STRATA_ARCHIVE_UNREADABLE;
        snprintf(out->detail, sizeof out->detail, "%s: not an HDF5 file or not readable", file);
        free(partial);
        return;
    }
    int complete = 0;
    if (H5Aexists(f, "complete") > 0) {
        hid_t a = H5Aopen(f, "complete", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT, &complete) < 0) complete = 0;
        if (a >= 0) H5Aclose(a);
    } else {
        out->state = STRATA_ARCHIVE_UNREADABLE;
        snprintf(out->detail, sizeof out->detail, "%s: no 'complete' attribute (not a strata "
                 "archive?)", file);
    }
    if (out->state == STRATA_ARCHIVE_COMPLETE && !complete) {
        out->state = STRATA_ARCHIVE_UNREADABLE;
        snprintf(out->detail, sizeof out->detail, "%s: complete=0 under the final name", file);
    }
    hid_t d = H5Lexists(f, "/samples", H5P_DEFAULT) > 0 && H5Lexists(f, "/samples/status", H5P_DEFAULT) > 0
                  ? H5Dopen2(f, "/samples/status", H5P_DEFAULT) : -1;
    if (d >= 0) {
        hid_t space = H5Dget_space(d);
        hsize_t n = 0;
        if (H5Sget_simple_extent_ndims(space) == 1) H5Sget_simple_extent_dims(space, &n, NULL);
        H5Sclose(space);
        int8_t *status = n ? strata_malloc(n) : NULL; /* [n] */
        if (n && H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, status) >= 0) {
            out->n_samples = (long long)n;
            for (hsize_t i = 0; i < n; i++) {
                if (status[i] == 1) out->n_ok++;
                else if (status[i] == 2) out->n_failed++;
                else out->n_pending++;
            }
        }
        free(status);
        H5Dclose(d);
    } else if (out->state != STRATA_ARCHIVE_UNREADABLE) {
        out->state = STRATA_ARCHIVE_UNREADABLE;
        snprintf(out->detail, sizeof out->detail, "%s: no /samples/status", file);
    }
    H5Fclose(f);
    free(partial);
}

/* figures.c — the figures driver: open a results file, collect its figures
 * (figures_collect.c), write NAME.dat / NAME.gp (figures_write.c), run gnuplot once per figure
 * and format (fork + exec in DIR, so the scripts use relative paths), then write DIR/index.md.
 * Relies on HDF5 and an external gnuplot 5 with the cairo terminals (Debian: gnuplot-nox). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/figures.h"
#include "analysis/figures_model.h"
#include "strata.h"

static int mkdir_p(const char *dir)
{
    char path[4096];
    if (!dir[0] || strlen(dir) >= sizeof path)
        return strata_error_set("--out '%s': expected a directory path", dir);
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return strata_error_set("%s: cannot create directory: %s", path, strerror(errno));
        *p = saved;
        if (saved == '\0') break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return strata_error_set("%s: not a directory", dir);
    return 0;
}

/* NAME or a prefix of it ending at '_' ("cka" selects cka_*, "cka_cross" the cross-model ones). */
static int name_matches(const char *name, const char *pattern)
{
    size_t len = strlen(pattern);
    return strncmp(name, pattern, len) == 0 && (name[len] == '\0' || name[len] == '_');
}

/* A skipped entry ("NAME: why") concerns the selection: no --only, or NAME matches one. */
static int skip_selected(const char *skipped, char **only, int n_only)
{
    for (int k = 0; k < n_only; k++) {
        size_t len = strlen(only[k]);
        if (strncmp(skipped, only[k], len) == 0 && (skipped[len] == '_' || skipped[len] == ':'))
            return 1;
    }
    return n_only == 0;
}

/* selected[i] for each figure; -1 with a message when an --only name selects nothing. */
static int select_figures(const struct fig_list *list, char **only, int n_only, int *selected)
{
    for (int i = 0; i < list->n; i++) selected[i] = n_only == 0;
    for (int k = 0; k < n_only; k++) {
        int hits = 0;
        for (int i = 0; i < list->n; i++)
            if (name_matches(list->figs[i].name, only[k])) selected[i] = 1, hits++;
        if (hits) continue;
        for (int s = 0; s < list->n_skipped; s++)
            if (skip_selected(list->skipped[s], &only[k], 1))
                return strata_error_set("--only %s: not drawn, its data is absent (%s)", only[k],
                                        list->skipped[s]);
        char names[2048] = "";
        for (int i = 0; i < list->n; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", list->figs[i].name);
        }
        return strata_error_set("--only %s: no such figure; this results file has: %s", only[k],
                                list->n ? names : "(none)");
    }
    return 0;
}

/* Every results object a figure draws from (datasets, "PATH@layers" attributes), each once. */
static void put_sources(FILE *out, const struct figure *fig)
{
    const char *candidates[4096];
    int n = 0;
    if (fig->kind == FIG_HEATMAP) {
        candidates[n++] = fig->heat.src;
        if (fig->heat.src_row_layer) candidates[n++] = fig->heat.src_row_layer;
        if (fig->heat.src_col_layer) candidates[n++] = fig->heat.src_col_layer;
    }
    for (int p = 0; fig->kind == FIG_SCALING && p < fig->n_panels && n < 4092; p++) {
        candidates[n++] = fig->scaling[p].src;
        if (fig->scaling[p].src_x) candidates[n++] = fig->scaling[p].src_x;
        if (fig->scaling[p].src_layer) candidates[n++] = fig->scaling[p].src_layer;
    }
    for (int p = 0; p < fig->n_panels; p++)
        for (int s = 0; s < fig->panels[p].n_series && n < 4092; s++) {
            const struct fig_series *series = &fig->panels[p].series[s];
            candidates[n++] = series->src_y;
            if (series->src_lo) candidates[n++] = series->src_lo;
            if (series->src_layer) candidates[n++] = series->src_layer;
        }
    fputs("- sources:", out);
    int printed = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strcspn(candidates[i], "["); /* "PATH[:,0]" -> PATH */
        int dup = 0;
        for (int k = 0; k < i && !dup; k++)
            dup = strcspn(candidates[k], "[") == len && strncmp(candidates[k], candidates[i], len) == 0;
        if (dup) continue;
        fprintf(out, "%s`%.*s`", printed++ ? ", " : " ", (int)len, candidates[i]);
    }
    fputc('\n', out);
}

static int write_index(const struct fig_list *list, const int *selected,
                       const struct strata_figures_options *opt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.md", opt->out_dir);
    FILE *out = fopen(path, "w");
    if (!out) return strata_error_set("%s: cannot write it", path);
    fprintf(out,
            "# Figures\n\nDrawn by `strata figures` (strata %s) from `%s`. Each figure has "
            "NAME.pdf and NAME.png,\nthe numbers it shows in NAME.dat (each block names its "
            "results dataset) and an editable\ngnuplot script NAME.gp (render: `gnuplot -e "
            "\"fmt='png'\" NAME.gp`, or fmt='pdf').\nDepth is layer / L, L the number of layers "
            "of the tower the stream comes from\n(attribute num_layers, from the model config; "
            "else the last layer analysed); layer 0 is the\nembedding output.\n",
            STRATA_VERSION, opt->results_path);
    for (int i = 0; i < list->n; i++) {
        if (!selected[i]) continue;
        const struct figure *fig = &list->figs[i];
        fprintf(out, "\n## %s\n\n%s: %s.\n\n", fig->name, fig->title, fig->shows);
        if (opt->png) fprintf(out, "![%s](%s.png)\n\n", fig->name, fig->name);
        fprintf(out, "- files: [pdf](%s.pdf), [png](%s.png), [data](%s.dat), [script](%s.gp)\n",
                fig->name, fig->name, fig->name, fig->name);
        put_sources(out, fig);
    }
    fputs("\n## Skipped\n\nFigures (or lines) left out for lack of usable data:\n\n", out);
    int n_skipped = 0;
    for (int s = 0; s < list->n_skipped; s++)
        if (skip_selected(list->skipped[s], opt->only, opt->n_only))
            fprintf(out, "- %s\n", list->skipped[s]), n_skipped++;
    if (n_skipped == 0) fputs("- nothing\n", out);
    int bad = ferror(out);
    if (fclose(out) != 0 || bad) return strata_error_set("%s: write failed", path);
    return 0;
}

/* The program to run: a path (checked) or a name looked up in PATH. */
static int find_program(const char *name, char *found, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(found, size, "%s", name);
        return access(name, X_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    char *dirs = strata_strdup(path);
    int ok = 0;
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir && !ok;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(found, size, "%s/%s", dir, name);
        ok = access(found, X_OK) == 0;
    }
    free(dirs);
    return ok;
}

/* Starts gnuplot -e "fmt='FORMAT'" NAME.gp in dir; the child's pid, or -1 (error set). */
static pid_t start_gnuplot(const char *program, const char *dir, const char *name,
                           const char *format)
{
    char script[1024], fmt_arg[64];
    snprintf(script, sizeof script, "%s.gp", name);
    snprintf(fmt_arg, sizeof fmt_arg, "fmt='%s'", format);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return strata_error_set("fork failed: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(126);
        char *args[] = {(char *)program, "-e", fmt_arg, script, NULL};
        execv(program, args);
        _exit(127);
    }
    return pid;
}

/* gnuplot's exit status: 0 ok, 127 could not start, else failure. */
static int wait_gnuplot(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 1;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* How many gnuplots run at once: $STRATA_FIGURES_JOBS, else the online CPUs (at most 16). */
static int render_jobs(void)
{
    const char *env = getenv("STRATA_FIGURES_JOBS");
    long jobs = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
    return jobs < 1 ? 1 : jobs > 16 ? 16 : (int)jobs;
}

static int rendered(const char *dir, const char *name, const char *format)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, format);
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static const char install_hint[] =
    "install gnuplot with the cairo terminals (Debian/Ubuntu: apt-get install gnuplot-nox; "
    "conda: gnuplot) or point STRATA_GNUPLOT at it";

static int render_all(const struct fig_list *list, const int *selected,
                      const struct strata_figures_options *opt)
{
    const char *wanted = opt->gnuplot ? opt->gnuplot : getenv("STRATA_GNUPLOT");
    if (!wanted || !*wanted) wanted = "gnuplot";
    char program[4096];
    if (!find_program(wanted, program, sizeof program))
        return strata_error_set("gnuplot not found ('%s' %s); %s. The .dat and .gp files are "
                                "written in %s: render them there later with "
                                "`gnuplot -e \"fmt='pdf'\" NAME.gp`, or run this again",
                                wanted, strchr(wanted, '/') ? "is not an executable file"
                                                            : "is not in PATH",
                                install_hint, opt->out_dir);
    const char *formats[2];
    int n_formats = 0;
    if (opt->pdf) formats[n_formats++] = "pdf";
    if (opt->png) formats[n_formats++] = "png";
    /* Every (figure, format) is one gnuplot run; up to render_jobs() run at once, reaped
     * oldest first (they take about as long as each other). */
    int n_runs = 0;
    int(*runs)[2] = strata_malloc((size_t)(list->n * n_formats + 1) * sizeof *runs);
    for (int i = 0; i < list->n; i++)
        for (int f = 0; selected[i] && f < n_formats; f++) runs[n_runs][0] = i, runs[n_runs++][1] = f;
    pid_t *pids = strata_malloc((size_t)(n_runs + 1) * sizeof(pid_t));
    int jobs = render_jobs(), started = 0, failed = 0, missing = 0;
    char failures[1024] = "";
    for (int done = 0; done < n_runs; done++) {
        while (started < n_runs && started - done < jobs) {
            const char *name = list->figs[runs[started][0]].name;
            pids[started] = start_gnuplot(program, opt->out_dir, name, formats[runs[started][1]]);
            started++;
        }
        const char *name = list->figs[runs[done][0]].name, *format = formats[runs[done][1]];
        int rc = pids[done] < 0 ? 1 : wait_gnuplot(pids[done]);
        missing |= rc == 127;
        if (rc == 0 && rendered(opt->out_dir, name, format)) continue;
        if (++failed <= 4) { /* name the first few */
            size_t used = strlen(failures);
            snprintf(failures + used, sizeof failures - used, "%s%s.%s", failed > 1 ? ", " : "",
                     name, format);
        }
    }
    free(runs);
    free(pids);
    if (missing) return strata_error_set("%s could not be started; %s", program, install_hint);
    if (failed)
        return strata_error_set("gnuplot failed on %d of %d renders: %s%s (its messages are "
                                "above; the %s terminal must exist: `gnuplot -e 'set terminal'`)",
                                failed, n_runs, failures, failed > 4 ? ", ..." : "",
                                opt->png && opt->pdf ? "pdfcairo and pngcairo"
                                : opt->png         ? "pngcairo"
                                                   : "pdfcairo");
    return 0;
}

int strata_figures_run(const struct strata_figures_options *opt)
{
    double t0 = strata_now();
    hid_t file = H5Fopen(opt->results_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return strata_error_set("%s: cannot open it as HDF5 (missing, unreadable, or not an HDF5 "
                                "file); expected a results file written by `strata analyze`",
                                opt->results_path);
    char format[128];
    double version = 0;
    int rc = fig_h5_attr_string(file, "/", "format", format, sizeof format);
    if (rc == 1 && strcmp(format, "strata-results") != 0) {
        H5Fclose(file);
        return strata_error_set("%s: attribute format is '%s', expected 'strata-results'%s",
                                opt->results_path, format,
                                strcmp(format, "strata-activations") == 0
                                    ? " (this is an activation archive: run `strata analyze` on "
                                      "it first)"
                                    : "");
    }
    if (rc < 0) {
        H5Fclose(file);
        return strata_error_set("%s: %s", opt->results_path, strata_error_get());
    }
    if (rc == 0)
        strata_log0("figures: %s has no format attribute; reading it as strata-results v1",
                    opt->results_path);
    if (fig_h5_attr_double(file, "/", "format_version", &version) == 1 && version != 1) {
        H5Fclose(file);
        return strata_error_set("%s: format_version %g, this strata reads version 1",
                                opt->results_path, version);
    }
    struct fig_list list;
    fig_collect(file, &list);
    H5Fclose(file);

    int n_skipped = 0;
    for (int s = 0; s < list.n_skipped; s++)
        if (skip_selected(list.skipped[s], opt->only, opt->n_only)) {
            strata_log0("figures: skipped %s", list.skipped[s]);
            n_skipped++;
        }
    int *selected = strata_calloc((size_t)list.n + 1, sizeof(int));
    rc = select_figures(&list, opt->only, opt->n_only, selected);
    if (rc == 0) rc = mkdir_p(opt->out_dir);
    int n_selected = 0;
    for (int i = 0; rc == 0 && i < list.n; i++) {
        if (!selected[i]) continue;
        n_selected++;
        rc = fig_write_dat(&list.figs[i], opt->out_dir, opt->results_path);
        if (rc == 0) rc = fig_write_gp(&list.figs[i], opt->out_dir, opt->results_path);
    }
    if (rc == 0 && n_selected == 0)
        rc = strata_error_set("%s: no figure has its data (%d skipped, listed above)",
                              opt->results_path, n_skipped);
    if (rc == 0) rc = render_all(&list, selected, opt);
    /* The index comes last: `strata study` takes DIR/index.md as "the figures are done". */
    if (rc == 0) rc = write_index(&list, selected, opt);
    if (rc == 0)
        strata_log0("figures: %d figure(s) in %s (%d skipped) in %.1f s", n_selected,
                    opt->out_dir, n_skipped, strata_now() - t0);
    free(selected);
    fig_list_free(&list);
    return rc;
}

/* cmd_study.c — `strata study SPEC.yaml [--submit | --local | --dry-run | --status]`: a study
 * spec (study.h) becomes three steps — an extract job array (one task per model), an analysis
 * job and a figures job chained with --dependency=afterok — submitted with sbatch, run in
 * order with mpirun (--local), printed (--dry-run) or summarised (--status). Only what is
 * missing is (re)submitted; submissions are recorded in OUTPUT/study.state. */
#define _GNU_SOURCE /* execvpe */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "io/archive.h"
#include "strata.h"
#include "study.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: strata study SPEC.yaml [--dry-run | --submit | --local | --status]\n\n"
        "Turn a study (models x dataset x streams x analyses, jobs/README.md) into jobs:\n"
        "  --dry-run  print the batch scripts and the sbatch commands, submit nothing (default)\n"
        "  --submit   sbatch an extract array (one task per model, --requeue, a USR1 warning\n"
        "             before the time limit), then analyze (afterok) and figures (afterok);\n"
        "             on a half-done study only what is missing is submitted\n"
        "  --local    run the same steps in order here with mpirun, no Slurm\n"
        "  --status   each model's archive (complete / partial / missing, failed samples),\n"
        "             the results and figures, and the jobs submitted so far\n\n"
        "Files under the study's output folder: archives/<model>.h5, results.h5, figures/,\n"
        "slurm/*.sbatch (the scripts), logs/, study.state (submitted job ids), models/<model>\n"
        "(links to the checkpoints, so that archives carry the study's model names).\n"
        "Exit codes: 0 ok, 1 bad spec or a failed step, 2 usage, 75 a local extract was\n"
        "interrupted (run again to resume).\n");
}

/* ---- child processes ---------------------------------------------------------------------- */
/* Run argv (PATH search) with the environment strata started with plus `extra_env` ("K=V",
 * NULL-terminated, may be NULL). With `out`, capture stdout into a malloc'd string. Returns
 * the exit status, 128+signal when killed, 127 when it could not be started. */
static int run_program(char *const argv[], char *const extra_env[], char **out)
{
    char **base = strata_study_clean_environ();
    int n_base = 0, n_extra = 0;
    while (base[n_base]) n_base++;
    while (extra_env && extra_env[n_extra]) n_extra++;
    char **env = strata_calloc((size_t)(n_base + n_extra + 1), sizeof(char *));
    int n = 0;
    for (int i = 0; i < n_base; i++) {
        int overridden = 0;
        for (int j = 0; j < n_extra && !overridden; j++) {
            size_t klen = strcspn(extra_env[j], "=");
            overridden = strncmp(base[i], extra_env[j], klen + 1) == 0;
        }
        if (!overridden) env[n++] = base[i];
    }
    for (int j = 0; j < n_extra; j++) env[n++] = extra_env[j];
    env[n] = NULL;

    int fds[2] = {-1, -1};
    if (out && pipe(fds) != 0) {
        free(env);
        return 127;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        if (out) {
            dup2(fds[1], STDOUT_FILENO);
            close(fds[0]);
            close(fds[1]);
        }
        execvpe(argv[0], argv, env);
        fprintf(stderr, "strata study: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(env);
    if (pid < 0) {
        if (out) {
            close(fds[0]);
            close(fds[1]);
        }
        return 127;
    }
    if (out) {
        close(fds[1]);
        size_t len = 0, cap = 256;
        char *text = strata_malloc(cap);
        ssize_t got;
        while ((got = read(fds[0], text + len, cap - len - 1)) > 0 || (got < 0 && errno == EINTR)) {
            if (got < 0) continue;
            len += (size_t)got;
            if (len + 1 >= cap) text = strata_realloc(text, cap *= 2);
        }
        text[len] = '\0';
        close(fds[0]);
        *out = text;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 127;
}

/* ---- files -------------------------------------------------------------------------------- */
static char *path2(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = strata_malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static int make_dirs(const char *path)
{
    char *copy = strata_strdup(path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(copy, 0755) != 0 && errno != EEXIST) goto fail;
    free(copy);
    return 0;
fail:
    strata_error_set("cannot create folder '%s': %s", copy, strerror(errno));
    free(copy);
    return -1;
}

static int write_text(const char *path, const char *text, int executable)
{
    FILE *f = fopen(path, "w");
    if (!f) return strata_error_set("cannot write '%s': %s", path, strerror(errno));
    int ok = fputs(text, f) >= 0;
    ok &= fclose(f) == 0;
    if (!ok) return strata_error_set("cannot write '%s': %s", path, strerror(errno));
    if (executable) chmod(path, 0755);
    return 0;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* results.h5 counts as present when it is an HDF5 file with a "format" attribute. */
static int results_present(const strata_study *s)
{
    char *path = strata_study_results_path(s);
    int ok = 0;
    if (file_exists(path)) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_file_locking(fapl, 0, 1);
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        H5Pclose(fapl);
        if (f >= 0) {
            ok = H5Aexists(f, "format") > 0;
            H5Fclose(f);
        }
    }
    free(path);
    return ok;
}

/* Figures count as present when strata figures wrote its index. */
static int figures_present(const strata_study *s)
{
    char *dir = strata_study_figures_dir(s);
    char *md = path2(dir, "index.md"), *html = path2(dir, "index.html");
    int ok = file_exists(md) || file_exists(html);
    free(dir);
    free(md);
    free(html);
    return ok;
}

/* ---- the state file: one line per submitted job ------------------------------------------- */
/* "<utc time> <step> <job id> <model indices,comma-separated | ->" */
typedef struct {
    char **model_job;        /* [n_models] "<array>_<i>" of the last extract including i */
    char *analyze_job, *figures_job;
} study_state;

static char *state_path(const strata_study *s) { return path2(s->output, "study.state"); }

static void state_read(const strata_study *s, study_state *st)
{
    memset(st, 0, sizeof *st);
    st->model_job = strata_calloc((size_t)s->n_models, sizeof(char *));
    char *path = state_path(s);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char when[64], step[32], job[64], models[3000];
        if (sscanf(line, "%63s %31s %63s %2999s", when, step, job, models) != 4) continue;
        if (strcmp(step, "extract") == 0) {
            char *save = NULL;
            for (char *t = strtok_r(models, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                int i = atoi(t);
                if (i < 0 || i >= s->n_models) continue;
                free(st->model_job[i]);
                size_t n = strlen(job) + 24;
                st->model_job[i] = strata_malloc(n);
                snprintf(st->model_job[i], n, "%s_%d", job, i);
            }
        } else if (strcmp(step, "analyze") == 0) {
            free(st->analyze_job);
            st->analyze_job = strata_strdup(job);
        } else if (strcmp(step, "figures") == 0) {
            free(st->figures_job);
            st->figures_job = strata_strdup(job);
        }
    }
    fclose(f);
}

static void state_free(const strata_study *s, study_state *st)
{
    for (int i = 0; i < s->n_models; i++) free(st->model_job[i]);
    free(st->model_job);
    free(st->analyze_job);
    free(st->figures_job);
}

static int state_append(const strata_study *s, const char *step, const char *job, const char *models)
{
    char *path = state_path(s);
    int fresh = !file_exists(path);
    FILE *f = fopen(path, "a");
    if (!f) {
        strata_error_set("cannot write '%s': %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (fresh)
        fprintf(f, "# strata study state: <utc time> <step> <slurm job id> <model indices>\n");
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(f, "%s %s %s %s\n", when, step, job, models);
    fclose(f);
    free(path);
    return 0;
}

/* ---- Slurm queries ------------------------------------------------------------------------ */
/* JobState (and Reason) of a job or array task from `scontrol -o show job`; "" when Slurm no
 * longer knows it (finished long ago) or cannot be asked. */
static void job_state(const char *job, char *state, size_t n, char *reason, size_t rn)
{
    state[0] = '\0';
    if (reason) reason[0] = '\0';
    if (!job) return;
    char *argv[] = {"scontrol", "-o", "show", "job", (char *)job, NULL};
    char *out = NULL;
    if (run_program(argv, NULL, &out) != 0 || !out) {
        free(out);
        return;
    }
    const char *p = strstr(out, "JobState=");
    if (p) snprintf(state, n, "%.*s", (int)strcspn(p + 9, " \n"), p + 9);
    const char *r = strstr(out, "Reason=");
    if (r && reason) snprintf(reason, rn, "%.*s", (int)strcspn(r + 7, " \n"), r + 7);
    free(out);
}

static int state_active(const char *state)
{
    static const char *const active[] = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD",
                                         "REQUEUE_FED", "CONFIGURING", "COMPLETING", "SUSPENDED",
                                         "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"};
    for (size_t i = 0; i < sizeof active / sizeof active[0]; i++)
        if (strcmp(state, active[i]) == 0) return 1;
    return 0;
}

/* Is the job still going to run (or running)? A job whose dependency can never be satisfied
 * is not, and is cancelled when `cancel_dead`. */
static int job_active(const char *job, int cancel_dead, int dry_run)
{
    char state[64], reason[128];
    job_state(job, state, sizeof state, reason, sizeof reason);
    if (!state_active(state)) return 0;
    if (strcmp(reason, "DependencyNeverSatisfied") == 0) {
        if (cancel_dead) {
            printf("%s job %s: its dependency can never be satisfied (an earlier job failed)\n",
                   dry_run ? "would cancel" : "cancelling", job);
            if (!dry_run) {
                char *argv[] = {"scancel", (char *)job, NULL};
                run_program(argv, NULL, NULL);
            }
        }
        return 0;
    }
    return 1;
}

/* ---- the plan: what is done, running, and still to submit --------------------------------- */
typedef struct {
    strata_study_archive_summary *archives; /* [n_models] */
    int *need;        /* [n_models] extract must be submitted */
    int *active;      /* [n_models] an earlier task is still queued or running */
    int n_need, n_active;
    int results, figures;                  /* present on disk */
    int analyze_active, figures_active;
    int need_analyze, need_figures;
} study_plan;

static void plan_make(const strata_study *s, const study_state *st, int use_slurm, int dry_run,
                      study_plan *p)
{
    memset(p, 0, sizeof *p);
    p->archives = strata_calloc((size_t)s->n_models, sizeof *p->archives);
    p->need = strata_calloc((size_t)s->n_models, sizeof(int));
    p->active = strata_calloc((size_t)s->n_models, sizeof(int));
    for (int i = 0; i < s->n_models; i++) {
        char *a = strata_study_archive_path(s, i);
        strata_study_archive_summarise(a, &p->archives[i]);
        free(a);
        if (p->archives[i].state == STRATA_ARCHIVE_COMPLETE) continue;
        if (use_slurm && job_active(st->model_job[i], 0, dry_run)) {
            p->active[i] = 1;
            p->n_active++;
        } else {
            p->need[i] = 1;
            p->n_need++;
        }
    }
    p->results = results_present(s);
    p->figures = figures_present(s);
    if (use_slurm) {
        p->analyze_active = job_active(st->analyze_job, 1, dry_run);
        p->figures_active = job_active(st->figures_job, 1, dry_run);
    }
    /* New archives make earlier results stale: an analysis still waiting would start before
     * them, so it is replaced (and its figures with it). */
    p->need_analyze = p->n_need > 0 || (!p->results && !p->analyze_active) ||
                      (p->n_active > 0 && !p->analyze_active);
    p->need_figures = p->need_analyze || (!p->figures && !p->figures_active);
}

static void plan_free(study_plan *p)
{
    free(p->archives);
    free(p->need);
    free(p->active);
}

/* "0-2,5" from the indices i with flag[i] set. */
static char *index_list(const int *flag, int n)
{
    size_t cap = (size_t)n * 24 + 8, len = 0;
    char *out = strata_malloc(cap);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!flag[i]) continue;
        int j = i;
        while (j + 1 < n && flag[j + 1]) j++;
        len += (size_t)snprintf(out + len, cap - len, "%s%d", len ? "," : "", i);
        if (j > i) len += (size_t)snprintf(out + len, cap - len, "-%d", j);
        i = j;
    }
    return out;
}

/* "0,1,2" (every index, for the state file). */
static char *index_csv(const int *flag, int n)
{
    size_t cap = (size_t)n * 12 + 8, len = 0;
    char *out = strata_malloc(cap);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        if (flag[i]) len += (size_t)snprintf(out + len, cap - len, "%s%d", len ? "," : "", i);
    return out;
}

/* ---- scripts ------------------------------------------------------------------------------ */
static int write_scripts(const strata_study *s, int local)
{
    char *slurm_dir = path2(s->output, "slurm"), *logs = path2(s->output, "logs");
    char *archives = path2(s->output, "archives");
    int rc = make_dirs(slurm_dir) || make_dirs(logs) || make_dirs(archives) ? -1 : 0;
    free(slurm_dir);
    free(logs);
    free(archives);
    for (int step = 0; rc == 0 && step < STRATA_STUDY_N_STEPS; step++) {
        char *text = NULL, *path = strata_study_script_path(s, (strata_study_step)step, local);
        rc = strata_study_script(s, (strata_study_step)step, local, &text);
        if (rc == 0) rc = write_text(path, text, 1);
        free(text);
        free(path);
    }
    return rc;
}

/* The first integer of sbatch --parsable's "<id>[;cluster]". */
static int parse_job_id(const char *out, char *id, size_t n)
{
    size_t len = 0;
    while (out[len] >= '0' && out[len] <= '9') len++;
    if (len == 0 || len >= n) return -1;
    memcpy(id, out, len);
    id[len] = '\0';
    return 0;
}

static int sbatch(const char *array, const char *dependency, const char *script, char *id, size_t n)
{
    char array_opt[4096], dep_opt[4096];
    char *argv[6];
    int a = 0;
    argv[a++] = "sbatch";
    argv[a++] = "--parsable";
    if (array) {
        snprintf(array_opt, sizeof array_opt, "--array=%s", array);
        argv[a++] = array_opt;
    }
    if (dependency) {
        snprintf(dep_opt, sizeof dep_opt, "--dependency=%s", dependency);
        argv[a++] = dep_opt;
    }
    argv[a++] = (char *)script;
    argv[a] = NULL;
    char *out = NULL;
    int rc = run_program(argv, NULL, &out);
    if (rc == 127) {
        free(out);
        return strata_error_set("cannot run sbatch: is Slurm installed here? (--local runs the "
                                "study without Slurm)");
    }
    if (rc != 0 || parse_job_id(out ? out : "", id, n) != 0) {
        strata_error_set("sbatch %s failed (exit %d): %s", script, rc, out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    return 0;
}

/* "afterok:a:b:c" from the jobs the step waits for, or NULL (buffer given). */
static const char *afterok(char *buf, size_t n, const char *const *jobs, int n_jobs)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_jobs; i++)
        if (jobs[i] && jobs[i][0])
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ":" : "afterok:", jobs[i]);
    return len ? buf : NULL;
}

/* ---- modes -------------------------------------------------------------------------------- */
static int do_dry_run(const strata_study *s)
{
    study_state st;
    state_read(s, &st);
    study_plan p;
    plan_make(s, &st, 1, 1, &p); /* jobs recorded in study.state are looked up with scontrol */
    for (int step = 0; step < STRATA_STUDY_N_STEPS; step++) {
        char *text = NULL, *path = strata_study_script_path(s, (strata_study_step)step, 0);
        if (strata_study_script(s, (strata_study_step)step, 0, &text) != 0) {
            free(path);
            plan_free(&p);
            state_free(s, &st);
            return -1;
        }
        printf("#### %s ####\n%s\n", path, text);
        free(text);
        free(path);
    }
    char *list = index_list(p.need, s->n_models);
    char *ex = strata_study_script_path(s, STRATA_STEP_EXTRACT, 0);
    char *an = strata_study_script_path(s, STRATA_STEP_ANALYZE, 0);
    char *fi = strata_study_script_path(s, STRATA_STEP_FIGURES, 0);
    printf("#### what --submit would run now ####\n");
    if (p.n_need) {
        if (s->array_concurrency)
            printf("sbatch --parsable --array=%s%%%d %s\n", list, s->array_concurrency, ex);
        else
            printf("sbatch --parsable --array=%s %s\n", list, ex);
    }
    for (int i = 0; i < s->n_models; i++)
        if (!p.need[i])
            printf("# %s: %s\n", s->models[i].name,
                   p.active[i] ? "extract already queued or running" : "archive complete");
    if (p.need_analyze)
        printf("sbatch --parsable%s %s\n", p.n_need || p.n_active ? " --dependency=afterok:<extract jobs>" : "", an);
    else
        printf("# analyze: %s\n", p.analyze_active ? "already queued or running" : "results present");
    if (p.need_figures)
        printf("sbatch --parsable%s %s\n", p.need_analyze || p.analyze_active ? " --dependency=afterok:<analyze job>" : "", fi);
    else
        printf("# figures: %s\n", p.figures_active ? "already queued or running" : "present");
    free(list);
    free(ex);
    free(an);
    free(fi);
    plan_free(&p);
    state_free(s, &st);
    return 0;
}

static int do_submit(const strata_study *s)
{
    if (write_scripts(s, 0) != 0) return -1;
    study_state st;
    state_read(s, &st);
    study_plan p;
    plan_make(s, &st, 1, 0, &p);
    int rc = 0;
    char array_job[64] = "", analyze_job[64] = "", figures_job[64] = "", dep[8192];
    /* Earlier analysis/figures jobs that would run before the new archives are replaced. */
    if (p.n_need && p.analyze_active) {
        printf("cancelling analyze job %s: it would not include the archives submitted now\n",
               st.analyze_job);
        char *argv[] = {"scancel", st.analyze_job, NULL};
        run_program(argv, NULL, NULL);
        p.analyze_active = 0;
    }
    if (p.need_analyze && p.figures_active) {
        printf("cancelling figures job %s: a new analysis comes first\n", st.figures_job);
        char *argv[] = {"scancel", st.figures_job, NULL};
        run_program(argv, NULL, NULL);
        p.figures_active = 0;
    }
    if (p.n_need) {
        char *list = index_list(p.need, s->n_models), *csv = index_csv(p.need, s->n_models);
        char array[4096];
        if (s->array_concurrency)
            snprintf(array, sizeof array, "%s%%%d", list, s->array_concurrency);
        else
            snprintf(array, sizeof array, "%s", list);
        char *script = strata_study_script_path(s, STRATA_STEP_EXTRACT, 0);
        rc = sbatch(array, NULL, script, array_job, sizeof array_job);
        if (rc == 0) rc = state_append(s, "extract", array_job, csv);
        if (rc == 0) {
            printf("submitted extract array %s (tasks %s):", array_job, list);
            for (int i = 0; i < s->n_models; i++)
                if (p.need[i]) printf(" %s", s->models[i].name);
            printf("\n");
        }
        free(script);
        free(list);
        free(csv);
    }
    for (int i = 0; i < s->n_models; i++) {
        if (p.active[i]) printf("%s: extract %s already queued or running\n", s->models[i].name, st.model_job[i]);
        else if (!p.need[i]) printf("%s: archive complete\n", s->models[i].name);
    }
    if (rc == 0 && p.need_analyze) {
        const char **jobs = strata_calloc((size_t)s->n_models + 1, sizeof(char *));
        int n = 0;
        jobs[n++] = array_job;
        for (int i = 0; i < s->n_models; i++)
            if (p.active[i]) jobs[n++] = st.model_job[i];
        const char *d = afterok(dep, sizeof dep, jobs, n);
        char *script = strata_study_script_path(s, STRATA_STEP_ANALYZE, 0);
        rc = sbatch(NULL, d, script, analyze_job, sizeof analyze_job);
        if (rc == 0) rc = state_append(s, "analyze", analyze_job, "-");
        if (rc == 0) printf("submitted analyze %s%s%s\n", analyze_job, d ? " after " : "", d ? d + 8 : "");
        free(script);
        free((void *)jobs);
    } else if (rc == 0) {
        printf("analyze: %s\n", p.analyze_active ? "already queued or running" : "results present");
    }
    if (rc == 0 && p.need_figures) {
        const char *jobs[1] = {analyze_job[0] ? analyze_job : p.analyze_active ? st.analyze_job : NULL};
        const char *d = afterok(dep, sizeof dep, jobs, 1);
        char *script = strata_study_script_path(s, STRATA_STEP_FIGURES, 0);
        rc = sbatch(NULL, d, script, figures_job, sizeof figures_job);
        if (rc == 0) rc = state_append(s, "figures", figures_job, "-");
        if (rc == 0) printf("submitted figures %s%s%s\n", figures_job, d ? " after " : "", d ? d + 8 : "");
        free(script);
    } else if (rc == 0) {
        printf("figures: %s\n", p.figures_active ? "already queued or running" : "present");
    }
    if (rc == 0)
        printf("logs in %s/logs; follow with: strata study %s --status\n", s->output, s->spec_path);
    plan_free(&p);
    state_free(s, &st);
    return rc;
}

/* Run one step script with bash (the local scripts use mpirun). */
static int run_local_step(const strata_study *s, strata_study_step step, int task)
{
    char *script = strata_study_script_path(s, step, 1);
    char task_env[64];
    snprintf(task_env, sizeof task_env, "SLURM_ARRAY_TASK_ID=%d", task);
    char *env[] = {task_env, NULL};
    char *argv[] = {"bash", script, NULL};
    int rc = run_program(argv, step == STRATA_STEP_EXTRACT ? env : NULL, NULL);
    free(script);
    return rc;
}

static int do_local(const strata_study *s)
{
    if (write_scripts(s, 1) != 0) return STRATA_EXIT_FAILURE;
    study_state st;
    state_read(s, &st);
    study_plan p;
    plan_make(s, &st, 0, 0, &p);
    int rc = 0;
    for (int i = 0; i < s->n_models && rc == 0; i++) {
        if (!p.need[i]) {
            printf("%s: archive complete\n", s->models[i].name);
            continue;
        }
        rc = run_local_step(s, STRATA_STEP_EXTRACT, i);
        if (rc == STRATA_EXIT_REQUEUE)
            strata_log0("extract of %s was interrupted after a clean flush; run again to resume",
                        s->models[i].name);
        else if (rc)
            strata_log0("extract of %s failed (exit %d); see the output above", s->models[i].name, rc);
    }
    if (rc == 0 && p.need_analyze) {
        rc = run_local_step(s, STRATA_STEP_ANALYZE, 0);
        if (rc) strata_log0("analyze failed (exit %d)", rc);
    }
    if (rc == 0 && p.need_figures) {
        rc = run_local_step(s, STRATA_STEP_FIGURES, 0);
        if (rc) strata_log0("figures failed (exit %d)", rc);
    }
    if (rc == 0) printf("study %s done: %s\n", s->name, s->output);
    plan_free(&p);
    state_free(s, &st);
    if (rc == 0) return STRATA_EXIT_OK;
    return rc == STRATA_EXIT_REQUEUE ? STRATA_EXIT_REQUEUE : STRATA_EXIT_FAILURE;
}

static const char *archive_word(strata_archive_state a)
{
    switch (a) {
    case STRATA_ARCHIVE_COMPLETE: return "complete";
    case STRATA_ARCHIVE_PARTIAL: return "partial";
    case STRATA_ARCHIVE_MISSING: return "missing";
    default: return "unreadable";
    }
}

static void print_job(const char *label, const char *job)
{
    if (!job) {
        printf("  %-8s -\n", label);
        return;
    }
    char state[64], reason[128];
    job_state(job, state, sizeof state, reason, sizeof reason);
    printf("  %-8s %-12s %s%s%s\n", label, job, state[0] ? state : "(finished, no longer in Slurm)",
           state[0] && strcmp(reason, "None") != 0 && reason[0] ? " " : "",
           state[0] && strcmp(reason, "None") != 0 ? reason : "");
}

/* The first few failed samples of a complete archive: id and recorded error. */
static void print_failed(const strata_study *s, int model)
{
    char *path = strata_study_archive_path(s, model);
    strata_archive_reader *r = strata_archive_open(MPI_COMM_SELF, path);
    free(path);
    if (!r) return;
    int shown = 0;
    for (int64_t i = 0; i < r->n_samples && shown < 3; i++) {
        if (r->status[i] != STRATA_SAMPLE_FAILED) continue;
        printf("    failed %s: %s\n", r->ids[i], r->errors[i]);
        shown++;
    }
    strata_archive_reader_close(r);
}

static int do_status(const strata_study *s)
{
    study_state st;
    state_read(s, &st);
    printf("study %s (%s)\noutput %s\n\n", s->name, s->spec_path, s->output);
    printf("%-24s %-10s %8s %8s %8s %8s  %s\n", "model", "archive", "samples", "ok", "failed",
           "pending", "extract job");
    for (int i = 0; i < s->n_models; i++) {
        char *a = strata_study_archive_path(s, i);
        strata_study_archive_summary sum;
        strata_study_archive_summarise(a, &sum);
        free(a);
        char job[200] = "-";
        if (st.model_job[i]) {
            char state[64];
            job_state(st.model_job[i], state, sizeof state, NULL, 0);
            snprintf(job, sizeof job, "%s %s", st.model_job[i], state[0] ? state : "(finished)");
        }
        if (sum.state == STRATA_ARCHIVE_MISSING || sum.state == STRATA_ARCHIVE_UNREADABLE)
            printf("%-24s %-10s %8s %8s %8s %8s  %s\n", s->models[i].name, archive_word(sum.state),
                   "-", "-", "-", "-", job);
        else
            printf("%-24s %-10s %8lld %8lld %8lld %8lld  %s\n", s->models[i].name,
                   archive_word(sum.state), sum.n_samples, sum.n_ok, sum.n_failed, sum.n_pending, job);
        if (sum.detail[0]) printf("    %s\n", sum.detail);
        if (sum.state == STRATA_ARCHIVE_COMPLETE && sum.n_failed > 0) print_failed(s, i);
    }
    char *results = strata_study_results_path(s), *figures = strata_study_figures_dir(s);
    printf("\nresults  %s  %s\n", results_present(s) ? "present" : "missing", results);
    printf("figures  %s  %s\n\njobs (from %s/study.state):\n", figures_present(s) ? "present" : "missing",
           figures, s->output);
    print_job("analyze", st.analyze_job);
    print_job("figures", st.figures_job);
    free(results);
    free(figures);
    state_free(s, &st);
    return 0;
}

int strata_cmd_study(int argc, char **argv)
{
    const char *spec = NULL, *mode = NULL;
    for (int i = 1; i < argc; i++) {
        if (strata_is_help(argv[i])) {
            usage(stdout);
            return STRATA_EXIT_OK;
        }
        if (strcmp(argv[i], "--submit") == 0 || strcmp(argv[i], "--local") == 0 ||
            strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "--status") == 0) {
            if (mode && strcmp(mode, argv[i]) != 0) {
                fprintf(stderr, "strata study: %s and %s cannot be combined\n", mode, argv[i]);
                return STRATA_EXIT_USAGE;
            }
            mode = argv[i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "strata study: unknown option '%s'\n\n", argv[i]);
            usage(stderr);
            return STRATA_EXIT_USAGE;
        } else if (spec) {
            fprintf(stderr, "strata study: one spec at a time ('%s' and '%s')\n", spec, argv[i]);
            return STRATA_EXIT_USAGE;
        } else {
            spec = argv[i];
        }
    }
    if (!spec) {
        usage(stderr);
        return STRATA_EXIT_USAGE;
    }
    if (strata_nranks() > 1) {
        if (strata_rank() == 0)
            fprintf(stderr, "strata study: run it as one process (it starts the MPI jobs itself)\n");
        return STRATA_EXIT_USAGE;
    }
    if (!mode) mode = "--dry-run";
    strata_study *s = strata_study_load(spec);
    if (!s) {
        fprintf(stderr, "strata study: error: %s\n", strata_error_get());
        return STRATA_EXIT_FAILURE;
    }
    int rc;
    if (strcmp(mode, "--dry-run") == 0) rc = do_dry_run(s) ? STRATA_EXIT_FAILURE : STRATA_EXIT_OK;
    else if (strcmp(mode, "--submit") == 0) rc = do_submit(s) ? STRATA_EXIT_FAILURE : STRATA_EXIT_OK;
    else if (strcmp(mode, "--local") == 0) rc = do_local(s);
    else rc = do_status(s);
    if (rc == STRATA_EXIT_FAILURE && strata_error_get()[0])
        fprintf(stderr, "strata study: error: %s\n", strata_error_get());
    strata_study_free(s);
    return rc;
}

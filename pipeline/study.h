/* study.h — a study: models x dataset x streams x analyses, read from a YAML spec (libfyaml),
 * validated (study.c), and turned into Slurm batch scripts from the slurm/<step>.sbatch templates
 * (study_script.c). The spec format is in jobs/README.md; `strata study` (cmd_study.c) drives it.
 *
 * Every value that reaches a shell script is validated here (names, resources, launcher words)
 * and shell-quoted when the script is written (paths, templates, free arguments), so a spec
 * cannot inject shell code. Paths in the spec are relative to the spec file's folder. */
#ifndef STRATA_STUDY_H
#define STRATA_STUDY_H

#include <stdio.h>

/* A list of owned strings. */
typedef struct {
    char **v;
    int n;
} strata_strlist;

void strata_strlist_add(strata_strlist *l, const char *s); /* appends a copy */
void strata_strlist_free(strata_strlist *l);                /* frees the strings, empties l */
/* Does s hold a control character (< 0x20 or DEL)? Such values are refused or $'...'-quoted. */
int strata_study_has_control(const char *s);

typedef enum { STRATA_MODEL_VLM = 0, STRATA_MODEL_TEXT = 1 } strata_model_kind;

typedef struct {
    char *name;      /* [A-Za-z0-9][A-Za-z0-9._-]*: archive file name, job and results label */
    char *path;      /* absolute checkpoint folder (Hugging Face layout) */
    strata_model_kind kind;
    char *template_text; /* prompt template passed to extract (--template), NULL: model default */
    strata_strlist args;    /* further `strata extract` arguments of this model alone, after the
                             * study's extract.args (e.g. --nll --intervene skip-ffn:8-31) */
    strata_strlist streams; /* the study's streams this model can produce (text: no image ones) */
} strata_study_model;

/* Resources of one batch job; 0 / NULL means "not set" (Slurm's default applies). */
typedef struct {
    char *partition, *account, *qos, *mem, *time;
    int nodes, ntasks_per_node, gpus_per_node, cpus_per_task;
    strata_strlist extra;   /* extra "#SBATCH" option lines, each starting with '-' */
} strata_study_resources;

typedef enum { STRATA_STEP_EXTRACT = 0, STRATA_STEP_ANALYZE = 1, STRATA_STEP_FIGURES = 2 } strata_study_step;
enum { STRATA_STUDY_N_STEPS = 3 };

typedef struct {
    char *spec_path;        /* as given */
    char *name;
    char *output;           /* absolute output folder */
    char *dataset;          /* absolute manifest path */
    strata_study_model *models;
    int n_models;
    strata_strlist streams;
    /* extract options (NULL / 0: extract's default) */
    char *layers, *pool, *dtype, *backend;
    int batch;
    strata_strlist extract_args;
    /* analysis options */
    strata_strlist metrics;
    char *analysis_layers;
    long samples, seed;     /* 0 / -1: not set */
    strata_strlist analysis_args;
    /* figures options */
    strata_strlist formats, only, figures_args;
    /* Slurm */
    strata_study_resources resources[STRATA_STUDY_N_STEPS];
    int array_concurrency;  /* %N of the extract array; 0: unlimited */
    int signal_seconds;     /* --signal=B:USR1@<s> */
    strata_strlist launcher;       /* words, default "srun --mpi=pmix" */
    strata_strlist local_launcher; /* words, default "mpirun -np <ranks of the step>" (empty) */
    char *strata;           /* the strata program the jobs run (default: this one) */
    char *templates;        /* folder holding extract/analyze/figures.sbatch */
} strata_study;

/* Parse and validate a spec file. Returns NULL with strata_error set to
 * "<file>:<line>:<column>: <what was expected>" for the first problem. Checks that the dataset
 * and every model folder (config.json) exist. */
strata_study *strata_study_load(const char *path);
/* Same from a string; `origin` names it in messages and relative paths resolve against
 * `base_dir`. */
strata_study *strata_study_load_string(const char *text, const char *origin, const char *base_dir);
void strata_study_free(strata_study *s);

/* Where things live under the output folder (malloc'd strings). */
char *strata_study_archive_path(const strata_study *s, int model);  /* archives/<name>.h5 */
char *strata_study_results_path(const strata_study *s);             /* results.h5 */
char *strata_study_figures_dir(const strata_study *s);              /* figures */
char *strata_study_script_path(const strata_study *s, strata_study_step step, int local);

/* Write the script of one step (from the template in s->templates) into `out` (malloc'd).
 * local: use the local launcher (and no requeue). Returns 0, or -1 with strata_error set. */
int strata_study_script(const strata_study *s, strata_study_step step, int local, char **out);

/* Shell-quote `text` as one word: '...' or $'...' when it holds control characters.
 * Returns a malloc'd string. */
char *strata_study_shell_quote(const char *text);

/* An archive on disk, read with the HDF5 C API (works on a .partial being written). */
typedef enum {
    STRATA_ARCHIVE_MISSING = 0, STRATA_ARCHIVE_PARTIAL = 1, STRATA_ARCHIVE_COMPLETE = 2,
    STRATA_ARCHIVE_UNREADABLE = 3
} strata_archive_state;
typedef struct {
    strata_archive_state state;
    long long n_samples, n_ok, n_failed, n_pending;
    char detail[256];       /* why unreadable, or "" */
} strata_study_archive_summary;
void strata_study_archive_summarise(const char *path, strata_study_archive_summary *out);

/* The environment strata started with, before MPI_Init added its singleton variables; child
 * processes (sbatch, bash, mpirun) get this one so that they do not think they are MPI ranks. */
char **strata_study_clean_environ(void);

#endif

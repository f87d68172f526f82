/* extract.h — the MPI extract driver behind `strata extract` (DESIGN.md, Distribution): a
 * manifest and a checkpoint in, an activation archive (io/archive.h) out, on any number of
 * ranks. Samples are split into contiguous blocks per rank and processed in collective rounds
 * of one batch; a loader thread prepares the next batch while the current one runs; the run
 * resumes from ARCHIVE.h5.partial and stops cleanly on SIGTERM/SIGUSR1 (exit 75). */
#ifndef STRATA_EXTRACT_H
#define STRATA_EXTRACT_H

#include <mpi.h>
#include <stdint.h>

#include "io/archive.h"
#include "progress.h"

/* ---- the plan: which samples each rank runs in each round -------------------------------- */
typedef struct {
    int64_t begin, end; /* [begin, end) manifest indices; begin == end: nothing this round */
} strata_sample_range;

typedef struct {
    int n_ranks, n_rounds;
    int64_t n_pending;         /* samples to run (status pending) */
    strata_sample_range *work; /* [n_rounds][n_ranks] */
} strata_extract_plan;

/* Plans the pending samples (status[i] == STRATA_SAMPLE_PENDING; status NULL: all pending) of
 * n_samples over n_ranks: the pending samples, in manifest order, are cut into n_ranks blocks
 * of nearly equal count (rank r gets the r-th); each rank cuts its block into runs of at most
 * `batch` samples that are consecutive in the manifest (a gap left by finished samples ends a
 * run). Round k holds every rank's k-th run. Every rank computes the same plan. */
int strata_extract_plan_make(const int8_t *status, int64_t n_samples, int n_ranks, int batch,
                             strata_extract_plan *plan);
void strata_extract_plan_free(strata_extract_plan *plan);
/* The run of `rank` in `round`. */
static inline strata_sample_range strata_extract_plan_work(const strata_extract_plan *p,
                                                           int round, int rank)
{
    return p->work[(int64_t)round * p->n_ranks + rank];
}

/* ---- the run ------------------------------------------------------------------------------ */
typedef struct {
    const char *model_dir;     /* Hugging Face checkpoint folder */
    const char *manifest;      /* JSONL manifest (io/manifest.h) */
    const char *out;           /* archive path; written as OUT.partial, renamed when complete */
    const char *streams;       /* NULL: "image,caption" (vision models) or "caption" */
    const char *pool;          /* default pool of streams without one; NULL: "mean" */
    const char *layers;        /* LLM layers; NULL: "all" */
    const char *vision_layers; /* vision tower layers; NULL: "all" */
    strata_dtype dtype;        /* on disk */
    int batch;                 /* samples per rank per round (>= 1) */
    const char *backend;       /* "auto" | "cpu" | "cuda" */
    int threads;               /* CPU threads per rank; <= 0: OMP_NUM_THREADS or cores/local ranks */
    double memory_budget_gib;  /* > 0: device memory per rank for the batch check; 0: the GPU's
                                  free memory on a device backend, no check on the CPU */
    const char *template_text; /* preset name or template text; NULL: the architecture's */
    const char *prompt;        /* {prompt} of the template; NULL: "Describe the image." */
    int overwrite;             /* start again instead of resuming */
    int prefetch;              /* 1: load the next batch in a thread while the current runs */
    int fail_on_bad;           /* exit 1 (archive still complete) when any sample failed */
    strata_progress_mode progress;
    const char *command_line;  /* recorded in the archive */
    int nll;                   /* 1: per-sample caption NLL into /nll/caption (issue 10) */
    const char *const *intervene; /* [n_intervene] --intervene specs (model/intervene.h) */
    int n_intervene;
} strata_extract_options;

typedef struct {
    int64_t n_samples, ok, failed; /* whole archive (including samples done by earlier runs) */
    int64_t run_samples;           /* samples processed by this run */
    double seconds;                /* this run, from start to the end of the last round */
    double rounds_seconds;         /* of which the rounds (after setup) */
    double forward_seconds, load_wait_seconds, write_seconds; /* rank 0's, within the rounds */
    double forward_min_seconds, forward_max_seconds;          /* over ranks (rank 0 only) */
    int stopped;                   /* 1 when a signal ended the run early (.partial kept) */
    int64_t archive_bytes;         /* size of the finished archive (or the .partial) */
} strata_extract_summary;

/* Defaults for every option (batch 8, f32, auto backend, prefetch on, progress auto). */
void strata_extract_options_init(strata_extract_options *opt);

/* Runs the extraction; collective over comm. Returns STRATA_EXIT_OK, STRATA_EXIT_FAILURE
 * (bad model/manifest/options: nothing was written; or --fail-on-bad with failures) or
 * STRATA_EXIT_REQUEUE (stopped by SIGTERM/SIGUSR1 after flushing its last round). summary may
 * be NULL. Rank 0 prints progress and the summary. */
int strata_extract_run(MPI_Comm comm, const strata_extract_options *opt,
                       strata_extract_summary *summary);

/* Install the SIGTERM/SIGUSR1 (and first SIGINT) handlers that ask the run to stop after the
 * current round; strata_extract_stop_requested() reads the flag (signal-safe). */
void strata_extract_install_signals(void);
int strata_extract_stop_requested(void);

#endif

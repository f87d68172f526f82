/* commands.h — the subcommands of the `strata` program. Each takes the arguments after the
 * subcommand name (argv[0] is the subcommand) and returns a process exit code (strata.h).
 * MPI is initialised before any of them runs and finalised after; one file per command. */
#ifndef STRATA_COMMANDS_H
#define STRATA_COMMANDS_H

#include <mpi.h>

int strata_cmd_extract(int argc, char **argv);    /* pipeline/cmd_extract.c */
int strata_cmd_analyze(int argc, char **argv);    /* pipeline/cmd_analyze.c */
int strata_cmd_figures(int argc, char **argv);    /* pipeline/cmd_figures.c */
int strata_cmd_study(int argc, char **argv);      /* pipeline/cmd_study.c */
int strata_cmd_inspect(int argc, char **argv);    /* pipeline/cmd_inspect.c */
int strata_cmd_tokenize(int argc, char **argv);   /* pipeline/cmd_tokenize.c */
int strata_cmd_preprocess(int argc, char **argv); /* pipeline/cmd_preprocess.c */
int strata_cmd_mkmodel(int argc, char **argv);    /* pipeline/cmd_mkmodel.c */
int strata_cmd_mkdata(int argc, char **argv);     /* pipeline/cmd_mkdata.c */
int strata_cmd_selftest(int argc, char **argv);   /* pipeline/cmd_selftest.c */
int strata_cmd_mkarchive(int argc, char **argv);  /* pipeline/cmd_mkarchive.c: synthetic archive */

/* Shared by commands: true if argv[i] is -h or --help. */
int strata_is_help(const char *arg);
/* CPU threads for this rank: `requested` when > 0; else 0 (OpenMP's default) when
 * OMP_NUM_THREADS is set; else the cores this process may run on (its affinity: a Slurm
 * allocation or an mpirun binding), shared with the node's other ranks when they have the same
 * cores (at least 1), so that several ranks on a node do not oversubscribe it. Collective. */
int strata_threads_per_rank(MPI_Comm comm, int requested);

#endif

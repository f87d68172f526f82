# Studies (issue 7): the spec parser and script generator (C), the generated scripts run by
# bash with hostile values (Python), and real single-node Slurm runs (tests/slurm/, label slurm;
# they skip with 77 where slurmctld/slurmd are not installed or we are not root).
strata_test(test_study_spec study/test_study_spec.c)

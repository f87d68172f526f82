# Studies (issue 7): the spec parser and script generator (C); the CLI without Slurm (bad specs
# never reach sbatch, --dry-run, --local with the real commands and a hostile model path); the
# demo study on a real single-node Slurm with requeues (tests/slurm/, label slurm; skips with 77
# where slurmctld/slurmd are not installed or we are not root). The Slurm test runs alone
# (RUN_SERIAL): it starts its own slurmctld and slurmd and uses both cores.
strata_test(test_study_spec study/test_study_spec.c)
strata_py_test(study_cli study/test_study_cli.py)
set_tests_properties(study_cli PROPERTIES LABELS nosanitize)
strata_py_test(slurm_study_demo slurm/test_slurm_demo.py)
set_tests_properties(slurm_study_demo PROPERTIES LABELS "slurm;nosanitize" RUN_SERIAL TRUE TIMEOUT 500)

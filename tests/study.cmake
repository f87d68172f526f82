# Studies (issue 7): the spec parser and script generator (C), the generated scripts run by
# bash with hostile values (Python), and real single-node Slurm runs (tests/slurm/, label slurm;
# they skip with 77 where slurmctld/slurmd are not installed or we are not root).
strata_test(test_study_spec study/test_study_spec.c)
strata_py_test(slurm_study_machinery slurm/test_slurm_machinery.py)
set_tests_properties(slurm_study_machinery PROPERTIES LABELS "slurm;nosanitize" RUN_SERIAL TRUE TIMEOUT 400)
strata_py_test(study_cli study/test_study_cli.py)
set_tests_properties(study_cli PROPERTIES LABELS nosanitize)
strata_py_test(slurm_study_demo slurm/test_slurm_demo.py)
set_tests_properties(slurm_study_demo PROPERTIES LABELS "slurm;nosanitize" RUN_SERIAL TRUE TIMEOUT 500)

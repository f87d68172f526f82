# CUDA backend (issue 9): `strata selftest` on the CPU (the comparison machinery, always) and on
# CUDA (exit 77, skipped, where no GPU is usable). The backend-ops table test is in model.cmake.
add_test(NAME selftest_cpu COMMAND strata selftest --backend cpu)
strata_set_env(selftest_cpu)
set_tests_properties(selftest_cpu PROPERTIES PASS_REGULAR_EXPRESSION "selftest: PASS")
add_test(NAME selftest_cuda COMMAND strata selftest --backend cuda)
strata_set_env(selftest_cuda)
strata_test(test_memory_plan test_memory_plan.c)

# Interventions (issue 10): --intervene against transformers with hooks
# (tests/golden/make_interventions.py -> tests/golden/interventions/reference.h5), bad specs.
add_executable(test_interventions golden/test_interventions.c)
target_link_libraries(test_interventions PRIVATE strata_lib strata_testlib)
target_compile_options(test_interventions PRIVATE ${strata_warnings})
add_test(NAME test_interventions COMMAND test_interventions)
strata_set_env(test_interventions)
add_test(NAME test_interventions_cuda COMMAND test_interventions cuda)  # exits 77 without a GPU
strata_set_env(test_interventions_cuda)
# `strata extract --nll --intervene` end to end (2 ranks) vs transformers hooks
# (tests/golden/interventions/extract_nll.h5)
strata_py_test(test_extract_nll golden/test_extract_nll.py)
# The worked example (jobs/examples/interventions.sh) as README shows it
strata_py_test(test_example_interventions golden/test_example_interventions.py)

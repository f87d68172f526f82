# Model engine (issue 3): backend ops vs naive references, golden fixtures vs transformers,
# bad checkpoints. Fixtures: tests/golden/<name>/ made by tests/golden/make_fixtures.py.
add_executable(test_golden golden/test_golden.c)
target_link_libraries(test_golden PRIVATE strata_lib strata_testlib)
target_compile_options(test_golden PRIVATE ${strata_warnings})
foreach(fixture llava_clip_llama llava_siglip_qwen2_bf16 llava_clip_full_last mistral_sliding
        llama3_rope llava_clip_multilayer)
  add_test(NAME model_golden_${fixture} COMMAND test_golden ${fixture})
  strata_set_env(model_golden_${fixture})
endforeach()
strata_test(test_model_errors test_model_errors.c)
strata_test(test_backend_ops test_backend_ops.c)
# the same on 3 threads: GEMMs split over OpenMP threads (f16/bf16 converted per thread block)
add_test(NAME test_backend_ops_threads COMMAND test_backend_ops)
strata_set_env(test_backend_ops_threads)
set_tests_properties(test_backend_ops_threads PROPERTIES ENVIRONMENT
  "${strata_test_env};OMP_NUM_THREADS=3;STRATA_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}/tmp/test_backend_ops_threads")
add_test(NAME test_backend_ops_cuda COMMAND test_backend_ops cuda)  # exits 77 without a GPU
strata_set_env(test_backend_ops_cuda)
strata_py_test(test_mkmodel test_mkmodel.py)
# the forward benchmark's strata side (not a test): tests/bench/bench_forward.sh runs it
add_executable(bench_forward bench/bench_forward.c)
target_link_libraries(bench_forward PRIVATE strata_lib)
target_compile_options(bench_forward PRIVATE ${strata_warnings})
strata_test(test_blas_omp test_blas_omp.c)

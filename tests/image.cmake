# Inputs (issue 4, image half): decode, preprocessing, manifests; mkdata (issue 5).
# image_pixels runs strata ~700 times against PIL (live) and transformers (fixtures); it is kept
# out of the ASan pass for time (labels nosanitize): test_image_inputs runs the same decode,
# resize and manifest code under ASan/UBSan.
strata_py_test(image_pixels image/test_pixels.py)
set_tests_properties(image_pixels PROPERTIES LABELS nosanitize)
# bad input, one ctest entry per case (test_image_inputs CASE)
add_executable(test_image_inputs image/test_image_inputs.c)
target_link_libraries(test_image_inputs PRIVATE strata_lib strata_testlib)
target_compile_options(test_image_inputs PRIVATE ${strata_warnings})
foreach(case truncated empty_garbage corrupt_header huge_header missing_file png_named_jpg threads
        manifest_samples manifest_lines config_errors preprocess_ranges)
  add_test(NAME image_input_${case} COMMAND test_image_inputs ${case})
  strata_set_env(image_input_${case})
endforeach()
strata_py_test(image_mkdata image/test_mkdata.py)
# tests/bench/bench_image.py runs this (not a test)
add_executable(bench_image bench/bench_image.c)
target_link_libraries(bench_image PRIVATE strata_lib)
target_compile_options(bench_image PRIVATE ${strata_warnings})
# the CLI contract: --help works, missing arguments are usage errors
add_test(NAME cli_preprocess_help COMMAND strata preprocess --help)
add_test(NAME cli_mkdata_help COMMAND strata mkdata --help)
add_test(NAME cli_preprocess_no_args COMMAND strata preprocess)
add_test(NAME cli_mkdata_bad_n COMMAND strata mkdata --out x --n zero)
foreach(t cli_preprocess_help cli_mkdata_help cli_preprocess_no_args cli_mkdata_bad_n)
  strata_set_env(${t})
endforeach()
set_tests_properties(cli_preprocess_no_args cli_mkdata_bad_n PROPERTIES WILL_FAIL TRUE)

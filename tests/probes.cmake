# Linear probes (issue 10): strata's ridge probes vs scikit-learn at 1, 2 and 3 ranks.
add_executable(probe_driver probes/probe_driver.c)
target_link_libraries(probe_driver PRIVATE strata_lib strata_testlib)
target_compile_options(probe_driver PRIVATE ${strata_warnings})
strata_py_test(test_probe probes/test_probe.py $<TARGET_FILE:probe_driver>)
strata_py_test(test_probe_analyze probes/test_probe_analyze.py)

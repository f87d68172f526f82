# Analysis (issue 6): the engine vs dadapy / scikit-dimension / numpy at 1, 2 and 3 ranks, and
# `strata analyze` end to end on archives.
add_executable(analysis_driver analysis/analysis_driver.c)
target_link_libraries(analysis_driver PRIVATE strata_lib strata_testlib)
target_include_directories(analysis_driver PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(analysis_driver PRIVATE ${strata_warnings})
strata_py_test(analysis_reference analysis/test_reference.py $<TARGET_FILE:analysis_driver>)
strata_py_test(analysis_cli analysis/test_analyze_cli.py)

# Fuzz targets: every tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput. They are built
# only in a clang build with -DSTRATA_FUZZ=ON (CI does one) and each runs for a bounded time
# from its seed corpus tests/fuzz/corpus_<name>/ (if present), with a fixed seed so that a CI
# run is repeatable (explore further by hand: build-fuzz/tests/fuzz_<name> -max_total_time=600).
# Label: fuzz.
if(STRATA_FUZZ)
  set(STRATA_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs in ctest")
  file(GLOB strata_fuzzers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_*.c)
  foreach(src ${strata_fuzzers})
    get_filename_component(name ${src} NAME_WE)
    string(REGEX REPLACE "^fuzz_" "" short ${name})
    add_executable(${name} ${src})
    target_link_libraries(${name} PRIVATE strata_lib)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
    set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus_${short})
    set(work ${CMAKE_CURRENT_BINARY_DIR}/fuzzwork/${short})
    file(MAKE_DIRECTORY ${work})
    if(EXISTS ${corpus})
      add_test(NAME ${name} COMMAND ${name} -seed=1 -max_total_time=${STRATA_FUZZ_SECONDS}
               -rss_limit_mb=4096 -timeout=10 ${work} ${corpus})
    else()
      add_test(NAME ${name} COMMAND ${name} -seed=1 -max_total_time=${STRATA_FUZZ_SECONDS}
               -rss_limit_mb=4096 -timeout=10 ${work})
    endif()
    strata_set_env(${name})
    set_tests_properties(${name} PROPERTIES LABELS fuzz)
  endforeach()
endif()

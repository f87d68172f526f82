# Extraction (issue 5): stream/pool/layer specs and pooling (vs Python + numpy), the round plan,
# and the end-to-end runs of `strata extract` under mpirun.
add_executable(extract_streams_tool extract/streams_tool.c)
target_link_libraries(extract_streams_tool PRIVATE strata_lib)
target_compile_options(extract_streams_tool PRIVATE ${strata_warnings})
strata_py_test(extract_streams extract/test_streams.py $<TARGET_FILE:extract_streams_tool>)

strata_test(test_extract_plan extract/test_extract_plan.c)
target_include_directories(test_extract_plan PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})

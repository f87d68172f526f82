# The HDF5 activation archive (io/archive*.c, strata mkarchive, strata inspect): MPI round trips
# at 1, 2 and 3 ranks, h5py/numpy read-back, crash + resume, refusals of bad files; see
# tests/archive/.
add_executable(test_archive_roundtrip archive/test_archive_roundtrip.c)
target_link_libraries(test_archive_roundtrip PRIVATE strata_lib strata_testlib)
target_include_directories(test_archive_roundtrip PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_compile_options(test_archive_roundtrip PRIVATE ${strata_warnings})
foreach(np 1 2 3)
  strata_mpi_test(archive_roundtrip_np${np} ${np} test_archive_roundtrip)
endforeach()
add_executable(half_tool archive/half_tool.c)
target_link_libraries(half_tool PRIVATE strata_lib)
target_compile_options(half_tool PRIVATE ${strata_warnings})
strata_py_test(archive_half archive/test_archive_half.py $<TARGET_FILE:half_tool>)

# Python tests spawn mpirun + strata and read with h5py: not under ASan.
foreach(t h5py crash errors)
  strata_py_test(archive_${t} archive/test_archive_${t}.py)
  set_tests_properties(archive_${t} PROPERTIES LABELS nosanitize)
endforeach()

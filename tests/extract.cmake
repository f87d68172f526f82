# Extraction (issue 5): stream/pool/layer specs and pooling (vs Python + numpy), the round plan,
# and the end-to-end runs of `strata extract` under mpirun.
add_executable(extract_streams_tool extract/streams_tool.c)
target_link_libraries(extract_streams_tool PRIVATE strata_lib)
target_compile_options(extract_streams_tool PRIVATE ${strata_warnings})
strata_py_test(extract_streams extract/test_streams.py $<TARGET_FILE:extract_streams_tool>)

strata_test(test_extract_plan extract/test_extract_plan.c)

# End to end on a tiny random LLaVA (strata mkmodel) and real image files made by PIL; each mode
# is one test (see the script's docstring).
foreach(mode cli ranks bad kill term)
  strata_py_test(extract_e2e_${mode} extract/test_extract_e2e.py ${mode})
endforeach()

# Golden: the archive equals transformers (processor + model, output_hidden_states) for the model
# engine's fixture checkpoints and real image files (tests/extract/golden/, make_golden.py).
foreach(fixture llava_clip_llama llava_siglip_qwen2_bf16 llama3_rope)
  strata_py_test(extract_golden_${fixture} extract/test_golden.py ${fixture})
endforeach()

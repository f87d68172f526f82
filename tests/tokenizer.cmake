# Tokenizer (io/tokenizer.c) and prompt templates (io/template.c), issue 4.
#  tokenizer_vs_tokenizers  ids equal to the `tokenizers` library (live) on hard strings, for
#                           every fixture kind of tests/tokenizer/data/ and edited variants
#  tokenizer_unit           API: lookups, config ids, errors for bad files, fixed expectations
#                           from the library recorded in tests/tokenizer/expected.json
#  template_unit            templates: presets, expansion, placeholder errors
add_executable(tok_dump tokenizer/tok_dump.c)
target_link_libraries(tok_dump PRIVATE strata_lib)
target_compile_options(tok_dump PRIVATE ${strata_warnings})
strata_py_test(tokenizer_vs_tokenizers tokenizer/test_vs_tokenizers.py $<TARGET_FILE:tok_dump>)

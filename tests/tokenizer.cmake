# Tokenizer (io/tokenizer.c) and prompt templates (io/template.c), issue 4.
#  tokenizer_vs_tokenizers  ids equal to the `tokenizers` library (live) on hard strings, for
#                           every fixture kind of tests/tokenizer/data/ and edited variants
#  tokenizer_unit           API: lookups, tokenizer_config.json ids, the word cache, the error
#                           (file and field named) for each kind of bad tokenizer.json
#  template_unit            templates: presets, expansion, placeholder errors
add_executable(tok_dump tokenizer/tok_dump.c)
target_link_libraries(tok_dump PRIVATE strata_lib)
target_compile_options(tok_dump PRIVATE ${strata_warnings})
strata_py_test(tokenizer_vs_tokenizers tokenizer/test_vs_tokenizers.py $<TARGET_FILE:tok_dump>)
strata_test(tokenizer_unit tokenizer/test_tokenizer_unit.c)
strata_test(template_unit tokenizer/test_template_unit.c)
# tests/bench/bench_tokenizer.py runs this (not a test)
add_executable(bench_tokenizer bench/bench_tokenizer.c)
target_link_libraries(bench_tokenizer PRIVATE strata_lib)
target_compile_options(bench_tokenizer PRIVATE ${strata_warnings})

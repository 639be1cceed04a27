# convert.cmake -- `dsv3 convert` (HF checkpoint -> GGUF) and the tokenizer
# read back from GGUF metadata; include()d from tests/CMakeLists.txt inside
# if(DSV3_BUILD_EXAMPLES) (both tests run the dsv3 CLI).

# test_convert.py DSV3_BIN SHARED TMPDIR: every golden checkpoint to F32
# GGUF (same logits as the safetensors original) and Q8_0 (within the
# tolerance it states), metadata/tensors checked by an independent parser,
# throughput and peak RSS on the largest golden and a synthetic checkpoint.
dsv3_add_shared_test(NAME convert NEEDS golden golden-gguf COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_convert.py
  $<TARGET_FILE:dsv3_cli> ${DSV3_SHARED} ${CMAKE_CURRENT_BINARY_DIR}/convert-tmp)
set_tests_properties(convert PROPERTIES TIMEOUT 1800)

# test_tokenizer_gguf DSV3_BIN SHARED TMPDIR: converts tiny-v3/bf16 with the
# real DeepSeek-V3 tokenizer, then checks the tokenizer loaded from the GGUF
# against tokenizer.json and the golden encode/chat cases.
add_executable(test_tokenizer_gguf ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer_gguf.c)
target_link_libraries(test_tokenizer_gguf PRIVATE dsv3_static)
target_compile_options(test_tokenizer_gguf PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME tokenizer_gguf NEEDS golden golden-gguf tokenizer/deepseek-v3 COMMAND test_tokenizer_gguf $<TARGET_FILE:dsv3_cli> ${DSV3_SHARED}
  ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-gguf-tmp)
set_tests_properties(tokenizer_gguf PROPERTIES TIMEOUT 600)

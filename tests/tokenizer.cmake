# tokenizer.cmake -- the tokenizer's test and benchmark; include()d
# from tests/CMakeLists.txt (which defines DSV3_SHARED and DSV3_WARN). Paths
# are relative to this file, so it works whatever includes it.

# test_tokenizer SHARED_DIR: the public golden set, random round trips,
# streaming, buffer sizes, bad ids, load errors, threads.
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE dsv3_static)
target_compile_options(test_tokenizer PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME tokenizer NEEDS tokenizer/deepseek-v3 COMMAND test_tokenizer ${DSV3_SHARED})
set_tests_properties(tokenizer PROPERTIES TIMEOUT 300)

# bench_tokenizer SHARED_DIR [MB]: encode ~10 MB of English and of Chinese
# and print MB/s. A tool, not a test.
add_executable(bench_tokenizer ${CMAKE_CURRENT_LIST_DIR}/bench_tokenizer.c)
target_link_libraries(bench_tokenizer PRIVATE dsv3_static)
target_compile_options(bench_tokenizer PRIVATE ${DSV3_WARN})

# The fuzz harness: tests/fuzz/ (fuzz.cmake).

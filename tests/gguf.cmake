# gguf.cmake -- GGUF loading: the golden-gguf cases (test_gguf) and
# malformed files built at run time from a golden file (test_gguf_errors).
add_executable(test_gguf ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c)
target_link_libraries(test_gguf PRIVATE dsv3_static)
target_compile_options(test_gguf PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME gguf NEEDS golden-gguf COMMAND test_gguf ${DSV3_SHARED})
set_tests_properties(gguf PROPERTIES TIMEOUT 900)

add_executable(test_gguf_errors ${CMAKE_CURRENT_LIST_DIR}/test_gguf_errors.c)
target_link_libraries(test_gguf_errors PRIVATE dsv3_static)
target_compile_options(test_gguf_errors PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME gguf_errors NEEDS golden-gguf COMMAND test_gguf_errors ${DSV3_SHARED} ${CMAKE_CURRENT_BINARY_DIR}/gguf-errors-tmp)
set_tests_properties(gguf_errors PROPERTIES TIMEOUT 900)

# The fuzz harness: tests/fuzz/ (fuzz.cmake).

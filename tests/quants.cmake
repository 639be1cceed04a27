# quants.cmake -- ggml block formats (backends/quants); include()d from
# tests/CMakeLists.txt. Paths are relative to this file.

add_executable(test_quants ${CMAKE_CURRENT_LIST_DIR}/test_quants.c)
target_link_libraries(test_quants PRIVATE dsv3_static)
target_compile_options(test_quants PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME quants NEEDS golden-gguf COMMAND test_quants ${DSV3_SHARED})
set_tests_properties(quants PROPERTIES TIMEOUT 300)

add_executable(test_quantize ${CMAKE_CURRENT_LIST_DIR}/test_quantize.c)
target_link_libraries(test_quantize PRIVATE dsv3_static)
target_compile_options(test_quantize PRIVATE ${DSV3_WARN})
add_test(NAME quantize COMMAND test_quantize)
set_tests_properties(quantize PROPERTIES TIMEOUT 600)

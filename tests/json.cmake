# json.cmake -- tests for lib/json.c; include()d from tests/CMakeLists.txt.
# Paths are relative to this file, so it works whatever includes it.

add_executable(test_json ${CMAKE_CURRENT_LIST_DIR}/test_json.c)
target_link_libraries(test_json PRIVATE dsv3_static)
target_compile_options(test_json PRIVATE ${DSV3_WARN})
add_test(NAME json COMMAND test_json)
set_tests_properties(json PROPERTIES TIMEOUT 300)

# The fuzz harness: tests/fuzz/ (fuzz.cmake).

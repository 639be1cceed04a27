# errors.cmake -- bad input gives the right status and a message naming the
# problem, never crashes or leaks, and leaves a session usable. Builds its
# malformed checkpoints from ${DSV3_SHARED}/golden in errors-tmp at run time.
add_executable(test_errors ${CMAKE_CURRENT_SOURCE_DIR}/test_errors.c)
target_compile_options(test_errors PRIVATE ${DSV3_WARN})
target_link_libraries(test_errors PRIVATE dsv3_static)
dsv3_add_shared_test(NAME errors NEEDS golden COMMAND test_errors ${DSV3_SHARED} ${CMAKE_CURRENT_BINARY_DIR}/errors-tmp)

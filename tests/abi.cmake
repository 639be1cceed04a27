# abi.cmake -- the ABI promise, seen from programs; include()d from
# tests/CMakeLists.txt. Both tests link libdsv3.so (the public API only) and
# run on the demo model, so they need nothing from ../shared; under
# DSV3_SANITIZE they run instrumented like the rest.
if(CMAKE_CROSSCOMPILING)
  return() # same_output.cmake runs the programs directly, not under an emulator
endif()
set(_dsv3_demo ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)

# abi_old_header: tests/abi/consumer.c built against the 0.1 header
# (tests/abi/dsv3-0.1.0.h, by-value *_params_default) and against the
# current one; same output from both on the current library.
add_executable(abi_consumer_0_1 ${CMAKE_CURRENT_LIST_DIR}/abi/consumer.c)
target_compile_definitions(abi_consumer_0_1 PRIVATE DSV3_CONSUMER_0_1)
add_executable(abi_consumer ${CMAKE_CURRENT_LIST_DIR}/abi/consumer.c)
foreach(t abi_consumer_0_1 abi_consumer)
  target_link_libraries(${t} PRIVATE dsv3)
  target_compile_options(${t} PRIVATE ${DSV3_WARN})
endforeach()
add_test(NAME abi_old_header COMMAND ${CMAKE_COMMAND}
  -DOLD=$<TARGET_FILE:abi_consumer_0_1> -DNEW=$<TARGET_FILE:abi_consumer> -DMODEL=${_dsv3_demo}
  -P ${CMAKE_CURRENT_LIST_DIR}/abi/same_output.cmake)

# abi_grown_structs: every parameter/result struct grown past the library's
# (a program built against a newer header) and shrunk below it.
add_executable(test_grown_structs ${CMAKE_CURRENT_LIST_DIR}/abi/test_grown_structs.c)
target_link_libraries(test_grown_structs PRIVATE dsv3)
target_compile_options(test_grown_structs PRIVATE ${DSV3_WARN})
add_test(NAME abi_grown_structs COMMAND test_grown_structs ${_dsv3_demo})
unset(_dsv3_demo)

# abi_check_selftest: abi/abi.sh (the CI's abidiff step against the
# committed baseline) accepts compatible changes of a tiny library and
# refuses incompatible ones. Skipped (77) without abigail-tools.
add_test(NAME abi_check_selftest COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/abi/abi_check_selftest.sh)
set_tests_properties(abi_check_selftest PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "CC=${CMAKE_C_COMPILER}")

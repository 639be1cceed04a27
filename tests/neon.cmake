# neon.cmake -- the NEON backend (AArch64 builds only); include()d from
# tests/CMakeLists.txt. test_backend_ops (backend_ops.cmake) compares every
# op with the scalar backend; here: golden runs, and the NEON-specific
# paths (test_neon_ops.c). Under qemu (tests/run_neon.sh) the *_armv80 tests
# run again on an emulated CPU without the dot-product extension, so the
# plain ARMv8.0 kernels and the run-time choice are exercised too.
if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  return()
endif()

dsv3_add_shared_test(NAME golden_neon NEEDS golden COMMAND test_golden ${DSV3_SHARED} neon 2)

add_executable(test_neon_ops ${CMAKE_CURRENT_LIST_DIR}/test_neon_ops.c)
target_link_libraries(test_neon_ops PRIVATE dsv3_static)
target_compile_options(test_neon_ops PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME neon_ops NEEDS golden-gguf COMMAND test_neon_ops ${DSV3_SHARED})
set_tests_properties(neon_ops PROPERTIES TIMEOUT 600)

if(CMAKE_CROSSCOMPILING_EMULATOR MATCHES "qemu")
  dsv3_add_shared_test(NAME neon_ops_armv80 NEEDS golden-gguf COMMAND test_neon_ops ${DSV3_SHARED})
  set_tests_properties(neon_ops_armv80 PROPERTIES TIMEOUT 600 ENVIRONMENT "QEMU_CPU=cortex-a53")
  if(TARGET test_backend_ops)
    add_test(NAME neon_backend_ops_armv80 COMMAND test_backend_ops)
    set_tests_properties(neon_backend_ops_armv80 PROPERTIES TIMEOUT 900 ENVIRONMENT "QEMU_CPU=cortex-a53")
  endif()
endif()

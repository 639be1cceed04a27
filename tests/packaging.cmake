# packaging.cmake -- included by tests/CMakeLists.txt: the ABI/export check,
# the install + consumer check, and the concurrent-sessions test.

# threads: 4 threads, one session each, on one shared model; logits must
# equal a single-threaded run bit for bit. Also the test to run under TSan.
find_package(Threads REQUIRED)
add_executable(test_threads test_threads.c)
target_link_libraries(test_threads PRIVATE dsv3_static Threads::Threads)
target_compile_options(test_threads PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME threads NEEDS golden COMMAND test_threads ${DSV3_SHARED})

# The shell checks get the build's compiler and flags, so a build with extra
# instrumentation in CMAKE_C_FLAGS still links its consumers.
set(_dsv3_pkg_env
  "CC=${CMAKE_C_COMPILER}"
  "CFLAGS=${CMAKE_C_FLAGS}"
  "LDFLAGS=${CMAKE_EXE_LINKER_FLAGS}")

if(DSV3_SANITIZE)
  # ASan/UBSan runtimes add exported symbols and undefined references that
  # the checks would (rightly) reject; they run in the normal build instead.
  message(STATUS "dsv3: DSV3_SANITIZE=ON: check_exports and check_install are not registered (they run in a non-sanitized build)")
else()
  # check_exports: libdsv3.so exports only dsv3_*, every DSV3_API function,
  # each at its version of abi/libdsv3.map, SONAME libdsv3.so.<major>;
  # libdsv3.a defines only dsv3_* globals and needs only libc/libm/pthread.
  add_test(NAME check_exports
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_exports.sh
      $<TARGET_LINKER_FILE:dsv3> $<TARGET_FILE:dsv3_archive>)
  # check_install: cmake --install into a temporary prefix, then consumers via
  # find_package(dsv3), pkg-config and C++.
  add_test(NAME check_install
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_install.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  set_tests_properties(check_exports check_install PROPERTIES ENVIRONMENT "${_dsv3_pkg_env}")
endif()
unset(_dsv3_pkg_env)

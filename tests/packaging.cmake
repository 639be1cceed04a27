# packaging.cmake -- included by tests/CMakeLists.txt: the ABI/export check,
# the install + consumer check, and the concurrent-sessions test.

# threads: 4 threads, one session each, on one shared model; logits must
# equal a single-threaded run bit for bit. Also the test to run under TSan.
find_package(Threads REQUIRED)
add_executable(test_threads test_threads.c)
target_link_libraries(test_threads PRIVATE dsv3_static Threads::Threads)
target_compile_options(test_threads PRIVATE ${DSV3_WARN})
add_test(NAME threads COMMAND test_threads ${DSV3_SHARED})

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
  # SONAME libdsv3.so.<major>; libdsv3.a needs only libc/libm/pthread.
  add_test(NAME check_exports
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_exports.sh ${CMAKE_BINARY_DIR})
  # check_install: cmake --install into a temporary prefix, then consumers via
  # find_package(dsv3), pkg-config and C++.
  add_test(NAME check_install
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/check_install.sh ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
  set_tests_properties(check_exports check_install PROPERTIES ENVIRONMENT "${_dsv3_pkg_env}")
endif()
unset(_dsv3_pkg_env)

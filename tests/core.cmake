# core.cmake -- the core suite (test_core.c): the model math end to end
# against tests/fixtures, made by the float64 reference in tests/reference;
# needs nothing beside the repository. include()d from tests/CMakeLists.txt
# inside if(DSV3_BUILD_EXAMPLES): the checkpoints are rebuilt at test time by
# `dsv3 synth` and `dsv3 convert` (core_checkpoints, about 1 s, 60 MiB in
# core-tmp) with the recipe in tests/fixtures/core.json.
add_executable(test_core ${CMAKE_CURRENT_LIST_DIR}/test_core.c)
target_link_libraries(test_core PRIVATE dsv3_static)
target_compile_options(test_core PRIVATE ${DSV3_WARN})

set(_core_fix ${CMAKE_CURRENT_LIST_DIR}/fixtures)
set(_core_work ${CMAKE_CURRENT_BINARY_DIR}/core-tmp)
add_test(NAME core_checkpoints COMMAND test_core --generate ${_core_fix} ${_core_work} $<TARGET_FILE:dsv3_cli>)
set_tests_properties(core_checkpoints PROPERTIES FIXTURES_SETUP core_checkpoints)

set(_core_backends scalar)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$" AND DSV3_AVX2_SOURCES)
  list(APPEND _core_backends avx2 avx512)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  list(APPEND _core_backends neon)
endif()
foreach(b ${_core_backends})
  # two threads: the split of rows between threads is exercised too
  add_test(NAME core_${b} COMMAND test_core ${_core_fix} ${_core_work} ${b} 2)
  # 77: a backend compiled in that this CPU cannot run (avx512 on AVX2-only)
  set_tests_properties(core_${b} PROPERTIES FIXTURES_REQUIRED core_checkpoints SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()

# The reference reproduces the committed fixtures (float64, numpy; ~15 s).
# Skipped (77) where python3 has no numpy.
if(EXISTS /usr/bin/python3)
  add_test(NAME core_reference COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/reference/make_fixtures.py
    $<TARGET_FILE:dsv3_cli> --check)
  set_tests_properties(core_reference PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
unset(_core_fix)
unset(_core_work)
unset(_core_backends)

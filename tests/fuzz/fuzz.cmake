# fuzz.cmake -- the libFuzzer harnesses (tests/fuzz/fuzz_*.c) and the
# replay of their committed corpora; include()d from tests/CMakeLists.txt,
# which defines DSV3_SHARED and DSV3_WARN. Paths are relative to this file.
#
# Every build (gcc included) builds each harness with replay_main.c as
# fuzz_replay_<name> and registers the CTest test fuzz_replay_<name>, which
# runs every file of tests/fuzz/<name>/ (seeds and the regression inputs of
# every crash found) once through the harness's checks.
#
# With -DDSV3_FUZZ=ON (clang; the top-level CMakeLists.txt then instruments
# the whole library with -fsanitize=fuzzer-no-link,address,undefined) each
# harness is also built as the libFuzzer binary fuzz_<name>; target
# fuzz_all builds them all, tests/fuzz/run.sh runs them (see README.md).

set(DSV3_FUZZ_HARNESSES json config safetensors gguf tokenizer_json tokenizer_gguf tokenize chat session)
set(_fz ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(_fz_demo ${CMAKE_CURRENT_LIST_DIR}/../../examples/models/austen-v3-tiny ABSOLUTE)

function(dsv3_fuzz_target tgt h)
  target_link_libraries(${tgt} PRIVATE dsv3_static)
  target_compile_options(${tgt} PRIVATE ${DSV3_WARN})
  target_include_directories(${tgt} PRIVATE ${_fz})
  target_compile_definitions(${tgt} PRIVATE
    DSV3_FUZZ_SHARED_TOKENIZER="${DSV3_SHARED}/tokenizer/deepseek-v3"
    DSV3_FUZZ_DEMO_MODEL="${_fz_demo}")
endfunction()

foreach(h ${DSV3_FUZZ_HARNESSES})
  add_executable(fuzz_replay_${h} ${_fz}/fuzz_${h}.c ${_fz}/replay_main.c)
  dsv3_fuzz_target(fuzz_replay_${h} ${h})
  add_test(NAME fuzz_replay_${h} COMMAND fuzz_replay_${h} ${_fz}/${h})
  set_tests_properties(fuzz_replay_${h} PROPERTIES TIMEOUT 300 LABELS fuzz)
endforeach()

if(DSV3_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "DSV3_FUZZ needs clang (libFuzzer): the fuzz_* harnesses are not built")
  else()
    add_custom_target(fuzz_all)
    foreach(h ${DSV3_FUZZ_HARNESSES})
      add_executable(fuzz_${h} ${_fz}/fuzz_${h}.c)
      dsv3_fuzz_target(fuzz_${h} ${h})
      target_compile_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      target_link_options(fuzz_${h} PRIVATE -fsanitize=fuzzer)
      add_dependencies(fuzz_all fuzz_${h})
    endforeach()
  endif()
endif()

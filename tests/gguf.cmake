# gguf.cmake -- GGUF loading: the golden-gguf cases (test_gguf), malformed
# files built at run time from a golden file (test_gguf_errors), and with
# DSV3_FUZZ a libFuzzer harness for the reader and the metadata parser.
add_executable(test_gguf ${CMAKE_CURRENT_LIST_DIR}/test_gguf.c)
target_link_libraries(test_gguf PRIVATE dsv3_static)
target_compile_options(test_gguf PRIVATE ${DSV3_WARN})
add_test(NAME gguf COMMAND test_gguf ${DSV3_SHARED})
set_tests_properties(gguf PROPERTIES TIMEOUT 900)

add_executable(test_gguf_errors ${CMAKE_CURRENT_LIST_DIR}/test_gguf_errors.c)
target_link_libraries(test_gguf_errors PRIVATE dsv3_static)
target_compile_options(test_gguf_errors PRIVATE ${DSV3_WARN})
add_test(NAME gguf_errors COMMAND test_gguf_errors ${DSV3_SHARED} ${CMAKE_CURRENT_BINARY_DIR}/gguf-errors-tmp)
set_tests_properties(gguf_errors PROPERTIES TIMEOUT 900)

if(DSV3_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "DSV3_FUZZ needs clang (libFuzzer); fuzz_gguf is not built")
  else()
    # The whole library is compiled into the harness so that the reader and
    # the metadata parser carry the coverage instrumentation.
    add_executable(fuzz_gguf ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.c ${DSV3_LIB_SOURCES})
    target_include_directories(fuzz_gguf PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/lib
      ${CMAKE_SOURCE_DIR}/backends)
    target_compile_definitions(fuzz_gguf PRIVATE DSV3_STATIC)
    target_compile_options(fuzz_gguf PRIVATE ${DSV3_WARN} -g -O1 -fno-omit-frame-pointer
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_gguf PRIVATE m Threads::Threads)
    # Seeds: small valid GGUFs that test_gguf_errors writes from a golden
    # file (its metadata with tiny tensors, and splits of it); libFuzzer adds
    # what it finds to the corpus directory.
    set(_gf ${CMAKE_CURRENT_BINARY_DIR}/gguf_fuzz)
    file(MAKE_DIRECTORY ${_gf}/corpus ${_gf}/seeds)
    add_test(NAME gguf_fuzz_seeds COMMAND test_gguf_errors ${DSV3_SHARED} ${_gf}/seeds --seeds-only)
    set_tests_properties(gguf_fuzz_seeds PROPERTIES FIXTURES_SETUP gguf_fuzz_seeds)
    add_test(NAME gguf_fuzz
      COMMAND fuzz_gguf -max_total_time=30 -max_len=65536 -rss_limit_mb=2048 ${_gf}/corpus ${_gf}/seeds)
    set_tests_properties(gguf_fuzz PROPERTIES FIXTURES_REQUIRED gguf_fuzz_seeds)
    set_tests_properties(gguf_fuzz PROPERTIES TIMEOUT 120)
  endif()
endif()

# tokenizer.cmake -- the tokenizer's test, benchmark and fuzzer; include()d
# from tests/CMakeLists.txt (which defines DSV3_SHARED and DSV3_WARN). Paths
# are relative to this file, so it works whatever includes it.

# test_tokenizer SHARED_DIR: the public golden set, random round trips,
# streaming, buffer sizes, bad ids, load errors, threads.
add_executable(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE dsv3_static)
target_compile_options(test_tokenizer PRIVATE ${DSV3_WARN})
add_test(NAME tokenizer COMMAND test_tokenizer ${DSV3_SHARED})
set_tests_properties(tokenizer PROPERTIES TIMEOUT 300)

# bench_tokenizer SHARED_DIR [MB]: encode ~10 MB of English and of Chinese
# and print MB/s. A tool, not a test.
add_executable(bench_tokenizer ${CMAKE_CURRENT_LIST_DIR}/bench_tokenizer.c)
target_link_libraries(bench_tokenizer PRIVATE dsv3_static)
target_compile_options(bench_tokenizer PRIVATE ${DSV3_WARN})

# libFuzzer harness: encodes arbitrary bytes with the real tokenizer.json,
# decodes, checks the round trip. It compiles the tokenizer's sources
# directly (not the library), so the instrumentation covers them.
if(DSV3_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "DSV3_FUZZ needs clang (libFuzzer); fuzz_tokenizer is not built")
  else()
    set(_tl ${CMAKE_CURRENT_LIST_DIR}/../lib)
    add_executable(fuzz_tokenizer ${CMAKE_CURRENT_LIST_DIR}/fuzz_tokenizer.c
      ${_tl}/tokenizer.c ${_tl}/tokenizer_hf.c ${_tl}/pretokenize.c ${_tl}/bpe.c ${_tl}/unicode_tables.c
      ${_tl}/json.c ${_tl}/mapfile.c ${_tl}/status.c)
    target_include_directories(fuzz_tokenizer PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../include ${_tl})
    target_compile_definitions(fuzz_tokenizer PRIVATE DSV3_STATIC)
    target_compile_options(fuzz_tokenizer PRIVATE ${DSV3_WARN} -g -O1 -fno-omit-frame-pointer
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_tokenizer PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_tokenizer PRIVATE m)

    # Seeds (written at configure time); libFuzzer adds what it finds to the
    # corpus directory, so later runs start from there.
    set(_tf ${CMAKE_CURRENT_BINARY_DIR}/tokenizer_fuzz)
    file(MAKE_DIRECTORY ${_tf}/corpus ${_tf}/seeds)
    file(WRITE ${_tf}/seeds/prose.txt "The quick brown fox can't jump 12345678 times.\n\n  Indented\tline\r\n")
    file(WRITE ${_tf}/seeds/added.txt "abc<｜Assistant｜>def<|EOT|><｜User｜>x<|User|><｜begin▁of▁sentence｜>")
    file(WRITE ${_tf}/seeds/scripts.txt "你好，世界！こんにちはカタカナ 한국어 Привет مرحبا é 😀👨‍👩‍👧 ½²①Ⅻ٣１　  ")
    add_test(NAME fuzz_tokenizer
      COMMAND ${CMAKE_COMMAND} -E env DSV3_TOKENIZER=${DSV3_SHARED}/tokenizer/deepseek-v3
        $<TARGET_FILE:fuzz_tokenizer> -max_total_time=30 -max_len=4096 -rss_limit_mb=4096
        ${_tf}/corpus ${_tf}/seeds)
    set_tests_properties(fuzz_tokenizer PROPERTIES TIMEOUT 120)
  endif()
endif()

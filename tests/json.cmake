# json.cmake -- tests for lib/json.c; include()d from tests/CMakeLists.txt.
# Paths are relative to this file, so it works whatever includes it.

add_executable(test_json ${CMAKE_CURRENT_LIST_DIR}/test_json.c)
target_link_libraries(test_json PRIVATE dsv3_static)
target_compile_options(test_json PRIVATE ${DSV3_WARN})
add_test(NAME json COMMAND test_json)
set_tests_properties(json PROPERTIES TIMEOUT 300)

# libFuzzer harness: compiles json.c directly (not the library), so the
# sanitizers and coverage instrumentation cover exactly the parser.
if(DSV3_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(WARNING "DSV3_FUZZ needs clang (libFuzzer); fuzz_json is not built")
  else()
    add_executable(fuzz_json ${CMAKE_CURRENT_LIST_DIR}/fuzz_json.c
                             ${CMAKE_CURRENT_LIST_DIR}/../lib/json.c)
    target_include_directories(fuzz_json PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../lib)
    target_compile_options(fuzz_json PRIVATE ${DSV3_WARN} -g -O1 -fno-omit-frame-pointer
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_json PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_json PRIVATE m)

    # A small seed corpus and a dictionary, generated at configure time.
    # libFuzzer adds what it finds to json_fuzz_corpus (the first directory),
    # so later runs start from there; the seeds stay untouched.
    set(_jf ${CMAKE_CURRENT_BINARY_DIR}/json_fuzz)
    file(MAKE_DIRECTORY ${_jf}/corpus ${_jf}/seeds)
    file(WRITE ${_jf}/seeds/config.json [=[{"architectures": ["DeepseekV3ForCausalLM"], "hidden_size": 7168, "rms_norm_eps": 1e-06, "rope_theta": 10000, "rope_scaling": {"factor": 40, "mscale": 1.0, "type": "yarn"}, "tie_word_embeddings": false, "quantization_config": null, "x": [0.707, -2.5E+3, -0, 5e-324, 1.7976931348623157e308]}]=])
    file(WRITE ${_jf}/seeds/strings.json [=[["\"\\\/\b\f\n\r\t", "\u00e9\u20AC\uD83D\uDE00", "a\u0000b", "", {"": {}, "k": [[], [[]]]}]]=])
    file(WRITE ${_jf}/seeds/numbers.json [=[[123456789012345678901234567890, -9223372036854775808, 9223372036854775808, 1e400, 1e-400, 2.4703282292062328e-324, 0.1e1, 9007199254740993]]=])
    file(WRITE ${_jf}/seeds/safetensors.json [=[{"__metadata__": {"format": "pt"}, "model.embed_tokens.weight": {"dtype": "BF16", "shape": [129280, 7168], "data_offsets": [0, 1853358080]}}]=])
    file(WRITE ${_jf}/json.dict [=[
"{"
"}"
"["
"]"
":"
","
"\""
"true"
"false"
"null"
"\\u"
"\\uD83D\\uDE00"
"\\uDC00"
"\\\\"
"\\n"
"e+"
"E-"
"-0."
"1e308"
"5e-324"
"\xef\xbb\xbf"
"\xf4\x8f\xbf\xbf"
"\xed\xa0\x80"
"\xc3\xa9"
]=])
    add_test(NAME json_fuzz
      COMMAND fuzz_json -runs=200000 -max_total_time=30 -dict=${_jf}/json.dict
              ${_jf}/corpus ${_jf}/seeds)
    set_tests_properties(json_fuzz PROPERTIES TIMEOUT 120)
  endif()
endif()

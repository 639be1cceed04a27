# kv_cache.cmake -- the quantized latent KV cache (session kv_type F32, F16,
# Q8_0) on every available backend: golden logits with an F16 cache, a
# synthetic checkpoint (kv_lora_rank 64, written at run time by the CLI's
# `synth` code, linked in) with Q8_0/F16 vs F32, bytes per token, batch and
# thread independence, refused values. include()d from tests/CMakeLists.txt.
add_executable(test_kv_cache ${CMAKE_CURRENT_LIST_DIR}/test_kv_cache.c
  ${PROJECT_SOURCE_DIR}/examples/dsv3/cmd_synth.c ${PROJECT_SOURCE_DIR}/examples/dsv3/options.c)
target_include_directories(test_kv_cache PRIVATE ${PROJECT_SOURCE_DIR}/examples/dsv3)
target_link_libraries(test_kv_cache PRIVATE dsv3_static)
target_compile_options(test_kv_cache PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME kv_cache NEEDS golden COMMAND test_kv_cache ${DSV3_SHARED} ${CMAKE_CURRENT_BINARY_DIR}/kv-cache-tmp)
set_tests_properties(kv_cache PROPERTIES TIMEOUT 900)

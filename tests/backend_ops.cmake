# backend_ops.cmake -- every backend against the scalar reference, op by op,
# and golden runs of the avx2 backend; include()d from tests/CMakeLists.txt.

add_executable(test_backend_ops ${CMAKE_CURRENT_LIST_DIR}/test_backend_ops.c)
target_link_libraries(test_backend_ops PRIVATE dsv3_static)
target_compile_options(test_backend_ops PRIVATE ${DSV3_WARN})
if(DSV3_AVX2_SOURCES)
  # lets the test reach the avx2 backend's f32-activation path of block types
  target_compile_definitions(test_backend_ops PRIVATE DSV3_TEST_AVX2)
endif()
add_test(NAME backend_ops COMMAND test_backend_ops)
set_tests_properties(backend_ops PROPERTIES TIMEOUT 900)

if(DSV3_AVX2_SOURCES)
  # The golden checkpoints are F32/BF16/FP8: the avx2 backend computes them
  # with f32 activations (exact FMA), within the 2e-3 logits tolerance and
  # with exact routing.
  dsv3_add_shared_test(NAME golden_avx2 NEEDS golden COMMAND test_golden ${DSV3_SHARED} avx2 2)
  dsv3_add_shared_test(NAME thread_count_avx2 NEEDS golden COMMAND test_thread_count ${DSV3_SHARED} avx2)
  # avx512: the same suites (skipped, exit 77, on a CPU without AVX-512 VNNI)
  dsv3_add_shared_test(NAME golden_avx512 NEEDS golden COMMAND test_golden ${DSV3_SHARED} avx512 2)
  dsv3_add_shared_test(NAME thread_count_avx512 NEEDS golden COMMAND test_thread_count ${DSV3_SHARED} avx512)
  set_tests_properties(golden_avx512 thread_count_avx512 PROPERTIES SKIP_RETURN_CODE 77)
  # repack = 1: the logits of the weights in place, bit for bit (the files
  # of the packed types, and one that packs nothing)
  foreach(be avx2 avx512)
    dsv3_add_shared_test(NAME gguf_repack_${be} NEEDS golden-gguf COMMAND test_gguf ${DSV3_SHARED} --backend ${be}
      --repack-check --max-tokens 33 q8_0 q4_0 q5_0 mtp.q8_0 q4_k_m)
    set_tests_properties(gguf_repack_${be} PROPERTIES SKIP_RETURN_CODE 77)
  endforeach()
  if(DSV3_VK_ENABLED)
    # the host weights of a Vulkan placement, run by its CPU helper
    dsv3_add_shared_test(NAME gguf_repack_vulkan_hybrid NEEDS golden-gguf COMMAND test_gguf ${DSV3_SHARED}
      --backend vulkan --placement experts-on-cpu --repack-check --max-tokens 9 q8_0)
    set_tests_properties(gguf_repack_vulkan_hybrid PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  endif()
endif()

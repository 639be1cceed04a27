# vulkan.cmake -- the Vulkan backend's tests, included from
# tests/CMakeLists.txt when the backend is built (DSV3_VK_ENABLED). CI runs
# them on lavapipe (Mesa's CPU device, Debian mesa-vulkan-drivers), which
# is used only when named: every test names "vulkan". Each one skips (exit
# 77, one line with the backend's reason) where vulkan cannot run, except
# under DSV3_REQUIRE_BACKEND=vulkan (CI), where that fails. lavapipe is
# slow, so the golden runs are a subset chosen to cover every weight type
# and every path (prefill, decode, rewind, MTP, both attention forms) once.
if(NOT DSV3_VK_ENABLED)
  return()
endif()

# libdsv3.so opens the loader at run time: no NEEDED libvulkan.
if(NOT CMAKE_CROSSCOMPILING)
  add_test(NAME vulkan_no_link COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/check_no_vulkan_link.sh $<TARGET_FILE:dsv3>)
endif()

# Every op against scalar, every weight type, batch == token by token, the
# KV cache types, and hybrid placement (tests/test_backend_ops.c).
add_test(NAME backend_ops_vulkan COMMAND test_backend_ops vulkan)
set_tests_properties(backend_ops_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

# ../shared/golden: F32, BF16 and FP8 (block scales) checkpoints, V3 and
# V2-Lite semantics, within the README's 2e-3 (f32 activations).
dsv3_add_shared_test(NAME golden_vulkan NEEDS golden COMMAND test_golden ${DSV3_SHARED} vulkan 2
  --only tiny-v3/f32/seq007 --only tiny-v3/bf16/seq001 --only tiny-v3/fp8/seq007 --only tiny-v3/fp8/mtp007
  --only tiny-v2lite/bf16/seq007)
# Hybrid placement: routed experts on the CPU, the rest on the device; the
# logits also within 2e-3 of the scalar backend's.
dsv3_add_shared_test(NAME golden_vulkan_hybrid NEEDS golden COMMAND test_golden ${DSV3_SHARED} vulkan 2
  --placement experts-on-cpu --compare scalar --only tiny-v3/bf16/seq007)
# ../shared/golden-gguf: files that together hold every ggml type (F32, BF16,
# Q8_0 ... Q6_K, IQ1_S ... IQ4_XS) and the legacy kv_b layout, against the
# float64 truth within 2e-3 (the backend keeps activations f32).
dsv3_add_shared_test(NAME gguf_vulkan NEEDS golden-gguf COMMAND test_gguf ${DSV3_SHARED} --backend vulkan
  --max-tokens 9 bf16 q8_0 q4_0 q4_1 q2_k q4_k_m q5_k_m iq4_xs iq1_s iq1_m iq2_xs iq2_m iq3_xxs legacy.q4_k_m)
# Hybrid on quantized files: the CPU's experts round activations to 8 bits,
# so the criteria are those of such implementations (test_gguf_fast).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x64)$")
  dsv3_add_shared_test(NAME gguf_vulkan_hybrid NEEDS golden-gguf COMMAND test_gguf_fast ${DSV3_SHARED} vulkan 2
    experts-on-cpu q4_k_m iq2_xs)
endif()
set_tests_properties(golden_vulkan golden_vulkan_hybrid gguf_vulkan PROPERTIES TIMEOUT 900)

if(DSV3_BUILD_EXAMPLES)
  # The demo model's pinned greedy continuation and logits on vulkan.
  add_test(NAME demo_model_vulkan COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_demo_model.py
    $<TARGET_FILE:dsv3_cli> ${PROJECT_SOURCE_DIR} vulkan)
  # No loader / no device: vulkan unavailable with its reason, a run on it
  # refused, "auto" on the CPU; "auto" never picks a CPU device.
  add_test(NAME vulkan_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_vulkan_cli.py
    $<TARGET_FILE:dsv3_cli> ${PROJECT_SOURCE_DIR})
  set_tests_properties(demo_model_vulkan PROPERTIES SKIP_RETURN_CODE 77)
endif()

# vk_hybrid.cmake -- hybrid placement on the Vulkan backend
# (tests/test_vk_hybrid.c): on the demo model with experts on the CPU, the
# MoE input read ahead with the routing, the shared expert overlapping the
# CPU experts with the bits of no overlap, and a device failure during the
# overlap, and the same through staging copies (~10-25 s on lavapipe, 2
# cores; skipped, exit 77, without a device).
# include()d from tests/CMakeLists.txt.
if(DSV3_VK_ENABLED)
  add_executable(test_vk_hybrid ${CMAKE_CURRENT_LIST_DIR}/test_vk_hybrid.c)
  target_link_libraries(test_vk_hybrid PRIVATE dsv3_static)
  target_compile_options(test_vk_hybrid PRIVATE ${DSV3_WARN})
  add_test(NAME vk_hybrid COMMAND test_vk_hybrid ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)
  set_tests_properties(vk_hybrid PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

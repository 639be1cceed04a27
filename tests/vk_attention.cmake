# vk_attention.cmake -- the Vulkan backend's KV cache write and MLA
# attention for every weight type (tests/test_vk_attention.c). Skips (77)
# where Vulkan cannot run; about 20 s on lavapipe.
if(DSV3_VK_ENABLED)
  add_executable(test_vk_attention ${CMAKE_CURRENT_LIST_DIR}/test_vk_attention.c)
  target_link_libraries(test_vk_attention PRIVATE dsv3_static)
  target_compile_options(test_vk_attention PRIVATE ${DSV3_WARN})
  add_test(NAME vk_attention COMMAND test_vk_attention)
  set_tests_properties(vk_attention PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

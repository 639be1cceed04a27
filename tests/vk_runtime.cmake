# vk_runtime.cmake -- the Vulkan backend's runtime (tests/test_vk_runtime.c),
# when the backend is built: memory, host round trips, weights, the sticky
# error, threads (~5 s on lavapipe; skipped, exit 77, without a device); a
# failure inside a step on the demo model, and the host syncs of prompt and
# decode steps with and without the route op (~25 s); and
# the same binary with the driver hidden, which must report the backend
# unavailable and let "auto" pick a CPU backend (< 1 s).
# include()d from tests/CMakeLists.txt.
if(DSV3_VK_ENABLED)
  add_executable(test_vk_runtime ${CMAKE_CURRENT_LIST_DIR}/test_vk_runtime.c)
  target_link_libraries(test_vk_runtime PRIVATE dsv3_static Threads::Threads)
  target_compile_options(test_vk_runtime PRIVATE ${DSV3_WARN})
  add_test(NAME vk_runtime COMMAND test_vk_runtime)
  set_tests_properties(vk_runtime PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  add_test(NAME vk_runtime_session COMMAND test_vk_runtime --model ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)
  set_tests_properties(vk_runtime_session PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
  add_test(NAME vk_runtime_no_driver COMMAND test_vk_runtime --expect-unavailable)
  set_tests_properties(vk_runtime_no_driver PROPERTIES TIMEOUT 60
    ENVIRONMENT "VK_ICD_FILENAMES=/nonexistent;VK_DRIVER_FILES=/nonexistent")
endif()

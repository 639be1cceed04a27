# vk_place.cmake -- the Vulkan backend's placement policies and the
# loaders' weight role tags. Needs no Vulkan: vk_place.c is compiled into
# the test itself, so it is checked on every machine (< 1 s; the demo model
# in the repository, and the GGUF MTP + legacy files when ../shared is
# there). include()d from tests/CMakeLists.txt.
add_executable(test_vk_place ${CMAKE_CURRENT_LIST_DIR}/test_vk_place.c
  ${PROJECT_SOURCE_DIR}/backends/vulkan/vk_place.c)
target_link_libraries(test_vk_place PRIVATE dsv3_static)
target_compile_options(test_vk_place PRIVATE ${DSV3_WARN})
add_test(NAME vk_place COMMAND test_vk_place ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)
dsv3_add_shared_test(NAME vk_place_gguf NEEDS golden-gguf COMMAND test_vk_place
  ${DSV3_SHARED}/golden-gguf/tiny-q.mtp.q8_0.gguf ${DSV3_SHARED}/golden-gguf/tiny-q.legacy.q4_k_m.gguf)

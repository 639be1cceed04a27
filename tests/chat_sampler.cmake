# chat_sampler.cmake -- included by tests/CMakeLists.txt: the chat template
# (golden renderings from ../shared) and the sampler.

add_executable(test_chat test_chat.c)
target_link_libraries(test_chat PRIVATE dsv3_static)
target_compile_options(test_chat PRIVATE ${DSV3_WARN})
dsv3_add_shared_test(NAME chat NEEDS tokenizer/deepseek-v3 COMMAND test_chat ${DSV3_SHARED})

add_executable(test_sampler test_sampler.c)
target_link_libraries(test_sampler PRIVATE dsv3_static)
target_compile_options(test_sampler PRIVATE ${DSV3_WARN})
add_test(NAME sampler COMMAND test_sampler)

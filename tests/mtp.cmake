# mtp.cmake -- dsv3_generate with MTP drafts equals plain decoding (tokens,
# text, stop reason, both caches bit for bit, sampler state): on the demo
# model on every available backend, and on ../shared's golden checkpoints
# (tiny-v3 with MTP, tiny-v2lite without; named so that the NEON run under
# qemu, which selects "golden", leaves it out). include()d from
# tests/CMakeLists.txt.
add_executable(test_mtp ${CMAKE_CURRENT_LIST_DIR}/test_mtp.c)
target_link_libraries(test_mtp PRIVATE dsv3_static)
target_compile_options(test_mtp PRIVATE ${DSV3_WARN})
add_test(NAME mtp_demo COMMAND test_mtp demo ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)
dsv3_add_shared_test(NAME mtp_checkpoints NEEDS golden COMMAND test_mtp golden ${DSV3_SHARED})
if(DSV3_BUILD_EXAMPLES)
  # dsv3 run/chat/bench --mtp on the demo model: the same tokens as without.
  add_test(NAME mtp_cli COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_cli_mtp.py
    $<TARGET_FILE:dsv3_cli> ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny)
endif()
# The int8 draft head (lib/mtp_draft.c) on synthetic weights.
add_executable(test_mtp_draft ${CMAKE_CURRENT_LIST_DIR}/test_mtp_draft.c)
target_link_libraries(test_mtp_draft PRIVATE dsv3_static)
target_compile_options(test_mtp_draft PRIVATE ${DSV3_WARN})
add_test(NAME mtp_draft COMMAND test_mtp_draft)

# session_state.cmake -- robustness of a loaded model and its sessions:
# saving, loading and forking session state (test_session_state), and
# weight files that change on disk after load, plus the statuses of files
# that cannot be opened or mapped (test_mapped_file). Both run on the
# committed demo model; the GGUF variant of test_mapped_file needs
# ../shared/golden-gguf. include()d from tests/CMakeLists.txt.
add_executable(test_session_state ${CMAKE_CURRENT_LIST_DIR}/test_session_state.c)
target_link_libraries(test_session_state PRIVATE dsv3_static)
target_compile_options(test_session_state PRIVATE ${DSV3_WARN})
add_test(NAME session_state COMMAND test_session_state ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny
  ${CMAKE_CURRENT_BINARY_DIR}/session-state-tmp)

add_executable(test_mapped_file ${CMAKE_CURRENT_LIST_DIR}/test_mapped_file.c)
target_link_libraries(test_mapped_file PRIVATE dsv3_static)
target_compile_options(test_mapped_file PRIVATE ${DSV3_WARN})
add_test(NAME mapped_file COMMAND test_mapped_file ${PROJECT_SOURCE_DIR}/examples/models/austen-v3-tiny
  ${CMAKE_CURRENT_BINARY_DIR}/mapped-file-tmp)
set_tests_properties(mapped_file PROPERTIES SKIP_RETURN_CODE 77)
dsv3_add_shared_test(NAME mapped_file_gguf NEEDS golden-gguf/tiny-q.mtp.q8_0.gguf
  COMMAND test_mapped_file ${DSV3_SHARED}/golden-gguf/tiny-q.mtp.q8_0.gguf ${CMAKE_CURRENT_BINARY_DIR}/mapped-file-gguf-tmp)

if(DSV3_BUILD_EXAMPLES)
  # `dsv3 chat` /save and /load on the demo model, across two processes.
  add_test(NAME chat_save COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_chat_save.py
    $<TARGET_FILE:dsv3_cli> ${CMAKE_CURRENT_BINARY_DIR}/chat-save-tmp)
endif()

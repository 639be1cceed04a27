# server.cmake -- dsv3-server's tests; include()d from tests/CMakeLists.txt
# after fuzz/fuzz.cmake. They need no ../shared (the demo model is in the
# repository) and exit 77 (skipped) when the server was not built
# (DSV3_SERVER=OFF, or no libmicrohttpd).
set(_srv_dir ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(_srv_src ${CMAKE_CURRENT_LIST_DIR}/../../examples/server ABSOLUTE)
if(TARGET dsv3_server)
  set(_srv_bin $<TARGET_FILE:dsv3_server>)
else()
  set(_srv_bin NOTFOUND)
endif()

if(DSV3_BUILD_EXAMPLES AND NOT CMAKE_CROSSCOMPILING)
  # Loopback end-to-end checks (~15 s) and the load run (200 requests, 8 at
  # a time; ~10 s on 2 cores).
  add_test(NAME server COMMAND /usr/bin/python3 ${_srv_dir}/test_server.py ${_srv_bin} $<TARGET_FILE:dsv3_cli>
    ${PROJECT_SOURCE_DIR})
  add_test(NAME server_load COMMAND /usr/bin/python3 ${_srv_dir}/load.py ${_srv_bin} 200 8)
  # A real browser on the chat page: skipped (77) when chromium is absent.
  add_test(NAME server_browser COMMAND /usr/bin/python3 ${_srv_dir}/browser.py ${_srv_bin}
    ${CMAKE_CURRENT_BINARY_DIR}/server-browser.png)
  set_tests_properties(server server_load server_browser PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS server
    RUN_SERIAL ON)
endif()

# The request checker and reply parser under the fuzz harnesses' rules
# (tests/fuzz/README.md): replayed in every build, fuzzed with DSV3_FUZZ.
if(COMMAND dsv3_fuzz_target)
  set(_srv_fuzz_src ${_srv_src}/request.c ${_srv_src}/reply_parse.c ${_srv_src}/jsonw.c)
  add_executable(fuzz_replay_server_request ${_srv_dir}/../fuzz/fuzz_server_request.c ${_srv_dir}/../fuzz/replay_main.c
    ${_srv_fuzz_src})
  dsv3_fuzz_target(fuzz_replay_server_request server_request)
  target_include_directories(fuzz_replay_server_request PRIVATE ${_srv_src})
  add_test(NAME fuzz_replay_server_request COMMAND fuzz_replay_server_request ${_srv_dir}/../fuzz/server_request)
  set_tests_properties(fuzz_replay_server_request PROPERTIES TIMEOUT 300 LABELS fuzz)
  if(TARGET fuzz_all)
    add_executable(fuzz_server_request ${_srv_dir}/../fuzz/fuzz_server_request.c ${_srv_fuzz_src})
    dsv3_fuzz_target(fuzz_server_request server_request)
    target_include_directories(fuzz_server_request PRIVATE ${_srv_src})
    target_compile_options(fuzz_server_request PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_server_request PRIVATE -fsanitize=fuzzer)
    add_dependencies(fuzz_all fuzz_server_request)
  endif()
endif()

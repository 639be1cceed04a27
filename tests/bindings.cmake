# bindings.cmake -- the language bindings and the embedding example:
#   prefetch        dsv3_model_prefetch (C, public API, shared library)
#   cpp_wrapper     include/dsv3.hpp as C++17, -Wall -Wextra -pedantic
#                   -Werror (when a C++ compiler is found)
#   desktop_*       examples/desktop: background load, streamed and
#                   cancelled generation
#   python_bindings bindings/python's pytest suite (77 without pytest)
#   rust_bindings   cargo test --offline in bindings/rust (77 without cargo)
# Python and Rust load the shared library into their own process, which a
# sanitizer build's library cannot be: they are left out of those builds
# and of cross builds. include()d from tests/CMakeLists.txt.
set(DSV3_DEMO_MODEL ${CMAKE_CURRENT_LIST_DIR}/../examples/models/austen-v3-tiny)
get_filename_component(DSV3_DEMO_MODEL ${DSV3_DEMO_MODEL} ABSOLUTE)
set(DSV3_BINDINGS_DIR ${CMAKE_CURRENT_LIST_DIR}/../bindings)
get_filename_component(DSV3_BINDINGS_DIR ${DSV3_BINDINGS_DIR} ABSOLUTE)
if(DSV3_SANITIZE OR DSV3_FUZZ OR CMAKE_C_FLAGS MATCHES "sanitize")
  set(DSV3_BINDINGS_SANITIZED ON)
else()
  set(DSV3_BINDINGS_SANITIZED OFF)
endif()

add_executable(test_prefetch ${CMAKE_CURRENT_LIST_DIR}/test_prefetch.c)
target_compile_options(test_prefetch PRIVATE ${DSV3_WARN})
target_link_libraries(test_prefetch PRIVATE dsv3)
add_test(NAME prefetch COMMAND test_prefetch ${DSV3_DEMO_MODEL} ${CMAKE_CURRENT_BINARY_DIR}/prefetch-tmp)

# Prints the C layout of every struct of dsv3.h for the bindings' tests.
add_executable(dsv3_abi_layout ${DSV3_BINDINGS_DIR}/abi_layout.c)
target_compile_options(dsv3_abi_layout PRIVATE ${DSV3_WARN})
target_include_directories(dsv3_abi_layout PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../include)

if(NOT CMAKE_CROSSCOMPILING)
  # With clang as the C compiler (the sanitizer builds), use clang++ too so
  # that both sides share one sanitizer runtime.
  if(NOT CMAKE_CXX_COMPILER AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    find_program(DSV3_CLANGXX NAMES clang++)
    if(DSV3_CLANGXX)
      set(CMAKE_CXX_COMPILER ${DSV3_CLANGXX})
    endif()
  endif()
  include(CheckLanguage)
  check_language(CXX)
  if(CMAKE_CXX_COMPILER)
    enable_language(CXX)
    add_executable(test_cpp ${CMAKE_CURRENT_LIST_DIR}/test_cpp.cpp)
    set_target_properties(test_cpp PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON CXX_EXTENSIONS OFF)
    target_compile_options(test_cpp PRIVATE -Wall -Wextra -pedantic -Werror)
    target_link_libraries(test_cpp PRIVATE dsv3)
    add_test(NAME cpp_wrapper COMMAND test_cpp ${DSV3_DEMO_MODEL})
  else()
    message(STATUS "dsv3: no C++ compiler, include/dsv3.hpp is not tested")
  endif()
endif()

if(TARGET dsv3_desktop)
  add_test(NAME desktop_generate COMMAND dsv3_desktop -m ${DSV3_DEMO_MODEL} --temp 0 -n 32)
  set_tests_properties(desktop_generate PROPERTIES PASS_REGULAR_EXPRESSION
    "It is a truth universally acknowledged\\.  I am sure I should not have been so very glad to be so much in the world, and I am sure I should not have been so much")
  add_test(NAME desktop_cancel COMMAND dsv3_desktop -m ${DSV3_DEMO_MODEL} -n 100000 --cancel-after-tokens 3)
  set_tests_properties(desktop_cancel PROPERTIES PASS_REGULAR_EXPRESSION "\\[cancelled after [0-9]+ tokens\\]")
endif()

if(NOT CMAKE_CROSSCOMPILING AND NOT DSV3_BINDINGS_SANITIZED)
  set(DSV3_BINDINGS_ENV
    DSV3_LIBRARY=$<TARGET_FILE:dsv3>
    DSV3_ABI_LAYOUT=$<TARGET_FILE:dsv3_abi_layout>
    PYTHONDONTWRITEBYTECODE=1)
  if(TARGET dsv3_cli)
    list(APPEND DSV3_BINDINGS_ENV DSV3_CLI=$<TARGET_FILE:dsv3_cli>)
  endif()
  add_test(NAME python_bindings COMMAND /usr/bin/python3 ${DSV3_BINDINGS_DIR}/python/tests/ctest_run.py)
  set_tests_properties(python_bindings PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "${DSV3_BINDINGS_ENV}")
  add_test(NAME rust_bindings COMMAND sh ${DSV3_BINDINGS_DIR}/rust/ctest_run.sh
    $<TARGET_FILE_DIR:dsv3> ${CMAKE_CURRENT_BINARY_DIR}/cargo-target)
  set_tests_properties(rust_bindings PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900
    ENVIRONMENT "DSV3_ABI_LAYOUT=$<TARGET_FILE:dsv3_abi_layout>")
endif()

# vulkan.cmake -- the Vulkan backend (backends/vulkan), included from the
# top-level CMakeLists.txt after dsv3_obj is defined.
#
# DSV3_VULKAN=AUTO builds it when the Vulkan headers and glslc are found,
# ON requires them, OFF builds nothing. The library never links libvulkan:
# the loader is opened at run time (dlopen), so a machine without it still
# runs every CPU backend. Shaders are compiled by glslc at build time and
# embedded as C arrays (${PROJECT_BINARY_DIR}/vk_spirv/<name>.h).

set(DSV3_VULKAN AUTO CACHE STRING "Build the Vulkan backend: AUTO, ON or OFF")
set_property(CACHE DSV3_VULKAN PROPERTY STRINGS AUTO ON OFF)
string(TOUPPER "${DSV3_VULKAN}" _dsv3_vk_mode)
if(NOT _dsv3_vk_mode MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "DSV3_VULKAN must be AUTO, ON or OFF (got '${DSV3_VULKAN}')")
endif()

set(DSV3_VK_DIR ${CMAKE_CURRENT_LIST_DIR})
set(DSV3_VK_ENABLED OFF)
set(_dsv3_vk_why "")
if(_dsv3_vk_mode STREQUAL "OFF")
  set(_dsv3_vk_why "DSV3_VULKAN=OFF")
else()
  find_path(DSV3_VK_INCLUDE_DIR vulkan/vulkan.h)
  find_program(DSV3_GLSLC glslc)
  include(CheckSymbolExists)
  include(CMakePushCheckState)
  # dlopen is in libc since glibc 2.34; older C libraries need libdl.
  cmake_push_check_state(RESET)
  check_symbol_exists(dlopen "dlfcn.h" DSV3_DLOPEN_IN_LIBC)
  cmake_pop_check_state()
  if(NOT DSV3_VK_INCLUDE_DIR)
    set(_dsv3_vk_why "vulkan/vulkan.h not found (install the Vulkan headers, e.g. libvulkan-dev)")
  elseif(NOT DSV3_GLSLC)
    set(_dsv3_vk_why "glslc not found (install glslc / shaderc)")
  elseif(NOT CMAKE_SYSTEM_NAME MATCHES "^(Linux|GNU|FreeBSD|Android)$")
    set(_dsv3_vk_why "the run-time loader is supported on Linux/FreeBSD only")
  else()
    set(DSV3_VK_ENABLED ON)
  endif()
endif()

if(NOT DSV3_VK_ENABLED)
  if(_dsv3_vk_mode STREQUAL "ON")
    message(FATAL_ERROR "dsv3: DSV3_VULKAN=ON but ${_dsv3_vk_why}")
  endif()
  message(STATUS "dsv3: Vulkan backend: OFF (${_dsv3_vk_why})")
  return()
endif()
message(STATUS "dsv3: Vulkan backend: ON (glslc ${DSV3_GLSLC})")

set(DSV3_VK_SPIRV_DIR ${PROJECT_BINARY_DIR}/vk_spirv)
file(MAKE_DIRECTORY ${DSV3_VK_SPIRV_DIR})
file(GLOB DSV3_VK_INCLUDES CONFIGURE_DEPENDS ${DSV3_VK_DIR}/shaders/*.glsl)
set(DSV3_VK_HEADERS "")

# dsv3_vk_shader(<name> [SOURCE <file.comp>] [DEFINES A=1 B ...]): compile
# shaders/<file.comp> (default <name>.comp) into vk_spirv/<name>.h holding
# `static const uint32_t dsv3_spv_<name>[]`. Every shader depends on all the
# shared includes (shaders/*.glsl): simpler than depfiles, and they are few.
function(dsv3_vk_shader name)
  cmake_parse_arguments(S "" "SOURCE" "DEFINES" ${ARGN})
  if(NOT S_SOURCE)
    set(S_SOURCE ${name}.comp)
  endif()
  set(src ${DSV3_VK_DIR}/shaders/${S_SOURCE})
  set(words ${DSV3_VK_SPIRV_DIR}/${name}.words)
  set(out ${DSV3_VK_SPIRV_DIR}/${name}.h)
  set(defs "")
  foreach(d IN LISTS S_DEFINES)
    list(APPEND defs -D${d})
  endforeach()
  add_custom_command(OUTPUT ${out}
    COMMAND ${DSV3_GLSLC} --target-env=vulkan1.2 -O -fshader-stage=compute
            -I ${DSV3_VK_DIR}/shaders ${defs} -mfmt=c -o ${words} ${src}
    COMMAND ${CMAKE_COMMAND} -DNAME=${name} -DIN=${words} -DOUT=${out}
            -P ${DSV3_VK_DIR}/spirv_header.cmake
    DEPENDS ${src} ${DSV3_VK_INCLUDES} ${DSV3_VK_DIR}/spirv_header.cmake
    COMMENT "glslc ${S_SOURCE} -> vk_spirv/${name}.h"
    VERBATIM)
  set(DSV3_VK_HEADERS ${DSV3_VK_HEADERS} ${out} PARENT_SCOPE)
endfunction()

# Shaders compiled as they are (shaders/<name>.comp): append names here.
set(DSV3_VK_SHADERS add swiglu rmsnorm rope store_kv mla_attn route moe_slots)
# matmul/embed: one shader per family of weight types (the type is
# specialization constant 1).
list(APPEND DSV3_VK_SHADERS matmul_float matmul_fp8 matmul_legacy matmul_k matmul_iq4 matmul_iq1 matmul_iq2
  matmul_iq3)
foreach(_s IN LISTS DSV3_VK_SHADERS)
  dsv3_vk_shader(${_s})
endforeach()
# Variants of one source with defines: one dsv3_vk_shader(...) line each, here.
# mla_attn: one per family of the up-projections' type (plain = WFAM 0 above).
dsv3_vk_shader(mla_attn_legacy SOURCE mla_attn.comp DEFINES WFAM=1)
dsv3_vk_shader(mla_attn_k SOURCE mla_attn.comp DEFINES WFAM=2)
dsv3_vk_shader(mla_attn_iq4 SOURCE mla_attn.comp DEFINES WFAM=3)
dsv3_vk_shader(mla_attn_iq1 SOURCE mla_attn.comp DEFINES WFAM=4)
dsv3_vk_shader(mla_attn_iq2 SOURCE mla_attn.comp DEFINES WFAM=5)
dsv3_vk_shader(mla_attn_iq3 SOURCE mla_attn.comp DEFINES WFAM=6)
# ... and wk_b in a 32-block family beside wv_b of a 256-block one (GGUF
# attn_k_b / attn_v_b): legacy (Q4_0 .. Q8_0) beside k-quant / IQ1-IQ4,
# IQ4_NL beside IQ1-IQ3.
dsv3_vk_shader(mla_attn_k_kleg SOURCE mla_attn.comp DEFINES WFAM=2 WK_FAM=1)
dsv3_vk_shader(mla_attn_iq4_kleg SOURCE mla_attn.comp DEFINES WFAM=3 WK_FAM=1)
dsv3_vk_shader(mla_attn_iq1_kleg SOURCE mla_attn.comp DEFINES WFAM=4 WK_FAM=1)
dsv3_vk_shader(mla_attn_iq2_kleg SOURCE mla_attn.comp DEFINES WFAM=5 WK_FAM=1)
dsv3_vk_shader(mla_attn_iq3_kleg SOURCE mla_attn.comp DEFINES WFAM=6 WK_FAM=1)
dsv3_vk_shader(mla_attn_iq1_kiq4 SOURCE mla_attn.comp DEFINES WFAM=4 WK_FAM=3)
dsv3_vk_shader(mla_attn_iq2_kiq4 SOURCE mla_attn.comp DEFINES WFAM=5 WK_FAM=3)
dsv3_vk_shader(mla_attn_iq3_kiq4 SOURCE mla_attn.comp DEFINES WFAM=6 WK_FAM=3)

file(GLOB DSV3_VK_SOURCES CONFIGURE_DEPENDS ${DSV3_VK_DIR}/*.c)
target_sources(dsv3_obj PRIVATE ${DSV3_VK_SOURCES} ${DSV3_VK_HEADERS})
target_include_directories(dsv3_obj PRIVATE ${DSV3_VK_INCLUDE_DIR} ${PROJECT_BINARY_DIR} ${DSV3_VK_DIR})
set_property(SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/backends/registry.c APPEND PROPERTY
  COMPILE_DEFINITIONS DSV3_HAVE_VULKAN)
if(NOT DSV3_DLOPEN_IN_LIBC)
  target_link_libraries(dsv3 PRIVATE ${CMAKE_DL_LIBS})
  target_link_libraries(dsv3_archive PUBLIC ${CMAKE_DL_LIBS})
  target_link_libraries(dsv3_static PUBLIC ${CMAKE_DL_LIBS})
endif()

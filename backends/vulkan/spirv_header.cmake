# spirv_header.cmake -- wrap glslc's `-mfmt=c` output (a brace list of
# 32-bit words) into a C header: cmake -DNAME= -DIN= -DOUT= -P this file.
file(READ ${IN} words)
string(STRIP "${words}" words)
file(WRITE ${OUT}.tmp
  "/* Generated from shaders by glslc at build time; do not edit. */\n"
  "#include <stdint.h>\n"
  "static const uint32_t dsv3_spv_${NAME}[] = ${words};\n")
file(RENAME ${OUT}.tmp ${OUT})

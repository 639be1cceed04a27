// common.glsl -- what every compute shader of the backend shares.
//
// Shaders get only device addresses (push constants); memory is reached
// through buffer references, so no descriptor sets exist. The workgroup's
// x size is specialization constant 0. The runtime folds group counts past
// the device's x limit into y, so a shader's linear group index is
// dsv3_group_index() and groups past the end return early.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_buffer_reference2 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require

layout(local_size_x_id = 0) in;

// Plain arrays at a device address (alignment: that of the element).
layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32Buf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer U32Buf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer U16Buf { uint16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 1) buffer U8Buf { uint8_t v[]; };

uint dsv3_group_index() { return gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y; }

# synth.cmake -- tests of `dsv3 synth` (included from tests/CMakeLists.txt).
#
# Tiny checkpoints are written once per dtype (fixtures) and verified by
# check_synth.py, which rebuilds the expected tensor set from config.json
# and compares the BF16/FP8 files bit-exactly against the F32 one of the
# same seed (same values, different storage).

set(SYNTH_OUT ${CMAKE_CURRENT_BINARY_DIR}/synth)
if(NOT DEFINED DSV3_PYTHON)
  set(DSV3_PYTHON /usr/bin/python3)
endif()
set(SYNTH_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/check_synth.py)

add_test(NAME synth_fp8_encoder_selftest COMMAND $<TARGET_FILE:dsv3_cli> synth --self-test)

# synth_gen(NAME DIR args...): write a checkpoint as fixture NAME.
function(synth_gen name dir)
  add_test(NAME synth_gen_${name}
    COMMAND $<TARGET_FILE:dsv3_cli> synth ${ARGN} -o ${SYNTH_OUT}/${dir})
  set_tests_properties(synth_gen_${name} PROPERTIES FIXTURES_SETUP synth_${name})
endfunction()

synth_gen(tiny_f32 tiny-f32 --shape tiny --dtype f32)
synth_gen(tiny_bf16 tiny-bf16 --shape tiny --dtype bf16)
synth_gen(tiny_fp8 tiny-fp8 --shape tiny --dtype fp8)
synth_gen(tiny_fp8_sharded tiny-fp8-sharded --shape tiny --dtype fp8 --shard-mb 1)
# Fewer experts than groups allow: n_group 4 -> 2, one dense + one MoE layer.
synth_gen(tiny_regroup tiny-regroup --shape tiny --dtype fp8 --experts 4 --layers 2 --no-mtp)
synth_gen(tiny_bf16_again tiny-bf16-again --shape tiny --dtype bf16)

# Same seed, same bytes.
add_test(NAME synth_deterministic
  COMMAND ${CMAKE_COMMAND} -E compare_files
          ${SYNTH_OUT}/tiny-bf16/model.safetensors ${SYNTH_OUT}/tiny-bf16-again/model.safetensors)
set_tests_properties(synth_deterministic PROPERTIES
  FIXTURES_REQUIRED "synth_tiny_bf16;synth_tiny_bf16_again")

# Bad arguments fail with a message, not a crash or a partial checkpoint.
add_test(NAME synth_rejects_too_few_experts
  COMMAND $<TARGET_FILE:dsv3_cli> synth --shape tiny --experts 2 -o ${SYNTH_OUT}/bad)
add_test(NAME synth_rejects_missing_out COMMAND $<TARGET_FILE:dsv3_cli> synth --shape tiny)
add_test(NAME synth_rejects_bad_dtype
  COMMAND $<TARGET_FILE:dsv3_cli> synth --shape tiny --dtype f16 -o ${SYNTH_OUT}/bad)
set_tests_properties(synth_rejects_too_few_experts synth_rejects_missing_out
  synth_rejects_bad_dtype PROPERTIES WILL_FAIL TRUE)

if(EXISTS ${DSV3_PYTHON})
  add_test(NAME synth_check_tiny_f32
    COMMAND ${DSV3_PYTHON} ${SYNTH_CHECK} ${SYNTH_OUT}/tiny-f32 --single)
  set_tests_properties(synth_check_tiny_f32 PROPERTIES FIXTURES_REQUIRED synth_tiny_f32)

  add_test(NAME synth_check_tiny_bf16
    COMMAND ${DSV3_PYTHON} ${SYNTH_CHECK} ${SYNTH_OUT}/tiny-bf16 --single
            --ref ${SYNTH_OUT}/tiny-f32)
  set_tests_properties(synth_check_tiny_bf16 PROPERTIES
    FIXTURES_REQUIRED "synth_tiny_bf16;synth_tiny_f32")

  add_test(NAME synth_check_tiny_fp8
    COMMAND ${DSV3_PYTHON} ${SYNTH_CHECK} ${SYNTH_OUT}/tiny-fp8 --single
            --ref ${SYNTH_OUT}/tiny-f32)
  set_tests_properties(synth_check_tiny_fp8 PROPERTIES
    FIXTURES_REQUIRED "synth_tiny_fp8;synth_tiny_f32")

  add_test(NAME synth_check_tiny_fp8_sharded
    COMMAND ${DSV3_PYTHON} ${SYNTH_CHECK} ${SYNTH_OUT}/tiny-fp8-sharded --sharded
            --ref ${SYNTH_OUT}/tiny-f32)
  set_tests_properties(synth_check_tiny_fp8_sharded PROPERTIES
    FIXTURES_REQUIRED "synth_tiny_fp8_sharded;synth_tiny_f32")

  add_test(NAME synth_check_tiny_regroup
    COMMAND ${DSV3_PYTHON} ${SYNTH_CHECK} ${SYNTH_OUT}/tiny-regroup
            --expect n_routed_experts=4 --expect n_group=2 --expect topk_group=2
            --expect num_experts_per_tok=4 --expect num_hidden_layers=2
            --expect first_k_dense_replace=1 --expect num_nextn_predict_layers=0)
  set_tests_properties(synth_check_tiny_regroup PROPERTIES FIXTURES_REQUIRED synth_tiny_regroup)
endif()

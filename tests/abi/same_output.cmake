# same_output.cmake -- cmake -DOLD=exe -DNEW=exe -DMODEL=dir -P same_output.cmake
# Runs the consumer built against the 0.1 header (OLD) and the one built
# against the current header (NEW) on the same model; both must succeed and
# print the same thing (shape, prompt ids, sampled and generated tokens).
foreach(v OLD NEW MODEL)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "same_output.cmake: -D${v}=... is required")
  endif()
endforeach()
foreach(v OLD NEW)
  execute_process(COMMAND ${${v}} ${MODEL} RESULT_VARIABLE rc_${v}
    OUTPUT_VARIABLE out_${v} ERROR_VARIABLE err_${v})
  message("---- ${${v}}:\n${out_${v}}${err_${v}}")
  if(NOT rc_${v} EQUAL 0)
    message(FATAL_ERROR "${${v}} failed (${rc_${v}})")
  endif()
endforeach()
if(NOT out_OLD STREQUAL out_NEW)
  message(FATAL_ERROR "the program built against the 0.1 header printed something else than the one built against the current header")
endif()
string(LENGTH "${out_NEW}" n)
if(n LESS 100)
  message(FATAL_ERROR "the consumers printed too little (${n} bytes)")
endif()
message("same output from the 0.1-header and the current-header program")

# Runs one or more programs and writes what they print to OUTPUT; fails if one fails.
#   cmake -DPROGRAMS=a|b [-DLABELS=x|y] [-DARGUMENTS=...] [-DHEADER=line] -DOUTPUT=file -P run_programs.cmake
# With LABELS, each program also gets its label as its last argument; HEADER is written first.
# With -DEXPECT_FAILURE=ON the programs must fail instead (an exercise before it is solved).
string(REPLACE "|" ";" programs "${PROGRAMS}")
string(REPLACE "|" ";" labels "${LABELS}")
separate_arguments(arguments UNIX_COMMAND "${ARGUMENTS}")
set(text "")
if(HEADER)
  set(text "${HEADER}\n")
endif()
set(index 0)
foreach(program IN LISTS programs)
  set(label)
  if(labels)
    list(GET labels ${index} label)
  endif()
  execute_process(COMMAND ${program} ${arguments} ${label}
                  OUTPUT_VARIABLE printed RESULT_VARIABLE status)
  if(EXPECT_FAILURE AND status EQUAL 0)
    message(FATAL_ERROR "${program} passed but should have failed:\n${printed}")
  elseif(NOT EXPECT_FAILURE AND NOT status EQUAL 0)
    message(FATAL_ERROR "${program} failed (${status}):\n${printed}")
  endif()
  string(APPEND text "${printed}")
  math(EXPR index "${index} + 1")
endforeach()
file(WRITE ${OUTPUT} "${text}")

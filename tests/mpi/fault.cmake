# Runs `LAUNCH PROGRAM fault` (LAUNCH: mpiexec … -n, ending with the number of ranks), in which
# rank 1 throws, and fails unless the run exits non-zero, within 20 seconds, with rank 1's
# message on stderr.
#   cmake "-DLAUNCH=mpiexec;-n;2" -DPROGRAM=backprop_mpi_tests -P fault.cmake
string(TIMESTAMP start "%s" UTC)
execute_process(COMMAND ${LAUNCH} ${PROGRAM} fault
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 20)
string(TIMESTAMP end "%s" UTC)
math(EXPR seconds "${end} - ${start}")
message("exit status '${status}' after ${seconds} s; stderr:\n${err}")
if(status STREQUAL "0" OR status MATCHES "timeout")
  message(FATAL_ERROR "the run should have failed at once, but its status is '${status}'")
endif()
if(NOT err MATCHES "rank 1: Sequential::forward: layer 0 takes 5 inputs but X has 4")
  message(FATAL_ERROR "rank 1's message is missing from stderr")
endif()
if(seconds GREATER 15)
  message(FATAL_ERROR "the run took ${seconds} s to end")
endif()

# Runs `LAUNCH PROGRAM CASE` (LAUNCH: mpiexec … -n, ending with the number of ranks), a case of
# test_mpi.cpp in which a rank throws, and fails unless the run exits non-zero, within 15
# seconds, with a message matching the regular expression EXPECT on stderr.
#   cmake "-DLAUNCH=mpiexec;-n;2" -DPROGRAM=backprop_mpi_tests -DCASE=fault "-DEXPECT=rank 1: …"
#         -P fault.cmake
# Any non-zero status counts as ending the run, a signal included: when several ranks call
# MPI_Abort at once, Open MPI 4.1's mpiexec itself may crash while it shuts down (seen here, in
# PMIx_server_finalize), after every rank has been ended. ctest cannot express that (a test that
# dies of a signal fails whatever its output), hence this script.
string(TIMESTAMP start "%s" UTC)
execute_process(COMMAND ${LAUNCH} ${PROGRAM} ${CASE}
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 20)
string(TIMESTAMP end "%s" UTC)
math(EXPR seconds "${end} - ${start}")
message("exit status '${status}' after ${seconds} s; stderr:\n${err}")
if(status STREQUAL "0" OR status MATCHES "timeout")
  message(FATAL_ERROR "the run should have failed at once, but its status is '${status}'")
endif()
if(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "the expected message is missing from stderr: ${EXPECT}")
endif()
if(seconds GREATER 15)
  message(FATAL_ERROR "the run took ${seconds} s to end")
endif()

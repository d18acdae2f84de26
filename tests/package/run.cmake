# Builds and runs tests/package/consumer against backprop in one way:
#   cmake -DMODE=<find_package|add_subdirectory|FetchContent> -DSOURCE_DIR=<backprop>
#         -DWORK_DIR=<scratch> -DCXX=<compiler> -DGENERATOR=<generator> -P run.cmake
# find_package installs backprop into WORK_DIR/prefix first; FetchContent fetches an archive of
# the files a release would ship.
foreach(var MODE SOURCE_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run.cmake needs -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_BUILD_TYPE=Release)
set(consumer_args -DCONSUME_WITH=${MODE})

if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/backprop ${common}
                          -DBACKPROP_BUILD_TESTS=OFF -DBACKPROP_BUILD_EXAMPLES=OFF
                  COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK_DIR}/backprop
                          --prefix ${WORK_DIR}/prefix
                  COMMAND_ERROR_IS_FATAL ANY)
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND consumer_args -DBACKPROP_SOURCE_DIR=${SOURCE_DIR})
elseif(MODE STREQUAL "FetchContent")
  set(archive ${WORK_DIR}/backprop.tar.gz)
  file(MAKE_DIRECTORY ${WORK_DIR})
  execute_process(COMMAND ${CMAKE_COMMAND} -E tar czf ${archive} CMakeLists.txt cmake include
                          LICENSE
                  WORKING_DIRECTORY ${SOURCE_DIR} COMMAND_ERROR_IS_FATAL ANY)
  list(APPEND consumer_args -DBACKPROP_ARCHIVE=${archive})
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

execute_process(COMMAND ${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR}/consumer
                        -B ${WORK_DIR}/consumer ${common} ${consumer_args}
                COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${WORK_DIR}/consumer/consumer COMMAND_ERROR_IS_FATAL ANY)
if(EXISTS ${WORK_DIR}/consumer/consumer_openblas)
  execute_process(COMMAND ${WORK_DIR}/consumer/consumer_openblas COMMAND_ERROR_IS_FATAL ANY)
endif()

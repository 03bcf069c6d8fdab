# Installs the build tree to a scratch prefix, then builds and runs the consumer project
# against it, the way a user of the installed package would.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
    execute_process(COMMAND ${ARGV} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
        message(FATAL_ERROR "failed (${code}): ${ARGV}\n${out}\n${err}")
    endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
if(NOT EXISTS ${prefix}/share/doc/eventcore/LICENSE)
    message(FATAL_ERROR "the package does not install its LICENSE")
endif()

# Builds and runs the consumer asking for `components`, with `extra` configure arguments.
function(consumer name components)
    set(build ${WORK_DIR}/build-${name})
    run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${build} -G ${GENERATOR}
        -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
        "-DEVENTCORE_COMPONENTS=${components}" ${ARGN})
    run(${CMAKE_COMMAND} --build ${build})
    run(${build}/consumer)
    message(STATUS "consumer '${name}' built against ${prefix} and ran")
endfunction()

consumer(all "core;sqlite;postgres")
# The SQLite store alone must not need libpq: PostgreSQL cannot be found here.
consumer(sqlite-only "sqlite" -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=TRUE)
# No components, and neither store's dependencies findable: the core and the codec.
consumer(core-only "none" -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=TRUE -DCMAKE_DISABLE_FIND_PACKAGE_SQLite3=TRUE)
# No components with everything findable: every store.
consumer(none "none")

# Asking for a store whose dependencies are missing fails at find_package, naming it.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/build-missing
                -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
                "-DEVENTCORE_COMPONENTS=postgres" -DCMAKE_DISABLE_FIND_PACKAGE_PostgreSQL=TRUE
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(code EQUAL 0 OR NOT "${out}${err}" MATCHES "PostgreSQL")
    message(FATAL_ERROR "COMPONENTS postgres without PostgreSQL did not fail naming it (${code}):\n${out}\n${err}")
endif()

# Compiles SOURCE twice: as it stands it must compile; with EVENTCORE_COMPILE_FAIL defined it
# must fail with exactly one error, whose diagnostic holds the text of every `// expect:` line
# of SOURCE. Usage: cmake -DCOMPILER=... -DINCLUDE=... -DSOURCE=... -P check_diagnostic.cmake
file(STRINGS ${SOURCE} expects REGEX "^// expect: ")
if(NOT expects)
    message(FATAL_ERROR "${SOURCE} needs at least one `// expect: <diagnostic text>` line")
endif()
set(compile ${COMPILER} -std=c++20 -fsyntax-only -I${INCLUDE} ${SOURCE})

execute_process(COMMAND ${compile} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT status EQUAL 0)
    message(FATAL_ERROR "${SOURCE} does not compile as it stands, so its failure would prove nothing:\n${out}")
endif()

execute_process(COMMAND ${compile} -DEVENTCORE_COMPILE_FAIL RESULT_VARIABLE status OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
if(status EQUAL 0)
    message(FATAL_ERROR "${SOURCE} compiles with EVENTCORE_COMPILE_FAIL defined; it should not")
endif()
set(failed "")
foreach(expect IN LISTS expects)
    string(REGEX REPLACE "^// expect: " "" expect "${expect}")
    string(FIND "${out}" "${expect}" at)
    if(at EQUAL -1)
        string(APPEND failed "  missing: ${expect}\n")
    endif()
endforeach()
# One mistake, one error: count the lines the compiler starts with `error:` (GCC and Clang
# both write `file:line:column: error: `).
# A file may allow Clang more, where Clang adds an error of its own: `// clang-errors: N (why)`.
set(allowed 1)
file(STRINGS ${SOURCE} clang_errors REGEX "^// clang-errors: [0-9]+")
if(clang_errors AND COMPILER_ID MATCHES "Clang")
    string(REGEX REPLACE "^// clang-errors: ([0-9]+).*" "\\1" allowed "${clang_errors}")
endif()
string(REGEX MATCHALL "(^|\n)[^\n]*:[0-9]+:[0-9]+: (fatal )?error: " errors "${out}")
list(LENGTH errors count)
if(NOT count EQUAL allowed)
    string(APPEND failed "  ${count} errors, not ${allowed}\n")
endif()
if(failed)
    message(FATAL_ERROR "${SOURCE}: the diagnostic is not the one expected:\n${failed}compiler output:\n${out}")
endif()

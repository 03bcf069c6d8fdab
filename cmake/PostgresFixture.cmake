# A throwaway PostgreSQL server (script/postgres) for the tests labelled `postgres`: ctest starts
# it before the first test that requires the `postgres` fixture and removes it after the last,
# also when they fail. Its socket lives under /tmp, where the path stays short.
string(MD5 build_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${build_hash}" 0 12 build_hash)
set(EVENTCORE_PG_DIR "/tmp/eventcore-pg-${build_hash}")
# For script/test, which stops this server if ctest itself is interrupted.
file(WRITE ${CMAKE_BINARY_DIR}/postgres-test-dir "${EVENTCORE_PG_DIR}\n")

add_test(NAME postgres.server.start COMMAND ${PROJECT_SOURCE_DIR}/script/postgres start ${EVENTCORE_PG_DIR})
add_test(NAME postgres.server.stop COMMAND ${PROJECT_SOURCE_DIR}/script/postgres stop ${EVENTCORE_PG_DIR})
set_tests_properties(postgres.server.start PROPERTIES FIXTURES_SETUP postgres LABELS "postgres")
set_tests_properties(postgres.server.stop PROPERTIES FIXTURES_CLEANUP postgres LABELS "postgres")

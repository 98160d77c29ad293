# Runs `loyalty-till quote` on a scenario and compares its JSON with the scenario's "expect": the
# same keys with the same values (string(JSON EQUAL) compares whole documents, keys unordered).
execute_process(COMMAND "${TILL}" quote --rules "${RULES}" --scenario "${SCENARIO}"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "loyalty-till exited ${rc}: ${err}")
endif()
file(READ "${SCENARIO}" doc)
string(JSON expect GET "${doc}" expect)
string(JSON same EQUAL "${out}" "${expect}")
if(NOT same)
  message(FATAL_ERROR "the quote differs from the scenario's expect\n got:      ${out}\n expected: ${expect}")
endif()

# Runs a C consumer (PROGRAM) on a fresh till: configuration, the demo rules and a one-member changes document.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
foreach(f ca.pem store.pem store.key)
  file(WRITE "${WORK}/${f}" "placeholder\n")
endforeach()
configure_file("${DATA}/test-hq-enroll-public.pem" "${WORK}/hq-enroll.pem" COPYONLY)
file(WRITE "${WORK}/till.json" [=[{
  "data_dir": "data", "store_id": "S001", "till_id": "T01",
  "code_key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
  "hq": {"url": "https://127.0.0.1:8443", "ca_file": "ca.pem", "cert_file": "store.pem", "key_file": "store.key",
         "enrollment_key_file": "hq-enroll.pem"}
}]=])
execute_process(COMMAND "${PROGRAM}" "${WORK}/till.json" "${DATA}/../../data/rules/demo-chain.json"
                        "${DATA}/changes-one-member.json"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the C consumer exited ${rc}: ${out}${err}")
endif()
if(EXPECT STREQUAL "every")
  if(NOT out MATCHES "every 1.1 call behaved as in 1.1")
    message(FATAL_ERROR "unexpected output: ${out}")
  endif()
elseif(NOT out MATCHES "member M-1001 \\(W\\*\\*\\* F\\*\\*\\*\\), Gold, 5000 points")
  message(FATAL_ERROR "unexpected output: ${out}")
endif()
message(STATUS "${out}")

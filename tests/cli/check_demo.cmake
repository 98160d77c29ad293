# Runs the demo against a build and checks what a person should see in it.
execute_process(COMMAND bash "${DEMO}" "${BUILD}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the demo exited ${rc}:\n${out}\n${err}")
endif()
foreach(expected
    "imported: 3 members in the cache, cursor 1042"
    "birthday month: double points today"
    "Points earned \\(birthday month!\\) +852 pts"
    "Member discount \\(welcome back 30%\\) +CNY -257.10"
    "Points redeemed \\(2000\\)"
    "Member discount \\(first purchase 20%\\)"
    "Coupon SPRING30 +CNY -30.00"
    "Receipt R-0001 \\(committed before: first result\\)"
    "Money back +CNY 87.29"
    "7 transactions waiting for headquarters"
    "PAYABLE +CNY 489.60")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "the demo's output lacks \"${expected}\":\n${out}")
  endif()
endforeach()

# Runs the demo against a build and checks what a person should see in it: headquarters and a till,
# online sales, offline sales while headquarters is down, the catch-up sync once it is back.
# The expected lines are the deterministic ones: amounts and points of members without a birthday
# (a birthday month doubles points, and the demo's times follow the clock), counts, refusals.
execute_process(COMMAND bash "${DEMO}" "${BUILD}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the demo exited ${rc}:\n${out}\n${err}")
endif()
foreach(expected
    # headquarters publishes the rules and imports the members; the till's first sync takes them
    "M-3001,Chen Jing,13900139000,,,gold,2350,4,"
    "members imported: 3 added, 0 updated"
    "1 coupons issued; tills receive them at their next sync\nmember_id,code\nM-5001,WELCOME-20"
    "Synced with headquarters: 0 transactions sent [^\n]*3 member records and 1 coupons received; new rules installed"
    # online: members with a purchase history get their card's discount (no first-purchase offer), the
    # eco line's bonus, then headquarters applies both sales
    "Member discount \\(card 5%\\) +CNY -14.95\nPAYABLE +CNY 284.05"
    "Member discount \\(card 10%\\) +CNY -33.60\nPAYABLE +CNY 302.40\nPoints earned +763 pts"
    "Synced with headquarters: 2 transactions sent \\(2 applied, 0 already applied, 0 rejected\\)"
    # offline: the prompt, a redemption over the offline allowance refused, one within it taken
    "\n  \\* offline for [0-9]+ minutes"
    "Points not redeemed: offline_limit \\(at most 2000\\)"
    "\n  \\* welcome back after 19[0-9] days: 30% off"
    "Member discount \\(welcome back 30%\\) +CNY -137.70\nPoints redeemed \\(2000\\) +CNY -20.00\nPAYABLE +CNY 301.30\nPoints earned +451 pts"
    "Member Z\\*+ W\\*+ \\(T-S001-[0-9a-f]+\\), Silver card, 0 points available"
    "Member discount \\(first purchase 20%\\) +CNY -31.60\nPAYABLE +CNY 161.40"
    "Coupon WELCOME-20 +CNY -20.00\nPAYABLE +CNY 339.10\nPoints earned +678 pts"
    "Receipt R-0004 \\(committed before: first result\\)"
    "Money back +CNY 122.55"
    # the sync with headquarters down fails, and the outbox keeps everything
    "loyalty-till: headquarters could not be reached or refused: cannot connect to headquarters at 127.0.0.1:[0-9]+"
    "\n6 transactions waiting for headquarters"
    # headquarters back: everything applied once, the outbox empty
    "Synced with headquarters: 6 transactions sent \\(6 applied, 0 already applied, 0 rejected\\)"
    "\n0 transactions waiting for headquarters\n"
    # headquarters' ledger
    "\nM-3001 +C\\*+ J\\*+ +gold +801 +5 "
    "\nM-5001 +W\\*+ M\\*+ +black +1561 +9 "
    # the ledger: the member's lots and sales, the coupon used once, the store's report, the flag
    "\n  points 1561, purchases 9\n"
    "\n    WELCOME-20  [^\n]*used at S001 "
    "\n    [^\n]*S001 R-0006  paid 33910, \\+678 -0 points"
    "\nS001 [^\n]* 8 +1\n +T01 [^\n]* 0 +"
    "#1 future_timestamp [^\n]* store S001/T01"
    "\nT-S001-[0-9a-f]+ +Z\\*+ W\\*+ +silver +[0-9]+ +1 "
    "\n  name Wang Ming, phone 13600136000\n"
    # the rules engine alone
    "Member discount \\(welcome back 30%\\) +CNY -218.40"
    "PAYABLE +CNY 489.60")
  if(NOT out MATCHES "${expected}")
    message(FATAL_ERROR "the demo's output lacks \"${expected}\":\n${out}\n${err}")
  endif()
endforeach()
# Headquarters, started and stopped twice, is gone once the demo has ended.
string(REGEX MATCHALL "\\$ kill -TERM [0-9]+" kills "${out}")
list(LENGTH kills stopped)
if(NOT stopped EQUAL 2)
  message(FATAL_ERROR "the demo should stop headquarters twice:\n${out}")
endif()
foreach(kill IN LISTS kills)
  string(REGEX REPLACE ".* " "" pid "${kill}")
  if(EXISTS "/proc/${pid}/cmdline")
    file(READ "/proc/${pid}/cmdline" cmdline)
    if(cmdline MATCHES "loyalty-hq")
      message(FATAL_ERROR "headquarters (process ${pid}) still runs after the demo")
    endif()
  endif()
endforeach()

-- POST /v1/referrals: distinct people from one GP practice. Each request varies the family
-- name, the date of birth and a valid NHS number, so no two requests name the same person.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local counter = 0
local base = 0

-- Each thread draws from its own block of 9-digit stems, away from the seed's 999 range;
-- BENCH_RUN_OFFSET keeps consecutive runs on one database apart.
function thread_init(args)
  base = 400000000 + (tonumber(os.getenv("BENCH_RUN_OFFSET") or "0") % 50) * 1000000
    + wrk.thread:get("id") * 20000000
end

-- Modulus 11: weights 10..2 over the first nine digits; 11 is 0, 10 has no valid number.
local function nhs_number(stem)
  local digits = string.format("%09d", stem)
  local sum = 0
  for i = 1, 9 do sum = sum + tonumber(digits:sub(i, i)) * (11 - i) end
  local check = 11 - (sum % 11)
  if check == 11 then check = 0 end
  if check == 10 then return nil end
  return digits .. check
end

local letters = "abcdefghijklmnopqrstuvwxyz"
local function name(n)
  local s = ""
  repeat
    local k = n % 26
    s = s .. letters:sub(k + 1, k + 1)
    n = math.floor(n / 26)
  until n == 0
  return "Jones-" .. s
end

function request()
  local number
  repeat
    counter = counter + 1
    number = nhs_number(base + counter)
  until number
  local day = counter % 25000
  local dob = os.date("!%Y-%m-%d", -946771200 + day * 86400) -- from 1940-01-01
  local body = string.format(
    '{"person":{"given_name":"Sam","family_name":"%s","date_of_birth":"%s","nhs_number":"%s",'
      .. '"phone":"01284 123456","postcode":"IP33 3ND","preferred_contact":"phone"},'
      .. '"reasons":["loneliness","money_and_benefits"],"summary":"Lives alone since bereavement.",'
      .. '"consent_to_share":true}',
    name(counter), dob, number)
  return wrk.format(nil, nil, nil, body)
end

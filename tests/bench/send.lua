-- wrk script for the send benchmark (tests/bench/run.py):
-- POST /send with a valid form, one mail per request.
--
-- labmail checks CSRF by double submit: the cookie labmail_csrf and the
-- form field csrf_token must hold the same well-formed token.  run.py
-- writes the urlencoded form (token included) to a file and passes its
-- path and the token in the environment.

local path = os.getenv("LABMAIL_BENCH_FORM")
local token = os.getenv("LABMAIL_BENCH_TOKEN")
if path == nil or token == nil then
   error("LABMAIL_BENCH_FORM and LABMAIL_BENCH_TOKEN must be set")
end

local f = assert(io.open(path, "rb"))
local form = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = form
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "labmail_csrf=" .. token

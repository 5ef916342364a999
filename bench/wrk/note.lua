-- POST /v1/connections/{id}/notes: the URL given to wrk, one short note each time.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text":"Called; booked for Tuesday."}'

-- A GET of the URL given to wrk (headers with -H).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

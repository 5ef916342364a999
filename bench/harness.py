#!/usr/bin/env python3
"""The benchmark harness behind `make bench` (started by bench/run.sh; stdlib only).

Every scenario on PostgreSQL and SQLite at each concurrency, with `wrk` against the release
binary on a freshly seeded database; on PostgreSQL also the SQL each endpoint issues
(pg_stat_statements) and its replay with pgbench (bench/sql/), the SQL ceiling; then the
minimal pgbench insert/read and the FastAPI + psycopg baseline (bench/baseline/). Prints
markdown and writes it to target/bench/results-<timestamp>.md.
"""

import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
WRK_DIR = os.path.join(BENCH, "wrk")
SQL_DIR = os.path.join(BENCH, "sql")
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_ARGS = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]

SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
REFERRALS = int(os.environ.get("BENCH_REFERRALS", "100000"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1 8 32").split()]
BACKENDS = os.environ.get("BENCH_BACKENDS", "postgres sqlite").split()
ONLY = os.environ.get("BENCH_SCENARIOS", "").split()
DEEP_PAGES = int(os.environ.get("BENCH_DEEP_PAGES", "30"))
BASELINE = os.environ.get("BENCH_BASELINE", "1") == "1"
PORT = int(os.environ.get("BENCH_PORT", "18080"))
BIN = os.environ["LINKWELL_BIN"]
TARGET = os.environ["BENCH_TARGET_DIR"]

out_lines = []


def say(line=""):
    print(line, flush=True)
    out_lines.append(line)


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, check=True, **kw):
    r = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def psql(db, sql):
    """Rows of a query, as lists of strings (unaligned, tab-separated)."""
    r = run(["psql", *PG_ARGS, "-d", db, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def http(method, url, token=None, body=None):
    req = urllib.request.Request(url, method=method, data=body.encode() if body else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def probe(url, headers):
    """The status and start of the body of one GET, to say why a scenario failed."""
    req = urllib.request.Request(url)
    for h in headers:
        k, _, v = h.partition(": ")
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return f"{resp.status}"
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.read()[:300].decode(errors='replace')}"


def proc_status(pid):
    """VmRSS and VmHWM in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields


def reset_peak(pid):
    # Writing 5 to clear_refs resets VmHWM to the current RSS: a peak per scenario.
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def wrk(script, url, concurrency, headers=(), extra_env=None):
    threads = min(concurrency, 2)
    cmd = ["wrk", "--latency", "-t", str(threads), "-c", str(concurrency), "-d", f"{SECONDS}s",
           "--timeout", "10s", "-s", os.path.join(WRK_DIR, script)]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    env = dict(os.environ, BENCH_WRK_DIR=WRK_DIR, **(extra_env or {}))
    r = run(cmd, env=env)
    line = next(l for l in r.stdout.splitlines() if l.startswith("BENCH "))
    m = json.loads(line[6:])
    return {
        "rps": m["requests"] / (m["duration_us"] / 1e6),
        "p50": m["p50_us"] / 1000,
        "p99": m["p99_us"] / 1000,
        "errors": m["non2xx"] + m["socket_errors"],
        "requests": m["requests"],
        "raw": r.stdout,
    }


def pgbench(db, script, concurrency, variables):
    """Transactions per second and latency percentiles of a replay script."""
    logdir = tempfile.mkdtemp(prefix="bench-pgbench-")
    cmd = ["pgbench", *PG_ARGS, "-n", "-M", "prepared", "-c", str(concurrency),
           "-j", str(min(concurrency, 2)), "-T", str(SECONDS), "-l",
           "--log-prefix", os.path.join(logdir, "log"), "-f", script]
    for k, v in variables.items():
        cmd += ["-D", f"{k}={v}"]
    cmd.append(db)
    r = run(cmd, check=False)
    if r.returncode != 0:
        shutil.rmtree(logdir, ignore_errors=True)
        raise RuntimeError(f"pgbench {script} failed:\n{r.stdout}\n{r.stderr}")
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial", r.stdout).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
    lat = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            lat += [int(line.split()[2]) for line in f if line.strip()]
    shutil.rmtree(logdir, ignore_errors=True)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(len(lat) * p))] / 1000 if lat else 0.0
    return {"rps": tps, "p50": pct(0.50), "p99": pct(0.99),
            "errors": int(failed.group(1)) if failed else 0, "cmd": " ".join(cmd)}


# --- the server and its data -------------------------------------------------------------

class Server:
    def __init__(self, backend):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="linkwell-bench-")
        self.db = None
        if backend == "postgres":
            self.db = f"linkwell_bench_{os.getpid()}"
            psql("postgres", f"CREATE DATABASE {self.db}")
            self.url = f"{PG}/{self.db}"
        else:
            self.url = f"sqlite://{self.dir}/bench.db"
        key = os.path.join(self.dir, "signing-key.pem")
        run([BIN, "keygen", "--out", key])
        # The load is a few tokens sending thousands of requests a second: not what the
        # limits are for.
        self.env = dict(os.environ, LINKWELL_SIGNING_KEY_FILE=key, RUST_LOG="warn",
                        LINKWELL_RATE_PER_MINUTE="100000000",
                        LINKWELL_PUBLIC_RATE_PER_MINUTE="100000000",
                        LINKWELL_PROBE_RATE_PER_MINUTE="100000000")
        self.base = f"http://127.0.0.1:{PORT}"
        self.proc = None

    def seed(self):
        t = time.time()
        r = run([BIN, "seed", "--referrals", str(REFERRALS), "--database-url", self.url],
                env=self.env)
        log(f"{self.backend}: {r.stdout.strip()} (wall {time.time() - t:.0f} s)")
        if self.db:
            psql(self.db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; ANALYZE")

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--bind", f"127.0.0.1:{PORT}", "--database-url", self.url],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.base}/health/ready", timeout=2)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not become ready; see {self.dir}/server.log")

    def token(self, role, sub, org=None):
        cmd = [BIN, "token", "--role", role, "--sub", sub, "--database-url", self.url,
               "--ttl", "86400"]
        if org:
            cmd += ["--org", org]
        return run(cmd, env=self.env).stdout.strip()

    def query(self, sql):
        if self.db:
            return psql(self.db, sql)
        with sqlite3.connect(self.url[len("sqlite://"):]) as conn:
            return [[str(v) for v in row] for row in conn.execute(sql)]

    def stop(self):
        # The server's log outlives the run: it says why a scenario had errors.
        log_path = os.path.join(self.dir, "server.log")
        if os.path.exists(log_path):
            os.makedirs(os.path.join(TARGET, "bench"), exist_ok=True)
            shutil.copy(log_path, os.path.join(TARGET, "bench", f"server-{self.backend}.log"))
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.db:
            psql("postgres", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        shutil.rmtree(self.dir, ignore_errors=True)


def fixtures(s):
    """Who asks for what: ids picked from the seeded data, tokens, the deep cursor, and the
    values the SQL replays bind (the same the API binds for these requests)."""
    f = {}
    f["org"] = s.query("SELECT referrer_org_id FROM referrals WHERE referrer_org_id IS NOT NULL "
                       "GROUP BY referrer_org_id ORDER BY count(*) DESC, referrer_org_id LIMIT 1")[0][0]
    f["referrer"] = s.token("referrer", "bench-gp", f["org"])
    first = http("GET", f"{s.base}/v1/referrals?limit=50", f["referrer"])
    f["referral"] = first["items"][0]["id"]
    f["page_ids"] = first["items"]
    cursor, pages, last = first["next_cursor"], 1, first["items"][-1]
    if not cursor:
        raise RuntimeError("the seeded practice has a single page of referrals: seed more")
    while pages < DEEP_PAGES:
        page = http("GET", f"{s.base}/v1/referrals?limit=50&cursor={cursor}", f["referrer"])
        if not page["next_cursor"]:
            break
        cursor, pages, last = page["next_cursor"], pages + 1, page["items"][-1]
    f["cursor"], f["deep_page"] = cursor, pages + 1
    f["deep_last"] = last
    f["deep_items"] = http("GET", f"{s.base}/v1/referrals?limit=50&cursor={cursor}",
                           f["referrer"])["items"]
    f["partner_org"], f["partner_connections"] = s.query(
        "SELECT organisation_id, count(*) FROM connections WHERE organisation_id IS NOT NULL "
        "GROUP BY organisation_id "
        "ORDER BY count(*) DESC, organisation_id LIMIT 1")[0]
    f["partner"] = s.token("partner", "bench-partner", f["partner_org"])
    f["connection"], f["conn_referral"], f["conn_person"] = s.query(
        "SELECT c.id, c.referral_id, r.person_id FROM connections c "
        "JOIN referrals r ON r.id = c.referral_id "
        f"WHERE c.organisation_id = '{f['partner_org']}' AND c.status <> 'pending' "
        "ORDER BY c.id LIMIT 1")[0]
    f["feed_items"] = http("GET", f"{s.base}/v1/connections?updated_since=2000-01-01&limit=50",
                           f["partner"])["items"]
    f["commissioner"] = s.token("commissioner", "bench-commissioner")
    f["year"] = datetime.date.today().year
    f["person"] = s.query(f"SELECT person_id FROM referrals WHERE id = '{f['referral']}'")[0][0]
    f["services"] = http("GET", f"{s.base}/v1/directory/services?need=money_and_benefits&q=seed",
                         f["partner"])["items"]
    return f


def days(d):
    return (d - datetime.date(1970, 1, 1)).days


def pg_array(ids):
    return "{" + ",".join(ids) + "}"


def replay_variables(s, f):
    """What each replay script binds (see the header of each bench/sql/*.sql)."""
    if not s.db:
        return {}
    y = f["year"]
    scope = s.query("SELECT scope FROM report_tallies WHERE scope NOT LIKE 'month:%' "
                    "GROUP BY scope ORDER BY count(*) DESC LIMIT 1")
    page = [i["id"] for i in f["page_ids"]]
    deep = [i["id"] for i in f["deep_items"]]
    feed = ",".join(f"'{i['id']}'" for i in f["feed_items"]) or "''"
    feed_referrals = [r[0] for r in s.query(
        f"SELECT DISTINCT referral_id FROM connections WHERE id IN ({feed})")]
    deep_at = s.query(f"SELECT received_at FROM referrals WHERE id = '{f['deep_last']['id']}'")[0][0]
    return {
        "org": f["org"], "referral": f["referral"], "person": f["person"],
        "referral_array": pg_array([f["referral"]]),
        "page_ids": pg_array(page), "page_ids_text": ",".join(page),
        "deep_at": deep_at, "deep_id": f["deep_last"]["id"],
        "deep_ids": pg_array(deep), "deep_ids_text": ",".join(deep),
        "partner_org": f["partner_org"], "connection": f["connection"],
        "conn_referral": f["conn_referral"], "conn_person": f["conn_person"],
        "feed_referrals": pg_array(feed_referrals),
        "feed_ids_text": ",".join(i["id"] for i in f["feed_items"]),
        "service_ids": pg_array([i["id"] for i in f["services"]]),
        "scope": scope[0][0] if scope else "",
        "first_day": days(datetime.date(y, 1, 1)), "last_day": days(datetime.date(y, 12, 31)),
        "today": days(datetime.date.today()),
    }


def scenarios(f):
    """name, wrk script, path, headers."""
    auth = lambda t: [f"Authorization: Bearer {t}"]
    y = f["year"]
    return [
        ("create", "create.lua", "/v1/referrals", auth(f["referrer"])),
        ("get", "get.lua", f"/v1/referrals/{f['referral']}", auth(f["referrer"])),
        ("list_first", "get.lua", "/v1/referrals?limit=50", auth(f["referrer"])),
        ("list_deep", "get.lua", f"/v1/referrals?limit=50&cursor={f['cursor']}",
         auth(f["referrer"])),
        ("feed", "get.lua", "/v1/connections?updated_since=2000-01-01&limit=50",
         auth(f["partner"])),
        ("note", "note.lua", f"/v1/connections/{f['connection']}/notes", auth(f["partner"])),
        ("search", "get.lua", "/v1/directory/services?need=money_and_benefits&q=seed",
         auth(f["partner"])),
        ("report", "get.lua", f"/v1/reports/activity?from={y}-01-01&to={y}-12-31",
         auth(f["commissioner"])),
    ]


# --- SQL capture and replay ---------------------------------------------------------------

def normalise(sql):
    return re.sub(r"\s+", " ", sql).strip()


HARNESS_SQL = re.compile(r"pg_stat_statements|^(ANALYZE|CREATE EXTENSION)", re.I)


def capture(db):
    rows = psql(db, "SELECT calls, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY calls DESC")
    return [(int(c), normalise(q)) for c, q in rows if not HARNESS_SQL.search(q)]


def save_capture(name, c, cap, requests):
    """Every captured statement in full, for writing and checking the replay scripts."""
    os.makedirs(os.path.join(TARGET, "bench", "sql"), exist_ok=True)
    with open(os.path.join(TARGET, "bench", "sql", f"{name}-c{c}.sql"), "w") as f:
        for calls, q in cap:
            f.write(f"-- {calls} calls, {calls / max(requests, 1):.2f} a request\n{q};\n\n")


def replayed_statements(scenario):
    """The captured statements a hand-written replay stands for (its `-- covers:` lines)."""
    path = os.path.join(SQL_DIR, f"{scenario}.sql")
    if not os.path.exists(path):
        return None, path
    covers = []
    with open(path) as f:
        for line in f:
            if line.startswith("-- covers: "):
                covers.append(normalise(line[len("-- covers: "):]))
    return covers, path


# Statements issued less often than this a request are the server's own timers (folding
# report deltas into the totals, refreshing revocations), not the endpoint's work.
BACKGROUND = 0.05


def check_replay(scenario, captured, requests):
    covers, path = replayed_statements(scenario)
    if covers is None:
        covers = []
    missing = [q for n, q in captured
               if n / max(requests, 1) >= BACKGROUND and not any(q.startswith(c) for c in covers)]
    return missing, path


# --- the run -------------------------------------------------------------------------------

def fmt_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def bench_backend(backend, results, captures):
    log(f"{backend}: seeding {REFERRALS} referrals")
    s = Server(backend)
    try:
        s.seed()
        s.start()
        f = fixtures(s)
        log(f"{backend}: practice {f['org']}, partner {f['partner_org']} "
            f"({f['partner_connections']} connections), deep page {f['deep_page']}")
        variables = replay_variables(s, f)
        for name, script, path, headers in scenarios(f):
            if ONLY and name not in ONLY:
                continue
            for c in CONCURRENCY:
                if s.db:
                    psql(s.db, "SELECT pg_stat_statements_reset()")
                reset_peak(s.proc.pid)
                extra = {"BENCH_RUN_OFFSET": str(c)}
                r = wrk(script, s.base + path, c, headers, extra)
                r.update(proc_status(s.proc.pid))
                if s.db:
                    cap = capture(s.db)
                    r["calls"] = sum(n for n, _ in cap) / max(r["requests"], 1)
                    captures.setdefault(name, cap)
                    save_capture(name, c, cap, r["requests"])
                    # Reads after a create were measured on grown tables: refresh statistics
                    # as autovacuum would, so the plans are those of a service in use.
                    if name in ("create", "note"):
                        psql(s.db, "ANALYZE")
                results[(backend, name, c)] = r
                if r["errors"] and script == "get.lua":
                    say("")
                    say(f"> **WARNING: {backend} {name} c={c}: {r['errors']} errors;** one "
                        f"request now: {probe(s.base + path, headers)}")
                log(f"{backend} {name} c={c}: {r['rps']:.0f} req/s p99 {r['p99']:.1f} ms "
                    f"errors {r['errors']}")
            if s.db:
                first = results[(backend, name, CONCURRENCY[0])]
                missing, sql = check_replay(name, captures.get(name, []), first["requests"])
                if missing:
                    say("")
                    say(f"> **WARNING: {name}: captured but not replayed by "
                        f"{os.path.relpath(sql, ROOT)}:**")
                    for q in missing:
                        say(f"> - `{q[:200]}`")
                if os.path.exists(sql):
                    for c in CONCURRENCY:
                        try:
                            r = pgbench(s.db, sql, c, variables)
                        except RuntimeError as e:
                            say("")
                            say(f"> **WARNING: {name}: the replay failed at c={c}:** "
                                + " ".join(l for l in str(e).splitlines()
                                           if "ERROR" in l)[:400])
                            break
                        results[("sql", name, c)] = r
                        log(f"sql {name} c={c}: {r['rps']:.0f} tx/s p99 {r['p99']:.1f} ms")
        if s.db:
            minimal(s.db, results)
    finally:
        s.stop()


def minimal(db, results):
    """pgbench's ceiling for the least a create or a read can be: one statement."""
    psql(db, "CREATE TABLE bench_min (id uuid PRIMARY KEY, body jsonb NOT NULL, "
             "created_at timestamptz NOT NULL DEFAULT now()); "
             "INSERT INTO bench_min (id, body) SELECT gen_random_uuid(), '{}' FROM generate_series(1, 1000); "
             "ANALYZE bench_min")
    row = psql(db, "SELECT id FROM bench_min LIMIT 1")[0][0]
    for name in ("min_insert", "min_read"):
        r = pgbench(db, os.path.join(SQL_DIR, f"{name}.sql"), 32, {"id": row})
        results[("sql", name, 32)] = r
        log(f"{name} c=32: {r['rps']:.0f} tx/s")


def baseline(results):
    """FastAPI + psycopg on 2 uvicorn workers, loaded with the same wrk scripts at 32."""
    venv = os.path.join(TARGET, "bench-venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(os.path.join(venv, "bin", "uvicorn")):
        log("baseline: installing FastAPI, uvicorn and psycopg into " + venv)
        run([sys.executable, "-m", "venv", venv])
        run([py, "-m", "pip", "install", "-q", "-r",
             os.path.join(BENCH, "baseline", "requirements.txt")])
    db = f"linkwell_baseline_{os.getpid()}"
    psql("postgres", f"CREATE DATABASE {db}")
    port = PORT + 1
    proc = None
    try:
        psql(db, open(os.path.join(BENCH, "baseline", "schema.sql")).read())
        env = dict(os.environ, BASELINE_DATABASE_URL=f"{PG}/{db}")
        proc = subprocess.Popen(
            [os.path.join(venv, "bin", "uvicorn"), "app:app", "--app-dir",
             os.path.join(BENCH, "baseline"), "--workers", "2", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                created = http("POST", f"{base}/v1/referrals", body='{"person":{}}')
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("baseline did not start")
        results[("baseline", "create", 32)] = wrk("create.lua", f"{base}/v1/referrals", 32)
        results[("baseline", "get", 32)] = wrk("get.lua", f"{base}/v1/referrals/{created['id']}", 32)
        for n in ("create", "get"):
            r = results[("baseline", n, 32)]
            log(f"baseline {n} c=32: {r['rps']:.0f} req/s errors {r['errors']}")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=15)
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def versions():
    def first(cmd):
        try:
            return run(cmd, check=False).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    venv_py = os.path.join(TARGET, "bench-venv", "bin", "python")
    fastapi = first([venv_py, "-c", "import fastapi, psycopg, uvicorn; print('FastAPI', "
                     "fastapi.__version__, '/ psycopg', psycopg.__version__, '/ uvicorn', "
                     "uvicorn.__version__)"])
    mem = next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.machine())
    return [
        ("machine", f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB, "
                    f"{platform.system()} {platform.release()}"),
        ("linkwell", first([BIN, "--version"]) + f" ({BIN})"),
        ("rustc", first(["rustc", "--version"])),
        ("PostgreSQL", psql("postgres", "SHOW server_version")[0][0]),
        ("pgbench", first(["pgbench", "--version"])),
        ("wrk", first(["wrk", "-v"]).split("Copyright")[0].strip()),
        ("Python", platform.python_version()),
        ("baseline", fastapi),
    ]


def ms(x):
    return f"{x:.1f}" if x < 100 else f"{x:.0f}"


def report(results, captures, commands):
    say(f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC: "
        f"{REFERRALS:,} seeded referrals, {SECONDS} s per scenario, concurrency "
        f"{', '.join(map(str, CONCURRENCY))}.")
    say("")
    say("| | |")
    say("|---|---|")
    for k, v in versions():
        say(fmt_row([k, v]))
    say("")
    say("Commands: " + "; ".join(f"`{c}`" for c in commands))
    for backend in BACKENDS:
        say("")
        say(f"### {backend}")
        say("")
        pg = backend == "postgres"
        head = ["scenario", "c", "req/s", "p50 ms", "p99 ms", "errors", "RSS MiB", "peak MiB"]
        if pg:
            head += ["SQL calls/req", "SQL ceiling tx/s", "SQL p99 ms", "API ÷ SQL"]
        say(fmt_row(head))
        say(fmt_row(["---"] * len(head)))
        for (b, name, c), r in results.items():
            if b != backend:
                continue
            row = [name, c, f"{r['rps']:,.0f}", ms(r["p50"]), ms(r["p99"]), r["errors"],
                   f"{r.get('VmRSS', 0):.0f}", f"{r.get('VmHWM', 0):.0f}"]
            if pg:
                sql = results.get(("sql", name, c))
                row += [f"{r.get('calls', 0):.1f}",
                        f"{sql['rps']:,.0f}" if sql else "—",
                        ms(sql["p99"]) if sql else "—",
                        f"{r['rps'] / sql['rps']:.2f}" if sql else "—"]
            say(fmt_row(row))
    if captures:
        say("")
        say("### SQL per request (PostgreSQL, pg_stat_statements, first concurrency)")
        for name, cap in captures.items():
            r = results.get(("postgres", name, CONCURRENCY[0]))
            n = max(r["requests"], 1) if r else 1
            say("")
            say(f"**{name}** ({sum(c for c, _ in cap) / n:.1f} statements a request)")
            say("")
            say("| calls/req | statement |")
            say("|---|---|")
            for calls, q in cap:
                say(fmt_row([f"{calls / n:.2f}", "`" + q[:160].replace("|", "\\|") + "`"]))
    mins = [(n, results.get(("sql", n, 32))) for n in ("min_insert", "min_read")]
    if any(r for _, r in mins):
        say("")
        say("### pgbench minimal ceiling (32 clients, one statement, autocommit)")
        say("")
        say("| statement | tx/s | p50 ms | p99 ms |")
        say("|---|---|---|---|")
        for n, r in mins:
            if r:
                say(fmt_row([n, f"{r['rps']:,.0f}", ms(r["p50"]), ms(r["p99"])]))
    if ("baseline", "create", 32) in results:
        say("")
        say("### FastAPI + psycopg baseline (2 uvicorn workers, pool; PostgreSQL; 32 connections)")
        say("")
        say("| scenario | baseline req/s | baseline p99 ms | errors | Linkwell req/s | Linkwell ÷ baseline |")
        say("|---|---|---|---|---|---|")
        for n in ("create", "get"):
            b = results[("baseline", n, 32)]
            lw = results.get(("postgres", n, 32))
            say(fmt_row([n, f"{b['rps']:,.0f}", ms(b["p99"]), b["errors"],
                         f"{lw['rps']:,.0f}" if lw else "—",
                         f"{lw['rps'] / b['rps']:.2f}" if lw else "—"]))


def cpu_ticks(pids):
    """utime + stime of these processes, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total


def backends_of(db):
    """The PostgreSQL backend processes serving this database."""
    return [r[0] for r in psql(db, "SELECT pid FROM pg_stat_activity "
                                   "WHERE datname = current_database() AND pid <> pg_backend_pid()")]


def profile():
    """`make profile`: the create load at 32 under perf (on the first of BENCH_BACKENDS,
    PostgreSQL by default); where the CPU goes."""
    out = os.path.join(TARGET, "bench")
    os.makedirs(out, exist_ok=True)
    tools = os.environ["BENCH_TOOLS"]
    backend = BACKENDS[0]
    s = Server(backend)
    try:
        s.seed()
        s.start()
        f = fixtures(s)
        data = os.path.join(out, "create.perf.data")
        # Warm the pool so every PostgreSQL backend exists before counting their CPU.
        wrk("create.lua", s.base + "/v1/referrals", 32, [f"Authorization: Bearer {f['referrer']}"])
        pg_pids = backends_of(s.db) if s.db else []
        hz = os.sysconf("SC_CLK_TCK")
        before = (cpu_ticks([s.proc.pid]), cpu_ticks(pg_pids), time.time())
        perf = subprocess.Popen(
            ["perf", "record", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,8192",
             "-p", str(s.proc.pid), "-o", data, "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = wrk("create.lua", s.base + "/v1/referrals", 32,
                [f"Authorization: Bearer {f['referrer']}"], {"BENCH_RUN_OFFSET": "7"})
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=120)
        wall = time.time() - before[2]
        server_cpu = (cpu_ticks([s.proc.pid]) - before[0]) / hz / wall
        pg_cpu = (cpu_ticks(pg_pids) - before[1]) / hz / wall
        report_txt = run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--percent-limit", "0.5", "-g", "none", "--sort", "symbol"],
                         check=False).stdout
        top = [re.sub(r"\s+-\s+-\s*$", "", l.rstrip())
               for l in report_txt.splitlines() if l.strip() and not l.startswith("#")][:30]
        script = run(["perf", "script", "-i", data], check=False).stdout
        folded = run([os.path.join(tools, "inferno-collapse-perf")], input=script).stdout
        svg = run([os.path.join(tools, "inferno-flamegraph"), "--title",
                   f"linkwell: POST /v1/referrals at 32 clients, {backend}"], input=folded).stdout
        suffix = "" if backend == "postgres" else f"-{backend}"
        with open(os.path.join(out, f"create-flame{suffix}.svg"), "w") as fh:
            fh.write(svg)
        summary = [
            f"create at 32 clients, {SECONDS} s, {REFERRALS:,} seeded referrals: "
            f"{r['rps']:,.0f} req/s, p50 {ms(r['p50'])} ms, p99 {ms(r['p99'])} ms, "
            f"errors {r['errors']}",
            f"CPU over the load ({os.cpu_count()} cores): linkwell {server_cpu:.2f} cores, "
            f"PostgreSQL backends of the bench database {pg_cpu:.2f} cores "
            f"({len(pg_pids)} backends), the rest (wrk, others) "
            f"{max(os.cpu_count() - server_cpu - pg_cpu, 0):.2f}",
            "",
            "perf report --no-children, top 30 symbols of the linkwell process (cpu-clock):",
            *top,
        ]
        with open(os.path.join(out, f"create-profile{suffix}.txt"), "w") as fh:
            fh.write("\n".join(summary) + "\n")
        print("\n".join(summary))
        log(f"written {out}/create-flame{suffix}.svg and {out}/create-profile{suffix}.txt")
    finally:
        s.stop()


def main():
    if sys.argv[1:2] == ["profile"]:
        profile()
        return
    commands = [" ".join(sys.argv[1:]) or "make bench"]
    commands.append(f"BENCH_REFERRALS={REFERRALS} BENCH_SECONDS={SECONDS} "
                    f"BENCH_CONCURRENCY='{' '.join(map(str, CONCURRENCY))}' LINKWELL_BIN={BIN}")
    results, captures = {}, {}
    for backend in BACKENDS:
        bench_backend(backend, results, captures)
    if BASELINE and "postgres" in BACKENDS:
        baseline(results)
    say("")
    report(results, captures, commands)
    os.makedirs(os.path.join(TARGET, "bench"), exist_ok=True)
    path = os.path.join(TARGET, "bench",
                        f"results-{datetime.datetime.now():%Y%m%d-%H%M%S}.md")
    with open(path, "w") as f:
        f.write("\n".join(out_lines) + "\n")
    log(f"written to {path}")


if __name__ == "__main__":
    main()

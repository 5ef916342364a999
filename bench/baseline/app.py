"""The FastAPI + psycopg 3 baseline: the least a create and a read can do over HTTP.

POST /v1/referrals stores the JSON body as one row and returns it (201); GET
/v1/referrals/{id} reads one row by primary key. One connection pool per worker.
"""

import os
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

pool = AsyncConnectionPool(os.environ["BASELINE_DATABASE_URL"], min_size=4, max_size=16, open=False)


@asynccontextmanager
async def lifespan(_app):
    await pool.open()
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/v1/referrals", status_code=201)
async def create(request: Request):
    body = await request.json()
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO referrals (body) VALUES (%s) RETURNING id, body, created_at", (Jsonb(body),)
        )
        row = await cur.fetchone()
    return JSONResponse(
        {"id": str(row[0]), "body": row[1], "created_at": row[2].isoformat()}, status_code=201
    )


@app.get("/v1/referrals/{referral_id}")
async def read(referral_id: uuid.UUID):
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, body, created_at FROM referrals WHERE id = %s", (referral_id,)
        )
        row = await cur.fetchone()
    if row is None:
        raise HTTPException(status_code=404)
    return {"id": str(row[0]), "body": row[1], "created_at": row[2].isoformat()}

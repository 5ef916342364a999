//! The answers actix-http gives by itself, as problem details.
//!
//! Some requests never reach a service: actix-http's h1 dispatcher answers them itself with a
//! bodiless response and closes the connection — 400 for a head it cannot parse (Content-Length
//! beside Transfer-Encoding, a bad Content-Length, a broken request line), 431 for a head over
//! its 128 KiB buffer or with more than 96 header fields, 408 for a head not complete within
//! the head timeout. It offers no hook for those bodies, so [`ProblemStream`] sits between it
//! and the socket and rewrites them on the way out.
//!
//! It can do so safely because of how the dispatcher writes: such a response is the last thing
//! it writes on a connection, it is appended whole to the write buffer, and every write
//! passes the whole unwritten rest of that buffer. So the bare head is always the tail of one
//! `poll_write` call, and nothing the app sends looks like it: every error the app answers
//! carries a problem body and its own headers (`x-request-id` among them), never exactly
//! `content-length: 0`, `connection` and `date`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use actix_web::http::StatusCode;
use actix_web::web::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use uuid::Uuid;

use crate::error::{ApiError, PROBLEM_JSON};
use crate::server::HEAD_TIMEOUT;

/// The most header bytes actix-http buffers (its `MAX_BUFFER_SIZE`).
const HEAD_BUFFER_BYTES: usize = 128 * 1024;
/// A bare head is about 110 bytes; look no further back than this for one.
const BARE_HEAD_MAX: usize = 256;

/// A connection whose bare error responses go out as problem details.
#[derive(Debug)]
pub struct ProblemStream<T> {
    io: T,
    /// Bytes taken from the dispatcher (and reported written) that the socket has not yet
    /// taken: the rewritten tail and whatever preceded it in the same write.
    pending: BytesMut,
}

impl<T> ProblemStream<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            pending: BytesMut::new(),
        }
    }
}

impl<T: AsyncWrite + Unpin> ProblemStream<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ProblemStream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProblemStream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        let Some((at, status)) = bare_error(buf) else {
            return Pin::new(&mut this.io).poll_write(cx, buf);
        };
        this.pending.extend_from_slice(&buf[..at]);
        this.pending
            .extend_from_slice(&problem_response(status, &buf[at..]));
        // All of `buf` is taken; what the socket does not take now goes out on flush.
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Where a bare error response from actix-http starts in `buf`, and its status: a head
/// ending `buf`, of status 400, 408 or 431, with no header but `content-length: 0`,
/// `connection` and `date`.
fn bare_error(buf: &[u8]) -> Option<(usize, StatusCode)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let from = buf.len().saturating_sub(BARE_HEAD_MAX);
    let at = from + buf[from..].windows(9).rposition(|w| w == b"HTTP/1.1 ")?;
    let head = std::str::from_utf8(&buf[at..buf.len() - 4]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.strip_prefix("HTTP/1.1 ")?.get(..3)?;
    let status = match status {
        "400" => StatusCode::BAD_REQUEST,
        "408" => StatusCode::REQUEST_TIMEOUT,
        "431" => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => return None,
    };
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(": ")?;
        match name {
            "content-length" if value == "0" => empty = true,
            "connection" | "date" => {}
            _ => return None,
        }
    }
    empty.then_some((at, status))
}

/// The problem actix-http's bare `status` stands for.
fn problem_for(status: StatusCode) -> ApiError {
    match status {
        StatusCode::REQUEST_TIMEOUT => ApiError::RequestTimeout {
            seconds: HEAD_TIMEOUT.as_secs(),
        },
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ApiError::HeadersTooLarge {
            limit: HEAD_BUFFER_BYTES,
        },
        _ => ApiError::BadRequest {
            code: "malformed_request",
            detail: "the request is not well-formed HTTP/1.1 (for example, Content-Length \
                     beside Transfer-Encoding, or a bad Content-Length); the connection is closed"
                .into(),
            errors: Vec::new(),
        },
    }
}

/// `bare` (a head actix-http wrote) with a problem body, the same headers the app's errors
/// carry, and its `date`.
fn problem_response(status: StatusCode, bare: &[u8]) -> Vec<u8> {
    let id = Uuid::new_v4().to_string();
    let mut problem = problem_for(status).problem(Some(id.clone()));
    problem.status = status.as_u16();
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let date = std::str::from_utf8(bare)
        .ok()
        .and_then(|head| head.split("\r\n").find(|l| l.starts_with("date: ")))
        .map(|line| format!("{line}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\n\
         connection: close\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\
         x-request-id: {id}\r\n{date}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "date: Fri, 04 Dec 2026 20:45:36 GMT\r\n";

    #[test]
    fn bare_heads_are_found_at_the_end_of_a_write() {
        let bare = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n"
        );
        assert_eq!(
            bare_error(bare.as_bytes()),
            Some((0, StatusCode::BAD_REQUEST))
        );
        // After a pipelined response, without `connection`.
        let answered = "HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: application/json\r\n\r\n{\"status\":\"ok\"}";
        let after = format!(
            "{answered}HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n{DATE}\r\n"
        );
        assert_eq!(
            bare_error(after.as_bytes()),
            Some((answered.len(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE))
        );
        let timeout = format!(
            "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n"
        );
        assert_eq!(
            bare_error(timeout.as_bytes()),
            Some((0, StatusCode::REQUEST_TIMEOUT))
        );
    }

    #[test]
    fn the_apps_own_responses_are_left_alone() {
        for head in [
            // An app error has a body and headers of its own.
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 120\r\ncontent-type: application/problem+json\r\n{DATE}\r\n"
            ),
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: 1\r\n{DATE}\r\n"
            ),
            // Other statuses; a body after the head.
            format!("HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n{DATE}\r\n"),
            format!("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n{DATE}\r\n{{}}"),
            // A chunked body's end.
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n".into(),
        ] {
            assert_eq!(bare_error(head.as_bytes()), None, "{head}");
        }
    }

    #[test]
    fn the_rewritten_response_is_problem_json_with_its_length() {
        let bare = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n{DATE}\r\n"
        );
        let out =
            String::from_utf8(problem_response(StatusCode::BAD_REQUEST, bare.as_bytes())).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains("content-type: application/problem+json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains(DATE.trim_end()));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], 400);
        assert_eq!(problem["code"], "malformed_request");
    }
}

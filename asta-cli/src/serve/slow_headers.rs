//! A connection's first request headers under a deadline, answered with a
//! clear 408 when they do not arrive in time.
//!
//! hyper's own header timeout closes the connection without a word. A
//! client that dribbles its headers (or connects and sends nothing) should
//! learn why it was cut off, as OpenAlgo clients learn every other refusal:
//! this wrapper watches the bytes hyper reads until the first blank line
//! that ends the headers; if the deadline passes first, it writes a
//! `408 Request Timeout` with OpenAlgo's error envelope itself and ends the
//! stream, so hyper sees the client gone and writes nothing. After the
//! first headers it steps aside; later requests on a kept-alive connection
//! are held to hyper's header timeout, which closes idle connections.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The end of an HTTP/1 header block.
const HEADER_END: &[u8; 4] = b"\r\n\r\n";

/// The answer to headers that did not arrive in time.
fn timeout_answer(timeout: Duration) -> Vec<u8> {
    let body = format!(
        "{{\"message\":\"Request Timeout: the request headers did not arrive within {} s.\",\"status\":\"error\"}}",
        timeout.as_secs()
    );
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\ncache-control: no-store\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What the wrapper is doing.
#[derive(Debug)]
enum Phase {
    /// Reading the first headers: `matched` bytes of [`HEADER_END`] seen.
    Waiting { matched: usize },
    /// The deadline passed: writing the 408 from `written` on.
    Answering { answer: Vec<u8>, written: usize },
    /// The 408 is out (or could not be sent): the stream reads as ended.
    Done,
    /// The first headers arrived: a plain pass-through.
    Passing,
}

/// A stream whose first request headers must arrive before a deadline.
#[derive(Debug)]
pub(crate) struct FirstHeadersDeadline<S> {
    inner: S,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    phase: Phase,
}

impl<S> FirstHeadersDeadline<S> {
    /// Wraps `inner`; its first headers must arrive within `timeout`.
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
            phase: Phase::Waiting { matched: 0 },
        }
    }
}

/// Advances the match of [`HEADER_END`] over `bytes`; `true` once complete.
fn scan(matched: &mut usize, bytes: &[u8]) -> bool {
    for &b in bytes {
        *matched = if HEADER_END.get(*matched) == Some(&b) {
            *matched + 1
        } else if b == b'\r' {
            1
        } else {
            0
        };
        if *matched == HEADER_END.len() {
            return true;
        }
    }
    false
}

impl<S: AsyncRead + AsyncWrite + Unpin> FirstHeadersDeadline<S> {
    /// Writes what is left of the 408; `Ready` once it is out or the
    /// client is gone.
    fn poll_answer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let Phase::Answering { answer, written } = &mut self.phase else {
                return Poll::Ready(());
            };
            let Some(rest) = answer.get(*written..).filter(|r| !r.is_empty()) else {
                let _ = Pin::new(&mut self.inner).poll_flush(cx);
                self.phase = Phase::Done;
                return Poll::Ready(());
            };
            match Pin::new(&mut self.inner).poll_write(cx, rest) {
                Poll::Ready(Ok(n)) if n > 0 => *written += n,
                Poll::Ready(_) => {
                    self.phase = Phase::Done;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for FirstHeadersDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Passing => return Pin::new(&mut this.inner).poll_read(cx, buf),
                Phase::Done => return Poll::Ready(Ok(())),
                Phase::Answering { .. } => {
                    if this.poll_answer(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Phase::Waiting { matched } => {
                    let before = buf.filled().len();
                    match Pin::new(&mut this.inner).poll_read(cx, buf) {
                        Poll::Ready(Ok(())) => {
                            let fresh = buf.filled().get(before..).unwrap_or_default();
                            if scan(matched, fresh) {
                                this.phase = Phase::Passing;
                            }
                            return Poll::Ready(Ok(()));
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {
                            if this.deadline.as_mut().poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            this.phase = Phase::Answering {
                                answer: timeout_answer(this.timeout),
                                written: 0,
                            };
                        }
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for FirstHeadersDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.phase {
            // hyper answers only after reading a request's headers; a write
            // before that (or after the 408) goes nowhere.
            Phase::Answering { .. } | Phase::Done => {
                Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
            }
            Phase::Waiting { .. } | Phase::Passing => {
                Pin::new(&mut this.inner).poll_write(cx, data)
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.poll_answer(cx).is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_header_end_is_found_across_reads() {
        let mut matched = 0;
        assert!(!scan(&mut matched, b"GET / HTTP/1.1\r\nHost: x\r"));
        assert!(!scan(&mut matched, b"\n\r"));
        assert!(scan(&mut matched, b"\nbody"));
        let mut matched = 0;
        assert!(!scan(&mut matched, b"a\r\r\n\r"));
        assert!(scan(&mut matched, b"\n"));
        let mut matched = 0;
        assert!(!scan(&mut matched, b"\r\n\n\r\n"));
    }

    #[tokio::test]
    async fn slow_headers_get_a_408_and_an_end() {
        let (client, server) = tokio::io::duplex(1024);
        let mut wrapped = FirstHeadersDeadline::new(server, Duration::from_millis(50));
        let (mut client_read, mut client_write) = tokio::io::split(client);
        client_write
            .write_all(b"POST /api/v1/funds HTTP/1.1\r\nHo")
            .await
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let n = wrapped.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        assert_eq!(seen, b"POST /api/v1/funds HTTP/1.1\r\nHo");
        assert!(
            wrapped.write_all(b"late").await.is_err(),
            "nothing after the 408"
        );
        drop(wrapped);
        let mut answer = String::new();
        client_read.read_to_string(&mut answer).await.unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with("\"status\":\"error\"}"), "{answer}");
    }

    #[tokio::test]
    async fn complete_headers_pass_through_untouched() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut wrapped = FirstHeadersDeadline::new(server, Duration::from_millis(50));
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        let n = wrapped.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        tokio::time::sleep(Duration::from_millis(100)).await;
        wrapped.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        client.write_all(b"more").await.unwrap();
        let n = wrapped.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"more", "after the first headers, no deadline");
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"HTTP/1.1 200 OK\r\n\r\n");
    }
}

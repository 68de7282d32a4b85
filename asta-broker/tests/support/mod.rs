//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: it records every request
//! and answers through a handler, with optional delay, dropped connections
//! and raw (close-delimited) bodies.

#![allow(dead_code, reason = "each test binary uses part of the support code")]
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]
#![allow(unreachable_pub, reason = "test support module")]
#![allow(missing_docs, reason = "test support module")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// How to answer.
#[derive(Debug, Clone)]
pub enum Action {
    /// A normal answer with Content-Length.
    Respond,
    /// Close the connection without answering.
    Drop,
    /// Send headers without Content-Length and the body, then close (close-delimited).
    RespondUntilClose,
    /// Send the headers and half the declared body, then close.
    TruncateBody,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub delay: Duration,
    pub action: Action,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: Some("application/json".into()),
            body: serde_json::to_vec(value).unwrap(),
            delay: Duration::ZERO,
            action: Action::Respond,
        }
    }

    pub fn raw(status: u16, content_type: Option<&str>, body: &[u8]) -> Self {
        Self {
            status,
            content_type: content_type.map(str::to_owned),
            body: body.to_vec(),
            delay: Duration::ZERO,
            action: Action::Respond,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn with_action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(serve(stream, handler, recorded));
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    pub fn last(&self, path: &str) -> Option<Recorded> {
        self.requests().into_iter().rev().find(|r| r.path == path)
    }
}

async fn serve(mut stream: TcpStream, handler: Handler, recorded: Arc<Mutex<Vec<Recorded>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        recorded.lock().unwrap().push(request.clone());
        let reply = handler(&request);
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
        if let Some(ct) = &reply.content_type {
            head.push_str(&format!("content-type: {ct}\r\n"));
        }
        match reply.action {
            Action::Drop => return,
            Action::Respond => {
                head.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(&reply.body).await.is_err()
                {
                    return;
                }
            }
            Action::RespondUntilClose => {
                head.push_str("connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                for chunk in reply.body.chunks(64 * 1024) {
                    if stream.write_all(chunk).await.is_err() {
                        return;
                    }
                }
                return;
            }
            Action::TruncateBody => {
                head.push_str(&format!("content-length: {}\r\n\r\n", reply.body.len()));
                let _ = stream.write_all(head.as_bytes()).await;
                let half = reply.body.len() / 2;
                let _ = stream.write_all(&reply.body[..half]).await;
                return;
            }
        }
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Recorded> {
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim().to_owned();
            if name == "content-length" {
                length = value.parse().ok()?;
            }
            headers.push((name, value));
        }
    }
    while buf.len() < header_end + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[header_end..header_end + length].to_vec();
    buf.drain(..header_end + length);
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

/// A log sink for tests: everything written to it, kept for inspection
/// (canary tests search it for secrets).
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! A fake OpenAlgo server on 127.0.0.1 for the tests that run a live or
//! paper session: it answers the endpoints a test gives it, 404 to the
//! rest, and records every request path.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// A running fake; its threads end with the test process.
pub struct FakeOpenAlgo {
    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every request path, in order of arrival.
    pub paths: Arc<Mutex<Vec<String>>>,
}

impl FakeOpenAlgo {
    /// Starts a fake that answers `/api/v1/ENDPOINT` with the JSON given
    /// for it (200), and anything else with a 404 error body.
    pub fn start(answers: &[(&str, Value)]) -> FakeOpenAlgo {
        let answers: Arc<Vec<(String, String)>> = Arc::new(
            answers
                .iter()
                .map(|(endpoint, body)| (format!("/api/v1/{endpoint}"), body.to_string()))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&paths);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = Arc::clone(&seen);
                let answers = Arc::clone(&answers);
                std::thread::spawn(move || connection(stream, &seen, &answers));
            }
        });
        FakeOpenAlgo { url, paths }
    }

    /// How many requests reached `/api/v1/ENDPOINT`.
    pub fn count(&self, endpoint: &str) -> usize {
        let path = format!("/api/v1/{endpoint}");
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == path)
            .count()
    }
}

/// Answers one keep-alive connection, request by request.
fn connection(mut stream: TcpStream, seen: &Mutex<Vec<String>>, answers: &[(String, String)]) {
    let mut buf = Vec::new();
    loop {
        let header_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while buf.len() < header_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..header_end + length);
        seen.lock().unwrap().push(path.clone());
        let (status, body) = match answers.iter().find(|(p, _)| *p == path) {
            Some((_, body)) => ("200 OK", body.clone()),
            None => (
                "404 Not Found",
                json!({"status": "error", "message": "not in this fake"}).to_string(),
            ),
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

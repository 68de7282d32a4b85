//! The control server end to end on a real Unix socket in a temp dir:
//! status, halt (no TOTP), flatten and reset (TOTP), sync; the peer uid
//! check; bad input of every kind; the halt marker; the control trail link.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use asta_audit::{AuditConfig, AuditEvent, AuditLog};
use asta_broker::{
    Broker, ControlClient, ControlClientError, ControlConfig, ControlError, ControlRequest,
    ControlResponse, ControlServer, Guard, HaltMarker, MAX_REQUEST_BYTES, MarkerRecord,
    SandboxBroker,
};
use asta_core::{Exchange, PublicCode, Side};
use asta_risk::{TotpRejection, TotpVerifier, TradingState};
use chrono::Utc;
use common::*;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const GOOD_CODE: &str = "246810";
const CANARY_CODE: &str = "97531864";

/// Accepts exactly one code, once; counts calls.
#[derive(Debug, Default)]
struct OneCode {
    used: AtomicBool,
    calls: AtomicUsize,
}

impl TotpVerifier for OneCode {
    fn verify(&self, _operator: &str, code: &str) -> Result<(), TotpRejection> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if code != GOOD_CODE {
            return Err(TotpRejection::WrongCode);
        }
        if self.used.swap(true, Ordering::SeqCst) {
            return Err(TotpRejection::Replayed);
        }
        Ok(())
    }
}

struct Session {
    _tmp: tempfile::TempDir,
    run: PathBuf,
    trail: Trail,
    sandbox: SandboxBroker,
    guard: Arc<Guard<SandboxBroker>>,
    server: Option<ControlServer>,
    totp: Arc<OneCode>,
}

impl Session {
    fn socket(&self) -> PathBuf {
        self.run.join("asta.sock")
    }

    fn marker(&self) -> HaltMarker {
        HaltMarker::new(self.run.join("HALTED"))
    }

    fn client(&self) -> ControlClient {
        ControlClient::new(self.socket()).timeout(Duration::from_secs(30))
    }

    async fn send(&self, request: ControlRequest) -> ControlResponse {
        self.client().send(&request).await.unwrap()
    }
}

fn halt(reason: &str) -> ControlRequest {
    ControlRequest::parse(
        json!({"cmd": "halt", "reason": reason})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

fn with_code(cmd: &str, code: &str) -> ControlRequest {
    ControlRequest::parse(json!({"cmd": cmd, "totp": code}).to_string().as_bytes()).unwrap()
}

async fn session_with(config: impl FnOnce(ControlConfig) -> ControlConfig) -> Session {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let clock = clock();
    let trail = trail(&clock);
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    sandbox.set_quote(Exchange::Nse, &sbin(), quote(&clock, "800"));
    let guard = Guard::builder(
        sandbox.clone(),
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .halt_marker(run.join("HALTED"))
    .build()
    .await
    .unwrap();
    guard.quote(Exchange::Nse, &sbin()).await.unwrap();
    let guard = Arc::new(guard);
    let totp = Arc::new(OneCode::default());
    let server = ControlServer::start(
        Arc::clone(&guard),
        config(ControlConfig::new(run.join("asta.sock")).totp_verifier(totp.clone())),
    )
    .await
    .unwrap();
    Session {
        _tmp: tmp,
        run,
        trail,
        sandbox,
        guard,
        server: Some(server),
        totp,
    }
}

async fn session() -> Session {
    session_with(|c| c).await
}

/// One raw line to the socket; the answer line and whether the server
/// then closed the connection.
async fn raw(socket: &Path, bytes: &[u8]) -> (Value, bool) {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    // The server may close before reading everything: ignore write errors.
    let _ = write.write_all(bytes).await;
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    let mut rest = String::new();
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    );
    (serde_json::from_str(&line).unwrap(), closed)
}

/// This process's effective uid: the owner of a file it creates.
fn current_user_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::fs::metadata(probe.path()).unwrap().uid()
}

#[tokio::test]
async fn halt_over_the_socket_cancels_refuses_the_next_order_and_records_who() {
    let s = session().await;
    s.guard.place_order(&market(Side::Buy, 10)).await.unwrap();
    let resting = s
        .guard
        .place_order(&limit(Side::Buy, 5, "790"))
        .await
        .unwrap();

    // Private directory and socket.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&s.run), 0o700);
    assert_eq!(mode(&s.socket()), 0o600);

    let answer = s.send(halt("runaway strategy")).await;
    assert!(answer.ok, "{answer:?}");
    let report = answer.result.unwrap();
    assert_eq!(report["cancelled"], json!([resting.as_str()]));
    assert_eq!(report["halted"], json!(true));
    // Positions are left as they are: halt is not flatten.
    assert_eq!(report["closed"], json!([]));
    assert!(
        s.sandbox
            .positions()
            .await
            .unwrap()
            .iter()
            .any(|p| !p.is_flat())
    );

    let refused = s
        .guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap_err();
    assert_eq!(refused.public_code().as_str(), "HALTED", "{refused}");

    // Who did it: the peer's uid and user name, in the session's trail.
    let uid = current_user_uid();
    let commands = lines_with(&s.trail, "\"control_command\"");
    assert_eq!(commands.len(), 1, "{commands:?}");
    let record: Value = serde_json::from_str(&commands[0]).unwrap();
    assert_eq!(record["details"]["cmd"], "halt");
    assert_eq!(record["details"]["uid"], json!(uid));
    assert_eq!(record["actor"], record["details"]["user"]);
    assert_eq!(record["details"]["result"]["ok"], json!(true));
    let stop = lines_with(&s.trail, "\"emergency_stop\"");
    assert!(
        stop[0].contains(&format!("uid {uid} via the control socket")),
        "{stop:?}"
    );

    // Status says so.
    let status = s.send(ControlRequest::Status).await.result.unwrap();
    assert_eq!(status["trading_state"], "HALTED");
    assert_eq!(status["risk"]["open_orders"], json!(0));
    assert_eq!(status["unknown_outcomes"], json!(0));
    assert!(
        status["risk"]["breakers"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    assert!(status["risk"]["daily_loss_limit"].is_string());
    assert_eq!(status["halt_marker"]["present"], json!(false));
    assert_intact(&s.trail);
}

#[tokio::test]
async fn an_order_racing_the_halt_is_admitted_before_it_or_refused_never_after_the_reply() {
    let s = session().await;
    let guard = Arc::clone(&s.guard);
    let racing = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..50 {
            outcomes.push(guard.place_order(&limit(Side::Buy, 1, "790")).await.is_ok());
            tokio::task::yield_now().await;
        }
        outcomes
    });
    let answer = s.send(halt("race")).await;
    assert!(answer.ok);
    // After the reply: every order is refused.
    for _ in 0..5 {
        assert!(
            s.guard
                .place_order(&limit(Side::Buy, 1, "790"))
                .await
                .is_err()
        );
    }
    let outcomes = racing.await.unwrap();
    // Admitted orders form a prefix: once refused, never admitted again.
    let first_refused = outcomes.iter().position(|ok| !ok).unwrap_or(outcomes.len());
    assert!(
        outcomes[first_refused..].iter().all(|ok| !ok),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn flatten_needs_a_valid_code_and_a_refused_one_does_nothing_but_is_recorded() {
    let s = session().await;
    s.guard.place_order(&market(Side::Buy, 10)).await.unwrap();

    let answer = s.send(with_code("flatten", CANARY_CODE)).await;
    assert!(!answer.ok);
    let error = answer.error.unwrap();
    assert_eq!(error.code, "PERMISSION_DENIED");
    assert!(error.message.contains("wrong"), "{error}");
    assert!(
        s.sandbox
            .positions()
            .await
            .unwrap()
            .iter()
            .any(|p| !p.is_flat())
    );
    assert_eq!(lines_with(&s.trail, "close_all_intent").len(), 0);
    assert_eq!(lines_with(&s.trail, "\"flatten_refused\"").len(), 1);
    let text = audit_text(&s.trail);
    assert!(!text.contains(CANARY_CODE), "the code reached the trail");

    let answer = s.send(with_code("flatten", GOOD_CODE)).await;
    assert!(answer.ok, "{answer:?}");
    assert_eq!(
        answer.result.unwrap()["closed"].as_array().unwrap().len(),
        1
    );
    assert!(
        s.sandbox
            .positions()
            .await
            .unwrap()
            .iter()
            .all(|p| p.is_flat())
    );
    // The code is used once.
    let again = s.send(with_code("flatten", GOOD_CODE)).await;
    assert!(!again.ok);
    assert!(again.error.unwrap().message.contains("already used"));
    assert!(!audit_text(&s.trail).contains(GOOD_CODE));
    assert_intact(&s.trail);
}

#[tokio::test]
async fn reset_needs_a_code_and_removes_the_halt_marker() {
    let s = session().await;
    assert!(s.send(halt("stop")).await.ok);
    s.marker()
        .write(&MarkerRecord::new("hung", Utc::now(), 0, "root"))
        .unwrap();
    let status = s.send(ControlRequest::Status).await.result.unwrap();
    assert_eq!(status["halt_marker"]["present"], json!(true));
    assert_eq!(status["halt_marker"]["record"]["reason"], "hung");

    let wrong = s.send(with_code("reset", "000000")).await;
    assert_eq!(wrong.error.unwrap().code, "PERMISSION_DENIED");
    assert!(s.marker().is_present());
    assert_eq!(s.guard.trading_state(), TradingState::Halted);

    let reset = s.send(with_code("reset", GOOD_CODE)).await;
    assert!(reset.ok, "{reset:?}");
    assert!(!s.marker().is_present());
    assert_eq!(s.guard.trading_state(), TradingState::Active);
    s.guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap();
    assert_eq!(lines_with(&s.trail, "\"halt_marker_removed\"").len(), 1);
}

#[tokio::test]
async fn a_session_without_a_verifier_refuses_reset_and_flatten() {
    let mut bare = session().await;
    bare.server.take();
    let server = ControlServer::start(Arc::clone(&bare.guard), ControlConfig::new(bare.socket()))
        .await
        .unwrap();
    assert!(bare.send(halt("stop")).await.ok);
    for cmd in ["reset", "flatten"] {
        let refused = bare.send(with_code(cmd, GOOD_CODE)).await;
        assert!(refused.error.unwrap().message.contains("no TOTP verifier"));
    }
    assert_eq!(bare.totp.calls.load(Ordering::SeqCst), 0);
    assert_eq!(bare.guard.trading_state(), TradingState::Halted);
    drop(server);
}

#[tokio::test]
async fn a_marker_written_while_the_session_runs_refuses_every_new_order() {
    let s = session().await;
    s.guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap();
    s.marker()
        .write(&MarkerRecord::new("hung session", Utc::now(), 0, "root"))
        .unwrap();
    let refused = s
        .guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap_err();
    assert_eq!(refused.public_code().as_str(), "HALTED");
    assert!(refused.to_string().contains("halt marker"), "{refused}");
    // Cancels still pass.
    let report = s.guard.cancel_all_orders(&strategy()).await.unwrap();
    assert_eq!(report.cancelled.len(), 1);
    // A reset clears the halt it implies and the marker together.
    assert!(s.send(with_code("reset", GOOD_CODE)).await.ok);
    assert!(!s.marker().is_present());
    s.guard
        .place_order(&limit(Side::Buy, 2, "789"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_marker_present_at_build_halts_the_new_guard() {
    let clock = clock();
    let trail = trail(&clock);
    let tmp = tempfile::tempdir().unwrap();
    let marker = HaltMarker::new(tmp.path().join("run/HALTED"));
    marker
        .write(&MarkerRecord::new("hung session", Utc::now(), 7, "alice"))
        .unwrap();
    let guard = Guard::builder(
        SandboxBroker::new(Arc::new(clock.clone())),
        catalog(),
        risk(&clock, risk_config()),
        trail.log.clone(),
        Arc::new(clock.clone()),
    )
    .halt_marker(marker.path())
    .build()
    .await
    .unwrap();
    assert_eq!(guard.trading_state(), TradingState::Halted);
    assert!(
        guard.risk_status().breakers[0]
            .detail
            .contains("by alice uid 7")
    );
}

#[tokio::test]
async fn another_uid_is_refused_before_anything_is_read() {
    let uid = current_user_uid();
    let s = session_with(|c| c.dangerous_expected_uid(uid.wrapping_add(1))).await;
    let answer = s.client().send(&halt("intruder")).await.unwrap();
    assert!(!answer.ok);
    assert_eq!(answer.error.unwrap().code, "PERMISSION_DENIED");
    assert_eq!(s.guard.trading_state(), TradingState::Active);
    let refused = lines_with(&s.trail, "\"control_refused\"");
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].contains(&format!("\"peer_uid\":{uid}")),
        "{refused:?}"
    );
    assert!(!refused[0].contains("intruder"));
    assert_eq!(lines_with(&s.trail, "\"control_command\"").len(), 0);
}

#[tokio::test]
async fn oversized_and_malformed_messages_are_refused_without_harming_the_session() {
    let s = session().await;
    s.guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap();
    let socket = s.socket();
    let oversized = {
        let mut line = br#"{"cmd":"halt","reason":""#.to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_REQUEST_BYTES * 4));
        line.extend_from_slice(b"\"}\n");
        line
    };
    let cases: Vec<Vec<u8>> = vec![
        oversized,
        vec![b'x'; MAX_REQUEST_BYTES + 1], // no newline at all
        b"not json\n".to_vec(),
        b"{\"cmd\":\"halt\"\n".to_vec(),
        b"[\"halt\"]\n".to_vec(),
        b"{\"cmd\":\"HALT\"}\n".to_vec(),
        b"{\"cmd\":\"halt\",\"force\":true}\n".to_vec(),
        b"{\"cmd\":\"status\",\"totp\":\"123456\"}\n".to_vec(),
        format!("{{\"cmd\":\"reset\",\"totp\":{CANARY_CODE}}}\n").into_bytes(),
        b"{\"cmd\":\"halt\",\"reason\":\"\xff\xfe\"}\n".to_vec(),
        b"\n".to_vec(),
    ];
    for bytes in &cases {
        let (answer, closed) = raw(&socket, bytes).await;
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
        assert_eq!(answer["ok"], json!(false), "{shown}: {answer}");
        assert_eq!(answer["error"]["code"], "INVALID_INPUT", "{answer}");
        assert!(closed, "the connection stays open after {answer}");
        assert!(!answer.to_string().contains(CANARY_CODE));
    }
    // Nothing happened to the session: still active, order still open,
    // and it still answers.
    assert_eq!(s.guard.trading_state(), TradingState::Active);
    assert_eq!(s.guard.risk_status().open_orders, 1);
    assert!(s.send(ControlRequest::Status).await.ok);
    let refused = lines_with(&s.trail, "\"control_refused\"");
    assert_eq!(refused.len(), cases.len());
    assert!(!audit_text(&s.trail).contains(CANARY_CODE));

    // A connection that never finishes its line is dropped, and does not
    // block others (the request timeout is short here).
    let slow = session_with(|c| c.request_timeout(Duration::from_millis(200))).await;
    let mut idle = UnixStream::connect(slow.socket()).await.unwrap();
    idle.write_all(b"{\"cmd\":").await.unwrap();
    assert!(slow.send(ControlRequest::Status).await.ok);
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), async {
        use tokio::io::AsyncReadExt;
        idle.read(&mut buf).await
    })
    .await
    .unwrap()
    .unwrap_or(0);
    assert_eq!(n, 0, "an idle connection is closed without an answer");
}

#[tokio::test]
async fn sync_and_several_requests_on_one_connection() {
    let s = session().await;
    let stream = UnixStream::connect(s.socket()).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"{\"cmd\":\"status\"}\n{\"cmd\":\"sync\"}\n")
        .await
        .unwrap();
    let mut lines = BufReader::new(read).lines();
    let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    let second: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (first["cmd"].clone(), second["cmd"].clone()),
        (json!("status"), json!("sync"))
    );
    assert_eq!(second["ok"], json!(true));
    assert_eq!(second["result"]["trading_state"], "ACTIVE");
}

#[tokio::test]
async fn one_server_per_socket_stale_sockets_are_replaced_and_shutdown_cleans_up() {
    let mut s = session().await;
    let second = ControlServer::start(Arc::clone(&s.guard), ControlConfig::new(s.socket())).await;
    assert!(
        matches!(second, Err(ControlError::AlreadyServing { .. })),
        "{second:?}"
    );
    s.server.take().unwrap().shutdown();
    assert!(!s.socket().exists());
    match ControlClient::new(s.socket())
        .send(&ControlRequest::Status)
        .await
    {
        Err(ControlClientError::NotListening { .. }) => {}
        other => panic!("{other:?}"),
    }
    // A stale socket file (a crashed session) is replaced.
    let stale = std::os::unix::net::UnixListener::bind(s.socket()).unwrap();
    drop(stale);
    assert!(s.socket().exists());
    let server = ControlServer::start(Arc::clone(&s.guard), ControlConfig::new(s.socket()))
        .await
        .unwrap();
    assert!(s.send(ControlRequest::Status).await.ok);
    drop(server);
    // Not a socket: refused, left alone.
    std::fs::write(s.socket(), b"x").unwrap();
    let refused = ControlServer::start(Arc::clone(&s.guard), ControlConfig::new(s.socket())).await;
    assert!(matches!(refused, Err(ControlError::NotASocket { .. })));
    // A directory open to others: refused.
    let open = s.run.parent().unwrap().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let refused = ControlServer::start(
        Arc::clone(&s.guard),
        ControlConfig::new(open.join("s.sock")),
    )
    .await;
    assert!(
        matches!(refused, Err(ControlError::Directory { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_session_that_does_not_answer_is_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("hung.sock");
    // Bound and listening, but nobody ever accepts.
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let client = ControlClient::new(&path).timeout(Duration::from_millis(300));
    match client.send(&ControlRequest::Status).await {
        Err(ControlClientError::NoAnswer { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_control_trail_is_verified_and_linked_when_a_guard_is_built() {
    let clock = clock();
    let tmp = tempfile::tempdir().unwrap();
    let control_dir = tmp.path().join("audit-control");
    let control = AuditLog::open(
        &control_dir,
        chain_key(),
        AuditConfig::default(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    control
        .append(AuditEvent::security(
            "hung_session_kill",
            json!({"reason": "x"}),
        ))
        .unwrap();
    let head = control.checkpoint().unwrap();
    control.close().unwrap();
    drop(control);

    let build = |trail: &Trail| {
        Guard::builder(
            SandboxBroker::new(Arc::new(clock.clone())),
            catalog(),
            risk(&clock, risk_config()),
            trail.log.clone(),
            Arc::new(clock.clone()),
        )
        .control_trail(&control_dir, chain_key())
        .build()
    };
    let trail1 = trail(&clock);
    let guard = build(&trail1).await.unwrap();
    assert_eq!(guard.trading_state(), TradingState::Active);
    let linked = lines_with(&trail1, "\"control_trail_linked\"");
    assert_eq!(linked.len(), 1);
    let record: Value = serde_json::from_str(&linked[0]).unwrap();
    let mac = record["details"]["head_mac"]
        .as_str()
        .unwrap()
        .replace('-', "");
    assert_eq!(mac, head.mac().to_string(), "{linked:?}");
    assert_eq!(record["details"]["head_seq"], json!(head.seq()));

    // Tampered: the new guard halts and says why.
    let segment = std::fs::read_dir(&control_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&segment).unwrap();
    std::fs::write(&segment, text.replace("\"x\"", "\"y\"")).unwrap();
    let trail2 = trail(&clock);
    let guard = build(&trail2).await.unwrap();
    assert_eq!(guard.trading_state(), TradingState::Halted);
    assert_eq!(lines_with(&trail2, "\"control_trail_broken\"").len(), 1);

    // No control trail: nothing recorded.
    let trail3 = trail(&clock);
    Guard::builder(
        SandboxBroker::new(Arc::new(clock.clone())),
        catalog(),
        risk(&clock, risk_config()),
        trail3.log.clone(),
        Arc::new(clock.clone()),
    )
    .control_trail(tmp.path().join("absent"), chain_key())
    .build()
    .await
    .unwrap();
    assert!(lines_with(&trail3, "control_trail").is_empty());
}

#[test]
fn request_debug_never_shows_a_code() {
    let request = ControlRequest::Reset {
        totp: SecretString::from(CANARY_CODE),
        operator: None,
    };
    assert!(!format!("{request:?}").contains(CANARY_CODE));
}

/// The sandbox dressed as a real broker, to build a live-mode guard.
#[derive(Clone)]
struct External(SandboxBroker);

#[async_trait::async_trait]
impl Broker for External {
    async fn place_order(
        &self,
        order: &asta_core::OrderRequest,
    ) -> Result<asta_core::OrderId, asta_broker::BrokerError> {
        self.0.place_order(order).await
    }
    async fn modify_order(
        &self,
        request: &asta_broker::ModifyRequest,
    ) -> Result<asta_core::OrderId, asta_broker::BrokerError> {
        self.0.modify_order(request).await
    }
    async fn cancel_order(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<(), asta_broker::BrokerError> {
        self.0.cancel_order(strategy, id).await
    }
    async fn cancel_all_orders(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CancelAllReport, asta_broker::BrokerError> {
        self.0.cancel_all_orders(strategy).await
    }
    async fn close_all_positions(
        &self,
        strategy: &asta_core::StrategyTag,
    ) -> Result<asta_broker::CloseAllReport, asta_broker::BrokerError> {
        self.0.close_all_positions(strategy).await
    }
    async fn order_status(
        &self,
        strategy: &asta_core::StrategyTag,
        id: &asta_core::OrderId,
    ) -> Result<asta_broker::OrderStatus, asta_broker::BrokerError> {
        self.0.order_status(strategy, id).await
    }
    async fn order_book(
        &self,
    ) -> Result<Vec<asta_broker::OrderBookEntry>, asta_broker::BrokerError> {
        self.0.order_book().await
    }
    async fn positions(&self) -> Result<Vec<asta_broker::Position>, asta_broker::BrokerError> {
        self.0.positions().await
    }
    async fn funds(&self) -> Result<asta_broker::Funds, asta_broker::BrokerError> {
        self.0.funds().await
    }
    async fn quote(
        &self,
        exchange: Exchange,
        symbol: &asta_core::Symbol,
    ) -> Result<asta_broker::Quote, asta_broker::BrokerError> {
        self.0.quote(exchange, symbol).await
    }
    fn venue(&self) -> asta_broker::Venue {
        asta_broker::Venue::External
    }
}

#[tokio::test]
async fn a_protective_live_guard_cancels_without_confirmation_and_never_trades() {
    let clock = clock();
    let trail = trail(&clock);
    let sandbox = SandboxBroker::new(Arc::new(clock.clone()));
    sandbox.set_quote(Exchange::Nse, &sbin(), quote(&clock, "800"));
    // An order resting at the broker from an earlier session.
    let resting = sandbox
        .place_order(&limit(Side::Buy, 5, "790"))
        .await
        .unwrap();
    let build = |protective: bool| {
        let builder = Guard::builder(
            External(sandbox.clone()),
            catalog(),
            risk(&clock, risk_config()),
            trail.log.clone(),
            Arc::new(clock.clone()),
        )
        .mode(asta_core::TradingMode::Live);
        if protective {
            builder.protective_only().build()
        } else {
            builder.build()
        }
    };
    // Without protective_only, live mode still needs the switch and a confirmation.
    assert!(build(false).await.is_err());
    let guard = build(true).await.unwrap();
    let refused = guard
        .place_order(&limit(Side::Buy, 1, "790"))
        .await
        .unwrap_err();
    assert_eq!(refused.public_code().as_str(), "PERMISSION_DENIED");
    assert_eq!(sandbox.order_book().await.unwrap().len(), 1);
    let report = guard.halt_and_cancel("operator kill switch").await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.cancelled, vec![resting]);
    let started = lines_with(&trail, "\"guard_started\"");
    assert!(
        started[0].contains("\"protective_only\":true"),
        "{started:?}"
    );
    assert!(
        started[0].contains("\"live_confirmed\":false"),
        "{started:?}"
    );
}

//! Issue 11, observability: the metrics an operator scrapes move as users act; every request
//! carries a request id into the logs, which hold no personal data; SIGTERM lets in-flight
//! requests finish.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use xacthuc::domain::Ial;

use crate::helpers::*;

const ID_NUMBER: &str = "001090000811";

async fn metrics(base: &str) -> String {
    let resp = http().get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.unwrap()
}

/// The value of the sample `series` (name and labels, exactly as exposed), 0 when absent.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn logins_token_grants_and_routes_are_counted() {
    let t = spawn_app().await;
    let (client_id, secret) = t.add_client(|_| {}).await;
    let secret = secret.unwrap();
    t.add_account(ID_NUMBER, Ial::Ial2).await;

    // A wrong password, then a full login by password + SMS code and a code exchange.
    let b = browser();
    let (_, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let form = login_form(&b, &location(&resp), ID_NUMBER, "Wrong@12345").await;
    let refused = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert!(!refused.status().is_redirection());
    tokens_for(&t, &client_id, &secret, ID_NUMBER).await;
    let (status, _) = token_request(
        &t,
        &client_id,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", "no-such-code"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = http()
        .get(t.url("/no/such/page/001090000811"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let m = metrics(&t.base).await;
    let logins = |method: &str, result: &str| {
        sample(
            &m,
            &format!("xacthuc_logins_total{{method=\"{method}\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(logins("password", "failed"), 1, "{m}");
    assert_eq!(logins("password", "succeeded"), 1, "{m}");
    assert_eq!(
        sample(&m, "xacthuc_sms_sent_total{purpose=\"login\"}"),
        1,
        "{m}"
    );
    assert_eq!(
        sample(&m, "xacthuc_tokens_total{grant=\"authorization_code\"}"),
        1
    );
    assert_eq!(
        sample(&m, "xacthuc_tokens_total{grant=\"refresh_token\"}"),
        0
    );
    assert_eq!(
        sample(
            &m,
            "xacthuc_token_errors_by_code_total{error=\"invalid_grant\"}"
        ),
        1,
        "{m}"
    );
    let token_route = "route=\"/token\",method=\"POST\"";
    assert_eq!(
        sample(
            &m,
            &format!("xacthuc_http_request_duration_seconds_count{{{token_route},status=\"2xx\"}}")
        ),
        1,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            &format!("xacthuc_http_request_duration_seconds_count{{{token_route},status=\"4xx\"}}")
        ),
        1
    );
    assert_eq!(
        sample(
            &m,
            "xacthuc_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"4xx\"}"
        ),
        1,
        "{m}"
    );
    assert!(!m.contains("no/such/page"), "raw paths never become labels");
    assert!(!m.contains(ID_NUMBER));
    // The SMS went through the sandbox gateway: timed, not failed.
    assert_eq!(
        sample(
            &m,
            "xacthuc_upstream_call_duration_seconds_count{system=\"sms\"}"
        ),
        1,
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "xacthuc_upstream_failures_total{system=\"sms\",reason=\"unavailable\"}"
        ),
        0
    );
}

#[tokio::test]
async fn a_gateway_that_is_down_counts_as_a_failure_of_that_system() {
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sms_url = format!("http://{}", down.local_addr().unwrap());
    drop(down);
    let t = spawn_app_with(|c| c.connectors.sms_url = sms_url).await;
    let (client_id, _) = t.add_client(|_| {}).await;
    t.add_account(ID_NUMBER, Ial::Ial2).await;
    let b = browser();
    let (_, challenge) = pkce();
    let resp = b
        .get(authorize_url(&t, &client_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let form = login_form(&b, &location(&resp), ID_NUMBER, PASSWORD).await;
    let resp = b.post(t.url("/login")).form(&form).send().await.unwrap();
    assert!(!resp.status().is_server_error() || resp.status() == StatusCode::SERVICE_UNAVAILABLE);

    let m = metrics(&t.base).await;
    assert_eq!(
        sample(
            &m,
            "xacthuc_upstream_failures_total{system=\"sms\",reason=\"unavailable\"}"
        ),
        1,
        "SMS sends are never retried: {m}"
    );
    assert_eq!(
        sample(
            &m,
            "xacthuc_upstream_failures_total{system=\"carrier\",reason=\"unavailable\"}"
        ),
        0
    );
}

#[tokio::test]
async fn a_request_id_is_echoed_or_made() {
    let t = spawn_app().await;
    let get = |id: Option<&'static str>| {
        let mut r = http().get(t.url("/healthz"));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(id_of(&get(Some("lb-42.a")).await.unwrap()), "lb-42.a");
    let made = id_of(&get(Some("<script>")).await.unwrap());
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let other = id_of(&get(None).await.unwrap());
    assert_ne!(made, other);
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let t = spawn_app_with(|c| c.metrics.token = "scrape-secret".into()).await;
    let url = t.url("/metrics");
    assert_eq!(
        http().get(&url).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = http().get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = http()
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("xacthuc_tokens_total"));
}

/// The real binary on SQLite in a temp dir, JSON logs captured from stderr.
struct Node {
    child: Child,
    base: String,
    logs: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl Node {
    fn command(dir: &std::path::Path, port: u16, env: &[(&str, String)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_xacthuc"));
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("XACTHUC_LOG")
            .env_remove("XACTHUC_CONFIG")
            .env(
                "XACTHUC__DATABASE__URL",
                format!("sqlite://{}?mode=rwc", dir.join("x.db").display()),
            )
            .env("XACTHUC__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env(
                "XACTHUC__SERVER__PUBLIC_URL",
                format!("http://localhost:{port}"),
            )
            .env("XACTHUC__SANDBOX__PKI_DIR", dir.join("pki"))
            .env("XACTHUC__KEYS__DEV_ENCRYPTION_KEY_PATH", dir.join("kek"))
            .env("XACTHUC__PASSWORDS__ARGON2_MEMORY_KIB", "1024")
            .env("XACTHUC__PASSWORDS__ARGON2_ITERATIONS", "1")
            .env("XACTHUC__LOG__FORMAT", "json");
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Adds the account (command line), starts `serve` and waits until it answers.
    async fn start(env: &[(&str, String)]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let added = Self::command(dir.path(), port, env)
            .args([
                "account",
                "add",
                "--id-number",
                ID_NUMBER,
                "--name",
                "Nguyễn Văn Quan",
            ])
            .args(["--phone", PHONE_E164, "--password", PASSWORD])
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        let mut child = Self::command(dir.path(), port, env)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let base = format!("http://localhost:{port}");
        // A debug build on a busy machine: give it a minute.
        let mut up = false;
        for _ in 0..240 {
            let ready = http().get(format!("{base}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(up, "node did not start: {:?}", logs.lock().unwrap());
        Node {
            child,
            base,
            logs,
            dir,
        }
    }

    /// The login page of a fresh authorization request of the demo portal.
    async fn login_url(&self, b: &reqwest::Client) -> String {
        let (_, challenge) = pkce();
        let mut url = url::Url::parse(&format!("{}/authorize", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", xacthuc::sandbox::demo_portal::CLIENT_ID)
            .append_pair(
                "redirect_uri",
                &format!("{}/sandbox/demo-portal/callback", self.base),
            )
            .append_pair("scope", "openid")
            .append_pair("state", "s")
            .append_pair("nonce", "n")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let resp = b.get(url.as_str()).send().await.unwrap();
        let login = location(&resp);
        assert!(login.contains("/login"), "{login}");
        login
    }

    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the node did not exit within 30 s of SIGTERM");
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_no_personal_data() {
    let node = Node::start(&[]).await;
    let b = browser();
    let login_url = node.login_url(&b).await;
    let form = login_form(&b, &login_url, ID_NUMBER, PASSWORD).await;
    let resp = b
        .post(format!("{}/login", node.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let otp_url = location(&resp);
    assert!(otp_url.ends_with("/login/otp"), "{otp_url}");
    let page = b.get(&otp_url).send().await.unwrap().text().await.unwrap();
    let sms: serde_json::Value = http()
        .get(format!("{}/sandbox/sms/outbox", node.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = sms[0]["text"].as_str().unwrap();
    let code: String = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .into();
    let csrf = hidden(&page, "csrf").unwrap();
    let done = b
        .post(&otp_url)
        .form(&[("csrf", csrf.as_str()), ("otp", code.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.status().is_redirection(), "{}", done.status());
    node.terminate();
    let mut node = node;
    assert!(node.wait_exit().success());

    let logs = node.logs();
    let lines: Vec<serde_json::Value> = logs
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let of_login: Vec<_> = lines
        .iter()
        .filter(|l| l["span"]["request_id"] == request_id.as_str())
        .collect();
    assert!(
        of_login.iter().any(|l| l["span"]["route"] == "/login"
            && l["status"]
                .as_u64()
                .is_some_and(|s| (300..400).contains(&s))),
        "the access line of POST /login carries its request id: {logs:#?}"
    );
    let all = logs.join("\n");
    for personal in [ID_NUMBER, "823628899", PASSWORD, code.as_str(), "Nguy"] {
        assert!(!all.contains(personal), "{personal} in the logs:\n{all}");
    }
}

/// An SMS gateway that answers after `delay`, telling the test when a request arrived.
async fn slow_gateway(delay: Duration) -> (String, tokio::sync::mpsc::Receiver<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (arrived, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let arrived = arrived.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = s.read(&mut buf).await;
                let _ = arrived.send(()).await;
                tokio::time::sleep(delay).await;
                let body = "{\"id\":\"m1\"}";
                let answer = format!(
                    "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, rx)
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let (sms_url, mut arrived) = slow_gateway(Duration::from_secs(2)).await;
    let mut node = Node::start(&[("XACTHUC__CONNECTORS__SMS_URL", sms_url)]).await;
    let b = browser();
    let login_url = node.login_url(&b).await;
    let form = login_form(&b, &login_url, ID_NUMBER, PASSWORD).await;
    let login = tokio::spawn({
        let (b, url) = (b.clone(), format!("{}/login", node.base));
        async move { b.post(url).form(&form).send().await }
    });
    // The password was right and the SMS code is on its way to the (slow) gateway.
    tokio::time::timeout(Duration::from_secs(30), arrived.recv())
        .await
        .expect("the login reached the SMS gateway");
    node.terminate();
    // A new connection is refused soon after; the login in flight still gets its answer.
    let resp = login
        .await
        .unwrap()
        .expect("the in-flight login is answered");
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(location(&resp).ends_with("/login/otp"));
    assert!(node.wait_exit().success(), "exit code 0");
    let refused = http().get(format!("{}/healthz", node.base)).send().await;
    assert!(refused.is_err(), "no longer accepting");
    let logs = node.logs().join("\n");
    assert!(logs.contains("finishing in-flight requests"), "{logs}");
}

#[tokio::test]
async fn a_registration_is_counted_by_method_with_its_carrier_check() {
    let t = spawn_app().await;
    crate::registration::register_an(&t, &browser()).await;
    let m = metrics(&t.base).await;
    assert_eq!(
        sample(
            &m,
            "xacthuc_registrations_total{method=\"mobile_subscriber\",result=\"succeeded\"}"
        ),
        1,
        "{m}"
    );
    assert!(
        sample(
            &m,
            "xacthuc_upstream_call_duration_seconds_count{system=\"carrier\"}"
        ) >= 1,
        "the carrier was asked: {m}"
    );
    assert_eq!(
        sample(&m, "xacthuc_sms_sent_total{purpose=\"registration\"}"),
        1
    );
}

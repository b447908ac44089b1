//! Many nodes, for real: three `xacthuc serve` processes on loopback ports, configured by one
//! TOML file as an operator would (same issuer, key-encryption key, database, Redis, sandbox),
//! behind a small round-robin load balancer, with what the scenarios break under our control:
//! a Redis server of our own (stopped and started again), a TCP proxy in front of PostgreSQL
//! (cut and restored), and the nodes themselves (SIGKILL). One standalone `xacthuc sandbox`
//! process is every node's SMS gateway, carrier and BHXH registry.
//!
//! Needs PostgreSQL (`DATABASE_URL=postgres://…`) and `redis-server`; on the SQLite pass the
//! scenarios say why they are skipped and return. Every child process is killed on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use xacthuc::app::App;
use xacthuc::clock::Clock;
use xacthuc::config::Config;

use crate::helpers::{TestApp, database_url};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// Longest wait for a process to come up or a state to be reached.
const WAIT: Duration = Duration::from_secs(30);

/// A child process, killed (SIGKILL) and reaped when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Cluster {
    /// The deployment as users reach it: the load balancer's URL, the shared sandbox, and an
    /// in-process app on the same database (directly, not through the proxy) and Redis for
    /// setting up clients and accounts and looking at what was stored.
    pub lb: TestApp,
    pub pg: PgProxy,
    pub redis: OwnRedis,
    nodes: Vec<Node>,
    config_file: PathBuf,
    dir: tempfile::TempDir,
    _sandbox: Process,
}

struct Node {
    port: u16,
    process: Option<Process>,
}

impl Cluster {
    /// Three nodes behind the load balancer, all ready; `None` (with a note) without
    /// PostgreSQL or redis-server.
    pub async fn start(test: &str) -> Option<Cluster> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {}
            _ => {
                eprintln!(
                    "{test}: skipped, the cluster needs PostgreSQL and Redis (DATABASE_URL=postgres://…, redis-server)"
                );
                return None;
            }
        }
        assert!(
            Path::new(REDIS_SERVER).exists(),
            "{REDIS_SERVER} is missing (apt-get install redis-server)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let redis = OwnRedis::start(dir.path()).await;
        let direct_db = database_url(&dir).await;
        let pg = PgProxy::start(&direct_db).await;
        let (sandbox, sandbox_url) = start_sandbox(dir.path()).await;

        let node_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let lb_url = LoadBalancer::start(&node_ports).await;
        let config_file = dir.path().join("cluster.toml");
        std::fs::write(
            &config_file,
            cluster_toml(&lb_url, &pg.url, &redis.url(), &sandbox_url),
        )
        .expect("write config");

        // The in-process app migrates the database and makes the first signing keys before
        // the nodes start, as `xacthuc migrate` would in a deployment.
        let mut config: Config =
            toml::from_str(&std::fs::read_to_string(&config_file).unwrap()).expect("config");
        config.database.url = direct_db;
        let app = App::build(config, Clock::system()).await.expect("app");
        let lb = TestApp {
            app,
            base: lb_url,
            clock: Clock::system(),
            sandbox: Some(sandbox_url),
            _dir: tempfile::tempdir().expect("tempdir"),
        };
        let mut cluster = Cluster {
            lb,
            pg,
            redis,
            nodes: node_ports
                .into_iter()
                .map(|port| Node {
                    port,
                    process: None,
                })
                .collect(),
            config_file,
            dir,
            _sandbox: sandbox,
        };
        for i in 0..3 {
            cluster.start_node(i);
        }
        for i in 0..3 {
            cluster.wait_ready(i).await;
        }
        Some(cluster)
    }

    /// Node `i` reached directly (not through the load balancer), for the helpers.
    pub fn node(&self, i: usize) -> TestApp {
        TestApp {
            app: self.lb.app.clone(),
            base: self.node_base(i),
            clock: self.lb.clock.clone(),
            sandbox: self.lb.sandbox.clone(),
            _dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn node_base(&self, i: usize) -> String {
        format!("http://localhost:{}", self.nodes[i].port)
    }

    /// `url` (an address on the issuer, as pages and redirects give them) sent to node `i`.
    pub fn on_node(&self, i: usize, url: &str) -> String {
        url.replacen(&self.lb.base, &self.node_base(i), 1)
    }

    fn start_node(&mut self, i: usize) {
        let log = std::fs::File::create(self.dir.path().join(format!("node{i}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_xacthuc"))
            .arg("serve")
            .arg("--config")
            .arg(&self.config_file)
            .env(
                "XACTHUC__SERVER__BIND",
                format!("127.0.0.1:{}", self.nodes[i].port),
            )
            .env("XACTHUC_LOG", "warn")
            // The file says everything; the test run's own database and Redis must not leak in.
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("xacthuc starts");
        self.nodes[i].process = Some(Process(child));
    }

    /// Waits (bounded) until node `i` answers /readyz with 200.
    pub async fn wait_ready(&self, i: usize) {
        let url = format!("{}/readyz", self.node_base(i));
        let ready = wait_until(|| async {
            matches!(plain().get(&url).send().await, Ok(r) if r.status() == StatusCode::OK)
        })
        .await;
        assert!(
            ready,
            "node {i} not ready within {WAIT:?}:\n{}",
            self.log(i)
        );
    }

    /// Starts the stopped (or running) Redis again, empty, and waits until every node is ready
    /// again. The harness's own connection notices the restart on its first command, as each
    /// node's does: that one is spent on a ping.
    pub async fn restart_redis(&mut self) {
        self.redis.restart().await;
        for i in 0..self.nodes.len() {
            self.wait_ready(i).await;
        }
        let _ = self.lb.app.store.ping().await;
    }

    /// Kills node `i` with SIGKILL, as a crash or an OOM kill would.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].process = None;
    }

    /// What node `i` logged (for failure messages).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{i}.log"))).unwrap_or_default()
    }

    /// Runs `xacthuc ARGS` with the cluster's configuration, as an operator on one node would;
    /// returns its standard output. (On a blocking thread: the proxies run on this test's
    /// runtime.)
    pub async fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xacthuc"));
        command
            .arg("--config")
            .arg(&self.config_file)
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .current_dir(self.dir.path());
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("xacthuc runs");
        assert!(
            out.status.success(),
            "xacthuc {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The status of GET `path` on every node.
    pub async fn statuses(&self, path: &str) -> Vec<StatusCode> {
        let mut statuses = Vec::new();
        for i in 0..self.nodes.len() {
            let url = format!("{}{path}", self.node_base(i));
            statuses.push(
                plain()
                    .get(&url)
                    .send()
                    .await
                    .expect("node answers")
                    .status(),
            );
        }
        statuses
    }
}

/// The configuration every node reads: what an operator would write once for all nodes.
fn cluster_toml(issuer: &str, db: &str, redis: &str, sandbox: &str) -> String {
    let kek = xacthuc::keys::KeyEncryptionKey::generate_base64();
    let kek = secrecy::ExposeSecret::expose_secret(&kek).to_string();
    let theme = concat!(env!("CARGO_MANIFEST_DIR"), "/themes/default");
    format!(
        r#"[server]
public_url = "{issuer}"
[database]
url = "{db}"
max_connections = 4
[store]
backend = "redis"
redis_url = "{redis}"
key_prefix = "cluster:"
[keys]
encryption_key = "{kek}"
[theme]
dir = "{theme}"
[sandbox]
enabled = false
[connectors]
carrier_url = "{sandbox}/sandbox/carrier"
sms_url = "{sandbox}/sandbox/sms"
bhxh_url = "{sandbox}/sandbox/bhxh"
mail_url = "{sandbox}/sandbox/mail"
[login]
methods = ["password"]
[passwords]
# Cheap hashes keep the test fast.
argon2_memory_kib = 1024
argon2_iterations = 1
[otp]
max_per_account_per_hour = 1000
max_per_ip_per_hour = 1000
[otp.per_phone_per_hour]
login = 1000
registration = 1000
recovery = 1000
profile = 1000
"#
    )
}

/// A browser for the load balancer: cookies, no redirects followed, and a new connection per
/// request, so the balancer spreads one user's requests over the nodes.
pub fn lb_browser() -> reqwest::Client {
    xacthuc::app::install_crypto_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A client for probes: no pooled connection outlives a node.
fn plain() -> reqwest::Client {
    xacthuc::app::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Waits (bounded by [`WAIT`]) until `done` holds.
pub async fn wait_until<F, Fut>(done: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::helpers::wait_for_within(WAIT, done).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn start_sandbox(dir: &Path) -> (Process, String) {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_xacthuc"))
        .args(["sandbox", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--pki-dir")
        .arg(dir.join("sandbox-pki"))
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xacthuc sandbox starts");
    let process = Process(child);
    let outbox = format!("{url}/sandbox/sms/outbox");
    let up = wait_until(|| async {
        matches!(plain().get(&outbox).send().await, Ok(r) if r.status() == StatusCode::OK)
    })
    .await;
    assert!(up, "the sandbox did not start");
    (process, url)
}

/// A Redis server of the test's own (never the shared one): stopped and started again on the
/// same port, empty, as a restart without persistence leaves it.
pub struct OwnRedis {
    port: u16,
    dir: PathBuf,
    process: Option<Process>,
}

impl OwnRedis {
    async fn start(dir: &Path) -> OwnRedis {
        let mut redis = OwnRedis {
            port: free_port(),
            dir: dir.to_path_buf(),
            process: None,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server (again), and waits until it answers.
    pub async fn restart(&mut self) {
        self.process = None;
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.process = Some(Process(child));
        let addr = format!("127.0.0.1:{}", self.port);
        let up = wait_until(|| async { redis_pong(&addr).await }).await;
        assert!(up, "redis-server did not start");
    }
}

async fn redis_pong(addr: &str) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").await.is_ok()
        && s.read_exact(&mut buf).await.is_ok()
        && &buf == b"+PONG\r\n"
}

/// A TCP proxy between the nodes and PostgreSQL: "PostgreSQL unreachable" is [`PgProxy::cut`]
/// (live connections dropped, new ones closed at once), "it is back" is [`PgProxy::restore`].
pub struct PgProxy {
    /// The database URL the nodes use (through the proxy).
    pub url: String,
    open: watch::Sender<bool>,
}

impl PgProxy {
    async fn start(direct_url: &str) -> PgProxy {
        let mut url = url::Url::parse(direct_url).expect("database URL");
        let target = format!(
            "{}:{}",
            url.host_str().expect("database host"),
            url.port().unwrap_or(5432)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        let (open, _) = watch::channel(true);
        let states = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*states.borrow() {
                    continue; // dropped: closed at once
                }
                let mut closed = states.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = closed.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        PgProxy {
            url: url.to_string(),
            open,
        }
    }

    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

/// The load balancer: each connection goes to the next node in turn, skipping a node that
/// refuses the connection (as nginx's passive health checks do). Returns its URL.
struct LoadBalancer;

impl LoadBalancer {
    async fn start(node_ports: &[u16]) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let nodes: Arc<Vec<SocketAddr>> = Arc::new(
            node_ports
                .iter()
                .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let nodes = nodes.clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    for k in 0..nodes.len() {
                        let node = nodes[(first + k) % nodes.len()];
                        if let Ok(mut outbound) = TcpStream::connect(node).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        url
    }
}

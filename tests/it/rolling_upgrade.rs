//! A rolling upgrade, with the previous release's binary (`XACTHUC_PREVIOUS_BIN`, built by
//! `scripts/previous-release.sh`; `.ci/run` always sets it): the old node keeps serving while
//! this release's `migrate` runs and this release's node serves beside it, on one database (and
//! one Redis when REDIS_URL is set). Without the variable the test says so and passes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use secrecy::ExposeSecret;
use xacthuc::domain::Ial;

use crate::helpers::*;

/// What the previous release's node is started with: the deployment's shared settings.
struct Deployment {
    previous_bin: PathBuf,
    public_url: String,
    port: u16,
    database_url: String,
    redis: Option<(String, String)>,
    kek: String,
    dir: tempfile::TempDir,
}

/// A node of the previous release, killed when dropped.
struct OldNode {
    child: Child,
    log: PathBuf,
}

impl Drop for OldNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OldNode {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

enum Start {
    Serving(OldNode),
    Exited(String),
}

impl Deployment {
    /// Runs the previous release's `serve` from its own tree (its themes), configured through
    /// the environment as in deploy/compose.yaml; waits until it is ready or has exited.
    async fn start_old(&self, run: &str) -> Start {
        let log = self.dir.path().join(format!("old-{run}.log"));
        let mut cmd = Command::new(&self.previous_bin);
        cmd.arg("serve")
            .current_dir(self.previous_bin.parent().unwrap())
            .env_remove("XACTHUC_CONFIG")
            .env_remove("REDIS_URL")
            .env("DATABASE_URL", &self.database_url)
            .env("XACTHUC__SERVER__BIND", format!("127.0.0.1:{}", self.port))
            .env("XACTHUC__SERVER__PUBLIC_URL", &self.public_url)
            .env("XACTHUC__KEYS__ENCRYPTION_KEY", &self.kek)
            .env("XACTHUC__SANDBOX__PKI_DIR", self.dir.path().join("old-pki"))
            .env("XACTHUC__PASSWORDS__ARGON2_MEMORY_KIB", "1024")
            .env("XACTHUC__PASSWORDS__ARGON2_ITERATIONS", "1")
            .env("XACTHUC_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some((url, prefix)) = &self.redis {
            cmd.env("REDIS_URL", url)
                .env("XACTHUC__STORE__KEY_PREFIX", prefix);
        }
        let mut node = OldNode {
            child: cmd.spawn().expect("the previous release's binary runs"),
            log,
        };
        // A ceiling, not a measure: a debug build generating its keys and sandbox CAs.
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Some(status) = node.child.try_wait().unwrap() {
                return Start::Exited(format!("{status}: {}", node.log()));
            }
            let ready = http()
                .get(format!("http://127.0.0.1:{}/readyz", self.port))
                .send()
                .await;
            if matches!(ready, Ok(r) if r.status() == StatusCode::OK) {
                return Start::Serving(node);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the previous release did not start: {}", node.log());
    }

    fn serving(start: Start) -> OldNode {
        match start {
            Start::Serving(node) => node,
            Start::Exited(why) => panic!("the previous release refused to start: {why}"),
        }
    }

    /// This release's `xacthuc migrate`, as the migration job runs it.
    fn migrate_with_this_release(&self) {
        let out = Command::new(env!("CARGO_BIN_EXE_xacthuc"))
            .arg("migrate")
            .current_dir(self.dir.path())
            .env_remove("XACTHUC_CONFIG")
            .env_remove("REDIS_URL")
            .env("DATABASE_URL", &self.database_url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn applied_migrations(&self) -> BTreeSet<String> {
        let conn = sea_orm::Database::connect(&self.database_url)
            .await
            .unwrap();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT version FROM seaql_migrations",
            ))
            .await
            .unwrap();
        conn.close().await.ok();
        rows.iter()
            .map(|r| r.try_get::<String>("", "version").unwrap())
            .collect()
    }

    /// A later release's migration, as far as the previous release can tell: a row it does
    /// not know (expand-only, so nothing in the schema it uses changed).
    async fn record_later_release(&self, name: &str) {
        let conn = sea_orm::Database::connect(&self.database_url)
            .await
            .unwrap();
        conn.execute_unprepared(&format!(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{name}', 0)"
        ))
        .await
        .unwrap();
        conn.close().await.ok();
    }
}

async fn client_credentials(t: &TestApp, client: &str, secret: &str) -> String {
    let (status, body) =
        token_request(t, client, secret, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_previous_release_keeps_serving_beside_this_one_on_its_schema() {
    let Some(previous_bin) = std::env::var_os("XACTHUC_PREVIOUS_BIN").map(PathBuf::from) else {
        println!("skipped: XACTHUC_PREVIOUS_BIN is not set (scripts/previous-release.sh)");
        return;
    };
    assert!(
        Path::new(&previous_bin).is_file(),
        "{}",
        previous_bin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let redis = std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| (u, format!("test:{}:", uuid::Uuid::new_v4())));
    let deployment = Deployment {
        previous_bin,
        // The deployment's one issuer (the load balancer's URL): here the old node's.
        public_url: format!("http://localhost:{port}"),
        port,
        database_url: database_url(&dir).await,
        redis,
        kek: xacthuc::keys::KeyEncryptionKey::generate_base64()
            .expose_secret()
            .to_string(),
        dir,
    };

    // The previous release runs alone and migrates the fresh database to its schema.
    let old = Deployment::serving(deployment.start_old("first").await);
    let before = deployment.applied_migrations().await;
    // The new release's migration job, while the old node serves.
    deployment.migrate_with_this_release();
    let after = deployment.applied_migrations().await;
    assert!(after.is_superset(&before));

    // This release's node on the same database, store, issuer and key-encryption key.
    let new = spawn_app_with(|c| {
        c.database.url = deployment.database_url.clone();
        c.server.public_url = deployment.public_url.clone();
        c.keys.encryption_key = Some(deployment.kek.clone().into());
        c.database.migrate = xacthuc::store::schema::MigrateMode::Check;
        if let Some((_, prefix)) = &deployment.redis {
            c.store.key_prefix = prefix.clone();
        }
    })
    .await;
    // The old node, seen through the same helpers (its database is the new node's).
    let old_view = new.elsewhere(&deployment.public_url);

    // The old node still serves: discovery, under the deployment's issuer.
    let discovery: serde_json::Value = http()
        .get(old_view.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], deployment.public_url.as_str());

    // A client registered by the new release is served by both, and each accepts the
    // other's access tokens (one key set, one issuer).
    let (client, secret) = new
        .add_client(|c| {
            c.grants = vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ]
        })
        .await;
    let secret = secret.unwrap();
    let from_old = client_credentials(&old_view, &client, &secret).await;
    let from_new = client_credentials(&new, &client, &secret).await;
    assert_eq!(
        introspect(&new, &client, &secret, &from_old).await["active"],
        true
    );
    assert_eq!(
        introspect(&old_view, &client, &secret, &from_new).await["active"],
        true
    );

    // A citizen logs in on the old node (password, then the SMS code from its sandbox); the
    // refresh token rotates on the new node, then again on the old one.
    new.add_account("079090001234", Ial::Ial2).await;
    let tokens = tokens_for(&old_view, &client, &secret, "079090001234").await;
    let userinfo = http()
        .get(new.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    let (status, on_new) = refresh(
        &new,
        &client,
        &secret,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{on_new}");
    let (status, on_old) = refresh(
        &old_view,
        &client,
        &secret,
        on_new["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{on_old}");

    // The old node restarts against this release's schema. v0.10.0 runs sea-orm-migration's
    // `up`, which refuses migrations it does not know: it starts again only if this release
    // added none.
    drop(old);
    let unknown_to_old: Vec<_> = after.difference(&before).collect();
    match deployment.start_old("restarted").await {
        Start::Serving(_) => assert!(
            unknown_to_old.is_empty(),
            "the old release restarted despite {unknown_to_old:?}"
        ),
        Start::Exited(why) => {
            assert!(!unknown_to_old.is_empty(), "restart refused: {why}");
            assert!(why.contains("is missing"), "{why}");
        }
    }

    // A later release's migration: the previous release (v0.10.0) cannot restart any more — the
    // known limit of upgrading from it (do not restart its nodes mid-rollout) —, while this
    // release, in either migrate mode, starts and serves.
    deployment
        .record_later_release("m20991231_000099_a_later_release")
        .await;
    match deployment.start_old("after-a-later-release").await {
        Start::Exited(why) => assert!(why.contains("is missing"), "{why}"),
        Start::Serving(node) => panic!("v0.10.0 accepted a later schema: {}", node.log()),
    }
    deployment.migrate_with_this_release();
    let later = new.second_node().await;
    let (status, body) = token_request(
        &later,
        &client,
        &secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

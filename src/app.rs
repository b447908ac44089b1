//! State and wiring: the only place that knows every module.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::audit::Audit;
use crate::authenticators;
use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::config::{Config, Mode, StoreBackend};
use crate::connectors::Connectors;
use crate::hashing::Hasher;
use crate::http::render::Theme;
use crate::http::request::Cookies;
use crate::keys::{KeyEncryptionKey, KeyRing};
use crate::metrics::Metrics;
use crate::oidc::acr::AcrPolicy;
use crate::oidc::client::Client;
use crate::oidc::client_cache::{self, ClientCache};
use crate::oidc::subject::SubjectKeys;
use crate::pki::Pki;
use crate::random::MacKey;
use crate::sandbox::pki::SandboxPki;
use crate::sandbox::seed::SandboxSeed;
use crate::sandbox::simulators::Simulators;
use crate::stamps::{self, Shared};
use crate::store::Database;
use crate::store::ephemeral::{EphemeralStore, MemoryStore, RedisStore};

#[derive(Clone)]
pub struct App(Arc<AppInner>);

pub struct AppInner {
    pub config: Config,
    pub issuer: String,
    pub clock: Clock,
    pub db: Database,
    pub store: Arc<dyn EphemeralStore>,
    pub keys: KeyRing,
    pub acr: AcrPolicy,
    pub theme: Theme,
    /// The per-client themes (`theme.clients_dir`), by name; a client's `theme` names one.
    pub client_themes: crate::http::render::ClientThemes,
    /// Cookie names and flags (`__Host-` and `Secure` on an https issuer).
    pub cookies: Cookies,
    /// Binds CSRF tokens to the browser's session or browser cookie; derived from the
    /// key-encryption key, so every node computes the same tokens.
    pub csrf_key: MacKey,
    /// The salt of pairwise subjects and the key that seals an access token's account id;
    /// derived from the key-encryption key (see `oidc::subject`).
    pub subjects: SubjectKeys,
    pub audit: Audit,
    pub metrics: Metrics,
    /// Outbound HTTP (back-channel logout, the demo portal's calls to us).
    pub http: reqwest::Client,
    /// Carrier, SMS gateway and BHXH registry (real endpoints or the sandbox).
    pub connectors: Connectors,
    /// The in-process simulators, when the sandbox is on.
    pub simulators: Option<Arc<Simulators>>,
    /// The sandbox's test CAs, when the sandbox is on (their roots are in `pki`).
    pub sandbox_pki: Option<Arc<SandboxPki>>,
    /// Argon2id on a bounded pool (every password hash and check goes through it).
    pub hasher: Hasher,
    /// Rendered captcha images and audio by challenge id, so reloading one costs nothing.
    pub captcha_media: authenticators::captcha::MediaCache,
    /// Signature certificates: the two trust sets, revocation, CMS.
    pub pki: Pki,
    /// Upstream OpenID providers (VNeID): discovery cache and calls.
    pub upstreams: crate::connectors::federation::Upstreams,
    /// The sandbox VNeID, when the sandbox is on.
    pub sandbox_vneid: Option<Arc<crate::sandbox::vneid::SandboxVneid>>,
    /// Clients, per node, kept current through the shared store (`oidc::client_cache`).
    clients: ClientCache,
    /// The JWK sets of private_key_jwt clients registered with a `jwks_uri`, per node.
    pub jwks_uris: crate::oidc::jwks_uri::JwksUriCache,
    /// Verified access tokens by SHA-256, so introspection and userinfo skip the signature.
    pub verified_tokens: TtlCache<[u8; 32], Arc<serde_json::Value>>,
    discovery: std::sync::OnceLock<Arc<Vec<u8>>>,
    /// Set when a stop signal arrived: /readyz answers 503 while in-flight requests finish.
    draining: std::sync::atomic::AtomicBool,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Ephemeral(#[from] crate::store::ephemeral::EphemeralError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("theme: {0}")]
    Theme(String),
    #[error("{0}")]
    Refused(String),
}

impl App {
    /// Connects to the database and ephemeral store, loads keys and theme.
    pub async fn build(config: Config, clock: Clock) -> Result<Self, StartError> {
        install_crypto_provider();
        // Also here, not only in `Config::load`: a configuration built in code (tests, tools)
        // gets the same refusals, the production guard rails among them.
        config.validate()?;
        let db = Database::open(
            &config.database.url,
            config.database.max_connections,
            config.database.migrate,
        )
        .await?;
        let store = open_store(&config, &clock).await?;
        Self::build_with_store(config, clock, db, store).await
    }

    /// [`App::build`] with an ephemeral store made elsewhere: tests run two nodes on one
    /// in-memory store, as two servers share one Redis.
    pub async fn build_sharing(
        config: Config,
        clock: Clock,
        store: Arc<dyn EphemeralStore>,
    ) -> Result<Self, StartError> {
        install_crypto_provider();
        config.validate()?;
        let db = Database::open(
            &config.database.url,
            config.database.max_connections,
            config.database.migrate,
        )
        .await?;
        Self::build_with_store(config, clock, db, store).await
    }

    async fn build_with_store(
        config: Config,
        clock: Clock,
        db: Database,
        store: Arc<dyn EphemeralStore>,
    ) -> Result<Self, StartError> {
        authenticators::check_config(&config).map_err(StartError::Refused)?;
        let kek = key_encryption_key(&config)?;
        let csrf_key = kek.derive("xacthuc csrf v1");
        let subjects = SubjectKeys::derive(&kek);
        let t = &config.tokens;
        let retention =
            chrono::Duration::seconds(t.access_token_ttl_seconds.max(t.id_token_ttl_seconds) + 60);
        let keys = KeyRing::load(db.clone(), kek, clock.clone(), retention).await?;
        let theme = Theme::load(&config.theme).map_err(StartError::Theme)?;
        let client_themes =
            crate::http::render::load_client_themes(&config.theme).map_err(StartError::Theme)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartError::Refused(format!("http client: {e}")))?;
        let metrics = Metrics::default();
        let connectors = Connectors::http(
            &config.connectors,
            &config.issuer(),
            http.clone(),
            metrics.upstream.clone(),
        );
        let sandbox_pki = if config.sandbox.enabled {
            let pki = SandboxPki::open(&config.sandbox.pki_dir, &config.issuer(), clock.clone())
                .map_err(|e| StartError::Refused(e.to_string()))?;
            Some(Arc::new(pki))
        } else {
            None
        };
        // The signing simulators (SIM, remote signature) get their keys from the sandbox CA.
        let simulators = match &sandbox_pki {
            Some(ca) => {
                let seed = SandboxSeed::load(config.sandbox.seed_file.as_deref())
                    .map_err(|e| StartError::Refused(e.to_string()))?;
                let issue = crate::sandbox::signers::sandbox_ca(ca.clone());
                Some(Arc::new(Simulators::with_key_issuer(
                    seed,
                    clock.clone(),
                    issue,
                )))
            }
            None => None,
        };
        let sandbox_anchors = sandbox_pki
            .as_ref()
            .map(|p| p.anchors())
            .unwrap_or_default();
        let pki = Pki::new(&config.pki, http.clone(), &sandbox_anchors)
            .map_err(|e| StartError::Refused(e.to_string()))?;
        load_uploaded_anchors(&db, &pki).await?;
        let upstreams = crate::connectors::federation::Upstreams::new(
            &config.federation,
            &config.issuer(),
            http.clone(),
            metrics.upstream.clone(),
        );
        let sandbox_vneid = match &simulators {
            Some(sim) => Some(Arc::new(
                crate::sandbox::vneid::SandboxVneid::open(&config, sim.clone(), clock.clone())
                    .map_err(StartError::Refused)?,
            )),
            None => None,
        };
        Ok(Self(Arc::new(AppInner {
            upstreams,
            sandbox_vneid,
            connectors,
            simulators,
            sandbox_pki,
            pki,
            hasher: Hasher::new(&config.passwords),
            captcha_media: authenticators::captcha::MediaCache::default(),
            issuer: config.issuer(),
            cookies: Cookies::for_issuer(&config.issuer()),
            csrf_key,
            subjects,
            acr: AcrPolicy::new(&config.acr),
            audit: Audit::new(db.clone(), clock.clone()),
            metrics,
            clients: ClientCache::new(config.server.client_cache_seconds),
            jwks_uris: Default::default(),
            verified_tokens: TtlCache::new(100_000),
            discovery: std::sync::OnceLock::new(),
            draining: Default::default(),
            config,
            clock,
            db,
            store,
            keys,
            theme,
            client_themes,
            http,
        })))
    }

    /// A client by id, cached per node (for at most `server.client_cache_seconds`) until a
    /// change to it is announced through the shared store.
    pub async fn client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<Client>>, crate::store::StoreError> {
        // Ids are 1–64 visible ASCII characters; anything else cannot exist, and must not reach
        // the database (PostgreSQL refuses NUL bytes in text).
        if !crate::oidc::client::valid_client_id(client_id) {
            return Ok(None);
        }
        // A disabled client is refused everywhere as an unknown one would be.
        Ok(self
            .clients
            .get(&self.db, self.store.as_ref(), &self.clock, client_id)
            .await?
            .filter(|c| !c.disabled))
    }

    /// Tells every node that a client changed (call after the change committed).
    pub async fn client_changed(&self, client_id: &str) {
        client_cache::announce_change(self.store.as_ref(), client_id).await;
    }

    /// The discovery document, serialised once.
    pub fn discovery_json(&self) -> Arc<Vec<u8>> {
        self.discovery
            .get_or_init(|| {
                let doc = crate::oidc::discovery::metadata(&self.issuer, &self.acr);
                Arc::new(serde_json::to_vec(&doc).unwrap_or_default())
            })
            .clone()
    }

    /// What login and registration methods may use, for a request in `locale` from `ip`.
    pub fn ctx(&self, locale: &str, ip: &str) -> authenticators::Ctx<'_> {
        authenticators::Ctx {
            db: &self.db,
            store: self.store.as_ref(),
            clock: &self.clock,
            config: &self.config,
            connectors: &self.connectors,
            hasher: &self.hasher,
            sms_template: self.theme.t(locale, "sms_otp_text"),
            ip: ip.to_string(),
            audit: &self.audit,
            metrics: &self.metrics,
            pki: &self.pki,
            upstreams: &self.upstreams,
        }
    }

    pub fn password_policy(&self) -> crate::domain::PasswordPolicy {
        crate::domain::PasswordPolicy::from_name(&self.config.passwords.policy).unwrap_or_default()
    }

    /// A URL under the public base URL (never derived from request headers).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Reloads what this node holds of `what` from the database.
    pub async fn reload(&self, what: Shared) -> Result<(), StartError> {
        match what {
            Shared::TrustAnchors => load_uploaded_anchors(&self.db, &self.pki).await?,
            Shared::SigningKeys => {
                // A cached verification may be of a token whose key was just retired; the
                // periodic reload finds nothing new most of the time and keeps the cache.
                if self.keys.reload().await? {
                    self.verified_tokens.clear();
                }
            }
        }
        Ok(())
    }

    /// After a committed change to `what`: this node reloads at once, and the others within
    /// a second (`stamps`). A failed local reload is logged; the watch task retries.
    pub async fn changed(&self, what: Shared) {
        stamps::announce(self.store.as_ref(), what).await;
        if let Err(e) = self.reload(what).await {
            tracing::warn!(error = %e, stamp = what.key(), "reloading after a change failed");
        }
    }

    /// Marks the node as stopping (see `draining`).
    pub fn start_draining(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps every node's keys and trust anchors current: the change stamps read every
    /// second (`stamps::POLL`), a full reload every `keys.reload_seconds` (rotations that
    /// activate with time, changes whose announcement was lost).
    pub fn spawn_background_tasks(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            let full_every = Duration::from_secs(app.config.keys.reload_seconds.max(1));
            let mut watch = stamps::Watch::default();
            let mut last_full = tokio::time::Instant::now();
            let mut tick = tokio::time::interval(stamps::POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for (what, stamp) in watch.changed(app.store.as_ref()).await {
                    match app.reload(what).await {
                        Ok(()) => watch.loaded(what, stamp),
                        Err(e) => tracing::warn!(error = %e, stamp = what.key(), "reload failed"),
                    }
                }
                if last_full.elapsed() >= full_every {
                    last_full = tokio::time::Instant::now();
                    for what in Shared::ALL {
                        if let Err(e) = app.reload(what).await {
                            tracing::warn!(error = %e, stamp = what.key(), "periodic reload failed");
                        }
                    }
                }
            }
        });
    }
}

/// Gives `pki` the uploaded anchors in force (the `trust_anchors` rows not retired).
async fn load_uploaded_anchors(db: &Database, pki: &Pki) -> Result<(), StartError> {
    let rows = db.active_trust_anchors().await?;
    pki.set_uploaded_pems(rows.iter().map(|r| (r.trust_set, r.pem.as_str())));
    Ok(())
}

/// The configured ephemeral store: in memory (one node) or Redis (shared by the nodes). The
/// command line opens it too, to announce the changes it makes.
pub async fn open_store(
    config: &Config,
    clock: &Clock,
) -> Result<Arc<dyn EphemeralStore>, StartError> {
    Ok(match config.store.backend {
        StoreBackend::Memory => Arc::new(MemoryStore::new(clock.clone())),
        StoreBackend::Redis => Arc::new(
            RedisStore::connect(
                &config.store.redis_url,
                &config.store.key_prefix,
                clock.clone(),
            )
            .await?,
        ),
    })
}

/// The key-encryption key: configured, or in development generated once into a local file.
/// Production refuses to start without one.
fn key_encryption_key(config: &Config) -> Result<KeyEncryptionKey, StartError> {
    if let Some(secret) = config.encryption_key()? {
        return KeyEncryptionKey::from_base64(&secret)
            .map_err(|e| StartError::Refused(format!("keys.encryption_key: {e}")));
    }
    if config.server.mode == Mode::Production {
        return Err(StartError::Refused(
            "production mode needs a key-encryption key: set XACTHUC__KEYS__ENCRYPTION_KEY \
             (base64 of 32 random bytes; `xacthuc key generate-kek` makes one) or keys.encryption_key_file"
                .into(),
        ));
    }
    let path = &config.keys.dev_encryption_key_path;
    let secret = match std::fs::read_to_string(path) {
        Ok(text) => secrecy::SecretString::from(text.trim().to_string()),
        Err(_) => {
            let secret = KeyEncryptionKey::generate_base64();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StartError::Refused(format!("creating {}: {e}", dir.display())))?;
            }
            write_private_file(path, secret.expose_secret())?;
            tracing::warn!(path = %path.display(), "development mode: generated a key-encryption key; configure one for production");
            secret
        }
    };
    KeyEncryptionKey::from_base64(&secret)
        .map_err(|e| StartError::Refused(format!("{}: {e}", path.display())))
}

fn write_private_file(path: &std::path::Path, content: &str) -> Result<(), StartError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| StartError::Refused(format!("writing {}: {e}", path.display())))?;
    f.write_all(content.as_bytes())
        .map_err(|e| StartError::Refused(format!("writing {}: {e}", path.display())))
}

/// reqwest is built without a TLS provider of its own; install ring once (one provider in the
/// tree, no aws-lc build).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

//! Command-line interface: `serve`, `migrate`, `client`, `key`, `account` (and `account role`,
//! in `cli/role.rs`).

mod role;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::{Ial, IdNumber, SubjectType};
use crate::oidc::client::{Client, ClientAuthMethod};
use crate::store::{Database, NewAccount};

#[derive(Parser)]
#[command(
    name = "xacthuc",
    version,
    about = "OpenID Connect identity provider for Vietnam's public-service portals"
)]
pub struct Cli {
    /// Configuration file (TOML); defaults are built in, env vars XACTHUC__SECTION__KEY override.
    #[arg(long, global = true, env = "XACTHUC_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the sandbox alone: the simulators of external systems (carrier, SMS gateway, BHXH,
    /// mail, the SIM and remote signature providers with their pages) and the sandbox PKI
    /// (certificates, OCSP, CRLs).
    Sandbox {
        /// Seed file (TOML; format in config/sandbox-seed.toml, the built-in default).
        #[arg(long)]
        seed: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        bind: String,
        /// The URL the sandbox is reached at (its certificates name their OCSP responders and
        /// CRLs there); defaults to http://BIND.
        #[arg(long)]
        public_url: Option<String>,
        /// Where the sandbox PKI keeps its CAs (one directory per public URL).
        #[arg(long, default_value = "data/sandbox-pki-standalone")]
        pki_dir: PathBuf,
    },
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and (once) its secret as JSON.
    Add(Box<ClientAdd>),
    /// List clients as JSON.
    List,
    /// Remove a client with its consents and refresh tokens.
    Remove { client_id: String },
    /// Give a client a new secret (printed once, as JSON); the old one keeps working for
    /// the overlap, so the portal's servers can switch one by one. A second rotation within
    /// the overlap drops the older secret at once: only one previous secret is kept.
    RotateSecret {
        #[arg(long)]
        client_id: String,
        /// How long the old secret keeps working, in seconds (0: it stops at once; at most
        /// 30 days).
        #[arg(long, default_value_t = 86_400)]
        overlap_seconds: u64,
    },
}

#[derive(Args)]
pub struct ClientAdd {
    /// Display name shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri", required = true)]
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// A public client (browser/mobile app): no secret, PKCE required.
    #[arg(long, conflicts_with_all = ["jwks_file"])]
    pub public: bool,
    /// A private_key_jwt client: its public JWK set (JSON file).
    #[arg(long)]
    pub jwks_file: Option<PathBuf>,
    /// Skip the consent page (trusted portals).
    #[arg(long)]
    pub skip_consent: bool,
    /// Lowest acceptable assurance: IAL2 or IAL3 (as configured in [acr]).
    #[arg(long)]
    pub min_acr: Option<String>,
    /// ID token algorithm: RS256 or ES256 (default from config).
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Accept only phishing-resistant logins (a passkey) for this client.
    #[arg(long)]
    pub require_phishing_resistant: bool,
    /// Leave `iss` off authorization error responses to this client (a compatibility switch
    /// for relying parties such as mod_auth_openidc 2.4.x; RFC 9207 wants it).
    #[arg(long)]
    pub omit_iss_in_errors: bool,
    /// Grant types (repeatable; default authorization_code, refresh_token).
    #[arg(long = "grant")]
    pub grants: Vec<String>,
    /// Scopes the client may request (repeatable; default all user scopes).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Choose the client_id (default: generated).
    #[arg(long)]
    pub client_id: Option<String>,
    /// The `sub` this client sees: public (the account id) or pairwise (its own per sector).
    #[arg(long, default_value = "public", value_parser = ["public", "pairwise"])]
    pub subject_type: String,
    /// A pairwise client's sector: an https URL serving a JSON array of its redirect URIs
    /// (needed when they are on several hosts; fetched and checked at registration).
    #[arg(long)]
    pub sector_identifier_uri: Option<String>,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Introduce new signing keys; they sign after the configured delay (or --delay seconds).
    Rotate {
        #[arg(long)]
        delay: Option<i64>,
    },
    /// Print a fresh key-encryption key (base64) for XACTHUC__KEYS__ENCRYPTION_KEY.
    GenerateKek,
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create a citizen account directly (for operators; citizens register on the web).
    Add(AccountAdd),
    /// Staff roles: grant, revoke, list.
    #[command(subcommand)]
    Role(role::RoleCommand),
}

#[derive(Args)]
pub struct AccountAdd {
    /// 12-digit CCCD or 9-digit CMND: the login name.
    #[arg(long)]
    pub id_number: String,
    #[arg(long)]
    pub name: String,
    /// dd/mm/yyyy
    #[arg(long)]
    pub birthdate: Option<String>,
    /// Mobile number, 0xxxxxxxxx or +84xxxxxxxxx.
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    /// Password (or set XACTHUC_ACCOUNT_PASSWORD).
    #[arg(long, env = "XACTHUC_ACCOUNT_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// 2 or 3.
    #[arg(long, default_value_t = 2)]
    pub ial: i16,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    // Kept to the end of the command: dropping it flushes the traces (feature `otel`).
    let _telemetry = crate::telemetry::init_logs(&config.log);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            Database::connect(&config.database.url, 1).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Client(cmd) => client(config, cmd).await,
        Command::Sandbox {
            seed,
            bind,
            public_url,
            pki_dir,
        } => {
            let public_url = public_url.unwrap_or_else(|| format!("http://{bind}"));
            let seed = seed.or(config.sandbox.seed_file.clone());
            sandbox(seed, &bind, &public_url, &pki_dir).await
        }
        Command::Key(KeyCommand::GenerateKek) => {
            use secrecy::ExposeSecret;
            println!(
                "{}",
                crate::keys::KeyEncryptionKey::generate_base64().expose_secret()
            );
            Ok(())
        }
        Command::Key(KeyCommand::Rotate { delay }) => {
            let delay = delay.unwrap_or(config.keys.rotation_delay_seconds);
            let app = App::build(config, Clock::system()).await?;
            let kids = app
                .keys
                .rotate_recorded(chrono::Duration::seconds(delay), |kids, _| {
                    app.audit.row(
                        crate::audit::Event::new("key.rotated")
                            .detail(json!({ "kids": kids, "delay_seconds": delay })),
                    )
                })
                .await?;
            // Through the configured store: with Redis every node reloads within a second;
            // with the memory store (another process) at its next full reload.
            crate::stamps::announce(app.store.as_ref(), crate::stamps::Shared::SigningKeys).await;
            println!(
                "{}",
                json!({ "new_keys": kids, "active_in_seconds": delay })
            );
            Ok(())
        }
        Command::Account(AccountCommand::Add(a)) => account_add(config, a).await,
        Command::Account(AccountCommand::Role(r)) => role::run(config, r).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Installed first: from here on a SIGTERM drains the node instead of killing it.
    let stop_signal = stop_signal();
    let bind = config.server.bind.clone();
    let app = App::build(config, Clock::system()).await?;
    if app.config.sandbox.enabled {
        crate::sandbox::demo_portal::register(&app).await?;
    }
    app.spawn_background_tasks();
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!(address = %bind, issuer = %app.issuer, sandbox = app.config.sandbox.enabled, "xacthuc listening");
    println!(
        "xacthuc listening on {bind}: open {} (the issuer)",
        app.issuer
    );
    let drain = std::time::Duration::from_secs(app.config.server.shutdown_timeout_seconds);
    let (stopping, mut stop) = tokio::sync::watch::channel(false);
    let draining = app.clone();
    // The router is the last thing start-up builds.
    let router = crate::http::router(app);
    crate::resident::release_startup_pages();
    let server = crate::http::serve_router(router, listener, async move {
        stop_signal.await;
        // /readyz answers 503 from now on, so a load balancer still probing stops sending.
        draining.start_draining();
        tracing::info!(
            drain_seconds = drain.as_secs(),
            "stopping: finishing in-flight requests"
        );
        let _ = stopping.send(true);
    });
    tokio::pin!(server);
    tokio::select! {
        ended = &mut server => ended?,
        _ = stop.wait_for(|s| *s) => match tokio::time::timeout(drain, &mut server).await {
            Ok(ended) => ended?,
            Err(_) => tracing::warn!("requests still running after server.shutdown_timeout_seconds; exiting anyway"),
        },
    }
    // Background tasks (key reloads) end with the runtime, when `main` returns.
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at the first SIGTERM (an orchestrator stopping the node) or Ctrl-C. The SIGTERM
/// handler is registered when this is called, not when the future is first polled.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only"))
        .ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn sandbox(
    seed: Option<PathBuf>,
    bind: &str,
    public_url: &str,
    pki_dir: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::sandbox::{Standalone, seed::SandboxSeed};
    let seed = SandboxSeed::load(seed.as_deref())?;
    let sandbox = Standalone::open(seed, pki_dir, public_url, Clock::system())?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!(
        "xacthuc sandbox listening on {public_url}/sandbox; trust anchors: {public_url}/sandbox/pki/ca/public-root.pem and gov-root.pem"
    );
    axum::serve(listener, sandbox.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn client(config: Config, cmd: ClientCommand) -> anyhow::Result<()> {
    let db = Database::connect(&config.database.url, 1).await?;
    let clock = Clock::system();
    match cmd {
        ClientCommand::List => {
            let clients: Vec<_> = db
                .list_clients()
                .await?
                .into_iter()
                .map(|c| {
                    json!({
                        "client_id": c.client_id, "name": c.name, "auth_method": c.auth_method.as_str(),
                        "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
                        "backchannel_logout_uri": c.backchannel_logout_uri, "grant_types": c.grant_types,
                        "scopes": c.allowed_scopes, "skip_consent": c.skip_consent,
                        "min_acr": c.min_ial.map(|i| crate::oidc::acr::AcrPolicy::new(&config.acr).acr(i).to_string()),
                        "id_token_alg": c.id_token_alg,
                        "require_phishing_resistant": c.require_phishing_resistant,
                        "previous_secret_expires_at": c.previous_secret.as_ref().map(|p| p.expires_at.to_rfc3339()),
                        "omit_iss_in_errors": c.omit_iss_in_errors,
                        "subject_type": c.subject_type.as_str(),
                        "sector_identifier_uri": c.sector_identifier_uri,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&clients)?);
        }
        ClientCommand::Remove { client_id } => {
            if !db.delete_client(&client_id).await? {
                anyhow::bail!("no client {client_id}");
            }
            crate::audit::Audit::new(db, clock.clone())
                .record(crate::audit::Event::new("client.removed").client(&client_id))
                .await?;
            announce(&config, &clock, &client_id).await;
            println!("removed {client_id}");
        }
        ClientCommand::Add(add) => {
            crate::app::install_crypto_provider();
            let http = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .connect_timeout(std::time::Duration::from_secs(3))
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let (client, secret) = checked_client(&config, *add, &http).await?;
            db.insert_client(&client, clock.now())
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::Conflict => {
                        anyhow::anyhow!("client_id {} is taken", client.client_id)
                    }
                    other => other.into(),
                })?;
            crate::audit::Audit::new(db, clock.clone())
                .record(
                    crate::audit::Event::new("client.added")
                        .client(&client.client_id)
                        .detail(json!({
                            "subject_type": client.subject_type.as_str(),
                            "sector_identifier_uri": client.sector_identifier_uri,
                        })),
                )
                .await?;
            announce(&config, &clock, &client.client_id).await;
            let mut out = json!({ "client_id": client.client_id, "token_endpoint_auth_method": client.auth_method.as_str() });
            if let Some(secret) = secret {
                out["client_secret"] = json!(secret);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ClientCommand::RotateSecret {
            client_id,
            overlap_seconds,
        } => {
            let out = rotate_secret(&db, &clock, &client_id, overlap_seconds).await?;
            announce(&config, &clock, &client_id).await;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}

/// Rotates a client's secret (the store writes the audit row `client.secret_rotated` in the
/// same transaction, never the secret); returns what to print, the new secret once.
pub async fn rotate_secret(
    db: &Database,
    clock: &Clock,
    client_id: &str,
    overlap_seconds: u64,
) -> anyhow::Result<serde_json::Value> {
    use crate::oidc::client::MAX_SECRET_OVERLAP_SECONDS;
    use crate::store::SecretRotation;
    if overlap_seconds > MAX_SECRET_OVERLAP_SECONDS {
        anyhow::bail!("--overlap-seconds must be at most {MAX_SECRET_OVERLAP_SECONDS} (30 days)");
    }
    let secret = crate::random::token();
    let audit = crate::audit::Audit::new(db.clone(), clock.clone());
    let rotated = db
        .rotate_client_secret(
            client_id,
            &crate::random::sha256_hex(&secret),
            chrono::Duration::seconds(overlap_seconds as i64),
            clock.now(),
            |outcome| {
                let detail = match outcome {
                    SecretRotation::Rotated {
                        previous_expires_at,
                        replaced_previous,
                    } => json!({
                        "overlap_seconds": overlap_seconds,
                        "previous_expires_at": previous_expires_at.map(|t| t.to_rfc3339()),
                        "replaced_previous": replaced_previous,
                    }),
                    _ => json!({}),
                };
                audit.row(
                    crate::audit::Event::new("client.secret_rotated")
                        .client(client_id)
                        .detail(detail),
                )
            },
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => {
                anyhow::anyhow!("client {client_id} changed meanwhile; run the rotation again")
            }
            other => other.into(),
        })?;
    match rotated {
        SecretRotation::NoSuchClient => anyhow::bail!("no client {client_id}"),
        SecretRotation::NoSecret => {
            anyhow::bail!("client {client_id} has no secret (a public or private_key_jwt client)")
        }
        SecretRotation::Rotated {
            previous_expires_at,
            replaced_previous,
        } => Ok(json!({
            "client_id": client_id,
            "client_secret": secret,
            "previous_secret_expires_at": previous_expires_at.map(|t| t.to_rfc3339()),
            "replaced_an_older_previous_secret": replaced_previous,
        })),
    }
}

/// Tells the running nodes that a client changed, through the shared store. With the memory
/// store (one node, another process) or an unreachable Redis, the nodes see the change
/// within `server.client_cache_seconds`.
pub async fn announce(config: &Config, clock: &Clock, client_id: &str) {
    match crate::app::open_store(config, clock).await {
        Ok(store) => {
            crate::oidc::client_cache::announce_change(store.as_ref(), client_id).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "client change not announced; nodes see it within server.client_cache_seconds")
        }
    }
}

/// [`new_client`], then the checks that go out to the network: a pairwise client's
/// `sector_identifier_uri` is fetched and must list its redirect URIs (OIDC Core §8.1).
pub async fn checked_client(
    config: &Config,
    add: ClientAdd,
    http: &reqwest::Client,
) -> anyhow::Result<(Client, Option<String>)> {
    let (client, secret) = new_client(config, add)?;
    crate::admin::clients::check_remote(http, &client)
        .await
        .map_err(|e| anyhow::anyhow!(e.english()))?;
    Ok((client, secret))
}

/// Builds a client registration from CLI input with the admin area's rules
/// (`admin::clients::check`; the operator may give admin scopes); returns the secret to show
/// once. The sector identifier is not fetched here (see [`checked_client`]).
pub fn new_client(config: &Config, add: ClientAdd) -> anyhow::Result<(Client, Option<String>)> {
    use crate::admin::clients::{ClientDraft, Context, check};
    let jwks = match &add.jwks_file {
        None => None,
        Some(path) => Some(
            serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(path)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ),
    };
    let auth_method = if add.public {
        ClientAuthMethod::None
    } else if jwks.is_some() {
        ClientAuthMethod::PrivateKeyJwt
    } else {
        ClientAuthMethod::ClientSecretBasic
    };
    let grant_types = if add.grants.is_empty() {
        vec!["authorization_code".into(), "refresh_token".into()]
    } else {
        add.grants
    };
    let allowed_scopes = if add.scopes.is_empty() {
        crate::admin::clients::user_scopes()
            .map(String::from)
            .collect()
    } else {
        add.scopes
    };
    let draft = ClientDraft {
        client_id: add.client_id,
        name: add.name,
        redirect_uris: add.redirect_uris,
        post_logout_redirect_uris: add.post_logout_redirect_uris,
        backchannel_logout_uri: add.backchannel_logout_uri,
        grant_types,
        token_endpoint_auth_method: auth_method.as_str().into(),
        jwks,
        jwks_uri: None,
        allowed_scopes,
        min_acr: add.min_acr,
        skip_consent: add.skip_consent,
        require_phishing_resistant: add.require_phishing_resistant,
        omit_iss_in_errors: add.omit_iss_in_errors,
        subject_type: Some(add.subject_type),
        sector_identifier_uri: add.sector_identifier_uri,
        id_token_alg: add.id_token_alg,
        theme: None,
        version: None,
    };
    let acr = crate::oidc::acr::AcrPolicy::new(&config.acr);
    let ctx = Context {
        acr: &acr,
        default_id_token_alg: &config.keys.id_token_alg,
        may_give_admin_scopes: true,
        existing: None,
        // The command line sets no theme; the console and the API do.
        theme_names: Vec::new(),
    };
    check(&draft, &ctx).map_err(|e| anyhow::anyhow!(e.english()))
}

async fn account_add(config: Config, a: AccountAdd) -> anyhow::Result<()> {
    let id = IdNumber::parse(&a.id_number).map_err(|e| anyhow::anyhow!("--id-number: {e}"))?;
    let birthdate = match &a.birthdate {
        None => None,
        Some(d) => Some(
            chrono::NaiveDate::parse_from_str(d, "%d/%m/%Y")
                .map_err(|_| anyhow::anyhow!("--birthdate must be dd/mm/yyyy"))?,
        ),
    };
    let phone = match &a.phone {
        None => None,
        Some(p) => Some(
            crate::domain::PhoneNumber::parse(p)
                .map(|n| n.e164().to_string())
                .map_err(|e| anyhow::anyhow!("--phone: {e}"))?,
        ),
    };
    let ial = Ial::from_level(a.ial).ok_or_else(|| anyhow::anyhow!("--ial must be 2 or 3"))?;
    let policy =
        crate::domain::PasswordPolicy::from_name(&config.passwords.policy).unwrap_or_default();
    policy
        .check(&a.password, &[id.as_str()])
        .map_err(|e| anyhow::anyhow!("--password: {e}"))?;
    let db = Database::connect(&config.database.url, 1).await?;
    let password_hash = crate::authenticators::password::hash(&config.passwords, &a.password)
        .map_err(|e| anyhow::anyhow!(e))?;
    let clock = Clock::system();
    let account = db
        .create_account(
            &NewAccount {
                subject_type: SubjectType::Citizen,
                id_number: Some(id.as_str().to_string()),
                tax_code: None,
                full_name: a.name.trim().to_string(),
                birthdate,
                email: a.email,
                ial,
                registration_method: "cli".into(),
                phones: phone.into_iter().collect(),
                password_hash: Some(password_hash),
            },
            clock.now(),
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => {
                anyhow::anyhow!("an account with ID number {id} already exists")
            }
            other => other.into(),
        })?;
    crate::audit::Audit::new(db, clock)
        .record(
            crate::audit::Event::new("account.created")
                .account(&account.id)
                .detail(json!({ "method": "cli" })),
        )
        .await?;
    println!("{}", json!({ "sub": account.id, "id_number": id.as_str() }));
    Ok(())
}

//! Typed, layered configuration: built-in defaults → TOML file → `XACTHUC__SECTION__KEY`
//! environment variables; `DATABASE_URL` and `REDIS_URL` are honoured. Secrets are
//! `SecretString` (redacted in `Debug`) and may come from a file via the `_file` keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::authenticators::method::Method;

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub store: StoreConfig,
    pub keys: KeysConfig,
    pub tokens: TokensConfig,
    pub acr: AcrConfig,
    pub passwords: PasswordHashConfig,
    pub otp: OtpConfig,
    pub registration: RegistrationConfig,
    pub login: LoginConfig,
    pub profile: ProfileConfig,
    pub connectors: crate::connectors::ConnectorsConfig,
    pub theme: ThemeConfig,
    pub sandbox: SandboxConfig,
    pub introspection: IntrospectionConfig,
    pub limits: LimitsConfig,
    pub usb_token: UsbTokenConfig,
    pub pki: PkiConfig,
    pub federation: crate::connectors::federation::FederationConfig,
    pub admin: AdminConfig,
    pub log: crate::telemetry::LogConfig,
    pub metrics: crate::telemetry::MetricsConfig,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Development,
    Production,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Socket address to listen on.
    pub bind: String,
    /// Public base URL: the issuer, and the prefix of every URL the server emits.
    pub public_url: String,
    /// `production` refuses to start without a key-encryption key, with the sandbox on, with
    /// an issuer that is not https, or with a connector URL left empty.
    pub mode: Mode,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Seconds a client read from the database is cached in each node.
    pub client_cache_seconds: u64,
    /// After SIGTERM or Ctrl-C: seconds in-flight requests may take to finish before the
    /// process exits anyway.
    pub shutdown_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://…`. `DATABASE_URL` overrides it.
    pub url: String,
    pub max_connections: u32,
    /// `on_start` applies this release's pending migrations when a node starts; `check`
    /// applies nothing (a migration job runs `xacthuc migrate`) and refuses to start while one
    /// is missing. Either way a later release's migrations are accepted (rolling upgrades).
    pub migrate: crate::store::schema::MigrateMode,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    Memory,
    Redis,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `memory` (one node) or `redis` (many nodes). Setting `REDIS_URL` selects `redis`.
    pub backend: StoreBackend,
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Base64 of 32 random bytes; encrypts signing keys at rest (AES-256-GCM).
    #[serde(with = "secret_opt")]
    pub encryption_key: Option<SecretString>,
    /// A file holding the key-encryption key instead (e.g. a Kubernetes secret).
    pub encryption_key_file: Option<PathBuf>,
    /// Development only: where a generated key-encryption key is kept when none is configured.
    pub dev_encryption_key_path: PathBuf,
    /// Seconds between `xacthuc key rotate` and the new key becoming the signing key, so
    /// relying parties refresh their JWKS cache first.
    pub rotation_delay_seconds: i64,
    /// Algorithm of ID tokens for clients that do not choose one (OIDC requires RS256 support).
    pub id_token_alg: String,
    /// Algorithm of access tokens and logout tokens.
    pub access_token_alg: String,
    /// Seconds between reloads of the key set from the database (multi-node rotation).
    pub reload_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokensConfig {
    pub code_ttl_seconds: i64,
    pub access_token_ttl_seconds: i64,
    pub id_token_ttl_seconds: i64,
    pub refresh_token_ttl_seconds: i64,
    pub sso_session_ttl_seconds: i64,
    /// How long a user may take to log in and consent once a portal sent them here.
    pub authorization_request_ttl_seconds: i64,
    /// Longest lifetime accepted for a private_key_jwt client assertion (`exp` − now).
    pub client_assertion_max_lifetime_seconds: i64,
    /// Also accept the token endpoint URL as a client assertion's `aud` (the issuer always
    /// is); libraries such as Authlib send it.
    pub client_assertion_allow_token_endpoint_aud: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AcrConfig {
    /// `acr` value of an account verified at IAL2.
    pub ial2: String,
    /// `acr` value of an account verified at IAL3.
    pub ial3: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashConfig {
    /// Argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Failed password logins per account before the account is temporarily locked.
    pub max_failed_logins: u64,
    /// Seconds the failed-login counter window lasts.
    pub failed_login_window_seconds: i64,
    /// `portal` (≥ 8 characters with lower, upper, digit and special — the national portal's
    /// rule) or `nist` (NIST SP 800-63B: length and blocklist, no composition rules).
    pub policy: String,
    /// Failed logins from one client IP per window before that IP is throttled (behind a
    /// proxy every user shares the proxy's address: raise it there).
    pub max_failed_logins_per_ip: u64,
    /// Threads that run Argon2id, each with one reusable memory block (0 = one per available
    /// core). Memory for hashing is at most this × `argon2_memory_kib`.
    pub hash_workers: usize,
    /// Jobs that may wait per worker; beyond that a login or password change is answered "busy,
    /// try again" (503 + Retry-After) at once.
    pub hash_queue_per_worker: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtpConfig {
    /// Lifetime of an SMS code (at most 600).
    pub ttl_seconds: i64,
    /// Wrong tries before a code is dead.
    pub max_attempts: u64,
    /// Seconds before "Gửi lại OTP" may send another code to the same phone.
    pub resend_cooldown_seconds: i64,
    /// Codes one account may be sent per hour, whatever the phone (login and profile: the
    /// person is known to be the account).
    pub max_per_account_per_hour: u64,
    /// Codes sent per hour on the requests of one client IP, every purpose together.
    pub max_per_ip_per_hour: u64,
    /// SMS per minute across all nodes; past it, sends are refused ("busy") and
    /// `xacthuc_sms_ceiling_hits_total` counts each refusal (alert on it).
    pub max_sms_per_minute: u64,
    /// Wrong codes in a row (across codes) before codes for the same account (login, profile)
    /// or phone (registration, recovery) are refused; at most 100 (NIST SP 800-63B §5.2.2).
    pub max_wrong_per_account: u64,
    /// How long that run of wrong codes is remembered, from its first code; a right code
    /// ends it sooner.
    pub wrong_memory_seconds: i64,
    /// Codes sent to one phone per hour, per purpose: each purpose has its own budget, so one
    /// cannot use up another's (SMS cost protection).
    pub per_phone_per_hour: OtpPerPurpose,
}

/// `[otp.per_phone_per_hour]`: one number per purpose of a code.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtpPerPurpose {
    /// The SMS step of a login.
    pub login: u64,
    /// A registration's phone.
    pub registration: u64,
    /// "Quên mật khẩu" (decoys count too, so the budget reveals nothing).
    pub recovery: u64,
    /// A phone added in "Thông tin cá nhân".
    pub profile: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Online registration methods offered: `mobile_subscriber` ("Thuê bao di động") and
    /// `bhxh` ("Bảo hiểm xã hội").
    pub methods: Vec<String>,
    /// BHXH registration: the phone must be the person's too — the one on the BHXH record when
    /// it has one, else one the carrier says is registered to the record's person.
    pub bhxh_phone_check: bool,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            methods: vec!["mobile_subscriber".into(), "bhxh".into()],
            bhxh_phone_check: true,
        }
    }
}

/// `[login]`: the ways to log in and the steps each is made of.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Methods offered on the login page, in this order: `password` ("CMT/CCCD": ID number +
    /// password), `passkey`, `usb_token` ("USB ký số"), `sim_signature` ("SIM ký số") and
    /// `remote_signature` ("Chữ ký số cá nhân"). A method not listed is not shown and its routes
    /// refuse.
    #[serde(deserialize_with = "method_names::list")]
    pub methods: Vec<Method>,
    /// Steps that follow a method's own step, per method (`password = ["sms_otp"]`: the SMS
    /// code after the password). The login's `amr` is the union of its steps'.
    #[serde(deserialize_with = "method_names::table")]
    pub then: BTreeMap<Method, Vec<Method>>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            methods: vec![
                Method::Password,
                Method::Passkey,
                Method::UsbToken,
                Method::SimSignature,
                Method::RemoteSignature,
                Method::Federation,
            ],
            then: BTreeMap::from([(Method::Password, vec![Method::SmsOtp])]),
        }
    }
}

impl LoginConfig {
    pub fn enabled(&self, method: Method) -> bool {
        self.methods.contains(&method)
    }

    /// The steps after `method`'s own.
    pub fn then(&self, method: Method) -> &[Method] {
        self.then
            .get(&method)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// `[introspection]`: who may learn about tokens issued to other clients.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// Client ids of resource servers (APIs) that may introspect the access tokens of every
    /// client. Any other client learns only about its own tokens: another's are
    /// `{"active": false}`.
    pub resource_servers: Vec<String>,
}

/// `[profile]`: changes in "Thông tin cá nhân".
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileConfig {
    /// How long a re-authentication (password + SMS code, or a passkey) lets this session change
    /// phones, email, password and passkeys.
    pub reauth_seconds: i64,
    /// Email verification codes one account may have sent per hour.
    pub email_codes_per_hour: u64,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        Self {
            reauth_seconds: 300,
            email_codes_per_hour: 5,
        }
    }
}

/// `[admin]`: the admin console and API (`/admin`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Whether a passkey login opens the admin console. A digital signature (USB token, SIM or
    /// remote signature, i.e. an IAL3 login) always does; an operator who wants only
    /// signatures sets this to false.
    pub passkey_allowed: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            passkey_allowed: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeConfig {
    /// The default theme (templates, strings, static assets).
    pub dir: PathBuf,
    /// An operator's theme directory whose templates/strings override the default by name.
    pub override_dir: Option<PathBuf>,
    /// Per-client themes: each subdirectory of this folder (its name: lowercase letters,
    /// digits and `-`) is a theme of that name, whose templates and strings override the two
    /// above by name on the pages of a portal whose client names it (`theme`). Read at start.
    pub clients_dir: Option<PathBuf>,
    /// `vi` or `en`.
    pub default_locale: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Mount the simulators of external systems and the demo portal under /sandbox.
    pub enabled: bool,
    /// The simulators' identities (TOML; format in config/sandbox-seed.toml, which is also the
    /// built-in default).
    pub seed_file: Option<PathBuf>,
    /// Where the sandbox PKI keeps its CAs' keys and certificates, so certificates it issued
    /// survive a restart. The sandbox VNeID keeps its signing key here too.
    pub pki_dir: PathBuf,
    /// The `iss` of the sandbox VNeID's tokens: an internal name, not its public URL, as a
    /// Keycloak behind a proxy signs (the VNeID upstream's `issuer` must equal it).
    pub vneid_issuer: String,
}

/// `[pki]`: the trust anchors of signature certificates and how revocation is checked.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PkiConfig {
    /// PEM files of the public trust anchors (the national root, licensed CAs' roots): citizens
    /// and enterprises.
    pub public_anchors: Vec<PathBuf>,
    /// PEM files of the Government CA's anchors (Ban Cơ yếu Chính phủ): state officials.
    pub government_anchors: Vec<PathBuf>,
    /// `fail_closed` (default): a certificate whose OCSP responder and CRL are both unreachable
    /// is refused. `fail_open` accepts it (logged).
    pub revocation: RevocationPolicy,
    /// Time budget of one OCSP or CRL download, in milliseconds.
    pub ocsp_timeout_ms: u64,
    /// How old (thisUpdate, plus 5 minutes of clock skew) an OCSP answer may be when the
    /// responder did not echo the request's nonce (RFC 8954 allows it; pre-produced answers).
    /// An answer that carries a nonce must carry ours, whatever its age.
    pub ocsp_max_age_seconds: u64,
    /// Largest CMS signature, certificate chain or OCSP/CRL download accepted, in bytes.
    pub max_signature_bytes: usize,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevocationPolicy {
    FailClosed,
    FailOpen,
}

impl Default for PkiConfig {
    fn default() -> Self {
        Self {
            public_anchors: Vec::new(),
            government_anchors: Vec::new(),
            revocation: RevocationPolicy::FailClosed,
            ocsp_timeout_ms: 3000,
            ocsp_max_age_seconds: 300,
            max_signature_bytes: 256 * 1024,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: "http://localhost:8080".into(),
            mode: Mode::Development,
            max_body_bytes: 64 * 1024,
            client_cache_seconds: 30,
            shutdown_timeout_seconds: 30,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://data/xacthuc.db?mode=rwc".into(),
            max_connections: 16,
            migrate: crate::store::schema::MigrateMode::OnStart,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "xacthuc:".into(),
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            encryption_key: None,
            encryption_key_file: None,
            dev_encryption_key_path: "data/dev-key-encryption-key".into(),
            rotation_delay_seconds: 86_400,
            id_token_alg: "RS256".into(),
            access_token_alg: "ES256".into(),
            reload_seconds: 60,
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            code_ttl_seconds: 60,
            access_token_ttl_seconds: 300,
            id_token_ttl_seconds: 300,
            refresh_token_ttl_seconds: 30 * 86_400,
            sso_session_ttl_seconds: 8 * 3_600,
            authorization_request_ttl_seconds: 1_800,
            client_assertion_max_lifetime_seconds: 300,
            client_assertion_allow_token_endpoint_aud: true,
        }
    }
}

impl Default for AcrConfig {
    fn default() -> Self {
        Self {
            ial2: "IAL2".into(),
            ial3: "IAL3".into(),
        }
    }
}

impl Default for PasswordHashConfig {
    fn default() -> Self {
        Self {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_failed_logins: 5,
            failed_login_window_seconds: 900,
            max_failed_logins_per_ip: 50,
            policy: "portal".into(),
            hash_workers: 0,
            hash_queue_per_worker: 4,
        }
    }
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            ttl_seconds: 300,
            max_attempts: 5,
            resend_cooldown_seconds: 60,
            max_per_account_per_hour: 10,
            max_per_ip_per_hour: 30,
            max_sms_per_minute: 600,
            max_wrong_per_account: 20,
            wrong_memory_seconds: 86_400,
            per_phone_per_hour: OtpPerPurpose::default(),
        }
    }
}

impl OtpConfig {
    /// Every limit must let at least one code through (0 would refuse every code, which
    /// looks like an outage), and wrong codes in a row stay within NIST's 100.
    fn validate(&self) -> Result<(), String> {
        let p = &self.per_phone_per_hour;
        let at_least_one = [
            ("otp.max_attempts", self.max_attempts),
            (
                "otp.max_per_account_per_hour",
                self.max_per_account_per_hour,
            ),
            ("otp.max_per_ip_per_hour", self.max_per_ip_per_hour),
            ("otp.max_sms_per_minute", self.max_sms_per_minute),
            ("otp.per_phone_per_hour.login", p.login),
            ("otp.per_phone_per_hour.registration", p.registration),
            ("otp.per_phone_per_hour.recovery", p.recovery),
            ("otp.per_phone_per_hour.profile", p.profile),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be at least 1"));
        }
        if !(1..=100).contains(&self.max_wrong_per_account) {
            return Err("otp.max_wrong_per_account must be 1..=100 (NIST SP 800-63B)".into());
        }
        if self.wrong_memory_seconds < 1 {
            return Err("otp.wrong_memory_seconds must be at least 1".into());
        }
        Ok(())
    }
}

impl Default for OtpPerPurpose {
    fn default() -> Self {
        Self {
            login: 5,
            registration: 3,
            recovery: 3,
            profile: 3,
        }
    }
}

impl Default for ThemeConfig {
    fn default() -> Self {
        Self {
            dir: "themes/default".into(),
            override_dir: None,
            clients_dir: None,
            default_locale: "vi".into(),
        }
    }
}

/// Per-IP ceilings on what an anonymous client can make the server do (fixed windows in the
/// ephemeral store, so they hold across nodes). 0 turns a ceiling off. Behind a proxy every user
/// shares the proxy's address: raise them there.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `GET`/`POST /authorize` per client IP per minute (each stores a pending request).
    pub authorize_per_ip_per_minute: u64,
    /// Registration form submissions (`POST /register/{method}`) per client IP per hour.
    pub registrations_per_ip_per_hour: u64,
    /// "Quên mật khẩu" submissions (`POST /forgot-password`) per client IP per hour.
    pub recoveries_per_ip_per_hour: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            authorize_per_ip_per_minute: 300,
            registrations_per_ip_per_hour: 30,
            recoveries_per_ip_per_hour: 30,
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            seed_file: None,
            pki_dir: "data/sandbox-pki".into(),
            vneid_issuer: crate::connectors::federation::SANDBOX_VNEID_ISSUER.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, None)
    }

    /// [`Config::load`] with the environment given as a map (`None`: the process's), so a
    /// deployment's variables can be checked without setting them (tests/it/deploy.rs).
    pub fn load_with_env(
        file: Option<&Path>,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| match &env {
            Some(env) => env.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        let database_url = var("DATABASE_URL");
        let redis_url = var("REDIS_URL");
        let mut builder = config::Config::builder();
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            list_keys().into_iter().fold(
                config::Environment::with_prefix("XACTHUC")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .source(env),
                |env, key| env.with_list_parse_key(&key),
            ),
        );
        let mut cfg: Config = builder.build()?.try_deserialize()?;
        if let Some(url) = database_url
            && !url.is_empty()
        {
            cfg.database.url = url;
        }
        if let Some(url) = redis_url
            && !url.is_empty()
        {
            cfg.store.redis_url = url;
            cfg.store.backend = StoreBackend::Redis;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.server.public_url)
            .map_err(|e| ConfigError::Invalid(format!("server.public_url: {e}")))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "server.public_url must not have a query or fragment".into(),
            ));
        }
        for alg in [&self.keys.id_token_alg, &self.keys.access_token_alg] {
            if alg != "RS256" && alg != "ES256" {
                return Err(ConfigError::Invalid(format!(
                    "unsupported signing algorithm {alg} (RS256 or ES256)"
                )));
            }
        }
        if self.acr.ial2.is_empty() || self.acr.ial2 == self.acr.ial3 {
            return Err(ConfigError::Invalid(
                "acr.ial2 and acr.ial3 must be distinct, non-empty".into(),
            ));
        }
        if !(1..=600).contains(&self.tokens.code_ttl_seconds) {
            return Err(ConfigError::Invalid(
                "tokens.code_ttl_seconds must be 1..=600 (RFC 6749 recommends ≤ 600)".into(),
            ));
        }
        self.connectors.validate().map_err(ConfigError::Invalid)?;
        // An orchestrator waits this long for a stopping node; more than an hour is a typo.
        if !(1..=3600).contains(&self.server.shutdown_timeout_seconds) {
            return Err(ConfigError::Invalid(
                "server.shutdown_timeout_seconds must be 1..=3600".into(),
            ));
        }
        if crate::domain::PasswordPolicy::from_name(&self.passwords.policy).is_none() {
            return Err(ConfigError::Invalid(
                "passwords.policy must be portal or nist".into(),
            ));
        }
        if self.server.mode == Mode::Production {
            self.check_production(&url)?;
        }
        if !self.sandbox.enabled
            && let Some((key, _)) = self
                .connectors_in_use()
                .iter()
                .find(|(_, u)| u.trim().is_empty())
        {
            return Err(ConfigError::Invalid(format!(
                "the sandbox is off: set connectors.carrier_url, sms_url, bhxh_url and mail_url (and the signature services of the enabled login methods) to real endpoints; {key} is empty"
            )));
        }
        if let Some(m) = self
            .registration
            .methods
            .iter()
            .find(|m| *m != "mobile_subscriber" && *m != "bhxh")
        {
            return Err(ConfigError::Invalid(format!(
                "registration.methods: unknown method {m} (mobile_subscriber, bhxh)"
            )));
        }
        self.otp.validate().map_err(ConfigError::Invalid)?;
        self.federation
            .validate(
                self.login.enabled(Method::Federation),
                self.sandbox.enabled,
                self.server.mode == Mode::Production,
            )
            .map_err(ConfigError::Invalid)?;
        let worst_ms = self.connectors.timeout_ms * (u64::from(self.connectors.retries) + 1);
        if worst_ms > 20_000 {
            return Err(ConfigError::Invalid(
                "connectors.timeout_ms × (retries + 1) must stay within 20 s (requests are cut at 30 s)".into(),
            ));
        }
        if !(1..=600).contains(&self.otp.ttl_seconds) {
            return Err(ConfigError::Invalid(
                "otp.ttl_seconds must be 1..=600".into(),
            ));
        }
        if !(30..=3600).contains(&self.profile.reauth_seconds) {
            return Err(ConfigError::Invalid(
                "profile.reauth_seconds must be 30..=3600".into(),
            ));
        }
        if !(1..=86_400).contains(&self.pki.ocsp_max_age_seconds) {
            return Err(ConfigError::Invalid(
                "pki.ocsp_max_age_seconds must be 1..=86400".into(),
            ));
        }
        if self.profile.email_codes_per_hour == 0 {
            return Err(ConfigError::Invalid(
                "profile.email_codes_per_hour must be at least 1".into(),
            ));
        }
        if self.theme.default_locale != "vi" && self.theme.default_locale != "en" {
            return Err(ConfigError::Invalid(
                "theme.default_locale must be vi or en".into(),
            ));
        }
        Ok(())
    }

    /// What production refuses, each with its own message: the sandbox (it reveals captcha
    /// answers and SMS codes to anyone at `/sandbox/…`), an issuer that is not https (cookies,
    /// codes and tokens in clear; http, even to localhost, is for development only), and a
    /// connector left to the sandbox.
    fn check_production(&self, public_url: &url::Url) -> Result<(), ConfigError> {
        if self.sandbox.enabled {
            return Err(ConfigError::Invalid(
                "production mode refuses the sandbox: set sandbox.enabled = false".into(),
            ));
        }
        if public_url.scheme() != "https" {
            return Err(ConfigError::Invalid(
                "production mode needs an https server.public_url (http is for development only)"
                    .into(),
            ));
        }
        for (key, value) in self.connectors_in_use() {
            if value.trim().is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "production mode needs {key}: the real system or your adapter, never the sandbox"
                )));
            }
        }
        self.check_trust_anchors()
    }

    /// Production without the sandbox's roots: a signature method with no anchor to check its
    /// certificates against would refuse every user, so it is refused at start instead. The
    /// public set serves every signature method; the Government set the registration of state
    /// agencies (only when a method that registers them is enabled).
    fn check_trust_anchors(&self) -> Result<(), ConfigError> {
        let signing: Vec<&str> = self
            .login
            .methods
            .iter()
            .filter(|m| m.signs())
            .map(|m| m.name())
            .collect();
        if !signing.is_empty() && self.pki.public_anchors.is_empty() {
            return Err(ConfigError::Invalid(format!(
                "production mode needs pki.public_anchors (the national root and licensed CAs) for login.methods {}: no certificate could be trusted",
                signing.join(", ")
            )));
        }
        let agency = self
            .login
            .methods
            .iter()
            .find(|m| m.registers().contains(&crate::domain::SubjectType::Agency));
        if let Some(m) = agency
            && self.pki.government_anchors.is_empty()
        {
            return Err(ConfigError::Invalid(format!(
                "production mode needs pki.government_anchors (the Government CA) for {} registration of state agencies: no official's certificate could be trusted",
                m.name()
            )));
        }
        Ok(())
    }

    /// The external systems this configuration uses: the signature services only when their
    /// login methods are enabled.
    fn connectors_in_use(&self) -> Vec<(&'static str, &str)> {
        self.connectors.systems_in_use(
            self.login.enabled(Method::SimSignature),
            self.login.enabled(Method::RemoteSignature),
        )
    }

    /// The issuer: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.server.public_url.trim_end_matches('/').to_string()
    }

    /// The key-encryption key, when one is configured (value or file).
    pub fn encryption_key(&self) -> Result<Option<SecretString>, ConfigError> {
        if let Some(key) = &self.keys.encryption_key
            && !key.expose_secret().is_empty()
        {
            return Ok(Some(key.clone()));
        }
        if let Some(path) = &self.keys.encryption_key_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::Invalid(format!("keys.encryption_key_file {}: {e}", path.display()))
            })?;
            return Ok(Some(SecretString::from(text.trim().to_string())));
        }
        Ok(None)
    }
}

/// Keys whose environment value is a comma-separated list
/// (`XACTHUC__LOGIN__METHODS=password,passkey`; an empty value is an empty list).
fn list_keys() -> Vec<String> {
    let mut keys = vec![
        "registration.methods".to_string(),
        "login.methods".to_string(),
        "introspection.resource_servers".to_string(),
    ];
    keys.extend(
        Method::ALL
            .iter()
            .map(|m| format!("login.then.{}", m.name())),
    );
    keys
}

/// Method names in configuration: known names only, blanks ignored (an empty environment value
/// is an empty list).
mod method_names {
    use std::collections::BTreeMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    use crate::authenticators::method::Method;

    fn parse<E: Error>(names: Vec<String>) -> Result<Vec<Method>, E> {
        names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(|n| {
                Method::parse(n).ok_or_else(|| {
                    E::custom(format!(
                        "unknown login method {n} (password, sms_otp, passkey)"
                    ))
                })
            })
            .collect()
    }

    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Method>, D::Error> {
        parse(Vec::<String>::deserialize(d)?)
    }

    pub fn table<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Method, Vec<Method>>, D::Error> {
        BTreeMap::<String, Vec<String>>::deserialize(d)?
            .into_iter()
            .map(|(first, then)| {
                let first = parse(vec![first])?
                    .pop()
                    .ok_or_else(|| D::Error::custom("an empty login method name"))?;
                Ok((first, parse(then)?))
            })
            .collect()
    }
}

/// Serde for `Option<SecretString>` that treats an empty string as absent.
mod secret_opt {
    use secrecy::SecretString;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        Ok(s.filter(|s| !s.is_empty()).map(SecretString::from))
    }
}

// SecretString has no PartialEq on purpose; the config test compares the exposed value.
impl PartialEq for KeysConfig {
    fn eq(&self, other: &Self) -> bool {
        let secret = |k: &Option<SecretString>| k.as_ref().map(|s| s.expose_secret().to_string());
        secret(&self.encryption_key) == secret(&other.encryption_key)
            && self.encryption_key_file == other.encryption_key_file
            && self.dev_encryption_key_path == other.dev_encryption_key_path
            && self.rotation_delay_seconds == other.rotation_delay_seconds
            && self.id_token_alg == other.id_token_alg
            && self.access_token_alg == other.access_token_alg
            && self.reload_seconds == other.reload_seconds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A production configuration that passes, for the tests to break one rule at a time.
    fn production() -> Config {
        let mut cfg = Config::default();
        cfg.server.mode = Mode::Production;
        cfg.server.public_url = "https://id.example.gov.vn".into();
        cfg.sandbox.enabled = false;
        cfg.connectors.carrier_url = "https://carrier.example.vn".into();
        cfg.connectors.sms_url = "https://sms.example.vn".into();
        cfg.connectors.bhxh_url = "https://bhxh.example.vn".into();
        cfg.connectors.mail_url = "https://mail.example.vn".into();
        cfg.connectors.mobile_signature_url = "https://mssp.example.vn".into();
        cfg.federation.upstreams[0].discovery_url =
            "https://vneid.example.vn/.well-known/openid-configuration".into();
        cfg.connectors.remote_signature_url = "https://csc.example.vn/csc/v2".into();
        cfg.pki.public_anchors = vec!["/etc/xacthuc/public-anchors.pem".into()];
        cfg.pki.government_anchors = vec!["/etc/xacthuc/government-anchors.pem".into()];
        cfg
    }

    fn refusal(cfg: &Config) -> String {
        match cfg.validate() {
            Err(ConfigError::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn production_starts_with_https_real_connectors_and_no_sandbox() {
        production().validate().unwrap();
    }

    #[test]
    fn production_refuses_the_sandbox() {
        let mut cfg = production();
        cfg.sandbox.enabled = true;
        assert!(refusal(&cfg).contains("sandbox.enabled = false"));
    }

    #[test]
    fn production_refuses_signature_methods_without_their_trust_anchors() {
        let mut cfg = production();
        cfg.pki.public_anchors.clear();
        let why = refusal(&cfg);
        assert!(why.contains("pki.public_anchors"), "{why}");
        assert!(
            why.contains("usb_token, sim_signature, remote_signature"),
            "{why}"
        );
        // Without the signature methods, no anchor is needed.
        cfg.login.methods = vec![Method::Password, Method::Passkey];
        cfg.validate().unwrap();
        // The Government set: only while a method registers state agencies (the USB token).
        let mut cfg = production();
        cfg.pki.government_anchors.clear();
        let why = refusal(&cfg);
        assert!(why.contains("pki.government_anchors"), "{why}");
        assert!(why.contains("usb_token"), "{why}");
        cfg.login.methods = vec![Method::Password, Method::SimSignature];
        cfg.validate().unwrap();
        // Development trusts the sandbox's roots: nothing to configure.
        let mut cfg = production();
        cfg.pki = PkiConfig::default();
        cfg.server.mode = Mode::Development;
        cfg.validate().unwrap();
    }

    #[test]
    fn production_refuses_an_http_issuer_even_on_localhost() {
        for url in ["http://id.example.gov.vn", "http://localhost:8080"] {
            let mut cfg = production();
            cfg.server.public_url = url.into();
            assert!(refusal(&cfg).contains("https server.public_url"), "{url}");
        }
        // Development keeps plain http.
        let mut cfg = production();
        cfg.server.mode = Mode::Development;
        cfg.server.public_url = "http://localhost:8080".into();
        cfg.validate().unwrap();
    }

    #[test]
    fn production_refuses_an_empty_connector_url() {
        for key in [
            "carrier",
            "sms",
            "bhxh",
            "mail",
            "mobile_signature",
            "remote_signature",
        ] {
            let mut cfg = production();
            let c = &mut cfg.connectors;
            match key {
                "carrier" => c.carrier_url = " ".into(),
                "sms" => c.sms_url = String::new(),
                "mail" => c.mail_url = String::new(),
                "mobile_signature" => c.mobile_signature_url = String::new(),
                "remote_signature" => c.remote_signature_url = String::new(),
                _ => c.bhxh_url = String::new(),
            }
            assert!(
                refusal(&cfg).contains(&format!("production mode needs connectors.{key}_url")),
                "{key}"
            );
        }
    }

    /// NIST SP 800-63B allows at most 100 wrong codes in a row; a limit of 0 would refuse
    /// every code.
    #[test]
    fn otp_limits_are_checked() {
        let mut cfg = Config::default();
        assert!(cfg.validate().is_ok());
        cfg.otp.max_wrong_per_account = 101;
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("otp.max_wrong_per_account"), "{e}");
        cfg.otp.max_wrong_per_account = 100;
        cfg.otp.per_phone_per_hour.profile = 0;
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("otp.per_phone_per_hour.profile"), "{e}");
    }

    /// Lists are overridable from the environment too (⚓ every key is).
    #[test]
    fn lists_come_from_the_environment_comma_separated() {
        // SAFETY: this test alone sets these variables, and no other test reads them.
        unsafe {
            std::env::set_var("XACTHUC__LOGIN__METHODS", "passkey,password");
            std::env::set_var("XACTHUC__LOGIN__THEN__PASSWORD", "");
            std::env::set_var("XACTHUC__REGISTRATION__METHODS", "bhxh");
        }
        let cfg = Config::load(None);
        unsafe {
            std::env::remove_var("XACTHUC__LOGIN__METHODS");
            std::env::remove_var("XACTHUC__LOGIN__THEN__PASSWORD");
            std::env::remove_var("XACTHUC__REGISTRATION__METHODS");
        }
        let cfg = cfg.unwrap();
        assert_eq!(cfg.login.methods, [Method::Passkey, Method::Password]);
        assert_eq!(cfg.login.then(Method::Password), &[] as &[Method]);
        assert_eq!(cfg.registration.methods, ["bhxh"]);
    }
}

/// `[usb_token]`: "USB ký số", the login with a token's certificate through the local signing
/// agent (`xacthuc-signer`, `docs/signer.md`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UsbTokenConfig {
    /// The agent's origin on the user's computer; the login page's script calls it, and its
    /// CSP `connect-src` allows it (the agent's default port is 14789).
    pub agent_url: String,
    /// Where the login page sends people who do not have the agent yet (its installers); empty:
    /// the page only explains how to start it.
    pub download_url: String,
}

impl Default for UsbTokenConfig {
    fn default() -> Self {
        Self {
            agent_url: "http://127.0.0.1:14789".into(),
            download_url: String::new(),
        }
    }
}

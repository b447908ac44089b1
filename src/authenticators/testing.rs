//! For the methods' unit tests: the services of [`Ctx`] on an in-memory SQLite database and
//! an in-process store, the app clock (advanced by hand), and connectors that answer from
//! memory and keep the SMS sent, so a step's logic is tested without a server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::Ctx;
use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::connectors::{
    BhxhRecord, BhxhRegistry, CarrierClient, ConnectorError, Connectors, MailGateway, SmsGateway,
    SubscriberCheck, SubscriberQuery,
};
use crate::domain::{Account, Ial, SubjectType};
use crate::hashing::Hasher;
use crate::metrics::Metrics;
use crate::store::ephemeral::{Attempt, EphemeralError, EphemeralStore, MemoryStore};
use crate::store::{Database, NewAccount};

pub const PASSWORD: &str = "Aa@123456";

/// The SMS that were sent, newest last.
#[derive(Default)]
pub struct Outbox(Mutex<Vec<(String, String)>>);

#[async_trait]
impl SmsGateway for Outbox {
    async fn send(&self, to_e164: &str, text: &str) -> Result<(), ConnectorError> {
        if let Ok(mut sent) = self.0.lock() {
            sent.push((to_e164.to_string(), text.to_string()));
        }
        Ok(())
    }
}

/// The emails that were sent (to, subject, text), newest last.
#[derive(Default)]
pub struct Mailbox(pub Mutex<Vec<(String, String, String)>>);

#[async_trait]
impl MailGateway for Mailbox {
    async fn send(&self, to: &str, subject: &str, text: &str) -> Result<(), ConnectorError> {
        if let Ok(mut sent) = self.0.lock() {
            sent.push((to.to_string(), subject.to_string(), text.to_string()));
        }
        Ok(())
    }
}

/// A carrier and a registry that know nobody (the registration methods have their own tests).
struct Nobody;

#[async_trait]
impl CarrierClient for Nobody {
    async fn check_subscriber(
        &self,
        _: &SubscriberQuery,
    ) -> Result<SubscriberCheck, ConnectorError> {
        Ok(SubscriberCheck::UnknownNumber)
    }
}

#[async_trait]
impl BhxhRegistry for Nobody {
    async fn lookup(&self, _: &str) -> Result<Option<BhxhRecord>, ConnectorError> {
        Ok(None)
    }
}

#[async_trait]
impl crate::connectors::MobileSignatureService for Nobody {
    async fn request_signature(
        &self,
        _: &crate::connectors::mobile_signature::SignatureRequest,
    ) -> Result<crate::connectors::mobile_signature::Requested, ConnectorError> {
        use crate::connectors::mobile_signature::{MssRefusal, Requested};
        Ok(Requested::Refused(MssRefusal::UnknownUser))
    }

    async fn status(
        &self,
        _: &str,
    ) -> Result<crate::connectors::mobile_signature::MssStatus, ConnectorError> {
        use crate::connectors::mobile_signature::{MssRefusal, MssStatus};
        Ok(MssStatus::Refused(MssRefusal::UnknownUser))
    }
}

#[async_trait]
impl crate::connectors::RemoteSignatureService for Nobody {
    async fn credentials(&self, _: &str) -> Result<Vec<String>, ConnectorError> {
        Ok(Vec::new())
    }

    async fn credential_info(
        &self,
        _: &str,
    ) -> Result<crate::connectors::remote_signature::CredentialInfo, ConnectorError> {
        Err(ConnectorError::Malformed("nobody: no credentials".into()))
    }

    async fn sign_hash(
        &self,
        _: &crate::connectors::remote_signature::SignHashRequest,
    ) -> Result<String, ConnectorError> {
        Err(ConnectorError::Malformed("nobody: no credentials".into()))
    }

    async fn sign_status(
        &self,
        _: &str,
    ) -> Result<crate::connectors::remote_signature::SignStatus, ConnectorError> {
        Ok(crate::connectors::remote_signature::SignStatus::Expired)
    }
}

/// A store that yields to the scheduler before each operation, as a networked store (Redis)
/// does, so futures run together interleave between the operations of a check: a test of a
/// limit under contention then fails on code that checks, then counts.
pub struct Yielding<'a>(pub &'a dyn EphemeralStore);

#[async_trait]
impl EphemeralStore for Yielding<'_> {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), EphemeralError> {
        tokio::task::yield_now().await;
        self.0.put(key, value, ttl).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.put_if_absent(key, value, ttl).await
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.take(key).await
    }
    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.compare_and_delete(key, expected).await
    }
    async fn delete(&self, key: &str) -> Result<(), EphemeralError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.increment(key, ttl).await
    }
    async fn take_attempt(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Attempt, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.take_attempt(key, limit, ttl).await
    }
    async fn give_back(&self, key: &str) -> Result<(), EphemeralError> {
        tokio::task::yield_now().await;
        self.0.give_back(key).await
    }
    async fn count(&self, key: &str) -> Result<u64, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.count(key).await
    }
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.get_many(keys).await
    }
    async fn exists_any(&self, keys: &[String]) -> Result<bool, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.exists_any(keys).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, EphemeralError> {
        tokio::task::yield_now().await;
        self.0.compare_and_swap(key, expected, value, ttl).await
    }
    async fn ping(&self) -> Result<(), EphemeralError> {
        self.0.ping().await
    }
}

pub struct Harness {
    pub db: Database,
    pub store: MemoryStore,
    pub clock: Clock,
    pub config: Config,
    pub connectors: Connectors,
    pub outbox: Arc<Outbox>,
    pub audit: Audit,
    pub metrics: Metrics,
    pub hasher: Hasher,
    pub mailbox: Arc<Mailbox>,
    /// A PKI with no trust anchors (tests of signature methods add their own).
    pub pki: crate::pki::Pki,
    pub upstreams: crate::connectors::federation::Upstreams,
}

impl Harness {
    pub async fn new() -> Self {
        // The PKI's HTTP client (OCSP, CRL) is reqwest on rustls without a built-in provider.
        crate::app::install_crypto_provider();
        let clock = Clock::system();
        let mut config = Config::default();
        config.passwords.argon2_memory_kib = 1024;
        config.passwords.argon2_iterations = 1;
        let outbox = Arc::new(Outbox::default());
        let db = Database::connect("sqlite::memory:", 1)
            .await
            .expect("in-memory database");
        let mailbox = Arc::new(Mailbox::default());
        Self {
            audit: Audit::new(db.clone(), clock.clone()),
            metrics: Metrics::default(),
            db,
            store: MemoryStore::new(clock.clone()),
            connectors: Connectors {
                carrier: Arc::new(Nobody),
                sms: outbox.clone(),
                bhxh: Arc::new(Nobody),
                mail: mailbox.clone(),
                mobile_signature: Arc::new(Nobody),
                remote_signature: Arc::new(Nobody),
            },
            hasher: Hasher::new(&config.passwords),
            pki: crate::pki::Pki::new(&config.pki, test_http_client(), &[])
                .expect("a PKI without anchors"),
            upstreams: crate::connectors::federation::Upstreams::new(
                &config.federation,
                &config.issuer(),
                test_http_client(),
                Default::default(),
            ),
            clock,
            config,
            outbox,
            mailbox,
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            db: &self.db,
            store: &self.store,
            clock: &self.clock,
            config: &self.config,
            connectors: &self.connectors,
            hasher: &self.hasher,
            sms_template: "Ma xac thuc: {code} ({minutes} phut)".into(),
            ip: "192.0.2.1".into(),
            audit: &self.audit,
            metrics: &self.metrics,
            pki: &self.pki,
            upstreams: &self.upstreams,
        }
    }

    /// Moves the shared clock forward (codes, challenges and counters expire on it).
    pub fn advance(&self, secs: u64) {
        self.clock.advance(std::time::Duration::from_secs(secs));
    }

    /// The code in the newest SMS to `phone`.
    pub fn last_code(&self, phone: &str) -> String {
        let sent = self.outbox.0.lock().map(|s| s.clone()).unwrap_or_default();
        let (_, text) = sent
            .iter()
            .rev()
            .find(|(to, _)| to == phone)
            .expect("an SMS to this phone");
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_string()
    }

    pub fn sms_count(&self) -> usize {
        self.outbox.0.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// A citizen with password [`PASSWORD`] and these verified phones (first = default).
    pub async fn account(&self, id_number: &str, phones: &[&str]) -> Account {
        let hash = super::password::hash(&self.config.passwords, PASSWORD).expect("hash");
        self.db
            .create_account(
                &NewAccount {
                    subject_type: SubjectType::Citizen,
                    id_number: Some(id_number.into()),
                    tax_code: None,
                    full_name: "Nguyễn Văn An".into(),
                    birthdate: chrono::NaiveDate::from_ymd_opt(1990, 6, 12),
                    email: None,
                    ial: Ial::Ial2,
                    registration_method: "test".into(),
                    phones: phones.iter().map(|p| p.to_string()).collect(),
                    password_hash: Some(hash),
                },
                self.clock.now(),
            )
            .await
            .expect("account")
    }
}

/// Form input as a page would post it.
pub fn input(pairs: &[(&str, &str)]) -> crate::oidc::params::Params {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    crate::oidc::params::Params::parse(body.as_bytes()).expect("form")
}

/// An HTTP client for tests without an `App`: reqwest is built without a TLS provider of its
/// own, so ring is installed first (as `App::build` does).
pub fn test_http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

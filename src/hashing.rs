//! Argon2id on a bounded pool of worker threads.
//!
//! Each Argon2id run needs its memory cost in RAM (19 MiB by default). Run on a blocking thread
//! per request, a burst of logins grows memory without bound (256 concurrent logins held 12 GB)
//! and gets slower, not faster. Here a fixed number of workers (`passwords.hash_workers`, one per
//! core by default) each keep one Argon2 memory block and reuse it, so the memory is bounded by
//! workers × memory cost. At most `passwords.hash_queue_per_worker` jobs per worker wait; one
//! more is refused at once with [`HashError::Busy`], which the pages show as "busy, try again"
//! (503 + `Retry-After`). A caller takes its place ([`Hasher::reserve`]) before the work that
//! leads to a hash, so a refusal costs little and a burst beyond capacity is answered fast
//! instead of piling up.
//!
//! Admission counts jobs (running + waiting) rather than channel slots, so capacity is exactly
//! `workers × (1 + queue per worker)` whether or not a worker has picked its job up yet.
//!
//! Passwords are hashed and checked in Unicode NFC: "ậ" typed on one keyboard as one code point
//! and on another as "a" + two combining marks is the same password. A hash made before this
//! rule (of the password as typed) still matches once ([`Match::AsTyped`]), for the caller to
//! replace; the second computation runs only when the typed form is not NFC — for unknown users
//! too ([`Slot::decoy`]) — so the time taken says nothing about the account.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Version};
use tokio::sync::oneshot;
use unicode_normalization::{UnicodeNormalization, is_nfc};

use crate::config::PasswordHashConfig;

/// What a "busy" answer asks the browser to wait (`Retry-After`): a full queue drains in well
/// under a second.
pub const RETRY_AFTER_SECONDS: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every worker is busy and the queue is full: try again in a moment.
    #[error("password hashing is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// What a worker is asked to do.
enum Work {
    Hash(String),
    Verify {
        stored: String,
        password: String,
    },
    /// The cost of a verification without an account: unknown users take as long as known ones.
    Decoy(String),
}

enum Done {
    Hashed(String),
    Verified(Match),
}

/// How a typed password matched a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    No,
    Yes,
    /// Only as typed, not in NFC: a hash from before passwords were normalised, to replace.
    AsTyped,
}

/// A password as it is hashed: its NFC form.
fn normalized(password: &str) -> String {
    password.nfc().collect()
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Result<Done, HashError>>,
}

/// The pool. Dropping it (with the app) ends its workers.
pub struct Hasher {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Jobs admitted and not yet answered (running or waiting).
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

impl Hasher {
    /// Starts the workers: `hash_workers` of them (0 = one per available core), with room for
    /// `hash_queue_per_worker` waiting jobs each.
    pub fn new(cfg: &PasswordHashConfig) -> Self {
        let workers = match cfg.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let admitted = Arc::new(AtomicUsize::new(0));
        let params = params(cfg);
        for i in 0..workers {
            let (rx, admitted, params) = (rx.clone(), admitted.clone(), params.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx, &admitted, &params));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password-hashing worker");
            }
        }
        Self {
            jobs: Mutex::new(tx),
            admitted,
            capacity: workers * (1 + cfg.hash_queue_per_worker),
        }
    }

    /// A place in the pool, or [`HashError::Busy`] at once. Taking it before the work that
    /// leads to a hash (database lookups) keeps a refused request cheap; an unused place is
    /// given back when dropped.
    pub fn reserve(&self) -> Result<Slot<'_>, HashError> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map_err(|_| HashError::Busy)?;
        Ok(Slot {
            hasher: self,
            handed_over: false,
        })
    }

    /// An Argon2id PHC string for `password`, with the configured parameters.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.reserve()?.hash(password).await
    }

    /// Whether `password` matches the PHC string `stored` (in NFC, or an old hash as typed).
    pub async fn verify(&self, stored: &str, password: &str) -> Result<bool, HashError> {
        self.reserve()?.verify(stored, password).await
    }

    /// How `password` matches the PHC string `stored`.
    pub async fn check(&self, stored: &str, password: &str) -> Result<Match, HashError> {
        self.reserve()?.check(stored, password).await
    }
}

/// A reserved place in the pool: one job may run on it.
pub struct Slot<'a> {
    hasher: &'a Hasher,
    /// The job was sent: its worker gives the place back when done.
    handed_over: bool,
}

impl Slot<'_> {
    /// An Argon2id PHC string for `password`, with the configured parameters.
    pub async fn hash(self, password: &str) -> Result<String, HashError> {
        match self.run(Work::Hash(password.to_string())).await? {
            Done::Hashed(phc) => Ok(phc),
            Done::Verified(_) => Err(HashError::Failed("unexpected answer".into())),
        }
    }

    /// Whether `password` matches the PHC string `stored` (its own parameters, constant-time
    /// comparison), in NFC or, for an old hash, as typed.
    pub async fn verify(self, stored: &str, password: &str) -> Result<bool, HashError> {
        Ok(self.check(stored, password).await? != Match::No)
    }

    /// How `password` matches the PHC string `stored`: see [`Match`].
    pub async fn check(self, stored: &str, password: &str) -> Result<Match, HashError> {
        let work = Work::Verify {
            stored: stored.to_string(),
            password: password.to_string(),
        };
        match self.run(work).await? {
            Done::Verified(m) => Ok(m),
            Done::Hashed(_) => Err(HashError::Failed("unexpected answer".into())),
        }
    }

    /// Spends what [`Slot::verify`] spends on a current hash, for a login name without an
    /// account or password, so timing does not tell which names exist.
    pub async fn decoy(self, password: &str) -> Result<(), HashError> {
        self.run(Work::Decoy(password.to_string()))
            .await
            .map(|_| ())
    }

    async fn run(mut self, work: Work) -> Result<Done, HashError> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .hasher
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Job { work, reply });
        if sent.is_err() {
            return Err(HashError::Failed("no hashing worker".into()));
        }
        self.handed_over = true;
        // A worker answers every job it takes; a dropped reply means the worker died.
        answer
            .await
            .map_err(|_| HashError::Failed("hashing worker stopped".into()))?
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.handed_over {
            self.hasher.admitted.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// One worker: takes jobs until the pool is dropped, reusing one memory block (grown for a
/// stored hash with a larger memory cost, and shrunk back after it).
fn worker(jobs: &Mutex<mpsc::Receiver<Job>>, admitted: &AtomicUsize, params: &argon2::Params) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else {
            return;
        };
        let done = match job.work {
            Work::Hash(password) => {
                hash_with(&mut memory, params, &normalized(&password)).map(Done::Hashed)
            }
            Work::Verify { stored, password } => {
                Ok(Done::Verified(check_with(&mut memory, &stored, &password)))
            }
            Work::Decoy(password) => {
                // What a check of a non-NFC password costs: two computations.
                let _ = hash_with(&mut memory, params, &password);
                if !is_nfc(&password) {
                    let _ = hash_with(&mut memory, params, &password);
                }
                Ok(Done::Verified(Match::No))
            }
        };
        if memory.len() > params.block_count() {
            memory.truncate(params.block_count());
            memory.shrink_to_fit();
        }
        // Free the slot before answering, so a caller that sees the answer can be admitted again.
        admitted.fetch_sub(1, Ordering::AcqRel);
        let _ = job.reply.send(done);
    }
}

fn params(cfg: &PasswordHashConfig) -> argon2::Params {
    argon2::Params::new(
        cfg.argon2_memory_kib,
        cfg.argon2_iterations,
        cfg.argon2_parallelism,
        None,
    )
    .unwrap_or_default()
}

/// The first `n` blocks of the worker's memory, growing it if needed.
fn blocks(memory: &mut Vec<Block>, n: usize) -> &mut [Block] {
    if memory.len() < n {
        memory.resize(n, Block::new());
    }
    &mut memory[..n]
}

fn hash_with(
    memory: &mut Vec<Block>,
    params: &argon2::Params,
    password: &str,
) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let salt = crate::random::bytes::<16>();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Checks `password` in NFC, then — only when the typed form is not NFC — as typed.
fn check_with(memory: &mut Vec<Block>, stored: &str, password: &str) -> Match {
    if verify_with(memory, stored, &normalized(password)) {
        Match::Yes
    } else if !is_nfc(password) && verify_with(memory, stored, password) {
        Match::AsTyped
    } else {
        Match::No
    }
}

/// Recomputes the hash with the stored parameters and salt, and compares in constant time
/// (`Output`'s equality is constant-time).
fn verify_with(memory: &mut Vec<Block>, stored: &str, password: &str) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&phc) else {
        return false;
    };
    let n = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks(memory, n))
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == *expected)
}

/// One hash outside the pool, on the calling thread (the CLI's `account add`, test set-up).
pub fn hash_once(cfg: &PasswordHashConfig, password: &str) -> Result<String, HashError> {
    hash_with(&mut Vec::new(), &params(cfg), &normalized(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(workers: usize, queue: usize) -> PasswordHashConfig {
        PasswordHashConfig {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            hash_workers: workers,
            hash_queue_per_worker: queue,
            ..PasswordHashConfig::default()
        }
    }

    #[tokio::test]
    async fn hashes_verify_here_and_with_the_argon2_crate() {
        let pool = Hasher::new(&small(1, 1));
        let phc = pool.hash("Mật khẩu@1").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(pool.verify(&phc, "Mật khẩu@1").await.unwrap());
        assert!(!pool.verify(&phc, "Mật khẩu@2").await.unwrap());
        assert!(!pool.verify("not a hash", "x").await.unwrap());
        // The crate's own verifier agrees, and hashes it made (other parameters) verify here.
        use argon2::PasswordVerifier;
        assert!(
            Argon2::default()
                .verify_password(
                    b"M\xe1\xba\xadt kh\xe1\xba\xa9u@1",
                    &PasswordHash::new(&phc).unwrap()
                )
                .is_ok()
        );
        let other = hash_once(&small(1, 1), "x").unwrap();
        assert!(pool.verify(&other, "x").await.unwrap());
        let bigger = PasswordHashConfig {
            argon2_memory_kib: 2048,
            argon2_iterations: 2,
            ..small(1, 1)
        };
        let old = hash_once(&bigger, "x").unwrap();
        assert!(
            pool.verify(&old, "x").await.unwrap(),
            "a larger memory cost"
        );
        assert!(pool.verify(&phc, "Mật khẩu@1").await.unwrap(), "and back");
        pool.reserve().unwrap().decoy("x").await.unwrap();
    }

    /// One worker and a queue of one: two jobs are admitted (one runs, one waits), the third is
    /// refused at once; when they are done, there is room again.
    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = Arc::new(Hasher::new(&PasswordHashConfig {
            argon2_memory_kib: 16 * 1024,
            argon2_iterations: 2,
            ..small(1, 1)
        }));
        let running: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash("x").await })
            })
            .collect();
        // Both are admitted before either can finish (admission is counted, not scheduled).
        while pool.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.hash("x").await, Err(HashError::Busy)));
        assert!(matches!(
            pool.verify("$argon2id$", "x").await,
            Err(HashError::Busy)
        ));
        for job in running {
            assert!(job.await.unwrap().is_ok());
        }
        assert!(pool.hash("x").await.is_ok(), "room again");
        // A reserved place counts until it is used or dropped.
        let (a, b) = (pool.reserve().unwrap(), pool.reserve().unwrap());
        assert!(matches!(pool.reserve(), Err(HashError::Busy)));
        drop(a);
        assert!(b.verify("not a hash", "x").await.is_ok());
        assert_eq!(pool.admitted.load(Ordering::Acquire), 0);
    }
}

//! The password database: argon2id hashes (OWASP parameters: 19 MiB, t=2,
//! p=1), computed on a pool of their own so a burst of logins never stalls
//! discovery or token requests on the async workers.

use super::{BoxFuture, PasswordCheck, PasswordCheckError, PasswordConnector};
use crate::model::ValidationError;
use crate::model::connection::{ConnectionOptions, PasswordPolicy};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::mpsc::RecvTimeoutError;

/// The hasher of new passwords (the bench measures it alone too).
pub fn argon2id() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    /// Every hashing slot is taken and the queue is full: retry shortly.
    #[error("too many password hashes in progress")]
    Busy,
}

impl PasswordError {
    /// What a client refused with [`PasswordError::Busy`] is told to wait.
    pub const RETRY_AFTER_SECS: i64 = 1;
}

/// Bounds the password hashes computed at once: each argon2id hash takes
/// 19 MiB and a core for ~20 ms, so running more at a time than there are
/// cores only adds memory (a burst of 90 sign-ups held 1.6 GB). The hashes
/// run on the pool's own threads, one per slot: on the blocking pool each
/// new thread kept its 19 MiB in its own allocator arena (600 MB after 90
/// sign-ups even with two at a time). Their memory is reused while hashes
/// keep coming and freed [`RELEASE_MEMORY_AFTER`] the last one (kept, it
/// was 19 MiB a thread for the process's life). Up to `max_queued` more
/// wait for a slot; beyond that a hash is refused with
/// [`PasswordError::Busy`] rather than queued without end.
#[derive(Debug)]
pub struct HashingPool {
    slots: tokio::sync::Semaphore,
    queued: std::sync::atomic::AtomicUsize,
    max_queued: usize,
    /// Hashes refused with [`PasswordError::Busy`] (for the metrics).
    busy_refusals: std::sync::atomic::AtomicU64,
    jobs: std::sync::mpsc::Sender<HashJob>,
}

type HashJob = Box<dyn FnOnce() + Send>;

/// How long the hashing threads keep their argon2 memory after the last
/// hash: long enough for a steady trickle of logins to reuse it (allocating
/// and faulting in 19 MiB costs a few milliseconds a hash), short enough
/// that an idle server holds none of it.
pub const RELEASE_MEMORY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl HashingPool {
    pub fn new(slots: usize, max_queued: usize) -> Self {
        let slots = slots.max(1);
        let (jobs, receiver) = std::sync::mpsc::channel::<HashJob>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..slots {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held while waiting for a job and
                        // released before running it, so the threads take
                        // turns waiting and hash side by side. The waiting
                        // thread frees the argon2 memory once no hash came
                        // for a while (the others are hashing or waiting
                        // for the lock). It always waits with a timeout: a
                        // thread that found no memory held may be waiting
                        // while another, just done hashing, returns its
                        // buffer.
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv_timeout(RELEASE_MEMORY_AFTER),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(RecvTimeoutError::Timeout) => ARGON2_MEMORY.release_spare(),
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password-hashing thread");
            }
        }
        HashingPool {
            slots: tokio::sync::Semaphore::new(slots),
            queued: std::sync::atomic::AtomicUsize::new(0),
            max_queued,
            busy_refusals: std::sync::atomic::AtomicU64::new(0),
            jobs,
        }
    }

    /// Runs `hash` on one of the pool's threads once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        hash: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        use std::sync::atomic::Ordering;
        let _slot = match self.slots.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                if self.queued.fetch_add(1, Ordering::SeqCst) >= self.max_queued {
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    self.busy_refusals.fetch_add(1, Ordering::Relaxed);
                    return Err(PasswordError::Busy);
                }
                let acquired = self.slots.acquire().await;
                self.queued.fetch_sub(1, Ordering::SeqCst);
                acquired.map_err(|_| PasswordError::Busy)?
            }
        };
        let (done, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(hash());
            }))
            .map_err(|_| PasswordError::Hash("the hashing threads have stopped".into()))?;
        result
            .await
            .map_err(|_| PasswordError::Hash("a hashing thread failed".into()))
    }
}

impl HashingPool {
    /// How many hashes wait for a slot now, and how many were refused.
    pub fn usage(&self) -> HashingUsage {
        use std::sync::atomic::Ordering;
        HashingUsage {
            queued: self.queued.load(Ordering::Relaxed),
            busy_refusals: self.busy_refusals.load(Ordering::Relaxed),
        }
    }
}

/// The hashing pool's queue and refusals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingUsage {
    pub queued: usize,
    pub busy_refusals: u64,
}

/// The process's hashing pool's usage (for the metrics).
pub fn hashing_pool_usage() -> HashingUsage {
    hashing_pool().usage()
}

/// The process's hashing pool: a slot (and thread) per core, and a queue
/// of 64 hashes per core (about a second of work) before refusing.
fn hashing_pool() -> &'static HashingPool {
    static POOL: std::sync::OnceLock<HashingPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        HashingPool::new(cores, cores * 64)
    })
}

/// A verifier hash no password matches, so that an unknown email costs as
/// much as a wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3dpdGNoeWFyZC1kdW1teQ$Xq0mV5hHhxx8u0VnJ3RCoX1mXlJbI8PTcXn9U3u7v4w";

/// The users of one database connection, with their password hashes.
pub struct PasswordDatabase<'a> {
    store: &'a crate::store::Store,
    connection_id: &'a str,
}

impl<'a> PasswordDatabase<'a> {
    pub fn new(store: &'a crate::store::Store, connection_id: &'a str) -> Self {
        PasswordDatabase {
            store,
            connection_id,
        }
    }
}

impl PasswordConnector for PasswordDatabase<'_> {
    fn check<'a>(
        &'a self,
        email: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<PasswordCheck, PasswordCheckError>> {
        Box::pin(async move {
            let found = self
                .store
                .find_password_user(self.connection_id, email)
                .await?;
            let (stored_hash, user) = match found {
                Some((user, Some(hash))) => (hash, Some(user.user)),
                _ => (DUMMY_HASH.to_owned(), None),
            };
            let verified = verify_password(password.to_owned(), stored_hash).await?;
            Ok(match (verified, user) {
                (true, Some(user)) if !user.blocked => PasswordCheck::Valid(Box::new(user)),
                (true, Some(_)) => PasswordCheck::Blocked,
                (false, Some(_)) => PasswordCheck::WrongPassword,
                (_, None) => PasswordCheck::UnknownUser,
            })
        })
    }
}

/// Hashes `password` off the async runtime, within the hashing pool.
pub async fn hash_password(password: String) -> Result<String, PasswordError> {
    hashing_pool()
        .run(move || hash_with_reused_memory(password.as_bytes()))
        .await?
}

/// Verifies `password` against a stored PHC hash, off the async runtime
/// and within the hashing pool. A malformed stored hash verifies nothing.
pub async fn verify_password(password: String, stored_hash: String) -> Result<bool, PasswordError> {
    hashing_pool()
        .run(move || verify_with_reused_memory(password.as_bytes(), &stored_hash))
        .await
}

/// The argon2 memory (19 MiB a hash) of the hashes in progress, and of
/// those just finished, kept for the next ones: at most one a hashing
/// thread, all freed by [`ArgonMemory::release_spare`] when hashing stops.
struct ArgonMemory {
    spare: std::sync::Mutex<Vec<Vec<Block>>>,
    /// Spare and in use.
    allocated: std::sync::atomic::AtomicUsize,
}

static ARGON2_MEMORY: ArgonMemory = ArgonMemory::new();

/// The capacity reserved for argon2's memory (the blocks beyond those in
/// use are never touched, so they take no RSS): more than 32 MiB, glibc's
/// highest dynamic mmap threshold on 64-bit (mallopt(3)), so glibc maps
/// each allocation on its own and unmaps it when freed. 19 MiB allocations
/// raised the threshold past themselves when first freed, and from then on
/// came from the thread's arena, which kept them for the process's life.
const ALWAYS_MAPPED_BLOCKS: usize = 33 * 1024 * 1024 / Block::SIZE;

impl ArgonMemory {
    const fn new() -> Self {
        ArgonMemory {
            spare: std::sync::Mutex::new(Vec::new()),
            allocated: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `blocks` blocks, spare or new. Their contents do not matter: argon2
    /// writes every block before reading it.
    fn take(&self, blocks: usize) -> Vec<Block> {
        use std::sync::atomic::Ordering;
        let spare = self.spare.lock().ok().and_then(|mut spare| spare.pop());
        let mut memory = spare.unwrap_or_else(|| {
            self.allocated.fetch_add(1, Ordering::SeqCst);
            Vec::new()
        });
        if memory.len() != blocks {
            memory = Vec::with_capacity(blocks.max(ALWAYS_MAPPED_BLOCKS));
            memory.resize(blocks, Block::default());
        }
        memory
    }

    fn put_back(&self, memory: Vec<Block>) {
        match self.spare.lock() {
            Ok(mut spare) => spare.push(memory),
            Err(_) => self.forget(1),
        }
    }

    /// Whether any memory is allocated, spare or in use.
    #[cfg(test)]
    fn held(&self) -> bool {
        self.allocated.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// Frees the spare memory (what is in use is freed by a later call).
    fn release_spare(&self) {
        let freed = self
            .spare
            .lock()
            .map(|mut spare| std::mem::take(&mut *spare));
        if let Ok(freed) = freed {
            self.forget(freed.len());
        }
    }

    fn forget(&self, buffers: usize) {
        self.allocated
            .fetch_sub(buffers, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `argon2` over spare memory.
fn hash_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let mut memory = ARGON2_MEMORY.take(argon2.params().block_count());
    let hashed = argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..]);
    ARGON2_MEMORY.put_back(memory);
    hashed
}

/// A new argon2id PHC string for `password`, as argon2's own
/// `hash_password` would write it.
fn hash_with_reused_memory(password: &[u8]) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
    let argon2 = argon2id();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon2, password, salt_bytes, &mut out).map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(argon2.params())
            .map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(argon2::password_hash::Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant
/// and parameters), compared in constant time.
fn verify_with_reused_memory(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if hash_into(&argon2, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    // `Output`'s equality is constant-time.
    argon2::password_hash::Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// The `passwordPolicy` of a database connection (other connections have
/// no password, and no policy).
fn policy(options: &ConnectionOptions) -> Option<PasswordPolicy> {
    options.database().and_then(|db| db.password_policy)
}

/// The minimum password length of a database connection: its
/// `password_complexity_options.min_length`, else by `passwordPolicy` as in
/// Auth0 (none 1, low 6, fair 8, good 8, excellent 10), else 8.
pub fn min_password_length(options: &ConnectionOptions) -> usize {
    if let Some(n) = options
        .database()
        .and_then(|db| db.password_complexity_options.as_ref())
        .and_then(|c| c.min_length)
    {
        return usize::try_from(n).unwrap_or(8);
    }
    match policy(options) {
        Some(PasswordPolicy::None) => 1,
        Some(PasswordPolicy::Low) => 6,
        Some(PasswordPolicy::Excellent) => 10,
        Some(PasswordPolicy::Fair | PasswordPolicy::Good) | None => 8,
    }
}

/// Auth0's `passwordPolicy` levels beyond length: which kinds of
/// characters a password must mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// No rule beyond the length (`none`, `low`, or no policy).
    Any,
    /// `fair`: a lower-case letter, an upper-case letter and a digit.
    LowerUpperDigit,
    /// `good`: three of lower-case, upper-case, digits, other characters.
    ThreeOfFour,
    /// `excellent`: as `good`, and no character three times in a row.
    ThreeOfFourNoRuns,
}

fn mix(options: &ConnectionOptions) -> Mix {
    match policy(options) {
        Some(PasswordPolicy::Fair) => Mix::LowerUpperDigit,
        Some(PasswordPolicy::Good) => Mix::ThreeOfFour,
        Some(PasswordPolicy::Excellent) => Mix::ThreeOfFourNoRuns,
        Some(PasswordPolicy::None | PasswordPolicy::Low) | None => Mix::Any,
    }
}

/// What the connection's policy requires of a new password, for the sign-up
/// page ("Your password must contain …"): what [`check_password_policy`] checks.
pub fn describe_password_policy(options: &ConnectionOptions) -> String {
    let length = format!(
        "at least {} characters (at most 1024)",
        min_password_length(options)
    );
    match mix(options) {
        Mix::Any => length,
        Mix::LowerUpperDigit => {
            format!("{length}, with a lower-case letter, an upper-case letter and a digit")
        }
        Mix::ThreeOfFour => format!(
            "{length}, with three of: lower-case letters, upper-case letters, digits, other characters"
        ),
        Mix::ThreeOfFourNoRuns => format!(
            "{length}, with three of: lower-case letters, upper-case letters, digits, other characters; \
             no character more than twice in a row"
        ),
    }
}

/// Checks a new password against the connection's policy.
pub fn check_password_policy(
    options: &ConnectionOptions,
    password: &str,
) -> Result<(), ValidationError> {
    let weak = || {
        ValidationError::new(
            "password",
            format!(
                "PasswordStrengthError: Password is too weak ({})",
                describe_password_policy(options)
            ),
        )
    };
    let length = password.chars().count();
    if length < min_password_length(options) {
        return Err(weak());
    }
    // argon2 takes any length, but an unbounded input is a denial-of-service lever.
    if length > 1024 {
        return Err(ValidationError::new(
            "password",
            "must be at most 1024 characters",
        ));
    }
    let lower = password.chars().any(char::is_lowercase);
    let upper = password.chars().any(char::is_uppercase);
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let other = password.chars().any(|c| !c.is_alphanumeric());
    let kinds = [lower, upper, digit, other].iter().filter(|k| **k).count();
    let chars: Vec<char> = password.chars().collect();
    let has_run = chars.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    let strong = match mix(options) {
        Mix::Any => true,
        Mix::LowerUpperDigit => lower && upper && digit,
        Mix::ThreeOfFour => kinds >= 3,
        Mix::ThreeOfFourNoRuns => kinds >= 3 && !has_run,
    };
    if strong { Ok(()) } else { Err(weak()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2s_own_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        // Ours verifies with argon2's verifier…
        let ours = hash_with_reused_memory(b"correct horse").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2id()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(argon2id().verify_password(b"wrong horse", &parsed).is_err());
        // …and argon2's hashes (other parameters too) verify with ours.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = argon2id()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with_reused_memory(b"battery staple", &theirs));
        assert!(!verify_with_reused_memory(b"battery stapler", &theirs));
        let small = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        let other = small.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_with_reused_memory(b"pw", &other));
        assert!(verify_with_reused_memory(b"correct horse", &ours));
        assert!(!verify_with_reused_memory(b"pw", "not a hash"));
    }

    #[tokio::test]
    async fn hashes_beyond_the_slots_queue_and_beyond_the_queue_are_refused() {
        use std::sync::Arc;
        let pool = Arc::new(HashingPool::new(1, 1));
        let (release, held) = std::sync::mpsc::channel::<()>();
        // One hash holds the only slot until released.
        let running = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || held.recv().is_ok()).await })
        };
        while pool.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // The next waits in the queue; the one after is refused.
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        while pool.queued.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|| 3).await, Err(PasswordError::Busy)));
        assert_eq!(
            pool.usage(),
            HashingUsage {
                queued: 1,
                busy_refusals: 1
            }
        );
        release.send(()).unwrap();
        assert!(running.await.unwrap().unwrap());
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        // Slots and queue are free again.
        assert_eq!(pool.run(|| 4).await.unwrap(), 4);
        assert_eq!(pool.usage().queued, 0);
    }

    #[test]
    fn argon2_memory_is_reused_while_hashing_and_freed_once_spare() {
        let memory = ArgonMemory::new();
        assert!(!memory.held());
        let first = memory.take(8);
        let second = memory.take(8);
        assert_eq!((first.len(), second.len()), (8, 8));
        memory.put_back(first);
        // The spare memory serves the next hash, of other parameters too.
        let reused = memory.take(16);
        assert_eq!(reused.len(), 16);
        memory.put_back(reused);
        let again = memory.take(8);
        assert_eq!(
            memory.allocated.load(std::sync::atomic::Ordering::SeqCst),
            2
        );
        memory.put_back(again);
        // Released: only what is in use stays, and once back it goes too.
        memory.release_spare();
        assert!(memory.held(), "the hash in progress keeps its memory");
        memory.put_back(second);
        memory.release_spare();
        assert!(!memory.held());
        assert!(memory.spare.lock().unwrap().is_empty());
    }

    use crate::model::connection::Strategy;
    use serde_json::{Value, json};

    fn database(options: Value) -> ConnectionOptions {
        ConnectionOptions::parse(Strategy::Database, options.as_object().cloned().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_and_wrong_passwords_fail() -> Result<(), PasswordError> {
        let hash = hash_password("correct horse".into()).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse".into(), hash.clone()).await?);
        assert!(!verify_password("wrong horse".into(), hash).await?);
        assert!(!verify_password("x".into(), "not a hash".into()).await?);
        Ok(())
    }

    #[test]
    fn policy_lengths() {
        let opts = database;
        assert_eq!(min_password_length(&opts(json!({}))), 8);
        assert_eq!(
            min_password_length(&opts(json!({"passwordPolicy": "excellent"}))),
            10
        );
        assert_eq!(
            min_password_length(&opts(
                json!({"password_complexity_options": {"min_length": 12}})
            )),
            12
        );
        assert!(check_password_policy(&opts(json!({})), "short").is_err());
        assert!(check_password_policy(&opts(json!({})), "long enough").is_ok());
        assert!(
            describe_password_policy(&opts(json!({"passwordPolicy": "excellent"})))
                .starts_with("at least 10 characters (at most 1024), with three of")
        );
    }

    #[test]
    fn policy_character_mixes_follow_auth0s_levels() {
        let policy = |level: &str| database(json!({ "passwordPolicy": level }));
        let fair = policy("fair");
        assert!(check_password_policy(&fair, "Abcdefg1").is_ok());
        assert!(
            check_password_policy(&fair, "abcdefg1!").is_err(),
            "no upper-case"
        );
        let good = policy("good");
        assert!(check_password_policy(&good, "abcdefg1!").is_ok());
        assert!(
            check_password_policy(&good, "abcdefgh1").is_err(),
            "two kinds only"
        );
        let excellent = policy("excellent");
        assert!(check_password_policy(&excellent, "abcdefgh1!").is_ok());
        assert!(
            check_password_policy(&excellent, "abcdefff1!").is_err(),
            "a run of three"
        );
        assert!(
            check_password_policy(&excellent, "abcd1!").is_err(),
            "too short"
        );
        assert!(check_password_policy(&policy("low"), "abcdef").is_ok());
    }
}

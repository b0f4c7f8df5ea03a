//! Who may use the console: users with argon2 password hashes and a role, checked on
//! every request by HTTP Basic, and API clients with bearer tokens (stored as SHA-256:
//! a token is 256 random bits, so a fast hash is enough; passwords are not). Closed by default: with no user configured, a first-run
//! `admin` gets a random password written to `data_dir` (like Jenkins' first start).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a console user may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// KPIs, calls, transcripts and recordings; digit strings masked.
    Analyst,
    /// Also the digit strings (tracking, card, ID numbers).
    Supervisor,
    /// Everything.
    Admin,
}

impl Role {
    pub fn sees_digits(self) -> bool {
        self >= Role::Supervisor
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

/// `[[console.users]]`: one console user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUser {
    pub name: String,
    /// PHC string, e.g. `$argon2id$v=19$m=19456,t=2,p=1$...` (`ivr console-password`).
    pub password_hash: String,
    pub role: Role,
}

/// `[[console.tokens]]`: an API client (a script, a BI tool) sending
/// `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleToken {
    pub name: String,
    /// Hex SHA-256 of the token (`ivr console-token` prints both).
    pub token_sha256: String,
    pub role: Role,
}

/// A new random token (43 URL-safe characters, 256 bits) and its `[[console.tokens]]`
/// entry.
pub fn new_token(name: &str, role: Role) -> (String, ConsoleToken) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let entry = ConsoleToken::for_token(name, &token, role);
    (token, entry)
}

impl ConsoleToken {
    /// The entry that accepts `token`.
    pub fn for_token(name: &str, token: &str, role: Role) -> Self {
        Self {
            name: name.into(),
            token_sha256: sha256_hex(token),
            role,
        }
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first-run admin's files under `data_dir`.
pub const FIRST_RUN_USER: &str = "admin";
const FIRST_RUN_HASH_FILE: &str = "console-admin.hash";
pub const FIRST_RUN_PASSWORD_FILE: &str = "console-admin-password";

/// Hash a password with argon2id and a fresh random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// The users the console accepts, with a cache of credentials already verified, because
/// argon2 costs tens of milliseconds by design and every request carries the password.
#[derive(Clone)]
pub struct Users {
    users: Arc<Vec<ConsoleUser>>,
    tokens: Arc<Vec<ConsoleToken>>,
    verified: Arc<Mutex<HashSet<[u8; 32]>>>,
}

/// A request's authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

impl Users {
    pub fn new(users: Vec<ConsoleUser>) -> Result<Self> {
        for u in &users {
            PasswordHash::new(&u.password_hash).map_err(|e| {
                anyhow::anyhow!(
                    "[console] user {:?}: password_hash is not a PHC string: {e}",
                    u.name
                )
            })?;
        }
        Ok(Self {
            users: Arc::new(users),
            tokens: Arc::default(),
            verified: Arc::default(),
        })
    }

    /// Also accept these bearer tokens.
    pub fn with_tokens(mut self, tokens: Vec<ConsoleToken>) -> Result<Self> {
        for t in &tokens {
            if t.token_sha256.len() != 64 || !t.token_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                bail!(
                    "[console] token {:?}: token_sha256 must be 64 hex digits (`ivr console-token`)",
                    t.name
                );
            }
        }
        self.tokens = Arc::new(tokens);
        Ok(self)
    }

    /// The user or API client an `Authorization` header names, if valid (Basic or
    /// Bearer). Blocking (argon2 on a cache miss): call off the async runtime's workers.
    pub fn check_authorization(&self, authorization: &str) -> Option<Principal> {
        let (scheme, value) = authorization.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.check_bearer(value.trim());
        }
        self.check_basic(authorization)
    }

    fn check_bearer(&self, token: &str) -> Option<Principal> {
        use subtle::ConstantTimeEq;
        let presented = sha256_hex(token);
        let t = self.tokens.iter().find(|t| {
            bool::from(
                t.token_sha256
                    .to_ascii_lowercase()
                    .as_bytes()
                    .ct_eq(presented.as_bytes()),
            )
        })?;
        Some(Principal {
            name: t.name.clone(),
            role: t.role,
        })
    }

    /// The configured users, or the first-run admin (created once, reused afterwards).
    pub fn load(configured: &[ConsoleUser], data_dir: &Path) -> Result<Self> {
        if !configured.is_empty() {
            return Self::new(configured.to_vec());
        }
        Self::new(vec![first_run_admin(data_dir)?])
    }

    /// The user whose `Authorization: Basic` credentials these are, if valid.
    /// Blocking (argon2 on a cache miss): call off the async runtime's workers.
    pub fn check_basic(&self, authorization: &str) -> Option<Principal> {
        let (scheme, b64) = authorization.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (name, password) = text.split_once(':')?;
        self.check(name, password)
    }

    pub fn check(&self, name: &str, password: &str) -> Option<Principal> {
        let user = self.users.iter().find(|u| u.name == name)?;
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.password_hash.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        let principal = Principal {
            name: user.name.clone(),
            role: user.role,
        };
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return Some(principal);
        }
        let hash = PasswordHash::new(&user.password_hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()?;
        if let Ok(mut v) = self.verified.lock() {
            v.insert(key);
        }
        Some(principal)
    }
}

/// Create (once) or reload the first-run admin: the hash in `console-admin.hash`, the
/// clear password in `console-admin-password` (mode 0600) for the operator to read.
fn first_run_admin(data_dir: &Path) -> Result<ConsoleUser> {
    let hash_file = data_dir.join(FIRST_RUN_HASH_FILE);
    let password_file = data_dir.join(FIRST_RUN_PASSWORD_FILE);
    let password_hash = match std::fs::read_to_string(&hash_file) {
        Ok(h) => h.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let password = random_password();
            write_private(&password_file, &format!("{password}\n"))?;
            let h = hash_password(&password)?;
            write_private(&hash_file, &format!("{h}\n"))?;
            tracing::warn!(
                user = FIRST_RUN_USER,
                password_file = %password_file.display(),
                "no [console] users configured: created the console admin; its password is in the file"
            );
            h
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", hash_file.display())),
    };
    if password_file.exists() {
        tracing::info!(
            user = FIRST_RUN_USER,
            password_file = %password_file.display(),
            "console admin password (delete the file once noted; configure [console] users to replace it)"
        );
    }
    Ok(ConsoleUser {
        name: FIRST_RUN_USER.into(),
        password_hash,
        role: Role::Admin,
    })
}

/// 24 characters from a 32-symbol alphabet without look-alikes: 120 bits.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789A";
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(b % 32) as usize] as char)
        .collect()
}

fn write_private(path: &PathBuf, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Read a password from the first line of a reader (for `ivr console-password`).
pub fn read_password_line(mut input: impl std::io::BufRead) -> Result<String> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        bail!("empty password");
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-auth-{}", crate::records::new_call_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        )
    }

    #[test]
    fn basic_credentials_checked_against_argon2() {
        let users = Users::new(vec![ConsoleUser {
            name: "ann".into(),
            password_hash: hash_password("s3cret pass").unwrap(),
            role: Role::Analyst,
        }])
        .unwrap();
        let p = users.check_basic(&basic("ann", "s3cret pass")).unwrap();
        assert_eq!(p.role, Role::Analyst);
        // Cached now; a wrong password must still fail.
        assert!(users.check_basic(&basic("ann", "s3cret pass")).is_some());
        assert!(users.check_basic(&basic("ann", "s3cret pas")).is_none());
        assert!(users.check_basic(&basic("bob", "s3cret pass")).is_none());
        assert!(users.check_basic("Bearer abc").is_none());
        let (token, entry) = new_token("bi-tool", Role::Analyst);
        let users = users.with_tokens(vec![entry]).unwrap();
        let p = users
            .check_authorization(&format!("Bearer {token}"))
            .unwrap();
        assert_eq!((p.name.as_str(), p.role), ("bi-tool", Role::Analyst));
        assert!(users.check_authorization("Bearer not-the-token").is_none());
        assert!(
            users
                .check_authorization(&format!("Bearer {token}x"))
                .is_none()
        );
        assert!(
            users
                .check_authorization(&basic("ann", "s3cret pass"))
                .is_some()
        );
        assert!(users.check_basic("Basic %%%").is_none());
    }

    #[test]
    fn bad_hash_in_config_is_an_error() {
        let err = Users::new(vec![ConsoleUser {
            name: "x".into(),
            password_hash: "plain".into(),
            role: Role::Admin,
        }])
        .err()
        .unwrap();
        assert!(err.to_string().contains("PHC"), "{err}");
    }

    #[test]
    fn first_run_admin_is_created_once_with_a_private_password_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp();
        let users = Users::load(&[], &dir).unwrap();
        let pw_file = dir.join(FIRST_RUN_PASSWORD_FILE);
        let password = std::fs::read_to_string(&pw_file)
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(password.len(), 24);
        let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(users.check("admin", &password).unwrap().role, Role::Admin);
        assert!(users.check("admin", "guess").is_none());
        // A restart reuses the stored hash: the same password still works.
        let again = Users::load(&[], &dir).unwrap();
        assert!(again.check("admin", &password).is_some());
        assert_eq!(
            std::fs::read_to_string(&pw_file).unwrap().trim(),
            password,
            "password file rewritten"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

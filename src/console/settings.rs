//! `[console]`: whether the console is served and who may use it.

use serde::{Deserialize, Serialize};

use super::{ConsoleToken, ConsoleUser};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console and its API on the `[server] http` listener.
    pub enabled: bool,
    /// `[[console.users]]` with `name`, `password_hash` (argon2 PHC string, from
    /// `ivr console-password`) and `role` (analyst, supervisor, admin). None: a
    /// first-run `admin` with a random password in `data_dir/console-admin-password`.
    pub users: Vec<ConsoleUser>,
    /// `[[console.tokens]]` with `name`, `token_sha256` and `role`: API clients sending
    /// `Authorization: Bearer TOKEN` (`ivr console-token` makes one).
    pub tokens: Vec<ConsoleToken>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            users: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

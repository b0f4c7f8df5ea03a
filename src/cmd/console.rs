//! `ivr console-password`: hash a console user's password for `[[console.users]]`;
//! `ivr console-token`: a bearer token for an API client (`[[console.tokens]]`).

use std::process::ExitCode;

use anyhow::Result;

use crate::console::{hash_password, read_password_line};

#[derive(clap::Subcommand)]
pub enum ConsoleCommand {
    /// Read a password from the first line of stdin; print a `[[console.users]]` entry
    /// with its argon2 hash.
    ConsolePassword {
        /// The user's name.
        name: String,
        /// analyst (digits masked), supervisor (digits shown) or admin.
        #[arg(long, default_value = "analyst")]
        role: String,
    },
    /// Make a random bearer token for an API client; print the token once and its
    /// `[[console.tokens]]` entry (which holds only its hash).
    ConsoleToken {
        /// The client's name (in the access log).
        name: String,
        /// analyst (digits masked), supervisor (digits shown) or admin.
        #[arg(long, default_value = "analyst")]
        role: String,
    },
}

fn parse_role(role: &str) -> Result<crate::console::Role> {
    serde_json::from_value(serde_json::Value::String(role.to_string()))
        .map_err(|_| anyhow::anyhow!("--role {role:?}: expected analyst, supervisor or admin"))
}

pub fn run(cmd: ConsoleCommand) -> Result<ExitCode> {
    match cmd {
        ConsoleCommand::ConsolePassword { name, role } => {
            let role = parse_role(&role)?;
            let password = read_password_line(std::io::stdin().lock())?;
            let user = crate::console::ConsoleUser {
                name,
                password_hash: hash_password(&password)?,
                role,
            };
            let entry = toml::to_string(&user)?;
            println!("[[console.users]]\n{entry}");
        }
        ConsoleCommand::ConsoleToken { name, role } => {
            let (token, entry) = crate::console::new_token(&name, parse_role(&role)?);
            eprintln!("token (shown once; the config keeps only its hash): {token}");
            println!("[[console.tokens]]\n{}", toml::to_string(&entry)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! `ivr console-password`: hash a console user's password for `[[console.users]]`.

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
}

pub fn run(cmd: ConsoleCommand) -> Result<ExitCode> {
    match cmd {
        ConsoleCommand::ConsolePassword { name, role } => {
            let role: crate::console::Role =
                serde_json::from_value(serde_json::Value::String(role.clone())).map_err(|_| {
                    anyhow::anyhow!("--role {role:?}: expected analyst, supervisor or admin")
                })?;
            let password = read_password_line(std::io::stdin().lock())?;
            let user = crate::console::ConsoleUser {
                name,
                password_hash: hash_password(&password)?,
                role,
            };
            let entry = toml::to_string(&user)?;
            println!("[[console.users]]\n{entry}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

//! Asking for the token's PIN: the agent asks, never the web page.
//!
//! - `--pin-command CMD`: run `sh -c CMD`; its first line of standard output is the PIN (a
//!   password manager, a GUI prompt, a test script). The command sees the request in
//!   `XACTHUC_SIGNER_ORIGIN` (the site asking) and `XACTHUC_SIGNER_TOKEN` (the token's label).
//! - otherwise `pinentry` (GnuPG's PIN dialog, Assuan protocol) when it is on `PATH`;
//! - otherwise no PIN can be asked for (`pin_unavailable`).
//!
//! An empty answer is a cancelled prompt (`pin_cancelled`).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use secrecy::SecretString;

use crate::error::AgentError;

#[derive(Debug, Clone)]
pub enum PinSource {
    Command(String),
    Pinentry(String),
}

impl PinSource {
    /// `--pin-command` when given, else `pinentry`.
    pub fn from_args(command: Option<String>) -> Self {
        match command {
            Some(c) => Self::Command(c),
            None => Self::Pinentry("pinentry".into()),
        }
    }

    /// Asks for the PIN of `token` for a signature requested by `origin` (blocks).
    pub fn ask(&self, origin: &str, token: &str) -> Result<SecretString, AgentError> {
        let pin = match self {
            Self::Command(command) => run_command(command, origin, token)?,
            Self::Pinentry(program) => pinentry(program, origin, token)?,
        };
        if pin.is_empty() {
            return Err(AgentError::PinCancelled);
        }
        Ok(SecretString::from(pin))
    }
}

fn run_command(command: &str, origin: &str, token: &str) -> Result<String, AgentError> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("XACTHUC_SIGNER_ORIGIN", origin)
        .env("XACTHUC_SIGNER_TOKEN", token)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| AgentError::PinUnavailable(format!("--pin-command: {e}")))?;
    if !output.status.success() {
        return Err(AgentError::PinCancelled);
    }
    let text = String::from_utf8(output.stdout)
        .map_err(|_| AgentError::PinUnavailable("--pin-command printed no UTF-8".into()))?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The few Assuan commands a PIN dialog needs: describe, ask, read the `D` line.
fn pinentry(program: &str, origin: &str, token: &str) -> Result<String, AgentError> {
    let unavailable = |e: std::io::Error| AgentError::PinUnavailable(format!("{program}: {e}"));
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(unavailable)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| unavailable(std::io::ErrorKind::BrokenPipe.into()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| unavailable(std::io::ErrorKind::BrokenPipe.into()))?;
    let description = assuan_escape(&format!(
        "{origin} muốn đăng nhập bằng chữ ký số của bạn / wants to log you in with your digital signature.\nToken: {token}"
    ));
    let script =
        format!("SETTITLE xacthuc-signer\nSETDESC {description}\nSETPROMPT PIN:\nGETPIN\nBYE\n");
    stdin.write_all(script.as_bytes()).map_err(unavailable)?;
    drop(stdin);
    let mut pin = String::new();
    let mut cancelled = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(unavailable)?;
        if let Some(data) = line.strip_prefix("D ") {
            pin = assuan_unescape(data);
        } else if line.starts_with("ERR ") {
            cancelled = true;
        }
    }
    let _ = child.wait();
    if cancelled && pin.is_empty() {
        return Err(AgentError::PinCancelled);
    }
    Ok(pin)
}

/// Assuan percent-escapes `%`, CR and LF.
fn assuan_escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn assuan_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn the_command_prints_the_pin_and_sees_the_origin() {
        let source = PinSource::Command(
            "test \"$XACTHUC_SIGNER_ORIGIN\" = https://a.example && echo 1234".into(),
        );
        let pin = source.ask("https://a.example", "t").unwrap();
        assert_eq!(pin.expose_secret(), "1234");
        assert!(matches!(
            source.ask("https://b.example", "t"),
            Err(AgentError::PinCancelled)
        ));
        assert!(matches!(
            PinSource::Command("true".into()).ask("o", "t"),
            Err(AgentError::PinCancelled)
        ));
    }

    #[test]
    fn assuan_escapes_round_trip() {
        assert_eq!(assuan_unescape(&assuan_escape("a%b\nc")), "a%b\nc");
        assert_eq!(assuan_unescape("12%2534"), "12%34");
    }
}

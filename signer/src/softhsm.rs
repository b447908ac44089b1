//! SoftHSM2 tokens in a folder of their own, for tests and demonstrations: a configuration file
//! (`SOFTHSM2_CONF`) whose token directory is inside `dir`, and the Debian tools that put a
//! token, a key and a certificate there (`softhsm2-util`, `pkcs11-tool` from `opensc`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::DEFAULT_MODULE;

pub struct SoftHsm {
    dir: PathBuf,
    conf: PathBuf,
    /// The tools fail when two of them change the same token at once: one at a time.
    tools: std::sync::Mutex<()>,
}

impl SoftHsm {
    /// A SoftHSM2 configuration with its tokens in `dir/tokens`.
    pub fn create(dir: &Path) -> io::Result<Self> {
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)?;
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            conf,
            tools: std::sync::Mutex::new(()),
        })
    }

    /// What `SOFTHSM2_CONF` must name for a process to see these tokens.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    pub fn init_token(&self, label: &str, pin: &str) -> io::Result<()> {
        self.run(
            Command::new("softhsm2-util")
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    label,
                    "--so-pin",
                    "12345678",
                ])
                .args(["--pin", pin]),
        )
    }

    /// Imports a private key (PKCS#8 PEM) with `CKA_ID` = `id` (hex).
    pub fn import_key(&self, token: &str, pin: &str, id: &str, pkcs8_pem: &[u8]) -> io::Result<()> {
        let file = self.dir.join(format!("key-{id}.pem"));
        std::fs::write(&file, pkcs8_pem)?;
        let imported = self.run(
            Command::new("softhsm2-util")
                .arg("--import")
                .arg(&file)
                .args([
                    "--token",
                    token,
                    "--label",
                    &format!("key-{id}"),
                    "--id",
                    id,
                ])
                .args(["--pin", pin]),
        );
        std::fs::remove_file(&file)?;
        imported
    }

    /// Writes a certificate (DER) with `CKA_ID` = `id` (hex), beside its key.
    pub fn write_certificate(
        &self,
        token: &str,
        pin: &str,
        id: &str,
        der: &[u8],
    ) -> io::Result<()> {
        let file = self.dir.join(format!("cert-{id}-{}.der", der.len()));
        std::fs::write(&file, der)?;
        self.run(
            Command::new("pkcs11-tool")
                .args([
                    "--module",
                    DEFAULT_MODULE,
                    "--token-label",
                    token,
                    "--login",
                ])
                .args(["--pin", pin, "--type", "cert", "--id", id, "--write-object"])
                .arg(&file),
        )
    }

    fn run(&self, command: &mut Command) -> io::Result<()> {
        let _one = self.tools.lock().unwrap_or_else(|e| e.into_inner());
        let output = command.env("SOFTHSM2_CONF", &self.conf).output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{command:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }
}

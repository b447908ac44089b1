//! xacthuc's local signing agent ("xacthuc-signer"): the login page asks it, over a small HTTP
//! API on 127.0.0.1, to sign the server's challenge with a USB token (any PKCS#11 module). The
//! page never sees the token or the PIN; the agent asks for the PIN itself.
//!
//! - `token`: the PKCS#11 module, its tokens, certificates and keys;
//! - `cms`: the CMS SignedData around a token-backed signature;
//! - `pin`: how the PIN is asked for;
//! - `api`: the HTTP API, origin checks and CORS;
//! - `error`: the one error enum, with the codes the page shows guidance for;
//! - `softhsm`: SoftHSM2 tokens in a folder, for tests and demonstrations.
//!
//! The binary (`main.rs`) parses the command line; tests start the same [`Agent`] in-process.

pub mod api;
pub mod cms;
pub mod error;
pub mod pin;
pub mod softhsm;
pub mod token;

use std::path::PathBuf;
use std::sync::Arc;

pub use error::AgentError;
pub use pin::PinSource;

/// The agent's fixed port on 127.0.0.1 (the login page's default `agent_url`).
pub const DEFAULT_PORT: u16 = 14789;
/// Debian's SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// What the agent is started with.
#[derive(Debug, Clone)]
pub struct Config {
    pub module: PathBuf,
    /// Origins of the pages that may use the agent (`https://dichvucong.example`).
    pub allowed_origins: Vec<String>,
    pub pin: PinSource,
}

/// A running agent's state.
pub struct Agent {
    tokens: token::Tokens,
    allowed_origins: Vec<String>,
    pin: PinSource,
    signing: tokio::sync::Mutex<()>,
}

impl Agent {
    pub fn open(config: Config) -> Result<Arc<Self>, AgentError> {
        let allowed_origins = config
            .allowed_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_string())
            .collect();
        Ok(Arc::new(Self {
            tokens: token::Tokens::open(&config.module)?,
            allowed_origins,
            pin: config.pin,
            signing: tokio::sync::Mutex::new(()),
        }))
    }

    fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// Serves the API on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, agent: Arc<Agent>) -> std::io::Result<()> {
    axum::serve(listener, api::router(agent)).await
}

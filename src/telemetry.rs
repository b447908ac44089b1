//! Logs and the operator's side of metrics: `[log]` (text or JSON lines on stderr) and
//! `[metrics]` (who may read /metrics). The request middleware that feeds both lives in
//! `http::observe`.

use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (development).
    #[default]
    Text,
    /// One JSON object per line, with the request span's fields (production: log shippers
    /// parse it without regexes).
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `[metrics]`.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// When set, GET /metrics needs `Authorization: Bearer <token>` (Prometheus:
    /// `authorization: { credentials: … }`); empty = open, for a port only the scraper reaches.
    pub token: String,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let token = if self.token.is_empty() {
            ""
        } else {
            "[redacted]"
        };
        f.debug_struct("MetricsConfig")
            .field("token", &token)
            .finish()
    }
}

/// Installs the process's log subscriber on stderr; `XACTHUC_LOG` filters (default `info`).
/// Called once, by the command line, after the configuration is read. With the `otel` feature
/// and `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans also go to that collector until the returned
/// guard is dropped (which flushes them).
pub fn init_logs(config: &LogConfig) -> Telemetry {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_env("XACTHUC_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = vec![match config.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }];
    let telemetry = Telemetry::start(&mut layers);
    // `try_init`: a second call (tests running the command line in-process) keeps the first.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(layers)
        .try_init();
    telemetry
}

type Filtered = tracing_subscriber::layer::Layered<EnvFilter, tracing_subscriber::Registry>;

/// The OpenTelemetry pipeline, when the `otel` feature is on and a collector is configured.
#[derive(Default)]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    #[cfg(not(feature = "otel"))]
    fn start(
        _layers: &mut Vec<Box<dyn tracing_subscriber::Layer<Filtered> + Send + Sync>>,
    ) -> Self {
        Self::default()
    }

    /// OTLP over HTTP (protobuf) to `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`);
    /// the service is `OTEL_SERVICE_NAME` (default `xacthuc`). Nothing when neither endpoint
    /// variable is set. Spans carry the same fields as the logs: never personal data.
    #[cfg(feature = "otel")]
    fn start(layers: &mut Vec<Box<dyn tracing_subscriber::Layer<Filtered> + Send + Sync>>) -> Self {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::Layer;

        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| !v.is_empty()));
        if !configured {
            return Self::default();
        }
        // The exporter's HTTP client is reqwest on rustls without a built-in provider; the same
        // one `app::install_crypto_provider` installs later (this module must not need `app`).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("OpenTelemetry disabled: {e}");
                return Self::default();
            }
        };
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "xacthuc".into());
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("xacthuc");
        layers.push(tracing_opentelemetry::layer().with_tracer(tracer).boxed());
        Self {
            provider: Some(provider),
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("OpenTelemetry shutdown: {e}");
        }
    }
}

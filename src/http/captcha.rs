//! Captcha images and their spoken alternative.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;
use crate::authenticators::captcha;

pub fn router() -> Router<App> {
    Router::new()
        .route("/captcha/{id}/image.png", get(image))
        .route("/captcha/{id}/audio.wav", get(audio))
}

async fn image(State(app): State<App>, Path(id): Path<String>) -> Response {
    media(captcha::image(app.store.as_ref(), &id).await, "image/png")
}

async fn audio(State(app): State<App>, Path(id): Path<String>) -> Response {
    media(captcha::audio(app.store.as_ref(), &id).await, "audio/wav")
}

fn media(
    found: Result<Option<Vec<u8>>, crate::store::ephemeral::EphemeralError>,
    mime: &'static str,
) -> Response {
    match found {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "captcha store unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

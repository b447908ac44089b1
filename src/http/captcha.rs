//! Captcha images and their spoken alternative.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::App;
use crate::authenticators::captcha::{self, Media, Rendered};

pub fn router() -> Router<App> {
    Router::new()
        .route("/captcha/{id}/image.png", get(image))
        .route("/captcha/{id}/audio.wav", get(audio))
}

async fn image(State(app): State<App>, Path(id): Path<String>) -> Response {
    media(&app, &id, Media::Image, "image/png").await
}

async fn audio(State(app): State<App>, Path(id): Path<String>) -> Response {
    media(&app, &id, Media::Audio, "audio/wav").await
}

async fn media(app: &App, id: &str, kind: Media, mime: &'static str) -> Response {
    let rendered =
        captcha::render(app.store.as_ref(), &app.captcha_media, &app.clock, id, kind).await;
    match rendered {
        Ok(Rendered::Bytes(bytes)) => (
            [
                (header::CONTENT_TYPE, mime),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes.as_ref().clone(),
        )
            .into_response(),
        Ok(Rendered::Unknown) => StatusCode::NOT_FOUND.into_response(),
        // The form's "new code" link makes a new challenge.
        Ok(Rendered::TooMany) => StatusCode::TOO_MANY_REQUESTS.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "captcha store unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

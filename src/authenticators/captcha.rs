//! The self-hosted image captcha ("mã xác thực"): no third-party service. Single use, short
//! lived, answer compared case-insensitively in constant time. Accessible alternatives: a new
//! image on request and the same code spoken as audio (WAV).

use std::io::Cursor;
use std::time::Duration;

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};

use crate::app::App;
use crate::random;
use crate::store::ephemeral::EphemeralError;

/// How long a challenge can be answered.
const TTL: Duration = Duration::from_secs(300);
/// Letters the default font draws unambiguously (no 0/O, 1/l/I).
const CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'k', 'm', 'n', 'p', 'r', 's', 't', 'u', 'v', 'w', 'x',
    'y', '2', '3', '4', '5', '6', '7', '8', '9',
];

fn answer_key(id: &str) -> String {
    format!("captcha:{id}")
}
fn image_key(id: &str) -> String {
    format!("captcha_png:{id}")
}
fn audio_key(id: &str) -> String {
    format!("captcha_wav:{id}")
}

/// Creates a challenge; returns its id. The image and audio are stored for their URLs.
pub async fn create(app: &App) -> Result<String, EphemeralError> {
    let (answer, png, wav) = tokio::task::spawn_blocking(render)
        .await
        .map_err(|e| EphemeralError::Unavailable(format!("captcha rendering: {e}")))?;
    let id = random::token();
    app.store
        .put(&answer_key(&id), answer.as_bytes(), TTL)
        .await?;
    app.store.put(&image_key(&id), &png, TTL).await?;
    app.store.put(&audio_key(&id), &wav, TTL).await?;
    Ok(id)
}

fn render() -> (String, Vec<u8>, Vec<u8>) {
    let mut c = Captcha::new();
    c.set_chars(CHARS)
        .add_chars(5)
        .apply_filter(Noise::new(0.15))
        .apply_filter(Wave::new(2.0, 12.0))
        .view(200, 70)
        .apply_filter(Dots::new(8));
    let answer = c.chars_as_string().to_lowercase();
    let png = c.as_png().unwrap_or_default();
    let wav = join_wavs(&c.as_wav());
    (answer, png, wav)
}

/// The per-letter recordings as one WAV, with a short pause between letters.
fn join_wavs(parts: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut spec = None;
    let mut samples: Vec<i16> = Vec::new();
    for part in parts.iter().flatten() {
        let Ok(reader) = hound::WavReader::new(Cursor::new(part)) else {
            continue;
        };
        let s = reader.spec();
        spec.get_or_insert(s);
        samples.extend(reader.into_samples::<i16>().flatten());
        samples.extend(std::iter::repeat_n(0, (s.sample_rate / 3) as usize));
    }
    let Some(spec) = spec else {
        return Vec::new();
    };
    let mut out = Cursor::new(Vec::new());
    if let Ok(mut writer) = hound::WavWriter::new(&mut out, spec) {
        for s in samples {
            let _ = writer.write_sample(s);
        }
        let _ = writer.finalize();
    }
    out.into_inner()
}

pub async fn image(app: &App, id: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
    app.store.get(&image_key(id)).await
}

pub async fn audio(app: &App, id: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
    app.store.get(&audio_key(id)).await
}

/// Checks an answer. The challenge is consumed whatever the outcome: one try per image.
pub async fn verify(app: &App, id: &str, input: &str) -> Result<bool, EphemeralError> {
    let Some(answer) = app.store.take(&answer_key(id)).await? else {
        return Ok(false);
    };
    let _ = app.store.delete(&image_key(id)).await;
    let _ = app.store.delete(&audio_key(id)).await;
    let input = input.trim().to_lowercase();
    Ok(random::constant_time_eq(input.as_bytes(), &answer))
}

/// The answer, without consuming it: for the sandbox's test contract only.
pub async fn peek_answer(app: &App, id: &str) -> Result<Option<String>, EphemeralError> {
    Ok(app
        .store
        .get(&answer_key(id))
        .await?
        .and_then(|b| String::from_utf8(b).ok()))
}

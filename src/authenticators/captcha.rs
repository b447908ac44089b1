//! The self-hosted image captcha ("mã xác thực"): no third-party service. Single use, short
//! lived, answer compared case-insensitively in constant time. Accessible alternatives: a new
//! image on request and the same code spoken as audio (WAV).

use std::io::Cursor;
use std::time::Duration;

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};

use crate::random;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

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
/// Creates a challenge; returns its id. Only the answer is stored (a few bytes); the image
/// and the audio are drawn from it on request, so showing forms costs the store almost nothing.
pub async fn create(store: &dyn EphemeralStore) -> Result<String, EphemeralError> {
    let answer: String = (0..5)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())])
        .collect();
    let id = random::token();
    store.put(&answer_key(&id), answer.as_bytes(), TTL).await?;
    Ok(id)
}

/// Draws `answer` (each letter from its own one-letter set, so the text is exactly the answer).
fn drawn(answer: &str) -> Captcha {
    let mut c = Captcha::new();
    for ch in answer.chars() {
        c.set_chars(&[ch]).add_char();
    }
    c.apply_filter(Noise::new(0.15))
        .apply_filter(Wave::new(2.0, 12.0))
        .view(200, 70)
        .apply_filter(Dots::new(3));
    c
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

pub async fn image(
    store: &dyn EphemeralStore,
    id: &str,
) -> Result<Option<Vec<u8>>, EphemeralError> {
    let Some(answer) = peek_answer(store, id).await? else {
        return Ok(None);
    };
    let png = tokio::task::spawn_blocking(move || drawn(&answer).as_png())
        .await
        .map_err(|e| EphemeralError::Unavailable(format!("captcha rendering: {e}")))?;
    Ok(png)
}

pub async fn audio(
    store: &dyn EphemeralStore,
    id: &str,
) -> Result<Option<Vec<u8>>, EphemeralError> {
    let Some(answer) = peek_answer(store, id).await? else {
        return Ok(None);
    };
    let wav = tokio::task::spawn_blocking(move || join_wavs(&drawn(&answer).as_wav()))
        .await
        .map_err(|e| EphemeralError::Unavailable(format!("captcha rendering: {e}")))?;
    Ok(Some(wav))
}

/// Checks an answer. The challenge is consumed whatever the outcome: one try per image.
pub async fn verify(
    store: &dyn EphemeralStore,
    id: &str,
    input: &str,
) -> Result<bool, EphemeralError> {
    let Some(answer) = store.take(&answer_key(id)).await? else {
        return Ok(false);
    };
    let input = input.trim().to_lowercase();
    Ok(random::constant_time_eq(input.as_bytes(), &answer))
}

/// The answer, without consuming it: for the sandbox's test contract only.
pub async fn peek_answer(
    store: &dyn EphemeralStore,
    id: &str,
) -> Result<Option<String>, EphemeralError> {
    Ok(store
        .get(&answer_key(id))
        .await?
        .and_then(|b| String::from_utf8(b).ok()))
}

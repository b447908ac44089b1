//! The self-hosted image captcha ("mã xác thực"): no third-party service. Single use, short
//! lived, answer compared case-insensitively in constant time. Accessible alternatives: a new
//! image on request and the same code spoken as audio (WAV).
//!
//! Only the answer and a random seed are stored. The image and the audio are drawn on request,
//! and each rendering is kept per node ([`MediaCache`]) for the challenge's lifetime, so reloading
//! it costs nothing; a challenge is drawn at most [`MAX_RENDERS`] times per kind across nodes
//! (`captcha_renders:<kind>:<id>`), so its id cannot be used to make the server draw without end.
//!
//! The audio is made hard to match against fixed templates (the per-letter recordings are the
//! `captcha` crate's, the same for every challenge): each letter is resampled at its own random
//! speed (which moves its pitch too), at its own loudness, after a random gap; reversed
//! recordings of other letters murmur underneath (babble: speech-like, but no letter); and
//! band-limited noise in the speech band, not white noise, lies over everything. The variation
//! comes from the challenge's seed, so every rendering of one challenge has the same gaps,
//! speeds, babble and noise (nothing to average out but the recordings' own faint noise), and
//! two challenges with the same letters sound different.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::cache::TtlCache;
use crate::clock::Clock;
use crate::random;
use crate::store::ephemeral::{EphemeralError, EphemeralStore};

/// How long a challenge can be answered.
pub const TTL: Duration = Duration::from_secs(300);
/// Renderings of one challenge per kind (image, audio), across nodes.
pub const MAX_RENDERS: u64 = 5;
/// Letters the default font draws unambiguously (no 0/O, 1/l/I).
const CHARS: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'k', 'm', 'n', 'p', 'r', 's', 't', 'u', 'v', 'w', 'x',
    'y', '2', '3', '4', '5', '6', '7', '8', '9',
];

fn answer_key(id: &str) -> String {
    format!("captcha:{id}")
}

fn random_letters(n: usize) -> String {
    (0..n)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())])
        .collect()
}

/// Creates a challenge; returns its id. Only the answer and the audio's seed are stored
/// (`answer.seed`, a few bytes), so showing forms costs the store almost nothing.
pub async fn create(store: &dyn EphemeralStore) -> Result<String, EphemeralError> {
    let answer = random_letters(5);
    let seed = hex::encode(random::bytes::<32>());
    let id = random::token();
    store
        .put(&answer_key(&id), format!("{answer}.{seed}").as_bytes(), TTL)
        .await?;
    Ok(id)
}

/// A stored challenge: the answer and the seed of its audio.
struct Challenge {
    answer: String,
    seed: [u8; 32],
}

impl Challenge {
    fn parse(stored: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(stored).ok()?;
        let (answer, seed) = text.split_once('.').unwrap_or((text, ""));
        let mut bytes = [0u8; 32];
        // A value without a seed (written by an older node) still renders, with a fixed one.
        let _ = hex::decode_to_slice(seed, &mut bytes);
        Some(Self {
            answer: answer.to_string(),
            seed: bytes,
        })
    }
}

async fn challenge(
    store: &dyn EphemeralStore,
    id: &str,
) -> Result<Option<Challenge>, EphemeralError> {
    Ok(store
        .get(&answer_key(id))
        .await?
        .and_then(|b| Challenge::parse(&b)))
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

/// The two kinds of rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Image,
    Audio,
}

impl Media {
    fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
        }
    }
}

/// Renderings by challenge id, per node, for the challenge's lifetime. Bounded: a WAV is about
/// 150 KB, a PNG a few KB.
pub struct MediaCache {
    images: TtlCache<String, Arc<Vec<u8>>>,
    audio: TtlCache<String, Arc<Vec<u8>>>,
}

impl Default for MediaCache {
    fn default() -> Self {
        Self {
            images: TtlCache::new(2_000),
            audio: TtlCache::new(100),
        }
    }
}

impl MediaCache {
    fn of(&self, media: Media) -> &TtlCache<String, Arc<Vec<u8>>> {
        match media {
            Media::Image => &self.images,
            Media::Audio => &self.audio,
        }
    }
}

/// What a rendering request gets.
#[derive(Debug)]
pub enum Rendered {
    Bytes(Arc<Vec<u8>>),
    /// No such challenge (expired, answered, or never made).
    Unknown,
    /// This challenge was drawn [`MAX_RENDERS`] times already.
    TooMany,
}

/// The PNG or WAV of challenge `id`: from this node's cache, else drawn (and counted).
pub async fn render(
    store: &dyn EphemeralStore,
    cache: &MediaCache,
    clock: &Clock,
    id: &str,
    media: Media,
) -> Result<Rendered, EphemeralError> {
    let now = clock.unix_ms();
    if let Some(bytes) = cache.of(media).get(&id.to_string(), now) {
        return Ok(Rendered::Bytes(bytes));
    }
    let Some(challenge) = challenge(store, id).await? else {
        return Ok(Rendered::Unknown);
    };
    let renders = store
        .increment(&format!("captcha_renders:{}:{id}", media.name()), TTL)
        .await?;
    if renders > MAX_RENDERS {
        return Ok(Rendered::TooMany);
    }
    let drawing = tokio::task::spawn_blocking(move || match media {
        Media::Image => drawn(&challenge.answer).as_png(),
        Media::Audio => Some(speak(&challenge.answer, challenge.seed)),
    });
    let bytes = drawing
        .await
        .ok()
        .flatten()
        .ok_or_else(|| EphemeralError::Unavailable("captcha rendering failed".into()))?;
    let bytes = Arc::new(bytes);
    cache
        .of(media)
        .insert(id.to_string(), bytes.clone(), now + TTL.as_millis() as i64);
    Ok(Rendered::Bytes(bytes))
}

/// Sample rate of the recordings and of the WAV.
const RATE: u32 = 22_050;
/// Recordings of other letters played reversed underneath.
const BABBLE_VOICES: usize = 4;

/// The spoken answer as a WAV (16-bit mono), varied by `seed` (see the module comment).
fn speak(answer: &str, seed: [u8; 32]) -> Vec<u8> {
    let mut rng = StdRng::from_seed(seed);
    // One call for the answer's letters and the babble's (the crate reads its recordings anew
    // on every call).
    let babble_letters: String = (0..BABBLE_VOICES)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())])
        .collect();
    let recordings: Vec<Vec<f32>> = drawn(&format!("{answer}{babble_letters}"))
        .as_wav()
        .iter()
        .map(|wav| wav.as_deref().map(samples).unwrap_or_default())
        .collect();
    let (letters, babble) = recordings.split_at(answer.chars().count().min(recordings.len()));

    let seconds = |s: f32| (s * RATE as f32) as usize;
    let mut out: Vec<f32> = vec![0.0; seconds(rng.random_range(0.2..0.6))];
    for letter in letters {
        let speed = rng.random_range(0.82..1.18);
        let gain = rng.random_range(0.75..1.0);
        let spoken = low_pass(&resample(&trim(letter), speed));
        out.extend(spoken.iter().map(|s| s * gain));
        out.extend(std::iter::repeat_n(
            0.0,
            seconds(rng.random_range(0.3..0.7)),
        ));
    }
    // Babble: reversed letters at random speeds and offsets, quieter than the answer, spread
    // over the whole clip.
    let len = out.len();
    for (i, voice) in babble.iter().cycle().take(BABBLE_VOICES * 2).enumerate() {
        let mut v = resample(&trim(voice), rng.random_range(0.7..1.3));
        v.reverse();
        let start = (len * i / (BABBLE_VOICES * 2)) + rng.random_range(0..seconds(0.4).max(1));
        let gain = rng.random_range(0.12..0.22);
        for (o, s) in out.iter_mut().skip(start).zip(v) {
            *o += s * gain;
        }
    }
    // Noise in the speech band: white noise through a high-pass (~300 Hz) and a low-pass
    // (~3 kHz), at a level that varies slowly, some 12–16 dB under the letters.
    let (mut lp, mut prev_in, mut hp) = (0.0f32, 0.0f32, 0.0f32);
    let level = rng.random_range(0.05..0.08);
    for (i, o) in out.iter_mut().enumerate() {
        let white: f32 = rng.random_range(-1.0..1.0);
        lp += 0.58 * (white - lp);
        hp = 0.92 * (hp + lp - prev_in);
        prev_in = lp;
        let swell = 1.0 + 0.5 * ((i as f32 / RATE as f32) * 1.7).sin();
        *o += hp * level * swell;
    }
    to_wav(&out)
}

/// A recording's samples in -1..1.
fn samples(wav: &[u8]) -> Vec<f32> {
    hound::WavReader::new(Cursor::new(wav))
        .map(|r| {
            r.into_samples::<i16>()
                .flatten()
                .map(|s| s as f32 / 32768.0)
                .collect()
        })
        .unwrap_or_default()
}

/// The recording without its leading and trailing near-silence, so gaps are ours alone.
fn trim(v: &[f32]) -> Vec<f32> {
    let loud = |s: &&f32| s.abs() > 0.12;
    let start = v.iter().position(|s| loud(&s)).unwrap_or(0);
    let end = v.iter().rposition(|s| loud(&s)).map_or(v.len(), |e| e + 1);
    v[start.min(end)..end].to_vec()
}

/// Softens what lies above the speech band (~3.5 kHz), where the recordings' own white noise
/// would otherwise cover the letters.
fn low_pass(v: &[f32]) -> Vec<f32> {
    let mut y = 0.0;
    v.iter()
        .map(|x| {
            y += 0.63 * (x - y);
            y
        })
        .collect()
}

/// Plays `v` `speed` times faster (linear interpolation): shorter and higher, or longer and
/// lower.
fn resample(v: &[f32], speed: f32) -> Vec<f32> {
    if v.len() < 2 {
        return v.to_vec();
    }
    let n = ((v.len() - 1) as f32 / speed) as usize;
    (0..n)
        .map(|i| {
            let x = i as f32 * speed;
            let (j, frac) = (x as usize, x.fract());
            let next = v.get(j + 1).copied().unwrap_or(v[j]);
            v[j] * (1.0 - frac) + next * frac
        })
        .collect()
}

/// 16-bit mono WAV, normalised to leave headroom.
fn to_wav(samples: &[f32]) -> Vec<u8> {
    let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-6);
    let scale = 0.9 * i16::MAX as f32 / peak;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    if let Ok(mut writer) = hound::WavWriter::new(&mut out, spec) {
        for s in samples {
            let _ = writer.write_sample((s * scale) as i16);
        }
        let _ = writer.finalize();
    }
    out.into_inner()
}

/// Checks an answer. The challenge is consumed whatever the outcome: one try per image.
pub async fn verify(
    store: &dyn EphemeralStore,
    id: &str,
    input: &str,
) -> Result<bool, EphemeralError> {
    let Some(challenge) = store
        .take(&answer_key(id))
        .await?
        .and_then(|b| Challenge::parse(&b))
    else {
        return Ok(false);
    };
    let input = input.trim().to_lowercase();
    Ok(random::constant_time_eq(
        input.as_bytes(),
        challenge.answer.as_bytes(),
    ))
}

/// The answer, without consuming it: for the sandbox's test contract only.
pub async fn peek_answer(
    store: &dyn EphemeralStore,
    id: &str,
) -> Result<Option<String>, EphemeralError> {
    Ok(challenge(store, id).await?.map(|c| c.answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ephemeral::MemoryStore;

    fn seconds(wav: &[u8]) -> f32 {
        let r = hound::WavReader::new(Cursor::new(wav)).expect("a WAV");
        assert_eq!(r.spec().sample_rate, RATE);
        r.duration() as f32 / RATE as f32
    }

    /// The same letters with two seeds: different gaps and speeds, so different lengths and
    /// different samples; a few seconds each, as a person would hear them.
    #[test]
    fn the_same_letters_sound_different_in_two_challenges() {
        let a = speak("ab3k9", [1; 32]);
        let b = speak("ab3k9", [2; 32]);
        let (la, lb) = (seconds(&a), seconds(&b));
        assert!(
            (3.0..12.0).contains(&la) && (3.0..12.0).contains(&lb),
            "{la} {lb}"
        );
        assert!((la - lb).abs() > 0.01, "{la} {lb}");
        assert_ne!(a, b);
        // The same seed keeps its gaps and speeds (only the recordings' faint own noise varies,
        // which moves where a letter's sound starts by a few samples).
        assert!((seconds(&speak("ab3k9", [1; 32])) - la).abs() < 0.05);
    }

    #[test]
    fn a_letter_is_resampled_not_copied() {
        let v: Vec<f32> = (0..1000).map(|i| (i as f32 / 10.0).sin()).collect();
        assert_eq!(resample(&v, 1.25).len(), 799);
        assert_eq!(resample(&v, 0.8).len(), 1248);
        assert_eq!(trim(&[0.0, 0.01, 0.5, -0.3, 0.02]), [0.5, -0.3]);
    }

    /// A node keeps what it drew; other nodes (fresh caches) draw again, at most
    /// [`MAX_RENDERS`] times per kind; an unknown id draws nothing.
    #[tokio::test]
    async fn renderings_are_kept_per_node_and_counted_across_nodes() {
        let clock = Clock::system();
        let store = MemoryStore::new(clock.clone());
        let id = create(&store).await.unwrap();
        let node = MediaCache::default();
        let Rendered::Bytes(first) = render(&store, &node, &clock, &id, Media::Image)
            .await
            .unwrap()
        else {
            panic!("drawn")
        };
        for _ in 0..10 {
            match render(&store, &node, &clock, &id, Media::Image)
                .await
                .unwrap()
            {
                Rendered::Bytes(again) => assert!(Arc::ptr_eq(&first, &again)),
                other => panic!("{other:?}"),
            }
        }
        for _ in 1..MAX_RENDERS {
            let other_node = MediaCache::default();
            let r = render(&store, &other_node, &clock, &id, Media::Image).await;
            assert!(matches!(r.unwrap(), Rendered::Bytes(_)));
        }
        let r = render(&store, &MediaCache::default(), &clock, &id, Media::Image).await;
        assert!(matches!(r.unwrap(), Rendered::TooMany));
        let r = render(&store, &MediaCache::default(), &clock, &id, Media::Audio).await;
        assert!(matches!(r.unwrap(), Rendered::Bytes(_)), "counted per kind");
        let r = render(&store, &node, &clock, "unknown", Media::Audio).await;
        assert!(matches!(r.unwrap(), Rendered::Unknown));
        // The answer is still the one stored, and is consumed once.
        let answer = peek_answer(&store, &id).await.unwrap().unwrap();
        assert_eq!(answer.len(), 5);
        assert!(verify(&store, &id, &answer).await.unwrap());
        assert!(!verify(&store, &id, &answer).await.unwrap());
    }
}

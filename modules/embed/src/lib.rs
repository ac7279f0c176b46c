//! aion-embed: the deterministic, local embedding behind the `embed` guest module.
//!
//! **A lexical embedding, not a neural model.** Each text becomes a 256-dimension
//! vector built by feature hashing:
//! - the text is split into lowercased words (runs of letters and digits, with
//!   combining marks and inner apostrophes; each CJK ideograph or kana is a word
//!   of its own);
//! - three groups of features: word unigrams, word bigrams (adjacent words), and
//!   character trigrams of the words joined by single spaces, padded with a space
//!   at both ends (so `cat` gives ` ca`, `cat`, `at `). The trigram stream leaves
//!   out the function words below unless the text has nothing else; a text with no
//!   word at all (`!!!`) uses its own lowercased characters, a blank one a space;
//! - each feature is hashed with FNV-1a 64 (seeded: the offset basis is XORed with
//!   [`SEED`], a one-byte group tag goes first) and then mixed with MurmurHash3's
//!   64-bit finalizer. The low 8 bits pick the dimension, the top bit the sign;
//! - a feature's weight is `1 + ln(tf)` (sublinear term frequency), times 0.25 for
//!   the unigrams of 37 English function words (`the`, `of`, `on`, ...; and for
//!   bigrams of two of them) so they do not dominate;
//! - each group is L2-normalised, the groups are added with weights
//!   [`WEIGHT_UNIGRAM`], [`WEIGHT_BIGRAM`], [`WEIGHT_TRIGRAM`], and the sum is
//!   L2-normalised again.
//!
//! So texts that share words (or word pieces) have a higher cosine similarity than
//! texts that do not; synonyms, paraphrases and meaning beyond the words are not
//! captured. Shared word pieces and collisions in 256 dimensions add a noise floor:
//! sentences with no word in common score about 0.05 ± 0.07.
//!
//! Every step is a pure function of the input. Only `+ - * /` and `sqrt` (exactly
//! rounded in IEEE 754) are used, and the logarithm is computed here with those, so
//! the native and wasm builds print byte-identical vectors. Features are counted
//! by sorting their hashes, not in a hash map, so no iteration order leaks in.

use serde::Serialize;
use serde_json::Value;

/// Number of dimensions of every vector.
pub const DIMS: usize = 256;
/// The name reported in `model`; a change to the features or the seed gets a new name.
pub const MODEL: &str = "aion-hash-embed-256";
/// FNV-1a's offset basis is XORed with this ("aion-emb" in ASCII).
pub const SEED: u64 = 0x6169_6f6e_2d65_6d62;

/// At most this many texts per call (OpenAI's limit for one request is 2048; the
/// gateway's `/v1/embeddings` takes 256).
pub const MAX_ITEMS: usize = 256;
/// At most this many Unicode scalar values in one text (the `embed` intent's
/// `maxLength`).
pub const MAX_ITEM_CHARS: usize = 100_000;
/// At most this many Unicode scalar values over all texts of one call.
pub const MAX_TOTAL_CHARS: usize = 2_000_000;
/// The params document may be at most this many bytes (checked while reading stdin).
pub const MAX_PARAMS_BYTES: usize = 12 << 20;

/// Group weights before the final normalisation.
pub const WEIGHT_UNIGRAM: f64 = 1.0;
pub const WEIGHT_BIGRAM: f64 = 0.5;
pub const WEIGHT_TRIGRAM: f64 = 1.0;
/// Unigrams (and bigrams of two) of [`STOPWORDS`] are weighted down by this factor.
pub const STOPWORD_WEIGHT: f64 = 0.25;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

const TAG_UNIGRAM: u8 = b'u';
const TAG_BIGRAM: u8 = b'b';
const TAG_TRIGRAM: u8 = b't';
/// Bigram halves are joined by the unit separator (never part of a word).
const JOIN: u8 = 0x1f;

#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he",
    "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "she", "that", "the", "their",
    "they", "this", "to", "was", "we", "were", "will", "with", "you",
];

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    #[serde(rename = "promptTokens")]
    pub prompt_tokens: u64,
    #[serde(rename = "completionTokens")]
    pub completion_tokens: u64,
    #[serde(rename = "totalTokens")]
    pub total_tokens: u64,
    /// Always true: the count is an estimate, not a tokenizer's.
    pub estimated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Embeddings {
    pub embeddings: Vec<Vec<f32>>,
    pub usage: Usage,
    pub model: &'static str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: ErrorBody<'a>,
}

/// The ABI v1 error document for bad input.
pub fn error_json(message: &str) -> String {
    let doc = ErrorDoc {
        error: ErrorBody {
            code: "invalid_input",
            message,
        },
    };
    serde_json::to_string(&doc).unwrap_or_else(|_| {
        r#"{"error":{"code":"invalid_input","message":"invalid input"}}"#.to_string()
    })
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// Parses and validates the `params` document (`{"input": string | [string, ...]}`);
/// `Err` is an invalid-input message naming the field.
pub fn parse_params(input: &[u8]) -> Result<Vec<String>, String> {
    if input.len() > MAX_PARAMS_BYTES {
        return Err(format!("params exceed {MAX_PARAMS_BYTES} bytes"));
    }
    let value: Value =
        serde_json::from_slice(input).map_err(|e| format!("params is not valid JSON: {e}"))?;
    let mut obj = match value {
        Value::Object(o) => o,
        _ => return Err("params must be a JSON object".to_string()),
    };
    let texts = match obj.remove("input") {
        None | Some(Value::Null) => return Err("missing required field 'input'".to_string()),
        Some(Value::String(s)) => {
            if s.is_empty() {
                return Err("'input' must not be an empty string".to_string());
            }
            vec![s]
        }
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_ITEMS {
                return Err(format!(
                    "'input' must have 1 to {MAX_ITEMS} strings, got {}",
                    items.len()
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) if s.is_empty() => {
                        return Err(format!("'input[{i}]' must not be an empty string"))
                    }
                    Value::String(s) => out.push(s),
                    Value::Number(_) | Value::Array(_) => {
                        return Err(format!(
                            "'input[{i}]' must be a string (token arrays are not supported)"
                        ))
                    }
                    _ => return Err(format!("'input[{i}]' must be a string")),
                }
            }
            out
        }
        Some(_) => return Err("'input' must be a string or an array of strings".to_string()),
    };
    let mut total = 0usize;
    for (i, t) in texts.iter().enumerate() {
        let n = t.chars().count();
        if n > MAX_ITEM_CHARS {
            return Err(if texts.len() == 1 {
                format!("'input' has {n} characters; at most {MAX_ITEM_CHARS} are allowed")
            } else {
                format!("'input[{i}]' has {n} characters; at most {MAX_ITEM_CHARS} are allowed")
            });
        }
        total += n;
    }
    if total > MAX_TOTAL_CHARS {
        return Err(format!(
            "'input' totals {total} characters; at most {MAX_TOTAL_CHARS} are allowed per call"
        ));
    }
    Ok(texts)
}

/// Full request: JSON in, JSON out. `Err` is an invalid-input message.
pub fn run(input: &[u8]) -> Result<String, String> {
    run_texts(&parse_params(input)?)
}

/// Embeds validated texts; `Err` only if the output cannot be serialized.
pub fn run_texts(texts: &[String]) -> Result<String, String> {
    serde_json::to_string(&embed_all(texts)).map_err(|e| format!("cannot serialize output: {e}"))
}

/// Embeddings and usage of `texts`, in order.
pub fn embed_all(texts: &[String]) -> Embeddings {
    let tokens: u64 = texts.iter().map(|t| estimate_tokens(t)).sum();
    Embeddings {
        embeddings: texts.iter().map(|t| embed(t)).collect(),
        usage: Usage {
            prompt_tokens: tokens,
            completion_tokens: 0,
            total_tokens: tokens,
            estimated: true,
        },
        model: MODEL,
    }
}

/// Token estimate of one text: its UTF-8 bytes / 4, rounded up, at least 1 (the
/// usual rule of thumb for English with OpenAI's tokenizers; there is no tokenizer
/// here).
pub fn estimate_tokens(text: &str) -> u64 {
    ((text.len() as u64 + 3) / 4).max(1)
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// CJK ideographs and kana (written without spaces): one word per char.
#[rustfmt::skip]
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF | 0xFF66..=0xFF9D | 0x20000..=0x3134F)
}

/// Combining marks that continue a word ("e" + U+0301).
#[rustfmt::skip]
fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x0900..=0x0903 | 0x093A..=0x094F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF
        | 0x200C..=0x200D | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

fn push_lower(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else if c == '’' {
        out.push('\'');
    } else {
        out.extend(c.to_lowercase());
    }
}

/// The lowercased words of `text`, in order.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_cjk(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            push_lower(&mut cur, c);
        } else if !cur.is_empty()
            && (is_combining(c)
                || (is_apostrophe(c)
                    && chars
                        .peek()
                        .map_or(false, |&n| n.is_alphanumeric() && !is_cjk(n))))
        {
            push_lower(&mut cur, c);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

// ---------------------------------------------------------------------------
// Hashing
// ---------------------------------------------------------------------------

/// Seeded FNV-1a 64 over a group tag and the feature's parts.
fn fnv1a(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET ^ SEED;
    h ^= tag as u64;
    h = h.wrapping_mul(FNV_PRIME);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= JOIN as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
        for &b in p.iter() {
            h ^= b as u64;
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit finalizer: every output bit depends on every input bit.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The natural logarithm of `x >= 1` with only `+ - * /`, so every platform gets
/// the same bits: x = m * 2^k with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)).
pub fn ln(x: f64) -> f64 {
    if x <= 1.0 {
        return 0.0;
    }
    let mut m = x;
    let mut k = 0i32;
    while m >= 2.0 {
        m /= 2.0;
        k += 1;
    }
    let z = (m - 1.0) / (m + 1.0); // 0 <= z < 1/3
    let z2 = z * z;
    let mut term = z;
    let mut sum = 0.0;
    let mut n = 1.0;
    // z^(2i+1)/(2i+1) < 3^-(2i+1): 20 terms are well past f64 precision.
    for _ in 0..20 {
        sum += term / n;
        term *= z2;
        n += 2.0;
    }
    k as f64 * std::f64::consts::LN_2 + 2.0 * sum
}

/// Adds the features in `hashes` (one entry per occurrence, with its weight) to
/// `v`: sorted by hash so the sum's order is fixed; `1 + ln(tf)` per feature.
fn accumulate(hashes: &mut Vec<(u64, f64)>, v: &mut [f64; DIMS]) {
    hashes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut i = 0;
    while i < hashes.len() {
        let (h, w) = hashes[i];
        let mut j = i + 1;
        while j < hashes.len() && hashes[j].0 == h {
            j += 1;
        }
        let tf = (j - i) as f64;
        let value = (1.0 + ln(tf)) * w;
        let dim = (h & 0xff) as usize;
        if h >> 63 == 1 {
            v[dim] -= value;
        } else {
            v[dim] += value;
        }
        i = j;
    }
}

fn norm(v: &[f64; DIMS]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn add_normalised(acc: &mut [f64; DIMS], v: &[f64; DIMS], weight: f64) {
    let n = norm(v);
    if n > 0.0 {
        for (a, x) in acc.iter_mut().zip(v.iter()) {
            *a += weight * x / n;
        }
    }
}

fn is_stopword(w: &str) -> bool {
    STOPWORDS.binary_search(&w).is_ok()
}

// ---------------------------------------------------------------------------
// Embedding
// ---------------------------------------------------------------------------

/// The unit-length embedding of one text.
pub fn embed(text: &str) -> Vec<f32> {
    let ws = words(text);
    let mut unigrams = [0.0f64; DIMS];
    let mut bigrams = [0.0f64; DIMS];
    let mut trigrams = [0.0f64; DIMS];
    let mut feats: Vec<(u64, f64)> = Vec::with_capacity(ws.len());

    let stop: Vec<bool> = ws.iter().map(|w| is_stopword(w)).collect();
    for (w, &s) in ws.iter().zip(stop.iter()) {
        let weight = if s { STOPWORD_WEIGHT } else { 1.0 };
        feats.push((fnv1a(TAG_UNIGRAM, &[w.as_bytes()]), weight));
    }
    accumulate(&mut feats, &mut unigrams);

    feats.clear();
    for i in 1..ws.len() {
        let weight = if stop[i - 1] && stop[i] {
            STOPWORD_WEIGHT
        } else {
            1.0
        };
        let h = fnv1a(TAG_BIGRAM, &[ws[i - 1].as_bytes(), ws[i].as_bytes()]);
        feats.push((h, weight));
    }
    accumulate(&mut feats, &mut bigrams);

    // Character stream: the words joined by single spaces, padded with a space.
    // A text without words (punctuation, symbols) uses its own non-space chars,
    // lowercased, so "!!!" and "???" still differ; a blank text is one space.
    let mut stream: Vec<char> = vec![' '];
    if ws.is_empty() {
        let mut lower = String::new();
        for c in text.chars() {
            if c.is_whitespace() {
                if !lower.ends_with(' ') {
                    lower.push(' ');
                }
            } else {
                push_lower(&mut lower, c);
            }
        }
        stream.extend(lower.trim().chars());
    } else {
        // Function words are left out of the stream unless there is nothing else.
        let content = stop.iter().any(|s| !s);
        let mut first = true;
        for (w, &s) in ws.iter().zip(stop.iter()) {
            if content && s {
                continue;
            }
            if !first {
                stream.push(' ');
            }
            first = false;
            stream.extend(w.chars());
        }
    }
    stream.push(' ');
    feats.clear();
    let mut buf = [0u8; 12];
    if stream.len() < 3 {
        // Only a blank text: ' ' + ' '.
        feats.push((fnv1a(TAG_TRIGRAM, &[b"  "]), 1.0));
    }
    for win in stream.windows(3) {
        let mut n = 0;
        for c in win {
            n += c.encode_utf8(&mut buf[n..]).len();
        }
        feats.push((fnv1a(TAG_TRIGRAM, &[&buf[..n]]), 1.0));
    }
    accumulate(&mut feats, &mut trigrams);

    let mut v = [0.0f64; DIMS];
    add_normalised(&mut v, &unigrams, WEIGHT_UNIGRAM);
    add_normalised(&mut v, &bigrams, WEIGHT_BIGRAM);
    add_normalised(&mut v, &trigrams, WEIGHT_TRIGRAM);
    let mut n = norm(&v);
    if !(n > 1e-9) {
        // The groups cancelled out exactly (a hash-collision corner case): fall
        // back to one dimension picked by the whole text, still deterministic.
        v = [0.0; DIMS];
        let h = fnv1a(TAG_TRIGRAM, &[text.as_bytes()]);
        v[(h & 0xff) as usize] = 1.0;
        n = 1.0;
    }
    v.iter()
        .map(|x| {
            let y = (x / n) as f32;
            if y == 0.0 {
                0.0 // no "-0.0" in the output
            } else {
                y
            }
        })
        .collect()
}

/// Cosine similarity of two vectors (tests and callers' convenience).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm32(v: &[f32]) -> f64 {
        v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
    }

    fn sim(a: &str, b: &str) -> f64 {
        cosine(&embed(a), &embed(b))
    }

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut s = STOPWORDS.to_vec();
        s.sort_unstable();
        assert_eq!(s, STOPWORDS);
        assert!(is_stopword("the") && !is_stopword("cat"));
    }

    #[test]
    fn ln_matches_std_closely() {
        for tf in 1..5000u32 {
            let x = tf as f64;
            assert!((ln(x) - x.ln()).abs() < 1e-12, "{tf}: {} vs {}", ln(x), x.ln());
        }
        assert_eq!(ln(1.0), 0.0);
        assert!((ln(1e12) - 1e12f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn deterministic() {
        let t = "The quick brown fox jumps over the lazy dog. 北京 café naïve";
        assert_eq!(embed(t), embed(t));
        let input = br#"{"input":["alpha beta","gamma delta"]}"#;
        assert_eq!(run(input).unwrap(), run(input).unwrap());
        // A pinned value: a change to the tokenizer, features, hashing or weights
        // changes the vectors, and then MODEL must get a new name.
        // The wasm build prints the same bytes (checked under Node's WASI).
        let out = run(br#"{"input":["the cat sat on the mat","Quarterly revenue grew 4%."]}"#)
            .unwrap();
        let digest = fnv1a(0, &[out.as_bytes()]);
        assert_eq!(
            format!("{digest:016x}"),
            PINNED,
            "the embedding changed: update PINNED and rename MODEL"
        );
    }
    const PINNED: &str = "3b29c1316f9297ad";

    #[test]
    fn vectors_have_unit_norm_and_256_dims() {
        for t in [
            "a",
            "x",
            "the",
            "Hello, world!",
            "!!!",
            "   ",
            "\n\t",
            "😀",
            "中文句子",
            "e\u{301}",
            "\u{0}",
            "the cat sat on the mat",
        ] {
            let v = embed(t);
            assert_eq!(v.len(), DIMS);
            assert!((norm32(&v) - 1.0).abs() < 1e-5, "{t:?}: {}", norm32(&v));
            assert!(v.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn similarity_ordering() {
        let a = "the cat sat on the mat";
        let near = sim(a, "a cat on a mat");
        let far = sim(a, "quarterly revenue grew");
        assert!(near > far + 0.3, "near {near} far {far}");
        assert!(near > 0.4, "near {near}");
        assert!(far.abs() < 0.2, "far {far}");
        assert!((sim(a, a) - 1.0).abs() < 1e-6);
        // Case and punctuation do not matter; word order matters a little.
        assert!(sim(a, "The CAT sat on the MAT!") > 0.999);
        let swapped = sim(a, "the mat sat on the cat");
        assert!(swapped < 0.999 && swapped > 0.6, "{swapped}");
        // Word pieces: inflections share character trigrams.
        assert!(
            sim("embedding vectors", "embeddings vector") > sim("embedding vectors", "grocery list")
        );
        // A query is closer to the document about it.
        let q = "how do I reset my password";
        let d1 = "To reset your password, open settings and choose reset password.";
        let d2 = "Our office is closed on public holidays.";
        assert!(sim(q, d1) > sim(q, d2) + 0.2, "{} {}", sim(q, d1), sim(q, d2));
        // Function words alone carry little weight.
        assert!(sim("the cat", "the dog") < sim("the cat", "a cat"));
    }

    #[test]
    fn unrelated_texts_score_near_zero() {
        let texts = [
            "quarterly revenue grew",
            "the cat sat on the mat",
            "photosynthesis converts light into chemical energy",
            "kubernetes schedules containers onto nodes",
            "la tour eiffel est à paris",
            "我喜欢吃饺子",
        ];
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i + 1..] {
                let s = sim(a, b);
                assert!(s.abs() < 0.25, "{a:?} ~ {b:?}: {s}");
            }
        }
    }

    #[test]
    fn tokenizer() {
        assert_eq!(
            words("Don’t STOP, it's Café!"),
            vec!["don't", "stop", "it's", "café"]
        );
        assert_eq!(words("北京 😀x 2024"), vec!["北", "京", "x", "2024"]);
        assert_eq!(words("e\u{301}t\u{e9}"), vec!["e\u{301}t\u{e9}"]);
        assert!(words(" ... !!! ").is_empty());
        assert_eq!(words("İstanbul"), vec!["i\u{307}stanbul"]);
    }

    #[test]
    fn punctuation_only_and_blank_texts() {
        let a = embed("!!!");
        let b = embed("???");
        assert_ne!(a, b);
        assert_eq!(embed(" "), embed("\n\t  "));
        assert_eq!(embed("!!!"), embed("  !!!  "));
    }

    #[test]
    fn output_shape() {
        let out: Value =
            serde_json::from_str(&run(br#"{"input":["the cat","a dog"]}"#).unwrap()).unwrap();
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(out["model"], MODEL);
        let e = out["embeddings"].as_array().unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].as_array().unwrap().len(), DIMS);
        assert!(e[0].as_array().unwrap().iter().all(|x| x.is_number()));
        // "the cat" = 7 bytes -> 2; "a dog" = 5 bytes -> 2
        assert_eq!(
            out["usage"],
            serde_json::json!({"promptTokens": 4, "completionTokens": 0,
                               "totalTokens": 4, "estimated": true})
        );
        // A single string is one embedding.
        let out: Value = serde_json::from_str(&run(br#"{"input":"x"}"#).unwrap()).unwrap();
        assert_eq!(out["embeddings"].as_array().unwrap().len(), 1);
        assert_eq!(out["usage"]["promptTokens"], 1);
        // The JSON floats read back as the same f32 values.
        let raw = run(br#"{"input":"the cat sat on the mat"}"#).unwrap();
        let out: Value = serde_json::from_str(&raw).unwrap();
        let back: Vec<f32> = out["embeddings"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(back, embed("the cat sat on the mat"));
        assert!(!raw.contains("-0.0,") && !raw.contains("NaN"));
        // Unknown fields and a null are ignored.
        assert!(run(br#"{"input":"x","encoding_format":"float","user":null}"#).is_ok());
    }

    #[test]
    fn token_estimate_is_bytes_over_four() {
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("中文"), 2); // 6 bytes
        assert_eq!(estimate_tokens(&"x".repeat(4000)), 1000);
    }

    fn err(input: &str) -> String {
        let e = run(input.as_bytes()).expect_err(input);
        let doc: Value = serde_json::from_str(&error_json(&e)).unwrap();
        assert_eq!(doc["error"]["code"], "invalid_input");
        e
    }

    #[test]
    fn invalid_input_is_rejected_with_a_clear_message() {
        assert!(err("").contains("not valid JSON"));
        assert!(err("nope").contains("not valid JSON"));
        assert!(err("[]").contains("JSON object"));
        assert!(err("{}").contains("'input'"));
        assert!(err(r#"{"input":null}"#).contains("'input'"));
        assert!(err(r#"{"text":"x"}"#).contains("missing required field 'input'"));
        assert!(err(r#"{"input":""}"#).contains("empty string"));
        assert!(err(r#"{"input":[]}"#).contains("1 to 256"));
        assert!(err(r#"{"input":5}"#).contains("'input' must be a string or an array"));
        assert!(err(r#"{"input":{"a":"b"}}"#).contains("'input'"));
        assert!(err(r#"{"input":true}"#).contains("'input'"));
        assert_eq!(
            err(r#"{"input":["ok", 3]}"#),
            "'input[1]' must be a string (token arrays are not supported)"
        );
        assert!(err(r#"{"input":[[1,2,3]]}"#).contains("token arrays"));
        assert_eq!(err(r#"{"input":["a", null]}"#), "'input[1]' must be a string");
        assert_eq!(err(r#"{"input":["a", {}]}"#), "'input[1]' must be a string");
        assert_eq!(
            err(r#"{"input":["a", ""]}"#),
            "'input[1]' must not be an empty string"
        );
        assert!(run(&[0xc3, 0x28]).is_err());
        assert!(run(br#"{"input":"\ud800"}"#).is_err()); // lone surrogate
        assert!(run("[".repeat(100_000).as_bytes()).is_err());
        let e = error_json("say \"hi\"\n");
        let doc: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(doc["error"]["message"], "say \"hi\"\n");
    }

    #[test]
    fn item_count_limits() {
        let ok: Vec<String> = (0..MAX_ITEMS).map(|i| format!("text {i}")).collect();
        let out: Value = serde_json::from_str(
            &run(serde_json::json!({ "input": ok }).to_string().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(out["embeddings"].as_array().unwrap().len(), MAX_ITEMS);
        let many: Vec<String> = (0..MAX_ITEMS + 1).map(|i| format!("text {i}")).collect();
        let e = err(&serde_json::json!({ "input": many }).to_string());
        assert_eq!(e, "'input' must have 1 to 256 strings, got 257");
        let lots: Vec<String> = (0..100_000).map(|_| "x".to_string()).collect();
        assert!(err(&serde_json::json!({ "input": lots }).to_string()).contains("got 100000"));
    }

    #[test]
    fn size_limits() {
        // Exactly at the limit (in chars, not bytes) is fine.
        let at = "é".repeat(MAX_ITEM_CHARS);
        assert!(run(serde_json::json!({ "input": at }).to_string().as_bytes()).is_ok());
        let over = "x".repeat(MAX_ITEM_CHARS + 1);
        assert_eq!(
            err(&serde_json::json!({ "input": over }).to_string()),
            "'input' has 100001 characters; at most 100000 are allowed"
        );
        assert!(
            err(&serde_json::json!({ "input": ["a", over] }).to_string()).starts_with("'input[1]'")
        );
        let chunk = "w ".repeat(MAX_ITEM_CHARS / 2);
        let items: Vec<&String> = (0..MAX_TOTAL_CHARS / MAX_ITEM_CHARS + 1)
            .map(|_| &chunk)
            .collect();
        assert!(err(&serde_json::json!({ "input": items }).to_string()).contains("totals"));
        let huge = vec![b' '; MAX_PARAMS_BYTES + 1];
        assert_eq!(
            run(&huge).unwrap_err(),
            format!("params exceed {MAX_PARAMS_BYTES} bytes")
        );
    }

    #[test]
    fn largest_input_is_fast_enough() {
        // 20 texts of 100k chars of varied words: the most one call may carry.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut items = Vec::new();
        for _ in 0..MAX_TOTAL_CHARS / MAX_ITEM_CHARS {
            let mut s = String::new();
            while s.chars().count() < MAX_ITEM_CHARS - 12 {
                let len = 2 + (next() % 9) as usize;
                for _ in 0..len {
                    s.push((b'a' + (next() % 26) as u8) as char);
                }
                s.push(' ');
            }
            items.push(s);
        }
        let input = serde_json::json!({ "input": items }).to_string();
        let start = std::time::Instant::now();
        let out = run(input.as_bytes()).unwrap();
        let took = start.elapsed();
        eprintln!("embed {} bytes: {took:?}", input.len());
        if !cfg!(debug_assertions) {
            assert!(took.as_secs_f64() < 5.0, "{took:?}");
        }
        assert!(out.len() < 2 * 1024 * 1024);
    }

    #[test]
    fn largest_output_fits_the_output_limit() {
        // 256 texts, each with enough features to fill most dimensions.
        let items: Vec<String> = (0..MAX_ITEMS)
            .map(|i| format!("lorem ipsum dolor sit amet {i} consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore"))
            .collect();
        let out = run(serde_json::json!({ "input": items }).to_string().as_bytes()).unwrap();
        eprintln!("256 x 256 output: {} bytes", out.len());
        assert!(out.len() < 2 * 1024 * 1024, "{}", out.len());
    }

    /// Deterministic fuzzing: random strings over a hostile alphabet never panic
    /// and always give unit vectors.
    #[test]
    fn fuzz_random_text_never_panics() {
        #[rustfmt::skip]
        const ALPHABET: &[&str] = &[
            "a", "Z", "é", "e\u{301}", "1", "3.14", ".", "…", "!", "?", "。", "\"", "’", "'", " ",
            "\n", "\t", "字", "の", "😀", "👍🏽", "שלום", "مرحبا", "\u{200F}", "\u{0}", "\u{FEFF}",
            "ǅ", "İ", "ß", "ﬃ", "the", "cat", "\u{1F}", "\\", "\u{10FFFF}",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3_000 {
            let len = 1 + (next() % 40) as usize;
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            let v = embed(&s);
            assert_eq!(v.len(), DIMS);
            assert!((norm32(&v) - 1.0).abs() < 1e-5, "{s:?}");
            let input = serde_json::json!({ "input": [s.clone(), s] }).to_string();
            assert!(run(input.as_bytes()).is_ok());
        }
    }
}

//! aion-classify: lexicon-based text classifier behind the `classify` guest module.
//!
//! No model weights: three deterministic scorers over built-in word lists.
//! - `sentiment`: a weighted polarity lexicon (~200 English words and a few emoji)
//!   with negation ("not good" flips within the next 3 tokens), intensifiers and
//!   diminishers ("very", "extremely", "slightly"), and contrast ("..., but ...").
//!   The sum is squashed into a compound score in (-1, 1) that drives the logits
//!   of positive / negative / neutral.
//! - `topic`: keyword hits (weighted, light plural stemming, a few bigrams) for
//!   seven built-in topics, normalized by the square root of the token count.
//! - custom `labels`: each label scores by the text's overlap with the label's own
//!   words (plus prefix matches), the keyword list of any built-in topic the label
//!   names ("tech", "business", "medicine", ...), and the sentiment logits when the
//!   label names a polarity ("positive", "complaint", "neutral", ...).
//!
//! Scores become probabilities with a softmax; ties keep the declared label order.
//! Everything is a single linear pass over the text; no string is ever sliced at
//! an offset that was not produced by `char_indices`.

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

/// Fixed-key SipHash: deterministic and needs no WASI `random_get`.
type FixedState = BuildHasherDefault<DefaultHasher>;
type Map<K, V> = HashMap<K, V, FixedState>;

/// FNV-1a for lookups into the fixed built-in keyword index. Probe lengths depend
/// only on the keys inserted (ours), never on the text being looked up.
#[derive(Default)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastState = BuildHasherDefault<FastHasher>;

/// Minimum / maximum number of custom labels.
pub const MIN_LABELS: usize = 2;
pub const MAX_LABELS: usize = 20;

/// Softmax temperature for keyword scores (topic and custom tasks).
const KEYWORD_GAIN: f64 = 3.0;
/// Sentiment logits are `SENTIMENT_GAIN * compound` etc.
const SENTIMENT_GAIN: f64 = 4.0;
/// |compound| below this leans neutral.
const NEUTRAL_BAND: f64 = 0.25;
/// VADER-style normalization constant for the compound score.
const COMPOUND_ALPHA: f64 = 15.0;
/// A negated sentiment word is multiplied by this (a flip, slightly damped).
const NEGATION_FACTOR: f64 = -0.8;
/// How many tokens after a negator it applies to.
const NEGATION_WINDOW: u8 = 3;
/// How many tokens after an intensifier it applies to.
const INTENSIFIER_WINDOW: u8 = 2;
/// Weight of a custom label's own words found in the text.
const LABEL_WORD_WEIGHT: f64 = 2.0;
/// Weight of a prefix match with a label word ("ship" ~ "shipping").
const LABEL_PREFIX_WEIGHT: f64 = 1.0;
/// Only this many words of each label are used for prefix matching.
const MAX_PREFIX_WORDS: usize = 8;

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub label: String,
    pub scores: Vec<LabelScore>,
    pub task: &'static str,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    Sentiment,
    Topic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub text: String,
    pub task: Task,
    pub labels: Option<Vec<String>>,
}

/// Parses and validates the `params` document; `Err` is an invalid-input message.
pub fn parse_params(input: &[u8]) -> Result<Params, String> {
    let value: Value =
        serde_json::from_slice(input).map_err(|e| format!("params is not valid JSON: {e}"))?;
    let mut obj = match value {
        Value::Object(o) => o,
        _ => return Err("params must be a JSON object".to_string()),
    };
    let text = match obj.remove("text") {
        None | Some(Value::Null) => return Err("missing required field 'text'".to_string()),
        Some(Value::String(s)) => s,
        Some(_) => return Err("'text' must be a string".to_string()),
    };
    let task = match obj.get("task") {
        None | Some(Value::Null) => Task::Sentiment,
        Some(Value::String(s)) if s == "sentiment" => Task::Sentiment,
        Some(Value::String(s)) if s == "topic" => Task::Topic,
        Some(_) => return Err("'task' must be \"sentiment\" or \"topic\"".to_string()),
    };
    let labels = match obj.remove("labels") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            if items.len() < MIN_LABELS || items.len() > MAX_LABELS {
                return Err(format!(
                    "'labels' must have between {MIN_LABELS} and {MAX_LABELS} entries"
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => {
                        if out.contains(&s) {
                            return Err(format!("duplicate label {s:?} in 'labels'"));
                        }
                        out.push(s);
                    }
                    _ => return Err("'labels' entries must be non-empty strings".to_string()),
                }
            }
            Some(out)
        }
        Some(_) => return Err("'labels' must be an array of strings".to_string()),
    };
    Ok(Params { text, task, labels })
}

/// Full request: JSON in, JSON out. `Err` is an invalid-input message.
pub fn run(input: &[u8]) -> Result<String, String> {
    run_params(&parse_params(input)?)
}

/// Runs validated params; `Err` only if the output cannot be serialized.
pub fn run_params(p: &Params) -> Result<String, String> {
    let c = match &p.labels {
        Some(labels) => classify_custom(&p.text, labels),
        None => match p.task {
            Task::Sentiment => classify_sentiment(&p.text),
            Task::Topic => classify_topic(&p.text),
        },
    };
    serde_json::to_string(&c).map_err(|e| format!("cannot serialize output: {e}"))
}

// ---------------------------------------------------------------------------
// Tokenizer
// ---------------------------------------------------------------------------

/// CJK ideographs and kana (written without spaces): one token per char.
#[rustfmt::skip]
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF | 0xFF66..=0xFF9D | 0x20000..=0x3134F)
}

/// Combining marks that continue a word ("e" + U+0301).
#[rustfmt::skip]
pub fn is_combining(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x05BF | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5 | 0x05C7 | 0x0610..=0x061A | 0x064B..=0x065F | 0x0670
        | 0x06D6..=0x06DC | 0x06DF..=0x06E4 | 0x06E7..=0x06E8 | 0x06EA..=0x06ED
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200C..=0x200D | 0x20D0..=0x20FF
        | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F)
}

/// Punctuation that ends a clause: negation and intensifier windows stop there.
fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | ','
            | ';'
            | ':'
            | '!'
            | '?'
            | '…'
            | '\n'
            | '。'
            | '！'
            | '？'
            | '，'
            | '；'
            | '：'
            | '、'
            | '—'
            | '–'
            | '؟'
            | '،'
    )
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

fn needs_lowercase(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_uppercase();
    }
    let mut l = c.to_lowercase();
    !(l.next() == Some(c) && l.next().is_none())
}

/// One token: lowercased text, and whether clause punctuation preceded it.
pub struct Token<'a> {
    pub text: Cow<'a, str>,
    pub clause_start: bool,
}

fn finish_word<'a>(w: &'a str, clause_start: bool, f: &mut impl FnMut(Token<'a>)) {
    let text: Cow<'a, str> = if w.chars().any(|c| needs_lowercase(c) || c == '’') {
        Cow::Owned(
            w.chars()
                .flat_map(char::to_lowercase)
                .map(|c| if c == '’' { '\'' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(w)
    };
    f(Token { text, clause_start });
}

/// Calls `f` for each token of `s`: lowercased runs of alphanumerics (with combining
/// marks and inner apostrophes), single CJK chars, and single emoji from the
/// sentiment lexicon.
pub fn for_each_token<'a>(s: &'a str, mut f: impl FnMut(Token<'a>)) {
    let mut word_start: Option<usize> = None;
    let mut pending_break = false;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let single = is_cjk(c) || emoji_weight(c).is_some();
        if single {
            if let Some(ws) = word_start.take() {
                finish_word(&s[ws..i], pending_break, &mut f);
                pending_break = false;
            }
            f(Token {
                text: Cow::Borrowed(&s[i..i + c.len_utf8()]),
                clause_start: pending_break,
            });
            pending_break = false;
        } else if c.is_alphanumeric() {
            if word_start.is_none() {
                word_start = Some(i);
            }
        } else if word_start.is_some()
            && (is_combining(c)
                || (is_apostrophe(c)
                    && iter
                        .peek()
                        .map_or(false, |&(_, n)| n.is_alphanumeric() && !is_cjk(n))))
        {
            // Continues the current word.
        } else {
            if let Some(ws) = word_start.take() {
                finish_word(&s[ws..i], pending_break, &mut f);
                pending_break = false;
            }
            if is_clause_break(c) {
                pending_break = true;
            }
        }
    }
    if let Some(ws) = word_start {
        finish_word(&s[ws..], pending_break, &mut f);
    }
}

/// All tokens as owned strings (tests, label parsing).
pub fn tokenize(s: &str) -> Vec<String> {
    let mut v = Vec::new();
    for_each_token(s, |t| v.push(t.text.into_owned()));
    v
}

/// Light English plural stemming used for keyword matching: "stocks" -> "stock",
/// "policies" -> "policy", "taxes" -> "tax", "possessive's" -> "possessive".
pub fn stem(w: &str) -> Cow<'_, str> {
    let w = w.strip_suffix("'s").unwrap_or(w);
    let n = w.len();
    if n > 4 && w.ends_with("ies") {
        return Cow::Owned(format!("{}y", &w[..n - 3]));
    }
    if n > 4
        && (w.ends_with("xes") || w.ends_with("ches") || w.ends_with("shes") || w.ends_with("sses"))
    {
        return Cow::Borrowed(&w[..n - 2]);
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return Cow::Borrowed(&w[..n - 1]);
    }
    Cow::Borrowed(w)
}

#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "at", "by", "from",
    "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these",
    "those", "about", "into", "over", "my", "your", "our", "their", "his", "her", "i", "we",
    "you", "they", "he", "she", "me", "us", "them", "do", "does", "did", "has", "have", "had",
    "so", "if", "than", "then", "there", "here", "what", "which", "who", "how", "when", "where",
    "why", "all", "any", "some", "other", "related", "etc", "general", "misc", "stuff", "thing",
    "things",
];

// ---------------------------------------------------------------------------
// Sentiment
// ---------------------------------------------------------------------------

/// Polarity lexicon, weights roughly on VADER's -4..+4 scale.
#[rustfmt::skip]
const SENTIMENT_LEXICON: &[(&str, f64)] = &[
    // positive
    ("good", 1.9), ("great", 3.1), ("excellent", 3.2), ("amazing", 2.8), ("awesome", 3.1),
    ("fantastic", 2.6), ("wonderful", 2.7), ("love", 3.2), ("loved", 2.9), ("loves", 2.7),
    ("loving", 2.9), ("lovely", 2.8), ("adore", 2.6), ("adorable", 2.2), ("liked", 1.8),
    ("enjoy", 2.2), ("enjoyed", 2.3), ("enjoyable", 1.9), ("happy", 2.7), ("glad", 2.0),
    ("pleased", 1.9), ("delighted", 2.9), ("nice", 1.8), ("best", 3.2), ("better", 1.9),
    ("perfect", 2.7), ("brilliant", 2.8), ("superb", 3.1), ("outstanding", 3.0),
    ("impressive", 2.3), ("impressed", 2.1), ("beautiful", 2.9), ("pleasant", 2.3),
    ("satisfied", 1.8), ("satisfying", 2.0), ("recommend", 1.5), ("recommended", 1.6),
    ("helpful", 1.8), ("useful", 1.6), ("reliable", 1.7), ("easy", 1.5), ("smooth", 1.2),
    ("friendly", 2.2), ("kind", 1.6), ("positive", 2.0), ("success", 2.7), ("successful", 2.6),
    ("win", 2.8), ("wins", 2.5), ("winner", 2.8), ("winning", 2.4), ("favorite", 2.0),
    ("favourite", 2.0), ("fun", 2.3), ("exciting", 2.2), ("excited", 2.1), ("thrilled", 2.9),
    ("incredible", 2.6), ("gorgeous", 3.0), ("elegant", 2.1), ("solid", 1.3), ("worth", 1.2),
    ("worthwhile", 1.8), ("thank", 1.5), ("thanks", 1.9), ("grateful", 2.0),
    ("appreciate", 1.7), ("appreciated", 1.9), ("benefit", 1.6), ("improved", 1.9),
    ("improvement", 1.8), ("improve", 1.5), ("effective", 1.8), ("efficient", 1.7),
    ("affordable", 1.2), ("clean", 1.5), ("comfortable", 2.0), ("calm", 1.3), ("safe", 1.7),
    ("fine", 0.8), ("ok", 0.9), ("okay", 0.9), ("cool", 1.3), ("wow", 2.3), ("yay", 2.4),
    ("hope", 1.6), ("hopeful", 1.9), ("proud", 2.1), ("joy", 2.8), ("joyful", 2.9),
    ("cheerful", 2.5), ("optimistic", 2.0), ("stellar", 2.8), ("flawless", 2.8),
    ("remarkable", 2.2), ("superior", 2.0), ("charming", 2.4), ("fabulous", 2.9),
    ("terrific", 2.9), ("marvelous", 2.9), ("magnificent", 2.9), ("praise", 2.1),
    ("praised", 2.0), ("convenient", 1.6), ("intuitive", 1.6), ("stable", 1.2),
    ("robust", 1.4), ("tasty", 2.0), ("delicious", 2.7), ("generous", 2.3), ("honest", 2.0),
    ("trust", 1.8), ("trusted", 1.8), ("glorious", 2.9), ("fast", 1.0), ("quick", 1.0),
    ("smart", 1.7), ("beloved", 2.6), ("congratulations", 2.9), ("congrats", 2.4),
    ("enjoying", 2.1), ("pleasure", 2.7), ("peaceful", 2.2), ("valuable", 2.1),
    // negative
    ("bad", -2.5), ("terrible", -3.1), ("awful", -3.1), ("horrible", -3.0), ("worst", -3.1),
    ("worse", -2.1), ("poor", -2.1), ("poorly", -1.9), ("hate", -2.7), ("hated", -2.7),
    ("hates", -2.5), ("dislike", -1.6), ("disliked", -1.7), ("sad", -2.1), ("angry", -2.3),
    ("annoyed", -1.9), ("annoying", -1.9), ("disappointed", -1.9), ("disappointing", -2.2),
    ("disappointment", -2.3), ("frustrated", -2.1), ("frustrating", -2.2), ("broken", -1.9),
    ("buggy", -1.8), ("crash", -1.7), ("crashed", -1.7), ("crashes", -1.7), ("slow", -1.1),
    ("useless", -1.8), ("waste", -1.8), ("wasted", -2.0), ("fail", -2.0), ("failed", -2.3),
    ("fails", -2.0), ("failure", -2.3), ("problem", -1.7), ("problems", -1.7), ("issue", -0.8),
    ("issues", -0.8), ("error", -1.4), ("errors", -1.4), ("wrong", -2.1), ("ugly", -2.3),
    ("boring", -1.3), ("bored", -1.1), ("dull", -1.6), ("mediocre", -1.5), ("unhappy", -1.8),
    ("upset", -1.6), ("nasty", -2.8), ("disgusting", -2.9), ("dreadful", -2.9),
    ("pathetic", -2.5), ("ridiculous", -1.6), ("rude", -2.0), ("unreliable", -2.1),
    ("unstable", -1.5), ("difficult", -1.5), ("confusing", -1.3), ("confused", -1.3),
    ("painful", -2.0), ("pain", -2.1), ("hurt", -2.4), ("hurts", -2.1), ("lost", -1.3),
    ("loss", -1.3), ("losing", -1.6), ("lose", -1.7), ("negative", -2.1), ("complaint", -1.5),
    ("complain", -1.7), ("complained", -1.6), ("overpriced", -1.8), ("scam", -2.8),
    ("fraud", -2.8), ("fake", -2.1), ("dangerous", -2.1), ("danger", -2.4), ("risky", -1.4),
    ("worried", -1.8), ("worry", -1.9), ("fear", -2.2), ("afraid", -2.0), ("scary", -2.2),
    ("unfortunately", -1.4), ("regret", -1.9), ("hopeless", -2.0), ("miserable", -2.9),
    ("depressing", -2.2), ("depressed", -2.3), ("lame", -1.8), ("garbage", -2.0),
    ("trash", -1.7), ("sucks", -1.5), ("suck", -1.2), ("crap", -1.6), ("lousy", -2.5),
    ("inferior", -1.7), ("defective", -1.9), ("faulty", -1.8), ("delayed", -1.0),
    ("outage", -1.8), ("stolen", -2.2), ("disaster", -3.1), ("crisis", -2.6), ("tragic", -3.0),
    ("hostile", -2.2), ("violent", -2.8), ("abuse", -3.2), ("cruel", -2.8), ("weak", -1.9),
    ("unfair", -2.1), ("unacceptable", -2.0), ("inadequate", -1.7), ("mess", -1.5),
    ("messy", -1.4), ("dirty", -1.9), ("stupid", -2.4), ("dumb", -2.3), ("nightmare", -2.7),
    ("horrific", -3.4), ("furious", -2.7), ("rubbish", -2.0), ("unusable", -2.2),
    ("refund", -0.8), ("overrated", -1.5), ("worthless", -2.4), ("sadly", -1.9),
];

/// Emoji with a polarity; each is its own token.
#[rustfmt::skip]
fn emoji_weight(c: char) -> Option<f64> {
    Some(match c {
        '😀' | '😃' | '😄' | '😁' | '😊' | '🙂' | '😎' | '👍' | '👏' | '🎉' | '🙌' | '✨' | '🤩' | '😂' | '😆' => 2.0,
        '😍' | '🥰' | '😘' | '❤' | '💖' | '💕' | '💯' | '♥' => 2.6,
        '😞' | '😟' | '🙁' | '☹' | '😕' | '😩' | '😫' | '😒' => -2.0,
        '😢' | '😭' | '😠' | '😡' | '🤬' | '👎' | '💔' | '🤮' | '😤' | '😱' => -2.6,
        _ => return None,
    })
}

#[rustfmt::skip]
const NEGATORS: &[&str] = &[
    "not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "nowhere", "cannot",
    "without", "hardly", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "cant",
    "couldnt", "wont", "wouldnt", "shouldnt", "aint", "havent", "hasnt", "hadnt", "neednt",
];

/// Multipliers for the next sentiment word (within INTENSIFIER_WINDOW tokens).
#[rustfmt::skip]
const INTENSIFIERS: &[(&str, f64)] = &[
    ("very", 1.5), ("extremely", 1.8), ("incredibly", 1.8), ("really", 1.4), ("so", 1.3),
    ("super", 1.5), ("absolutely", 1.6), ("totally", 1.4), ("completely", 1.4), ("highly", 1.5),
    ("truly", 1.4), ("utterly", 1.7), ("exceptionally", 1.7), ("especially", 1.3),
    ("particularly", 1.3), ("deeply", 1.4), ("quite", 1.2), ("rather", 1.1), ("pretty", 1.2),
    ("too", 1.3), ("most", 1.3), ("insanely", 1.7), ("amazingly", 1.6), ("hugely", 1.5),
    ("somewhat", 0.7), ("slightly", 0.6), ("bit", 0.7), ("little", 0.7), ("barely", 0.5),
    ("marginally", 0.6), ("fairly", 0.9), ("mildly", 0.7),
];

/// Contrast words: what came before counts half, what follows 1.5x.
#[rustfmt::skip]
const CONTRAST: &[&str] = &["but", "however", "yet"];

/// Built once per call; small.
struct SentimentTables {
    lexicon: Map<&'static str, f64>,
    negators: HashSet<&'static str, FixedState>,
    intensifiers: Map<&'static str, f64>,
}

impl SentimentTables {
    fn new() -> Self {
        SentimentTables {
            lexicon: SENTIMENT_LEXICON.iter().copied().collect(),
            negators: NEGATORS.iter().copied().collect(),
            intensifiers: INTENSIFIERS.iter().copied().collect(),
        }
    }

    fn word_weight(&self, tok: &str) -> Option<f64> {
        if let Some(&w) = self.lexicon.get(tok) {
            return Some(w);
        }
        let mut cs = tok.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => emoji_weight(c),
            _ => None,
        }
    }

    fn is_negator(&self, tok: &str) -> bool {
        self.negators.contains(tok) || tok.ends_with("n't")
    }
}

/// Result of the sentiment pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SentimentSums {
    pub positive: f64,
    pub negative: f64,
    /// (pos - neg) / sqrt((pos - neg)^2 + alpha), in (-1, 1).
    pub compound: f64,
}

/// Runs the lexicon over `text` with negation, intensifiers and contrast.
pub fn sentiment_sums(text: &str) -> SentimentSums {
    let t = SentimentTables::new();
    let (mut pos, mut neg) = (0.0f64, 0.0f64);
    let mut negate_left = 0u8;
    let mut boost = 1.0f64;
    let mut boost_left = 0u8;
    let mut after_contrast = 1.0f64;
    for_each_token(text, |tok| {
        if tok.clause_start {
            negate_left = 0;
            boost_left = 0;
            boost = 1.0;
        }
        let w = tok.text.as_ref();
        if CONTRAST.contains(&w) {
            pos *= 0.5;
            neg *= 0.5;
            after_contrast = 1.5;
            negate_left = 0;
            boost_left = 0;
            boost = 1.0;
            return;
        }
        if t.is_negator(w) {
            negate_left = NEGATION_WINDOW;
            return;
        }
        if let Some(&m) = t.intensifiers.get(w) {
            boost = if boost_left > 0 { boost * m } else { m };
            boost_left = INTENSIFIER_WINDOW;
            negate_left = negate_left.saturating_sub(1);
            return;
        }
        if let Some(mut v) = t.word_weight(w) {
            if boost_left > 0 {
                v *= boost;
            }
            if negate_left > 0 {
                v *= NEGATION_FACTOR;
            }
            v *= after_contrast;
            if v > 0.0 {
                pos += v;
            } else {
                neg -= v;
            }
            boost_left = 0;
            boost = 1.0;
        } else {
            boost_left = boost_left.saturating_sub(1);
        }
        negate_left = negate_left.saturating_sub(1);
    });
    let d = pos - neg;
    let compound = d / (d * d + COMPOUND_ALPHA).sqrt();
    let compound = if compound.is_finite() { compound } else { 0.0 };
    SentimentSums {
        positive: pos,
        negative: neg,
        compound,
    }
}

/// Logits for (positive, negative, neutral) from a compound score.
fn sentiment_logits(compound: f64) -> [f64; 3] {
    [
        SENTIMENT_GAIN * compound,
        -SENTIMENT_GAIN * compound,
        SENTIMENT_GAIN * (NEUTRAL_BAND - compound.abs()),
    ]
}

/// Sentiment task: positive / negative / neutral.
pub fn classify_sentiment(text: &str) -> Classification {
    let s = sentiment_sums(text);
    let logits = sentiment_logits(s.compound);
    finish("sentiment", &["positive", "negative", "neutral"], &logits)
}

// ---------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------

/// Built-in topics: name and keywords ("word" weight 1.0, "word:0.5" explicit weight,
/// "two words" a bigram). Keywords are stemmed when the tables are built.
#[rustfmt::skip]
pub const TOPICS: &[(&str, &[&str])] = &[
    ("technology", &[
        "technology", "tech", "software", "hardware", "computer", "laptop", "smartphone",
        "phone:0.5", "app", "internet", "online:0.5", "digital:0.7", "algorithm", "data:0.5",
        "cloud:0.7", "server", "database", "programming", "code:0.7", "developer", "ai",
        "artificial intelligence:2", "machine learning:2", "robot", "robotics", "chip",
        "semiconductor", "processor", "cpu", "gpu", "startup:0.7", "google", "microsoft",
        "apple:0.5", "cyber", "cybersecurity", "hacker", "encryption", "network:0.7", "wifi",
        "bluetooth", "gadget", "device:0.7", "silicon", "linux", "open source", "api",
        "browser", "website", "automation", "5g", "iphone", "android", "windows:0.5", "tablet",
        "user:0.3", "update:0.3", "upgrade:0.5", "bug:0.7", "wasm", "webassembly",
    ]),
    ("finance", &[
        "finance", "financial", "stock", "stock market:2", "market:0.7", "share:0.7", "investor",
        "investment", "invest", "bank", "banking", "interest rate:2", "inflation", "economy",
        "economic", "earning", "revenue", "profit", "dividend", "bond", "yield", "currency",
        "dollar", "euro", "bitcoin", "crypto", "cryptocurrency", "trading", "trader", "nasdaq",
        "dow", "fund", "hedge", "portfolio", "asset", "debt", "loan", "mortgage", "credit",
        "tax", "budget", "fiscal", "gdp", "recession", "ipo", "equity", "valuation", "price:0.5",
        "central bank:2", "wall street:2", "federal reserve:2", "fed:0.7", "quarter:0.5",
        "quarterly", "rate:0.5", "money", "payment", "sales:0.5", "shareholder",
    ]),
    ("sports", &[
        "sport", "game:0.7", "match", "team", "player", "coach", "score:0.7", "scored", "goal",
        "league", "season:0.7", "championship", "tournament", "cup:0.7", "world cup:2",
        "football", "soccer", "basketball", "baseball", "tennis", "golf", "cricket", "hockey",
        "rugby", "olympic", "olympics", "athlete", "stadium", "fan:0.5", "win:0.5", "victory",
        "defeat", "referee", "quarterback", "striker", "nba", "nfl", "fifa", "medal",
        "race:0.5", "marathon", "inning", "touchdown", "playoff", "final:0.5", "club:0.5",
        "champion", "halftime", "penalty:0.5", "midfielder", "goalkeeper", "pitcher",
    ]),
    ("health", &[
        "health", "healthy", "medical", "medicine", "doctor", "patient", "hospital", "disease",
        "symptom", "treatment", "therapy", "vaccine", "vaccination", "virus", "infection",
        "cancer", "diabetes", "heart:0.7", "blood", "surgery", "nurse", "clinic", "clinical",
        "diet", "nutrition", "exercise", "fitness", "mental health:2", "depression:0.7",
        "anxiety:0.7", "drug:0.7", "pharmaceutical", "prescription", "pandemic", "covid",
        "obesity", "illness", "pain:0.5", "sleep:0.5", "wellness", "diagnosis", "chronic",
        "immune", "protein:0.5", "calorie", "cholesterol", "physician", "healthcare",
    ]),
    ("politics", &[
        "government", "election", "vote", "voter", "voting", "president", "minister",
        "prime minister:2", "parliament", "congress", "senate", "senator", "democrat",
        "republican", "democracy", "political", "politics", "politician", "party:0.5",
        "campaign", "policy:0.7", "law:0.7", "legislation", "bill:0.5", "governor", "mayor",
        "cabinet", "diplomat", "diplomacy", "sanction", "treaty", "ballot", "referendum",
        "opposition", "coalition", "constitution", "supreme court:2", "white house:2",
        "lawmaker", "administration:0.5", "regime", "protest:0.7", "candidate", "poll:0.7",
        "reform:0.5", "nato", "embassy",
    ]),
    ("entertainment", &[
        "entertainment", "movie", "film", "actor", "actress", "director:0.5", "hollywood",
        "music", "song", "album", "singer", "band:0.7", "concert", "tour:0.5", "celebrity",
        "tv", "television", "show:0.5", "series:0.5", "episode", "netflix", "streaming:0.7",
        "box office:2", "premiere", "trailer", "oscar", "grammy", "award:0.5", "festival:0.5",
        "comedy", "drama", "star:0.5", "theater", "theatre", "gaming:0.7", "video game",
        "anime", "cinema", "sequel", "soundtrack", "documentary:0.5", "rapper", "pop:0.5",
        "sitcom", "blockbuster", "musician", "broadway",
    ]),
    ("science", &[
        "science", "scientist", "scientific", "research", "researcher", "study:0.7",
        "experiment", "physics", "chemistry", "biology", "astronomy", "space:0.7", "nasa",
        "planet", "galaxy", "star:0.5", "telescope", "universe", "molecule", "atom",
        "particle", "quantum", "gene", "genetic", "dna", "evolution", "species", "climate",
        "fossil", "laboratory", "lab", "hypothesis", "theory:0.7", "discovery", "orbit",
        "spacecraft", "rocket:0.7", "cell:0.5", "neuroscience", "mathematics", "equation",
        "astronomer", "physicist", "biologist", "chemist", "peer review", "journal:0.5",
        "mars:0.7", "asteroid", "ecosystem",
    ]),
];

/// Words in a custom label that name a built-in topic.
#[rustfmt::skip]
const TOPIC_ALIASES: &[(&str, &[&str])] = &[
    ("technology", &["technology", "tech", "technical", "software", "computing", "computer", "digital", "ai"]),
    ("finance", &["finance", "financial", "business", "economy", "economics", "money", "market", "banking", "investing", "investment", "stock", "crypto"]),
    ("sports", &["sport", "sports", "athletics", "football", "soccer", "basketball"]),
    ("health", &["health", "medical", "medicine", "healthcare", "wellness", "fitness"]),
    ("politics", &["politics", "political", "government", "election", "policy"]),
    ("entertainment", &["entertainment", "movie", "film", "music", "celebrity", "tv", "media", "arts", "showbiz"]),
    ("science", &["science", "scientific", "research", "physics", "biology", "chemistry", "space", "astronomy"]),
];

/// Words in a custom label that name a polarity: index into the sentiment logits.
#[rustfmt::skip]
const POLARITY_ALIASES: &[(&str, usize)] = &[
    ("positive", 0), ("good", 0), ("praise", 0), ("happy", 0), ("satisfied", 0),
    ("compliment", 0), ("pleased", 0), ("favorable", 0), ("favourable", 0), ("optimistic", 0),
    ("negative", 1), ("bad", 1), ("complaint", 1), ("angry", 1), ("unhappy", 1),
    ("criticism", 1), ("dissatisfied", 1), ("unfavorable", 1), ("unfavourable", 1),
    ("pessimistic", 1), ("frustrated", 1),
    ("neutral", 2), ("mixed", 2), ("objective", 2), ("factual", 2),
];

fn parse_keyword(entry: &str) -> (String, f64) {
    let (word, weight) = match entry.rsplit_once(':') {
        Some((w, n)) => (w, n.parse::<f64>().unwrap_or(1.0)),
        None => (entry, 1.0),
    };
    let key: Vec<String> = word.split(' ').map(|p| stem(p).into_owned()).collect();
    (key.join(" "), weight)
}

/// Keyword table for one built-in topic (stemmed key -> weight).
fn topic_table(keywords: &[&str]) -> Map<String, f64> {
    let mut m: Map<String, f64> = Map::default();
    for k in keywords {
        let (key, w) = parse_keyword(k);
        let e = m.entry(key).or_insert(0.0);
        if w > *e {
            *e = w;
        }
    }
    m
}

/// All keyword tables merged into one lookup: word or bigram -> (table, weight)
/// hits, plus whether the word starts a bigram (so bigrams cost a lookup only
/// after such a word).
#[derive(Default)]
struct KeywordIndex {
    map: HashMap<String, IndexEntry, FastState>,
}

#[derive(Default)]
struct IndexEntry {
    hits: Vec<(usize, f64)>,
    bigram_head: bool,
}

impl KeywordIndex {
    fn new(tables: &[Map<String, f64>]) -> Self {
        let mut idx = KeywordIndex::default();
        for (t, table) in tables.iter().enumerate() {
            // Sorted so the index (and float summation order) never depends on hash order.
            let mut entries: Vec<(&String, &f64)> = table.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (key, &w) in entries {
                idx.map.entry(key.clone()).or_default().hits.push((t, w));
                if let Some((head, _)) = key.split_once(' ') {
                    idx.map.entry(head.to_string()).or_default().bigram_head = true;
                }
            }
        }
        idx
    }
}

/// Sums keyword weights over the text for every table in one pass; also returns
/// the number of word tokens. Unigrams and bigrams (of stemmed words) are looked up;
/// `prefixes[t]` are words that also match table `t` by prefix ("refund" ~ "refunded").
fn keyword_scores(
    text: &str,
    tables: &[Map<String, f64>],
    prefixes: &[Vec<String>],
) -> (Vec<f64>, usize) {
    let index = KeywordIndex::new(tables);
    let mut scores = vec![0.0f64; tables.len()];
    let mut hit_now = vec![false; tables.len()];
    let mut n = 0usize;
    let mut prev = String::new();
    let mut prev_is_head = false;
    let mut bigram = String::new();
    for_each_token(text, |tok| {
        let w = tok.text.as_ref();
        let mut cs = w.chars();
        if let (Some(c), None) = (cs.next(), cs.next()) {
            if emoji_weight(c).is_some() {
                return;
            }
        }
        n += 1;
        let s = stem(w);
        let s = s.as_ref();
        if prev_is_head && !tok.clause_start {
            bigram.clear();
            bigram.push_str(&prev);
            bigram.push(' ');
            bigram.push_str(s);
            if let Some(e) = index.map.get(bigram.as_str()) {
                for &(t, wt) in &e.hits {
                    scores[t] += wt;
                }
            }
        }
        hit_now.iter_mut().for_each(|h| *h = false);
        prev_is_head = false;
        if let Some(e) = index.map.get(s) {
            for &(t, wt) in &e.hits {
                scores[t] += wt;
                hit_now[t] = true;
            }
            prev_is_head = e.bigram_head;
        }
        if !prefixes.is_empty() && s.chars().nth(3).is_some() {
            for (t, words) in prefixes.iter().enumerate() {
                if hit_now.get(t).copied().unwrap_or(true) {
                    continue;
                }
                if words.iter().any(|p| {
                    p.chars().nth(3).is_some() && (s.starts_with(p.as_str()) || p.starts_with(s))
                }) {
                    if let Some(sc) = scores.get_mut(t) {
                        *sc += LABEL_PREFIX_WEIGHT;
                    }
                }
            }
        }
        prev.clear();
        prev.push_str(s);
    });
    (scores, n)
}

fn keyword_logits(scores: &[f64], n: usize) -> Vec<f64> {
    let norm = (n.max(1) as f64).sqrt();
    scores.iter().map(|s| KEYWORD_GAIN * s / norm).collect()
}

/// Topic task over the built-in topics.
pub fn classify_topic(text: &str) -> Classification {
    let tables: Vec<Map<String, f64>> = TOPICS.iter().map(|(_, k)| topic_table(k)).collect();
    let (scores, n) = keyword_scores(text, &tables, &[]);
    let names: Vec<&str> = TOPICS.iter().map(|(name, _)| *name).collect();
    finish("topic", &names, &keyword_logits(&scores, n))
}

// ---------------------------------------------------------------------------
// Custom labels
// ---------------------------------------------------------------------------

/// Custom labels: own-word overlap + matching built-in topic keywords + polarity.
pub fn classify_custom(text: &str, labels: &[String]) -> Classification {
    let stop: HashSet<&str, FixedState> = STOPWORDS.iter().copied().collect();
    let mut tables: Vec<Map<String, f64>> = Vec::with_capacity(labels.len());
    let mut prefixes: Vec<Vec<String>> = Vec::with_capacity(labels.len());
    let mut polarity: Vec<Option<usize>> = Vec::with_capacity(labels.len());
    for label in labels {
        let words: Vec<String> = tokenize(label)
            .into_iter()
            .filter(|w| !stop.contains(w.as_str()))
            .map(|w| stem(&w).into_owned())
            .collect();
        let raw_words = tokenize(label);
        let mut table: Map<String, f64> = Map::default();
        let mut pol = None;
        for (ti, (_, aliases)) in TOPIC_ALIASES.iter().enumerate() {
            if raw_words
                .iter()
                .any(|w| aliases.contains(&w.as_str()) || aliases.contains(&stem(w).as_ref()))
            {
                for (k, w) in topic_table(TOPICS[ti].1) {
                    let e = table.entry(k).or_insert(0.0);
                    if w > *e {
                        *e = w;
                    }
                }
            }
        }
        for w in &raw_words {
            if let Some((_, p)) = POLARITY_ALIASES.iter().find(|(a, _)| a == w) {
                pol.get_or_insert(*p);
            }
        }
        for w in &words {
            table.insert(w.clone(), LABEL_WORD_WEIGHT);
        }
        // Bigrams of the label's own words ("customer support").
        for pair in words.windows(2) {
            table.insert(format!("{} {}", pair[0], pair[1]), LABEL_WORD_WEIGHT);
        }
        prefixes.push(words.into_iter().take(MAX_PREFIX_WORDS).collect());
        tables.push(table);
        polarity.push(pol);
    }
    let (scores, n) = keyword_scores(text, &tables, &prefixes);
    let names: Vec<&str> = labels.iter().map(String::as_str).collect();
    if n == 0 {
        // Nothing to go on: uniform.
        return finish("custom", &names, &vec![0.0; labels.len()]);
    }
    let mut logits = keyword_logits(&scores, n);
    if polarity.iter().any(Option::is_some) {
        let s = sentiment_logits(sentiment_sums(text).compound);
        for (l, p) in logits.iter_mut().zip(&polarity) {
            if let Some(p) = p {
                *l += s[*p];
            }
        }
    }
    finish("custom", &names, &logits)
}

// ---------------------------------------------------------------------------
// Softmax and output
// ---------------------------------------------------------------------------

/// Numerically stable softmax; non-finite logits count as 0.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let clean: Vec<f64> = logits
        .iter()
        .map(|&x| if x.is_finite() { x } else { 0.0 })
        .collect();
    let max = clean.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = clean.iter().map(|&x| (x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    if !(sum > 0.0) || !sum.is_finite() {
        let u = 1.0 / logits.len().max(1) as f64;
        return vec![u; logits.len()];
    }
    exps.iter().map(|e| e / sum).collect()
}

fn round4(x: f64) -> f64 {
    let r = (x * 10_000.0).round() / 10_000.0;
    if r.is_finite() {
        r
    } else {
        0.0
    }
}

fn finish(task: &'static str, names: &[&str], logits: &[f64]) -> Classification {
    let probs = softmax(logits);
    let mut order: Vec<usize> = (0..names.len()).collect();
    // Highest probability first; ties keep the declared order.
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let scores: Vec<LabelScore> = order
        .iter()
        .map(|&i| LabelScore {
            label: names[i].to_string(),
            score: round4(probs[i]),
        })
        .collect();
    let label = scores.first().map(|s| s.label.clone()).unwrap_or_default();
    Classification {
        label,
        scores,
        task,
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn score_of(c: &Classification, label: &str) -> f64 {
        c.scores
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.score)
            .expect("label present")
    }

    fn custom(text: &str, labels: &[&str]) -> Classification {
        let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        classify_custom(text, &labels)
    }

    fn assert_distribution(c: &Classification, n: usize) {
        assert_eq!(c.scores.len(), n);
        let sum: f64 = c.scores.iter().map(|s| s.score).sum();
        assert!((sum - 1.0).abs() < 0.001, "sum {sum}");
        assert!(
            c.scores.windows(2).all(|w| w[0].score >= w[1].score),
            "sorted desc"
        );
        assert!(c.scores.iter().all(|s| (0.0..=1.0).contains(&s.score)));
        assert_eq!(c.label, c.scores[0].label);
    }

    #[test]
    fn lexicons_are_big_enough_and_well_formed() {
        assert!(
            SENTIMENT_LEXICON.len() >= 150,
            "{}",
            SENTIMENT_LEXICON.len()
        );
        let mut seen = HashSet::new();
        for (w, v) in SENTIMENT_LEXICON {
            assert!(seen.insert(*w), "duplicate {w}");
            assert!(*v != 0.0 && v.abs() <= 4.0);
            assert_eq!(
                tokenize(w),
                vec![w.to_string()],
                "lexicon entry {w} must be one token"
            );
        }
        assert_eq!(TOPICS.len(), 7);
        for (name, kws) in TOPICS {
            assert!(kws.len() >= 30, "{name} has {}", kws.len());
            for k in *kws {
                let (key, w) = parse_keyword(k);
                assert!(!key.is_empty() && w > 0.0, "{name}: {k}");
            }
        }
    }

    #[test]
    fn positive_and_negative_sentiment() {
        let c = classify_sentiment(
            "I love this phone, the camera is excellent and the battery is great!",
        );
        assert_eq!(c.label, "positive");
        assert_eq!(c.task, "sentiment");
        assert_distribution(&c, 3);
        let c =
            classify_sentiment("This was a terrible experience. The service was awful and slow.");
        assert_eq!(c.label, "negative");
        let c = classify_sentiment("The meeting is scheduled for Tuesday at the main office.");
        assert_eq!(c.label, "neutral");
    }

    #[test]
    fn negation_flips_sentiment() {
        assert_eq!(classify_sentiment("The food was good.").label, "positive");
        assert_eq!(
            classify_sentiment("The food was not good.").label,
            "negative"
        );
        assert_eq!(
            classify_sentiment("The food wasn't good at all.").label,
            "negative"
        );
        assert_eq!(
            classify_sentiment("The food was not very good.").label,
            "negative"
        );
        assert_eq!(classify_sentiment("I don’t hate it.").label, "positive");
        assert_eq!(
            classify_sentiment("No problems so far, no errors.").label,
            "positive"
        );
        // Window is 3 tokens and stops at clause punctuation.
        let s = sentiment_sums("not one two three good");
        assert!(s.compound > 0.0, "good is 4 tokens after 'not': {s:?}");
        let s = sentiment_sums("It is not ready, but it is good");
        assert!(s.compound > 0.0, "{s:?}");
        let s = sentiment_sums("not, good");
        assert!(s.compound > 0.0, "comma ends the negation window: {s:?}");
    }

    #[test]
    fn intensifiers_strengthen_and_diminishers_weaken() {
        let base = sentiment_sums("good").compound;
        let very = sentiment_sums("very good").compound;
        let ext = sentiment_sums("extremely good").compound;
        let slight = sentiment_sums("slightly good").compound;
        assert!(
            ext > very && very > base && base > slight && slight > 0.0,
            "{ext} {very} {base} {slight}"
        );
        let bad = sentiment_sums("bad").compound;
        let very_bad = sentiment_sums("VERY BAD").compound;
        assert!(very_bad < bad && bad < 0.0);
        let p_good = score_of(&classify_sentiment("good"), "positive");
        let p_very = score_of(&classify_sentiment("very very good"), "positive");
        assert!(p_very > p_good);
    }

    #[test]
    fn contrast_weights_the_second_clause() {
        assert_eq!(
            classify_sentiment("The screen is great, but the battery is terrible.").label,
            "negative"
        );
        assert_eq!(
            classify_sentiment("The battery is terrible, but the screen is great.").label,
            "positive"
        );
    }

    #[test]
    fn emoji_carry_sentiment() {
        assert_eq!(classify_sentiment("Shipped today 😍👍").label, "positive");
        assert_eq!(classify_sentiment("Shipped today 😡👎").label, "negative");
    }

    #[test]
    fn empty_text_defaults() {
        for t in ["", "   ", "\n", "... !!!"] {
            let c = classify_sentiment(t);
            assert_eq!(c.label, "neutral", "{t:?}");
            assert_distribution(&c, 3);
            let c = classify_topic(t);
            assert_distribution(&c, 7);
            assert!(
                c.scores
                    .iter()
                    .all(|s| (s.score - c.scores[0].score).abs() < 1e-9),
                "uniform"
            );
            assert_eq!(c.label, "technology", "ties keep declared order");
            let c = custom(t, &["positive", "negative", "neutral"]);
            assert!(c.scores.iter().all(|s| (s.score - 0.3333).abs() < 1e-9));
            assert_eq!(c.label, "positive");
        }
    }

    #[test]
    fn topics_are_recognized() {
        let cases = [
            ("Stocks fell as investors worried about inflation and the central bank raised interest rates; bond yields climbed.", "finance"),
            ("The new smartphone ships with a faster processor, more cloud storage and an AI assistant built on machine learning.", "technology"),
            ("The striker scored twice as the team won the championship match in front of a packed stadium.", "sports"),
            ("Doctors say the vaccine reduced hospital admissions and patients reported milder symptoms.", "health"),
            ("The senate passed the bill after the president urged lawmakers to vote before the election.", "politics"),
            ("The actress won an Oscar for the film, and its soundtrack album topped the charts.", "entertainment"),
            ("Astronomers used the telescope to study a distant galaxy, and physicists proposed a new quantum theory.", "science"),
        ];
        for (text, want) in cases {
            let c = classify_topic(text);
            assert_eq!(c.label, want, "{text}: {:?}", c.scores);
            assert_eq!(c.task, "topic");
            assert_distribution(&c, 7);
            assert!(c.scores[0].score > 0.5, "{text}: {:?}", c.scores);
        }
    }

    #[test]
    fn custom_labels_by_own_words_and_topic_aliases() {
        let c = custom(
            "My shipping was delayed and the package arrived damaged.",
            &["billing", "shipping", "account access"],
        );
        assert_eq!(c.label, "shipping");
        assert_eq!(c.task, "custom");
        assert_distribution(&c, 3);
        // Prefix match: "refund" label vs "refunded" in text.
        let c = custom(
            "They refunded my order quickly.",
            &["refund request", "login problem"],
        );
        assert_eq!(c.label, "refund request");
        // Label names a built-in topic: its keyword list is used.
        let c = custom(
            "Quarterly revenue beat estimates and the stock rallied on Wall Street.",
            &["sports news", "business", "tech"],
        );
        assert_eq!(c.label, "business", "{:?}", c.scores);
        let c = custom(
            "The GPU and the new processor double the speed of the laptop.",
            &["Tech", "Health"],
        );
        assert_eq!(c.label, "Tech");
        // Polarity labels use the sentiment analysis, including negation.
        let c = custom(
            "I am not happy with this, the product is not good.",
            &["praise", "complaint"],
        );
        assert_eq!(c.label, "complaint", "{:?}", c.scores);
        let c = custom("Thanks, everything works great!", &["praise", "complaint"]);
        assert_eq!(c.label, "praise");
        // No overlap at all: uniform, first label wins.
        let c = custom("Lorem ipsum dolor sit amet.", &["cats", "dogs"]);
        assert_eq!(c.label, "cats");
        assert_eq!(c.scores[0].score, 0.5);
    }

    #[test]
    fn unicode_inputs_do_not_panic() {
        let text = "مرحبا بالعالم؟ שלום! 😀👍🏽 e\u{301}\u{302} 한국어 中文句子。\u{200F}RTL \u{0} ’’ \u{FEFF} ǅ ΣΑΣ İstanbul";
        for (i, _) in text.char_indices() {
            let t = &text[..i];
            assert_distribution(&classify_sentiment(t), 3);
            assert_distribution(&classify_topic(t), 7);
            assert_distribution(&custom(t, &["中文", "😀", "مرحبا"]), 3);
        }
        assert_eq!(custom("我喜欢中文", &["中文", "English"]).label, "中文");
    }

    #[test]
    fn tokenizer_and_stemmer() {
        assert_eq!(
            tokenize("Don’t STOP, it's café!"),
            vec!["don't", "stop", "it's", "café"]
        );
        assert_eq!(tokenize("北京 😀x"), vec!["北", "京", "😀", "x"]);
        assert_eq!(stem("stocks"), "stock");
        assert_eq!(stem("policies"), "policy");
        assert_eq!(stem("taxes"), "tax");
        assert_eq!(stem("business"), "business");
        assert_eq!(stem("virus"), "virus");
        assert_eq!(stem("analysis"), "analysis");
        assert_eq!(stem("bank's"), "bank");
        let mut breaks = Vec::new();
        for_each_token("a, b c. d", |t| breaks.push(t.clause_start));
        assert_eq!(breaks, vec![false, true, false, true]);
    }

    #[test]
    fn three_megabyte_input_works() {
        let chunk = "The market rallied and investors were very happy, but not everyone agreed. ";
        let text = chunk.repeat(3 * 1024 * 1024 / chunk.len() + 1);
        assert!(text.len() >= 3 * 1024 * 1024);
        let start = std::time::Instant::now();
        let c = classify_topic(&text);
        assert_eq!(c.label, "finance");
        let s = classify_sentiment(&text);
        assert_distribution(&s, 3);
        let l = custom(&text, &["economy", "sports", "positive"]);
        assert_distribution(&l, 3);
        if !cfg!(debug_assertions) {
            assert!(
                start.elapsed().as_secs_f64() < 10.0,
                "{:?}",
                start.elapsed()
            );
        }
        let input = serde_json::json!({"text": text, "task": "topic"}).to_string();
        let out: Value = serde_json::from_str(&run(input.as_bytes()).unwrap()).unwrap();
        assert_eq!(out["label"], "finance");
    }

    #[test]
    fn ten_kilobytes_is_fast() {
        let para = "The market rallied as investors cheered strong earnings, but some analysts \
                    were not convinced the rally would last. ";
        let text = para.repeat(10_240 / para.len() + 1);
        let labels: Vec<String> = ["finance", "sports", "complaint", "praise"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rounds = 50;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            let _ = classify_sentiment(&text);
            let _ = classify_topic(&text);
            let _ = classify_custom(&text, &labels);
        }
        let per = start.elapsed() / rounds;
        eprintln!(
            "classify 10 KB ({} bytes), sentiment+topic+custom: {per:?} per round",
            text.len()
        );
        if !cfg!(debug_assertions) {
            assert!(per.as_micros() < 10_000, "10 KB took {per:?}");
        }
    }

    #[test]
    fn json_entry_point_and_output_shape() {
        let out: Value = serde_json::from_str(&run(br#"{"text":"I love it"}"#).unwrap()).unwrap();
        assert_eq!(out["label"], "positive");
        assert_eq!(out["task"], "sentiment");
        assert_eq!(out["scores"].as_array().unwrap().len(), 3);
        assert!(out["scores"][0]["score"].is_f64());
        let raw = run(br#"{"text":"x","labels":["a b","c"],"task":"topic"}"#).unwrap();
        assert!(raw.starts_with(r#"{"label":"#), "{raw}");
        let out: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(out["task"], "custom");
        // Deterministic.
        let inp = br#"{"text":"The team won the cup, fans were thrilled","task":"topic"}"#;
        assert_eq!(run(inp).unwrap(), run(inp).unwrap());
    }

    #[test]
    fn invalid_input_is_rejected() {
        let bad: &[&str] = &[
            "",
            "nope",
            "[]",
            "{}",
            r#"{"text":1}"#,
            r#"{"text":"x","task":"emotion"}"#,
            r#"{"text":"x","task":5}"#,
            r#"{"text":"x","labels":"a,b"}"#,
            r#"{"text":"x","labels":["only"]}"#,
            r#"{"text":"x","labels":["a",""]}"#,
            r#"{"text":"x","labels":["a","  "]}"#,
            r#"{"text":"x","labels":["a",3]}"#,
            r#"{"text":"x","labels":["a","a"]}"#,
        ];
        for b in bad {
            assert!(run(b.as_bytes()).is_err(), "accepted {b}");
        }
        let many: Vec<String> = (0..21).map(|i| format!("l{i}")).collect();
        let input = serde_json::json!({"text": "x", "labels": many}).to_string();
        assert!(run(input.as_bytes()).is_err());
        assert!(run(&[0xc3, 0x28]).is_err());
        assert!(run("[".repeat(100_000).as_bytes()).is_err());
        assert!(run(br#"{"text":"x","labels":null,"task":null,"other":{}}"#).is_ok());
        let e: Value = serde_json::from_str(&error_json("m")).unwrap();
        assert_eq!(e["error"]["code"], "invalid_input");
    }

    /// Deterministic fuzzing: random strings over a hostile alphabet never panic.
    #[test]
    fn fuzz_random_text_never_panics() {
        #[rustfmt::skip]
        const ALPHABET: &[&str] = &[
            "a", "Z", "é", "e\u{301}", "1", "3.14", ".", "..", "…", "!", "?", "?!", "。", "！", "\"",
            "”", "'", "’", ")", " ", "  ", "\n", "\n\n", "\r\n", "\t", "Mr", "U.S", "e.g", "J",
            "字", "の", "😀", "👍🏽", "😡", "שלום", "مرحبا", "؟", "\u{200F}", "\u{0}", "\u{FEFF}",
            "ǅ", "İ", "not", "very", "good", "bad", "but", "stock", "vaccine", "no", "etc", "1.",
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2_000 {
            let len = (next() % 60) as usize;
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            assert_distribution(&classify_sentiment(&s), 3);
            assert_distribution(&classify_topic(&s), 7);
            let words: Vec<&str> = s.split_whitespace().take(3).collect();
            if words.len() >= 2 && words.iter().all(|w| !w.trim().is_empty()) {
                let labels: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                let mut dedup = labels.clone();
                dedup.dedup();
                if dedup.len() == labels.len() {
                    assert_distribution(&classify_custom(&s, &labels), labels.len());
                }
            }
            let input = serde_json::json!({"text": s, "task": "topic"}).to_string();
            assert!(run(input.as_bytes()).is_ok());
            let _ = run(s.as_bytes());
        }
    }
}

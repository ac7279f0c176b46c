//! `redact` guest module: masks PII (emails, phone numbers, payment cards
//! with a Luhn check, IBANs with the mod-97 check, IPv4/IPv6 addresses) with
//! numbered placeholders and returns the reversible map; `rehydrate` puts the
//! originals back. Scanners are hand-written over ASCII bytes, linear in the
//! input, and only ever cut the text at ASCII bytes (always char boundaries).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    Ip,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::Ip];
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Ip => "ip",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Card => "CARD",
            Kind::Iban => "IBAN",
            Kind::Ip => "IP",
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.name() == s)
    }
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn before(t: &[u8], i: usize) -> u8 {
    if i == 0 {
        b' '
    } else {
        t[i - 1]
    }
}

fn at(t: &[u8], i: usize) -> u8 {
    if i < t.len() {
        t[i]
    } else {
        b' '
    }
}

// ---- email ------------------------------------------------------------------

fn is_local(b: u8) -> bool {
    is_alnum(b) || b"._%+-".contains(&b)
}

fn is_domain(b: u8) -> bool {
    is_alnum(b) || b == b'.' || b == b'-'
}

fn valid_domain(d: &[u8]) -> bool {
    let labels: Vec<&[u8]> = d.split(|&b| b == b'.').collect();
    if labels.len() < 2 {
        return false;
    }
    for l in &labels {
        if l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-' {
            return false;
        }
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2 && tld.iter().all(|b| b.is_ascii_alphabetic())
}

fn emails(t: &[u8], out: &mut Vec<(usize, usize, Kind)>) {
    let mut i = 0;
    while i < t.len() {
        if t[i] != b'@' {
            i += 1;
            continue;
        }
        let mut s = i;
        while s > 0 && is_local(t[s - 1]) {
            s -= 1;
        }
        while s < i && t[s] == b'.' {
            s += 1;
        }
        let mut e = i + 1;
        while e < t.len() && is_domain(t[e]) {
            e += 1;
        }
        while e > i + 1 && (t[e - 1] == b'.' || t[e - 1] == b'-') {
            e -= 1;
        }
        if s < i && e > i + 1 && valid_domain(&t[i + 1..e]) {
            out.push((s, e, Kind::Email));
            i = e;
        } else {
            i += 1;
        }
    }
}

// ---- digit runs: cards -----------------------------------------------------------

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Digits separated by at most one space or hyphen: (end, digits).
fn digit_run(t: &[u8], s: usize, seps: &[u8]) -> (usize, Vec<u8>) {
    let mut digits = Vec::new();
    let mut i = s;
    let mut end = s;
    while i < t.len() {
        if t[i].is_ascii_digit() {
            digits.push(t[i]);
            i += 1;
            end = i;
        } else if seps.contains(&t[i]) && i + 1 < t.len() && t[i + 1].is_ascii_digit() && end == i {
            i += 1;
        } else {
            break;
        }
        if digits.len() > 40 {
            break;
        }
    }
    (end, digits)
}

fn cards(t: &[u8], taken: &[bool], out: &mut Vec<(usize, usize, Kind)>) {
    let mut i = 0;
    while i < t.len() {
        if !t[i].is_ascii_digit() || taken[i] || is_alnum(before(t, i)) {
            i += 1;
            continue;
        }
        let (end, digits) = digit_run(t, i, b" -");
        let free = !taken[i..end].iter().any(|&x| x);
        if free
            && (13..=19).contains(&digits.len())
            && !is_alnum(at(t, end))
            && luhn(&digits)
        {
            out.push((i, end, Kind::Card));
        }
        i = end.max(i + 1);
    }
}

// ---- IBAN ------------------------------------------------------------------------

fn mod97(chars: &[u8]) -> u32 {
    // Move the first four characters to the end; letters count as 10..35.
    let mut r = 0u32;
    let rotated = chars[4..].iter().chain(chars[..4].iter());
    for &c in rotated {
        if c.is_ascii_digit() {
            r = (r * 10 + (c - b'0') as u32) % 97;
        } else {
            let v = (c - b'A' + 10) as u32;
            r = (r * 100 + v) % 97;
        }
    }
    r
}

fn ibans(t: &[u8], taken: &[bool], out: &mut Vec<(usize, usize, Kind)>) {
    let mut i = 0;
    while i + 4 <= t.len() {
        let start_ok = t[i].is_ascii_uppercase()
            && t[i + 1].is_ascii_uppercase()
            && t[i + 2].is_ascii_digit()
            && t[i + 3].is_ascii_digit()
            && !is_alnum(before(t, i))
            && !taken[i];
        if !start_ok {
            i += 1;
            continue;
        }
        // Collect uppercase alphanumerics with single spaces; remember where
        // each group ends, the only places an IBAN can end.
        let mut chars = Vec::new();
        let mut ends: Vec<(usize, usize)> = Vec::new(); // (byte end, char count)
        let mut j = i;
        while j < t.len() && chars.len() < 34 {
            let c = t[j];
            if c.is_ascii_digit() || c.is_ascii_uppercase() {
                chars.push(c);
                j += 1;
                if !(at(t, j).is_ascii_digit() || at(t, j).is_ascii_uppercase()) {
                    ends.push((j, chars.len()));
                }
            } else if c == b' ' && j + 1 < t.len() && (t[j + 1].is_ascii_digit() || t[j + 1].is_ascii_uppercase()) && j > i {
                j += 1;
            } else {
                break;
            }
        }
        if chars.len() == 34 {
            ends.push((j, 34));
        }
        let mut found = None;
        for &(end, n) in ends.iter().rev() {
            if (15..=34).contains(&n)
                && !is_alnum(at(t, end))
                && !taken[i..end].iter().any(|&x| x)
                && mod97(&chars[..n]) == 1
            {
                found = Some(end);
                break;
            }
        }
        match found {
            Some(end) => {
                out.push((i, end, Kind::Iban));
                i = end;
            }
            None => i += 1,
        }
    }
}

// ---- IP addresses ----------------------------------------------------------------

fn ipv4_at(t: &[u8], s: usize) -> Option<usize> {
    let mut i = s;
    for part in 0..4 {
        let st = i;
        let mut v = 0u32;
        while i < t.len() && t[i].is_ascii_digit() && i - st < 3 {
            v = v * 10 + (t[i] - b'0') as u32;
            i += 1;
        }
        if i == st || v > 255 || (i < t.len() && t[i].is_ascii_digit()) {
            return None;
        }
        if part < 3 {
            if at(t, i) != b'.' {
                return None;
            }
            i += 1;
        }
    }
    // Not part of a longer dotted number (version strings) or word.
    if is_alnum(at(t, i)) || (at(t, i) == b'.' && at(t, i + 1).is_ascii_digit()) {
        return None;
    }
    Some(i)
}

fn valid_ipv6(s: &[u8]) -> bool {
    let text = match std::str::from_utf8(s) {
        Ok(x) => x,
        Err(_) => return false,
    };
    if text.matches("::").count() > 1 || text.contains(":::") {
        return false;
    }
    let compressed = text.contains("::");
    let groups: Vec<&str> = text.split(':').filter(|g| !g.is_empty()).collect();
    if groups.iter().any(|g| g.len() > 4 || !g.bytes().all(|b| b.is_ascii_hexdigit())) {
        return false;
    }
    if compressed {
        groups.len() < 8 && (text.len() > 2 || text == "::")
            && !(text.starts_with(':') && !text.starts_with("::"))
            && !(text.ends_with(':') && !text.ends_with("::"))
    } else {
        groups.len() == 8 && !text.starts_with(':') && !text.ends_with(':')
    }
}

fn ips(t: &[u8], taken: &[bool], out: &mut Vec<(usize, usize, Kind)>) {
    let mut i = 0;
    while i < t.len() {
        if taken[i] {
            i += 1;
            continue;
        }
        let prev = before(t, i);
        if t[i].is_ascii_digit() && !is_alnum(prev) && prev != b'.' {
            if let Some(end) = ipv4_at(t, i) {
                if !taken[i..end].iter().any(|&x| x) {
                    out.push((i, end, Kind::Ip));
                    i = end;
                    continue;
                }
            }
        }
        if (t[i].is_ascii_hexdigit() || t[i] == b':') && !is_alnum(prev) && prev != b':' {
            let mut e = i;
            while e < t.len() && (t[e].is_ascii_hexdigit() || t[e] == b':') && e - i < 45 {
                e += 1;
            }
            let cand = &t[i..e];
            let colons = cand.iter().filter(|&&b| b == b':').count();
            if colons >= 2
                && !is_alnum(at(t, e))
                && valid_ipv6(cand)
                && !taken[i..e].iter().any(|&x| x)
            {
                out.push((i, e, Kind::Ip));
                i = e;
                continue;
            }
        }
        i += 1;
    }
}

// ---- phone numbers ---------------------------------------------------------------

fn phones(t: &[u8], taken: &[bool], out: &mut Vec<(usize, usize, Kind)>) {
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        let starts = (c == b'+' && at(t, i + 1).is_ascii_digit())
            || (c == b'(' && at(t, i + 1).is_ascii_digit())
            || (c.is_ascii_digit());
        if !starts || taken[i] || is_alnum(before(t, i)) || before(t, i) == b'+' {
            i += 1;
            continue;
        }
        let intl = c == b'+';
        let mut j = if intl { i + 1 } else { i };
        let mut digits = 0;
        let mut groups = 0;
        let mut short_groups = 0;
        let mut seps = 0;
        let mut end = i;
        let mut open = false;
        loop {
            // separators between digit groups: up to two of " -.()"
            let mut k = 0;
            while k < 2 && j < t.len() && b" -.()".contains(&t[j]) {
                if t[j] == b'(' {
                    if open {
                        break;
                    }
                    open = true;
                }
                if t[j] == b')' {
                    if !open {
                        break;
                    }
                    open = false;
                }
                j += 1;
                k += 1;
            }
            if !at(t, j).is_ascii_digit() {
                break;
            }
            if groups > 0 || k > 0 {
                seps += k;
            }
            let gs = j;
            while j < t.len() && t[j].is_ascii_digit() {
                j += 1;
            }
            let len = j - gs;
            digits += len;
            groups += 1;
            if len < 2 {
                short_groups += 1;
            }
            end = j;
            if open && at(t, j) == b')' {
                open = false;
                j += 1;
                end = j;
            }
            if digits > 15 {
                break;
            }
        }
        let ok_len = if intl { (7..=15).contains(&digits) } else { (9..=15).contains(&digits) };
        let ok = ok_len
            && !open
            && (intl || seps > 0)
            && short_groups <= 1
            && !is_alnum(at(t, end))
            && !taken[i..end].iter().any(|&x| x);
        if ok {
            out.push((i, end, Kind::Phone));
            i = end;
        } else {
            i += 1;
        }
    }
}

/// Non-overlapping PII spans in byte order. Earlier kinds win on overlap:
/// email, IBAN, card, IP, phone.
pub fn find(text: &str, kinds: &[Kind]) -> Vec<(usize, usize, Kind)> {
    let t = text.as_bytes();
    let mut taken = vec![false; t.len()];
    let mut all = Vec::new();
    let order = [Kind::Email, Kind::Iban, Kind::Card, Kind::Ip, Kind::Phone];
    for k in order.iter() {
        if !kinds.contains(k) {
            continue;
        }
        let mut found = Vec::new();
        match k {
            Kind::Email => emails(t, &mut found),
            Kind::Iban => ibans(t, &taken, &mut found),
            Kind::Card => cards(t, &taken, &mut found),
            Kind::Ip => ips(t, &taken, &mut found),
            Kind::Phone => phones(t, &taken, &mut found),
        }
        for &(s, e, kind) in &found {
            if taken[s..e].iter().any(|&x| x) {
                continue;
            }
            for x in &mut taken[s..e] {
                *x = true;
            }
            all.push((s, e, kind));
        }
    }
    all.sort();
    all
}

/// Placeholders shared across one request: the same value always gets the
/// same placeholder.
#[derive(Default)]
pub struct Redactor {
    by_value: BTreeMap<(Kind, String), String>,
    counts: BTreeMap<Kind, usize>,
    pub map: BTreeMap<String, String>,
}

impl Redactor {
    pub fn redact(&mut self, text: &str, kinds: &[Kind]) -> String {
        let spans = find(text, kinds);
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (s, e, kind) in spans {
            out.push_str(&text[last..s]);
            let value = &text[s..e];
            let key = (kind, value.to_string());
            let ph = match self.by_value.get(&key) {
                Some(p) => p.clone(),
                None => {
                    let n = self.counts.entry(kind).or_insert(0);
                    *n += 1;
                    let p = format!("[{}_{}]", kind.tag(), n);
                    self.by_value.insert(key, p.clone());
                    self.map.insert(p.clone(), value.to_string());
                    p
                }
            };
            out.push_str(&ph);
            last = e;
        }
        out.push_str(&text[last..]);
        out
    }

    pub fn counts_json(&self) -> Value {
        let mut m = Map::new();
        for k in Kind::ALL.iter() {
            m.insert(k.name().into(), json!(self.counts.get(k).copied().unwrap_or(0)));
        }
        Value::Object(m)
    }
}

/// Replaces every `[TAG_n]` found in `map` by its original; others stay.
pub fn rehydrate(text: &str, map: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        match tail.find(']') {
            Some(close) if close <= 24 => {
                let token = &tail[..=close];
                match map.get(token).and_then(|v| v.as_str()) {
                    Some(orig) => out.push_str(orig),
                    None => out.push_str(token),
                }
                rest = &tail[close + 1..];
            }
            _ => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn error_json(msg: &str) -> String {
    json!({"error": {"code": "invalid_input", "message": msg}}).to_string()
}

fn messages_apply<F: FnMut(&str) -> String>(msgs: &[Value], mut f: F) -> Result<Vec<Value>, String> {
    let mut out = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let obj = match m.as_object() {
            Some(o) => o,
            None => return Err(format!("messages[{}] must be an object", i)),
        };
        let mut o = obj.clone();
        match obj.get("content") {
            Some(Value::String(c)) => {
                o.insert("content".into(), Value::String(f(c)));
            }
            Some(Value::Null) | None => {}
            Some(_) => return Err(format!("messages[{}].content must be a string", i)),
        }
        out.push(Value::Object(o));
    }
    Ok(out)
}

/// Runs one request (the module's whole ABI minus I/O).
pub fn run(input: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(input).map_err(|e| format!("invalid JSON: {}", e))?;
    let obj = v.as_object().ok_or("input must be a JSON object")?;
    let op = match obj.get("op") {
        None | Some(Value::Null) => "redact",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err("op must be a string".into()),
    };
    let text = match obj.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err("text must be a string".into()),
    };
    let msgs = match obj.get("messages") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.as_slice()),
        Some(_) => return Err("messages must be an array".into()),
    };
    if text.is_none() && msgs.is_none() {
        return Err("give text or messages".into());
    }
    let mut out = obj.clone();
    match op {
        "redact" => {
            let kinds: Vec<Kind> = match obj.get("kinds") {
                None | Some(Value::Null) => Kind::ALL.to_vec(),
                Some(Value::Array(a)) => {
                    let mut ks = Vec::new();
                    for k in a {
                        let name = k.as_str().ok_or("kinds must be strings")?;
                        ks.push(Kind::parse(name).ok_or_else(|| {
                            format!("unknown kind '{}' (email, phone, card, iban, ip)", name)
                        })?);
                    }
                    ks
                }
                Some(_) => return Err("kinds must be an array".into()),
            };
            let mut r = Redactor::default();
            if let Some(t) = text {
                out.insert("text".into(), Value::String(r.redact(t, &kinds)));
            }
            if let Some(m) = msgs {
                let red = messages_apply(m, |c| r.redact(c, &kinds))?;
                out.insert("messages".into(), Value::Array(red));
            }
            let mut map = Map::new();
            for (k, v) in &r.map {
                map.insert(k.clone(), Value::String(v.clone()));
            }
            out.remove("kinds");
            out.remove("op");
            out.insert("map".into(), Value::Object(map));
            out.insert("counts".into(), r.counts_json());
        }
        "rehydrate" => {
            let map = match obj.get("map") {
                Some(Value::Object(m)) => m.clone(),
                _ => return Err("rehydrate needs map (an object)".into()),
            };
            if let Some(t) = text {
                out.insert("text".into(), Value::String(rehydrate(t, &map)));
            }
            if let Some(m) = msgs {
                out.insert("messages".into(), Value::Array(messages_apply(m, |c| rehydrate(c, &map))?));
            }
            out.remove("op");
            out.remove("map");
        }
        other => return Err(format!("unknown op '{}' (redact or rehydrate)", other)),
    }
    Ok(Value::Object(out).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(t: &str) -> (String, BTreeMap<String, String>) {
        let mut r = Redactor::default();
        let out = r.redact(t, &Kind::ALL);
        (out, r.map)
    }

    fn kinds_in(t: &str) -> Vec<Kind> {
        find(t, &Kind::ALL).into_iter().map(|s| s.2).collect()
    }

    #[test]
    fn emails_found_and_bounded() {
        let (o, m) = red("mail alice.b+x@mail.example.co.uk, then.");
        assert_eq!(o, "mail [EMAIL_1], then.");
        assert_eq!(m["[EMAIL_1]"], "alice.b+x@mail.example.co.uk");
        assert!(kinds_in("user@localhost").is_empty());
        assert!(kinds_in("a@b.c").is_empty());
        assert!(kinds_in("@handle and x@ y.com").is_empty());
        assert_eq!(red("(bob@ex.org)").0, "([EMAIL_1])");
    }

    #[test]
    fn cards_need_luhn() {
        assert_eq!(red("card 4111 1111 1111 1111 ok").0, "card [CARD_1] ok");
        assert_eq!(red("4111-1111-1111-1111").0, "[CARD_1]");
        assert_eq!(red("4111111111111111").0, "[CARD_1]");
        assert!(kinds_in("4111 1111 1111 1112").iter().all(|k| *k != Kind::Card));
        assert!(kinds_in("order 12345678901234567890123").is_empty());
    }

    #[test]
    fn ibans_need_mod97() {
        assert_eq!(red("IBAN DE89 3704 0044 0532 0130 00 please").0, "IBAN [IBAN_1] please");
        assert_eq!(red("GB82WEST12345698765432").0, "[IBAN_1]");
        assert!(kinds_in("DE89 3704 0044 0532 0130 01").iter().all(|k| *k != Kind::Iban));
    }

    #[test]
    fn ips_v4_and_v6() {
        assert_eq!(red("from 192.168.1.20 to 10.0.0.1.").0, "from [IP_1] to [IP_2].");
        assert!(kinds_in("999.1.1.1").is_empty());
        assert!(kinds_in("version 1.2.3.4.5").is_empty());
        assert!(kinds_in("v1.2.3.4").is_empty());
        assert_eq!(red("host 2001:db8::ff00:42:8329 up").0, "host [IP_1] up");
        assert_eq!(red("::1").0, "[IP_1]");
        assert_eq!(red("fe80:0:0:0:202:b3ff:fe1e:8329").0, "[IP_1]");
        assert!(kinds_in("at 12:30 or 12:30:45").is_empty());
        assert!(kinds_in("a::b::c").is_empty());
    }

    #[test]
    fn phones_international_and_national() {
        assert_eq!(red("call +1 (555) 123-4567 now").0, "call [PHONE_1] now");
        assert_eq!(red("call +49 30 12345678").0, "call [PHONE_1]");
        assert_eq!(red("(555) 123-4567").0, "[PHONE_1]");
        assert_eq!(red("555-123-4567").0, "[PHONE_1]");
        assert_eq!(red("030 1234 5678").0, "[PHONE_1]");
        for t in ["on 2024-01-15", "in 1999", "id 5551234567", "pi 3.14159", "1. 2. 3.", "12:30"] {
            assert!(kinds_in(t).is_empty(), "{}", t);
        }
    }

    #[test]
    fn precedence_and_same_value_same_placeholder() {
        let (o, m) = red("a@b.io wrote a@b.io and c@d.io; 4111111111111111");
        assert_eq!(o, "[EMAIL_1] wrote [EMAIL_1] and [EMAIL_2]; [CARD_1]");
        assert_eq!(m.len(), 3);
        // an IBAN's digits are never also a phone or card
        assert_eq!(kinds_in("DE89 3704 0044 0532 0130 00"), vec![Kind::Iban]);
    }

    #[test]
    fn round_trip_restores_the_exact_text() {
        let t = "Ich bin Jürgen 🙂, jurgen@beispiel.de, +49 170 1234567, IBAN DE89370400440532013000, \
                 IP 10.1.2.3 / 2001:db8::1, Karte 5500 0000 0000 0004. 東京 [EMAIL_9] [x]";
        let input = json!({"text": t});
        let out: Value = serde_json::from_str(&run(input.to_string().as_bytes()).unwrap()).unwrap();
        let red = out["text"].as_str().unwrap();
        assert!(!red.contains("jurgen@") && !red.contains("1234567") && !red.contains("10.1.2.3"));
        assert_eq!(out["counts"]["email"], 1);
        assert_eq!(out["counts"]["card"], 1);
        let back = json!({"op": "rehydrate", "text": red, "map": out["map"]});
        let b: Value = serde_json::from_str(&run(back.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(b["text"].as_str().unwrap(), t);
    }

    #[test]
    fn messages_share_the_map_and_other_fields_pass_through() {
        let input = json!({"messages": [{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": "mail x@y.org"},
                                        {"role": "user", "content": "again x@y.org"}],
                           "text": "x@y.org", "max_tokens": 5});
        let out: Value = serde_json::from_str(&run(input.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["messages"][1]["content"], "mail [EMAIL_1]");
        assert_eq!(out["messages"][2]["content"], "again [EMAIL_1]");
        assert_eq!(out["messages"][0]["role"], "system");
        assert_eq!(out["text"], "[EMAIL_1]");
        assert_eq!(out["max_tokens"], 5);
        assert_eq!(out["map"]["[EMAIL_1]"], "x@y.org");
    }

    #[test]
    fn kinds_filter() {
        let input = json!({"text": "a@b.io 10.0.0.1", "kinds": ["ip"]});
        let out: Value = serde_json::from_str(&run(input.to_string().as_bytes()).unwrap()).unwrap();
        assert_eq!(out["text"], "a@b.io [IP_1]");
        assert!(run(br#"{"text":"x","kinds":["ssn"]}"#).is_err());
    }

    #[test]
    fn bad_input_is_rejected() {
        for bad in [&b"nope"[..], b"[]", b"{}", br#"{"text":1}"#, br#"{"messages":"x"}"#,
                    br#"{"messages":[1]}"#, br#"{"messages":[{"content":5}]}"#,
                    br#"{"op":"x","text":"a"}"#, br#"{"op":"rehydrate","text":"a"}"#] {
            assert!(run(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(run(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn empty_unicode_and_huge_inputs() {
        assert_eq!(red("").0, "");
        assert_eq!(red("日本語のテキスト🙂").0, "日本語のテキスト🙂");
        let unit = "Contact a.person@example.com or +1 555 123 4567 — 東京. ";
        let big = unit.repeat(1_000_000 / unit.len() + 1);
        let start = std::time::Instant::now();
        let (o, m) = red(&big);
        assert!(start.elapsed().as_secs() < 20);
        assert_eq!(m.len(), 2);
        assert!(!o.contains("a.person@"));
        let digits = "7".repeat(1_000_000);
        assert_eq!(red(&digits).0, digits);
    }
}

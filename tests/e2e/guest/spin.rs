// Test guest: busy-waits {"ms": N} milliseconds, then echoes {"spun": N}.
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).ok();
    let ms: u64 = s
        .split("\"ms\"")
        .nth(1)
        .and_then(|r| r.trim_start_matches(|c: char| c == ':' || c.is_whitespace()).split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let until = Instant::now() + Duration::from_millis(ms);
    let mut x: u64 = 0;
    while Instant::now() < until {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    let _ = x;
    write!(std::io::stdout(), "{{\"spun\":{}}}", ms).ok();
}

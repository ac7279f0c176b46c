//! `embed` guest module (aionOS ABI v1, WASI preview1 command).
//! Reads the task's params JSON from stdin, writes one JSON document to stdout.
//! Exit 0: result; exit 2: `{"error":{"code":"invalid_input",...}}`; exit 1: other failure.

use std::io::{Read, Write};
use std::process::exit;

fn emit(doc: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = out.write_all(doc.as_bytes()).and_then(|_| out.flush()) {
        eprintln!("embed: cannot write output: {e}");
        exit(1);
    }
}

fn main() {
    // Read at most one byte past the limit: a larger document is refused without
    // holding all of it in guest memory.
    let mut input = Vec::new();
    let limit = aion_embed::MAX_PARAMS_BYTES as u64 + 1;
    if let Err(e) = std::io::stdin().lock().take(limit).read_to_end(&mut input) {
        eprintln!("embed: cannot read stdin: {e}");
        exit(1);
    }
    let texts = match aion_embed::parse_params(&input) {
        Ok(t) => t,
        Err(msg) => {
            emit(&aion_embed::error_json(&msg));
            exit(2);
        }
    };
    // The raw input is no longer needed: keep guest memory low for big inputs.
    drop(input);
    match aion_embed::run_texts(&texts) {
        Ok(doc) => emit(&doc),
        Err(msg) => {
            eprintln!("embed: {msg}");
            exit(1);
        }
    }
}

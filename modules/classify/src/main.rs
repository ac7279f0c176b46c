//! `classify` guest module (aionOS ABI v1, WASI preview1 command).
//! Reads the task's params JSON from stdin, writes one JSON document to stdout.
//! Exit 0: result; exit 2: `{"error":{"code":"invalid_input",...}}`; exit 1: other failure.

use std::io::{Read, Write};
use std::process::exit;

fn emit(doc: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = out.write_all(doc.as_bytes()).and_then(|_| out.flush()) {
        eprintln!("classify: cannot write output: {e}");
        exit(1);
    }
}

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("classify: cannot read stdin: {e}");
        exit(1);
    }
    let params = match aion_classify::parse_params(&input) {
        Ok(p) => p,
        Err(msg) => {
            emit(&aion_classify::error_json(&msg));
            exit(2);
        }
    };
    // The raw input is no longer needed: keep guest memory low for big texts.
    drop(input);
    match aion_classify::run_params(&params) {
        Ok(doc) => emit(&doc),
        Err(msg) => {
            eprintln!("classify: {msg}");
            exit(1);
        }
    }
}

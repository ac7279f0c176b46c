//! `redact` guest module (aionOS ABI v1, WASI preview1 command).
//! Exit 0: result; exit 2: `{"error":{"code":"invalid_input",...}}`; exit 1: other failure.

use std::io::{Read, Write};
use std::process::exit;

fn emit(doc: &str) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = out.write_all(doc.as_bytes()).and_then(|_| out.flush()) {
        eprintln!("redact: cannot write output: {e}");
        exit(1);
    }
}

fn main() {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut input) {
        eprintln!("redact: cannot read stdin: {e}");
        exit(1);
    }
    match aion_redact::run(&input) {
        Ok(doc) => emit(&doc),
        Err(msg) => {
            emit(&aion_redact::error_json(&msg));
            exit(2);
        }
    }
}

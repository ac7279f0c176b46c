// Test guest that misbehaves on request: {"do": "loop" | "bomb" | "flood" | "trap" | "exit3" |
// "garbage" | "escape"}. "escape" reports what reading host files, listing the root and opening
// sockets gave, as JSON.
use std::io::{Read, Write};

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).ok();
    if s.contains("\"loop\"") {
        let mut i: u64 = 0;
        loop {
            // volatile: the optimizer may not prove the loop away
            unsafe { std::ptr::write_volatile(&mut i, std::ptr::read_volatile(&i).wrapping_add(1)) };
        }
    } else if s.contains("\"bomb\"") {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![7u8; 1 << 20]);
        }
    } else if s.contains("\"flood\"") {
        let chunk = vec![b'x'; 65536];
        let mut out = std::io::stdout();
        loop {
            if out.write_all(&chunk).is_err() { std::process::exit(1); }
        }
    } else if s.contains("\"trap\"") {
        std::process::abort();
    } else if s.contains("\"exit3\"") {
        eprintln!("giving up with status 3");
        std::process::exit(3);
    } else if s.contains("\"escape\"") {
        let verdict = |ok: bool| if ok { "ok" } else { "denied" };
        let passwd = std::fs::read_to_string("/etc/passwd").is_ok();
        let root = std::fs::read_dir("/").is_ok();
        let cwd = std::fs::read_dir(".").is_ok();
        let tcp = std::net::TcpStream::connect("127.0.0.1:80").is_ok();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").is_ok();
        let env = std::env::vars().count();
        print!(
            "{{\"passwd\":\"{}\",\"root\":\"{}\",\"cwd\":\"{}\",\"tcp\":\"{}\",\"udp\":\"{}\",\"env\":{}}}",
            verdict(passwd), verdict(root), verdict(cwd), verdict(tcp), verdict(udp), env
        );
    } else if s.contains("\"garbage\"") {
        print!("this is not json");
    } else {
        print!("{{\"ok\":true}}");
    }
}

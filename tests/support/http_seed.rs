//! A web seed for tests: a small HTTP/1.1 server on 127.0.0.1 that serves a folder, honouring
//! `Range: bytes=A-B` with `206 Partial Content`, keeping connections alive. It can also lie
//! (flip one byte of everything it sends) or hang (accept, read the request, never answer).
//! Its threads end when it is dropped; every socket has a read timeout.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Serves the files as they are.
    Honest,
    /// Flips the first byte of every reply body.
    Lying,
    /// Never answers.
    Hanging,
}

/// A running server, stopped when dropped.
pub struct HttpSeed {
    /// `http://127.0.0.1:PORT/`.
    pub base: String,
    /// Range requests answered (or, hanging, received).
    pub requests: Arc<AtomicUsize>,
    /// The path of every request, in order.
    pub paths: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl HttpSeed {
    /// Serves the files under `root` at `/` with `behaviour`.
    pub fn start(root: &Path, behaviour: Behaviour) -> HttpSeed {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the web seed");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let port = listener.local_addr().expect("web seed address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = Seen { count: requests.clone(), paths: paths.clone() };
        let (root, flag) = (root.to_path_buf(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (root, flag, seen) = (root.clone(), flag.clone(), seen.clone());
                        std::thread::spawn(move || serve(stream, &root, behaviour, &flag, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HttpSeed { base: format!("http://127.0.0.1:{port}/"), requests, paths, stop }
    }
}

/// What the server counts of the requests it gets.
#[derive(Clone)]
struct Seen {
    count: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
}

impl Drop for HttpSeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn serve(stream: TcpStream, root: &Path, behaviour: Behaviour, stop: &AtomicBool, seen: &Seen) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::Acquire) {
        let Some((path, range)) = read_request(&mut reader, stop) else { return };
        seen.count.fetch_add(1, Ordering::Relaxed);
        seen.paths.lock().expect("paths lock").push(path.clone());
        if behaviour == Behaviour::Hanging {
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        let reply = answer(root, &path, range, behaviour == Behaviour::Lying);
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Reads one request: its path and its `Range`, if any. `None` when the client is gone.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    stop: &AtomicBool,
) -> Option<(String, Option<(u64, u64)>)> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => head.push(line.trim_end().to_string()),
            Err(_) if !stop.load(Ordering::Acquire) => continue, // read timeout: poll again
            Err(_) => return None,
        }
    }
    let path = head.first()?.split_whitespace().nth(1)?.to_string();
    let range = head.iter().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let spec = name.eq_ignore_ascii_case("range").then_some(value.trim())?;
        let (first, last) = spec.strip_prefix("bytes=")?.split_once('-')?;
        Some((first.parse().ok()?, last.parse().ok()?))
    });
    Some((path, range))
}

/// The whole reply to a GET of `path`.
fn answer(root: &Path, path: &str, range: Option<(u64, u64)>, lie: bool) -> Vec<u8> {
    let Some(file) = local_path(root, path).filter(|p| p.is_file()) else {
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    };
    let mut handle = std::fs::File::open(&file).expect("open a served file");
    let size = handle.metadata().expect("served file metadata").len();
    let (first, last) = range.unwrap_or((0, size.saturating_sub(1)));
    if last >= size || first > last {
        return format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\nContent-Length: 0\r\n\r\n").into_bytes();
    }
    let mut body = vec![0; usize::try_from(last - first + 1).expect("range fits memory")];
    handle.seek(SeekFrom::Start(first)).expect("seek a served file");
    handle.read_exact(&mut body).expect("read a served file");
    if lie {
        body[0] ^= 0xff;
    }
    let status = match range {
        Some(_) => format!("206 Partial Content\r\nContent-Range: bytes {first}-{last}/{size}"),
        None => "200 OK".to_string(),
    };
    let mut reply =
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    reply.extend_from_slice(&body);
    reply
}

/// The file a URL path names under `root`, percent-decoded; `None` for `..` or bad escapes.
fn local_path(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for part in path.trim_start_matches('/').split('/') {
        let bytes = part.as_bytes();
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
        let part = String::from_utf8(decoded).ok()?;
        if part.is_empty() || part == "." || part == ".." {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

//! Load-test peers for bench/proxy: a small fast HTTP backend, a TCP byte source and sink,
//! and a holder of idle keep-alive client connections. One current-thread runtime each, so a
//! peer stays on the core it is pinned to.
//!
//! ```text
//! bench_peer http-backend PORT            answer every request with a 2-byte 200, keep-alive
//! bench_peer h2-backend PORT              the same in cleartext HTTP/2 (prior knowledge)
//! bench_peer tcp-source PORT              send bytes to whoever connects, until they close
//! bench_peer tcp-sink ADDR SECS CONNS     read from ADDR for SECS seconds, print bytes read
//! bench_peer idle-clients ADDR N          open N keep-alive connections, one request each, hold
//! ```

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    match args.get(1).map(String::as_str) {
        Some("http-backend") => local.block_on(&rt, http_backend(args[2].parse().expect("port"))),
        Some("h2-backend") => local.block_on(&rt, h2_backend(args[2].parse().expect("port"))),
        Some("tcp-source") => local.block_on(&rt, tcp_source(args[2].parse().expect("port"))),
        Some("tcp-sink") => local.block_on(
            &rt,
            tcp_sink(
                args[2].clone(),
                args[3].parse().expect("secs"),
                args[4].parse().expect("conns"),
            ),
        ),
        Some("idle-clients") => local.block_on(
            &rt,
            idle_clients(args[2].clone(), args[3].parse().expect("n")),
        ),
        _ => {
            eprintln!("usage: bench_peer http-backend PORT | h2-backend PORT | tcp-source PORT | tcp-sink ADDR SECS CONNS | idle-clients ADDR N");
            std::process::exit(2);
        }
    }
}

async fn h2_backend(port: u16) {
    let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((s, _)) = l.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::task::spawn_local(async move {
            let Ok(mut conn) = h2::server::handshake(s).await else {
                return;
            };
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                drop(req);
                let r = http::Response::builder()
                    .status(200)
                    .header("content-type", "text/plain")
                    .header("content-length", "2")
                    .body(())
                    .expect("response");
                if let Ok(mut body) = respond.send_response(r, false) {
                    let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                }
            }
        });
    }
}

async fn http_backend(port: u16) {
    let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 16384];
            let mut out = Vec::with_capacity(4096);
            let mut carry = 0usize; // bytes of a partial head kept at the start of buf
            loop {
                let n = match s.read(&mut buf[carry..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let data = &buf[..carry + n];
                let mut start = 0;
                let mut close = false;
                out.clear();
                while let Some(p) = memchr::memmem::find(&data[start..], b"\r\n\r\n") {
                    let head = &data[start..start + p];
                    if memchr::memmem::find(head, b"onnection: close").is_some() {
                        close = true;
                    }
                    out.extend_from_slice(RESPONSE);
                    start += p + 4;
                }
                let rest = data.len() - start;
                buf.copy_within(start..start + rest, 0);
                carry = rest;
                if !out.is_empty() && s.write_all(&out).await.is_err() {
                    return;
                }
                if close {
                    return;
                }
            }
        });
    }
}

async fn tcp_source(port: u16) {
    let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            continue;
        };
        tokio::task::spawn_local(async move {
            let chunk = vec![b'x'; 65536];
            while s.write_all(&chunk).await.is_ok() {}
        });
    }
}

async fn tcp_sink(addr: String, secs: u64, conns: usize) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let addr = addr.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            let mut buf = vec![0u8; 65536];
            let mut total = 0u64;
            while Instant::now() < deadline {
                match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => total += n as u64,
                    Err(_) => {}
                }
            }
            total
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    println!("{total}");
}

async fn idle_clients(addr: String, n: usize) {
    let mut held = Vec::with_capacity(n);
    let mut buf = vec![0u8; 4096];
    for _ in 0..n {
        let Ok(mut s) = TcpStream::connect(&addr).await else {
            break;
        };
        if s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await
            .is_err()
        {
            break;
        }
        let _ = s.read(&mut buf).await;
        held.push(s);
    }
    println!("ready {}", held.len());
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

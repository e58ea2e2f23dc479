//! Hostile clients against the HTTP endpoint, over real sockets with a tiny raw HTTP/1.1
//! client (so the tests control exactly which bytes are sent, and when): oversized and
//! lying bodies, slow bodies, garbage, wrong content types, malformed and oversized
//! batches, and floods from one client and from one device, while honest requests are
//! still served.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use depin_attest::ingest::limits::{Limits, Rate};
use depin_attest::ingest::wire::{encode_binary, ErrorBody, JsonBatch};
use depin_attest::ingest::ItemBytes;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::{start_oracle, start_oracle_with};

/// Response headers, names lower-cased.
pub(crate) type Headers = Vec<(String, String)>;
/// Status, headers, body.
pub(crate) type Reply = (u16, Headers, Vec<u8>);

const OCTET: &str = "application/octet-stream";
const JSON: &str = "application/json";
const BINARY: &str = "application/x-depin-batch";
const IO_TIMEOUT: Duration = Duration::from_secs(20);

// ---- the raw client ----

/// Connects to `addr`, from the loopback address `from` if given (Linux routes all of
/// 127.0.0.0/8 to `lo`, so 127.0.0.2 is a second client IP on the same host).
async fn connect(addr: SocketAddr, from: Option<&str>) -> io::Result<TcpStream> {
    match from {
        None => TcpStream::connect(addr).await,
        Some(ip) => {
            let ip: std::net::IpAddr = ip
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let socket = TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(addr).await
        }
    }
}

/// A request head (through the blank line), `Connection: close`.
fn request_head(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    content_length: Option<usize>,
    extra: &str,
) -> String {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: oracle.test\r\nConnection: close\r\n");
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(n) = content_length {
        head.push_str(&format!("Content-Length: {n}\r\n"));
    }
    head.push_str(extra);
    head.push_str("\r\n");
    head
}

/// Reads one response: status line, headers, then `Content-Length` bytes (or up to EOF
/// without one). Stops at the end of the body, so a reset after it does not matter.
async fn read_response<R: AsyncRead + Unpin>(stream: &mut R) -> io::Result<Reply> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before the headers",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("headers too long"));
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(io::Error::other)?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    match header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(len) => {
            while body.len() < len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed inside the body",
                    ));
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body.truncate(len);
        }
        None => loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        },
    }
    Ok((status, headers, body))
}

/// Writes `head` and `body` (write errors ignored: a server may answer and hang up before
/// reading everything), then reads the response.
async fn exchange(stream: &mut TcpStream, head: &str, body: &[u8]) -> Reply {
    let _ = stream.write_all(head.as_bytes()).await;
    if !body.is_empty() {
        let _ = stream.write_all(body).await;
    }
    timeout(IO_TIMEOUT, read_response(stream))
        .await
        .expect("a response in time")
        .expect("a response")
}

pub(crate) async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Reply {
    post_from(addr, None, path, content_type, body).await
}

async fn post_from(
    addr: SocketAddr,
    from: Option<&str>,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Reply {
    let mut stream = connect(addr, from).await.expect("connect");
    let head = request_head("POST", path, Some(content_type), Some(body.len()), "");
    exchange(&mut stream, &head, body).await
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    let mut stream = connect(addr, None).await.expect("connect");
    exchange(&mut stream, &request_head("GET", path, None, None, ""), &[]).await
}

pub(crate) fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lossy(body)))
}

/// Asserts a refusal: its status, its JSON [`ErrorBody`] and code, and that `Retry-After`
/// agrees with the body.
fn assert_refused(reply: &Reply, status: u16, code: &str) -> ErrorBody {
    let (got, headers, body) = reply;
    assert_eq!(*got, status, "{}", lossy(body));
    let err: ErrorBody = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not an ErrorBody ({e}): {}", lossy(body)));
    assert_eq!(err.error, code, "{err:?}");
    let retry = header(headers, "retry-after").map(|v| v.parse::<u64>().unwrap());
    assert_eq!(retry, err.retry_after_secs, "{err:?}");
    err
}

fn retry_after(headers: &Headers) -> u64 {
    header(headers, "retry-after")
        .expect("a Retry-After header")
        .parse()
        .unwrap()
}

fn statuses(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {v}"))
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

// ---- well-formed traffic ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let oracle = start_oracle().await;
    let (status, _, body) = get(oracle.addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"ok");

    let reply = post(oracle.addr, "/v1/frames", "text/plain", b"x").await;
    assert_refused(&reply, 415, "unsupported_media_type");

    let (status, headers, body) = get(oracle.addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/plain; version=0.0.4")
    );
    let text = lossy(&body);
    assert!(
        text.contains("# TYPE depin_ingest_refused_total counter"),
        "{text}"
    );
    assert!(
        text.contains("depin_ingest_refused_total{cause=\"unsupported_media_type\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("depin_ingest_latency_seconds_bucket{le=\"+Inf\"} "),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_items_get_durable_verdicts_even_garbage() {
    let oracle = start_oracle().await;
    let addr = oracle.addr;

    let (status, _, body) = post(addr, "/v1/frames", OCTET, &oracle.frame(0, 1)).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    let v = json(&body);
    assert_eq!(v["result"]["status"], "accepted", "{v}");
    assert!(v["result"]["digest"].is_string(), "{v}");

    // The same frame again: a durable replay verdict, still a 200.
    let (status, _, body) = post(addr, "/v1/frames", OCTET, &oracle.frame(0, 1)).await;
    assert_eq!(status, 200);
    let v = json(&body);
    assert_eq!(v["result"]["status"], "rejected", "{v}");
    assert_eq!(v["result"]["reason"], "replayed", "{v}");

    // Garbage as a frame: judged, rejected, answered 200.
    let (status, _, body) = post(addr, "/v1/frames", OCTET, b"definitely not a frame").await;
    assert_eq!(status, 200, "{}", lossy(&body));
    let v = json(&body);
    assert_eq!(v["result"]["status"], "rejected", "{v}");
    assert!(
        v["result"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{v}"
    );

    // A signed envelope on its own route.
    let (status, _, body) = post(addr, "/v1/envelopes", OCTET, &oracle.envelope(2, 1)).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(
        json(&body)["result"]["status"],
        "accepted",
        "{}",
        lossy(&body)
    );

    // A frame posted as an envelope is judged as one: rejected, not an error.
    let (status, _, body) = post(addr, "/v1/envelopes", OCTET, &oracle.frame(3, 1)).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["result"]["status"], "rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_answer_every_item_in_order() {
    let oracle = start_oracle().await;
    let addr = oracle.addr;

    let items: Vec<ItemBytes> = (1..=3)
        .map(|seq| ItemBytes::Frame(oracle.frame(0, seq)))
        .collect();
    let body = serde_json::to_vec(&JsonBatch::new(items)).unwrap();
    let (status, _, body) = post(addr, "/v1/batch", "application/json; charset=utf-8", &body).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(statuses(&json(&body)), ["accepted", "accepted", "accepted"]);

    let items = vec![
        ItemBytes::Frame(oracle.frame(1, 1)),
        ItemBytes::Frame(b"garbage".to_vec()),
        ItemBytes::Envelope(oracle.envelope(2, 1)),
    ];
    let (status, _, body) = post(addr, "/v1/batch", BINARY, &encode_binary(&items)).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(statuses(&json(&body)), ["accepted", "rejected", "accepted"]);
}

// ---- refusals ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415() {
    let oracle = start_oracle().await;
    let addr = oracle.addr;
    for (path, content_type) in [
        ("/v1/frames", "text/plain"),
        ("/v1/envelopes", JSON),
        ("/v1/batch", OCTET),
        ("/v1/batch", "multipart/form-data; boundary=x"),
    ] {
        let reply = post(addr, path, content_type, b"{}").await;
        assert_refused(&reply, 415, "unsupported_media_type");
    }
    // No Content-Type at all.
    let mut stream = connect(addr, None).await.unwrap();
    let head = request_head("POST", "/v1/frames", None, Some(3), "");
    let reply = exchange(&mut stream, &head, b"abc").await;
    assert_refused(&reply, 415, "unsupported_media_type");
    assert_eq!(
        oracle
            .handle
            .metrics()
            .refused_count("unsupported_media_type"),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_oversize_body_is_413_without_reading_it() {
    let oracle = start_oracle().await;
    let limits = oracle.handle.limits().clone();
    for (path, content_type, len) in [
        ("/v1/batch", BINARY, limits.max_body_bytes + 1),
        ("/v1/frames", OCTET, limits.max_item_bytes + 1),
        // 1 TiB (hyper itself refuses lengths near u64::MAX).
        ("/v1/batch", JSON, 1usize << 40),
    ] {
        let mut stream = connect(oracle.addr, None).await.unwrap();
        let head = request_head("POST", path, Some(content_type), Some(len), "");
        stream.write_all(head.as_bytes()).await.unwrap();
        // No body is sent: the answer comes from the header alone.
        let reply = timeout(Duration::from_secs(5), read_response(&mut stream))
            .await
            .expect("answered without the body")
            .unwrap();
        assert_refused(&reply, 413, "too_large");
    }
    assert_eq!(oracle.handle.metrics().refused_count("too_large"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_over_the_cap_is_cut_off() {
    let oracle = start_oracle_with(Limits {
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    })
    .await;
    let stream = connect(oracle.addr, None).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = request_head(
        "POST",
        "/v1/batch",
        Some(BINARY),
        None,
        "Transfer-Encoding: chunked\r\n",
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    // 4 MiB in 16 KiB chunks, no declared length; stops when the server hangs up.
    let writer = tokio::spawn(async move {
        let chunk = vec![b'x'; 16 * 1024];
        for _ in 0..256 {
            let size = format!("{:x}\r\n", chunk.len());
            if wr.write_all(size.as_bytes()).await.is_err()
                || wr.write_all(&chunk).await.is_err()
                || wr.write_all(b"\r\n").await.is_err()
            {
                return;
            }
        }
        let _ = wr.write_all(b"0\r\n\r\n").await;
    });
    let read = timeout(IO_TIMEOUT, read_response(&mut rd))
        .await
        .expect("answered in time");
    match read {
        Ok(reply) => {
            assert_refused(&reply, 413, "too_large");
        }
        // The server refused and hung up while we were still sending; the refusal itself
        // is checked on the counter below.
        Err(e) => eprintln!("connection broken before the answer was read: {e}"),
    }
    writer.abort();
    assert_eq!(oracle.handle.metrics().refused_count("too_large"), 1);
    let (status, ..) = get(oracle.addr, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_content_length_reads_only_what_was_declared() {
    let oracle = start_oracle().await;
    let stream = connect(oracle.addr, None).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    // 32 bytes declared, then 8 MiB more: the 32 are the frame, the rest is never a body.
    let head = request_head("POST", "/v1/frames", Some(OCTET), Some(32), "");
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        if wr.write_all(&[b'z'; 32]).await.is_err() {
            return;
        }
        let junk = vec![b'j'; 64 * 1024];
        for _ in 0..128 {
            if wr.write_all(&junk).await.is_err() {
                return;
            }
        }
    });
    let read = timeout(IO_TIMEOUT, read_response(&mut rd))
        .await
        .expect("answered in time");
    match read {
        Ok((status, _, body)) => {
            assert_eq!(status, 200, "{}", lossy(&body));
            assert_eq!(json(&body)["result"]["status"], "rejected");
        }
        Err(e) => eprintln!("connection broken before the answer was read: {e}"),
    }
    writer.abort();
    // Still serving honest clients.
    let (status, ..) = get(oracle.addr, "/healthz").await;
    assert_eq!(status, 200);
    let (status, _, body) = post(oracle.addr, "/v1/frames", OCTET, &oracle.frame(0, 1)).await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["result"]["status"], "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_body_is_408_within_the_body_timeout() {
    let body_timeout = Duration::from_millis(1500);
    let oracle = start_oracle_with(Limits {
        body_timeout,
        ..Limits::default()
    })
    .await;
    let stream = connect(oracle.addr, None).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let head = request_head("POST", "/v1/frames", Some(OCTET), Some(100), "");
    wr.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // One byte a second: 100 s for the whole body.
    let writer = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let reply = timeout(
        body_timeout + Duration::from_secs(5),
        read_response(&mut rd),
    )
    .await
    .expect("answered before the body was complete")
    .expect("a response");
    let elapsed = started.elapsed();
    writer.abort();
    assert_refused(&reply, 408, "timeout");
    assert!(
        elapsed >= body_timeout - Duration::from_millis(200),
        "answered after {elapsed:?}"
    );
    assert!(
        elapsed < body_timeout + Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    assert_eq!(oracle.handle.metrics().refused_count("timeout"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_batches_are_400() {
    let oracle = start_oracle().await;
    let cases: [(&str, &[u8], &str); 10] = [
        (BINARY, b"DPB1\x01\x00\x10abc", "malformed"),
        (BINARY, b"not a batch", "malformed"),
        (BINARY, b"DPB1\x07\x00\x01a", "malformed"),
        (BINARY, b"DPB1\x01\x00\x01a\x02\x00", "malformed"),
        (BINARY, b"DPB1", "empty"),
        (BINARY, b"DPB1\x01\x10\x00", "item_too_large"),
        (JSON, b"{\"items\": 5}", "malformed"),
        (JSON, b"{\"items\": [{\"frame\": \"***\"}]}", "malformed"),
        (JSON, b"{\"items\": []}", "empty"),
        (JSON, b"{\"items\": [{\"frame\": \"AAAA\"}]", "malformed"),
    ];
    for (content_type, body, code) in cases {
        let reply = post(oracle.addr, "/v1/batch", content_type, body).await;
        let err = assert_refused(&reply, 400, code);
        assert!(!err.message.is_empty());
    }
    // An empty single frame.
    let reply = post(oracle.addr, "/v1/frames", OCTET, b"").await;
    assert_refused(&reply, 400, "empty");
    assert_eq!(oracle.handle.metrics().refused_count("bad_request"), 11);
    assert_eq!(oracle.handle.metrics().accepted(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_items_is_400() {
    let oracle = start_oracle_with(Limits {
        max_items_per_request: 8,
        ..Limits::default()
    })
    .await;
    let nine: Vec<ItemBytes> = (1..=9)
        .map(|seq| ItemBytes::Frame(oracle.frame(0, seq)))
        .collect();
    let reply = post(oracle.addr, "/v1/batch", BINARY, &encode_binary(&nine)).await;
    let err = assert_refused(&reply, 400, "too_many_items");
    assert!(err.message.contains('8'), "{err:?}");
    let json_body = serde_json::to_vec(&JsonBatch::new(nine.clone())).unwrap();
    let reply = post(oracle.addr, "/v1/batch", JSON, &json_body).await;
    assert_refused(&reply, 400, "too_many_items");
    // Exactly the limit is served.
    let (status, _, body) =
        post(oracle.addr, "/v1/batch", BINARY, &encode_binary(&nine[..8])).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(statuses(&json(&body)).len(), 8);
}

/// Posts garbage frames from 127.0.0.1 until one is refused; the count served and the 429.
async fn flood_until_limited(addr: SocketAddr) -> (usize, Reply) {
    let mut served = 0;
    for _ in 0..100 {
        let reply = post(addr, "/v1/frames", OCTET, b"flood").await;
        match reply.0 {
            200 => served += 1,
            429 => return (served, reply),
            other => panic!("status {other}: {}", lossy(&reply.2)),
        }
    }
    panic!("the flood was never limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_from_one_client_is_429_while_another_is_served() {
    let oracle = start_oracle_with(Limits {
        client_rate: Rate::new(1, 5),
        ..Limits::default()
    })
    .await;
    let addr = oracle.addr;

    let (served, reply) = flood_until_limited(addr).await;
    assert!(served >= 5, "the burst is served: {served}");
    let err = assert_refused(&reply, 429, "rate_limited");
    let secs = retry_after(&reply.1);
    assert!((1..=5).contains(&secs), "Retry-After {secs}");
    assert_eq!(err.retry_after_secs, Some(secs));

    // An over-limit client is refused on its headers, before its body is read. (A token
    // comes back every second: if one did in between, flood again.)
    let mut early = None;
    for _ in 0..3 {
        let mut stream = connect(addr, None).await.unwrap();
        let head = request_head("POST", "/v1/frames", Some(OCTET), Some(1000), "");
        stream.write_all(head.as_bytes()).await.unwrap();
        let answered = timeout(Duration::from_secs(2), read_response(&mut stream)).await;
        drop(stream);
        match answered {
            Ok(reply) => {
                early = Some(reply.unwrap());
                break;
            }
            Err(_) => {
                flood_until_limited(addr).await;
            }
        }
    }
    let reply = early.expect("a 429 without the body");
    assert_refused(&reply, 429, "rate_limited");
    assert!(oracle.handle.metrics().refused_count("rate_limited") >= 2);

    // Another client IP has its own bucket: an honest frame is served during the flood.
    if let Err(e) = connect(addr, Some("127.0.0.2")).await {
        eprintln!("skipping the second client: cannot connect from 127.0.0.2 ({e})");
        return;
    }
    let (status, _, body) = post_from(
        addr,
        Some("127.0.0.2"),
        "/v1/frames",
        OCTET,
        &oracle.frame(1, 1),
    )
    .await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(json(&body)["result"]["status"], "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_rate_refuses_the_whole_request() {
    let oracle = start_oracle_with(Limits {
        device_rate: Rate::new(1, 2),
        ..Limits::default()
    })
    .await;
    let addr = oracle.addr;
    let three: Vec<ItemBytes> = (1..=3)
        .map(|seq| ItemBytes::Frame(oracle.frame(0, seq)))
        .collect();
    let reply = post(addr, "/v1/batch", BINARY, &encode_binary(&three)).await;
    let err = assert_refused(&reply, 429, "rate_limited");
    assert!(retry_after(&reply.1) >= 1);
    assert!(err.message.contains("device"), "{err:?}");
    assert_eq!(
        oracle.handle.metrics().accepted(),
        0,
        "nothing of a refused request is recorded"
    );

    // Nothing was taken from device 0's bucket by the refused request: two of its frames
    // pass, in a batch with another device's.
    let ok = vec![
        ItemBytes::Frame(oracle.frame(0, 1)),
        ItemBytes::Frame(oracle.frame(0, 2)),
        ItemBytes::Frame(oracle.frame(1, 1)),
    ];
    let (status, _, body) = post(addr, "/v1/batch", BINARY, &encode_binary(&ok)).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(statuses(&json(&body)), ["accepted", "accepted", "accepted"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_parameter_checks_the_kinds_and_bad_ones_are_400() {
    let oracle = start_oracle().await;
    let addr = oracle.addr;
    // an energy reading sent as published where storage items travel: refused, and its
    // sequence number stays free for the real one
    let reading = oracle.envelope(1, 1);
    let (status, _, body) = post(addr, "/v1/envelopes?topic=storage", OCTET, &reading).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    let v = json(&body);
    assert_eq!(v["result"]["reason"], "wrong_topic", "{v}");
    let (status, _, body) = post(addr, "/v1/envelopes?topic=energy", OCTET, &reading).await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(json(&body)["result"]["status"], "accepted");

    // a batch on one topic: the frame is off its topic, the reading on it
    let items = vec![
        ItemBytes::Frame(oracle.frame(0, 1)),
        ItemBytes::Envelope(oracle.envelope(2, 1)),
    ];
    let (status, _, body) = post(
        addr,
        "/v1/batch?topic=energy",
        BINARY,
        &encode_binary(&items),
    )
    .await;
    assert_eq!(status, 200, "{}", lossy(&body));
    assert_eq!(statuses(&json(&body)), ["rejected", "accepted"]);

    // refused before the body is read: not a label, twice, on the frame route, unknown
    for path in [
        "/v1/envelopes?topic=Energy",
        "/v1/envelopes?topic=",
        "/v1/envelopes?topic=energy&topic=storage",
        "/v1/frames?topic=report",
        "/v1/batch?kind=energy",
    ] {
        let reply = post(addr, path, OCTET, &reading).await;
        assert_refused(&reply, 400, "bad_topic");
    }
}

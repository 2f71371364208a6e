//! `timbral serve` over HTTP on 127.0.0.1, beside a real `redis-server`
//! (both started and stopped here): the precompute served, the computed
//! fallback when a key is missing or Redis is stopped mid-test, similar
//! users, explanations, the Worker's routes, metrics, JSON logs with
//! request ids, and a bounded load run that prints p50 / p99 / errors.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use common::{ok, s};
use serde_json::Value;
use timbral_redis::local_server::LocalServer;

struct Serving {
    child: Child,
    addr: String,
    logs: std::sync::mpsc::Receiver<String>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(bundle: &str, redis: &str) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timbral"))
        .args([
            "-q",
            "serve",
            "--bundle",
            bundle,
            "--addr",
            "127.0.0.1:0",
            "--redis",
            redis,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("no address: {line}"))
        .to_string();
    let (tx, logs) = std::sync::mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    Serving { child, addr, logs }
}

/// One HTTP/1.1 request: (status, headers lower-cased, body).
fn http(addr: &str, method: &str, path: &str, body: &str, extra: &str) -> (u16, String, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    c.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn get(addr: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = http(addr, "GET", path, "", "");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn items(v: &Value) -> Vec<(String, f64)> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {v}"))
        .iter()
        .map(|x| {
            (
                x["item"].as_str().unwrap().to_string(),
                x["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_native_server_serves_the_precompute_and_falls_back_when_redis_is_down() {
    let Some(mut redis) = LocalServer::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = common::small_bundle(dir.path(), 200, 300);
    let url = redis.url();
    ok(&[
        "precompute",
        "--bundle",
        s(&bundle),
        "--k",
        "20",
        "--redis",
        &url,
    ]);
    let srv = serve(s(&bundle), &url);
    let a = srv.addr.as_str();

    let (status, v) = get(a, "/healthz");
    assert_eq!((status, v["status"].as_str()), (200, Some("ok")), "{v}");

    // Every user's top-10 as the CLI ranks them.
    let mut lists: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in ok(&[
        "recommend",
        "--bundle",
        s(&bundle),
        "--all-users",
        "--k",
        "10",
    ])
    .lines()
    {
        let f: Vec<&str> = line.split('\t').collect();
        lists.entry(f[0].into()).or_default().push(f[1].into());
    }
    let users: Vec<String> = lists.keys().cloned().collect();
    assert_eq!(users.len(), 200);
    let (user, other) = (users[17].as_str(), users[18].as_str());

    // From Redis: the precompute's list, cut to k.
    let (status, v) = get(a, &format!("/rec/users/{user}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["source"].as_str(), v["version"].as_u64()),
        (Some("redis"), Some(1)),
        "{v}"
    );
    let from_redis = items(&v);
    assert_eq!(from_redis.len(), 10);
    let (_, v3) = get(a, &format!("/rec/users/{user}?k=3"));
    assert_eq!(items(&v3), from_redis[..3].to_vec());
    let ids: Vec<String> = from_redis.iter().map(|x| x.0.clone()).collect();
    assert_eq!(ids, lists[user]);

    // A key the precompute lacks: computed, the same ranking.
    let (status, v) = get(a, "/rec/users/nobody");
    assert_eq!(status, 404, "{v}");
    let _: () = timbral_redis::redis::cmd("DEL")
        .arg(timbral_redis::Layout::default().user(1, other))
        .query(&mut timbral_redis::connect(&url).unwrap())
        .unwrap();
    let (_, v) = get(a, &format!("/rec/users/{other}"));
    assert_eq!(v["source"], "computed", "{v}");
    let ids: Vec<String> = items(&v).into_iter().map(|x| x.0).collect();
    assert_eq!(ids, lists[other]);

    let (status, v) = get(a, &format!("/rec/users/{user}/similar?k=5"));
    assert_eq!(
        (status, v["users"].as_array().map(Vec::len)),
        (200, Some(5)),
        "{v}"
    );
    let item = &from_redis[0].0;
    let (status, v) = get(a, &format!("/explain/{user}/{item}"));
    assert_eq!(
        (status, v["explanation"]["item"].as_str()),
        (200, Some(item.as_str())),
        "{v}"
    );
    // The Worker's routes, unchanged.
    let (status, _, body) = http(
        a,
        "POST",
        "/recs",
        &format!(r#"{{"history":[{{"item":"{item}"}}],"k":4}}"#),
        "",
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, v["items"].as_array().map(Vec::len)),
        (200, Some(4)),
        "{v}"
    );
    let (status, _, body) = http(a, "POST", "/recs", "{not json", "");
    assert!(status == 400 && body.contains("error"), "{status} {body}");

    // A request id is kept where the client sent one, made up otherwise.
    let (_, head, _) = http(a, "GET", "/healthz", "", "x-request-id: abc-123\r\n");
    assert!(head.contains("x-request-id: abc-123"), "{head}");
    let (_, head, _) = http(a, "GET", "/healthz", "", "");
    assert!(head.contains("x-request-id: req-"), "{head}");

    // A bounded load run (served from Redis), its figures printed.
    let users = &users;
    let load = |label: &str| {
        let started = Instant::now();
        let results: Vec<(u16, f64)> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    sc.spawn(move || {
                        (0..150)
                            .map(|i| {
                                let t0 = Instant::now();
                                let (st, _, _) = http(
                                    a,
                                    "GET",
                                    &format!("/rec/users/{}", users[(t * 37 + i) % 200]),
                                    "",
                                    "",
                                );
                                (st, t0.elapsed().as_secs_f64() * 1e3)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut ms: Vec<f64> = results.iter().map(|r| r.1).collect();
        ms.sort_by(f64::total_cmp);
        let errors = results.iter().filter(|r| r.0 != 200).count();
        println!(
            "load ({label}): {} requests, 4 connections at a time, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, errors {errors}",
            ms.len(),
            ms.len() as f64 / started.elapsed().as_secs_f64(),
            ms[ms.len() / 2],
            ms[ms.len() * 99 / 100],
        );
        errors
    };
    assert_eq!(load("from Redis"), 0);

    // Redis stops mid-test: the same route still answers, computed.
    redis.stop();
    let (status, v) = get(a, &format!("/rec/users/{user}"));
    assert_eq!(
        (status, v["source"].as_str()),
        (200, Some("computed")),
        "{v}"
    );
    let computed: Vec<String> = items(&v).into_iter().map(|x| x.0).collect();
    let precomputed: Vec<String> = from_redis.iter().map(|x| x.0.clone()).collect();
    assert_eq!(
        computed, precomputed,
        "the fallback ranks as the precompute did"
    );
    assert_eq!(load("Redis down, computed"), 0);

    let (status, _, text) = http(a, "GET", "/metrics", "", "");
    assert_eq!(status, 200);
    assert!(text.contains(r#"route="/rec/users/{id}""#), "{text}");

    // One JSON log line a request, with its id and what the store did.
    let logs: Vec<Value> = std::iter::from_fn(|| {
        srv.logs
            .recv_timeout(std::time::Duration::from_secs(2))
            .ok()
    })
    .take_while(|l| !l.contains(r#""route":"/metrics""#))
    .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l}: {e}")))
    .collect();
    assert!(logs
        .iter()
        .all(|l| l["request_id"].is_string() && l["status"].is_u64()));
    assert!(logs.iter().any(|l| l["store"] == "hit"));
    assert!(logs.iter().any(|l| l["store"] == "miss"));
    assert!(
        logs.iter()
            .any(|l| l["store"].as_str().is_some_and(|s| s.starts_with("down"))),
        "no request saw Redis down"
    );
}

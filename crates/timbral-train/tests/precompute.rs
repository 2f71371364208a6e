//! `timbral precompute --redis` against a real `redis-server` on
//! 127.0.0.1, started and stopped here: the lists are `recommend
//! --all-users`' lists, and a second run replaces the first whole.

mod common;

use common::{fails, ok, s};
use timbral_redis::local_server::LocalServer;
use timbral_redis::{connect, current_version, read_meta, read_user, Layout};

#[test]
fn precompute_publishes_every_users_top_k_and_a_rerun_replaces_it() {
    let Some(server) = LocalServer::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bundle = common::small_bundle(dir.path(), 120, 150);
    let url = server.url();
    let said = ok(&[
        "precompute",
        "--bundle",
        s(&bundle),
        "--k",
        "7",
        "--redis",
        &url,
        "--prefix",
        "p:",
        "--batch",
        "50",
    ]);
    assert!(
        said.contains("top-7 for 120 users") && said.contains("users/s"),
        "{said}"
    );
    assert!(said.contains("first version"), "{said}");

    // The same lists, order and scores as `recommend --all-users`.
    let tsv = ok(&[
        "recommend",
        "--bundle",
        s(&bundle),
        "--all-users",
        "--k",
        "7",
    ]);
    let mut want: std::collections::BTreeMap<String, Vec<(String, f32)>> = Default::default();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        want.entry(f[0].into())
            .or_default()
            .push((f[1].into(), f[3].parse().unwrap()));
    }
    assert_eq!(want.len(), 120);
    let mut con = connect(&url).unwrap();
    let layout = Layout::new("p:");
    for (user, list) in &want {
        let (v, recs) = read_user(&mut con, &layout, user).unwrap().unwrap();
        assert_eq!(v, 1);
        let got: Vec<(String, f32)> = recs.into_iter().map(|r| (r.item, r.score)).collect();
        assert_eq!(&got, list, "user {user}");
    }
    assert_eq!(read_meta(&mut con, &layout, 1).unwrap().unwrap().k, 7);

    // A second run with a TTL: readers move to it, the first is deleted.
    let said = ok(&[
        "precompute",
        "--bundle",
        s(&bundle),
        "--k",
        "3",
        "--redis",
        &url,
        "--prefix",
        "p:",
        "--ttl",
        "900",
    ]);
    assert!(
        said.contains("switched from version 1") && said.contains("121 keys"),
        "{said}"
    );
    assert_eq!(current_version(&mut con, &layout).unwrap(), Some(2));
    let (_, recs) = read_user(&mut con, &layout, want.keys().next().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(recs.len(), 3);
    let old: Vec<String> = timbral_redis::redis::cmd("KEYS")
        .arg("p:v1:*")
        .query(&mut con)
        .unwrap();
    assert!(old.is_empty(), "{old:?}");

    // For Workers KV: the same lists as a `wrangler kv bulk put` file.
    let bulk = dir.path().join("kv.json");
    let said = ok(&[
        "precompute",
        "--bundle",
        s(&bundle),
        "--k",
        "4",
        "--kv-bulk",
        s(&bulk),
        "--prefix",
        "p:",
        "--ttl",
        "3600",
    ]);
    assert!(said.contains("top-4 for 120 users"), "{said}");
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&bulk).unwrap()).unwrap();
    assert_eq!(entries.len(), 120);
    for e in &entries {
        let user = e["key"].as_str().unwrap().strip_prefix("p:user:").unwrap();
        let recs: Vec<timbral_redis::Rec> =
            serde_json::from_str(e["value"].as_str().unwrap()).unwrap();
        let got: Vec<(String, f32)> = recs.into_iter().map(|r| (r.item, r.score)).collect();
        assert_eq!(got, want[user][..4].to_vec(), "user {user}");
        assert_eq!(e["expiration_ttl"], 3600);
    }
    let err = fails(&["precompute", "--bundle", s(&bundle)]);
    assert!(err.contains("--redis"), "{err}");

    // Bad targets are named.
    let err = fails(&[
        "precompute",
        "--bundle",
        s(&bundle),
        "--redis",
        "nonsense://x",
    ]);
    assert!(err.contains("--redis nonsense://x"), "{err}");
    let client = dir.path().join("client.bundle");
    ok(&["export", "--client", s(&bundle), s(&client)]);
    let err = fails(&["precompute", "--bundle", s(&client), "--redis", &url]);
    assert!(err.contains("client bundle"), "{err}");
}

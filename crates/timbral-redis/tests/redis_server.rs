//! Against a real `redis-server` on 127.0.0.1, started and stopped here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use timbral_redis::local_server::LocalServer;
use timbral_redis::{current_version, read_meta, read_user, Layout, Publisher, Rec, RunMeta};

fn server() -> Option<LocalServer> {
    LocalServer::for_test()
}

/// `users` listeners' lists for a run tagged `tag`: item names say which run
/// wrote them.
fn lists(tag: &str, users: usize, k: usize) -> Vec<(String, Vec<Rec>)> {
    (0..users)
        .map(|u| {
            let recs = (0..k)
                .map(|r| Rec {
                    item: format!("{tag}-{u}-{r}"),
                    score: 1.0 - r as f32 * 0.1,
                })
                .collect();
            (format!("u{u}"), recs)
        })
        .collect()
}

fn meta(users: usize, k: usize) -> RunMeta {
    RunMeta {
        users,
        k,
        source: "test".into(),
        trainer: "test".into(),
    }
}

fn publish(
    con: &mut redis::Connection,
    layout: &Layout,
    tag: &str,
    users: usize,
    ttl: Option<u64>,
) -> timbral_redis::Published {
    let mut p = Publisher::begin(con, layout.clone(), ttl).unwrap();
    for batch in lists(tag, users, 5).chunks(100) {
        p.write(batch).unwrap();
    }
    p.finish(&meta(users, 5)).unwrap()
}

fn keys(con: &mut redis::Connection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS").arg(pattern).query(con).unwrap()
}

#[test]
fn runs_switch_atomically_and_clean_up_after_themselves() {
    let Some(server) = server() else { return };
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let layout = Layout::new("t:");
    assert_eq!(read_user(&mut con, &layout, "u0").unwrap(), None);

    let first = publish(&mut con, &layout, "a", 300, None);
    assert_eq!((first.version, first.users, first.previous), (1, 300, None));
    let (v, recs) = read_user(&mut con, &layout, "u7").unwrap().unwrap();
    assert_eq!((v, recs.len(), recs[0].item.as_str()), (1, 5, "a-7-0"));
    assert_eq!(read_user(&mut con, &layout, "nobody").unwrap(), None);
    assert_eq!(read_meta(&mut con, &layout, 1).unwrap(), Some(meta(300, 5)));

    // A reader polling while the next run writes 3,000 lists: each snapshot
    // of 50 listeners, read under one pointer value, is whole and of one run.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (client, layout, stop) = (client.clone(), layout.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            let (mut snapshots, mut seen) = (0, std::collections::BTreeSet::new());
            while !stop.load(Ordering::Relaxed) {
                let v = current_version(&mut con, &layout).unwrap().unwrap();
                let ks: Vec<String> = (0..50).map(|u| layout.user(v, &format!("u{u}"))).collect();
                let vals: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&ks).query(&mut con).unwrap();
                if current_version(&mut con, &layout).unwrap() != Some(v) {
                    continue; // switched mid-read: the old set may be going
                }
                let tag = if v == 1 { "a" } else { "b" };
                for (u, val) in vals.iter().enumerate() {
                    let val = val.as_ref().unwrap_or_else(|| panic!("v{v}: u{u} missing"));
                    let recs: Vec<Rec> = serde_json::from_str(val).unwrap();
                    assert_eq!(recs[0].item, format!("{tag}-{u}-0"), "v{v} mixed");
                }
                snapshots += 1;
                seen.insert(v);
            }
            (snapshots, seen)
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let second = publish(&mut con, &layout, "b", 3000, None);
    std::thread::sleep(std::time::Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    let (snapshots, seen) = reader.join().unwrap();
    assert!(snapshots > 0);
    assert!(seen.contains(&2), "the reader saw the switch: {seen:?}");
    assert_eq!((second.version, second.previous), (2, Some(1)));
    assert_eq!(second.deleted_versions, vec![1]);
    assert_eq!(second.deleted_keys, 301, "300 lists and the meta");
    assert!(keys(&mut con, "t:v1:*").is_empty());
    assert_eq!(keys(&mut con, "t:v2:*").len(), 3001);

    // A run that dies before its switch leaves readers on the last one,
    // and the next run clears it out.
    {
        let mut dead = Publisher::begin(&mut con, layout.clone(), None).unwrap();
        dead.write(&lists("dead", 10, 5)).unwrap();
    }
    assert_eq!(current_version(&mut con, &layout).unwrap(), Some(2));
    assert_eq!(read_user(&mut con, &layout, "u3").unwrap().unwrap().0, 2);
    let fourth = publish(&mut con, &layout, "c", 20, Some(600));
    assert_eq!(fourth.deleted_versions, vec![2, 3]);
    let ttl: i64 = redis::cmd("TTL")
        .arg(layout.user(4, "u1"))
        .query(&mut con)
        .unwrap();
    assert!(ttl > 0 && ttl <= 600, "{ttl}");
    let left: Vec<String> = keys(&mut con, "t:*");
    assert_eq!(
        left.len(),
        20 + 1 + 3,
        "lists, meta, next, versions, current: {left:?}"
    );

    // A corrupt list is an error that names its key, not a panic.
    let _: () = redis::cmd("SET")
        .arg(layout.user(4, "u1"))
        .arg("not json")
        .query(&mut con)
        .unwrap();
    let err = read_user(&mut con, &layout, "u1").unwrap_err().to_string();
    assert!(err.contains("t:v4:user:u1"), "{err}");
}

#[test]
fn a_stopped_server_is_an_error_to_fall_back_on() {
    let Some(mut server) = server() else { return };
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let layout = Layout::default();
    publish(&mut con, &layout, "a", 3, None);
    assert!(read_user(&mut con, &layout, "u1").unwrap().is_some());
    server.stop();
    assert!(read_user(&mut con, &layout, "u1").is_err());
}

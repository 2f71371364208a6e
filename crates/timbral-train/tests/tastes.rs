//! The listener-side commands on a small catalogue of three styles: genre
//! clusters in the bundle, `session` over JSON Lines (bad commands
//! answered, the session going on, save and load), `autofill`,
//! `playlist-eval`, and `simulate` (deterministic for a seed, whatever the
//! thread count).
#![cfg(feature = "content")]

mod common;

use common::{fails, ok, s};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// 60 songs each of metal, folk and pop, three songs per artist, with
/// audio features; and a playlists file of six playlists, two per style.
fn catalogue(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let styles = [
        ("metal", "heavy metal", 0.02, 0.95, 0.25),
        ("folk", "acoustic folk", 0.9, 0.2, 0.35),
        ("pop", "dance pop", 0.1, 0.8, 0.85),
    ];
    let mut csv = String::from(
        "id,name,artist,genres,tags,acousticness,danceability,energy,instrumentalness,liveness,loudness,speechiness,tempo,valence\n",
    );
    let mut playlists = String::from("playlist_id,track_id\n");
    for i in 0..180 {
        let (g, sub, ac, en, va) = styles[i % 3];
        let wobble = (i % 7) as f64 * 0.01;
        csv.push_str(&format!(
            "s{i},{g} song {i},{g} band {},{g},{sub}:3,{ac},0.5,{},0.1,0.15,-8,0.05,120,{va}\n",
            i / 9,
            en - wobble
        ));
        playlists.push_str(&format!("p{}{},s{i}\n", g, (i / 3) % 2));
    }
    let items = dir.join("songs.csv");
    std::fs::write(&items, csv).unwrap();
    let lists = dir.join("playlists.csv");
    std::fs::write(&lists, playlists).unwrap();
    let b = dir.join("songs.bundle");
    ok(&[
        "-q",
        "train",
        "--items",
        s(&items),
        "--client",
        "--out",
        s(&b),
    ]);
    (items, lists, b)
}

/// Runs `timbral session` with `input` on stdin; its reply lines.
fn session(bundle: &Path, input: &str) -> Vec<serde_json::Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_timbral"))
        .args(["session", "--bundle", s(bundle)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn tastes_sessions_playlists_and_simulations() {
    let dir = tempfile::tempdir().unwrap();
    let (_, lists, b) = catalogue(dir.path());
    let style = |id: &str| id[1..].parse::<usize>().unwrap() % 3;

    // The clusters: one per style, named by their labels.
    let info: serde_json::Value = serde_json::from_str(&ok(&["inspect", s(&b), "--json"])).unwrap();
    let names = info["genre_clusters"]["names"].as_array().unwrap();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.iter().any(|n| n.as_str().unwrap().contains("metal")),
        "{names:?}"
    );

    // A session: cold start, likes of metal and folk, a bad command that
    // names the problem and its line, then two tastes and the ranking.
    let mut cmds = vec![r#"{"op":"coldstart","genres":["metal"],"k":4}"#.to_string()];
    for i in (0..36).step_by(3) {
        cmds.push(format!(
            r#"{{"op":"feedback","item":"s{i}","kind":"like"}}"#
        ));
        cmds.push(format!(
            r#"{{"op":"feedback","item":"s{}","kind":"like"}}"#,
            i + 1
        ));
    }
    // A dislike of another genre's item is no taste's (it stays in the
    // profile's dislikes); one of a metal item is the metal taste's.
    cmds.push(r#"{"op":"feedback","item":"s2","kind":"dislike"}"#.into());
    cmds.push(r#"{"op":"feedback","item":"s36","kind":"dislike"}"#.into());
    cmds.push(r#"{"op":"recommend","k":0}"#.into());
    cmds.push(r#"{"op":"feedback","item":"nope","kind":"like"}"#.into());
    cmds.push(r#"{"op":"recommend","k":8}"#.into());
    cmds.push(r#"{"op":"profile"}"#.into());
    cmds.push(r#"{"op":"save"}"#.into());
    let replies = session(&b, &(cmds.join("\n") + "\n"));
    assert_eq!(replies.len(), cmds.len());
    let cold = &replies[0];
    assert_eq!(cold["stage"], "cold_start");
    assert!(
        cold["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| style(x["item"].as_str().unwrap()) == 0),
        "{cold}"
    );
    let n = cmds.len();
    assert_eq!(replies[n - 5]["ok"], false);
    assert!(
        replies[n - 5]["error"]
            .as_str()
            .unwrap()
            .contains("k must be"),
        "{}",
        replies[n - 5]
    );
    assert_eq!(replies[n - 5]["line"], (n - 4) as u64);
    assert!(replies[n - 4]["error"].as_str().unwrap().contains("`nope`"));
    let recs = &replies[n - 3];
    assert_eq!(recs["stage"], "ranking", "{recs}");
    let items = recs["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    let by_taste = |t: u64| items.iter().filter(|x| x["taste"] == t).count();
    assert!(by_taste(0) >= 2 && by_taste(1) >= 2, "{recs}");
    for x in items.iter().filter(|x| !x["taste"].is_null()) {
        let want = if x["taste"] == 0 { 0 } else { 1 };
        assert_eq!(style(x["item"].as_str().unwrap()), want, "{x}");
        assert!(!x["because"].as_array().unwrap().is_empty(), "{x}");
    }
    let tastes = replies[n - 2]["tastes"].as_array().unwrap();
    assert_eq!(tastes.len(), 2, "{}", replies[n - 2]);
    assert_eq!(
        (tastes[0]["liked"].as_u64(), tastes[0]["disliked"].as_u64()),
        (Some(12), Some(1))
    );
    assert_eq!(
        (tastes[1]["liked"].as_u64(), tastes[1]["disliked"].as_u64()),
        (Some(12), Some(0))
    );
    assert!(tastes[0]["audio"]["energy"].as_f64().unwrap() > 0.8);
    assert!(tastes[1]["audio"]["energy"].as_f64().unwrap() < 0.3);
    // Saved and loaded: the same profile.
    let saved = replies[n - 1]["profile"].as_str().unwrap();
    let again = session(
        &b,
        &format!("{{\"op\":\"load\",\"profile\":\"{saved}\"}}\n{{\"op\":\"profile\"}}\n"),
    );
    assert_eq!(again[0]["stage"], "ranking");
    assert_eq!(again[1]["tastes"], replies[n - 2]["tastes"]);

    // Autofill: seeds left out, the seeds' style, bad seeds named.
    let fill: Vec<serde_json::Value> = serde_json::from_str(&ok(&[
        "autofill",
        "--bundle",
        s(&b),
        "--seeds",
        "s0,s3,s6",
        "--k",
        "10",
        "--json",
    ]))
    .unwrap();
    assert_eq!(fill.len(), 10);
    for x in &fill {
        let id = x["item"].as_str().unwrap();
        assert!(!["s0", "s3", "s6"].contains(&id));
        assert_eq!(style(id), 0, "{x}");
    }
    let e = fails(&["autofill", "--bundle", s(&b), "--seeds", "s0,zzz"]);
    assert!(e.contains("--seeds") && e.contains("`zzz`"), "{e}");
    let e = fails(&[
        "autofill",
        "--bundle",
        s(&b),
        "--seeds",
        "s0",
        "--lambda",
        "2",
    ]);
    assert!(e.contains("--lambda"), "{e}");

    // Playlist continuation: six playlists, every method scored.
    let pe: serde_json::Value = serde_json::from_str(&ok(&[
        "playlist-eval",
        "--bundle",
        s(&b),
        "--playlists",
        s(&lists),
        "--json",
    ]))
    .unwrap();
    assert_eq!(pe["playlists"], 6);
    let method = |m: &str| -> f64 {
        pe["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["method"] == m)
            .unwrap()["r_precision"]
            .as_f64()
            .unwrap()
    };
    assert!(method("autofill") > 0.2, "{pe}");

    // The simulator: the same seed gives the same report, with 1 thread or 2.
    let sim = |threads: &str| {
        ok(&[
            "--threads",
            threads,
            "simulate",
            "--bundle",
            s(&b),
            "--listeners",
            "9",
            "--rounds",
            "6",
            "--k",
            "5",
            "--seed",
            "3",
            "--json",
        ])
    };
    let one = sim("1");
    assert_eq!(one, sim("2"));
    let r: serde_json::Value = serde_json::from_str(&one).unwrap();
    let strategies: Vec<&str> = r["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["staged", "single", "popular", "random"]);
    let staged = &r["strategies"][0];
    assert_eq!(staged["like_rate"].as_array().unwrap().len(), 6);
    assert!(
        staged["last_round_rate"].as_f64().unwrap() > staged["cold_start_rate"].as_f64().unwrap(),
        "{staged}"
    );
    let plot = dir.path().join("curves.svg");
    ok(&[
        "simulate",
        "--bundle",
        s(&b),
        "--listeners",
        "3",
        "--rounds",
        "3",
        "--k",
        "5",
        "--plot",
        s(&plot),
    ]);
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));
    let e = fails(&["simulate", "--bundle", s(&b), "--k", "0"]);
    assert!(e.contains("--k"), "{e}");
}

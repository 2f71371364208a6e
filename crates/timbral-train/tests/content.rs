//! The content side of the CLI on a small synthetic catalogue: training with
//! content vectors and learned fusion weights, fused recommendations,
//! similar items, semantic search, embeddings, and the errors around them.
#![cfg(feature = "content")]

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};

fn json(text: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn descending(rows: &[serde_json::Value]) -> bool {
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    scores.windows(2).all(|w| w[0] >= w[1])
}

struct Trained {
    dir: tempfile::TempDir,
    bundle: PathBuf,
    cf_bundle: PathBuf,
}

fn trained() -> Trained {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("plays.tsv");
    ok(&[
        "synth",
        "--out",
        s(&data),
        "--users",
        "250",
        "--items",
        "160",
        "--plays-per-user",
        "12",
    ]);
    let bundle = dir.path().join("content.bundle");
    let out = ok(&[
        "-q",
        "train",
        "--data",
        s(&data),
        "--out",
        s(&bundle),
        "--factors",
        "16",
        "--iterations",
        "6",
        // The factors as given in both bundles, so that their CF is one
        // model (tuned, fusion may leave out the item-item model that the
        // CF-only bundle keeps).
        "--no-tune",
    ]);
    assert!(
        out.contains("fusion weights learned") && out.contains("content vectors"),
        "{out}"
    );
    let cf_bundle = dir.path().join("cf.bundle");
    ok(&[
        "-q",
        "train",
        "--no-content",
        "--data",
        s(&data),
        "--out",
        s(&cf_bundle),
        "--factors",
        "16",
        "--iterations",
        "6",
        // The factors as given in both bundles, so that their CF is one
        // model (tuned, fusion may leave out the item-item model that the
        // CF-only bundle keeps).
        "--no-tune",
    ]);
    Trained {
        dir,
        bundle,
        cf_bundle,
    }
}

#[test]
fn content_bundles_recommend_fused_find_similar_and_search() {
    let t = trained();
    let info = ok(&["inspect", s(&t.bundle)]);
    assert!(
        info.contains("content") && info.contains("fusion"),
        "{info}"
    );

    let recs = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--json",
    ]));
    assert_eq!(recs.len(), 10);
    assert!(descending(&recs));
    assert!(recs
        .iter()
        .all(|r| r["parts"]["cf"].is_number() && r["parts"]["content"].is_number()));
    // Weights override: CF alone ranks like the CF-only bundle.
    let cf = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--json",
        "--weights",
        "1,0,0",
    ]));
    let plain = json(&ok(&[
        "recommend",
        "--bundle",
        s(&t.cf_bundle),
        "--user",
        "listener-00001",
        "--json",
    ]));
    let ids = |v: &[serde_json::Value]| {
        v.iter()
            .map(|r| r["item"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&cf)[..5], ids(&plain)[..5]);

    let sim = json(&ok(&[
        "similar",
        "--bundle",
        s(&t.bundle),
        "--item",
        "artist-00001",
        "--k",
        "5",
        "--json",
    ]));
    assert_eq!(sim.len(), 5);
    assert!(descending(&sim));
    assert!(sim.iter().all(|r| r["item"] != "artist-00001"));

    let hits = json(&ok(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--k",
        "5",
        "--json",
        "velvet jazz quartet",
    ]));
    assert_eq!(hits.len(), 5);
    assert!(descending(&hits));
    assert!(hits.iter().all(|r| r["tags"].is_array()));
}

#[test]
fn content_errors_are_clear() {
    let t = trained();
    let err = fails(&[
        "similar",
        "--bundle",
        s(&t.cf_bundle),
        "--item",
        "artist-00001",
    ]);
    assert!(err.contains("no content vectors"), "{err}");
    let err = fails(&["similar", "--bundle", s(&t.bundle), "--item", "nope"]);
    assert!(err.contains("unknown item `nope`"), "{err}");
    let err = fails(&["search", "--bundle", s(&t.bundle), "   "]);
    assert!(err.contains("empty"), "{err}");
    let err = fails(&[
        "recommend",
        "--bundle",
        s(&t.bundle),
        "--user",
        "listener-00001",
        "--weights",
        "1,nan,0",
    ]);
    assert!(err.contains("weights"), "{err}");

    // A different tokenizer than the bundle was built with is refused.
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
    let other = t.dir.path().join("other-model");
    std::fs::create_dir(&other).unwrap();
    std::fs::copy(models.join("model.onnx"), other.join("model.onnx")).unwrap();
    let mut tok = std::fs::read_to_string(models.join("tokenizer.json")).unwrap();
    tok.push('\n');
    std::fs::write(other.join("tokenizer.json"), tok).unwrap();
    let err = fails(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--model-dir",
        s(&other),
        "jazz",
    ]);
    assert!(err.contains("does not match the bundle"), "{err}");
    let err = fails(&[
        "search",
        "--bundle",
        s(&t.bundle),
        "--model-dir",
        s(t.dir.path()),
        "jazz",
    ]);
    assert!(
        err.contains("model.onnx") && err.contains(".ci/setup"),
        "{err}"
    );
}

#[test]
fn embed_prints_a_unit_vector() {
    let v: Vec<f64> = serde_json::from_str(&ok(&["embed", "sad acoustic songs"])).unwrap();
    assert_eq!(v.len(), 384);
    let norm: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let err = fails(&["embed", ""]);
    assert!(err.contains("empty"), "{err}");
}

/// A small song catalogue, written as CSV and as JSON Lines.
fn catalogue(dir: &Path) -> (PathBuf, PathBuf) {
    let genres = [
        ("metal", "heavy metal", 0.95, 0.2),
        ("jazz", "bebop", 0.3, 0.5),
        ("pop", "dance pop", 0.8, 0.8),
        ("folk", "acoustic", 0.25, 0.4),
    ];
    let mut csv = String::from(
        "track_id,track_name,track_artist,track_album_name,track_popularity,track_album_release_date,playlist_genre,playlist_subgenre,danceability,energy,valence,tags\n",
    );
    let mut jsonl = String::new();
    for i in 0..40 {
        let (g, sub, energy, valence) = genres[i % 4];
        let (name, artist, pop, year) = (
            format!("Song {i}"),
            format!("{g} band {}", i / 4),
            10 + i,
            1970 + i,
        );
        let dance = 0.3 + 0.01 * i as f64;
        csv.push_str(&format!(
            "t{i},{name},{artist},Album {i},{pop},{year}-01-01,{g},{sub},{dance},{energy},{valence},{sub}:2|{g}\n"
        ));
        jsonl.push_str(&format!(
            "{{\"track_id\":\"t{i}\",\"track_name\":\"{name}\",\"track_artist\":\"{artist}\",\"track_album_name\":\"Album {i}\",\"track_popularity\":{pop},\"track_album_release_date\":\"{year}-01-01\",\"playlist_genre\":\"{g}\",\"playlist_subgenre\":\"{sub}\",\"danceability\":{dance},\"energy\":{energy},\"valence\":{valence},\"tags\":[\"{sub}:2\",\"{g}\"]}}\n"
        ));
    }
    let (c, j) = (dir.join("songs.csv"), dir.join("songs.jsonl"));
    std::fs::write(&c, csv).unwrap();
    std::fs::write(&j, jsonl).unwrap();
    (c, j)
}

#[test]
fn a_catalogue_alone_makes_a_content_only_bundle_the_same_from_csv_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, jsonl) = catalogue(dir.path());
    let bundles: Vec<PathBuf> = [&csv, &jsonl]
        .iter()
        .map(|items| {
            let out = dir.path().join(format!(
                "{}.bundle",
                items.extension().unwrap().to_str().unwrap()
            ));
            let said = ok(&["-q", "train", "--items", s(items), "--out", s(&out)]);
            assert!(said.contains("0 users, 40 items"), "{said}");
            out
        })
        .collect();
    let b = &bundles[0];
    let history = dir.path().join("h.tsv");
    std::fs::write(&history, "t2\t5\nt6\t3\n").unwrap();
    // CSV and JSON Lines give the same answers (the bundles differ only in
    // the source they name).
    let answers = |b: &Path| {
        [
            ok(&["similar", "--bundle", s(b), "--item", "t3", "--json"]),
            ok(&["search", "--bundle", s(b), "--json", "upbeat dance pop"]),
            ok(&[
                "recommend",
                "--bundle",
                s(b),
                "--history",
                s(&history),
                "--json",
            ]),
        ]
    };
    let (a, j) = (answers(&bundles[0]), answers(&bundles[1]));
    assert!(a == j, "CSV and JSON Lines disagree:\n{a:?}\n{j:?}");
    let sim = json(&ok(&[
        "similar",
        "--bundle",
        s(b),
        "--item",
        "t0",
        "--k",
        "3",
        "--json",
    ]));
    // t0 is metal: its nearest are the other metal songs.
    assert!(
        sim.iter().all(|r| {
            let i: usize = r["item"].as_str().unwrap()[1..].parse().unwrap();
            i % 4 == 0
        }),
        "{sim:?}"
    );
    assert!(sim[0]["name"].as_str().unwrap().contains(" — metal band"));
    let hits = json(&ok(&[
        "search",
        "--bundle",
        s(b),
        "--k",
        "5",
        "--json",
        "bebop jazz",
    ]));
    assert!(
        hits.iter().all(|r| {
            let i: usize = r["item"].as_str().unwrap()[1..].parse().unwrap();
            i % 4 == 1
        }),
        "{hits:?}"
    );
    // `item` keeps the catalogue's artist, album and genres apart.
    let item: serde_json::Value =
        serde_json::from_str(&ok(&["item", "--bundle", s(b), "--item", "t4", "--json"])).unwrap();
    assert_eq!(item["artist"], "metal band 1", "{item}");
    assert_eq!(item["album"], "Album 4", "{item}");
    let genres: Vec<&str> = item["genres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(
        genres.contains(&"metal") && genres.contains(&"heavy metal"),
        "{item}"
    );
    // A listener's history: fold-in has no plays to learn from, so content
    // and the catalogue's popularity rank.
    let recs = json(&ok(&[
        "recommend",
        "--bundle",
        s(b),
        "--history",
        s(&history),
        "--k",
        "4",
        "--json",
    ]));
    assert_eq!(recs.len(), 4);
    let pop_like = recs
        .iter()
        .filter(|r| r["item"].as_str().unwrap()[1..].parse::<usize>().unwrap() % 4 == 2)
        .count();
    assert!(pop_like >= 3, "{recs:?}");
    // A bad items file is refused with its line and field.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "track_id,energy\nt1,0.5\nt2,very\n").unwrap();
    let err = fails(&[
        "train",
        "--items",
        s(&bad),
        "--out",
        s(&dir.path().join("x")),
    ]);
    assert!(
        err.contains("bad.csv:3") && err.contains("`energy`"),
        "{err}"
    );
    assert!(!dir.path().join("x").exists());
}

/// Genre, subgenre, acousticness, energy, valence, loudness: the songs of
/// the item-facts tests.
const GENRE_AUDIO: [(&str, &str, f64, f64, f64, f64); 3] = [
    ("metal", "heavy metal", 0.02, 0.95, 0.25, -4.0),
    ("folk", "acoustic folk", 0.9, 0.2, 0.35, -14.0),
    ("pop", "dance pop", 0.1, 0.8, 0.85, -5.0),
];
/// Spotify's nine audio features as an items file's header names them.
const AUDIO_COLUMNS: &str =
    "acousticness,danceability,energy,instrumentalness,liveness,loudness,speechiness,tempo,valence";

/// A catalogue where half the songs have Spotify's nine audio features and
/// half only tags or a genre: `timbral item` shows measured, predicted and
/// prior features, and search filters by year, energy and mood.
#[test]
fn item_facts_are_measured_predicted_or_a_prior_and_filter_search() {
    let dir = tempfile::tempdir().unwrap();
    let genres = GENRE_AUDIO;
    let mut csv = format!("id,name,artist,year,genres,tags,{AUDIO_COLUMNS}\n");
    for i in 0..60 {
        let (g, sub, ac, en, va, lo) = genres[i % 3];
        let year = 1960 + i;
        let tags = if i % 6 == 5 {
            String::new()
        } else {
            format!("{sub}:3")
        };
        let audio = if i < 30 {
            format!("{ac},0.5,{en},0.1,0.15,{lo},0.05,120,{va}")
        } else {
            ",,,,,,,,".to_string()
        };
        csv.push_str(&format!(
            "s{i},Song {i},{g} band {},{year},{g},{tags},{audio}\n",
            i / 3
        ));
    }
    let items = dir.path().join("songs.csv");
    std::fs::write(&items, csv).unwrap();
    let b = dir.path().join("songs.bundle");
    ok(&["-q", "train", "--items", s(&items), "--out", s(&b)]);
    let item = |id: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&["item", "--bundle", s(&b), "--item", id, "--json"])).unwrap()
    };
    let m = item("s0");
    assert_eq!(m["year"], 1960);
    assert_eq!(m["audio"]["energy"]["source"], "measured");
    assert!(
        (m["audio"]["energy"]["value"].as_f64().unwrap() - 0.95).abs() < 0.01,
        "{m}"
    );
    assert!(
        (m["audio"]["loudness"]["value"].as_f64().unwrap() + 4.0).abs() < 0.3,
        "{m}"
    );
    assert!(
        m["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tag"] == "heavy metal" && t["weight"].as_u64().unwrap() > 1),
        "{m}"
    );
    // Unmeasured songs are predicted from the measured ones nearest in text.
    let metal = item("s30");
    let folk = item("s31");
    assert_eq!(metal["audio"]["energy"]["source"], "predicted", "{metal}");
    assert!(
        metal["audio"]["energy"]["value"].as_f64().unwrap() > 0.7,
        "{metal}"
    );
    assert!(
        folk["audio"]["energy"]["value"].as_f64().unwrap() < 0.45,
        "{folk}"
    );
    // s35 has a genre and no tag: a prior, trusted less.
    let prior = item("s35");
    assert_eq!(prior["audio"]["energy"]["source"], "prior", "{prior}");
    assert!(
        prior["audio"]["energy"]["confidence"].as_f64().unwrap()
            < metal["audio"]["energy"]["confidence"].as_f64().unwrap()
    );
    assert!(item("s2")["moods"]["upbeat"].as_f64().unwrap() > 0.5);
    let text = ok(&["item", "--bundle", s(&b), "--item", "s1"]);
    assert!(
        text.contains("audio     measured") && text.contains("moods"),
        "{text}"
    );
    let e = fails(&["item", "--bundle", s(&b), "--item", "nope"]);
    assert!(e.contains("nope"), "{e}");

    let search = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut a = vec!["search", "--bundle", s(&b), "--k", "60", "--json"];
        a.extend_from_slice(extra);
        a.push("songs");
        json(&ok(&a))
    };
    let n = |id: &serde_json::Value| -> usize { id.as_str().unwrap()[1..].parse().unwrap() };
    let hits = search(&["--year", "1980..1989"]);
    assert_eq!(hits.len(), 10, "{hits:?}");
    assert!(hits.iter().all(|h| (20..30).contains(&n(&h["item"]))));
    let hits = search(&["--energy", "0.7.."]);
    assert!(!hits.is_empty());
    for h in &hits {
        let e = item(h["item"].as_str().unwrap())["audio"]["energy"]["value"]
            .as_f64()
            .unwrap();
        assert!(e >= 0.7, "{h}");
    }
    assert!(
        hits.iter().all(|h| n(&h["item"]) % 3 != 1),
        "no folk song is that energetic"
    );
    let hits = search(&["--mood", "upbeat"]);
    assert!(
        !hits.is_empty() && hits.iter().all(|h| n(&h["item"]) % 3 == 2),
        "{hits:?}"
    );
    let e = fails(&["search", "--bundle", s(&b), "--mood", "sleepy", "songs"]);
    assert!(
        e.contains("unknown mood `sleepy`") && e.contains("chill"),
        "{e}"
    );
    let e = fails(&["search", "--bundle", s(&b), "--year", "1990..1980", "songs"]);
    assert!(e.contains("A ≤ B"), "{e}");
}

/// `timbral mood train` on a catalogue's measured songs prints its
/// cross-validation and writes a model; `train --mood-model` fills in the
/// unmeasured songs with it; a damaged or foreign model file is refused.
#[test]
fn a_mood_model_is_cross_validated_and_fills_in_unmeasured_items() {
    let dir = tempfile::tempdir().unwrap();
    let genres = GENRE_AUDIO;
    let mut csv = format!("id,name,artist,year,popularity,genres,tags,{AUDIO_COLUMNS}\n");
    for i in 0..90 {
        let (g, sub, ac, en, va, lo) = genres[i % 3];
        let jitter = (i % 7) as f64 * 0.01;
        let audio = if i < 60 {
            format!("{ac},0.5,{},0.1,0.15,{lo},0.05,120,{va}", en - jitter)
        } else {
            ",,,,,,,,".to_string()
        };
        csv.push_str(&format!(
            "s{i},Song {i},{g} band {},{},{},{g},{sub}:3,{audio}\n",
            i / 3,
            1960 + i % 40,
            i % 50
        ));
    }
    let items = dir.path().join("songs.csv");
    std::fs::write(&items, csv).unwrap();
    let (m1, m2) = (dir.path().join("a.mood"), dir.path().join("b.mood"));
    let table = ok(&[
        "-q",
        "mood",
        "train",
        "--items",
        s(&items),
        "--out",
        s(&m1),
        "--folds",
        "3",
    ]);
    assert!(
        table.contains("3-fold CV over 60 measured items")
            && table.contains("energy")
            && table.contains("moods micro-F1")
            && table.contains("nearest measured items in text space"),
        "{table}"
    );
    let cv: serde_json::Value = serde_json::from_str(&ok(&[
        "-q",
        "mood",
        "train",
        "--items",
        s(&items),
        "--out",
        s(&m2),
        "--folds",
        "3",
        "--json",
    ]))
    .unwrap();
    let energy = &cv["cv"]["audio"][2];
    assert_eq!(energy["feature"], "energy");
    assert!(
        energy["rmse"].as_f64().unwrap() < 0.5 * energy["baseline"].as_f64().unwrap(),
        "{cv}"
    );
    // Deterministic: the same file twice.
    assert_eq!(std::fs::read(&m1).unwrap(), std::fs::read(&m2).unwrap());

    let b = dir.path().join("songs.bundle");
    ok(&[
        "-q",
        "train",
        "--items",
        s(&items),
        "--out",
        s(&b),
        "--mood-model",
        s(&m1),
    ]);
    let item = |id: &str| -> serde_json::Value {
        serde_json::from_str(&ok(&["item", "--bundle", s(&b), "--item", id, "--json"])).unwrap()
    };
    let (metal, folk, pop) = (item("s60"), item("s61"), item("s62"));
    assert_eq!(metal["audio"]["energy"]["source"], "predicted", "{metal}");
    let energy = |v: &serde_json::Value| v["audio"]["energy"]["value"].as_f64().unwrap();
    assert!(
        energy(&metal) > 0.7 && energy(&folk) < 0.45,
        "{metal}\n{folk}"
    );
    assert!(pop["moods"]["upbeat"].as_f64().unwrap() > 0.5, "{pop}");
    assert!(
        metal["audio"]["energy"]["confidence"].as_f64().unwrap() > 0.5,
        "{metal}"
    );

    // Refused: a model of another version, an altered one, a bundle.
    let mut bytes = std::fs::read(&m1).unwrap();
    bytes[8] = 9;
    let bad = dir.path().join("bad.mood");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.path().join("never.bundle");
    let train_with = |model: &Path| {
        fails(&[
            "train",
            "--items",
            s(&items),
            "--out",
            s(&out),
            "--mood-model",
            s(model),
        ])
    };
    let e = train_with(&bad);
    assert!(e.contains("bad.mood") && e.contains("version 9"), "{e}");
    bytes[8] = 1;
    let at = bytes.len() - 5;
    bytes[at] ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    assert!(train_with(&bad).contains("checksum"));
    assert!(train_with(&b).contains("not a Timbral mood model"));
    assert!(!out.exists());
    // A catalogue without audio features has nothing to learn from.
    let bare = dir.path().join("bare.csv");
    std::fs::write(&bare, "id,name,genres\na,A,rock\nb,B,jazz\n").unwrap();
    let e = fails(&["mood", "train", "--items", s(&bare), "--out", s(&m2)]);
    assert!(
        e.contains("0 of 2 items have all nine audio features"),
        "{e}"
    );
}

//! One plays table in every format the trainer reads gives the same model:
//! TSV, CSV, gzip'd CSV, whitespace text without a header (`--columns`),
//! JSON Lines and Parquet.

mod common;

use common::{fails, ok, s};
use std::path::{Path, PathBuf};
use timbral_train::data::table::{write_parquet, Column};

struct Plays {
    users: Vec<String>,
    items: Vec<String>,
    plays: Vec<f64>,
}

fn synth(dir: &Path) -> Plays {
    let tsv = dir.join("plays.tsv");
    ok(&[
        "synth",
        "--out",
        s(&tsv),
        "--users",
        "200",
        "--items",
        "300",
        "--plays-per-user",
        "12",
    ]);
    let text = std::fs::read_to_string(&tsv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (u, i, p) = (col("user"), col("item"), col("plays"));
    let mut out = Plays {
        users: vec![],
        items: vec![],
        plays: vec![],
    };
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        out.users.push(f[u].into());
        out.items.push(f[i].into());
        out.plays.push(f[p].parse().unwrap());
    }
    out
}

fn write(path: PathBuf, text: String) -> PathBuf {
    std::fs::write(&path, text).unwrap();
    path
}

fn recommend(dir: &Path, data: &Path, extra: &[&str], history: &Path) -> String {
    let bundle = dir.join(format!(
        "{}.bundle",
        data.file_name().unwrap().to_string_lossy()
    ));
    let mut args = vec![
        "-q",
        "train",
        "--no-content",
        "--data",
        s(data),
        "--out",
        s(&bundle),
        "--factors",
        "12",
        "--iterations",
        "6",
    ];
    args.extend_from_slice(extra);
    ok(&args);
    ok(&[
        "recommend",
        "--bundle",
        s(&bundle),
        "--history",
        s(history),
        "--json",
    ])
}

#[test]
fn every_format_gives_the_same_recommendations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = synth(d);
    let rows = |sep: &str| -> String {
        (0..p.users.len())
            .map(|r| format!("{}{sep}{}{sep}{}\n", p.users[r], p.items[r], p.plays[r]))
            .collect()
    };
    let csv = write(
        d.join("plays.csv"),
        format!("user,item,plays\n{}", rows(",")),
    );
    let gz = d.join("plays.csv.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(std::fs::read(&csv).unwrap().as_slice())
            .unwrap();
        e.finish().unwrap();
    }
    // Audioscrobbler's user_artist_data.txt: `user item plays`, no header.
    let ws = write(d.join("user_artist_data.txt"), rows("  "));
    let jsonl = write(
        d.join("plays.jsonl"),
        (0..p.users.len())
            .map(|r| {
                format!(
                    "{}\n",
                    serde_json::json!({"user_id": p.users[r], "item_id": p.items[r], "plays": p.plays[r]})
                )
            })
            .collect(),
    );
    let parquet = d.join("plays.parquet");
    write_parquet(
        &parquet,
        &[
            ("user", Column::Text(p.users.clone())),
            ("track_id", Column::Text(p.items.clone())),
            ("play_count", Column::Number(p.plays.clone())),
        ],
    )
    .unwrap();

    let history = write(
        d.join("me.tsv"),
        format!("{}\t9\n{}\t3\n", p.items[0], p.items[5]),
    );
    let tsv = write(
        d.join("plays2.tsv"),
        format!("user\titem\tplays\n{}", rows("\t")),
    );
    let want = recommend(d, &csv, &[], &history);
    assert!(want.contains("\"rank\": 1"), "{want}");
    for (data, extra) in [
        (&tsv, &[][..]),
        (&gz, &[]),
        (
            &ws,
            &["--delimiter", "whitespace", "--columns", "user,item,plays"],
        ),
        (&jsonl, &[]),
        (&parquet, &[]),
    ] {
        assert_eq!(
            recommend(d, data, extra, &history),
            want,
            "{} gives other recommendations",
            data.display()
        );
    }
}

#[test]
fn bad_tables_are_named_with_their_row_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("x.bundle");
    let train = |data: &Path, extra: &[&str]| {
        let mut a = vec!["train", "--no-content", "--data", s(data), "--out", s(&out)];
        a.extend_from_slice(extra);
        fails(&a)
    };
    let j = write(
        d.join("p.jsonl"),
        "{\"user\":\"a\",\"item\":\"x\",\"plays\":2}\n[1,2]\n".into(),
    );
    let e = train(&j, &[]);
    assert!(e.contains("p.jsonl:2") && e.contains("object"), "{e}");
    let j = write(
        d.join("q.jsonl"),
        "{\"user\":\"a\",\"item\":\"x\",\"plays\":2}\n{\"user\":\"b\",\"item\":[\"x\"],\"plays\":1}\n"
            .into(),
    );
    let e = train(&j, &[]);
    assert!(
        e.contains("q.jsonl:2") && e.contains("`item`") && e.contains("list"),
        "{e}"
    );
    let parquet = d.join("p.parquet");
    write_parquet(
        &parquet,
        &[
            ("who", Column::Text(vec!["a".into()])),
            ("song", Column::Text(vec!["x".into()])),
        ],
    )
    .unwrap();
    let e = train(&parquet, &[]);
    assert!(
        e.contains("p.parquet") && e.contains("no user column"),
        "{e}"
    );
    let e = train(&parquet, &["--user-col", "who", "--item-col", "track"]);
    assert!(e.contains("no column `track`"), "{e}");
    let ws = write(d.join("w.txt"), "a x 3\nb y\n".into());
    let e = train(
        &ws,
        &["--delimiter", "whitespace", "--columns", "user,item,plays"],
    );
    assert!(
        e.contains("w.txt:2") && e.contains("3 whitespace-separated"),
        "{e}"
    );
    let gz = write(d.join("bad.csv.gz"), "user,item\na,b\n".into());
    let e = train(&gz, &[]);
    assert!(e.contains("bad.csv.gz") && e.contains("gzip"), "{e}");
    let e = fails(&[
        "train",
        "--data",
        s(&ws),
        "--delimiter",
        "ab",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("`ab` is not a delimiter"), "{e}");
    assert!(!out.exists(), "nothing is written on a bad input");
}

/// An input the fuzzer found (`fuzz/run.sh`): the parquet crate panics on
/// it inside its bit unpacking. It is this file's error, not a crash.
#[test]
fn a_corrupt_parquet_file_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("corrupt.parquet");
    std::fs::write(
        &p,
        include_bytes!("../../../fuzz/corpus/table_parquet/seed-crash-bit-unpack"),
    )
    .unwrap();
    let e = fails(&["ingest", "--items", s(&p)]);
    assert!(
        e.contains("corrupt.parquet") && e.contains("corrupt Parquet data"),
        "{e}"
    );
}

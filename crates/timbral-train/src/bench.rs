//! `timbral bench`: timings that print figures (never asserted in tests).

use std::io::Write;
use std::time::Instant;

use timbral_core::AlsParams;

use crate::data::Dataset;
use crate::synth::{self, SynthConfig};

pub struct BenchConfig {
    /// The real data set to time, or `None` for the embedded default.
    pub data: Option<Dataset>,
    pub synthetic: SynthConfig,
    pub synthetic_iterations: u32,
    pub params: AlsParams,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn fit(
    out: &mut dyn Write,
    label: &str,
    ds: &Dataset,
    params: AlsParams,
) -> anyhow::Result<timbral_core::Model> {
    let t = Instant::now();
    let model = crate::train_dataset(ds, params, false);
    let secs = t.elapsed().as_secs_f64();
    writeln!(
        out,
        "ALS fit  {label}: {} users × {} items, {} plays, {} factors, {} iterations: {:.2} s total, {:.1} ms/iteration",
        ds.n_users(),
        ds.n_items(),
        ds.plays.nnz(),
        params.factors,
        params.iterations,
        secs,
        secs * 1000.0 / params.iterations.max(1) as f64
    )?;
    Ok(model)
}

pub fn run(cfg: BenchConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "threads: {}", rayon::current_num_threads())?;
    let data = match cfg.data {
        Some(d) => d,
        None => synth::generate(SynthConfig::default()).data,
    };
    let label = data.source.clone();
    let model = fit(
        out,
        &label,
        &data,
        AlsParams {
            factors: 64,
            ..cfg.params
        },
    )?;
    fit(
        out,
        &label,
        &data,
        AlsParams {
            factors: 128,
            ..cfg.params
        },
    )?;

    // Top-50 for every known user over the whole catalogue, 3 passes.
    let mut times = Vec::with_capacity(model.n_users() * 3);
    let mut sink = 0u32;
    for _ in 0..3 {
        for u in 0..model.n_users() as u32 {
            let t = Instant::now();
            let r = model.recommend_user(u, 50);
            times.push(t.elapsed().as_secs_f64() * 1e6);
            sink = sink.wrapping_add(r.first().map_or(0, |s| s.index));
        }
    }
    times.sort_by(f64::total_cmp);
    writeln!(
        out,
        "top-50  {label}: {} items, {} factors (int8): median {:.1} µs, p99 {:.1} µs per user over {} calls (checksum {sink})",
        model.n_items(),
        model.factors(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.len()
    )?;

    let s = cfg.synthetic;
    let t = Instant::now();
    let big = synth::generate(s).data;
    writeln!(
        out,
        "synthetic data: {} users × {} items, {} plays ({} rows) generated in {:.1} s",
        big.n_users(),
        big.n_items(),
        big.plays.nnz(),
        big.report.rows,
        t.elapsed().as_secs_f64()
    )?;
    fit(
        out,
        "synthetic",
        &big,
        AlsParams {
            factors: 64,
            iterations: cfg.synthetic_iterations,
            ..cfg.params
        },
    )?;
    Ok(())
}

/// Resident and peak resident memory of this process in MiB (Linux only).
fn memory_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn print_memory(out: &mut dyn Write, what: &str) -> std::io::Result<()> {
    match memory_mib() {
        Some((rss, peak)) => writeln!(
            out,
            "memory   native: {what}: RSS {rss:.0} MiB, peak {peak:.0} MiB"
        ),
        None => Ok(()),
    }
}

/// Query-embedding latency natively: median of 50 runs for 8 and 32 word
/// pieces, and the process's memory as the encoder loads and meets texts
/// of every length (one plan, built at load, serves them all).
#[cfg(feature = "content")]
pub fn embedding(model_dir: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<()> {
    print_memory(out, "before the encoder")?;
    let encoder = crate::cli_content::load_encoder(model_dir)?;
    print_memory(out, "encoder loaded")?;
    for pieces in [8usize, 32] {
        let text = vec!["rock"; pieces - 2].join(" ");
        encoder.embed(&text)?; // warm-up
        let mut times: Vec<f64> = (0..50)
            .map(|_| {
                let t = Instant::now();
                encoder
                    .embed(&text)
                    .map(|_| t.elapsed().as_secs_f64() * 1e3)
            })
            .collect::<Result<_, _>>()?;
        times.sort_by(f64::total_cmp);
        writeln!(
            out,
            "embed    native: {pieces} word pieces: median {:.1} ms, p99 {:.1} ms over 50 runs",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        )?;
    }
    print_memory(out, "after 8 and 32 word pieces")?;
    for pieces in [20usize, 60, 100, 128] {
        encoder.embed(&vec!["rock"; pieces - 2].join(" "))?;
    }
    print_memory(out, "after 6 lengths, up to 128 pieces")?;
    Ok(())
}

/// instant-distance HNSW against the exact int8 scan that Timbral ships,
/// over a bundle's content vectors: build time, query time, recall@10.
#[cfg(feature = "content")]
pub fn hnsw_vs_exact(model: &timbral_core::Model, out: &mut dyn Write) -> anyhow::Result<()> {
    use instant_distance::{Builder, Point, Search};

    #[derive(Clone)]
    struct Unit(Vec<f32>);
    impl Point for Unit {
        fn distance(&self, other: &Self) -> f32 {
            1.0 - timbral_core::linalg::dot(&self.0, &other.0)
        }
    }

    let c = model
        .content()
        .ok_or_else(|| anyhow::anyhow!("the bundle has no content vectors"))?;
    let n = c.len();
    let points: Vec<Unit> = (0..n)
        .map(|i| {
            let v = c.text.dequantize_row(i);
            let norm = timbral_core::linalg::dot(&v, &v).sqrt().max(1e-12);
            Unit(v.into_iter().map(|x| x / norm).collect())
        })
        .collect();
    let queries: Vec<usize> = (0..n).step_by((n / 500).max(1)).collect();
    // Exact: the shipped path.
    let mut exact = Vec::with_capacity(queries.len());
    let mut exact_ms = Vec::with_capacity(queries.len());
    for &q in &queries {
        let t = Instant::now();
        // The cosine part of search, in the stored vectors' space.
        let query = timbral_core::ContentQuery {
            text: points[q].0.clone(),
            audio: vec![0.0; c.audio.cols()],
        };
        let sims = c.cosines(&query, model.content_norms(), true);
        let hits = timbral_core::top_k(
            sims.iter()
                .enumerate()
                .map(|(j, &s)| timbral_core::Scored {
                    index: j as u32,
                    score: s,
                })
                .collect(),
            10,
        );
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        exact.push(
            hits.into_iter()
                .map(|s| s.index as usize)
                .collect::<Vec<_>>(),
        );
    }
    exact_ms.sort_by(f64::total_cmp);
    writeln!(out, "exact    int8 scan over {n} × {}: median {:.2} ms per query, recall@10 1.000 (by construction)", c.text_dim(), percentile(&exact_ms, 0.5))?;
    // Past 200k items a build at a higher ef takes longer than a benchmark
    // should on two cores (at 100k: 37 s, 61 s, 119 s).
    let settings: &[(usize, usize)] = if n > 200_000 {
        &[(100, 100)]
    } else {
        &[(100, 100), (200, 200), (400, 400)]
    };
    for &(efc, efs) in settings {
        let t = Instant::now();
        let values: Vec<usize> = (0..n).collect();
        let map = Builder::default()
            .ef_construction(efc)
            .ef_search(efs)
            .seed(42)
            .build(points.clone(), values);
        let build = t.elapsed().as_secs_f64();
        let mut search = Search::default();
        let mut found = 0usize;
        let mut ms = Vec::with_capacity(queries.len());
        for (qi, &q) in queries.iter().enumerate() {
            let t = Instant::now();
            let got: Vec<usize> = map
                .search(&points[q], &mut search)
                .take(10)
                .map(|h| *h.value)
                .collect();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += got.iter().filter(|i| exact[qi].contains(i)).count();
        }
        ms.sort_by(f64::total_cmp);
        writeln!(
            out,
            "hnsw     instant-distance ef_construction {efc}, ef_search {efs}: build {build:.1} s, median {:.2} ms per query, recall@10 {:.3}",
            percentile(&ms, 0.5),
            found as f64 / (queries.len() * 10) as f64
        )?;
    }
    Ok(())
}

/// A bundle's bytes, the time to read and load it (every check of
/// `Model::from_bytes` included), and the process's memory after.
pub fn load(path: &std::path::Path, out: &mut dyn Write) -> anyhow::Result<timbral_core::Model> {
    let t = Instant::now();
    let bytes = std::fs::read(path)?;
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let model = timbral_core::Model::from_bytes(&bytes)?;
    let decode = t.elapsed().as_secs_f64();
    writeln!(
        out,
        "bundle {}: {} bytes, {} items; read {:.0} ms, checked and loaded {:.0} ms",
        path.display(),
        bytes.len(),
        model.n_items(),
        read * 1e3,
        decode * 1e3
    )?;
    drop(bytes);
    print_memory(out, "after loading the bundle")?;
    Ok(model)
}

/// `model` with its shortlist scoring `probe` items a query.
pub fn with_probe(model: timbral_core::Model, probe: u32) -> anyhow::Result<timbral_core::Model> {
    let mut parts = model.into_parts();
    let Some(s) = parts.shortlist.as_mut() else {
        anyhow::bail!("--probe: the bundle has no shortlist (train it with --shortlist always)");
    };
    s.probe = probe;
    Ok(timbral_core::Model::from_parts(parts)?)
}

/// Similar items (`Model::similar`: content cosine over every item, the
/// shipped exact scan), top 10 for 200 items spread over the catalogue.
pub fn similar(model: &timbral_core::Model, out: &mut dyn Write) -> anyhow::Result<()> {
    let n = model.n_items();
    let mut times: Vec<f64> = (0..200)
        .map(|q| {
            let i = (q * n / 200) as u32;
            let t = Instant::now();
            let r = model.similar(i, 10);
            let e = t.elapsed().as_secs_f64() * 1e3;
            std::hint::black_box(r).ok();
            e
        })
        .collect();
    times.sort_by(f64::total_cmp);
    writeln!(
        out,
        "similar items, top 10 of {n}: median {:.2} ms, p99 {:.2} ms over {} queries",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.len()
    )?;
    Ok(())
}

/// What the browser package's `recommend` does, natively: fold-in, fusion
/// and explanations for a top 50, over 1000 calls on histories of 3–10
/// popular items (the same histories `www/tests/bench.mjs` uses).
pub fn fused(model: &timbral_core::Model, out: &mut dyn Write) -> anyhow::Result<()> {
    let pop: Vec<u32> = model
        .cold_start(&[], &[], 60)?
        .iter()
        .map(|s| s.index)
        .collect();
    let histories: Vec<Vec<(u32, f32)>> = (0..20)
        .map(|h| {
            pop.iter()
                .enumerate()
                .filter(|(i, _)| (i + h) % 7 == 0)
                .take(3 + h % 8)
                .enumerate()
                .map(|(i, (_, &item))| (item, (1 + (i * 7 + h) % 30) as f32))
                .collect()
        })
        .collect();
    // As the bundle is; without its shortlist (the exact lists); and
    // without the content sketch either (the same lists, a full scan).
    let without = |shortlist: bool, sketch: bool| {
        let mut parts = model.parts().clone();
        if shortlist {
            parts.shortlist = None;
        }
        if sketch {
            parts.content_sketch = None;
        }
        timbral_core::Model::from_parts(parts).expect("the same model without an index")
    };
    let exact = model
        .parts()
        .shortlist
        .as_ref()
        .map(|_| without(true, false));
    let scan = model
        .parts()
        .content_sketch
        .as_ref()
        .map(|_| without(true, true));
    if let Some(e) = &exact {
        shortlist_recall(model, e, &histories, out)?;
    }
    let runs = [(model, "")]
        .into_iter()
        .chain(exact.as_ref().map(|m| (m, ", exact")))
        .chain(scan.as_ref().map(|m| (m, ", full content scan")));
    for (m, how) in runs {
        for h in histories.iter().cycle().take(200) {
            m.recommend_explained(h, &[], 50, None)?;
        }
        let mut times: Vec<f64> = histories
            .iter()
            .cycle()
            .take(1000)
            .map(|h| {
                let t = Instant::now();
                let r = m.recommend_explained(h, &[], 50, None);
                let e = t.elapsed().as_secs_f64() * 1e6;
                std::hint::black_box(r).ok();
                e
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let sketch = match (&m.parts().shortlist, &m.parts().content_sketch) {
            (Some(s), _) => format!(", shortlist of {} scoring {} items", s.describe(), s.probe),
            (None, Some(s)) => format!("{how}, content sketch of rank {}", s.rank()),
            (None, None) => how.to_string(),
        };
        writeln!(
            out,
            "fused top-50 with explanations (fold-in + CF + content + popularity), {} items{sketch}: median {:.0} µs, p99 {:.0} µs over {} calls",
            m.n_items(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.len()
        )?;
    }
    Ok(())
}

/// Recall of the shortlisted lists against the exact ones (`exact`: the
/// same model without its shortlist): fused top 10 and top 50 on the
/// benchmark's histories, and similar items' top 10.
fn shortlist_recall(
    model: &timbral_core::Model,
    exact: &timbral_core::Model,
    histories: &[Vec<(u32, f32)>],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let overlap = |a: &[u32], b: &[u32]| {
        a.iter().filter(|i| b.contains(i)).count() as f64 / b.len().max(1) as f64
    };
    let ids = |r: Vec<timbral_core::Explained>| r.iter().map(|e| e.rec.index).collect::<Vec<_>>();
    // Beside the benchmark's popular histories, 200 spread over the
    // catalogue: an item and its four nearest in content, a taste.
    let n = model.n_items();
    let mut all = histories.to_vec();
    for q in 0..200 {
        let seed = (q * n / 200) as u32;
        let mut h = vec![(seed, 3.0)];
        h.extend(exact.similar(seed, 4)?.iter().map(|s| (s.index, 1.0)));
        all.push(h);
    }
    let (mut at10, mut at50) = (0.0, 0.0);
    for h in &all {
        let a = ids(model.recommend_explained(h, &[], 50, None)?);
        let b = ids(exact.recommend_explained(h, &[], 50, None)?);
        at10 += overlap(&a[..10.min(a.len())], &b[..10.min(b.len())]);
        at50 += overlap(&a, &b);
    }
    let queries: Vec<u32> = (0..200)
        .map(|q| (q * n / 200 + 1) as u32 % n as u32)
        .collect();
    let similar = |m: &timbral_core::Model, i: u32| -> anyhow::Result<Vec<u32>> {
        Ok(m.similar(i, 10)?.iter().map(|s| s.index).collect())
    };
    let mut sim = 0.0;
    for &i in &queries {
        sim += overlap(&similar(model, i)?, &similar(exact, i)?);
    }
    writeln!(
        out,
        "shortlist recall against the exact scan: fused top 10 {:.3}, top 50 {:.3} ({} histories); similar items top 10 {:.3} ({} items)",
        at10 / all.len() as f64,
        at50 / all.len() as f64,
        all.len(),
        sim / queries.len() as f64,
        queries.len()
    )?;
    Ok(())
}

/// Ingestion throughput: a `rows`-row plays table (synthetic ids and
/// counts) written as CSV, gzip'd CSV and Parquet, each read back through
/// the trainer's one ingestion path ([`crate::data::read_plays`]).
pub fn ingest(rows: usize, out: &mut dyn Write) -> anyhow::Result<()> {
    use crate::data::{read_plays, ColumnNames, ReadOptions};
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir()?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let users = (rows / 100).max(1);
    let items = (rows / 200).max(1);
    let t = Instant::now();
    let mut u_col = Vec::with_capacity(rows);
    let mut i_col = Vec::with_capacity(rows);
    let mut p_col = Vec::with_capacity(rows);
    for _ in 0..rows {
        u_col.push(format!("user-{}", rng.random_range(0..users)));
        i_col.push(format!("track-{}", rng.random_range(0..items)));
        p_col.push(rng.random_range(1..500u32) as f64);
    }
    let csv = dir.path().join("plays.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(w, "user,item,plays")?;
        for r in 0..rows {
            writeln!(w, "{},{},{}", u_col[r], i_col[r], p_col[r])?;
        }
        w.flush()?;
    }
    let gz = dir.path().join("plays.csv.gz");
    {
        let mut e = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(std::fs::File::create(&gz)?),
            flate2::Compression::fast(),
        );
        std::io::copy(&mut std::fs::File::open(&csv)?, &mut e)?;
        e.finish()?.flush()?;
    }
    #[cfg_attr(not(feature = "parquet"), allow(unused_mut))]
    let mut files = vec![("CSV", csv), ("CSV.gz", gz)];
    #[cfg(feature = "parquet")]
    {
        use crate::data::table::{write_parquet, Column};
        let pq = dir.path().join("plays.parquet");
        write_parquet(
            &pq,
            &[
                ("user", Column::Text(u_col)),
                ("item", Column::Text(i_col)),
                ("plays", Column::Number(p_col)),
            ],
        )?;
        files.push(("Parquet", pq));
    }
    #[cfg(not(feature = "parquet"))]
    drop((u_col, i_col, p_col));
    writeln!(
        out,
        "ingest   {rows} rows ({users} users × {items} items) written in {:.1} s",
        t.elapsed().as_secs_f64()
    )?;
    for (what, path) in files {
        let size = std::fs::metadata(&path)?.len() as f64 / (1 << 20) as f64;
        let t = Instant::now();
        let ds = read_plays(&path, &ColumnNames::default(), ReadOptions::default())?;
        let secs = t.elapsed().as_secs_f64();
        writeln!(
            out,
            "ingest   {what:<8} {size:7.1} MiB: {:.2} s, {:.2} M rows/s ({} rows, {} plays after summing)",
            secs,
            ds.report.rows as f64 / secs / 1e6,
            ds.report.rows,
            ds.plays.nnz()
        )?;
        print_memory(out, &format!("after reading the {what} file"))?;
    }
    Ok(())
}

/// Trainer embedding throughput: `n` items of the embedded default's
/// catalogue (name, genre, weighted tags) through the trainer's own
/// [`crate::content::build_content`], on rayon's pool.
#[cfg(feature = "content")]
pub fn embed_items(
    model_dir: &std::path::Path,
    n: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let encoder = crate::cli_content::load_encoder(model_dir)?;
    let s = synth::generate(SynthConfig {
        items: n,
        users: (n / 2).max(50),
        ..SynthConfig::default()
    });
    let meta = crate::cli_content::synth_meta(&s, 42);
    let t = Instant::now();
    crate::content::build_content(&encoder, &s.data.item_names, &meta, false)?;
    let secs = t.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    writeln!(
        out,
        "embed    trainer: {n} items in {secs:.1} s on {} threads: {rate:.0} items/s; 1M items would take {:.1} h",
        rayon::current_num_threads(),
        1e6 / rate / 3600.0
    )?;
    Ok(())
}

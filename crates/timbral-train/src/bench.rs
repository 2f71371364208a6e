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

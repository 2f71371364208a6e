//! `timbral precompute --redis`: every known user's top-K, ranked as
//! `recommend --all-users` and the server's `GET /rec/users/{id}` rank them
//! (`Model::recommend_known_user`), published into Redis as one
//! versioned run (`timbral_redis`): readers switch to it atomically once
//! it is whole, and the run before it is deleted.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use timbral_redis::{Layout, Publisher, Rec, RunMeta};

use crate::args::PrecomputeArgs;
use crate::output::read_bundle;

pub(crate) fn run(a: &PrecomputeArgs, out: &mut dyn Write) -> Result<()> {
    if a.k == 0 || a.batch == 0 {
        bail!("--k and --batch must be at least 1");
    }
    let model = read_bundle(&a.bundle)?;
    if model.is_client() {
        bail!(
            "{}: a client bundle holds no training listener to precompute for; use the full bundle",
            a.bundle.display()
        );
    }
    let mut con = timbral_redis::connect(&a.redis)
        .with_context(|| format!("--redis {}: cannot connect", a.redis))?;
    let started = Instant::now();
    let mut run = Publisher::begin(&mut con, Layout::new(a.prefix.as_str()), a.ttl)
        .with_context(|| format!("{}: cannot start a run", a.redis))?;
    let n = model.n_users();
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "precompute [{bar:30}] {pos}/{len} users  {per_sec}  {elapsed_precise}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let (mut ranking_s, mut writing_s) = (0.0, 0.0);
    for start in (0..n).step_by(a.batch) {
        let t = Instant::now();
        let batch: Vec<(String, Vec<Rec>)> = (start..(start + a.batch).min(n))
            .into_par_iter()
            .map(|u| {
                let recs = model
                    .recommend_known_user(u as u32, a.k)
                    .into_iter()
                    .map(|r| Rec {
                        item: model.item_id(r.index).to_string(),
                        score: r.score,
                    })
                    .collect();
                (model.user_id(u as u32).to_string(), recs)
            })
            .collect();
        ranking_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        run.write(&batch)
            .with_context(|| format!("{}: writing version {}", a.redis, run.version()))?;
        writing_s += t.elapsed().as_secs_f64();
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    let meta = model.meta();
    let done = run
        .finish(&RunMeta {
            users: n,
            k: a.k,
            source: meta.source.clone(),
            trainer: meta.trainer.clone(),
        })
        .with_context(|| format!("{}: switching to the new version", a.redis))?;
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "precomputed top-{} for {} users into {} under `{}v{}:`: {:.2} s, {:.0} users/s (ranking {:.2} s, writing {:.2} s)",
        a.k,
        done.users,
        a.redis,
        a.prefix,
        done.version,
        secs,
        done.users as f64 / secs.max(1e-9),
        ranking_s,
        writing_s
    )?;
    match done.previous {
        Some(p) => writeln!(
            out,
            "readers switched from version {p}; deleted versions {:?} ({} keys)",
            done.deleted_versions, done.deleted_keys
        )?,
        None => writeln!(out, "first version under this prefix")?,
    }
    Ok(())
}

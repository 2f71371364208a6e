//! `timbral precompute`: every known user's top-K, ranked as
//! `recommend --all-users` and the server's `GET /rec/users/{id}` rank them
//! (`Model::recommend_known_user`), published into Redis as one
//! versioned run (`timbral_redis`): readers switch to it atomically once
//! it is whole, and the run before it is deleted. Or, with `--kv-bulk`,
//! written as a file for `wrangler kv bulk put` (Workers KV has no atomic
//! multi-key switch; a bulk put overwrites key by key).

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use timbral_redis::{Layout, Publisher, Rec, RunMeta};

use crate::args::PrecomputeArgs;
use crate::output::read_bundle;

/// One batch of listeners' lists: (user id, top-K).
type Batch = [(String, Vec<Rec>)];
/// Where the batches go: Redis or the KV bulk file.
type Sink<'a> = dyn FnMut(&Batch) -> Result<()> + 'a;

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
    let n = model.n_users();
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "precompute [{bar:30}] {pos}/{len} users  {per_sec}  {elapsed_precise}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    // Every user's list, a batch at a time, handed to `sink`.
    let mut ranking_s = 0.0;
    let mut each_batch = |sink: &mut Sink<'_>| -> Result<()> {
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
            sink(&batch)?;
            bar.inc(batch.len() as u64);
        }
        Ok(())
    };
    let started = Instant::now();
    if let Some(path) = &a.kv_bulk {
        kv_bulk(a, path, started, &mut each_batch, out)?;
        bar.finish_and_clear();
        return Ok(());
    }
    let url = a
        .redis
        .as_deref()
        .expect("clap requires --redis or --kv-bulk");
    let mut con =
        timbral_redis::connect(url).with_context(|| format!("--redis {url}: cannot connect"))?;
    let mut run = Publisher::begin(&mut con, Layout::new(a.prefix.as_str()), a.ttl)
        .with_context(|| format!("{url}: cannot start a run"))?;
    let mut writing_s = 0.0;
    each_batch(&mut |batch| {
        let t = Instant::now();
        run.write(batch)
            .with_context(|| format!("{url}: writing version {}", run.version()))?;
        writing_s += t.elapsed().as_secs_f64();
        Ok(())
    })?;
    bar.finish_and_clear();
    let meta = model.meta();
    let done = run
        .finish(&RunMeta {
            users: n,
            k: a.k,
            source: meta.source.clone(),
            trainer: meta.trainer.clone(),
        })
        .with_context(|| format!("{url}: switching to the new version"))?;
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "precomputed top-{} for {} users into {} under `{}v{}:`: {:.2} s, {:.0} users/s (ranking {:.2} s, writing {:.2} s)",
        a.k,
        done.users,
        url,
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

/// The lists as `wrangler kv bulk put` reads them, written atomically.
fn kv_bulk(
    a: &PrecomputeArgs,
    path: &std::path::Path,
    started: Instant,
    each_batch: &mut dyn FnMut(&mut Sink<'_>) -> Result<()>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut entries = Vec::new();
    each_batch(&mut |batch| {
        for (user, recs) in batch {
            let mut e = serde_json::json!({
                "key": format!("{}user:{user}", a.prefix),
                "value": serde_json::to_string(recs)?,
            });
            if let Some(ttl) = a.ttl {
                e["expiration_ttl"] = ttl.into();
            }
            entries.push(e);
        }
        Ok(())
    })?;
    let users = entries.len();
    timbral_train::write::atomic_with(path, |w| {
        serde_json::to_writer(&mut *w, &entries)?;
        writeln!(w)
    })?;
    writeln!(
        out,
        "wrote top-{} for {users} users to {} for `wrangler kv bulk put` ({:.2} s)",
        a.k,
        path.display(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(())
}

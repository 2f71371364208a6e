//! The commands that write a bundle from data: `train` (Timbral's own CF
//! model, chosen on validation) and `import spark-als` (a Spark MLlib ALS
//! model's factors). Both finish the bundle the same way: content vectors,
//! fusion weights, the items' facts, the client cut.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use timbral_core::{AlsParams, Model};
use timbral_train::cf_tune::Choice;
use timbral_train::data::Dataset;
use timbral_train::write;

use crate::args::{AlsArgs, ContentArgs, DataArgs};
use crate::commands::{content_for, with_item_info};

/// `timbral train`.
pub(crate) fn train(
    data: &DataArgs,
    als: &AlsArgs,
    content: &ContentArgs,
    path: &Path,
    client: bool,
    progress: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut params = als.params()?;
    let ds = data.load()?;
    if ds.plays.nnz() == 0 {
        // Nothing to factorise: one factor, not 64 of zeros a row.
        params.factors = 1;
    }
    // The CF model (ALS's regularization and alpha, an item-item model and
    // its blend) chosen on a validation split of the plays, then fitted on
    // all of them.
    let choice = als.choose(&ds.plays, params)?;
    if let Some(c) = &choice {
        write!(out, "{c}")?;
        params = c.als;
    }
    let mut model = timbral_train::train_dataset(&ds, params, progress);
    if let Some(c) = &choice {
        model = c.attach(model, &ds.plays);
    }
    let finish = Finish {
        ds: &ds,
        data,
        content,
        client,
        progress,
    };
    let model = finish.run(model, params, choice.as_ref(), out)?;
    finish.write(&model, path, out)
}

/// `timbral import spark-als`: the factors of a Spark ALS model aligned to
/// the plays (or, without them, the model's own users and items), then the
/// bundle as `train` finishes it.
#[cfg(feature = "parquet")]
pub(crate) fn import_spark_als(
    a: &crate::args::SparkImportArgs,
    progress: bool,
    out: &mut dyn Write,
) -> Result<()> {
    use timbral_train::spark::{Overrides, SparkAls};
    let spark = SparkAls::read(
        &a.model,
        Overrides {
            reg_param: a.reg_param,
            alpha: a.alpha,
        },
    )?;
    let p = spark.params;
    writeln!(
        out,
        "Spark {} ALS: rank {}, regParam {} (× each row's plays), alpha {}, {} iterations; \
         {} users, {} items",
        spark.spark_version,
        p.factors,
        p.regularization,
        p.alpha,
        p.iterations,
        spark.users.ids.len(),
        spark.items.ids.len()
    )?;
    let source = format!(
        "spark-als:{}",
        a.model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let ds = match &a.data.data {
        Some(_) => a.data.load()?,
        None => {
            tracing::warn!(
                "no --plays: the model's own users and items, with no popularity and no \
                 history to leave out of a known user's recommendations"
            );
            let ds = spark.dataset(&source);
            match a.data.catalogue()? {
                Some(c) => ds.with_catalogue(c),
                None => ds,
            }
        }
    };
    let (factors, aligned) = spark.align(&ds);
    writeln!(
        out,
        "aligned to {}: {} of {} users and {} of {} items without a Spark factor; \
         {} Spark users and {} items not in the data",
        ds.source,
        aligned.users_without,
        ds.n_users(),
        aligned.items_without,
        ds.n_items(),
        aligned.users_unused,
        aligned.items_unused
    )?;
    let mut model = timbral_train::model_from_factors(&ds, &factors, p);
    let mut parts = model.into_parts();
    parts.meta.source = source;
    parts.meta.trainer = format!(
        "Spark {} ALS, imported by {}",
        spark.spark_version,
        timbral_train::TRAINER
    );
    model = Model::from_parts(parts)?;
    // Fusion weights are learned against Timbral's own ALS fitted on a
    // split: Spark's λ·n is λ·n̄·(n/n̄), so a stand-in with λ·n̄ and ν = 1
    // regularises listeners exactly as Spark does (and items about so).
    let mut stand_in = p;
    stand_in.regularization *=
        timbral_core::als::mean_row_len((0..ds.n_users()).map(|u| ds.plays.row_len(u))).max(1.0);
    let finish = Finish {
        ds: &ds,
        data: &a.data,
        content: &a.content,
        client: a.client,
        progress,
    };
    let model = finish.run(model, stand_in, None, out)?;
    finish.write(&model, &a.out, out)
}

/// What finishes a bundle after its CF model.
struct Finish<'a> {
    ds: &'a Dataset,
    data: &'a DataArgs,
    content: &'a ContentArgs,
    client: bool,
    progress: bool,
}

impl Finish<'_> {
    /// Content vectors and the fusion weights learned with `params`' ALS
    /// on a split, the items' facts, how the CF model was chosen (`choice`)
    /// and, for a client bundle, no listener.
    fn run(
        &self,
        mut model: Model,
        params: AlsParams,
        choice: Option<&Choice>,
        out: &mut dyn Write,
    ) -> Result<Model> {
        let ds = self.ds;
        let mut cf_notes = Vec::new();
        // Without content (--no-content), the items files' own credits.
        #[cfg(feature = "content")]
        if self.content.no_content {
            model = with_item_info(model, None, timbral_train::credits::credits(ds, None), None);
        }
        if let Some(built) = content_for(ds, self.data, self.content, self.client, self.progress)? {
            let c = built.content;
            let fusion = if ds.plays.nnz() == 0 {
                writeln!(
                    out,
                    "no plays: content and popularity alone (no fusion weights to learn)"
                )?;
                timbral_train::hybrid::CONTENT_ONLY
            } else {
                let learned = timbral_train::hybrid::learn_weights(
                    ds,
                    &ds.plays,
                    &c,
                    params,
                    params.seed,
                    choice,
                );
                write!(out, "{learned}")?;
                model = learned.apply_cf(model);
                cf_notes.extend(learned.cf_note());
                learned.fusion
            };
            model = timbral_train::hybrid::with_content(model, &c, Some(fusion));
            model = with_item_info(model, built.facts, built.credits, built.clusters);
            model = timbral_train::shortlist::attach(model, self.content.shortlist, params.seed);
            if let Some(s) = &model.parts().shortlist {
                writeln!(
                    out,
                    "shortlist: {}; fusion scores {} of {} items a query",
                    s.describe(),
                    s.probe,
                    model.n_items()
                )?;
            }
        }
        // How the CF model was chosen, with its validation table.
        if let Some(c) = choice {
            let chosen = model.cf_kind();
            let mut parts = model.into_parts();
            parts.cf_choice = Some(c.record(chosen, cf_notes));
            model = Model::from_parts(parts)?;
        }
        Ok(if self.client { model.client() } else { model })
    }

    /// Writes `model` to `path` atomically and says what it holds.
    fn write(&self, model: &Model, path: &Path, out: &mut dyn Write) -> Result<()> {
        let ds = self.ds;
        let bytes = model.to_bytes();
        write::atomic(path, &bytes)?;
        writeln!(
            out,
            "wrote {} ({} bytes): {} users, {} items, {} plays, {} factors{}{}",
            path.display(),
            bytes.len(),
            ds.n_users(),
            ds.n_items(),
            ds.plays.nnz(),
            model.factors(),
            if model.content().is_some() {
                ", content vectors"
            } else {
                ""
            },
            if self.client {
                "; client bundle: no listener's data in it"
            } else {
                ""
            }
        )?;
        Ok(())
    }
}

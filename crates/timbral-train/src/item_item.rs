//! The item-item CF models the trainer can put in a bundle's `item_item`
//! section (`timbral_core::model::ItemItem`), each its own file: RP3beta
//! (`rp3beta.rs`, any size) and EASE (`ease.rs`, solved densely up to
//! `ease::MAX_ITEMS` items). Both end as each item's top-k weighted
//! neighbours, so every runtime scores them alike. `cf_tune.rs` chooses
//! among them and their blend with the factors.

use std::fmt;

use serde::Serialize;
use timbral_core::model::ItemItem;
use timbral_core::Csr;

use crate::rp3beta::{self, Rp3};

/// Neighbours kept per item: enough for the ranking, small enough that a
/// HetRec client bundle stays under 3 MB.
pub const NEIGHBOURS: usize = 40;

/// An item-item model and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Neighbours {
    Rp3beta { alpha: f32, beta: f32 },
    Ease { lambda: f32 },
}

/// RP3beta's α and β the tuner tries.
const RP3_ALPHAS: [f32; 2] = [0.6, 1.0];
const RP3_BETAS: [f32; 4] = [0.0, 0.25, 0.5, 0.7];
/// EASE's λ the tuner tries where the catalogue is small enough.
const EASE_LAMBDAS: [f32; 4] = [50.0, 200.0, 800.0, 3200.0];

/// The CF models `timbral train --cf` lets the tuner choose among.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum CfKinds {
    /// Whichever ranks best on validation: the factors alone, or blended
    /// with RP3beta or EASE.
    #[default]
    Auto,
    /// The factors alone.
    Als,
    /// The factors blended with RP3beta (the blend weight still tuned).
    #[value(name = "als+rp3beta")]
    #[serde(rename = "als+rp3beta")]
    AlsRp3beta,
    /// The factors blended with EASE, up to `ease::MAX_ITEMS` items.
    #[value(name = "als+ease")]
    #[serde(rename = "als+ease")]
    AlsEase,
}

impl fmt::Display for CfKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = clap::ValueEnum::to_possible_value(self).expect("no kind is skipped");
        f.write_str(v.get_name())
    }
}

impl CfKinds {
    /// Whether an item-item model is asked for, not left to validation.
    pub fn forces_item_item(self) -> bool {
        matches!(self, CfKinds::AlsRp3beta | CfKinds::AlsEase)
    }

    /// Refuses a kind this catalogue cannot have.
    pub fn check(self, n_items: usize) -> Result<(), String> {
        if self == CfKinds::AlsEase && n_items > crate::ease::MAX_ITEMS {
            return Err(format!(
                "--cf als+ease: EASE is solved densely, for up to {} items, and this catalogue has {n_items}; use als+rp3beta or auto",
                crate::ease::MAX_ITEMS
            ));
        }
        Ok(())
    }
}

impl Neighbours {
    /// The tuner's candidates of `kinds` for a catalogue of `n_items`.
    pub fn candidates_of(kinds: CfKinds, n_items: usize) -> Vec<Neighbours> {
        Neighbours::candidates(n_items)
            .into_iter()
            .filter(|c| match kinds {
                CfKinds::Auto => true,
                CfKinds::Als => false,
                CfKinds::AlsRp3beta => c.method() == "rp3beta",
                CfKinds::AlsEase => c.method() == "ease",
            })
            .collect()
    }

    /// The tuner's candidates for a catalogue of `n_items`.
    pub fn candidates(n_items: usize) -> Vec<Neighbours> {
        let mut c: Vec<Neighbours> = RP3_ALPHAS
            .iter()
            .flat_map(|&alpha| {
                RP3_BETAS
                    .iter()
                    .map(move |&beta| Neighbours::Rp3beta { alpha, beta })
            })
            .collect();
        if n_items <= crate::ease::MAX_ITEMS {
            c.extend(EASE_LAMBDAS.map(|lambda| Neighbours::Ease { lambda }));
        }
        c
    }

    /// Its hyper-parameters by name, as the bundle names them.
    pub fn params(&self) -> Vec<(String, f32)> {
        match *self {
            Neighbours::Rp3beta { alpha, beta } => {
                vec![("alpha".to_string(), alpha), ("beta".to_string(), beta)]
            }
            Neighbours::Ease { lambda } => vec![("lambda".to_string(), lambda)],
        }
    }

    pub fn method(&self) -> &'static str {
        match self {
            Neighbours::Rp3beta { .. } => "rp3beta",
            Neighbours::Ease { .. } => "ease",
        }
    }

    /// Each item's top-`k` neighbours on `plays`, rows ascending by item.
    pub fn fit_rows(&self, plays: &Csr, k: usize) -> Vec<Vec<(u32, f32)>> {
        match *self {
            Neighbours::Rp3beta { alpha, beta } => rp3beta::fit(plays, Rp3 { alpha, beta, k }),
            Neighbours::Ease { lambda } => crate::ease::fit(plays, lambda, k),
        }
    }

    /// The fitted model on `plays`, as the bundle stores it, with `blend`.
    pub fn fit(&self, plays: &Csr, blend: f32) -> ItemItem {
        let mut params = self.params();
        params.push(("k".into(), NEIGHBOURS as f32));
        ItemItem::from_rows(
            self.method(),
            params,
            blend,
            &self.fit_rows(plays, NEIGHBOURS),
        )
    }
}

impl fmt::Display for Neighbours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Neighbours::Rp3beta { alpha, beta } => write!(f, "RP3beta α {alpha} β {beta}"),
            Neighbours::Ease { lambda } => write!(f, "EASE λ {lambda}"),
        }
    }
}

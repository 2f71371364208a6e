//! The CF seam: what every caller above (fusion, tastes, the listener
//! layer, the CLI, the wasm package, the Worker) asks of collaborative
//! filtering. A listener reaches CF as a factor (trained, or folded in by
//! `factors.rs`) and a history; a bundle holds the factor model and,
//! optionally, an item-item model (`item_item.rs`) that scores the history
//! directly. Where both are present, the listener's CF score is their
//! blend, each standardised over the candidates, with the blend weight the
//! trainer chose on validation, so a new model kind is one more file and
//! one more term here, not a branch in every caller.

use super::item_item::ItemItem;
use super::*;

/// The factors' name: `nmf`, `als`, or `ials` where ALS's regularisation
/// is frequency-scaled (`reg_exponent` > 0).
pub fn factor_kind(p: &crate::AlsParams) -> &'static str {
    match p.model {
        crate::FactorModel::Nmf => "nmf",
        crate::FactorModel::Bpr => "bpr",
        crate::FactorModel::LightGcn => "lightgcn",
        crate::FactorModel::Als if p.reg_exponent == 0.0 => "als",
        crate::FactorModel::Als => "ials",
    }
}

impl Model {
    /// The item-item model, where the bundle has one.
    pub fn item_item(&self) -> Option<&ItemItem> {
        self.parts.item_item.as_ref()
    }

    /// The CF model the bundle holds, by name: the factors ([`factor_kind`]);
    /// then any item-item model blended in, as in
    /// `als+rp3beta` or `ials+ease` (its weight is `item_item().blend`).
    /// Every runtime reports this name.
    pub fn cf_kind(&self) -> String {
        let factors = factor_kind(&self.meta().params);
        match self.item_item() {
            None => factors.into(),
            Some(ii) => format!("{factors}+{}", ii.method),
        }
    }

    /// A listener's CF score of every item, standardised over `keep`:
    /// factor `x`'s scores (none where `x` carries no preference) and,
    /// with an item-item model, `z(blend·z(factors) + (1 − blend)·z(history's
    /// neighbours))`.
    pub fn cf_standardized(&self, x: &[f32], history: &[(u32, f32)], keep: &[bool]) -> Vec<f32> {
        let signal = crate::linalg::dot(x, x) > NO_SIGNAL;
        let mut cf = if signal {
            self.scores(x)
        } else {
            vec![0.0; self.n_items()]
        };
        standardize(&mut cf, keep);
        let Some(ii) = self.item_item() else {
            return cf;
        };
        if ii.blend >= 1.0 {
            return cf;
        }
        let mut near = ii.scores(history);
        standardize(&mut near, keep);
        // Without factor signal the neighbours speak alone, at full weight.
        let b = if signal { ii.blend } else { 0.0 };
        // An item nobody played is nobody's neighbour, and its low
        // neighbour score stays in its blend: measured on HetRec's cold
        // items, keeping its factor score alone ranks new items lower still.
        for ((c, n), &k) in cf.iter_mut().zip(&near).zip(keep) {
            if k {
                *c = b * *c + (1.0 - b) * n;
            }
        }
        // Once more to unit variance, so that fusion's α weighs CF as it
        // weighs content and popularity.
        standardize(&mut cf, keep);
        cf
    }

    /// CF top-k for a listener (factor `x`, `history`), `exclude` left
    /// out: [`Self::recommend`] where the bundle has only factors, the
    /// blend of [`Self::cf_standardized`] where it has an item-item model.
    pub fn recommend_cf(
        &self,
        x: &[f32],
        history: &[(u32, f32)],
        exclude: &[u32],
        k: usize,
    ) -> Vec<Scored> {
        if self.item_item().is_none_or(|ii| ii.blend >= 1.0) {
            return self.recommend(x, exclude, k);
        }
        let skip = self.mask(exclude);
        let keep: Vec<bool> = skip.iter().map(|&s| !s).collect();
        let cf = self.cf_standardized(x, history, &keep);
        if cf.iter().zip(&keep).all(|(&v, &k)| !k || v == 0.0) {
            return self.popular(exclude, k);
        }
        let cands = (0..self.n_items())
            .filter(|&i| keep[i])
            .map(|i| Scored {
                index: i as u32,
                score: cf[i],
            })
            .collect();
        top_k(cands, k)
    }

    /// CF top-k for a known user, excluding what they have played.
    pub fn recommend_user(&self, u: u32, k: usize) -> Vec<Scored> {
        let x = self.user_factor(u);
        let (items, plays) = self.user_history(u);
        let history: Vec<(u32, f32)> = items.iter().copied().zip(plays.iter().copied()).collect();
        self.recommend_cf(&x, &history, items, k)
    }

    /// CF top-k for a new listener: fold in, then score, excluding the
    /// history.
    pub fn recommend_history(
        &self,
        history: &[(u32, f32)],
        k: usize,
    ) -> Result<Vec<Scored>, Error> {
        let x = self.fold_in(history)?;
        let seen: Vec<u32> = history.iter().map(|&(i, _)| i).collect();
        Ok(self.recommend_cf(&x, history, &seen, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tiny;

    /// `tiny` (items a, b, c) with item-item rows a → c, b → a.
    fn with_neighbours(blend: f32) -> Model {
        let rows = vec![vec![(2, 1.0)], vec![(0, 1.0)], vec![]];
        Model::from_parts(ModelParts {
            item_item: Some(ItemItem::from_rows("rp3beta", Vec::new(), blend, &rows)),
            ..tiny()
        })
        .unwrap()
    }

    #[test]
    fn without_an_item_item_model_cf_is_the_factors_alone() {
        let m = Model::from_parts(tiny()).unwrap();
        let x = m.fold_in(&[(1, 2.0)]).unwrap();
        assert_eq!(
            m.recommend_history(&[(1, 2.0)], 2).unwrap(),
            m.recommend(&x, &[1], 2)
        );
        assert_eq!(m.cf_kind(), "als");
    }

    #[test]
    fn the_blend_weighs_the_neighbours_of_the_history() {
        // Factors alone put c (0.7, 0.7) before a (1, 0) for a listener of
        // b (0, 1); b's only neighbour is a, so neighbours alone put a first.
        let factors = with_neighbours(1.0)
            .recommend_history(&[(1, 1.0)], 2)
            .unwrap();
        assert_eq!(factors[0].index, 2, "{factors:?}");
        let near = with_neighbours(0.0)
            .recommend_history(&[(1, 1.0)], 2)
            .unwrap();
        assert_eq!(near[0].index, 0, "{near:?}");
        assert_eq!(with_neighbours(0.3).cf_kind(), "als+rp3beta");
    }

    #[test]
    fn the_listener_layer_scores_through_the_seam_without_content_too() {
        // What the wasm package and the Worker call must rank as the CLI's
        // `recommend --history` does, item-item model included.
        for blend in [0.0, 0.3, 1.0] {
            let m = with_neighbours(blend);
            let h = [(1, 2.0)];
            let explained: Vec<(u32, f32)> = m
                .recommend_explained(&h, &[], 2, None)
                .unwrap()
                .iter()
                .map(|e| (e.rec.index, e.rec.score))
                .collect();
            let cf: Vec<(u32, f32)> = m
                .recommend_history(&h, 2)
                .unwrap()
                .iter()
                .map(|s| (s.index, s.score))
                .collect();
            assert_eq!(explained, cf, "blend {blend}");
        }
    }

    #[test]
    fn the_item_item_section_round_trips_and_a_bad_one_is_refused() {
        let m = with_neighbours(0.4);
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(back.item_item(), m.item_item());
        assert_eq!(back.client().item_item(), m.item_item());
        let mut p = m.into_parts();
        p.item_item.as_mut().unwrap().gaps[0] = 7;
        let e = Model::from_parts(p).unwrap_err().to_string();
        assert!(e.contains("item_item"), "{e}");
    }

    #[test]
    fn the_cf_choice_section_round_trips_and_a_bad_one_is_refused() {
        use crate::model::{CfCandidate, CfChoice};
        let mut p = with_neighbours(0.4).into_parts();
        let row = |model: &str, ndcg10| CfCandidate {
            model: model.into(),
            params: vec![("blend".into(), 0.4)],
            ndcg10,
        };
        p.cf_choice = Some(CfChoice {
            kinds: "auto".into(),
            chosen: "als+rp3beta".into(),
            ndcg10: 0.3,
            factors_ndcg10: 0.2,
            listeners: 2,
            plays: 3,
            validation_listeners: 1,
            table: vec![row("als", 0.2), row("als+rp3beta", 0.3)],
            notes: vec!["kept".into()],
        });
        let m = Model::from_parts(p).unwrap();
        let back = Model::from_bytes(&m.client().to_bytes()).unwrap();
        assert_eq!(back.parts().cf_choice, m.parts().cf_choice);
        let mut p = m.into_parts();
        p.cf_choice.as_mut().unwrap().table[1].ndcg10 = f32::NAN;
        let e = Model::from_parts(p).unwrap_err().to_string();
        assert!(e.contains("cf_choice") && e.contains("candidate 1"), "{e}");
    }
}

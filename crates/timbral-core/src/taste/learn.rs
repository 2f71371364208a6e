//! The per-taste classifiers, small enough to train on the listener's
//! device (in wasm, in a Worker) in milliseconds: L2-regularised logistic
//! regression by Newton's method, and gradient-boosted depth-3 trees on
//! histogram splits with early stopping on a held-out slice. Both are
//! deterministic: no randomness, sums in a fixed order.
//!
//! Own code rather than a crate: the GBDT crates on crates.io
//! (`perpetual`, `gbdt`, `forust-ml`) pull in threads, file I/O or
//! serde-json model formats the core does not want, and a depth-3 booster
//! on a few hundred samples is a page of code, tested below.

use serde::{Deserialize, Serialize};

/// Labelled, weighted samples: `n × d` features, row-major.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub d: usize,
    pub x: Vec<f32>,
    /// 1 for a like, 0 for a dislike, skip or sampled negative.
    pub y: Vec<f32>,
    pub w: Vec<f32>,
}

impl Samples {
    pub fn new(d: usize) -> Self {
        Samples {
            d,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn push(&mut self, x: &[f32], y: f32, w: f32) {
        debug_assert_eq!(x.len(), self.d);
        self.x.extend_from_slice(x);
        self.y.push(y);
        self.w.push(w);
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Every `every`-th sample (from `offset`) apart from the rest: a
    /// deterministic held-out slice, stratified by the samples' order.
    pub fn split(&self, every: usize, offset: usize) -> (Samples, Samples) {
        let (mut fit, mut held) = (Samples::new(self.d), Samples::new(self.d));
        for i in 0..self.len() {
            let to = if i % every == offset % every {
                &mut held
            } else {
                &mut fit
            };
            to.push(self.row(i), self.y[i], self.w[i]);
        }
        (fit, held)
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-z))
}

/// Area under the ROC curve of `scores` for 0/1 `labels` (ties count
/// half); 0.5 when one class is missing.
pub fn auc(scores: &[f32], labels: &[f32]) -> f32 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let (mut rank_sum, mut pos) = (0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += avg;
                pos += 1.0;
            }
        }
        i = j + 1;
    }
    let neg = idx.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    ((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)) as f32
}

/// Mean log loss of probabilities `p` for 0/1 `labels`.
pub fn log_loss(p: &[f32], labels: &[f32]) -> f32 {
    if p.is_empty() {
        return 0.0;
    }
    let s: f32 = p
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-6, 1.0 - 1e-6);
            -(y * libm::logf(p) + (1.0 - y) * libm::logf(1.0 - p))
        })
        .sum();
    s / p.len() as f32
}

/// Logistic regression on standardised features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Logistic {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    /// Intercept, then one weight per feature.
    beta: Vec<f32>,
}

impl Logistic {
    /// L2 strength on the standardised weights (not on the intercept).
    pub const L2: f32 = 1.0;

    /// Newton's method (iteratively reweighted least squares), at most 25
    /// steps; the Hessian is solved by Cholesky.
    pub fn fit(s: &Samples) -> Logistic {
        let (n, d) = (s.len(), s.d);
        let wsum: f32 = s.w.iter().sum::<f32>().max(1e-12);
        let mut mean = vec![0f32; d];
        let mut var = vec![0f32; d];
        for i in 0..n {
            for (f, &v) in s.row(i).iter().enumerate() {
                mean[f] += s.w[i] * v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= wsum);
        for i in 0..n {
            for (f, &v) in s.row(i).iter().enumerate() {
                var[f] += s.w[i] * (v - mean[f]).powi(2);
            }
        }
        let inv_std: Vec<f32> = var
            .iter()
            .map(|&v| {
                let sd = (v / wsum).sqrt();
                if sd > 1e-6 {
                    1.0 / sd
                } else {
                    0.0
                }
            })
            .collect();
        let z = |i: usize, f: usize| (s.row(i)[f] - mean[f]) * inv_std[f];
        let p1 = d + 1;
        let mut beta = vec![0f32; p1];
        for _ in 0..25 {
            let mut h = vec![0f64; p1 * p1];
            let mut g = vec![0f64; p1];
            let mut xi = vec![0f32; p1];
            for i in 0..n {
                xi[0] = 1.0;
                for f in 0..d {
                    xi[f + 1] = z(i, f);
                }
                let eta: f32 = crate::linalg::dot(&beta, &xi);
                let p = sigmoid(eta);
                let r = f64::from(s.w[i] * (p - s.y[i]));
                let q = f64::from(s.w[i] * (p * (1.0 - p)).max(1e-6));
                for a in 0..p1 {
                    g[a] += r * f64::from(xi[a]);
                    let qa = q * f64::from(xi[a]);
                    for b in 0..=a {
                        h[a * p1 + b] += qa * f64::from(xi[b]);
                    }
                }
            }
            for a in 1..p1 {
                g[a] += f64::from(Self::L2 * beta[a]);
                h[a * p1 + a] += f64::from(Self::L2);
            }
            h[0] += 1e-6;
            let Some(step) = cholesky_solve(&mut h, &g, p1) else {
                break;
            };
            let mut change = 0f64;
            for a in 0..p1 {
                beta[a] -= step[a] as f32;
                change = change.max(step[a].abs());
            }
            if change < 1e-4 {
                break;
            }
        }
        Logistic {
            mean,
            inv_std,
            beta,
        }
    }

    /// The probability of a like; 0.5 for a sample of the wrong width.
    pub fn predict(&self, x: &[f32]) -> f32 {
        if x.len() != self.mean.len() {
            return 0.5;
        }
        let mut eta = self.beta[0];
        for (f, &v) in x.iter().enumerate() {
            eta += self.beta[f + 1] * (v - self.mean[f]) * self.inv_std[f];
        }
        sigmoid(eta)
    }
}

impl Logistic {
    pub fn validate(&self) -> Result<(), String> {
        let d = self.mean.len();
        if self.inv_std.len() != d || self.beta.len() != d + 1 {
            return Err(format!(
                "a logistic model of {d} features has {} scales and {} weights",
                self.inv_std.len(),
                self.beta.len()
            ));
        }
        if self
            .mean
            .iter()
            .chain(&self.inv_std)
            .chain(&self.beta)
            .any(|v| !v.is_finite())
        {
            return Err("a logistic model's weight is not finite".into());
        }
        Ok(())
    }
}

/// Solves `H x = g` for symmetric positive definite `H` (lower triangle
/// filled, `p × p`), in place; `None` if it is not positive definite.
fn cholesky_solve(h: &mut [f64], g: &[f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut s = h[j * p + j];
        for k in 0..j {
            s -= h[j * p + k] * h[j * p + k];
        }
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let l = s.sqrt();
        h[j * p + j] = l;
        for i in j + 1..p {
            let mut s = h[i * p + j];
            for k in 0..j {
                s -= h[i * p + k] * h[j * p + k];
            }
            h[i * p + j] = s / l;
        }
    }
    let mut y = g.to_vec();
    for i in 0..p {
        for k in 0..i {
            y[i] -= h[i * p + k] * y[k];
        }
        y[i] /= h[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            y[i] -= h[k * p + i] * y[k];
        }
        y[i] /= h[i * p + i];
    }
    Some(y)
}

/// One node of a regression tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Node {
    /// `x[feature] < threshold` goes to `left`, else `right`.
    Split {
        feature: u16,
        threshold: f32,
        left: u32,
        right: u32,
    },
    Leaf(f32),
}

/// Gradient-boosted trees for log loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Boosted {
    /// Features per sample.
    d: u32,
    base: f32,
    trees: Vec<Vec<Node>>,
}

/// The booster's settings.
#[derive(Clone, Copy, Debug)]
pub struct BoostParams {
    pub depth: usize,
    pub learning_rate: f32,
    pub max_rounds: usize,
    /// Rounds without a better held-out log loss before stopping.
    pub patience: usize,
    /// L2 on leaf values.
    pub lambda: f32,
    /// Least hessian weight a leaf may have.
    pub min_child_weight: f32,
    /// Candidate thresholds per feature (quantiles of the fit samples).
    pub bins: usize,
}

impl Default for BoostParams {
    fn default() -> Self {
        BoostParams {
            depth: 3,
            learning_rate: 0.1,
            max_rounds: 200,
            patience: 20,
            lambda: 1.0,
            min_child_weight: 1.0,
            bins: 16,
        }
    }
}

impl Boosted {
    /// Fits on `fit`, stopping when the log loss on `held` has not improved
    /// for `patience` rounds; keeps the best round's trees.
    pub fn fit(fit: &Samples, held: &Samples, p: BoostParams) -> Boosted {
        let d = fit.d;
        let n = fit.len();
        let wsum: f32 = fit.w.iter().sum::<f32>().max(1e-12);
        let pos: f32 = fit.w.iter().zip(&fit.y).map(|(w, y)| w * y).sum();
        let rate = (pos / wsum).clamp(1e-3, 1.0 - 1e-3);
        let base = libm::logf(rate / (1.0 - rate));
        // Candidate thresholds: distinct quantiles of each feature.
        let thresholds: Vec<Vec<f32>> = (0..d)
            .map(|f| {
                let mut v: Vec<f32> = (0..n).map(|i| fit.row(i)[f]).collect();
                v.sort_by(f32::total_cmp);
                let mut t: Vec<f32> = (1..p.bins)
                    .map(|b| v[(b * n / p.bins).min(n.saturating_sub(1))])
                    .collect();
                t.dedup();
                t
            })
            .collect();
        let mut model = Boosted {
            d: d as u32,
            base,
            trees: Vec::new(),
        };
        let mut margin = vec![base; n];
        let mut held_margin = vec![base; held.len()];
        let mut best = (f32::INFINITY, 0usize);
        for round in 0..p.max_rounds {
            let (g, h): (Vec<f32>, Vec<f32>) = (0..n)
                .map(|i| {
                    let q = sigmoid(margin[i]);
                    (
                        fit.w[i] * (q - fit.y[i]),
                        fit.w[i] * (q * (1.0 - q)).max(1e-6),
                    )
                })
                .unzip();
            let mut tree = Vec::new();
            let rows: Vec<u32> = (0..n as u32).collect();
            grow(&mut tree, fit, &thresholds, &g, &h, rows, p.depth, &p);
            for (i, m) in margin.iter_mut().enumerate() {
                *m += p.learning_rate * eval_tree(&tree, fit.row(i));
            }
            for (i, m) in held_margin.iter_mut().enumerate() {
                *m += p.learning_rate * eval_tree(&tree, held.row(i));
            }
            model.trees.push(tree);
            if held.is_empty() {
                continue;
            }
            let probs: Vec<f32> = held_margin.iter().map(|&m| sigmoid(m)).collect();
            let loss = log_loss(&probs, &held.y);
            if loss < best.0 - 1e-6 {
                best = (loss, round + 1);
            } else if round + 1 - best.1 >= p.patience {
                break;
            }
        }
        if !held.is_empty() {
            model.trees.truncate(best.1);
        }
        let lr = p.learning_rate;
        model.trees.iter_mut().for_each(|t| {
            t.iter_mut().for_each(|n| {
                if let Node::Leaf(v) = n {
                    *v *= lr;
                }
            })
        });
        model
    }

    pub fn rounds(&self) -> usize {
        self.trees.len()
    }

    /// The probability of a like; 0.5 for a sample of the wrong width.
    pub fn predict(&self, x: &[f32]) -> f32 {
        if x.len() != self.d as usize {
            return 0.5;
        }
        sigmoid(self.base + self.trees.iter().map(|t| eval_tree(t, x)).sum::<f32>())
    }

    /// What a loaded model must hold before it predicts: finite numbers,
    /// features in range, and children after their parent (so evaluation
    /// always reaches a leaf).
    pub fn validate(&self) -> Result<(), String> {
        if !self.base.is_finite() {
            return Err("a boosted model's base score is not finite".into());
        }
        for (t, tree) in self.trees.iter().enumerate() {
            if tree.is_empty() {
                return Err(format!("tree {t} is empty"));
            }
            for (at, node) in tree.iter().enumerate() {
                let ok = match *node {
                    Node::Leaf(v) => v.is_finite(),
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        u32::from(feature) < self.d
                            && threshold.is_finite()
                            && [left, right]
                                .iter()
                                .all(|&c| c as usize > at && (c as usize) < tree.len())
                    }
                };
                if !ok {
                    return Err(format!("tree {t} node {at} is malformed"));
                }
            }
        }
        Ok(())
    }
}

fn eval_tree(tree: &[Node], x: &[f32]) -> f32 {
    let mut at = 0usize;
    loop {
        match &tree[at] {
            Node::Leaf(v) => return *v,
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                at = if x[*feature as usize] < *threshold {
                    *left as usize
                } else {
                    *right as usize
                }
            }
        }
    }
}

/// Grows a node over `rows` and returns its index in `tree`: the split of
/// best gain `G²/(H+λ)` (left + right − parent), or a leaf `−G/(H+λ)`.
#[allow(clippy::too_many_arguments)]
fn grow(
    tree: &mut Vec<Node>,
    s: &Samples,
    thresholds: &[Vec<f32>],
    g: &[f32],
    h: &[f32],
    rows: Vec<u32>,
    depth: usize,
    p: &BoostParams,
) -> u32 {
    let (gs, hs): (f32, f32) = rows.iter().fold((0.0, 0.0), |(a, b), &r| {
        (a + g[r as usize], b + h[r as usize])
    });
    let at = tree.len() as u32;
    tree.push(Node::Leaf(-gs / (hs + p.lambda)));
    if depth == 0 || hs < 2.0 * p.min_child_weight {
        return at;
    }
    let parent = gs * gs / (hs + p.lambda);
    let mut best: Option<(f32, u16, f32)> = None;
    for (f, ts) in thresholds.iter().enumerate() {
        if ts.is_empty() {
            continue;
        }
        // Per bin (values below threshold b and not below b − 1) sums.
        let mut bg = vec![0f32; ts.len() + 1];
        let mut bh = vec![0f32; ts.len() + 1];
        for &r in &rows {
            let v = s.row(r as usize)[f];
            let b = ts.partition_point(|&t| t <= v);
            bg[b] += g[r as usize];
            bh[b] += h[r as usize];
        }
        let (mut lg, mut lh) = (0f32, 0f32);
        for b in 0..ts.len() {
            lg += bg[b];
            lh += bh[b];
            let (rg, rh) = (gs - lg, hs - lh);
            if lh < p.min_child_weight || rh < p.min_child_weight {
                continue;
            }
            let gain = lg * lg / (lh + p.lambda) + rg * rg / (rh + p.lambda) - parent;
            if gain > 1e-6 && best.is_none_or(|(bgain, _, _)| gain > bgain) {
                best = Some((gain, f as u16, ts[b]));
            }
        }
    }
    let Some((_, feature, threshold)) = best else {
        return at;
    };
    let (l, r): (Vec<u32>, Vec<u32>) = rows
        .into_iter()
        .partition(|&r| s.row(r as usize)[feature as usize] < threshold);
    let left = grow(tree, s, thresholds, g, h, l, depth - 1, p);
    let right = grow(tree, s, thresholds, g, h, r, depth - 1, p);
    tree[at as usize] = Node::Split {
        feature,
        threshold,
        left,
        right,
    };
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded generator without dependencies: xorshift.
    fn noise(state: &mut u64) -> f32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 40) as f32 / (1u64 << 24) as f32
    }

    fn data(n: usize, seed: u64, f: impl Fn(&[f32]) -> bool) -> Samples {
        let mut s = Samples::new(3);
        let mut st = seed;
        for _ in 0..n {
            let x = [noise(&mut st), noise(&mut st), noise(&mut st)];
            s.push(&x, f(&x) as u8 as f32, 1.0);
        }
        s
    }

    #[test]
    fn auc_and_log_loss_are_right_on_small_cases() {
        assert_eq!(auc(&[0.1, 0.9], &[0.0, 1.0]), 1.0);
        assert_eq!(auc(&[0.9, 0.1], &[0.0, 1.0]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), 0.5);
        assert_eq!(auc(&[0.3, 0.4], &[1.0, 1.0]), 0.5);
        assert!((log_loss(&[0.5], &[1.0]) - std::f32::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn logistic_regression_learns_a_linear_boundary() {
        let line = |x: &[f32]| x[0] + 0.5 * x[1] > 0.75;
        let fit = data(300, 7, line);
        let test = data(300, 99, line);
        let m = Logistic::fit(&fit);
        let p: Vec<f32> = (0..test.len()).map(|i| m.predict(test.row(i))).collect();
        let a = auc(&p, &test.y);
        assert!(a > 0.97, "AUC {a}");
        // The irrelevant feature gets a small weight.
        assert!(m.beta[3].abs() < 0.3 * m.beta[1].abs(), "{:?}", m.beta);
    }

    #[test]
    fn boosting_learns_what_a_line_cannot_and_stops_early() {
        // A band: liked only in the middle of feature 0's range.
        let band = |x: &[f32]| (0.35..0.65).contains(&x[0]);
        let all = data(400, 3, band);
        let (fit, held) = all.split(5, 0);
        let test = data(300, 11, band);
        let b = Boosted::fit(&fit, &held, BoostParams::default());
        let l = Logistic::fit(&fit);
        let score = |pred: &dyn Fn(&[f32]) -> f32| {
            let p: Vec<f32> = (0..test.len()).map(|i| pred(test.row(i))).collect();
            auc(&p, &test.y)
        };
        let (ab, al) = (score(&|x| b.predict(x)), score(&|x| l.predict(x)));
        assert!(ab > 0.95 && al < 0.7, "boosted {ab}, logistic {al}");
        assert!(
            b.rounds() < 200,
            "early stopping kept {} rounds",
            b.rounds()
        );
        // Deterministic.
        assert_eq!(Boosted::fit(&fit, &held, BoostParams::default()), b);
    }
}

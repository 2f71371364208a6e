//! EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"), solved densely
//! where the catalogue allows: `B = I − P·diag(1/diag P)` with
//! `P = (XᵀX + λI)⁻¹` over the binary plays, each row kept to its top-k
//! weights by magnitude for the bundle's item-item section.
//!
//! The inverse is a blocked Cholesky factorisation `G = LLᵀ` (gemm for the
//! trailing updates, `ndarray`'s matrixmultiply), `Lᵀ⁻¹`'s rows by blocked
//! forward substitution, then `P = L⁻ᵀL⁻¹` as one more gemm: about `n³`
//! flops, memory `3n²` f64. Rows are split over rayon in fixed chunks, and
//! each output element is summed in one fixed order, so the result is the
//! same with any thread count.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;
use timbral_core::{Csr, Scored};

/// Catalogues up to this size are solved densely (3n² f64: 860 MB at
/// 6,000 items, about a minute on two cores); larger ones use RP3beta.
pub const MAX_ITEMS: usize = 6000;

/// Block size of the factorisation and the solves.
const NB: usize = 128;

/// `XᵀX` of the binary play matrix, items × items.
fn cooccurrence(plays: &Csr) -> Array2<f64> {
    let n = plays.n_cols();
    let by_item = plays.transpose();
    let mut g = vec![0f64; n * n];
    g.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        for &u in by_item.row(i).0 {
            for &j in plays.row(u as usize).0 {
                row[j as usize] += 1.0;
            }
        }
    });
    Array2::from_shape_vec((n, n), g).expect("n × n")
}

/// Lower Cholesky factor of the symmetric positive definite `a`, in place
/// (the strict upper triangle is left as it was). `Err(j)` where pivot
/// `j` is not positive.
fn cholesky(a: &mut Array2<f64>) -> Result<(), usize> {
    let n = a.nrows();
    for k0 in (0..n).step_by(NB) {
        let k1 = (k0 + NB).min(n);
        // The diagonal block; earlier blocks were already subtracted.
        for j in k0..k1 {
            let mut d = a[[j, j]];
            for p in k0..j {
                d -= a[[j, p]] * a[[j, p]];
            }
            if !(d > 0.0 && d.is_finite()) {
                return Err(j);
            }
            let d = d.sqrt();
            a[[j, j]] = d;
            for i in j + 1..k1 {
                let mut v = a[[i, j]];
                for p in k0..j {
                    v -= a[[i, p]] * a[[j, p]];
                }
                a[[i, j]] = v / d;
            }
        }
        if k1 == n {
            break;
        }
        // The panel below it: each row solves against the diagonal block.
        let diag = a.slice(s![k0..k1, k0..k1]).to_owned();
        let flat = a.as_slice_mut().expect("standard layout");
        flat[k1 * n..].par_chunks_mut(n).for_each(|row| {
            for j in k0..k1 {
                let mut v = row[j];
                for p in k0..j {
                    v -= row[p] * diag[[j - k0, p - k0]];
                }
                row[j] = v / diag[[j - k0, j - k0]];
            }
        });
        // The trailing matrix's lower part: A₂₂ −= P Pᵀ, by row chunks.
        let panel = a.slice(s![k1.., k0..k1]).to_owned();
        let flat = a.as_slice_mut().expect("standard layout");
        flat[k1 * n..]
            .par_chunks_mut(NB * n)
            .enumerate()
            .for_each(|(c, rows)| {
                let r0 = c * NB;
                let m = rows.len() / n;
                let mut view = ArrayViewMut2::from_shape((m, n), rows).expect("rows × n");
                let width = r0 + m;
                general_mat_mul(
                    -1.0,
                    &panel.slice(s![r0..r0 + m, ..]),
                    &panel.slice(s![..width, ..]).t(),
                    1.0,
                    &mut view.slice_mut(s![.., k1..k1 + width]),
                );
            });
    }
    Ok(())
}

/// `Wt = (L⁻¹)ᵀ` for lower-triangular `l` (row `c` of `Wt` is column `c`
/// of `L⁻¹`): forward substitution `L y = e_c` for blocks of columns.
fn inverse_transposed(l: &Array2<f64>) -> Array2<f64> {
    let n = l.nrows();
    let mut wt = vec![0f64; n * n];
    wt.par_chunks_mut(NB * n.max(1))
        .enumerate()
        .for_each(|(c, out)| {
            let c0 = c * NB;
            let w = out.len() / n;
            // y[p][..w]: the block's columns of L⁻¹, by row p ≥ c0.
            let mut y = vec![0f64; n * w];
            for i in c0..n {
                let (done, rest) = y.split_at_mut(i * w);
                let yi = &mut rest[..w];
                if i < c0 + w {
                    yi[i - c0] = 1.0;
                }
                let li = l.row(i);
                for p in c0..i {
                    let lip = li[p];
                    if lip != 0.0 {
                        let yp = &done[p * w..(p + 1) * w];
                        for (a, b) in yi.iter_mut().zip(yp) {
                            *a -= lip * b;
                        }
                    }
                }
                let d = li[i];
                for a in yi.iter_mut() {
                    *a /= d;
                }
            }
            for (cc, row) in out.chunks_mut(n).enumerate() {
                for (p, v) in row.iter_mut().enumerate().skip(c0) {
                    *v = y[p * w + cc];
                }
            }
        });
    Array2::from_shape_vec((n, n), wt).expect("n × n")
}

/// `(XᵀX + λI)⁻¹` for the plays' binary matrix.
fn ease_inverse(plays: &Csr, lambda: f64) -> Array2<f64> {
    let mut g = cooccurrence(plays);
    for i in 0..g.nrows() {
        g[[i, i]] += lambda;
    }
    cholesky(&mut g).expect("XᵀX + λI with λ > 0 is positive definite");
    let wt = inverse_transposed(&g);
    drop(g);
    let n = wt.nrows();
    let mut p = vec![0f64; n * n];
    let wv: ArrayView2<f64> = wt.view();
    p.par_chunks_mut(NB * n.max(1))
        .enumerate()
        .for_each(|(c, rows)| {
            let r0 = c * NB;
            let m = rows.len() / n;
            let mut view = ArrayViewMut2::from_shape((m, n), rows).expect("rows × n");
            general_mat_mul(1.0, &wv.slice(s![r0..r0 + m, ..]), &wv.t(), 0.0, &mut view);
        });
    Array2::from_shape_vec((n, n), p).expect("n × n")
}

/// EASE's weights, each item's row (what it adds to the items it points
/// at) kept to its `k` largest by magnitude, ascending by item. Items nobody
/// played get no row.
pub fn fit(plays: &Csr, lambda: f32, k: usize) -> Vec<Vec<(u32, f32)>> {
    assert!(lambda > 0.0, "EASE needs λ > 0");
    let n = plays.n_cols();
    let p = ease_inverse(plays, f64::from(lambda));
    let by_item = plays.transpose();
    let played: Vec<bool> = (0..n).map(|i| by_item.row_len(i) > 0).collect();
    (0..n)
        .into_par_iter()
        .map(|i| {
            if !played[i] {
                return Vec::new();
            }
            // B[i][j] = −P[i][j] / P[j][j]: item i's pull on item j.
            let cands = (0..n)
                .filter(|&j| j != i && played[j])
                .map(|j| Scored {
                    index: j as u32,
                    score: (-p[[i, j]] / p[[j, j]]) as f32,
                })
                .filter(|s| s.score != 0.0)
                .map(|s| Scored {
                    index: s.index,
                    score: s.score.abs(),
                })
                .collect();
            let mut row: Vec<(u32, f32)> = timbral_core::top_k(cands, k)
                .into_iter()
                .map(|s| {
                    let j = s.index as usize;
                    (s.index, (-p[[i, j]] / p[[j, j]]) as f32)
                })
                .collect();
            row.sort_unstable_by_key(|&(j, _)| j);
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric positive definite matrix with a little structure.
    fn spd(n: usize) -> Array2<f64> {
        let mut a = Array2::from_shape_fn((n, n), |(i, j)| {
            (((i * 7 + j * 13) % 11) as f64 - 5.0) / 10.0
        });
        a = a.dot(&a.t());
        for i in 0..n {
            a[[i, i]] += 1.0;
        }
        a
    }

    #[test]
    fn the_blocked_inverse_inverts_across_block_edges() {
        // 300 = two full blocks and a partial one.
        let n = 300;
        let a = spd(n);
        let mut l = a.clone();
        cholesky(&mut l).unwrap();
        let wt = inverse_transposed(&l);
        let p = wt.dot(&wt.t());
        let id = p.dot(&a);
        for i in 0..n {
            for j in 0..n {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (id[[i, j]] - want).abs() < 1e-8,
                    "({i}, {j}) {}",
                    id[[i, j]]
                );
            }
        }
    }

    #[test]
    fn weights_stay_within_the_planted_groups_and_match_any_thread_count() {
        let mut t = Vec::new();
        for u in 0..60u32 {
            let g = u % 3;
            for i in 0..8u32 {
                if (u + i) % 4 != 0 {
                    t.push((u, g * 8 + i, 1.0));
                }
            }
        }
        let plays = Csr::from_triplets(60, 24, t);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit(&plays, 10.0, 5))
        };
        let rows = run(1);
        assert_eq!(rows, run(2));
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.len(), 5, "{i}: {row:?}");
            for &(j, w) in row {
                assert_eq!(j / 8, i as u32 / 8, "item {i} → {j} ({w})");
                assert!(w > 0.0);
            }
        }
    }
}

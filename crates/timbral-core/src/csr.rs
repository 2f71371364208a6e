//! Compressed sparse rows: the user × item play matrix and its transpose.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Csr {
    n_rows: u32,
    n_cols: u32,
    indptr: Vec<u32>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Csr {
    /// Builds from (row, col, value) triplets. Duplicate (row, col) pairs are
    /// summed; columns within a row come out sorted.
    pub fn from_triplets(n_rows: usize, n_cols: usize, mut t: Vec<(u32, u32, f32)>) -> Self {
        t.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0u32; n_rows + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut values: Vec<f32> = Vec::with_capacity(t.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in t {
            assert!(
                (r as usize) < n_rows && (c as usize) < n_cols,
                "triplet out of range"
            );
            if last == Some((r, c)) {
                *values.last_mut().expect("a previous value exists") += v;
            } else {
                indices.push(c);
                values.push(v);
                indptr[r as usize + 1] += 1;
                last = Some((r, c));
            }
        }
        for i in 0..n_rows {
            indptr[i + 1] += indptr[i];
        }
        Csr {
            n_rows: n_rows as u32,
            n_cols: n_cols as u32,
            indptr,
            indices,
            values,
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows as usize
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols as usize
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices (sorted) and values of row `r`.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r] as usize, self.indptr[r + 1] as usize);
        (&self.indices[a..b], &self.values[a..b])
    }

    pub fn row_len(&self, r: usize) -> usize {
        (self.indptr[r + 1] - self.indptr[r]) as usize
    }

    /// All (row, col, value) triplets in row order.
    pub fn triplets(&self) -> impl Iterator<Item = (u32, u32, f32)> + '_ {
        (0..self.n_rows()).flat_map(move |r| {
            let (c, v) = self.row(r);
            c.iter().zip(v).map(move |(&c, &v)| (r as u32, c, v))
        })
    }

    /// The same matrix with `f` applied to every value.
    pub fn map_values(&self, f: impl Fn(f32) -> f32) -> Csr {
        Csr {
            values: self.values.iter().map(|&v| f(v)).collect(),
            ..self.clone()
        }
    }

    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0u32; self.n_cols() + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for i in 0..self.n_cols() {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for (r, c, v) in self.triplets() {
            let slot = next[c as usize] as usize;
            indices[slot] = r;
            values[slot] = v;
            next[c as usize] += 1;
        }
        Csr {
            n_rows: self.n_cols,
            n_cols: self.n_rows,
            indptr,
            indices,
            values,
        }
    }

    /// Checks every invariant that `row` relies on, so a decoded matrix can
    /// never index out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        if self.indptr.len() != self.n_rows() + 1 {
            return Err(format!(
                "{} row pointers for {} rows",
                self.indptr.len(),
                self.n_rows
            ));
        }
        if self.indptr[0] != 0 || *self.indptr.last().unwrap_or(&0) as usize != self.indices.len() {
            return Err("row pointers do not span the entries".into());
        }
        if self.indptr.windows(2).any(|w| w[0] > w[1]) {
            return Err("row pointers decrease".into());
        }
        if self.values.len() != self.indices.len() {
            return Err(format!(
                "{} values for {} entries",
                self.values.len(),
                self.indices.len()
            ));
        }
        if let Some(c) = self.indices.iter().find(|&&c| c >= self.n_cols) {
            return Err(format!("column {c} out of range (0..{})", self.n_cols));
        }
        if let Some(v) = self.values.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(format!("invalid value {v}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_summed_and_transpose_round_trips() {
        let m = Csr::from_triplets(
            3,
            4,
            vec![(2, 1, 1.0), (0, 3, 2.0), (2, 1, 4.0), (0, 0, 1.0)],
        );
        assert_eq!(m.nnz(), 3);
        assert_eq!(m.row(0), (&[0u32, 3][..], &[1.0f32, 2.0][..]));
        assert_eq!(m.row(1), (&[][..], &[][..]));
        assert_eq!(m.row(2), (&[1u32][..], &[5.0f32][..]));
        m.validate().unwrap();
        let t = m.transpose();
        t.validate().unwrap();
        assert_eq!(t.row(1), (&[2u32][..], &[5.0f32][..]));
        assert_eq!(t.transpose(), m);
    }
}

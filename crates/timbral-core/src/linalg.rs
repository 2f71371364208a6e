//! Small dense kernels. Written with fixed-width independent accumulators so
//! that LLVM vectorises them (SSE/AVX natively, simd128 on wasm) and so that
//! the summation order — and therefore every score — is the same on every
//! target.

const LANES: usize = 8;

/// Dot product of two f32 slices of equal length.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..LANES {
            acc[j] += x[j] * y[j];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    reduce(acc) + tail
}

/// Four [`dot`]s against one `x`, each the same bits as [`dot`] alone.
/// Interleaved, so that four accumulator chains are in flight instead of
/// one (the ALS half-step's Gram product and per-item dots). Where the CPU
/// has AVX, explicit 8-lane vectors: left to itself LLVM packs the four
/// rows' lane `j` into one vector and spends its time shuffling.
#[inline(always)]
pub fn dot4(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let n = x.len();
    assert!(
        rows.iter().all(|r| r.len() == n),
        "dot4: rows of unequal length"
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX, and every row is `n` long (asserted).
        return unsafe { x86::dot4_avx(rows, x) };
    }
    dot4_portable(rows, x)
}

#[inline(always)]
fn dot4_portable(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    rows.map(|r| dot(r, x))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{reduce, LANES};
    use std::arch::x86_64::*;

    /// [`super::dot4`] in AVX registers: per row, lane `j` sums
    /// `row[8k + j] · x[8k + j]` over `k` in order, multiply then add (no
    /// FMA), then [`reduce`] and the scalar tail: [`super::dot`]'s bits.
    #[target_feature(enable = "avx")]
    #[inline]
    pub(super) unsafe fn dot4_avx(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
        let n = x.len();
        let whole = n - n % LANES;
        let [a, b, c, d] = rows.map(<[f32]>::as_ptr);
        let xp = x.as_ptr();
        let mut s = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k < whole {
            let xs = _mm256_loadu_ps(xp.add(k));
            s[0] = _mm256_add_ps(s[0], _mm256_mul_ps(_mm256_loadu_ps(a.add(k)), xs));
            s[1] = _mm256_add_ps(s[1], _mm256_mul_ps(_mm256_loadu_ps(b.add(k)), xs));
            s[2] = _mm256_add_ps(s[2], _mm256_mul_ps(_mm256_loadu_ps(c.add(k)), xs));
            s[3] = _mm256_add_ps(s[3], _mm256_mul_ps(_mm256_loadu_ps(d.add(k)), xs));
            k += LANES;
        }
        let mut out = [0f32; 4];
        for (r, (acc, o)) in [a, b, c, d].into_iter().zip(s.iter().zip(&mut out)) {
            let mut lanes = [0f32; LANES];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
            let mut tail = 0f32;
            for j in whole..n {
                tail += *r.add(j) * *xp.add(j);
            }
            *o = reduce(lanes) + tail;
        }
        out
    }
}

/// `Σ f(x)` over `xs`, in the same fixed lanes and order as [`dot`].
#[inline]
pub fn sum_map(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = xs.chunks_exact(LANES);
    let rest = chunks.remainder();
    for x in chunks {
        for j in 0..LANES {
            acc[j] += f(x[j]);
        }
    }
    let mut tail = 0f32;
    for &x in rest {
        tail += f(x);
    }
    reduce(acc) + tail
}

/// Dot product of an int8 row with an f32 vector (the caller applies the
/// row's scale).
#[inline]
pub fn dot_i8(q: &[i8], x: &[f32]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    let mut acc = [0f32; LANES];
    let cq = q.chunks_exact(LANES);
    let cx = x.chunks_exact(LANES);
    let (rq, rx) = (cq.remainder(), cx.remainder());
    for (a, b) in cq.zip(cx) {
        for j in 0..LANES {
            acc[j] += f32::from(a[j]) * b[j];
        }
    }
    let mut tail = 0f32;
    for (a, b) in rq.iter().zip(rx) {
        tail += f32::from(*a) * b;
    }
    reduce(acc) + tail
}

/// `ln(1 + x)` from the pure-Rust libm. `f32::ln_1p` calls the platform's
/// C library natively and compiler-builtins in wasm, which need not agree
/// in the last bit; confidence weights and popularity penalties feed every
/// score, so one implementation everywhere keeps native and wasm equal.
#[inline]
pub fn ln_1p(x: f32) -> f32 {
    libm::log1pf(x)
}

/// Integer dot product of an int8 row with an int16 vector. Exact, so it
/// gives the same answer on every target; `i8·i16` pairs summed into `i32`
/// lanes is the shape of SSE2 `pmaddwd` and wasm `i32x4.dot_i16x8_s`.
/// Each lane sums `len/16` products of at most 127·32767, which fits `i32`
/// for rows up to 8,000 long.
#[inline]
pub fn dot_i8_i16(q: &[i8], x: &[i16]) -> i32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::dot_i8_i16(q, x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_i8_i16_portable(q, x)
    }
}

/// [`dot_i8_i16`] in plain Rust (what native builds run; the wasm kernel
/// must equal it exactly).
#[inline]
pub fn dot_i8_i16_portable(q: &[i8], x: &[i16]) -> i32 {
    debug_assert_eq!(q.len(), x.len());
    const W: usize = 16;
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    let mut acc = [0i32; W];
    let cq = q.chunks_exact(W);
    let cx = x.chunks_exact(W);
    let (rq, rx) = (cq.remainder(), cx.remainder());
    for (a, b) in cq.zip(cx) {
        for j in 0..W {
            acc[j] += i32::from(a[j]) * i32::from(b[j]);
        }
    }
    let mut total: i32 = acc.iter().sum();
    for (a, b) in rq.iter().zip(rx) {
        total += i32::from(*a) * i32::from(*b);
    }
    total
}

/// `Σ a·b` of two int8 rows in `i32` (exact: |a·b| ≤ 127², so rows up to
/// 133,000 long cannot overflow).
#[inline]
pub fn dot_i8_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum()
}

/// The scoring loop in wasm SIMD: the autovectorised loop widens every
/// lane separately; here 16 int8 values widen to two i16x8 vectors and
/// `i32x4.dot_i16x8_s` does 8 multiply-adds at once. Integer sums are exact,
/// so it equals the portable loop bit for bit (the conformance tests hold
/// native and wasm scores together).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use std::arch::wasm32::*;

    #[inline]
    pub fn dot_i8_i16(q: &[i8], x: &[i16]) -> i32 {
        let n = q.len().min(x.len());
        let (q, x) = (&q[..n], &x[..n]);
        let full = n / 16 * 16;
        let (mut acc0, mut acc1) = (i32x4_splat(0), i32x4_splat(0));
        let mut i = 0;
        while i < full {
            // SAFETY: i + 16 <= n for q (16 i8) and x (2 × 8 i16);
            // v128_load has no alignment requirement.
            unsafe {
                let a = v128_load(q.as_ptr().add(i) as *const v128);
                let b0 = v128_load(x.as_ptr().add(i) as *const v128);
                let b1 = v128_load(x.as_ptr().add(i + 8) as *const v128);
                acc0 = i32x4_add(acc0, i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), b0));
                acc1 = i32x4_add(acc1, i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), b1));
            }
            i += 16;
        }
        let acc = i32x4_add(acc0, acc1);
        let mut total = i32x4_extract_lane::<0>(acc)
            .wrapping_add(i32x4_extract_lane::<1>(acc))
            .wrapping_add(i32x4_extract_lane::<2>(acc))
            .wrapping_add(i32x4_extract_lane::<3>(acc));
        for (a, b) in q[full..].iter().zip(&x[full..]) {
            total += i32::from(*a) * i32::from(*b);
        }
        total
    }
}

/// Quantizes a query vector to int16 for [`dot_i8_i16`]: `x ≈ scale · q`.
pub fn quantize_i16(x: &[f32]) -> (Vec<i16>, f32) {
    let max = x
        .iter()
        .filter(|v| v.is_finite())
        .fold(0f32, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return (vec![0; x.len()], 0.0);
    }
    let scale = max / 32767.0;
    let q = x
        .iter()
        .map(|v| {
            if v.is_finite() {
                (v / scale).round().clamp(-32767.0, 32767.0) as i16
            } else {
                0
            }
        })
        .collect();
    (q, scale)
}

#[inline]
fn reduce(acc: [f32; LANES]) -> f32 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `y += a * x`
#[inline(always)]
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `y = A x` for a row-major square matrix `A` of side `x.len()`: each
/// `y_i` is `dot(A_i, x)`'s bits, four rows at a time ([`dot4`]).
#[inline(always)]
pub fn gemv(a: &[f32], x: &[f32], y: &mut [f32]) {
    let n = x.len();
    let quads = a.chunks_exact(4 * n).zip(y.chunks_exact_mut(4));
    for (rows, yq) in quads {
        let row = |k: usize| &rows[k * n..(k + 1) * n];
        yq.copy_from_slice(&dot4([row(0), row(1), row(2), row(3)], x));
    }
    let done = y.len() - y.len() % 4;
    for (row, yi) in a[done * n..].chunks_exact(n).zip(&mut y[done..]) {
        *yi = dot(row, x);
    }
}

/// Cosine similarity; 0 when either vector is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = dot(a, b);
    let n = (dot(a, a) * dot(b, b)).sqrt();
    if n > 0.0 {
        d / n
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_all_tail_lengths() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4, "n={n}");
            let rows: Vec<Vec<f32>> = (0..4)
                .map(|k| a.iter().map(|v| v * (k as f32 + 0.5)).collect())
                .collect();
            let rows = [&rows[0][..], &rows[1], &rows[2], &rows[3]];
            // Whichever kernel this CPU takes, and the portable one.
            for four in [dot4(rows, &b), dot4_portable(rows, &b)] {
                for k in 0..4 {
                    assert_eq!(four[k].to_bits(), dot(rows[k], &b).to_bits(), "n={n} k={k}");
                }
            }
            // A square matrix of side n (≥ 1), whose row count is any
            // residue mod 4.
            if n == 0 {
                continue;
            }
            let m: Vec<f32> = (0..n * n).map(|i| (i as f32 * 0.23).sin()).collect();
            let mut y = vec![f32::NAN; n];
            gemv(&m, &b, &mut y);
            for (i, yi) in y.iter().enumerate() {
                assert_eq!(
                    yi.to_bits(),
                    dot(&m[i * n..(i + 1) * n], &b).to_bits(),
                    "n={n} row {i}"
                );
            }
            let q: Vec<i8> = (0..n).map(|i| (i * 7 % 255 - 127) as i8).collect();
            let naive: f32 = q.iter().zip(&b).map(|(x, y)| f32::from(*x) * y).sum();
            assert!((dot_i8(&q, &b) - naive).abs() < 1e-3, "n={n}");
            let (xq, xs) = quantize_i16(&b);
            let exact: i32 = q
                .iter()
                .zip(&xq)
                .map(|(a, b)| i32::from(*a) * i32::from(*b))
                .sum();
            assert_eq!(dot_i8_i16(&q, &xq), exact);
            assert!(
                (dot_i8_i16(&q, &xq) as f32 * xs - naive).abs() < 1e-2,
                "n={n}"
            );
        }
    }
}

//! Strided matrix views over `f32` slices and a bounds-checked product on the `gemm` crate's
//! kernels (the ones burn-flex uses), so views into packed buffers (one head of a fused
//! q/k/v row, a transposed key block) multiply without copies.

/// A read-only strided matrix over a slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// A writable strided matrix over a slice.
#[derive(Debug)]
pub(crate) struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
}

/// Index one past the last element a `rows × cols` view with these strides touches.
fn extent(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + (cols - 1) * col_stride + 1
    }
}

impl<'a> MatRef<'a> {
    /// A `rows × cols` view of `data` where element `(r, c)` is `data[r * row_stride + c * col_stride]`.
    ///
    /// # Panics
    /// When the view reaches past the slice.
    pub(crate) fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        assert!(
            extent(rows, cols, row_stride, col_stride) <= data.len(),
            "a {rows}×{cols} view (strides {row_stride}, {col_stride}) reaches past {} elements",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// A dense row-major `rows × cols` view.
    pub(crate) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::new(data, rows, cols, cols, 1)
    }
}

impl<'a> MatMut<'a> {
    /// A `rows × cols` view of `data` with rows `row_stride` apart and contiguous columns.
    ///
    /// # Panics
    /// When the view reaches past the slice.
    pub(crate) fn new(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(
            extent(rows, cols, row_stride, 1) <= data.len(),
            "a {rows}×{cols} output (row stride {row_stride}) reaches past {} elements",
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride,
        }
    }
}

/// How a product uses threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only (inside an already parallel task).
    One,
    /// Every thread of the rayon pool.
    All,
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`.
///
/// # Shapes
/// - `lhs`: `[m, k]`, `rhs`: `[k, n]`, `dst`: `[m, n]`
///
/// # Panics
/// When the shapes disagree.
pub(crate) fn matmul(
    dst: MatMut<'_>,
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
    threads: Threads,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert_eq!((dst.rows, dst.cols), (m, n), "output shape differs");
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::All => gemm::Parallelism::Rayon(rayon::current_num_threads()),
    };
    // SAFETY: every view was checked above (and at construction) to lie inside its slice, and
    // `dst` borrows its slice mutably, so it overlaps neither input.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn strided_views_multiply_like_dense_matrices() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 - 4.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5 - 1.0).collect();
        let expected = naive(&a, &b, m, k, n);

        // rhs given transposed: bt is [n, k], read with swapped strides.
        let mut bt = vec![0.0; n * k];
        for t in 0..k {
            for j in 0..n {
                bt[j * k + t] = b[t * n + j];
            }
        }
        // Output written into every other row of a wider buffer, then accumulated once more.
        let mut wide = vec![100.0; 2 * m * (n + 2)];
        for accumulate in [false, true] {
            matmul(
                MatMut::new(&mut wide, m, n, 2 * (n + 2)),
                MatRef::row_major(&a, m, k),
                MatRef::new(&bt, k, n, 1, k),
                accumulate,
                Threads::All,
            );
        }
        for i in 0..m {
            for j in 0..n {
                let got = wide[i * 2 * (n + 2) + j];
                assert!((got - 2.0 * expected[i * n + j]).abs() < 1e-4, "({i}, {j})");
            }
            assert_eq!(wide[i * 2 * (n + 2) + n], 100.0, "untouched column");
        }
    }

    #[test]
    #[should_panic(expected = "reaches past")]
    fn a_view_past_its_slice_is_refused() {
        let data = [0.0f32; 10];
        let _ = MatRef::new(&data, 3, 4, 4, 1);
    }
}

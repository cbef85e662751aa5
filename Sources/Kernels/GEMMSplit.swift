/// How a whole-image convolution GEMM (`m` output channels × `n` columns, `flops` multiply-adds)
/// is split over the pool: wide images give every thread a range of 48-column blocks; small
/// ones give each a range of 8-row output-channel panels over all columns. Either way one pass
/// on the pool, so a thread the OS delays is waited for once per layer.
struct GEMMSplit {
    let m: Int, n: Int
    let panels: Int, columnBlocks: Int
    let byColumns: Bool
    /// Threads used (small products use fewer).
    let parts: Int

    init(m: Int, n: Int, flops: Int, pool: ComputePool) {
        self.m = m
        self.n = n
        panels = (m + 7) / 8
        columnBlocks = (n + 47) / 48
        byColumns = columnBlocks >= 4 * pool.threadCount || panels < 2 * pool.threadCount
        parts = max(1, min(pool.threadCount, byColumns ? columnBlocks : panels, flops / (1 << 16) + 1))
    }

    /// Columns one thread covers at most (when split by columns).
    var columnsPerPart: Int { ((columnBlocks + parts - 1) / parts) * 48 }

    /// Thread `ith` of `nth`: its first row and row count, first column and column count
    /// (empty when either count is 0).
    func share(_ ith: Int, _ nth: Int) -> (m0: Int, rows: Int, n0: Int, columns: Int) {
        if byColumns {
            let b0 = columnBlocks * ith / nth, b1 = columnBlocks * (ith + 1) / nth
            return (0, m, b0 * 48, min(n, b1 * 48) - b0 * 48)
        }
        let p0 = panels * ith / nth, p1 = panels * (ith + 1) / nth
        return (p0 * 8, min(m, p1 * 8) - p0 * 8, 0, n)
    }
}

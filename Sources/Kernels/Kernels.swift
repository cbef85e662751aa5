// The `Kernels` target: see DESIGN.md for what it holds.

// The `Tensor` target: see DESIGN.md for what it holds.

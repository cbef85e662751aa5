// The `Client` target: see DESIGN.md for what it holds.

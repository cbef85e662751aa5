// The `Runners` target: see DESIGN.md for what it holds.

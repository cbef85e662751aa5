// The `Media` target: see DESIGN.md for what it holds.

// The `Server` target: see DESIGN.md for what it holds.

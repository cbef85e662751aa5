// The `Graph` target: see DESIGN.md for what it holds.

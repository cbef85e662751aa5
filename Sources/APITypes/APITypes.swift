// The `APITypes` target: see DESIGN.md for what it holds.

// The `Models` target: see DESIGN.md for what it holds.

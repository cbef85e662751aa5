// The `JobQueue` target: see DESIGN.md for what it holds.

// The `ModelFormats` target: see DESIGN.md for what it holds.

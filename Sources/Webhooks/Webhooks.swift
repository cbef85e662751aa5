// The `Webhooks` target: see DESIGN.md for what it holds.

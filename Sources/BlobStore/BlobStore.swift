// The `BlobStore` target: see DESIGN.md for what it holds.

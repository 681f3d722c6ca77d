//! No code: the checks live in `tests/`. They read `template.yaml`, the `cargo lambda watch`
//! router in the workspace manifest, the crates under `functions/`, the configuration names in
//! `files_core::config`, and the local infrastructure files, and fail when any two disagree.
